"""Does cheating pay? The real contracts, one job stream, one provider under test (helper of
``bench/compute.py``).

Five honest providers and one provider under test stake the same amount; a requester posts
the same stream of AUDIT(0.1) jobs (same seed: same sizes, same order) once per scenario —
the provider under test honest, or skipping the work and inventing a result on 5 %, 20 %,
100 % of its jobs (``cheats_on``, as ``WrongOutputProvider`` decides it). The contracts
decide everything: who is drawn for each job, which commits are audited, who breaks a tie,
who is slashed, what is paid. This module only plays the providers (commit, reveal, the
auditor's and the tie-breaker's parts) and the keeper that calls ``open_audit``.

Cost model: executing a job costs the provider C = ``COST_SHARE`` x the job's pay
(electricity and GPU time; 50 %, so honest work has a 47.5 % margin after the 2.5 % fee).
A cheater pays nothing on the jobs it cheats on. Net earnings of the provider under test =
what the market owes it at the end + the stake it can still withdraw - the stake it put
in - the cost of the executions it actually did.

The market runs as a pipeline, as a live one does: every block carries ``ROUND`` new jobs
(one ``post_many``), the commits of the jobs posted one block earlier, the reveals (or audit
openings) of those committed one block earlier, the auditors' commits, and so on; each
provider sends one ``commit_many`` and one ``reveal_many`` per block, as the daemon does. So
about three rounds of jobs are in flight at any time, and a cheater keeps the jobs it was
given before a slash took it below the minimum stake; from then on it is never drawn again
(checked: ``drawn_while_inactive`` stays 0), while the stream runs to its end.

Why anvil and not titanoboa: boa runs the contracts in py-evm, measured here at ~28 ms
per job (post, commit, audit draw, reveal, settle; ~170k opcodes/s), so 4 x 10,000 jobs
would take ~19 minutes; anvil (revm) runs the same bytecode of the same contracts in
about a sixth of that. Blocks are mined by this module (automine off), one per pipeline
step, because anvil's cost per block grows with the market's storage (~0.1 s per block
at 30,000 slots). Anvil starts at a fixed genesis time with a fixed 2 s between blocks and
takes transactions first in, first out, so a run is reproducible to the last wei.
"""

from __future__ import annotations

import functools
import random
import time
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from eth_abi import encode
from eth_utils import keccak, to_checksum_address

from agora.chain import Chain, Signer, TxReceipt, connect
from agora.compute import Market
from agora.compute.adversaries import cheats_on
from agora.compute.layer import COMPUTE_PARAMS
from agora.devnet.anvil import start_anvil
from agora.protocol import deploy_devnet

E18 = 10**18
PRICE = 10**15  # per work unit: 0.001 token
UNITS = (10, 100)  # a job's size, uniform: pay 0.01 .. 0.1 token
STAKE = 200 * E18  # every provider: twice the minimum stake
AUDIT_BPS = 1_000  # Policy.audit(0.1), the default
COST_SHARE = 0.5  # C = 50 % of the job's pay
HONEST = (1, 2, 3, 4, 5)  # dev accounts
TESTED = 6
REQUESTER = 7
KEEPER = 8
ROUND = 100  # jobs posted per block
POST_MANY = 100  # jobs per post_many transaction (the contract takes up to 128)
SEED = 2026
GENESIS = 1_800_000_000
MODEL = keccak(b"econ model")

_BIG = 100_000_000  # anvil runs with a 1G block gas limit: a phase's transactions share one block


def _gas(per: int, n: int, base: int = 80_000) -> int:
    return min(_BIG, base + per * n)


