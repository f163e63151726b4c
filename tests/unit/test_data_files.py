"""A dataset's files: the chunked content hash, proofs, encryption at rest, the node key."""

from __future__ import annotations

import hashlib
import os
import stat
from pathlib import Path

import pytest

from agora.chain import dev_signer
from agora.chain.merkle import merkle_root
from agora.data.files import (
    CHUNK_SIZE,
    HEADER_SIZE,
    TAG_SIZE,
    ContentMismatch,
    EncryptedStore,
    chunk_count,
    chunk_digests,
    chunk_proof,
    content_hash,
    load_node_key,
    verify_chunk,
)
from agora.data.messages import (
    DOWNLOAD_TYPE,
    DownloadRequest,
    access_domain,
    recover_download_request,
    sign_download_request,
    typed_data,
)
from agora.data.registry import Quote, quote_typed_data, registry_domain, sign_quote
from agora.errors import ConfigError

REGISTRY = "0x" + "ab" * 20


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


@pytest.mark.parametrize("size", [0, 1, CHUNK_SIZE - 1, CHUNK_SIZE, CHUNK_SIZE + 1, 3 * CHUNK_SIZE])
def test_content_hash_is_the_merkle_root_of_the_chunks_sha256(tmp_path: Path, size: int) -> None:
    data = os.urandom(size)
    f = _write(tmp_path / "d.bin", data)
    pieces = [data[i:i + CHUNK_SIZE] for i in range(0, size, CHUNK_SIZE)] or [b""]
    assert len(pieces) == chunk_count(size)
    assert chunk_digests(f) == [hashlib.sha256(p).digest() for p in pieces]
    assert content_hash(f) == merkle_root([hashlib.sha256(p).digest() for p in pieces])
    assert len(content_hash(f)) == 32


def test_an_exact_multiple_of_the_chunk_has_no_empty_tail_chunk(tmp_path: Path) -> None:
    f = _write(tmp_path / "d.bin", bytes(2 * CHUNK_SIZE))
    assert chunk_count(2 * CHUNK_SIZE) == 2
    assert len(chunk_digests(f)) == 2


def test_empty_file_is_one_empty_chunk_and_differs_from_a_zero_byte(tmp_path: Path) -> None:
    empty = _write(tmp_path / "e.bin", b"")
    zero = _write(tmp_path / "z.bin", b"\0")
    assert chunk_digests(empty) == [hashlib.sha256(b"").digest()]
    assert content_hash(empty) != content_hash(zero)


def test_any_changed_byte_or_length_changes_the_hash(tmp_path: Path) -> None:
    data = bytearray(os.urandom(2 * CHUNK_SIZE + 5))
    h = content_hash(_write(tmp_path / "a", bytes(data)))
    data[CHUNK_SIZE + 7] ^= 1
    assert content_hash(_write(tmp_path / "b", bytes(data))) != h
    assert content_hash(_write(tmp_path / "c", bytes(data[:-1]))) != h
    # the same chunks in another order are another file
    a, b = os.urandom(CHUNK_SIZE), os.urandom(CHUNK_SIZE)
    assert content_hash(_write(tmp_path / "ab", a + b)) != content_hash(_write(tmp_path / "ba", b + a))


def test_a_chunk_proves_alone_against_the_root(tmp_path: Path) -> None:
    data = os.urandom(3 * CHUNK_SIZE + 100)
    f = _write(tmp_path / "d.bin", data)
    digests, root = chunk_digests(f), content_hash(f)
    for i in range(4):
        piece = data[i * CHUNK_SIZE:(i + 1) * CHUNK_SIZE]
        proof = chunk_proof(digests, i)
        assert verify_chunk(root, i, piece, proof)
        assert not verify_chunk(root, i, piece[:-1] + bytes([piece[-1] ^ 1]), proof)
        assert not verify_chunk(root, (i + 1) % 4, piece, proof)  # the index is bound into the leaf


def test_encryption_round_trip_and_nothing_plain_on_disk(tmp_path: Path) -> None:
    data = os.urandom(2 * CHUNK_SIZE + 333)
    src = _write(tmp_path / "secret-customers.csv", data)
    store = EncryptedStore(tmp_path / "home")
    stored = store.add(src)
    assert stored.content_hash == content_hash(src) and stored.size == len(data) and stored.chunks == 3
    on_disk = store.path_of(stored.name)
    assert on_disk.stat().st_size == HEADER_SIZE + len(data) + 3 * TAG_SIZE
    raw = on_disk.read_bytes()
    assert data[:64] not in raw and data[CHUNK_SIZE:CHUNK_SIZE + 64] not in raw
    # the stored layout names neither the original file nor its folder
    names = [p.name for p in (tmp_path / "home").rglob("*")]
    assert not any("secret" in n or "customers" in n for n in names)
    assert b"secret-customers" not in raw
    with store.open(stored) as reader:
        assert b"".join(reader.chunk(i) for i in range(stored.chunks)) == data
    store.verify(stored)
    # another store (another key) on the same home reads it too
    with EncryptedStore(tmp_path / "home").open(stored) as reader:
        assert reader.chunk(2) == data[2 * CHUNK_SIZE:]


