"""CIDv1 content identifiers, compatible with IPFS: raw codec, sha2-256, base32.

A CID here is ``b`` + base32(lowercase, no padding) of the bytes
``0x01 (CIDv1) 0x55 (raw) 0x12 (sha2-256) 0x20 (32 bytes) <digest>``, which
is what ``ipfs add --cid-version 1 --raw-leaves`` prints for a blob that fits
in one block. Agora puts whole blobs under one CID (no chunking), so the CID
is always the hash of the whole blob and any holder can verify it.
"""

from __future__ import annotations

import base64
import hashlib

from agora.errors import StorageError

__all__ = ["cid_for", "cid_digest", "validate_cid", "is_cid", "cid_to_bytes32", "bytes32_to_cid"]

_PREFIX = bytes([0x01, 0x55, 0x12, 0x20])


def cid_for(data: bytes) -> str:
    """The CIDv1 (raw, sha2-256, base32) of ``data``."""
    return bytes32_to_cid(hashlib.sha256(data).digest())


def bytes32_to_cid(digest: bytes) -> str:
    """The CID whose sha2-256 digest is ``digest`` (the 32 bytes the chain stores)."""
    if len(bytes(digest)) != 32:
        raise StorageError(f"a CID digest is 32 bytes, not {len(bytes(digest))}")
    raw = _PREFIX + bytes(digest)
    return "b" + base64.b32encode(raw).decode().lower().rstrip("=")


def cid_to_bytes32(cid: str) -> bytes:
    """The 32 bytes the chain stores for ``cid``: its sha2-256 digest. Agora's CIDs are always
    CIDv1, raw, sha2-256, so the CID is fully determined by it (see :func:`bytes32_to_cid`)."""
    return cid_digest(cid)


def cid_digest(cid: str) -> bytes:
    """The 32-byte sha2-256 digest inside ``cid``; raises StorageError if malformed."""
    if not isinstance(cid, str) or not cid.startswith("b") or len(cid) != 59:
        raise StorageError(f"{cid!r} is not a CIDv1 (raw, sha2-256, base32) such as bafkrei…")
    body = cid[1:].upper()
    try:
        raw = base64.b32decode(body + "=" * (-len(body) % 8))
    except ValueError:
        raise StorageError(f"{cid!r} is not valid base32") from None
    if raw[:4] != _PREFIX or len(raw) != 36:
        raise StorageError(f"{cid!r} is not a raw sha2-256 CIDv1")
    if "b" + base64.b32encode(raw).decode().lower().rstrip("=") != cid:
        # one blob, one name: no upper case, no look-alike letters, no stray padding bits
        raise StorageError(f"{cid!r} is not in canonical form (lowercase base32)")
    return raw[4:]


def validate_cid(cid: str) -> str:
    """Return ``cid`` if it is well-formed, else raise StorageError."""
    cid_digest(cid)
    return cid


def is_cid(cid: str) -> bool:
    """True if ``cid`` is a well-formed CID of the kind Agora uses."""
    try:
        cid_digest(cid)
    except StorageError:
        return False
    return True
