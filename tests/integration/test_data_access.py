"""The access node over real HTTP (uvicorn on 127.0.0.1): orders, signed requests, ranges, resumes."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
import uvicorn

from agora.chain import Signer, dev_signer
from agora.data.access import REQUEST_HEADER, AccessNode, create_access_app, encode_request_header
from agora.data.download import AccessRefused, download
from agora.data.files import CHUNK_SIZE, ContentMismatch, content_hash
from agora.data.messages import DownloadRequest, access_domain, sign_download_request
from agora.data.registry import Quote, registry_domain
from agora.devnet.anvil import free_port
from agora.storage.server import bind_socket
from agora.storage.state import StateLocked

CHAIN_ID = 31337
REGISTRY = "0x" + "5a" * 20
DATASET = 7
NODE, ALICE, BOB = dev_signer(0), dev_signer(1), dev_signer(2)


class FakeOrders:
    """Orders as the DataRegistry would answer: id -> (consumer, dataset, expires at)."""

    def __init__(self) -> None:
        self.orders: dict[int, tuple[str, int, float]] = {}
        self.other_service: set[int] = set()    # orders of another service than the download

    def order_valid(self, order_id: int, consumer: str) -> bool:
        order = self.orders.get(order_id)
        return order is not None and order[0].lower() == consumer.lower() and time.time() < order[2]

    def order_dataset(self, order_id: int) -> int:
        return self.orders[order_id][1]

    def order_is_for(self, order_id: int, dataset_id: int, service_id: int, consumer: str) -> bool:
        return order_id not in self.other_service


@contextmanager
def serve(node: AccessNode) -> Iterator[str]:
    sock = bind_socket("127.0.0.1", 0)
    server = uvicorn.Server(uvicorn.Config(create_access_app(node), log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline, "the access node did not start"
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()


@pytest.fixture
def data() -> bytes:
    return os.urandom(2 * CHUNK_SIZE + 12345)


@pytest.fixture
def orders() -> FakeOrders:
    book = FakeOrders()
    book.orders[1] = (ALICE.address, DATASET, time.time() + 3600)
    book.orders[2] = (ALICE.address, DATASET, time.time() - 1)  # expired
    book.orders[3] = (BOB.address, DATASET, time.time() + 3600)
    book.orders[4] = (ALICE.address, DATASET + 1, time.time() + 3600)  # another dataset
    book.orders[5] = (ALICE.address, DATASET, time.time() + 3600)
    book.orders[6] = (ALICE.address, DATASET, time.time() + 3600)   # Alice's, but for compute-to-data
    book.other_service.add(6)
    return book


@pytest.fixture
def node(tmp_path: Path, data: bytes, orders: FakeOrders) -> Iterator[AccessNode]:
    src = tmp_path / "private" / "customers.csv"
    src.parent.mkdir()
    src.write_bytes(data)
    n = AccessNode(tmp_path / "home", NODE, orders, chain_id=CHAIN_ID, registry=REGISTRY, fee_amount=10**15)
    assert n.add_file(DATASET, src) == content_hash(src)
    try:
        yield n
    finally:
        n.close()


@pytest.fixture
def url(node: AccessNode) -> Iterator[str]:
    with serve(node) as u:
        yield u


def signed(consumer: str, order_id: int = 1, *, by: Signer | None = None, dataset_id: int = DATASET,
           nonce: int | None = None, expiry: int | None = None) -> dict[str, str]:
    request = DownloadRequest(order_id, consumer, dataset_id, secrets.randbits(256) if nonce is None else nonce,
                              int(time.time()) + 300 if expiry is None else expiry)
    signer = by or {ALICE.address: ALICE, BOB.address: BOB}[consumer]
    return {REQUEST_HEADER: encode_request_header(sign_download_request(signer, access_domain(CHAIN_ID, REGISTRY),
                                                                        request))}


def assert_refused(r: httpx.Response, status: int, code: str, data: bytes) -> None:
    assert r.status_code == status, r.text
    assert r.headers["content-type"] == "application/json"
    body = r.json()
    assert set(body) == {"error", "code"} and body["code"] == code
    assert "\n" not in body["error"] and body["error"]
    assert len(r.content) < 500 and data[:32] not in r.content


def test_health_and_public_description_say_nothing_of_the_location(url: str, data: bytes) -> None:
    assert httpx.get(f"{url}/health").json()["status"] == "ok"
    r = httpx.get(f"{url}/datasets/{DATASET}")
    assert r.status_code == 200
    body = r.json()
    assert body == {"datasetId": str(DATASET), "contentHash": body["contentHash"], "size": len(data),
                    "chunkSize": CHUNK_SIZE, "chunks": 3}
    assert "customers" not in r.text and "private" not in r.text
    assert_refused(httpx.get(f"{url}/datasets/99"), 404, "unknown_dataset", data)
    assert_refused(httpx.get(f"{url}/datasets/x1"), 400, "bad_request", data)
    assert_refused(httpx.get(f"{url}/nowhere"), 404, "not_found", data)


def test_download_whole_file_with_the_client(url: str, node: AccessNode, data: bytes, tmp_path: Path) -> None:
    out = tmp_path / "out" / "d.bin"
    out.parent.mkdir()
    seen: list[int] = []
    expected = bytes.fromhex(node.describe(DATASET)["contentHash"][2:])
    result = download(url, DATASET, 1, ALICE, out, expected_hash=expected, chain_id=CHAIN_ID, registry=REGISTRY,
                      progress=lambda done, total: seen.append(done))
    assert out.read_bytes() == data
    assert result.size == len(data) and result.resumes == 0
    assert seen[-1] == len(data)
    assert not out.with_name("d.bin.part").exists()


def test_a_rerun_resumes_from_the_checked_part_of_a_leftover_file(
    url: str, node: AccessNode, data: bytes, tmp_path: Path,
) -> None:
    out = tmp_path / "d.bin"
    out.with_name("d.bin.part").write_bytes(data[:CHUNK_SIZE] + b"not the second chunk")
    starts: list[int] = []
    expected = bytes.fromhex(node.describe(DATASET)["contentHash"][2:])
    download(url, DATASET, 1, ALICE, out, expected_hash=expected, chain_id=CHAIN_ID, registry=REGISTRY,
             progress=lambda done, total: starts.append(done))
    assert starts[0] == CHUNK_SIZE  # the good first chunk kept, the rest fetched with a Range
    assert out.read_bytes() == data


def test_ranges_answer_206_and_resume_within_one_session(url: str, data: bytes) -> None:
    headers = signed(ALICE.address)
    r = httpx.get(f"{url}/datasets/{DATASET}/download", headers={**headers, "Range": "bytes=100-199"})
    assert r.status_code == 206 and r.content == data[100:200]
    assert r.headers["content-range"] == f"bytes 100-199/{len(data)}"
    assert r.headers["accept-ranges"] == "bytes"
    # across a chunk boundary, open-ended and suffix ranges, with the same signed request
    first = CHUNK_SIZE - 10
    r = httpx.get(f"{url}/datasets/{DATASET}/download", headers={**headers, "Range": f"bytes={first}-"})
    assert r.status_code == 206 and r.content == data[first:]
    r = httpx.get(f"{url}/datasets/{DATASET}/download", headers={**headers, "Range": "bytes=-5"})
    assert r.status_code == 206 and r.content == data[-5:]
    r = httpx.get(f"{url}/datasets/{DATASET}/download", headers=headers)
    assert r.status_code == 200 and r.content == data and r.headers["accept-ranges"] == "bytes"
    r = httpx.get(f"{url}/datasets/{DATASET}/download", headers={**headers, "Range": f"bytes={len(data)}-"})
    assert_refused(r, 416, "bad_range", data)
    assert r.headers["content-range"] == f"bytes */{len(data)}"
    r = httpx.get(f"{url}/datasets/{DATASET}/download", headers={**headers, "Range": "bytes=0-1,5-6"})
    assert_refused(r, 416, "bad_range", data)


@pytest.mark.parametrize("case", [
    "missing", "garbled", "no_order", "expired_order", "others_order", "forged", "expired_request",
    "too_long_request", "other_dataset_order", "request_for_other_dataset", "compute_order",
])
def test_refusals_serve_no_bytes(url: str, data: bytes, case: str) -> None:
    a = ALICE.address
    headers, status, code = {
        "missing": ({}, 403, "missing_request"),
        "garbled": ({REQUEST_HEADER: "not base64!"}, 400, "bad_request"),
        "no_order": (signed(a, order_id=77), 403, "order_invalid"),
        "expired_order": (signed(a, order_id=2), 403, "order_invalid"),
        "others_order": (signed(a, order_id=3), 403, "order_invalid"),  # Bob's order, Alice signs
        "forged": (signed(a, order_id=1, by=BOB), 403, "bad_signature"),  # Bob claims to be Alice
        "expired_request": (signed(a, expiry=int(time.time()) - 1), 403, "request_expired"),
        "too_long_request": (signed(a, expiry=int(time.time()) + 10**6), 403, "request_expired"),
        "other_dataset_order": (signed(a, order_id=4), 403, "order_wrong_dataset"),
        "request_for_other_dataset": (signed(a, dataset_id=DATASET + 1), 403, "dataset_mismatch"),
        "compute_order": (signed(a, order_id=6), 403, "order_wrong_service"),   # pays for compute, not bytes
    }[case]
    for path in ("download", "manifest"):
        assert_refused(httpx.get(f"{url}/datasets/{DATASET}/{path}", headers=headers), status, code, data)


def test_a_nonce_is_one_session_even_after_a_restart(
    tmp_path: Path, node: AccessNode, orders: FakeOrders, data: bytes,
) -> None:
    nonce = secrets.randbits(256)
    expiry = int(time.time()) + 300
    with serve(node) as url:
        first = signed(ALICE.address, 1, nonce=nonce, expiry=expiry)
        assert httpx.get(f"{url}/datasets/{DATASET}/download", headers=first).content == data
        # the same nonce under another order, or by another consumer, is a replay
        r = httpx.get(f"{url}/datasets/{DATASET}/download", headers=signed(ALICE.address, 5, nonce=nonce))
        assert_refused(r, 403, "nonce_used", data)
        r = httpx.get(f"{url}/datasets/{DATASET}/download", headers=signed(BOB.address, 3, nonce=nonce))
        assert_refused(r, 403, "nonce_used", data)
    node.close()
    again = AccessNode(tmp_path / "home", NODE, orders, chain_id=CHAIN_ID, registry=REGISTRY)
    try:
        with pytest.raises(StateLocked):  # one node per home
            AccessNode(tmp_path / "home", NODE, orders, chain_id=CHAIN_ID, registry=REGISTRY)
        with serve(again) as url:
            r = httpx.get(f"{url}/datasets/{DATASET}/download", headers=signed(ALICE.address, 5, nonce=nonce))
            assert_refused(r, 403, "nonce_used", data)
            # the session itself resumes within its expiry
            r = httpx.get(f"{url}/datasets/{DATASET}/download", headers={**first, "Range": "bytes=10-"})
            assert r.status_code == 206 and r.content == data[10:]
    finally:
        again.close()


def test_a_tampered_stored_file_is_refused_whole(url: str, node: AccessNode, data: bytes) -> None:
    headers = signed(ALICE.address)
    assert httpx.get(f"{url}/datasets/{DATASET}/download", headers={**headers, "Range": "bytes=0-9"}).status_code == 206
    stored = node.get_dataset(DATASET)
    assert stored is not None
    path = node.store.path_of(stored.name)
    raw = bytearray(path.read_bytes())
    raw[-100] ^= 1  # the last chunk: a download of the first bytes is refused all the same
    path.write_bytes(bytes(raw))
    for rng in ({}, {"Range": "bytes=0-9"}):
        r = httpx.get(f"{url}/datasets/{DATASET}/download", headers={**signed(ALICE.address), **rng})
        assert_refused(r, 503, "content_mismatch", data)


def test_a_chunk_tampered_after_the_check_ends_the_stream_before_its_bytes(
    url: str, node: AccessNode, data: bytes,
) -> None:
    headers = signed(ALICE.address)
    assert httpx.get(f"{url}/datasets/{DATASET}/manifest", headers=headers).status_code == 200  # checked whole
    stored = node.get_dataset(DATASET)
    assert stored is not None
    path = node.store.path_of(stored.name)
    raw = bytearray(path.read_bytes())
    raw[-100] ^= 1
    path.write_bytes(bytes(raw))
    node._checked[stored.name] = node._stat_key(stored)  # as if the write raced the check
    got = bytearray()
    with pytest.raises(httpx.RemoteProtocolError), httpx.stream(
        "GET", f"{url}/datasets/{DATASET}/download", headers=headers,
    ) as r:
        assert r.status_code == 200
        for piece in r.iter_raw():
            got += piece
    assert bytes(got) == data[:2 * CHUNK_SIZE]  # the first two chunks, nothing of the third
    # and the next request checks the file whole again, and refuses it
    r = httpx.get(f"{url}/datasets/{DATASET}/download", headers=headers)
    assert_refused(r, 503, "content_mismatch", data)


def test_quotes_are_signed_by_the_node_key(url: str, data: bytes) -> None:
    r = httpx.post(f"{url}/quotes", json={"datasetId": str(DATASET), "consumer": ALICE.address, "serviceId": 2})
    assert r.status_code == 200
    quote = Quote.from_json(r.json()["quote"])
    assert quote.provider == NODE.address and quote.consumer == ALICE.address and quote.service_id == 2
    assert quote.valid_until > time.time() and quote.fee == 10**15
    assert quote.signer(registry_domain(CHAIN_ID, REGISTRY)) == NODE.address
    assert_refused(httpx.post(f"{url}/quotes", json={"datasetId": "99", "consumer": ALICE.address}),
                   404, "unknown_dataset", data)
    assert_refused(httpx.post(f"{url}/quotes", content=b"{"), 400, "bad_request", data)


def test_the_client_refuses_content_other_than_the_chain_hash(url: str, node: AccessNode, tmp_path: Path) -> None:
    out = tmp_path / "d.bin"
    with pytest.raises(ContentMismatch, match="content hash"):
        download(url, DATASET, 1, ALICE, out, expected_hash=bytes(32), chain_id=CHAIN_ID, registry=REGISTRY)
    assert not out.exists() and not out.with_name("d.bin.part").exists()


def test_the_client_refuses_a_bad_chunk_and_keeps_nothing(
    url: str, node: AccessNode, data: bytes, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    good_stream = node.stream

    def flipping(stored, first, last):  # type: ignore[no-untyped-def]
        for i, piece in enumerate(good_stream(stored, first, last)):
            yield piece if i != 1 else bytes([piece[0] ^ 1]) + piece[1:]

    monkeypatch.setattr(node, "stream", flipping)
    out = tmp_path / "d.bin"
    expected = bytes.fromhex(node.describe(DATASET)["contentHash"][2:])
    with pytest.raises(ContentMismatch, match="chunk 1"):
        download(url, DATASET, 1, ALICE, out, expected_hash=expected, chain_id=CHAIN_ID, registry=REGISTRY)
    assert not out.exists() and not out.with_name("d.bin.part").exists()


def test_the_client_says_why_it_was_refused(url: str, node: AccessNode, tmp_path: Path) -> None:
    expected = bytes.fromhex(node.describe(DATASET)["contentHash"][2:])
    with pytest.raises(AccessRefused) as err:
        download(url, DATASET, 3, ALICE, tmp_path / "d.bin", expected_hash=expected, chain_id=CHAIN_ID,
                 registry=REGISTRY)
    assert err.value.code == "order_invalid" and "\n" not in str(err.value)


# --- a real node process, killed mid-download and started again on the same home ------------------

_NODE_SCRIPT = """
import sys
import uvicorn
from agora.chain import dev_signer
from agora.data.access import AccessNode, create_access_app
from agora.storage.server import bind_socket

