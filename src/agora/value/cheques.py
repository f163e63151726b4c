"""Cheques: the EIP-712 message a payer signs for every paid call.

A cheque says "on channel ``channelId`` I owe ``amount`` in total" (a running
total, never a per-call amount) and carries a ``nonce`` that rises with every
cheque. Its domain is the ``PaymentChannels`` contract on one chain, so a cheque
cannot be replayed on another chain or another contract. Any wallet signs it
with ``eth_signTypedData_v4`` given :func:`cheque_typed_data`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from agora.chain import Signer
from agora.chain.eip712 import Domain, keccak256, recover_hash, word
from agora.value.messages import MessageType, build_domain

__all__ = [
    "MAX_CHEQUE_NONCE",
    "CHEQUE_FIELDS",
    "CHEQUE_TYPES",
    "CHEQUE_TYPEHASH",
    "Cheque",
    "channels_domain",
    "cheque_typed_data",
    "sign_cheque",
]

#: The fields of the ``Cheque`` struct, in signing order.
CHEQUE_FIELDS: list[dict[str, str]] = [
    {"name": "channelId", "type": "uint256"},
    {"name": "nonce", "type": "uint256"},
    {"name": "amount", "type": "uint256"},
]
_CHEQUE = MessageType("Cheque", CHEQUE_FIELDS)
#: The full EIP-712 ``types`` object of a cheque.
CHEQUE_TYPES: dict[str, list[dict[str, str]]] = _CHEQUE.types
CHEQUE_TYPEHASH: bytes = _CHEQUE.type_hash


#: The highest nonce a cheque may carry: the contract keeps a channel's nonce in 32 bits, so a
#: cheque above it could never be claimed (and would revert a whole claim batch).
MAX_CHEQUE_NONCE = 2**32 - 1


def channels_domain(chain_id: int, contract: str) -> Domain:
    """The EIP-712 domain of the ``PaymentChannels`` contract at ``contract`` on ``chain_id``."""
    return build_domain("Agora PaymentChannels", chain_id, contract)


@dataclass(frozen=True)
class Cheque:
    """A signed running total on one channel."""

    channel_id: int
    nonce: int
    amount: int
    signature: bytes

    def struct_hash(self) -> bytes:
        """The EIP-712 ``hashStruct`` of the cheque (signature excluded)."""
        return _struct_hash(self.channel_id, self.nonce, self.amount)

    def digest(self, domain: Domain) -> bytes:
        """The 32-byte hash the signer signed."""
        return domain.digest(self.struct_hash())

    def signer(self, domain: Domain) -> str | None:
        """Who signed it in ``domain`` (None if the signature is malformed)."""
        return recover_hash(self.digest(domain), self.signature)

    def vrs(self) -> tuple[int, bytes, bytes]:
        """``(v, r, s)`` as the contract's ``claim`` takes them."""
        v = self.signature[64]
        return (v if v >= 27 else v + 27), self.signature[:32], self.signature[32:64]

    def packed(self) -> tuple[int, int, bytes, bytes]:
        """The four words ``claim_many`` takes: (channel id, amount << 32 | nonce, r, vs)
        with EIP-2098's compact signature ``vs = (v - 27) << 255 | s``."""
        v, r, s = self.vrs()
        vs = ((v - 27) << 255) | int.from_bytes(s, "big")
        return (self.channel_id, (self.amount << 32) | self.nonce, r, vs.to_bytes(32, "big"))

    def to_json(self) -> dict[str, Any]:
        """The x402 payload form (decimal strings for the integers)."""
        return {
            "channelId": str(self.channel_id), "nonce": str(self.nonce),
            "amount": str(self.amount), "signature": "0x" + self.signature.hex(),
        }


def _struct_hash(channel_id: int, nonce: int, amount: int) -> bytes:
    return keccak256(CHEQUE_TYPEHASH + word(channel_id) + word(nonce) + word(amount))


def cheque_typed_data(domain: Domain, channel_id: int, nonce: int, amount: int) -> dict[str, Any]:
    """The cheque as EIP-712 JSON ``{types, primaryType, domain, message}``: what a wallet signs."""
    return _CHEQUE.typed_data(domain, {"channelId": channel_id, "nonce": nonce, "amount": amount})


def sign_cheque(signer: Signer, domain: Domain, channel_id: int, nonce: int, amount: int) -> Cheque:
    """Sign a cheque (fast path: the digest is built here and signed by libsecp256k1)."""
    sig = signer.sign_hash(domain.digest(_struct_hash(channel_id, nonce, amount)))
    return Cheque(channel_id, nonce, amount, sig)