# Calldata and logs are encoded and decoded here with eth_abi directly: web3's generic ABI
# formatting costs more than anvil's execution of the contracts (checked against web3 once).
_SPEC = "(uint256,bytes32,bytes32,uint256,uint256,uint256,uint256,uint256,uint256)"
_FN = {
    "post_many": ([f"{_SPEC}[]"], f"post_many({_SPEC}[])"),
    "commit_many": (["uint256[]", "bytes32[]"], "commit_many(uint256[],bytes32[])"),
    "reveal_many": (
        ["uint256[]", "bytes32[]", "bytes32[]", "bytes32[]"], "reveal_many(uint256[],bytes32[],bytes32[],bytes32[])"
    ),
    "open_audit": (["uint256"], "open_audit(uint256)"),
    "is_audited": (["uint256"], "is_audited(uint256)"),
}
_TOPIC = {
    name: keccak(text=sig)
    for name, sig in {
        "Assigned": "Assigned(uint256,address,uint256,uint256,uint256)",
        "AuditOpened": "AuditOpened(uint256,address)",
        "Slashed": "Slashed(address,uint256,uint256,uint256)",
        "Refunded": "Refunded(uint256,uint256)",
        "JobPosted": "JobPosted(uint256,address,uint256,uint256,uint256,bytes32,bytes32,uint256,uint256,uint256,"
        "uint256)",
        "Settled": "Settled(uint256,bytes32,uint256,uint256,uint256)",
    }.items()
}


def _check_abi(abi: list[dict[str, Any]]) -> None:
    """Fail loudly if the market's ABI no longer matches the encodings above."""
    sigs = {
        e["name"]: f"{e['name']}({','.join(_abi_type(i) for i in e['inputs'])})"
        for e in abi if e.get("type") in ("function", "event")
    }
    for name, (_, sig) in _FN.items():
        assert sigs.get(name) == sig, f"ComputeMarket.{name} changed: {sigs.get(name)} (bench expects {sig})"
    for name, topic in _TOPIC.items():
        assert keccak(text=sigs.get(name, "")) == topic, f"event {name} changed: {sigs.get(name)}"
    posted = next(e for e in abi if e.get("type") == "event" and e["name"] == "JobPosted")
    data = [i["name"] for i in posted["inputs"] if not i["indexed"]]
    assert data.index("pay") == 7, f"JobPosted data changed: {data}"


def _abi_type(item: dict[str, Any]) -> str:
    t = item["type"]
    if t.startswith("tuple"):
        return "(" + ",".join(_abi_type(c) for c in item["components"]) + ")" + t[5:]
    return t


def _calldata(fn: str, *args: Any) -> bytes:
    types, sig = _FN[fn]
    return keccak(text=sig)[:4] + encode(types, list(args))


@functools.cache
def _address(word: bytes) -> str:
    return to_checksum_address(word[12:])


def _logs(receipts: list[TxReceipt], name: str) -> list[tuple[int, str, bytes]]:
    """(first indexed word as an int, second as an address or "", data) of every ``name``
    event of the market in ``receipts``."""
    out = []
    topic = _TOPIC[name]
    for r in receipts:
        for log in r.logs:
            t = log["topics"]
            if t and bytes(t[0]) == topic:
                who = _address(bytes(t[2])) if len(t) > 2 else ""
                out.append((int.from_bytes(t[1], "big"), who, bytes(log["data"])))
    return out


def _commitment(job_id: int, who: str, digest: bytes, salt: bytes) -> bytes:
    """``keccak256(abi_encode(job_id, provider, digest, salt))`` (what ``market.commitment``
    computes, without its per-call address checksum)."""
    return keccak(job_id.to_bytes(32, "big") + bytes(12) + bytes.fromhex(who[2:]) + digest + salt)


@dataclass
class Scenario:
    """One run of the stream; the provider under test cheats on ``rate`` of its jobs."""

    rate: float
    worker_jobs: int = 0
    audits_done: int = 0  # as auditor or tie-breaker
    executions: int = 0  # actually computed
    cheated: int = 0
    slashed: int = 0
    slashed_amount: int = 0
    compute_cost: int = 0
    deactivated_at_job: int | None = None
    owed: int = 0
    stake_left: int = 0
    net: int = 0
    total_audits: int = 0
    ties: int = 0
    refunded: int = 0
    settled: int = 0
    blocks: int = 0
    drawn_while_inactive: int = 0  # assignments after deactivation: must stay 0
    seconds: float = 0.0
    all_executions: dict[str, int] = field(default_factory=lambda: defaultdict(int))


