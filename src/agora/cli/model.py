"""``agora model …``: models as paid APIs from the command line (register, serve, call, get paid),
and the value chapter of ``agora demo``.

Each command parses its options, calls one function of :mod:`agora.value` and prints its
result (``--json``: the layer's view of it, :mod:`agora.value.views`).
"""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from agora.cli.options import (
    JsonOpt,
    address_arg,
    blob_arg,
    describe_output,
    get_state,
    need_lasting_chain,
    read_file,
    readable_rows,
    stop_on_signals,
    sub_app,
    warn_embedded,
)
from agora.cli.output import earnings_table, emit_json, kv_table, note, out, progress, tokens
from agora.errors import ConfigError

if TYPE_CHECKING:
    from agora.value.channels import Channels
    from agora.value.exact import ExactPayments
    from agora.value.models import ModelRegistry
    from agora.value.service import PaidService

__all__ = [
    "app", "call", "claim", "earnings", "list_models", "print_demo_chapter", "register", "serve", "set_service",
    "show", "withdraw",
]

app = sub_app("Models on chain: register, serve as a paid API, call, get paid.")

ModelArg = Annotated[int, typer.Argument(help="The model id.", show_default=False)]
LedgerOpt = Annotated[Path | None, typer.Option(
    "--ledger", help="The service's ledger (default: one per chain, deployment and model, under "
                     "<home>/value/<chain key>/).",
    show_default=False)]


def _registry(client: Any) -> ModelRegistry:
    from agora.value.models import ModelRegistry

    return ModelRegistry(client.deployment, client.storage)


def _channels(client: Any) -> Channels:
    from agora.value.channels import Channels

    return Channels(client.deployment)


# -- the registry --------------------------------------------------------------------------------
@app.command("register")
def register(
    ctx: typer.Context,
    kind: Annotated[str, typer.Option("--kind", "-k", help="Workload kind that runs it (onnx-classify, "
                                      "embed-minilm).", show_default=False)],
    name: Annotated[str, typer.Option("--name", help="A short name.", show_default=False)],
    price: Annotated[int, typer.Option("--price", help="Price per input item, in wei of the token.",
                                       show_default=False)],
    weights: Annotated[str | None, typer.Option("--weights", "-w", help="Model file or CID (may be omitted "
                                                "for embed-minilm).", show_default=False)] = None,
    digits_demo_model: Annotated[bool, typer.Option("--digits-demo-model", help="Use the built-in digits "
                                                    "classifier as the weights (onnx-classify).")] = False,
    description: Annotated[str, typer.Option("--description", help="What it does.")] = "",
    max_items: Annotated[int, typer.Option("--max-items", min=1, help="Most input items per call.")] = 64,
    endpoint: Annotated[str | None, typer.Option("--endpoint", help="Base URL of its paid API "
                                                 "(where `agora model serve` listens).",
                                                 show_default=False)] = None,
    split: Annotated[str, typer.Option("--split", help="Revenue split, e.g. "
                                       "'owner:7000,0xADDR:2000,0xADDR:1000' (basis points).")] = "owner:10000",
    datasets: Annotated[list[int] | None, typer.Option("--dataset", help="Dataset id it was trained on "
                                                       "(repeat).", show_default=False)] = None,
    jobs: Annotated[list[int] | None, typer.Option("--job", help="Compute job id that produced it (repeat).",
                                                   show_default=False)] = None,
    parent: Annotated[int, typer.Option("--parent", help="Register a new version of this model id.")] = 0,
    json_: JsonOpt = False,
) -> None:
    """Store the weights and the model card, and register the model on chain."""
    from agora.value.models import parse_split, validate_model_source
    from agora.value.views import build_registration_view
    from agora.workloads import get_workload

    kind = get_workload(kind).kind
    shares = parse_split(split)
    st = get_state(ctx)
    client = st.client
    warn_embedded(st)
    signer = client.require_signer()
    if weights is not None and digits_demo_model:
        raise ConfigError("give --weights or --digits-demo-model, not both")
    validate_model_source(kind, weights is not None, digits_demo=digits_demo_model)  # before any work
    model_bytes = bytes(client.storage.get(blob_arg(client, weights))) if weights is not None else None
    # building the demo model (and, on the embedded chain, deploying the protocol) takes tens of seconds
    with progress("loading the protocol's contracts") as update:
        registry = _registry(client)
        update("building the digits demo model, storing it and registering it" if digits_demo_model
                      else "storing the weights and the card, registering the model")
        registration = registry.publish(
            signer, kind=kind, name=name, price=price, weights=model_bytes, digits_demo=digits_demo_model,
            description=description, max_items=max_items, endpoint=endpoint, split=shares,
            datasets=datasets or [], jobs=jobs or [], parent=parent,
        )
    data = build_registration_view(registration)
    if json_:
        emit_json(data)
        return
    out.print(kv_table(f"model {registration.model_id} registered", readable_rows(data)))


