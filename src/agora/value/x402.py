"""The x402 v2 HTTP payment flow with Agora's channel scheme (``batch-settlement``).

An unpaid request is answered ``402`` with a ``PAYMENT-REQUIRED`` header (base64
JSON)::

    {"x402Version": 2, "error": "...", "resource": {"url", "description", "mimeType"},
     "accepts": [{"scheme": "batch-settlement", "network": "eip155:<chain id>",
                  "amount": "<this request's price, atomic units>", "asset": "<token>",
                  "payTo": "<PaymentChannels>", "maxTimeoutSeconds": 60,
                  "extra": {"channels", "modelId", "domain", "types", "primaryType", ...}}]}

The client pays by retrying with ``PAYMENT-SIGNATURE`` (base64 JSON)::

    {"x402Version": 2, "accepted": <one entry of accepts>,
     "payload": {"channelId", "nonce", "amount", "signature"}}

where the payload is a cheque (:mod:`agora.value.cheques`) whose running total
covers this request. The answer carries ``PAYMENT-RESPONSE`` (base64 JSON) with
the charge and the service's signed receipt. See ``docs/x402.md``.
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

from agora.errors import AgoraError
from agora.value.cheques import CHEQUE_TYPES, Cheque

__all__ = [
    "X402_VERSION",
    "SCHEME",
    "PAYMENT_REQUIRED",
    "PAYMENT_SIGNATURE",
    "PAYMENT_RESPONSE",
    "PaymentError",
    "encode_header",
    "decode_header",
    "build_requirements",
    "parse_payment",
]

X402_VERSION = 2
#: x402's scheme for payments settled later from a signed running total (a channel).
SCHEME = "batch-settlement"
PAYMENT_REQUIRED = "PAYMENT-REQUIRED"
PAYMENT_SIGNATURE = "PAYMENT-SIGNATURE"
PAYMENT_RESPONSE = "PAYMENT-RESPONSE"
_MAX_HEADER = 8192


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


def build_requirements(
    *, chain_id: int, token: str, channels: str, model_id: int, amount: int, domain: dict[str, Any],
    url: str, description: str, receipt: dict[str, Any], max_timeout_s: int = 60,
    min_expiry_s: int = 0, error: str | None = None, channel_state: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The ``PAYMENT-REQUIRED`` object for one request costing ``amount``.

    ``extra`` carries all a client that knows only x402 and EIP-712 needs: the
    channel contract, the model id, the cheque's EIP-712 domain and types, the
    receipt's domain and signer, and (when the request named a channel) the
    server's view of that channel so a client that lost its state can resume.
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
    out: dict[str, Any] = {
        "x402Version": X402_VERSION,
        "resource": {"url": url, "description": description, "mimeType": "application/octet-stream"},
        "accepts": [{
            "scheme": SCHEME,
            "network": f"eip155:{chain_id}",
            "amount": str(amount),
            "asset": token,
            "payTo": channels,
            "maxTimeoutSeconds": max_timeout_s,
            "extra": extra,
        }],
    }
    if error:
        out["error"] = error
    return out


def parse_payment(value: str, *, chain_id: int, channels: str) -> Cheque:
    """Parse a ``PAYMENT-SIGNATURE`` header into a :class:`Cheque`.

    Checks the envelope (version, scheme, network, contract) and the payload's
    types; the signature itself is checked by the service. Raises
    :class:`PaymentError` with a one-line reason.
    """
    obj = decode_header(value, PAYMENT_SIGNATURE)
    if obj.get("x402Version") != X402_VERSION:
        raise PaymentError("unsupported_version", f"x402Version must be {X402_VERSION}")
    accepted = obj.get("accepted")
    if not isinstance(accepted, dict):
        raise PaymentError("malformed_header", "the payment lacks 'accepted' (the requirement it pays)")
    if accepted.get("scheme") != SCHEME:
        raise PaymentError("unsupported_scheme", f"scheme must be {SCHEME!r}, got {accepted.get('scheme')!r}")
    if accepted.get("network") != f"eip155:{chain_id}":
        raise PaymentError(
            "wrong_network",
            f"the payment is for network {accepted.get('network')!r}, this service is on eip155:{chain_id}",
        )
    pay_to = str(accepted.get("payTo", ""))
    if pay_to.lower() != channels.lower():
        raise PaymentError(
            "wrong_contract", f"the payment is to {pay_to or 'nothing'}, not to this service's channels {channels}"
        )
    payload = obj.get("payload")
    if not isinstance(payload, dict):
        raise PaymentError("malformed_header", "the payment lacks 'payload'")
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
    return Cheque(channel_id, nonce, amount, signature)


def _uint(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise ValueError(f"{value!r} is not an unsigned integer")
    n = int(value, 0) if isinstance(value, str) and value.startswith("0x") else int(value)
    if not 0 <= n < 2**256:
        raise ValueError(f"{value!r} is out of range")
    return n
