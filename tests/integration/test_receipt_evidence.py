"""Receipts anchored on chain and checked end to end (``agora.chain.evidence``, ``agora.verification``):
a paid call's receipt is flagged until its service anchors its batch, then final; every bad input
the issue names is refused with its reason; the book survives a crash on either side of the
anchoring transaction without losing or repeating a batch."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest
from eth_account import Account

from agora.chain import signer_from_key
from agora.chain.evidence import Anchor, Bundle, Receipt, ReceiptBook, ReceiptError, receipt_domain, sign_receipt
from agora.chain.merkle import merkle_root
from agora.protocol import fund_account
from agora.value.evidence import service_history
from agora.value.receipts import call_receipt
from agora.verification import verify_bundle
from agora.workloads import digits_inputs
from tests.integration.test_value_embedded import World

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> World:
    return World(tmp_path_factory.mktemp("receipt-evidence"))


def _call(w: World, model_id: int, key: str, *, time: int, nonce: int = 1, out: bytes = b"out") -> Receipt:
    """A call receipt of ``model_id`` signed by ``key``'s account, dated ``time``."""
    signer = signer_from_key(key)
    info = w.registry.fetch(model_id)
    r = call_receipt(model_id=model_id, weights_hash=info.weights_hash, input_hash=b"\x01" * 32,
                     output_hash=out.ljust(32, b"\0"), amount=5, channel_id=9, nonce=nonce,
                     payer=w.chain.dev_signers[1].address, time=time, runner=signer.address)
    return sign_receipt(signer, receipt_domain(w.chain.chain_id, w.registry.contract.address), r)


def _book(w: World, path: Path, poster: str) -> ReceiptBook:
    return ReceiptBook(path, w.dep.contract("anchor"), poster)


def test_a_paid_call_is_flagged_until_its_batch_is_anchored_then_final(world: World) -> None:
    w = world
    model = w.register()
    served = w.serve(model)
    payer = w.account()
    client = w.client(served, payer)
    results = [client.call(model.id, digits_inputs(1, seed=s)) for s in range(3)]
    receipt = results[0].receipt
    doc = client.fetch_bundle(receipt)
    assert doc["anchor"] is None  # signed, kept by the service, not anchored yet
    verdict = verify_bundle(w.dep, Bundle.from_json(doc))
    assert not verdict.final and verdict.to_json()["status"] == "unanchored"
    assert served.svc.book is not None and served.svc.book.pending() == 3
    assert served.svc.anchor() == 0  # not due yet: the interval has not passed, the batch is small
    assert served.svc.anchor(force=True) == 3
    assert served.svc.book.pending() == 0
    bundles = [Bundle.from_json(client.fetch_bundle(r.receipt)) for r in results]
    verdicts = [verify_bundle(w.dep, b) for b in bundles]
    assert all(v.final for v in verdicts)
    assert {b.anchor.root for b in bundles if b.anchor} == {bundles[0].anchor.root if bundles[0].anchor else b""}
    assert [b.anchor.index for b in bundles if b.anchor] == [0, 1, 2]
    v = verdicts[1]
    assert w.registry.verify_receipt(results[1].receipt.to_json(client.receipt_domain)).service == model.owner.address
    assert v.entitled_as.startswith(f"the service key of model {model.id}")
    assert v.to_json()["kind"] == "model-call" and v.to_json()["runner"] == model.owner.address
    # the anchor is one word and one event: the next batch gets its own root
    results.append(client.call(model.id, digits_inputs(1, seed=9)))
    assert served.svc.anchor(force=True) == 1
    last = Bundle.from_json(client.fetch_bundle(results[-1].receipt))
    assert last.anchor is not None and last.anchor.count == 1 and last.anchor.root != bundles[0].anchor.root
    assert verify_bundle(w.dep, last).final
    served.svc.close()

    # --- bad input: each refused with its reason, nothing else believed -----------------------------
    good = bundles[1]
    assert good.anchor is not None
    body = good.receipt.to_json()
    one_byte = dict(body, outputHash=body["outputHash"][:-2] + ("00" if body["outputHash"][-2:] != "00" else "01"))
    with pytest.raises(ReceiptError, match="not by its runner"):
        verify_bundle(w.dep, Bundle.from_json(dict(good.to_json(), receipt=one_byte)))
    with pytest.raises(ReceiptError, match="inclusion proof does not lead"):  # another batch's proof
        verify_bundle(w.dep, replace(good, anchor=last.anchor))
    with pytest.raises(ReceiptError, match="inclusion proof does not lead"):  # another receipt's place
        verify_bundle(w.dep, replace(good, anchor=replace(good.anchor, index=0)))
    with pytest.raises(ReceiptError, match="outside its batch"):
        verify_bundle(w.dep, replace(good, anchor=replace(good.anchor, index=7)))

    # a root posted by someone else: it counts for them, not for the receipt's runner
    thief = w.account(tokens=0)
    digest = good.receipt.digest(good.domain)
    own_root = merkle_root([digest])
    w.dep.contract("anchor").anchor(own_root, 1, sender=thief)
    by_thief = replace(good, anchor=Anchor(good.anchor.contract, thief.address, own_root, 0, 1, ()))
    with pytest.raises(ReceiptError, match=f"anchored by {thief.address}, not by the receipt's runner"):
        verify_bundle(w.dep, by_thief)
    never = replace(good, anchor=Anchor(good.anchor.contract, model.owner.address, own_root, 0, 1, ()))
    with pytest.raises(ReceiptError, match="never anchored the root"):
        verify_bundle(w.dep, never)
    with pytest.raises(ReceiptError, match="not this deployment's"):
        verify_bundle(w.dep, replace(good, anchor=replace(good.anchor, contract=thief.address)))
    with pytest.raises(ReceiptError, match="is for chain 5"):
        verify_bundle(w.dep, Bundle.from_json(dict(good.to_json(), domain=dict(good.domain.to_json(), chainId=5))))
    with pytest.raises(ReceiptError, match="no installed layer issues 'oracle' receipts"):
        verify_bundle(w.dep, Bundle.from_json(dict(good.to_json(), receipt=dict(body, kind="oracle"))))
    with pytest.raises(ReceiptError, match="malformed anchor"):
        Bundle.from_json(dict(good.to_json(), anchor=dict(good.anchor.to_json(), proof="0x12")))


