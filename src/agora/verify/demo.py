"""The verify layer's chapter of ``agora demo``: evidence anyone can check.

1. **One paid answer traced back to its data owners**: the value chapter's last paid call left a
   receipt its service anchored on chain; the chapter checks it (signature, inclusion proof, one
   anchor read, the service key's entitlement) and walks its lineage — the model, the datasets it
   was trained on and their owners, the compute job that trained it and its provider, the payments.
2. **ERC-8004**: the model's training job validated by the evidence validator, whose answer is read
   from the compute market, visible through the ERC-8004 validation registry.
3. **A compute result proven in zero knowledge**: the digits classifier's circuit set up (ezkl,
   weights committed, logits), its verifier deployed and registered; a ZK job posted, its input
   committed, its provider proving the inference, the market settling only on the proven digest; a
   tampered proof refused.

Everything goes through the contracts by their roles and the seams; the chapter imports no other
layer. Every step asserts what it shows.
"""

from __future__ import annotations

import hashlib
import io
import os
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from eth_abi import encode

from agora.chain import Signer, signer_from_key
from agora.chain.eip712 import keccak256
from agora.chain.evidence import Bundle
from agora.errors import AgoraError, ConfigError
from agora.layers import DemoContext
from agora.protocol import Deployment, fund_account
from agora.storage import LocalStore, Storage, cid_for, cid_to_bytes32
from agora.trace import render_tree, trace_bundle
from agora.verification import verify_bundle
from agora.verify.validations import TRAINING_JOB_TAG, Validations
from agora.verify.zk import CircuitRecord, ZkModels

__all__ = ["VerifyDemoFailed", "demo_chapter", "run_verify_chapter"]

_ONE = 10**18
_ZK = 4  # ComputeMarket's POLICY_ZK
_SETTLED = 8


class VerifyDemoFailed(AgoraError):
    """A verify demo step did not show what it claims."""


def _check(cond: bool, what: str) -> None:
    if not cond:
        raise VerifyDemoFailed(f"demo check failed: {what}")


def _actor(name: str) -> Signer:
    """A key of the chapter's cast, derived from its name (the same on every run; never printed)."""
    return signer_from_key(hashlib.sha256(b"agora demo verify: " + name.encode()).digest())


def _signer_of(dep: Deployment, address: str) -> Signer | None:
    return next((s for s in dep.chain.dev_signers if s.address.lower() == address.lower()), None)


def _trace_answer(dep: Deployment, value: dict[str, Any], step: Any) -> dict[str, Any]:
    step("verify: one paid answer's receipt, checked against its anchor, traced to its data owners")
    bundle = Bundle.from_json(value["receipt_bundle"])
    verdict = verify_bundle(dep, bundle)
    _check(verdict.final and bundle.anchor is not None, "the receipt is anchored: final")
    assert bundle.anchor is not None
    t0 = time.perf_counter()
    graph = trace_bundle(dep, bundle)
    trace_ms = (time.perf_counter() - t0) * 1e3
    ids = set(graph.nodes)
    model = f"model:{value['model_id']}"
    _check(model in ids, "the trace reaches the model that answered")
    for d in value["datasets"]:
        _check(f"dataset:{d['id']}" in ids, f"the trace reaches dataset {d['id']}")
        owner = f"address:{d['owner']}"
        _check(owner in ids and any(e.src in (owner, f"dataset:{d['id']}") and e.dst in (owner, f"dataset:{d['id']}")
                                    for e in graph.edges), f"dataset {d['id']}'s owner is on the trace")
    for j in value["jobs"]:
        _check(f"job:{j}" in ids, f"the trace reaches training job {j}")
    paid = [e for e in graph.edges if e.facts.get("amount_wei")]
    _check(bool(paid), "the trace shows payments")
    return {
        "receipt_digest": "0x" + verdict.digest.hex(), "anchored_at": verdict.anchored_at,
        "anchor_root": "0x" + bundle.anchor.root.hex(), "batch": bundle.anchor.count,
        "entitled_as": verdict.entitled_as, "trace_nodes": len(graph.nodes), "trace_links": len(graph.edges),
        "trace_ms": round(trace_ms, 1), "tree": render_tree(graph),
    }


def _validate_training(dep: Deployment, value: dict[str, Any], step: Any) -> dict[str, Any] | None:
    owner = _signer_of(dep, value.get("owner", ""))
    if not value["jobs"] or owner is None:
        return None
    step("verify: the model's training job validated from the chain, as an ERC-8004 validation response")
    v = Validations(dep).attest_training_job(value["model_id"], value["jobs"][0], owner)
    _check(v.response is not None and v.tag == TRAINING_JOB_TAG, "the evidence validator answered")
    count, mean = Validations(dep).summary(value["model_id"], [], TRAINING_JOB_TAG)
    _check(count >= 1, "the registry's getSummary counts it")
    return {"model_id": value["model_id"], "job": value["jobs"][0], "response": v.response,
            "validator": v.validator, "summary_count": count, "summary_mean": mean}


