"""Token signatures as EIP-712 typed data: EIP-2612 permits and EIP-3009 transfer
authorizations, one definition for everything that signs or checks one.

A permit lets a token holder approve a spender with a signature instead of a
transaction. A transfer authorization (EIP-3009 ``transferWithAuthorization``, what
the x402 ``exact`` scheme pays with) lets a payer sign a transfer that anyone submits,
once: its random 32-byte nonce is used up on chain. The domain comes from the token
itself (EIP-5267 ``eip712Domain``, :func:`fetch_token_domain`), so the chain id and
contract address are always the chain's own.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from eth_utils.address import to_checksum_address

from agora.chain.accounts import Signer
from agora.chain.eip712 import DOMAIN_FIELDS, Domain, keccak256, recover_hash, type_hash, word
from agora.errors import ConfigError

if TYPE_CHECKING:
    from agora.chain.contracts import Contract

__all__ = [
    "PERMIT_TYPES",
    "TRANSFER_AUTHORIZATION_TYPES",
    "TransferAuthorization",
    "fetch_token_domain",
    "new_authorization_nonce",
    "permit_typed_data",
    "recover_authorizer",
    "sign_permit",
    "sign_transfer_authorization",
]

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

#: The EIP-712 types of an EIP-3009 ``TransferWithAuthorization`` (with the standard
#: four-field domain), as the EIP, USDC and the x402 SDK define them.
TRANSFER_AUTHORIZATION_TYPES: dict[str, list[dict[str, str]]] = {
    "EIP712Domain": [dict(f) for f in DOMAIN_FIELDS],
    "TransferWithAuthorization": [
        {"name": "from", "type": "address"},
        {"name": "to", "type": "address"},
        {"name": "value", "type": "uint256"},
        {"name": "validAfter", "type": "uint256"},
        {"name": "validBefore", "type": "uint256"},
        {"name": "nonce", "type": "bytes32"},
    ],
}
_TRANSFER_AUTHORIZATION_TYPEHASH = type_hash(
    TRANSFER_AUTHORIZATION_TYPES["TransferWithAuthorization"], "TransferWithAuthorization"
)
_UINT256_LIMIT = 2**256
_ADDRESS = re.compile(r"0x[0-9a-fA-F]{40}")
_NONCE = re.compile(r"0x[0-9a-fA-F]{64}")
_DECIMAL = re.compile(r"[0-9]{1,78}")
#: The EIP-5267 ``fields`` bitmap of a domain of name, version, chainId and verifyingContract.
_FOUR_FIELD_DOMAIN = 0x0F


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


def _short(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _address(name: str, value: object) -> str:
    if not isinstance(value, str) or not _ADDRESS.fullmatch(value):
        raise ValueError(
            f"authorization field {name!r} must be an address (0x and 20 bytes of hex), got {_short(value)}"
        )
    checksummed = to_checksum_address(value)
    if value != checksummed and value[2:] not in (value[2:].lower(), value[2:].upper()):
        raise ValueError(f"authorization field {name!r} has a wrong EIP-55 checksum: {value}")
    return checksummed


def _uint256(name: str, value: object) -> int:
    if isinstance(value, str) and _DECIMAL.fullmatch(value):
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"authorization field {name!r} must be an integer as a decimal string, got {_short(value)}")
    if not 0 <= value < _UINT256_LIMIT:
        raise ValueError(f"authorization field {name!r} is out of the uint256 range: {value}")
    return value


def _nonce(value: str) -> bytes:
    if not _NONCE.fullmatch(value):
        raise ValueError(f"authorization field 'nonce' must be 32 bytes (0x and 64 hex digits), got {_short(value)}")
    return bytes.fromhex(value[2:])


@dataclass(frozen=True)
class TransferAuthorization:
    """An EIP-3009 ``TransferWithAuthorization``: ``from_`` lets anyone move ``value`` of
    its tokens to ``to`` once, strictly between ``valid_after`` and ``valid_before`` (unix
    seconds), under a random 32-byte ``nonce``.

    Construction checks every field (``ValueError`` with a one-line reason) and stores the
    addresses checksummed. :meth:`to_json` / :meth:`from_json` are the x402 wire form.
    """

    from_: str
    to: str
    value: int
    valid_after: int
    valid_before: int
    nonce: bytes

    def __post_init__(self) -> None:
        object.__setattr__(self, "from_", _address("from", self.from_))
        object.__setattr__(self, "to", _address("to", self.to))
        for name, attr in (("value", "value"), ("validAfter", "valid_after"), ("validBefore", "valid_before")):
            value = getattr(self, attr)
            if isinstance(value, bool) or not isinstance(value, int):
                raise ValueError(f"authorization field {name!r} must be an int, got {_short(value)}")
            _uint256(name, value)
        if not isinstance(self.nonce, bytes | bytearray) or len(self.nonce) != 32:
            raise ValueError(f"authorization field 'nonce' must be 32 bytes, got {_short(self.nonce)}")
        object.__setattr__(self, "nonce", bytes(self.nonce))

    @classmethod
    def from_json(cls, obj: object) -> TransferAuthorization:
        """Parse the x402 wire form (``{"from", "to", "value", "validAfter", "validBefore",
        "nonce"}``; numbers as decimal strings or ints, the nonce as ``0x`` + 64 hex
        digits); raise ``ValueError`` naming the first field that is missing or malformed.
        Other keys are ignored."""
        if not isinstance(obj, Mapping):
            raise ValueError(f"an authorization must be a JSON object, got {type(obj).__name__}")
        for key in ("from", "to", "value", "validAfter", "validBefore", "nonce"):
            if key not in obj:
                raise ValueError(f"the authorization has no {key!r} field")
        nonce = obj["nonce"]
        if not isinstance(nonce, str):
            raise ValueError(f"authorization field 'nonce' must be a hex string, got {_short(nonce)}")
        return cls(
            from_=_address("from", obj["from"]),
            to=_address("to", obj["to"]),
            value=_uint256("value", obj["value"]),
            valid_after=_uint256("validAfter", obj["validAfter"]),
            valid_before=_uint256("validBefore", obj["validBefore"]),
            nonce=_nonce(nonce),
        )

    def to_json(self) -> dict[str, str]:
        """The x402 wire form: EIP-55 addresses, numbers as decimal strings, the nonce as
        ``0x`` + 64 hex digits."""
        return {
            "from": self.from_,
            "to": self.to,
            "value": str(self.value),
            "validAfter": str(self.valid_after),
            "validBefore": str(self.valid_before),
            "nonce": "0x" + self.nonce.hex(),
        }

    def struct_hash(self) -> bytes:
        """The EIP-712 ``hashStruct`` of the authorization."""
        return keccak256(
            _TRANSFER_AUTHORIZATION_TYPEHASH + word(self.from_) + word(self.to) + word(self.value)
            + word(self.valid_after) + word(self.valid_before) + self.nonce
        )

    def digest(self, domain: Domain) -> bytes:
        """The 32-byte hash the payer signs in the token's ``domain`` (no eth-account)."""
        return domain.digest(self.struct_hash())

    def typed_data(self, domain: Domain) -> dict[str, Any]:
        """The full typed-data message (``{types, primaryType, domain, message}``), for a
        wallet's ``eth_signTypedData_v4``."""
        return {
            "types": TRANSFER_AUTHORIZATION_TYPES,
            "primaryType": "TransferWithAuthorization",
            "domain": domain.to_json(),
            "message": {
                "from": self.from_, "to": self.to, "value": self.value, "validAfter": self.valid_after,
                "validBefore": self.valid_before, "nonce": "0x" + self.nonce.hex(),
            },
        }


