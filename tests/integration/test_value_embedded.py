"""The paid model API end to end on the embedded chain, the server driven in process.

A registered digits model is served by :class:`PaidService` + :func:`create_app` through
starlette's ``TestClient``; clients pay with cheques over payment channels. Shown here:

* the happy path: receipts check out, the service earned what the client paid, and a claim
  followed by withdrawals gives each recipient its exact split;
* a client built only from the 402 answer and eth-account can pay and check its receipt;
* every refused payment (replay, another chain or contract, above the deposit, a total that
  does not rise, an expiring channel, malformed headers, a stranger's signature, another
  model's channel, an unknown channel) is answered 402 with a stable ``code``, and a bad input
  400, and none of them changes anything: the service's books, its ledger, its counters, or
  the channel on chain;
* eight threads sharing one client on one channel;
* a restart of the service (nothing lost, replays still refused, every wei claimable) and of
  the client (resumes its running total; recovers from a stale state via the server's view);
* a budget caps what a client deposits and, once spent, stops it signing.
"""

from __future__ import annotations

import base64
import json
import sqlite3
import threading
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from eth_account import Account
from eth_account.messages import encode_typed_data
from eth_hash.auto import keccak
from hypothesis import given, settings
from hypothesis import strategies as st

from agora.chain import Contract, Signer, connect, deploy, signer_from_key
from agora.errors import ConfigError, Reverted
from agora.protocol import Deployment, deploy_devnet, fund_account
from agora.storage import LocalStore, Storage
from agora.value import (
    OWNER,
    ChannelIdParts,
    Channels,
    Cheque,
    ModelCard,
    ModelRegistry,
    ModelsClient,
    PaidService,
    PaymentError,
    Share,
    channels_domain,
    create_app,
    decode_channel_id,
    encode_channel_id,
    fetch_earnings,
    fetch_model_details,
    sign_cheque,
    split_amount,
    withdraw_revenue,
)
from agora.value.exact import ExactPayments, build_exact_payments
from agora.value.server import _RunTimer
from agora.value.views import build_lineage_view, build_model_view
from agora.value.x402 import CHANNEL_SCHEME, PAYMENT_REQUIRED, PAYMENT_RESPONSE, PAYMENT_SIGNATURE, encode_header
from agora.workloads import build_digits_model, decode_output, digits_inputs, get_workload
from tests.integration.lineage_helpers import publish_datasets

with warnings.catch_warnings():
    # starlette's TestClient warns that plain httpx is deprecated for it
    warnings.filterwarnings("ignore", message=r"Using `httpx` with `starlette\.testclient`")
    from fastapi.testclient import TestClient

pytestmark = pytest.mark.xdist_group("value-embedded")

PRICE = 10**15 + 7  # odd, so the split has rounding to do
SPLIT_BPS = (3333, 3334, 3333)
DAY = 86_400
ENDPOINT = "http://testserver"


# --- the world ----------------------------------------------------------------------------------
@dataclass
class Model:
    id: int
    card: ModelCard
    owner: Signer
    recipients: list[Signer]  # in split order; the first is the owner (the OWNER share)
    bps: tuple[int, ...]


@dataclass
class Served:
    """One service and the HTTP client that reaches it in process."""

    svc: PaidService
    http: TestClient
    model: Model
    ledger: Path
    exact: ExactPayments | None = None


@dataclass
class World:
    root: Path
    uri: str = "embedded://"  # or a node's URL (anvil)
    chain: Any = None
    dep: Deployment = None  # type: ignore[assignment]
    storage: Storage = None  # type: ignore[assignment]
    registry: ModelRegistry = None  # type: ignore[assignment]
    channels: Channels = None  # type: ignore[assignment]
    model_bytes: bytes = b""
    keys: dict[str, str] = field(default_factory=dict)  # address -> private key
    datasets: list[int] = field(default_factory=list)  # published in the dataset registry: models train on them
    _n: int = 0

    def __post_init__(self) -> None:
        self.chain = connect(self.uri)
        self.dep = deploy_devnet(self.chain)
        self.storage = Storage(LocalStore(self.root / "blobs"), [])
        self.registry = ModelRegistry(self.dep, self.storage)
        self.channels = Channels(self.dep)
        self.model_bytes = build_digits_model()
        self.workload = get_workload("onnx-classify")
        self.datasets = publish_datasets(self.dep, self.account(tokens=0))

    def account(self, tokens: int = 10**21) -> Signer:
        """A fresh key with gas and ``tokens``."""
        acct = Account.create()
        fund_account(self.dep, acct.address, tokens=tokens, eth=10**18)
        self.keys[acct.address] = acct.key.hex()
        return signer_from_key(acct.key)

    def register(self, price: int = PRICE, bps: tuple[int, ...] = SPLIT_BPS) -> Model:
        owner = self.account(tokens=0)
        others = [self.account(tokens=0) for _ in bps[1:]]
        self._n += 1
        card = ModelCard(
            name=f"digits-{self._n}", kind="onnx-classify", weights_cid=self.storage.put(self.model_bytes),
            weights_hash="0x" + self.workload.weights_hash(self.model_bytes).hex(), price=price, endpoint=ENDPOINT,
        )
        split = [Share(OWNER, bps[0]), *(Share(s.address, b) for s, b in zip(others, bps[1:], strict=True))]
        mid, _ = self.registry.register(card, owner, split=split, datasets=self.datasets, jobs=[])
        return Model(mid, card, owner, [owner, *others], bps)

    def serve(self, model: Model, ledger: Path | None = None, exact: bool = False, inline_max_s: float | None = None,
              **kw: Any) -> Served:
        """Serve ``model``; with ``exact``, x402's exact scheme too (creating the model's payee);
        ``inline_max_s``: create_app's (default: its own)."""
        ledger = ledger or self.root / f"ledger-{model.id}-{self._next()}.sqlite"
        svc = PaidService(
            chain=self.chain, registry=self.registry, channels=self.channels, model_id=model.id, card=model.card,
            workload=self.workload, model_bytes=self.model_bytes, signer=model.owner, ledger_path=ledger, **kw,
        )
        svc.sync()  # what create_app(background=True) does on startup: learn the chain's clock and channels
        ex = build_exact_payments(svc) if exact else None
        app_kw = {} if inline_max_s is None else {"inline_max_s": inline_max_s}
        return Served(svc, TestClient(create_app(svc, exact=ex, claim_on_exit=False, **app_kw)), model, ledger, ex)

    def client(self, served: Served, payer: Signer, state: Path | None = None, **kw: Any) -> ModelsClient:
        state = state or self.root / f"client-{self._next()}.sqlite"
        return ModelsClient(self.registry, self.channels, payer, state, storage=self.storage, http=served.http, **kw)

    def _next(self) -> int:
        self._n += 1
        return self._n


