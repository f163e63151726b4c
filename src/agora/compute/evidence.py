"""Receipts of compute work: one house receipt (:mod:`agora.chain.evidence`) per item of a job.

A provider that computes a job signs, for every item, a receipt of kind ``compute-item``:
the job id as ``subject`` and the item's index as ``item``; the hash of the model it ran
(``weightsHash``: keccak256 of the model bytes), of the item's input bytes and, as
``outputHash``, the item's result digest — the very digest the market commits to (a
single item's result, or the leaf under a batch's Merkle root) — the requester as
``payer`` with the job's pay per item, and the job id as ``payment``. It signs in the
compute market's receipt domain and anchors the roots of its receipts in batches like
any runner. Who may sign one: a provider the market assigned to that job.
"""

from __future__ import annotations

from agora.chain.eip712 import Domain
from agora.chain.evidence import Receipt, ReceiptError
from agora.protocol import Deployment

__all__ = ["KIND", "entitled", "item_receipts"]

#: The kind of a job item's receipt.
KIND = "compute-item"


def item_receipts(
    *, job_id: int, requester: str, pay: int, model_hash: bytes, input_hashes: list[bytes],
    output_digests: list[bytes], runner: str, time: int,
) -> list[Receipt]:
    """The unsigned receipts of a job's items (pay split evenly, the remainder on item 0)."""
    n = len(output_digests)
    if len(input_hashes) != n or n == 0:
        raise ReceiptError(f"a job's receipts need one input per output ({len(input_hashes)} inputs, {n} outputs)")
    share, rest = divmod(pay, n)
    return [
        Receipt(KIND, job_id, i, model_hash, input_hashes[i], output_digests[i], runner, requester,
                share + (rest if i == 0 else 0), job_id, time)
        for i in range(n)
    ]


def entitled(dep: Deployment, receipt: Receipt, domain: Domain, until: int) -> str:
    """The ``receipts`` hook of kind ``compute-item``: in the market's domain, for a job that exists,
    paid by its requester, and signed by a provider the market assigned to it. Returns who it
    signed as (and, for a single-item job, whether its output is the job's agreed result)."""
    market = dep.contract("market")
    if domain.contract.lower() != market.address.lower():
        raise ReceiptError(f"a compute item's receipt is signed in the market's domain ({market.address}), "
                           f"not {domain.contract}")
    job_id = receipt.subject
    if not 0 < job_id <= int(market.job_count()):
        raise ReceiptError(f"there is no job {job_id} in this market")
    v = market.job(job_id)  # JobView: requester, pay, …, providers (10), result (11)
    requester, providers, result = str(v[0]), list(v[10]), bytes(v[11])
    if receipt.payer.lower() != str(requester).lower():
        raise ReceiptError(f"job {job_id} was paid by {requester}, not by the receipt's payer {receipt.payer}")
    if receipt.payment != job_id:
        raise ReceiptError(f"a compute item's receipt names its job ({job_id}) as its payment, not {receipt.payment}")
    runner = receipt.runner.lower()
    assigned = any(str(p).lower() == runner for p in providers)
    if not assigned:  # replaced since: the market's Assigned events still name it
        topic = job_id.to_bytes(32, "big")
        who = bytes(12) + bytes.fromhex(receipt.runner[2:])
        assigned = bool(market.get_logs("Assigned", dep.block, where=[topic, who]))
    if not assigned:
        raise ReceiptError(f"{receipt.runner} was never assigned to job {job_id}")
    agreed = receipt.item == 0 and result == receipt.output_hash
    return f"a provider assigned to job {job_id}" + ("; its output is the job's agreed result" if agreed else "")
