"""``agora receipt …``: the signed receipts of paid model calls (list those kept, check one)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from agora.cli.options import JsonOpt, get_state, read_file, sub_app
from agora.cli.output import emit_json, note, out
from agora.errors import ConfigError

__all__ = ["app", "list_receipts", "short_channel_id", "verify"]

app = sub_app("Receipts of paid model calls.")


def short_channel_id(channel_id: int) -> str:
    """A channel id for people: its parts (signer, model, sequence), the signer shortened."""
    from agora.value.channels import decode_channel_id

    parts = decode_channel_id(channel_id)
    signer = parts.signer.lower()
    return f"{signer[:8]}…{signer[-4:]}/{parts.model_id}/{parts.sequence}"


@app.command("list")
def list_receipts(
    ctx: typer.Context,
    model_id: Annotated[int | None, typer.Option("--model", "-m", help="Only this model's.",
                                                 show_default=False)] = None,
    json_: JsonOpt = False,
) -> None:
    """The receipts kept for your paid calls (each checked when it arrived)."""
    models = get_state(ctx).client.models
    receipts = models.receipts(model_id)
    if json_:
        emit_json({"receipts": [r.to_json(models.receipt_domain) for r in receipts]})
        return
    if not receipts:
        note("no receipts kept for this account on this chain")
        return
    from rich.table import Table

    from agora.units import format_amount, format_time

    table = Table("model", "channel", "nonce", "amount (AGR)", "time", "output hash", box=None, pad_edge=False)
    for r in receipts:
        table.add_row(str(r.model_id), hex(r.channel_id), str(r.nonce), format_amount(r.amount),
                      format_time(r.time), "0x" + r.output_hash.hex()[:16] + "…")
    out.print(table)


@app.command("verify")
def verify(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(help="Receipt JSON (from `agora model call --receipt`).",
                                         show_default=False)],
    input_: Annotated[Path | None, typer.Option("--input", "-i", help="Check it is for this input "
                                                "(the raw request body).", show_default=False)] = None,
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Check it is for this output "
                                                "(the raw answer).", show_default=False)] = None,
    json_: JsonOpt = False,
) -> None:
    """Check a receipt: the model's service signed it, for its registered weights (exit 1 if not)."""
    from agora.value.models import ModelRegistry
    from agora.value.receipts import ReceiptError
    from agora.value.views import build_receipt_check_view

    try:
        doc = json.loads(read_file(file))
    except ValueError as exc:
        raise ConfigError(f"{file} is not JSON: {exc}") from None
    if not isinstance(doc, dict):
        raise ReceiptError(f"{file} does not hold a receipt")
    inputs = read_file(input_) if input_ is not None else None
    answer = read_file(output) if output is not None else None
    client = get_state(ctx).client
    checked = ModelRegistry(client.deployment, client.storage).verify_receipt(doc, inputs=inputs, output=answer)
    data = build_receipt_check_view(checked, input_checked=input_ is not None, output_checked=output is not None)
    if json_:
        emit_json(data)
        return
    r = checked.receipt
    what = ["signature", "weights"] + ["input"] * (input_ is not None) + ["output"] * (output is not None)
    from agora.units import format_amount

    out.print(f"valid: model {r.model_id}, {format_amount(r.amount, symbol='AGR')} from {r.payer} "
              f"(channel {hex(r.channel_id)}, nonce {r.nonce}), "
              f"signed by the model's service {checked.service}; checked {', '.join(what)}")
