"""``agora chain …``: the chain you are connected to."""

from __future__ import annotations

from typing import Any

import typer

from agora.cli.options import JsonOpt, get_state, sub_app
from agora.cli.output import emit_json, kv_table, out

__all__ = ["app", "info"]

app = sub_app("The chain you are connected to.")


@app.command("info")
def info(ctx: typer.Context, json_: JsonOpt = False) -> None:
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
