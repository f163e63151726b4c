"""agora.workloads.zk without ezkl: the manifest (hashes, refusals), the SRS pin, the worker protocol.

A fake worker Python (a shell script named by AGORA_ZK_PYTHON) stands in for .venv-zk, so these
run anywhere; the real ezkl flow is in tests/integration/test_zk_proofs.py.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from agora.errors import AgoraError
from agora.workloads import WorkloadError, zk
from agora.workloads.zk import (
    MANIFEST_FORMAT,
    MANIFEST_NAME,
    ZkArtifactMismatch,
    ZkCircuit,
    ZkError,
    ZkLayout,
    ZkProof,
    ZkProofFailed,
    ZkSrsRefused,
    ZkUnavailable,
    check_srs,
    circuit_id,
    load_circuit,
    verifier_bytecode,
    worker_python,
    zk_prove,
    zk_setup,
    zk_verify,
)

FILES = {
    "model": ("network.onnx", b"onnx-bytes"),
    "settings": ("settings.json", b"{}"),
    "circuit": ("network.ezkl", b"compiled"),
    "vk": ("vk.key", b"vk"),
    "pk": ("pk.key", b"pk" * 100),
    "srs": ("kzg.srs", b"srs"),
    "verifier_bin": ("verifier.bin", bytes.fromhex("6080604052")),
}
PARAMS_HASH = 0x0B868E8A7E2E6ECE967964474218D62D91DD1B71BB418E2C0A5F203BD4852736


def make_circuit_dir(directory: Path) -> Path:
    """A circuit directory with small stand-in artifacts and a manifest in zk_setup's format."""
    directory.mkdir(parents=True, exist_ok=True)
    artifacts = {}
    for name, (file_name, content) in FILES.items():
        (directory / file_name).write_bytes(content)
        artifacts[name] = {"file": file_name, "sha256": hashlib.sha256(content).hexdigest(), "size": len(content)}
    manifest = {
        "format": MANIFEST_FORMAT,
        "ezkl_version": "23.0.5",
        "artifacts": artifacts,
        "logrows": 12,
        "num_rows": 2093,
        "input_shape": [1, 8],
        "output_shape": [1, 3],
        "input_scale": 13,
        "output_scales": [13],
        "output_logits": False,
        "visibility": {"input": "public", "param": "hashed", "output": "public"},
        "layout": {
            "count": 12,
            "params_hash": 0,
            "input_hash": None,
            "output_hash": None,
            "inputs": [1, 8],
            "outputs": [9, 3],
        },
        "params_hash": f"0x{PARAMS_HASH:064x}",
        "srs": {"insecure": True, "generated": True},
        "verifier": {"runtime_size": 5},
        "timings": {"total": 1.0},
    }
    (directory / MANIFEST_NAME).write_text(json.dumps(manifest))
    return directory


def fake_worker(tmp_path: Path, stdout: str, status: int = 0) -> Path:
    """An executable that answers every worker command with ``stdout`` and exit ``status``."""
    answer = tmp_path / "answer.json"
    answer.write_text(stdout)
    script = tmp_path / "fake-python"
    script.write_text(f"#!/bin/sh\ncat > /dev/null\ncat '{answer}'\necho 'ezkl chatter' >&2\nexit {status}\n")
    script.chmod(0o755)
    return script


def test_errors_are_one_line_agora_errors() -> None:
    for cls in (ZkError, ZkUnavailable, ZkSrsRefused, ZkArtifactMismatch, ZkProofFailed):
        assert issubclass(cls, WorkloadError) and issubclass(cls, AgoraError)
    assert "make setup" in str(ZkUnavailable("x"))


