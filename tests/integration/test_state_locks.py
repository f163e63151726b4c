"""One provider daemon per state file, one paid service per ledger: the second is refused at once
with one line and changes nothing (the SDK path; the CLI's is in test_compute_cli)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from agora.chain import connect
from agora.compute import Market, ProviderDaemon
from agora.compute.provider import daemon_db_path
from agora.errors import AgoraError
from agora.protocol import deploy_devnet
from agora.storage import LocalStore, Storage
from agora.storage.state import StateLocked


def _rows(path: Path) -> list[tuple[str, str]]:
    db = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    try:
        return sorted(db.execute("SELECT key, value FROM meta").fetchall())
    finally:
        db.close()


def test_a_second_daemon_on_the_same_state_is_refused(tmp_path: Path) -> None:
    chain = connect("embedded://")
    market = Market(deploy_devnet(chain))
    storage = Storage(LocalStore(tmp_path / "blobs"))
    signer, other = chain.dev_signers[1], chain.dev_signers[2]
    path = daemon_db_path(tmp_path, signer.address)
    first = ProviderDaemon(market, signer, storage, path, start_block=1)
    try:
        before = _rows(path)
        with pytest.raises(StateLocked) as info:
            ProviderDaemon(market, signer, storage, path, start_block=99)
        assert isinstance(info.value, AgoraError)
        assert str(info.value) == (f"another provider daemon is already running for {signer.address} "
                                   f"(lock {path}.lock); stop it first")
        assert _rows(path) == before, "the refused daemon changed nothing"
        # another account's daemon under the same home is not concerned
        ProviderDaemon(market, other, storage, daemon_db_path(tmp_path, other.address)).close()
    finally:
        first.close()
    again = ProviderDaemon(market, signer, storage, path)  # released on close
    assert again.next_block == 1
    again.close()
