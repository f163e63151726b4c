"""``agora token …``: the payment and stake token."""

from __future__ import annotations

from typing import Annotated

import typer

from agora.cli.options import (
    JsonOpt,
    address_arg,
    amount_arg,
    get_state,
    sub_app,
    validate_address,
    warn_embedded,
)
from agora.cli.output import emit_json, out
from agora.errors import ConfigError

__all__ = ["app", "balance", "transfer"]

app = sub_app("The payment and stake token.")


@app.command("balance")
def balance(
    ctx: typer.Context,
    address: Annotated[str | None, typer.Argument(help="Whose balance (default: yours).",
                                                  show_default=False)] = None,
    json_: JsonOpt = False,
) -> None:
    """Token balance of an address."""
    from agora.protocol import fetch_token_balance
    from agora.units import format_amount

    st = get_state(ctx)
    given = validate_address(address) if address else None
    # a plain http(s) node: one quick raw JSON-RPC read; otherwise (embedded, ws, keystore) the full client
    quick = fetch_token_balance(st.settings, given)
    if quick is not None:
        who, bal = quick
    else:
        client = st.client
        who = address_arg(client, address)
        bal = client.token.balanceOf(who)
    if json_:
        emit_json({"address": who, "balance_wei": bal, "balance": format_amount(bal, symbol="AGR")})
    else:
        out.print(f"{who}: {format_amount(bal, symbol='AGR')}")


@app.command("transfer")
def transfer(
    ctx: typer.Context,
    to: Annotated[str, typer.Argument(help="Recipient address.")],
    amount: Annotated[str, typer.Argument(help="Amount in AGR (e.g. 1.5) or base units (250wei).")],
    json_: JsonOpt = False,
) -> None:
    """Send tokens from your account."""
    from agora.units import format_amount

    st = get_state(ctx)
    if not to.strip():  # address_arg would take the empty recipient as "your account"
        raise ConfigError(f"{to!r} is not an address")
    client = st.client
    to = address_arg(client, to)
    value = amount_arg(amount)
    if value == 0:
        raise ConfigError("nothing to send: the amount is 0")
    warn_embedded(st)
    receipt = client.token.transfer(to, value, sender=client.signer)
    data = {"from": client.address, "to": to, "amount_wei": value, "tx": receipt.tx_hash,
            "gas_used": receipt.gas_used}
    if json_:
        emit_json(data)
    else:
        out.print(f"sent {format_amount(value, symbol='AGR')} to {to} "
                  f"(tx {receipt.tx_hash}, {receipt.gas_used:,} gas)")
