"""Durable local state: the one way Agora's daemons, services and clients open their SQLite files.

Every such file is opened alike: its folder created, autocommit mode (each
statement or explicit ``BEGIN`` … ``COMMIT`` is its own transaction), shared
across threads (callers hold their own lock), write-ahead logging so readers
never block the writer, and an fsync on every commit unless ``durable=False``
(then a crash or kill of the process still loses nothing; only a power loss may).

A long-lived owner of such a file (a provider daemon, a model's paid service)
also holds :func:`lock_state`'s exclusive lock on ``<file>.lock`` for its
lifetime, so that a second one on the same state is refused instead of racing it.
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path

from filelock import FileLock, Timeout

from agora.errors import AgoraError

__all__ = ["StateLock", "StateLocked", "lock_state", "open_state_db"]


class StateLocked(AgoraError):
    """Another process (or object) already holds the lock on this state file."""


class StateLock:
    """An exclusive lock on ``<state file>.lock``, held until :meth:`release`.

    It is an OS-level lock (``flock``): the system drops it when its process ends,
    so a crashed or killed owner never leaves a stale lock behind.
    """

    def __init__(self, state_path: Path | str) -> None:
        self.path = Path(f"{state_path}.lock")
        # not thread-local: a daemon built in one thread may be closed (and let go) from another
        self._lock = FileLock(str(self.path), timeout=0, thread_local=False)

    def acquire(self, what: str) -> None:
        """Take the lock now or raise :class:`StateLocked` ("``what`` (lock <path>)")."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._lock.acquire()
        except Timeout:
            raise StateLocked(f"{what} (lock {self.path})", hint="stop it first") from None

    def release(self) -> None:
        """Let the lock go (idempotent)."""
        self._lock.release(force=True)

    @property
    def is_held(self) -> bool:
        """Whether this object holds the lock."""
        return self._lock.is_locked


def lock_state(state_path: Path | str, what: str) -> StateLock:
    """Take the exclusive lock next to the state file at ``state_path``, without waiting.

    ``what`` says who holds it when it is taken (e.g. ``"another provider daemon is already
    running for 0x…"``); it opens the one-line :class:`StateLocked` error.
    """
    lock = StateLock(state_path)
    lock.acquire(what)
    return lock


def open_state_db(path: Path | str, *, durable: bool = True, schema: str | None = None) -> sqlite3.Connection:
    """Open (creating if needed) the SQLite file at ``path`` and run ``schema`` (idempotent DDL) on it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute(f"PRAGMA synchronous={'FULL' if durable else 'NORMAL'}")
    if schema:
        db.executescript(schema)
    return db


@contextlib.contextmanager
def immediate_transaction(
    db: sqlite3.Connection, lock: threading.Lock | threading.RLock | None = None
) -> Iterator[sqlite3.Connection]:
    """Several writes to a state database (opened by :func:`open_state_db`) in one ``BEGIN
    IMMEDIATE`` transaction: all or none, one sync to disk. ``lock``, if given, is held throughout
    (a connection shared between threads)."""
    with lock if lock is not None else contextlib.nullcontext():
        db.execute("BEGIN IMMEDIATE")
        try:
            yield db
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")
