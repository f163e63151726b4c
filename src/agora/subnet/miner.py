"""A miner of an inference subnet: the digits classifier served over HTTP, announced on chain.

    >>> miner = Miner("honest")                       # the onnx-classify workload, digits model
    >>> server = MinerServer(miner).start()            # 127.0.0.1, a free port
    >>> announce(subnets, netuid, hotkey, server.url)  # SubnetRegistry.serve(netuid, endpoint)
    >>> server.stop()

``POST /infer`` takes ``{"inputs": [[64 floats], …]}`` (8x8 images, pixels 0..16, row by row)
and answers ``{"labels": [...]}``; ``GET /health`` says the mode and how many calls it answered.

Modes (what validators must tell apart):

* ``honest`` — runs the model on every input;
* ``noisy`` — runs it, then gives a wrong label for a fraction ``noise`` of the inputs;
* ``copy`` — answers the first challenge honestly, then replays those answers for every later,
  different challenge (a copier: no work, answers that belong to other inputs);
* ``lazy`` — no work at all: every input gets the same label.

The mode is an attribute, so a test (or the demo) can turn an honest miner into a cheater.
"""

from __future__ import annotations

import json
import logging
import socket
import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
from eth_utils.address import to_checksum_address
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from agora.chain import Signer
from agora.chain.eip712 import Domain, keccak256
from agora.chain.evidence import Receipt, ReceiptBook, sign_receipt
from agora.errors import ConfigError
from agora.workloads import build_digits_model, encode_digits_input, get_workload
from agora.workloads.digits import DIGITS_FEATURES

if TYPE_CHECKING:
    from numpy.typing import ArrayLike, NDArray

    from agora.chain import Signer, TxReceipt
    from agora.subnet.subnets import Subnets

log = logging.getLogger(__name__)

__all__ = [
    "MAX_INPUTS",
    "MINER_MODES",
    "Miner",
    "MinerServer",
    "announce",
    "create_miner_app",
    "fetch_endpoint",
    "reference_labels",
]

#: The miner modes (see the module's docstring).
MINER_MODES = ("honest", "noisy", "copy", "lazy")
#: The most inputs one request may carry.
MAX_INPUTS = 1_024
#: The longest endpoint ``SubnetRegistry.serve`` stores.
MAX_ENDPOINT = 256


def reference_labels(images: ArrayLike, model: bytes | None = None) -> NDArray[np.int64]:
    """The labels the reference model (the digits classifier, run by the ``onnx-classify``
    workload) gives ``images`` ``(n, 64)``: what an honest miner answers."""
    blob = model if model is not None else build_digits_model()
    tensors = get_workload("onnx-classify").compute(blob, encode_digits_input(images))
    labels: NDArray[np.int64] = np.asarray(tensors[0].values, dtype=np.int64)
    return labels


