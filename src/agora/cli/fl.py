"""``agora fl run``: paid federated learning across the holders of several datasets.

One command: escrow a run on chain (rounds x holders x pay), train with Flower and SecAgg+ (the
simulation engine, or the deployment engine's real processes on loopback), record each round on
chain as it ends (its participants are paid), close the run (the unearned rest is refunded).
See :mod:`agora.data.fl_market`.
"""

from __future__ import annotations

from typing import Annotated, Any

import typer

from agora.cli.options import JsonOpt, amount_arg, get_state, sub_app, warn_embedded
from agora.cli.output import emit_json, note, out, progress
from agora.errors import ConfigError

__all__ = ["app", "run"]

app = sub_app("Federated learning across data holders, each paid per round it took part in.")


def _datasets(text: str) -> list[int]:
    try:
        ids = [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise ConfigError(f"--datasets {text!r} must be dataset ids, e.g. 1,2,3") from None
    if any(i <= 0 for i in ids):
        raise ConfigError("dataset ids are positive")
    return ids


@app.command("run")
def run(
    ctx: typer.Context,
    datasets: Annotated[str, typer.Option("--datasets", help="The holders' datasets, e.g. 1,2,3 (at least 3).",
                                          show_default=False)],
    rounds: Annotated[int, typer.Option("--rounds", min=1, max=100, help="Training rounds.")] = 3,
    pay: Annotated[str, typer.Option("--pay", help="Payment per holder per round (tokens).")] = "0.01",
    engine: Annotated[str, typer.Option("--engine", help="simulation (one process tree) or deployment "
                                        "(SuperLink and SuperNodes as processes on loopback).")] = "simulation",
    dp_clip: Annotated[float, typer.Option("--dp-clip", min=0, help="Clip each update to this L2 norm (0: no DP).")]
    = 0.0,
    dp_noise: Annotated[float, typer.Option("--dp-noise", min=0, help="Gaussian noise multiplier on the clipped "
                                            "updates.")] = 0.0,
    dp_record_clip: Annotated[float, typer.Option("--dp-record-clip", min=0, help="Record-level DP inside each "
                                                  "holder: clip each record's gradient to this norm (0: off; "
                                                  "recommended 1).")] = 0.0,
    dp_record_noise: Annotated[float, typer.Option("--dp-record-noise", min=0, help="Record-level DP: Gaussian "
                                                   "noise multiplier (recommended 8, with --local-epochs 10 "
                                                   "--lr 5).")] = 0.0,
    local_epochs: Annotated[int | None, typer.Option("--local-epochs", min=1, max=100, help="Local steps per "
                                                     "round.", show_default=False)] = None,
    lr: Annotated[float | None, typer.Option("--lr", min=0, help="Local learning rate.", show_default=False)] = None,
    sandbox: Annotated[bool, typer.Option("--sandbox/--no-sandbox", help="Run each holder's SuperNode and its "
                                          "ClientApps in the holder's sandbox (deployment engine; the host's "
                                          "network stays shared).")] = False,
    json_: JsonOpt = False,
) -> None:
    """Train one model across the holders of the datasets and pay each per round it took part in."""
    from agora.data.fl_market import run_paid
    from agora.data.services import DataServices

    ids = _datasets(datasets)
    if engine not in ("simulation", "deployment"):
        raise ConfigError(f"--engine is simulation or deployment, not {engine!r}")
    if sandbox and engine != "deployment":
        raise ConfigError("--sandbox needs --engine deployment (the simulation engine runs holders in one process)")
    config: dict[str, Any] = {}
    if dp_clip > 0:
        config |= {"dp-clip": dp_clip, "dp-noise-multiplier": dp_noise}
    if dp_record_clip > 0:
        if dp_record_noise <= 0:
            raise ConfigError("--dp-record-clip needs --dp-record-noise above 0")
        config |= {"dp-record-clip": dp_record_clip, "dp-record-noise": dp_record_noise}
    if local_epochs is not None:
        config["local-epochs"] = local_epochs
    if lr is not None:
        config["lr"] = lr
    st = get_state(ctx)
    warn_embedded(st)
    client = st.client
    signer = client.require_signer()
    services = DataServices(client.deployment)
    with progress(f"training across datasets {', '.join(map(str, ids))} ({engine})") as update:
        def on_round(r: Any) -> None:
            eps = f", record-level epsilon {r.epsilon_record:.2f}" if r.epsilon_record is not None else ""
            update(f"round {r.round}: accuracy {r.accuracy:.3f}, {len(r.participants)} holder(s) paid{eps}")

        extra: dict[str, Any] = {"sandbox": True} if sandbox else {}
        receipts = client.state_dir("data") / f"fl-receipts-{signer.address}.sqlite"
        paid = run_paid(services, signer, ids, rounds=rounds, pay_per_round=amount_arg(pay), engine=engine,
                        config=config or None, on_round=on_round, receipts=receipts, **extra)
    view = paid.to_json()
    if json_:
        emit_json(view)
        return
    for r in view["rounds"]:
        eps = f", record-level epsilon {r['epsilon_record']:.2f}" if r["epsilon_record"] is not None else ""
        note(f"round {r['round']}: accuracy {r['accuracy']:.3f}, paid datasets {r['participants']}{eps}")
    out.print(f"run {paid.run_id}: {len(view['rounds'])} round(s) recorded on chain, final accuracy "
              f"{view['final_accuracy']:.3f}; refunded {view['refund_wei']:,} units unearned")
    if paid.epsilon is not None:
        note(f"each holder spent at most epsilon {paid.epsilon:.3f} (record-level); its node records it: "
             f"agora data budget DATASET --spend {paid.epsilon:.3f} --run {paid.run_id}")
