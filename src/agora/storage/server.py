"""The blob endpoint nodes use to serve and fetch blobs from each other.

``POST /blobs`` (body: the bytes) stores a blob and answers ``{"cid": …}``;
``GET /blobs/{cid}`` returns it; ``HEAD`` says whether it is here. Bodies
larger than the store's limit are refused with 413 before they are read whole.
"""

from __future__ import annotations

import socket

from fastapi import APIRouter, FastAPI, HTTPException, Request, Response

from agora.errors import BlobNotFound, BlobTooLarge, ConfigError, StorageError
from agora.storage.cid import is_cid
from agora.storage.store import LocalStore

__all__ = ["bind_socket", "blob_router", "create_app"]


def blob_router(store: LocalStore) -> APIRouter:
    """The ``/blobs`` routes over ``store`` (mounted by the storage server and the gateway)."""
    router = APIRouter()

    @router.post("/blobs", status_code=201)
    async def put_blob(request: Request) -> dict[str, object]:
        declared = request.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > store.max_bytes:
            raise HTTPException(413, f"blob exceeds the limit of {store.max_bytes} bytes")
        body = bytearray()
        async for chunk in request.stream():
            body += chunk
            if len(body) > store.max_bytes:
                raise HTTPException(413, f"blob exceeds the limit of {store.max_bytes} bytes")
        try:
            cid = store.put(bytes(body))
        except BlobTooLarge as exc:
            raise HTTPException(413, str(exc)) from None
        return {"cid": cid, "size": len(body)}

    @router.get("/blobs/{cid}")
    def get_blob(cid: str) -> Response:
        if not is_cid(cid):
            raise HTTPException(400, "not a CIDv1 (raw, sha2-256, base32)")
        try:
            data = store.get(cid)
        except BlobNotFound:
            raise HTTPException(404, "no such blob") from None
        except StorageError as exc:
            raise HTTPException(500, str(exc)) from None
        return Response(data, media_type="application/octet-stream", headers={"ETag": f'"{cid}"'})

    @router.head("/blobs/{cid}")
    def head_blob(cid: str) -> Response:
        if not is_cid(cid):
            return Response(status_code=400)
        return Response(status_code=200 if store.has(cid) else 404)

    return router


def create_app(store: LocalStore) -> FastAPI:
    """A FastAPI app serving ``store`` (``agora storage serve`` runs it with uvicorn)."""
    app = FastAPI(title="Agora blob store", version="1")
    app.include_router(blob_router(store))

    @app.get("/health")
    def health() -> dict[str, str]:
        return {"status": "ok"}

    return app


def bind_socket(host: str, port: int) -> socket.socket:
    """A socket bound to ``host:port`` for a server to listen on (``uvicorn.Server.run(sockets=…)``).

    Binding before anything says "serving" makes a taken port one clear :class:`ConfigError`
    instead of a bind error in the server's log while the process runs on without it.
    """
    try:
        family, kind, proto, _, addr = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
        sock = socket.socket(family, kind, proto)
    except OSError as exc:
        raise ConfigError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(addr)
    except OSError as exc:
        sock.close()
        raise ConfigError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    return sock
