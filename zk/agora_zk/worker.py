"""Agora's ezkl worker: runs inside ``.venv-zk`` only, one command per process.

    .venv-zk/bin/python zk/agora_zk/worker.py COMMAND < request.json > response.json

COMMAND is ``setup``, ``prove``, ``verify`` or ``version``. The request is one JSON object on
stdin; the response is one JSON object on stdout: ``{"ok": true, ...}`` or ``{"ok": false,
"error": "<one line>", "kind": "<what failed>"}`` (exit status 0 or 1). Everything ezkl prints
goes to stderr. The process ends with ``os._exit``: ezkl's async EVM helpers have crashed the
interpreter at exit (after their work was done), so no teardown runs.

The driver is ``agora.workloads.zk`` in the project's environment; it owns the manifest (file
hashes, refusals) and this worker only computes. Pinned: ezkl 23.0.5 (its API changed between
releases, see zk/requirements.txt).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

FIELD_MODULUS = 21888242871839275222246405745257275088548364400416034343698204186575808495617
EZKL_VERSION = "23.0.5"
SOLC_VERSION = "0.8.20"  # what ezkl's create_evm_verifier asks svm for (SHANGHAI_SOLC)
VERIFIER_CONTRACT = "Halo2Verifier"

# file names inside a circuit directory (the driver's manifest points at them)
MODEL = "network.onnx"
SAMPLE = "sample_input.json"
SETTINGS = "settings.json"
CIRCUIT = "network.ezkl"
VK = "vk.key"
PK = "pk.key"
SRS = "kzg.srs"
SOL = "Verifier.sol"
ABI = "Verifier.abi"
VERIFIER_BIN = "verifier.bin"  # creation bytecode, raw bytes
VERIFIER_RUNTIME = "verifier-runtime.bin"


class WorkerError(Exception):
    """A failure with a one-line message and a kind (the driver maps kinds to error classes)."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


def sha256_file(path: Path) -> str:
    """The sha256 (hex) of a file."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def felt(hex_le: str) -> int:
    """An ezkl field element (64 hex digits, little-endian, as in proof/witness JSON) as an int."""
    return int.from_bytes(bytes.fromhex(hex_le.removeprefix("0x")), "little")


def felt_hex(value: int) -> str:
    """An int as an ezkl field element (64 hex digits, little-endian)."""
    return (value % FIELD_MODULUS).to_bytes(32, "little").hex()


def signed(value: int) -> int:
    """A field element read as a signed integer (ezkl encodes -v as p - v)."""
    return value - FIELD_MODULUS if value > FIELD_MODULUS // 2 else value


# -- the model ---------------------------------------------------------------------------------


def prepare_model(source: Path, target: Path, output_logits: bool) -> dict[str, Any]:
    """Copy the ONNX model to ``target`` (dropping a final Softmax when ``output_logits``) and
    describe it: input/output names and shapes and the symbolic dimensions (fixed to 1)."""
    import onnx

    model = onnx.load_from_string(source.read_bytes())
    graph = model.graph
    initializers = {i.name for i in graph.initializer}
    inputs = [i for i in graph.input if i.name not in initializers]
    if len(inputs) != 1 or len(graph.output) != 1:
        raise WorkerError(
            "model", f"the model must have one input and one output, it has {len(inputs)} and {len(graph.output)}"
        )
    stripped = False
    if output_logits:
        last = [n for n in graph.node if graph.output[0].name in n.output]
        if len(last) == 1 and last[0].op_type == "Softmax":
            node = last[0]
            producer_type = graph.output[0].type
            new_out = onnx.ValueInfoProto()
            new_out.name = node.input[0]
            new_out.type.CopyFrom(producer_type)
            graph.node.remove(node)
            graph.output.remove(graph.output[0])
            graph.output.append(new_out)
            stripped = True
    symbols: list[str] = []
    shapes: dict[str, list[int | str]] = {}
    for value in (inputs[0], graph.output[0]):
        dims: list[int | str] = []
        for dim in value.type.tensor_type.shape.dim:
            if dim.dim_param:
                dims.append(dim.dim_param)
                if dim.dim_param not in symbols:
                    symbols.append(dim.dim_param)
            else:
                dims.append(int(dim.dim_value))
        shapes[value.name] = dims
    target.write_bytes(model.SerializeToString())
    return {
        "input_name": inputs[0].name,
        "output_name": graph.output[0].name,
        "input_shape": [1 if isinstance(d, str) else d for d in shapes[inputs[0].name]],
        "output_shape": [1 if isinstance(d, str) else d for d in shapes[graph.output[0].name]],
        "symbols": symbols,
        "softmax_dropped": stripped,
    }


def write_input(path: Path, values: list[float]) -> None:
    """Write one flattened example as ezkl's input JSON."""
    path.write_text(json.dumps({"input_data": [[float(v) for v in values]]}))


