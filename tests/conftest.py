"""Shared fixtures: an isolated Agora home, anvil nodes started and stopped by pid."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from agora.devnet.anvil import AnvilProcess, find_anvil, start_anvil

# One compile cache for every test (and every run): each test has its own AGORA_HOME, whose default
# cache (<home>/cache) would make each `agora` process a test starts compile every contract again.
os.environ.setdefault(
    "AGORA_CACHE", str(Path(os.environ.get("AGORA_HOME") or Path.home() / ".agora").expanduser() / "cache")
)


@pytest.fixture(autouse=True)
def agora_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test gets its own AGORA_HOME; nothing reads the user's ~/.agora."""
    home = tmp_path / "agora-home"
    monkeypatch.setenv("AGORA_HOME", str(home))
    for var in ("AGORA_CHAIN", "AGORA_CHAIN_ID", "AGORA_KEYSTORE", "AGORA_PASSWORD",
                "AGORA_PRIVATE_KEY", "AGORA_ACCOUNT", "AGORA_EVM_VERSION", "AGORA_DEBUG"):
        monkeypatch.delenv(var, raising=False)
    return home


def _need_anvil() -> None:
    try:
        find_anvil()
    except Exception as exc:  # noqa: BLE001
        if os.environ.get("AGORA_SKIP_ANVIL") == "1":
            pytest.skip("anvil not installed and AGORA_SKIP_ANVIL=1")
        pytest.fail(f"anvil is needed: {exc} (run `make test`, which installs it)")


@pytest.fixture(scope="module")
def anvil() -> Iterator[AnvilProcess]:
    """A fresh anvil per test module on a free loopback port, stopped by pid."""
    _need_anvil()
    proc = start_anvil()
    try:
        yield proc
    finally:
        proc.stop()


@pytest.fixture
def fresh_anvil() -> Iterator[AnvilProcess]:
    """A fresh anvil for one test."""
    _need_anvil()
    proc = start_anvil()
    try:
        yield proc
    finally:
        proc.stop()
