"""``agora subnet …``: subnets from the command line — create, register, stake, set weights, move
and settle epochs, show a subnet's neurons, claim emissions, run a miner or a validator."""

from __future__ import annotations

from contextlib import nullcontext
from typing import TYPE_CHECKING, Annotated, Any

import typer

from agora.cli.options import (
    JsonOpt,
    acting_signer,
    amount_arg,
    get_state,
    need_lasting_chain,
    stop_on_signals,
    sub_app,
    validate_address,
    warn_embedded,
)
from agora.cli.output import emit_json, kv_table, note, out, progress, tokens
from agora.errors import ConfigError

if TYPE_CHECKING:
    from rich.table import Table

    from agora.subnet.client import SubnetsClient

__all__ = ["app", "claim", "create", "epoch", "miner", "register", "show", "stake", "unstake", "validator", "weights"]

app = sub_app("Subnets: validators score miners, Yuma consensus shares the emission.")

NetuidArg = Annotated[int, typer.Argument(help="The subnet's id (netuid).", show_default=False)]
EPOCH_ACTIONS = ("advance", "compute", "post", "show")


def _subnets(ctx: typer.Context) -> SubnetsClient:
    client = get_state(ctx).client
    facade: SubnetsClient = client.subnets
    return facade


@app.command("create")
def create(
    ctx: typer.Context,
    tempo: Annotated[int, typer.Option("--tempo", help="Blocks between epochs.")] = 100,
    max_uids: Annotated[int, typer.Option("--max-uids", help="Most neurons (1..256).")] = 64,
    immunity: Annotated[int, typer.Option("--immunity", help="Blocks a new neuron cannot be pruned.")] = 200,
    min_burn: Annotated[str, typer.Option("--min-burn", help="Registration burn, in tokens (its floor).")] = "1",
    max_burn: Annotated[str, typer.Option("--max-burn", help="The most the burn rises to, in tokens.")] = "100",
    emission: Annotated[str, typer.Option("--emission", help="Tokens emitted per epoch.")] = "0",
    fund: Annotated[str, typer.Option("--fund", help="Tokens to put in the emission pool now.")] = "0",
    max_validators: Annotated[
        int | None, typer.Option("--max-validators", help="Validator permits (top stakes).", show_default=False)
    ] = None,
    weights_rate_limit: Annotated[
        int | None, typer.Option("--weights-rate-limit", help="Blocks between two commits.", show_default=False)
    ] = None,
    json_: JsonOpt = False,
) -> None:
    """Create a subnet owned by your account."""
    warn_embedded(get_state(ctx))
    extra: dict[str, Any] = {}
    if max_validators is not None:
        extra["max_allowed_validators"] = max_validators
    if weights_rate_limit is not None:
        extra["weights_rate_limit"] = weights_rate_limit
    subnets = _subnets(ctx)
    netuid = subnets.create(
        tempo=tempo,
        max_uids=max_uids,
        immunity_period=immunity,
        min_burn=amount_arg(min_burn),
        max_burn=amount_arg(max_burn),
        emission=amount_arg(emission),
        fund=amount_arg(fund),
        **extra,
    )
    data = {
        "netuid": netuid,
        **{k: (int(v) if isinstance(v, int) else v) for k, v in subnets.subnets.hyperparams(netuid).items()},
        "emission_per_epoch_wei": amount_arg(emission),
        "pool_wei": int(subnets.subnets.settlement.pool(netuid)),
    }
    if json_:
        emit_json(data)
    else:
        out.print(
            f"created subnet {netuid}: tempo {tempo} blocks, up to {max_uids} UIDs, "
            f"{tokens(data['emission_per_epoch_wei'])} per epoch, {tokens(data['pool_wei'])} in the pool"
        )


@app.command("register")
def register(
    ctx: typer.Context,
    netuid: NetuidArg,
    hotkey: Annotated[
        str | None,
        typer.Option(
            "--hotkey",
            help="The hotkey to register (default: your account); you pay the burn and own it.",
            show_default=False,
        ),
    ] = None,
    max_burn: Annotated[
        str | None, typer.Option("--max-burn", help="The most you will burn, in tokens.", show_default=False)
    ] = None,
    json_: JsonOpt = False,
) -> None:
    """Register a neuron (burning the current registration price)."""
    subnets = _subnets(ctx)
    key = validate_address(hotkey) if hotkey else None
    uid = subnets.register(netuid, key, amount_arg(max_burn) if max_burn else None)
    who = key or acting_signer(get_state(ctx).client).address
    data = {"netuid": netuid, "uid": uid, "hotkey": who}
    if json_:
        emit_json(data)
    else:
        out.print(f"registered {who} in subnet {netuid} as UID {uid}")


