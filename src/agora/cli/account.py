"""``agora account …``: accounts and encrypted keystores."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from agora.cli.options import JsonOpt, get_state, sub_app
from agora.cli.output import emit_json, kv_table, note, out
from agora.errors import ConfigError

__all__ = ["app", "list_accounts", "new", "show"]

app = sub_app("Accounts and encrypted keystores.")


@app.command("new")
def new(
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


@app.command("show")
def show(ctx: typer.Context, json_: JsonOpt = False) -> None:
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


@app.command("list")
def list_accounts(ctx: typer.Context, json_: JsonOpt = False) -> None:
    """The ten dev accounts of a devnet (standard test mnemonic: never use on a real network)."""
    client = get_state(ctx).client
    if not client.chain.is_devnet:
        raise ConfigError("dev accounts exist only on devnets")
    rows = [{"index": i, "address": s.address} for i, s in enumerate(client.chain.dev_signers)]
    if json_:
        emit_json(rows)
        return
    out.print(kv_table("dev accounts", [(str(r["index"]), r["address"]) for r in rows]))
