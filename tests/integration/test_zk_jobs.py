"""A compute job proven in zero knowledge, end to end on the embedded chain, with real ezkl proofs:
a model registered for it (its generated verifier deployed, its weights' Poseidon hash and instance
layout registered), a requester posting a ZK job (its input committed as it posts), a provider daemon
proving it and settling on the proven digest; then every bad proof refused with its reason — other
weights of the same architecture (the same verifier accepts them), another input, a truncated proof.

The SRS is generated locally (ezkl.gen_srs): INSECURE, acceptable only in a test."""

from __future__ import annotations

import io
import json
import time
from dataclasses import replace
from typing import Any

import numpy as np
import pytest

from agora.chain import connect
from agora.compute import ComputeClient, Market, Policy, ProviderDaemon
from agora.compute.market import JobState
from agora.errors import ConfigError
from agora.protocol import deploy_devnet
from agora.storage import LocalStore, Storage
from agora.value import OWNER, ModelRegistry, Share
from agora.verify.zk import CircuitRecord, ZkModels
from agora.workloads.zk import ZkCircuit, zk_available, zk_prove, zk_setup
from agora.workloads.zk_binding import input_commitment, output_digest, quantize, words_digest
from tests.integration.test_zk_proofs import SIZES, X, forward, mlp

pytestmark = [
    pytest.mark.slow,
    pytest.mark.xdist_group("zk"),
    pytest.mark.skipif(not zk_available(), reason="the zk prover's environment .venv-zk is missing (run `make setup`)"),
]

PRICE, STAKE = 10**15, 1_000 * 10**18


def npy(x: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, x.reshape(1, -1).astype(np.float64), allow_pickle=False)
    return buf.getvalue()


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    root = tmp_path_factory.mktemp("zk-jobs")
    srs = root / "srs"  # dev SRS only (ezkl.gen_srs): insecure
    srs.mkdir()
    model, layers = mlp(seed=0)
    circuit = zk_setup(model, X, root / "circuit", dev_srs_cache=srs)
    other_model, _ = mlp(seed=1)
    other = zk_setup(other_model, X, root / "other", dev_srs_cache=srs, settings_from=circuit, evm_verifier=False)
    chain = connect("embedded://")
    dep = deploy_devnet(chain)
    storage = Storage(LocalStore(root / "blobs"))
    owner, provider, requester = chain.dev_signers[3], chain.dev_signers[1], chain.dev_signers[9]
    reg = ModelRegistry(dep, storage).publish(owner, kind="onnx-classify", name="tiny mlp", price=PRICE,
                                              weights=model, split=[Share(OWNER, 10_000)])
    zk = ZkModels(dep)
    verifier = zk.deploy_verifier(circuit, owner)
    zk.register(reg.model_id, CircuitRecord.of(circuit, verifier), owner)
    market = Market(dep)
    market.register(provider, kinds=[1], price=PRICE, stake=STAKE)
    return {"root": root, "circuit": circuit, "other": other, "layers": layers, "model": model, "chain": chain,
            "dep": dep, "storage": storage, "owner": owner, "provider": provider, "requester": requester,
            "model_id": reg.model_id, "zk": zk, "market": market}


def test_a_zk_job_settles_on_the_proven_outputs(world: dict[str, Any]) -> None:
    w = world
    circuit: ZkCircuit = w["circuit"]
    record = w["zk"].circuit(w["model_id"])
    assert record is not None and record.params_hash == circuit.params_hash
    assert record.artifacts == bytes.fromhex(circuit.circuit_id) and record.input_scale == circuit.input_scale
    client = ComputeClient(w["market"], w["storage"], w["requester"])
    job = client.submit("onnx-classify", w["model"], npy(X), policy=Policy.zk(w["model_id"]), price_per_unit=PRICE)
    expected = quantize(X, circuit.input_scale or 0)
    assert w["zk"].contract.expected_input(job.id) == words_digest(expected)  # committed as it was posted
    daemon = ProviderDaemon(w["market"], w["provider"], w["storage"], w["root"] / "provider.db", concurrency=1,
                            zk_circuits={w["model_id"]: circuit.workdir})
    deadline = time.monotonic() + 300  # the proof takes seconds in the daemon's worker thread
    while time.monotonic() < deadline:
        daemon.step()
        if job.status().closed:
            break
        w["chain"].mine(1)
        time.sleep(0.1)
    info = job.status()
    assert info.state == JobState.SETTLED, [(i.status, i.error) for i in daemon.items()]
    proven = w["zk"].proven(job.id)
    assert proven is not None and info.result == proven
    doc = json.loads(job.result())
    assert np.allclose(doc["outputs"], forward(w["layers"], X)[: SIZES[-1]], atol=2e-3)
    # the provider's receipt for the job names the proven digest as the output
    assert daemon.book is not None
    ((_, receipt),) = daemon.book.kept()
    assert receipt.output_hash == proven and receipt.subject == job.id
    daemon.close()
    # ERC-8004: the proof, as a validation response of the model (read from the market and the checker)
    from agora.verify import ZK_JOB_TAG, Validations

    v = Validations(w["dep"]).attest_zk_job(w["model_id"], job.id, w["owner"])
    assert (v.response, v.tag, v.response_hash) == (100, ZK_JOB_TAG, proven)
    w["settled_zk_job"] = job.id