@app.command("show")
def show(ctx: typer.Context, model_id: ModelArg, json_: JsonOpt = False) -> None:
    """A model's record, card, revenue split, provenance and service key."""
    from agora.value.models import fetch_model_details
    from agora.value.views import build_model_view

    client = get_state(ctx).client
    details = fetch_model_details(_registry(client), _channels(client), model_id)
    if details.card_error is not None:
        note(f"note: {details.card_error}")
    data = build_model_view(details)
    if json_:
        emit_json(data)
        return
    rows: list[tuple[str, Any]] = list(readable_rows(
        {k: v for k, v in data.items() if k not in ("split", "provenance", "card", "datasets")}))
    rows += [("split", ", ".join(f"{s['recipient']} {s['bps'] / 100:g}%" for s in data["split"])),
             ("datasets", ", ".join(f"{d['id']} (owner {d['owner'] or 'unknown'})" for d in data["datasets"])
              or "-"),
             ("jobs", ", ".join(map(str, details.jobs)) or "-")]
    card = data["card"]
    if card is not None:
        rows += [(f"card.{k}", v) for k, v in card.items() if k not in ("schema", "input_schema", "output_schema")
                 and v not in ("", None)]
    out.print(kv_table(f"model {model_id}", rows))


@app.command("list")
def list_models(ctx: typer.Context, json_: JsonOpt = False) -> None:
    """Every registered model."""
    from rich.table import Table

    from agora.value.views import build_model_row

    rows = [build_model_row(info) for info in _registry(get_state(ctx).client).iter_models()]
    if json_:
        emit_json(rows)
        return
    t = Table("id", "owner", "version", "active", "uri", title="models", title_justify="left")
    for r in rows:
        t.add_row(str(r["id"]), r["owner"], str(r["version"]), "yes" if r["active"] else "no", r["uri"])
    out.print(t)


@app.command("set-service")
def set_service(
    ctx: typer.Context,
    model_id: ModelArg,
    address: Annotated[str, typer.Argument(help="The key that will serve the model and sign its receipts.",
                                           show_default=False)],
    json_: JsonOpt = False,
) -> None:
    """Name the key that serves a model (the owner's key can then stay offline)."""
    from eth_utils import to_checksum_address

    st = get_state(ctx)
    client = st.client
    warn_embedded(st)
    service = to_checksum_address(address_arg(client, address))
    receipt = _registry(client).set_service(model_id, service, client.require_signer())
    data = {"id": model_id, "service": service, "tx": receipt.tx_hash}
    if json_:
        emit_json(data)
    else:
        out.print(f"model {model_id} is now served by {service}")


