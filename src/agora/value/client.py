"""``Client.models``: call registered models as paid APIs.

    >>> result = client.models.call(model_id, ["a cat sits on the mat"], budget=10**18)
    >>> result.output            # the decoded answer (agora.workloads.WorkloadOutput)
    >>> result.receipt           # signed by the model's service, checked here

The client finds the endpoint in the model card (checked against its digest on
chain), opens or tops up a channel within the budget, signs one cheque per call
(a running total, so nothing is paid twice), checks every receipt (service key
from the registry, input, output and weights hashes, amount) and keeps it. Its
channel state lives in SQLite, so a restart resumes the running total; if it is
lost anyway, the server's last cheque (signed by this client, so it cannot be
forged) restores it. No chain call is made per paid call.

With ``scheme="exact"`` a call is paid by x402's ``exact`` scheme instead: one EIP-3009
authorization to the model's payee (checked against the chain), settled by the service
before it answers: no channel, a transaction per call.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from agora.chain import Signer
from agora.errors import AgoraError, ConfigError
from agora.storage import Storage
from agora.storage.state import open_state_db
from agora.value.channels import ChannelInfo, Channels
from agora.value.cheques import sign_cheque
from agora.value.models import Lineage, ModelCard, ModelInfo, ModelRegistry, validate_card
from agora.value.receipts import Receipt, ReceiptError, receipts_domain
from agora.value.x402 import (
    CHANNEL_SCHEME,
    DYNAMIC_EXTRA,
    EXACT_SCHEME,
    PAYMENT_REQUIRED,
    PAYMENT_RESPONSE,
    PAYMENT_SIGNATURE,
    X402_VERSION,
    PaymentError,
    decode_header,
    encode_header,
)
from agora.workloads import WorkloadOutput, decode_output, get_workload

__all__ = ["ModelsClient", "CallResult", "ChannelView", "encode_input"]

#: Calls' worth of deposit put into a new channel (capped by the budget).
CALLS_PER_DEPOSIT = 200
CHANNEL_DURATION_S = 86_400
_EXTEND_BELOW_S = 3_600


def encode_input(kind: str, inputs: Any) -> bytes:
    """The request body for ``inputs``: bytes as they are; a list of texts as JSON; an array as .npy."""
    if isinstance(inputs, bytes | bytearray):
        return bytes(inputs)
    if isinstance(inputs, list) and all(isinstance(t, str) for t in inputs):
        return json.dumps(inputs).encode()
    try:
        import numpy as np

        from agora.workloads import encode_digits_input

        if isinstance(inputs, np.ndarray) and kind == "onnx-classify":
            return encode_digits_input(inputs)
    except ImportError:  # pragma: no cover
        pass
    raise ConfigError(f"cannot encode {type(inputs).__name__} as input for {kind}; pass bytes")


@dataclass(frozen=True)
class CallResult:
    """One paid call: the raw answer, its decoded form and the checked receipt."""

    data: bytes
    receipt: Receipt

    @property
    def output(self) -> WorkloadOutput:
        """The decoded canonical output."""
        return decode_output(self.data)


@dataclass(frozen=True)
class ChannelView:
    """One of this account's channels: its state on chain and, when this account's state knows
    it, the total charged on it so far (None for a channel found only on chain)."""

    info: ChannelInfo
    charged: int | None


@dataclass
class _Model:
    info: ModelInfo
    card: ModelCard
    service: str
    url: str
    offer: dict[str, Any] | None = None  # the service's agora-channel offer, learned from its first 402
    exact: dict[str, Any] | None = None  # its exact offer (payTo checked against the chain)


@dataclass
class _Chan:
    id: int
    deposit: int
    expiry: int
    total: int  # charges of answered calls
    signed: int  # largest amount signed
    nonce: int  # last nonce signed
    inflight: int = 0


_SCHEMA = """
CREATE TABLE IF NOT EXISTS channels (
    channels TEXT NOT NULL, model INTEGER NOT NULL, id TEXT NOT NULL, deposit TEXT NOT NULL,
    expiry INTEGER NOT NULL, total TEXT NOT NULL, signed TEXT NOT NULL, nonce INTEGER NOT NULL,
    PRIMARY KEY (channels, model)
);
CREATE TABLE IF NOT EXISTS receipts (
    channels TEXT NOT NULL, channel TEXT NOT NULL, nonce INTEGER NOT NULL, model INTEGER NOT NULL,
    receipt TEXT NOT NULL, PRIMARY KEY (channels, channel, nonce)
);
CREATE TABLE IF NOT EXISTS budgets (channels TEXT NOT NULL, model INTEGER NOT NULL, deposited TEXT NOT NULL,
    PRIMARY KEY (channels, model));
