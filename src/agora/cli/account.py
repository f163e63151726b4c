"""``agora account …``: accounts and encrypted keystores."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from agora.cli.options import JsonOpt, get_state, sub_app
from agora.cli.output import emit_json, kv_table, note, out
from agora.errors import ConfigError

__all__ = ["KEYS_DIR", "app", "list_accounts", "new", "resolve_keystore_path", "show"]

app = sub_app("Accounts and encrypted keystores.")


#: Where ``agora account new NAME`` writes keystores, under Agora's folder.
KEYS_DIR = "keys"


def resolve_keystore_path(home: Path, target: str | None, address: str) -> Path:
    """Where ``agora account new [TARGET]`` writes: nothing -> ``<home>/keys/<address>.json``; a bare
    name (no folder) -> ``<home>/keys/<name>.json``; a path with a folder (``./me.json``,
    ``~/secure/me.json``) -> that path, ``~`` expanded."""
    if target is None or not target.strip():
        return home / KEYS_DIR / f"{address}.json"
    if "/" in target or "\\" in target or target.startswith("~"):
        return Path(target).expanduser()
    name = target if target.endswith(".json") else f"{target}.json"
    return home / KEYS_DIR / name


@app.command("new")
def new(
    ctx: typer.Context,
    target: Annotated[str | None, typer.Argument(
        help="A name (the keystore goes to <home>/keys/NAME.json) or a path with a folder "
        "(./me.json); default <home>/keys/<address>.json.", show_default=False)] = None,
    json_: JsonOpt = False,
) -> None:
    """Create a new account in an encrypted keystore (password from AGORA_PASSWORD or a prompt)."""
    from agora.chain import create_keystore
    from agora.chain.accounts import new_signer

    st = get_state(ctx)
    signer = new_signer()
    path = resolve_keystore_path(st.settings.home, target, signer.address)
    if path.exists():  # before the prompt: nobody types a password twice for nothing
        raise ConfigError(f"{path} already exists", hint="choose another name, or remove the file first")
    pw = st.settings.password.get_secret_value() if st.settings.password else None
    if pw is None:
        if not sys.stdin.isatty():
            raise ConfigError("a keystore password is needed", hint="set AGORA_PASSWORD")
        pw = typer.prompt("password for the new keystore", hide_input=True,
                          confirmation_prompt=True)
    create_keystore(path, pw, signer)
    if json_:
        emit_json({"address": signer.address, "keystore": str(path)})
    else:
        out.print(f"created {signer.address} in {path}")
        note(f"act as it with --keystore {path}; keep the password: without it the key cannot be recovered")


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
    """Your keystores (in <home>/keys) and, on a devnet, its ten funded dev accounts (the standard
    test mnemonic: never use them on a real network)."""
    from agora.chain.accounts import list_keystores

    st = get_state(ctx)
    rows: list[dict[str, Any]] = [
        {"account": path.stem, "address": address, "keystore": str(path)}
        for path, address in list_keystores(st.settings.home / KEYS_DIR)
    ]
    chain = st.client.chain
    rows += [{"account": f"--account {i}", "address": s.address, "keystore": None}
             for i, s in enumerate(chain.dev_signers)]
    if json_:
        emit_json(rows)
        return
    if not rows:
        out.print(f"no accounts: no keystores in {st.settings.home / KEYS_DIR} and {chain.uri} is not a devnet")
        note("create one with `agora account new NAME`")
        return
    from rich.table import Table

    t = Table(title="accounts", title_justify="left", box=None, pad_edge=False)
    t.add_column("account", no_wrap=True)
    t.add_column("address", no_wrap=True, min_width=42)
    t.add_column("keystore", overflow="fold")
    for r in rows:
        t.add_row(r["account"], r["address"] or "(not in the file)", r["keystore"] or "dev account")
    out.print(t)