# -- serving -------------------------------------------------------------------------------------
@app.command("serve")
def serve(
    ctx: typer.Context,
    model_id: ModelArg,
    host: Annotated[str, typer.Option("--host", help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", min=0, max=65535,
                                      help="Port to listen on (0: any free one).")] = 8402,
    ledger: LedgerOpt = None,
    claim_threshold: Annotated[int | None, typer.Option(
        "--claim-threshold", help="Claim once this many wei are unclaimed (default: 100 calls' worth).",
        show_default=False)] = None,
    sync_interval: Annotated[float, typer.Option("--sync-interval", min=0.01, help="Seconds between "
                                                 "chain syncs and claim checks.")] = 1.0,
    expiry_margin: Annotated[int, typer.Option("--expiry-margin", min=0, help="Refuse cheques of channels "
                                               "expiring within this many seconds.")] = 120,
    durable: Annotated[bool, typer.Option("--durable", help="fsync every paid call (survives power "
                                          "loss, slower).")] = False,
    facilitator: Annotated[str | None, typer.Option(
        "--facilitator", help="Base URL of an x402 facilitator whose /settle settles the exact payments "
        "(default: the service's key settles them itself).", show_default=False)] = None,
    no_exact: Annotated[bool, typer.Option("--no-exact", help="Offer only the agora-channel scheme, not "
                                           "x402's exact (EIP-3009, one transfer per call).")] = False,
    anchor_every: Annotated[float, typer.Option("--anchor-every", min=0.01, help="Seconds between anchors of "
                                                "the receipts signed since the last (also at 1,000 receipts, "
                                                "and when it stops).")] = 60.0,
    json_: JsonOpt = False,
) -> None:
    """Serve a model as a paid API until Ctrl-C or SIGTERM (then claim what it earned).

    Every call is offered for x402's ``exact`` scheme (an EIP-3009 transfer to the model's payee,
    settled before the answer) and for ``agora-channel`` (cheques on a payment channel)."""
    import logging
    import sys

    import uvicorn

    from agora.value.server import create_app
    from agora.value.service import build_paid_service

    if no_exact and facilitator is not None:
        raise ConfigError("give --facilitator or --no-exact, not both (the facilitator settles exact payments)")
    if facilitator is not None and not facilitator.startswith(("http://", "https://")):
        raise ConfigError(f"--facilitator must be an http:// or https:// URL, not {facilitator!r}")
    st = get_state(ctx)
    client = st.client
    need_lasting_chain(client, "serving a model")
    service = build_paid_service(client, model_id, ledger_path=ledger, claim_threshold=claim_threshold,
                                 expiry_margin_s=expiry_margin, durable=durable)
    if service.book is not None:
        service.book.interval_s = anchor_every
    try:
        service.sync()  # chain trouble shows here, as one line, not in the server's log
        # one line per warning, from here on: among them, why the exact scheme is off if it is
        logging.basicConfig(stream=sys.stderr, level=logging.WARNING, format="%(message)s")
        exact = None if no_exact else _exact_payments(service, facilitator)
        from agora.storage.server import bind_socket

        sock = bind_socket(host, port)
        api = create_app(service, exact=exact, background=True, sync_interval_s=sync_interval)
        server = uvicorn.Server(uvicorn.Config(api, log_level="warning"))
        # the server runs in a thread (uvicorn then leaves signals alone); this thread owns them
        thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name="agora-model-api")
        stop_on_signals(lambda: setattr(server, "should_exit", True))
        thread.start()
        while not server.started and thread.is_alive():
            thread.join(0.05)
        if not server.started:
            raise ConfigError(f"model {model_id}'s API did not start (see the log above)")
        bound = sock.getsockname()
        where = f"[{bound[0]}]" if ":" in bound[0] else bound[0]
        schemes = "exact" + (f" (settled by {facilitator})" if facilitator else "") + ", agora-channel"
        out.print(f"serving model {model_id} at http://{where}:{bound[1]} "
                  f"(chain {client.chain.chain_id}, service {service.signer.address}); "
                  f"x402 schemes: {schemes if exact is not None else 'agora-channel'}")
        while thread.is_alive():
            thread.join(0.2)
        s = service.stats
        summary: dict[str, Any] = {"model_id": model_id, "calls": s.calls, "claimed_wei": s.claimed,
                                   "unclaimed_wei": service.unclaimed()}
        if exact is not None:
            summary.update({"exact_calls": exact.settled, "swept_wei": exact.swept, "payee": exact.pay_to})
        if json_:
            emit_json(summary)
        else:
            out.print(f"stopped: {s.calls} paid call(s), {tokens(s.claimed)} claimed, "
                      f"{tokens(summary['unclaimed_wei'])} left unclaimed"
                      + (f"; {exact.settled} exact, {tokens(exact.swept)} swept into the model's pot"
                         if exact is not None else ""))
    finally:
        service.close()


def _exact_payments(service: PaidService, facilitator: str | None) -> ExactPayments | None:
    """The exact scheme for ``service`` (creating the model's payee, once per model), or None with
    one line saying why where the deployment cannot take it: a token without EIP-3009, a
    ``PaymentChannels`` without payees."""
    from agora.value.exact import build_exact_payments

    with service.chain_lock:
        try:
            new_payee = service.channels.payee_of(service.model_id) is None
        except ConfigError:
            new_payee = False  # build_exact_payments says why there is none
    try:
        exact = build_exact_payments(service, facilitator=facilitator, strict=True)
    except ConfigError as exc:
        note(f"the exact scheme is off: {exc}")
        return None
    if new_payee and exact is not None:
        note(f"created model {service.model_id}'s payee {exact.pay_to} (the exact scheme's payTo; once per model)")
    return exact


