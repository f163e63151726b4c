"""The privacy ledger across real processes: racing jobs, a killed job, a restart.

Each job is its own Python process opening the same ``<home>/privacy.db``; they start together
on a file signal, so their reservations really overlap.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from agora.data.privacy import BudgetExceeded, PrivacyLedger

JOB = """
import sys, time
from pathlib import Path
from agora.data.privacy import BudgetExceeded, PrivacyLedger

home, job, epsilon, go, hold = sys.argv[1], sys.argv[2], float(sys.argv[3]), Path(sys.argv[4]), sys.argv[5]
ledger = PrivacyLedger(home)
print("ready", flush=True)
while not go.exists():
    time.sleep(0.001)
try:
    reservation = ledger.reserve(1, job, epsilon)
except BudgetExceeded as e:
    print("refused", e, flush=True)
    sys.exit(0)
print("reserved", flush=True)
if hold == "hold":
    time.sleep(600)  # a job that runs until it is killed
reservation.commit()
print("committed", flush=True)
"""


def _start(home: Path, job: str, epsilon: float, go: Path, hold: bool = False) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [sys.executable, "-c", JOB, str(home), job, str(epsilon), str(go), "hold" if hold else "run"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "ready", proc.stderr.read() if proc.stderr else ""
    return proc


def _finish(proc: subprocess.Popen[str]) -> str:
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    return out.split()[0] if out.strip() else ""


@pytest.mark.parametrize("jobs", [2, 4])
def test_processes_racing_for_the_last_budget(tmp_path: Path, jobs: int) -> None:
    """Jobs of ε = 0.6 (two) or 0.3 (four) on a budget of 1.0: all but what fits are refused."""
    epsilon = 0.6 if jobs == 2 else 0.3
    fits = 1 if jobs == 2 else 3
    with PrivacyLedger(tmp_path) as ledger:
        ledger.set_budget(1, 1.0)
    go = tmp_path / "go"
    procs = [_start(tmp_path, f"job-{i}", epsilon, go) for i in range(jobs)]
    go.touch()
    outcomes = sorted(_finish(p) for p in procs)
    assert outcomes == sorted(["reserved"] * fits + ["refused"] * (jobs - fits))
    with PrivacyLedger(tmp_path) as ledger:
        assert ledger.get_budget(1).committed_micro == fits * round(epsilon * 1_000_000)
        assert len(ledger.get_committed_since()) == fits


def test_a_killed_job_keeps_its_reservation_until_released(tmp_path: Path) -> None:
    with PrivacyLedger(tmp_path) as ledger:
        ledger.set_budget(1, 1.0)
    go = tmp_path / "go"
    go.touch()
    proc = _start(tmp_path, "doomed", 0.7, go, hold=True)
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "reserved"
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    with PrivacyLedger(tmp_path) as ledger:  # a restart: the reservation is still counted
        assert ledger.get_spend(1, "doomed").state == "reserved"
        with pytest.raises(BudgetExceeded):
            ledger.reserve(1, "next", 0.5)
        time.sleep(0.01)
        assert [s.job_id for s in ledger.release_stale(0.0)] == ["doomed"]
        assert ledger.reserve(1, "next", 0.5).commit().state == "committed"
