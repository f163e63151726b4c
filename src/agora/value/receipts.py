"""Receipts of paid model calls: the house receipt (:mod:`agora.chain.evidence`) of kind ``model-call``.

A call's receipt binds the answer to the model version (its id as ``subject`` and its
weights hash), to the exact input and output (their keccak256), to the payment (the
amount, and the cheque by channel id as ``payment`` and nonce as ``item``; ``0`` and the
EIP-3009 nonce for an x402 ``exact`` payment), to the payer and to the time. It is signed
by the model's service key (``ModelRegistry.service_of``, its ``runner``) in the
``ModelRegistry``'s receipt domain ("Agora Receipt", version 2), and the service anchors
the Merkle roots of its receipts in batches (``ReceiptAnchor``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from agora.chain import Signer
from agora.chain.eip712 import Domain
from agora.chain.eip712 import keccak256 as keccak
from agora.chain.evidence import RECEIPT_TYPES, ReceiptError, receipt_domain
from agora.chain.evidence import Receipt as _Receipt
from agora.chain.evidence import sign_receipt as _sign

__all__ = [
    "KIND",
    "RECEIPT_TYPES",
    "Receipt",
    "ReceiptError",
    "call_receipt",
    "receipts_domain",
    "sign_receipt",
    "hash_payload",
]

#: The kind of a paid model call's receipt.
KIND = "model-call"


def receipts_domain(chain_id: int, model_registry: str) -> Domain:
    """The EIP-712 domain of call receipts: the ``ModelRegistry`` at ``model_registry`` on ``chain_id``."""
    return receipt_domain(chain_id, model_registry)


def hash_payload(payload: Any) -> bytes:
    """keccak256 of a JSON payload in canonical form (sorted keys, no spaces, UTF-8)."""
    if isinstance(payload, bytes | bytearray):
        return keccak(bytes(payload))
    return keccak(json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode())


@dataclass(frozen=True)
class Receipt(_Receipt):
    """One paid call, as the model's service signed it (a house receipt of kind ``model-call``)."""

    @property
    def model_id(self) -> int:
        """The model called (the receipt's ``subject``)."""
        return self.subject

    @property
    def channel_id(self) -> int:
        """The channel paid from (``payment``; 0 for an x402 ``exact`` payment)."""
        return self.payment

    @property
    def nonce(self) -> int:
        """The cheque's nonce, or the EIP-3009 nonce (``item``)."""
        return self.item

    def to_json(self, domain: Domain | None = None) -> dict[str, Any]:
        """The house JSON form, with its ``domain`` when given (a self-contained receipt)."""
        out = super().to_json()
        if domain is not None:
            out["domain"] = domain.to_json()
        return out

    def leaf(self) -> bytes:
        """The EIP-712 ``hashStruct`` (the receipt's identity)."""
        return self.struct_hash()

    def verify(
        self, domain: Domain, service: str, *, inputs: Any = None, output: Any = None,
        weights_hash: bytes | None = None,
    ) -> None:
        """Raise :class:`ReceiptError` unless ``service`` signed it in ``domain`` as a call's receipt
        and it matches the given input, output and weights hash (each checked only if given)."""
        if self.kind != KIND:
            raise ReceiptError(f"a {self.kind!r} receipt is not a paid call's ({KIND!r})")
        if self.runner.lower() != service.lower():
            raise ReceiptError(f"the receipt names {self.runner} as its runner, not the model's service {service}")
        self.check_signature(domain)
        if inputs is not None and hash_payload(inputs) != self.input_hash:
            raise ReceiptError("the receipt is for another input")
        if output is not None and hash_payload(output) != self.output_hash:
            raise ReceiptError("the receipt is for another output")
        if weights_hash is not None and weights_hash != self.weights_hash:
            raise ReceiptError("the receipt names other weights than the model's registered ones")


def call_receipt(
    *, model_id: int, weights_hash: bytes, input_hash: bytes, output_hash: bytes, amount: int, channel_id: int,
    nonce: int, payer: str, time: int, runner: str,
) -> Receipt:
    """An unsigned call receipt."""
    return Receipt(KIND, model_id, nonce, weights_hash, input_hash, output_hash, runner, payer, amount, channel_id,
                   time)


def sign_receipt(signer: Signer, domain: Domain, receipt: _Receipt) -> Receipt:
    """Return ``receipt`` signed by ``signer`` in ``domain``."""
    s = _sign(signer, domain, receipt)
    return Receipt(s.kind, s.subject, s.item, s.weights_hash, s.input_hash, s.output_hash, s.runner, s.payer,
                   s.amount, s.payment, s.time, s.signature)
