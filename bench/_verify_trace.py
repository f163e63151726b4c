"""``agora trace`` on a busy devnet (helper of ``bench/verify.py``): anvil with ``JOBS`` compute jobs
posted by one requester, two datasets, a model trained on them by one of the jobs, and a paid call's
receipt anchored; then traces timed end to end (``agora.trace``: every read through the node, no
indexer).

- ``trace_ms`` — from the paid call's receipt bundle: the receipt checked, then the model, its
  datasets and their owners, its training job and its provider, the payments (goal <= 1,000 ms).
- ``trace_ms_model``, ``trace_ms_job``, ``trace_ms_busy_address`` (the requester of every job).
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from agora.chain import Chain
from agora.chain.evidence import ReceiptBook, receipt_domain, sign_receipt
from agora.compute import ComputeClient, Market, Policy
from agora.data import DataRegistry
from agora.protocol import Deployment
from agora.storage import LocalStore, Storage, cid_for
from agora.trace import trace
from agora.value import OWNER, ModelRegistry, Share
from agora.value.receipts import call_receipt
from agora.workloads import build_digits_model, digits_inputs

JOBS = 2_000
CHUNK = 100


def _median_ms(fn: Any, n: int = 5) -> tuple[float, Any]:
    times, out = [], None
    for _ in range(n):
        t0 = time.perf_counter()
        out = fn()
        times.append((time.perf_counter() - t0) * 1e3)
    return statistics.median(times), out


def measure(chain: Chain, dep: Deployment) -> dict[str, Any]:
    """The figures, on ``chain`` (a devnet node) with the protocol deployed (``dep``)."""
    tmp = Path(tempfile.mkdtemp(prefix="agora-bench-trace-"))
    storage = Storage(LocalStore(tmp / "blobs"))
    signers = chain.dev_signers
    provider, requester, owner, holder = signers[1], signers[2], signers[3], signers[4]
    market = Market(dep)
    market.register(provider, kinds=[1], price=10**12, stake=1_000 * 10**18)
    market.deposit(10_000 * 10**18, requester)
    client = ComputeClient(market, storage, requester)
    model = build_digits_model()
    data = digits_inputs(1, seed=1)
    specs = [client.build_spec("onnx-classify", model, data, policy=Policy.none(), price_per_unit=10**12)] * CHUNK
    t0 = time.perf_counter()
    jobs = [j for _ in range(JOBS // CHUNK) for j in client.submit_many(specs)]
    post_s = time.perf_counter() - t0
    datasets = DataRegistry(dep)
    ids = [datasets.publish(holder, card=cid_for(f"dataset {i}".encode()), content_hash=bytes([i + 1]) * 32)[0]
           for i in range(2)]
    registry = ModelRegistry(dep, storage)
    reg = registry.publish(owner, kind="onnx-classify", name="digits", price=10**15, digits_demo=True,
                           split=[Share(OWNER, 7_000), Share(holder.address, 3_000)], datasets=ids,
                           jobs=[jobs[0].id])
    domain = receipt_domain(chain.chain_id, registry.contract.address)
    info = registry.fetch(reg.model_id)
    receipt = sign_receipt(owner, domain, call_receipt(
        model_id=reg.model_id, weights_hash=info.weights_hash, input_hash=b"\x01" * 32, output_hash=b"\x02" * 32,
        amount=10**15, channel_id=0, nonce=1, payer=requester.address, time=chain.timestamp(), runner=owner.address))
    book = ReceiptBook(tmp / "book.sqlite", dep.contract("anchor"), owner.address)
    digest = book.add(receipt, domain)
    book.anchor_pending(owner)
    bundle = book.bundle(digest)
    book.close()
    trace(dep, bundle)  # warm: contract handles, ABI caches
    receipt_ms, graph = _median_ms(lambda: trace(dep, bundle))
    kinds = {n.kind for n in graph.nodes.values()}
    assert {"receipt", "model", "dataset", "job"} <= kinds, kinds
    model_ms, _ = _median_ms(lambda: trace(dep, f"model:{reg.model_id}"))
    job_ms, _ = _median_ms(lambda: trace(dep, f"job:{jobs[len(jobs) // 2].id}"))
    busy_ms, busy = _median_ms(lambda: trace(dep, f"address:{requester.address}"), n=3)
    print(f"  {len(jobs):,} jobs posted in {post_s:.1f} s; a receipt's trace: {len(graph.nodes)} nodes, "
          f"{len(graph.edges)} links in {receipt_ms:.0f} ms; the busy requester's: {len(busy.nodes)} nodes")
    return {
        "trace_jobs_on_chain": market.job_count(),
        "trace_ms": round(receipt_ms, 1),
        "trace_nodes": len(graph.nodes),
        "trace_ms_model": round(model_ms, 1),
        "trace_ms_job": round(job_ms, 1),
        "trace_ms_busy_address": round(busy_ms, 1),
    }
