"""The requester's side: submit jobs, follow them, fetch and check their results.

    >>> job = client.compute.submit("onnx-classify", model=model_bytes, data=input_bytes,
    ...                             policy=Policy.audit(0.1))
    >>> job.wait()                 # until settled or refunded
    >>> job.result()               # the output, checked against the digest agreed on chain

A result is never trusted because a provider sent it: :meth:`Job.result`
fetches the blob by the CID revealed on chain and checks it against the
digest the verification policy agreed on (a Merkle root for a batch).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from agora.chain import Signer, TxReceipt
from agora.compute.execution import build_batch_manifest, verify_result
from agora.compute.market import JobInfo, JobSpec, JobState, Market, Policy
from agora.errors import AgoraError, ConfigError
from agora.storage import Storage, bytes32_to_cid, is_cid
from agora.workloads import get_workload

__all__ = ["ComputeClient", "Job", "JobFailed", "Quote", "TimeoutOutcome", "DEFAULT_PRICE_PER_UNIT"]

#: Offered price per work unit when the caller gives none (0.001 token).
DEFAULT_PRICE_PER_UNIT = 10**15


class JobFailed(AgoraError):
    """A job closed without an agreed result (refunded, or no majority)."""


@dataclass(frozen=True)
class Quote:
    """What posting a job costs before it is posted: ``escrow`` (price per unit x units x the
    worst case's executions) plus the market's ``fee``; whatever the job does not use of the
    escrow is owed back to the requester when it closes."""

    price_per_unit: int
    units: int
    items: int
    executions: int  # worst case: replicas for replicate:k, worker + auditor + tie-breaker for audit
    escrow: int
    fee: int
    balance: int  # what the market already owes the requester (drawn first if it covers the total)

    @property
    def total(self) -> int:
        """What the post takes from the requester: escrow plus fee."""
        return self.escrow + self.fee


@dataclass(frozen=True)
class TimeoutOutcome:
    """What :meth:`ComputeClient.time_out` did to a job: its state before and after, the
    transaction, and what the market owes the requester now (refunds included)."""

    before: JobInfo
    after: JobInfo
    tx: str
    owed: int

    @property
    def refunded(self) -> bool:
        """Whether the job closed with its whole escrow refunded."""
        return self.after.state == JobState.REFUNDED


@dataclass
class Job:
    """A posted job: its id and the means to follow it."""

    id: int
    compute: ComputeClient
    items: int | None = None  # None: read from the JobPosted event when needed
    post_tx: str | None = None
    post_block: int | None = None  # where to start reading this job's events

    def __repr__(self) -> str:
        return f"Job({self.id})"

    def status(self) -> JobInfo:
        """The job as the chain sees it now."""
        return self.compute.market.job(self.id)

    def wait(
        self,
        timeout: float = 600.0,
        poll: float = 0.2,
        on_progress: Callable[[JobInfo], None] | None = None,
        push: bool = True,
    ) -> JobInfo:
        """Wait until the job is settled or refunded; return its final state.

        With ``push`` the requester calls ``timeout`` itself when a phase is
        overdue (a provider that never committed is replaced, one that never
        revealed is slashed), so its job cannot hang on someone else's silence.
        """
        deadline = time.monotonic() + timeout
        last: JobState | None = None
        while True:
            info = self.status()
            if on_progress is not None and info.state != last:
                on_progress(info)
                last = info.state
            if info.closed:
                return info
            if push:
                self.compute.push(info)
            if time.monotonic() > deadline:
                raise AgoraError(
                    f"job {self.id} is still {info.state.label} after {timeout:.0f}s",
                    hint=f"check it later with `agora job status {self.id}`",
                )
            time.sleep(poll)

    def revealed(self) -> list[dict[str, Any]]:
        """Every Revealed event of this job (provider, digest, result CID)."""
        return self.compute.revealed(self.id, self._from_block())

    def result(self) -> bytes | list[bytes]:
        """The verified output (a list of outputs for a batch).

        Raises JobFailed if the job has no agreed result, ResultMismatch if no
        revealed blob matches the agreed digest.
        """
        info = self.status()
        if not info.closed:
            raise AgoraError(f"job {self.id} is not finished ({info.state.label})", hint="wait for it first")
        if info.state == JobState.REFUNDED or info.result == bytes(32):
            raise JobFailed(f"job {self.id} closed without an agreed result ({info.state.label}); it was refunded")
        last_error: AgoraError | None = None
        for rev in self.revealed():
            if rev["digest"] != info.result:
                continue
            try:
                outs = verify_result(self.compute.storage, rev["result_cid"], info.result, self.items_count(info))
            except AgoraError as exc:  # that provider's copy is missing or bad: try the next
                last_error = exc
                continue
            return outs[0] if self.items_count(info) == 1 else outs
        raise last_error or JobFailed(f"no revealed result of job {self.id} matches its agreed digest")

    def _from_block(self) -> int:
        if self.post_block is None:
            self._read_posted()
        return self.post_block if self.post_block is not None else self.compute.market.dep.block

    def _read_posted(self) -> None:
        for e in self.compute.market.contract.iter_events("JobPosted", self.compute.market.dep.block):
            if e.args["job_id"] == self.id:
                self.items, self.post_block, self.post_tx = int(e.args["items"]), e.block_number, e.tx_hash
                return
        raise AgoraError(f"job {self.id} has no JobPosted event on this chain")

    def items_count(self, info: JobInfo | None = None) -> int:
        """How many items the job has (from its JobPosted event if not known)."""
        if self.items is None:
            self._read_posted()
        return self.items or 1


class ComputeClient:
    """``Client.compute``: post jobs and get verified results."""

    def __init__(self, market: Market, storage: Storage, signer: Signer | None) -> None:
        self.market = market
        self.storage = storage
        self.signer = signer
        # Revealed events read so far, by job: each block is read once, however many
        # jobs ask (some nodes, py-evm among them, are slow to search long ranges)
        self._reveals: dict[int, list[dict[str, Any]]] = {}
        self._reveals_from: int | None = None
        self._reveals_next = 0

    def revealed(self, job_id: int, from_block: int) -> list[dict[str, Any]]:
        """The Revealed events of ``job_id`` (posted at or after ``from_block``)."""
        if self._reveals_from is None or from_block < self._reveals_from:
            self._reveals, self._reveals_from, self._reveals_next = {}, from_block, from_block
        head = self.market.chain.block_number()
        if head >= self._reveals_next:
            for e in self.market.contract.iter_events("Revealed", self._reveals_next, head):
                self._reveals.setdefault(e.args["job_id"], []).append(
                    {"provider": e.args["provider"], "digest": bytes(e.args["digest"]),
                     "result_cid": bytes32_to_cid(e.args["result"]), "tx": e.tx_hash}
                )
            self._reveals_next = head + 1
        return list(self._reveals.get(job_id, []))

    def _signer(self) -> Signer:
        if self.signer is None:
            raise ConfigError("no account to post jobs from", hint="set AGORA_KEYSTORE or AGORA_PRIVATE_KEY")
        return self.signer

    def _blob(self, value: bytes | str) -> str:
        if isinstance(value, bytes | bytearray):
            return self.storage.put(bytes(value))
        if is_cid(value):
            return value
        raise ConfigError(f"{value!r} is neither bytes nor a CID")

    def build_spec(
        self,
        kind: int | str,
        model: bytes | str,
        data: bytes | str | list[bytes],
        *,
        policy: Policy | None = None,
        price_per_unit: int = DEFAULT_PRICE_PER_UNIT,
        duration: int = 3_600,
        units: int | None = None,
    ) -> JobSpec:
        """A job spec; bytes are stored first (and their CIDs used). A list of inputs
        makes a batch job: one chain record, one Merkle root over the results."""
        workload = get_workload(kind)
        model_cid = self._blob(model)
        if isinstance(data, list) and len(data) == 1:
            data = data[0]  # a batch of one is a single job
        if isinstance(data, list):
            if not data:
                raise ConfigError("a batch needs at least one input")
            n_units = units or sum(workload.units(d) for d in data)
            input_cid = self.storage.put(build_batch_manifest([self._blob(d) for d in data]))
            items = len(data)
        else:
            if units is None:
                raw = data if isinstance(data, bytes) else self.storage.get(data)
                units = workload.units(raw)
            n_units, input_cid, items = units, self._blob(data), 1
        return JobSpec(
            kind=workload.kind_id, model=model_cid, input=input_cid, units=max(n_units, items),
            price_per_unit=price_per_unit, policy=policy or Policy.audit(0.1), items=items, duration=duration,
        )

    def submit(self, kind: int | str, model: bytes | str, data: bytes | str | list[bytes], **kw: Any) -> Job:
        """Post one job (or one batch, if ``data`` is a list) and return it."""
        return self.post(self.build_spec(kind, model, data, **kw))

    def post(self, spec: JobSpec) -> Job:
        """Post one job built with :meth:`build_spec` (see :meth:`quote` for what it costs). A ZK
        job's input is committed right after (``Market.zk_commit_input``): its provider proves on it."""
        signer = self._signer()
        if spec.policy.name == "zk" and spec.items != 1:
            raise ConfigError("a ZK job proves one input: post a single item, not a batch")
        ids, receipt = self.market.post([spec], signer)
        if spec.policy.name == "zk":
            self.market.zk_commit_input(ids[0], spec.policy.param, self.storage.get(spec.input), signer)
        return Job(ids[0], self, spec.items, receipt.tx_hash, receipt.block_number)

    def quote(self, spec: JobSpec) -> Quote:
        """What posting ``spec`` will escrow and charge (read from the chain, nothing sent)."""
        me = self.signer.address if self.signer is not None else None
        return Quote(
            price_per_unit=spec.price_per_unit, units=spec.units, items=spec.items,
            executions=spec.policy.executions, escrow=spec.escrow, fee=int(self.market.contract.min_fee()),
            balance=self.market.owed(me) if me is not None else 0,
        )

    def owed(self) -> int:
        """What the market owes this client's account now (unused escrow, refunds, deposits)."""
        return self.market.owed(self._signer().address)

    def withdraw(self) -> int:
        """Take everything the market owes this client's account; return the amount (0 if nothing)."""
        return self.market.withdraw(self._signer())

    def submit_many(self, specs: list[JobSpec]) -> list[Job]:
        """Post many jobs in one transaction."""
        ids, receipt = self.market.post(specs, self._signer())
        return [Job(i, self, s.items, receipt.tx_hash, receipt.block_number) for i, s in zip(ids, specs, strict=True)]

    def fetch_jobs(self, limit: int = 20, *, mine: bool = False) -> list[JobInfo]:
        """The newest jobs on this market, newest first, at most ``limit``; with ``mine``,
        only those this client's account posted (none without an account)."""
        me = self.signer.address if self.signer is not None else None
        jobs: list[JobInfo] = []
        for job_id in range(self.market.job_count(), 0, -1):
            if len(jobs) >= limit:
                break
            info = self.market.job(job_id)
            if not mine or info.requester == me:
                jobs.append(info)
        return jobs

    def job(self, job_id: int) -> Job:
        """A handle on an existing job."""
        self.market.job(job_id)  # raises if there is none
        return Job(job_id, self)

    def due_at(self, info: JobInfo) -> int:
        """The chain time after which the job's current phase may be timed out."""
        return info.deadline if info.state == JobState.COMMITTED else info.mark

    def now(self) -> int:
        """The time the next block will carry, as near as we know it (the chain's latest block
        is older than the wall clock on a node that mines only on transactions)."""
        return max(self.market.chain.timestamp(), int(time.time()))

    def time_out(self, job_id: int) -> TimeoutOutcome:
        """As the job's requester, move a job whose current phase is overdue: providers that did not
        commit are replaced, or, with no one left to take it, its escrow is refunded (owed to you:
        take it with :meth:`withdraw`); one that committed and never revealed is slashed and the
        job refunded; a reveal phase past its time is settled with the reveals that came in.

        ConfigError, one line, if the job is closed, not this account's, or not overdue yet
        (saying when it will be).
        """
        me = self._signer().address
        info = self.market.job(job_id)
        if info.closed:
            raise ConfigError(f"job {job_id} is already {info.state.label}; nothing to time out",
                              hint="take what the market owes you with `agora job withdraw`")
        if info.requester != me:
            raise ConfigError(f"job {job_id} was posted by {info.requester}, not by {me}",
                              hint="only its requester times it out from here (act as that account)")
        due, now = self.due_at(info), self.now()
        if now <= due:
            when = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(due))
            raise ConfigError(f"job {job_id} is {info.state.label} and not overdue: its window ends at {when} "
                              f"(in {due - now + 1} s)", hint=f"try again then, or wait with `agora job status "
                              f"{job_id} --wait`")
        receipt = self.market.timeout(job_id, self._signer())
        return TimeoutOutcome(before=info, after=self.market.job(job_id), tx=receipt.tx_hash,
                              owed=self.market.owed(me))

    def push(self, info: JobInfo) -> TxReceipt | None:
        """Call ``timeout`` on a job whose current phase is overdue; None if it is not."""
        if info.closed or self.now() <= self.due_at(info):
            return None
        try:
            return self.market.timeout(info.id, self._signer())
        except AgoraError:
            return None  # someone else moved it first
