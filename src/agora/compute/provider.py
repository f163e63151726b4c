"""The provider daemon: follow the market, run assigned jobs, commit, reveal, get paid.

``agora provider run`` drives a :class:`ProviderDaemon`. It keeps its state in
SQLite (``<home>/compute/<chain key>/provider-<address>.db``: one folder per chain and
deployment, :meth:`agora.context.Context.state_dir`, so a reset devnet starts afresh), so a
crash or a restart loses nothing and repeats nothing:

- the event cursor (next block to read) is saved in the same transaction as
  the jobs those events created, so no assignment is missed or read twice;
- a result's digest, salt and blob CID are saved *before* its commitment is
  sent, so a restarted daemon can still reveal what it committed;
- before sending a commitment or a reveal the daemon asks the chain whether
  it is already there (a crash between "sent" and "saved" is noticed), so no
  commit is ever sent twice.

Long-lived infrastructure (this loop) is kept apart from the short-lived
work it runs (a workload plug-in, :mod:`agora.workloads`), which
runs in a thread pool with a concurrency limit. Ready commitments and
reveals go out in one ``commit_many`` / ``reveal_many`` transaction.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agora.chain import Backoff, Signer
from agora.chain.evidence import ReceiptBook, receipt_domain, sign_receipt
from agora.compute.evidence import item_receipts
from agora.compute.execution import Outcome, Runner, execute_job, execute_zk
from agora.compute.market import JobState, Market, Policy, commitment
from agora.errors import AgoraError, ConfigError, Reverted
from agora.storage import Storage, bytes32_to_cid, cid_to_bytes32
from agora.storage.state import immediate_transaction, lock_state, open_state_db
from agora.workloads import result_digest

__all__ = ["DaemonStore", "ProviderDaemon", "WorkItem", "daemon_db_path"]

log = logging.getLogger("agora.provider")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS posted (
    job_id INTEGER PRIMARY KEY, kind INTEGER, model TEXT, input TEXT, units INTEGER,
    items INTEGER, policy INTEGER, param INTEGER, pay TEXT
);
CREATE TABLE IF NOT EXISTS work (
    job_id INTEGER, slot INTEGER, role INTEGER, status TEXT NOT NULL,
    digest BLOB, salt BLOB, result_cid TEXT, commit_tx TEXT, reveal_tx TEXT,
    error TEXT, updated REAL, PRIMARY KEY (job_id, slot)
);
"""

#: Work states, in order. ``lost``: replaced before it committed; ``failed``: could not run.
STATUSES = ("assigned", "computed", "committed", "revealed", "closed", "lost", "failed")
_OPEN = ("assigned", "computed", "committed", "revealed")
_COMMIT_STATES = {0: (JobState.ASSIGNED,), 1: (JobState.AUDIT_COMMIT,), 2: (JobState.TIE_COMMIT,)}
MAX_PER_TX = 64


def daemon_db_path(folder: Path, address: str) -> Path:
    """Where the daemon of ``address`` keeps its state in ``folder`` (``ctx.state_dir("compute")``:
    the chain's and deployment's own folder)."""
    return Path(folder) / f"provider-{address.lower()}.db"


def _count_work(db: sqlite3.Connection) -> dict[str, int]:
    return {s: n for s, n in db.execute("SELECT status, COUNT(*) FROM work GROUP BY status").fetchall()}


