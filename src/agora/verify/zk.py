"""Models registered for zero knowledge, and the proofs of ZK jobs (``ZkChecker``).

A model's owner sets up its circuit off chain (``agora.workloads.zk.zk_setup``: ezkl, the
weights hashed into a public instance), deploys the generated verifier and registers the
circuit here: the verifier, the weights' Poseidon hash, the instance layout and the circuit's
id (the sha-256 over its artifacts' names and hashes: it pins the proving key, the verifying
key, the SRS and the settings). A job under ``Policy.zk(model_id)`` is then accepted by the
market only with the result digest this contract recorded after verifying a proof on the input
the requester committed to (``agora.workloads.zk_binding``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from agora.chain import Signer, TxReceipt
from agora.chain.compiler import Artifact
from agora.chain.eip712 import keccak256
from agora.errors import ConfigError, Reverted
from agora.protocol import Deployment

if TYPE_CHECKING:
    from agora.workloads.zk import ZkCircuit, ZkProof

__all__ = ["VERIFIER_ABI", "CircuitRecord", "ZkModels", "check_proof_file", "register_circuit"]

#: The generated verifier's one function (ezkl's Halo2 verifier).
VERIFIER_ABI: list[dict[str, Any]] = [{
    "type": "function", "name": "verifyProof", "stateMutability": "view",
    "inputs": [{"name": "proof", "type": "bytes"}, {"name": "instances", "type": "uint256[]"}],
    "outputs": [{"name": "", "type": "bool"}],
}]


@dataclass(frozen=True)
class CircuitRecord:
    """A model's circuit as the chain records it."""

    verifier: str
    params_hash: int
    params_commitment: bytes
    commitment_offset: int
    count: int
    params_index: int
    input_index: int
    input_count: int
    output_index: int
    output_count: int
    input_scale: int
    artifacts: bytes

    def to_chain(self) -> tuple[Any, ...]:
        """The ``Circuit`` struct's tuple."""
        return (self.verifier, self.params_hash, self.params_commitment, self.commitment_offset, self.count,
                self.params_index, self.input_index, self.input_count,
                self.output_index, self.output_count, self.input_scale, self.artifacts)

    @classmethod
    def of(cls, circuit: ZkCircuit, verifier: str) -> CircuitRecord:
        """The record of a set-up circuit and its deployed verifier."""
        lay = circuit.layout
        params_hash, commitment, offset = 0, bytes(32), 0
        if lay.params_hash is not None and circuit.params_hash is not None:
            params_hash = circuit.params_hash
        elif len(lay.params_commitment) == 1 and circuit.params_commitment is not None:
            commitment, offset = keccak256(circuit.params_commitment), lay.params_commitment[0]
        else:
            raise ConfigError("a ZK model's circuit must bind its weights: hashed (a public instance) or "
                              "committed (polycommit, one commitment)")
        if lay.outputs is None:
            raise ConfigError("a ZK model's circuit must make its outputs public")
        if lay.input_hash is not None:
            inp, n_in = lay.input_hash, 0
        elif lay.inputs is not None:
            inp, n_in = lay.inputs
        else:
            raise ConfigError("a ZK model's circuit must make its input public or hash it")
        return cls(verifier, params_hash, commitment, offset, lay.count, lay.params_hash or 0, inp, n_in,
                   lay.outputs[0], lay.outputs[1], int(circuit.input_scale or 0), bytes.fromhex(circuit.circuit_id))


