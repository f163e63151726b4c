"""Running a job's inputs through its workload, and checking a result against a digest.

A job is either one input blob, or a batch: its input CID names a *manifest*
(``{"agora": "batch/1", "items": [cid, …]}``) and its result is a manifest
``{"agora": "batch-result/1", "items": [{"cid": …, "digest": "0x…"}, …]}``
whose digest on chain is the Merkle root of the item digests
(:mod:`agora.chain.merkle`). Providers and requesters both use this module,
so "what the result of a job is" has one definition.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agora.chain.eip712 import keccak256
from agora.chain.merkle import merkle_root
from agora.errors import AgoraError
from agora.storage import Storage, is_cid, validate_cid
from agora.workloads import Workload, WorkloadError, get_workload, result_digest

__all__ = [
    "BATCH_MANIFEST",
    "BATCH_RESULT",
    "ZK_RESULT",
    "Outcome",
    "build_batch_manifest",
    "read_batch_manifest",
    "execute_job",
    "execute_zk",
    "zk_input_values",
    "verify_result",
    "ResultMismatch",
]

#: A ZK job's result blob: the outputs, the output instances (their digest is the job's), the proof.
ZK_RESULT = "zk-result/1"
BATCH_MANIFEST = "batch/1"
BATCH_RESULT = "batch-result/1"

#: ``(workload, model bytes, input bytes) -> canonical output bytes``; the default runs the
#: workload, a test double may return something else.
Runner = Callable[[Workload, bytes, bytes], bytes]


class ResultMismatch(AgoraError):
    """A result blob does not match the digest agreed on chain."""


@dataclass(frozen=True)
class Outcome:
    """What executing a job produced: the digest to commit and the result blob's CID."""

    digest: bytes
    result_cid: str
    outputs: list[bytes]
    #: keccak256 of the model bytes and of each item's input bytes (for the items' receipts)
    model_hash: bytes = b""
    input_hashes: list[bytes] = field(default_factory=list)
    #: a ZK job's proof (:class:`agora.workloads.zk.ZkProof`), sent to the checker before the commit
    proof: Any = None


def build_batch_manifest(item_cids: list[str]) -> bytes:
    """The input manifest of a batch job."""
    for c in item_cids:
        validate_cid(c)
    return json.dumps({"agora": BATCH_MANIFEST, "items": item_cids}, separators=(",", ":")).encode()


def read_batch_manifest(blob: bytes, items: int) -> list[str]:
    """The item CIDs in a batch manifest; WorkloadError if it is not one of ``items`` items."""
    try:
        doc = json.loads(blob)
        cids = doc["items"] if doc.get("agora") == BATCH_MANIFEST else None
    except (ValueError, AttributeError, KeyError, TypeError):
        cids = None
    if not isinstance(cids, list) or len(cids) != items or not all(isinstance(c, str) for c in cids):
        raise WorkloadError(f"the batch input is not a manifest of {items} items")
    for c in cids:
        validate_cid(c)
    return cids


def _run(workload: Workload, model: bytes, data: bytes) -> bytes:
    return workload.run(model, data)


def execute_job(
    storage: Storage,
    kind: int | str,
    model_cid: str,
    input_cid: str,
    items: int = 1,
    runner: Runner = _run,
) -> Outcome:
    """Fetch a job's model and input by CID (verified), run it, store the result; return
    the digest to commit and the result CID to reveal."""
    workload = get_workload(kind)
    model = storage.get(model_cid)
    data = storage.get(input_cid)
    if items == 1:
        out = runner(workload, model, data)
        return Outcome(result_digest(out), storage.put(out), [out], keccak256(model), [keccak256(data)])
    inputs = [storage.get(c) for c in read_batch_manifest(data, items)]
    outputs = [runner(workload, model, x) for x in inputs]
    digests = [result_digest(o) for o in outputs]
    entries = [{"cid": storage.put(o), "digest": "0x" + d.hex()} for o, d in zip(outputs, digests, strict=True)]
    manifest = json.dumps({"agora": BATCH_RESULT, "items": entries}, separators=(",", ":")).encode()
    return Outcome(merkle_root(digests), storage.put(manifest), outputs, keccak256(model),
                   [keccak256(x) for x in inputs])


