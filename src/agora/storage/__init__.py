"""The storage seam: ``put(bytes) -> CID``, ``get(CID) -> bytes``, verified on every read."""

from agora.storage.cid import cid_digest, cid_for, is_cid, validate_cid
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
    "cid_digest",
    "cid_for",
    "is_cid",
    "validate_cid",
]