def sign_transfer_authorization(signer: Signer, domain: Domain, auth: TransferAuthorization) -> bytes:
    """Sign ``auth`` as ``signer`` in the token's ``domain``; return the 65-byte ``r‖s‖v``
    signature (v 27/28, low s) that ``transferWithAuthorization`` takes split in three.
    ``signer`` must be ``auth.from_``, or the token will refuse the signature."""
    if signer.address != auth.from_:
        raise ValueError(f"{signer.address} cannot sign an authorization from {auth.from_}")
    return signer.sign_hash(auth.digest(domain))


def recover_authorizer(domain: Domain, auth: TransferAuthorization, signature: bytes) -> str | None:
    """The checksummed address that signed ``auth`` in ``domain``, or None for a malformed
    or malleable signature. The signature is valid iff this equals ``auth.from_``."""
    return recover_hash(auth.digest(domain), signature)


def new_authorization_nonce() -> bytes:
    """A fresh random 32-byte authorization nonce (EIP-3009 nonces are random, not counted)."""
    return secrets.token_bytes(32)


def _view_abi(name: str, out: str) -> dict[str, Any]:
    return {"type": "function", "name": name, "stateMutability": "view", "inputs": [],
            "outputs": [{"name": "", "type": out}]}


#: What a token without EIP-5267 may still say about its domain (USDC's FiatToken does).
_FIAT_DOMAIN_ABI = [_view_abi("name", "string"), _view_abi("version", "string"),
                    _view_abi("DOMAIN_SEPARATOR", "bytes32")]


def fetch_token_domain(contract: Contract) -> Domain:
    """The EIP-712 domain of the token ``contract``: from its EIP-5267 ``eip712Domain``, or,
    for a token without it (USDC's FiatToken), from ``name()`` and ``version()`` checked
    against its ``DOMAIN_SEPARATOR()``.

    Raises ``ConfigError`` when neither says the domain, when the domain is not the standard
    four-field one (name, version, chainId, verifyingContract), or when the separator the
    token reports is not that domain's.
    """
    try:
        fields, name, version, chain_id, verifying, _, _ = contract.eip712Domain()
    except Exception:  # noqa: BLE001 - any failure here means "no EIP-5267 support"
        return _fiat_token_domain(contract)
    if int.from_bytes(bytes(fields), "big") != _FOUR_FIELD_DOMAIN:
        raise ConfigError(
            f"the token at {contract.address} uses an EIP-712 domain with fields 0x{bytes(fields).hex()}; "
            "only name, version, chainId and verifyingContract are supported"
        )
    return Domain(str(name), str(version), int(chain_id), str(verifying))


def _fiat_token_domain(contract: Contract) -> Domain:
    from agora.chain.contracts import Contract

    fiat = Contract(contract.chain, contract.contract_name, contract.address, _FIAT_DOMAIN_ABI)
    try:
        name, version, separator = fiat.name(), fiat.version(), bytes(fiat.DOMAIN_SEPARATOR())
    except Exception as exc:  # noqa: BLE001 - a token that cannot say its domain
        raise ConfigError(
            f"the token at {contract.address} says neither its EIP-712 domain (EIP-5267) nor "
            "name(), version() and DOMAIN_SEPARATOR(): it cannot take EIP-3009 payments"
        ) from exc
    domain = Domain(str(name), str(version), contract.chain.chain_id, contract.address)
    if domain.separator != separator:
        raise ConfigError(
            f"the token at {contract.address} reports a DOMAIN_SEPARATOR that is not the standard domain "
            f"of name {name!r}, version {version!r}, chain {domain.chain_id} and its own address"
        )
    return domain
