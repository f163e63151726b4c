"""Blob stores: a local directory, a peer over HTTP, and both together.

Every blob is addressed by its CID and checked against it whenever it is
read, from disk or from the network: a store can be wrong, never believed.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

import httpx

from agora.errors import BlobMismatch, BlobNotFound, BlobTooLarge, StorageError
from agora.storage.cid import cid_digest, cid_for

__all__ = ["BlobStore", "LocalStore", "HttpStore", "Storage", "DEFAULT_MAX_BLOB_BYTES"]

DEFAULT_MAX_BLOB_BYTES = 64 * 1024 * 1024


def _check(cid: str, data: bytes) -> bytes:
    if hashlib.sha256(data).digest() != cid_digest(cid):
        raise BlobMismatch(f"the blob fetched for {cid} does not match its CID; it was rejected")
    return data


class BlobStore(Protocol):
    """What every store offers."""

    def put(self, data: bytes) -> str:
        """Store ``data``; return its CID."""
        ...

    def get(self, cid: str) -> bytes:
        """The blob with ``cid``, verified; BlobNotFound if absent."""
        ...

    def has(self, cid: str) -> bool:
        """True if the store holds ``cid``."""
        ...


class LocalStore:
    """Blobs as files under ``root/<2 chars>/<cid>``, written atomically."""

    def __init__(self, root: Path | str, max_bytes: int = DEFAULT_MAX_BLOB_BYTES) -> None:
        self.root = Path(root)
        self.max_bytes = max_bytes

    def __repr__(self) -> str:
        return f"LocalStore({str(self.root)!r})"

    def _path(self, cid: str) -> Path:
        cid_digest(cid)  # validates; also keeps path traversal out
        return self.root / cid[-2:] / cid

    def put(self, data: bytes) -> str:
        """Store ``data``; return its CID. Storing the same blob twice is a no-op."""
        if len(data) > self.max_bytes:
            raise BlobTooLarge(
                f"blob of {len(data)} bytes exceeds this store's limit of {self.max_bytes} bytes"
            )
        cid = cid_for(data)
        path = self._path(cid)
        if path.exists():
            return cid
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return cid

    def get(self, cid: str) -> bytes:
        """The blob with ``cid``, checked against the CID (a corrupt file is removed)."""
        path = self._path(cid)
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            raise BlobNotFound(f"blob {cid} is not in {self.root}") from None
        try:
            return _check(cid, data)
        except BlobMismatch:
            path.unlink(missing_ok=True)
            raise

    def has(self, cid: str) -> bool:
        """True if the file for ``cid`` exists."""
        return self._path(cid).exists()

    def delete(self, cid: str) -> None:
        """Remove ``cid`` if present."""
        self._path(cid).unlink(missing_ok=True)


class HttpStore:
    """A peer's blob endpoint (``agora storage serve`` or any node's gateway)."""

    def __init__(
        self,
        base_url: str,
        max_bytes: int = DEFAULT_MAX_BLOB_BYTES,
        timeout: float = 30.0,
        client: httpx.Client | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.max_bytes = max_bytes
        self._client = client or httpx.Client(timeout=timeout)

    def __repr__(self) -> str:
        return f"HttpStore({self.base_url!r})"

    def put(self, data: bytes) -> str:
        """Upload ``data``; the peer's CID must equal ours."""
        if len(data) > self.max_bytes:
            raise BlobTooLarge(f"blob of {len(data)} bytes exceeds the limit of {self.max_bytes}")
        try:
            r = self._client.post(f"{self.base_url}/blobs", content=data)
        except httpx.HTTPError as exc:
            raise StorageError(f"cannot reach {self.base_url}: {exc}") from None
        if r.status_code == 413:
            raise BlobTooLarge(f"{self.base_url} refused a blob of {len(data)} bytes as too large")
        if r.status_code >= 400:
            raise StorageError(f"{self.base_url} refused the blob: HTTP {r.status_code} {r.text[:200]}")
        cid = cid_for(data)
        if r.json().get("cid") != cid:
            raise BlobMismatch(f"{self.base_url} answered another CID than {cid}")
        return cid

    def get(self, cid: str) -> bytes:
        """Download ``cid``, stopping past ``max_bytes``, and verify it."""
        cid_digest(cid)
        try:
            with self._client.stream("GET", f"{self.base_url}/blobs/{cid}") as r:
                if r.status_code == 404:
                    raise BlobNotFound(f"{self.base_url} does not have blob {cid}")
                if r.status_code >= 400:
                    raise StorageError(f"{self.base_url} answered HTTP {r.status_code} for {cid}")
                buf = bytearray()
                for chunk in r.iter_bytes():
                    buf += chunk
                    if len(buf) > self.max_bytes:
                        raise BlobTooLarge(
                            f"{self.base_url} sent more than {self.max_bytes} bytes for {cid}"
                        )
        except httpx.HTTPError as exc:
            raise StorageError(f"cannot fetch {cid} from {self.base_url}: {exc}") from None
        return _check(cid, bytes(buf))

    def has(self, cid: str) -> bool:
        """True if the peer answers HEAD with 200."""
        try:
            return self._client.head(f"{self.base_url}/blobs/{cid}").status_code == 200
        except httpx.HTTPError:
            return False


class Storage:
    """A local store plus peers: reads try local first, then each peer, and keep a copy."""

    def __init__(self, local: LocalStore, peers: Sequence[BlobStore] | None = None) -> None:
        self.local = local
        self.peers: list[BlobStore] = list(peers or [])

    def put(self, data: bytes) -> str:
        """Store locally; return the CID."""
        return self.local.put(data)

    def get(self, cid: str) -> bytes:
        """The verified blob, from here or the first peer that has a good copy."""
        try:
            return self.local.get(cid)
        except (BlobNotFound, BlobMismatch):
            pass  # a corrupt local copy was deleted; a peer may have a good one
        errors: list[str] = []
        for peer in self.peers:
            try:
                data = peer.get(cid)
            except StorageError as exc:
                errors.append(str(exc))
                continue
            self.local.put(data)
            return data
        detail = f" ({'; '.join(errors)})" if errors else ""
        raise BlobNotFound(f"blob {cid} was found neither locally nor at any peer{detail}")

    def has(self, cid: str) -> bool:
        """True if held locally."""
        return self.local.has(cid)
