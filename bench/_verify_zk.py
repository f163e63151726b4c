"""Zero-knowledge proofs of inference (helper of ``bench/verify.py``): ezkl through ``.venv-zk``.

- ``zk_prove_s_digits`` — one proof of the digits classifier (64 -> 32 -> 10, logits, weights
  committed: ``polycommit``), median of 3; anchor: ezkl tuned, 0.25 s for a small MLP on this kind
  of machine (``../shared``'s measurements: an 8-4-3 MLP at logrows 10). ``zk_prove_s_mlp_8_4_3``
  the same for such a small MLP, ``zk_prove_s_mlp_64_16_10`` a middle one.
- ``zk_prove_vs_inference_ratio`` — the digits proof against one onnxruntime inference of it.
- ``gas_zk_verify`` — the generated verifier's ``verifyProof`` transaction for a digits proof on the
  chain (anchor ezkl: ~546,000; goal <= 550,000); ``gas_zk_prove_tx`` — the whole ``ZkChecker.prove``
  (the verifier, the weights' commitment, the input commitment, the digest recorded).

The SRS is generated here (ezkl.gen_srs): insecure, fine for timing.
"""

from __future__ import annotations

import io
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from agora.chain import Chain
from agora.compute import ComputeClient, Market, Policy
from agora.protocol import Deployment
from agora.storage import LocalStore, Storage
from agora.value import OWNER, ModelRegistry, Share
from agora.verify.zk import CircuitRecord, ZkModels
from agora.workloads import build_digits_model, digits_samples
from agora.workloads.zk import build_mlp, zk_prove, zk_setup


def _prove_s(circuit: Any, x: np.ndarray, n: int = 3) -> tuple[float, Any]:
    runs = [zk_prove(circuit, x) for _ in range(n)]
    return statistics.median(r.prove_seconds for r in runs), runs[-1]


def measure(chain: Chain, dep: Deployment) -> dict[str, Any]:
    """The figures, on ``chain`` (a devnet node) with the protocol deployed (``dep``)."""
    tmp = Path(tempfile.mkdtemp(prefix="agora-bench-zk-"))
    srs = tmp / "srs"
    srs.mkdir()
    digits = build_digits_model()
    x = np.asarray(digits_samples(1, seed=3)[0], dtype=np.float64).reshape(-1)
    t0 = time.perf_counter()
    circuit = zk_setup(digits, x, tmp / "digits", output_logits=True, param_visibility="polycommit",
                       dev_srs_cache=srs)
    setup_s = time.perf_counter() - t0
    prove_s, proof = _prove_s(circuit, x)
    import onnxruntime as ort

    sess = ort.InferenceSession(digits, providers=["CPUExecutionProvider"])
    name = sess.get_inputs()[0].name
    feed = {name: x.reshape(1, -1).astype(np.float32)}
    for _ in range(20):
        sess.run(None, feed)
    t0 = time.perf_counter()
    for _ in range(2_000):
        sess.run(None, feed)
    infer_s = (time.perf_counter() - t0) / 2_000
    small = zk_setup(build_mlp((8, 4, 3))[0], x[:8], tmp / "mlp8", param_visibility="polycommit", dev_srs_cache=srs,
                     evm_verifier=False)
    small_s, _ = _prove_s(small, x[:8])
    mid = zk_setup(build_mlp((64, 16, 10))[0], x, tmp / "mlp64", param_visibility="polycommit", dev_srs_cache=srs,
                   evm_verifier=False)
    mid_s, _ = _prove_s(mid, x)

    # on chain: the verifier alone, then a ZK job's whole proof transaction
    owner, provider, requester = chain.dev_signers[3], chain.dev_signers[1], chain.dev_signers[2]
    storage = Storage(LocalStore(tmp / "blobs"))
    reg = ModelRegistry(dep, storage).publish(owner, kind="onnx-classify", name="digits (zk)", price=10**15,
                                              weights=digits, split=[Share(OWNER, 10_000)])
    zk = ZkModels(dep)
    verifier = zk.deploy_verifier(circuit, owner)
    verify_tx = chain.send({"to": verifier, "data": "0x" + proof.calldata.hex()}, owner)
    assert verify_tx.status == 1
    zk.register(reg.model_id, CircuitRecord.of(circuit, verifier), owner)
    market = Market(dep)
    if not market.provider(provider.address).registered:
        market.register(provider, kinds=[1], price=10**12, stake=1_000 * 10**18)
    buf = io.BytesIO()
    np.save(buf, x.reshape(1, -1), allow_pickle=False)
    job = ComputeClient(market, storage, requester).submit("onnx-classify", digits, buf.getvalue(),
                                                           policy=Policy.zk(reg.model_id), price_per_unit=10**12)
    head = chain.block_number()
    zk.prove(job.id, proof, provider)
    (ev,) = zk.contract.get_events("Proven", head + 1)
    prove_tx = chain.fetch_receipts([ev.tx_hash])[0]
    print(f"  digits: logrows {circuit.logrows}, setup {setup_s:.1f} s, prove {prove_s:.2f} s, "
          f"verifier {circuit.verifier.get('runtime_size')} bytes, verify {verify_tx.gas_used:,} gas")
    return {
        "zk_setup_s_digits": round(setup_s, 2),
        "zk_logrows_digits": circuit.logrows,
        "zk_prove_s_digits": round(prove_s, 3),
        "zk_prove_s_mlp_8_4_3": round(small_s, 3),
        "zk_prove_s_mlp_64_16_10": round(mid_s, 3),
        "inference_ms_digits_onnxruntime": round(infer_s * 1e3, 4),
        "zk_prove_vs_inference_ratio": round(prove_s / infer_s),
        "gas_zk_verify": verify_tx.gas_used,
        "gas_zk_prove_tx": prove_tx.gas_used,
        "zk_proof_bytes": len(proof.proof),
        "zk_verifier_runtime_bytes": int(circuit.verifier.get("runtime_size") or 0),
    }
