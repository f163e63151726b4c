"""How long the `agora` command takes to start: `--help`, and a balance read on a devnet.

Each figure is the minimum of several runs of the real console script in a fresh process
(what a person at a terminal waits for). The devnet is a real anvil started by `agora devnet
up` in a temporary AGORA_HOME on a free loopback port, and stopped by `agora devnet down`.
Goals (issue 9): `agora --help` ≤ 500 ms, a balance read ≤ 1,000 ms.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import write  # noqa: E402
from agora.devnet.anvil import free_port  # noqa: E402

AGORA = str(Path(sys.executable).with_name("agora"))
RUNS = 7


def min_ms(args: list[str], env: dict[str, str], runs: int = RUNS) -> float:
    """The fastest of ``runs`` runs of ``agora args`` (each must succeed), in milliseconds."""
    best = float("inf")
    for _ in range(runs):
        t = time.perf_counter()
        subprocess.run([AGORA, *args], env=env, check=True, capture_output=True, timeout=120)
        best = min(best, time.perf_counter() - t)
    return 1_000 * best


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="agora-bench-cli-") as home:
        # the devnet's deployment reuses the user's compile cache (a cold compile is no start-up cost)
        cache = os.environ.get("AGORA_CACHE") or str(Path(os.environ.get("AGORA_HOME") or Path.home() / ".agora")
                                                      .expanduser() / "cache")
        env = {**os.environ, "AGORA_HOME": home, "AGORA_CACHE": cache}
        env.pop("AGORA_CHAIN", None)
        figures: dict[str, float | int | str] = {
            "cli_help_ms": min_ms(["--help"], env),
            "cli_version_ms": min_ms(["--version"], env),
        }
        port = free_port()
        subprocess.run([AGORA, "devnet", "up", "--port", str(port)], env=env, check=True,
                       capture_output=True, timeout=600)
        try:
            figures["cli_balance_read_ms"] = min_ms(["--chain", "devnet", "token", "balance"], env)
        finally:
            subprocess.run([AGORA, "devnet", "down"], env=env, check=False, capture_output=True, timeout=120)
    figures["cli_runs_per_figure"] = RUNS
    write("cli", figures)
    for name, goal in (("cli_help_ms", 500), ("cli_balance_read_ms", 1_000)):
        verdict = "PASS" if float(figures[name]) <= goal else "MISS"
        print(f"GOAL {verdict}: {name} <= {goal}: {float(figures[name]):.0f}")


if __name__ == "__main__":
    main()
