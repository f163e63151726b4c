"""``agora provider …``: sell compute from the command line (register, run the daemon, get paid)."""

from __future__ import annotations

import socket
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from agora.cli.options import (
    JsonOpt,
    acting_signer,
    address_arg,
    amount_arg,
    get_state,
    need_lasting_chain,
    readable_rows,
    stop_on_signals,
    sub_app,
    warn_embedded,
)
from agora.cli.output import emit_json, kv_table, note, out
from agora.errors import ConfigError

if TYPE_CHECKING:
    from agora.storage import Storage

__all__ = ["app", "register", "run", "status", "unbond", "withdraw", "withdraw_stake"]

app = sub_app("Sell compute: register, run the daemon, get paid.")


@app.command("register")
def register(
    ctx: typer.Context,
    kinds: Annotated[str, typer.Option("--kinds", help="Comma-separated workload kinds served.")] =
    "onnx-classify,embed-minilm,train-digits",
    stake: Annotated[str, typer.Option("--stake", help="Tokens to stake (at least the minimum).")] = "1000",
    price: Annotated[str, typer.Option("--price", help="Lowest price per work unit, in tokens.")] = "0.001",
    json_: JsonOpt = False,
) -> None:
    """Stake and declare the workloads you serve; the market then assigns you jobs."""
    from agora.compute.market import Market
    from agora.compute.views import build_provider_view, get_kind_ids

    st = get_state(ctx)
    client = st.client
    warn_embedded(st)
    market = Market(client.deployment)
    signer = client.signer or client.chain.require_signer()  # its message: which settings give an account
    receipt = market.register(signer, kinds=get_kind_ids(kinds), price=amount_arg(price),
                              stake=amount_arg(stake))
    info = market.provider(client.address)
    data = build_provider_view(info) | {"tx": receipt.tx_hash}
    if json_:
        emit_json(data)
    else:
        out.print(kv_table(f"provider {client.address} registered", readable_rows(data)))


@app.command("status")
def status(
    ctx: typer.Context,
    address: Annotated[str | None, typer.Argument(help="Provider (default: your account).")] = None,
    json_: JsonOpt = False,
) -> None:
    """Stake, reputation, what the market owes, and the local daemon's progress."""
    from agora.compute.market import Market
    from agora.compute.views import fetch_provider_view

    st = get_state(ctx)
    client = st.client
    who = address_arg(client, address)
    data = fetch_provider_view(Market(client.deployment), who, client.state_dir("compute"))
    if json_:
        emit_json(data)
    else:
        out.print(kv_table(f"provider {data['address']}", readable_rows(data)))


@app.command("withdraw")
def withdraw(ctx: typer.Context, json_: JsonOpt = False) -> None:
    """Withdraw what the market owes you (payments, refunds, slash shares)."""
    from agora.compute.market import Market

    st = get_state(ctx)
    client = st.client
    market = Market(client.deployment)
    if client.signer is None:
        raise ConfigError("no account configured")
    amount = market.withdraw(client.signer)
    if json_:
        emit_json({"withdrawn_wei": amount})
    else:
        from agora.units import format_amount

        out.print(f"withdrew {format_amount(amount, symbol='AGR')}" if amount else "nothing is owed to you")


@app.command("unbond")
def unbond(
    ctx: typer.Context,
    amount: Annotated[str, typer.Argument(help="Tokens of stake to unbond.")],
    json_: JsonOpt = False,
) -> None:
    """Start unbonding stake; it stays slashable until the delay is over."""
    from agora.compute.market import Market

    client = get_state(ctx).client
    market = Market(client.deployment)
    receipt = market.registry.unbond(amount_arg(amount), sender=client.signer)
    info = market.provider(client.address)
    data = {"unbonding_wei": info.unbonding, "unlock_at": info.unbond_at, "tx": receipt.tx_hash}
    if json_:
        emit_json(data)
        return
    from agora.units import format_amount, format_time

    out.print(kv_table("unbonding", [("unbonding", format_amount(info.unbonding, symbol="AGR")),
                                     ("withdrawable from", format_time(info.unbond_at)), ("tx", receipt.tx_hash)]))


