"""LocalStore, the blob HTTP server, HttpStore and Storage (local + peers)."""

from __future__ import annotations

import hashlib
import warnings
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI, Response
from fastapi.responses import StreamingResponse

with warnings.catch_warnings():
    # recent starlette prefers the `httpx2` package and warns once, on import, when it
    # falls back to `httpx` (which is what agora's HttpStore is written against)
    warnings.filterwarnings("ignore", message=r"Using `httpx` with `starlette\.testclient`")
    from fastapi.testclient import TestClient

from agora.errors import BlobMismatch, BlobNotFound, BlobTooLarge, StorageError
from agora.storage import DEFAULT_MAX_BLOB_BYTES, HttpStore, LocalStore, Storage, cid_for
from agora.storage.server import create_app

BASE = "http://testserver"


def _files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []


# --- LocalStore ----------------------------------------------------------------


@pytest.fixture
def local(tmp_path: Path) -> LocalStore:
    return LocalStore(tmp_path / "blobs", max_bytes=1024)


def test_local_put_get_roundtrip(local: LocalStore) -> None:
    data = b"some model weights"
    cid = local.put(data)
    assert cid == cid_for(data)
    assert local.get(cid) == data
    assert local.has(cid)
    # laid out as root/<last 2 chars>/<cid>
    assert (local.root / cid[-2:] / cid).read_bytes() == data


def test_local_empty_blob(local: LocalStore) -> None:
    cid = local.put(b"")
    assert local.get(cid) == b""


def test_local_put_is_idempotent(local: LocalStore) -> None:
    data = b"twice"
    assert local.put(data) == local.put(data)
    assert len(_files(local.root)) == 1
    # no temporary files left behind
    assert not [p for p in local.root.rglob(".tmp-*")]


def test_local_has_and_delete(local: LocalStore) -> None:
    cid = local.put(b"x")
    other = cid_for(b"y")
    assert local.has(cid)
    assert not local.has(other)
    local.delete(cid)
    assert not local.has(cid)
    local.delete(cid)  # deleting an absent blob is fine
    local.delete(other)
    with pytest.raises(BlobNotFound):
        local.get(cid)


def test_local_default_limit() -> None:
    assert LocalStore("anywhere").max_bytes == DEFAULT_MAX_BLOB_BYTES


def test_local_limit_is_inclusive(local: LocalStore) -> None:
    data = b"a" * local.max_bytes
    assert local.get(local.put(data)) == data


def test_local_too_large_writes_nothing(local: LocalStore) -> None:
    data = b"a" * (local.max_bytes + 1)
    with pytest.raises(BlobTooLarge):
        local.put(data)
    assert _files(local.root) == []
    assert not local.has(cid_for(data))


def test_local_missing_blob(local: LocalStore) -> None:
    with pytest.raises(BlobNotFound):
        local.get(cid_for(b"never stored"))


def test_local_corrupt_file_is_rejected_and_removed(local: LocalStore) -> None:
    data = b"the real bytes"
    cid = local.put(data)
    path = local.root / cid[-2:] / cid
    path.write_bytes(b"the evil bytes")
    with pytest.raises(BlobMismatch):
        local.get(cid)
    assert not path.exists()
    assert not local.has(cid)
    with pytest.raises(BlobNotFound):
        local.get(cid)
    # it can be stored again afterwards
    assert local.get(local.put(data)) == data


@pytest.mark.parametrize(
    "bad",
    [
        "../../etc/passwd",
        "/etc/passwd",
        "b" + "../" * 19 + "a",
        "QmbWqxBEKC3P8tqsKc98xmWNzrzDtRLMiMPL8wBuTGsMnR",
        "",
    ],
)
def test_local_malformed_cid(local: LocalStore, bad: str) -> None:
    for op in (local.get, local.has, local.delete):
        with pytest.raises(StorageError):
            op(bad)
    assert _files(local.root) == []


def test_local_malformed_cid_is_not_a_not_found(local: LocalStore) -> None:
    with pytest.raises(StorageError) as info:
        local.get("../../etc/passwd")
    assert not isinstance(info.value, BlobNotFound)


# --- the blob server through HttpStore -------------------------------------------


@pytest.fixture
def server_store(tmp_path: Path) -> LocalStore:
    return LocalStore(tmp_path / "server", max_bytes=64)


@pytest.fixture
def client(server_store: LocalStore) -> Iterator[TestClient]:
    with TestClient(create_app(server_store)) as c:
        yield c


@pytest.fixture
def http(client: TestClient) -> HttpStore:
    return HttpStore(BASE, client=client)


