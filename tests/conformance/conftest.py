"""Hardhat's node for the conformance suite: a second implementation of "any EVM node".

``hardhat`` comes from npm with the project's setup (package.json); its config,
``hardhat/hardhat.config.cjs``, takes the dev mnemonic, chain id and hardfork from
the environment, set here from ``agora.chain`` so that the accounts are the ones
anvil and the embedded chain fund.
"""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from agora.chain import DEV_MNEMONIC
from agora.devnet.anvil import AnvilProcess, free_port, wait_for_rpc
from agora.errors import NodeUnreachable

ROOT = Path(__file__).resolve().parents[2]
CONFIG = Path(__file__).resolve().parent / "hardhat" / "hardhat.config.cjs"
CHAIN_ID = 31337
HARDFORK = "prague"


def find_hardhat() -> Path:
    """``$AGORA_HARDHAT`` or the project's ``node_modules/.bin/hardhat``."""
    env = os.environ.get("AGORA_HARDHAT")
    path = Path(env) if env else ROOT / "node_modules" / ".bin" / "hardhat"
    if not path.is_file():
        raise FileNotFoundError(f"{path} does not exist")
    return path


@dataclass
class HardhatNode(AnvilProcess):
    """A running ``hardhat node``: the same handle as anvil's (URLs, stopped by process id),
    plus its log."""

    log: Path | None = None


def start_hardhat(workdir: Path) -> HardhatNode:
    """``hardhat node`` on a free loopback port; returns once it answers JSON-RPC."""
    binary = find_hardhat()
    port = free_port()
    env = {
        **os.environ,
        "HARDHAT_DISABLE_TELEMETRY_PROMPT": "true",
        "AGORA_HARDHAT_MNEMONIC": DEV_MNEMONIC,
        "AGORA_HARDHAT_CHAIN_ID": str(CHAIN_ID),
        "AGORA_HARDHAT_HARDFORK": HARDFORK,
        "AGORA_HARDHAT_CACHE": str(workdir / "cache"),
    }
    log = workdir / "hardhat.log"
    args = [str(binary), "--config", str(CONFIG), "node", "--hostname", "127.0.0.1", "--port", str(port)]
    # hardhat runs only from a project that installed it locally: start it in the checkout
    with open(log, "wb") as out:
        popen = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env,
                                 cwd=ROOT)
    node = HardhatNode(popen.pid, port, popen, log)
    try:
        deadline = time.monotonic() + 60
        while True:
            if popen.poll() is not None:  # it died: whatever answers is not ours
                raise RuntimeError(f"hardhat exited at start (code {popen.returncode}): {log.read_text()[-2000:]}")
            try:
                chain_id = wait_for_rpc(node.url, timeout=0.5)
                break
            except NodeUnreachable:
                if time.monotonic() > deadline:
                    raise
        assert chain_id == CHAIN_ID, chain_id
    except BaseException:
        node.stop()
        raise
    return node


@pytest.fixture(scope="module")
def hardhat(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HardhatNode]:
    """A fresh Hardhat node per test module, stopped by pid."""
    try:
        find_hardhat()
    except FileNotFoundError as exc:
        if os.environ.get("AGORA_SKIP_HARDHAT") == "1":
            pytest.skip("hardhat not installed and AGORA_SKIP_HARDHAT=1")
        pytest.fail(f"hardhat is needed: {exc} (run `make test`, which installs it)")
    node = start_hardhat(tmp_path_factory.mktemp("hardhat"))
    try:
        yield node
    finally:
        node.stop()
