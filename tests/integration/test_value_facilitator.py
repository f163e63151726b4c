"""x402's ``exact`` scheme settled by a facilitator (``agora model serve --facilitator URL``):
the official x402 SDK's own facilitator, served over HTTP on 127.0.0.1, settles on anvil
the authorizations that the SDK's client signs for an Agora model.

The model server never sends the transfer itself: it checks the payment as always, posts
``{x402Version, paymentPayload, paymentRequirements}`` to the facilitator's ``/settle``, and
answers only after the facilitator reports success. A facilitator that refuses, or is not
there, costs the payer nothing and gets the client a 402 ``settlement_failed``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from starlette.testclient import TestClient
from x402 import x402FacilitatorSync
from x402.mechanisms.evm import FacilitatorWeb3Signer
from x402.mechanisms.evm.exact import register_exact_evm_facilitator
from x402.schemas import PaymentPayload, PaymentRequirements

from agora.devnet.anvil import free_port, start_anvil
from agora.value.exact import build_exact_payments
from agora.value.server import create_app
from agora.value.x402 import EXACT_SCHEME
from agora.workloads import digits_inputs
from tests.integration.test_value_embedded import PRICE, Served, World
from tests.integration.test_value_exact import money, sdk_client

pytestmark = [pytest.mark.anvil, pytest.mark.xdist_group("value-facilitator")]


class Facilitator:
    """The SDK's sync facilitator behind ``POST /settle`` and ``POST /verify``; ``refuse`` makes
    it answer every settlement with ``success: false`` without touching the chain."""

    def __init__(self, key: str, rpc_url: str, network: str) -> None:
        self.sdk = register_exact_evm_facilitator(
            x402FacilitatorSync(), FacilitatorWeb3Signer(private_key=key, rpc_url=rpc_url), networks=network,
        )
        self.refuse = False
        self.settled: list[str] = []
        app = Starlette(routes=[Route("/settle", self._settle, methods=["POST"]),
                                Route("/verify", self._verify, methods=["POST"])])
        self.port = free_port()
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _parse(self, body: dict[str, Any]) -> tuple[PaymentPayload, PaymentRequirements]:
        return (PaymentPayload.model_validate(body["paymentPayload"]),
                PaymentRequirements.model_validate(body["paymentRequirements"]))

    async def _settle(self, request: Request) -> JSONResponse:
        body = await request.json()
        assert body["x402Version"] == 2
        if self.refuse:
            return JSONResponse({"success": False, "errorReason": "facilitator_refused", "transaction": "",
                                 "network": body["paymentRequirements"]["network"]})
        answer = self.sdk.settle(*self._parse(body))
        if answer.success:
            self.settled.append(answer.transaction)
        return JSONResponse(answer.model_dump(by_alias=True, exclude_none=True))

    async def _verify(self, request: Request) -> JSONResponse:
        answer = self.sdk.verify(*self._parse(await request.json()))
        return JSONResponse(answer.model_dump(by_alias=True, exclude_none=True))

    def start(self) -> None:
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            assert time.monotonic() < deadline, "the facilitator did not start"
            time.sleep(0.05)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    anvil = start_anvil(free_port())
    try:
        yield World(tmp_path_factory.mktemp("value-facilitator"), uri=anvil.url)
    finally:
        anvil.stop()


@pytest.fixture(scope="module")
def facilitator(world: World) -> Iterator[Facilitator]:
    gas = world.account(tokens=0)  # the facilitator pays the gas, holds no tokens
    f = Facilitator(world.keys[gas.address], world.chain.uri, f"eip155:{world.chain.chain_id}")
    f.start()
    try:
        yield f
    finally:
        f.stop()


@pytest.fixture(scope="module")
def served(world: World, facilitator: Facilitator) -> Served:
    s = world.serve(world.register())
    exact = build_exact_payments(s.svc, facilitator=facilitator.url)
    assert exact is not None and exact.facilitator == facilitator.url
    app = create_app(s.svc, exact=exact, claim_on_exit=False)
    return Served(s.svc, TestClient(app), s.model, s.ledger, exact)


def _pay(w: World, s: Served) -> tuple[Any, Any, Any, bytes, str]:
    payer = w.account()
    client, http = sdk_client(w.keys[payer.address], f"eip155:{w.chain.chain_id}", w.dep.token.address)
    body = digits_inputs(1, seed=11)
    r = s.http.post("/call", content=body)
    assert r.status_code == 402
    required = http.get_payment_required_response(r.headers.get)
    payload = client.create_payment_payload(required)
    assert payload.accepted.scheme == EXACT_SCHEME
    return payer, http, payload, body, payer.address


def test_the_facilitator_settles_and_the_model_answers(world: World, served: Served, facilitator: Facilitator) -> None:
    w, s = world, served
    payer, http, payload, body, who = _pay(w, s)
    before = money(w, s, who)
    paid = s.http.post("/call", content=body, headers=http.encode_payment_signature_header(payload))
    assert paid.status_code == 200, paid.text
    settle = http.get_payment_settle_response(paid.headers.get)
    assert settle.success and settle.transaction == facilitator.settled[-1]
    receipt = w.chain.w3.eth.get_transaction_receipt(settle.transaction)
    assert receipt["status"] == 1 and receipt["to"] == w.dep.token.address
    after = money(w, s, who)
    assert after[0] == before[0] - PRICE and after[1] == before[1] + PRICE
    nonce = bytes.fromhex(payload.payload["authorization"]["nonce"][2:])
    assert w.dep.token.authorizationState(who, nonce) is True
    # the model's own key paid no gas for it
    assert receipt["from"] != s.model.owner.address


def test_a_refusing_facilitator_costs_the_payer_nothing(world: World, served: Served,
                                                         facilitator: Facilitator) -> None:
    w, s = world, served
    _, http, payload, body, who = _pay(w, s)
    before = money(w, s, who)
    facilitator.refuse = True
    try:
        r = s.http.post("/call", content=body, headers=http.encode_payment_signature_header(payload))
    finally:
        facilitator.refuse = False
    assert r.status_code == 402 and r.json()["code"] == "settlement_failed"
    assert "facilitator_refused" in r.json()["error"]
    assert money(w, s, who) == before
    # the same authorization is still good: the facilitator settles it on the next try
    again = s.http.post("/call", content=body, headers=http.encode_payment_signature_header(payload))
    assert again.status_code == 200, again.text


def test_an_unreachable_facilitator_is_settlement_failed(world: World, served: Served) -> None:
    w, s = world, served
    exact = build_exact_payments(s.svc, facilitator=f"http://127.0.0.1:{free_port()}")
    http_app = TestClient(create_app(s.svc, exact=exact, claim_on_exit=False))
    down = Served(s.svc, http_app, s.model, s.ledger, exact)
    _, http, payload, body, who = _pay(w, down)
    before = money(w, down, who)
    r = down.http.post("/call", content=body, headers=http.encode_payment_signature_header(payload))
    assert r.status_code == 402 and r.json()["code"] == "settlement_failed"
    assert money(w, down, who) == before