def test_http_put_get(http: HttpStore, server_store: LocalStore) -> None:
    data = b"hello over http"
    cid = http.put(data)
    assert cid == cid_for(data)
    assert server_store.get(cid) == data
    assert http.get(cid) == data
    assert http.has(cid)


def test_http_put_response(client: TestClient, server_store: LocalStore) -> None:
    r = client.post("/blobs", content=b"abc")
    assert r.status_code == 201
    assert r.json() == {"cid": cid_for(b"abc"), "size": 3}


def test_http_get_headers(client: TestClient, http: HttpStore) -> None:
    cid = http.put(b"etag me")
    r = client.get(f"/blobs/{cid}")
    assert r.status_code == 200
    assert r.content == b"etag me"
    assert r.headers["content-type"] == "application/octet-stream"
    assert r.headers["etag"] == f'"{cid}"'


def test_http_head(client: TestClient, http: HttpStore) -> None:
    cid = http.put(b"here")
    assert client.head(f"/blobs/{cid}").status_code == 200
    assert client.head(f"/blobs/{cid_for(b'absent')}").status_code == 404
    assert client.head("/blobs/not-a-cid").status_code == 400
    assert not http.has(cid_for(b"absent"))


def test_http_get_missing(client: TestClient, http: HttpStore) -> None:
    missing = cid_for(b"absent")
    assert client.get(f"/blobs/{missing}").status_code == 404
    with pytest.raises(BlobNotFound):
        http.get(missing)


@pytest.mark.parametrize(
    "bad",
    [
        "not-a-cid",
        "QmbWqxBEKC3P8tqsKc98xmWNzrzDtRLMiMPL8wBuTGsMnR",
        "bafybeigdyrzt5sfp7udm7hu76uh7y26nf3efuylqabf3oclgtqy55fbzdi",
    ],
)
def test_http_get_malformed_cid_is_400(client: TestClient, bad: str) -> None:
    assert client.get(f"/blobs/{bad}").status_code == 400


def test_http_store_refuses_malformed_cid_locally(http: HttpStore) -> None:
    with pytest.raises(StorageError):
        http.get("../../etc/passwd")


def test_http_post_too_large(client: TestClient, server_store: LocalStore, http: HttpStore) -> None:
    big = b"z" * (server_store.max_bytes + 1)
    assert client.post("/blobs", content=big).status_code == 413
    with pytest.raises(BlobTooLarge):
        http.put(big)  # HttpStore's own limit (64 MiB) lets it through; the server refuses
    assert _files(server_store.root) == []
    assert not server_store.has(cid_for(big))


def test_http_post_too_large_streamed_without_length(
    client: TestClient, server_store: LocalStore
) -> None:
    big = b"z" * (server_store.max_bytes + 1)

    def chunks() -> Iterator[bytes]:
        for i in range(0, len(big), 8):
            yield big[i : i + 8]

    r = client.post("/blobs", content=chunks())
    assert r.status_code == 413
    assert _files(server_store.root) == []


def test_http_store_client_side_limit(http: HttpStore, server_store: LocalStore) -> None:
    small = HttpStore(BASE, max_bytes=4, client=http._client)
    with pytest.raises(BlobTooLarge):
        small.put(b"12345")
    assert _files(server_store.root) == []


def test_test_client_is_an_httpx_client(client: TestClient) -> None:
    # HttpStore takes any httpx.Client; the in-process TestClient must be one
    assert isinstance(client, httpx.Client)


def test_http_health(client: TestClient) -> None:
    assert client.get("/health").json() == {"status": "ok"}


def test_http_server_corrupt_blob_is_not_served(
    client: TestClient, http: HttpStore, server_store: LocalStore
) -> None:
    cid = http.put(b"good")
    (server_store.root / cid[-2:] / cid).write_bytes(b"bad!")
    assert client.get(f"/blobs/{cid}").status_code == 500
    assert not server_store.has(cid)


def test_http_store_repr_strips_slash() -> None:
    store = HttpStore("http://peer:8000/", client=TestClient(FastAPI()))
    assert store.base_url == "http://peer:8000"
    assert "http://peer:8000" in repr(store)


# --- misbehaving peers ------------------------------------------------------------


def _liar_app() -> FastAPI:
    app = FastAPI()

    @app.get("/blobs/{cid}")
    def get(cid: str) -> Response:
        return Response(b"not what you asked for", media_type="application/octet-stream")

    @app.post("/blobs")
    def post() -> dict[str, str]:
        return {"cid": cid_for(b"something else")}

    return app


