"""``agora job …`` and ``agora provider …``: the compute market from the command line."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer

from agora.cli.commands import (
    acting_signer,
    address_arg,
    blob_arg,
    describe_output,
    need_lasting_chain,
    stop_on_signals,
)
from agora.cli.output import emit_json, kv_table, note, out
from agora.errors import ConfigError

JsonOpt = Annotated[bool, typer.Option("--json", help="Print the result as JSON.")]


def _kinds(text: str) -> list[int]:
    from agora.workloads import get_workload

    return [get_workload(int(k) if k.strip().isdigit() else k.strip()).kind_id for k in text.split(",") if k.strip()]


def _job_row(info: Any) -> dict[str, Any]:
    return {
        "id": info.id, "state": info.state.label, "policy": str(info.policy), "kind": info.kind,
        "requester": info.requester, "pay_wei": info.pay, "escrow_wei": info.escrow,
        "providers": info.providers, "deadline": info.deadline, "replacements": info.replacements,
        "result_digest": "0x" + info.result.hex() if info.result != bytes(32) else None,
    }


def register(app: typer.Typer, get_state: Callable[..., Any], warn_embedded: Callable[..., None]) -> None:
    """Attach ``job`` and ``provider`` to ``app``."""
    job_app = typer.Typer(help="Compute jobs: submit, follow, fetch verified results.", no_args_is_help=True)
    prov_app = typer.Typer(help="Sell compute: register, run the daemon, get paid.", no_args_is_help=True)
    app.add_typer(job_app, name="job")
    app.add_typer(prov_app, name="provider")

    # -- jobs -----------------------------------------------------------------------
    @job_app.command("submit")
    def job_submit(
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
        from agora.units import parse_amount

        st = get_state(ctx)
        client = st.client
        warn_embedded(st)
        pol = Policy.parse(policy)
        model_cid = blob_arg(client, model) if model else client.storage.put(b"")
        cids = [blob_arg(client, i) for i in inputs]
        if len(cids) == 1:
            data: Any = cids[0]
        else:
            data = [client.storage.get(c) for c in cids]
        kind_arg: int | str = int(kind) if kind.strip().isdigit() else kind
        job = client.compute.submit(kind_arg, model_cid, data, policy=pol, price_per_unit=parse_amount(price),
                                    duration=duration)
        info = job.status()
        if wait:
            info = _wait(job, json_)
        row = _job_row(info) | {"post_tx": job.post_tx}
        if json_:
            emit_json(row)
            return
        out.print(kv_table(f"job {job.id}", [(k, v) for k, v in row.items() if v not in (None, [])]))

    def _wait(job: Any, quiet: bool) -> Any:
        if quiet:
            return job.wait()
        with out.status(f"job {job.id}: waiting") as status:
            return job.wait(on_progress=lambda i: status.update(f"job {job.id}: {i.state.label}"))

    @job_app.command("status")
    def job_status(
        ctx: typer.Context,
        job_id: Annotated[int, typer.Argument(help="The job id.")],
        wait: Annotated[bool, typer.Option("--wait", help="Wait until it is settled or refunded.")] = False,
        json_: JsonOpt = False,
    ) -> None:
        """Where a job stands, who works on it, what was agreed."""
        client = get_state(ctx).client
        job = client.compute.job(job_id)
        info = _wait(job, json_) if wait else job.status()
        row = _job_row(info)
        row["reveals"] = [
            {"provider": r["provider"], "digest": "0x" + r["digest"].hex(), "result_cid": r["result_cid"]}
            for r in job.revealed()
        ]
        if json_:
            emit_json(row)
            return
        out.print(kv_table(f"job {job_id}", [(k, v) for k, v in row.items() if k != "reveals" and v is not None]))
        for r in row["reveals"]:
            out.print(f"  revealed by {r['provider']}: {r['digest'][:18]}… → {r['result_cid']}")

    @job_app.command("result")
    def job_result(
        ctx: typer.Context,
        job_id: Annotated[int, typer.Argument(help="The job id.")],
        output: Annotated[Path | None, typer.Option("--output", "-o", help="Write the result here.")] = None,
        json_: JsonOpt = False,
    ) -> None:
        """Fetch a finished job's result and check it against the digest agreed on chain."""
        client = get_state(ctx).client
        job = client.compute.job(job_id)
        result = job.result()
        blobs = result if isinstance(result, list) else [result]
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

    @job_app.command("list")
    def job_list(
        ctx: typer.Context,
        mine: Annotated[bool, typer.Option("--mine", help="Only jobs you posted.")] = False,
        limit: Annotated[int, typer.Option("--limit", help="How many of the newest to show.")] = 20,
        json_: JsonOpt = False,
    ) -> None:
        """The newest jobs on this market."""
        from rich.table import Table

        client = get_state(ctx).client
        market = client.compute.market
        rows = []
        for jid in range(market.job_count(), 0, -1):
            info = market.job(jid)
            if mine and info.requester != client.address:
                continue
            rows.append(_job_row(info))
            if len(rows) >= limit:
                break
        if json_:
            emit_json(rows)
            return
        t = Table("id", "state", "policy", "providers", "pay (wei)", title="jobs", title_justify="left")
        for r in rows:
            t.add_row(str(r["id"]), r["state"], r["policy"], str(len(r["providers"])), str(r["pay_wei"]))
        out.print(t)

    # -- providers --------------------------------------------------------------------
    @prov_app.command("register")
    def provider_register(
        ctx: typer.Context,
        kinds: Annotated[str, typer.Option("--kinds", help="Comma-separated workload kinds served.")] =
        "onnx-classify,embed-minilm,train-digits",
        stake: Annotated[str, typer.Option("--stake", help="Tokens to stake (at least the minimum).")] = "1000",
        price: Annotated[str, typer.Option("--price", help="Lowest price per work unit, in tokens.")] = "0.001",
        json_: JsonOpt = False,
    ) -> None:
        """Stake and declare the workloads you serve; the market then assigns you jobs."""
        from agora.compute.market import Market
        from agora.units import parse_amount

        st = get_state(ctx)
        client = st.client
        warn_embedded(st)
        market = Market(client.deployment)
        receipt = market.register(client.chain.require_signer() if client.signer is None else client.signer,
                                  kinds=_kinds(kinds), price=parse_amount(price), stake=parse_amount(stake))
        info = market.provider(client.address)
        data = _provider_row(info) | {"tx": receipt.tx_hash}
        if json_:
            emit_json(data)
        else:
            out.print(kv_table(f"provider {client.address} registered", list(data.items())))

    @prov_app.command("status")
    def provider_status(
        ctx: typer.Context,
        address: Annotated[str | None, typer.Argument(help="Provider (default: your account).")] = None,
        json_: JsonOpt = False,
    ) -> None:
        """Stake, reputation, what the market owes, and the local daemon's progress."""
        from agora.compute.market import Market
        from agora.compute.provider import daemon_db_path

        st = get_state(ctx)
        client = st.client
        who = address_arg(client, address)
        market = Market(client.deployment)
        info = market.provider(who)
        if not info.registered:
            raise ConfigError(f"{who} is not a registered provider", hint="register with `agora provider register`")
        data = _provider_row(info) | {"owed_wei": market.owed(who)}
        db = daemon_db_path(st.settings.home, info.address)
        if db.exists():
            import sqlite3

            with sqlite3.connect(str(db)) as con:
                data["daemon"] = dict(con.execute("SELECT status, COUNT(*) FROM work GROUP BY status").fetchall())
        if json_:
            emit_json(data)
        else:
            out.print(kv_table(f"provider {info.address}", list(data.items())))

    @prov_app.command("withdraw")
    def provider_withdraw(ctx: typer.Context, json_: JsonOpt = False) -> None:
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
            out.print(f"withdrew {amount} wei" if amount else "nothing is owed to you")

    @prov_app.command("unbond")
    def provider_unbond(
        ctx: typer.Context,
        amount: Annotated[str, typer.Argument(help="Tokens of stake to unbond.")],
        json_: JsonOpt = False,
    ) -> None:
        """Start unbonding stake; it stays slashable until the delay is over."""
        from agora.compute.market import Market
        from agora.units import parse_amount

        client = get_state(ctx).client
        market = Market(client.deployment)
        receipt = market.registry.unbond(parse_amount(amount), sender=client.signer)
        info = market.provider(client.address)
        data = {"unbonding_wei": info.unbonding, "unlock_at": info.unbond_at, "tx": receipt.tx_hash}
        emit_json(data) if json_ else out.print(kv_table("unbonding", list(data.items())))

    @prov_app.command("withdraw-stake")
    def provider_withdraw_stake(ctx: typer.Context, json_: JsonOpt = False) -> None:
        """Take back unbonded stake once the unbonding delay is over."""
        from agora.compute.market import Market

        client = get_state(ctx).client
        market = Market(client.deployment)
        amount = market.provider(client.address).unbonding
        receipt = market.registry.withdraw_stake(sender=client.signer)
        data = {"withdrawn_wei": amount, "tx": receipt.tx_hash}
        emit_json(data) if json_ else out.print(f"withdrew {amount} wei of stake")

    @prov_app.command("run")
    def provider_run(
        ctx: typer.Context,
        concurrency: Annotated[int, typer.Option("--concurrency", help="Jobs run at once.")] = 2,
        serve: Annotated[str | None, typer.Option("--serve", help="Serve result blobs at HOST:PORT.")] = None,
        from_block: Annotated[int | None, typer.Option("--from-block", help="First block to read on a fresh "
                                                        "start (default: the protocol's deployment).")] = None,
        poll: Annotated[float, typer.Option("--poll", help="Seconds between rounds.")] = 0.2,
    ) -> None:
        """Run the provider daemon until interrupted (Ctrl-C or SIGTERM stop it cleanly)."""
        import logging
        import sys

        from agora.compute.market import Market
        from agora.compute.provider import ProviderDaemon, daemon_db_path

        st = get_state(ctx)
        client = st.client
        need_lasting_chain(client, "the provider daemon")
        signer = acting_signer(client)
        market = Market(client.deployment)
        if not market.provider(client.address).registered:
            raise ConfigError(f"{client.address} is not a registered provider",
                              hint="register first with `agora provider register`")
        logging.basicConfig(stream=sys.stderr, level=logging.INFO, format="%(message)s")
        daemon = ProviderDaemon(market, signer, client.storage,
                                daemon_db_path(st.settings.home, client.address),
                                concurrency=concurrency, start_block=from_block, poll_interval=poll)
        if serve:
            _serve_blobs(client, serve)
        stop_on_signals(daemon.stop)
        daemon.run()


def _serve_blobs(client: Any, where: str) -> None:
    import uvicorn

    from agora.storage.server import create_app

    host, _, port = where.rpartition(":")
    if not host or not port.isdigit():
        raise ConfigError(f"--serve wants HOST:PORT, not {where!r}")
    server = uvicorn.Server(uvicorn.Config(create_app(client.storage.local), host=host, port=int(port),
                                           log_level="warning"))
    server.install_signal_handlers = lambda: None  # type: ignore[method-assign]  # the daemon owns signals
    threading.Thread(target=server.run, daemon=True, name="agora-blobs").start()
    note(f"serving result blobs at http://{where}/blobs")


def _provider_row(info: Any) -> dict[str, Any]:
    from agora.workloads import list_workloads

    names = {w.kind_id: w.kind for w in list_workloads()}
    return {
        "address": info.address, "stake_wei": info.stake, "unbonding_wei": info.unbonding,
        "price_per_unit_wei": info.price, "reputation": f"{info.reputation / 100:.2f}%",
        "kinds": [names.get(k, str(k)) for k in info.kind_ids], "active": info.active,
    }
