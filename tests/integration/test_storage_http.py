"""Two nodes: one serves blobs with `agora storage serve`, the other fetches by CID."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from agora.devnet.anvil import free_port
from agora.errors import BlobTooLarge
from agora.storage import HttpStore, LocalStore, Storage, cid_for
from tests.integration.cli_helpers import one_line_error

AGORA = str(Path(sys.executable).with_name("agora"))


@pytest.fixture
def server(tmp_path: Path) -> Iterator[str]:
    port = free_port()
    env = {**os.environ, "AGORA_HOME": str(tmp_path / "node-a"), "AGORA_MAX_BLOB_BYTES": "4096"}
    proc = subprocess.Popen([AGORA, "storage", "serve", "--port", str(port)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline or proc.poll() is not None:
                raise AssertionError("storage server did not start")
            time.sleep(0.1)
        yield url
    finally:
        proc.terminate()
        proc.wait(10)


def test_fetch_from_a_peer_and_keep_a_verified_copy(server: str, tmp_path: Path) -> None:
    peer = HttpStore(server, max_bytes=4096)
    blob = os.urandom(3000)
    cid = peer.put(blob)
    assert cid == cid_for(blob) and peer.has(cid)
    node_b = Storage(LocalStore(tmp_path / "node-b"), [peer])
    assert not node_b.has(cid)
    assert node_b.get(cid) == blob
    assert node_b.has(cid)  # cached locally after verification


def test_the_server_enforces_its_size_limit(server: str) -> None:
    peer = HttpStore(server, max_bytes=10**6)
    with pytest.raises(BlobTooLarge):
        peer.put(os.urandom(5000))
    r = httpx.post(f"{server}/blobs", content=os.urandom(5000))
    assert r.status_code == 413


def test_serve_on_a_taken_port_exits_with_one_line(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        env = {**os.environ, "AGORA_HOME": str(tmp_path / "node")}
        proc = subprocess.run([AGORA, "storage", "serve", "--port", str(port)], env=env, capture_output=True,
                              text=True, timeout=60)
    assert proc.returncode == 1
    assert one_line_error(proc.stderr) == f"error: cannot listen on 127.0.0.1:{port}: Address already in use"
    assert "serving" not in proc.stderr + proc.stdout
