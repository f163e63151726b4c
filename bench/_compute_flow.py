"""Real jobs end to end (helper of ``bench/compute.py``): a requester submits onnx-classify jobs,
provider daemons run them, the chain verifies and settles them.

- :func:`run_embedded`: three :class:`ProviderDaemon` in this process on the embedded chain,
  stepped round-robin in one thread; counts every execution (to measure the verification
  overhead of a policy) and times the whole run (jobs/s).
- :func:`run_anvil`: anvil, three ``agora provider run`` processes, a requester posting in
  chunks with ``post_many``; jobs/s from the first post to the last settlement.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

from agora.chain import Chain, connect
from agora.compute import ComputeClient, Market, Policy, ProviderDaemon
from agora.devnet.anvil import start_anvil
from agora.protocol import AddressBook, deploy_devnet
from agora.storage import LocalStore, Storage
from agora.workloads import build_digits_model, digits_inputs, get_workload, result_digest

PRICE = 10**15
STAKE = 1_000 * 10**18
ROWS = 8  # digits per job input
PROVIDERS = (1, 2, 3)  # dev accounts
REQUESTER = 4


def _setup(chain: Chain, book: AddressBook | None = None) -> tuple[Market, Any]:
    dep = deploy_devnet(chain, book=book)
    m = Market(dep)
    signers = chain.dev_signers
    for i in PROVIDERS:
        m.register(signers[i], kinds=[1], price=PRICE, stake=STAKE)
    m.deposit(100_000 * 10**18, signers[REQUESTER])
    return m, signers


def _closed_since(m: Market, start: int, seen: dict[int, str]) -> int:
    """Read Settled/Refunded events from block ``start``; record them in ``seen``; return the next block."""
    head = m.chain.block_number()
    if head < start:
        return start
    for ev in m.contract.get_events(["Settled", "Refunded"], start, head):
        seen.setdefault(int(ev.args["job_id"]), ev.name)
    return head + 1


def _check_results(m: Market, model: bytes, inputs: list[bytes], ids: list[int]) -> int:
    """How many jobs settled on exactly the digest a local run of the workload gives."""
    workload = get_workload("onnx-classify")
    good = 0
    for job_id, data in zip(ids, inputs, strict=True):
        info = m.job(job_id)
        good += info.state.name == "SETTLED" and info.result == result_digest(workload.run(model, data))
    return good


def _closed_in_dbs(daemons: list[ProviderDaemon]) -> set[int]:
    """Jobs some daemon has seen closed (from their own databases: no chain reads, which on the
    embedded chain cost more than the daemons' own rounds)."""
    out: set[int] = set()
    for d in daemons:
        out.update(r[0] for r in d.db.execute("SELECT job_id FROM work WHERE status='closed'"))
    return out


def run_embedded(
    policy: Policy, n_jobs: int, chunk: int = 20, log: Any = print, timeout: float = 300.0
) -> dict[str, Any]:
    """Submit ``n_jobs`` onnx-classify jobs under ``policy`` (``submit_many`` in chunks of ``chunk``)
    and run them with three in-process daemons stepped round-robin until every job is closed."""
    chain = connect("embedded://")
    m, signers = _setup(chain)
    tmp = tempfile.TemporaryDirectory(prefix="agora-bench-")
    storage = Storage(LocalStore(Path(tmp.name) / "blobs"))
    executions: Counter[str] = Counter()
    lock = threading.Lock()
    daemons = []
    for i in PROVIDERS:
        d = ProviderDaemon(m, signers[i], storage, Path(tmp.name) / f"p{i}.db", concurrency=1, poll_interval=0.05)

        def counted(item: Any, posted: Any, _orig: Any = d.execute, _who: str = d.address) -> Any:
            out = _orig(item, posted)
            with lock:
                executions[_who] += 1
            return out

        d.execute = counted  # type: ignore[method-assign]
        daemons.append(d)
    model = build_digits_model()
    inputs = [digits_inputs(ROWS, seed=i) for i in range(n_jobs)]
    client = ComputeClient(m, storage, signers[REQUESTER])
    start_block = chain.block_number() + 1
    try:
        t0 = time.perf_counter()
        specs = [client.build_spec("onnx-classify", model, data, policy=policy) for data in inputs]
        ids = [j.id for k in range(0, n_jobs, chunk) for j in client.submit_many(specs[k : k + chunk])]
        t_posted = time.perf_counter() - t0
        want = set(ids)
        closed: set[int] = set()
        rounds = 0
        while not want <= closed:
            for d in daemons:
                d.step()
            rounds += 1
            closed = _closed_in_dbs(daemons)
            if time.perf_counter() - t0 > timeout:
                raise RuntimeError(f"only {len(want & closed)} of {n_jobs} jobs closed after {timeout:.0f}s")
        wall = time.perf_counter() - t0
    finally:
        for d in daemons:
            d.close(grace=5)
    audits = len(m.contract.get_events("AuditOpened", start_block))
    commits = len(m.contract.get_events("Committed", start_block))
    good = _check_results(m, model, inputs, ids)
    tmp.cleanup()
    total = sum(executions.values())
    log(f"  {policy}: {n_jobs} jobs, {total} executions, {audits} audits, {commits} commits, "
        f"{good}/{n_jobs} settled on the locally recomputed digest, {wall:.1f}s ({t_posted:.1f}s posting), "
        f"{rounds} daemon rounds")
    return {
        "jobs": n_jobs, "executions": total, "audits": audits, "commits": commits, "correct": good,
        "wall_s": wall, "post_s": t_posted, "rounds": rounds,
    }


def _wait_started(logs: list[Path], procs: list[subprocess.Popen[bytes]], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for p, f in zip(procs, logs, strict=True):
            if p.poll() is not None:
                raise RuntimeError(f"provider process {p.pid} exited with {p.returncode}: {f.read_text()[-2000:]}")
        if all('"event":"started"' in f.read_text() for f in logs):
            return
        time.sleep(0.1)
    raise RuntimeError("the provider processes did not start in time")


def run_anvil(
    n_jobs: int, chunk: int = 20, warmup: int = 6, log: Any = print, timeout: float = 240.0
) -> dict[str, Any]:
    """Anvil, three ``agora provider run`` processes, a requester posting ``n_jobs`` AUDIT(0.1) jobs
    in ``post_many`` chunks of ``chunk``; jobs/s from the first post to the last settlement.
    A warm-up of ``warmup`` jobs first lets each process load onnxruntime and the model."""
    tmp = tempfile.TemporaryDirectory(prefix="agora-bench-")
    home, blobs = Path(tmp.name) / "home", Path(tmp.name) / "blobs"
    node = start_anvil()
    procs: list[subprocess.Popen[bytes]] = []
    try:
        chain = connect(node.url)
        m, signers = _setup(chain, AddressBook(home / "addressbook.json"))
        storage = Storage(LocalStore(blobs))
        env = {**os.environ, "AGORA_HOME": str(home), "AGORA_STORAGE_DIR": str(blobs)}
        for var in ("AGORA_CHAIN", "AGORA_KEYSTORE", "AGORA_PRIVATE_KEY", "AGORA_PASSWORD", "AGORA_ACCOUNT"):
            env.pop(var, None)
        agora = str(Path(sys.executable).parent / "agora")
        logs = []
        for i in PROVIDERS:
            f = Path(tmp.name) / f"provider-{i}.log"
            logs.append(f)
            procs.append(subprocess.Popen(
                [agora, "--chain", node.url, "--account", str(i), "provider", "run", "--poll", "0.05"],
                env=env, stdout=subprocess.DEVNULL, stderr=f.open("wb"), start_new_session=True,
            ))
        _wait_started(logs, procs)
        client = ComputeClient(m, storage, signers[REQUESTER])
        model = build_digits_model()
        policy = Policy.audit(0.1)

        def specs(seeds: range) -> list[Any]:
            return [
                client.build_spec("onnx-classify", model, digits_inputs(ROWS, seed=s), policy=policy) for s in seeds
            ]

        def run(batch: list[Any]) -> tuple[list[int], float, float]:
            cursor = chain.block_number() + 1
            closed: dict[int, str] = {}
            t0 = time.perf_counter()
            ids = [j.id for k in range(0, len(batch), chunk) for j in client.submit_many(batch[k : k + chunk])]
            t_posted = time.perf_counter() - t0
            want = set(ids)
            while not want <= closed.keys():
                time.sleep(0.02)
                cursor = _closed_since(m, cursor, closed)
                for p, f in zip(procs, logs, strict=True):
                    if p.poll() is not None:
                        raise RuntimeError(f"provider {p.pid} died: {f.read_text()[-2000:]}")
                if time.perf_counter() - t0 > timeout:
                    left = len(ids) - len(want & closed.keys())
                    raise RuntimeError(f"{left} of {len(ids)} jobs still open after {timeout:.0f}s")
            return ids, time.perf_counter() - t0, t_posted

        run(specs(range(10_000, 10_000 + warmup)))
        batch = specs(range(n_jobs))  # blobs stored before the clock starts, as a client would upload first
        ids, wall, t_posted = run(batch)
        inputs = [digits_inputs(ROWS, seed=s) for s in range(n_jobs)]
        good = _check_results(m, model, inputs, ids)
        log(f"  anvil: {n_jobs} jobs in chunks of {chunk}, {wall:.1f}s ({t_posted:.2f}s posting), "
            f"{good}/{n_jobs} settled on the locally recomputed digest")
        return {"jobs": n_jobs, "wall_s": wall, "post_s": t_posted, "correct": good}
    finally:
        for p in procs:
            if p.poll() is None:
                os.kill(p.pid, signal.SIGTERM)
        for p in procs:
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                os.kill(p.pid, signal.SIGKILL)
                p.wait(5)
        node.stop()
        tmp.cleanup()


if __name__ == "__main__":  # `make bench` runs every bench/*.py; this one only as part of compute.py
    pass
