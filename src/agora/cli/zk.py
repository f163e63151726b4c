"""``agora zk …``: zero-knowledge proofs of model inference (ezkl): set a model's circuit up,
prove one inference, verify a proof (off chain, and against what the chain registered), and
register a model's circuit for the compute market's ZK policy.

Each command parses its arguments, calls one function of :mod:`agora.workloads.zk` or
:mod:`agora.verify.zk` and prints the result (``--json`` for scripts).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from agora.cli.options import JsonOpt, get_state, read_file, sub_app
from agora.cli.output import emit_json, note, out, progress
from agora.errors import ConfigError

__all__ = ["app", "prove", "register", "setup", "show", "verify"]

app = sub_app("Zero-knowledge proofs of model inference (ezkl): set up, prove, verify, register.")

DirArg = Annotated[Path, typer.Argument(help="The circuit's folder (from `agora zk setup`).", show_default=False)]


def _values(path: Path) -> list[float]:
    from agora.compute.execution import zk_input_values

    return zk_input_values(read_file(path))


def _circuit_view(c: Any) -> dict[str, Any]:
    lay = c.layout
    return {
        "folder": str(c.workdir), "circuit_id": "0x" + c.circuit_id, "logrows": c.logrows,
        "weights": c.visibility.get("param"), "input": c.visibility.get("input"),
        "params_hash": None if c.params_hash is None else hex(c.params_hash),
        "instances": lay.count, "inputs": lay.inputs, "outputs": lay.outputs, "input_scale": c.input_scale,
        "verifier_runtime_bytes": c.verifier.get("runtime_size"), "srs_insecure": c.srs_insecure,
        "hashes": dict(c.hashes),
    }


@app.command("setup")
def setup(
    model: Annotated[Path, typer.Argument(help="The ONNX model (one input, one output).", show_default=False)],
    sample: Annotated[Path, typer.Option("--sample", help="One example input (.npy, or a JSON list of numbers): "
                                         "calibrates the fixed-point scales.", show_default=False)],
    to: Annotated[Path, typer.Option("--out", "-o", help="The circuit's folder (created).", show_default=False)],
    weights: Annotated[str, typer.Option("--weights", help="How the weights are bound: polycommit (their KZG "
                                         "commitment in every proof: small and fast), hashed (their Poseidon "
                                         "hash a public instance) or fixed (baked into the verifier).")] = "polycommit",
    logits: Annotated[bool, typer.Option("--logits/--softmax", help="Prove the logits (drop a final Softmax: the "
                                         "same argmax, a far smaller circuit).")] = True,
    srs: Annotated[Path | None, typer.Option("--srs", help="A ceremony SRS file (else one is generated: INSECURE, "
                                             "for development only).", show_default=False)] = None,
    srs_sha256: Annotated[str | None, typer.Option("--srs-sha256", help="The SRS file's pinned sha256 (with --srs).",
                                                   show_default=False)] = None,
    json_: JsonOpt = False,
) -> None:
    """Set up a model's circuit: settings, compiled circuit, SRS, keys, the Solidity verifier compiled
    (every artifact's sha256 in the folder's manifest)."""
    from agora.workloads.zk import zk_setup

    if weights not in ("polycommit", "hashed", "fixed"):
        raise ConfigError(f"--weights is polycommit, hashed or fixed, not {weights!r}")
    if (srs is None) != (srs_sha256 is None):
        raise ConfigError("--srs and --srs-sha256 go together: a ceremony SRS is pinned by its hash")
    with progress(f"setting up {model.name}'s circuit (ezkl)"):
        c = zk_setup(read_file(model), _values(sample), to, output_logits=logits, param_visibility=weights,
                     srs_path=srs, srs_sha256=srs_sha256)
    view = _circuit_view(c)
    if json_:
        emit_json(view)
        return
    out.print(f"circuit 0x{c.circuit_id[:16]}… in {to}: logrows {c.logrows}, {c.layout.count} public instances, "
              f"weights {weights}, verifier {view['verifier_runtime_bytes']} bytes")
    if c.srs_insecure:
        note("the SRS was generated here (ezkl.gen_srs): INSECURE, whoever made it can forge proofs; "
             "for development only (production: --srs FILE --srs-sha256 HEX)")


@app.command("prove")
def prove(
    folder: DirArg,
    input_: Annotated[Path, typer.Option("--input", "-i", help="One input (.npy, or a JSON list of numbers).",
                                         show_default=False)],
    to: Annotated[Path, typer.Option("--out", "-o", help="Write the proof (JSON) here.", show_default=False)],
    json_: JsonOpt = False,
) -> None:
    """Prove one inference of the circuit's model."""
    from agora.workloads.zk import load_circuit, zk_prove

    c = load_circuit(folder)
    with progress("proving (ezkl)"):
        p = zk_prove(c, _values(input_))
    doc = {"proof": "0x" + p.proof.hex(), "instances": [str(v) for v in p.instances], "outputs": list(p.outputs),
           "circuit_id": "0x" + c.circuit_id, "prove_seconds": p.prove_seconds}
    to.write_text(json.dumps(doc, indent=1) + "\n")
    if json_:
        emit_json(doc | {"file": str(to)})
        return
    out.print(f"proved in {p.prove_seconds:.2f} s: outputs {[round(v, 4) for v in p.outputs]} -> {to}")


