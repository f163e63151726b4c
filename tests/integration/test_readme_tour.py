"""The README's tour, run as written: every shell line of the block marked ``<!-- tour: shell -->``
in order, in one empty folder, against the devnet the tour itself starts; then the Python block
(``<!-- tour: python -->``) on that devnet before the tour's last lines stop it; and the error
lines of ``<!-- tour: errors -->``, each of which must fail with exactly the error shown.

As a reader would run them, with three differences a test needs:
* ``HOME`` is a temporary folder, so ``~/.agora`` (the default Agora home) is a fresh one;
* the fixed ports (8545, 8402, 8700, 8701) become free ones, everywhere in the text at once
  (``agora devnet up`` takes its port from ``AGORA_DEVNET_PORT``);
* a line ending in ``&`` is started as a process of its own; before the next line runs, a server
  that names a port is waited for until it listens (a reader typing the next line gives it that
  time); ``kill %1 %2 …`` stops those processes by pid (SIGTERM), and each must stop within a minute.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from agora.devnet.anvil import find_anvil, free_port, pid_alive

pytestmark = [pytest.mark.slow, pytest.mark.anvil]

README = Path(__file__).resolve().parents[2] / "README.md"
BIN = Path(sys.executable).parent
FIXED_PORTS = ("8545", "8402", "8500", "8700", "8701")
LINE_TIMEOUT = 420  # seconds; `agora demo` alone takes ~25 s of CPU


def read_block(text: str, marker: str) -> str:
    """The body of the first fenced block after ``<!-- tour: marker -->``."""
    at = text.index(f"<!-- tour: {marker} -->")
    match = re.compile(r"^```[a-z]*\n(.*?)^```", re.S | re.M).search(text, at)
    assert match is not None, f"no fenced block after the {marker} marker"
    return match.group(1)


def read_commands(block: str) -> list[tuple[str, list[str]]]:
    """``(command, output lines)`` of each ``$ `` line of a console block; a line ending in ``\\``
    goes on on the next; lines that start with ``#`` are the block's comments."""
    commands: list[tuple[str, list[str]]] = []
    going_on = False
    for line in block.splitlines():
        if going_on:
            commands[-1] = (commands[-1][0][:-1].rstrip() + " " + line.strip(), [])
        elif line.startswith("$ "):
            commands.append((line[2:].strip(), []))
        elif line.strip() and not line.lstrip().startswith("#") and commands:
            commands[-1][1].append(line.strip())
        going_on = bool(commands) and commands[-1][0].endswith("\\")
    return commands


def test_the_blocks_are_read_as_a_reader_reads_them() -> None:
    block = "$ a --x 1 \\\n      --y 2   # why\n# a remark\n$ b &   # later\nerror: b failed\n"
    assert read_commands(block) == [("a --x 1 --y 2   # why", []), ("b &   # later", ["error: b failed"])]
    assert split_background("b &   # later") == "b"
    assert split_background("a # 50 & more") is None


def split_background(command: str) -> str | None:
    """The command without its trailing ``&`` (and comment), or None if it runs in the foreground."""
    code = re.sub(r"\s#.*$", "", command).rstrip()
    return code[:-1].rstrip() if code.endswith("&") and not code.endswith("&&") else None


