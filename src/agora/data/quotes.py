"""The data layer's EIP-712 messages: the provider-fee quote and the download request.

**Provider-fee quote** — signed by an access node's key, checked on chain by the DataRegistry
(``ecrecover`` of the EIP-712 digest must be ``provider``), in the registry's domain
``("Agora DataRegistry", "1", chainId, registry)``. The type string, exactly::

    ProviderFeeQuote(uint256 datasetId,uint256 serviceId,address consumer,address provider,address feeToken,uint256 feeAmount,uint256 validUntil,uint256 quoteId)

so ``PROVIDER_FEE_QUOTE_TYPEHASH = keccak256`` of those bytes (:data:`QUOTE_TYPEHASH`). Unlike
Ocean's prefixed ``abi.encodePacked`` of an opaque ``providerData``, every field is typed and a
wallet can show it; ``quoteId`` lets the contract refuse a quote used twice.

**Download request** — signed by the consumer, checked by the access node, in the node's domain
``("Agora Access Node", "1", chainId, registry)``::

    DownloadRequest(uint256 orderId,address consumer,uint256 datasetId,uint256 nonce,uint256 expiry)

The ``nonce`` names one download session: the node binds it to its (order, consumer, dataset) the
first time it sees it, serves that session's ranges (a resume) until ``expiry``, and refuses the
nonce with any other order or consumer — even after a restart (its state is durable).
"""  # noqa: E501

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from agora.chain import Signer
from agora.chain.eip712 import DOMAIN_FIELDS, Domain, keccak256, recover_hash, type_hash, word

__all__ = [
    "ACCESS_DOMAIN_NAME",
    "REGISTRY_DOMAIN_NAME",
    "DOMAIN_VERSION",
    "QUOTE_FIELDS",
    "QUOTE_TYPE",
    "QUOTE_TYPEHASH",
    "DOWNLOAD_FIELDS",
    "DOWNLOAD_TYPE",
    "DOWNLOAD_TYPEHASH",
    "ProviderFeeQuote",
    "DownloadRequest",
    "access_domain",
    "registry_domain",
    "sign_quote",
    "recover_quote",
    "sign_download_request",
    "recover_download_request",
    "typed_data",
]

ACCESS_DOMAIN_NAME = "Agora Access Node"
REGISTRY_DOMAIN_NAME = "Agora DataRegistry"
DOMAIN_VERSION = "1"

#: The fields of ``ProviderFeeQuote``, in signing order.
QUOTE_FIELDS: list[dict[str, str]] = [
    {"name": "datasetId", "type": "uint256"},
    {"name": "serviceId", "type": "uint256"},
    {"name": "consumer", "type": "address"},
    {"name": "provider", "type": "address"},
    {"name": "feeToken", "type": "address"},
    {"name": "feeAmount", "type": "uint256"},
    {"name": "validUntil", "type": "uint256"},
    {"name": "quoteId", "type": "uint256"},
]
QUOTE_TYPE = (
    "ProviderFeeQuote(uint256 datasetId,uint256 serviceId,address consumer,address provider,"
    "address feeToken,uint256 feeAmount,uint256 validUntil,uint256 quoteId)"
)
QUOTE_TYPEHASH: bytes = type_hash(QUOTE_FIELDS, "ProviderFeeQuote")

#: The fields of ``DownloadRequest``, in signing order.
DOWNLOAD_FIELDS: list[dict[str, str]] = [
    {"name": "orderId", "type": "uint256"},
    {"name": "consumer", "type": "address"},
    {"name": "datasetId", "type": "uint256"},
    {"name": "nonce", "type": "uint256"},
    {"name": "expiry", "type": "uint256"},
]
DOWNLOAD_TYPE = "DownloadRequest(uint256 orderId,address consumer,uint256 datasetId,uint256 nonce,uint256 expiry)"
DOWNLOAD_TYPEHASH: bytes = type_hash(DOWNLOAD_FIELDS, "DownloadRequest")

assert QUOTE_TYPEHASH == keccak256(QUOTE_TYPE.encode())
assert DOWNLOAD_TYPEHASH == keccak256(DOWNLOAD_TYPE.encode())


def access_domain(chain_id: int, registry: str) -> Domain:
    """The access node's domain: download requests for datasets of the registry at ``registry``."""
    return Domain(ACCESS_DOMAIN_NAME, DOMAIN_VERSION, chain_id, registry)


def registry_domain(chain_id: int, registry: str) -> Domain:
    """The DataRegistry contract's domain (where provider-fee quotes are checked)."""
    return Domain(REGISTRY_DOMAIN_NAME, DOMAIN_VERSION, chain_id, registry)


def typed_data(domain: Domain, primary: str, message: dict[str, Any]) -> dict[str, Any]:
    """A data-layer message as EIP-712 JSON ``{types, primaryType, domain, message}`` (for wallets)."""
    fields = {"ProviderFeeQuote": QUOTE_FIELDS, "DownloadRequest": DOWNLOAD_FIELDS}[primary]
    return {
        "types": {"EIP712Domain": DOMAIN_FIELDS, primary: fields}, "primaryType": primary,
        "domain": domain.to_json(), "message": message,
    }