@app.command("verify")
def verify(
    ctx: typer.Context,
    folder: DirArg,
    proof_file: Annotated[Path, typer.Argument(help="The proof (from `agora zk prove`).", show_default=False)],
    model_id: Annotated[int | None, typer.Option("--model", help="Also check it binds the weights this registered "
                                                 "model's circuit names on chain.", show_default=False)] = None,
    json_: JsonOpt = False,
) -> None:
    """Verify a proof off chain (exit 1 if it does not hold)."""
    from agora.verify.zk import check_proof_file

    client = get_state(ctx).client if model_id is not None else None
    verdict = check_proof_file(folder, proof_file, client.deployment if client else None, model_id)
    if json_:
        emit_json(verdict)
        return
    out.print(f"valid: outputs {[round(v, 4) for v in verdict['outputs']]}"
              + (f"; the weights of model {model_id}'s registered circuit" if model_id is not None else ""))


@app.command("register")
def register(
    ctx: typer.Context,
    model_id: Annotated[int, typer.Argument(help="The registered model (you own it).", show_default=False)],
    folder: DirArg,
    json_: JsonOpt = False,
) -> None:
    """Deploy the circuit's verifier and register the circuit for model MODEL_ID: its ZK jobs are then
    accepted only on a proof of these weights."""
    from agora.verify.zk import register_circuit

    client = get_state(ctx).client
    record = register_circuit(client.deployment, model_id, folder, client.require_signer())
    view = {"model_id": model_id, "verifier": record.verifier, "circuit_id": "0x" + record.artifacts.hex(),
            "instances": record.count}
    if json_:
        emit_json(view)
        return
    out.print(f"model {model_id}: circuit 0x{record.artifacts.hex()[:16]}… registered, verifier {record.verifier}")


@app.command("show")
def show(ctx: typer.Context, model_id: Annotated[int, typer.Argument(help="The model.", show_default=False)],
         json_: JsonOpt = False) -> None:
    """The circuit registered on chain for a model."""
    from dataclasses import asdict

    from agora.verify.zk import ZkModels

    record = ZkModels(get_state(ctx).client.deployment).circuit(model_id)
    if record is None:
        raise ConfigError(f"model {model_id} has no zero-knowledge circuit registered")
    view = {k: ("0x" + v.hex() if isinstance(v, bytes) else v) for k, v in asdict(record).items()}
    if json_:
        emit_json(view)
        return
    for k, v in view.items():
        out.print(f"{k:>18}  {v}")
