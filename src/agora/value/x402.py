"""The x402 v2 HTTP payment flow, with two schemes: ``exact`` and ``agora-channel``.

An unpaid request is answered ``402`` with a ``PAYMENT-REQUIRED`` header (base64
JSON)::

    {"x402Version": 2, "error": "<code>", "resource": {"url", "description", "mimeType"},
     "accepts": [<offer>, ...]}

Each offer (x402's ``PaymentRequirements``) is ``{"scheme", "network": "eip155:<chain id>",
"amount": "<this request's price, atomic units>", "asset": "<token>", "payTo",
"maxTimeoutSeconds", "extra"}``. Agora offers, at the same price:

* ``exact`` — one EIP-3009 ``transferWithAuthorization`` per request, to the model's
  payee (``payTo``), settled on chain before the answer; ``extra`` carries the token's
  EIP-712 ``name`` and ``version``. What every x402 client speaks.
* ``agora-channel`` — a cheque (:mod:`agora.value.cheques`) on a payment channel: the
  cheap path for many calls (no transaction per call). ``payTo`` is the channel contract;
  ``extra`` carries the cheque's EIP-712 domain and types.

The client pays by retrying with ``PAYMENT-SIGNATURE`` (base64 JSON)::

    {"x402Version": 2, "accepted": <one offer, unchanged>, "payload": {...}}

The server accepts a payment only if ``accepted`` equals one of its offers for that
request (the core terms exactly; the offer's ``extra`` a subset of the client's, as
x402's own servers check). The answer carries ``PAYMENT-RESPONSE`` (base64 JSON,
x402's ``SettleResponse``): ``{"success", "transaction", "network", "payer", "amount",
"extra": {"receipt", ...}}``. A refusal is ``402`` again, with the refusal's code in
``PAYMENT-REQUIRED.error`` and in the JSON body (``{"error": message, "code": code}``).
See ``docs/x402.md`` and ``docs/x402-agora-channel.md``.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from typing import Any

from agora.errors import AgoraError
from agora.value.cheques import CHEQUE_TYPES, MAX_CHEQUE_NONCE, Cheque

__all__ = [
    "X402_VERSION",
    "SCHEME",
    "CHANNEL_SCHEME",
    "EXACT_SCHEME",
    "PAYMENT_REQUIRED",
    "PAYMENT_SIGNATURE",
    "PAYMENT_RESPONSE",
    "EXPOSED_HEADERS",
    "PaymentError",
    "encode_header",
    "decode_header",
    "channel_offer",
    "exact_offer",
    "build_payment_required",
    "build_payment_response",
    "match_offer",
    "Payment",
    "parse_payment",
    "parse_cheque",
]

X402_VERSION = 2
#: Agora's channel scheme: per-call cheques on a payment channel (see docs/x402-agora-channel.md).
CHANNEL_SCHEME = "agora-channel"
#: x402's ``exact`` scheme on EVM: one EIP-3009 authorization per request.
EXACT_SCHEME = "exact"
#: The channel scheme (the name this module's first version exported).
SCHEME = CHANNEL_SCHEME
PAYMENT_REQUIRED = "PAYMENT-REQUIRED"
PAYMENT_SIGNATURE = "PAYMENT-SIGNATURE"
PAYMENT_RESPONSE = "PAYMENT-RESPONSE"
#: The headers a browser client on another origin must be allowed to read (CORS).
EXPOSED_HEADERS = (PAYMENT_REQUIRED, PAYMENT_RESPONSE)
#: ``extra`` fields of an offer that describe this request's state, not the terms: not compared.
DYNAMIC_EXTRA = frozenset({"channel"})
_MAX_HEADER = 8192
_CORE = ("scheme", "network", "amount", "asset", "payTo", "maxTimeoutSeconds")


class PaymentError(AgoraError):
    """A payment the server refuses; ``code`` is a stable machine-readable reason."""

    def __init__(self, code: str, message: str, *, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.code = code


def encode_header(obj: dict[str, Any]) -> str:
    """Base64 (standard alphabet) of compact JSON: an x402 header value."""
    return base64.b64encode(json.dumps(obj, separators=(",", ":")).encode()).decode()


def decode_header(value: str, name: str = "header") -> dict[str, Any]:
    """Parse an x402 header value; :class:`PaymentError` ``malformed_header`` if it is not base64 JSON."""
    if len(value) > _MAX_HEADER:
        raise PaymentError("malformed_header", f"{name} is longer than {_MAX_HEADER} characters")
    try:
        obj = json.loads(base64.b64decode(value, validate=True))
    except (binascii.Error, ValueError, UnicodeDecodeError):
        raise PaymentError("malformed_header", f"{name} is not base64-encoded JSON") from None
    if not isinstance(obj, dict):
        raise PaymentError("malformed_header", f"{name} must hold a JSON object")
    return obj


def channel_offer(
    *, chain_id: int, token: str, channels: str, model_id: int, amount: int, domain: dict[str, Any],
    receipt: dict[str, Any], max_timeout_s: int = 60, min_expiry_s: int = 0,
    channel_state: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The ``agora-channel`` offer for one request costing ``amount``.

    ``extra`` carries all a client that knows only x402 and EIP-712 needs: the channel
    contract, the model id, the cheque's EIP-712 domain and types, the receipt's domain and
    signer, and (when the request named a channel) the server's view of that channel
    (``extra.channel``, dynamic: not part of the terms), so a client that lost its state can
    resume.
    """
    extra: dict[str, Any] = {
        "channels": channels,
        "modelId": str(model_id),
        "domain": domain,
        "types": CHEQUE_TYPES,
        "primaryType": "Cheque",
        "minExpirySeconds": min_expiry_s,
        "receipt": receipt,
    }
    if channel_state is not None:
        extra["channel"] = channel_state
    return {
        "scheme": CHANNEL_SCHEME, "network": f"eip155:{chain_id}", "amount": str(amount), "asset": token,
        "payTo": channels, "maxTimeoutSeconds": max_timeout_s, "extra": extra,
    }


