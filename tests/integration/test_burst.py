"""2,000 locally signed transfers sent as fast as the seam allows: none lost.

anvil is known to drop bursts of transactions that it signs itself; the seam
signs locally, numbers nonces itself and confirms every one by receipt.
"""

from __future__ import annotations

import pytest

from agora.chain import connect, deploy
from agora.devnet.anvil import AnvilProcess

pytestmark = pytest.mark.slow

N = 2_000


@pytest.mark.timeout(1500)  # ~5 s alone; on a loaded 2-core machine anvil has taken over 600 s to mine them
def test_burst_of_2000_transfers_all_mined(fresh_anvil: AnvilProcess) -> None:
    chain = connect(fresh_anvil.url)
    token = deploy(chain, "AgoraToken", 10**24)
    a, b = chain.dev_signers[0], chain.dev_signers[1]
    nonce0 = chain.w3.eth.get_transaction_count(a.address)
    sender = chain.sender(a)
    txs = [token.transfer.build(b.address, 1) for _ in range(N)]
    for tx in txs:
        tx["gas"] = 60_000  # fixed: no estimate round trip, as fast as the seam allows
    receipts = sender.send_many(txs)
    assert len(receipts) == N
    assert all(r.status == 1 for r in receipts)
    assert len({r.tx_hash for r in receipts}) == N
    assert token.balanceOf(b.address) == N
    assert chain.w3.eth.get_transaction_count(a.address) == nonce0 + N


def test_burst_with_interval_mining_loses_nothing(tmp_path) -> None:  # noqa: ANN001
    """Many transactions per block (anvil --block-time): the mode where anvil drops its own."""
    from agora.devnet.anvil import start_anvil

    proc = start_anvil(block_time=0.5)
    try:
        chain = connect(proc.url)
        token = deploy(chain, "AgoraToken", 10**24)
        a, b = chain.dev_signers[0], chain.dev_signers[2]
        txs = [token.transfer.build(b.address, 1) for _ in range(N)]
        for tx in txs:
            tx["gas"] = 60_000
        sender = chain.sender(a, max_in_flight=512)
        receipts = sender.send_many(txs)
        assert len(receipts) == N
        assert token.balanceOf(b.address) == N
        assert len({r.block_number for r in receipts}) < N  # really many per block
    finally:
        proc.stop()
