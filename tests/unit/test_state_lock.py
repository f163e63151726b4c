"""The exclusive lock a daemon or a paid service holds next to its state file (agora.storage.state)."""

from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path

import pytest

from agora.errors import AgoraError
from agora.storage.state import StateLocked, lock_state


def test_a_second_lock_is_refused_with_one_line_until_the_first_is_released(tmp_path: Path) -> None:
    state = tmp_path / "deep" / "state.db"
    first = lock_state(state, "another thing is already running")
    assert first.is_held and first.path == tmp_path / "deep" / "state.db.lock"
    assert not state.exists(), "the lock never creates the state file"
    with pytest.raises(StateLocked) as info:
        lock_state(state, "another thing is already running")
    assert isinstance(info.value, AgoraError)
    assert str(info.value) == f"another thing is already running (lock {first.path}); stop it first"
    assert "\n" not in str(info.value)
    first.release()
    first.release()  # idempotent
    assert not first.is_held
    again = lock_state(state, "x")
    again.release()


def test_another_thread_may_release_it(tmp_path: Path) -> None:
    lock = lock_state(tmp_path / "state.db", "held")
    other = threading.Thread(target=lock.release)
    other.start()
    other.join()
    assert not lock.is_held
    lock_state(tmp_path / "state.db", "free").release()


def test_other_state_files_are_not_locked(tmp_path: Path) -> None:
    a = lock_state(tmp_path / "a.db", "a")
    b = lock_state(tmp_path / "b.db", "b")
    a.release()
    b.release()


def test_the_lock_of_a_killed_process_is_free(tmp_path: Path) -> None:
    state = tmp_path / "state.db"
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time\nfrom agora.storage.state import lock_state\n"
         f"lock = lock_state({str(state)!r}, 'held')\nprint('held', flush=True)\ntime.sleep(120)"],
        stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        with pytest.raises(StateLocked):
            lock_state(state, "another process holds it")
    finally:
        holder.kill()  # a crash: no release, the OS drops the lock
        holder.wait()
        if holder.stdout is not None:
            holder.stdout.close()
    lock_state(state, "nobody holds it now").release()
