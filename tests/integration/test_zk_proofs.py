"""Real ezkl proofs through .venv-zk: set up, prove, verify off-chain and on the embedded chain.

The model is a tiny ReLU MLP (8 -> 4 -> 3, random weights, logits out) so that the whole module
takes seconds: weights hashed (Poseidon hash public at instance 0), inputs and outputs public,
logrows 12. The SRS is generated locally with ezkl.gen_srs: INSECURE (whoever generated it can
forge proofs), acceptable only because this is a test. Skipped, saying so, only where the prover's
environment is missing (`make setup` creates it).
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from agora.chain import connect
from agora.errors import Reverted
from agora.workloads.zk import (
    FIELD_MODULUS,
    VERIFY_PROOF_SELECTOR,
    ZkCircuit,
    ZkProof,
    build_mlp,
    load_circuit,
    verifier_bytecode,
    zk_available,
    zk_prove,
    zk_setup,
    zk_verify,
)

pytestmark = [
    pytest.mark.slow,
    pytest.mark.xdist_group("zk"),
    pytest.mark.skipif(not zk_available(), reason="the zk prover's environment .venv-zk is missing (run `make setup`)"),
]

SIZES = (8, 4, 3)
X = np.array([0.805, 0.808, 0.515, 0.286, 0.054, 0.383, 0.408, 0.045])


def mlp(seed: int) -> tuple[bytes, list[tuple[np.ndarray, np.ndarray]]]:
    """A float32 ReLU MLP of SIZES with seeded random weights, as ONNX bytes and its layers."""
    return build_mlp(SIZES, seed)


def forward(layers: list[tuple[np.ndarray, np.ndarray]], x: np.ndarray) -> np.ndarray:
    for i, (w, b) in enumerate(layers):
        x = x @ w + b
        if i < len(layers) - 1:
            x = np.maximum(x, 0)
    return x


@pytest.fixture(scope="module")
def srs_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("zk-dev-srs")  # dev SRS only (ezkl.gen_srs): insecure


@pytest.fixture(scope="module")
def circuit(tmp_path_factory: pytest.TempPathFactory, srs_cache: Path) -> ZkCircuit:
    model, _ = mlp(seed=0)
    return zk_setup(model, X, tmp_path_factory.mktemp("zk-a"), dev_srs_cache=srs_cache)


@pytest.fixture(scope="module")
def proof(circuit: ZkCircuit) -> ZkProof:
    return zk_prove(circuit, X)


@pytest.fixture(scope="module")
def other_weights(
    tmp_path_factory: pytest.TempPathFactory, srs_cache: Path, circuit: ZkCircuit
) -> tuple[ZkCircuit, ZkProof]:
    """The same architecture with other weights, set up with the first circuit's settings."""
    model, _ = mlp(seed=1)
    other = zk_setup(
        model, X, tmp_path_factory.mktemp("zk-b"), dev_srs_cache=srs_cache, settings_from=circuit, evm_verifier=False
    )
    return other, zk_prove(other, X)


@pytest.fixture(scope="module")
def deployed(circuit: ZkCircuit) -> tuple[Any, Any, str]:
    chain = connect("embedded://")
    signer = chain.dev_signers[0]
    receipt = chain.send({"data": "0x" + verifier_bytecode(circuit).hex(), "gas": 15_000_000}, signer)
    assert receipt.status == 1 and receipt.contract_address
    return chain, signer, receipt.contract_address


def test_setup_manifest(circuit: ZkCircuit) -> None:
    assert circuit.srs_insecure and circuit.manifest["srs"]["warning"].startswith("generated with ezkl.gen_srs")
    assert circuit.logrows <= 13
    layout = circuit.layout
    assert (layout.params_hash, layout.inputs, layout.outputs, layout.count) == (0, (1, 8), (9, 3), 12)
    assert circuit.params_hash is not None and 0 < circuit.params_hash < FIELD_MODULUS
    assert circuit.verifier["runtime_size"] <= 24_576  # EIP-170
    assert load_circuit(circuit.workdir).circuit_id == circuit.circuit_id  # every sha256 checks


def test_prove_and_verify_off_chain(circuit: ZkCircuit, proof: ZkProof) -> None:
    _, layers = mlp(seed=0)
    assert np.allclose(proof.outputs, forward(layers, X), atol=2e-3)
    assert proof.params_hash(circuit.layout) == circuit.params_hash
    start, count = circuit.layout.inputs or (0, 0)
    scale = 2 ** (circuit.input_scale or 0)
    assert list(proof.instances[start : start + count]) == [round(v * scale) for v in X]
    assert proof.calldata[:4] == VERIFY_PROOF_SELECTOR
    assert zk_verify(circuit, proof)