# -- instances -----------------------------------------------------------------------------------


def instance_layout(run_args: dict[str, Any], n_inputs: int, n_outputs: int) -> dict[str, Any]:
    """Where each public value sits in the proof's instance vector (ezkl 23 order): the module
    hashes first (input hash, params hash, output hash, for each that is hashed and public),
    then the model's public inputs, then its public outputs."""

    def kind(visibility: Any) -> str:
        if isinstance(visibility, str):
            return {"kzgcommit": "polycommit"}.get(visibility.lower(), visibility.lower())
        ((name, body),) = visibility.items()
        if name == "Hashed":
            return "hashed" if body.get("hash_is_public", True) else "hashed-private"
        return name.lower()

    vis = {part: kind(run_args[f"{part}_visibility"]) for part in ("input", "param", "output")}
    index = 0
    layout: dict[str, Any] = {
        "input_hash": None,
        "params_hash": None,
        "output_hash": None,
        "inputs": None,
        "outputs": None,
    }
    for part, key in (("input", "input_hash"), ("param", "params_hash"), ("output", "output_hash")):
        if vis[part] == "hashed":
            layout[key] = index
            index += 1
    if vis["input"] == "public":
        layout["inputs"] = [index, n_inputs]
        index += n_inputs
    if vis["output"] == "public":
        layout["outputs"] = [index, n_outputs]
        index += n_outputs
    layout["count"] = index
    layout["visibility"] = vis
    return layout


def check_layout(layout: dict[str, Any], instances: list[int], witness: dict[str, Any]) -> None:
    """Check the computed layout against a real proof's instances and its witness."""
    if len(instances) != layout["count"]:
        raise WorkerError(
            "layout", f"the proof has {len(instances)} public instances, the layout expects {layout['count']}"
        )
    expect: list[tuple[int, int]] = []
    hashes = {"input_hash": "processed_inputs", "params_hash": "processed_params", "output_hash": "processed_outputs"}
    for key, source in hashes.items():
        if layout[key] is not None:
            expect.append((layout[key], felt(witness[source]["poseidon_hash"][0])))
    for key, source in (("inputs", "inputs"), ("outputs", "outputs")):
        if layout[key] is not None:
            start, count = layout[key]
            flat = [felt(v) for row in witness[source] for v in row]
            expect.extend((start + i, flat[i]) for i in range(count))
    for position, value in expect:
        if instances[position] != value:
            raise WorkerError(
                "layout", f"public instance {position} is not where ezkl 23 puts it; the layout rule is out of date"
            )


def g1_x_big_endian(compressed_le_hex: str) -> bytes:
    """The x coordinate (32 bytes, big-endian, as in EVM proofs) of a compressed BN254 G1 point
    as ezkl's witness writes it (x little-endian, the top two bits of the last byte are flags)."""
    x = bytearray(bytes.fromhex(compressed_le_hex.removeprefix("0x"))[::-1])
    x[0] &= 0x3F
    return bytes(x)


def locate_params_commitment(directory: Path, paths: dict[str, str], proof: dict[str, Any]) -> dict[str, Any]:
    """With ``param_visibility="polycommit"`` the weights sit in unblinded advice columns, so their
    KZG commitments are deterministic and appear in every proof: find where (byte offsets of the
    64-byte points x||y in the proof) from the sample witness's commitments."""
    import ezkl

    witness_path = directory / "sample_witness_commit.json"
    ezkl.gen_witness(paths[SAMPLE], paths[CIRCUIT], str(witness_path), vk_path=paths[VK], srs_path=paths[SRS])
    points = [p for row in json.loads(witness_path.read_text())["processed_params"]["polycommit"] for p in row]
    witness_path.unlink()
    blob = bytes.fromhex(proof["hex_proof"].removeprefix("0x"))
    offsets: list[int] = []
    for point in points:
        x = g1_x_big_endian(point)
        found = [i for i in range(0, len(blob) - 63, 32) if blob[i : i + 32] == x]
        if len(found) != 1:
            raise WorkerError(
                "layout", f"the weights' commitment is {'not' if not found else 'more than once'} in the proof"
            )
        offsets.append(found[0])
    return {"offsets": offsets, "bytes": b"".join(blob[o : o + 64] for o in offsets).hex()}


