"""``agora data …``: datasets as paid goods from the command line (publish, price, buy, order,
download, serve them from an access node, get paid).

Each command parses its options, calls one method of the data layer's facade
(:class:`agora.data.client.DatasetsClient`) and prints its result (``--json``: the layer's view).
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from agora.cli.options import (
    JsonOpt,
    address_arg,
    amount_arg,
    get_state,
    need_lasting_chain,
    readable_rows,
    stop_on_signals,
    sub_app,
    validate_address,
    warn_embedded,
)
from agora.cli.output import earnings_table, emit_json, kv_table, note, out, progress, tokens
from agora.errors import ConfigError

if TYPE_CHECKING:
    from agora.data.client import DatasetsClient

__all__ = [
    "add_file", "app", "buy", "download", "earnings", "list_datasets", "order", "price", "publish", "serve", "show",
    "withdraw",
]

app = sub_app("Datasets on chain: publish, price, buy, order, download, serve, get paid.")

DatasetArg = Annotated[int, typer.Argument(min=1, help="The dataset id.", show_default=False)]
NodeOpt = Annotated[str, typer.Option("--node", help="Base URL of the dataset's access node "
                                      "(where `agora data serve` listens).", show_default=False)]
HomeOpt = Annotated[Path | None, typer.Option(
    "--home", help="The access node's home: its key, encrypted files and state (default: "
                   "<AGORA_HOME>/data/<chain key>/node).", show_default=False)]


def _data(ctx: typer.Context) -> DatasetsClient:
    client = get_state(ctx).client
    facade: DatasetsClient = client.data
    return facade


def _mount_compute() -> None:
    """``agora data compute …``, ``agora data algorithm …`` and ``agora data budget``."""
    from agora.cli.data_compute import algorithm_app, budget, compute_app

    app.add_typer(compute_app, name="compute")
    app.add_typer(algorithm_app, name="algorithm")
    app.command("budget")(budget)


_mount_compute()




def _datatokens(units: int) -> str:
    """Datatoken units for people (``1.5 datatokens``): 10**18 units are one, which one order spends."""
    from agora.units import format_amount

    return format_amount(units) + " datatoken" + ("" if units == 10**18 else "s")


def _rows(doc: dict[str, Any]) -> list[tuple[str, Any]]:
    """A dataset's view as rows for people: datatoken amounts as datatokens (not the payment
    token), an order's timeout as a duration, no market when there is none."""
    from agora.data.registry import OWNER

    rows: list[tuple[str, Any]] = []
    for key, value in doc.items():
        if key in ("dispenser_cap_wei", "amount_wei", "balance_wei") and isinstance(value, int):
            rows.append((key.removesuffix("_wei").replace("_", " "), _datatokens(value)))
        elif key == "timeout_s":
            rows.append(("an order lasts", "forever" if not value else f"{value:,} s"))
        elif key not in ("market", "market_fee_wei") or doc.get("market") != OWNER:
            rows += readable_rows({key: value})
    return rows


def _url(text: str) -> str:
    if not text.startswith(("http://", "https://")):
        raise ConfigError(f"--node must be an http:// or https:// URL, not {text!r}")
    return text