def test_missing_venv_says_make_setup(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("AGORA_ZK_PYTHON", str(tmp_path / "no-such-python"))
    with pytest.raises(ZkUnavailable, match="make setup") as caught:
        worker_python()
    assert "\n" not in str(caught.value)
    with pytest.raises(ZkUnavailable, match="make setup"):
        zk_setup(b"onnx", [1.0], tmp_path / "work")


def test_default_worker_python_is_the_repo_venv(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AGORA_ZK_PYTHON", raising=False)
    expected = Path(zk.__file__).resolve().parents[3] / ".venv-zk" / "bin" / "python"
    if expected.exists():
        assert worker_python() == expected
    else:
        with pytest.raises(ZkUnavailable, match=".venv-zk"):
            worker_python()


def test_load_checks_every_hash(tmp_path: Path) -> None:
    directory = make_circuit_dir(tmp_path / "c")
    circuit = load_circuit(directory)
    assert isinstance(circuit, ZkCircuit)
    assert circuit.logrows == 12 and circuit.srs_insecure
    assert circuit.layout == ZkLayout(
        12, params_hash=0, input_hash=None, output_hash=None, inputs=(1, 8), outputs=(9, 3)
    )
    assert circuit.params_hash == PARAMS_HASH
    assert circuit.params_hash_bytes32 == PARAMS_HASH.to_bytes(32, "big")
    assert circuit.circuit_id == circuit_id({name: hashlib.sha256(c).hexdigest() for name, (_, c) in FILES.items()})
    assert verifier_bytecode(circuit) == bytes.fromhex("6080604052")
    assert circuit.size("pk") == 200

    (directory / "vk.key").write_bytes(b"vK")  # same size, other content
    with pytest.raises(ZkArtifactMismatch, match="vk"):
        load_circuit(directory)
    (directory / "vk.key").write_bytes(b"vk")
    (directory / "pk.key").unlink()
    with pytest.raises(ZkArtifactMismatch, match="pk.*missing"):
        load_circuit(directory)
    unchecked = load_circuit(directory, check=False)
    (directory / "verifier.bin").write_bytes(b"\x00" * 5)
    with pytest.raises(ZkArtifactMismatch, match="verifier_bin"):
        verifier_bytecode(unchecked)


def test_circuit_id_depends_on_every_hash() -> None:
    base = {"vk": "aa", "pk": "bb"}
    assert circuit_id(base) == circuit_id(dict(reversed(list(base.items()))))
    assert circuit_id(base) != circuit_id({"vk": "aa", "pk": "bc"})
    assert circuit_id(base) != circuit_id({"vk": "aa", "pk2": "bb"})


def test_foreign_or_missing_manifest_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ZkArtifactMismatch, match="no zk manifest"):
        load_circuit(tmp_path)
    (tmp_path / MANIFEST_NAME).write_text("{not json")
    with pytest.raises(ZkArtifactMismatch, match="not valid JSON"):
        load_circuit(tmp_path)
    directory = make_circuit_dir(tmp_path / "c")
    manifest = json.loads((directory / MANIFEST_NAME).read_text())
    manifest["format"] = "something-else/9"
    (directory / MANIFEST_NAME).write_text(json.dumps(manifest))
    with pytest.raises(ZkArtifactMismatch, match=MANIFEST_FORMAT):
        load_circuit(directory)


def test_srs_pin(tmp_path: Path) -> None:
    srs = tmp_path / "kzg17.srs"
    srs.write_bytes(b"ceremony points")
    pinned = hashlib.sha256(b"ceremony points").hexdigest()
    assert check_srs(srs, pinned) == pinned
    assert check_srs(srs, "0x" + pinned.upper()) == pinned
    with pytest.raises(ZkSrsRefused, match="not the pinned"):
        check_srs(srs, "00" * 32)
    with pytest.raises(ZkSrsRefused, match="no SRS file"):
        check_srs(tmp_path / "missing.srs", pinned)


def test_setup_refuses_an_unpinned_or_wrong_srs_before_any_work(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AGORA_ZK_PYTHON", str(fake_worker(tmp_path, '{"ok": true}')))
    srs = tmp_path / "kzg.srs"
    srs.write_bytes(b"points")
    with pytest.raises(ZkSrsRefused, match="pinned"):
        zk_setup(b"onnx", [1.0], tmp_path / "w", srs_path=srs)
    with pytest.raises(ZkSrsRefused, match="not the pinned"):
        zk_setup(b"onnx", [1.0], tmp_path / "w", srs_path=srs, srs_sha256="11" * 32)
    assert not (tmp_path / "w").exists()


def test_setup_option_checks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AGORA_ZK_PYTHON", str(fake_worker(tmp_path, '{"ok": true}')))
    with pytest.raises(ZkError, match="evm_version"):
        zk_setup(b"onnx", [1.0], tmp_path / "w", evm_version="cancun")
    with pytest.raises(ZkError, match="param_visibility"):
        zk_setup(b"onnx", [1.0], tmp_path / "w", param_visibility="public")
    with pytest.raises(ZkError, match="finite"):
        zk_setup(b"onnx", [float("nan")], tmp_path / "w", evm_verifier=False)


def test_worker_failures_map_to_typed_errors(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    circuit = load_circuit(make_circuit_dir(tmp_path / "c"))
    monkeypatch.setenv(
        "AGORA_ZK_PYTHON",
        str(fake_worker(tmp_path, '{"ok": false, "kind": "prove", "error": "input out of range"}\n', 1)),
    )
    with pytest.raises(ZkProofFailed, match="input out of range"):
        zk_prove(circuit, [0.5] * 8)
    monkeypatch.setenv("AGORA_ZK_PYTHON", str(fake_worker(tmp_path, "", 139)))
    with pytest.raises(ZkProofFailed, match="died \\(exit status 139\\).*ezkl chatter"):
        zk_prove(circuit, [0.5] * 8)
    with pytest.raises(ZkError, match="8"):
        zk_prove(circuit, [0.5] * 7)


def test_prove_and_verify_parse_the_worker_answer(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    circuit = load_circuit(make_circuit_dir(tmp_path / "c"))
    answer = {
        "ok": True,
        "proof": "ab" * 8,
        "instances": [str(PARAMS_HASH)] + ["1"] * 11,
        "calldata": "1e8e1e13",
        "outputs": [0.25, -0.5, 1.0],
        "output_felts": ["2048", "-4096", "8192"],
        "prove_seconds": 0.2,
        "witness_seconds": 0.01,
    }
    monkeypatch.setenv("AGORA_ZK_PYTHON", str(fake_worker(tmp_path, json.dumps(answer))))
    proof = zk_prove(circuit, [[0.5] * 8])
    assert isinstance(proof, ZkProof)
    assert proof.proof == bytes.fromhex("ab" * 8) and proof.calldata[:4] == zk.VERIFY_PROOF_SELECTOR
    assert proof.params_hash(circuit.layout) == circuit.params_hash
    assert proof.outputs == (0.25, -0.5, 1.0) and proof.output_ints == (2048, -4096, 8192)

    monkeypatch.setenv("AGORA_ZK_PYTHON", str(fake_worker(tmp_path, '{"ok": true, "valid": true}')))
    assert zk_verify(circuit, proof)
    wrong_count = ZkProof(proof.proof, proof.instances[:-1], b"", (), (), 0.0, 0.0)
    assert not zk_verify(circuit, wrong_count)  # refused before the worker runs
    out_of_field = ZkProof(proof.proof, (zk.FIELD_MODULUS, *proof.instances[1:]), b"", (), (), 0.0, 0.0)
    assert not zk_verify(circuit, out_of_field)
