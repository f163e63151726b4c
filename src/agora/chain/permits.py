"""EIP-2612 permits as EIP-712 typed data: one definition for everything that signs one.

A permit lets a token holder approve a spender with a signature instead of a
transaction. The domain comes from the token itself (EIP-5267 ``eip712Domain``),
so the chain id and contract address are always the chain's own.
"""

from __future__ import annotations

from typing import Any

from agora.chain.accounts import Signer

__all__ = ["PERMIT_TYPES", "permit_typed_data", "sign_permit"]

#: The EIP-712 types of an EIP-2612 ``Permit`` (with the standard four-field domain).
PERMIT_TYPES: dict[str, list[dict[str, str]]] = {
    "EIP712Domain": [
        {"name": "name", "type": "string"},
        {"name": "version", "type": "string"},
        {"name": "chainId", "type": "uint256"},
        {"name": "verifyingContract", "type": "address"},
    ],
    "Permit": [
        {"name": "owner", "type": "address"},
        {"name": "spender", "type": "address"},
        {"name": "value", "type": "uint256"},
        {"name": "nonce", "type": "uint256"},
        {"name": "deadline", "type": "uint256"},
    ],
}


def permit_typed_data(
    domain: dict[str, Any], owner: str, spender: str, value: int, nonce: int, deadline: int
) -> dict[str, Any]:
    """The full typed-data message of a permit (``{types, primaryType, domain, message}``)."""
    return {
        "types": PERMIT_TYPES,
        "primaryType": "Permit",
        "domain": domain,
        "message": {"owner": owner, "spender": spender, "value": value, "nonce": nonce, "deadline": deadline},
    }


def sign_permit(
    signer: Signer, domain: dict[str, Any], spender: str, value: int, nonce: int, deadline: int
) -> tuple[int, bytes, bytes]:
    """Sign a permit from ``signer``; return ``(v, r, s)`` as ``permit()`` takes them."""
    sig = signer.sign_typed_data(permit_typed_data(domain, signer.address, spender, value, nonce, deadline))
    return sig[64], sig[:32], sig[32:64]
