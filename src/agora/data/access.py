"""The access node: serves a dataset's bytes to whoever holds a valid order for it, and nothing else.

An :class:`AccessNode` owns a home folder: the node key (``node.key``, 0600), the files encrypted
with it (``files/<random>.agd``, see :mod:`agora.data.files`) and its durable state
(``access.db``: which stored file is which dataset, and the download sessions). A consumer never
learns where the bytes live: no path or URL is stored, published or answered — only the dataset
id and its content hash.

Routes (:func:`create_access_app`); every refusal is one line of JSON ``{"error", "code"}`` and no
file bytes:

* ``GET /datasets/{id}`` — public: dataset id, content hash, size, chunk size, chunk count.
* ``GET /datasets/{id}/manifest`` — the chunk digests (checked by the client against the content
  hash on chain, then used to check each chunk as it arrives); needs a signed request.
* ``GET /datasets/{id}/download`` — the bytes, streamed chunk by chunk (each decrypted and its
  GCM tag checked just before it is sent); HTTP ``Range`` (one range) answers ``206`` so a client
  resumes. The signed request travels base64-encoded JSON in the ``Agora-Download-Request`` header
  (:class:`agora.data.messages.DownloadRequest`).
* ``POST /quotes`` — a provider-fee quote signed by the node key, the ``DataRegistry``'s own
  ``Quote`` (:class:`agora.data.registry.Quote`); a node without a fee answers a free, unsigned one.
* ``GET /health``.

A download request is refused (``403``) when its signature is not the consumer's
(``bad_signature``), it has expired or lives too long (``request_expired``), the order is not
valid for that consumer — none, expired, another's — (``order_invalid``), the order is for another
dataset (``order_wrong_dataset``), or its nonce was already used by another order or consumer
(``nonce_used``). **Sessions:** the nonce marks one download session: the first request binds it
to (order, consumer, dataset) in the durable state, and the same signed request may then fetch
more ranges of the same download until its expiry — a dropped connection resumes without a new
signature — while the nonce is refused with any other order or consumer, also after a restart.
Whoever sees a request (TLS keeps it from others) may reuse it until its expiry, for the same
order only, and every reuse checks the order again; expiries are capped (``max_request_ttl_s``).

**Integrity.** Before a download starts, the stored file is checked whole — every chunk's tag and
digest, and the Merkle root — whenever it is new to this process or its inode, size, mtime or
ctime changed since its last check (what any write on disk changes). A file that fails is refused
(``503``, ``content_mismatch``) before a byte is sent. While streaming, each chunk's tag is
checked again; a failure there ends the response short, which the client sees.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import logging
import os
import secrets
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Protocol

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response, StreamingResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from agora.chain import Signer
from agora.data.files import ContentMismatch, EncryptedStore, StoredFile
from agora.data.messages import DownloadRequest, access_domain, recover_download_request
from agora.data.registry import Quote, registry_domain, sign_quote
from agora.errors import AgoraError
from agora.storage.state import StateLock, lock_state, open_state_db

__all__ = [
    "DOWNLOAD_SERVICE",
    "REQUEST_HEADER",
    "RESULT_HEADER",
    "AccessDenied",
    "AccessNode",
    "OrderBook",
    "create_access_app",
    "encode_request_header",
    "parse_range",
]

#: The service id of a dataset's download (an order for another service, e.g. compute-to-data, does
#: not download the data).
DOWNLOAD_SERVICE = 0
#: The header carrying a signed :class:`DownloadRequest` (base64 of its JSON).
REQUEST_HEADER = "Agora-Download-Request"
#: The header carrying a dataset's content hash on its download.
HASH_HEADER = "Agora-Content-Hash"
_ZERO_ADDRESS = "0x" + "00" * 20
log = logging.getLogger("agora.data.access")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS datasets (
    dataset_id TEXT PRIMARY KEY, name TEXT NOT NULL, size INTEGER NOT NULL, chunk_size INTEGER NOT NULL,
    content_hash BLOB NOT NULL, digests BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS sessions (
    nonce TEXT PRIMARY KEY, order_id TEXT NOT NULL, consumer TEXT NOT NULL, dataset_id TEXT NOT NULL,
    expiry INTEGER NOT NULL
);
"""


