"""How a zero-knowledge proof is bound to a compute job on chain (``ZkChecker``'s rules).

Shared by the compute layer (a provider proves a ZK job) and the verify layer (a requester
commits to the input, a model registers its circuit):

* the **input commitment** the requester posts: the input's Poseidon hash when the circuit
  hashes it, else keccak256 of the ABI-encoded public input instances (``uint256[]``), which
  :func:`quantize` computes from the floats without proving (ezkl's fixed point at the
  circuit's input scale, negatives as ``p - |v|``);
* the **result digest** the market accepts: keccak256 of the ABI-encoded output instances.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
from eth_abi import encode

from agora.chain.eip712 import keccak256
from agora.workloads.base import WorkloadError

if TYPE_CHECKING:
    from agora.workloads.zk import ZkCircuit

__all__ = [
    "CIRCUIT_FIELDS", "FIELD_MODULUS", "circuit_fields", "input_commitment", "output_digest", "quantize",
    "words_digest",
]

#: ``ZkChecker``'s ``Circuit`` struct, field by field, in order.
CIRCUIT_FIELDS = (
    "verifier", "params_hash", "params_commitment", "commitment_offset", "count", "params_index", "input_index",
    "input_count", "output_index", "output_count", "input_scale", "artifacts",
)

#: The BN254 scalar field's modulus (instances are integers below it).
FIELD_MODULUS = 21888242871839275222246405745257275088548364400416034343698204186575808495617


def circuit_fields(values: Sequence[Any]) -> dict[str, Any] | None:
    """``ZkChecker.circuit(model)``'s answer by field name (the verifier as a string, bytes32 as
    bytes, the rest as ints); None when the model has no circuit (a zero verifier)."""
    raw = dict(zip(CIRCUIT_FIELDS, values, strict=True))
    if int(str(raw["verifier"]), 16) == 0:
        return None
    return {k: str(v) if k == "verifier" else bytes(v) if k in ("params_commitment", "artifacts") else int(v)
            for k, v in raw.items()}


def words_digest(values: Sequence[int]) -> bytes:
    """keccak256 of ``values`` ABI-encoded as ``uint256[]`` (what ``ZkChecker`` hashes)."""
    return keccak256(encode(["uint256[]"], [[int(v) for v in values]]))


def quantize(x: object, scale: int) -> list[int]:
    """The public input instances a proof carries for floats ``x`` at the circuit's input
    ``scale``: each value times 2**scale, rounded half away from zero, as a field element."""
    flat = np.asarray(x, dtype=np.float64).reshape(-1)
    scaled = flat * float(2**scale)
    ints = np.where(scaled >= 0, np.floor(scaled + 0.5), -np.floor(-scaled + 0.5)).astype(np.int64)
    return [int(v) % FIELD_MODULUS for v in ints]


def input_commitment(circuit: ZkCircuit, instances: Sequence[int]) -> bytes:
    """A ZK job's input commitment from a proof's instances (or :func:`quantize`'s, laid out as
    the circuit's inputs when the input is public)."""
    lay = circuit.layout
    if lay.input_hash is not None:
        return int(instances[lay.input_hash]).to_bytes(32, "big")
    if lay.inputs is None:
        raise WorkloadError("the circuit's input is neither public nor hashed: a job cannot be bound to it")
    start, count = lay.inputs
    return words_digest(list(instances)[start : start + count])


def output_digest(circuit: ZkCircuit, instances: Sequence[int]) -> bytes:
    """A ZK job's result digest: keccak256 of the ABI-encoded output instances."""
    if circuit.layout.outputs is None:
        raise WorkloadError("the circuit's outputs are not public: a ZK job needs them public")
    start, count = circuit.layout.outputs
    return words_digest(list(instances)[start : start + count])
