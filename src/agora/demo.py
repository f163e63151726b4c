"""``agora demo``: the protocol's story on the embedded chain, checked as it goes.

Each step asserts what it shows (a demo that cannot fail proves nothing), and
the result is a summary dict that the CLI prints as a table or as JSON.
Each layer adds its chapter (its ``Layer.demo``), run in the layers' order.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from agora.chain import connect
from agora.config import load_settings
from agora.errors import AgoraError, Reverted
from agora.layers import DemoContext, load_layers, resolve
from agora.protocol import deploy_protocol, fund_account
from agora.storage import LocalStore, Storage, cid_for

__all__ = ["run_demo", "DemoFailed"]


class DemoFailed(AgoraError):
    """A demo step did not show what it claims."""


def _check(cond: bool, what: str) -> None:
    if not cond:
        raise DemoFailed(f"demo check failed: {what}")


def run_demo(
    chain_uri: str = "embedded://",
    workdir: Path | None = None,
    step: Callable[[str], None] = lambda _msg: None,
) -> dict[str, Any]:
    """Run the demo; return its summary. ``step`` is told each step as it starts."""
    t0 = time.perf_counter()
    settings = load_settings()
    step("connecting to the chain")
    chain = connect(chain_uri)
    deployer, alice, bob = chain.dev_signers[0], chain.dev_signers[1], chain.dev_signers[2]

    step("deploying the protocol")
    dep = deploy_protocol(chain, deployer, evm_version=settings.evm_version)
    token = dep.token
    supply = token.totalSupply()

    step("funding alice from the devnet faucet")
    hundred = 100 * 10**18
    fund_account(dep, alice.address, tokens=hundred)
    _check(token.balanceOf(alice.address) == hundred, "the faucet minted 100 AGR to alice")

    step("alice pays bob 42.5 AGR")
    before = {s.address: token.balanceOf(s.address) for s in (alice, bob)}
    paid = 42_500_000_000_000_000_000
    receipt = token.transfer(bob.address, paid, sender=alice)
    events = token.events_in(receipt, "Transfer")
    _check(len(events) == 1 and events[0]["value"] == paid, "one Transfer event for 42.5 AGR")
    _check(token.balanceOf(bob.address) == before[bob.address] + paid, "bob received 42.5 AGR")

    step("bob tries to overspend (the chain refuses)")
    try:
        token.transfer(alice.address, 10**30, sender=bob)
        refused = ""
    except Reverted as exc:
        refused = exc.reason
    _check(bool(refused), "an overspend reverts")

    step("storing and fetching a blob by its CID")
    with tempfile.TemporaryDirectory() as tmp:
        store = Storage(LocalStore(Path(workdir or tmp) / "blobs"))
        blob = b"Agora demo: AI computes off-chain; the chain settles.\n" * 32
        cid = store.put(blob)
        _check(store.get(cid) == blob and cid == cid_for(blob), "the blob comes back intact")

    step("reconciling every balance")
    holders = {deployer.address, alice.address, bob.address}
    total = sum(token.balanceOf(a) for a in holders)
    supply_after = token.totalSupply()
    _check(supply_after == supply + hundred, "supply grew by exactly the minted 100 AGR")
    _check(total == supply_after, "the holders' balances add up to the supply, to the wei")
    # the token chapter's balances, before the later chapters fund their own actors
    balances = {"deployer": token.balanceOf(deployer.address), "alice": token.balanceOf(alice.address),
                "bob": token.balanceOf(bob.address)}

    # each installed layer's chapter, in the layers' order; a chapter sees the earlier ones' summaries
    chapters: dict[str, dict[str, Any]] = {}
    for layer in load_layers():
        if layer.demo:
            run_chapter = resolve(layer.demo)
            chapters[layer.name] = run_chapter(DemoContext(chain, dep, workdir, step, dict(chapters)))

    return {
        "chain": {"uri": chain.uri, "chain_id": chain.chain_id, "blocks": chain.block_number()},
        "contracts": dict(dep.addresses),
        "token": {
            "symbol": token.symbol(),
            "supply_wei": supply_after,
            "minted_by_faucet_wei": hundred,
            "transfer_wei": paid,
            "transfer_gas": receipt.gas_used,
            "balances_wei": balances,
            "overspend_refused_with": refused,
            "reconciled": True,
        },
        "storage": {"cid": cid, "bytes": len(blob), "verified": True},
        **chapters,
        "seconds": round(time.perf_counter() - t0, 2),
    }