def test_empty_file_round_trip(tmp_path: Path) -> None:
    store = EncryptedStore(tmp_path / "home")
    stored = store.add(_write(tmp_path / "e", b""))
    assert stored.chunks == 1
    with store.open(stored) as reader:
        assert reader.chunk(0) == b""
    store.verify(stored)


@pytest.mark.parametrize("where", ["first", "middle", "tag", "header", "truncated", "swapped"])
def test_tampering_on_disk_is_detected(tmp_path: Path, where: str) -> None:
    data = os.urandom(3 * CHUNK_SIZE)
    store = EncryptedStore(tmp_path / "home")
    stored = store.add(_write(tmp_path / "d", data))
    path = store.path_of(stored.name)
    raw = bytearray(path.read_bytes())
    record = CHUNK_SIZE + TAG_SIZE
    if where == "first":
        raw[HEADER_SIZE + 10] ^= 1
    elif where == "middle":
        raw[HEADER_SIZE + record + 500] ^= 0x80
    elif where == "tag":
        raw[HEADER_SIZE + record - 1] ^= 1
    elif where == "header":
        raw[20] ^= 1  # the size the chunks are bound to
    elif where == "truncated":
        del raw[-1]
    else:  # two chunks swapped: each has a good tag, but at the wrong index
        one = raw[HEADER_SIZE:HEADER_SIZE + record]
        raw[HEADER_SIZE:HEADER_SIZE + record] = raw[HEADER_SIZE + record:HEADER_SIZE + 2 * record]
        raw[HEADER_SIZE + record:HEADER_SIZE + 2 * record] = one
    path.write_bytes(bytes(raw))
    with pytest.raises(ContentMismatch):
        store.verify(stored)


def test_a_wrong_digest_list_is_caught_by_the_root(tmp_path: Path) -> None:
    store = EncryptedStore(tmp_path / "home")
    stored = store.add(_write(tmp_path / "d", os.urandom(CHUNK_SIZE + 1)))
    forged = type(stored)(stored.name, stored.size, bytes(32), stored.digests)
    with pytest.raises(ContentMismatch, match="content hash"):
        store.verify(forged)


def test_another_key_cannot_read_the_files(tmp_path: Path) -> None:
    store = EncryptedStore(tmp_path / "home")
    stored = store.add(_write(tmp_path / "d", os.urandom(1000)))
    (tmp_path / "home" / "node.key").write_bytes(os.urandom(32))
    with pytest.raises(ContentMismatch), EncryptedStore(tmp_path / "home").open(stored) as reader:
        reader.chunk(0)


def test_node_key_is_created_once_with_mode_0600(tmp_path: Path) -> None:
    key = load_node_key(tmp_path / "home")
    path = tmp_path / "home" / "node.key"
    assert len(key) == 32
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_node_key(tmp_path / "home") == key
    assert key.hex() not in repr(EncryptedStore(tmp_path / "home"))


def test_a_readable_or_damaged_key_is_refused(tmp_path: Path) -> None:
    load_node_key(tmp_path)
    path = tmp_path / "node.key"
    path.chmod(0o644)
    with pytest.raises(ConfigError, match="chmod 600"):
        load_node_key(tmp_path)
    path.chmod(0o600)
    path.write_bytes(b"short")
    with pytest.raises(ConfigError, match="32 bytes"):
        load_node_key(tmp_path)


def test_quote_type_string_and_signature_round_trip() -> None:
    from eth_account import Account
    from eth_account.messages import encode_typed_data

    assert DOWNLOAD_TYPE == (
        "DownloadRequest(uint256 orderId,address consumer,uint256 datasetId,uint256 nonce,uint256 expiry)"
    )
    provider, consumer = dev_signer(1), dev_signer(2)
    domain = registry_domain(31337, REGISTRY)
    signed = sign_quote(provider, domain, 7, 0, consumer.address, valid_until=2**40, fee_token=REGISTRY,
                        fee=10**18, nonce=99)
    assert signed.signer(domain) == provider.address
    assert signed.signer(registry_domain(1, REGISTRY)) != provider.address
    assert Quote.from_json(signed.to_json()) == signed
    # the same digest as eth-account's generic EIP-712 path (what wallets and the contract compute)
    reference = encode_typed_data(full_message=quote_typed_data(domain, 7, 0, consumer.address, provider.address,
                                                                REGISTRY, 10**18, 2**40, 99))
    assert Account.recover_message(reference, signature=signed.signature) == provider.address
    # a free quote carries no signature and no fee
    free = Quote.free(7, 0, consumer.address)
    assert free.is_free and not signed.is_free and Quote.from_json(free.to_json()) == free

    adomain = access_domain(31337, REGISTRY)
    req = sign_download_request(consumer, adomain, DownloadRequest(3, consumer.address, 7, 5, 2**40))
    assert recover_download_request(adomain, req) == consumer.address
    assert recover_download_request(domain, req) != consumer.address  # another domain
    reference = encode_typed_data(full_message=typed_data(adomain, "DownloadRequest", req.message()))
    assert Account.recover_message(reference, signature=req.signature) == consumer.address