@app.command("withdraw-stake")
def withdraw_stake(ctx: typer.Context, json_: JsonOpt = False) -> None:
    """Take back unbonded stake once the unbonding delay is over."""
    from agora.compute.market import Market

    client = get_state(ctx).client
    market = Market(client.deployment)
    amount = market.provider(client.address).unbonding
    receipt = market.registry.withdraw_stake(sender=client.signer)
    data = {"withdrawn_wei": amount, "tx": receipt.tx_hash}
    if json_:
        emit_json(data)
    else:
        from agora.units import format_amount

        out.print(f"withdrew {format_amount(amount, symbol='AGR')} of stake")


@app.command("run")
def run(
    ctx: typer.Context,
    concurrency: Annotated[int, typer.Option("--concurrency", help="Jobs run at once.")] = 2,
    serve: Annotated[str | None, typer.Option("--serve", help="Serve result blobs at HOST:PORT.")] = None,
    from_block: Annotated[int | None, typer.Option("--from-block", help="First block to read on a fresh "
                                                    "start (default: the protocol's deployment).")] = None,
    poll: Annotated[float, typer.Option("--poll", help="Seconds between rounds.")] = 0.2,
    zk: Annotated[list[str] | None, typer.Option("--zk", help="MODEL=DIR: prove the ZK jobs of registered model "
                                                 "MODEL with the circuit in DIR (`agora zk setup`); repeatable.",
                                                 show_default=False)] = None,
) -> None:
    """Run the provider daemon until interrupted (Ctrl-C or SIGTERM stop it cleanly)."""
    import logging
    import sys

    from agora.compute.market import Market
    from agora.compute.provider import ProviderDaemon, daemon_db_path

    circuits: dict[int, Path] = {}
    for item in zk or []:
        model, sep, folder = item.partition("=")
        if not sep or not model.strip().isdigit() or not folder:
            raise ConfigError(f"--zk takes MODEL=DIR (a model id and a circuit folder), not {item!r}")
        circuits[int(model)] = Path(folder)
    st = get_state(ctx)
    client = st.client
    need_lasting_chain(client, "the provider daemon")
    signer = acting_signer(client)
    market = Market(client.deployment)
    if not market.provider(signer.address).registered:
        raise ConfigError(f"{signer.address} is not a registered provider",
                          hint="register first with `agora provider register`")
    # the daemon takes its lock first (a second daemon is refused before it binds anything), then
    # the blob port is bound before anything runs or says "serving": either trouble is one line
    daemon = ProviderDaemon(market, signer, client.storage, daemon_db_path(client.state_dir("compute"), signer.address),
                            concurrency=concurrency, start_block=from_block, poll_interval=poll, zk_circuits=circuits)
    try:
        sock = _bind_blobs(serve) if serve else None
    except BaseException:
        daemon.close()  # before logging is set up: its "stopped" line stays out of the one-line error
        raise
    logging.basicConfig(stream=sys.stderr, level=logging.INFO, format="%(message)s")
    if serve and sock is not None:
        _serve_blobs(client.storage, serve, sock)
    stop_on_signals(daemon.stop)
    daemon.run()


def _bind_blobs(where: str) -> socket.socket:
    """The bound socket for ``--serve HOST:PORT`` (a taken port is a one-line error)."""
    from agora.storage.server import bind_socket

    host, _, port = where.rpartition(":")
    if not host or not port.isdigit():
        raise ConfigError(f"--serve wants HOST:PORT, not {where!r}")
    return bind_socket(host.removeprefix("[").removesuffix("]"), int(port))


def _serve_blobs(storage: Storage, where: str, sock: socket.socket) -> None:
    """Serve ``storage``'s local blobs on ``sock`` (bound to ``where``) from a background thread."""
    import uvicorn

    from agora.storage.server import create_app

    server = uvicorn.Server(uvicorn.Config(create_app(storage.local), log_level="warning"))
    # uvicorn (>= 0.30) takes signals only in the main thread, so SIGINT/SIGTERM stay the daemon's
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True, name="agora-blobs")
    thread.start()
    while not server.started and thread.is_alive():
        thread.join(0.05)
    if not server.started:
        raise ConfigError(f"the blob server at {where} did not start (see the log above)")
    note(f"serving result blobs at http://{where}/blobs")