# -- the EVM verifier ----------------------------------------------------------------------------


def solc_env(node: str, solcjs_dir: str) -> dict[str, str]:
    """The environment for running solcjs.js."""
    env = dict(os.environ)
    env["AGORA_SOLCJS_DIR"] = solcjs_dir
    env["PATH"] = os.path.dirname(node) + os.pathsep + env.get("PATH", "")
    return env


def make_svm_home(home: Path, node: str, solcjs_dir: str) -> None:
    """A throw-away HOME whose ``.svm/0.8.20/solc-0.8.20`` runs solc-js (for ezkl's own probe)."""
    script = Path(__file__).with_name("solcjs.js").resolve()
    shim = home / ".svm" / SOLC_VERSION / f"solc-{SOLC_VERSION}"
    shim.parent.mkdir(parents=True, exist_ok=True)
    shim.write_text(f'#!/bin/sh\nAGORA_SOLCJS_DIR="{solcjs_dir}" exec "{node}" --stack-size=65500 "{script}" "$@"\n')
    shim.chmod(0o755)


def create_verifier_sol(directory: Path, srs: Path, solc: dict[str, Any]) -> float:
    """ezkl's ``create_evm_verifier`` (async) with the svm shim in a throw-away HOME."""
    home = directory / ".zkhome"
    (directory / SOL).unlink(missing_ok=True)
    make_svm_home(home, solc["node"], solc["solcjs_dir"])
    previous = os.environ.get("HOME")
    os.environ["HOME"] = str(home)
    started = time.perf_counter()
    try:
        import ezkl

        async def run() -> Any:
            return await ezkl.create_evm_verifier(
                str(directory / VK),
                str(directory / SETTINGS),
                str(directory / SOL),
                str(directory / ABI),
                srs_path=str(srs),
            )

        try:
            asyncio.run(run())
        except Exception as exc:  # ezkl writes the .sol before it compiles; a failing probe after that is tolerated
            if not (directory / SOL).exists():
                raise WorkerError("verifier", f"ezkl create_evm_verifier failed: {one_line(exc)}") from exc
    finally:
        if previous is not None:
            os.environ["HOME"] = previous
        shutil.rmtree(home, ignore_errors=True)
    return time.perf_counter() - started


def compile_verifier(directory: Path, solc: dict[str, Any]) -> dict[str, Any]:
    """Compile Verifier.sol with solc-js (standard JSON); write the creation and runtime code."""
    source = (directory / SOL).read_text()
    request = {
        "language": "Solidity",
        "sources": {SOL: {"content": source}},
        "settings": {
            "optimizer": {"enabled": True, "runs": int(solc["optimizer_runs"])},
            "evmVersion": solc["evm_version"],
            "outputSelection": {
                SOL: {VERIFIER_CONTRACT: ["abi", "evm.bytecode.object", "evm.deployedBytecode.object"]}
            },
        },
    }
    script = Path(__file__).with_name("solcjs.js").resolve()
    started = time.perf_counter()
    done = subprocess.run(
        [solc["node"], "--stack-size=65500", str(script), "--standard-json"],
        input=json.dumps(request),
        capture_output=True,
        text=True,
        env=solc_env(solc["node"], solc["solcjs_dir"]),
        timeout=600,
        check=False,
    )
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise WorkerError("solc", f"solc-js exited with status {done.returncode}: {one_line(done.stderr)}")
    try:
        output = json.loads(done.stdout)
    except ValueError as exc:
        raise WorkerError("solc", f"solc-js gave no JSON: {one_line(done.stdout or done.stderr)}") from exc
    errors = [e for e in output.get("errors", []) if e.get("severity") == "error"]
    if errors:
        raise WorkerError("solc", f"solc-js: {one_line(errors[0].get('formattedMessage') or errors[0].get('message'))}")
    contract = output["contracts"][SOL][VERIFIER_CONTRACT]
    creation = bytes.fromhex(contract["evm"]["bytecode"]["object"])
    runtime = bytes.fromhex(contract["evm"]["deployedBytecode"]["object"])
    (directory / VERIFIER_BIN).write_bytes(creation)
    (directory / VERIFIER_RUNTIME).write_bytes(runtime)
    (directory / ABI).write_text(json.dumps(contract["abi"]))
    return {
        "seconds": seconds,
        "creation_size": len(creation),
        "runtime_size": len(runtime),
        "eip170_ok": len(runtime) <= 24_576,  # deployable on chains with the contract size limit
    }


