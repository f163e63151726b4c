"""Measure the zk toolchain on Agora's models: logrows, prove time, key sizes, verifier gas.

    .venv/bin/python zk/measure.py OUTDIR [CONFIG ...]      (the project's environment)

Each CONFIG (default: all of :data:`CONFIGS`) is set up with ``agora.workloads.zk`` (dev SRS:
INSECURE, generated with ezkl.gen_srs and cached in OUTDIR/srs), proved three times, verified
off-chain, and its verifier deployed on the embedded chain, where ``verifyProof`` is sent as a
transaction to measure its gas. One JSON line per config is appended to OUTDIR/results.jsonl.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from agora.workloads import build_digits_model, digits_samples
from agora.workloads.zk import load_circuit, verifier_bytecode, zk_prove, zk_setup, zk_verify


def mlp_onnx(sizes: list[int], seed: int = 0) -> bytes:
    """A float32 ReLU MLP with random weights, logits out, static batch 1 (onnx helper API)."""
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(seed)
    nodes, inits, x = [], [], "input"
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
        inits += [
            numpy_helper.from_array(rng.normal(0, 1 / np.sqrt(a), (a, b)).astype("<f4"), f"w{i}"),
            numpy_helper.from_array(rng.normal(0, 0.1, (b,)).astype("<f4"), f"b{i}"),
        ]
        nodes += [
            helper.make_node("MatMul", [x, f"w{i}"], [f"m{i}"]),
            helper.make_node("Add", [f"m{i}", f"b{i}"], [f"a{i}"]),
        ]
        x = f"a{i}"
        if i < len(sizes) - 2:
            nodes.append(helper.make_node("Relu", [x], [f"r{i}"]))
            x = f"r{i}"
    nodes.append(helper.make_node("Identity", [x], ["logits"]))
    graph = helper.make_graph(
        nodes,
        "mlp",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, sizes[0]])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [1, sizes[-1]])],
        inits,
    )
    return bytes(
        helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8).SerializeToString()
    )


def digits_x(n: int = 1, seed: int = 2) -> np.ndarray:
    """Held-out digits images (raw pixels 0..16)."""
    return digits_samples(n, seed)[0]


CONFIGS: dict[str, dict[str, Any]] = {
    # the repo's digits classifier (64-32-10, softmax, float64 weights; inputs raw pixels 0..16)
    "digits-hashed": {"model": "digits", "kw": {}},
    "digits-hashed-logits": {"model": "digits", "kw": {"output_logits": True}},
    "digits-hashed-logits-inhash": {"model": "digits", "kw": {"output_logits": True, "input_visibility": "hashed"}},
    "digits-fixed-logits": {"model": "digits", "kw": {"output_logits": True, "param_visibility": "fixed"}},
    # small MLPs with random weights (inputs = digits pixels / 16)
    "mlp64-16-10-hashed": {"model": [64, 16, 10], "kw": {}},
    "mlp64-16-10-hashed-inhash": {"model": [64, 16, 10], "kw": {"input_visibility": "hashed"}},
    "mlp64-16-10-fixed": {"model": [64, 16, 10], "kw": {"param_visibility": "fixed"}},
    "mlp64-16-10-fixed-inhash": {
        "model": [64, 16, 10],
        "kw": {"param_visibility": "fixed", "input_visibility": "hashed"},
    },
    "mlp64-16-10-fixed-s7": {"model": [64, 16, 10], "kw": {"param_visibility": "fixed", "scales": [7]}},
    "mlp64-16-10-fixed-runs200": {"model": [64, 16, 10], "kw": {"param_visibility": "fixed", "optimizer_runs": 200}},
    "mlp64-16-10-fixed-nic8": {"model": [64, 16, 10], "kw": {"param_visibility": "fixed", "num_inner_cols": 8}},
    "mlp64-16-10-fixed-nic16": {"model": [64, 16, 10], "kw": {"param_visibility": "fixed", "num_inner_cols": 16}},
    "mlp64-16-10-polycommit": {"model": [64, 16, 10], "kw": {"param_visibility": "polycommit"}},
    "mlp64-16-10-polycommit-nic8": {
        "model": [64, 16, 10],
        "kw": {"param_visibility": "polycommit", "num_inner_cols": 8},
    },
    "mlp64-16-10-polycommit-nic16": {
        "model": [64, 16, 10],
        "kw": {"param_visibility": "polycommit", "num_inner_cols": 16},
    },
    "digits-polycommit-logits": {"model": "digits", "kw": {"output_logits": True, "param_visibility": "polycommit"}},
    "digits-polycommit-logits-nic8": {
        "model": "digits",
        "kw": {"output_logits": True, "param_visibility": "polycommit", "num_inner_cols": 8},
    },
    "digits-fixed-logits-nic8": {
        "model": "digits",
        "kw": {"output_logits": True, "param_visibility": "fixed", "num_inner_cols": 8},
    },
    "mlp64-16-10-fixed-nic4": {"model": [64, 16, 10], "kw": {"param_visibility": "fixed", "num_inner_cols": 4}},
    "mlp64-16-10-polycommit-nic4": {
        "model": [64, 16, 10],
        "kw": {"param_visibility": "polycommit", "num_inner_cols": 4},
    },
    "digits-polycommit-logits-nic4": {
        "model": "digits",
        "kw": {"output_logits": True, "param_visibility": "polycommit", "num_inner_cols": 4},
    },
    "digits-polycommit-logits-inhash": {
        "model": "digits",
        "kw": {"output_logits": True, "param_visibility": "polycommit", "input_visibility": "hashed"},
    },
    "digits-polycommit": {"model": "digits", "kw": {"param_visibility": "polycommit"}},
    "mlp8-4-3-hashed": {"model": [8, 4, 3], "kw": {}},
    "mlp8-4-3-polycommit": {"model": [8, 4, 3], "kw": {"param_visibility": "polycommit"}},
    "mlp8-4-3-hashed-inhash": {"model": [8, 4, 3], "kw": {"input_visibility": "hashed"}},
    "mlp16-8-4-hashed": {"model": [16, 8, 4], "kw": {}},
}


def model_and_input(spec: Any) -> tuple[bytes, np.ndarray]:
    """The ONNX bytes and one example input of a config's model."""
    if spec == "digits":
        return build_digits_model(), digits_x()[0]
    x = digits_x()[0] / 16.0
    return mlp_onnx(spec), x[: spec[0]]