"""


class ModelsClient:
    """Paid calls to registered models from one account."""

    def __init__(
        self, registry: ModelRegistry, channels: Channels, signer: Signer | None, state_path: Path, *,
        storage: Storage | None = None, http: httpx.Client | None = None, budget: int | None = None,
    ) -> None:
        self.registry = registry
        self.channels = channels
        self.chain = channels.chain
        self.signer = signer
        self.storage = storage
        #: default most tokens deposited per model in total (None: no cap)
        self.budget = budget
        self.http = http or httpx.Client(timeout=60, trust_env=False)
        self.receipt_domain = receipts_domain(self.chain.chain_id, registry.contract.address)
        self._db = open_state_db(state_path, schema=_SCHEMA)
        self._models: dict[int, _Model] = {}
        self._chans: dict[int, _Chan] = {}
        self._lock = threading.Lock()
        self._chain_lock = threading.Lock()
        self._clock_offset: int | None = None
        self._looked_up: set[int] = set()

    # -- public -------------------------------------------------------------------------
    def call(
        self, model_id: int, inputs: Any, *, budget: int | None = None, endpoint: str | None = None,
        scheme: str = CHANNEL_SCHEME,
    ) -> CallResult:
        """Call ``model_id`` with ``inputs`` and pay for it; return the checked answer.

        ``budget`` caps what this account pays the model in total, deposits and exact
        payments together (default: the client's ``budget``). ``scheme``: ``agora-channel``
        (a cheque on a channel, no transaction per call) or ``exact`` (one EIP-3009 transfer
        per call, settled by the service). Raises PaymentError if the service refuses payment,
        ReceiptError if its receipt does not check out, ConfigError on bad input.
        """
        if scheme not in (CHANNEL_SCHEME, EXACT_SCHEME):
            raise ConfigError(f"unknown payment scheme {scheme!r}; use {CHANNEL_SCHEME} or {EXACT_SCHEME}")
        signer = self._require_signer()
        m = self._model(model_id, endpoint)
        data = encode_input(m.card.kind, inputs)
        cost = self._price(m, data)
        if scheme == EXACT_SCHEME:
            return self._call_exact(m, data, cost, budget if budget is not None else self.budget, signer)
        if m.offer is None:
            m.offer = self._fetch_offer(m, data)
        for attempt in range(3):
            header, ch, nonce = self._pay(m, cost, budget if budget is not None else self.budget, signer)
            try:
                resp = self.http.post(m.url, content=data, headers={PAYMENT_SIGNATURE: header})
            except httpx.HTTPError as exc:
                self._settle(ch, cost, answered=False)
                raise ConfigError(f"model {model_id}'s service at {m.url} is unreachable: {exc}") from None
            if resp.status_code == 200:
                receipt = self._check_answer(m, resp, data, cost, ch.id, nonce)
                self._settle(ch, cost, answered=True, receipt=receipt)
                return CallResult(resp.content, receipt)
            self._settle(ch, cost, answered=False)
            if resp.status_code == 402 and attempt < 2 and self._recover(m, ch, resp):
                continue
            raise _error_of(resp)
        raise AssertionError("unreachable")  # pragma: no cover

    def lineage(self, model_id: int) -> Lineage:
        """Where ``model_id`` came from, read from the chain: its versions back to the first
        (``versions[0]`` is the model), the datasets it was trained on with each one's current
        owner in the dataset registry, and the compute jobs that produced it.

            >>> lin = client.models.lineage(model_id)
            >>> [(d.id, d.owner) for d in lin.datasets], lin.jobs, [v.id for v in lin.versions]

        ConfigError for an unknown model. Needs no account.
        """
        with self._chain_lock:
            return self.registry.fetch_lineage(model_id)

    def receipts(self, model_id: int | None = None) -> list[Receipt]:
        """The receipts kept for this account's calls (of one model, or all)."""
        q = "SELECT receipt FROM receipts WHERE channels = ?" + (" AND model = ?" if model_id is not None else "")
        args: tuple[Any, ...] = (self.channels.address,) + ((model_id,) if model_id is not None else ())
        with self._lock:
            rows = self._db.execute(q + " ORDER BY channel, nonce", args).fetchall()
        return [Receipt.from_json(json.loads(r[0])) for r in rows]

    def fetch_bundle(self, receipt: Receipt, *, endpoint: str | None = None) -> dict[str, Any]:
        """The receipt's bundle from the model's service (``GET /receipts/<digest>``): with its batch's
        root and inclusion proof once the service has anchored it. The service is not trusted:
        check what comes back (``agora.verification.verify_bundle``). ConfigError if it has none."""
        m = self._model(receipt.model_id, endpoint)
        digest = receipt.digest(self.receipt_domain)
        url = m.url.removesuffix("/call") + "/receipts/0x" + digest.hex()
        try:
            resp = self.http.get(url)
        except httpx.HTTPError as exc:
            raise ConfigError(f"model {receipt.model_id}'s service at {url} is unreachable: {exc}") from None
        if resp.status_code != 200:
            try:
                why = str(resp.json().get("error"))
            except ValueError:
                why = f"HTTP {resp.status_code}"
            raise ConfigError(f"model {receipt.model_id}'s service has no bundle for this receipt: {why}")
        doc = resp.json()
        if not isinstance(doc, dict):
            raise ReceiptError("the service answered something other than a receipt bundle")
        return doc

    def known_channels(self) -> list[dict[str, int]]:
        """Every channel this account's state knows (one per model: the one in use)."""
        with self._lock:
            rows = self._db.execute(
                "SELECT model, id, deposit, expiry, total, signed FROM channels WHERE channels = ? ORDER BY model",
                (self.channels.address,),
            ).fetchall()
        return [
            {"model": m, "id": int(i), "deposit": int(d), "expiry": e, "total": int(t), "signed": int(sg)}
            for m, i, d, e, t, sg in rows
        ]

    def fetch_channels(self, model_id: int | None = None) -> list[ChannelView]:
        """This account's channels as the chain holds them: those its state knows and, with
        ``model_id``, every channel it opened to that model (found from the chain's events)."""
        known = {c["id"]: c["total"] for c in self.known_channels()}
        found: list[ChannelInfo] = []
        if model_id is not None:
            if self.signer is None:
                raise ConfigError("no account to act as", hint="set AGORA_KEYSTORE or AGORA_PRIVATE_KEY")
            found = [c for c in self.channels.find(self.signer.address, model_id) if c.id not in known]
        return [ChannelView(self.channels.fetch(cid), total) for cid, total in known.items()] + [
            ChannelView(info, None) for info in found
        ]

    def channel_of(self, model_id: int) -> dict[str, int] | None:
        """This account's channel to ``model_id`` (id, deposit, expiry, total charged, signed)."""
        ch = self._load_chan(model_id)
        if ch is None:
            return None
        return {"id": ch.id, "deposit": ch.deposit, "expiry": ch.expiry, "total": ch.total, "signed": ch.signed}

    # -- model resolution -------------------------------------------------------------------
    def _model(self, model_id: int, endpoint: str | None) -> _Model:
        m = self._models.get(model_id)
        if m is None:
            with self._chain_lock:
                info = self.registry.fetch(model_id)
                card = self.registry.fetch_card(model_id, info)
                service = self.registry.service_of(model_id)
            validate_card(card, info)
            base = endpoint or card.endpoint
            if not base:
                raise ConfigError(f"model {model_id}'s card has no endpoint", hint="pass endpoint=")
            m = _Model(info, card, service, base.rstrip("/") + "/call")
            self._models[model_id] = m
        elif endpoint and endpoint.rstrip("/") + "/call" != m.url:
            m.url, m.offer = endpoint.rstrip("/") + "/call", None
        return m

    @staticmethod
    def _price(m: _Model, data: bytes) -> int:
        try:
            items = get_workload(m.card.kind).units(data)
        except AgoraError as exc:
            raise ConfigError(f"bad input for model {m.info.id} ({m.card.kind}): {exc}") from None
        if items > m.card.max_items:
            raise ConfigError(f"model {m.info.id} takes at most {m.card.max_items} input items per call, got {items}")
        return m.card.price * items

    def _payment_required(self, m: _Model, data: bytes) -> dict[str, Any]:
        """The service's terms: an unpaid request answers 402 with ``PAYMENT-REQUIRED``."""
        try:
            resp = self.http.post(m.url, content=data)
        except httpx.HTTPError as exc:
            raise ConfigError(f"model {m.info.id}'s service at {m.url} is unreachable: {exc}") from None
        if resp.status_code != 402:
            raise _error_of(resp)
        return decode_header(resp.headers.get(PAYMENT_REQUIRED, ""), PAYMENT_REQUIRED)

    def _fetch_offer(self, m: _Model, data: bytes) -> dict[str, Any]:
        """Ask the service for its terms (an unpaid request answers 402 with its offers) and keep
        its ``agora-channel`` offer, which every payment then copies as its ``accepted``."""
        offer = _offer_of(self._payment_required(m, data), CHANNEL_SCHEME)
        if offer is None:
            raise PaymentError("unsupported_scheme", f"model {m.info.id}'s service offers no {CHANNEL_SCHEME} payment")
        if str(offer.get("payTo", "")).lower() != self.channels.address.lower():
            raise PaymentError(
                "wrong_contract", f"model {m.info.id}'s service wants payment to {offer.get('payTo')}, not to this "
                f"deployment's channels {self.channels.address}",
            )
        return {k: v for k, v in offer.items() if k != "extra"} | {
            "extra": {k: v for k, v in offer.get("extra", {}).items() if k not in DYNAMIC_EXTRA}
        }

    # -- the exact scheme --------------------------------------------------------------------
    def _exact_offer(self, m: _Model, data: bytes) -> dict[str, Any]:
        """The service's ``exact`` offer, its ``payTo`` checked to be the model's payee on chain
        and its asset this deployment's token (so the money can only reach the model's split)."""
        if m.exact is not None:
            return m.exact
        offer = _offer_of(self._payment_required(m, data), EXACT_SCHEME)
        if offer is None:
            raise PaymentError("unsupported_scheme", f"model {m.info.id}'s service offers no {EXACT_SCHEME} payment")
        with self._chain_lock:
            payee = self.channels.payee_of(m.info.id)
        token = self.channels.token.address
        if payee is None or str(offer.get("payTo", "")).lower() != payee.lower():
            raise PaymentError("wrong_recipient", f"model {m.info.id}'s service wants payment to "
                               f"{offer.get('payTo')}, not to the model's payee {payee}")
        if str(offer.get("asset", "")).lower() != token.lower():
            raise PaymentError("offer_mismatch", f"model {m.info.id}'s service wants {offer.get('asset')}, not this "
                               f"deployment's token {token}")
        m.exact = offer
        return offer

    def _call_exact(self, m: _Model, data: bytes, cost: int, budget: int | None, signer: Signer) -> CallResult:
        from agora.chain.eip712 import Domain
        from agora.chain.permits import TransferAuthorization, new_authorization_nonce, sign_transfer_authorization

        offer = self._exact_offer(m, data)
        with self._lock:
            paid = self._deposited(m.info.id)
            if budget is not None and paid + cost > budget:
                if budget < cost:
                    raise PaymentError(
                        "budget_too_small", f"the budget {budget} is below this call's price {cost} "
                        f"(model {m.info.id})", hint="raise --budget")
                raise _budget_exhausted(m.info.id, paid)
        extra = offer.get("extra") or {}
        domain = Domain(str(extra.get("name", "")), str(extra.get("version", "")), self.chain.chain_id,
                        str(offer["asset"]))
        if self._clock_offset is None:
            with self._chain_lock:
                self._clock_offset = self.chain.timestamp() - int(time.time())
        now = self._now()
        auth = TransferAuthorization(signer.address, str(offer["payTo"]), cost, 0,
                                     now + int(offer.get("maxTimeoutSeconds") or 60), new_authorization_nonce())
        signature = sign_transfer_authorization(signer, domain, auth)
        payment = {"x402Version": X402_VERSION, "accepted": {**offer, "amount": str(cost)},
                   "payload": {"authorization": auth.to_json(), "signature": "0x" + signature.hex()}}
        try:
            resp = self.http.post(m.url, content=data, headers={PAYMENT_SIGNATURE: encode_header(payment)})
        except httpx.HTTPError as exc:
            raise ConfigError(
                f"model {m.info.id}'s service at {m.url} did not answer: {exc}",
                hint=f"whether it settled the payment, the token says: authorizationState({signer.address}, "
                     f"0x{auth.nonce.hex()})",
            ) from None
        if resp.status_code != 200:
            raise _error_of(resp)
        nonce = int.from_bytes(auth.nonce, "big")
        receipt = self._check_answer(m, resp, data, cost, 0, nonce)
        with self._lock:
            self._add_deposited(m.info.id, cost)
            self._db.execute(
                "INSERT OR REPLACE INTO receipts VALUES (?, ?, ?, ?, ?)",
                (self.channels.address, "0", f"0x{auth.nonce.hex()}", m.info.id, json.dumps(receipt.to_json())),
            )
        return CallResult(resp.content, receipt)

    # -- channel and cheque -----------------------------------------------------------------
    def _pay(self, m: _Model, cost: int, budget: int | None, signer: Signer) -> tuple[str, _Chan, int]:
        if budget is not None and budget < cost:
            raise PaymentError(
                "budget_too_small", f"the budget {budget} is below this call's price {cost} (model {m.info.id})",
                hint="raise --budget",
            )
        with self._lock:
            ch = self._chans.get(m.info.id) or self._load_chan(m.info.id)
        need = max(ch.signed if ch else 0, (ch.total + ch.inflight if ch else 0) + cost)
        now = self._now()
        if ch is None or need > ch.deposit or ch.expiry - now < _EXTEND_BELOW_S:
            ch = self._fund(m, ch, need, cost, budget, signer)
        with self._lock:
            amount = max(ch.signed, ch.total + ch.inflight + cost)
            ch.nonce += 1
            nonce = ch.nonce
            ch.signed = amount
            ch.inflight += cost
            self._save_chan(m.info.id, ch)
        cheque = sign_cheque(signer, self.channels.domain, ch.id, nonce, amount)
        assert m.offer is not None  # learned by call()
        payment = {
            "x402Version": X402_VERSION, "accepted": {**m.offer, "amount": str(cost)}, "payload": cheque.to_json(),
        }
        return encode_header(payment), ch, nonce

    def _fund(
        self, m: _Model, ch: _Chan | None, need: int, cost: int, budget: int | None, signer: Signer,
    ) -> _Chan:
        """Open, top up or extend (chain transactions; only when the channel runs short)."""
        with self._chain_lock:
            # another thread may have opened, topped up or extended it while this one waited
            with self._lock:
                cur = self._chans.get(m.info.id)
                if cur is not None:
                    need = max(cur.signed, cur.total + cur.inflight + cost)
                    if need <= cur.deposit and cur.expiry - self._now() >= _EXTEND_BELOW_S:
                        return cur
                    ch = cur
            now = self.chain.timestamp()
            self._clock_offset = now - int(time.time())
            if ch is None and m.info.id not in self._looked_up:
                ch = self._adopt(m, signer, now)
            deposited = self._deposited(m.info.id)
            if ch is not None:
                info = self.channels.fetch(ch.id)
                ch.deposit, ch.expiry = info.deposit, info.expiry
                if not info.open:
                    ch = None
            size = max(need - (ch.deposit if ch else 0), m.card.price * CALLS_PER_DEPOSIT)
            if budget is not None:
                size = min(size, budget - deposited)
            if ch is None:
                if size <= 0 or size < need:
                    raise _budget_exhausted(m.info.id, deposited)
                cid, _ = self.channels.open(m.info.id, size, now + CHANNEL_DURATION_S, signer)
                ch = _Chan(cid, size, now + CHANNEL_DURATION_S, 0, 0, 0)
                self._add_deposited(m.info.id, size)
            else:
                if need > ch.deposit:
                    if size <= 0 or ch.deposit + size < need:
                        raise _budget_exhausted(m.info.id, deposited)
                    self.channels.top_up(ch.id, size, signer)
                    ch.deposit += size
                    self._add_deposited(m.info.id, size)
                if ch.expiry - now < _EXTEND_BELOW_S:
                    ch.expiry = now + CHANNEL_DURATION_S
                    self.channels.extend(ch.id, ch.expiry, signer)
        with self._lock:
            self._chans[m.info.id] = ch
            self._save_chan(m.info.id, ch)
        return ch

    def _adopt(self, m: _Model, signer: Signer, now: int) -> _Chan | None:
        """With no local record of a channel to ``m``, look for one on chain (state lost or a new
        machine): the newest open one is resumed from what was claimed; the first cheque then
        learns the true running total from the service (see :meth:`_recover`)."""
        self._looked_up.add(m.info.id)
        if self._db.execute(
            "SELECT 1 FROM channels WHERE channels = ? AND model = ?", (self.channels.address, m.info.id)
        ).fetchone():
            return None
        found = self.channels.find(signer.address, m.info.id)
        if not found:
            return None
        if self._deposited(m.info.id) == 0:
            self._add_deposited(m.info.id, sum(c.deposit for c in found))
        live = next((c for c in found if c.open and c.expiry > now), None)
        if live is None:
            return None
        return _Chan(live.id, live.deposit, live.expiry, live.claimed, live.claimed, live.nonce)

    def _settle(self, ch: _Chan, cost: int, *, answered: bool, receipt: Receipt | None = None) -> None:
        with self._lock:
            ch.inflight -= cost
            if answered:
                ch.total += cost
            model = next((k for k, v in self._chans.items() if v is ch), None)
            if model is not None:
                self._save_chan(model, ch)
            if receipt is not None:
                self._db.execute(
                    "INSERT OR REPLACE INTO receipts VALUES (?, ?, ?, ?, ?)",
                    (self.channels.address, str(receipt.channel_id), receipt.nonce, receipt.model_id,
                     json.dumps(receipt.to_json())),
                )

    def _recover(self, m: _Model, ch: _Chan, resp: httpx.Response) -> bool:
        """After a 402: resume from the server's view if it proves (with our own signed cheque)
        that more was charged than we recorded; top up or extend if that is what it wants."""
        try:
            req = decode_header(resp.headers.get(PAYMENT_REQUIRED, ""), PAYMENT_REQUIRED)
            code = resp.json().get("code", "")
        except (PaymentError, ValueError):
            return False
        offer = _offer_of(req, CHANNEL_SCHEME)
        state = (offer or {}).get("extra", {}).get("channel") or {}
        if code in ("insufficient_amount", "cheque_replayed", "nonce_not_rising") and state.get("latestCheque"):
            from agora.value.cheques import Cheque

            q = state["latestCheque"]
            cheque = Cheque(int(q["channelId"]), int(q["nonce"]), int(q["amount"]), bytes.fromhex(q["signature"][2:]))
            if cheque.channel_id != ch.id or cheque.signer(self.channels.domain) != self._require_signer().address:
                return False
            with self._lock:
                ch.total = max(ch.total, int(state["spent"]))
                ch.signed = max(ch.signed, cheque.amount)
                ch.nonce = max(ch.nonce, cheque.nonce)
                self._save_chan(m.info.id, ch)
            return True
        if code in ("amount_above_deposit", "channel_expiring", "channel_closed"):
            with self._lock:
                ch.expiry = 0 if code != "amount_above_deposit" else ch.expiry
                ch.deposit = 0 if code == "amount_above_deposit" else ch.deposit
            return True
        return False

    def _check_answer(
        self, m: _Model, resp: httpx.Response, data: bytes, cost: int, channel: int, nonce: int,
    ) -> Receipt:
        try:
            info = decode_header(resp.headers.get(PAYMENT_RESPONSE, ""), PAYMENT_RESPONSE)
            receipt = Receipt.from_json(info["extra"]["receipt"])
        except (PaymentError, KeyError, TypeError) as exc:
            raise ReceiptError(f"model {m.info.id}'s answer carries no valid receipt: {exc}") from None
        receipt.verify(
            self.receipt_domain, m.service, weights_hash=m.info.weights_hash, inputs=data, output=resp.content,
        )
        if (receipt.amount, receipt.channel_id, receipt.nonce, receipt.model_id) != (cost, channel, nonce, m.info.id):
            raise ReceiptError("the receipt names another charge, cheque or model than this call's")
        return receipt

    # -- persistence --------------------------------------------------------------------------
    def _load_chan(self, model_id: int) -> _Chan | None:
        if model_id in self._chans:
            return self._chans[model_id]
        row = self._db.execute(
            "SELECT id, deposit, expiry, total, signed, nonce FROM channels WHERE channels = ? AND model = ?",
            (self.channels.address, model_id),
        ).fetchone()
        if row is None:
            return None
        ch = _Chan(int(row[0]), int(row[1]), row[2], int(row[3]), int(row[4]), row[5])
        self._chans[model_id] = ch
        return ch

    def _save_chan(self, model_id: int, ch: _Chan) -> None:
        self._db.execute(
            "INSERT OR REPLACE INTO channels VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (self.channels.address, model_id, str(ch.id), str(ch.deposit), ch.expiry, str(ch.total), str(ch.signed),
             ch.nonce),
        )

    def _deposited(self, model_id: int) -> int:
        row = self._db.execute(
            "SELECT deposited FROM budgets WHERE channels = ? AND model = ?", (self.channels.address, model_id)
        ).fetchone()
        return int(row[0]) if row else 0

    def _add_deposited(self, model_id: int, amount: int) -> None:
        total = self._deposited(model_id) + amount
        self._db.execute(
            "INSERT OR REPLACE INTO budgets VALUES (?, ?, ?)", (self.channels.address, model_id, str(total))
        )

    def _now(self) -> int:
        return int(time.time()) + (self._clock_offset or 0)

    def _require_signer(self) -> Signer:
        if self.signer is None:
            raise ConfigError("paying for a call needs an account", hint="set AGORA_PRIVATE_KEY or AGORA_KEYSTORE")
        return self.signer


def _offer_of(required: dict[str, Any], scheme: str) -> dict[str, Any] | None:
    return next((o for o in required.get("accepts") or [] if isinstance(o, dict) and o.get("scheme") == scheme), None)


def _budget_exhausted(model_id: int, deposited: int) -> PaymentError:
    return PaymentError("budget_exhausted", f"the budget for model {model_id} is spent ({deposited} deposited)")


def _error_of(resp: httpx.Response) -> AgoraError:
    try:
        body = resp.json()
        message, code = str(body.get("error", resp.text)), str(body.get("code", "error"))
    except ValueError:
        message, code = resp.text[:200] or f"HTTP {resp.status_code}", "error"
    if resp.status_code == 402:
        return PaymentError(code, f"the service refused the payment: {message}")
    if resp.status_code == 400:
        return ConfigError(f"the service refused the input: {message}")
    return AgoraError(f"the service answered HTTP {resp.status_code}: {message}")