@app.command("stake")
def stake(
    ctx: typer.Context,
    netuid: NetuidArg,
    hotkey: Annotated[str, typer.Argument(help="The registered hotkey to stake to.")],
    amount: Annotated[str, typer.Argument(help="Tokens to stake.")],
    json_: JsonOpt = False,
) -> None:
    """Stake tokens to a neuron (validator permits go to the largest stakes)."""
    key = validate_address(hotkey)
    total = _subnets(ctx).stake(netuid, key, amount_arg(amount))
    if json_:
        emit_json({"netuid": netuid, "hotkey": key, "stake_wei": total})
    else:
        out.print(f"{key} now has {tokens(total)} staked in subnet {netuid}")


@app.command("unstake")
def unstake(
    ctx: typer.Context,
    netuid: NetuidArg,
    hotkey: Annotated[str, typer.Argument(help="The hotkey you staked to (registered or pruned since).")],
    amount: Annotated[
        str | None, typer.Argument(help="Tokens to take back (or --all).", show_default=False)
    ] = None,
    all_: Annotated[bool, typer.Option("--all", help="Take back everything you staked to it.")] = False,
    json_: JsonOpt = False,
) -> None:
    """Take back stake (your shares of the hotkey's pool, at their value after any slash)."""
    if (amount is None) == (not all_):
        raise ConfigError("give an amount to take back, or --all (not both)")
    key = validate_address(hotkey)
    data = _subnets(ctx).unstake(netuid, key, None if all_ else amount_arg(str(amount)))
    if json_:
        emit_json(data)
    else:
        out.print(f"took back {tokens(data['withdrawn_wei'])} staked to {key} in subnet {netuid}; "
                  f"{tokens(data['staked_wei'])} stays staked")


@app.command("weights")
def weights(
    ctx: typer.Context,
    netuid: NetuidArg,
    set_: Annotated[
        str | None, typer.Option("--set", help="UID:WEIGHT pairs, e.g. 3:1,4:0.5 (relative).", show_default=False)
    ] = None,
    reveal: Annotated[bool, typer.Option("--reveal", help="Reveal the previous epoch's commit.")] = False,
    salt: Annotated[
        str | None,
        typer.Option(
            "--salt",
            help="With --reveal and --set: the 0x salt it was committed with (else the one kept here).",
            show_default=False,
        ),
    ] = None,
    json_: JsonOpt = False,
) -> None:
    """Commit weights (--set) as a validator, or reveal last epoch's commit (--reveal)."""
    from agora.subnet.client import parse_weights

    subnets = _subnets(ctx)
    if reveal:
        given = parse_weights(set_) if set_ else None
        if (given is None) != (salt is None):
            raise ConfigError("give both --set and --salt to reveal weights committed elsewhere, or neither")
        data = subnets.reveal_weights(netuid, given, _salt(salt) if salt else None)
        verb = "revealed"
    else:
        if not set_:
            raise ConfigError("give the weights with --set UID:WEIGHT,… (or --reveal)")
        data = subnets.commit_weights(netuid, parse_weights(set_))
        verb = "committed"
    if json_:
        emit_json(data)
        return
    pairs = ", ".join(f"{u}: {v}" for u, v in zip(data["uids"], data["values"], strict=True))
    out.print(f"{verb} the weights of UID {data['uid']} (epoch {data['epoch']}) in subnet {netuid}: {pairs}")
    if verb == "committed":
        note(f"reveal them in the next epoch with `agora subnet weights {netuid} --reveal` (salt {data['salt']})")


def _salt(text: str) -> bytes:
    try:
        raw = bytes.fromhex(text.removeprefix("0x"))
    except ValueError:
        raw = b""
    if len(raw) != 32:
        raise ConfigError(f"a salt is 32 bytes of 0x-hex, not {text[:80]!r}")
    return raw