#: ERC-721 ``transferFrom``: a dataset changing hands, as any ERC-721 wallet sends it
ERC721_TRANSFER_ABI: list[dict[str, Any]] = [{
    "type": "function", "name": "transferFrom", "stateMutability": "nonpayable", "outputs": [],
    "inputs": [{"name": "owner", "type": "address"}, {"name": "to", "type": "address"},
               {"name": "token_id", "type": "uint256"}],
}]


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> World:
    return World(tmp_path_factory.mktemp("value-embedded"))


def withdraw_all(w: World, model: Model) -> list[int]:
    """Each recipient withdraws (the first distributes the pot); return what each got."""
    return [w.channels.withdraw(s, [model.id]) for s in model.recipients]


def offer_of(s: Served, body: bytes | None = None) -> dict[str, Any]:
    """The service's agora-channel offer for ``body`` (one digit by default), from its 402."""
    r = s.http.post("/call", content=body if body is not None else digits_inputs(1, seed=3))
    assert r.status_code == 402, r.text
    req = json.loads(base64.b64decode(r.headers[PAYMENT_REQUIRED]))
    return next(o for o in req["accepts"] if o["scheme"] == CHANNEL_SCHEME)


def header_for(s: Served, q: Cheque, **accepted: Any) -> str:
    acc = {**offer_of(s), **accepted}
    return encode_header({"x402Version": 2, "accepted": acc, "payload": q.to_json()})


# --- happy path -----------------------------------------------------------------------------------
def test_happy_path_receipts_earnings_claim_and_exact_split(world: World) -> None:
    w = world
    m = w.register()
    s = w.serve(m)
    payer = w.account()
    mc = w.client(s, payer)
    outputs = []
    for i in range(20):
        res = mc.call(m.id, digits_inputs(1, seed=i))
        assert res.receipt.amount == PRICE and res.receipt.nonce == i + 1
        outputs.append(res)
    # every answer is the model's own output, and its receipt checks out against the registry
    service = w.registry.service_of(m.id)
    assert service == m.owner.address
    for i, res in enumerate(outputs):
        assert res.data == w.workload.run(w.model_bytes, digits_inputs(1, seed=i))
        assert decode_output(res.data).kind == "onnx-classify"
        res.receipt.verify(s.svc.receipt_domain, service, inputs=digits_inputs(1, seed=i), output=res.data,
                           weights_hash=bytes.fromhex(m.card.weights_hash[2:]))
        assert res.receipt.payer == payer.address and res.receipt.model_id == m.id
    kept = mc.receipts(m.id)
    assert [r.nonce for r in kept] == list(range(1, 21)) and kept == [r.receipt for r in outputs]
    total = PRICE * 20
    chan = mc.channel_of(m.id)
    assert chan is not None
    assert s.svc.earned() == chan["total"] == chan["signed"] == total
    assert s.svc.unclaimed() == total and s.svc.stats.calls == 20 and s.svc.ledger.calls() == 20
    assert s.svc.stats.chain_reads == 1, "one eth_call for the new channel, none per paid call"
    assert s.http.get("/health").json()["earned"] == str(total)
    # settle: one claim, then each recipient withdraws its exact share of the wei
    assert s.svc.claim() == 0, "below the threshold nothing is due"
    assert s.svc.claim(force=True) == total
    assert s.svc.unclaimed() == 0 and s.svc.claim(force=True) == 0
    info = w.channels.fetch(chan["id"])
    assert info.claimed == total and info.nonce == 20 and info.payer == payer.address
    assert w.channels.pot(m.id) == total
    before = [w.dep.token.balanceOf(r.address) for r in m.recipients]
    got = withdraw_all(w, m)
    assert got == split_amount(total, m.bps) and sum(got) == total
    assert got[1] == total * SPLIT_BPS[1] // 10_000 and got[0] > total * SPLIT_BPS[0] // 10_000  # the rest
    assert [w.dep.token.balanceOf(r.address) - b for r, b in zip(m.recipients, before, strict=True)] == got
    assert w.channels.pot(m.id) == 0


@pytest.fixture(scope="module")
def odd_split(world: World) -> tuple[Model, Signer]:
    return world.register(bps=(1, 4999, 3, 4997)), world.account(tokens=10**27)


@given(amount=st.integers(1, 10**24))
@settings(max_examples=12, deadline=None)
def test_split_rule_on_chain_matches_the_model(world: World, odd_split: tuple[Model, Signer], amount: int) -> None:
    """A hypothesis-drawn claim is split on chain exactly as the Python model says."""
    w, (m, payer) = world, odd_split
    cid, _ = w.channels.open(m.id, amount, w.chain.timestamp() + DAY, payer)
    w.channels.claim(sign_cheque(payer, w.channels.domain, cid, 1, amount), payer)
    parts = split_amount(amount, m.bps)
    balances = [w.channels.balance_of(r.address) for r in m.recipients]
    w.channels.distribute(m.id, payer)
    assert [w.channels.balance_of(r.address) - b for r, b in zip(m.recipients, balances, strict=True)] == parts


# --- a client that knows only x402 and EIP-712 ------------------------------------------------------
RECEIPT_STRUCT = [  # from docs/x402.md, section 6 (the house receipt, docs/verifiability.md)
    {"name": "kind", "type": "string"}, {"name": "subject", "type": "uint256"}, {"name": "item", "type": "uint256"},
    {"name": "weightsHash", "type": "bytes32"}, {"name": "inputHash", "type": "bytes32"},
    {"name": "outputHash", "type": "bytes32"}, {"name": "runner", "type": "address"},
    {"name": "payer", "type": "address"}, {"name": "amount", "type": "uint256"},
    {"name": "payment", "type": "uint256"}, {"name": "time", "type": "uint64"},
]

