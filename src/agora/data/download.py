"""Downloading a dataset from an access node, checked against the content hash on chain.

:func:`download` signs one download request (its nonce is the session, see
:mod:`agora.data.access`), fetches the dataset's chunk digests and checks that they make the
expected content hash before taking a byte of content, then streams into ``<out>.part`` and
checks every chunk against its digest as soon as it is complete. A dropped connection (or a node
that restarts) is resumed with ``Range`` from the last checked chunk, a few times; a rerun after
giving up resumes from the ``.part`` file (its chunks checked again first). Bytes that do not
match are refused at once: the partial file is removed and one line raised
(:class:`agora.data.files.ContentMismatch`). Only a complete, checked file is renamed into place.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from agora.chain import Signer
from agora.data.access import REQUEST_HEADER, encode_request_header
from agora.data.files import ContentMismatch, chunk_count, root_of
from agora.data.messages import DownloadRequest, access_domain, sign_download_request
from agora.errors import AgoraError

__all__ = ["AccessRefused", "DownloadResult", "download"]

#: Statuses worth another try (the node restarting, or its chain briefly away).
_RETRY_STATUSES = {502, 504}
_RETRY_CODES = {"orders_unavailable"}


class AccessRefused(AgoraError):
    """The access node refused the download (its one-line reason and code)."""

    def __init__(self, message: str, code: str, status: int) -> None:
        super().__init__(message)
        self.code = code
        self.status = status


class _Retry(Exception):
    pass


@dataclass(frozen=True)
class DownloadResult:
    """A finished download: where it is, its size and content hash, and how often it resumed."""

    path: Path
    size: int
    content_hash: bytes
    resumes: int
    order_id: int = 0


def _refusal(response: httpx.Response) -> Exception:
    try:
        body = response.json()
        message, code = str(body["error"]), str(body["code"])
    except Exception:
        message, code = f"HTTP {response.status_code}", "http_error"
    if response.status_code in _RETRY_STATUSES or code in _RETRY_CODES:
        return _Retry(message)
    return AccessRefused(f"the access node refused the download: {message} ({code})", code, response.status_code)


def _fail(part: Path, message: str) -> ContentMismatch:
    part.unlink(missing_ok=True)
    return ContentMismatch(message, hint="the node serves other bytes than the chain's content hash; nothing was kept")


def download(
    url: str, dataset_id: int, order_id: int, signer: Signer, out_path: Path | str, *, expected_hash: bytes,
    chain_id: int, registry: str, progress: Callable[[int, int], None] | None = None, retries: int = 5,
    request_ttl_s: int = 600, timeout_s: float = 30.0, client: httpx.Client | None = None,
) -> DownloadResult:
    """Download dataset ``dataset_id`` under order ``order_id`` from the access node at ``url`` into
    ``out_path``, checked chunk by chunk against ``expected_hash`` (the content hash on chain).

    ``signer`` is the consumer; ``chain_id`` and ``registry`` name the node's EIP-712 domain.
    ``progress(done, total)`` is called as bytes arrive. Up to ``retries`` tries in a row that
    bring nothing are made after a dropped connection. Raises :class:`AccessRefused` when the node
    refuses, :class:`ContentMismatch` when bytes do not match (the partial file removed).
    """
    out = Path(out_path)
    part = out.with_name(out.name + ".part")
    base = url.rstrip("/")
    request = sign_download_request(signer, access_domain(chain_id, registry), DownloadRequest(
        order_id, signer.address, dataset_id, secrets.randbits(256), int(time.time()) + request_ttl_s,
    ))
    headers = {REQUEST_HEADER: encode_request_header(request)}
    own = client is None
    http = client or httpx.Client(timeout=timeout_s)
    try:
        manifest = _with_retries(lambda: _fetch_manifest(http, base, dataset_id, headers), retries)
        size = int(manifest["size"])
        chunk = int(manifest["chunkSize"])
        digests = [bytes.fromhex(str(d)[2:]) for d in manifest["digests"]]
        if len(digests) != chunk_count(size, chunk) or root_of(digests) != expected_hash:
            raise _fail(part, f"dataset {dataset_id}'s chunks do not make the content hash 0x{expected_hash.hex()}")
        done = _resume_point(part, digests, chunk, size)
        resumes = 0
        misses = 0
        while done < size:
            error: Exception | None = None
            if progress is not None:
                progress(done, size)
            try:
                _fetch_from(http, base, dataset_id, headers, part, done, size, chunk, digests, progress)
            except (httpx.TransportError, _Retry) as exc:
                error = exc
            # every whole chunk in the file was checked on arrival; a resume starts after the last
            reached = _truncate_to_checked(part, chunk, size)
            if reached >= size:
                break
            misses = 0 if reached > done else misses + 1
            if misses > retries:
                raise AgoraError(
                    f"the download of dataset {dataset_id} broke off at {reached} of {size} bytes: "
                    f"{error or 'short body'}",
                    hint=f"run it again to resume from {part}",
                )
            time.sleep(min(0.2 * 2 ** max(misses - 1, 0), 3.0))
            done = reached
            resumes += 1
        if size == 0:
            part.write_bytes(b"")
        if progress is not None:
            progress(size, size)
        with open(part, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(part, out)
        return DownloadResult(out, size, expected_hash, resumes, order_id)
    finally:
        if own:
            http.close()


def _with_retries(call: Callable[[], dict[str, Any]], retries: int) -> dict[str, Any]:
    for attempt in range(retries + 1):
        try:
            return call()
        except (httpx.TransportError, _Retry) as exc:
            if attempt == retries:
                raise AgoraError(
                    f"cannot reach the access node: {exc}", hint="check its URL and that it runs",
                ) from None
            time.sleep(min(0.2 * 2**attempt, 3.0))
    raise AssertionError("unreachable")  # pragma: no cover


def _fetch_manifest(http: httpx.Client, base: str, dataset_id: int, headers: dict[str, str]) -> dict[str, Any]:
    response = http.get(f"{base}/datasets/{dataset_id}/manifest", headers=headers)
    if response.status_code != 200:
        raise _refusal(response)
    body: dict[str, Any] = response.json()
    return body


def _resume_point(part: Path, digests: list[bytes], chunk: int, size: int) -> int:
    """How much of an earlier ``.part`` file is whole, checked chunks (the file cut back to that)."""
    if not part.exists():
        return 0
    good = 0
    with open(part, "rb+") as f:
        for index, digest in enumerate(digests):
            data = f.read(chunk)
            if len(data) != min(chunk, size - index * chunk) or hashlib.sha256(data).digest() != digest:
                break
            good += len(data)
        f.truncate(good)
    return good


def _truncate_to_checked(part: Path, chunk: int, total: int) -> int:
    """Cut ``part`` back to its last whole chunk (every whole chunk in it was checked on arrival)."""
    if not part.exists():
        return 0
    have = part.stat().st_size
    keep = have if have == total else have - have % chunk
    if keep != have:
        os.truncate(part, keep)
    return keep


def _fetch_from(
    http: httpx.Client, base: str, dataset_id: int, headers: dict[str, str], part: Path, start: int, size: int,
    chunk: int, digests: list[bytes], progress: Callable[[int, int], None] | None,
) -> None:
    """Stream bytes ``start..`` (a chunk boundary) into ``part``, checking each chunk as it completes."""
    wanted = {**headers, "Range": f"bytes={start}-"} if start else headers
    with http.stream("GET", f"{base}/datasets/{dataset_id}/download", headers=wanted) as response:
        if response.status_code not in (200, 206):
            response.read()
            raise _refusal(response)
        if start and (response.status_code != 206
                      or not response.headers.get("content-range", "").startswith(f"bytes {start}-")):
            raise _fail(part, "the access node answered a resume with another range")
        pos = start
        index = pos // chunk
        need = min(chunk, size - index * chunk)
        hasher = hashlib.sha256()
        filled = 0
        with open(part, "r+b" if start else "wb") as f:
            f.seek(start)
            for piece in response.iter_raw():
                if pos + len(piece) > size:
                    raise _fail(part, f"the access node sent more bytes than dataset {dataset_id} holds")
                f.write(piece)
                view = memoryview(piece)
                while view:
                    take = min(len(view), need - filled)
                    hasher.update(view[:take])
                    filled += take
                    view = view[take:]
                    if filled == need:
                        if hasher.digest() != digests[index]:
                            raise _fail(part, f"chunk {index} of dataset {dataset_id} does not match its digest")
                        index += 1
                        hasher = hashlib.sha256()
                        filled = 0
                        need = min(chunk, size - index * chunk)
                pos += len(piece)
                if progress is not None:
                    progress(pos, size)