def exact_offer(
    *, chain_id: int, token: str, pay_to: str, amount: int, token_name: str, token_version: str,
    receipt: dict[str, Any], max_timeout_s: int = 60,
) -> dict[str, Any]:
    """The ``exact`` offer (EIP-3009) for one request costing ``amount``, paid to ``pay_to``.

    ``extra.name`` and ``extra.version`` are the token's EIP-712 domain fields, as x402
    clients expect; ``extra.receipt`` is where the service's signed receipt can be checked.
    """
    return {
        "scheme": EXACT_SCHEME, "network": f"eip155:{chain_id}", "amount": str(amount), "asset": token,
        "payTo": pay_to, "maxTimeoutSeconds": max_timeout_s,
        "extra": {"name": token_name, "version": token_version, "assetTransferMethod": "eip3009",
                  "receipt": receipt},
    }


def build_payment_required(
    *, url: str, description: str, mime_type: str, accepts: list[dict[str, Any]], error: str | None = None,
) -> dict[str, Any]:
    """The ``PAYMENT-REQUIRED`` object: the resource, the offers, and the refusal's code if any."""
    out: dict[str, Any] = {
        "x402Version": X402_VERSION,
        "resource": {"url": url, "description": description, "mimeType": mime_type},
        "accepts": accepts,
    }
    if error:
        out["error"] = error
    return out