# -- publishing ----------------------------------------------------------------------------------
@app.command("publish")
def publish(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(help="The dataset's content (one file).", show_default=False)],
    name: Annotated[str, typer.Option("--name", help="A short name.", show_default=False)],
    description: Annotated[str, typer.Option("--description", help="What it holds.")] = "",
    license_: Annotated[str, typer.Option("--license", help="Its license (an SPDX id or a URL).")] = "",
    price: Annotated[str, typer.Option("--price", help="Price of one datatoken (one order), e.g. 1.5 "
                                       "(tokens) or 10wei; 0: not for sale.")] = "0",
    payment_token: Annotated[str | None, typer.Option("--payment-token", help="ERC-20 the price is in "
                                                      "(default: the protocol token).", show_default=False)] = None,
    dispenser_cap: Annotated[str, typer.Option("--dispenser-cap", help="Datatokens anyone may take free, "
                                               "per address (e.g. 1).")] = "0",
    initial_supply: Annotated[str, typer.Option("--initial-supply", help="Datatokens minted to you.")] = "0",
    split: Annotated[str, typer.Option("--split", help="Revenue split, e.g. 'owner:7000,0xADDR:3000' "
                                       "(basis points).")] = "owner:10000",
    timeout: Annotated[int, typer.Option("--timeout", min=0, help="Seconds an order lasts (0: forever).")] = 0,
    schema: Annotated[Path | None, typer.Option("--schema", help="A JSON file describing the content "
                                                "(its fields, types…).", show_default=False)] = None,
    sample: Annotated[Path | None, typer.Option("--sample", help="A free sample file (stored by CID, "
                                                "named in the card).", show_default=False)] = None,
    symbol: Annotated[str, typer.Option("--symbol", help="The datatoken's symbol (up to 16 bytes).")] = "",
    add: Annotated[bool, typer.Option("--add/--no-add", help="Also hand the file to your local access node "
                                      "(its --home must not be serving).")] = False,
    from_model: Annotated[int | None, typer.Option("--from-model", min=1, help="Made by this model version "
                                                   "(its outputs published as data).", show_default=False)] = None,
    from_job: Annotated[list[int] | None, typer.Option("--from-job", min=1, help="Made by this compute job "
                                                       "(repeat).", show_default=False)] = None,
    from_dataset: Annotated[list[int] | None, typer.Option("--from-dataset", min=1, help="Derived from this "
                                                           "dataset (repeat).", show_default=False)] = None,
    evidence: Annotated[Path | None, typer.Option("--evidence", help="A file that shows it (e.g. the paid "
                                                  "calls' receipts): stored by CID, its digest recorded with "
                                                  "--from-model.", show_default=False)] = None,
    home: HomeOpt = None,
    json_: JsonOpt = False,
) -> None:
    """Store the dataset card and publish the dataset (an ERC-721 with its datatoken) in one transaction
    (and, with --from-…, record in a second what it was made from)."""
    import json

    from agora.cli.options import read_file
    from agora.data.client import parse_split

    shares = parse_split(split)
    price_wei, cap, supply = amount_arg(price), amount_arg(dispenser_cap), amount_arg(initial_supply)
    token = validate_address(payment_token) if payment_token is not None else None
    if not file.is_file():
        raise ConfigError(f"{file} is not a file")
    doc: dict[str, Any] = {}
    if schema is not None:
        try:
            doc = json.loads(read_file(schema))
        except ValueError:
            raise ConfigError(f"{schema} is not JSON") from None
        if not isinstance(doc, dict):
            raise ConfigError(f"{schema} must hold a JSON object")
    if evidence is not None and from_model is None:
        raise ConfigError("--evidence goes with --from-model (the calls or runs of that model it shows)")
    if evidence is not None and not evidence.is_file():
        raise ConfigError(f"--evidence {evidence} is not a file")
    st = get_state(ctx)
    warn_embedded(st)
    data = _data(ctx)
    sources = [data.source("model", from_model, evidence=evidence)] if from_model is not None else []
    sources += [data.source("job", j) for j in from_job or []]
    sources += [data.source("dataset", d) for d in from_dataset or []]
    with progress(f"publishing {file}") as update:
        pub = data.publish(
            file, name=name, description=description, license=license_, price=price_wei, payment_token=token,
            dispenser_cap=cap, split=shares, timeout=timeout, initial_supply=supply, schema=doc,
            sample=sample, symbol=symbol, node_home=(home or data.node_home()) if add else None,
            sources=sources, progress=update,
        )
    made_from = [{"kind": data.source_kind(src), **src.to_json()} for src in sources]
    view: dict[str, Any] = {
            "id": pub.dataset_id, "card_cid": pub.card_cid, "content_hash": "0x" + pub.content_hash.hex(),
            "size": pub.card.size, "datatoken": pub.datatoken, "price_wei": price_wei, "tx": pub.tx,
            "access_node_home": str(pub.node_home) if pub.node_home else None,
            "sources": made_from}
    if json_:
        emit_json(view)
        return
    view_rows = readable_rows({k: v for k, v in view.items() if k != "sources"})
    if sources:
        view_rows.append(("made from", _sources_text(made_from)))
    out.print(kv_table(f"dataset {pub.dataset_id} published", view_rows))


def _sources_text(sources: list[dict[str, Any]]) -> str:
    """``model 3 (evidence bafk…), job 7, dataset 1``."""
    return ", ".join(f"{s['kind']} {s['id']}" + (f" (evidence {s['evidence']})" if s["evidence"] else "")
                     + ("" if s["kind"] != "contract" else f" at {s['registry']}") for s in sources)


