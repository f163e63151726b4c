"""x402's ``exact`` scheme on the embedded chain: the official x402 SDK's own client code pays a
model with an EIP-3009 authorization, the service settles it before answering, and every way
of getting it wrong is refused without moving money or answering.

(The same through real HTTP on anvil, with the SDK's ``requests`` adapter and the example
client, is ``test_value_x402_anvil.py``.)
"""

from __future__ import annotations

import base64
import json
from dataclasses import replace
from typing import Any

import pytest
from eth_account import Account
from x402 import x402ClientSync
from x402.http.x402_http_client import x402HTTPClientSync
from x402.mechanisms.evm.exact import ExactEvmScheme
from x402.schemas import PaymentPayload

from agora.chain.eip712 import keccak256
from agora.chain.permits import TransferAuthorization, new_authorization_nonce, sign_transfer_authorization
from agora.errors import ConfigError
from agora.value import Receipt, split_amount
from agora.value.x402 import (
    CHANNEL_SCHEME,
    EXACT_SCHEME,
    PAYMENT_REQUIRED,
    PAYMENT_SIGNATURE,
    PaymentError,
    encode_header,
)
from agora.workloads import digits_inputs
from tests.integration.test_value_embedded import PRICE, Served, World

pytestmark = pytest.mark.xdist_group("value-exact")


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> World:
    return World(tmp_path_factory.mktemp("value-exact"))


@pytest.fixture(scope="module")
def served(world: World) -> Served:
    return world.serve(world.register(), exact=True)


def sdk_client(key: str, network: str, token: str) -> tuple[x402ClientSync, x402HTTPClientSync]:
    """The SDK's sync client with its exact EVM scheme, allowed to spend ``token`` (not one of the
    SDK's default assets), at most one token per payment."""
    client = x402ClientSync()
    client.register("eip155:*", ExactEvmScheme(Account.from_key(key)))
    client.set_spend_controls({"allowed_assets": [
        {"network": network, "asset": token, "max_amount_per_payment": str(10**18)},
    ]})
    return client, x402HTTPClientSync(client)


def offers(s: Served, body: bytes) -> dict[str, Any]:
    r = s.http.post("/call", content=body)
    assert r.status_code == 402
    return json.loads(base64.b64decode(r.headers[PAYMENT_REQUIRED]))


def money(w: World, s: Served, payer: str) -> tuple[int, ...]:
    assert s.exact is not None
    token = w.dep.token
    return (token.balanceOf(payer), token.balanceOf(s.exact.pay_to), w.channels.pot(s.model.id),
            s.svc.stats.calls, s.exact.settled)


