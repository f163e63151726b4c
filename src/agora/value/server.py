"""The paid model API (FastAPI): x402 v2 with the ``exact`` and ``agora-channel`` schemes.

Routes:

* ``POST /call`` — body: the workload's input bytes (what the card's ``input_schema``
  says: ``.npy`` float32 for onnx-classify, a JSON list of texts for embed-minilm).
  Unpaid: ``402`` with ``PAYMENT-REQUIRED`` (both schemes offered at the same price).
  Paid (``PAYMENT-SIGNATURE``): ``200``, body: the canonical output bytes
  (``agora-result/1``, whose keccak256 is the compute layer's result digest), header
  ``PAYMENT-RESPONSE`` with the amount, the settlement's transaction (``exact``) and
  the signed receipt in ``extra``. A bad input is ``400`` and costs nothing; a refused
  payment is ``402`` with its code in the header's ``error`` and in the body.
* ``GET /card`` — the model card (its CID is on chain).
* ``GET /channels/{id}`` — the node's view of a channel (``404`` if unknown).
* ``GET /health`` — model, chain, schemes, counters.

Browser clients on other origins may call it (CORS; the x402 headers are exposed).
A background thread (``background=True``) keeps channels current from chain events,
claims when due and sweeps the ``exact`` payee; it never runs on the request path. When
the node cannot be reached it backs off (1 s, 2 s, … 30 s), logs that once, and once more
when the node is back; paid calls go on meanwhile from the cache.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

from fastapi import FastAPI, Request
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse, Response
from starlette.concurrency import run_in_threadpool

from agora.chain import Backoff
from agora.errors import ChainError
from agora.value.service import PaidService
from agora.value.x402 import (
    CHANNEL_SCHEME,
    EXPOSED_HEADERS,
    PAYMENT_REQUIRED,
    PAYMENT_RESPONSE,
    PAYMENT_SIGNATURE,
    Payment,
    PaymentError,
    build_payment_required,
    build_payment_response,
    channel_offer,
    encode_header,
    parse_cheque,
    parse_payment,
)
from agora.workloads import WorkloadError

if TYPE_CHECKING:
    from agora.value.exact import ExactPayments

__all__ = ["create_app", "RESULT_MEDIA_TYPE"]

RESULT_MEDIA_TYPE = "application/vnd.agora-result"
_MAX_BODY = 16 * 1024 * 1024
log = logging.getLogger("agora.value.server")


def create_app(
    service: PaidService, *, exact: ExactPayments | None = None, background: bool = False,
    sync_interval_s: float = 1.0, claim_on_exit: bool = True, cors_origins: tuple[str, ...] = ("*",),
) -> FastAPI:
    """The ASGI app serving ``service``.

    Every paid endpoint offers the ``agora-channel`` scheme and, with ``exact`` (see
    :func:`agora.value.exact.build_exact_payments`), x402's ``exact`` scheme at the same
    price. With ``background``, a thread syncs channels from the chain, claims when due and
    sweeps the payee every ``sync_interval_s``; ``claim_on_exit`` claims (and sweeps)
    everything due when the app shuts down. ``cors_origins``: the origins whose browser
    clients may call it and read the x402 headers (``()``: none).
    """
    stop = threading.Event()
    # the node gone: wait longer and longer (stop ends a wait), say so once, and once when it is back
    backoff = Backoff(log=log, sleep=stop.wait)

    def round_(force: bool) -> None:
        service.claim(force=force)
        if exact is not None:
            exact.sweep(force=force)

    def loop() -> None:
        while not stop.wait(sync_interval_s):
            try:
                service.sync()
                round_(False)
            except ChainError as exc:  # keep serving from the cache; retry after the back-off
                backoff.failed(exc)
                continue
            except Exception as exc:  # keep serving; the next round retries
                log.warning("sync/claim failed: %s", exc)
                continue
            backoff.succeeded()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        worker = None
        if background:
            service.sync()
            worker = threading.Thread(target=loop, name="agora-value-sync", daemon=True)
            worker.start()
        yield
        stop.set()
        if worker is not None:
            worker.join(timeout=30)
        if claim_on_exit:
            try:
                round_(True)
            except Exception as exc:
                log.warning("final claim failed: %s", exc)

    app = FastAPI(title=f"Agora model {service.model_id}: {service.card.name}", lifespan=lifespan)
    if cors_origins:
        app.add_middleware(
            CORSMiddleware, allow_origins=list(cors_origins), allow_methods=["GET", "POST", "OPTIONS"],
            allow_headers=["*"], expose_headers=list(EXPOSED_HEADERS),
        )
    card_bytes = service.card.to_bytes()
    token = service.channels.token.address
    network = f"eip155:{service.chain.chain_id}"
    receipt_info = {"domain": service.receipt_domain.to_json(), "signer": service.signer.address}
    domain_json = service.domain.to_json()
    description = f"{service.card.name} ({service.card.kind}), {service.card.price} per input item"

    def offers(amount: int, channel_id: int | None = None) -> list[dict[str, Any]]:
        out = []
        if exact is not None:
            out.append(exact.offer(amount, receipt_info))
        out.append(channel_offer(
            chain_id=service.chain.chain_id, token=token, channels=service.channels.address,
            model_id=service.model_id, amount=amount, domain=domain_json, receipt=receipt_info,
            min_expiry_s=service.expiry_margin_s,
            channel_state=service.channel_state(channel_id) if channel_id is not None else None,
        ))
        return out

    def payment_required(url: str, amount: int, error: PaymentError | None, channel_id: int | None) -> Response:
        code = error.code if error else "payment_required"
        body: dict[str, Any] = {"error": str(error) if error else "payment required", "code": code}
        if error is not None and error.hint:
            body["hint"] = error.hint
        header = encode_header(build_payment_required(
            url=url, description=description, mime_type=RESULT_MEDIA_TYPE, accepts=offers(amount, channel_id),
            error=code,
        ))
        return JSONResponse(body, status_code=402, headers={PAYMENT_REQUIRED: header})

    def bad_input(exc: Exception, status: int = 400) -> Response:
        return JSONResponse({"error": str(exc), "code": "bad_input"}, status_code=status)

    def handle(url: str, data: bytes, header: str | None) -> Response:
        try:
            price = service.price_of(data)
        except WorkloadError as exc:
            return bad_input(exc)
        if not header:
            return payment_required(url, price, None, None)
        try:
            payment = parse_payment(header, offers(price))
        except PaymentError as exc:
            return payment_required(url, price, exc, None)
        if payment.scheme == CHANNEL_SCHEME:
            return handle_channel(url, data, price, payment)
        assert exact is not None  # only offered with it
        return handle_exact(url, data, price, payment, exact)

    def handle_channel(url: str, data: bytes, price: int, payment: Payment) -> Response:
        cheque = None
        try:
            cheque = parse_cheque(payment.payload)
            ticket = service.admit(cheque, price)
        except PaymentError as exc:
            return payment_required(url, price, exc, cheque.channel_id if cheque else None)
        try:
            output = service.run(data)
        except WorkloadError as exc:
            service.release(ticket)
            return bad_input(exc)
        except Exception:
            service.release(ticket)
            raise
        receipt = service.commit(ticket, data, output)
        response = build_payment_response(
            network=network, payer=ticket.payer, amount=price,
            extra={"scheme": CHANNEL_SCHEME, "channelId": str(ticket.channel), "nonce": str(cheque.nonce),
                   "receipt": receipt.to_json()},
        )
        return Response(output, media_type=RESULT_MEDIA_TYPE, headers={PAYMENT_RESPONSE: encode_header(response)})

    def handle_exact(url: str, data: bytes, price: int, payment: Payment, exact: ExactPayments) -> Response:
        try:
            ticket = exact.admit(payment.raw, payment.offer, payment.payload)
        except PaymentError as exc:
            return payment_required(url, price, exc, None)
        try:
            output = service.run(data)
        except WorkloadError as exc:
            exact.release(ticket)
            return bad_input(exc)
        except Exception:
            exact.release(ticket)
            raise
        try:
            tx = exact.settle(ticket)
        except PaymentError as exc:
            return payment_required(url, price, exc, None)
        receipt = service.sign_receipt(data, output, amount=price, payer=ticket.payer, channel_id=0,
                                       nonce=ticket.nonce_int)
        response = build_payment_response(
            network=network, payer=ticket.payer, amount=price, transaction=tx,
            extra={"scheme": exact.scheme, "receipt": receipt.to_json()},
        )
        return Response(output, media_type=RESULT_MEDIA_TYPE, headers={PAYMENT_RESPONSE: encode_header(response)})

    @app.post("/call")
    async def call(request: Request) -> Response:
        data = await request.body()
        if len(data) > _MAX_BODY:
            return bad_input(ValueError("the input is larger than 16 MiB"), 413)
        return await run_in_threadpool(handle, str(request.url), data, request.headers.get(PAYMENT_SIGNATURE))

    @app.get("/card")
    def card() -> Response:
        return Response(card_bytes, media_type="application/json")

    @app.get("/channels/{channel_id}")
    def channel(channel_id: int) -> Response:
        state = service.channel_state(channel_id)
        if state is None:
            return JSONResponse({"error": f"channel {channel_id} is unknown here", "code": "unknown_channel"},
                                status_code=404)
        return JSONResponse(state)

    @app.get("/health")
    def health() -> dict[str, Any]:
        s = service.stats
        out: dict[str, Any] = {
            "model_id": service.model_id, "name": service.card.name, "kind": service.card.kind,
            "chain_id": service.chain.chain_id, "channels": service.channels.address, "service": service.signer.address,
            "schemes": [o["scheme"] for o in offers(0)],
            "calls": s.calls, "rejected": s.rejected, "chain_reads": s.chain_reads,
            "earned": str(service.earned()), "unclaimed": str(service.unclaimed()), "claimed": str(s.claimed),
        }
        if exact is not None:
            out.update({"payee": exact.pay_to, "exact_calls": exact.settled, "swept": str(exact.swept)})
        return out

    return app
