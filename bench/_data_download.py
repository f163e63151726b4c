"""Downloads through the access node vs a plain static file server (helper of ``bench/data.py``).

One random file (64 MiB by default) is served on loopback by three uvicorn-or-stdlib processes:

* the **access node** (``create_access_app``; the file encrypted at rest, AES-256-GCM per 1 MiB
  chunk), downloaded with the real client (:func:`agora.data.download.download`): a signed
  request, the manifest checked against the content hash, every chunk decrypted and its tag
  checked on the node, every chunk's sha256 checked by the client, written to a ``.part`` file
  and renamed;
* **the anchor**: Starlette's ``StaticFiles`` under uvicorn (the same server stack, no
  encryption, no checks), downloaded by httpx streaming into a file (the same HTTP client, the
  same writes, no checks);
* Python's ``http.server`` (``ThreadingHTTPServer``) on the same file, for scale.

Servers run in their own processes (not sharing the client's GIL); each is downloaded
``rounds`` times, alternating, and the best round of each counts (the same for all).
``download_vs_static_ratio`` = access node MB/s ÷ StaticFiles MB/s (goal ≥ 0.8); against
``http.server`` (``download_vs_stdlib_http_ratio``) the node is slower: that server writes
64 KiB blocks from a thread with no ASGI stack, and no decryption or checks on either side.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from agora.chain import dev_signer
from agora.data.access import AccessNode
from agora.data.download import download

CHAIN_ID = 31337
REGISTRY = "0x" + "da" * 20
DATASET = 1

_NODE = """
import sys
import uvicorn
from agora.chain import dev_signer
from agora.data.access import AccessNode, create_access_app
from agora.storage.server import bind_socket

class Orders:
    def order_valid(self, order_id, consumer):
        return True

    def order_dataset(self, order_id):
        return int(sys.argv[3])

    def order_is_for(self, order_id, dataset_id, service_id, consumer):
        return True

node = AccessNode(sys.argv[1], dev_signer(0), Orders(), chain_id=31337, registry=sys.argv[4])
sock = bind_socket("127.0.0.1", int(sys.argv[2]))
uvicorn.Server(uvicorn.Config(create_access_app(node), log_level="warning")).run(sockets=[sock])
"""

_STATIC = """
import sys
import uvicorn
from starlette.applications import Starlette
from starlette.routing import Mount
from starlette.staticfiles import StaticFiles
from agora.storage.server import bind_socket

app = Starlette(routes=[Mount("/files", StaticFiles(directory=sys.argv[1]))])
sock = bind_socket("127.0.0.1", int(sys.argv[2]))
uvicorn.Server(uvicorn.Config(app, log_level="warning")).run(sockets=[sock])
"""

_STDLIB = """
import functools, sys
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

class Quiet(SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass

ThreadingHTTPServer(("127.0.0.1", int(sys.argv[2])), functools.partial(Quiet, directory=sys.argv[1])).serve_forever()
"""


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _start(script: str, *args: str, health: str) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen([sys.executable, "-c", script, *args], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx.get(health, timeout=1).status_code == 200:
                return proc
        except httpx.HTTPError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise RuntimeError(f"a bench server did not start ({health})")
        time.sleep(0.05)


def _plain_download(client: httpx.Client, url: str, out: Path) -> int:
    size = 0
    with client.stream("GET", url) as r, open(out, "wb") as f:
        r.raise_for_status()
        for piece in r.iter_raw():
            f.write(piece)
            size += len(piece)
        f.flush()
        os.fsync(f.fileno())
    return size


def _timed(fn: Callable[[], Any]) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def measure_download(size_mb: int = 64, rounds: int = 5) -> dict[str, float | int]:
    """Download MB/s through the access node vs a static file server on the same file (a flat dict)."""
    consumer = dev_signer(1)
    with tempfile.TemporaryDirectory(prefix="agora-bench-data-") as tmp:
        root = Path(tmp)
        public = root / "public"
        public.mkdir()
        src = public / "data.bin"
        with open(src, "wb") as f:
            for _ in range(size_mb):
                f.write(os.urandom(1 << 20))
        size = src.stat().st_size
        home = root / "home"
        t0 = time.perf_counter()
        setup = AccessNode(home, dev_signer(0), _NoOrders(), chain_id=CHAIN_ID, registry=REGISTRY)
        expected = setup.add_file(DATASET, src)
        setup.close()
        add_s = time.perf_counter() - t0

        ports = [_free_port() for _ in range(3)]
        node_url, static_url, stdlib_url = (f"http://127.0.0.1:{p}" for p in ports)
        procs = [
            _start(_NODE, str(home), str(ports[0]), str(DATASET), REGISTRY, health=f"{node_url}/health"),
            _start(_STATIC, str(public), str(ports[1]), health=f"{static_url}/files/data.bin"),
            _start(_STDLIB, str(public), str(ports[2]), health=f"{stdlib_url}/data.bin"),
        ]
        best = {"node": float("inf"), "static": float("inf"), "stdlib": float("inf")}
        out = root / "out.bin"
        try:
            with httpx.Client(timeout=60) as client:
                # the first download of the node checks the stored file whole (once per process)
                download(node_url, DATASET, 1, consumer, out, expected_hash=expected, chain_id=CHAIN_ID,
                         registry=REGISTRY, client=client)
                for _ in range(rounds):
                    best["static"] = min(best["static"], _timed(
                        lambda: _plain_download(client, f"{static_url}/files/data.bin", out)))
                    best["node"] = min(best["node"], _timed(lambda: download(
                        node_url, DATASET, 1, consumer, out, expected_hash=expected, chain_id=CHAIN_ID,
                        registry=REGISTRY, client=client)))
                    best["stdlib"] = min(best["stdlib"], _timed(
                        lambda: _plain_download(client, f"{stdlib_url}/data.bin", out)))
                if out.stat().st_size != size:  # pragma: no cover - a broken run
                    raise RuntimeError("a bench download came back short")
        finally:
            for p in procs:
                p.kill()
                p.wait(10)
    mb = size / 1e6
    node_mb_s = mb / best["node"]
    static_mb_s = mb / best["static"]
    return {
        "download_file_mb": round(mb, 1),
        "download_mb_per_s": round(node_mb_s, 1),
        "static_download_mb_per_s": round(static_mb_s, 1),
        "stdlib_http_download_mb_per_s": round(mb / best["stdlib"], 1),
        "download_vs_static_ratio": round(node_mb_s / static_mb_s, 3),
        "download_vs_stdlib_http_ratio": round(node_mb_s * best["stdlib"] / mb, 3),
        "add_file_mb_per_s": round(mb / add_s, 1),
    }


class _NoOrders:
    def order_valid(self, order_id: int, consumer: str) -> bool:
        return False

    def order_dataset(self, order_id: int) -> int:
        return 0

    def order_is_for(self, order_id: int, dataset_id: int, service_id: int, consumer: str) -> bool:
        return False


if __name__ == "__main__":
    import json

    print(json.dumps(measure_download(), indent=2))