def test_the_sdk_pays_with_exact_and_the_split_gets_it(world: World, served: Served) -> None:
    w, s = world, served
    assert s.exact is not None
    payer = w.account()
    key = w.keys[payer.address]
    body = digits_inputs(2, seed=5)
    client, http = sdk_client(key, f"eip155:{w.chain.chain_id}", w.dep.token.address)

    # the 402 offers both schemes at the same price; exact names the payee and the token's EIP-712 domain
    r = s.http.post("/call", content=body)
    assert r.status_code == 402
    required = http.get_payment_required_response(r.headers.get)  # the SDK decodes it
    exact, channel = required.accepts
    assert (exact.scheme, channel.scheme) == (EXACT_SCHEME, CHANNEL_SCHEME)
    assert exact.amount == channel.amount == str(2 * PRICE)
    assert exact.pay_to == s.exact.pay_to == w.channels.payee_of(s.model.id)
    assert exact.asset == w.dep.token.address
    assert (exact.extra["name"], exact.extra["version"]) == ("Agora Token", "1")

    # the SDK signs the authorization and the service settles it before answering
    before = money(w, s, payer.address)
    payload = client.create_payment_payload(required)
    assert payload.accepted.scheme == EXACT_SCHEME
    paid = s.http.post("/call", content=body, headers=http.encode_payment_signature_header(payload))
    assert paid.status_code == 200, paid.text
    settle = http.get_payment_settle_response(paid.headers.get)  # the SDK decodes the answer as success
    assert settle.success and settle.transaction.startswith("0x") and len(settle.transaction) == 66
    assert settle.network == f"eip155:{w.chain.chain_id}" and settle.payer == payer.address
    assert settle.amount == str(2 * PRICE)
    after = money(w, s, payer.address)
    assert after[0] == before[0] - 2 * PRICE and after[1] == before[1] + 2 * PRICE
    assert after[3:] == (before[3] + 1, before[4] + 1)
    # the settlement is on chain: the token marks the nonce used
    nonce = bytes.fromhex(payload.payload["authorization"]["nonce"][2:])
    assert w.dep.token.authorizationState(payer.address, nonce) is True

    # the receipt names the exact payment (channel 0, the authorization's nonce) and checks out
    assert settle.extra is not None
    receipt = Receipt.from_json(settle.extra["receipt"])
    receipt.verify(s.svc.receipt_domain, s.model.owner.address, inputs=body, output=paid.content,
                   weights_hash=bytes.fromhex(s.model.card.weights_hash[2:]))
    assert (receipt.channel_id, receipt.nonce, receipt.amount) == (0, int.from_bytes(nonce, "big"), 2 * PRICE)
    assert receipt.output_hash == keccak256(paid.content) and receipt.payer == payer.address

    # replaying the same payment buys nothing, and moves nothing
    before = money(w, s, payer.address)
    again = s.http.post("/call", content=body, headers=http.encode_payment_signature_header(payload))
    assert again.status_code == 402 and again.json()["code"] == "authorization_replayed"
    assert json.loads(base64.b64decode(again.headers[PAYMENT_REQUIRED]))["error"] == "authorization_replayed"
    assert money(w, s, payer.address) == before

    # the payee's tokens go to the model's pot, and from there to the split like channel revenue
    pot = w.channels.pot(s.model.id)
    owed = w.dep.token.balanceOf(s.exact.pay_to)
    assert s.exact.sweep() == owed and w.channels.pot(s.model.id) == pot + owed
    assert w.dep.token.balanceOf(s.exact.pay_to) == 0 and s.exact.sweep(force=True) == 0
    got = [w.channels.withdraw(r, [s.model.id]) for r in s.model.recipients]
    assert got == split_amount(pot + owed, s.model.bps)


def _authorization(w: World, s: Served, payer: Any, **over: Any) -> tuple[TransferAuthorization, bytes]:
    assert s.exact is not None
    now = w.chain.timestamp()
    auth = TransferAuthorization(payer.address, s.exact.pay_to, PRICE, 0, now + 60, new_authorization_nonce())
    auth = replace(auth, **over)
    return auth, sign_transfer_authorization(payer, s.exact.domain, auth)


def _header(s: Served, auth: TransferAuthorization, sig: bytes, body: bytes, **accepted: Any) -> str:
    offer = next(o for o in offers(s, body)["accepts"] if o["scheme"] == EXACT_SCHEME)
    payload = {"authorization": auth.to_json(), "signature": "0x" + sig.hex()}
    envelope = {"x402Version": 2, "accepted": {**offer, **accepted}, "payload": payload}
    PaymentPayload.model_validate(envelope)  # what we send is what the SDK would send
    return encode_header(envelope)


CASES = {
    "wrong-recipient": "wrong_recipient",
    "too-little": "amount_mismatch",
    "too-much": "amount_mismatch",
    "expired": "authorization_expired",
    "expires-too-soon": "authorization_expired",
    "not-yet-valid": "authorization_not_yet_valid",
    "signed-by-another": "invalid_signature",
    "tampered": "invalid_signature",
    "other-domain": "invalid_signature",
    "poor-payer": "insufficient_funds",
    "canceled": "authorization_replayed",
    "front-run": "authorization_replayed",
    "accepted-other-payto": "offer_mismatch",
    "accepted-no-extra": "offer_mismatch",
    "bad-authorization": "malformed_header",
    "short-signature": "invalid_signature",
}


