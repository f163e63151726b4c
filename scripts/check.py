#!/usr/bin/env python3
"""Every check Agora's code must pass, in one place: `make test` runs it, and so does CI.

    scripts/check.py                     all stages, in order: ruff, rules, mypy, tests
    scripts/check.py lint                ruff and mypy (what `make lint` runs)
    scripts/check.py rules mypy          the stages named, in the order given
    scripts/check.py -- -k cid -x        arguments after `--` go to the tests stage's pytest

Stages:
    ruff    ruff check src tests bench scripts examples zk (config: [tool.ruff] in pyproject.toml)
    rules   the import rules (tests/unit/test_import_rules.py) and every module's __all__
            (tests/unit/test_exported_members.py): seconds, so they run before the slow stages
    mypy    mypy over the whole agora package; the seams are strict ([tool.mypy] in pyproject.toml)
    tests   the whole suite: pytest -n 2 --dist loadgroup [ARGS]

Each stage's name is printed before it runs; the first stage that fails stops the run with its
exit status. Nothing is printed after a pytest stage, so a run ends with pytest's own summary
line (CI reads it). Run it with the project's interpreter (`.venv/bin/python scripts/check.py`);
run by any other, it switches to `.venv/bin/python` when there is one.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENV_PYTHON = ROOT / ".venv" / "bin" / "python"

RULE_TESTS = ["tests/unit/test_import_rules.py", "tests/unit/test_exported_members.py"]
STAGES = {
    "ruff": ["-m", "ruff", "check", "src", "tests", "bench", "scripts", "examples", "zk"],
    "rules": ["-m", "pytest", "-q", *RULE_TESTS],
    "mypy": ["-m", "mypy"],
    "tests": ["-m", "pytest", "-n", "2", "--dist", "loadgroup"],
}
GROUPS = {"all": ["ruff", "rules", "mypy", "tests"], "lint": ["ruff", "mypy"]}
PYTEST_STAGES = {"rules", "tests"}


def parse(argv: list[str]) -> tuple[list[str], list[str]]:
    """Split the command line into the stages to run and the arguments for the tests stage."""
    names, pytest_args = (argv[: argv.index("--")], argv[argv.index("--") + 1 :]) if "--" in argv else (argv, [])
    stages: list[str] = []
    for name in names or ["all"]:
        if name in ("-h", "--help"):
            print(__doc__)
            sys.exit(0)
        if name not in STAGES and name not in GROUPS:
            sys.exit(f"check: no stage {name!r}; stages: {', '.join(STAGES)}; groups: {', '.join(GROUPS)}")
        stages.extend(s for s in GROUPS.get(name, [name]) if s not in stages)
    return stages, pytest_args


def main(argv: list[str]) -> int:
    """Run the stages named in ``argv`` (all by default); return the exit status."""
    if Path(sys.prefix).resolve() != VENV_PYTHON.parent.parent.resolve() and VENV_PYTHON.exists():
        os.execv(VENV_PYTHON, [str(VENV_PYTHON), __file__, *argv])
    stages, pytest_args = parse(argv)
    for number, stage in enumerate(stages, 1):
        command = [sys.executable, *STAGES[stage], *(pytest_args if stage == "tests" else [])]
        shown = " ".join(["python", *command[1:]])
        print(f"== [{number}/{len(stages)}] {stage}: {shown}", flush=True)
        started = time.monotonic()
        status = subprocess.call(command, cwd=ROOT)
        if status != 0:
            if stage not in PYTEST_STAGES:
                print(f"check: {stage} failed (exit status {status}); later stages did not run", flush=True)
            return status
        if stage not in PYTEST_STAGES:
            print(f"== {stage} passed in {time.monotonic() - started:.0f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