def execute_zk(storage: Storage, circuit_dir: Path, model_cid: str, input_cid: str) -> Outcome:
    """Prove a ZK job: the input (an ``.npy`` array or a JSON list of numbers: one example) run
    through the registered model's circuit (``circuit_dir``, set up with ``agora zk setup``,
    checked against its manifest); the result blob is the outputs as JSON and the digest the
    one ``ZkChecker`` records (keccak256 of the output instances)."""
    from agora.workloads.zk import load_circuit, zk_prove
    from agora.workloads.zk_binding import output_digest

    circuit = load_circuit(circuit_dir)
    model, data = storage.get(model_cid), storage.get(input_cid)
    if keccak256(model) != keccak256(circuit.source_model_path.read_bytes()):
        raise AgoraError(f"the job's model {model_cid} is not the circuit's model ({circuit_dir})")
    proof = zk_prove(circuit, zk_input_values(data))
    digest = output_digest(circuit, proof.instances)
    assert circuit.layout.outputs is not None  # output_digest refuses a circuit without public outputs
    start, count = circuit.layout.outputs
    out = json.dumps({
        "agora": ZK_RESULT, "outputs": list(proof.outputs),
        "output_instances": [str(v) for v in proof.instances[start : start + count]],
        "instances": [str(v) for v in proof.instances], "proof": proof.proof.hex(),
    }, separators=(",", ":")).encode()
    return Outcome(digest, storage.put(out), [out], keccak256(model), [keccak256(data)], proof)


def _check_zk_result(result_cid: str, blob: bytes, digest: bytes) -> None:
    from agora.workloads.zk_binding import words_digest

    try:
        doc = json.loads(blob)
        got = words_digest([int(v) for v in doc["output_instances"]])
    except (ValueError, KeyError, TypeError) as exc:
        raise ResultMismatch(f"the ZK result {result_cid} is malformed: {exc}") from None
    if got != digest:
        raise ResultMismatch(f"the ZK result {result_cid}'s outputs are not the proven digest 0x{digest.hex()}")


def zk_input_values(data: bytes) -> list[float]:
    """A ZK job's input: an ``.npy`` array or a JSON list of numbers, flattened."""
    import io

    import numpy as np

    try:
        if data.startswith(b"\x93NUMPY"):
            arr = np.load(io.BytesIO(data), allow_pickle=False)
        else:
            arr = np.asarray(json.loads(data), dtype=np.float64)
        return [float(v) for v in np.asarray(arr, dtype=np.float64).reshape(-1)]
    except (ValueError, TypeError) as exc:
        raise AgoraError(f"a ZK job's input is an .npy array or a JSON list of numbers: {exc}") from None


def verify_result(storage: Storage, result_cid: str, digest: bytes, items: int = 1) -> list[bytes]:
    """Fetch a job's result and check it against the agreed ``digest``; return the outputs
    (one per item). Raises ResultMismatch if anything does not add up."""
    blob = storage.get(result_cid)
    if items == 1 and blob.startswith(b'{"agora":"' + ZK_RESULT.encode()):
        _check_zk_result(result_cid, blob, digest)
        return [blob]
    if items == 1:
        if result_digest(blob) != digest:
            raise ResultMismatch(f"the result {result_cid} does not hash to the agreed digest 0x{digest.hex()}")
        return [blob]
    try:
        doc = json.loads(blob)
        entries = doc["items"] if doc.get("agora") == BATCH_RESULT else None
    except (ValueError, AttributeError, KeyError, TypeError):
        entries = None
    well_formed = isinstance(entries, list) and len(entries) == items and all(
        isinstance(e, dict) and isinstance(e.get("cid"), str) and isinstance(e.get("digest"), str) for e in entries
    )
    if not well_formed or not isinstance(entries, list):  # the second test only tells mypy what the first knows
        raise ResultMismatch(f"the result {result_cid} is not a manifest of {items} items")
    outputs, digests = [], []
    for e in entries:
        if not is_cid(e["cid"]):
            raise ResultMismatch(f"the result {result_cid} lists {e['cid'][:60]!r}, which is not a CID")
        out = storage.get(e["cid"])
        d = result_digest(out)
        if "0x" + d.hex() != e.get("digest"):
            raise ResultMismatch(f"item {e['cid']} does not hash to the digest its manifest lists")
        outputs.append(out)
        digests.append(d)
    if merkle_root(digests) != digest:
        raise ResultMismatch(f"the items of {result_cid} do not add up to the agreed root 0x{digest.hex()}")
    return outputs
