"""The access node's EIP-712 message: the consumer's signed download request.

(The other signed message of the data layer, the provider-fee quote, is the ``DataRegistry``
contract's own ``Quote``: :class:`agora.data.registry.Quote`, checked on chain.)

**Download request** — signed by the consumer, checked by the access node, in the node's domain
``("Agora Access Node", "1", chainId, registry)``::

    DownloadRequest(uint256 orderId,address consumer,uint256 datasetId,uint256 nonce,uint256 expiry)

The ``nonce`` names one download session: the node binds it to its (order, consumer, dataset) the
first time it sees it, serves that session's ranges (a resume) until ``expiry``, and refuses the
nonce with any other order or consumer — even after a restart (its state is durable).
"""  # noqa: E501

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from agora.chain import Signer
from agora.chain.eip712 import DOMAIN_FIELDS, Domain, keccak256, recover_hash, type_hash, word

__all__ = [
    "ACCESS_DOMAIN_NAME",
    "DOMAIN_VERSION",
    "DOWNLOAD_FIELDS",
    "DOWNLOAD_TYPE",
    "DOWNLOAD_TYPEHASH",
    "DownloadRequest",
    "RESULT_TYPE",
    "ResultRequest",
    "access_domain",
    "sign_download_request",
    "recover_download_request",
    "recover_result_request",
    "sign_result_request",
    "typed_data",
]

ACCESS_DOMAIN_NAME = "Agora Access Node"
DOMAIN_VERSION = "1"

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

assert DOWNLOAD_TYPEHASH == keccak256(DOWNLOAD_TYPE.encode())


#: The fields of ``ResultRequest`` (a compute-to-data result, asked for by the job's consumer).
RESULT_FIELDS: list[dict[str, str]] = [
    {"name": "jobId", "type": "uint256"},
    {"name": "consumer", "type": "address"},
    {"name": "nonce", "type": "uint256"},
    {"name": "expiry", "type": "uint256"},
]
RESULT_TYPE = "ResultRequest(uint256 jobId,address consumer,uint256 nonce,uint256 expiry)"
RESULT_TYPEHASH: bytes = type_hash(RESULT_FIELDS, "ResultRequest")
assert RESULT_TYPEHASH == keccak256(RESULT_TYPE.encode())


def access_domain(chain_id: int, registry: str) -> Domain:
    """The access node's domain: download requests for datasets of the registry at ``registry``."""
    return Domain(ACCESS_DOMAIN_NAME, DOMAIN_VERSION, chain_id, registry)


def typed_data(domain: Domain, primary: str, message: dict[str, Any]) -> dict[str, Any]:
    """A download request as EIP-712 JSON ``{types, primaryType, domain, message}`` (for wallets)."""
    fields = {"DownloadRequest": DOWNLOAD_FIELDS, "ResultRequest": RESULT_FIELDS}[primary]
    return {
        "types": {"EIP712Domain": DOMAIN_FIELDS, primary: fields}, "primaryType": primary,
        "domain": domain.to_json(), "message": message,
    }


class _SignedRequest:
    """What the access node's signed requests share: EIP-712 hashing over their fields, in the
    order of their type, JSON with integers as decimal strings, signing and recovery. A subclass
    is a frozen dataclass whose fields are its type's fields, then ``signature``."""

    _TYPEHASH: bytes
    #: (JSON name, attribute, is an address) for each field of the type, in order
    _FIELDS: tuple[tuple[str, str, bool], ...]
    signature: bytes

    def struct_hash(self) -> bytes:
        """The EIP-712 ``hashStruct`` (signature excluded)."""
        return keccak256(self._TYPEHASH + b"".join(word(getattr(self, attr)) for _, attr, _ in self._FIELDS))

    def message(self) -> dict[str, Any]:
        """The EIP-712 ``message`` object."""
        return {name: getattr(self, attr) for name, attr, _ in self._FIELDS}

    def to_json(self) -> dict[str, Any]:
        """The request as JSON (integers as decimal strings, the signature as 0x-hex)."""
        body = {k: (str(v) if isinstance(v, int) else v) for k, v in self.message().items()}
        return {**body, "signature": "0x" + self.signature.hex()}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Any:
        """The request from :meth:`to_json`'s form (``KeyError``/``ValueError`` when malformed)."""
        values = [str(data[name]) if is_address else int(data[name]) for name, _, is_address in cls._FIELDS]
        return cls(*values, bytes.fromhex(str(data["signature"]).removeprefix("0x")))  # type: ignore[call-arg]

    def signed(self, signer: Signer, domain: Domain) -> Any:
        """This request signed by ``signer`` in ``domain``."""
        return replace(self, signature=signer.sign_hash(domain.digest(self.struct_hash())))  # type: ignore[type-var]

    def recover(self, domain: Domain) -> str | None:
        """Who signed it in ``domain`` (None for a malformed signature)."""
        return recover_hash(domain.digest(self.struct_hash()), self.signature)


@dataclass(frozen=True)
class DownloadRequest(_SignedRequest):
    """A consumer's signed request to download a dataset under an order."""

    _TYPEHASH = DOWNLOAD_TYPEHASH
    _FIELDS = (("orderId", "order_id", False), ("consumer", "consumer", True), ("datasetId", "dataset_id", False),
               ("nonce", "nonce", False), ("expiry", "expiry", False))

    order_id: int
    consumer: str
    dataset_id: int
    nonce: int
    expiry: int
    signature: bytes = b""


def sign_download_request(signer: Signer, domain: Domain, request: DownloadRequest) -> DownloadRequest:
    """``request`` signed by ``signer`` (the consumer) in the access node's ``domain``."""
    signed: DownloadRequest = request.signed(signer, domain)
    return signed


def recover_download_request(domain: Domain, request: DownloadRequest) -> str | None:
    """Who signed ``request`` in ``domain`` (None for a malformed signature)."""
    return request.recover(domain)


@dataclass(frozen=True)
class ResultRequest(_SignedRequest):
    """A consumer's signed request for its compute-to-data job's result, in the node's domain."""

    _TYPEHASH = RESULT_TYPEHASH
    _FIELDS = (("jobId", "job_id", False), ("consumer", "consumer", True), ("nonce", "nonce", False),
               ("expiry", "expiry", False))

    job_id: int
    consumer: str
    nonce: int
    expiry: int
    signature: bytes = b""


def sign_result_request(signer: Signer, domain: Domain, request: ResultRequest) -> ResultRequest:
    """``request`` signed by ``signer`` (the job's consumer) in the access node's ``domain``."""
    signed: ResultRequest = request.signed(signer, domain)
    return signed


def recover_result_request(domain: Domain, request: ResultRequest) -> str | None:
    """Who signed ``request`` in ``domain`` (None for a malformed signature)."""
    return request.recover(domain)
