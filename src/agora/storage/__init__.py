"""The storage seam: ``put(bytes) -> CID``, ``get(CID) -> bytes``, verified on every read."""

from agora.storage.cid import bytes32_to_cid, cid_digest, cid_for, cid_to_bytes32, is_cid, validate_cid
from agora.storage.store import (
    DEFAULT_MAX_BLOB_BYTES,
    BlobStore,
    HttpStore,
    LocalStore,
    Storage,
)

__all__ = [
    "DEFAULT_MAX_BLOB_BYTES",
    "BlobStore",
    "HttpStore",
    "LocalStore",
    "Storage",
    "bytes32_to_cid",
    "cid_digest",
    "cid_for",
    "cid_to_bytes32",
    "is_cid",
    "validate_cid",
]