@app.command("epoch")
def epoch(
    ctx: typer.Context,
    action: Annotated[str, typer.Argument(help="advance | compute | post | show.")],
    netuid: NetuidArg,
    number: Annotated[
        int | None, typer.Option("--epoch", "-e", help="The epoch (default: the current one).", show_default=False)
    ] = None,
    json_: JsonOpt = False,
) -> None:
    """Start the next epoch, compute one from the chain, post it signed by a quorum, or show it."""
    if action not in EPOCH_ACTIONS:
        raise ConfigError(f"unknown epoch action {action!r} (one of {', '.join(EPOCH_ACTIONS)})")
    subnets = _subnets(ctx)
    if action == "advance":
        e = subnets.advance_epoch(netuid)
        if json_:
            emit_json({"netuid": netuid, "epoch": e})
        else:
            out.print(f"subnet {netuid} is in epoch {e}")
        return
    if action == "post":
        e = number if number is not None else subnets.subnets.current_epoch(subnets.validate_subnet(netuid))
        with progress(f"epoch {e}: computing and gathering signatures") if not json_ else nullcontext():
            data = subnets.post_epoch(netuid, e)
        if json_:
            emit_json(data)
        else:
            share = data["signed_stake_wei"] * 100 // max(1, data["permitted_stake_wei"])
            out.print(
                f"posted epoch {e} of subnet {netuid}: {tokens(data['total_wei'])}, signed by "
                f"{len(data['signers'])} validator(s) holding {share} % of the permitted stake"
            )
        return
    with progress("computing the epoch from the chain") if not json_ else nullcontext():
        view = subnets.compute_epoch(netuid, number)
    data = view.to_json()
    if json_:
        emit_json(data)
        return
    out.print(_epoch_table(data))
    rows = [
        ("status on chain", data["status"]),
        ("root", data["root"]),
        ("total", tokens(data["total_wei"])),
        ("subnet owner's cut", tokens(data["owner_cut_wei"])),
        ("prune candidate", "-" if data["prune_uid"] is None else f"UID {data['prune_uid']}"),
    ]
    if action == "show" and data["posted_root"]:
        rows.append(("posted root", data["posted_root"] + (" (matches)" if data["matches_posted"] else " (DIFFERS)")))
    out.print(kv_table(f"subnet {netuid}, epoch {data['epoch']}", rows))


def _short(address: str) -> str:
    """``0x3C44…93BC``: an address short enough for a table (``--json`` has it whole)."""
    return f"{address[:6]}…{address[-4:]}"


def _uid_table(title: str, columns: tuple[str, ...], left: tuple[str, ...]) -> Table:
    """A table of UIDs: ``columns`` right-aligned but those in ``left``."""
    from rich import box
    from rich.table import Table

    t = Table(title=title, title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False)
    for name in columns:
        t.add_column(name, justify="left" if name in left else "right")
    return t


def _epoch_table(data: dict[str, Any]) -> Table:
    t = _uid_table(f"subnet {data['netuid']}, epoch {data['epoch']} (block {data['block']})",
                   ("UID", "account", "incentive", "dividends", "consensus", "trust", "emission"), ("account",))
    for u in data["uids"]:
        t.add_row(
            str(u["uid"]),
            _short(u["account"]),
            f"{u['incentive']:.4f}",
            f"{u['dividends']:.4f}",
            f"{u['consensus']:.4f}",
            f"{u['validator_trust']:.4f}",
            tokens(u["emission_wei"], 4),
        )
    return t


@app.command("show")
def show(ctx: typer.Context, netuid: NetuidArg, json_: JsonOpt = False) -> None:
    """A subnet's neurons: UID, hotkey, stake, permit, incentive, dividends, emission."""
    subnets = _subnets(ctx)
    with progress("reading the subnet") if not json_ else nullcontext():
        neurons = subnets.neurons(netuid)
        e = subnets.subnets.current_epoch(netuid)
    if json_:
        emit_json({"netuid": netuid, "epoch": e, "neurons": [n.to_json() for n in neurons]})
        return
    t = _uid_table(f"subnet {netuid}, epoch {e}: {len(neurons)} neuron(s)",
                   ("UID", "hotkey", "stake", "permit", "incentive", "dividends", "emission"), ("hotkey", "permit"))
    for n in neurons:
        t.add_row(
            str(n.uid),
            _short(n.hotkey),
            tokens(n.stake, 4),
            "yes" if n.permit else "-",
            f"{n.incentive:.4f}",
            f"{n.dividends:.4f}",
            tokens(n.emission, 4),
        )
    out.print(t)


@app.command("claim")
def claim(
    ctx: typer.Context,
    netuid: NetuidArg,
    number: Annotated[int, typer.Argument(help="The epoch.", show_default=False)],
    json_: JsonOpt = False,
) -> None:
    """Claim what a final epoch pays your account (each leaf by Merkle proof)."""
    data = _subnets(ctx).claim(netuid, number)
    if json_:
        emit_json(data)
    elif data["claimed_wei"]:
        out.print(f"claimed {tokens(data['claimed_wei'])} of epoch {number} in subnet {netuid}")
    else:
        out.print(f"nothing (more) to claim for your account in epoch {number} of subnet {netuid}")


