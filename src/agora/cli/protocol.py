"""``agora deploy`` and ``agora faucet``: the protocol's contracts on a chain, and dev funding."""

from __future__ import annotations

from typing import Annotated

import typer

from agora.cli.options import JsonOpt, address_arg, amount_arg, get_state, warn_embedded
from agora.cli.output import emit_json, kv_table, note, out, progress

__all__ = ["app", "deploy", "faucet"]

#: Commands of ``agora`` itself (mounted without a group name).
app = typer.Typer()


@app.command("deploy")
def deploy(
    ctx: typer.Context,
    token_address: Annotated[str | None, typer.Option(
        "--token", help="Use this ERC-20 instead of deploying AgoraToken (e.g. a stablecoin; "
                 "x402's exact scheme needs EIP-3009).",
        show_default=False)] = None,
    evm_version: Annotated[str | None, typer.Option(
        "--evm-version", help="EVM version to compile for (prague, cancun, shanghai…).",
        show_default=False)] = None,
    force: Annotated[bool, typer.Option(
        "--force", help="Replace the deployment the address book records for this chain.")] = False,
    json_: JsonOpt = False,
) -> None:
    """Deploy the protocol's contracts and record them in the address book."""
    from agora.protocol import deploy_protocol, fetch_live_deployment

    st = get_state(ctx)
    if evm_version is not None:
        st.add_overrides(evm_version=evm_version)
    client = st.client
    warn_embedded(st)
    if token_address is not None:
        token_address = address_arg(client, token_address)
    previous = fetch_live_deployment(client.chain, client.book) if force else None
    # a cold compile takes tens of seconds: say each step (on stderr, drawn only on a terminal)
    with progress("deploying the protocol") as update:
        dep = deploy_protocol(
            client.chain, client.signer, token=token_address,
            evm_version=st.settings.evm_version, book=client.book, replace=force, progress=update,
        )
    if previous is not None:
        old = ", ".join(f"{role} {addr}" for role, addr in previous.addresses.items())
        note(f"note: replaced the deployment recorded for chain {client.chain.chain_id} "
             f"in {client.book.path} ({old}); daemons still running use those old contracts")
    data = {"chain_id": client.chain.chain_id, "contracts": dep.addresses,
            "address_book": None if client.chain.embedded else str(client.book.path)}
    if json_:
        emit_json(data)
        return
    out.print(kv_table(f"deployed on chain {client.chain.chain_id}", list(dep.addresses.items())))
    if data["address_book"]:
        out.print(f"recorded in {data['address_book']}")


@app.command("faucet")
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

    st = get_state(ctx)
    client = st.client
    target = address_arg(client, address)
    amount, wei = amount_arg(tokens), amount_arg(eth)
    warn_embedded(st)
    hashes = fund_account(client.deployment, target, tokens=amount, eth=wei)
    data = {"address": target, "tokens_wei": amount, "eth_wei": wei, "transactions": hashes,
            "token_balance_wei": client.token.balanceOf(target)}
    if json_:
        emit_json(data)
    else:
        out.print(f"funded {target} with {tokens} AGR and {eth} ETH")