@app.command("claim")
def claim(ctx: typer.Context, model_id: ModelArg, ledger: LedgerOpt = None, json_: JsonOpt = False) -> None:
    """Claim what a model's service earned and has not claimed (safe while it serves)."""
    from agora.value.service import claim_earned
    from agora.value.views import build_claim_view

    result = claim_earned(get_state(ctx).client, model_id, ledger_path=ledger)
    if json_:
        emit_json(build_claim_view(result))
    else:
        out.print(f"claimed {tokens(result.claimed)} for model {model_id}" if result.claimed
                  else f"nothing to claim for model {model_id}")


# -- calls ---------------------------------------------------------------------------------------
@app.command("call")
def call(
    ctx: typer.Context,
    model_id: ModelArg,
    input_: Annotated[Path | None, typer.Option("--input", "-i", help="Input file: the request body "
                                                "(.npy for onnx-classify, a JSON list of texts for "
                                                "embed-minilm).", show_default=False)] = None,
    texts: Annotated[list[str] | None, typer.Option("--text", "-t", help="A text to embed (repeat; "
                                                    "embed-minilm).", show_default=False)] = None,
    budget: Annotated[int | None, typer.Option("--budget", help="Most wei to pay this model in total "
                                               "(deposits and exact payments).", show_default=False)] = None,
    endpoint: Annotated[str | None, typer.Option("--endpoint", help="Call this base URL instead of the "
                                                 "card's.", show_default=False)] = None,
    scheme: Annotated[str, typer.Option("--scheme", help="How to pay: agora-channel (a cheque on a channel, "
                                        "no transaction per call) or exact (one EIP-3009 transfer, settled "
                                        "by the service).")] = "agora-channel",
    output: Annotated[Path | None, typer.Option("--out", "-o", help="Write the raw output here.",
                                                show_default=False)] = None,
    receipt_file: Annotated[Path | None, typer.Option("--receipt", help="Write the signed receipt (JSON) "
                                                      "here.", show_default=False)] = None,
    json_: JsonOpt = False,
) -> None:
    """Call a model and pay for it; the answer comes with a signed receipt, checked here."""
    if (input_ is None) == (not texts):
        raise ConfigError("give either --input FILE or --text TEXT (repeatable)")
    inputs: bytes | list[str] = read_file(input_) if input_ is not None else list(texts or [])
    models = get_state(ctx).client.models
    result = models.call(model_id, inputs, budget=budget, endpoint=endpoint, scheme=scheme)
    receipt_doc = result.receipt.to_json(models.receipt_domain)
    if output is not None:
        _write(output, result.data)
    if receipt_file is not None:
        _write(receipt_file, (json.dumps(receipt_doc, indent=2) + "\n").encode())
    summary = _summary(result.data)
    if json_:
        emit_json({"model_id": model_id, "output": summary, "receipt": receipt_doc})
        return
    r = result.receipt
    if "labels" in summary:
        out.print(f"labels: {summary['labels']}")
    for name, t in summary.get("tensors", {}).items():
        if name != "label" or "labels" not in summary:
            out.print(f"{name}: shape {'x'.join(map(str, t['shape']))}, first values {t['head']}")
    if r.channel_id == 0:  # the exact scheme: the receipt names the authorization's nonce
        out.print(f"paid {tokens(r.amount)} by an EIP-3009 transfer (nonce {r.nonce:#066x}); "
                  "receipt signed by the model's service and checked")
    else:
        out.print(f"charged {tokens(r.amount)} on channel {hex(r.channel_id)} (nonce {r.nonce}); "
                  "receipt signed by the model's service and checked")




def _summary(blob: bytes) -> dict[str, Any]:
    """The decoded output in short, with the labels of a classifier in full."""
    summary = dict(describe_output(blob))
    if "label" in summary.get("tensors", {}):
        from agora.workloads import decode_output

        summary["labels"] = [int(x) for x in decode_output(blob).tensor("label").values.reshape(-1)]
    return summary


def _write(path: Path, data: bytes) -> None:
    try:
        path.write_bytes(data)
    except OSError as exc:
        raise ConfigError(f"cannot write {path}: {exc.strerror}") from None
    note(f"wrote {len(data)} bytes to {path}")