class ZkModels:
    """Typed access to ``ZkChecker``: circuits of models, input commitments, proofs."""

    def __init__(self, dep: Deployment) -> None:
        self.dep = dep
        self.chain = dep.chain
        self.contract = dep.contract("zk_checker")

    def deploy_verifier(self, circuit: ZkCircuit, sender: Signer) -> str:
        """Deploy the circuit's generated verifier; return its address."""
        from agora.chain import deploy
        from agora.workloads.zk import verifier_bytecode

        art = Artifact("ZkVerifier", VERIFIER_ABI, verifier_bytecode(circuit), 0, "shanghai", circuit.circuit_id)
        return deploy(self.chain, art, sender=sender).address

    def register(self, model_id: int, record: CircuitRecord, owner: Signer) -> TxReceipt:
        """Register model ``model_id``'s circuit (its owner, once)."""
        try:
            return self.contract.register(model_id, record.to_chain(), sender=owner)
        except Reverted as exc:
            raise ConfigError(f"cannot register model {model_id}'s circuit: {exc.reason}") from None

    def circuit(self, model_id: int) -> CircuitRecord | None:
        """Model ``model_id``'s circuit (None if it has none)."""
        from agora.workloads.zk_binding import circuit_fields

        fields = circuit_fields(self.contract.circuit(model_id))
        return None if fields is None else CircuitRecord(**fields)

    def expect_input(self, job_id: int, commitment: bytes, requester: Signer) -> TxReceipt:
        """Commit a ZK job's input (its requester, once)."""
        try:
            return self.contract.expect_input(job_id, commitment, sender=requester)
        except Reverted as exc:
            raise ConfigError(f"cannot commit job {job_id}'s input: {exc.reason}") from None

    def prove(self, job_id: int, proof: ZkProof, prover: Signer) -> bytes:
        """Submit the job's proof (its provider); return the result digest now recorded."""
        try:
            self.contract.prove(job_id, proof.proof, list(proof.instances), sender=prover)
        except Reverted as exc:
            raise ConfigError(f"job {job_id}'s proof was refused: {exc.reason}") from None
        return bytes(self.contract.proven(job_id))

    def proven(self, job_id: int) -> bytes | None:
        """The result digest the job was proven to have (None: not proven)."""
        d = bytes(self.contract.proven(job_id))
        return d if any(d) else None


def register_circuit(dep: Deployment, model_id: int, folder: Path, owner: Signer) -> CircuitRecord:
    """Deploy the circuit's verifier and register the circuit for ``model_id`` (its owner). The
    circuit's model must be the model's registered weights."""
    from agora.workloads.zk import load_circuit

    circuit = load_circuit(folder)
    registry = dep.contract("models")
    try:
        weights = bytes(registry.model(model_id)[1])
    except Reverted:
        raise ConfigError(f"there is no model {model_id}") from None
    if keccak256(circuit.source_model_path.read_bytes()) != weights:
        raise ConfigError(f"the circuit in {folder} is for other weights than model {model_id}'s registered ones")
    zk = ZkModels(dep)
    if zk.circuit(model_id) is not None:
        raise ConfigError(f"model {model_id} already has a circuit registered")
    record = CircuitRecord.of(circuit, zk.deploy_verifier(circuit, owner))
    zk.register(model_id, record, owner)
    return record


def check_proof_file(folder: Path, proof_file: Path, dep: Deployment | None = None,
                     model_id: int | None = None) -> dict[str, Any]:
    """Verify a proof file (``agora zk prove``) off chain against the circuit in ``folder``; with
    ``dep`` and ``model_id``, also that it binds the weights the model's registered circuit names.
    ConfigError saying why if it does not hold."""
    import json

    from agora.workloads.zk import ZkProof, load_circuit, zk_verify

    circuit = load_circuit(folder)
    try:
        doc = json.loads(proof_file.read_bytes())
        proof = ZkProof(bytes.fromhex(str(doc["proof"]).removeprefix("0x")), tuple(int(v) for v in doc["instances"]),
                        b"", tuple(float(v) for v in doc.get("outputs", ())), (), 0.0, 0.0)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ConfigError(f"{proof_file} is not a proof: {exc}") from None
    if not zk_verify(circuit, proof):
        raise ConfigError("the proof does not verify (a changed proof or instances, or another circuit)")
    if dep is not None and model_id is not None:
        record = ZkModels(dep).circuit(model_id)
        if record is None:
            raise ConfigError(f"model {model_id} has no zero-knowledge circuit registered")
        if record.params_hash and proof.instances[record.params_index] != record.params_hash:
            raise ConfigError(f"the proof is for other weights than model {model_id}'s")
        if record.params_commitment != bytes(32) and keccak256(
                proof.proof[record.commitment_offset : record.commitment_offset + 64]) != record.params_commitment:
            raise ConfigError(f"the proof is for other weights than model {model_id}'s")
    return {"valid": True, "outputs": list(proof.outputs), "instances": len(proof.instances),
            "circuit_id": "0x" + circuit.circuit_id, "model_id": model_id}
