"""``agora receipt …``: the signed receipts of paid model calls (list those kept, check one)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from agora.cli.options import JsonOpt, get_state, read_file, sub_app
from agora.cli.output import emit_json, note, out
from agora.errors import ConfigError

__all__ = ["app", "fetch", "list_receipts", "load_bundle", "short_channel_id", "verify"]

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


def load_bundle(file: Path) -> Any:
    """The receipt or bundle in ``file`` (:class:`agora.chain.evidence.Bundle`); one-line errors."""
    from agora.chain.evidence import Bundle, ReceiptError

    try:
        doc = json.loads(read_file(file))
    except ValueError as exc:
        raise ConfigError(f"{file} is not JSON: {exc}") from None
    if not isinstance(doc, dict):
        raise ReceiptError(f"{file} does not hold a receipt or a receipt bundle")
    return Bundle.from_json(doc)


@app.command("verify")
def verify(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(help="A receipt or a receipt bundle (JSON: from `agora model call "
                                         "--receipt`, `agora receipt fetch`…).", show_default=False)],
    input_: Annotated[Path | None, typer.Option("--input", "-i", help="Check it is for this input "
                                                "(the raw request body).", show_default=False)] = None,
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Check it is for this output "
                                                "(the raw answer).", show_default=False)] = None,
    json_: JsonOpt = False,
) -> None:
    """Check a receipt: its runner's signature, its inclusion under a root anchored on chain (one read),
    and that the runner was entitled to sign for its model or job then (exit 1 if not).
    A receipt whose batch is not anchored yet is valid but flagged."""
    from agora.chain.eip712 import keccak256
    from agora.chain.evidence import ReceiptError
    from agora.verification import verify_bundle

    bundle = load_bundle(file)
    r = bundle.receipt
    if input_ is not None and keccak256(read_file(input_)) != r.input_hash:
        raise ReceiptError("the receipt is for another input")
    if output is not None and keccak256(read_file(output)) != r.output_hash:
        raise ReceiptError("the receipt is for another output")
    verdict = verify_bundle(get_state(ctx).client.deployment, bundle)
    data = verdict.to_json() | {"input_checked": input_ is not None, "output_checked": output is not None}
    if json_:
        emit_json(data)
        return
    from agora.units import format_amount, format_time

    checked = ["signature", "entitlement"] + ["input"] * (input_ is not None) + ["output"] * (output is not None)
    head = (f"valid: {r.kind} receipt for subject {r.subject} (item {r.item}), "
            f"{format_amount(r.amount, symbol='AGR')} from {r.payer}, signed by {r.runner} as {verdict.entitled_as}")
    if verdict.final:
        out.print(f"{head}; anchored {format_time(verdict.anchored_at)} under root "
                  f"0x{bundle.anchor.root.hex()[:16]}… (final); checked {', '.join(checked + ['inclusion'])}")
    else:
        out.print(f"{head}; checked {', '.join(checked)}")
        note("NOT ANCHORED: its runner has not posted its batch's root yet (`agora receipt fetch` gets the "
             "anchored bundle from the model's service)")


@app.command("fetch")
def fetch(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(help="A paid call's receipt (JSON).", show_default=False)],
    to: Annotated[Path | None, typer.Option("--out", help="Write the bundle here (default: over FILE).",
                                            show_default=False)] = None,
    json_: JsonOpt = False,
) -> None:
    """Get a paid call's receipt bundle (its batch's root and inclusion proof) from the model's service."""
    from agora.value.receipts import Receipt

    bundle = load_bundle(file)
    models = get_state(ctx).client.models
    receipt = Receipt.from_json(bundle.receipt.to_json())
    doc = models.fetch_bundle(receipt)
    from agora.chain.evidence import Bundle, ReceiptError

    got = Bundle.from_json(doc)
    if got.receipt.digest(got.domain) != receipt.digest(bundle.domain):
        raise ReceiptError("the service answered with another receipt than this one")
    target = to or file
    target.write_text(json.dumps(doc, indent=2) + "\n")
    if json_:
        emit_json(doc)
        return
    state = "anchored" if got.anchor else "not anchored yet"
    out.print(f"wrote {target}: {state}" + (f" (batch of {got.anchor.count}, root 0x{got.anchor.root.hex()[:16]}…)"
                                             if got.anchor else ""))