class DaemonStore:
    """A provider daemon's state file as others read it (``agora provider status``, the gateway).

    It only reads, on a read-only connection opened for each question, so it may look while the
    daemon runs (write-ahead logging: a reader never blocks the daemon) and never creates the file.
    """

    def __init__(self, path: Path) -> None:
        self.path = Path(path)

    @classmethod
    def for_provider(cls, folder: Path, address: str) -> DaemonStore:
        """The state file of the daemon of ``address`` in ``folder`` (see :func:`daemon_db_path`)."""
        return cls(daemon_db_path(folder, address))

    def exists(self) -> bool:
        """Whether a daemon ever kept its state here."""
        return self.path.is_file()

    @contextlib.contextmanager
    def _read(self) -> Iterator[sqlite3.Connection]:
        db = sqlite3.connect(f"{self.path.resolve().as_uri()}?mode=ro", uri=True)
        try:
            yield db
        finally:
            db.close()

    def get_counts(self) -> dict[str, int]:
        """How many assignments are in each state (``{}`` if no daemon ever ran here)."""
        if not self.exists():
            return {}
        with self._read() as db:
            return _count_work(db)

    def get_next_block(self) -> int | None:
        """The first block the daemon has not read yet (None if no daemon ever ran here)."""
        if not self.exists():
            return None
        with self._read() as db:
            row = db.execute("SELECT value FROM meta WHERE key='next_block'").fetchone()
        return int(row[0]) if row else None


def _jlog(event: str, **fields: Any) -> None:
    log.info(json.dumps({"event": event, **fields}, default=str, separators=(",", ":")))


@dataclass
class WorkItem:
    """One assignment of this provider: a slot of a job and how far it got."""

    job_id: int
    slot: int
    role: int
    status: str
    digest: bytes | None = None
    salt: bytes | None = None
    result_cid: str | None = None
    error: str | None = None


