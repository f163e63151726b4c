"""``agora tournament …``: staked prediction rounds (as Numerai's) from the command line: create a
round, commit its targets, submit and reveal predictions, resolve (reveal the targets, score,
post the root), read the scores, claim, refund a failed round; and the tournament story of the
value chapter of ``agora demo``.

Each command parses its options, calls one function of :mod:`agora.value.tournaments` and prints
its result (``--json`` for scripts, amounts in wei).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from agora.cli.options import JsonOpt, amount_arg, get_state, read_file, readable_rows, sub_app, validate_address
from agora.cli.output import emit_json, kv_table, out, progress, tokens
from agora.errors import ConfigError

if TYPE_CHECKING:
    from agora.value.tournaments import Claimed, RoundScores, Tournaments

__all__ = [
    "app",
    "claim",
    "create",
    "print_tournament_story",
    "refund",
    "resolve",
    "reveal",
    "scores",
    "submit",
    "targets",
]

app = sub_app("Staked prediction rounds (as Numerai's): submit, reveal, score, get paid or burned.")

RoundArg = Annotated[int, typer.Argument(help="The round id.", show_default=False)]
StateOpt = Annotated[
    Path | None,
    typer.Option(
        "--state",
        help="The SQLite file that keeps your salts until the reveal (default: one per chain, "
        "deployment and account, under <home>/value/<chain key>/).",
        show_default=False,
    ),
]


def _tournaments(client: Any, state: Path | None) -> Tournaments:
    from agora.value.tournaments import Tournaments

    if state is None:
        who = client.address or "anonymous"
        state = client.state_dir("value") / f"tournament-{who}.sqlite"
    return Tournaments(client.deployment, client.storage, state=state)


def _vector_file(path: str) -> bytes:
    return read_file(path)


def _claimed_view(c: Claimed) -> dict[str, Any]:
    return {
        "round": c.round_id,
        "account": c.account,
        "paid_wei": c.paid,
        "burned_wei": c.burned,
        "tx": c.receipt.tx_hash,
    }


@app.command("create")
def create(
    ctx: typer.Context,
    pool: Annotated[
        str, typer.Option("--pool", help="The reward pool that pays the gains (e.g. 100, in AGR).", show_default=False)
    ],
    resolver: Annotated[
        str | None,
        typer.Option(
            "--resolver",
            help="The account that commits to and reveals the targets and posts the root (default: you).",
            show_default=False,
        ),
    ] = None,
    close_in: Annotated[int, typer.Option("--close-in", min=1, help="Seconds until submissions close.")] = 3600,
    reveal_window: Annotated[
        int, typer.Option("--reveal-window", min=1, help="Seconds reveals stay open after the close.")
    ] = 3600,
    resolution_delay: Annotated[
        int,
        typer.Option("--resolution-delay", min=0, help="Seconds from the end of the reveals to the resolution time."),
    ] = 0,
    settle_window: Annotated[
        int,
        typer.Option(
            "--settle-window", min=1, help="Seconds from the resolution time until the round fails without a root."
        ),
    ] = 2 * 86_400,
    threshold: Annotated[
        str,
        typer.Option(
            "--threshold", help="The stake threshold of the payout factor (min(1, threshold / total at risk)), in AGR."
        ),
    ] = "72000",
    targets_file: Annotated[
        str | None,
        typer.Option(
            "--targets",
            help="Commit these targets (.npy or a JSON list) at once; you must be the resolver.",
            show_default=False,
        ),
    ] = None,
    state: StateOpt = None,
    json_: JsonOpt = False,
) -> None:
    """Create a round funded with a reward pool (and commit its targets with --targets)."""
    pool_wei, threshold_wei = amount_arg(pool), amount_arg(threshold)
    resolver_address = validate_address(resolver) if resolver else None
    data = _vector_file(targets_file) if targets_file else None
    client = get_state(ctx).client
    signer = client.require_signer()
    t = _tournaments(client, state)
    now = client.chain.timestamp()
    close = now + close_in
    reveal = close + reveal_window
    resolution = reveal + resolution_delay
    round_id, receipt = t.create_round(
        signer,
        pool=pool_wei,
        close_time=close,
        reveal_deadline=reveal,
        resolution_time=resolution,
        settle_deadline=resolution + settle_window,
        resolver=resolver_address,
        stake_threshold=threshold_wei,
    )
    targets_cid = t.commit_targets(round_id, data, signer) if data is not None else None
    info = t.fetch_round(round_id)
    view = {
        "round": round_id,
        "creator": info.creator,
        "resolver": info.resolver,
        "pool_wei": info.pool,
        "stake_threshold_wei": info.stake_threshold,
        "close_time": info.close_time,
        "reveal_deadline": info.reveal_deadline,
        "resolution_time": info.resolution_time,
        "settle_deadline": info.settle_deadline,
        "targets_cid": targets_cid,
        "tx": receipt.tx_hash,
    }
    if json_:
        emit_json(view)
        return
    out.print(kv_table(f"round {round_id} created", readable_rows(view)))


@app.command("targets")
def targets(
    ctx: typer.Context,
    round_id: RoundArg,
    file: Annotated[
        str, typer.Argument(help="The targets: a .npy array or a JSON list of numbers.", show_default=False)
    ],
    state: StateOpt = None,
    json_: JsonOpt = False,
) -> None:
    """Commit a round's targets (the resolver, before the close); the salt is kept for the reveal."""
    data = _vector_file(file)
    client = get_state(ctx).client
    cid = _tournaments(client, state).commit_targets(round_id, data, client.require_signer())
    if json_:
        emit_json({"round": round_id, "targets_cid": cid})
        return
    out.print(f"committed round {round_id}'s targets ({cid}); reveal them with `agora tournament resolve`")