def build_payment_response(
    *, network: str, payer: str, amount: int, transaction: str = "", extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The ``PAYMENT-RESPONSE`` object of a paid answer (x402's ``SettleResponse``)."""
    return {
        "success": True, "transaction": transaction, "network": network, "payer": payer, "amount": str(amount),
        "extra": extra or {},
    }


def match_offer(accepted: dict[str, Any], offers: list[dict[str, Any]]) -> dict[str, Any]:
    """The offer that ``accepted`` (a client's copy) equals, or :class:`PaymentError`.

    The core terms must be equal (addresses compared without regard to case); the offer's
    ``extra`` must be contained in the client's, apart from :data:`DYNAMIC_EXTRA`.
    """
    same_scheme = [o for o in offers if o["scheme"] == accepted.get("scheme")]
    if not same_scheme:
        names = ", ".join(sorted({o["scheme"] for o in offers}))
        raise PaymentError(
            "unsupported_scheme", f"scheme {accepted.get('scheme')!r} is not offered here (offered: {names})"
        )
    offer = same_scheme[0]
    for key in _CORE:
        mine, theirs = offer[key], accepted.get(key)
        if key in ("asset", "payTo") and isinstance(theirs, str):
            mine, theirs = str(mine).lower(), theirs.lower()
        if mine != theirs:
            if key == "network":
                raise PaymentError(
                    "wrong_network", f"the payment is for network {theirs!r}, this service is on {mine}"
                )
            raise PaymentError(
                "offer_mismatch",
                f"'accepted' must equal an offer: its {key} is {theirs!r}, the offer's is {mine!r}",
                hint="copy the offer from PAYMENT-REQUIRED unchanged",
            )
    theirs_extra = accepted.get("extra")
    theirs_extra = theirs_extra if isinstance(theirs_extra, dict) else {}
    for key, value in offer.get("extra", {}).items():
        if key not in DYNAMIC_EXTRA and theirs_extra.get(key) != value:
            raise PaymentError(
                "offer_mismatch", f"'accepted' must equal an offer: its extra.{key} differs from the offer's",
                hint="copy the offer from PAYMENT-REQUIRED unchanged",
            )
    return offer


@dataclass(frozen=True)
class Payment:
    """A parsed ``PAYMENT-SIGNATURE``: the offer it accepted, its scheme's payload, and the
    whole decoded object (what a facilitator is sent)."""

    offer: dict[str, Any]
    payload: dict[str, Any]
    raw: dict[str, Any]

    @property
    def scheme(self) -> str:
        """The accepted offer's scheme."""
        return str(self.offer["scheme"])


def parse_payment(value: str, offers: list[dict[str, Any]]) -> Payment:
    """Parse a ``PAYMENT-SIGNATURE`` header against this request's ``offers``.

    Returns the :class:`Payment`: the offer the client accepted and its scheme's payload
    (checked by the scheme). Raises :class:`PaymentError` with a one-line reason.
    """
    obj = decode_header(value, PAYMENT_SIGNATURE)
    if obj.get("x402Version") != X402_VERSION:
        raise PaymentError("unsupported_version", f"x402Version must be {X402_VERSION}")
    accepted = obj.get("accepted")
    if not isinstance(accepted, dict):
        raise PaymentError("malformed_header", "the payment lacks 'accepted' (the offer it pays)")
    offer = match_offer(accepted, offers)
    payload = obj.get("payload")
    if not isinstance(payload, dict):
        raise PaymentError("malformed_header", "the payment lacks 'payload'")
    return Payment(offer, payload, obj)


def parse_cheque(payload: dict[str, Any]) -> Cheque:
    """An ``agora-channel`` payload ``{"channelId", "nonce", "amount", "signature"}`` as a
    :class:`Cheque` (types only; the service checks the signature)."""
    try:
        channel_id = _uint(payload["channelId"])
        nonce = _uint(payload["nonce"])
        amount = _uint(payload["amount"])
        sig_hex = str(payload["signature"])
        signature = bytes.fromhex(sig_hex[2:] if sig_hex.startswith("0x") else sig_hex)
    except KeyError as exc:
        raise PaymentError("malformed_header", f"the payment payload lacks {exc.args[0]!r}") from None
    except ValueError as exc:
        raise PaymentError("malformed_header", f"the payment payload is malformed: {exc}") from None
    if len(signature) != 65:
        raise PaymentError("invalid_signature", "the cheque's signature must be 65 bytes")
    if not 1 <= nonce <= MAX_CHEQUE_NONCE:
        raise PaymentError(
            "nonce_out_of_range", f"a cheque's nonce must be 1 to {MAX_CHEQUE_NONCE} (the contract keeps 32 bits)",
        )
    return Cheque(channel_id, nonce, amount, signature)


def _uint(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise ValueError(f"{value!r} is not an unsigned integer")
    n = int(value, 0) if isinstance(value, str) and value.startswith("0x") else int(value)
    if not 0 <= n < 2**256:
        raise ValueError(f"{value!r} is out of range")
    return n