@app.command("add-file")
def add_file(
    ctx: typer.Context,
    dataset_id: DatasetArg,
    file: Annotated[Path, typer.Argument(help="The dataset's content (its hash must be the chain's).",
                                         show_default=False)],
    home: HomeOpt = None,
    json_: JsonOpt = False,
) -> None:
    """Hand a dataset's file to your local access node (encrypted in its home; stop the node first)."""
    data = _data(ctx)
    with progress(f"checking and encrypting {file}"):
        digest = data.add_file(dataset_id, file, home=home)
    view = {"id": dataset_id, "content_hash": "0x" + digest.hex(), "home": str(home or data.node_home())}
    if json_:
        emit_json(view)
    else:
        out.print(f"dataset {dataset_id}'s file is in the access node at {view['home']} "
                  f"(content hash {view['content_hash']})")


# -- reading ------------------------------------------------------------------------------------
@app.command("show")
def show(ctx: typer.Context, dataset_id: DatasetArg, json_: JsonOpt = False) -> None:
    """A dataset's record, revenue split and card."""
    view = _data(ctx).show(dataset_id)
    if view.card_error is not None:
        note(f"note: {view.card_error}")
    doc = view.to_json()
    if json_:
        emit_json(doc)
        return
    rows = _rows({k: v for k, v in doc.items() if k not in ("split", "card", "sources", "compute")})
    rows.append(("split", ", ".join(f"{s['recipient']} {s['bps'] / 100:g}%" for s in doc["split"])))
    if doc["sources"]:
        rows.append(("made from", _sources_text(doc["sources"])))
    c = doc.get("compute") or {}
    if c.get("node"):
        rows.append(("compute-to-data", f"node {c['node']}; privacy budget epsilon {c['epsilon_spent']:g} spent of "
                                        f"{c['epsilon_budget']:g}"))
    if doc["card"] is not None:
        rows += [(f"card.{k}", v) for k, v in doc["card"].items()
                 if k not in ("schema", "content_hash") and v not in ("", None, {})]
    out.print(kv_table(f"dataset {dataset_id}", rows))


@app.command("list")
def list_datasets(ctx: typer.Context, json_: JsonOpt = False) -> None:
    """Every published dataset."""
    from rich.table import Table

    from agora.data.registry import OWNER

    rows: list[dict[str, Any]] = [
        {"id": i.id, "owner": i.owner, "for_sale": i.payment_token != OWNER, "price_wei": i.price,
         "content_hash": "0x" + i.content_hash.hex()} for i in _data(ctx).list()]
    if json_:
        emit_json(rows)
        return
    t = Table("id", "owner", "price", "content hash", title="datasets", title_justify="left")
    for r in rows:
        t.add_row(str(r["id"]), r["owner"], tokens(r["price_wei"]) if r["for_sale"] else "not for sale",
                  r["content_hash"])
    out.print(t)


@app.command("price")
def price(
    ctx: typer.Context,
    dataset_id: DatasetArg,
    amount: Annotated[str, typer.Option("--amount", help="Datatokens to price (e.g. 2).")] = "1",
    json_: JsonOpt = False,
) -> None:
    """What datatokens of a dataset, and one order, cost now."""
    p = _data(ctx).price(dataset_id, amount_arg(amount))
    if json_:
        emit_json(p.to_json())
        return
    if not p.for_sale:
        out.print(f"dataset {dataset_id} is not for sale"
                  + (f"; its dispenser gives up to {_datatokens(p.dispenser_cap)} per address free"
                     if p.dispenser_cap else ""))
        return
    out.print(kv_table(f"dataset {dataset_id}", _rows({k: v for k, v in p.to_json().items() if k != "dataset_id"})))


# -- buying and ordering ---------------------------------------------------------------------------
@app.command("buy")
def buy(
    ctx: typer.Context,
    dataset_id: DatasetArg,
    amount: Annotated[str, typer.Option("--amount", help="Datatokens to buy (e.g. 1; one order spends one).")] = "1",
    max_price: Annotated[str | None, typer.Option("--max-price", help="Refuse a price per datatoken above this.",
                                                  show_default=False)] = None,
    json_: JsonOpt = False,
) -> None:
    """Buy datatokens of a dataset at its fixed price."""
    units = amount_arg(amount)
    limit = amount_arg(max_price) if max_price is not None else None
    warn_embedded(get_state(ctx))
    data = _data(ctx)
    tx = data.buy(dataset_id, units, max_price=limit)
    view: dict[str, Any] = {"id": dataset_id, "amount_wei": units, "balance_wei": data.balance(dataset_id), "tx": tx}
    if json_:
        emit_json(view)
    else:
        out.print(f"bought {_datatokens(units)} of dataset {dataset_id}; you hold {_datatokens(view['balance_wei'])}")


