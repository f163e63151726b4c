"""One HTTP server of the throughput benchmark, run as its own process (helper of ``bench/value.py``).

``paid``: uvicorn serving ``agora.value.create_app(PaidService(...))`` with both x402
schemes (``agora-channel`` and ``exact``) and the background thread that syncs channels
from chain events, claims when due and sweeps the payee, as ``agora model serve`` runs it.
``bare``: uvicorn serving a plain FastAPI app with the same model and workload and no
payment: ``POST /call`` → ``workload.run(model_bytes, body)`` in the threadpool.

Both add ``GET /_bench/stats``: the process's CPU seconds (also by Python thread) and, for ``paid``, every JSON-RPC
request the service's chain connection sent, counted where web3 posts to the node (a
batch counts each request in it), by thread: ``request`` (the threads that serve calls),
``sync`` (the background sync/claim thread) and ``main`` (start-up and shut-down).

    python bench/_value_serve.py MODE CHAIN_URL HOME BLOBS MODEL_ID SERVICE_ACCOUNT PORT LEDGER
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request  # at module level: FastAPI resolves the handler's annotations here
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool


def _count_rpc(chain: Any) -> tuple[Counter[str], Counter[str]]:
    """Count every JSON-RPC request ``chain`` sends: (by thread kind, by method)."""
    by_kind: Counter[str] = Counter()
    by_method: Counter[str] = Counter()
    lock = threading.Lock()
    manager = chain.w3.provider._request_session_manager  # every HTTP post to the node goes through it
    post = manager.make_post_request

    def counted(endpoint_uri: Any, data: Any, **kwargs: Any) -> bytes:
        body = json.loads(data)
        requests = body if isinstance(body, list) else [body]
        t = threading.current_thread()
        kind = "sync" if t.name == "agora-value-sync" else "main" if t is threading.main_thread() else "request"
        with lock:
            by_kind[kind] += len(requests)
            for r in requests:
                by_method[r.get("method", "?")] += 1
        return post(endpoint_uri, data, **kwargs)

    manager.make_post_request = counted
    return by_kind, by_method


def main() -> None:
    mode, url, home, blobs, model_id, account, port, ledger = sys.argv[1:9]
    import uvicorn

    from agora.chain import connect
    from agora.protocol import AddressBook, load_deployment
    from agora.storage import LocalStore, Storage
    from agora.value import Channels, ModelRegistry, PaidService, create_app
    from agora.value.exact import build_exact_payments
    from agora.value.server import RESULT_MEDIA_TYPE
    from agora.workloads import get_workload

    chain = connect(url)
    by_kind, by_method = _count_rpc(chain)
    dep = load_deployment(chain, AddressBook(Path(home) / "addressbook.json"))
    storage = Storage(LocalStore(Path(blobs)))
    registry, channels = ModelRegistry(dep, storage), Channels(dep)
    card = registry.fetch_card(int(model_id))
    workload = get_workload(card.kind)
    model_bytes = storage.get(card.weights_cid)
    workload.run(model_bytes, _sample(card.kind))  # load the model before the first request

    exact = None
    if mode == "paid":
        service = PaidService(
            chain=chain, registry=registry, channels=channels, model_id=int(model_id), card=card,
            workload=workload, model_bytes=model_bytes, signer=chain.dev_signers[int(account)],
            ledger_path=Path(ledger),
        )
        exact = build_exact_payments(service)  # both schemes offered, as `agora model serve` does
        app = create_app(service, exact=exact, background=True)
    else:
        service = None
        app = FastAPI(title="bare")

        @app.post("/call")
        async def call(request: Request) -> Response:
            data = await request.body()
            output = await run_in_threadpool(workload.run, model_bytes, data)
            return Response(output, media_type=RESULT_MEDIA_TYPE)

    @app.get("/_bench/stats")
    def stats() -> dict[str, Any]:
        t = os.times()
        out: dict[str, Any] = {"cpu_s": t.user + t.system, "time": time.time(), "cpu_threads": _thread_cpu()}
        if service is not None:
            s = service.stats
            out.update({
                "rpc": dict(by_kind), "rpc_methods": dict(by_method), "calls": s.calls, "rejected": s.rejected,
                "chain_reads": s.chain_reads, "claims": s.claims, "claimed": str(s.claimed),
                "earned": str(service.earned()), "exact_calls": exact.settled if exact is not None else 0,
            })
        return out

    uvicorn.run(app, host="127.0.0.1", port=int(port), log_level="warning", access_log=False)


def _thread_cpu() -> list[tuple[int, str, float]]:
    """(thread id, kind, CPU seconds) of each Python thread: ``main`` the event loop,
    ``request`` the threadpool that runs the handlers, ``sync`` the background sync/claim
    thread. Native threads (onnxruntime's, torch's) are in the process total only."""
    tick = os.sysconf("SC_CLK_TCK")
    out = []
    for t in threading.enumerate():
        try:
            fields = Path(f"/proc/self/task/{t.native_id}/stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        kind = "sync" if t.name == "agora-value-sync" else "main" if t is threading.main_thread() else "request"
        out.append((int(t.native_id or 0), kind, (int(fields[11]) + int(fields[12])) / tick))
    return out


def _sample(kind: str) -> bytes:
    if kind == "onnx-classify":
        from agora.workloads import digits_inputs

        return digits_inputs(1)
    return b'["warm up"]'


if __name__ == "__main__":  # started by bench/_value_http.py, never by `make bench` (it skips bench/_*.py)
    main()
