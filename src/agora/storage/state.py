"""Durable local state: the one way Agora's daemons, services and clients open their SQLite files.

Every such file is opened alike: its folder created, autocommit mode (each
statement or explicit ``BEGIN`` … ``COMMIT`` is its own transaction), shared
across threads (callers hold their own lock), write-ahead logging so readers
never block the writer, and an fsync on every commit unless ``durable=False``
(then a crash or kill of the process still loses nothing; only a power loss may).
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

__all__ = ["open_state_db"]


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
