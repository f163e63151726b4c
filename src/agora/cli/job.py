"""``agora job …``: compute jobs from the command line (submit, follow, fetch verified results),
and the compute chapter of ``agora demo``."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from agora.cli.options import JsonOpt, amount_arg, blob_arg, describe_output, get_state, sub_app, warn_embedded
from agora.cli.output import emit_json, kv_table, note, out, progress
from agora.errors import ConfigError

if TYPE_CHECKING:
    from agora.compute import Job, JobInfo

__all__ = ["app", "list_jobs", "print_demo_chapter", "result", "status", "submit", "time_out", "withdraw"]

app = sub_app("Compute jobs: submit, follow, fetch verified results.")


def _wait(job: Job, quiet: bool) -> JobInfo:
    """Wait for ``job``: a spinner with its state on a terminal, a line on stderr per state
    change otherwise (a log or a pipe sees it move), nothing with ``quiet`` (``--json``)."""
    if quiet:
        return job.wait()
    with progress(f"job {job.id}: waiting") as update:
        return job.wait(on_progress=lambda i: update(f"job {job.id}: {i.state.label}"))


@app.command("submit")
def submit(
    ctx: typer.Context,
    kind: Annotated[str, typer.Option("--kind", "-k", help="Workload kind (onnx-classify, embed-minilm, "
                                      "train-digits) or its id.")],
    inputs: Annotated[list[str], typer.Option("--input", "-i", help="Input file or CID; repeat it for a "
                                              "batch (one job record, one Merkle root).")],
    model: Annotated[str | None, typer.Option("--model", "-m", help="Model file or CID (none for "
                                              "embed-minilm and train-digits).")] = None,
    policy: Annotated[str, typer.Option("--policy", "-p", help="none, audit:<p> or replicate:<k>.")] = "audit:0.1",
    price: Annotated[str, typer.Option("--price", help="Price offered per work unit, in tokens.")] = "0.001",
    duration: Annotated[int, typer.Option("--duration", help="Seconds until the job's deadline.")] = 3600,
    wait: Annotated[bool, typer.Option("--wait/--no-wait", help="Wait for the result.")] = False,
    json_: JsonOpt = False,
) -> None:
    """Post a job with its payment escrowed; the contract assigns providers."""
    from agora.compute.market import Policy
    from agora.compute.views import build_job_view
    from agora.units import format_amount

    st = get_state(ctx)
    client = st.client
    warn_embedded(st)
    pol = Policy.parse(policy)
    model_cid = blob_arg(client, model) if model else client.storage.put(b"")
    cids = [blob_arg(client, i) for i in inputs]
    data: str | list[bytes] = cids[0] if len(cids) == 1 else [client.storage.get(c) for c in cids]
    kind_arg: int | str = int(kind) if kind.strip().isdigit() else kind
    spec = client.compute.build_spec(kind_arg, model_cid, data, policy=pol, price_per_unit=amount_arg(price),
                                     duration=duration)
    quote = client.compute.quote(spec)
    if not json_:  # the cost, before anything is escrowed
        out.print(f"cost: {format_amount(quote.escrow)} escrowed ({format_amount(quote.price_per_unit)} per unit x "
             f"{quote.units} unit(s) x {quote.executions} execution(s) at most, under {pol}) + "
             f"{format_amount(quote.fee)} fee = {format_amount(quote.total)} tokens; what the job does not use "
             "is owed back to you")
    job = client.compute.post(spec)
    info = job.status()
    if wait:
        info = _wait(job, json_)
    row = build_job_view(info) | {"post_tx": job.post_tx, "cost_wei": quote.total}
    if info.closed:
        row["owed_to_you_wei"] = client.compute.owed()
    if json_:
        emit_json(row)
        return
    out.print(kv_table(f"job {job.id}", [(k, v) for k, v in row.items() if v not in (None, [])]))
    if info.closed and row["owed_to_you_wei"]:
        note(f"the market owes you {format_amount(row['owed_to_you_wei'])} tokens (unused escrow and refunds): "
             "take them back with `agora job withdraw`, or leave them to pay for your next job")
    elif not info.closed:
        note(f"follow it with `agora job status {job.id} --wait`; if its providers go silent, "
             f"`agora job timeout {job.id}` takes the escrow back once its window is over")


def _validate_job_id(job_id: int) -> None:
    """Refuse what cannot be a job id (ids count from 1 and fit in uint256) with one line."""
    if not 0 < job_id < 2**256:
        raise ConfigError(f"{job_id} is not a job id (a job id is a positive integer)")


@app.command("status")
def status(
    ctx: typer.Context,
    job_id: Annotated[int, typer.Argument(help="The job id.")],
    wait: Annotated[bool, typer.Option("--wait", help="Wait until it is settled or refunded.")] = False,
    json_: JsonOpt = False,
) -> None:
    """Where a job stands, who works on it, what was agreed."""
    from agora.compute.views import build_job_view, build_reveal_view

    _validate_job_id(job_id)
    client = get_state(ctx).client
    job = client.compute.job(job_id)
    info = _wait(job, json_) if wait else job.status()
    row = build_job_view(info)
    row["reveals"] = [build_reveal_view(r) for r in job.revealed()]
    if json_:
        emit_json(row)
        return
    out.print(kv_table(f"job {job_id}", [(k, v) for k, v in row.items() if k != "reveals" and v is not None]))
    for r in row["reveals"]:
        out.print(f"  revealed by {r['provider']}: {r['digest'][:18]}… → {r['result_cid']}")


@app.command("result")
def result(
    ctx: typer.Context,
    job_id: Annotated[int, typer.Argument(help="The job id.")],
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Write the result here.")] = None,
    json_: JsonOpt = False,
) -> None:
    """Fetch a finished job's result and check it against the digest agreed on chain."""
    _validate_job_id(job_id)
    client = get_state(ctx).client
    job = client.compute.job(job_id)
    verified = job.result()
    blobs = verified if isinstance(verified, list) else [verified]
    if output is not None:
        data = blobs[0] if len(blobs) == 1 else b"".join(blobs)
        output.write_bytes(data)
        note(f"wrote {len(data)} bytes to {output}")
    decoded = [describe_output(b) for b in blobs]
    if json_:
        emit_json({"id": job_id, "verified": True, "items": decoded})
        return
    out.print(f"job {job_id}: result verified against the on-chain digest ({len(blobs)} item(s))")
    for d in decoded[:10]:
        out.print(f"  {d}")


