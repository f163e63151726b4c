"""``agora devnet …``: a persistent local chain (anvil) with the protocol deployed."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from agora.cli.options import JsonOpt, get_state, sub_app
from agora.cli.output import emit_json, kv_table, out, progress
from agora.errors import ConfigError

__all__ = ["app", "down", "mine", "status", "up"]

app = sub_app("A persistent local chain (anvil) with the protocol deployed.")


def _settings(ctx: typer.Context) -> Any:
    """The settings as given, with the ``devnet`` chain alias left unresolved: these commands
    manage the devnet, so ``AGORA_CHAIN=devnet`` must not require it to run already."""
    from agora.config import load_settings

    return load_settings(**get_state(ctx).overrides)


@app.command("up")
def up(
    ctx: typer.Context,
    port: Annotated[int | None, typer.Option(help="Port on 127.0.0.1 (default 8545).",
                                             show_default=False)] = None,
    block_time: Annotated[float | None, typer.Option(
        "--block-time", help="Mine every N seconds instead of on each transaction.",
        show_default=False)] = None,
    json_: JsonOpt = False,
) -> None:
    """Start a local anvil chain with persistent state, deploy the protocol, fund dev accounts."""
    from agora.devnet.manager import Devnet

    settings = _settings(ctx)
    dn = Devnet(settings.home)
    with progress("starting the devnet"):
        info, deployed = dn.up(port or settings.devnet_port, block_time=block_time)
    data = {**info.to_json(), "deployed_now": deployed}
    if json_:
        emit_json(data)
        return
    out.print(kv_table("devnet up", [
        ("http", info.url), ("ws", info.ws_url), ("chain id", info.chain_id),
        ("block", info.block), ("pid", info.pid), ("state", info.state_file),
        *[(f"contract {k}", v) for k, v in (info.contracts or {}).items()],
    ]))
    if deployed:
        out.print("deployed the protocol and funded the ten dev accounts")
    out.print(f"use it with: [bold]--chain devnet[/bold] or "
              f"[bold]export AGORA_CHAIN={info.url}[/bold]")


@app.command("status")
def status(ctx: typer.Context, json_: JsonOpt = False) -> None:
    """Is the devnet running, where, at which block."""
    from agora.devnet.manager import Devnet

    info = Devnet(_settings(ctx).home).status()
    if json_:
        emit_json(info.to_json())
        return
    if not info.running:
        out.print("devnet: not running (start it with `agora devnet up`)")
        return
    out.print(kv_table("devnet running", [
        ("http", info.url), ("chain id", info.chain_id), ("block", info.block),
        ("pid", info.pid), *[(f"contract {k}", v) for k, v in (info.contracts or {}).items()],
    ]))


@app.command("down")
def down(
    ctx: typer.Context,
    reset: Annotated[bool, typer.Option("--reset", help="Also delete the chain's state.")] = False,
    json_: JsonOpt = False,
) -> None:
    """Stop the devnet; its state is kept for the next `up` unless --reset."""
    from agora.devnet.manager import Devnet

    dn = Devnet(_settings(ctx).home)
    if reset:
        dn.reset()
        data = {"stopped": True, "state_deleted": True}
        message = "devnet stopped and its state deleted"
    else:
        stopped = bool(dn.down())
        data = {"stopped": stopped, "state_deleted": False}
        message = "devnet stopped; `agora devnet up` resumes it" if stopped else "devnet: not running"
    if json_:
        emit_json(data)
    else:
        out.print(message)


@app.command("mine")
def mine(
    ctx: typer.Context,
    blocks: Annotated[int, typer.Option("--blocks", min=0, max=100_000, help="Blocks to mine.")] = 1,
    seconds: Annotated[int, typer.Option(
        "--seconds", min=0, max=10 * 365 * 86_400,
        help="Move the clock forward this many seconds first (with a block of its own).")] = 0,
    json_: JsonOpt = False,
) -> None:
    """Mine blocks and move the devnet's clock forward: epochs and challenge windows pass at once."""
    from agora.chain import connect
    from agora.devnet.manager import Devnet

    info = Devnet(_settings(ctx).home).status()
    if not info.running or not info.url:
        raise ConfigError("no devnet is running", hint="start one with `agora devnet up`")
    chain = connect(info.url)
    try:
        if seconds:
            chain.advance_time(seconds)
            blocks = max(0, blocks - 1)   # advancing the clock mined one
        if blocks:
            chain.mine(blocks)
        data = {"block": chain.block_number(), "timestamp": chain.timestamp()}
    finally:
        chain.close()
    if json_:
        emit_json(data)
        return
    out.print(f"devnet at block {data['block']}, time {data['timestamp']}")