@dataclass
class Shell:
    """One reader's shell: an empty folder, a fresh home, free ports, the background jobs."""

    root: Path
    env: dict[str, str]
    ports: dict[str, str]
    jobs: list[tuple[str, subprocess.Popen[bytes]]] = field(default_factory=list)
    timings: list[tuple[float, str]] = field(default_factory=list)

    @property
    def cwd(self) -> Path:
        return self.root / "work"

    def remap(self, text: str) -> str:
        return re.sub(r"\b(" + "|".join(FIXED_PORTS) + r")\b", lambda m: self.ports[m.group(1)], text)

    def run(self, command: str, *, expect: int = 0) -> subprocess.CompletedProcess[str]:
        command = self.remap(command)
        background = split_background(command)
        if re.match(r"kill(\s+%\d+)+\s*(#.*)?$", command):
            self.stop_jobs([int(n) for n in re.findall(r"%(\d+)", command)])
            return subprocess.CompletedProcess(command, 0, "", "")
        if background is not None:
            self.start_job(background)
            return subprocess.CompletedProcess(command, 0, "", "")
        started = time.monotonic()
        proc = subprocess.run(["bash", "-c", command], cwd=self.cwd, env=self.env, capture_output=True,
                              text=True, timeout=LINE_TIMEOUT)
        self.timings.append((time.monotonic() - started, command))
        assert proc.returncode == expect, (
            f"`{command}` exited {proc.returncode}, not {expect}:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
        )
        return proc

    def start_job(self, command: str) -> None:
        log = open(self.root / f"job{len(self.jobs) + 1}.log", "wb")  # noqa: SIM115 - the job's, closed with it
        proc = subprocess.Popen(["bash", "-c", f"exec {command}"], cwd=self.cwd, env=self.env, stdout=log,
                                stderr=subprocess.STDOUT)
        log.close()
        self.jobs.append((command, proc))
        port = re.search(r"(?:--port\s+|--serve\s+127\.0\.0\.1:)(\d+)", command)
        if port is not None:
            self.wait_listening(int(port.group(1)), proc, command)

    def wait_listening(self, port: int, proc: subprocess.Popen[bytes], command: str) -> None:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            assert proc.poll() is None, f"`{command}` exited {proc.returncode}:\n{self.log(len(self.jobs))}"
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    return
            time.sleep(0.2)
        raise AssertionError(f"`{command}` never listened on port {port}:\n{self.log(len(self.jobs))}")

    def log(self, number: int) -> str:
        return (self.root / f"job{number}.log").read_text(errors="replace")[-3000:]

    def stop_jobs(self, numbers: list[int]) -> None:
        """``kill %n …``: SIGTERM each job by pid; each must finish cleanly."""
        for n in numbers:
            command, proc = self.jobs[n - 1]
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for n in numbers:
            command, proc = self.jobs[n - 1]
            try:
                code = proc.wait(60)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
                raise AssertionError(f"`{command}` did not stop on SIGTERM:\n{self.log(n)}") from None
            # 0: it stopped cleanly (the daemons, the model server); -SIGTERM: it let the signal end it
            assert code in (0, -signal.SIGTERM), f"`{command}` exited {code} on SIGTERM:\n{self.log(n)}"

    def clean_up(self) -> None:
        for _, proc in self.jobs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        info = Path(self.env["AGORA_HOME"]) / "devnet" / "devnet.json"
        if info.exists():
            pid = int(json.loads(info.read_text())["pid"])
            if pid_alive(pid):
                os.kill(pid, signal.SIGTERM)


@pytest.fixture
def shell(tmp_path: Path) -> Iterator[Shell]:
    find_anvil()
    home = tmp_path / "home"
    (tmp_path / "work").mkdir()
    home.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("AGORA_") or k == "AGORA_CACHE"}
    ports = {p: str(free_port()) for p in FIXED_PORTS}
    env |= {"HOME": str(home), "AGORA_HOME": str(home / ".agora"), "AGORA_DEVNET_PORT": ports["8545"],
            "AGORA_PASSWORD": "the tour's password", "PATH": f"{BIN}{os.pathsep}{env.get('PATH', '')}"}
    sh = Shell(tmp_path, env, ports)
    try:
        yield sh
    finally:
        sh.clean_up()


@pytest.mark.timeout(900)
def test_every_line_of_the_readme_tour_runs_as_written(shell: Shell) -> None:
    text = README.read_text()
    tour = [command for command, _ in read_commands(read_block(text, "shell"))]
    python = read_block(text, "python")
    stop = next(i for i, c in enumerate(tour) if c.startswith("kill %"))
    assert tour[0].startswith("agora demo") and tour[-1].startswith("agora devnet down --reset")
    started = time.monotonic()
    for command in tour[:stop]:
        shell.run(command)
    # the Python example, on the tour's devnet with its daemons and model server still running
    t0 = time.monotonic()
    proc = subprocess.run([sys.executable, "-c", shell.remap(python)], cwd=shell.cwd, env=shell.env,
                          capture_output=True, text=True, timeout=LINE_TIMEOUT)
    shell.timings.append((time.monotonic() - t0, "the In Python block"))
    assert proc.returncode == 0, f"the In Python block failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    for command in tour[stop:]:
        shell.run(command)
    assert not (Path(shell.env["AGORA_HOME"]) / "devnet" / "state.json").exists()
    # what the tour's lines say they do, checked where a line's exit status alone would not tell
    work = shell.cwd
    assert {"digits.onnx", "batch.npy", "digit.npy", "texts.json", "out.bin", "r.json", "label.bin"} <= {
        p.name for p in work.iterdir()}
    assert (work / "texts-bought.json").read_bytes() == (work / "texts.json").read_bytes()
    assert json.loads((work / "count.json").read_text()) == {"count": 3}     # computed next to the data
    assert (work / "texts-copy.json").read_bytes() == (work / "texts.json").read_bytes()
    assert (Path(shell.env["HOME"]) / ".agora" / "keys" / "me.json").exists()
    total = time.monotonic() - started
    slowest = ", ".join(f"{s:.0f} s {c[:50]}" for s, c in sorted(shell.timings, reverse=True)[:5])
    print(f"README tour: {len(tour)} lines and the Python block in {total:.0f} s (slowest: {slowest})")


def test_the_readme_errors_are_the_errors_shown(shell: Shell) -> None:
    errors = read_commands(read_block(README.read_text(), "errors"))
    assert errors
    for command, shown in errors:
        proc = shell.run(command, expect=1)
        last = [ln for ln in proc.stderr.strip().splitlines() if ln.strip()][-1]
        assert [last] == shown, f"`{command}` said {proc.stderr!r}"