@pytest.mark.parametrize("case", list(CASES))
def test_refused_exact_payment_moves_nothing_and_answers_nothing(world: World, served: Served, case: str) -> None:
    w, s = world, served
    assert s.exact is not None
    payer = w.account(tokens=PRICE if case != "poor-payer" else PRICE - 1)
    body = digits_inputs(1, seed=9)
    now = w.chain.timestamp()
    extra: dict[str, Any] = {}
    if case == "wrong-recipient":
        auth, sig = _authorization(w, s, payer, to=w.channels.address)
    elif case == "too-little":
        auth, sig = _authorization(w, s, payer, value=PRICE - 1)
    elif case == "too-much":
        auth, sig = _authorization(w, s, payer, value=PRICE + 1)
    elif case == "expired":
        auth, sig = _authorization(w, s, payer, valid_before=now - 1)
    elif case == "expires-too-soon":
        auth, sig = _authorization(w, s, payer, valid_before=now + 2)
    elif case == "not-yet-valid":
        auth, sig = _authorization(w, s, payer, valid_after=now + 600, valid_before=now + 1200)
    elif case == "signed-by-another":
        auth, _ = _authorization(w, s, payer)
        other = w.account()
        sig = other.sign_hash(auth.digest(s.exact.domain))
    elif case == "tampered":
        auth, sig = _authorization(w, s, payer)
        auth = replace(auth, valid_before=auth.valid_before + 1)
    elif case == "other-domain":
        auth, _ = _authorization(w, s, payer)
        sig = payer.sign_hash(auth.digest(replace(s.exact.domain, chain_id=w.chain.chain_id + 1)))
    elif case == "poor-payer":
        auth, sig = _authorization(w, s, payer)
    elif case == "canceled":
        auth, sig = _authorization(w, s, payer)
        digest_sig = _cancel_signature(w, s, payer, auth.nonce)
        w.dep.token.cancelAuthorization(payer.address, auth.nonce, digest_sig[64], digest_sig[:32], digest_sig[32:64],
                                        sender=payer)
    elif case == "front-run":
        auth, sig = _authorization(w, s, payer)
        stranger = w.account(tokens=0)  # submits the payer's authorization to the token first
        w.dep.token.transferWithAuthorization(auth.from_, auth.to, auth.value, auth.valid_after, auth.valid_before,
                                              auth.nonce, sig[64], sig[:32], sig[32:64], sender=stranger)
    elif case == "accepted-other-payto":
        auth, sig = _authorization(w, s, payer)
        extra = {"payTo": w.channels.address}
    elif case == "accepted-no-extra":
        auth, sig = _authorization(w, s, payer)
        extra = {"extra": {}}
    elif case == "bad-authorization":
        auth, sig = _authorization(w, s, payer)
    elif case == "short-signature":
        auth, sig = _authorization(w, s, payer)
        sig = sig[:64]
    else:  # pragma: no cover
        raise AssertionError(case)

    if case == "bad-authorization":
        offer = next(o for o in offers(s, body)["accepts"] if o["scheme"] == EXACT_SCHEME)
        header = encode_header({"x402Version": 2, "accepted": offer,
                                "payload": {"authorization": {**auth.to_json(), "nonce": "0x12"},
                                            "signature": "0x" + sig.hex()}})
    else:
        header = _header(s, auth, sig, body, **extra)
    before = money(w, s, payer.address)
    r = s.http.post("/call", content=body, headers={PAYMENT_SIGNATURE: header})
    assert r.status_code == 402, r.text
    code = CASES[case]
    assert r.json()["code"] == code, r.json()
    assert "\n" not in r.json()["error"]
    assert json.loads(base64.b64decode(r.headers[PAYMENT_REQUIRED]))["error"] == code
    assert money(w, s, payer.address) == before


def _cancel_signature(w: World, s: Served, payer: Any, nonce: bytes) -> bytes:
    from agora.chain.eip712 import keccak256 as k
    from agora.chain.eip712 import word

    assert s.exact is not None
    typehash = k(b"CancelAuthorization(address authorizer,bytes32 nonce)")
    return payer.sign_hash(s.exact.domain.digest(k(typehash + word(payer.address) + nonce)))


def test_a_bad_input_settles_nothing(world: World, served: Served) -> None:
    """A body the model rejects is 400 and the authorization stays unused: the payer can spend it
    on a good call."""
    w, s = world, served
    payer = w.account()
    auth, sig = _authorization(w, s, payer)
    good = digits_inputs(1, seed=1)
    header = _header(s, auth, sig, good)
    before = money(w, s, payer.address)
    bad = b"\x93NUMPY" + b"\x00" * 200  # parses as one item for the price, fails in the model
    r = s.http.post("/call", content=bad, headers={PAYMENT_SIGNATURE: header})
    assert r.status_code == 400 and r.json()["code"] == "bad_input"
    assert money(w, s, payer.address) == before
    assert w.dep.token.authorizationState(payer.address, auth.nonce) is False
    ok = s.http.post("/call", content=good, headers={PAYMENT_SIGNATURE: header})
    assert ok.status_code == 200, ok.text


