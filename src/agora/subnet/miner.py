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
import socket
import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
from eth_utils.address import to_checksum_address
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from agora.errors import ConfigError
from agora.workloads import build_digits_model, encode_digits_input, get_workload
from agora.workloads.digits import DIGITS_FEATURES

if TYPE_CHECKING:
    from numpy.typing import ArrayLike, NDArray

    from agora.chain import Signer, TxReceipt
    from agora.subnet.subnets import Subnets

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
        try:
            x = _parse_inputs(json.loads(await request.body()))
        except ValueError as exc:  # json.JSONDecodeError is one
            return JSONResponse({"error": str(exc), "code": "bad_input"}, status_code=400)
        return {"labels": await run_in_threadpool(miner.answer, x)}

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
        return self

    def stop(self) -> None:
        """Stop serving and wait for the thread (idempotent)."""
        stop_app(self._server, self._thread)
        self._server = self._thread = None

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