def test_bad_proofs_are_refused_each_with_its_reason(world: dict[str, Any]) -> None:
    w = world
    circuit, other = w["circuit"], w["other"]
    client = ComputeClient(w["market"], w["storage"], w["requester"])
    job = client.submit("onnx-classify", w["model"], npy(X), policy=Policy.zk(w["model_id"]), price_per_unit=PRICE)
    assert w["market"].job(job.id).providers == [w["provider"].address]
    zk = w["zk"]
    mine = zk_prove(circuit, X)
    assert input_commitment(circuit, mine.instances) == words_digest(quantize(X, circuit.input_scale or 0))
    other_weights = zk_prove(other, X)  # the same verifier accepts it: only the weights' hash tells
    other_input = zk_prove(circuit, X[::-1].copy())
    truncated = replace(mine, proof=mine.proof[:-64])
    flipped = bytearray(mine.proof)
    flipped[40] ^= 1
    for proof, reason in [
        (other_weights, "proof for other weights"),
        (other_input, "proof for another input"),
        (truncated, "proof rejected"),
        (replace(mine, proof=bytes(flipped)), "proof rejected"),
    ]:
        with pytest.raises(ConfigError, match=reason):
            zk.prove(job.id, proof, w["provider"])
    with pytest.raises(ConfigError, match="not the job's provider"):
        zk.prove(job.id, mine, w["requester"])
    assert zk.proven(job.id) is None
    assert zk.prove(job.id, mine, w["provider"]) == output_digest(circuit, mine.instances)


def test_committed_weights_bind_a_polycommit_circuit(world: dict[str, Any]) -> None:
    """The same with the weights committed (polycommit: their KZG commitment sits in every proof,
    a much smaller circuit than hashing them): another weight set's proof verifies with the same
    verifier, and is refused because its commitment is not the model's."""
    w = world
    root, srs = w["root"], w["root"] / "srs"
    model, _ = mlp(seed=0)
    circuit = zk_setup(model, X, root / "pc", dev_srs_cache=srs, param_visibility="polycommit")
    other_model, _ = mlp(seed=1)
    other = zk_setup(other_model, X, root / "pc-other", dev_srs_cache=srs, param_visibility="polycommit",
                     settings_from=circuit, evm_verifier=False)
    reg = ModelRegistry(w["dep"], w["storage"]).publish(w["owner"], kind="onnx-classify", name="tiny mlp, committed",
                                                        price=PRICE, weights=model, split=[Share(OWNER, 10_000)])
    zk = w["zk"]
    record = CircuitRecord.of(circuit, zk.deploy_verifier(circuit, w["owner"]))
    assert record.params_hash == 0 and record.params_commitment != bytes(32)
    zk.register(reg.model_id, record, w["owner"])
    client = ComputeClient(w["market"], w["storage"], w["requester"])
    job = client.submit("onnx-classify", model, npy(X), policy=Policy.zk(reg.model_id), price_per_unit=PRICE)
    with pytest.raises(ConfigError, match="proof for other weights"):
        zk.prove(job.id, zk_prove(other, X), w["provider"])
    mine = zk_prove(circuit, X)
    assert zk.prove(job.id, mine, w["provider"]) == output_digest(circuit, mine.instances)
    if "settled_zk_job" in w:  # the first model's ZK job is not this model's: the validator says so
        from agora.verify import Validations

        with pytest.raises(ConfigError, match="not a ZK job of the model"):
            Validations(w["dep"]).attest_zk_job(reg.model_id, w["settled_zk_job"], w["owner"])
