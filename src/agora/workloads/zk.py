"""Zero-knowledge proofs of model inference (ezkl 23.0.5, Halo2 + KZG on BN254), driven as a process.

ezkl lives in its own environment (``.venv-zk``, made by ``make setup`` from
``zk/requirements.txt``): its async EVM helpers have crashed the interpreter at exit, and its
pins are not the project's. This module runs ``zk/agora_zk/worker.py`` with that environment's
Python (``AGORA_ZK_PYTHON`` overrides the path) and owns everything around it: the manifest
of a circuit directory (every artifact's sha256, checked on load), the SRS pin, and typed
results. It imports neither ezkl nor web3::

    circuit = zk_setup(build_digits_model(), sample, workdir, output_logits=True)
    proof = zk_prove(circuit, image)                    # proof bytes, instances, calldata, outputs
    assert zk_verify(circuit, proof)                    # off-chain
    creation_code = verifier_bytecode(circuit)          # deploy; call verifyProof(bytes,uint256[])

With ``param_visibility="hashed"`` (the default) the weights are private and their Poseidon
hash is public instance ``circuit.layout.params_hash``: one verifier contract accepts proofs
for *any* weights of the architecture, so whoever settles on chain must also compare that
instance with the model's registered hash (:attr:`ZkCircuit.params_hash_bytes32`). With
``"polycommit"`` the same holds for the weights' KZG commitment, which sits at fixed byte
offsets of the proof (:attr:`ZkLayout.params_commitment`, :attr:`ZkCircuit.params_commitment`).
With ``"fixed"`` the weights are baked into the verifying key: one verifier per weight set.

The SRS: without ``srs_path`` the worker generates one with ``ezkl.gen_srs``, which is
INSECURE (whoever ran it can forge proofs): for development and tests only. Production passes
a ceremony SRS file and its pinned sha256 (``srs_path=..., srs_sha256=...``); a file with any
other hash is refused.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from agora.workloads.base import WorkloadError

__all__ = [
    "FIELD_MODULUS",
    "build_mlp",
    "MANIFEST_FORMAT",
    "MANIFEST_NAME",
    "VERIFY_PROOF_SELECTOR",
    "ZkArtifactMismatch",
    "ZkCircuit",
    "ZkError",
    "ZkLayout",
    "ZkProof",
    "ZkProofFailed",
    "ZkSetupFailed",
    "ZkSrsRefused",
    "ZkUnavailable",
    "check_artifacts",
    "check_srs",
    "circuit_id",
    "load_circuit",
    "sha256_file",
    "verifier_bytecode",
    "worker_python",
    "zk_prove",
    "zk_setup",
    "zk_available",
    "zk_verify",
]

#: The BN254 scalar field: every public instance is an integer below it.
FIELD_MODULUS = 21888242871839275222246405745257275088548364400416034343698204186575808495617
#: ``keccak256("verifyProof(bytes,uint256[])")[:4]``: the generated verifier's only entry point.
VERIFY_PROOF_SELECTOR = bytes.fromhex("1e8e1e13")
MANIFEST_NAME = "manifest.json"
MANIFEST_FORMAT = "agora-zk/1"
#: The model as given to :func:`zk_setup`, kept in the circuit's folder.
SOURCE_MODEL = "source.onnx"
#: Artifacts whose sha256 the manifest records and :func:`load_circuit` checks.
ARTIFACTS = (
    "model",
    "source_model",
    "settings",
    "circuit",
    "vk",
    "pk",
    "srs",
    "verifier_sol",
    "verifier_abi",
    "verifier_bin",
    "verifier_runtime",
)
_ROOT = Path(__file__).resolve().parents[3]
_WORKER = _ROOT / "zk" / "agora_zk" / "worker.py"
_SOLCJS = _ROOT / "node_modules" / "solc"
_EVM_VERSIONS = ("paris", "shanghai")  # solc 0.8.20 knows nothing later than shanghai


class ZkError(WorkloadError):
    """Something in the zero-knowledge toolchain failed."""


class ZkUnavailable(ZkError):
    """The prover's environment (``.venv-zk``), Node.js or solc-js is missing."""

    hint = "run `make setup`"


class ZkSetupFailed(ZkError):
    """ezkl could not build the circuit, its keys or its verifier."""