def test_cors_preflight_and_exposed_headers(served: Served) -> None:
    s = served
    pre = s.http.options("/call", headers={
        "Origin": "https://wallet.example", "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "payment-signature,content-type",
    })
    assert pre.status_code == 200
    assert pre.headers["access-control-allow-origin"] in ("*", "https://wallet.example")
    assert "POST" in pre.headers["access-control-allow-methods"]
    assert "payment-signature" in pre.headers["access-control-allow-headers"].lower()
    r = s.http.post("/call", content=digits_inputs(1), headers={"Origin": "https://wallet.example"})
    assert r.status_code == 402
    exposed = {h.strip().upper() for h in r.headers["access-control-expose-headers"].split(",")}
    assert {"PAYMENT-REQUIRED", "PAYMENT-RESPONSE"} <= exposed


def test_health_names_both_schemes(served: Served) -> None:
    h = served.http.get("/health").json()
    assert h["schemes"] == [EXACT_SCHEME, CHANNEL_SCHEME] and h["payee"] == served.exact.pay_to  # type: ignore[union-attr]


def test_the_agora_client_pays_with_exact_within_its_budget(world: World, served: Served) -> None:
    """``ModelsClient.call(scheme="exact")`` (``agora model call --scheme exact``): one authorization
    per call to the payee the chain names, the receipt checked and kept, the budget counted."""
    w, s = world, served
    assert s.exact is not None
    payer = w.account()
    client = w.client(s, payer, budget=3 * PRICE)
    before = money(w, s, payer.address)
    result = client.call(s.model.id, digits_inputs(2, seed=21), scheme=EXACT_SCHEME)
    assert result.receipt.channel_id == 0 and result.receipt.amount == 2 * PRICE
    assert result.output.tensor("label").values.shape == (2,)
    after = money(w, s, payer.address)
    assert after[0] == before[0] - 2 * PRICE and after[1] == before[1] + 2 * PRICE and after[4] == before[4] + 1
    assert client.receipts(s.model.id) == [result.receipt]
    assert client.channel_of(s.model.id) is None  # no channel was opened
    # the budget counts exact payments: one more digit fits, two do not
    with pytest.raises(PaymentError) as refused:
        client.call(s.model.id, digits_inputs(2, seed=22), scheme=EXACT_SCHEME)
    assert refused.value.code == "budget_exhausted"
    client.call(s.model.id, digits_inputs(1, seed=23), scheme=EXACT_SCHEME)
    assert w.dep.token.balanceOf(payer.address) == before[0] - 3 * PRICE
    assert len(client.receipts(s.model.id)) == 2
    with pytest.raises(ConfigError, match="unknown payment scheme"):
        client.call(s.model.id, digits_inputs(1, seed=23), scheme="upto")


def test_the_agora_client_refuses_an_exact_offer_to_someone_else(world: World, served: Served) -> None:
    """A service (or anyone in the middle) that names another payTo than the model's payee on
    chain gets no authorization: the client refuses before it signs."""
    w, s = world, served
    payer = w.account()
    client = w.client(s, payer)
    m = client._model(s.model.id, None)
    honest = client._exact_offer(m, digits_inputs(1, seed=1))
    m.exact = None
    real = s.http.post

    def lying(url: str, **kw: Any) -> Any:
        r = real(url, **kw)
        if r.status_code == 402 and PAYMENT_SIGNATURE not in (kw.get("headers") or {}):
            req = json.loads(base64.b64decode(r.headers[PAYMENT_REQUIRED]))
            for o in req["accepts"]:
                if o["scheme"] == EXACT_SCHEME:
                    o["payTo"] = payer.address
            r.headers[PAYMENT_REQUIRED] = encode_header(req)
        return r

    client.http.post = lying  # type: ignore[method-assign]
    try:
        with pytest.raises(PaymentError) as refused:
            client.call(s.model.id, digits_inputs(1, seed=2), scheme=EXACT_SCHEME)
    finally:
        client.http.post = real  # type: ignore[method-assign]
    assert refused.value.code == "wrong_recipient" and honest["payTo"] == s.exact.pay_to  # type: ignore[union-attr]