def chain_gas(circuit: Any, proof: Any, negatives: bool) -> dict[str, Any]:
    """Deploy the verifier on the embedded chain; gas of a verifyProof tx; tampered calls."""
    from agora.chain import connect
    from agora.errors import AgoraError

    chain = connect("embedded://")
    signer = chain.dev_signers[0]
    code = verifier_bytecode(circuit)
    if circuit.verifier.get("runtime_size", 0) > 24_576:
        return {"deploy": f"runtime {circuit.verifier['runtime_size']} B is over EIP-170's 24,576 B: not deployable"}
    deployed = chain.send({"data": "0x" + code.hex(), "gas": 15_000_000}, signer)
    address = deployed.contract_address
    runtime = chain.get_code(address)
    ok = chain.call_raw(address, proof.calldata)
    receipt = chain.send({"to": address, "data": "0x" + proof.calldata.hex(), "gas": 5_000_000}, signer)
    out: dict[str, Any] = {
        "deploy_gas": deployed.gas_used,
        "runtime_size": len(runtime),
        "creation_size": len(code),
        "calldata_size": len(proof.calldata),
        "eth_call": ok.hex(),
        "verify_tx_status": receipt.status,
        "verify_tx_gas": receipt.gas_used,
    }
    if negatives:
        results = {}
        cases = {"flipped_proof_byte": bytearray(proof.calldata), "truncated": bytearray(proof.calldata[:-64])}
        cases["flipped_proof_byte"][4 + 64 + 32 + 10] ^= 1
        changed = bytearray(proof.calldata)
        changed[-32 * circuit.layout.count + 31] ^= 1  # instance 0's last byte
        cases["changed_instance0"] = changed
        for name, data in cases.items():
            try:
                results[name] = "accepted " + chain.call_raw(address, bytes(data)).hex()
            except AgoraError as exc:
                results[name] = "reverted: " + str(exc)[:80]
        out["negatives"] = results
    return out


def run(name: str, outdir: Path) -> dict[str, Any]:
    """Set up, prove, verify and measure one config."""
    spec = CONFIGS[name]
    model, x = model_and_input(spec["model"])
    work = outdir / name
    started = time.perf_counter()
    circuit = zk_setup(model, x, work, dev_srs_cache=outdir / "srs", **spec["kw"])
    setup_s = time.perf_counter() - started
    circuit = load_circuit(work)
    proofs = [zk_prove(circuit, x) for _ in range(3)]
    proof = proofs[-1]
    result: dict[str, Any] = {
        "config": name,
        "logrows": circuit.logrows,
        "num_rows": circuit.num_rows,
        "instances": circuit.layout.count,
        "layout": circuit.manifest["layout"],
        "setup_s": round(setup_s, 2),
        "setup_timings": dict(circuit.timings),
        "prove_s": [round(p.prove_seconds, 3) for p in proofs],
        "prove_min_s": round(min(p.prove_seconds for p in proofs), 3),
        "prove_cpu_s": [round(p.prove_cpu_seconds, 3) for p in proofs],
        "pk_mb": round(circuit.size("pk") / 1e6, 1),
        "vk_kb": round(circuit.size("vk") / 1e3, 1),
        "proof_bytes": len(proof.proof),
        "verify_offchain": zk_verify(circuit, proof),
        "outputs": [round(v, 4) for v in proof.outputs],
        "argmax": int(np.argmax(proof.outputs)),
        "params_hash": circuit.manifest.get("params_hash"),
        "params_commitment": circuit.manifest.get("params_commitment"),
        "commitment_in_proof": proof.params_commitment(circuit.layout) == circuit.params_commitment,
        "verifier": dict(circuit.verifier),
    }
    result.update(chain_gas(circuit, proof, negatives=True))
    return result


def main(argv: list[str]) -> int:
    """Run the configs named in argv (all by default)."""
    outdir = Path(argv[0])
    outdir.mkdir(parents=True, exist_ok=True)
    for name in argv[1:] or list(CONFIGS):
        try:
            result = run(name, outdir)
        except Exception as exc:  # keep going: one failed config is a finding, not the end
            result = {"config": name, "error": f"{type(exc).__name__}: {exc}"}
        line = json.dumps(result)
        print(line, flush=True)
        with open(outdir / "results.jsonl", "a") as fh:
            fh.write(line + "\n")
        pk = outdir / name / "pk.key"
        if pk.exists() and pk.stat().st_size > 200_000_000:
            pk.unlink()  # GB-sized proving keys: keep the disk free (the size is in the results)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