# -- commands ----------------------------------------------------------------------------------


def obtain_srs(request: dict[str, Any], logrows: int, target: Path) -> dict[str, Any]:
    """The SRS: a ceremony file checked against its pinned sha256, or a locally generated one
    (``ezkl.gen_srs``: INSECURE, whoever holds its toxic waste can forge proofs; dev and tests only)."""
    import ezkl

    srs = request.get("srs") or {}
    started = time.perf_counter()
    if srs.get("path"):
        source = Path(srs["path"])
        if not source.is_file():
            raise WorkerError("srs", f"no SRS file at {source}")
        actual = sha256_file(source)
        if actual != str(srs.get("sha256", "")).lower():
            raise WorkerError("srs", f"the SRS {source.name} has sha256 {actual}, not the pinned {srs.get('sha256')}")
        shutil.copyfile(source, target)
        return {
            "insecure": False,
            "generated": False,
            "seconds": time.perf_counter() - started,
            "source_sha256": actual,
        }
    cache_dir = srs.get("cache_dir")
    cached = Path(cache_dir) / f"kzg{logrows}-insecure-dev.srs" if cache_dir else None
    if cached is not None and cached.is_file():
        shutil.copyfile(cached, target)
        return {"insecure": True, "generated": False, "seconds": time.perf_counter() - started}
    ezkl.gen_srs(str(target), logrows)
    if cached is not None:
        cached.parent.mkdir(parents=True, exist_ok=True)
        partial = cached.with_suffix(f".{os.getpid()}.part")
        shutil.copyfile(target, partial)
        os.replace(partial, cached)
    return {"insecure": True, "generated": True, "seconds": time.perf_counter() - started}


