"""CIDv1 (raw, sha2-256, base32) computation and validation."""

from __future__ import annotations

import base64
import hashlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from agora.errors import StorageError
from agora.storage.cid import cid_digest, cid_for, is_cid, validate_cid

EMPTY_CID = "bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku"
EMPTY_SHA256 = hashlib.sha256(b"").digest()


def _encode(raw: bytes) -> str:
    return "b" + base64.b32encode(raw).decode().lower().rstrip("=")


def test_empty_blob_known_vector() -> None:
    # what `ipfs add --cid-version 1 --raw-leaves` prints for an empty file
    assert cid_for(b"") == EMPTY_CID
    assert cid_digest(EMPTY_CID) == EMPTY_SHA256
    assert validate_cid(EMPTY_CID) == EMPTY_CID
    assert is_cid(EMPTY_CID)


def test_known_vector_hello() -> None:
    data = b"hello world"
    cid = cid_for(data)
    assert cid.startswith("bafkrei")
    assert cid_digest(cid) == hashlib.sha256(data).digest()
    assert cid != EMPTY_CID


@given(st.binary(max_size=4096))
def test_cid_properties(data: bytes) -> None:
    cid = cid_for(data)
    assert len(cid) == 59
    assert cid.startswith("bafkrei")
    assert cid == cid.lower()
    assert cid_digest(cid) == hashlib.sha256(data).digest()
    assert validate_cid(cid) == cid
    assert is_cid(cid)


@given(st.binary(min_size=32, max_size=32))
def test_any_digest_roundtrips(digest: bytes) -> None:
    cid = _encode(bytes([0x01, 0x55, 0x12, 0x20]) + digest)
    assert cid_digest(cid) == digest


MALFORMED = {
    "empty": "",
    "wrong multibase prefix": "z" + EMPTY_CID[1:],
    "uppercase multibase prefix": "B" + EMPTY_CID[1:].upper(),
    "too short": EMPTY_CID[:-1],
    "too long": EMPTY_CID + "a",
    "non-base32 char '1'": EMPTY_CID[:-1] + "1",
    "non-base32 char '8'": EMPTY_CID[:10] + "8" + EMPTY_CID[11:],
    "padding inside": EMPTY_CID[:-2] + "==",
    "path traversal": "../../etc/passwd",
    "path traversal of cid length": "b" + "../" * 19 + "a",
    "CIDv0": "QmbWqxBEKC3P8tqsKc98xmWNzrzDtRLMiMPL8wBuTGsMnR",
    "CIDv0 padded to length": "QmbWqxBEKC3P8tqsKc98xmWNzrzDtRLMiMPL8wBuTGsMnR" + "a" * 13,
    # a real dag-pb CIDv1 (the IPFS "hello world" directory), same length as ours
    "dag-pb CIDv1": "bafybeigdyrzt5sfp7udm7hu76uh7y26nf3efuylqabf3oclgtqy55fbzdi",
    "dag-cbor codec": _encode(bytes([0x01, 0x71, 0x12, 0x20]) + EMPTY_SHA256),
    "CID version 2": _encode(bytes([0x02, 0x55, 0x12, 0x20]) + EMPTY_SHA256),
    "sha3-256 multihash": _encode(bytes([0x01, 0x55, 0x16, 0x20]) + EMPTY_SHA256),
    "wrong digest length byte": _encode(bytes([0x01, 0x55, 0x12, 0x1F]) + EMPTY_SHA256),
}


@pytest.mark.parametrize("bad", list(MALFORMED.values()), ids=list(MALFORMED))
def test_malformed_cids_are_rejected(bad: str) -> None:
    with pytest.raises(StorageError):
        cid_digest(bad)
    with pytest.raises(StorageError):
        validate_cid(bad)
    assert is_cid(bad) is False


def test_dag_pb_vector_has_our_length() -> None:
    # guard: the dag-pb case above is rejected for its codec, not its length
    assert len(MALFORMED["dag-pb CIDv1"]) == len(EMPTY_CID)
    assert MALFORMED["dag-pb CIDv1"].startswith("bafybei")


@pytest.mark.parametrize("bad", [None, 123, b"bafkrei", ["b"]], ids=repr)
def test_non_string_is_rejected(bad: object) -> None:
    with pytest.raises(StorageError):
        cid_digest(bad)  # type: ignore[arg-type]
    assert is_cid(bad) is False  # type: ignore[arg-type]


def test_error_is_a_storage_error_with_the_input() -> None:
    with pytest.raises(StorageError, match="not a CIDv1"):
        cid_digest("Qm")


# --- non-canonical spellings -------------------------------------------------
# The module doc defines a CID as ``b`` + lowercase base32 (no padding) of the
# 36 prefix+digest bytes. Each of these strings is NOT that encoding of any
# bytes, yet cid_digest() decodes it (body is upper-cased with str.upper(),
# which also folds non-ASCII letters such as "ı" -> "I" and "ſ" -> "S", and
# base64.b32decode ignores the 2 unused low bits of the last character).
# So validate_cid/is_cid accept aliases of one blob under several strings.

NON_CANONICAL = {
    "uppercase body": "b" + EMPTY_CID[1:].upper(),
    "mixed case body": EMPTY_CID[:10] + EMPTY_CID[10:].upper(),
    "dotless i folds to I": EMPTY_CID.replace("i", "\u0131"),
    "non-zero trailing bits": EMPTY_CID[:-1] + "v",
}


@pytest.mark.parametrize("alias", list(NON_CANONICAL.values()), ids=list(NON_CANONICAL))
def test_non_canonical_spellings_are_rejected(alias: str) -> None:
    assert alias != EMPTY_CID
    assert is_cid(alias) is False


def test_cid_bytes32_helpers_still_importable_from_compute_market() -> None:
    # 0.3 code imported them from agora.compute.market (its __all__); they moved to storage in 0.4
    from agora.compute.market import bytes32_to_cid as old_from
    from agora.compute.market import cid_to_bytes32 as old_to
    from agora.storage import bytes32_to_cid, cid_for, cid_to_bytes32

    cid = cid_for(b"x")
    assert old_to is cid_to_bytes32 and old_from is bytes32_to_cid
    assert old_from(old_to(cid)) == cid