class OrderBook(Protocol):
    """Who holds a valid order for what: the access node's only question to the chain.

    The real one wraps the DataRegistry contract; tests pass a dict-backed fake.
    """

    def order_valid(self, order_id: int, consumer: str) -> bool:
        """Whether order ``order_id`` exists, is ``consumer``'s, and has not expired."""
        ...

    def order_dataset(self, order_id: int) -> int:
        """The dataset order ``order_id`` was placed for."""
        ...

    def order_is_for(self, order_id: int, dataset_id: int, service_id: int, consumer: str) -> bool:
        """Whether order ``order_id`` is for that service of that dataset and that consumer (an
        order of the compute service must not download the data)."""
        ...


class AccessDenied(AgoraError):
    """A request the access node refuses: an HTTP status and a stable code with the one-line message."""

    def __init__(self, status: int, code: str, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.headers = headers or {}


def encode_request_header(request: Any) -> str:
    """The value of :data:`REQUEST_HEADER` (or :data:`RESULT_HEADER`) for a signed request."""
    return base64.b64encode(json.dumps(request.to_json(), separators=(",", ":")).encode()).decode()


def _decode_request_header(value: str | None, cls: Any = DownloadRequest, header: str = REQUEST_HEADER,
                           what: str = "download") -> Any:
    """The signed request (``cls``: a download or a result request) carried in ``header``."""
    if not value:
        raise AccessDenied(403, "missing_request", f"a {what} needs a signed request in the {header} header")
    try:
        data = json.loads(base64.b64decode(value, validate=True))
        if not isinstance(data, dict):
            raise ValueError
        return cls.from_json(data)
    except (ValueError, KeyError, TypeError, binascii.Error):
        raise AccessDenied(400, "bad_request", f"the {header} header is not a signed {what} request") from None


def parse_range(header: str | None, size: int) -> tuple[int, int] | None:
    """``(first, last)`` byte positions (inclusive) of a one-range ``Range`` header, None for the
    whole file; :class:`AccessDenied` (416) when it cannot be satisfied or is not one byte range."""
    if header is None:
        return None
    unit, _, spec = header.partition("=")
    unsatisfiable = {"Content-Range": f"bytes */{size}"}
    if unit.strip().lower() != "bytes" or "," in spec:
        raise AccessDenied(416, "bad_range", "only one byte range is served (Range: bytes=first-last)", unsatisfiable)
    start, dash, end = spec.strip().partition("-")
    try:
        if not dash:
            raise ValueError
        if start == "":
            suffix = int(end)
            if suffix <= 0:
                raise ValueError
            first, last = max(0, size - suffix), size - 1
        else:
            first = int(start)
            last = int(end) if end else size - 1
    except ValueError:
        raise AccessDenied(416, "bad_range", f"{header[:60]!r} is not a byte range", unsatisfiable) from None
    last = min(last, size - 1)
    if first < 0 or first > last:
        raise AccessDenied(
            416, "bad_range", f"the range {header[:60]!r} is outside the file ({size} bytes)", unsatisfiable,
        )
    return first, last


class AccessNode:
    """An access node's state: its key, signer, encrypted files, orders and download sessions.

    ``signer`` is the node's account (it signs provider-fee quotes); ``orders`` answers order
    checks; ``registry`` is the DataRegistry's address on chain ``chain_id`` (both EIP-712
    domains name it). One node per home: a second is refused (:class:`agora.storage.StateLocked`).
    """

    def __init__(
        self, home: Path | str, signer: Signer, orders: OrderBook, *, chain_id: int, registry: str,
        max_request_ttl_s: int = 3600, quote_ttl_s: int = 600, fee_token: str = _ZERO_ADDRESS, fee_amount: int = 0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.home = Path(home)
        self.home.mkdir(parents=True, exist_ok=True)
        self.signer = signer
        self.orders = orders
        self.chain_id = chain_id
        self.registry = registry
        self.domain = access_domain(chain_id, registry)
        self.quote_domain = registry_domain(chain_id, registry)
        self.max_request_ttl_s = max_request_ttl_s
        self.quote_ttl_s = quote_ttl_s
        self.fee_token = fee_token
        self.fee_amount = fee_amount
        self.clock = clock
        db_path = self.home / "access.db"
        self._lock: StateLock | None = lock_state(db_path, f"another access node is already running on {self.home}")
        try:
            self.store = EncryptedStore(self.home)
            self.db = open_state_db(db_path, schema=_SCHEMA)
        except BaseException:
            self._lock.release()
            raise
        self._mu = threading.Lock()
        self._verify_mu = threading.Lock()
        self._checked: dict[str, tuple[int, int, int, int]] = {}

    def __repr__(self) -> str:
        return f"AccessNode({self.home}, {self.signer.address})"

    # --- files ------------------------------------------------------------------------------

    def add_file(self, dataset_id: int, path: Path | str) -> bytes:
        """Encrypt the file at ``path`` into the store as dataset ``dataset_id``'s file (replacing
        any earlier one) and return its content hash (bytes32, what the chain should hold)."""
        stored = self.store.add(path)
        with self._mu:
            old = self.get_dataset(dataset_id)
            self.db.execute(
                "INSERT OR REPLACE INTO datasets VALUES (?, ?, ?, ?, ?, ?)",
                (str(dataset_id), stored.name, stored.size, stored.chunk_size, stored.content_hash,
                 b"".join(stored.digests)),
            )
            self._checked[stored.name] = self._stat_key(stored)
        if old is not None and old.name != stored.name:
            self.store.path_of(old.name).unlink(missing_ok=True)
            self._checked.pop(old.name, None)
        return stored.content_hash

    def get_dataset(self, dataset_id: int) -> StoredFile | None:
        """The stored file of dataset ``dataset_id``, or None."""
        row = self.db.execute(
            "SELECT name, size, chunk_size, content_hash, digests FROM datasets WHERE dataset_id = ?",
            (str(dataset_id),),
        ).fetchone()
        if row is None:
            return None
        name, size, chunk_size, root, digests = row
        blob = bytes(digests)
        return StoredFile(name, size, bytes(root), tuple(blob[i:i + 32] for i in range(0, len(blob), 32)), chunk_size)

    def describe(self, dataset_id: int) -> dict[str, Any]:
        """What anyone may know of a dataset here: id, content hash, size, chunking (no location)."""
        stored = self._require(dataset_id)
        return {
            "datasetId": str(dataset_id), "contentHash": "0x" + stored.content_hash.hex(), "size": stored.size,
            "chunkSize": stored.chunk_size, "chunks": stored.chunks,
        }

    def _require(self, dataset_id: int) -> StoredFile:
        stored = self.get_dataset(dataset_id)
        if stored is None:
            raise AccessDenied(404, "unknown_dataset", f"dataset {dataset_id} is not served here")
        return stored

    def _stat_key(self, stored: StoredFile) -> tuple[int, int, int, int]:
        st = os.stat(self.store.path_of(stored.name))
        return (st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)

    def validate_intact(self, stored: StoredFile) -> None:
        """Check ``stored`` whole (tags, digests, root) unless it is unchanged since its last check;
        :class:`AccessDenied` (503, ``content_mismatch``) when it fails or is gone."""
        try:
            with self._verify_mu:
                key = self._stat_key(stored)
                if self._checked.get(stored.name) == key:
                    return
                self.store.verify(stored)
                self._checked[stored.name] = key
        except (ContentMismatch, OSError) as exc:
            log.error("stored file of a dataset fails its check: %s", exc)
            self._checked.pop(stored.name, None)
            raise AccessDenied(
                503, "content_mismatch", "the stored file fails its content check; the node will not serve it",
            ) from None

    # --- requests ---------------------------------------------------------------------------

    def authorize(self, dataset_id: int, header: str | None) -> StoredFile:
        """Check a signed download request for ``dataset_id`` (the header's value) and open or resume
        its session; the dataset's stored file, checked intact, or :class:`AccessDenied`."""
        request = _decode_request_header(header)
        if request.dataset_id != dataset_id:
            raise AccessDenied(
                403, "dataset_mismatch", f"the request is for dataset {request.dataset_id}, not {dataset_id}",
            )
        now = int(self.clock())
        if request.expiry <= now:
            raise AccessDenied(403, "request_expired", "the download request has expired; sign a new one")
        if request.expiry > now + self.max_request_ttl_s:
            raise AccessDenied(
                403, "request_expired",
                f"the download request lives more than {self.max_request_ttl_s} s; sign a shorter one",
            )
        signer = recover_download_request(self.domain, request)
        if signer is None or signer.lower() != request.consumer.lower():
            raise AccessDenied(403, "bad_signature", "the download request is not signed by its consumer")
        stored = self._require(dataset_id)
        try:
            valid = self.orders.order_valid(request.order_id, request.consumer)
            ordered = self.orders.order_dataset(request.order_id) if valid else None
        except Exception as exc:  # the chain: never a reason to serve, nor a stack trace
            log.warning("order check failed: %s", exc)
            raise AccessDenied(503, "orders_unavailable", "cannot check orders now; try again shortly") from None
        if not valid:
            raise AccessDenied(
                403, "order_invalid", f"order {request.order_id} is not a valid order of {request.consumer}",
            )
        if ordered != dataset_id:
            raise AccessDenied(403, "order_wrong_dataset", f"order {request.order_id} is not for dataset {dataset_id}")
        if not self.orders.order_is_for(request.order_id, dataset_id, DOWNLOAD_SERVICE, request.consumer):
            raise AccessDenied(
                403, "order_wrong_service", f"order {request.order_id} is not for the download service "
                f"({DOWNLOAD_SERVICE}) of dataset {dataset_id}",
            )
        self._open_session(request, now)
        self.validate_intact(stored)
        return stored

    def _open_session(self, request: DownloadRequest, now: int) -> None:
        nonce, order, consumer = str(request.nonce), str(request.order_id), request.consumer.lower()
        with self._mu:
            row = self.db.execute(
                "SELECT order_id, consumer, dataset_id FROM sessions WHERE nonce = ?", (nonce,),
            ).fetchone()
            if row is None:
                # expired sessions can go: their requests are refused by their expiry anyway
                self.db.execute("DELETE FROM sessions WHERE expiry < ?", (now,))
                self.db.execute(
                    "INSERT INTO sessions VALUES (?, ?, ?, ?, ?)",
                    (nonce, order, consumer, str(request.dataset_id), request.expiry),
                )
            elif tuple(row) != (order, consumer, str(request.dataset_id)):
                raise AccessDenied(403, "nonce_used", "this request's nonce was already used; sign a new request")

    def stream(self, stored: StoredFile, first: int, last: int) -> Iterator[bytes]:
        """The plain bytes ``first..last`` (inclusive) of ``stored``, one chunk at a time."""
        size = stored.chunk_size
        with self.store.open(stored) as reader:
            for index in range(first // size, last // size + 1):
                try:
                    data = reader.chunk(index)
                except ContentMismatch as exc:  # changed since the check: end the response short
                    log.error("stored file of a dataset fails its check while streaming: %s", exc)
                    self._checked.pop(stored.name, None)
                    raise
                lo = max(first - index * size, 0)
                hi = min(last + 1 - index * size, len(data))
                yield data if (lo, hi) == (0, len(data)) else data[lo:hi]

    # --- quotes -----------------------------------------------------------------------------

    def build_quote(self, dataset_id: int, consumer: str, service_id: int = 0) -> Quote:
        """A provider-fee quote for serving ``dataset_id`` to ``consumer``, signed by the node key
        over the registry's ``Quote`` type (the contract checks it); without a fee, a free quote
        (unsigned: the order skips the signature check and costs less gas)."""
        self._require(dataset_id)
        if self.fee_amount == 0:
            return Quote.free(dataset_id, service_id, consumer)
        return sign_quote(self.signer, self.quote_domain, dataset_id, service_id, consumer,
                          valid_until=int(self.clock()) + self.quote_ttl_s, fee_token=self.fee_token,
                          fee=self.fee_amount, nonce=secrets.randbits(128))

    def close(self) -> None:
        """Close the state and let the home go (idempotent)."""
        self.db.close()
        if self._lock is not None:
            self._lock.release()
            self._lock = None


def _error(exc: AccessDenied) -> JSONResponse:
    return JSONResponse({"error": str(exc), "code": exc.code}, status_code=exc.status, headers=exc.headers)


def create_access_app(node: AccessNode, *, close_on_shutdown: bool = False, c2d: Any = None) -> FastAPI:
    """The ASGI app of ``node`` (see the module's docstring for the routes); with ``c2d`` (a
    :class:`agora.data.c2d.C2DNode`), also the compute-to-data routes under ``/compute``."""
    app = FastAPI(title="Agora access node", version="1")
    if close_on_shutdown:
        app.router.on_shutdown.append(node.close)

    @app.exception_handler(AccessDenied)
    async def denied(_: Request, exc: AccessDenied) -> JSONResponse:
        return _error(exc)

    @app.exception_handler(RequestValidationError)
    async def invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(p) for p in first.get("loc", ()))
        return _error(AccessDenied(400, "bad_request", f"{where}: {first.get('msg', 'invalid')}"))

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        return _error(AccessDenied(exc.status_code, "not_found" if exc.status_code == 404 else "http_error",
                                   str(exc.detail)))

    def dataset_id_of(raw: str) -> int:
        if not raw.isdigit() or len(raw) > 78 or int(raw) >= 2**256:
            raise AccessDenied(400, "bad_request", f"{raw[:80]!r} is not a dataset id (a uint256)")
        return int(raw)

    @app.get("/health")
    def health() -> dict[str, Any]:
        return {"status": "ok", "node": node.signer.address, "chainId": node.chain_id, "registry": node.registry}

    @app.get("/datasets/{dataset_id}")
    def describe(dataset_id: str) -> dict[str, Any]:
        return node.describe(dataset_id_of(dataset_id))

    @app.get("/datasets/{dataset_id}/manifest")
    def manifest(dataset_id: str, request: Request) -> dict[str, Any]:
        ds = dataset_id_of(dataset_id)
        stored = node.authorize(ds, request.headers.get(REQUEST_HEADER))
        return {**node.describe(ds), "digests": ["0x" + d.hex() for d in stored.digests]}

    @app.get("/datasets/{dataset_id}/download")
    def download(dataset_id: str, request: Request) -> Response:
        ds = dataset_id_of(dataset_id)
        stored = node.authorize(ds, request.headers.get(REQUEST_HEADER))
        wanted = parse_range(request.headers.get("range"), stored.size) if stored.size else None
        headers = {
            "Accept-Ranges": "bytes", "ETag": f'"{stored.content_hash.hex()}"',
            HASH_HEADER: "0x" + stored.content_hash.hex(), "Cache-Control": "no-store",
        }
        if wanted is None:
            first, last, status = 0, stored.size - 1, 200
        else:
            first, last = wanted
            status = 206
            headers["Content-Range"] = f"bytes {first}-{last}/{stored.size}"
        headers["Content-Length"] = str(last - first + 1)
        if stored.size == 0:
            return Response(b"", status_code=200, headers=headers, media_type="application/octet-stream")
        return StreamingResponse(
            node.stream(stored, first, last), status_code=status, headers=headers,
            media_type="application/octet-stream",
        )

    @app.post("/quotes")
    async def quote(request: Request) -> JSONResponse:
        try:
            body = json.loads(await request.body())
            ds = int(body["datasetId"])
            consumer = str(body["consumer"])
            service_id = int(body.get("serviceId", 0))
            if not (consumer.startswith("0x") and len(consumer) == 42) or not 0 <= ds < 2**256:
                raise ValueError
        except (ValueError, KeyError, TypeError):
            return _error(AccessDenied(400, "bad_request", "a quote needs JSON {datasetId, consumer[, serviceId]}"))
        signed = node.build_quote(ds, consumer, service_id)
        return JSONResponse({"quote": signed.to_json()})

    if c2d is not None:
        _add_compute_routes(app, node, c2d)
    return app


#: The header carrying a signed :class:`~agora.data.messages.ResultRequest` (base64 of its JSON).
RESULT_HEADER = "Agora-Result-Request"


def _add_compute_routes(app: FastAPI, node: AccessNode, c2d: Any) -> None:
    """``POST /compute`` (a consumer hands over its job), ``GET /compute/{job}`` (its state),
    ``GET /compute/{job}/result`` (the result, to the job's consumer: a signed ResultRequest)."""
    from agora.data.c2d import C2DError
    from agora.data.messages import ResultRequest

    def refuse(exc: C2DError) -> JSONResponse:
        return JSONResponse({"error": str(exc), "code": exc.code}, status_code=exc.status)

    def job_id_of(raw: str) -> int:
        if not raw.isdigit() or len(raw) > 78 or int(raw) >= 2**256 or int(raw) == 0:
            raise AccessDenied(400, "bad_request", f"{raw[:80]!r} is not a job id")
        return int(raw)

    @app.post("/compute")
    async def submit(request: Request) -> JSONResponse:
        try:
            body = json.loads(await request.body())
            job_id = int(body["jobId"])
            tx = str(body["tx"])
            req = base64.b64decode(str(body["request"]), validate=True)
            algorithm = base64.b64decode(str(body["algorithm"]), validate=True)
            if not 0 < job_id < 2**256 or not tx.startswith("0x") or len(algorithm) > (4 << 20):
                raise ValueError
        except (ValueError, KeyError, TypeError, binascii.Error):
            return _error(AccessDenied(400, "bad_request", "a compute job needs JSON {jobId, tx, request (base64), "
                                                           "algorithm (base64, at most 4 MiB)}"))
        try:
            status = await asyncio.to_thread(c2d.accept, job_id, tx, req, algorithm)
        except C2DError as exc:
            return refuse(exc)
        if status["state"] == "accepted":
            await asyncio.to_thread(c2d.start, job_id)
            status = c2d.status(job_id)
        return JSONResponse(status, status_code=202 if status["state"] in ("accepted", "running") else 200)

    @app.get("/compute/{job_id}")
    def status(job_id: str) -> JSONResponse:
        try:
            return JSONResponse(c2d.status(job_id_of(job_id)))
        except C2DError as exc:
            return refuse(exc)

    @app.get("/compute/{job_id}/result")
    def result(job_id: str, request: Request) -> Response:
        jid = job_id_of(job_id)
        signed = _decode_request_header(request.headers.get(RESULT_HEADER), ResultRequest, RESULT_HEADER, "result")
        now = int(node.clock())
        if signed.job_id != jid or not now < signed.expiry <= now + node.max_request_ttl_s:
            return _error(AccessDenied(403, "request_expired", "the result request is for another job or expired"))
        who = signed.recover(node.domain)
        if who is None or who.lower() != signed.consumer.lower():
            return _error(AccessDenied(403, "bad_signature", "the result request is not signed by its consumer"))
        try:
            name, body = c2d.result(jid, signed.consumer)
        except C2DError as exc:
            return refuse(exc)
        return Response(body, media_type="application/octet-stream", headers={
            "Content-Disposition": f'attachment; filename="{name}"', "Cache-Control": "no-store"})
