"""The CLI's commands, grouped as the README's tour shows them."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer

from agora.cli.options import (  # noqa: F401 - re-exported for the other groups until they move
    JsonOpt,
    acting_signer,
    address_arg,
    blob_arg,
    describe_output,
    need_lasting_chain,
    read_file,
    stop_on_signals,
)
from agora.cli.output import emit_json, kv_table, note, out
from agora.errors import ConfigError


def register(app: typer.Typer, get_state: Callable[..., Any], warn_embedded: Callable[..., None]) -> None:
    """Attach every command group to ``app``."""
    devnet = typer.Typer(help="A persistent local chain (anvil) with the protocol deployed.",
                         no_args_is_help=True)
    token = typer.Typer(help="The payment and stake token.", no_args_is_help=True)
    storage = typer.Typer(help="Content-addressed blobs (CIDv1).", no_args_is_help=True)
    account = typer.Typer(help="Accounts and encrypted keystores.", no_args_is_help=True)
    contracts = typer.Typer(help="The Vyper contracts: list and compile.", no_args_is_help=True)
    config = typer.Typer(help="Show the effective settings.", no_args_is_help=True)
    chain_app = typer.Typer(help="The chain you are connected to.", no_args_is_help=True)
    app.add_typer(devnet, name="devnet")
    app.add_typer(chain_app, name="chain")
    app.add_typer(account, name="account")
    app.add_typer(token, name="token")
    app.add_typer(storage, name="storage")
    app.add_typer(contracts, name="contracts")
    app.add_typer(config, name="config")

    # -- demo -------------------------------------------------------------------------
    @app.command()
    def demo(ctx: typer.Context, json_: JsonOpt = False) -> None:
        """Run the protocol's story on the embedded chain and print a summary."""
        from agora.demo import run_demo

        if json_:
            emit_json(run_demo())
            return
        with out.status("starting") as status:
            summary = run_demo(step=lambda msg: status.update(msg))
        _print_demo(summary)

    # -- deploy -----------------------------------------------------------------------
    @app.command()
    def deploy(
        ctx: typer.Context,
        token_address: Annotated[str | None, typer.Option(
            "--token", help="Use this ERC-20 (e.g. a stablecoin) instead of deploying AgoraToken.",
            show_default=False)] = None,
        evm_version: Annotated[str | None, typer.Option(
            "--evm-version", help="EVM version to compile for (prague, cancun, shanghai…).",
            show_default=False)] = None,
        json_: JsonOpt = False,
    ) -> None:
        """Deploy the protocol's contracts and record them in the address book."""
        from agora.protocol import deploy_protocol

        st = get_state(ctx)
        if evm_version is not None:
            st.overrides["evm_version"] = evm_version
            st._settings = None
        client = st.client
        warn_embedded(st)
        dep = deploy_protocol(
            client.chain, client.signer, token=token_address,
            evm_version=st.settings.evm_version, book=client.book,
        )
        data = {"chain_id": client.chain.chain_id, "contracts": dep.addresses,
                "address_book": None if client.chain.embedded else str(client.book.path)}
        if json_:
            emit_json(data)
            return
        out.print(kv_table(f"deployed on chain {client.chain.chain_id}", list(dep.addresses.items())))
        if data["address_book"]:
            out.print(f"recorded in {data['address_book']}")

    # -- faucet -----------------------------------------------------------------------
    @app.command()
    def faucet(
        ctx: typer.Context,
        address: Annotated[str | None, typer.Argument(help="Who to fund (default: your account).",
                                                      show_default=False)] = None,
        tokens: Annotated[str, typer.Option("--tokens", help="Tokens to mint.")] = "1000",
        eth: Annotated[str, typer.Option("--eth", help="Native coin to send for gas.")] = "1",
        json_: JsonOpt = False,
    ) -> None:
        """Fund an account with tokens and gas (devnets only)."""
        from agora.protocol import fund_account
        from agora.units import parse_amount

        st = get_state(ctx)
        client = st.client
        target = address_arg(client, address)
        amount, wei = parse_amount(tokens), parse_amount(eth)
        warn_embedded(st)
        hashes = fund_account(client.deployment, target, tokens=amount, eth=wei)
        data = {"address": target, "tokens_wei": amount, "eth_wei": wei, "transactions": hashes,
                "token_balance_wei": client.token.balanceOf(target)}
        if json_:
            emit_json(data)
        else:
            out.print(f"funded {target} with {tokens} AGR and {eth} ETH")

    # -- chain ------------------------------------------------------------------------
    @chain_app.command("info")
    def chain_info(ctx: typer.Context, json_: JsonOpt = False) -> None:
        """Chain id, head block, your account and its balances."""
        from agora.units import format_amount

        client = get_state(ctx).client
        chain = client.chain
        data: dict[str, Any] = {
            "uri": chain.uri, "chain_id": chain.chain_id, "block": chain.block_number(),
            "devnet": chain.is_devnet, "account": client.address,
        }
        if client.address:
            data["eth_wei"] = chain.get_balance(client.address)
        if json_:
            emit_json(data)
            return
        rows = [(k, v) for k, v in data.items() if k != "eth_wei"]
        if "eth_wei" in data:
            rows.append(("ETH", format_amount(data["eth_wei"])))
        out.print(kv_table("chain", rows))

    # -- account ----------------------------------------------------------------------
    @account.command("new")
    def account_new(
        ctx: typer.Context,
        path: Annotated[Path, typer.Argument(help="Where to write the keystore file.")],
        json_: JsonOpt = False,
    ) -> None:
        """Create a new account in an encrypted keystore (password from AGORA_PASSWORD or a prompt)."""
        from agora.chain import create_keystore

        st = get_state(ctx)
        pw = st.settings.password.get_secret_value() if st.settings.password else None
        if pw is None:
            if not sys.stdin.isatty():
                raise ConfigError("a keystore password is needed", hint="set AGORA_PASSWORD")
            pw = typer.prompt("password for the new keystore", hide_input=True,
                              confirmation_prompt=True)
        signer = create_keystore(path, pw)
        if json_:
            emit_json({"address": signer.address, "keystore": str(path)})
        else:
            out.print(f"created {signer.address} in {path}")
            note("keep the password: without it the key cannot be recovered")

    @account.command("show")
    def account_show(ctx: typer.Context, json_: JsonOpt = False) -> None:
        """Your account's address and balances."""
        from agora.units import format_amount

        client = get_state(ctx).client
        if client.address is None:
            raise ConfigError("no account configured", hint="set AGORA_KEYSTORE or AGORA_PRIVATE_KEY")
        data = {"address": client.address, "eth_wei": client.chain.get_balance(client.address),
                "token_wei": client.token.balanceOf(client.address)}
        if json_:
            emit_json(data)
            return
        out.print(kv_table("account", [("address", data["address"]),
                                       ("ETH", format_amount(data["eth_wei"])),
                                       ("AGR", format_amount(data["token_wei"]))]))

    @account.command("list")
    def account_list(ctx: typer.Context, json_: JsonOpt = False) -> None:
        """The ten dev accounts of a devnet (standard test mnemonic: never use on a real network)."""
        client = get_state(ctx).client
        if not client.chain.is_devnet:
            raise ConfigError("dev accounts exist only on devnets")
        rows = [{"index": i, "address": s.address} for i, s in enumerate(client.chain.dev_signers)]
        if json_:
            emit_json(rows)
            return
        out.print(kv_table("dev accounts", [(str(r["index"]), r["address"]) for r in rows]))

    # -- token ------------------------------------------------------------------------
    @token.command("balance")
    def token_balance(
        ctx: typer.Context,
        address: Annotated[str | None, typer.Argument(help="Whose balance (default: yours).",
                                                      show_default=False)] = None,
        json_: JsonOpt = False,
    ) -> None:
        """Token balance of an address."""

        from agora.units import format_amount

        client = get_state(ctx).client
        who = address_arg(client, address)
        bal = client.token.balanceOf(who)
        if json_:
            emit_json({"address": who, "balance_wei": bal})
        else:
            out.print(f"{who}: {format_amount(bal, symbol='AGR')}")

    @token.command("transfer")
    def token_transfer(
        ctx: typer.Context,
        to: Annotated[str, typer.Argument(help="Recipient address.")],
        amount: Annotated[str, typer.Argument(help="Amount in AGR (e.g. 1.5) or base units (250wei).")],
        json_: JsonOpt = False,
    ) -> None:
        """Send tokens from your account."""
        from eth_utils import is_address

        from agora.units import format_amount, parse_amount

        st = get_state(ctx)
        if not is_address(to):
            raise ConfigError(f"{to!r} is not an address")
        value = parse_amount(amount)
        client = st.client
        warn_embedded(st)
        receipt = client.token.transfer(to, value, sender=client.signer)
        data = {"from": client.address, "to": to, "amount_wei": value, "tx": receipt.tx_hash,
                "gas_used": receipt.gas_used}
        if json_:
            emit_json(data)
        else:
            out.print(f"sent {format_amount(value, symbol='AGR')} to {to} "
                      f"(tx {receipt.tx_hash}, {receipt.gas_used:,} gas)")

    # -- storage ----------------------------------------------------------------------
    @storage.command("put")
    def storage_put(
        ctx: typer.Context,
        file: Annotated[str, typer.Argument(help="File to store, or - for standard input.")],
        json_: JsonOpt = False,
    ) -> None:
        """Store a file; print its CID."""
        from agora.client import Client  # noqa: F401  (settings only; no chain needed)
        from agora.storage import LocalStore

        st = get_state(ctx)
        data = sys.stdin.buffer.read() if file == "-" else read_file(file)
        store = LocalStore(st.settings.blob_dir, st.settings.max_blob_bytes)
        cid = store.put(data)
        if json_:
            emit_json({"cid": cid, "bytes": len(data)})
        else:
            out.print(cid)

    @storage.command("get")
    def storage_get(
        ctx: typer.Context,
        cid: Annotated[str, typer.Argument(help="The blob's CID.")],
        output: Annotated[Path | None, typer.Option("--output", "-o", help="Write here instead of stdout.",
                                                     show_default=False)] = None,
        peer: Annotated[list[str] | None, typer.Option("--peer", help="Also ask this blob endpoint.",
                                                       show_default=False)] = None,
    ) -> None:
        """Fetch a blob by CID (locally, then from peers), verified against the CID."""
        from agora.storage import HttpStore, LocalStore, Storage, validate_cid

        st = get_state(ctx)
        validate_cid(cid)
        peers = [*st.settings.storage_peers, *(peer or [])]
        store = Storage(LocalStore(st.settings.blob_dir, st.settings.max_blob_bytes),
                        [HttpStore(u, st.settings.max_blob_bytes) for u in peers])
        data = store.get(cid)
        if output is None:
            sys.stdout.buffer.write(data)
            sys.stdout.flush()
        else:
            output.write_bytes(data)
            note(f"wrote {len(data)} bytes to {output}")

    @storage.command("serve")
    def storage_serve(
        ctx: typer.Context,
        host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
        port: Annotated[int, typer.Option(help="Port to listen on.")] = 8700,
    ) -> None:
        """Serve this node's blobs over HTTP so that other nodes can fetch them."""
        import uvicorn

        from agora.storage import LocalStore
        from agora.storage.server import create_app

        st = get_state(ctx)
        store = LocalStore(st.settings.blob_dir, st.settings.max_blob_bytes)
        note(f"serving {store.root} at http://{host}:{port}/blobs")
        uvicorn.run(create_app(store), host=host, port=port, log_level="warning")

    # -- devnet -----------------------------------------------------------------------
    @devnet.command("up")
    def devnet_up(
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

        st = get_state(ctx)
        dn = Devnet(st.settings.home)
        with out.status("starting the devnet"):
            info, deployed = dn.up(port or st.settings.devnet_port, block_time=block_time)
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

    @devnet.command("status")
    def devnet_status(ctx: typer.Context, json_: JsonOpt = False) -> None:
        """Is the devnet running, where, at which block."""
        from agora.devnet.manager import Devnet

        info = Devnet(get_state(ctx).settings.home).status()
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

    @devnet.command("down")
    def devnet_down(
        ctx: typer.Context,
        reset: Annotated[bool, typer.Option("--reset", help="Also delete the chain's state.")] = False,
    ) -> None:
        """Stop the devnet; its state is kept for the next `up` unless --reset."""
        from agora.devnet.manager import Devnet

        dn = Devnet(get_state(ctx).settings.home)
        if reset:
            dn.reset()
            out.print("devnet stopped and its state deleted")
            return
        out.print("devnet stopped; `agora devnet up` resumes it" if dn.down()
                  else "devnet: not running")

    # -- contracts --------------------------------------------------------------------
    @contracts.command("list")
    def contracts_list(ctx: typer.Context, json_: JsonOpt = False) -> None:
        """The protocol's Vyper contracts."""
        from agora.chain import list_contracts

        found = {k: str(v) for k, v in list_contracts().items()}
        if json_:
            emit_json(found)
        else:
            out.print(kv_table("contracts", list(found.items())))

    @contracts.command("build")
    def contracts_build(
        ctx: typer.Context,
        evm_version: Annotated[str, typer.Option("--evm-version", help="Target EVM version.")] = "prague",
        json_: JsonOpt = False,
    ) -> None:
        """Compile every contract (cached by source hash); print code sizes."""
        from agora.chain import compile_contract, list_contracts

        rows = {}
        for name in list_contracts():
            art = compile_contract(name, evm_version)
            rows[name] = {"runtime_bytes": art.runtime_size, "source_hash": art.source_hash[:16]}
        if json_:
            emit_json(rows)
        else:
            out.print(kv_table(f"compiled for {evm_version}", [
                (n, f"{r['runtime_bytes']:,} bytes") for n, r in rows.items()]))

    # -- config -----------------------------------------------------------------------
    @config.command("show")
    def config_show(ctx: typer.Context, json_: JsonOpt = False) -> None:
        """The effective settings (secrets shown only as set or unset)."""
        s = get_state(ctx).settings
        data = s.public()
        if json_:
            emit_json({**data, "config_file": str(s.config_file)})
            return
        out.print(kv_table(f"settings (file: {s.config_file})", list(data.items())))


def _print_demo(s: dict[str, Any]) -> None:
    from agora.units import format_amount

    t = s["token"]
    out.print("[bold]Agora demo[/bold] — on the embedded chain "
              f"(chain id {s['chain']['chain_id']}, {s['chain']['blocks']} blocks)\n")
    out.print(kv_table("1. protocol deployed", list(s["contracts"].items())))
    out.print(kv_table("\n2. tokens moved", [
        ("faucet → alice", format_amount(t["minted_by_faucet_wei"], symbol=t["symbol"])),
        ("alice → bob", f"{format_amount(t['transfer_wei'], symbol=t['symbol'])} "
                        f"({t['transfer_gas']:,} gas)"),
        ("bob overspends", f"refused: {t['overspend_refused_with']}"),
        *[(f"balance {who}", format_amount(v, symbol=t["symbol"]))
          for who, v in t["balances_wei"].items()],
        ("reconciled", "balances add up to the supply, to the wei"),
    ]))
    st = s["storage"]
    out.print(kv_table("\n3. blob stored and fetched", [
        ("cid", st["cid"]), ("bytes", st["bytes"]), ("verified", "hash matches the CID")]))
    _print_compute_demo(s["compute"], t["symbol"])
    _print_value_demo(s["value"], t["symbol"])
    out.print(f"\n[green]done in {s['seconds']} s[/green] — every step above was checked.")


def _print_compute_demo(c: dict[str, Any], symbol: str) -> None:
    from rich.table import Table

    from agora.units import format_amount

    out.print("\n[bold]4. the compute market[/bold] — three staked providers, one dishonest; "
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


def _print_value_demo(v: dict[str, Any], symbol: str) -> None:
    from rich.table import Table

    from agora.units import format_amount

    out.print(f"\n[bold]5. a model as an economic actor[/bold] — model {v['model_id']} (digits classifier) "
              "registered with a three-way split, served as a paid API at "
              f"{format_amount(v['price_wei'], symbol=symbol)} a call")
    out.print(kv_table("", [
        ("paid calls", f"{v['calls']} from two clients over HTTP (x402 v2, EIP-712 cheques), "
                       f"{v['calls_per_s']} calls/s; {v['chain_reads_while_serving']} chain reads while serving"),
        ("receipts", f"{v['receipts_checked']} signed by the service, checked by the clients"),
        ("settled", f"{format_amount(v['earned_wei'], symbol=symbol)} in {v['claim_transactions']} batched claim"),
    ]))
    st = Table("recipient", "share", "withdrawn (wei)", box=None, pad_edge=False)
    for r in v["split"]:
        st.add_row(r["recipient"], f"{r['bps'] / 100:.0f}%", f"{r['withdrawn_wei']:,}")
    out.print(st)
    out.print(kv_table("", [("reconciled", "shares add up to the claimed total, to the wei; "
                                          "deposits = claimed + still in the channels")]))