@dataclass
class Miner:
    """Answers digits challenges in one of :data:`MINER_MODES`."""

    mode: str = "honest"
    noise: float = 0.5
    seed: int | None = None
    model: bytes | None = None
    calls: int = 0
    #: with a ``book``: the hotkey that signs a receipt of every answer (kind ``subnet-answer``),
    #: for subnet ``netuid``, kept in the book until its batch is anchored
    hotkey: Signer | None = None
    book: ReceiptBook | None = None
    netuid: int = 0
    domain: Domain | None = None
    #: seconds to add to this machine's clock for the chain's (receipts are checked against block times)
    clock_offset: int = 0
    _replay: list[int] = field(default_factory=list, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def __post_init__(self) -> None:
        validate_mode(self.mode)
        if not 0.0 <= self.noise <= 1.0:
            raise ConfigError(f"the noise fraction must be between 0 and 1, not {self.noise}")
        self._rng = np.random.default_rng(self.seed)

    def answer(self, images: ArrayLike) -> list[int]:
        """The labels this miner gives ``images`` ``(n, 64)``, by its mode."""
        x = np.asarray(images, dtype=np.float32)
        n = len(x)
        with self._lock:
            self.calls += 1
            mode = validate_mode(self.mode)
            if mode == "lazy":
                return [int(self._replay[0]) if self._replay else 1] * n
            if mode == "copy" and self._replay:
                # the answers to an earlier challenge, whatever this one asks
                return [int(self._replay[i % len(self._replay)]) for i in range(n)]
        labels = reference_labels(x, self.model)
        with self._lock:
            if not self._replay:
                self._replay = [int(v) for v in labels]
            if mode == "noisy" and n:
                wrong = self._rng.random(n) < self.noise
                labels = np.where(wrong, (labels + self._rng.integers(1, 10, n)) % 10, labels)
        return [int(v) for v in labels]


    def receipt(self, body: bytes, answer: bytes, time_: int) -> dict[str, Any] | None:
        """Sign and keep the receipt of one answer (None if this miner signs none)."""
        if self.hotkey is None or self.book is None or self.domain is None:
            return None
        with self._lock:
            item = self.calls
        weights = keccak256(self.model) if self.model is not None else keccak256(b"agora digits classifier")
        r = sign_receipt(self.hotkey, self.domain, Receipt(
            "subnet-answer", self.netuid, item, weights, keccak256(body), keccak256(answer), self.hotkey.address,
            "0x" + "00" * 20, 0, 0, time_))
        self.book.add(r, self.domain)
        return r.to_json()


def validate_mode(mode: str) -> str:
    """``mode`` if it is one of :data:`MINER_MODES`; one clear error otherwise."""
    if mode not in MINER_MODES:
        raise ConfigError(f"unknown miner mode {mode!r} (one of {', '.join(MINER_MODES)})")
    return mode


def _parse_inputs(body: Any) -> NDArray[np.float32]:
    """The images of a ``POST /infer`` body; ValueError (one line) if malformed."""
    if not isinstance(body, dict) or not isinstance(body.get("inputs"), list):
        raise ValueError('the body must be {"inputs": [[64 numbers], ...]}')
    rows = body["inputs"]
    if not 1 <= len(rows) <= MAX_INPUTS:
        raise ValueError(f"send 1 to {MAX_INPUTS} inputs, not {len(rows)}")
    try:
        x = np.asarray(rows, dtype=np.float32)
    except (TypeError, ValueError):
        raise ValueError(f"each input must be a list of {DIGITS_FEATURES} numbers") from None
    if x.ndim != 2 or x.shape[1] != DIGITS_FEATURES or not np.all(np.isfinite(x)):
        raise ValueError(f"each input must be a list of {DIGITS_FEATURES} finite numbers")
    return x


def create_miner_app(miner: Miner) -> FastAPI:
    """The miner's ASGI app: ``POST /infer`` and ``GET /health``."""
    app = FastAPI(title=f"Agora subnet miner ({miner.mode})")

    @app.post("/infer")
    async def infer(request: Request) -> Any:
        body = await request.body()
        try:
            x = _parse_inputs(json.loads(body))
        except ValueError as exc:  # json.JSONDecodeError is one
            return JSONResponse({"error": str(exc), "code": "bad_input"}, status_code=400)
        labels = await run_in_threadpool(miner.answer, x)
        out: dict[str, Any] = {"labels": labels}
        receipt = miner.receipt(body, json.dumps(labels, separators=(",", ":")).encode(),
                                int(time.time()) + miner.clock_offset)
        if receipt is not None:  # the receipt's outputHash: keccak256 of the labels as compact JSON
            out["receipt"] = receipt
        return out

    @app.get("/health")
    def health() -> dict[str, Any]:
        return {"mode": miner.mode, "calls": miner.calls}

    return app


class MinerServer:
    """A miner's app served by uvicorn from a background thread, on ``host:port`` (0: a free port)."""

    def __init__(self, miner: Miner, host: str = "127.0.0.1", port: int = 0) -> None:
        self.miner = miner
        self.host, self.port = host, port
        self._server: Any = None
        self._thread: threading.Thread | None = None
        self._anchoring: threading.Thread | None = None
        self._stop = threading.Event()

    @property
    def url(self) -> str:
        """The base URL it serves at (after :meth:`start`)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def start(self) -> MinerServer:
        """Bind, start serving, and return once it answers (a taken port is one clear error). The
        model is loaded first, so the first challenge is answered as fast as the next ones."""
        reference_labels(np.zeros((1, DIGITS_FEATURES), dtype=np.float32), self.miner.model)
        self._server, self._thread, self.port = serve_app(
            create_miner_app(self.miner), self.host, self.port, "agora-miner"
        )
        if self.miner.book is not None and self._anchoring is None:
            self._stop.clear()
            self._anchoring = threading.Thread(target=self._anchor_loop, name="agora-miner-anchor", daemon=True)
            self._anchoring.start()
        return self

    def _anchor_loop(self) -> None:
        """Anchor the answers' receipts when due (the book's interval or batch) until stopped."""
        book, hotkey = self.miner.book, self.miner.hotkey
        assert book is not None and hotkey is not None
        while not self._stop.wait(1.0):
            try:
                book.anchor_if_due(hotkey)
            except Exception as exc:  # the node away: the receipts wait in the book for the next round
                log.warning("anchoring the miner's receipts failed: %s", exc)

    def stop(self) -> None:
        """Stop serving and wait for the thread (idempotent); anchor what waits."""
        stop_app(self._server, self._thread)
        self._server = self._thread = None
        if self._anchoring is not None:
            self._stop.set()
            self._anchoring.join(timeout=30)
            self._anchoring = None
            book, hotkey = self.miner.book, self.miner.hotkey
            if book is not None and hotkey is not None:
                try:
                    book.anchor_if_due(hotkey, force=True)
                except Exception as exc:
                    log.warning("anchoring the miner's receipts failed (kept for the next start): %s", exc)

    def __enter__(self) -> MinerServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def serve_app(app: Any, host: str, port: int, name: str) -> tuple[Any, threading.Thread, int]:
    """Serve ``app`` with uvicorn from a daemon thread on ``host:port``; ``(server, thread, port)``
    once it has started (the port bound first, so a taken one is a :class:`ConfigError`)."""
    import uvicorn

    from agora.storage.server import bind_socket

    sock: socket.socket = bind_socket(host, port)
    bound = int(sock.getsockname()[1])
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning"))
    # uvicorn takes signals only in the main thread: in a thread it leaves them to its owner
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True, name=name)
    thread.start()
    while not server.started and thread.is_alive():
        thread.join(0.02)
    if not server.started:
        sock.close()
        raise ConfigError(f"the server on {host}:{port} did not start (see the log above)")
    return server, thread, bound


def stop_app(server: Any, thread: threading.Thread | None, timeout: float = 10.0) -> None:
    """Ask a server started by :func:`serve_app` to exit and wait for its thread."""
    if server is not None:
        server.should_exit = True
    if thread is not None:
        thread.join(timeout)


def announce(subnets: Subnets, netuid: int, hotkey: Signer, endpoint: str) -> TxReceipt:
    """Announce ``endpoint`` (a URL) for ``hotkey``'s UID: ``SubnetRegistry.serve``."""
    validate_endpoint(endpoint)
    if not bool(subnets.registry.is_registered(netuid, to_checksum_address(hotkey.address))):
        raise ConfigError(
            f"{hotkey.address} is not registered in subnet {netuid}",
            hint="register it first with `agora subnet register`",
        )
    return subnets.registry.fn("serve")(netuid, endpoint, sender=hotkey)


def validate_endpoint(endpoint: str) -> str:
    """``endpoint`` if it is an http(s) URL that fits on chain; one clear error otherwise."""
    if not endpoint.startswith(("http://", "https://")):
        raise ConfigError(f"an endpoint must be an http:// or https:// URL, not {endpoint[:80]!r}")
    if len(endpoint.encode()) > MAX_ENDPOINT:
        raise ConfigError(f"an endpoint is at most {MAX_ENDPOINT} bytes")
    return endpoint


def fetch_endpoint(subnets: Subnets, netuid: int, uid: int) -> str:
    """The endpoint UID ``uid`` announced (``""`` if none)."""
    return str(subnets.registry.fn("endpoint_of")(netuid, uid)).rstrip("/")