class ProviderDaemon:
    """Follows the market's events and serves this provider's assignments.

    It holds an exclusive lock next to its state file (``<db_path>.lock``) from its creation to
    :meth:`close` (or its process's end): a second daemon on the same state raises
    :class:`~agora.storage.state.StateLocked` and changes nothing.
    """

    def __init__(
        self,
        market: Market,
        signer: Signer,
        storage: Storage,
        db_path: Path,
        *,
        concurrency: int = 2,
        start_block: int | None = None,
        poll_interval: float = 0.2,
        runner: Runner | None = None,
        zk_circuits: Mapping[int, Path] | None = None,
    ) -> None:
        self.market = market
        self.chain = market.chain
        self.signer = signer
        self.address = signer.address
        # one daemon per state file, for its lifetime: two would race each other's nonces and commits
        self._lock = lock_state(db_path, f"another provider daemon is already running for {self.address}")
        self.storage = storage
        self.poll_interval = poll_interval
        self.runner = runner
        #: the circuits this provider proves ZK jobs with (model id -> circuit directory); ZK jobs
        #: of other models fail here (the market then replaces it or refunds the requester)
        self.zk_circuits = dict(zk_circuits or {})
        self._check_circuits()
        self.concurrency = max(1, concurrency)
        self._pool = ThreadPoolExecutor(max_workers=self.concurrency, thread_name_prefix="agora-job")
        self._running: dict[tuple[int, int], Future[Outcome]] = {}
        self._stop = threading.Event()
        self._views: dict[int, Any] = {}
        self._dirty: set[int] = set()  # jobs an event mentioned since the last round
        self._wake: dict[int, float] = {}  # job -> monotonic time to look at it again
        self._due: set[int] = set()
        self._fresh: set[int] = set()  # results computed by this process, not yet refused
        self._chain_now: int | None = None
        self.recheck = 5.0
        #: how the loop waits for a node that went away (1 s doubling to 30 s; a stop ends the wait)
        self.backoff = Backoff(log=log, sleep=self._stop.wait)
        try:
            self.db = open_state_db(db_path, schema=_SCHEMA)
        except BaseException:
            self._pool.shutdown(wait=False)
            self._lock.release()
            raise
        #: every item computed gets a signed receipt, anchored in batches (None: no anchor deployed)
        self.receipt_domain = receipt_domain(self.chain.chain_id, market.contract.address)
        self.book: ReceiptBook | None = None
        if "anchor" in market.dep.addresses:
            self.book = ReceiptBook(db_path.with_name(db_path.stem + "-receipts.sqlite"),
                                    market.dep.contract("anchor"), self.address, interval_s=30.0)
        if self._meta("next_block") is None:
            first = start_block if start_block is not None else market.dep.block
            self._set_meta("next_block", str(first))
        self._set_meta("address", self.address)
        self._event_names = [
            "JobPosted", "Assigned", "Replaced", "Committed", "Revealed", "AuditOpened", "Settled", "Refunded",
        ]

    def _check_circuits(self) -> None:
        """Each circuit given is intact (every artifact's hash) and the one registered on chain."""
        from agora.workloads.zk import load_circuit

        for model_id, folder in self.zk_circuits.items():
            try:
                circuit = load_circuit(folder)
            except AgoraError:
                self._lock.release()
                raise
            registered = self.market.zk_circuit_id(model_id)
            if registered != bytes.fromhex(circuit.circuit_id):
                self._lock.release()
                what = "no circuit" if registered is None else f"circuit 0x{registered.hex()[:16]}…"
                raise ConfigError(f"model {model_id} has {what} registered, not the one in {folder} "
                                  f"(0x{circuit.circuit_id[:16]}…)")

    # -- durable state ----------------------------------------------------------
    def _meta(self, key: str) -> str | None:
        row = self.db.execute("SELECT value FROM meta WHERE key=?", (key,)).fetchone()
        return row[0] if row else None

    def _set_meta(self, key: str, value: str) -> None:
        self.db.execute("INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)", (key, value))

    @property
    def next_block(self) -> int:
        """The first block whose events have not been read yet."""
        return int(self._meta("next_block") or 0)

    def items(self, statuses: tuple[str, ...] = STATUSES) -> list[WorkItem]:
        """This provider's assignments in the given statuses."""
        marks = ",".join("?" * len(statuses))
        rows = self.db.execute(
            "SELECT job_id, slot, role, status, digest, salt, result_cid, error FROM work "
            f"WHERE status IN ({marks}) ORDER BY job_id, slot",
            statuses,
        ).fetchall()
        return [WorkItem(*r) for r in rows]

    def _batch(self) -> contextlib.AbstractContextManager[sqlite3.Connection]:
        """Several updates in one SQLite transaction (one sync to disk, all or none)."""
        return immediate_transaction(self.db)

    def _update(self, item: WorkItem, status: str, **fields: Any) -> None:
        sets = ", ".join(f"{k}=?" for k in ("status", *fields, "updated"))
        self.db.execute(
            f"UPDATE work SET {sets} WHERE job_id=? AND slot=?",
            (status, *fields.values(), time.time(), item.job_id, item.slot),
        )
        item.status = status
        for k, v in fields.items():
            setattr(item, k, v)
        self._due.add(item.job_id)  # it moved: look at it again in this same round

    def _posted(self, job_id: int) -> tuple[Any, ...] | None:
        return self.db.execute(
            "SELECT kind, model, input, units, items, policy, param FROM posted WHERE job_id=?", (job_id,)
        ).fetchone()

    # -- events -------------------------------------------------------------------
    def sync(self, max_blocks: int = 5_000) -> int:
        """Read new market events into the database; return how many concerned us."""
        start = self.next_block
        head = self.chain.block_number()
        if head < start:
            return 0
        end = min(head, start + max_blocks - 1)
        events = self._read_events(start, end)
        mine = 0
        self.db.execute("BEGIN IMMEDIATE")
        try:
            for ev in events:
                a = ev.args
                if ev.name == "JobPosted":
                    self.db.execute(
                        "INSERT OR IGNORE INTO posted VALUES (?,?,?,?,?,?,?,?,?)",
                        (a["job_id"], a["kind"], bytes32_to_cid(a["model"]), bytes32_to_cid(a["input"]),
                         a["units"], a["items"], a["policy"], a["param"], str(a["pay"])),
                    )
                elif ev.name == "Assigned" and a["provider"] == self.address:
                    cur = self.db.execute(
                        "INSERT OR IGNORE INTO work(job_id, slot, role, status, updated) VALUES (?,?,?,?,?)",
                        (a["job_id"], a["slot"], a["role"], "assigned", time.time()),
                    )
                    mine += cur.rowcount
                    _jlog("assigned", job=a["job_id"], slot=a["slot"], role=a["role"], block=ev.block_number)
                elif ev.name == "Replaced" and a["provider"] == self.address:
                    self.db.execute(
                        "UPDATE work SET status='lost', updated=? WHERE job_id=? AND slot=? "
                        "AND status IN ('assigned','computed')",
                        (time.time(), a["job_id"], a["slot"]),
                    )
                    self._fresh.discard(a["job_id"])
                    _jlog("replaced", job=a["job_id"], slot=a["slot"])
                elif ev.name in ("Committed", "Revealed") and a["provider"] == self.address:
                    # our own action, seen on chain: authoritative even if we crashed before
                    # recording it
                    new, before = ("committed", "('assigned','computed')") if ev.name == "Committed" else (
                        "revealed", "('assigned','computed','committed')")
                    self.db.execute(
                        f"UPDATE work SET status=?, updated=? WHERE job_id=? AND status IN {before}",
                        (new, time.time(), a["job_id"]),
                    )
                elif ev.name in ("Settled", "Refunded"):
                    cur = self.db.execute(
                        "UPDATE work SET status='closed', updated=? WHERE job_id=? AND status IN "
                        "('assigned','computed','committed','revealed')",
                        (time.time(), a["job_id"]),
                    )
                    if cur.rowcount:
                        mine += 1
                        _jlog("closed", job=a["job_id"], how=ev.name.lower())
            self._set_meta("next_block", str(end + 1))
            self.db.execute("COMMIT")
            self._dirty.update(int(ev.args["job_id"]) for ev in events)
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        return mine

    def _read_events(self, start: int, end: int) -> list[Any]:
        """The market's events in ``[start, end]`` that matter here. Every daemon sees every
        job's events, so only JobPosted and this provider's own events are fully decoded;
        for the rest the job id and provider are read straight from the indexed topics."""
        contract = self.market.contract
        me = bytes.fromhex(self.address[2:])
        out: list[Any] = []
        # one eth_getLogs for every name, the logs left undecoded until we know we need them
        for log in contract.iter_logs(self._event_names, start, end, chunk=end - start + 1):
            who = log.topics[2][-20:] if len(log.topics) > 2 and log.name != "JobPosted" else b""
            if log.name == "JobPosted" or who == me:
                ev = contract.decode_log(log)
                if ev is not None:
                    out.append(ev)
                continue
            args = {"job_id": int.from_bytes(log.topics[1], "big"), "provider": "0x" + who.hex() if who else None}
            out.append(_LightEvent(log.name, args, log.block_number))
        return out

    def _fetch_posted(self, job_id: int) -> tuple[Any, ...] | None:
        """A job's JobPosted details, from the database or (for a job posted before our
        start block) from the chain."""
        row = self._posted(job_id)
        if row is not None:
            return row
        for ev in self.market.contract.iter_events("JobPosted", self.market.dep.block):
            if ev.args["job_id"] == job_id:
                a = ev.args
                self.db.execute(
                    "INSERT OR IGNORE INTO posted VALUES (?,?,?,?,?,?,?,?,?)",
                    (job_id, a["kind"], bytes32_to_cid(a["model"]), bytes32_to_cid(a["input"]),
                     a["units"], a["items"], a["policy"], a["param"], str(a["pay"])),
                )
                return self._posted(job_id)
        return None

    # -- execution ----------------------------------------------------------------
    def execute(self, item: WorkItem, posted: tuple[Any, ...]) -> Outcome:
        """Run one assignment's job (called in a worker thread; touches no database)."""
        kind, model, input_cid, _units, items, policy, param = posted
        if policy == Policy.ZK:
            circuit = self.zk_circuits.get(int(param))
            if circuit is None:
                raise AgoraError(f"no circuit of model {param} here: this provider cannot prove its ZK jobs")
            return execute_zk(self.storage, circuit, model, input_cid)
        kwargs = {"runner": self.runner} if self.runner is not None else {}
        return execute_job(self.storage, kind, model, input_cid, items, **kwargs)

    def _start_work(self) -> None:
        for item in self.items(("assigned",)):
            key = (item.job_id, item.slot)
            if key in self._running or len(self._running) >= self.concurrency * 2:
                continue
            posted = self._fetch_posted(item.job_id)
            if posted is None:
                self._update(item, "failed", error="no JobPosted event for this job")
                continue
            self._running[key] = self._pool.submit(self.execute, item, posted)
            _jlog("running", job=item.job_id, slot=item.slot)

    def _collect_work(self) -> None:
        for key, fut in list(self._running.items()):
            if not fut.done():
                continue
            del self._running[key]
            item = next((i for i in self.items(("assigned",)) if (i.job_id, i.slot) == key), None)
            if item is None:
                continue  # replaced or closed meanwhile
            try:
                out = fut.result()
            except AgoraError as exc:
                self._update(item, "failed", error=str(exc))
                _jlog("failed", job=item.job_id, error=str(exc))
                continue
            if out.proof is not None:  # a ZK job: the checker records the digest before the commit
                try:
                    self.market.zk_prove(item.job_id, out.proof.proof, list(out.proof.instances), self.signer)
                except AgoraError as exc:
                    self._update(item, "failed", error=str(exc))
                    _jlog("failed", job=item.job_id, error=str(exc))
                    continue
                _jlog("proven", job=item.job_id, digest="0x" + out.digest.hex())
            # the salt is saved with the result, before any commitment leaves this process
            self._update(item, "computed", digest=out.digest, salt=os.urandom(32), result_cid=out.result_cid)
            self._sign_receipts(item.job_id, out)
            self._fresh.add(item.job_id)
            _jlog("computed", job=item.job_id, slot=item.slot, digest="0x" + out.digest.hex())

    def _sign_receipts(self, job_id: int, out: Outcome) -> None:
        """Sign a receipt for each item computed and keep it in the book until its batch is anchored."""
        if self.book is None or not out.input_hashes:
            return
        job = self._job(job_id)
        unsigned = item_receipts(
            job_id=job_id, requester=job.requester, pay=job.pay, model_hash=out.model_hash,
            input_hashes=out.input_hashes,
            output_digests=[out.digest] if out.proof is not None else [result_digest(o) for o in out.outputs],
            runner=self.address, time=self.chain_now,
        )
        for r in unsigned:
            self.book.add(sign_receipt(self.signer, self.receipt_domain, r), self.receipt_domain)

    def anchor_receipts(self, *, force: bool = False) -> int:
        """Anchor the items' receipts signed since the last batch when due (every 30 s or 1,000
        receipts: the book's ``interval_s`` and ``batch``; or ``force``); return how many now."""
        if self.book is None:
            return 0
        n = self.book.anchor_if_due(self.signer, force=force)
        if n:
            _jlog("anchored", receipts=n)
        return n

    # -- chain actions ------------------------------------------------------------
    @property
    def chain_now(self) -> int:
        """The chain's time, read at most once per round (and only if a round needs it)."""
        if self._chain_now is None:
            self._chain_now = self.chain.timestamp()
        return self._chain_now

    def _job(self, job_id: int) -> Any:
        """The job's chain view, read at most once per round."""
        view = self._views.get(job_id)
        if view is None:
            view = self._views[job_id] = self.market.job(job_id)
        return view

    def should_commit(self, item: WorkItem) -> bool:
        """Whether to commit this result now (adversaries in tests override it)."""
        return True

    def reveal_digest(self, item: WorkItem) -> bytes:
        """The digest to reveal (adversaries in tests override it)."""
        assert item.digest is not None
        return item.digest

    def _commit_ready(self) -> None:
        ready: list[WorkItem] = []
        now = self.chain_now
        for item in self.items(("computed",)):
            if not self.should_commit(item):
                continue
            if item.job_id in self._fresh:
                # computed by this process from an assignment it saw, not replaced since:
                # commit without asking (a refusal sends it through the checks below)
                ready.append(item)
                continue
            job = self._job(item.job_id)
            who, onchain, _ = self.market.assignment(item.job_id, item.slot)
            mine = commitment(item.job_id, self.address, item.digest or b"", item.salt or b"")
            if onchain == mine:
                self._update(item, "committed")  # sent before a crash: already there
                continue
            if job.closed or who != self.address:
                self._update(item, "lost" if not job.closed else "closed")
                continue
            if job.state in _COMMIT_STATES.get(item.role, ()) and now <= job.mark and onchain == bytes(32):
                ready.append(item)
        for chunk in _chunks(ready, MAX_PER_TX):
            self._send_batch(
                chunk, "commit",
                lambda items: self.market.contract.commit_many.build(
                    [i.job_id for i in items],
                    [commitment(i.job_id, self.address, i.digest or b"", i.salt or b"") for i in items],
                ),
                lambda i: self.market.contract.commit.build(
                    i.job_id, commitment(i.job_id, self.address, i.digest or b"", i.salt or b"")
                ),
                "committed",
            )

    def _open_due(self, statuses: tuple[str, ...]) -> Iterator[tuple[WorkItem, Any]]:
        """This round's due items in ``statuses`` with their job views; closed jobs are
        recorded as closed and skipped."""
        for item in self.items(statuses):
            if item.job_id not in self._due:
                continue
            job = self._job(item.job_id)
            if job.closed:
                self._update(item, "closed")
                continue
            yield item, job

    def _reveal_ready(self) -> None:
        ready: list[WorkItem] = []
        block = self.chain.block_number()
        mined = False
        for item, job in self._open_due(("committed",)):
            st = job.state
            if st == JobState.COMMITTED and item.slot == 0:
                if block <= job.mark:
                    # the audit draw needs the commit block's hash, so the reveal waits for
                    # the next block; a devnet that mines only on demand gets an empty one
                    if self.chain.is_devnet and not mined:
                        self.chain.mine(1)
                        mined = True
                    continue
                if job.policy.name == "audit" and self.market.is_audited(item.job_id):
                    self._send_one(self.market.contract.open_audit.build(item.job_id), "open_audit", item.job_id)
                    continue
                ready.append(item)
            elif st in (JobState.REVEALING, JobState.AUDIT_REVEAL) or (st == JobState.TIE_REVEAL and item.slot == 2):
                ready.append(item)
            else:
                self._snooze(job)  # waiting on others: their events wake us, or the phase's end
        for chunk in _chunks(ready, MAX_PER_TX):
            self._send_batch(
                chunk, "reveal",
                lambda items: self.market.contract.reveal_many.build(
                    [i.job_id for i in items], [self.reveal_digest(i) for i in items],
                    [cid_to_bytes32(i.result_cid or "") for i in items], [i.salt for i in items],
                ),
                lambda i: self.market.contract.reveal.build(
                    i.job_id, self.reveal_digest(i), cid_to_bytes32(i.result_cid or ""), i.salt
                ),
                "revealed",
            )

    def _push_overdue(self) -> None:
        """Call ``timeout`` on jobs of ours stuck behind someone else's missed deadline
        (a replica or auditor that never committed or revealed), so we get paid."""
        now = max(self.chain_now, int(time.time()))
        for item, job in self._open_due(("committed", "revealed")):
            if job.state == JobState.COMMITTED:
                continue
            if now <= job.mark:
                self._snooze(job)
                continue
            if item.status == "committed" and job.state in (
                JobState.REVEALING, JobState.AUDIT_REVEAL, JobState.TIE_REVEAL
            ):
                continue  # our own reveal is still due: never time ourselves out
            self._send_one(self.market.contract.timeout.build(item.job_id), "timeout", item.job_id)

    def _send_batch(
        self,
        items: list[WorkItem],
        what: str,
        build_many: Callable[[list[WorkItem]], dict[str, Any]],
        build_one: Callable[[WorkItem], dict[str, Any]],
        status: str,
    ) -> None:
        if not items:
            return
        for i in items:
            self._views.pop(i.job_id, None)
        if len(items) > 1:
            try:
                receipt = self.chain.send(build_many(items), self.signer)
                with self._batch():
                    for i in items:
                        self._update(i, status, **{f"{what}_tx": receipt.tx_hash})
                _jlog(what, jobs=[i.job_id for i in items], tx=receipt.tx_hash, gas=receipt.gas_used)
                return
            except Reverted:
                pass  # one of them is no longer valid: go one by one
        for i in items:
            try:
                receipt = self.chain.send(build_one(i), self.signer)
            except Reverted as exc:
                _jlog(f"{what}_refused", job=i.job_id, reason=exc.reason)
                self._fresh.discard(i.job_id)  # check it against the chain next time
                continue
            self._update(i, status, **{f"{what}_tx": receipt.tx_hash})
            _jlog(what, jobs=[i.job_id], tx=receipt.tx_hash, gas=receipt.gas_used)

    def _send_one(self, tx: dict[str, Any], what: str, job_id: int) -> None:
        self._views.pop(job_id, None)
        try:
            receipt = self.chain.send(tx, self.signer)
            _jlog(what, job=job_id, tx=receipt.tx_hash)
        except Reverted as exc:
            _jlog(f"{what}_refused", job=job_id, reason=exc.reason)

    # -- the loop -------------------------------------------------------------------
    def _snooze(self, job: Any) -> None:
        """Leave ``job`` alone until an event about it arrives or its phase ends (checked
        at least every few seconds, in case the chain's clock jumps)."""
        left = job.mark - max(self.chain_now, 0)
        self._wake[job.id] = time.monotonic() + min(max(left + 0.5, 0.2), self.recheck)

    def step(self) -> None:
        """One round: read events, start and collect work, commit, reveal, push timeouts.

        Jobs are looked at when an event about them arrived this round, or when the time
        they were waiting for has come: a round costs RPC calls per job that moved, not
        per job open.
        """
        self._views = {}
        self.sync()
        self._chain_now = None
        clock = time.monotonic()
        open_ids = {i.job_id for i in self.items(("committed", "revealed"))}
        self._due = {j for j in open_ids if j in self._dirty or clock >= self._wake.get(j, 0.0)}
        self._dirty.clear()
        for j in list(self._wake):
            if j not in open_ids:
                del self._wake[j]
        self._collect_work()
        self._start_work()
        self._commit_ready()
        self._reveal_ready()
        self._push_overdue()
        self.anchor_receipts()

    def run(self, until: Callable[[], bool] | None = None) -> None:
        """Run until :meth:`stop` is called (or ``until()`` is true)."""
        _jlog("started", provider=self.address, next_block=self.next_block)
        def interval() -> float:   # a job running: look again soon
            busy = any(not f.done() for f in self._running.values())
            return self.poll_interval if not busy else min(self.poll_interval, 0.05)

        self.backoff.run(self.step, self._stop, interval, until)
        self.close()

    def stop(self) -> None:
        """Ask the loop to finish its round and exit."""
        self._stop.set()

    def close(self, grace: float = 30.0) -> None:
        """Let running jobs finish (their results are saved), then release everything."""
        deadline = time.monotonic() + grace
        while self._running and time.monotonic() < deadline:
            self._collect_work()
            time.sleep(0.05)
        self._pool.shutdown(wait=False, cancel_futures=True)
        if self.book is not None:
            try:
                self.anchor_receipts(force=True)
            except AgoraError as exc:  # kept: the next start anchors them
                _jlog("anchor_failed", error=str(exc))
            self.book.close()
        _jlog("stopped", provider=self.address, next_block=self.next_block)
        self.db.close()
        self._lock.release()

    def status(self) -> dict[str, int]:
        """How many assignments are in each state."""
        return _count_work(self.db)


@dataclass
class _LightEvent:
    """An event of someone else's: only its name, job id and provider (from the topics)."""

    name: str
    args: dict[str, Any]
    block_number: int


def _chunks(items: list[WorkItem], n: int) -> list[list[WorkItem]]:
    return [items[i : i + n] for i in range(0, len(items), n)]
