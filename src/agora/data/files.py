"""A dataset's files, prepared for serving: a content hash that can be checked chunk by chunk, and
encryption at rest.

**Content hash.** A file is cut into fixed chunks of :data:`CHUNK_SIZE` (1 MiB; the last one may
be shorter, an empty file is one empty chunk). Each chunk's digest is its sha256; the content hash
is the Merkle root over those digests, built by :mod:`agora.chain.merkle` (keccak, the chunk's index
bound into its leaf, so the tree a contract can check). It is what a dataset publishes on chain
(bytes32). A client that holds the list of chunk digests — checked once against the root — checks
every chunk the moment it arrives, so a ranged or resumed download never needs to restart from
zero to know its bytes are right; :func:`chunk_proof` / :func:`verify_chunk` prove one chunk
alone. The hash is over the plain content only: never over an encrypted copy, a path or a URL
(Ocean's checksums broke on exactly those).

**Encryption at rest.** An :class:`EncryptedStore` keeps each file as ``files/<random name>.agd``:
a 32-byte header (magic, a random file id, the plain size) and then one record per chunk,
``AES-256-GCM(chunk) ‖ tag`` (16 bytes), at a fixed offset, so chunk ``i`` is read and checked
alone. The nonce is the file id and the chunk index; the associated data binds the header
(file id, size) and the index, so a chunk moved within a file, between files, or a truncated
file fails its tag. The key is the node's: 32 random bytes in ``<home>/node.key``, created once
with mode 0600, never logged. Nothing stored names the original path or URL.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from Crypto.Cipher import AES

from agora.chain.merkle import merkle_proof, merkle_root, verify_proof
from agora.errors import AgoraError, ConfigError

__all__ = [
    "CHUNK_SIZE",
    "TAG_SIZE",
    "HEADER_SIZE",
    "ContentMismatch",
    "StoredFile",
    "EncryptedStore",
    "chunk_count",
    "chunk_digests",
    "chunk_proof",
    "content_hash",
    "load_node_key",
    "root_of",
    "verify_chunk",
]

#: Bytes per chunk: the unit of hashing, encryption, checking and resuming.
CHUNK_SIZE = 1 << 20
#: The GCM tag after each encrypted chunk.
TAG_SIZE = 16
#: ``magic (8) ‖ file id (8) ‖ plain size (8) ‖ chunk size (8)``.
HEADER_SIZE = 32
_MAGIC = b"AGORADF1"
_KEY_FILE = "node.key"
_KEY_SIZE = 32


class ContentMismatch(AgoraError):
    """Stored or received bytes do not match the content hash they are served under."""


def chunk_count(size: int, chunk_size: int = CHUNK_SIZE) -> int:
    """How many chunks a file of ``size`` bytes has (an empty file has one, empty)."""
    return max(1, -(-size // chunk_size))


def _read_chunks(f: BinaryIO, chunk_size: int) -> Iterator[bytes]:
    first = True
    while True:
        chunk = f.read(chunk_size)
        if not chunk and not first:
            return
        first = False
        yield chunk
        if len(chunk) < chunk_size:
            return


def chunk_digests(path: Path | str, chunk_size: int = CHUNK_SIZE) -> list[bytes]:
    """The sha256 of every chunk of the file at ``path``, in order (one read, chunk by chunk)."""
    with open(path, "rb") as f:
        return [hashlib.sha256(c).digest() for c in _read_chunks(f, chunk_size)]


def root_of(digests: list[bytes]) -> bytes:
    """The content hash of a file whose chunks have these sha256 digests."""
    return merkle_root(digests)


def content_hash(path: Path | str, chunk_size: int = CHUNK_SIZE) -> bytes:
    """The file's content hash (bytes32): the Merkle root over its chunks' sha256 digests."""
    return root_of(chunk_digests(path, chunk_size))


def chunk_proof(digests: list[bytes], index: int) -> list[bytes]:
    """The Merkle proof that chunk ``index`` (with digest ``digests[index]``) is in the file."""
    return merkle_proof(digests, index)


def verify_chunk(root: bytes, index: int, chunk: bytes, proof: list[bytes]) -> bool:
    """Whether ``chunk`` is chunk ``index`` of the file with content hash ``root``."""
    return verify_proof(root, index, hashlib.sha256(chunk).digest(), proof)


def load_node_key(home: Path | str) -> bytes:
    """The node's 32-byte storage key in ``<home>/node.key``, created (mode 0600) on first use.

    A key file that others may read, or of the wrong size, is refused rather than used.
    """
    path = Path(home) / _KEY_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        pass
    else:
        with os.fdopen(fd, "wb") as f:
            f.write(secrets.token_bytes(_KEY_SIZE))
            f.flush()
            os.fsync(f.fileno())
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        raise ConfigError(f"the node key {path} may be read by others (mode {mode:o})", hint=f"chmod 600 {path}")
    key = path.read_bytes()
    if len(key) != _KEY_SIZE:
        raise ConfigError(f"the node key {path} is not {_KEY_SIZE} bytes", hint="restore it from a backup")
    return key


@dataclass(frozen=True)
class StoredFile:
    """One encrypted file in the store: its name there, plain size and chunk digests."""

    name: str
    size: int
    content_hash: bytes
    digests: tuple[bytes, ...]
    chunk_size: int = CHUNK_SIZE

    @property
    def chunks(self) -> int:
        """How many chunks the file has."""
        return len(self.digests)


class EncryptedStore:
    """Files encrypted chunk by chunk with the node key, under ``<home>/files``."""

    def __init__(self, home: Path | str, chunk_size: int = CHUNK_SIZE) -> None:
        self.home = Path(home)
        self.folder = self.home / "files"
        self.folder.mkdir(parents=True, exist_ok=True)
        self.chunk_size = chunk_size
        self._key = load_node_key(self.home)

    def __repr__(self) -> str:  # never the key
        return f"EncryptedStore({self.folder})"

    def path_of(self, name: str) -> Path:
        """Where the stored file ``name`` lies."""
        return self.folder / f"{name}.agd"

    def _cipher(self, file_id: bytes, index: int, size: int) -> object:
        cipher = AES.new(self._key, AES.MODE_GCM, nonce=file_id + index.to_bytes(4, "big"))
        cipher.update(_MAGIC + file_id + size.to_bytes(8, "big") + index.to_bytes(8, "big"))
        return cipher

    def add(self, source: Path | str) -> StoredFile:
        """Encrypt the file at ``source`` into the store (written aside, then renamed into place)."""
        name = secrets.token_hex(16)
        size = Path(source).stat().st_size
        file_id = secrets.token_bytes(8)
        digests: list[bytes] = []
        final = self.path_of(name)
        tmp = final.with_suffix(".tmp")
        try:
            with open(source, "rb") as src, open(tmp, "wb") as out:
                out.write(_MAGIC + file_id + size.to_bytes(8, "big") + self.chunk_size.to_bytes(8, "big"))
                for index, chunk in enumerate(_read_chunks(src, self.chunk_size)):
                    digests.append(hashlib.sha256(chunk).digest())
                    ct, tag = self._cipher(file_id, index, size).encrypt_and_digest(chunk)  # type: ignore[attr-defined]
                    out.write(ct + tag)
                out.flush()
                os.fsync(out.fileno())
            if len(digests) != chunk_count(size, self.chunk_size):
                raise ContentMismatch(f"{source} changed while it was being added", hint="add it again")
            os.replace(tmp, final)
        finally:
            tmp.unlink(missing_ok=True)
        return StoredFile(name, size, root_of(digests), tuple(digests), self.chunk_size)

    def open(self, stored: StoredFile) -> ChunkReader:
        """A reader of ``stored``'s plain chunks, each checked by its GCM tag."""
        return ChunkReader(self, stored)

    def verify(self, stored: StoredFile) -> None:
        """Check the Merkle root over ``stored``'s digests and every chunk (its tag and its digest);
        raise :class:`ContentMismatch` on the first that fails."""
        if len(stored.digests) != chunk_count(stored.size, stored.chunk_size) or (
            root_of(list(stored.digests)) != stored.content_hash
        ):
            raise ContentMismatch("a stored file's chunk digests do not make its content hash")
        with self.open(stored) as reader:
            for index in range(stored.chunks):
                if hashlib.sha256(reader.chunk(index)).digest() != stored.digests[index]:
                    raise ContentMismatch(f"chunk {index} of a stored file does not match its digest")