def _zk_job(dep: Deployment, root: Path, step: Any) -> dict[str, Any]:
    from agora.workloads import build_digits_model, digits_samples, get_workload
    from agora.workloads.zk import zk_available, zk_prove, zk_setup
    from agora.workloads.zk_binding import output_digest, quantize, words_digest

    if not zk_available():
        raise ConfigError("the zero-knowledge prover's environment (.venv-zk) is missing", hint="run `make setup`")
    chain = dep.chain
    owner, requester, prover = _actor("model owner"), _actor("requester"), _actor("zk provider")
    for who in (owner, requester, prover):
        fund_account(dep, who.address, tokens=2_000 * _ONE, eth=_ONE)
    storage = Storage(LocalStore(root / "blobs"))
    model = build_digits_model()
    x = np.asarray(digits_samples(1, seed=11)[0], dtype=np.float64).reshape(-1)

    step("verify: the digits classifier's circuit set up (ezkl: weights committed, logits; a dev SRS)")
    t0 = time.perf_counter()
    circuit = zk_setup(model, x, root / "circuit", output_logits=True, param_visibility="polycommit")
    setup_s = time.perf_counter() - t0
    _check(circuit.srs_insecure, "the demo's SRS is generated here (insecure: a demo, not production)")

    step("verify: the model registered, its verifier deployed, its circuit registered for ZK jobs")
    models, token, market = dep.contract("models"), dep.token, dep.contract("market")
    weights_hash = get_workload("onnx-classify").weights_hash(model)
    card = cid_to_bytes32(cid_for(b"digits classifier, proven in zero knowledge"))
    rc = models.register(card, weights_hash, "", [], [], [("0x" + "00" * 20, 10_000)], 0, sender=owner)
    (ev,) = models.events_in(rc, "ModelRegistered")
    model_id = int(ev.args["model_id"])
    zk = ZkModels(dep)
    record = CircuitRecord.of(circuit, zk.deploy_verifier(circuit, owner))
    zk.register(model_id, record, owner)

    step("verify: a ZK job posted, its input committed, proven by its provider, settled on the proven digest")
    registry = dep.contract("registry")
    stake = int(registry.min_stake())
    token.approve(registry.address, stake, sender=prover)
    registry.register(1 << 1, 1, stake, bytes(32), sender=prover)  # onnx-classify at 1 wei a unit: the cheapest
    buf = io.BytesIO()
    np.save(buf, x.reshape(1, -1), allow_pickle=False)
    model_cid, input_cid = storage.put(model), storage.put(buf.getvalue())
    spec = (1, cid_to_bytes32(model_cid), cid_to_bytes32(input_cid), 1, 1, 1, _ZK, model_id, 3_600)
    token.approve(market.address, 10 * _ONE, sender=requester)
    rc = market.post(spec, sender=requester)
    (posted,) = market.events_in(rc, "JobPosted")
    job_id = int(posted.args["job_id"])
    view = market.job(job_id)
    _check(list(view[10]) == [prover.address], "the ZK job went to the provider that can prove it")
    zk.expect_input(job_id, words_digest(quantize(x, circuit.input_scale or 0)), requester)
    t0 = time.perf_counter()
    proof = zk_prove(circuit, x)
    prove_s = time.perf_counter() - t0
    flipped = bytearray(proof.proof)
    flipped[100] ^= 1
    from dataclasses import replace

    try:
        zk.prove(job_id, replace(proof, proof=bytes(flipped)), prover)
        raise VerifyDemoFailed("demo check failed: a tampered proof must be refused")
    except ConfigError as exc:
        refused = str(exc).split(": ", 1)[-1]
    head = chain.block_number()
    digest = zk.prove(job_id, proof, prover)
    (proven,) = zk.contract.get_events("Proven", head + 1)
    (tx,) = chain.fetch_receipts([proven.tx_hash])
    assert tx is not None
    gas = tx.gas_used
    _check(digest == output_digest(circuit, proof.instances), "the checker recorded the proof's output digest")
    salt = os.urandom(32)
    commitment = keccak256(encode(["uint256", "address", "bytes32", "bytes32"], [job_id, prover.address, digest, salt]))
    market.commit(job_id, commitment, sender=prover)
    chain.mine(1)  # the reveal goes in a later block than the commit
    result_cid = cid_to_bytes32(storage.put(repr(proof.outputs).encode()))
    market.reveal(job_id, digest, result_cid, salt, sender=prover)
    view = market.job(job_id)
    _check(int(view[5]) == _SETTLED and bytes(view[11]) == digest, "the market settled the job on the proven digest")
    validation = Validations(dep).attest_zk_job(model_id, job_id, owner)
    _check(validation.response == 100, "the proof is visible as an ERC-8004 validation response of the model")
    logits = np.asarray(proof.outputs)
    return {
        "model_id": model_id, "job_id": job_id, "logrows": circuit.logrows, "setup_s": round(setup_s, 1),
        "prove_s": round(prove_s, 2), "gas_prove_tx": gas, "label": int(np.argmax(logits)),
        "verifier": record.verifier, "circuit_id": "0x" + circuit.circuit_id, "tampered_refused_with": refused,
        "proof_bytes": len(proof.proof), "erc8004_response": validation.response,
    }


def run_verify_chapter(dep: Deployment, chapters: dict[str, Any], *, workdir: Path | None = None,
                       step: Any = lambda _m: None) -> dict[str, Any]:
    """Run the chapter; return its summary. ``chapters``: the summaries of the chapters before (the
    value chapter's paid answer is traced)."""
    value = chapters.get("value")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(workdir or tmp) / "verify"
        root.mkdir(parents=True, exist_ok=True)
        out: dict[str, Any] = {}
        if value and value.get("receipt_bundle"):
            out["trace"] = _trace_answer(dep, value, step)
            validation = _validate_training(dep, value, step)
            if validation is not None:
                out["validation"] = validation
        out["zk"] = _zk_job(dep, root, step)
    return out


def demo_chapter(demo: DemoContext) -> dict[str, Any]:
    """The verify layer's chapter of ``agora demo``."""
    return run_verify_chapter(demo.deployment, dict(demo.chapters), workdir=demo.workdir, step=demo.step)