@app.command("submit")
def submit(
    ctx: typer.Context,
    round_id: RoundArg,
    file: Annotated[
        str, typer.Argument(help="Your predictions, one per row: a .npy array or a JSON list.", show_default=False)
    ],
    stake: Annotated[
        str,
        typer.Option(
            "--stake", help="AGR added to your stake (0 to replace an earlier commitment).", show_default=False
        ),
    ],
    state: StateOpt = None,
    json_: JsonOpt = False,
) -> None:
    """Stake on a commitment to your predictions (before the close); the salt is kept for the reveal."""
    stake_wei = amount_arg(stake)
    data = _vector_file(file)
    client = get_state(ctx).client
    sub = _tournaments(client, state).submit(round_id, data, stake_wei, client.require_signer())
    view = {
        "round": round_id,
        "account": sub.account,
        "index": sub.index,
        "stake_wei": sub.stake,
        "commit": "0x" + sub.commit.hex(),
    }
    if json_:
        emit_json(view)
        return
    out.print(kv_table(f"submitted to round {round_id}", readable_rows(view)))


@app.command("reveal")
def reveal(ctx: typer.Context, round_id: RoundArg, state: StateOpt = None, json_: JsonOpt = False) -> None:
    """Reveal your predictions (after the close, before the reveal deadline) with the kept salt."""
    client = get_state(ctx).client
    signer = client.require_signer()
    t = _tournaments(client, state)
    receipt = t.reveal(round_id, signer)
    sub = t.fetch_submission(round_id, signer.address)
    view = {
        "round": round_id,
        "account": sub.account,
        "predictions_cid": sub.predictions_cid,
        "stake_wei": sub.stake,
        "tx": receipt.tx_hash,
    }
    if json_:
        emit_json(view)
        return
    out.print(f"revealed your predictions for round {round_id} ({sub.predictions_cid}), {tokens(sub.stake)} staked")


@app.command("resolve")
def resolve(ctx: typer.Context, round_id: RoundArg, state: StateOpt = None, json_: JsonOpt = False) -> None:
    """The resolver: reveal the targets, score every revealed model and post the root with its bond."""
    client = get_state(ctx).client
    signer = client.require_signer()
    t = _tournaments(client, state)
    with progress(f"revealing round {round_id}'s targets") as update:
        t.reveal_targets(round_id, signer)
        update("scoring the round and posting its root")
        posted = t.resolve(round_id, signer)
    s = posted.settlement
    view = {
        "round": round_id,
        "root": "0x" + s.root.hex(),
        "leaves": len(s.leaves),
        "total_wei": s.total,
        "pool_used_wei": s.pool_used,
        "burn_wei": s.burn,
        "bond_wei": posted.bond,
        "leaves_cid": posted.leaves_cid,
        "final_at": posted.final_at,
        "tx": posted.receipt.tx_hash,
    }
    if json_:
        emit_json(view)
        return
    out.print(kv_table(f"round {round_id} resolved", readable_rows(view)))


def build_scores_view(sc: RoundScores, settled: dict[str, tuple[int, int]]) -> dict[str, Any]:
    """``agora tournament scores --json``: the round's inputs and one row per submission."""
    return {
        "round": sc.round_id,
        "targets_cid": sc.targets_cid,
        "total_at_risk_wei": sc.total_at_risk,
        "stake_threshold_wei": sc.stake_threshold,
        "payout_factor": sc.payout_factor,
        "pool_wei": sc.pool,
        "pool_used_wei": sc.settlement.pool_used,
        "burn_wei": sc.settlement.burn,
        "root": "0x" + sc.settlement.root.hex(),
        "models": [
            {
                "index": r.index,
                "account": r.account,
                "stake_wei": r.stake,
                "revealed": r.revealed,
                "corr": r.corr,
                "mmc": r.mmc,
                "payout_wei": r.payout,
                "amount_wei": r.amount,
                "note": r.note,
                "paid_wei": settled[r.account][0] if r.account in settled else None,
                "burned_wei": settled[r.account][1] if r.account in settled else None,
            }
            for r in sc.rows
        ],
    }


