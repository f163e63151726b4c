"""A transaction the node loses is replaced, not waited on forever.

Anvil has been seen to leave a gap in a burst: one nonce missing from its pool while it
still answers "already known" to the same bytes, so every later nonce stays queued. The
sender notices that the node no longer knows the hash and re-signs the nonce with higher
fees.
"""

from __future__ import annotations

import pytest

from agora.chain import connect
from agora.errors import ChainError

pytestmark = pytest.mark.anvil


def test_a_lost_transaction_is_replaced_and_the_queue_behind_it_mined(fresh_anvil: object) -> None:
    chain = connect(fresh_anvil.url)  # type: ignore[attr-defined]
    a, b = chain.dev_signers[0], chain.dev_signers[1]
    sender = chain.sender(a, rebroadcast_after=0.05, receipt_timeout=30)
    rpc = chain.w3.provider.make_request
    rpc("evm_setAutomine", [False])  # type: ignore[arg-type]
    lost = sender.submit({"to": b.address, "value": 1, "gas": 21_000})
    behind = [sender.submit({"to": b.address, "value": 2 + i, "gas": 21_000}) for i in range(3)]
    rpc("anvil_dropTransaction", [lost.tx_hash])  # type: ignore[arg-type]
    assert not chain.knows_transaction(lost.tx_hash)
    rpc("evm_setAutomine", [True])  # type: ignore[arg-type]
    rpc("evm_mine", [])  # type: ignore[arg-type]
    first_hash = lost.tx_hash
    receipts = [sender.wait(p) for p in (lost, *behind)]
    assert all(r.status == 1 for r in receipts)
    assert lost.replaced == [first_hash] and lost.tx_hash != first_hash
    assert chain.w3.eth.get_transaction_count(a.address) == lost.nonce + 4


def test_bytes_the_node_already_holds_count_as_sent(fresh_anvil: object) -> None:
    # the same nonce, fees and calldata signed again give the same bytes; the node answers
    # "already imported" to them, which means they were sent, not that they were refused
    chain = connect(fresh_anvil.url)  # type: ignore[attr-defined]
    a, b = chain.dev_signers[0], chain.dev_signers[1]
    sender = chain.sender(a)
    chain.set_automine(False)
    first = sender.submit({"to": b.address, "value": 1, "gas": 21_000})
    sender._nonce = first.nonce  # as after a lost answer: the sender signs this nonce again
    again = sender.submit({"to": b.address, "value": 1, "gas": 21_000})
    assert again.tx_hash == first.tx_hash and again.nonce == first.nonce
    chain.set_automine(True)
    chain.mine(1)
    assert sender.wait(first).status == 1
    assert chain.w3.eth.get_transaction_count(a.address) == first.nonce + 1


def test_a_stale_nonce_is_signed_again_with_the_nodes(fresh_anvil: object) -> None:
    """Another process sent from this account (the CLI while the account's model server runs):
    the node refuses our nonce as too low, and the sender signs again with the node's nonce."""
    chain = connect(fresh_anvil.url)  # type: ignore[attr-defined]
    other = connect(fresh_anvil.url)  # type: ignore[attr-defined]
    a, b = chain.dev_signers[0], chain.dev_signers[1]
    sender = chain.sender(a)
    sender.send({"to": b.address, "value": 1, "gas": 21_000})  # the sender now keeps a nonce of its own
    elsewhere = other.sender(a).send({"to": b.address, "value": 2, "gas": 21_000})  # the other process
    mine = sender.send({"to": b.address, "value": 5, "gas": 21_000})
    assert mine.status == 1 and elsewhere.status == 1
    assert chain.w3.eth.get_transaction_count(a.address) == 3


def test_bytes_the_node_refuses_still_raise(fresh_anvil: object) -> None:
    chain = connect(fresh_anvil.url)  # type: ignore[attr-defined]
    a, b = chain.dev_signers[0], chain.dev_signers[1]
    sender = chain.sender(a)
    sent = sender.send({"to": b.address, "value": 1, "gas": 21_000})
    too_much = chain.w3.eth.get_balance(a.address) + 1  # refused for want of funds, not for its nonce
    with pytest.raises(ChainError):
        sender.submit({"to": b.address, "value": too_much, "gas": 21_000, "maxFeePerGas": 10**9,
                       "maxPriorityFeePerGas": 10**9})
    assert sent.status == 1 and sender.send({"to": b.address, "value": 5, "gas": 21_000}).status == 1