@app.command("order")
def order(
    ctx: typer.Context,
    dataset_id: DatasetArg,
    node: NodeOpt,
    consumer: Annotated[str | None, typer.Option("--consumer", help="Who may download (default: you).",
                                                 show_default=False)] = None,
    max_price: Annotated[str | None, typer.Option("--max-price", help="Refuse a price per datatoken above "
                                                  "this (when one is bought).", show_default=False)] = None,
    json_: JsonOpt = False,
) -> None:
    """Order a dataset from its access node: spends one datatoken (bought in the same transaction if
    you hold none)."""
    url = _url(node)
    limit = amount_arg(max_price) if max_price is not None else None
    st = get_state(ctx)
    who = address_arg(st.client, consumer)
    warn_embedded(st)
    with progress(f"asking {url} for a quote and ordering"):
        result = _data(ctx).order(dataset_id, node_url=url, consumer=who, max_price=limit)
    if json_:
        emit_json(result.to_json())
    else:
        from agora.data.registry import order_id_hex

        fee = (f"provider fee {result.provider_fee:,} units of {result.fee_token} to {result.provider}"
               if result.provider_fee else "no provider fee")
        out.print(f"order {order_id_hex(result.order_id)} of dataset {dataset_id} for {result.consumer} "
                  f"(datatoken {result.how}; {fee})")


@app.command("download")
def download(
    ctx: typer.Context,
    dataset_id: DatasetArg,
    node: NodeOpt,
    output: Annotated[Path, typer.Option("--out", "-o", help="Where to write the content.", show_default=False)],
    json_: JsonOpt = False,
    order_id: Annotated[str | None, typer.Argument(help="Your order's id, as `agora data order` printed it "
                                                   "(0x…); default: your latest order of the dataset.",
                                                   show_default=False)] = None,
) -> None:
    """Download a dataset you ordered, every chunk checked against the content hash on chain."""
    from agora.data.registry import order_id_hex, parse_order_id

    url = _url(node)
    oid = parse_order_id(order_id) if order_id is not None else None
    data = _data(ctx)
    with progress(f"downloading dataset {dataset_id}") as update:
        last = [-1]

        def report(done: int, total: int) -> None:
            step = done * 10 // total if total else 10
            if step != last[0]:
                last[0] = step
                update(f"{done:,} of {total:,} bytes")

        result = data.download(dataset_id, oid, output, node_url=url, progress=report)
    view = {"id": dataset_id, "order_id": order_id_hex(result.order_id), "out": str(result.path), "size": result.size,
            "content_hash": "0x" + result.content_hash.hex(), "resumes": result.resumes}
    if json_:
        emit_json(view)
    else:
        out.print(f"downloaded dataset {dataset_id} to {result.path} ({result.size:,} bytes, content hash "
                  f"{view['content_hash']} checked)")