def cmd_setup(request: dict[str, Any]) -> dict[str, Any]:
    """Settings, calibration, compiled circuit, SRS, keys, a sample proof and the EVM verifier."""
    import ezkl

    directory = Path(request["workdir"])
    directory.mkdir(parents=True, exist_ok=True)
    timings: dict[str, float] = {}

    def step(name: str, fn: Any, *args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        try:
            result = fn(*args, **kwargs)
        except Exception as exc:
            raise WorkerError(name, f"ezkl {name} failed: {one_line(exc)}") from exc
        timings[name] = round(time.perf_counter() - started, 4)
        return result

    model = prepare_model(Path(request["model_path"]), directory / MODEL, bool(request.get("output_logits")))
    sample = [float(v) for v in request["sample_input"]]
    n_inputs = 1
    for d in model["input_shape"]:
        n_inputs *= int(d)
    if len(sample) != n_inputs:
        raise WorkerError(
            "input",
            f"the sample input has {len(sample)} values, the model's input {model['input_shape']} takes {n_inputs}",
        )
    write_input(directory / SAMPLE, sample)

    args = ezkl.PyRunArgs()
    args.input_visibility = request.get("input_visibility", "public")
    args.output_visibility = request.get("output_visibility", "public")
    args.param_visibility = request.get("param_visibility", "hashed")
    args.decomp_base = int(request.get("decomp_base", 128))
    args.decomp_legs = int(request.get("decomp_legs", 4))
    if request.get("num_inner_cols"):
        args.num_inner_cols = int(request["num_inner_cols"])
    if model["symbols"]:
        args.variables = [(name, 1) for name in model["symbols"]]
    paths = {name: str(directory / name) for name in (MODEL, SAMPLE, SETTINGS, CIRCUIT, VK, PK, SRS)}
    if request.get("settings_path"):  # another circuit's settings: same architecture, same keys' shape
        shutil.copyfile(request["settings_path"], paths[SETTINGS])
    else:
        step("gen_settings", ezkl.gen_settings, paths[MODEL], paths[SETTINGS], py_run_args=args)
        step(
            "calibrate_settings",
            ezkl.calibrate_settings,
            paths[SAMPLE],
            paths[MODEL],
            paths[SETTINGS],
            request.get("calibration_target", "resources"),
            lookup_safety_margin=float(request.get("lookup_safety_margin", 2)),
            scales=request.get("scales"),
            scale_rebase_multiplier=[1],
            max_logrows=request.get("max_logrows"),
        )
    step("compile_circuit", ezkl.compile_circuit, paths[MODEL], paths[CIRCUIT], paths[SETTINGS])
    settings = json.loads((directory / SETTINGS).read_text())
    logrows = int(settings["run_args"]["logrows"])
    srs_info = obtain_srs(request, logrows, directory / SRS)
    timings["srs"] = round(srs_info.pop("seconds"), 4)
    witness_path = str(directory / "sample_witness.json")
    step("gen_witness", ezkl.gen_witness, paths[SAMPLE], paths[CIRCUIT], witness_path)
    if request.get("mock", True):
        step("mock", ezkl.mock, witness_path, paths[CIRCUIT])
    step("setup", ezkl.setup, paths[CIRCUIT], paths[VK], paths[PK], srs_path=paths[SRS])
    proof_path = directory / "sample_proof.json"
    step("prove", ezkl.prove, witness_path, paths[CIRCUIT], paths[PK], str(proof_path), srs_path=paths[SRS])
    if not step("verify", ezkl.verify, str(proof_path), paths[SETTINGS], paths[VK], srs_path=paths[SRS]):
        raise WorkerError("verify", "ezkl could not verify its own proof of the sample input")
    witness = json.loads(Path(witness_path).read_text())
    proof = json.loads(proof_path.read_text())
    instances = [felt(v) for v in proof["instances"][0]]
    n_outputs = 1
    for d in model["output_shape"]:
        n_outputs *= int(d)
    layout = instance_layout(settings["run_args"], n_inputs, n_outputs)
    check_layout(layout, instances, witness)
    params_hash = instances[layout["params_hash"]] if layout["params_hash"] is not None else None
    commitment = None
    if layout["visibility"]["param"] == "polycommit":
        commitment = locate_params_commitment(directory, paths, proof)
        layout["params_commitment"] = commitment["offsets"]

    verifier: dict[str, Any] = {}
    if request.get("evm_verifier", True):
        solc = request["solc"]
        timings["create_evm_verifier"] = round(create_verifier_sol(directory, directory / SRS, solc), 4)
        verifier = compile_verifier(directory, solc)
        timings["solc"] = round(verifier.pop("seconds"), 4)
        verifier.update(
            solc_version=SOLC_VERSION, optimizer_runs=int(solc["optimizer_runs"]), evm_version=solc["evm_version"]
        )
        calldata = bytes(ezkl.encode_evm_calldata(str(proof_path), str(directory / "sample_calldata.bin")))
        verifier["sample_calldata_size"] = len(calldata)
    run_args = settings["run_args"]
    return {
        "ezkl_version": EZKL_VERSION,
        "model": model,
        "logrows": logrows,
        "num_rows": settings.get("num_rows"),
        "input_scale": run_args.get("input_scale"),
        "param_scale": run_args.get("param_scale"),
        "output_scales": settings.get("model_output_scales"),
        "run_args": {
            k: run_args.get(k)
            for k in (
                "input_visibility",
                "param_visibility",
                "output_visibility",
                "decomp_base",
                "decomp_legs",
                "num_inner_cols",
                "variables",
            )
        },
        "layout": layout,
        "params_hash": params_hash,
        "params_commitment": None if commitment is None else commitment["bytes"],
        "srs": srs_info,
        "verifier": verifier,
        "sample_outputs": [float(v) for row in witness["pretty_elements"]["rescaled_outputs"] for v in row],
        "sample_proof_size": len(bytes.fromhex(proof["hex_proof"].removeprefix("0x"))),
        "timings": timings,
        "files": {
            "model": MODEL,
            "settings": SETTINGS,
            "circuit": CIRCUIT,
            "vk": VK,
            "pk": PK,
            "srs": SRS,
            **(
                {
                    "verifier_sol": SOL,
                    "verifier_abi": ABI,
                    "verifier_bin": VERIFIER_BIN,
                    "verifier_runtime": VERIFIER_RUNTIME,
                }
                if verifier
                else {}
            ),
        },
    }


def cmd_prove(request: dict[str, Any]) -> dict[str, Any]:
    """Witness and proof of one input; the proof, instances, verifyProof calldata and outputs."""
    import ezkl

    directory = Path(request["workdir"])
    out = Path(request["out_dir"])
    out.mkdir(parents=True, exist_ok=True)
    write_input(out / "input.json", [float(v) for v in request["input"]])
    started = time.perf_counter()
    try:
        ezkl.gen_witness(str(out / "input.json"), str(directory / CIRCUIT), str(out / "witness.json"))
    except Exception as exc:
        raise WorkerError("gen_witness", f"ezkl gen_witness failed: {one_line(exc)}") from exc
    witness_seconds = time.perf_counter() - started
    started = time.perf_counter()
    cpu_started = time.process_time()  # every thread of this process: less sensitive to a busy machine
    try:
        ezkl.prove(
            str(out / "witness.json"),
            str(directory / CIRCUIT),
            str(directory / PK),
            str(out / "proof.json"),
            srs_path=str(directory / SRS),
        )
    except Exception as exc:
        raise WorkerError("prove", f"ezkl prove failed: {one_line(exc)}") from exc
    prove_seconds = time.perf_counter() - started
    prove_cpu_seconds = time.process_time() - cpu_started
    proof = json.loads((out / "proof.json").read_text())
    witness = json.loads((out / "witness.json").read_text())
    calldata = b""
    if request.get("calldata", True):
        calldata = bytes(ezkl.encode_evm_calldata(str(out / "proof.json"), str(out / "calldata.bin")))
    return {
        "proof": proof["hex_proof"].removeprefix("0x"),
        "instances": [str(felt(v)) for v in proof["instances"][0]],
        "calldata": calldata.hex(),
        "outputs": [float(v) for row in witness["pretty_elements"]["rescaled_outputs"] for v in row],
        "output_felts": [str(signed(felt(v))) for row in witness["outputs"] for v in row],
        "witness_seconds": witness_seconds,
        "prove_seconds": prove_seconds,
        "prove_cpu_seconds": prove_cpu_seconds,
    }


def cmd_verify(request: dict[str, Any]) -> dict[str, Any]:
    """Verify a proof (bytes + instances) off-chain with the circuit's verifying key."""
    import ezkl

    directory = Path(request["workdir"])
    out = Path(request["out_dir"])
    out.mkdir(parents=True, exist_ok=True)
    proof_bytes = bytes.fromhex(request["proof"])
    document = {
        "protocol": None,
        "instances": [[felt_hex(int(v)) for v in request["instances"]]],
        "proof": list(proof_bytes),
        "hex_proof": "0x" + proof_bytes.hex(),
        "split": None,
        "pretty_public_inputs": None,
        "timestamp": None,
        "version": EZKL_VERSION,
    }
    path = out / "verify_proof.json"
    path.write_text(json.dumps(document))
    started = time.perf_counter()
    try:
        ok = bool(ezkl.verify(str(path), str(directory / SETTINGS), str(directory / VK), srs_path=str(directory / SRS)))
    except Exception as exc:  # a malformed or wrong proof raises instead of returning False
        return {"valid": False, "reason": one_line(exc), "seconds": time.perf_counter() - started}
    return {"valid": ok, "seconds": time.perf_counter() - started}


def cmd_version(request: dict[str, Any]) -> dict[str, Any]:
    """Check that ezkl imports; report versions."""
    import ezkl  # noqa: F401  (the import is the check)

    return {"ezkl_version": EZKL_VERSION, "python": sys.version.split()[0]}


COMMANDS = {"setup": cmd_setup, "prove": cmd_prove, "verify": cmd_verify, "version": cmd_version}


def one_line(text: object, limit: int = 300) -> str:
    """``text`` on one line of at most ``limit`` characters."""
    flat = " ".join(str(text).split())
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."


def main(argv: list[str]) -> int:
    """Run one command: request JSON on stdin, response JSON on stdout."""
    # our response goes to the real stdout; ezkl's own printing (tables, logs) goes to stderr
    response_fd = os.dup(1)
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    status = 1
    try:
        if len(argv) != 1 or argv[0] not in COMMANDS:
            raise WorkerError("usage", f"usage: worker.py {{{'|'.join(COMMANDS)}}} < request.json")
        raw = sys.stdin.read()
        request = json.loads(raw) if raw.strip() else {}
        response: dict[str, Any] = {"ok": True, **COMMANDS[argv[0]](request)}
        status = 0
    except WorkerError as exc:
        response = {"ok": False, "kind": exc.kind, "error": one_line(exc)}
    except Exception as exc:  # anything else: still one line for the driver
        response = {"ok": False, "kind": "internal", "error": one_line(f"{type(exc).__name__}: {exc}")}
    data = (json.dumps(response) + "\n").encode()
    while data:
        data = data[os.write(response_fd, data) :]
    return status


if __name__ == "__main__":
    code = main(sys.argv[1:])
    sys.stderr.flush()
    os._exit(code)