def test_client_from_the_402_answer_and_eth_account_only(world: World) -> None:
    w = world
    m = w.register()
    s = w.serve(m)
    payer = w.account()
    key = w.keys[payer.address]
    http = s.http
    body = digits_inputs(2, seed=42)

    # 1. unpaid: 402 with everything needed
    r = http.post("/call", content=body)
    assert r.status_code == 402 and r.json() == {"error": "payment required", "code": "payment_required"}
    req = json.loads(base64.b64decode(r.headers[PAYMENT_REQUIRED]))
    assert req["x402Version"] == 2 and req["resource"]["url"].endswith("/call")
    (acc,) = req["accepts"]
    extra = acc["extra"]
    assert acc["scheme"] == "agora-channel" and acc["network"] == f"eip155:{w.chain.chain_id}"
    price = int(acc["amount"])
    assert price == 2 * PRICE, "the price is for this body's two items"
    model_id = int(extra["modelId"])

    # 2. open a channel on chain, to the contract the 402 named, in the token it named
    abi_source = w.dep  # only the ABIs; the addresses come from the 402
    channels = Contract(w.chain, "PaymentChannels", extra["channels"], abi_source.contract("channels").abi)
    token = Contract(w.chain, "AgoraToken", acc["asset"], abi_source.token.abi)
    assert acc["payTo"] == extra["channels"] == extra["domain"]["verifyingContract"]
    tx_signer = signer_from_key(key)
    deposit = 10 * price
    token.approve(channels.address, deposit, sender=tx_signer)
    expiry = w.chain.timestamp() + int(extra["minExpirySeconds"]) + DAY
    receipt = channels.open(model_id, deposit, expiry, "0x" + "00" * 20, sender=tx_signer)
    (opened,) = channels.events_in(receipt, "ChannelOpened")
    channel_id = int(opened.args["channel_id"])

    # 3. sign the cheque with eth-account from the 402's own typed-data description
    def pay(nonce: int, amount: int) -> Any:
        typed = {"types": extra["types"], "primaryType": extra["primaryType"], "domain": extra["domain"],
                 "message": {"channelId": channel_id, "nonce": nonce, "amount": amount}}
        sig = Account.sign_typed_data(key, full_message=typed).signature
        payment = {"x402Version": 2, "accepted": acc,
                   "payload": {"channelId": str(channel_id), "nonce": str(nonce), "amount": str(amount),
                               "signature": "0x" + bytes(sig).hex()}}
        header = base64.b64encode(json.dumps(payment).encode()).decode()
        return http.post("/call", content=body, headers={"PAYMENT-SIGNATURE": header})

    r = pay(1, price)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/vnd.agora-result"
    resp = json.loads(base64.b64decode(r.headers[PAYMENT_RESPONSE]))
    assert resp["success"] is True and resp["amount"] == str(price) and resp["transaction"] == ""
    assert resp["extra"]["scheme"] == "agora-channel" and resp["payer"] == payer.address
    assert resp["extra"]["channelId"] == str(channel_id) and resp["extra"]["nonce"] == "1"

    # 4. check the receipt with eth-account, from extra["receipt"] (domain and signer)
    rc = resp["extra"]["receipt"]

    def receipt_signer(rc: dict[str, Any]) -> str:
        typed = {
            "types": {"EIP712Domain": extra["types"]["EIP712Domain"], "Receipt": RECEIPT_STRUCT},
            "primaryType": "Receipt", "domain": extra["receipt"]["domain"],
            "message": {"kind": rc["kind"], "subject": int(rc["subject"]), "item": int(rc["item"]),
                        "weightsHash": rc["weightsHash"], "inputHash": rc["inputHash"], "outputHash": rc["outputHash"],
                        "runner": rc["runner"], "payer": rc["payer"], "amount": int(rc["amount"]),
                        "payment": int(rc["payment"]), "time": int(rc["time"])},
        }
        return Account.recover_message(encode_typed_data(full_message=typed), signature=rc["signature"])

    assert receipt_signer(rc) == extra["receipt"]["signer"] == m.owner.address
    assert rc["inputHash"] == "0x" + keccak(body).hex() and rc["outputHash"] == "0x" + keccak(r.content).hex()
    assert rc["weightsHash"] == m.card.weights_hash and int(rc["amount"]) == price
    tampered = dict(rc, amount=str(price + 1))
    assert receipt_signer(tampered) != m.owner.address

    # a second call: the running total rises
    r2 = pay(2, 2 * price)
    assert r2.status_code == 200
    r2_extra = json.loads(base64.b64decode(r2.headers[PAYMENT_RESPONSE]))["extra"]
    assert receipt_signer(r2_extra["receipt"]) == m.owner.address
    # and the service can claim what this client signed, on chain
    assert s.svc.claim(force=True) == 2 * price
    assert int(channels.channel(channel_id)[4]) == 2 * price


# --- refused payments change nothing ---------------------------------------------------------------
@dataclass
class Bench:
    w: World
    s: Served
    m: Model
    payer: Signer
    cid: int
    deposit: int
    inline: bool = False  # honest calls run on the event loop (see server._RunTimer)
    nonce: int = 0  # the highest nonce accepted
    amount: int = 0  # the best cheque's amount
    last: Cheque | None = None
    used: list[int] = field(default_factory=list)

    def post(self, header: str | None, body: bytes | None = None) -> Any:
        headers = {PAYMENT_SIGNATURE: header} if header is not None else {}
        return self.s.http.post("/call", content=body if body is not None else digits_inputs(1, seed=3),
                                headers=headers)

    def pay(self, nonce: int, amount: int, signer: Signer | None = None, domain: Any = None,
            channel: int | None = None) -> Any:
        q = sign_cheque(signer or self.payer, domain or self.w.channels.domain,
                        self.cid if channel is None else channel, nonce, amount)
        return self.post(header_for(self.s, q)), q

    def ok(self, nonce: int, amount: int) -> None:
        r, q = self.pay(nonce, amount)
        assert r.status_code == 200, r.text
        self.nonce, self.amount, self.last = max(self.nonce, nonce), max(self.amount, amount), q
        self.used.append(nonce)

    def snapshot(self) -> tuple[Any, ...]:
        svc = self.s.svc
        state = svc.channel_state(self.cid)
        assert state is not None
        return (svc.earned(), svc.unclaimed(), svc.ledger.calls(), svc.stats.calls, svc.stats.claimed,
                state["spent"], state["latestCheque"], self.w.channels.fetch(self.cid),
                self.w.dep.token.balanceOf(self.w.channels.address), self.w.channels.pot(self.m.id))


@pytest.fixture(scope="module", params=["threadpool", "inline"])
def bench(world: World, request: pytest.FixtureRequest) -> Bench:
    """A served model and a payer's channel with four calls paid. ``inline``: the server has
    timed enough calls to run a tiny model's paid calls on its event loop (any model counts as
    tiny here, so the path is taken on a loaded machine too); ``threadpool``: never."""
    w = world
    m = w.register()
    inline = request.param == "inline"
    s = w.serve(m, inline_max_s=60.0 if inline else 0.0)
    payer = w.account()
    deposit = 100 * PRICE
    cid, _ = w.channels.open(m.id, deposit, w.chain.timestamp() + DAY, payer)
    b = Bench(w, s, m, payer, cid, deposit)
    for n in (1, 2, 3):
        b.ok(n, n * PRICE)
    b.ok(10, 4 * PRICE)  # nonces need only rise, not be consecutive
    if inline:
        for i in range(_RunTimer.SAMPLES - 4):  # the first calls are timed in the threadpool
            b.ok(11 + i, (5 + i) * PRICE)
        before = s.http.get("/health").json()["inline_calls"]
        b.ok(b.nonce + 1, b.amount + PRICE)
        assert s.http.get("/health").json()["inline_calls"] == before + 1, "a known channel's call runs inline"
        b.inline = True
    return b