@app.command("miner")
def miner(
    ctx: typer.Context,
    netuid: NetuidArg,
    mode: Annotated[str, typer.Option("--mode", help="honest, noisy, copy or lazy (the last three cheat).")] = "honest",
    noise: Annotated[float, typer.Option("--noise", help="noisy: the share of wrong labels.")] = 0.5,
    host: Annotated[str, typer.Option("--host", help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", min=0, max=65535, help="Port (0: any free one).")] = 0,
    endpoint: Annotated[
        str | None,
        typer.Option(
            "--endpoint", help="The URL to announce on chain (default: http://HOST:PORT).", show_default=False
        ),
    ] = None,
) -> None:
    """Serve the digits classifier as your registered hotkey until Ctrl-C or SIGTERM."""
    import threading

    from agora.subnet.miner import validate_mode

    validate_mode(mode)
    client = get_state(ctx).client
    need_lasting_chain(client, "a miner")
    server = _subnets(ctx).start_miner(netuid, mode=mode, noise=noise, host=host, port=port, endpoint=endpoint)
    done = threading.Event()
    stop_on_signals(done.set)
    out.print(f"miner ({mode}) of {client.address} in subnet {netuid} serving at {endpoint or server.url}")
    try:
        while not done.wait(0.2):
            pass
    finally:
        server.stop()
    out.print(f"stopped after {server.miner.calls} challenge(s)")


@app.command("validator")
def validator(
    ctx: typer.Context,
    netuid: NetuidArg,
    mode: Annotated[str, typer.Option("--mode", help="honest, or dishonest (reversed ranking, for demos).")] = "honest",
    host: Annotated[str, typer.Option("--host", help="Address its signature server listens on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", min=0, max=65535, help="Port (0: any free one).")] = 0,
    poll: Annotated[float, typer.Option("--poll", min=0.05, help="Seconds between rounds.")] = 1.0,
    advance: Annotated[bool, typer.Option("--advance", help="Also start each epoch when it is due.")] = False,
    challenge_size: Annotated[
        int, typer.Option("--challenge-size", min=1, help="Digits sent to each miner per epoch.")
    ] = 16,
) -> None:
    """Run a validator as your registered hotkey until Ctrl-C or SIGTERM (challenge, weigh, settle, claim)."""
    import logging
    import sys

    from agora.subnet.validator import VALIDATOR_MODES

    if mode not in VALIDATOR_MODES:
        raise ConfigError(f"unknown validator mode {mode!r} (one of {', '.join(VALIDATOR_MODES)})")
    client = get_state(ctx).client
    need_lasting_chain(client, "a validator")
    v = _subnets(ctx).validator(
        netuid, mode=mode, host=host, port=port, poll_interval=poll, advance=advance, challenge_size=challenge_size
    )
    logging.basicConfig(stream=sys.stderr, level=logging.INFO, format="%(message)s")
    stop_on_signals(v.stop)
    out.print(f"validator ({mode}) of {client.address} in subnet {netuid}; signatures at {v.url}")
    v.run()


def print_demo_chapter(v: dict[str, Any], symbol: str, number: int) -> None:
    """Print the subnet chapter of ``agora demo`` (``agora.subnet.demo``'s summary) as chapter ``number``."""
    from rich.table import Table

    from agora.units import format_amount

    cheater, dishonest = v["cheater_uid"], v["dishonest_validator_uid"]
    out.print(f"\n[bold]{number}. an inference subnet[/bold] — subnet {v['netuid']}: 3 validators stake, 6 miners "
              f"serve the digits classifier, {format_amount(v['emission_per_epoch_wei'], symbol=symbol)} an epoch "
              "shared by Yuma consensus")

    def role(uid: int) -> str:
        if uid < 3:
            return f"validator{' (away from consensus)' if uid == dishonest else ''}"
        return f"miner{' (cheats from epoch ' + str(v['cheater_from_epoch']) + ')' if uid == cheater else ''}"

    table = Table("UID", "role", *(f"epoch {ep['epoch']}" for ep in v["epochs"]), box=None, pad_edge=False)
    n = len(v["epochs"][0]["amounts_wei"]) - 1
    for uid in range(n):
        table.add_row(str(uid), role(uid), *(f"{ep['amounts_wei'][uid] / 10**18:,.3f}" for ep in v["epochs"]))
    table.add_row("-", "subnet owner", *(f"{ep['amounts_wei'][n] / 10**18:,.3f}" for ep in v["epochs"]))
    out.print(table)
    out.print(kv_table("", [
        ("settled", "each epoch's Merkle root computed by every validator, signed by 2/3 of the permitted stake, "
                    "posted by one and agreed by the others, final after the challenge window; every leaf claimed "
                    "by Merkle proof"),
        ("the cheater", f"UID {cheater}: {v['cheater_last_share']:.4%} of the last epoch's emission, named the "
                        f"prune candidate, replaced by the next registration ({_short(v['replaced_by'])})"),
        ("burns", "registrations burned " + ", ".join(f"{b / 10**18:.2f}" for b in v["burns_wei"]) + f" {symbol}"),
        ("reconciled", f"{format_amount(v['claimed_wei'], symbol=symbol)} claimed = emitted; the pool, every "
                       "account and the supply moved by exactly that, to the wei"),
    ]))
