"""``agora data compute | algorithm | budget``: compute-to-data from the command line.

The holder: ``agora data compute enable`` (its account becomes the dataset's compute node),
``agora data algorithm allow | deny`` (by content hash; deny by default), ``agora data budget``
(the privacy budget). The consumer: ``agora data compute submit | status | result``. Each command
calls one method of ``client.data.compute`` (:class:`agora.data.compute_client.ComputeToDataClient`).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from agora.cli.options import JsonOpt, amount_arg, get_state, readable_rows, sub_app, warn_embedded
from agora.cli.output import emit_json, kv_table, out, progress
from agora.errors import ConfigError

if TYPE_CHECKING:
    from agora.data.compute_client import ComputeToDataClient

__all__ = ["algorithm_app", "allow", "budget", "compute_app", "deny", "enable", "reclaim", "result", "status",
           "submit"]

compute_app = sub_app("Compute-to-data: run an allowed algorithm next to a dataset; only its result leaves.")
algorithm_app = sub_app("Which algorithms may run next to a dataset (by content hash; deny by default).")

DatasetArg = Annotated[int, typer.Argument(min=1, help="The dataset id.", show_default=False)]
JobArg = Annotated[int, typer.Argument(min=1, help="The compute job id (`agora data compute submit`).",
                                       show_default=False)]
AlgorithmArg = Annotated[Path, typer.Argument(help="The algorithm: a Python file.", show_default=False)]
NodeOpt = Annotated[str, typer.Option("--node", help="Base URL of the dataset's access node.", show_default=False)]


def _c2d(ctx: typer.Context) -> ComputeToDataClient:
    facade: ComputeToDataClient = get_state(ctx).client.data.compute
    return facade


def _url(node: str) -> str:
    if not node.startswith(("http://", "https://")):
        raise ConfigError(f"--node must be an http:// or https:// URL, not {node!r}")
    return node.rstrip("/")


def _algorithm(path: Path) -> bytes:
    if not path.is_file():
        raise ConfigError(f"{path} is not a file")
    return path.read_bytes()


def _params(items: list[str] | None) -> dict[str, Any]:
    """``--param key=value`` (repeat): values are JSON when they parse, else strings."""
    params: dict[str, Any] = {}
    for item in items or []:
        key, sep, raw = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"--param {item!r} must be KEY=VALUE")
        try:
            params[key.strip()] = json.loads(raw)
        except ValueError:
            params[key.strip()] = raw
    return params


# -- the holder ------------------------------------------------------------------------------------
@compute_app.command("enable")
def enable(
    ctx: typer.Context,
    dataset_id: DatasetArg,
    stake: Annotated[str, typer.Option("--stake", help="Stake as a compute provider, if not one yet (tokens).")]
    = "1000",
    price: Annotated[str, typer.Option("--price", help="Your price per compute-to-data job (tokens).")] = "0.001",
    budget_: Annotated[float | None, typer.Option("--budget", min=0, help="The dataset's privacy budget (epsilon).",
                                                  show_default=False)] = None,
    max_output: Annotated[int, typer.Option("--max-output", min=1, help="Largest result that may leave (bytes).")]
    = 1 << 20,
    min_rows: Annotated[int, typer.Option("--min-rows", min=0, help="Fewest rows any aggregate `count` may cover.")]
    = 0,
    json_: JsonOpt = False,
) -> None:
    """Make your account the dataset's compute node: a staked provider of compute-to-data, with a policy."""
    from agora.data.c2d import OutputPolicy

    policy = OutputPolicy(max_bytes=max_output, min_rows=min_rows)
    warn_embedded(get_state(ctx))
    with progress(f"enabling compute-to-data on dataset {dataset_id}"):
        view = _c2d(ctx).enable(dataset_id, stake=amount_arg(stake), price=amount_arg(price), policy=policy,
                                budget=budget_)
    if json_:
        emit_json(view)
    else:
        out.print(kv_table(f"dataset {dataset_id}: compute-to-data", readable_rows(view)))


def _set_algorithm(ctx: typer.Context, dataset_id: int, algorithm: Path, allowed: bool, json_: bool) -> None:
    cid = _c2d(ctx).allow(dataset_id, _algorithm(algorithm), allowed=allowed)
    view = {"dataset_id": dataset_id, "algorithm": cid, "allowed": allowed}
    if json_:
        emit_json(view)
    else:
        out.print(f"algorithm {cid} ({algorithm.name}) is {'allowed' if allowed else 'denied'} on dataset {dataset_id}")


@algorithm_app.command("allow")
def allow(ctx: typer.Context, dataset_id: DatasetArg, algorithm: AlgorithmArg, json_: JsonOpt = False) -> None:
    """Allow an algorithm (by the hash of its bytes) to run next to the dataset."""
    _set_algorithm(ctx, dataset_id, algorithm, True, json_)


@algorithm_app.command("deny")
def deny(ctx: typer.Context, dataset_id: DatasetArg, algorithm: AlgorithmArg, json_: JsonOpt = False) -> None:
    """Deny an algorithm again (everything not allowed is denied)."""
    _set_algorithm(ctx, dataset_id, algorithm, False, json_)