@dataclass(frozen=True)
class ProviderFeeQuote:
    """A provider's signed price for serving one dataset's service to one consumer."""

    dataset_id: int
    service_id: int
    consumer: str
    provider: str
    fee_token: str
    fee_amount: int
    valid_until: int
    quote_id: int
    signature: bytes = b""

    def struct_hash(self) -> bytes:
        """The EIP-712 ``hashStruct`` (signature excluded)."""
        return keccak256(
            QUOTE_TYPEHASH + word(self.dataset_id) + word(self.service_id) + word(self.consumer)
            + word(self.provider) + word(self.fee_token) + word(self.fee_amount) + word(self.valid_until)
            + word(self.quote_id)
        )

    def message(self) -> dict[str, Any]:
        """The EIP-712 ``message`` object."""
        return {
            "datasetId": self.dataset_id, "serviceId": self.service_id, "consumer": self.consumer,
            "provider": self.provider, "feeToken": self.fee_token, "feeAmount": self.fee_amount,
            "validUntil": self.valid_until, "quoteId": self.quote_id,
        }

    def to_json(self) -> dict[str, Any]:
        """The quote as JSON (integers as decimal strings, the signature as 0x-hex)."""
        body = {k: (str(v) if isinstance(v, int) else v) for k, v in self.message().items()}
        return {**body, "signature": "0x" + self.signature.hex()}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ProviderFeeQuote:
        """The quote from :meth:`to_json`'s form."""
        sig = str(data.get("signature", "0x"))
        return cls(
            int(data["datasetId"]), int(data["serviceId"]), str(data["consumer"]), str(data["provider"]),
            str(data["feeToken"]), int(data["feeAmount"]), int(data["validUntil"]), int(data["quoteId"]),
            bytes.fromhex(sig[2:] if sig.startswith("0x") else sig),
        )


def sign_quote(signer: Signer, domain: Domain, quote: ProviderFeeQuote) -> ProviderFeeQuote:
    """``quote`` signed by ``signer`` (the provider) in the registry's ``domain``."""
    return ProviderFeeQuote(
        quote.dataset_id, quote.service_id, quote.consumer, quote.provider, quote.fee_token,
        quote.fee_amount, quote.valid_until, quote.quote_id, signer.sign_hash(domain.digest(quote.struct_hash())),
    )


def recover_quote(domain: Domain, quote: ProviderFeeQuote) -> str | None:
    """Who signed ``quote`` in ``domain`` (None for a malformed signature); the contract requires
    it to be ``quote.provider``."""
    return recover_hash(domain.digest(quote.struct_hash()), quote.signature)


@dataclass(frozen=True)
class DownloadRequest:
    """A consumer's signed request to download a dataset under an order."""

    order_id: int
    consumer: str
    dataset_id: int
    nonce: int
    expiry: int
    signature: bytes = b""

    def struct_hash(self) -> bytes:
        """The EIP-712 ``hashStruct`` (signature excluded)."""
        return keccak256(
            DOWNLOAD_TYPEHASH + word(self.order_id) + word(self.consumer) + word(self.dataset_id)
            + word(self.nonce) + word(self.expiry)
        )

    def message(self) -> dict[str, Any]:
        """The EIP-712 ``message`` object."""
        return {
            "orderId": self.order_id, "consumer": self.consumer, "datasetId": self.dataset_id,
            "nonce": self.nonce, "expiry": self.expiry,
        }

    def to_json(self) -> dict[str, Any]:
        """The request as JSON (integers as decimal strings, the signature as 0x-hex)."""
        body = {k: (str(v) if isinstance(v, int) else v) for k, v in self.message().items()}
        return {**body, "signature": "0x" + self.signature.hex()}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> DownloadRequest:
        """The request from :meth:`to_json`'s form (``KeyError``/``ValueError`` when malformed)."""
        sig = str(data["signature"])
        return cls(
            int(data["orderId"]), str(data["consumer"]), int(data["datasetId"]), int(data["nonce"]),
            int(data["expiry"]), bytes.fromhex(sig[2:] if sig.startswith("0x") else sig),
        )


def sign_download_request(signer: Signer, domain: Domain, request: DownloadRequest) -> DownloadRequest:
    """``request`` signed by ``signer`` (the consumer) in the access node's ``domain``."""
    return DownloadRequest(
        request.order_id, request.consumer, request.dataset_id, request.nonce, request.expiry,
        signer.sign_hash(domain.digest(request.struct_hash())),
    )


def recover_download_request(domain: Domain, request: DownloadRequest) -> str | None:
    """Who signed ``request`` in ``domain`` (None for a malformed signature)."""
    return recover_hash(domain.digest(request.struct_hash()), request.signature)