class _World:
    """Anvil with the protocol, six providers, a requester and a keeper."""

    def __init__(self) -> None:
        self.node = start_anvil(extra=[
            "--timestamp", str(GENESIS), "--block-base-fee-per-gas", "0", "--prune-history", "64",
            "--order", "fifo", "--gas-limit", "1000000000",
        ])
        self.chain: Chain = connect(self.node.url)
        self.rpc("anvil_setBlockTimestampInterval", 2)
        dep = deploy_devnet(self.chain)
        self.m = Market(dep)
        s = self.chain.dev_signers
        self.by_addr: dict[str, Signer] = {x.address: x for x in s}
        for i in (*HONEST, TESTED):
            self.m.register(s[i], kinds=[1], price=PRICE, stake=STAKE)
        self.tested = s[TESTED].address
        self.req, self.keeper = s[REQUESTER], s[KEEPER]
        self.m.deposit(500_000 * E18, self.req)
        self.market = self.m.contract
        _check_abi(self.market.abi)
        # from here on, one block per phase (all commits, then all reveals ...), mined by us:
        # anvil's cost is mostly per block, and no phase needs more than one
        self.rpc("evm_setAutomine", False)

    def rpc(self, method: str, *params: Any) -> Any:
        return self.chain.w3.provider.make_request(method, list(params))  # type: ignore[arg-type]

    def stop(self) -> None:
        self.node.stop()


def _stream(n_jobs: int) -> list[tuple[Any, ...]]:
    rng = random.Random(SEED)
    return [
        (1, MODEL, keccak(b"econ input %d" % i), rng.randint(*UNITS), 1, PRICE, 1, AUDIT_BPS, 3_600)
        for i in range(n_jobs)
    ]


def _good(job_id: int) -> bytes:
    return keccak(b"the right answer to job %d" % job_id)


def _salt(job_id: int, who: str) -> bytes:
    return keccak(b"econ salt" + job_id.to_bytes(32, "big") + bytes.fromhex(who[2:]))


# where an open job stands, from this module's side (the chain holds the truth)
ASSIGNED, COMMITTED, OPENED, UNAUDITED, AUDIT_COMMITTED, TIE, TIE_COMMITTED = range(7)