class ZkProofFailed(ZkError):
    """ezkl could not make a proof (for instance, an input out of the calibrated range)."""


class ZkSrsRefused(ZkError):
    """The SRS file is missing or its sha256 differs from the pinned one."""


class ZkArtifactMismatch(ZkError):
    """A circuit directory's file is missing or no longer has the sha256 its manifest records."""


@dataclass(frozen=True)
class ZkLayout:
    """Which public instance is which (indices into :attr:`ZkProof.instances`).

    ezkl 23 orders them: the hashes first (input hash, params hash, output hash: each only if
    that part is hashed), then the public inputs, then the public outputs. ``inputs`` and
    ``outputs`` are ``(start, count)`` or None when that part is not public.
    ``params_commitment`` (``param_visibility="polycommit"`` only) lists the byte offsets in the
    *proof* of the weights' KZG commitments (64 bytes each, x||y big-endian), not instances."""

    count: int
    params_hash: int | None
    input_hash: int | None
    output_hash: int | None
    inputs: tuple[int, int] | None
    outputs: tuple[int, int] | None
    params_commitment: tuple[int, ...] = ()

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ZkLayout:
        """Read the layout from the manifest (or the worker's answer)."""

        def span(value: Any) -> tuple[int, int] | None:
            return None if value is None else (int(value[0]), int(value[1]))

        def index(value: Any) -> int | None:
            return None if value is None else int(value)

        return cls(
            count=int(data["count"]),
            params_hash=index(data.get("params_hash")),
            input_hash=index(data.get("input_hash")),
            output_hash=index(data.get("output_hash")),
            inputs=span(data.get("inputs")),
            outputs=span(data.get("outputs")),
            params_commitment=tuple(int(o) for o in data.get("params_commitment") or ()),
        )


@dataclass(frozen=True)
class ZkCircuit:
    """A set-up circuit: the directory holding its artifacts and what its manifest says.

    ``files`` maps an artifact (``model``, ``settings``, ``circuit``, ``vk``, ``pk``, ``srs``,
    ``verifier_sol``, ``verifier_abi``, ``verifier_bin``, ``verifier_runtime``) to its file name in
    ``workdir``; ``hashes`` to its sha256 (hex). ``circuit_id`` is the sha256 of the sorted
    ``name:sha256`` lines, so two directories with equal artifacts have equal ids.
    ``params_hash`` is the Poseidon hash of the quantized weights (public instance
    ``layout.params_hash``), or None when the weights are baked in (``param_visibility="fixed"``).
    ``params_commitment`` is, with ``param_visibility="polycommit"``, the weights' KZG
    commitment(s) as every proof carries them (see :meth:`ZkProof.params_commitment`).
    ``srs_insecure`` is True for an SRS made by ``ezkl.gen_srs``."""

    workdir: Path
    files: Mapping[str, str]
    hashes: Mapping[str, str]
    logrows: int
    num_rows: int | None
    layout: ZkLayout
    params_hash: int | None
    params_commitment: bytes | None
    input_shape: tuple[int, ...]
    output_shape: tuple[int, ...]
    input_scale: int | None
    output_scales: tuple[int, ...]
    visibility: Mapping[str, str]
    srs_insecure: bool
    output_logits: bool
    verifier: Mapping[str, Any]
    timings: Mapping[str, float]
    manifest: Mapping[str, Any] = field(repr=False)

    @property
    def circuit_id(self) -> str:
        """sha256 (hex) over the artifacts' names and hashes."""
        return circuit_id(self.hashes)

    @property
    def params_hash_bytes32(self) -> bytes | None:
        """:attr:`params_hash` as 32 big-endian bytes (how a contract stores and compares it)."""
        return None if self.params_hash is None else self.params_hash.to_bytes(32, "big")

    def path(self, artifact: str) -> Path:
        """The file of ``artifact`` (see :attr:`files`)."""
        try:
            return self.workdir / self.files[artifact]
        except KeyError:
            raise ZkError(f"the circuit in {self.workdir} has no {artifact} artifact") from None

    @property
    def source_model_path(self) -> Path:
        """The model as given to :func:`zk_setup` (what a model registry's weights hash names; the
        ``model`` artifact may lack a final Softmax); ``model`` for a circuit set up before it was kept."""
        return self.path("source_model") if "source_model" in self.files else self.path("model")

    def size(self, artifact: str) -> int:
        """The size in bytes of ``artifact``'s file."""
        return self.path(artifact).stat().st_size


