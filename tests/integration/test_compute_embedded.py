"""The compute market in one process on the embedded chain: a requester and provider daemons
stepped round-robin, every policy settled and checked, daemons restarted from their database,
and each adversary caught by the protocol.

The embedded chain mines only on demand, so the tests mine a block between rounds to keep
its clock moving; its deadlines are passed with ``chain.advance_time``.
"""

from __future__ import annotations

import json
import logging
import sqlite3
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest

from agora.chain import Signer, connect
from agora.chain.eip712 import keccak256 as keccak
from agora.compute import ComputeClient, Job, JobFailed, JobState, Market, Policy, ProviderDaemon
from agora.compute.adversaries import CopyingProvider, StallingProvider, WrongOutputProvider
from agora.compute.execution import BATCH_RESULT, Outcome
from agora.errors import AgoraError, ConfigError
from agora.protocol import deploy_devnet
from agora.storage import LocalStore, Storage
from agora.workloads import build_digits_model, digits_inputs, get_workload, result_digest

pytestmark = pytest.mark.slow

STAKE = 1_000 * 10**18
PRICE = 10**15
KIND = "onnx-classify"


class World:
    """A fresh embedded chain with the protocol, shared blob storage and a requester."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.chain = connect("embedded://")
        self.dep = deploy_devnet(self.chain)
        self.market = Market(self.dep)
        self.storage = Storage(LocalStore(root / "blobs"))
        self.requester = self.chain.dev_signers[9]
        self.client = ComputeClient(self.market, self.storage, self.requester)
        self.model = build_digits_model()

    def signer(self, account: int) -> Signer:
        return self.chain.dev_signers[account]

    def register(self, account: int, kinds: Sequence[int] = (1,)) -> str:
        self.market.register(self.signer(account), kinds=list(kinds), price=PRICE, stake=STAKE)
        return self.signer(account).address

    def daemon(self, account: int, cls: type[ProviderDaemon] = ProviderDaemon, **kw: Any) -> ProviderDaemon:
        """A daemon for ``account`` on its own database file (the same file on every call)."""
        kw.setdefault("concurrency", 1)
        return cls(self.market, self.signer(account), self.storage, self.root / f"p{account}.db", **kw)

    def submit(self, policy: Policy, seed: int = 0, batch: int = 0) -> Job:
        data: Any = [digits_inputs(1, seed=seed + i) for i in range(batch)] if batch else digits_inputs(2, seed)
        return self.client.submit(KIND, self.model, data, policy=policy, price_per_unit=PRICE)

    def step_until(self, daemons: Sequence[ProviderDaemon], done: Callable[[], bool], rounds: int = 20) -> None:
        """Step ``daemons`` in turn, a block between rounds, until ``done()``."""
        for _ in range(rounds):
            for d in daemons:
                d.step()
            if done():
                return
            self.chain.mine(1)
        raise AssertionError("the daemons did not get there")

    def drive(self, daemons: Sequence[ProviderDaemon], jobs: Sequence[Job], rounds: int = 40) -> None:
        """Step every daemon in turn, a block between rounds, until every job is closed."""
        for _ in range(rounds):
            for d in daemons:
                d.step()
            if all(j.status().closed for j in jobs):
                return
            self.chain.mine(1)
        raise AssertionError(f"jobs still open: {[(j.id, j.status().state.label) for j in jobs]}")

    def events(self, name: str, job: Job | None = None) -> list[Any]:
        evs = self.market.contract.get_events(name, self.dep.block)
        return [e for e in evs if job is None or e.args["job_id"] == job.id]

    def expected_output(self, seed: int = 0) -> bytes:
        return get_workload(KIND).run(self.model, digits_inputs(2, seed))

    def net_pay(self, job: Job) -> int:
        pay = job.status().pay
        return pay - pay * int(self.market.contract.fee_bps()) // 10_000

    def check_books(self) -> None:
        m, token = self.market, self.dep.token
        accounts = {s.address for s in self.chain.dev_signers} | {m.contract.treasury()}
        escrow = sum(m.job(i).escrow for i in range(1, m.job_count() + 1))
        assert token.balanceOf(m.contract.address) == escrow + sum(m.owed(a) for a in accounts)
        stakes = sum(m.provider(a).stake + m.provider(a).unbonding for a in accounts)
        assert token.balanceOf(m.registry.address) == stakes


@pytest.fixture
def world(tmp_path: Path) -> World:
    return World(tmp_path)


def _one_commit(w: World, job: Job, who: str) -> None:
    commits = [e for e in w.events("Committed", job) if e.args["provider"] == who]
    assert len(commits) == 1, f"{len(commits)} commitments from {who} for job {job.id}"


# -- every policy -------------------------------------------------------------------------------
def test_every_policy_settles_with_a_verified_result(world: World) -> None:
    w = world
    for a in (1, 2, 3):
        w.register(a)
    daemons = [w.daemon(a) for a in (1, 2, 3)]
    none, audit, replicate = (w.submit(p, seed=i) for i, p in
                              enumerate([Policy.none(), Policy.audit(1.0), Policy.replicate(3)]))
    batch = w.submit(Policy.none(), seed=10, batch=3)
    jobs = [none, audit, replicate, batch]
    w.drive(daemons, jobs)

    for i, job in enumerate(jobs[:3]):
        info = job.status()
        assert info.state == JobState.SETTLED and info.escrow == 0
        assert job.result() == w.expected_output(seed=i)
        assert info.result == job.revealed()[0]["digest"]
    assert len(audit.status().providers) >= 2, "audit:1 always draws an auditor"
    assert len(replicate.status().providers) == 3
    assert batch.status().state == JobState.SETTLED
    run = get_workload(KIND).run
    assert batch.result() == [run(w.model, digits_inputs(1, seed=10 + i)) for i in range(3)]
    assert w.events("Slashed") == []
    for d in daemons:
        d.sync()  # the last round's Settled events
        assert set(d.status()) <= {"closed", "lost"}
        d.close()
    w.check_books()


# -- durability ---------------------------------------------------------------------------------------
def test_a_restarted_daemon_reveals_what_it_committed_without_committing_again(world: World) -> None:
    w = world
    w.register(1)
    job = w.submit(Policy.none())
    first = w.daemon(1)
    for _ in range(20):
        first.step()
        if first.items(("committed",)):
            break
    else:
        raise AssertionError("the daemon never committed")
    assert job.status().state == JobState.COMMITTED
    cursor = first.next_block
    first.close()  # it goes no further: no reveal

    second = w.daemon(1)
    assert second.next_block == cursor
    assert [(i.job_id, i.status) for i in second.items()] == [(job.id, "committed")]
    w.drive([second], [job])
    assert job.status().state == JobState.SETTLED
    _one_commit(w, job, w.signer(1).address)
    assert [e.args["provider"] for e in w.events("Revealed", job)] == [w.signer(1).address]
    assert job.result() == w.expected_output()
    second.sync()
    assert second.status() == {"closed": 1}
    second.close()


def test_run_until_done_then_close(world: World) -> None:
    w = world
    w.register(1)
    job = w.submit(Policy.none())
    d = w.daemon(1, poll_interval=0.01)
    d.run(until=lambda: job.status().closed)  # one thread: the daemon mines the blocks its reveal needs
    assert job.status().state == JobState.SETTLED and job.result() == w.expected_output()
    with pytest.raises(sqlite3.ProgrammingError):
        d.status()  # run() closes the database on the way out
    stopped = w.daemon(1)
    stopped.stop()
    stopped.run()  # asked to stop before it starts: returns at once, closed
    with pytest.raises(sqlite3.ProgrammingError):
        stopped.sync()


def test_the_event_cursor_is_saved_and_never_reset(world: World) -> None:
    w = world
    w.register(1)
    job = w.submit(Policy.none())
    d = w.daemon(1)
    assert d.sync() == 1, "one assignment for us"
    head = w.chain.block_number()
    assert d.next_block == head + 1
    assert d.sync() == 0 and d.next_block == head + 1, "nothing new to read"
    d.close()

    for start in (0, head + 50):
        again = w.daemon(1, start_block=start)
        assert again.next_block == head + 1, "a saved cursor wins over start_block"
        assert again.sync() == 0
        assert [(i.job_id, i.status) for i in again.items()] == [(job.id, "assigned")]
        again.close()


# -- adversaries ---------------------------------------------------------------------------------
def test_wrong_output_is_slashed_under_replicate_and_the_honest_are_paid(world: World) -> None:
    w = world
    honest = [w.register(a) for a in (1, 2)]
    cheat = w.register(3)
    daemons = [w.daemon(1), w.daemon(2), w.daemon(3, WrongOutputProvider, rate=1.0)]
    job = w.submit(Policy.replicate(3))
    w.drive(daemons, [job])

    info = job.status()
    assert info.state == JobState.SETTLED and sorted(info.providers) == sorted([*honest, cheat])
    assert job.result() == w.expected_output()
    slashes = w.events("Slashed", job)
    assert [e.args["provider"] for e in slashes] == [cheat]
    assert w.market.provider(cheat).stake == STAKE - slashes[0].args["amount"] < STAKE
    assert w.market.owed(cheat) == 0
    for a in honest:
        assert w.market.owed(a) == w.net_pay(job)
        assert w.market.provider(a).stake == STAKE
    assert job.id in daemons[2].cheated  # type: ignore[attr-defined]
    for d in daemons:
        d.close()
    w.check_books()


def test_a_stalling_provider_is_replaced_when_the_requester_pushes(world: World) -> None:
    w = world
    staller = w.register(1)
    job = w.submit(Policy.none())  # the staller is the only provider yet
    assert job.status().providers == [staller]
    rep = w.market.provider(staller).reputation
    honest = [w.register(a) for a in (2, 3)]
    daemons = [w.daemon(1, StallingProvider), w.daemon(2), w.daemon(3)]
    for _ in range(3):
        for d in daemons:
            d.step()
    assert job.status().state == JobState.ASSIGNED, "the staller computed but never commits"
    assert daemons[0].status() == {"computed": 1}

    w.chain.advance_time(int(w.market.contract.commit_window()) + 1)
    with pytest.raises(AgoraError, match=f"job {job.id} is still assigned"):
        job.wait(timeout=0, poll=0, push=True)  # one round: it pushes the overdue phase
    info = job.status()
    assert info.replacements == 1 and info.providers[0] in honest
    assert [e.args["provider"] for e in w.events("Replaced", job)] == [staller]
    assert w.market.provider(staller).reputation < rep

    w.drive(daemons, [job])
    assert job.wait(timeout=5).state == JobState.SETTLED
    assert job.result() == w.expected_output()
    assert daemons[0].status() == {"lost": 1}
    assert w.events("Committed", job)[0].args["provider"] == info.providers[0]
    for d in daemons:
        d.close()
    w.check_books()


def test_a_copied_reveal_is_refused_and_the_copier_slashed(world: World, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="agora.provider")
    w = world
    honest = [w.register(a) for a in (1, 2)]
    copier_addr = w.register(3)
    copier = w.daemon(3, CopyingProvider)
    job = w.submit(Policy.replicate(3))
    # the copier commits its guess first; the honest two commit and reveal; only then does the
    # copier get to reveal, with their digest in view
    w.step_until([copier], lambda: bool(copier.items(("committed",))))
    honest_daemons = [w.daemon(1), w.daemon(2)]
    w.step_until(honest_daemons, lambda: len(w.events("Revealed", job)) == 2)
    copier.step()
    daemons = [*honest_daemons, copier]
    assert job.status().state == JobState.REVEALING
    assert sorted(e.args["provider"] for e in w.events("Revealed", job)) == sorted(honest)
    refused = [json.loads(r.getMessage()) for r in caplog.records if '"reveal_refused"' in r.getMessage()]
    assert refused and refused[0]["job"] == job.id
    assert "does not match commitment" in refused[0]["reason"]

    w.chain.advance_time(int(w.market.contract.reveal_window()) + 1)
    w.drive(daemons, [job])  # an honest daemon times the reveal phase out to get paid
    assert job.status().state == JobState.SETTLED
    assert job.result() == w.expected_output()
    assert [e.args["provider"] for e in w.events("Slashed", job)] == [copier_addr]
    assert w.market.provider(copier_addr).stake < STAKE
    for a in honest:
        assert w.market.owed(a) == w.net_pay(job)
    for d in daemons:
        d.close()
    w.check_books()


# -- the requester's view of failures ---------------------------------------------------------------
def test_refunded_job_has_no_result_and_unknown_jobs_are_config_errors(world: World) -> None:
    w = world
    w.register(1)  # it never commits, and nobody is left to replace it
    job = w.submit(Policy.none())
    with pytest.raises(AgoraError, match=f"job {job.id} is not finished"):
        job.result()
    w.chain.advance_time(int(w.market.contract.commit_window()) + 1)
    info = job.wait(timeout=10, poll=0, push=True)
    assert info.state == JobState.REFUNDED and info.escrow == 0
    with pytest.raises(JobFailed, match=f"job {job.id} closed without an agreed result"):
        job.result()
    assert w.client.job(job.id).status().state == JobState.REFUNDED
    with pytest.raises(ConfigError, match="there is no job 999"):
        w.client.job(999)
    with pytest.raises(ConfigError, match="workload kind id 16 is not in 0..15"):
        w.market.register(w.signer(4), kinds=[16], price=PRICE, stake=STAKE)
    with pytest.raises(ConfigError, match="nothing to post"):
        w.market.post([], w.requester)
    with pytest.raises(ConfigError, match="no account to post jobs from"):
        ComputeClient(w.market, w.storage, None).submit(KIND, w.model, digits_inputs(1))
    w.check_books()


class MalformedManifestProvider(ProviderDaemon):
    """Computes honestly (so its digest is the agreed one) but reveals a malformed result manifest."""

    def execute(self, item: Any, posted: tuple[Any, ...]) -> Outcome:
        out = super().execute(item, posted)
        bogus = json.dumps({"agora": BATCH_RESULT, "items": ["not an entry"] * len(out.outputs)}).encode()
        return Outcome(out.digest, self.storage.put(bogus), out.outputs)


def test_a_malformed_copy_does_not_hide_a_good_one(world: World) -> None:
    w = world
    w.register(1)
    w.register(2)
    honest, bad = w.daemon(1), w.daemon(2, MalformedManifestProvider)
    job = w.submit(Policy.replicate(2), seed=20, batch=2)
    # the honest one commits first; the bad one commits and reveals; the honest one reveals last
    w.step_until([honest], lambda: bool(honest.items(("committed",))))
    w.step_until([bad], lambda: len(w.events("Revealed", job)) == 1)
    w.drive([honest, bad], [job])
    assert job.status().state == JobState.SETTLED
    assert job.revealed()[0]["provider"] == w.signer(2).address
    run = get_workload(KIND).run
    assert job.result() == [run(w.model, digits_inputs(1, seed=20 + i)) for i in range(2)]


# -- receipts: every item computed leaves one, anchored ------------------------------------------------
def test_every_item_computed_leaves_a_receipt_anchored_and_verified(world: World) -> None:
    from dataclasses import replace

    from agora.chain.evidence import Bundle, ReceiptBook, ReceiptError, sign_receipt
    from agora.verification import verify_bundle

    w = world
    provider = w.register(1)
    daemon = w.daemon(1)
    single, batch = w.submit(Policy.none(), seed=1), w.submit(Policy.none(), seed=20, batch=3)
    w.drive([daemon], [single, batch])
    assert daemon.book is not None and daemon.book.pending() == 4  # not due yet: the interval has not passed
    assert daemon.anchor_receipts(force=True) == 4
    items = {(r.subject, r.item): r for _, r in daemon.book.kept()}
    assert sorted(items) == [(single.id, 0), (batch.id, 0), (batch.id, 1), (batch.id, 2)]
    run = get_workload(KIND).run
    for (job_id, index), r in items.items():
        bundle = daemon.book.bundle(r.digest(daemon.receipt_domain))
        verdict = verify_bundle(w.dep, bundle)
        assert verdict.final and r.runner == provider and r.payer == w.requester.address
        assert r.weights_hash == keccak(w.model)
        if job_id == single.id:
            assert r.output_hash == single.status().result and r.input_hash == keccak(digits_inputs(2, 1))
            assert verdict.entitled_as.endswith("its output is the job's agreed result")
        else:
            assert r.output_hash == result_digest(run(w.model, digits_inputs(1, seed=20 + index)))
    assert sum(r.amount for r in items.values() if r.subject == batch.id) == batch.status().pay
    # a receipt for a job its signer was never assigned to, anchored by that signer: refused
    outsider = w.signer(5)
    forged = sign_receipt(outsider, daemon.receipt_domain, replace(items[(single.id, 0)], runner=outsider.address))
    book = ReceiptBook(w.root / "outsider.sqlite", w.dep.contract("anchor"), outsider.address)
    book.add(forged, daemon.receipt_domain)
    book.anchor_pending(outsider)
    with pytest.raises(ReceiptError, match=f"was never assigned to job {single.id}"):
        verify_bundle(w.dep, book.bundle(forged.digest(daemon.receipt_domain)))
    with pytest.raises(ReceiptError, match="there is no job 99"):
        no_job = sign_receipt(outsider, daemon.receipt_domain, replace(forged, subject=99, payment=99))
        verify_bundle(w.dep, Bundle(no_job, daemon.receipt_domain))  # not anchored: only entitlement left
    book.close()
    daemon.close()