class ChunkReader:
    """Reads the plain chunks of one stored file, checking each chunk's GCM tag."""

    def __init__(self, store: EncryptedStore, stored: StoredFile) -> None:
        self.store = store
        self.stored = stored
        self._f = open(store.path_of(stored.name), "rb")
        header = self._f.read(HEADER_SIZE)
        if (
            len(header) != HEADER_SIZE or header[:8] != _MAGIC
            or int.from_bytes(header[16:24], "big") != stored.size
            or int.from_bytes(header[24:32], "big") != stored.chunk_size
        ):
            self._f.close()
            raise ContentMismatch("a stored file's header is damaged")
        self._file_id = header[8:16]

    def chunk(self, index: int) -> bytes:
        """The plain bytes of chunk ``index``; :class:`ContentMismatch` if its tag fails."""
        stored = self.stored
        if not 0 <= index < stored.chunks:
            raise IndexError(index)
        length = min(stored.chunk_size, stored.size - index * stored.chunk_size)
        self._f.seek(HEADER_SIZE + index * (stored.chunk_size + TAG_SIZE))
        record = memoryview(self._f.read(length + TAG_SIZE))
        if len(record) != length + TAG_SIZE:
            raise ContentMismatch(f"chunk {index} of a stored file is truncated")
        cipher = self.store._cipher(self._file_id, index, stored.size)
        try:
            return bytes(cipher.decrypt_and_verify(record[:length], record[length:]))  # type: ignore[attr-defined]
        except ValueError:
            raise ContentMismatch(f"chunk {index} of a stored file fails its check (tampered on disk?)") from None

    def close(self) -> None:
        """Close the stored file."""
        self._f.close()

    def __enter__(self) -> ChunkReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