@dataclass(frozen=True)
class ZkProof:
    """One proof of one inference.

    ``instances`` are the public values as integers below :data:`FIELD_MODULUS`, laid out as
    the circuit's :class:`ZkLayout` says; ``calldata`` is the whole call
    ``verifyProof(bytes proof, uint256[] instances)`` for the circuit's verifier contract;
    ``outputs`` are the model's outputs as the circuit computed them (dequantized floats, e.g.
    logits at the output scale), ``output_ints`` the same as signed fixed-point integers.
    ``prove_seconds`` is wall time, ``prove_cpu_seconds`` the CPU time of all the prover's threads."""

    proof: bytes
    instances: tuple[int, ...]
    calldata: bytes
    outputs: tuple[float, ...]
    output_ints: tuple[int, ...]
    prove_seconds: float
    witness_seconds: float
    prove_cpu_seconds: float = 0.0

    def params_hash(self, layout: ZkLayout) -> int | None:
        """The weights' Poseidon hash this proof carries (None when the layout has none)."""
        return None if layout.params_hash is None else self.instances[layout.params_hash]

    def params_commitment(self, layout: ZkLayout) -> bytes | None:
        """The weights' KZG commitment(s) this proof carries (``polycommit`` layouts; else None):
        the 64-byte points at ``layout.params_commitment`` in :attr:`proof`, concatenated."""
        if not layout.params_commitment:
            return None
        return b"".join(self.proof[o : o + 64] for o in layout.params_commitment)


# -- helpers -----------------------------------------------------------------------------------


def sha256_file(path: str | os.PathLike[str]) -> str:
    """The sha256 (hex) of a file, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def circuit_id(hashes: Mapping[str, str]) -> str:
    """sha256 (hex) of the sorted ``name:sha256`` lines of a manifest's artifacts."""
    lines = "".join(f"{name}:{hashes[name]}\n" for name in sorted(hashes))
    return hashlib.sha256(lines.encode()).hexdigest()


def zk_available() -> bool:
    """Whether the prover's environment (``.venv-zk`` or ``AGORA_ZK_PYTHON``) and the worker exist."""
    try:
        worker_python()
    except ZkUnavailable:
        return False
    return _WORKER.exists()


def worker_python() -> Path:
    """The Python of the prover's environment: ``AGORA_ZK_PYTHON``, else ``.venv-zk/bin/python``
    at the repository root. Raises :class:`ZkUnavailable` when it is not there."""
    configured = os.environ.get("AGORA_ZK_PYTHON")
    path = Path(configured) if configured else _ROOT / ".venv-zk" / "bin" / "python"
    if not path.exists():
        raise ZkUnavailable(f"the zk prover's Python {path} does not exist (ezkl lives in .venv-zk)")
    return path


def _node() -> str:
    node = shutil.which("node")
    if node is None:
        raise ZkUnavailable("Node.js (`node`) is not on PATH; the verifier is compiled with solc-js")
    if not (_SOLCJS / "soljson.js").exists():
        raise ZkUnavailable(f"solc-js is missing from {_SOLCJS.parent} (npm devDependency solc 0.8.20)")
    return node


_ERRORS: dict[str, type[ZkError]] = {"srs": ZkSrsRefused, "prove": ZkProofFailed, "gen_witness": ZkProofFailed}