def budget(
    ctx: typer.Context,
    dataset_id: DatasetArg,
    set_: Annotated[float | None, typer.Option("--set", min=0, help="Set the total budget (epsilon; the owner).",
                                               show_default=False)] = None,
    spend: Annotated[float | None, typer.Option("--spend", min=0, help="Record what federated run --run spent "
                                                "(epsilon; the dataset's compute node).", show_default=False)] = None,
    run_id: Annotated[int | None, typer.Option("--run", min=1, help="The federated run --spend is for.",
                                               show_default=False)] = None,
    json_: JsonOpt = False,
) -> None:
    """A dataset's privacy budget on chain: epsilon total, spent, left (--set changes the total;
    --spend with --run records a federated run's spend)."""
    c2d = _c2d(ctx)
    if (spend is None) != (run_id is None):
        raise ConfigError("--spend and --run go together")
    if set_ is not None:
        c2d.services.set_privacy_budget(dataset_id, set_, c2d.data._require_signer())
    if spend is not None and run_id is not None:
        c2d.spend_for_run(dataset_id, run_id, spend)
    view = c2d.budget(dataset_id)
    if json_:
        emit_json(view)
    else:
        out.print(f"dataset {dataset_id}: epsilon {view['epsilon_spent']:g} spent of {view['epsilon_budget']:g} "
                  f"({view['epsilon_left']:g} left)")


# -- the consumer ------------------------------------------------------------------------------------
@compute_app.command("submit")
def submit(
    ctx: typer.Context,
    dataset_id: DatasetArg,
    algorithm: AlgorithmArg,
    node: NodeOpt,
    param: Annotated[list[str] | None, typer.Option("--param", help="KEY=VALUE for the algorithm (repeat).",
                                                    show_default=False)] = None,
    epsilon: Annotated[float, typer.Option("--epsilon", min=0, help="Privacy budget the job spends.")] = 0.0,
    duration: Annotated[int, typer.Option("--duration", min=120, max=30 * 86_400,
                                          help="Seconds before an unanswered job may be refunded.")] = 3600,
    wait: Annotated[bool, typer.Option("--wait/--no-wait", help="Wait until the node has finished.")] = True,
    json_: JsonOpt = False,
) -> None:
    """Order the dataset's compute service and run an allowed algorithm next to its data."""
    url = _url(node)
    c2d = _c2d(ctx)
    source = _algorithm(algorithm)
    params = _params(param)
    warn_embedded(get_state(ctx))
    with progress(f"ordering and posting a compute job on dataset {dataset_id}"):
        job = c2d.submit(dataset_id, source, node_url=url, params=params, epsilon=epsilon, duration=duration)
    status = job.status
    if wait and status.get("state") not in ("done", "failed"):
        with progress(f"waiting for job {job.job_id}"):
            status = c2d.wait(job.job_id, node_url=url)["node"]
    view = {**job.to_json(), "node_status": status}
    if json_:
        emit_json(view)
        return
    line = f"job {job.job_id} on dataset {dataset_id}: {status.get('state')}"
    if status.get("state") == "failed":
        line += f" ({status.get('code')}: {status.get('error')}; the escrow is refunded)"
    out.print(line)


@compute_app.command("status")
def status(ctx: typer.Context, job_id: JobArg, node: Annotated[str | None, typer.Option(
        "--node", help="Also ask the access node.", show_default=False)] = None, json_: JsonOpt = False) -> None:
    """A compute job on chain (state, escrow, result digest) and at its node."""
    view = _c2d(ctx).status(job_id, node_url=_url(node) if node else None)
    if json_:
        emit_json(view)
        return
    flat = {k: v for k, v in view.items() if k != "node"}
    rows = readable_rows(flat)
    if "node" in view:
        rows.append(("at the node", ", ".join(f"{k} {v}" for k, v in view["node"].items() if k != "jobId")))
    out.print(kv_table(f"job {job_id}", rows))


@compute_app.command("reclaim")
def reclaim(ctx: typer.Context, job_id: JobArg, json_: JsonOpt = False) -> None:
    """Refund a job its node left hanging (past its commit window or deadline); the node is penalised."""
    view = _c2d(ctx).reclaim(job_id)
    if json_:
        emit_json(view)
    else:
        out.print(f"job {job_id}: {view['state']} (escrow back to {view['requester']}: `agora job withdraw`)")


@compute_app.command("result")
def result(
    ctx: typer.Context,
    job_id: JobArg,
    node: NodeOpt,
    output: Annotated[Path, typer.Option("--out", "-o", help="Where to write the result.", show_default=False)],
    json_: JsonOpt = False,
) -> None:
    """Fetch your job's result from the node, checked against the digest on chain."""
    path = _c2d(ctx).result(job_id, output, node_url=_url(node))
    view = {"job_id": job_id, "out": str(path), "size": path.stat().st_size}
    if json_:
        emit_json(view)
    else:
        out.print(f"job {job_id}'s result: {path} ({view['size']:,} bytes, checked against the chain)")