def test_tampered_proofs_fail_off_chain(circuit: ZkCircuit, proof: ZkProof) -> None:
    flipped = bytearray(proof.proof)
    flipped[40] ^= 1
    assert not zk_verify(circuit, replace(proof, proof=bytes(flipped)))
    assert not zk_verify(circuit, replace(proof, proof=proof.proof[:-64]))
    instances = list(proof.instances)
    instances[1] += 1  # the first input
    assert not zk_verify(circuit, replace(proof, instances=tuple(instances)))


def test_other_weights_same_verifier_other_hash(circuit: ZkCircuit, proof: ZkProof, other_weights: Any) -> None:
    other, other_proof = other_weights
    assert other.hashes["vk"] == circuit.hashes["vk"]  # one verifying key for the architecture
    assert zk_verify(circuit, other_proof)  # accepted by the first circuit's key ...
    assert other_proof.params_hash(circuit.layout) == other.params_hash != circuit.params_hash  # ... but not its hash
    assert proof.instances[1:9] == other_proof.instances[1:9]  # same input, other outputs
    assert proof.instances[9:] != other_proof.instances[9:]


def test_verify_on_chain(deployed: tuple[Any, Any, str], proof: ZkProof) -> None:
    chain, signer, address = deployed
    assert int.from_bytes(chain.call_raw(address, proof.calldata), "big") == 1
    receipt = chain.send({"to": address, "data": "0x" + proof.calldata.hex(), "gas": 2_000_000}, signer)
    assert receipt.status == 1
    assert receipt.gas_used < 800_000  # about 655k measured (params hashed, 12 instances)


def test_on_chain_rejects(
    deployed: tuple[Any, Any, str], proof: ZkProof, circuit: ZkCircuit, other_weights: Any
) -> None:
    chain, _, address = deployed
    flipped = bytearray(proof.calldata)
    flipped[4 + 32 * 3 + 40] ^= 1  # a proof byte (selector, two offsets, the proof's length)
    changed_input = bytearray(proof.calldata)
    changed_input[-32 * (circuit.layout.count - 2) - 1] ^= 1  # the low byte of instance 1 (the first input)
    changed_hash = bytearray(proof.calldata)
    changed_hash[-32 * (circuit.layout.count - 1) - 1] ^= 1  # the low byte of instance 0 (the params hash)
    for bad in (bytes(flipped), proof.calldata[:-64], bytes(changed_input), bytes(changed_hash)):
        with pytest.raises(Reverted):
            chain.call_raw(address, bad)
    # other weights of the same architecture: the verifier accepts, only instance 0 tells them apart
    _, other_proof = other_weights
    assert int.from_bytes(chain.call_raw(address, other_proof.calldata), "big") == 1
    assert int.from_bytes(other_proof.calldata[-32 * circuit.layout.count :][:32], "big") != circuit.params_hash


@pytest.fixture(scope="module")
def committed(tmp_path_factory: pytest.TempPathFactory, srs_cache: Path) -> tuple[ZkCircuit, ZkProof, ZkProof]:
    """param_visibility="polycommit": the weights' KZG commitment sits in the proof, not in the instances.

    Returns the circuit, a proof with its weights, and a proof with other weights (same settings)."""
    model, _ = mlp(seed=0)
    circuit = zk_setup(
        model, X, tmp_path_factory.mktemp("zk-pc"), dev_srs_cache=srs_cache, param_visibility="polycommit"
    )
    other_model, _ = mlp(seed=1)
    other = zk_setup(
        other_model,
        X,
        tmp_path_factory.mktemp("zk-pc-b"),
        dev_srs_cache=srs_cache,
        settings_from=circuit,
        evm_verifier=False,
    )
    assert other.hashes["vk"] == circuit.hashes["vk"]
    assert other.params_commitment != circuit.params_commitment
    return circuit, zk_prove(circuit, X), zk_prove(other, X)


def test_polycommit_binds_the_weights_in_the_proof(committed: tuple[ZkCircuit, ZkProof, ZkProof]) -> None:
    circuit, proof, other_proof = committed
    assert circuit.layout.params_hash is None and circuit.layout.params_commitment == (0,)
    assert (circuit.layout.inputs, circuit.layout.outputs, circuit.layout.count) == ((0, 8), (8, 3), 11)
    assert proof.params_commitment(circuit.layout) == circuit.params_commitment
    assert zk_verify(circuit, proof) and zk_verify(circuit, other_proof)
    assert other_proof.params_commitment(circuit.layout) != circuit.params_commitment
    chain = connect("embedded://")
    signer = chain.dev_signers[0]
    address = chain.send({"data": "0x" + verifier_bytecode(circuit).hex(), "gas": 15_000_000}, signer).contract_address
    receipt = chain.send({"to": address, "data": "0x" + proof.calldata.hex(), "gas": 2_000_000}, signer)
    assert receipt.status == 1 and receipt.gas_used < 700_000  # about 615k measured (74 instances)
    # the calldata carries the proof from byte 4 + 3 * 32 on: the commitment is its first 64 bytes
    assert proof.calldata[100:164] == circuit.params_commitment