def _refused(b: Bench, r: Any, status: int, code: str) -> dict[str, Any]:
    assert r.status_code == status, r.text
    body = r.json()
    assert body["code"] == code, body
    assert body["error"] and "\n" not in body["error"]
    if status == 402:
        req = json.loads(base64.b64decode(r.headers[PAYMENT_REQUIRED]))
        if code != "payment_required":
            assert req["error"] == code, "the code is in the header as well as the body"
        return req
    return {}


CASES: dict[str, tuple[int, str]] = {
    "replay-last": (402, "cheque_replayed"),
    "replay-old": (402, "cheque_replayed"),
    "other-chain-id": (402, "invalid_signature"),
    "other-contract": (402, "invalid_signature"),
    "above-deposit": (402, "amount_above_deposit"),
    "same-amount-new-nonce": (402, "insufficient_amount"),
    "lower-amount-new-nonce": (402, "insufficient_amount"),
    "higher-amount-lower-nonce": (402, "nonce_not_rising"),
    "stranger-signer": (402, "invalid_signature"),
    "unknown-channel": (402, "unknown_channel"),
    "garbage-header": (402, "malformed_header"),
    "not-base64": (402, "malformed_header"),
    "json-not-object": (402, "malformed_header"),
    "wrong-version": (402, "unsupported_version"),
    "wrong-scheme": (402, "unsupported_scheme"),
    "wrong-network": (402, "wrong_network"),
    "wrong-payto": (402, "offer_mismatch"),
    "wrong-amount": (402, "offer_mismatch"),
    "no-max-timeout": (402, "offer_mismatch"),
    "other-extra": (402, "offer_mismatch"),
    "short-signature": (402, "invalid_signature"),
    "bad-input-unpaid": (400, "bad_input"),
    "bad-input-paid": (400, "bad_input"),
    "too-many-items": (400, "bad_input"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_refused_payment_changes_nothing(bench: Bench, case: str) -> None:
    b, w = bench, bench.w
    status, code = CASES[case]
    good_next = (b.nonce + 1, b.amount + PRICE)
    before = b.snapshot()
    rows = sqlite3.connect(str(b.s.ledger)).execute("SELECT COUNT(*) FROM cheques").fetchone()[0]

    payload = b.last.to_json() if b.last else {}
    envelope = {"x402Version": 2, "accepted": offer_of(b.s), "payload": payload}
    if case == "replay-last":
        r = b.post(header_for(b.s, b.last))  # type: ignore[arg-type]
    elif case == "replay-old":
        r, _ = b.pay(1, PRICE)
    elif case == "other-chain-id":
        r, _ = b.pay(*good_next, domain=channels_domain(w.chain.chain_id + 1, w.channels.address))
    elif case == "other-contract":
        r, _ = b.pay(*good_next, domain=channels_domain(w.chain.chain_id, w.registry.contract.address))
    elif case == "above-deposit":
        r, _ = b.pay(b.nonce + 1, b.deposit + 1)
    elif case == "same-amount-new-nonce":
        r, _ = b.pay(b.nonce + 1, b.amount)
    elif case == "lower-amount-new-nonce":
        r, _ = b.pay(b.nonce + 1, b.amount - PRICE)
    elif case == "higher-amount-lower-nonce":
        assert 5 not in b.used and 5 < b.nonce
        r, _ = b.pay(5, b.amount + PRICE)
    elif case == "stranger-signer":
        r, _ = b.pay(*good_next, signer=w.chain.dev_signers[9])
    elif case == "unknown-channel":
        r, _ = b.pay(1, PRICE, channel=(b.cid & ~0xFFFFFFFF) | 0xFFFFFF)
    elif case == "garbage-header":
        r = b.post("garbage")
    elif case == "not-base64":
        r = b.post("%%%not base64%%%")
    elif case == "json-not-object":
        r = b.post(base64.b64encode(b"[1,2,3]").decode())
    elif case == "wrong-version":
        r = b.post(encode_header({**envelope, "x402Version": 1}))
    elif case == "wrong-scheme":
        r = b.post(encode_header({**envelope, "accepted": {**envelope["accepted"], "scheme": "exact"}}))
    elif case == "wrong-network":
        r = b.post(encode_header({**envelope, "accepted": {**envelope["accepted"], "network": "eip155:1"}}))
    elif case == "wrong-payto":
        wrong = {**envelope["accepted"], "payTo": w.registry.contract.address}
        r = b.post(encode_header({**envelope, "accepted": wrong}))
    elif case == "wrong-amount":
        q = sign_cheque(b.payer, w.channels.domain, b.cid, *good_next)
        r = b.post(header_for(b.s, q, amount=str(PRICE - 1)))
    elif case == "no-max-timeout":
        acc = {k: v for k, v in envelope["accepted"].items() if k != "maxTimeoutSeconds"}
        r = b.post(encode_header({**envelope, "accepted": acc}))
    elif case == "other-extra":
        q = sign_cheque(b.payer, w.channels.domain, b.cid, *good_next)
        r = b.post(header_for(b.s, q, extra={**envelope["accepted"]["extra"], "modelId": str(b.m.id + 1)}))
    elif case == "short-signature":
        r = b.post(encode_header({**envelope, "payload": {**payload, "signature": payload["signature"][:-2]}}))
    elif case == "bad-input-unpaid":
        r = b.post(None, body=b"this is not an npy array")
    elif case == "bad-input-paid":
        q = sign_cheque(b.payer, w.channels.domain, b.cid, *good_next)
        r = b.post(header_for(b.s, q), body=b"\x93NUMPY garbage")
    elif case == "too-many-items":
        q = sign_cheque(b.payer, w.channels.domain, b.cid, *good_next)
        r = b.post(header_for(b.s, q), body=digits_inputs(b.m.card.max_items + 1))
    else:  # pragma: no cover
        raise AssertionError(case)

    req = _refused(b, r, status, code)
    if code in ("cheque_replayed", "insufficient_amount", "nonce_not_rising", "amount_above_deposit"):
        # a refusal that named a known channel carries the service's view, with the best cheque
        state = next(o for o in req["accepts"] if o["scheme"] == CHANNEL_SCHEME)["extra"]["channel"]
        assert state["id"] == str(b.cid) and state["spent"] == str(b.amount)
        assert state["latestCheque"]["amount"] == str(b.amount)
    assert b.snapshot() == before
    assert sqlite3.connect(str(b.s.ledger)).execute("SELECT COUNT(*) FROM cheques").fetchone()[0] == rows
    # and the payer's next honest cheque is still good: nothing was used up
    inline = b.s.http.get("/health").json()["inline_calls"]
    b.ok(*good_next)
    assert b.s.http.get("/health").json()["inline_calls"] == inline + b.inline  # on the path the bench is for


def test_a_paid_bad_input_does_not_use_up_the_cheque(bench: Bench) -> None:
    b, w = bench, bench.w
    q = sign_cheque(b.payer, w.channels.domain, b.cid, b.nonce + 1, b.amount + PRICE)
    before = b.snapshot()
    _refused(b, b.post(header_for(b.s, q), body=b"not an array"), 400, "bad_input")
    assert b.snapshot() == before
    r = b.post(header_for(b.s, q))  # the very same cheque, now with a good body
    assert r.status_code == 200
    b.nonce, b.amount, b.last = q.nonce, q.amount, q


def test_another_models_channel_is_refused(world: World, bench: Bench) -> None:
    w, b = world, bench
    other = w.register()
    cid, _ = w.channels.open(other.id, 10 * PRICE, w.chain.timestamp() + DAY, b.payer)
    before = b.snapshot()
    r, _ = b.pay(1, PRICE, channel=cid)
    _refused(b, r, 402, "wrong_model")
    assert b.snapshot() == before
    info = w.channels.fetch(cid)
    assert info.claimed == 0 and info.nonce == 0
    assert b.s.svc.ledger.load_channels() and all(row[0] != cid for row in b.s.svc.ledger.load_channels())
    # the channel is not this model's: GET /channels/{id} does not show it (though the server read it)
    r = b.s.http.get(f"/channels/{cid}")
    assert r.status_code == 404 and r.json()["code"] == "unknown_channel"


def test_get_channel_takes_decimal_or_hex_ids_and_refuses_the_rest(bench: Bench) -> None:
    b = bench
    mine = b.s.http.get(f"/channels/{b.cid}")
    assert mine.status_code == 200 and mine.json()["id"] == str(b.cid)
    assert b.s.http.get(f"/channels/{hex(b.cid)}").json() == mine.json()
    for bad in ("abc", "-1", "0", "1.5", str(2**256), "0xzz"):
        r = b.s.http.get(f"/channels/{bad}")
        assert r.status_code == 400 and r.json()["code"] == "bad_input", (bad, r.text)


def test_expiring_and_closed_channels_are_refused(world: World, bench: Bench) -> None:
    w, b = world, bench
    svc = b.s.svc
    margin = svc.expiry_margin_s
    payer = w.account()
    # a channel that leaves less than the margin is refused from its first cheque
    short, _ = w.channels.open(b.m.id, 10 * PRICE, w.chain.timestamp() + margin // 2, payer)
    r, _ = b.pay(1, PRICE, signer=payer, channel=short)
    _refused(b, r, 402, "channel_expiring")
    # one that has time is served, until the chain's clock runs up to the margin
    cid, _ = w.channels.open(b.m.id, 10 * PRICE, w.chain.timestamp() + margin + 60, payer)
    r, _ = b.pay(1, PRICE, signer=payer, channel=cid)
    assert r.status_code == 200
    spent = svc.earned()
    w.chain.advance_time(90)
    svc.sync()  # the background loop's job: learn the chain's clock and events
    chain_before = w.channels.fetch(cid)
    calls, rows = svc.stats.calls, svc.ledger.calls()
    r, _ = b.pay(2, 2 * PRICE, signer=payer, channel=cid)
    _refused(b, r, 402, "channel_expiring")
    after = (svc.earned(), svc.stats.calls, svc.ledger.calls(), w.channels.fetch(cid))
    assert after == (spent, calls, rows, chain_before)
    # before the payer can close it, the service claims what it earned (it is urgent now)
    assert cid in {q.channel_id for q in svc.due_cheques()}
    # past the expiry the payer closes it; a cheque on it is refused as closed
    w.chain.advance_time(120)
    svc.sync()
    claimed_before = svc.stats.claimed
    svc.claim()
    assert svc.stats.claimed - claimed_before >= PRICE, "the urgent claim is made, even after the expiry"
    w.channels.close(cid, payer)
    r, _ = b.pay(3, 3 * PRICE, signer=payer, channel=cid)
    _refused(b, r, 402, "channel_closed")
    info = w.channels.fetch(cid)
    assert not info.open and info.claimed == PRICE


# --- concurrency ------------------------------------------------------------------------------------
def test_eight_threads_one_client_one_channel(world: World) -> None:
    w = world
    m = w.register()
    s = w.serve(m)
    payer = w.account()
    calls, threads = 100, 8
    with s.http:  # one portal shared by all threads
        mc = w.client(s, payer)
        todo = list(range(calls))
        lock = threading.Lock()
        results: list[Any] = []
        errors: list[BaseException] = []
        start = threading.Barrier(threads)

        def worker() -> None:
            start.wait()
            while True:
                with lock:
                    if not todo:
                        return
                    i = todo.pop()
                try:
                    res = mc.call(m.id, digits_inputs(1, seed=i))
                    with lock:
                        results.append(res)
                except BaseException as exc:  # noqa: BLE001
                    with lock:
                        errors.append(exc)

        pool = [threading.Thread(target=worker) for _ in range(threads)]
        for t in pool:
            t.start()
        for t in pool:
            t.join(120)
    assert not errors, errors[:3]
    assert len(results) == calls
    assert len({r.receipt.channel_id for r in results}) == 1, "one channel for all threads"
    assert len({r.receipt.nonce for r in results}) == calls
    (cid,) = {r.receipt.channel_id for r in results}
    assert s.svc.earned() == calls * PRICE and s.svc.stats.calls == calls and s.svc.stats.rejected == 0
    chan = mc.channel_of(m.id)
    assert chan is not None and chan["id"] == cid and chan["total"] == calls * PRICE
    opened = [e for e in w.channels.contract.get_events("ChannelOpened", w.dep.block)
              if e.args["payer"] == payer.address]
    assert len(opened) == 1, "the threads' first calls opened one channel between them"
    assert s.svc.claim(force=True) == calls * PRICE
    assert w.channels.fetch(cid).claimed == calls * PRICE


# --- restarts -----------------------------------------------------------------------------------------
def _backup(src: Path, dst: Path) -> None:
    a, b = sqlite3.connect(str(src)), sqlite3.connect(str(dst))
    a.backup(b)
    a.close()
    b.close()


class Count402:
    """Counts refused payments (402 answers to requests that carried one; a client's first,
    unpaid request per model only learns the offer)."""

    def __init__(self, http: TestClient) -> None:
        self.n = 0
        http.event_hooks = {"response": [self]}

    def __call__(self, response: Any) -> None:
        if response.status_code == 402 and PAYMENT_SIGNATURE in response.request.headers:
            self.n += 1


def test_restart_service_and_clients(world: World) -> None:
    w = world
    m = w.register()
    s1 = w.serve(m)
    payer = w.account()
    state = w.root / "restart-client.sqlite"
    mc = w.client(s1, payer, state)
    for i in range(7):
        mc.call(m.id, digits_inputs(1, seed=i))
    stale = w.root / "restart-client-stale.sqlite"
    _backup(state, stale)  # the client's state after 7 calls
    for i in range(7, 12):
        mc.call(m.id, digits_inputs(1, seed=i))
    n = 12
    cid = mc.channel_of(m.id)["id"]  # type: ignore[index]
    old = [q for q, _ in s1.svc.ledger.cheques(cid)]
    assert [q.nonce for q in old] == list(range(1, n + 1))
    s1.svc.close()

    # the service restarts on the same ledger: nothing is lost
    s2 = w.serve(m, ledger=s1.ledger)
    svc = s2.svc
    assert svc.earned() == svc.unclaimed() == n * PRICE
    assert svc.channel_state(cid)["spent"] == str(n * PRICE)  # type: ignore[index]
    (due,) = svc.due_cheques(force=True)
    assert (due.channel_id, due.nonce, due.amount) == (cid, n, n * PRICE), "the claimable cheque is restored"
    for q in (old[-1], old[0], old[5]):  # old cheques buy nothing
        r = s2.http.post("/call", content=digits_inputs(1), headers={PAYMENT_SIGNATURE: header_for(s2, q)})
        assert r.status_code == 402 and r.json()["code"] == "cheque_replayed"
    assert svc.earned() == n * PRICE and svc.stats.calls == 0

    # the same client state resumes its running total: no 402
    count = Count402(s2.http)
    mc2 = w.client(s2, payer, state)
    for i in range(3):
        res = mc2.call(m.id, digits_inputs(1, seed=100 + i))
        assert res.receipt.nonce == n + 1 + i
    n += 3
    assert count.n == 0 and svc.earned() == n * PRICE

    # a client restored from a stale copy of its state: the server's latest cheque (signed by
    # this payer) puts it right after one refused attempt
    mc3 = w.client(s2, payer, stale)
    assert mc3.channel_of(m.id)["total"] == 7 * PRICE  # type: ignore[index]
    res = mc3.call(m.id, digits_inputs(1, seed=200))
    n += 1
    assert count.n == 1, "one 402, then the retry is paid"
    assert res.receipt.nonce == n and res.receipt.amount == PRICE
    assert mc3.channel_of(m.id)["total"] == n * PRICE and svc.earned() == n * PRICE  # type: ignore[index]
    for i in range(2):
        mc3.call(m.id, digits_inputs(1, seed=300 + i))
    n += 2
    assert count.n == 1

    # a client with no state at all finds its open channel on chain, resumes it from what was
    # claimed, and learns the true running total from the server's latest cheque (one 402)
    mc4 = w.client(s2, payer, w.root / "restart-client-fresh.sqlite")
    res = mc4.call(m.id, digits_inputs(1, seed=400))
    n += 1
    assert count.n == 2, "one 402, then the retry is paid"
    assert res.receipt.channel_id == cid and res.receipt.nonce == n
    assert mc4.channel_of(m.id)["total"] == n * PRICE  # type: ignore[index]

    # every earned wei is claimed, exactly what was served
    earned = svc.earned()
    assert earned == n * PRICE
    assert svc.claim(force=True) == earned
    assert w.channels.fetch(cid).claimed == n * PRICE
    assert svc.unclaimed() == 0

    # and another restart after the claim knows it was claimed
    svc.close()
    s3 = w.serve(m, ledger=s1.ledger)
    assert s3.svc.earned() == earned and s3.svc.unclaimed() == 0 and s3.svc.claim(force=True) == 0
    s3.svc.close()


class DropOneAnswer:
    """An HTTP client whose next answer is lost on the way back (the server did answer)."""

    def __init__(self, inner: TestClient) -> None:
        self.inner, self.drop = inner, False

    def post(self, *args: Any, **kw: Any) -> Any:
        resp = self.inner.post(*args, **kw)
        if self.drop:
            self.drop = False
            raise httpx.ReadError("connection reset by peer")
        return resp


def test_an_answer_lost_on_the_way_is_learned_from_the_server(world: World) -> None:
    """The service charges a call once it is answered; if the answer never reaches the client,
    the client's next cheque falls one call short, and the 402's latest cheque (signed by the
    client itself) tells it what it was charged: one retry, and the books agree again."""
    w = world
    m = w.register()
    s = w.serve(m)
    payer = w.account()
    mc = w.client(s, payer)
    http = DropOneAnswer(s.http)
    mc.http = http  # type: ignore[assignment]
    count = Count402(s.http)
    for i in range(3):
        mc.call(m.id, digits_inputs(1, seed=i))
    http.drop = True
    with pytest.raises(ConfigError, match="unreachable"):
        mc.call(m.id, digits_inputs(1, seed=3))
    assert s.svc.earned() == 4 * PRICE and mc.channel_of(m.id)["total"] == 3 * PRICE  # type: ignore[index]
    res = mc.call(m.id, digits_inputs(1, seed=4))
    assert count.n == 1 and res.receipt.nonce == 6 and res.receipt.amount == PRICE
    chan = mc.channel_of(m.id)
    assert chan is not None and chan["total"] == chan["signed"] == s.svc.earned() == 5 * PRICE
    assert len(mc.receipts(m.id)) == 4, "no receipt for the lost answer"
    assert s.svc.claim(force=True) == 5 * PRICE


# --- budget ---------------------------------------------------------------------------------------------
def test_budget_smaller_than_a_deposit(world: World) -> None:
    w = world
    m = w.register()
    s = w.serve(m)
    payer = w.account()
    budget = 5 * PRICE + PRICE // 2
    mc = w.client(s, payer, budget=budget)
    balance = w.dep.token.balanceOf(payer.address)
    for i in range(5):
        mc.call(m.id, digits_inputs(1, seed=i))
    chan = mc.channel_of(m.id)
    assert chan is not None and chan["deposit"] == budget, "the channel holds the budget, not 200 calls' worth"
    assert w.channels.fetch(chan["id"]).deposit == budget
    assert w.dep.token.balanceOf(payer.address) == balance - budget
    calls, nonce = s.svc.stats.calls, w.chain.block_number()
    for _ in range(2):
        with pytest.raises(PaymentError) as err:
            mc.call(m.id, digits_inputs(1, seed=9))
        assert err.value.code == "budget_exhausted"
    after = mc.channel_of(m.id)
    assert after == chan, "nothing more was signed"
    assert s.svc.stats.calls == calls and s.svc.stats.rejected == 0 and s.svc.earned() == 5 * PRICE
    assert w.chain.block_number() == nonce, "no transaction either"
    assert w.dep.token.balanceOf(payer.address) == balance - budget
    # a call-level budget overrides the client's
    res = mc.call(m.id, digits_inputs(1, seed=10), budget=budget + 10 * PRICE)
    assert res.receipt.amount == PRICE
    assert w.channels.fetch(chan["id"]).deposit == budget + 10 * PRICE
    # two items cost twice
    res = mc.call(m.id, digits_inputs(2, seed=11), budget=budget + 10 * PRICE)
    assert res.receipt.amount == 2 * PRICE
    assert s.svc.claim(force=True) == 8 * PRICE


# --- the chain lock and the channel locks ---------------------------------------------------------
@pytest.mark.parametrize("background", ["sync", "claim"])
def test_background_chain_work_and_a_paid_call_do_not_deadlock(world: World, background: str) -> None:
    """A cheque above the cached deposit (the payer topped up) makes the service read the chain
    while it holds the channel's lock; the background sync and claim hold the chain lock and
    then update channels. Neither may wait on the other forever."""
    w = world
    m = w.register()
    s = w.serve(m, claim_threshold=1)
    svc = s.svc
    payer = w.account()
    cid, _ = w.channels.open(m.id, 2 * PRICE, w.chain.timestamp() + DAY, payer)
    r = s.http.post("/call", content=digits_inputs(1), headers={
        PAYMENT_SIGNATURE: header_for(s, sign_cheque(payer, w.channels.domain, cid, 1, PRICE))})
    assert r.status_code == 200
    w.channels.top_up(cid, 10 * PRICE, payer)  # the service has not seen it yet

    entered, release = threading.Event(), threading.Event()
    owner, name = (w.channels.contract, "get_events") if background == "sync" else (w.channels, "claim_many")
    real = getattr(owner, name)

    def slow(*args: Any, **kw: Any) -> Any:
        entered.set()  # the service holds the chain lock now
        release.wait(10)
        return real(*args, **kw)

    setattr(owner, name, slow)
    try:
        kwargs = {"force": True} if background == "claim" else {}
        bg = threading.Thread(target=getattr(svc, background), kwargs=kwargs, daemon=True)
        bg.start()
        assert entered.wait(10)
        q = sign_cheque(payer, w.channels.domain, cid, 2, 3 * PRICE)  # above the cached deposit
        hdr = header_for(s, q)
        answers: list[Any] = []
        call = threading.Thread(daemon=True, target=lambda: answers.append(s.http.post(
            "/call", content=digits_inputs(1), headers={PAYMENT_SIGNATURE: hdr})))
        call.start()
        time.sleep(0.3)  # the call now waits for the chain lock, holding the channel's lock
        release.set()
        bg.join(10)
        call.join(10)
        assert not bg.is_alive() and not call.is_alive(), f"{background} and a paid call deadlocked"
    finally:
        release.set()
        delattr(owner, name)
    assert answers[0].status_code == 200
    assert svc.ledger.calls() == 2 and svc.earned() == 2 * PRICE
    if background == "claim":
        # the claim took cheque 1; cheque 2 (3 calls' worth for 2 served) is never claimed as it is
        assert w.channels.fetch(cid).claimed == PRICE and svc.claim(force=True) == 0


# --- the layer's functions against the chain ------------------------------------------------------
def test_channel_id_layout_earnings_withdrawal_and_closing(world: World) -> None:
    """The channel id decodes to what the contract put in it; earnings predict the withdrawals to
    the wei; the registry walk sees every model; closing is refused until the expiry."""
    w = world
    m = w.register(bps=(5000, 3000, 2000))
    payer = w.account()
    count = int(w.channels.contract.channel_count())
    cid, _ = w.channels.open(m.id, 10 * PRICE, w.chain.timestamp() + 300, payer)
    assert decode_channel_id(cid) == ChannelIdParts(payer.address, m.id, count + 1)
    assert encode_channel_id(payer.address, m.id, count + 1) == cid
    assert w.channels.fetch(cid).sequence == count + 1

    assert m.id in w.registry.fetch_ids()
    assert [i.id for i in w.registry.iter_models()] == w.registry.fetch_ids()
    with pytest.warns(DeprecationWarning, match="ModelRegistry.fetch"):
        assert w.registry.get(m.id) == w.registry.fetch(m.id)
    with pytest.warns(DeprecationWarning, match="Channels.fetch"):
        assert w.channels.get(cid) == w.channels.fetch(cid)

    amount = 7 * PRICE + 3
    w.channels.claim(sign_cheque(payer, w.channels.domain, cid, 1, amount), payer)
    predicted = [fetch_earnings(w.registry, w.channels, r.address) for r in m.recipients]
    assert [e.total for e in predicted] == split_amount(amount, m.bps)
    assert [e.models[0].pot for e in predicted] == [amount] * 3
    with pytest.raises(ConfigError, match="there is no model 999"):
        fetch_earnings(w.registry, w.channels, payer.address, only=[999])
    got = [withdraw_revenue(w.registry, w.channels, r) for r in m.recipients]
    assert [g.amount for g in got] == [e.total for e in predicted]
    assert got[0].models == [m.id] and got[1].models == []  # the first withdrawal distributed the pot
    with pytest.raises(ConfigError, match="has nothing to withdraw"):
        withdraw_revenue(w.registry, w.channels, m.recipients[1])

    with pytest.raises(ConfigError, match=r"runs until \d+ \(\d+ s from now\)"):
        w.channels.close_expired(cid, payer)
    w.chain.advance_time(400)
    closed = w.channels.close_expired(cid, payer)
    assert (closed.id, closed.payer, closed.refund) == (cid, payer.address, 10 * PRICE - amount)
    with pytest.raises(ConfigError, match="is already closed"):
        w.channels.close_expired(cid, payer)


def test_lineage_walks_a_model_back_to_its_datasets_and_their_owners(world: World) -> None:
    """Through the SDK: a second version's lineage is its versions back to the root, its datasets
    with their owners as the dataset registry says now, and its compute jobs; an unknown dataset
    is refused at registration."""
    w = world
    v1 = w.register()
    first_owner = w.account(tokens=0)
    second_owner, buyer = w.account(tokens=0), w.account(tokens=0)
    (mine,) = publish_datasets(w.dep, first_owner)
    (theirs,) = publish_datasets(w.dep, second_owner)
    v2, _ = w.registry.register(
        v1.card, v1.owner, split=[Share(OWNER, 10_000)], datasets=[mine, theirs], jobs=[8, 9], parent=v1.id,
    )
    sdk = ModelsClient(w.registry, w.channels, None, w.root / "lineage-client.sqlite", storage=w.storage)

    lin = sdk.lineage(v2)
    assert [v.id for v in lin.versions] == [v2, v1.id] and lin.root == v1.id
    assert [(v.version, v.parent) for v in lin.versions] == [(2, v1.id), (1, 0)]
    assert [(d.id, d.owner) for d in lin.datasets] == [(mine, first_owner.address), (theirs, second_owner.address)]
    assert lin.jobs == [8, 9] and lin.dataset_registry == w.dep.addresses["data_registry"]
    view = build_lineage_view(lin)
    assert view["datasets"] == [{"id": mine, "owner": first_owner.address},
                                {"id": theirs, "owner": second_owner.address}]
    assert [v["id"] for v in view["versions"]] == [v2, v1.id] and view["root"] == v1.id
    root = sdk.lineage(v1.id)
    assert [v.id for v in root.versions] == [v1.id] and [d.id for d in root.datasets] == w.datasets

    # the dataset changes hands: the lineage follows its owner now; `show` says the same
    data_registry = Contract(w.chain, "DatasetRegistry", lin.dataset_registry, ERC721_TRANSFER_ABI)
    data_registry.transferFrom(second_owner.address, buyer.address, theirs, sender=second_owner)
    assert [d.owner for d in sdk.lineage(v2).datasets] == [first_owner.address, buyer.address]
    shown = build_model_view(fetch_model_details(w.registry, w.channels, v2))
    assert shown["provenance"] == {"datasets": [mine, theirs], "jobs": [8, 9], "parent": v1.id}
    assert shown["datasets"] == [{"id": mine, "owner": first_owner.address}, {"id": theirs, "owner": buyer.address}]
    assert shown["dataset_registry"] == lin.dataset_registry

    # refused before any transaction by the SDK, and by the contract for whoever sends one anyway
    with pytest.raises(ConfigError, match=rf"dataset {theirs + 1000} is not in the dataset registry"):
        w.registry.register(v1.card, v1.owner, split=[Share(OWNER, 10_000)], datasets=[mine, theirs + 1000])
    with pytest.raises(Reverted, match="ModelRegistry: unknown dataset"):
        w.registry.contract.register(b"\x01" * 32, b"\x02" * 32, "", [theirs + 1000], [], [(OWNER, 10_000)], 0,
                                     sender=v1.owner)
    with pytest.raises(ConfigError, match="there is no model 999"):
        sdk.lineage(999)


def test_a_registry_without_a_dataset_registry_leaves_datasets_unchecked(world: World) -> None:
    """A ModelRegistry deployed with the zero address (no data layer): any dataset id is stored,
    and the lineage names no owner."""
    w = world
    unchecked = deploy(w.chain, "ModelRegistry", OWNER, sender=w.chain.dev_signers[0])
    dep = Deployment(w.chain, {**w.dep.addresses, "models": unchecked.address}, dict(w.dep.artifacts), w.dep.block)
    registry = ModelRegistry(dep, w.storage)
    owner = w.account(tokens=0)
    card = ModelCard(name="unlinked", kind="onnx-classify", weights_cid=w.storage.put(w.model_bytes),
                     weights_hash="0x" + w.workload.weights_hash(w.model_bytes).hex(), price=PRICE)
    mid, _ = registry.register(card, owner, split=[Share(OWNER, 10_000)], datasets=[424242], jobs=[1])
    lin = registry.fetch_lineage(mid)
    assert lin.dataset_registry is None and [(d.id, d.owner) for d in lin.datasets] == [(424242, None)]
    assert lin.jobs == [1] and [v.id for v in lin.versions] == [mid]


def test_the_node_going_away_is_waited_out_and_paid_calls_go_on(
    world: World, caplog: pytest.LogCaptureFixture,
) -> None:
    """The background loop backs off while the node is unreachable (1 s, 2 s, …), says so once
    per wait and once when the node is back, and paid calls on known channels go on from the
    cache meanwhile."""
    from agora.errors import NodeUnreachable

    w = world
    m = w.register()
    s = w.serve(m)
    payer = w.account()
    client = w.client(s, payer)
    client.call(m.id, digits_inputs(1, seed=1))  # the channel is open and known to the server
    real_sync, outage = s.svc.sync, {"left": 0, "tried": 0}

    def flaky_sync() -> int:
        outage["tried"] += 1
        if outage["left"] > 0:
            outage["left"] -= 1
            raise NodeUnreachable("cannot reach the node at http://127.0.0.1:1 (connection refused)")
        return real_sync()

    s.svc.sync = flaky_sync  # type: ignore[method-assign]
    app = create_app(s.svc, background=True, sync_interval_s=0.05, claim_on_exit=False)
    caplog.set_level("WARNING", logger="agora.value.server")
    with TestClient(app) as http:  # its start-up syncs once, with the node there
        outage.update(left=2, tried=0)  # then the node goes away for two rounds
        paid = ModelsClient(w.registry, w.channels, payer, w.root / f"client-{w._next()}.sqlite",
                            storage=w.storage, http=http)
        while outage["left"] > 0:  # during the outage
            assert paid.call(m.id, digits_inputs(1, seed=2)).receipt.amount == PRICE
            time.sleep(0.05)
        deadline = time.monotonic() + 30
        while outage["tried"] < 4 and time.monotonic() < deadline:
            time.sleep(0.05)
    messages = [r.getMessage() for r in caplog.records]
    waits = [x for x in messages if "unreachable" in x]
    assert len(waits) == 2 and "retrying in 1 s" in waits[0] and "retrying in 2 s" in waits[1], messages
    assert sum("is back after" in x for x in messages) == 1, messages
