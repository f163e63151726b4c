"""``agora model …`` and ``agora receipt …``: models as paid APIs from the command line."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer

from agora.cli.commands import (
    acting_signer,
    address_arg,
    blob_arg,
    describe_output,
    need_lasting_chain,
    read_file,
    stop_on_signals,
)
from agora.cli.output import emit_json, kv_table, note, out
from agora.errors import ConfigError

JsonOpt = Annotated[bool, typer.Option("--json", help="Print the result as JSON.")]
ModelArg = Annotated[int, typer.Argument(help="The model id.", show_default=False)]
LedgerOpt = Annotated[Path | None, typer.Option(
    "--ledger", help="The service's ledger (default: <home>/value/serve-<chain id>-<channels>-<model id>.sqlite).",
    show_default=False)]

#: Models a withdrawal distributes at most (the contract's limit).
MAX_WITHDRAW_MODELS = 32
_BPS = 10_000


def register(app: typer.Typer, get_state: Callable[..., Any], warn_embedded: Callable[..., None]) -> None:
    """Attach ``model`` and ``receipt`` to ``app``."""
    model_app = typer.Typer(help="Models on chain: register, serve as a paid API, call, get paid.",
                            no_args_is_help=True)
    receipt_app = typer.Typer(help="Receipts of paid model calls.", no_args_is_help=True)
    channel_app = typer.Typer(help="Your payment channels: list them, take back what is left.",
                              no_args_is_help=True)
    app.add_typer(model_app, name="model")
    app.add_typer(receipt_app, name="receipt")
    app.add_typer(channel_app, name="channel")

    # -- registry ------------------------------------------------------------------------
    @model_app.command("register")
    def model_register(
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
        max_items: Annotated[int, typer.Option("--max-items", help="Most input items per call.")] = 64,
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
        from agora.value.models import ModelRegistry, parse_split
        from agora.workloads import get_workload

        workload = get_workload(kind)
        shares = parse_split(split)
        st = get_state(ctx)
        client = st.client
        warn_embedded(st)
        signer = acting_signer(client)
        model_bytes = _model_bytes(client, workload.kind, weights, digits_demo_model)
        card = _card(
            name=name, description=description, kind=workload.kind, weights_cid=client.storage.put(model_bytes),
            weights_hash="0x" + workload.weights_hash(model_bytes).hex(), price=price, max_items=max_items,
            endpoint=endpoint.rstrip("/") if endpoint else None,
        )
        reg = ModelRegistry(client.deployment, client.storage)
        model_id, receipt = reg.register(card, signer, split=shares, datasets=datasets or [], jobs=jobs or [],
                                         parent=parent)
        info = reg.get(model_id)
        data = {
            "id": model_id, "name": card.name, "kind": card.kind, "owner": info.owner, "version": info.version,
            "price_wei": card.price, "weights_cid": card.weights_cid, "weights_hash": card.weights_hash,
            "card_cid": info.card_cid, "uri": info.uri, "tx": receipt.tx_hash,
        }
        if json_:
            emit_json(data)
            return
        out.print(kv_table(f"model {model_id} registered", list(data.items())))

    @model_app.command("show")
    def model_show(ctx: typer.Context, model_id: ModelArg, json_: JsonOpt = False) -> None:
        """A model's record, card, revenue split, provenance and service key."""
        from agora.value.channels import Channels

        client = get_state(ctx).client
        reg = _registry(client)
        info = reg.get(model_id)
        card: dict[str, Any] | None = None
        try:
            card = reg.fetch_card(model_id, info).model_dump(by_alias=True)
        except ConfigError as exc:
            note(f"note: {exc}")
        datasets, jobs, parent = reg.provenance(model_id)
        data = {
            "id": model_id, "owner": info.owner, "service": reg.service_of(model_id), "active": info.active,
            "version": info.version, "parent": info.parent, "root": info.root, "registered_at": info.registered_at,
            "card_cid": info.card_cid, "weights_hash": "0x" + info.weights_hash.hex(), "uri": info.uri,
            "split": [{"recipient": s.recipient, "bps": s.bps} for s in reg.split(model_id, resolved=True)],
            "provenance": {"datasets": datasets, "jobs": jobs, "parent": parent},
            "pot_wei": Channels(client.deployment).pot(model_id),
            "card": card,
        }
        if json_:
            emit_json(data)
            return
        rows = [(k, v) for k, v in data.items() if k not in ("split", "provenance", "card")]
        rows += [("split", ", ".join(f"{s['recipient']} {s['bps'] / 100:g}%" for s in data["split"])),
                 ("datasets", datasets or "-"), ("jobs", jobs or "-")]
        if card is not None:
            rows += [(f"card.{k}", v) for k, v in card.items() if k not in ("schema", "input_schema", "output_schema")
                     and v not in ("", None)]
        out.print(kv_table(f"model {model_id}", rows))

    @model_app.command("list")
    def model_list(ctx: typer.Context, json_: JsonOpt = False) -> None:
        """Every registered model."""
        from rich.table import Table

        client = get_state(ctx).client
        reg = _registry(client)
        rows = []
        for model_id in _model_ids(reg):
            info = reg.get(model_id)
            rows.append({"id": model_id, "owner": info.owner, "version": info.version, "parent": info.parent,
                         "active": info.active, "uri": info.uri})
        if json_:
            emit_json(rows)
            return
        t = Table("id", "owner", "version", "active", "uri", title="models", title_justify="left")
        for r in rows:
            t.add_row(str(r["id"]), r["owner"], str(r["version"]), "yes" if r["active"] else "no", r["uri"])
        out.print(t)

    @model_app.command("set-service")
    def model_set_service(
        ctx: typer.Context,
        model_id: ModelArg,
        address: Annotated[str, typer.Argument(help="The key that will serve the model and sign its receipts.",
                                               show_default=False)],
        json_: JsonOpt = False,
    ) -> None:
        """Name the key that serves a model (the owner's key can then stay offline)."""
        st = get_state(ctx)
        client = st.client
        warn_embedded(st)
        reg = _registry(client)
        reg.get(model_id)
        receipt = reg.set_service(model_id, address_arg(client, address), acting_signer(client))
        data = {"id": model_id, "service": reg.service_of(model_id), "tx": receipt.tx_hash}
        if json_:
            emit_json(data)
        else:
            out.print(f"model {model_id} is now served by {data['service']}")

    # -- serving ---------------------------------------------------------------------------
    @model_app.command("serve")
    def model_serve(
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
    ) -> None:
        """Serve a model as a paid API until Ctrl-C or SIGTERM (then claim what it earned)."""
        import logging
        import sys

        import uvicorn

        from agora.value.server import create_app

        st = get_state(ctx)
        client = st.client
        need_lasting_chain(client, "serving a model")
        service = _paid_service(st, model_id, ledger, claim_threshold=claim_threshold,
                                expiry_margin_s=expiry_margin, durable=durable)
        try:
            service.sync()  # chain trouble shows here, as one line, not in the server's log
            sock = _listen(host, port)
            logging.basicConfig(stream=sys.stderr, level=logging.WARNING, format="%(message)s")
            app = create_app(service, background=True, sync_interval_s=sync_interval)
            server = uvicorn.Server(uvicorn.Config(app, log_level="warning"))
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
            out.print(f"serving model {model_id} at http://{where}:{bound[1]} "
                      f"(chain {client.chain.chain_id}, service {service.signer.address})")
            while thread.is_alive():
                thread.join(0.2)
            s = service.stats
            out.print(f"stopped: {s.calls} paid call(s), {s.claimed} wei claimed, "
                      f"{service.unclaimed()} wei left unclaimed")
        finally:
            service.close()

    @model_app.command("claim")
    def model_claim(ctx: typer.Context, model_id: ModelArg, ledger: LedgerOpt = None, json_: JsonOpt = False) -> None:
        """Claim what a model's service earned and has not claimed (safe while it serves)."""
        st = get_state(ctx)
        service = _paid_service(st, model_id, ledger)
        try:
            service.sync()
            amount = service.claim(force=True)
            left = service.unclaimed()
        finally:
            service.close()
        if json_:
            emit_json({"model_id": model_id, "claimed_wei": amount, "unclaimed_wei": left})
        else:
            out.print(f"claimed {amount} wei for model {model_id}" if amount
                      else f"nothing to claim for model {model_id}")

    # -- calls -------------------------------------------------------------------------------
    @model_app.command("call")
    def model_call(
        ctx: typer.Context,
        model_id: ModelArg,
        input_: Annotated[Path | None, typer.Option("--input", "-i", help="Input file: the request body "
                                                    "(.npy for onnx-classify, a JSON list of texts for "
                                                    "embed-minilm).", show_default=False)] = None,
        texts: Annotated[list[str] | None, typer.Option("--text", "-t", help="A text to embed (repeat; "
                                                        "embed-minilm).", show_default=False)] = None,
        budget: Annotated[int | None, typer.Option("--budget", help="Most wei to deposit to this model in "
                                                   "total.", show_default=False)] = None,
        endpoint: Annotated[str | None, typer.Option("--endpoint", help="Call this base URL instead of the "
                                                     "card's.", show_default=False)] = None,
        output: Annotated[Path | None, typer.Option("--out", "-o", help="Write the raw output here.",
                                                    show_default=False)] = None,
        receipt_file: Annotated[Path | None, typer.Option("--receipt", help="Write the signed receipt (JSON) "
                                                          "here.", show_default=False)] = None,
        json_: JsonOpt = False,
    ) -> None:
        """Call a model and pay for it; the answer comes with a signed receipt, checked here."""
        if (input_ is None) == (not texts):
            raise ConfigError("give either --input FILE or --text TEXT (repeatable)")
        inputs: Any = read_file(input_) if input_ is not None else list(texts or [])
        st = get_state(ctx)
        client = st.client
        models = client.models
        result = models.call(model_id, inputs, budget=budget, endpoint=endpoint)
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
        out.print(f"charged {r.amount} wei on channel {r.channel_id} (nonce {r.nonce}); "
                  "receipt signed by the model's service and checked")

    # -- revenue -------------------------------------------------------------------------------
    @model_app.command("earnings")
    def model_earnings(
        ctx: typer.Context,
        address: Annotated[str | None, typer.Argument(help="Payee (default: your account).",
                                                      show_default=False)] = None,
        json_: JsonOpt = False,
    ) -> None:
        """What an address may withdraw now, and its share of every model's undistributed revenue."""
        client = get_state(ctx).client
        who = address_arg(client, address)
        balance, pending = _earnings(client, who)
        data = {
            "address": who, "balance_wei": balance,
            "models": [{"model_id": m, "bps": b, "pot_wei": p, "share_wei": s} for m, b, p, s in pending],
            "total_wei": balance + sum(s for *_, s in pending),
        }
        if json_:
            emit_json(data)
            return
        rows: list[tuple[str, Any]] = [("withdrawable now", f"{balance} wei")]
        rows += [(f"model {m} ({b / 100:g}%)", f"{s} wei of a {p} wei pot") for m, b, p, s in pending]
        rows.append(("total", f"{data['total_wei']} wei"))
        out.print(kv_table(f"earnings of {who}", rows))

    @model_app.command("withdraw")
    def model_withdraw(
        ctx: typer.Context,
        model_ids: Annotated[list[int] | None, typer.Option(
            "--model", "-m", help="Distribute this model's pot first (repeat; default: every model with a "
            "non-empty pot that you share in, up to 32).", show_default=False)] = None,
        json_: JsonOpt = False,
    ) -> None:
        """Distribute models' revenue and withdraw your whole balance."""
        from agora.value.channels import Channels

        st = get_state(ctx)
        client = st.client
        warn_embedded(st)
        signer = acting_signer(client)
        if model_ids and len(model_ids) > MAX_WITHDRAW_MODELS:
            raise ConfigError(f"a withdrawal distributes at most {MAX_WITHDRAW_MODELS} models, got {len(model_ids)}")
        balance, pending = _earnings(client, signer.address, only=model_ids)
        owed = {m: s for m, _, pot, s in pending if pot}
        if model_ids:
            chosen = list(dict.fromkeys(model_ids))
        else:
            chosen = list(owed)[:MAX_WITHDRAW_MODELS]
            if len(owed) > MAX_WITHDRAW_MODELS:
                note(f"note: {len(owed)} models have revenue you share in; this withdrawal distributes the first "
                     f"{MAX_WITHDRAW_MODELS}, run it again for the rest")
        if balance + sum(owed.get(m, 0) for m in chosen) == 0:
            raise ConfigError(f"{signer.address} has nothing to withdraw",
                              hint="revenue reaches the pot once a model's service claims it "
                                   "(`agora model claim`)")
        amount = Channels(client.deployment).withdraw(signer, chosen)
        if json_:
            emit_json({"address": signer.address, "withdrawn_wei": amount, "models": chosen})
        else:
            out.print(f"withdrew {amount} wei" + (f" (distributed model(s) {', '.join(map(str, chosen))})"
                                                  if chosen else ""))

    # -- receipts ----------------------------------------------------------------------------------
    @receipt_app.command("list")
    def receipt_list(
        ctx: typer.Context,
        model_id: Annotated[int | None, typer.Option("--model", "-m", help="Only this model's.",
                                                     show_default=False)] = None,
        json_: JsonOpt = False,
    ) -> None:
        """The receipts kept for your paid calls (each checked when it arrived)."""
        client = get_state(ctx).client
        receipts = client.models.receipts(model_id)
        if json_:
            emit_json({"receipts": [r.to_json(client.models.receipt_domain) for r in receipts]})
            return
        if not receipts:
            note("no receipts kept for this account on this chain")
            return
        from rich.table import Table

        table = Table("model", "channel", "nonce", "amount (wei)", "time", "output hash", box=None, pad_edge=False)
        for r in receipts:
            table.add_row(str(r.model_id), _short_id(r.channel_id), str(r.nonce), str(r.amount), str(r.time),
                          "0x" + r.output_hash.hex()[:16] + "…")
        out.print(table)

    @channel_app.command("list")
    def channel_list(
        ctx: typer.Context,
        model_id: Annotated[int | None, typer.Option("--model", "-m", help="Also look up, on chain, every "
                                                     "channel you opened to this model.", show_default=False)] = None,
        json_: JsonOpt = False,
    ) -> None:
        """Your channels: deposit, claimed by the service, charged as far as you know, expiry."""
        from agora.value.channels import Channels

        client = get_state(ctx).client
        channels = Channels(client.deployment)
        known = {c["id"]: c for c in client.models.known_channels()}
        ids = list(known)
        if model_id is not None:
            ids += [c.id for c in channels.find(acting_signer(client).address, model_id) if c.id not in known]
        rows = []
        for cid in ids:
            info = channels.get(cid)
            rows.append({
                "id": str(cid), "model_id": info.model_id, "deposit_wei": info.deposit, "claimed_wei": info.claimed,
                "charged_wei": known[cid]["total"] if cid in known else None, "expiry": info.expiry,
                "open": info.open,
            })
        if json_:
            emit_json({"channels": rows})
            return
        if not rows:
            note("no channels known for this account on this chain (try --model ID)")
            return
        from rich.table import Table

        table = Table("channel", "model", "deposit", "claimed", "charged", "expiry", box=None, pad_edge=False)
        for r in rows:
            table.add_row(hex(int(r["id"])), str(r["model_id"]), str(r["deposit_wei"]), str(r["claimed_wei"]),
                          "?" if r["charged_wei"] is None else str(r["charged_wei"]),
                          str(r["expiry"]) if r["open"] else "closed")
        out.print(table)

    @channel_app.command("close")
    def channel_close(
        ctx: typer.Context,
        channel_id: Annotated[str, typer.Argument(help="The channel id (decimal or 0x hex).", show_default=False)],
        json_: JsonOpt = False,
    ) -> None:
        """After its expiry, take back what the service never claimed (payer or signer only)."""
        from agora.value.channels import Channels

        st = get_state(ctx)
        client = st.client
        warn_embedded(st)
        try:
            cid = int(channel_id, 0)
        except ValueError:
            raise ConfigError(f"{channel_id!r} is not a channel id") from None
        channels = Channels(client.deployment)
        info = channels.get(cid)
        if not info.exists:
            raise ConfigError(f"there is no open channel {channel_id} on chain {client.chain.chain_id} "
                              "(never opened, or already closed with nothing claimed)")
        if not info.open:
            raise ConfigError(f"channel {channel_id} is already closed")
        now = client.chain.timestamp()
        if now <= info.expiry:
            raise ConfigError(f"channel {channel_id} runs until {info.expiry} ({info.expiry - now} s from now); "
                              "the service may claim until then")
        receipt = channels.close(cid, acting_signer(client))
        (event,) = channels.contract.events_in(receipt, "ChannelClosed")
        data = {"id": str(cid), "refund_wei": int(event.args["refund"]), "tx": receipt.tx_hash}
        if json_:
            emit_json(data)
            return
        out.print(f"closed channel {_short_id(cid)}: {data['refund_wei']} wei back to {info.payer}")

    @receipt_app.command("verify")
    def receipt_verify(
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
        from agora.value.receipts import Receipt, ReceiptError, receipts_domain

        try:
            doc = json.loads(read_file(file))
        except ValueError as exc:
            raise ConfigError(f"{file} is not JSON: {exc}") from None
        if not isinstance(doc, dict):
            raise ReceiptError(f"{file} does not hold a receipt")
        receipt = Receipt.from_json(doc)
        client = get_state(ctx).client
        reg = _registry(client)
        domain = receipts_domain(client.chain.chain_id, reg.contract.address)
        named = doc.get("domain")
        if isinstance(named, dict) and (
            str(named.get("chainId")) != str(domain.chain_id)
            or str(named.get("verifyingContract", "")).lower() != domain.contract.lower()
        ):
            raise ReceiptError(
                f"the receipt is for chain {named.get('chainId')}'s model registry {named.get('verifyingContract')}, "
                f"not this one (chain {domain.chain_id}, {domain.contract})"
            )
        info = reg.get(receipt.model_id)
        service = reg.service_of(receipt.model_id)
        receipt.verify(
            domain, service, weights_hash=info.weights_hash,
            inputs=read_file(input_) if input_ is not None else None,
            output=read_file(output) if output is not None else None,
        )
        data = {
            "valid": True, "model_id": receipt.model_id, "signer": service, "amount_wei": receipt.amount,
            "channel_id": str(receipt.channel_id), "nonce": receipt.nonce, "payer": receipt.payer,
            "time": receipt.time, "weights_hash": "0x" + receipt.weights_hash.hex(),
            "input_checked": input_ is not None, "output_checked": output is not None,
            "leaf": "0x" + receipt.leaf().hex(),
        }
        if json_:
            emit_json(data)
            return
        checked = ["signature", "weights"] + ["input"] * (input_ is not None) + ["output"] * (output is not None)
        out.print(f"valid: model {receipt.model_id}, {receipt.amount} wei from {receipt.payer} "
                  f"(channel {receipt.channel_id}, nonce {receipt.nonce}), signed by the model's service "
                  f"{service}; checked {', '.join(checked)}")


# -- helpers -----------------------------------------------------------------------------------------
def _short_id(channel_id: int) -> str:
    """A channel id for people: its bits are signer | model | sequence, so show those."""
    signer = "0x" + (channel_id >> 96).to_bytes(20, "big").hex()
    return f"{signer[:8]}…{signer[-4:]}/{(channel_id >> 32) & (2**64 - 1)}/{channel_id & (2**32 - 1)}"


def _registry(client: Any) -> Any:
    from agora.value.models import ModelRegistry

    return ModelRegistry(client.deployment, client.storage)


def _model_ids(reg: Any) -> list[int]:
    """Every model id, in the registry's order."""
    return [int(reg.contract.tokenByIndex(i)) for i in range(int(reg.contract.totalSupply()))]


def _card(**fields: Any) -> Any:
    from pydantic import ValidationError

    from agora.value.models import ModelCard

    try:
        return ModelCard(**fields)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(map(str, first["loc"])) or "card"
        raise ConfigError(f"bad model card: {where}: {first['msg']}") from None


def _model_bytes(client: Any, kind: str, weights: str | None, digits_demo: bool) -> bytes:
    """The bytes the workload takes as the model: a file or CID, the demo classifier, or none."""
    if digits_demo:
        if weights is not None:
            raise ConfigError("give --weights or --digits-demo-model, not both")
        if kind != "onnx-classify":
            raise ConfigError(f"the digits demo model is an onnx-classify model, not {kind}")
        from agora.workloads import build_digits_model

        return build_digits_model()
    if weights is None:
        if kind == "embed-minilm":
            return b""  # the pretrained weights come with the workload's package
        raise ConfigError(f"an {kind} model needs its weights", hint="pass --weights FILE|CID")
    return bytes(client.storage.get(blob_arg(client, weights)))


def _ledger_path(st: Any, client: Any, channels: Any, model_id: int, ledger: Path | None) -> Path:
    if ledger is not None:
        return ledger
    return Path(st.settings.home) / "value" / f"serve-{client.chain.chain_id}-{channels.address}-{model_id}.sqlite"


def _paid_service(st: Any, model_id: int, ledger: Path | None, **options: Any) -> Any:
    """The model's :class:`PaidService` for the acting account, after checking the weights at hand
    are the registered ones and that the account is the model's service key."""
    from agora.errors import StorageError
    from agora.storage import cid_for
    from agora.value.channels import Channels
    from agora.value.service import PaidService
    from agora.workloads import get_workload

    client = st.client
    signer = acting_signer(client)
    reg = _registry(client)
    info = reg.get(model_id)
    registered = "0x" + info.weights_hash.hex()
    service = reg.service_of(model_id)
    if service.lower() != signer.address.lower():
        raise ConfigError(
            f"{signer.address} is not model {model_id}'s service key ({service})",
            hint=f"its owner can name this account with `agora model set-service {model_id} {signer.address}`",
        )
    card = reg.fetch_card(model_id, info)
    if card.weights_hash != registered:
        raise ConfigError(f"model {model_id}'s card names other weights than its registration")
    workload = get_workload(card.kind)
    if card.weights_cid == cid_for(b""):
        model_bytes = b""
    else:
        try:
            model_bytes = client.storage.get(card.weights_cid)
        except StorageError:
            raise ConfigError(
                f"model {model_id}'s weights {card.weights_cid} are neither in local storage nor at any peer",
                hint="store the model file here with `agora storage put FILE` (or add a peer that has it)",
            ) from None
    if "0x" + workload.weights_hash(model_bytes).hex() != registered:
        raise ConfigError(f"the weights at hand do not hash to model {model_id}'s registered weights hash {registered}")
    channels = Channels(client.deployment)
    return PaidService(
        chain=client.chain, registry=reg, channels=channels, model_id=model_id, card=card, workload=workload,
        model_bytes=model_bytes, signer=signer, ledger_path=_ledger_path(st, client, channels, model_id, ledger),
        **options,
    )


def _listen(host: str, port: int) -> Any:
    """A bound socket for the API (so a taken port is one clear error, and port 0 works)."""
    import socket

    try:
        family, kind, proto, _, addr = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
        sock = socket.socket(family, kind, proto)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(addr)
    except OSError as exc:
        raise ConfigError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    return sock


def _payee_share(shares: list[Any], who: str, pot: int) -> tuple[int, int]:
    """(basis points, wei) of ``pot`` that a distribution pays ``who`` now: every share but the first
    gets floor(pot * bps / 10,000), the first gets the rest (as the contract rounds)."""
    parts = [pot * s.bps // _BPS for s in shares]
    parts[0] = pot - sum(parts[1:])
    mine = [(s.bps, p) for s, p in zip(shares, parts, strict=True) if s.recipient.lower() == who.lower()]
    return sum(b for b, _ in mine), sum(p for _, p in mine)


def _earnings(client: Any, who: str, only: list[int] | None = None) -> tuple[int, list[tuple[int, int, int, int]]]:
    """``who``'s withdrawable balance, and (model id, bps, pot, share) for every model (or those in
    ``only``) where it is a payee."""
    from agora.value.channels import Channels

    reg = _registry(client)
    channels = Channels(client.deployment)
    if only:
        for m in only:
            reg.get(m)  # one clear error for an unknown model
    pending = []
    for model_id in (list(dict.fromkeys(only)) if only else _model_ids(reg)):
        shares = reg.split(model_id, resolved=True)
        if not any(s.recipient.lower() == who.lower() for s in shares):
            continue
        pot = channels.pot(model_id)
        bps, share = _payee_share(shares, who, pot)
        pending.append((model_id, bps, pot, share))
    return channels.balance_of(who), pending


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