# -- revenue -------------------------------------------------------------------------------------
@app.command("earnings")
def earnings(
    ctx: typer.Context,
    address: Annotated[str | None, typer.Argument(help="Payee (default: your account).",
                                                  show_default=False)] = None,
    json_: JsonOpt = False,
) -> None:
    """What an address may withdraw now, and its share of every model's undistributed revenue."""
    from agora.value.revenue import fetch_earnings
    from agora.value.views import build_earnings_view

    client = get_state(ctx).client
    e = fetch_earnings(_registry(client), _channels(client), address_arg(client, address))
    if json_:
        emit_json(build_earnings_view(e))
        return
    out.print(earnings_table(e.address, e.balance, [(f"model {m.model_id}", m.bps, m.share, m.pot)
                                                    for m in e.models], e.total))


@app.command("withdraw")
def withdraw(
    ctx: typer.Context,
    model_ids: Annotated[list[int] | None, typer.Option(
        "--model", "-m", help="Distribute this model's pot first (repeat; default: every model with a "
        "non-empty pot that you share in, up to 32).", show_default=False)] = None,
    json_: JsonOpt = False,
) -> None:
    """Distribute models' revenue and withdraw your whole balance."""
    from agora.value.revenue import MAX_WITHDRAW_MODELS, withdraw_revenue
    from agora.value.views import build_withdrawal_view

    st = get_state(ctx)
    client = st.client
    warn_embedded(st)
    w = withdraw_revenue(_registry(client), _channels(client), client.require_signer(), model_ids)
    if w.left:
        note(f"note: {len(w.models) + w.left} models have revenue you share in; this withdrawal distributes the "
             f"first {MAX_WITHDRAW_MODELS}, run it again for the rest")
    if json_:
        emit_json(build_withdrawal_view(w))
    else:
        out.print(f"withdrew {tokens(w.amount)}" + (f" (distributed model(s) {', '.join(map(str, w.models))})"
                                                if w.models else ""))


# -- agora demo ----------------------------------------------------------------------------------
def print_demo_chapter(v: dict[str, Any], symbol: str, number: int) -> None:
    """Print the value chapter of ``agora demo`` (``agora.value.demo``'s summary) as chapter ``number``."""
    from rich.table import Table

    from agora.units import format_amount

    out.print(f"\n[bold]{number}. a model as an economic actor[/bold] — model {v['model_id']} (digits classifier) "
              "registered with a three-way split, served as a paid API at "
              f"{format_amount(v['price_wei'], symbol=symbol)} a call")
    datasets = v.get("datasets", [])
    if datasets:
        trained_on = "; ".join(f"dataset {d['id']}, owned by {d['owner']}" for d in datasets) + \
            " (checked on chain at registration; its lineage reads the owner from the dataset registry)"
    else:
        trained_on = "no dataset (the data chapter did not run)"
    out.print(kv_table("", [
        ("trained on", trained_on),
        ("paid calls", f"{v['calls']} from two clients over HTTP (x402 v2 agora-channel, EIP-712 cheques), "
                       f"{v['calls_per_s']} calls/s; {v['chain_reads_while_serving']} chain reads while serving"),
        ("exact", f"{v['exact_calls']} call paid with x402 exact (an EIP-3009 transfer to the model's payee, "
                  "settled before the answer)"),
        ("receipts", f"{v['receipts_checked']} signed by the service, checked by the clients; "
                     f"{v.get('receipts_anchored', 0)} anchored under one Merkle root on chain"),
        ("settled", f"{format_amount(v['earned_wei'], symbol=symbol)} in {v['claim_transactions']} batched claim, "
                    f"{format_amount(v['exact_paid_wei'], symbol=symbol)} swept from the payee: "
                    f"{format_amount(v['revenue_wei'], symbol=symbol)} split"),
    ]))
    st = Table("recipient", "share", "withdrawn (wei)", box=None, pad_edge=False)
    for r in v["split"]:
        st.add_row(r["recipient"], f"{r['bps'] / 100:.0f}%", f"{r['withdrawn_wei']:,}")
    out.print(st)
    out.print(kv_table("", [("reconciled", "shares add up to the claimed total, to the wei; "
                                          "deposits = claimed + still in the channels")]))
    if "tournament" in v:
        from agora.cli.tournament import print_tournament_story

        print_tournament_story(v["tournament"], symbol)
