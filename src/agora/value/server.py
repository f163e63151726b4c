"""The paid model API (FastAPI): x402 v2 over payment channels.

Routes:

* ``POST /call`` — body: the workload's input bytes (e.g. ``.npy`` for
  onnx-classify, a JSON list of texts for embed-minilm). Unpaid: ``402`` with
  ``PAYMENT-REQUIRED``. Paid (``PAYMENT-SIGNATURE``): ``200``, body: the canonical
  output bytes (``agora-result/1``, whose keccak256 is the compute layer's result
  digest), header ``PAYMENT-RESPONSE`` with the charge and the signed receipt.
  A bad input is ``400`` and costs nothing.
* ``GET /card`` — the model card (its CID is on chain).
* ``GET /channels/{id}`` — the node's view of a channel.
* ``GET /health`` — model, chain, counters.

A background thread (``background=True``) keeps channels current from chain
events and claims when due; it never runs on the request path.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from starlette.concurrency import run_in_threadpool

from agora.value.service import PaidService
from agora.value.x402 import (
    PAYMENT_REQUIRED,
    PAYMENT_RESPONSE,
    PAYMENT_SIGNATURE,
    PaymentError,
    build_requirements,
    encode_header,
    parse_payment,
)
from agora.workloads import WorkloadError

__all__ = ["create_app", "RESULT_MEDIA_TYPE"]

RESULT_MEDIA_TYPE = "application/vnd.agora-result"
_MAX_BODY = 16 * 1024 * 1024
log = logging.getLogger("agora.value.server")


def create_app(
    service: PaidService, *, background: bool = False, sync_interval_s: float = 1.0, claim_on_exit: bool = True,
) -> FastAPI:
    """The ASGI app serving ``service``. With ``background``, a thread syncs channels from the
    chain and claims when due every ``sync_interval_s``; ``claim_on_exit`` claims everything
    claimable when the app shuts down."""
    stop = threading.Event()

    def loop() -> None:
        while not stop.wait(sync_interval_s):
            try:
                service.sync()
                service.claim()
            except Exception as exc:  # keep serving; the next round retries
                log.warning("sync/claim failed: %s", exc)

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
                service.claim(force=True)
            except Exception as exc:
                log.warning("final claim failed: %s", exc)

    app = FastAPI(title=f"Agora model {service.model_id}: {service.card.name}", lifespan=lifespan)
    card_bytes = service.card.to_bytes()
    token = service.channels.token.address
    receipt_info = {"domain": service.receipt_domain.to_json(), "signer": service.signer.address}

    def requirements(url: str, amount: int, error: str | None, channel_id: int | None) -> dict[str, Any]:
        return build_requirements(
            chain_id=service.chain.chain_id, token=token, channels=service.channels.address,
            model_id=service.model_id, amount=amount, domain=service.domain.to_json(), url=url,
            description=f"{service.card.name} ({service.card.kind}), {service.card.price} per input item",
            receipt=receipt_info, min_expiry_s=service.expiry_margin_s, error=error,
            channel_state=service.channel_state(channel_id) if channel_id is not None else None,
        )

    def payment_required(url: str, amount: int, error: PaymentError | None, channel_id: int | None) -> Response:
        body = {
            "error": str(error) if error else "payment required", "code": error.code if error else "payment_required",
        }
        header = encode_header(requirements(url, amount, str(error) if error else None, channel_id))
        return JSONResponse(body, status_code=402, headers={PAYMENT_REQUIRED: header})

    def handle(url: str, data: bytes, header: str | None) -> Response:
        try:
            price = service.price_of(data)
        except WorkloadError as exc:
            return JSONResponse({"error": str(exc), "code": "bad_input"}, status_code=400)
        if not header:
            return payment_required(url, price, None, None)
        cheque = None
        try:
            cheque = parse_payment(header, chain_id=service.chain.chain_id, channels=service.channels.address)
            ticket = service.admit(cheque, price)
        except PaymentError as exc:
            return payment_required(url, price, exc, cheque.channel_id if cheque else None)
        try:
            output = service.run(data)
        except WorkloadError as exc:
            service.release(ticket)
            return JSONResponse({"error": str(exc), "code": "bad_input"}, status_code=400)
        except Exception:
            service.release(ticket)
            raise
        receipt = service.commit(ticket, data, output)
        response = {
            "success": True, "network": f"eip155:{service.chain.chain_id}", "payer": ticket.payer,
            "transaction": "", "scheme": "batch-settlement", "charged": str(price),
            "channelId": str(ticket.channel), "nonce": str(cheque.nonce), "receipt": receipt.to_json(),
        }
        return Response(output, media_type=RESULT_MEDIA_TYPE, headers={PAYMENT_RESPONSE: encode_header(response)})

    @app.post("/call")
    async def call(request: Request) -> Response:
        data = await request.body()
        if len(data) > _MAX_BODY:
            return JSONResponse({"error": "the input is larger than 16 MiB", "code": "bad_input"}, status_code=413)
        return await run_in_threadpool(handle, str(request.url), data, request.headers.get(PAYMENT_SIGNATURE))

    @app.get("/card")
    def card() -> Response:
        return Response(card_bytes, media_type="application/json")

    @app.get("/channels/{channel_id}")
    def channel(channel_id: int) -> Response:
        state = service.channel_state(channel_id)
        if state is None:
            return JSONResponse({"error": f"channel {channel_id} is unknown here"}, status_code=404)
        return JSONResponse(state)

    @app.get("/health")
    def health() -> dict[str, Any]:
        s = service.stats
        return {
            "model_id": service.model_id, "name": service.card.name, "kind": service.card.kind,
            "chain_id": service.chain.chain_id, "channels": service.channels.address, "service": service.signer.address,
            "calls": s.calls, "rejected": s.rejected, "chain_reads": s.chain_reads,
            "earned": str(service.earned()), "unclaimed": str(service.unclaimed()), "claimed": str(s.claimed),
        }

    return app
