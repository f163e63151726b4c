"""Receipts anchored in batches, and checked (helper of ``bench/verify.py``), on a devnet node (anvil).

- ``gas_per_receipt_anchored_1000``: a service's ``ReceiptBook`` anchors 1,000 signed call
  receipts in one batch (one ``ReceiptAnchor.anchor``: one storage word and one event); the
  transaction's gas over 1,000. Anchor: one receipt a transaction
  (``anchor_gas_per_receipt_unbatched``), what posting each output's evidence on chain on its
  own costs (as a proof or a result per request does, e.g. Ritual Infernet's callbacks).
- ``receipt_verify_ms``: ``agora.verification.verify_bundle`` on a paid call's anchored bundle:
  the signature, the inclusion proof (10 levels), one ``ReceiptAnchor.verify`` read and the
  service key's history from the model's events; ``receipt_verify_offline_ms``: the part that
  needs no chain (``check_offline``).
- ``receipt_sign_and_keep_us``: what a paid call pays to sign its receipt and keep it in the book.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from agora.chain import Chain
from agora.chain.evidence import ReceiptBook, check_offline, receipt_domain, sign_receipt
from agora.protocol import Deployment
from agora.storage import LocalStore, Storage
from agora.value import ModelCard, ModelRegistry, Share
from agora.value.receipts import call_receipt
from agora.verification import verify_bundle
from agora.workloads import build_digits_model, get_workload

N = 1_000


def measure(chain: Chain, dep: Deployment) -> dict[str, Any]:
    """The figures, on ``chain`` (a devnet node) with the protocol deployed (``dep``)."""
    tmp = Path(tempfile.mkdtemp(prefix="agora-bench-verify-"))
    owner = chain.dev_signers[3]
    storage = Storage(LocalStore(tmp / "blobs"))
    model = build_digits_model()
    registry = ModelRegistry(dep, storage)
    card = ModelCard(name="digits", kind="onnx-classify", weights_cid=storage.put(model),
                     weights_hash="0x" + get_workload("onnx-classify").weights_hash(model).hex(), price=10**15)
    from agora.value.models import OWNER

    model_id, _ = registry.register(card, owner, split=[Share(OWNER, 10_000)], datasets=[], jobs=[])
    domain = receipt_domain(chain.chain_id, registry.contract.address)
    book = ReceiptBook(tmp / "book.sqlite", dep.contract("anchor"), owner.address)
    now = chain.timestamp()
    weights = registry.fetch(model_id).weights_hash
    payer = chain.dev_signers[4].address

    def receipt(n: int) -> Any:
        return call_receipt(model_id=model_id, weights_hash=weights, input_hash=n.to_bytes(32, "big"),
                            output_hash=(n + 1).to_bytes(32, "big"), amount=10**15, channel_id=1, nonce=n,
                            payer=payer, time=now, runner=owner.address)

    t0 = time.perf_counter()
    digests = [book.add(sign_receipt(owner, domain, receipt(n)), domain) for n in range(1, N + 1)]
    sign_keep_us = (time.perf_counter() - t0) / N * 1e6
    head = chain.block_number()
    assert book.anchor_pending(owner) == [(1, N)]
    (ev,) = dep.contract("anchor").get_events("Anchored", head + 1)
    gas_batch = chain.fetch_receipts([ev.tx_hash])[0].gas_used
    # one receipt a transaction: the same anchor, a batch of one
    book.add(sign_receipt(owner, domain, receipt(N + 1)), domain)
    head = chain.block_number()
    book.anchor_pending(owner)
    (single,) = dep.contract("anchor").get_events("Anchored", head + 1)
    gas_single = chain.fetch_receipts([single.tx_hash])[0].gas_used

    bundles = [book.bundle(d) for d in digests[:: N // 20]]
    for b in bundles[:2]:  # warm the caches a verifier would have after its first check
        verify_bundle(dep, b)
    times = []
    for b in bundles:
        t0 = time.perf_counter()
        verdict = verify_bundle(dep, b)
        times.append((time.perf_counter() - t0) * 1e3)
        assert verdict.final
    offline = []
    for b in bundles:
        t0 = time.perf_counter()
        check_offline(b)
        offline.append((time.perf_counter() - t0) * 1e3)
    book.close()
    print(f"  {N} receipts anchored in one transaction of {gas_batch:,} gas; one alone {gas_single:,} gas")
    return {
        "gas_anchor_batch_1000": gas_batch,
        "gas_per_receipt_anchored_1000": round(gas_batch / N, 1),
        "anchor_gas_per_receipt_unbatched": gas_single,
        "anchored_vs_unbatched_gas_ratio": round(gas_batch / N / gas_single, 5),
        "receipt_sign_and_keep_us": round(sign_keep_us, 1),
        "receipt_verify_ms": round(statistics.median(times), 3),
        "receipt_verify_offline_ms": round(statistics.median(offline), 3),
    }
