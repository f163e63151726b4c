"""``agora validation …``: ERC-8004 validations of models (a model is an agent): have Agora's
evidence validator answer for a model's training job, list a model's validations, their summary,
and the model's ERC-8004 registration file.

Each command parses its arguments, calls one function of :mod:`agora.verify` and prints the
result (``--json`` for scripts).
"""

from __future__ import annotations

from typing import Annotated, Any

import typer

from agora.cli.options import JsonOpt, get_state, sub_app
from agora.cli.output import emit_json, note, out

__all__ = ["agent", "app", "attest", "list_validations", "print_demo_chapter", "summary"]

app = sub_app("ERC-8004 validations of models: evidence read from the chain, as validation responses.")

ModelArg = Annotated[int, typer.Argument(help="The model id (its ERC-8004 agentId).", show_default=False)]


def _row(v: object) -> str:
    from agora.verify.validations import Validation

    assert isinstance(v, Validation)
    answer = "pending" if v.response is None else f"{v.response}/100"
    return f"0x{v.request_hash.hex()[:16]}…  {answer:>8}  {v.tag or '-'}  validator {v.validator}"


@app.command("attest")
def attest(
    ctx: typer.Context,
    model_id: ModelArg,
    job_id: Annotated[int, typer.Argument(help="One of the model's training jobs (or, with --zk, its ZK jobs).",
                                          show_default=False)],
    zk: Annotated[bool, typer.Option("--zk", help="A zero-knowledge job of the model (100: settled on a "
                                     "verified proof, 0: refunded).")] = False,
    json_: JsonOpt = False,
) -> None:
    """As the model's owner: ask the evidence validator about a training job; it answers from the
    job's state in the market (100 replicated or audited, 50 audit not drawn, 25 unchecked, 0 refunded)."""
    verify = get_state(ctx).client.verify
    v = verify.attest_zk_job(model_id, job_id) if zk else verify.attest_training_job(model_id, job_id)
    if json_:
        emit_json(v.to_json())
        return
    what = "ZK job" if zk else "training job"
    out.print(f"model {model_id}, {what} {job_id}: {v.response}/100 ({v.tag}); request 0x{v.request_hash.hex()}")


@app.command("list")
def list_validations(ctx: typer.Context, model_id: ModelArg, json_: JsonOpt = False) -> None:
    """Every validation of the model, with its latest answer."""
    rows = get_state(ctx).client.verify.of_model(model_id)
    if json_:
        emit_json({"model_id": model_id, "validations": [v.to_json() for v in rows]})
        return
    if not rows:
        note(f"model {model_id} has no validations")
        return
    for v in rows:
        out.print(_row(v))


@app.command("summary")
def summary(
    ctx: typer.Context,
    model_id: ModelArg,
    tag: Annotated[str, typer.Option("--tag", help="Only answers with this tag.")] = "",
    json_: JsonOpt = False,
) -> None:
    """How many answered validations the model has and their mean response (ERC-8004 getSummary)."""
    count, mean = get_state(ctx).client.verify.summary(model_id, tag)
    if json_:
        emit_json({"model_id": model_id, "tag": tag, "count": count, "mean_response": mean})
        return
    out.print(f"model {model_id}: {count} answered validation(s){f' tagged {tag}' if tag else ''}, mean {mean}/100")


@app.command("agent")
def agent(ctx: typer.Context, model_id: ModelArg) -> None:
    """The model's ERC-8004 registration file (JSON)."""
    from agora.value.models import ModelRegistry
    from agora.verify.identity import agent_registration

    client = get_state(ctx).client
    registry = ModelRegistry(client.deployment, client.storage)
    info = registry.fetch(model_id)
    card = registry.fetch_card(model_id, info)
    emit_json(agent_registration(
        chain_id=client.chain.chain_id, registry=registry.contract.address, agent_id=model_id, name=card.name,
        description=card.description, endpoint=card.endpoint, wallet=registry.service_of(model_id),
        weights_hash=info.weights_hash, validations=client.deployment.addresses.get("validations"),
    ))


def print_demo_chapter(v: dict[str, Any], symbol: str, number: int) -> None:
    """Print the verify chapter of ``agora demo`` (``agora.verify.demo``'s summary) as chapter ``number``."""
    from agora.cli.output import kv_table

    out.print(f"\n[bold]{number}. evidence anyone can check[/bold] — receipts anchored on chain, a paid answer "
              "traced to its data owners, a result proven in zero knowledge")
    rows: list[tuple[str, str]] = []
    t = v.get("trace")
    if t:
        out.print(t["tree"])
        rows += [
            ("receipt", f"{t['receipt_digest'][:18]}… signed by {t['entitled_as']}, under the root "
                        f"{t['anchor_root'][:18]}… of a batch of {t['batch']} (one storage word, one event): final"),
            ("trace", f"{t['trace_nodes']} nodes, {t['trace_links']} links in {t['trace_ms']:.0f} ms, read from the "
                      "chain (no indexer)"),
        ]
    val = v.get("validation")
    if val:
        rows.append(("ERC-8004", f"model {val['model_id']}'s training job {val['job']}: {val['response']}/100 from the "
                                 f"evidence validator (read from the market); getSummary {val['summary_count']} "
                                 f"answered, mean {val['summary_mean']}"))
    z = v["zk"]
    rows += [
        ("zero knowledge", f"job {z['job_id']}: the digits classifier (model {z['model_id']}) proven in "
                           f"{z['prove_s']:.2f} s (circuit logrows {z['logrows']}, set up in {z['setup_s']:.1f} s), "
                           f"label {z['label']}; the market settled only on the proven digest"),
        ("on chain", f"the proof ({z['proof_bytes']:,} bytes) verified by the model's generated verifier and checked "
                     f"against its committed weights and the committed input: {z['gas_prove_tx']:,} gas"),
        ("refused", f"a proof with one byte changed: {z['tampered_refused_with']}"),
        ("ERC-8004 ", f"the ZK job answered {z.get('erc8004_response')}/100 by the evidence validator (tag "
                      "agora:zk-job): the proof is part of the model's validations"),
    ]
    out.print(kv_table("", rows))