def _run_worker(command: str, request: Mapping[str, Any], default: type[ZkError], timeout: float) -> dict[str, Any]:
    python = worker_python()
    if not _WORKER.exists():
        raise ZkUnavailable(f"the zk worker {_WORKER} is missing")
    try:
        done = subprocess.run(
            [str(python), str(_WORKER), command],
            input=json.dumps(request),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise default(f"the zk worker's {command} took longer than {timeout:.0f} s") from None
    except OSError as exc:
        raise ZkUnavailable(f"cannot run the zk worker with {python}: {exc}") from None
    lines = [line for line in done.stdout.splitlines() if line.strip()]
    try:
        answer: dict[str, Any] = json.loads(lines[-1])
    except (IndexError, ValueError):
        tail = " ".join(done.stderr.split())[-300:]
        raise default(
            f"the zk worker's {command} died (exit status {done.returncode}) without an answer: {tail}"
        ) from None
    if not answer.get("ok"):
        error = _ERRORS.get(str(answer.get("kind")), default)
        raise error(str(answer.get("error", "unknown failure")).splitlines()[0])
    return answer


def _flat_input(values: object, expected: int | None = None) -> list[float]:
    array = np.asarray(values, dtype=np.float64).reshape(-1)
    if array.size == 0 or not np.all(np.isfinite(array)):
        raise ZkError("the input must be a non-empty array of finite numbers")
    if expected is not None and array.size != expected:
        raise ZkError(f"the input has {array.size} values, the circuit takes {expected}")
    return [float(v) for v in array]


# -- the manifest ------------------------------------------------------------------------------


def _circuit_from_manifest(workdir: Path, manifest: Mapping[str, Any]) -> ZkCircuit:
    if manifest.get("format") != MANIFEST_FORMAT:
        raise ZkArtifactMismatch(f"{workdir / MANIFEST_NAME} is not an {MANIFEST_FORMAT} manifest")
    artifacts = manifest["artifacts"]
    params_hash = manifest.get("params_hash")
    return ZkCircuit(
        workdir=workdir,
        files={name: str(entry["file"]) for name, entry in artifacts.items()},
        hashes={name: str(entry["sha256"]) for name, entry in artifacts.items()},
        logrows=int(manifest["logrows"]),
        num_rows=None if manifest.get("num_rows") is None else int(manifest["num_rows"]),
        layout=ZkLayout.from_json(manifest["layout"]),
        params_hash=None if params_hash is None else int(params_hash, 16),
        params_commitment=bytes.fromhex(manifest["params_commitment"]) if manifest.get("params_commitment") else None,
        input_shape=tuple(int(d) for d in manifest["input_shape"]),
        output_shape=tuple(int(d) for d in manifest["output_shape"]),
        input_scale=manifest.get("input_scale"),
        output_scales=tuple(int(s) for s in manifest.get("output_scales") or ()),
        visibility=dict(manifest["visibility"]),
        srs_insecure=bool(manifest["srs"]["insecure"]),
        output_logits=bool(manifest.get("output_logits")),
        verifier=dict(manifest.get("verifier") or {}),
        timings=dict(manifest.get("timings") or {}),
        manifest=manifest,
    )


def check_artifacts(workdir: Path, manifest: Mapping[str, Any]) -> None:
    """Raise :class:`ZkArtifactMismatch` unless every artifact the manifest lists is in
    ``workdir`` with the recorded size and sha256."""
    for name, entry in manifest["artifacts"].items():
        path = workdir / entry["file"]
        if not path.is_file():
            raise ZkArtifactMismatch(f"the zk artifact {name} ({path}) is missing")
        if path.stat().st_size != int(entry["size"]) or sha256_file(path) != entry["sha256"]:
            raise ZkArtifactMismatch(f"the zk artifact {name} ({path}) does not match the sha256 in its manifest")


def load_circuit(workdir: str | os.PathLike[str], *, check: bool = True) -> ZkCircuit:
    """Read the circuit set up in ``workdir``; with ``check`` (the default), first check every
    artifact against its manifest sha256 (a few seconds for a GB-sized proving key).

    Raises :class:`ZkArtifactMismatch` for a missing or changed file or a foreign manifest."""
    directory = Path(workdir)
    try:
        manifest = json.loads((directory / MANIFEST_NAME).read_text())
    except FileNotFoundError:
        raise ZkArtifactMismatch(f"no zk manifest in {directory} (run zk_setup first)") from None
    except ValueError:
        raise ZkArtifactMismatch(f"{directory / MANIFEST_NAME} is not valid JSON") from None
    if not isinstance(manifest, dict) or "artifacts" not in manifest:
        raise ZkArtifactMismatch(f"{directory / MANIFEST_NAME} is not an {MANIFEST_FORMAT} manifest")
    if check:
        check_artifacts(directory, manifest)
    return _circuit_from_manifest(directory, manifest)


def check_srs(path: str | os.PathLike[str], pinned_sha256: str) -> str:
    """Return the sha256 of the SRS file at ``path`` if it equals ``pinned_sha256``;
    raise :class:`ZkSrsRefused` if the file is missing or has another hash."""
    srs = Path(path)
    if not srs.is_file():
        raise ZkSrsRefused(f"no SRS file at {srs}")
    actual = sha256_file(srs)
    if actual != pinned_sha256.lower().removeprefix("0x"):
        raise ZkSrsRefused(f"the SRS {srs.name} has sha256 {actual}, not the pinned {pinned_sha256}")
    return actual


# -- the API -----------------------------------------------------------------------------------


def zk_setup(
    model: bytes | str | os.PathLike[str],
    sample_input: object,
    workdir: str | os.PathLike[str],
    *,
    output_logits: bool = False,
    param_visibility: str = "hashed",
    input_visibility: str = "public",
    srs_path: str | os.PathLike[str] | None = None,
    srs_sha256: str | None = None,
    dev_srs_cache: str | os.PathLike[str] | None = None,
    optimizer_runs: int = 1,
    evm_version: str = "shanghai",
    scales: Sequence[int] | None = None,
    num_inner_cols: int | None = None,
    evm_verifier: bool = True,
    settings_from: ZkCircuit | None = None,
    timeout: float = 1800.0,
) -> ZkCircuit:
    """Build everything to prove and verify one ONNX model; return its :class:`ZkCircuit`.

    ``model`` is ONNX bytes or a path: one input (batch dimension 1; symbolic dimensions are
    fixed to 1) and one output. ``sample_input`` (one example, any shape, flattened) drives
    ezkl's calibration of the fixed-point scales. ``output_logits`` drops a final Softmax (the
    argmax is unchanged and the circuit much smaller: the Softmax needs an Exp lookup table).
    Settings: decomposition base 128 x 4 legs, outputs public, weights ``param_visibility``
    (``"hashed"``: private, their Poseidon hash public instance, about 41 circuit rows per
    weight; ``"polycommit"``: private, their KZG commitment at fixed bytes of every proof, no
    extra rows; ``"fixed"``: baked into the keys, so the verifier pins the weights), inputs
    ``input_visibility`` (``"public"`` or ``"hashed"``). ``num_inner_cols`` (ezkl's default 2)
    trades rows for columns: more columns, fewer rows, a smaller logrows and faster proofs.

    The SRS is ``srs_path`` checked against ``srs_sha256`` (both or neither; a mismatch raises
    :class:`ZkSrsRefused`), else one from ``ezkl.gen_srs``: INSECURE, dev and tests only
    (``dev_srs_cache`` keeps generated ones per logrows). The Solidity verifier is generated by
    ezkl and compiled with solc-js 0.8.20 (``optimizer_runs``, ``evm_version``), unless
    ``evm_verifier`` is False. ``settings_from`` reuses another circuit's settings (scales,
    logrows, visibility) instead of calibrating: for other weights of the same architecture this
    gives the same verifying key and verifier, and only the params hash differs (the visibility
    arguments are then ignored). ``workdir`` receives every artifact plus ``manifest.json``.
    """
    if (srs_path is None) != (srs_sha256 is None):
        raise ZkSrsRefused("a production SRS needs both srs_path and its pinned srs_sha256")
    if evm_version not in _EVM_VERSIONS:
        raise ZkError(f"evm_version must be one of {', '.join(_EVM_VERSIONS)} (solc 0.8.20), got {evm_version!r}")
    if param_visibility not in ("hashed", "fixed", "polycommit"):
        raise ZkError(f"param_visibility must be 'hashed', 'polycommit' or 'fixed', got {param_visibility!r}")
    if input_visibility not in ("public", "hashed"):
        raise ZkError(f"input_visibility must be 'public' or 'hashed', got {input_visibility!r}")
    if srs_path is not None and srs_sha256 is not None:
        check_srs(srs_path, srs_sha256)
    worker_python()  # fail early, before any work
    node = _node() if evm_verifier else ""
    directory = Path(workdir)
    directory.mkdir(parents=True, exist_ok=True)
    (directory / MANIFEST_NAME).unlink(missing_ok=True)
    with tempfile.TemporaryDirectory(prefix="agora-zk-") as scratch:
        if isinstance(model, bytes | bytearray):
            model_path = Path(scratch) / "model.onnx"
            model_path.write_bytes(bytes(model))
        else:
            model_path = Path(model)
            if not model_path.is_file():
                raise ZkSetupFailed(f"no ONNX model at {model_path}")
        request: dict[str, Any] = {
            "workdir": str(directory.resolve()),
            "model_path": str(model_path.resolve()),
            "sample_input": _flat_input(sample_input),
            "output_logits": output_logits,
            "param_visibility": param_visibility,
            "input_visibility": input_visibility,
            "output_visibility": "public",
            "decomp_base": 128,
            "decomp_legs": 4,
            "scales": list(scales) if scales is not None else None,
            "num_inner_cols": num_inner_cols,
            "evm_verifier": evm_verifier,
            "settings_path": str(settings_from.path("settings").resolve()) if settings_from is not None else None,
            "srs": {"path": str(Path(srs_path).resolve()), "sha256": srs_sha256}
            if srs_path is not None
            else {"cache_dir": str(Path(dev_srs_cache).resolve()) if dev_srs_cache else None},
            "solc": {
                "node": node,
                "solcjs_dir": str(_SOLCJS),
                "optimizer_runs": optimizer_runs,
                "evm_version": evm_version,
            },
        }
        started = time.perf_counter()
        answer = _run_worker("setup", request, ZkSetupFailed, timeout)
        seconds = time.perf_counter() - started
        # the model as given (its keccak256 is what a model registry records), beside the one
        # the circuit runs (``model``: without a final Softmax under output_logits)
        shutil.copyfile(model_path, directory / SOURCE_MODEL)
    artifacts = {}
    for name, file_name in {**answer["files"], "source_model": SOURCE_MODEL}.items():
        path = directory / file_name
        artifacts[name] = {"file": file_name, "sha256": sha256_file(path), "size": path.stat().st_size}
    params_hash = answer.get("params_hash")
    manifest = {
        "format": MANIFEST_FORMAT,
        "ezkl_version": answer["ezkl_version"],
        "artifacts": artifacts,
        "circuit_id": circuit_id({name: entry["sha256"] for name, entry in artifacts.items()}),
        "logrows": answer["logrows"],
        "num_rows": answer.get("num_rows"),
        "input_shape": answer["model"]["input_shape"],
        "output_shape": answer["model"]["output_shape"],
        "input_scale": answer.get("input_scale"),
        "param_scale": answer.get("param_scale"),
        "output_scales": answer.get("output_scales"),
        "output_logits": bool(answer["model"]["softmax_dropped"]),
        "visibility": answer["layout"]["visibility"],
        "layout": {
            k: answer["layout"].get(k)
            for k in ("count", "params_hash", "input_hash", "output_hash", "inputs", "outputs", "params_commitment")
        },
        "params_hash": None if params_hash is None else f"0x{int(params_hash):064x}",
        "params_commitment": answer.get("params_commitment"),
        "srs": {**answer["srs"], "sha256": artifacts["srs"]["sha256"], "logrows": answer["logrows"]},
        "verifier": answer.get("verifier") or {},
        "sample": {"outputs": answer.get("sample_outputs"), "proof_size": answer.get("sample_proof_size")},
        "timings": {**answer.get("timings", {}), "total": round(seconds, 3)},
    }
    if manifest["srs"]["insecure"]:
        manifest["srs"]["warning"] = "generated with ezkl.gen_srs: INSECURE, proofs can be forged; dev and tests only"
    (directory / MANIFEST_NAME).write_text(json.dumps(manifest, indent=1) + "\n")
    return _circuit_from_manifest(directory, manifest)


def zk_prove(circuit: ZkCircuit, input_vector: object, *, timeout: float = 1800.0) -> ZkProof:
    """Prove one inference of ``circuit``'s model on ``input_vector`` (one example, flattened to
    the model's input size). Returns the proof, its public instances, the ``verifyProof``
    calldata and the outputs the circuit computed. Raises :class:`ZkProofFailed`."""
    expected = int(np.prod(circuit.input_shape)) if circuit.input_shape else None
    with tempfile.TemporaryDirectory(prefix="agora-zk-proof-") as scratch:
        request = {
            "workdir": str(circuit.workdir.resolve()),
            "out_dir": scratch,
            "input": _flat_input(input_vector, expected),
        }
        answer = _run_worker("prove", request, ZkProofFailed, timeout)
    return ZkProof(
        proof=bytes.fromhex(answer["proof"]),
        instances=tuple(int(v) for v in answer["instances"]),
        calldata=bytes.fromhex(answer["calldata"]),
        outputs=tuple(float(v) for v in answer["outputs"]),
        output_ints=tuple(int(v) for v in answer["output_felts"]),
        prove_seconds=float(answer["prove_seconds"]),
        witness_seconds=float(answer["witness_seconds"]),
        prove_cpu_seconds=float(answer.get("prove_cpu_seconds", 0.0)),
    )


def zk_verify(circuit: ZkCircuit, proof: ZkProof, *, timeout: float = 600.0) -> bool:
    """Check ``proof`` against ``circuit``'s verifying key off-chain (ezkl ``verify``).

    True only for a valid proof of these instances; a wrong or malformed one gives False.
    Note: with hashed weights this accepts proofs for any weights of the architecture; compare
    ``proof.params_hash(circuit.layout)`` with the expected hash yourself."""
    if len(proof.instances) != circuit.layout.count or any(not 0 <= v < FIELD_MODULUS for v in proof.instances):
        return False
    with tempfile.TemporaryDirectory(prefix="agora-zk-verify-") as scratch:
        request = {
            "workdir": str(circuit.workdir.resolve()),
            "out_dir": scratch,
            "proof": proof.proof.hex(),
            "instances": [str(v) for v in proof.instances],
        }
        answer = _run_worker("verify", request, ZkError, timeout)
    return bool(answer["valid"])


def verifier_bytecode(circuit: ZkCircuit) -> bytes:
    """The creation bytecode of ``circuit``'s Solidity verifier (``Halo2Verifier``, solc-js 0.8.20);
    deploy it as a contract creation with no constructor arguments. Checked against the manifest.
    ``circuit.verifier["eip170_ok"]`` says whether its runtime code fits EIP-170's 24,576 bytes
    (more ``num_inner_cols`` or lookups make it bigger; a chain with the limit refuses it)."""
    path = circuit.path("verifier_bin")
    code = path.read_bytes()
    if hashlib.sha256(code).hexdigest() != circuit.hashes["verifier_bin"]:
        raise ZkArtifactMismatch(f"the zk artifact verifier_bin ({path}) does not match the sha256 in its manifest")
    return code


def build_mlp(sizes: Sequence[int], seed: int = 0) -> tuple[bytes, list[tuple[np.ndarray, np.ndarray]]]:
    """A float32 ReLU MLP of layer ``sizes`` (e.g. ``(8, 4, 3)``) with seeded random weights, logits
    out, as ONNX bytes (input ``[1, sizes[0]]``) and its ``(weights, bias)`` layers: the small models
    the zero-knowledge tests and benchmarks prove."""
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(seed)
    layers: list[tuple[np.ndarray, np.ndarray]] = []
    nodes, inits, x = [], [], "input"
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
        w = rng.normal(0, 1 / np.sqrt(a), (a, b)).astype(np.float32)
        bias = rng.normal(0, 0.1, (b,)).astype(np.float32)
        layers.append((w, bias))
        inits += [numpy_helper.from_array(w, f"w{i}"), numpy_helper.from_array(bias, f"b{i}")]
        nodes += [helper.make_node("MatMul", [x, f"w{i}"], [f"m{i}"]),
                  helper.make_node("Add", [f"m{i}", f"b{i}"], [f"a{i}"])]
        x = f"a{i}"
        if i < len(sizes) - 2:
            nodes.append(helper.make_node("Relu", [x], [f"r{i}"]))
            x = f"r{i}"
    nodes.append(helper.make_node("Identity", [x], ["logits"]))
    graph = helper.make_graph(
        nodes, "mlp", [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, sizes[0]])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [1, sizes[-1]])], inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)
    return model.SerializeToString(), layers