def test_a_key_revoked_before_a_receipt_was_issued_or_anchored_is_refused(world: World, tmp_path: Path) -> None:
    w = world
    model = w.register()
    old = Account.create()
    fund_account(w.dep, old.address, tokens=0, eth=10**18)
    old_key = old.key.hex()
    w.registry.set_service(model.id, old.address, model.owner)
    w.chain.advance_time(10)
    book = _book(w, tmp_path / "old.sqlite", old.address)
    t0 = w.chain.timestamp()
    before = _call(w, model.id, old_key, time=t0, nonce=1)
    late_anchor = _call(w, model.id, old_key, time=t0 + 1, nonce=2)
    book.add(before, before_domain := receipt_domain(w.chain.chain_id, w.registry.contract.address))
    book.anchor_pending(signer_from_key(old_key))
    final = book.bundle(before.digest(before_domain))
    assert verify_bundle(w.dep, final).final
    book.add(late_anchor, before_domain)
    # the owner revokes the key (names another); what it signs after, or anchors after, is refused
    w.chain.advance_time(10)
    w.registry.set_service(model.id, w.account(tokens=0).address, model.owner)
    revoked_at = w.chain.timestamp()
    w.chain.advance_time(10)
    after = _call(w, model.id, old_key, time=w.chain.timestamp(), nonce=3)
    book.add(after, before_domain)
    book.anchor_pending(signer_from_key(old_key))
    with pytest.raises(ReceiptError, match="was not model .* service key at the receipt's time"):
        verify_bundle(w.dep, book.bundle(after.digest(before_domain)))
    with pytest.raises(ReceiptError, match="stopped being model .* service key at .* before the receipt was anchored"):
        verify_bundle(w.dep, book.bundle(late_anchor.digest(before_domain)))
    assert verify_bundle(w.dep, final).final  # anchored while the key was the service's: still final
    # the registry's own check (no anchor) follows the same rule: the key's history, not today's key
    from agora.value.receipts import Receipt as CallReceipt

    as_call = CallReceipt.from_json(after.to_json())
    with pytest.raises(ReceiptError, match="was not model .* service key at the receipt's time"):
        w.registry.verify_receipt(as_call.to_json(before_domain))
    history = service_history(w.dep, model.id)
    assert [p.key for p in history] == [model.owner.address, old.address, history[-1].key]
    assert history[1].end is not None and history[1].end <= revoked_at and history[-1].end is None
    # a transfer of the model hands it to the new owner, whose key it is until they name another
    new_owner = w.account(tokens=0)
    w.registry.contract.transferFrom(model.owner.address, new_owner.address, model.id, sender=model.owner)
    assert service_history(w.dep, model.id)[-1].key == new_owner.address
    book.close()


def test_the_book_neither_loses_nor_repeats_a_batch_across_a_crash(world: World, tmp_path: Path) -> None:
    w = world
    model = w.register()
    key = Account.create()
    fund_account(w.dep, key.address, tokens=0, eth=10**18)
    w.registry.set_service(model.id, key.address, model.owner)
    signer = signer_from_key(key.key.hex())
    domain = receipt_domain(w.chain.chain_id, w.registry.contract.address)
    path = tmp_path / "book.sqlite"
    t = w.chain.timestamp()
    receipts = [_call(w, model.id, key.key.hex(), time=t, nonce=n, out=bytes([n])) for n in range(1, 6)]
    book = _book(w, path, key.address)
    for r in receipts[:3]:
        book.add(r, domain)
    book.add(receipts[0], domain)  # the same receipt twice is kept once
    assert book.pending() == 3
    # crash 1: the batch was closed (root written) but its transaction never sent
    assert book._close_batch() is not None
    book.close()
    book = _book(w, path, key.address)
    assert book.pending() == 3 and book.bundle(receipts[0].digest(domain)).anchor is None
    # crash 2: a second batch's transaction was sent, but the book died before marking it
    for r in receipts[3:]:
        book.add(r, domain)
    second = book._close_batch()
    assert second is not None
    root = merkle_root([r.digest(domain) for r in receipts[3:]])
    w.dep.contract("anchor").anchor(root, 2, sender=signer)  # what the crashed book had sent
    book.close()
    book = _book(w, path, key.address)
    anchored = book.anchor_pending(signer)  # sends batch 1 once; finds batch 2 anchored, sends nothing
    assert [n for _, n in anchored] == [3, 2] and book.pending() == 0
    events = w.dep.contract("anchor").get_events("Anchored", w.dep.block, where=[bytes(12) + bytes.fromhex(
        key.address[2:])])
    assert sorted(int(e.args["count"]) for e in events) == [2, 3]  # each batch anchored exactly once
    assert book.anchor_pending(signer) == []
    for r in receipts:
        assert verify_bundle(w.dep, book.bundle(r.digest(domain))).final
    with pytest.raises(ReceiptError, match="no receipt"):
        book.bundle(b"\x07" * 32)
    with pytest.raises(ReceiptError, match="the book's poster is"):
        book.anchor_pending(w.chain.dev_signers[2])
    json.dumps(book.bundle(receipts[0].digest(domain)).to_json())
    book.close()