class _Run:
    """Plays the providers and the keeper, one block at a time. Every block carries every
    phase at once, as a live market's would: this round's posts, the previous round's
    commits, the reveals (or audit openings) of the round before, and so on — so a job takes
    3 blocks unaudited, 5 audited, 7 with a tie-break, and each block holds about one round."""

    def __init__(self, w: _World, sc: Scenario) -> None:
        self.w, self.sc = w, sc
        self.pay: dict[int, int] = {}
        self.digest: dict[tuple[int, str], bytes] = {}
        self.stage: dict[int, int] = {}
        self.worker: dict[int, str] = {}
        self.auditor: dict[int, str] = {}
        self.tiebreaker: dict[int, str] = {}
        self.posted = 0
        self.blocks = 0
        self.inactive_since_block: int | None = None

    # -- the providers' behaviour --------------------------------------------------
    def work(self, job_id: int, who: str) -> bytes:
        """What ``who`` commits for ``job_id``: it computes (and pays C) or cheats."""
        key = (job_id, who)
        if key not in self.digest:
            if who == self.w.tested and cheats_on(who, job_id, self.sc.rate):
                self.sc.cheated += 1
                self.digest[key] = keccak(b"forged" + bytes.fromhex(who[2:]) + job_id.to_bytes(32, "big"))
            else:
                self.sc.all_executions[who] += 1
                if who == self.w.tested:
                    self.sc.executions += 1
                    self.sc.compute_cost += int(COST_SHARE * self.pay[job_id])
                self.digest[key] = _good(job_id)
        return self.digest[key]

    # -- sending ----------------------------------------------------------------------
    def tx(self, fn: str, gas: int, *args: Any) -> dict[str, Any]:
        return {"to": self.w.market.address, "data": _calldata(fn, *args), "gas": gas}

    def send_all(self, txs: list[tuple[Signer, dict[str, Any]]]) -> list[TxReceipt]:
        """Submit every transaction (several accounts, in this order), mine them in one block,
        return the receipts."""
        pend = [(s, self.w.chain.sender(s).submit(tx)) for s, tx in txs]
        self.w.rpc("evm_mine")
        self.blocks += 1
        # receipts by JSON-RPC batch, one per account (``settle``): web3's per-receipt
        # formatting of hundreds of logs would cost more than the node's work
        senders = {s.address: self.w.chain.sender(s) for s, _ in txs}
        while any(p.outcome is None for _, p in pend):
            if not sum(x.settle() for x in senders.values()):
                time.sleep(0.002)
        for _, p in pend:
            if not isinstance(p.outcome, TxReceipt):
                raise p.outcome  # type: ignore[misc]
        return [p.outcome for _, p in pend]  # type: ignore[misc]

    def audited(self, ids: list[int]) -> set[int]:
        """The contract's audit draw for jobs committed in the last block, as the next block
        will see it (one JSON-RPC batch of calls on the pending block)."""
        to = self.w.market.address
        calls = [("eth_call", [{"to": to, "data": "0x" + _calldata("is_audited", j).hex()}, "pending"]) for j in ids]
        answers = self.w.chain.w3.provider.make_batch_request(calls)  # type: ignore[attr-defined]
        return {j for j, a in zip(ids, answers, strict=True) if int(a["result"], 16)}

    # -- one block -------------------------------------------------------------------------
    def block(self, specs: list[tuple[Any, ...]]) -> None:
        """Post ``specs`` (may be none) and move every open job one step, in one block."""
        w, sc = self.w, self.sc
        fresh = [j for j, st in self.stage.items() if st == COMMITTED]
        drawn = self.audited(fresh) if fresh else set()
        commits: dict[str, list[int]] = defaultdict(list)
        reveals: dict[str, list[int]] = defaultdict(list)
        opens: list[int] = []
        for j, st in sorted(self.stage.items()):
            if st == ASSIGNED:
                commits[self.worker[j]].append(j)
            elif st == COMMITTED and j in drawn:
                opens.append(j)
            elif st in (COMMITTED, UNAUDITED):
                reveals[self.worker[j]].append(j)
            elif st == OPENED:
                commits[self.auditor[j]].append(j)
            elif st == AUDIT_COMMITTED:
                reveals[self.worker[j]].append(j)
                reveals[self.auditor[j]].append(j)
            elif st == TIE:
                commits[self.tiebreaker[j]].append(j)
            elif st == TIE_COMMITTED:
                reveals[self.tiebreaker[j]].append(j)
        txs = [
            (w.req, self.tx("post_many", _gas(280_000, len(chunk)), chunk))
            for chunk in (specs[k : k + POST_MANY] for k in range(0, len(specs), POST_MANY))
        ]
        n_post = len(txs)
        txs += [(w.keeper, self.tx("open_audit", 400_000, j)) for j in opens]
        for who, js in commits.items():
            cs = [_commitment(j, who, self.work(j, who), _salt(j, who)) for j in js]
            txs.append((w.by_addr[who], self.tx("commit_many", _gas(70_000, len(js)), js, cs)))
        for who, js in reveals.items():
            ds = [self.work(j, who) for j in js]
            txs.append((w.by_addr[who], self.tx(
                "reveal_many", _gas(260_000, len(js)), js, ds, ds, [_salt(j, who) for j in js])))
        receipts = self.send_all(txs)
        # what happened, from the logs
        for j, _, d in _logs(receipts[:n_post], "JobPosted"):
            # data: kind, policy, param, model, input, units, items, pay, deadline
            self.pay[j] = int.from_bytes(d[7 * 32 : 8 * 32], "big")
        settled = {j for j, _, _ in _logs(receipts, "Settled")}
        sc.settled += len(settled)
        sc.refunded += len(_logs(receipts, "Refunded"))
        tested_word = int(w.tested, 16)
        for provider_word, _, d in _logs(receipts, "Slashed"):  # Slashed(provider indexed, job_id indexed, ...)
            if provider_word == tested_word:
                sc.slashed += 1
                sc.slashed_amount += int.from_bytes(d[:32], "big")
        opened = {j: who for j, who, _ in _logs(receipts[n_post : n_post + len(opens)], "AuditOpened")}
        assigned = [(j, who, int.from_bytes(d[32:64], "big")) for j, who, d in _logs(receipts, "Assigned")]
        for js in commits.values():
            for j in js:
                self.stage[j] = {ASSIGNED: COMMITTED, OPENED: AUDIT_COMMITTED, TIE: TIE_COMMITTED}[self.stage[j]]
        for j in opens:
            if j in opened:
                self.stage[j], self.auditor[j] = OPENED, opened[j]
                sc.total_audits += 1
                if opened[j] == w.tested:
                    sc.audits_done += 1
            else:
                self.stage[j] = UNAUDITED  # nobody could audit it: it goes on unaudited
        for j, who, role in assigned:
            if who == w.tested and self.inactive_since_block is not None:
                sc.drawn_while_inactive += 1
            if role == 0:  # a new job
                self.stage[j], self.worker[j] = ASSIGNED, who
                if who == w.tested:
                    sc.worker_jobs += 1
            elif role == 2:  # a disagreement: the tie-breaker
                self.stage[j], self.tiebreaker[j] = TIE, who
                sc.ties += 1
                if who == w.tested:
                    sc.audits_done += 1
        for js in reveals.values():
            for j in js:
                if j in settled:
                    self.stage.pop(j, None)
                elif self.stage.get(j) != TIE:
                    raise AssertionError(f"job {j} was revealed and neither settled nor sent to a tie-break")
        for j in settled:
            self.stage.pop(j, None)
        self.posted += len(specs)
        if self.inactive_since_block is None and not w.m.provider(w.tested).active:
            self.inactive_since_block = self.blocks
            sc.deactivated_at_job = self.posted