def _firehose_app(total: int) -> FastAPI:
    app = FastAPI()

    @app.get("/blobs/{cid}")
    def get(cid: str) -> StreamingResponse:
        def body() -> Iterator[bytes]:
            sent = 0
            while sent < total:
                yield b"f" * 16
                sent += 16

        return StreamingResponse(body(), media_type="application/octet-stream")

    return app


def _erroring_app() -> FastAPI:
    app = FastAPI()

    @app.get("/blobs/{cid}")
    def get(cid: str) -> Response:
        return Response(b"oops", status_code=503)

    return app


@pytest.fixture
def liar() -> Iterator[HttpStore]:
    with TestClient(_liar_app()) as c:
        yield HttpStore(BASE, client=c)


def test_peer_serving_wrong_bytes(liar: HttpStore) -> None:
    with pytest.raises(BlobMismatch):
        liar.get(cid_for(b"wanted"))


def test_peer_answering_wrong_cid_on_put(liar: HttpStore) -> None:
    with pytest.raises(BlobMismatch):
        liar.put(b"wanted")


def test_peer_streaming_too_much() -> None:
    with TestClient(_firehose_app(total=1024)) as c:
        store = HttpStore(BASE, max_bytes=100, client=c)
        with pytest.raises(BlobTooLarge):
            store.get(cid_for(b"f" * 1024))


def test_peer_http_error() -> None:
    with TestClient(_erroring_app()) as c:
        with pytest.raises(StorageError) as info:
            HttpStore(BASE, client=c).get(cid_for(b"x"))
    assert not isinstance(info.value, BlobNotFound | BlobMismatch)


# --- Storage: local + peers ---------------------------------------------------------


def test_storage_put_get_local(tmp_path: Path) -> None:
    storage = Storage(LocalStore(tmp_path / "mine"))
    cid = storage.put(b"local only")
    assert storage.has(cid)
    assert storage.get(cid) == b"local only"


def test_storage_falls_back_to_peer_and_caches(tmp_path: Path, http: HttpStore) -> None:
    data = b"only the peer has this"
    cid = http.put(data)
    mine = LocalStore(tmp_path / "mine")
    storage = Storage(mine, [http])
    assert not storage.has(cid)
    assert storage.get(cid) == data
    assert storage.has(cid)
    assert mine.get(cid) == data
    # served from the local copy now, even with no peers left
    assert Storage(mine, []).get(cid) == data


def test_storage_skips_a_bad_peer(tmp_path: Path, liar: HttpStore, http: HttpStore) -> None:
    data = b"the good copy"
    cid = http.put(data)
    mine = LocalStore(tmp_path / "mine")
    storage = Storage(mine, [liar, http])
    assert storage.get(cid) == data
    assert hashlib.sha256(mine.get(cid)).digest() == hashlib.sha256(data).digest()


def test_storage_only_bad_peers(tmp_path: Path, liar: HttpStore) -> None:
    mine = LocalStore(tmp_path / "mine")
    cid = cid_for(b"wanted")
    with pytest.raises(BlobNotFound) as info:
        Storage(mine, [liar]).get(cid)
    assert "does not match" in str(info.value)
    assert _files(mine.root) == []


def test_storage_nobody_has_it(tmp_path: Path, http: HttpStore) -> None:
    mine = LocalStore(tmp_path / "mine")
    with pytest.raises(BlobNotFound):
        Storage(mine, [http]).get(cid_for(b"nowhere"))
    with pytest.raises(BlobNotFound):
        Storage(mine).get(cid_for(b"nowhere"))


def test_storage_corrupt_local_copy_falls_back_to_a_peer(tmp_path: Path, http: HttpStore) -> None:
    data = b"repair me"
    cid = http.put(data)
    mine = LocalStore(tmp_path / "mine")
    mine.put(data)
    (mine.root / cid[-2:] / cid).write_bytes(b"rotten")
    # documented: "the verified blob, from here or the first peer that has a good copy"
    assert Storage(mine, [http]).get(cid) == data


def test_storage_corrupt_local_copy_is_healed_on_a_later_read(
    tmp_path: Path, http: HttpStore
) -> None:
    data = b"repair me"
    cid = http.put(data)
    mine = LocalStore(tmp_path / "mine")
    mine.put(data)
    (mine.root / cid[-2:] / cid).write_bytes(b"rotten")
    storage = Storage(mine, [http])
    assert storage.get(cid) == data  # the corrupt copy is replaced from the peer
    assert mine.get(cid) == data