@app.command("timeout")
def time_out(
    ctx: typer.Context,
    job_id: Annotated[int, typer.Argument(help="The job id (one you posted).")],
    json_: JsonOpt = False,
) -> None:
    """Move your overdue job on: the silent are replaced, or its escrow refunded (then `agora job withdraw`)."""
    from agora.compute.views import build_job_view
    from agora.units import format_amount

    _validate_job_id(job_id)
    client = get_state(ctx).client
    if json_:
        outcome = client.compute.time_out(job_id)
    else:
        with progress(f"job {job_id}: timing out"):
            outcome = client.compute.time_out(job_id)
    data = {"id": job_id, "state_before": outcome.before.state.label, **build_job_view(outcome.after),
            "tx": outcome.tx, "owed_to_you_wei": outcome.owed}
    if json_:
        emit_json(data)
        return
    after = outcome.after
    if outcome.refunded:
        out.print(f"job {job_id}: refunded; the market owes you {format_amount(outcome.owed)} tokens: "
                  "take them with `agora job withdraw`")
    elif after.closed:
        out.print(f"job {job_id}: {after.state.label} with the results that came in; "
                  f"the market owes you {format_amount(outcome.owed)} tokens (`agora job withdraw`)")
    else:
        out.print(f"job {job_id}: was {outcome.before.state.label}, now {after.state.label} "
                  f"(the silent were replaced or slashed; follow it with `agora job status {job_id} --wait`)")


@app.command("withdraw")
def withdraw(ctx: typer.Context, json_: JsonOpt = False) -> None:
    """Take back what the compute market owes you: unused escrow and refunds of your jobs."""
    from agora.units import format_amount

    amount = get_state(ctx).client.compute.withdraw()
    if json_:
        emit_json({"withdrawn_wei": amount})
    else:
        out.print(f"withdrew {format_amount(amount)} tokens" if amount else "the compute market owes you nothing")


@app.command("list")
def list_jobs(
    ctx: typer.Context,
    mine: Annotated[bool, typer.Option("--mine", help="Only jobs you posted.")] = False,
    limit: Annotated[int, typer.Option("--limit", help="How many of the newest to show.")] = 20,
    json_: JsonOpt = False,
) -> None:
    """The newest jobs on this market."""
    from rich.table import Table

    from agora.compute.views import build_job_view

    client = get_state(ctx).client
    rows = [build_job_view(info) for info in client.compute.fetch_jobs(limit, mine=mine)]
    if json_:
        emit_json(rows)
        return
    t = Table("id", "state", "policy", "providers", "pay (wei)", title="jobs", title_justify="left")
    for r in rows:
        t.add_row(str(r["id"]), r["state"], r["policy"], str(len(r["providers"])), str(r["pay_wei"]))
    out.print(t)


def print_demo_chapter(c: dict[str, Any], symbol: str, number: int) -> None:
    """Print the compute chapter of ``agora demo`` (``agora.compute.demo``'s summary) as chapter ``number``."""
    from rich.table import Table

    from agora.units import format_amount

    out.print(f"\n[bold]{number}. the compute market[/bold] — three staked providers, one dishonest; "
              f"{len(c['jobs'])} jobs of the real ONNX digits classifier")
    jt = Table("job", "policy", "assigned to", "verification", box=None, pad_edge=False)
    for j in c["jobs"]:
        how = ("tie-break: majority of three" if j["tie_break"] else "audited: re-executed, digests compared"
               if j["audited"] else "replicated: majority digest" if j["policy"].startswith("replicate")
               else "not drawn for audit" if j["policy"].startswith("audit") else "reputation only")
        jt.add_row(str(j["id"]), j["policy"], ", ".join(p.split(" (")[0] for p in j["providers"]), how)
    out.print(jt)
    pt = Table("provider", "jobs", "earned", "slashed", "stake now", "reputation", box=None, pad_edge=False)
    for p in c["providers"]:
        pt.add_row(p["name"], str(p["jobs"]), format_amount(p["earned_wei"], symbol=symbol),
                   format_amount(p["slashed_wei"], symbol=symbol), format_amount(p["stake_wei"], symbol=symbol),
                   f"{p['reputation'] / 100:.1f}%")
    out.print(pt)
    r = c["reconciled"]
    out.print(kv_table("", [
        ("results verified", f"{c['results_verified']} of {len(c['jobs'])} against the on-chain digest"),
        ("cheater caught", f"slashed {c['slashes']} times (audits, tie-breaks, replication)"),
        ("reconciled", f"market holds {format_amount(r['market_balance_wei'], symbol=symbol)} = escrows + owed; "
                       "registry holds exactly the stakes; balances add up to the supply, to the wei"),
    ]))