@app.command("scores")
def scores(ctx: typer.Context, round_id: RoundArg, json_: JsonOpt = False) -> None:
    """Each model's stake, CORR, MMC and payout (from the revealed data), and what its claim paid or burned."""
    from rich.table import Table

    client = get_state(ctx).client
    t = _tournaments(client, None)
    sc = t.score(round_id)
    settled: dict[str, tuple[int, int]] = {}
    for e in t.contract.get_events("StakeSettled", from_block=t.dep.block, where=[round_id.to_bytes(32, "big")]):
        settled[str(e.args["account"])] = (int(e.args["paid"]), int(e.args["burned"]))
    for e in t.contract.get_events("Burned", from_block=t.dep.block, where=[round_id.to_bytes(32, "big")]):
        settled[str(e.args["account"])] = (0, int(e.args["amount"]))
    view = build_scores_view(sc, settled)
    if json_:
        emit_json(view)
        return
    table = Table(
        "#",
        "account",
        "stake",
        "CORR",
        "MMC",
        "payout",
        "paid",
        "burned",
        title=f"round {round_id}: payout factor {sc.payout_factor:.4f}, {tokens(sc.total_at_risk)} at risk",
        title_justify="left",
        box=None,
        pad_edge=False,
    )
    for m in view["models"]:
        table.add_row(
            str(m["index"]),
            m["account"],
            tokens(m["stake_wei"]),
            "-" if m["corr"] is None else f"{m['corr']:+.4f}",
            "-" if m["mmc"] is None else f"{m['mmc']:+.4f}",
            ("+" if m["payout_wei"] >= 0 else "-") + tokens(abs(m["payout_wei"])),
            "-" if m["paid_wei"] is None else tokens(m["paid_wei"]),
            "-" if m["burned_wei"] is None else tokens(m["burned_wei"]),
        )
    out.print(table)
    out.print(
        kv_table(
            "",
            [
                ("pool used", tokens(sc.settlement.pool_used)),
                ("burned", tokens(sc.settlement.burn)),
                ("root", view["root"]),
            ],
        )
    )


@app.command("claim")
def claim(
    ctx: typer.Context,
    round_id: RoundArg,
    leaves: Annotated[
        str | None,
        typer.Option(
            "--leaves",
            help="The resolver's leaves document (CID), when the root is not the one the public scores give.",
            show_default=False,
        ),
    ] = None,
    json_: JsonOpt = False,
) -> None:
    """Claim your leaf of a round's final root: your stake back plus your gain, or minus your burn."""
    from agora.storage import is_cid

    if leaves is not None and not is_cid(leaves):
        raise ConfigError(f"--leaves {leaves!r} is not a CID")
    client = get_state(ctx).client
    t = _tournaments(client, None)
    settlement = t.fetch_leaves(leaves) if leaves else None
    c = t.claim(round_id, client.require_signer(), settlement)
    if json_:
        emit_json(_claimed_view(c))
        return
    out.print(f"claimed round {round_id}: paid {tokens(c.paid)}" + (f", burned {tokens(c.burned)}" if c.burned else ""))


@app.command("refund")
def refund(ctx: typer.Context, round_id: RoundArg, json_: JsonOpt = False) -> None:
    """Take back your revealed stake in full from a failed round (no root at its settle deadline)."""
    client = get_state(ctx).client
    c = _tournaments(client, None).refund(round_id, client.require_signer())
    if json_:
        emit_json(_claimed_view(c))
        return
    out.print(f"refunded {tokens(c.paid)} from failed round {round_id}")


# -- agora demo ----------------------------------------------------------------------------------
def print_tournament_story(t: dict[str, Any], symbol: str) -> None:
    """Print the tournament story of the value chapter (``agora.value.demo_tournament``'s summary)."""
    from rich.table import Table

    from agora.units import format_amount

    def amount(wei: int) -> str:
        return format_amount(wei, symbol=symbol)

    out.print(
        f"\n[bold]a staked prediction round[/bold] — round {t['round']}: four models on {t['rows']:,} rows, "
        f"a pool of {amount(t['pool_wei'])}, payout factor {t['payout_factor']:.4f} "
        f"(threshold {amount(t['stake_threshold_wei'])})"
    )

    def short(wei: int, sign: str = "") -> str:  # the exact wei are in --json
        return f"{wei / 10**18:{sign},.4f}"

    table = Table("model", f"stake ({symbol})", "CORR", "MMC", "payout", "paid", "burned", box=None, pad_edge=False)
    for m in t["models"]:
        table.add_row(
            m["name"],
            short(m["stake_wei"]),
            f"{m['corr']:+.4f}",
            f"{m['mmc']:+.4f}",
            short(m["payout_wei"], "+"),
            short(m["paid_wei"]),
            short(m["burned_wei"]),
        )
    out.print(table)
    out.print(
        kv_table(
            "",
            [
                (
                    "settled",
                    f"root {t['root'][:18]}… posted with a bond of {amount(t['bond_wei'])}, final after the "
                    "challenge window; every model claimed its leaf by Merkle proof",
                ),
                ("pool", f"{amount(t['pool_used_wei'])} paid as gains, {amount(t['pool_returned_wei'])} returned"),
                ("burned", amount(t["burned_wei"])),
                ("gas", f"submit {t['gas_submit']:,}, claim {t['gas_claim']:,}"),
                ("reconciled", "pool + stakes in = claims out + burns + pool returned + pool left, to the wei"),
            ],
        )
    )
