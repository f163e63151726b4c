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

import base64
import json
import logging
import threading
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

from fastapi import FastAPI, Request
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse, Response
from starlette.concurrency import run_in_threadpool
from starlette.types import Receive, Scope, Send

from agora.chain import Backoff
from agora.chain.evidence import ReceiptError
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
#: a paid call runs on the event loop when its model run is expected to take at most this long
INLINE_MAX_S = 0.001
_INLINE_MAX_BODY = 64 * 1024
_OFFER_CACHE_MAX = 4096
log = logging.getLogger("agora.value.server")
_json = json.JSONEncoder(separators=(",", ":")).encode


class _CORSMiddleware(CORSMiddleware):
    """Starlette's CORS, passed by for a POST without ``Origin`` (not a browser's cross-origin
    request): such an answer carries no CORS headers either way, and a POST's is not cached, so
    it needs no ``Vary: Origin`` (what a paid call saves: the header copies and the send wrapper)."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "POST" and not any(
            k == b"origin" for k, _ in scope["headers"]
        ):
            await self.app(scope, receive, send)
            return
        await super().__call__(scope, receive, send)


class _Offload(Exception):
    """A call begun on the event loop that must run in the threadpool instead (nothing done yet)."""


class _RunTimer:
    """How long the model takes per input item (a moving average of the calls run so far), to
    tell a call that may run on the event loop (``is_fast``) from one for the threadpool."""

    SAMPLES = 16  # calls timed (in the threadpool) before any runs on the event loop

    def __init__(self, limit_s: float) -> None:
        self.limit_s = limit_s
        self.per_item_s = 0.0
        self.count = 0
        self.inline = 0  # paid calls answered on the event loop

    @property
    def fast_enough(self) -> bool:
        """Whether enough calls were timed to judge, and one input item runs within the limit."""
        return self.count >= self.SAMPLES and self.per_item_s <= self.limit_s

    def is_fast(self, items: int) -> bool:
        """Whether a call of ``items`` input items is expected to run within the limit."""
        return self.count >= self.SAMPLES and self.per_item_s * max(items, 1) <= self.limit_s

    def run(self, service: PaidService, data: bytes, price: int) -> bytes:
        t = time.perf_counter()
        output = service.run(data)
        per_item = (time.perf_counter() - t) / max(service.items_in(price), 1)
        # the first calls set the average; then each moves it by a tenth (a data race between
        # threads loses a sample at worst)
        self.count += 1
        weight = 0.1 if self.count > self.SAMPLES else 1.0 / self.count
        self.per_item_s += weight * (per_item - self.per_item_s)
        return output


def create_app(
    service: PaidService, *, exact: ExactPayments | None = None, background: bool = False,
    sync_interval_s: float = 1.0, claim_on_exit: bool = True, cors_origins: tuple[str, ...] = ("*",),
    inline_max_s: float = INLINE_MAX_S,
) -> FastAPI:
    """The ASGI app serving ``service``.

    Every paid endpoint offers the ``agora-channel`` scheme and, with ``exact`` (see
    :func:`agora.value.exact.build_exact_payments`), x402's ``exact`` scheme at the same
    price. With ``background``, a thread syncs channels from the chain, claims when due and
    sweeps the payee every ``sync_interval_s``; ``claim_on_exit`` claims (and sweeps)
    everything due when the app shuts down. ``cors_origins``: the origins whose browser
    clients may call it and read the x402 headers (``()``: none).

    A paid ``agora-channel`` call whose model run takes at most ``inline_max_s`` per input item
    (timed over the first calls) runs on the event loop instead of the threadpool, unless it
    may wait on the chain (a channel new to the node or due for a re-read) or on an fsync (a
    ``durable`` ledger); ``0`` runs every call in the threadpool.
    """
    stop = threading.Event()
    # the node gone: wait longer and longer (stop ends a wait), say so once, and once when it is back
    backoff = Backoff(log=log, sleep=stop.wait)

    def round_(force: bool) -> None:
        service.claim(force=force)
        service.anchor(force=force)
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
            _CORSMiddleware, allow_origins=list(cors_origins), allow_methods=["GET", "POST", "OPTIONS"],
            allow_headers=["*"], expose_headers=list(EXPOSED_HEADERS),
        )
    card_bytes = service.card.to_bytes()
    token = service.channels.token.address
    network = f"eip155:{service.chain.chain_id}"
    receipt_info = {"domain": service.receipt_domain.to_json(), "signer": service.signer.address}
    domain_json = service.domain.to_json()
    description = f"{service.card.name} ({service.card.kind}), {service.card.price} per input item"
    runs = _RunTimer(inline_max_s)
    # the offers of a price are the same for every request that names no channel: built once
    # (at most one entry per number of input items; nothing mutates them)
    offer_cache: dict[int, list[dict[str, Any]]] = {}

    def offers(amount: int, channel_id: int | None = None) -> list[dict[str, Any]]:
        if channel_id is None and (cached := offer_cache.get(amount)) is not None:
            return cached
        out = []
        if exact is not None:
            out.append(exact.offer(amount, receipt_info))
        out.append(channel_offer(
            chain_id=service.chain.chain_id, token=token, channels=service.channels.address,
            model_id=service.model_id, amount=amount, domain=domain_json, receipt=receipt_info,
            min_expiry_s=service.expiry_margin_s,
            channel_state=service.channel_state(channel_id) if channel_id is not None else None,
        ))
        if channel_id is None and len(offer_cache) < _OFFER_CACHE_MAX:
            offer_cache[amount] = out
        return out

    def payment_required(
        request: Request, amount: int, error: PaymentError | None, channel_id: int | None,
    ) -> Response:
        code = error.code if error else "payment_required"
        body: dict[str, Any] = {"error": str(error) if error else "payment required", "code": code}
        if error is not None and error.hint:
            body["hint"] = error.hint
        header = encode_header(build_payment_required(
            url=str(request.url), description=description, mime_type=RESULT_MEDIA_TYPE,
            accepts=offers(amount, channel_id), error=code,
        ))
        return JSONResponse(body, status_code=402, headers={PAYMENT_REQUIRED: header})

    def bad_input(exc: Exception, status: int = 400) -> Response:
        return JSONResponse({"error": str(exc), "code": "bad_input"}, status_code=status)

    def paid_answer(output: bytes, payer: str, amount: int, extra: str, transaction: str = "") -> Response:
        # PAYMENT-RESPONSE (build_payment_response's object) written directly: the same JSON
        header = (f'{{"success":true,"transaction":{_json(transaction)},"network":"{network}",'
                  f'"payer":{_json(payer)},"amount":"{amount}","extra":{extra}}}')
        return Response(output, media_type=RESULT_MEDIA_TYPE,
                        headers={PAYMENT_RESPONSE: base64.b64encode(header.encode()).decode()})

    def handle(request: Request, data: bytes, header: str | None, inline: bool = False) -> Response:
        """One call; ``inline`` (on the event loop): raise :class:`_Offload` before anything that
        may wait (a slow model run, the chain, an fsync) has started."""
        try:
            price = service.price_of(data)
        except WorkloadError as exc:
            return bad_input(exc)
        if not header:
            return payment_required(request, price, None, None)
        try:
            payment = parse_payment(header, offers(price))
        except PaymentError as exc:
            return payment_required(request, price, exc, None)
        if payment.scheme == CHANNEL_SCHEME:
            return handle_channel(request, data, price, payment, inline)
        if inline:
            raise _Offload  # admitting reads the chain and settling sends a transaction
        assert exact is not None  # only offered with it
        return handle_exact(request, data, price, payment, exact)

    def run_paid(data: bytes, price: int, release: Callable[[], None]) -> bytes:
        """The model's output for an admitted payment; if the model fails (a WorkloadError is bad
        input), ``release`` gives the payment back first, so nothing is charged."""
        try:
            return runs.run(service, data, price)
        except BaseException:
            release()
            raise

    def handle_channel(request: Request, data: bytes, price: int, payment: Payment, inline: bool) -> Response:
        cheque = None
        try:
            cheque = parse_cheque(payment.payload)
            if inline and (service.needs_chain(cheque) or not runs.is_fast(service.items_in(price))):
                raise _Offload
            ticket = service.admit(cheque, price)
        except PaymentError as exc:
            return payment_required(request, price, exc, cheque.channel_id if cheque else None)
        try:
            output = run_paid(data, price, lambda: service.release(ticket))
        except WorkloadError as exc:
            return bad_input(exc)
        receipt = service.commit(ticket, data, output)
        extra = (f'{{"scheme":"{CHANNEL_SCHEME}","channelId":"{ticket.channel}","nonce":"{cheque.nonce}",'
                 f'"receipt":{_json(receipt.to_json())}}}')
        return paid_answer(output, ticket.payer, price, extra)

    def handle_exact(request: Request, data: bytes, price: int, payment: Payment, exact: ExactPayments) -> Response:
        try:
            ticket = exact.admit(payment.raw, payment.offer, payment.payload)
        except PaymentError as exc:
            return payment_required(request, price, exc, None)
        try:
            output = run_paid(data, price, lambda: exact.release(ticket))
        except WorkloadError as exc:
            return bad_input(exc)
        try:
            tx = exact.settle(ticket)
        except PaymentError as exc:
            return payment_required(request, price, exc, None)
        receipt = service.sign_receipt(data, output, amount=price, payer=ticket.payer, channel_id=0,
                                       nonce=ticket.nonce_int)
        extra = f'{{"scheme":"{exact.scheme}","receipt":{_json(receipt.to_json())}}}'
        return paid_answer(output, ticket.payer, price, extra, transaction=tx)

    # a tiny model's call runs on the event loop: handing it to a thread and back would cost
    # more CPU than the call itself (see _RunTimer); the rest runs in the threadpool
    inline_ok = inline_max_s > 0 and not service.durable

    @app.post("/call")
    async def call(request: Request) -> Response:
        data = await request.body()
        if len(data) > _MAX_BODY:
            return bad_input(ValueError("the input is larger than 16 MiB"), 413)
        header = request.headers.get(PAYMENT_SIGNATURE)
        if inline_ok and len(data) <= _INLINE_MAX_BODY and runs.fast_enough:
            try:
                answer = handle(request, data, header, inline=True)
                runs.inline += answer.status_code == 200
                return answer
            except _Offload:
                pass
        return await run_in_threadpool(handle, request, data, header)

    @app.get("/card")
    def card() -> Response:
        return Response(card_bytes, media_type="application/json")

    @app.get("/channels/{channel_id}")
    def channel(channel_id: str) -> Response:
        try:
            cid = int(channel_id, 0) if channel_id.startswith("0x") else int(channel_id)
            if not 0 < cid < 2**256:
                raise ValueError
        except ValueError:
            return JSONResponse({"error": f"{channel_id[:80]!r} is not a channel id (a uint256, decimal or 0x-hex)",
                                 "code": "bad_input"}, status_code=400)
        state = service.channel_state(cid)
        if state is None:
            return JSONResponse({"error": f"channel {cid} is unknown here", "code": "unknown_channel"},
                                status_code=404)
        return JSONResponse(state)

    @app.get("/receipts/{digest}")
    def receipt_bundle(digest: str) -> Response:
        """A receipt this service signed, with its batch's root and inclusion proof once anchored."""
        try:
            raw = bytes.fromhex(digest.removeprefix("0x"))
            if len(raw) != 32:
                raise ValueError
        except ValueError:
            return JSONResponse({"error": f"{digest[:80]!r} is not a receipt digest (32 bytes, 0x-hex)",
                                 "code": "bad_input"}, status_code=400)
        if service.book is None:
            return JSONResponse({"error": "this service keeps no receipts (no anchor deployed)",
                                 "code": "unknown_receipt"}, status_code=404)
        try:
            bundle = service.book.bundle(raw)
        except ReceiptError as exc:
            return JSONResponse({"error": str(exc), "code": "unknown_receipt"}, status_code=404)
        return JSONResponse(bundle.to_json())

    @app.get("/health")
    def health() -> dict[str, Any]:
        s = service.stats
        out: dict[str, Any] = {
            "model_id": service.model_id, "name": service.card.name, "kind": service.card.kind,
            "chain_id": service.chain.chain_id, "channels": service.channels.address, "service": service.signer.address,
            "schemes": [o["scheme"] for o in offers(0)],
            "calls": s.calls, "rejected": s.rejected, "chain_reads": s.chain_reads, "inline_calls": runs.inline,
            "earned": str(service.earned()), "unclaimed": str(service.unclaimed()), "claimed": str(s.claimed),
        }
        if exact is not None:
            out.update({"payee": exact.pay_to, "exact_calls": exact.settled, "swept": str(exact.swept)})
        return out

    return app