home, port, consumer, registry = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]

class Orders:
    def order_valid(self, order_id, who):
        return order_id == 1 and who.lower() == consumer.lower()

    def order_dataset(self, order_id):
        return 7

    def order_is_for(self, order_id, dataset_id, service_id, who):
        return True

node = AccessNode(home, dev_signer(0), Orders(), chain_id=31337, registry=registry)
sock = bind_socket("127.0.0.1", port)
print("serving", flush=True)
uvicorn.Server(uvicorn.Config(create_access_app(node), log_level="warning")).run(sockets=[sock])
"""


def _start_node(script: Path, home: Path, port: int) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen([sys.executable, str(script), str(home), str(port), ALICE.address, REGISTRY],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                return proc
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline or proc.poll() is not None:
            proc.kill()
            raise AssertionError("the access node process did not start")
        time.sleep(0.05)


def test_a_killed_node_restarts_on_its_home_and_the_client_resumes(tmp_path: Path) -> None:
    data = os.urandom(24 * CHUNK_SIZE + 77)
    src = tmp_path / "d.src"
    src.write_bytes(data)
    home = tmp_path / "home"
    setup = AccessNode(home, NODE, FakeOrders(), chain_id=CHAIN_ID, registry=REGISTRY)
    expected = setup.add_file(DATASET, src)
    setup.close()
    key = (home / "node.key").read_bytes()
    script = tmp_path / "node.py"
    script.write_text(_NODE_SCRIPT)
    port = free_port()
    procs = [_start_node(script, home, port)]
    kills: list[int] = []

    def kill_once(done: int, total: int) -> None:
        if done > 0 and not kills:
            kills.append(done)
            procs[-1].kill()
            procs[-1].wait(10)
            procs.append(_start_node(script, home, port))

    out = tmp_path / "out.bin"
    try:
        result = download(f"http://127.0.0.1:{port}", DATASET, 1, ALICE, out, expected_hash=expected,
                          chain_id=CHAIN_ID, registry=REGISTRY, progress=kill_once)
    finally:
        for p in procs:
            p.kill()
            p.wait(10)
    assert kills and kills[0] < len(data)
    assert result.resumes >= 1
    assert out.read_bytes() == data
    assert (home / "node.key").read_bytes() == key  # the same key: the files were read, not re-made
    assert content_hash(out) == expected
