"""``agora channel …``: your payment channels (list them, take back what is left after expiry)."""

from __future__ import annotations

from typing import Annotated

import typer

from agora.cli.options import JsonOpt, get_state, sub_app, warn_embedded
from agora.cli.output import emit_json, note, out
from agora.cli.receipt import short_channel_id

__all__ = ["app", "close", "list_channels"]

app = sub_app("Your payment channels: list them, take back what is left.")


@app.command("list")
def list_channels(
    ctx: typer.Context,
    model_id: Annotated[int | None, typer.Option("--model", "-m", help="Also look up, on chain, every "
                                                 "channel you opened to this model.", show_default=False)] = None,
    json_: JsonOpt = False,
) -> None:
    """Your channels: deposit, claimed by the service, charged as far as you know, expiry."""
    from agora.value.views import build_channel_view

    rows = [build_channel_view(v) for v in get_state(ctx).client.models.fetch_channels(model_id)]
    if json_:
        emit_json({"channels": rows})
        return
    if not rows:
        note("no channels known for this account on this chain (try --model ID)")
        return
    from rich.table import Table

    from agora.units import format_amount, format_time

    table = Table("channel (for `agora channel close`)", "model", "deposit (AGR)", "claimed (AGR)", "charged (AGR)",
                  "expiry", box=None, pad_edge=False)
    for r in rows:
        table.add_row(hex(int(r["id"])), str(r["model_id"]), format_amount(int(r["deposit_wei"])),
                      format_amount(int(r["claimed_wei"])),
                      "?" if r["charged_wei"] is None else format_amount(int(r["charged_wei"])),
                      format_time(r["expiry"]) if r["open"] else "closed")
    out.print(table)


@app.command("close")
def close(
    ctx: typer.Context,
    channel_id: Annotated[str, typer.Argument(help="The channel id (decimal or 0x hex).", show_default=False)],
    json_: JsonOpt = False,
) -> None:
    """After its expiry, take back what the service never claimed (payer or signer only)."""
    from agora.value.channels import Channels, parse_channel_id
    from agora.value.views import build_closed_channel_view

    st = get_state(ctx)
    client = st.client
    warn_embedded(st)
    cid = parse_channel_id(channel_id)
    # errors name the channel as it was typed (0x… or decimal), as before 0.4
    closed = Channels(client.deployment).close_expired(cid, client.require_signer(), label=channel_id)
    if json_:
        emit_json(build_closed_channel_view(closed))
        return
    from agora.units import format_amount

    out.print(f"closed channel {hex(cid)} ({short_channel_id(cid)}): "
              f"{format_amount(closed.refund, symbol='AGR')} back to {closed.payer}")