# -- serving -----------------------------------------------------------------------------------------
@app.command("serve")
def serve(
    ctx: typer.Context,
    host: Annotated[str, typer.Option("--host", help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", min=0, max=65535, help="Port to listen on (0: any free one).")] = 8500,
    home: HomeOpt = None,
    add: Annotated[list[str] | None, typer.Option("--add", help="Hand a file to the node first: DATASET_ID=PATH "
                                                  "(repeat).", show_default=False)] = None,
    fee: Annotated[str, typer.Option("--fee", help="The node's fee per order, in tokens (e.g. 0.01): quoted, "
                                     "signed by the node key, paid to it by each order (0: free quotes).")] = "0",
    fee_token: Annotated[str | None, typer.Option("--fee-token", help="The fee's ERC-20 (default: the protocol "
                                                  "token).", show_default=False)] = None,
    quote_ttl: Annotated[int, typer.Option("--quote-ttl", min=10, max=86_400,
                                           help="Seconds a quote may be used.")] = 600,
    compute: Annotated[bool, typer.Option("--compute/--no-compute", help="Also run compute-to-data jobs (in the "
                                          "sandbox; refused where bubblewrap cannot run).")] = False,
    json_: JsonOpt = False,
) -> None:
    """Run an access node: serve datasets' bytes to holders of valid orders until Ctrl-C or SIGTERM."""
    import logging
    import sys

    import uvicorn

    from agora.data.access import create_access_app
    from agora.storage.server import bind_socket

    files = [_file_arg(a) for a in add or []]
    fee_units = amount_arg(fee)
    st = get_state(ctx)
    client = st.client
    token = address_arg(client, fee_token) if fee_token is not None else None
    need_lasting_chain(client, "serving datasets")
    data = _data(ctx)
    if token is None:
        token = data.registry.dep.token.address
    # the home's lock: a second node on it is refused here
    node = data.open_node(home, fee_token=token, fee_amount=fee_units, quote_ttl_s=quote_ttl)
    try:
        for dataset_id, path in files:
            digest = data.add_file(dataset_id, path, node=node)
            note(f"dataset {dataset_id}: {path} added (content hash 0x{digest.hex()})")
        logging.basicConfig(stream=sys.stderr, level=logging.WARNING, format="%(message)s")
        c2d = _compute_node(client, node) if compute else None
        sock = bind_socket(host, port)
        server = uvicorn.Server(uvicorn.Config(create_access_app(node, c2d=c2d), log_level="warning"))
        thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name="agora-access-node")
        stop_on_signals(lambda: setattr(server, "should_exit", True))
        thread.start()
        while not server.started and thread.is_alive():
            thread.join(0.05)
        if not server.started:
            raise ConfigError("the access node did not start (see the log above)")
        bound = sock.getsockname()
        where = f"[{bound[0]}]" if ":" in bound[0] else bound[0]
        out.print(f"serving datasets at http://{where}:{bound[1]} (chain {client.chain.chain_id}, "
                  f"node {node.signer.address}, home {node.home})")
        if fee_units:
            note(f"fee per order: {fee_units:,} units of {token}, quotes valid {quote_ttl} s")
        while thread.is_alive():
            thread.join(0.2)
        if json_:
            emit_json({"stopped": True, "home": str(node.home)})
        else:
            out.print("stopped")
    finally:
        node.close()


def _compute_node(client: Any, node: Any) -> Any:
    """The access node's compute-to-data side: checks on chain, the sandbox, the privacy ledger;
    jobs accepted before a restart run again. Refused (one line) where the sandbox cannot run."""
    from agora.data.c2d import C2DNode, ChainCompute
    from agora.data.privacy import PrivacyLedger
    from agora.workloads.sandbox import sandbox_available

    ok, why = sandbox_available()
    if not ok:
        raise ConfigError(f"compute-to-data needs the sandbox, which cannot run here: {why}",
                          hint="serve without --compute, or install bubblewrap (`make setup` does)")
    c2d = C2DNode(node, ChainCompute(client.deployment, node.signer, receipts=node.home / "c2d-receipts.sqlite"),
                  ledger=PrivacyLedger(node.home))
    again = c2d.recover()
    if again:
        note(f"compute-to-data: running {len(again)} job(s) accepted before the restart again")
    return c2d


def _file_arg(text: str) -> tuple[int, Path]:
    ident, sep, path = text.partition("=")
    if not sep or not ident.strip().isdigit() or not path:
        raise ConfigError(f"--add {text!r} must be DATASET_ID=PATH")
    if not Path(path).is_file():
        raise ConfigError(f"--add {text!r}: {path} is not a file")
    return int(ident), Path(path)


# -- revenue -------------------------------------------------------------------------------------
@app.command("earnings")
def earnings(
    ctx: typer.Context,
    address: Annotated[str | None, typer.Argument(help="Payee (default: your account).", show_default=False)] = None,
    json_: JsonOpt = False,
) -> None:
    """What an address may withdraw now, and its share of every dataset's revenue not yet split."""
    client = get_state(ctx).client
    e = _data(ctx).earnings(address_arg(client, address))
    if json_:
        emit_json(e.to_json())
        return
    out.print(earnings_table(e.address, e.balance, [(f"dataset {d.dataset_id}", d.bps, d.share, d.pot)
                                                    for d in e.datasets], e.total))


@app.command("withdraw")
def withdraw(ctx: typer.Context, json_: JsonOpt = False) -> None:
    """Split the revenue of the datasets you share in and withdraw your whole balance."""
    warn_embedded(get_state(ctx))
    amount, datasets = _data(ctx).withdraw()
    if json_:
        emit_json({"withdrawn_wei": amount, "datasets": datasets})
    elif amount == 0:
        out.print("nothing to withdraw")
    else:
        out.print(f"withdrew {tokens(amount)}"
                  + (f" (split dataset(s) {', '.join(map(str, datasets))})" if datasets else ""))
