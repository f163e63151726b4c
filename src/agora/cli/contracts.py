"""``agora contracts …``: the protocol's Vyper contracts, listed and compiled."""

from __future__ import annotations

from typing import Annotated

import typer

from agora.cli.options import JsonOpt, sub_app
from agora.cli.output import emit_json, kv_table, out

__all__ = ["app", "build", "list_contracts"]

app = sub_app("The Vyper contracts: list and compile.")


@app.command("list")
def list_contracts(ctx: typer.Context, json_: JsonOpt = False) -> None:
    """The protocol's Vyper contracts."""
    from agora.chain import list_contracts as find_contracts

    found = {k: str(v) for k, v in find_contracts().items()}
    if json_:
        emit_json(found)
    else:
        out.print(kv_table("contracts", list(found.items())))


#: EIP-170: the most runtime code a contract may have (immutables included, which add a little).
EIP170_LIMIT = 24_576


@app.command("build")
def build(
    ctx: typer.Context,
    evm_version: Annotated[str, typer.Option("--evm-version", help="Target EVM version.")] = "prague",
    json_: JsonOpt = False,
) -> None:
    """Compile every contract (cached by source hash); print code sizes."""
    from agora.chain import compile_contract
    from agora.chain import list_contracts as find_contracts

    rows = {}
    for name in find_contracts():
        art = compile_contract(name, evm_version)
        rows[name] = {"runtime_bytes": art.runtime_size, "source_hash": art.source_hash[:16],
                      "over_size_limit": art.runtime_size > EIP170_LIMIT}
    if json_:
        emit_json(rows)
    else:
        out.print(kv_table(f"compiled for {evm_version}", [
            (n, f"{r['runtime_bytes']:,} bytes" + (" — over EIP-170's 24,576: cannot deploy for this EVM version"
                                                   if r["over_size_limit"] else "")) for n, r in rows.items()]))