def simulate(n_jobs: int, rates: list[float], log: Any = print) -> list[Scenario]:
    """Run the same stream of ``n_jobs`` once per cheating rate; a fresh, identical chain each time."""
    stream = _stream(n_jobs)
    out = []
    for rate in rates:
        t0 = time.perf_counter()
        w = _World()
        try:
            sc = Scenario(rate)
            run = _Run(w, sc)
            for k in range(0, n_jobs, ROUND):
                run.block(stream[k : k + ROUND])
            while run.stage:  # drain the pipeline
                run.block([])
                if run.blocks > n_jobs:
                    raise AssertionError(f"jobs never closed: {sorted(run.stage)[:5]}")
            p = w.m.provider(w.tested)
            sc.owed = w.m.owed(w.tested)
            sc.stake_left = p.stake + p.unbonding
            sc.net = sc.owed + sc.stake_left - STAKE - sc.compute_cost
            sc.blocks = run.blocks
        finally:
            w.stop()
        sc.seconds = time.perf_counter() - t0
        log(f"  cheat rate {rate:>4.0%}: net {sc.net / E18:+9.3f} tokens; worker on {sc.worker_jobs} jobs, "
            f"audited others {sc.audits_done}, computed {sc.executions}, cheated {sc.cheated}, "
            f"slashed {sc.slashed}x ({sc.slashed_amount / E18:.1f} tokens), stake left {sc.stake_left / E18:.1f}, "
            f"{'deactivated after job ' + str(sc.deactivated_at_job) if sc.deactivated_at_job else 'still active'}"
            f"; stream: {sc.settled} settled, {sc.refunded} refunded, {sc.total_audits} audits, "
            f"{sc.ties} tie-breaks, {sc.blocks} blocks ({sc.seconds:.0f}s)")
        out.append(sc)
    return out


def params() -> dict[str, float]:
    """The stream's economics under the default parameters, and the audit rate above which
    cheating on a job loses money in expectation: p >= C / (R + S)."""
    mean_pay = (UNITS[0] + UNITS[1]) / 2 * PRICE
    c = COST_SHARE * mean_pay
    r = mean_pay * (1 - COMPUTE_PARAMS["fee_bps"] / 10_000)
    s = STAKE * COMPUTE_PARAMS["slash_bps"] / 10_000
    return {"C": c, "R": r, "S": s, "p_min": c / (r + s), "p_min_no_stake": c / r}


if __name__ == "__main__":  # `make bench` runs every bench/*.py; this one only as part of compute.py
    pass
