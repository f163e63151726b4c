"""A hypothesis state machine over ``SubnetSettlement``, the contract that holds a subnet's emission
pool and pays its epochs: pools funded, emission rates set (too large, by a stranger), results
posted for any of 40 advanced epochs (unposted, rejected, already posted, not started) with random
leaves that follow the owner's cut and the prune rule or break them (sum, owner's leaf, a UID paid
to a stranger, prune candidate, leaf count), over the UIDs of the epoch (5 before the last one
registered, 6 after), signed by random subsets of the validators (exactly 2/3 of the permitted
stake, below it, out of order, a miner without a permit, an outsider), leaf disputes (expected to
reject iff ``check_leaves`` over the chain's data says the leaves are wrong), equivocation disputes,
claims (twice, with a bad proof, above a wrong total), finalize (the registry's prune candidate),
the immunity period changed, and time passing within and past the challenge window. A Python
model predicts every outcome, revert reasons included. After every step: the settlement holds
exactly its pools plus what its posted, non-rejected results have not yet paid; no result paid
more than its total; the registry holds exactly the hotkeys' stakes (a slash moves stake to the
disputer, never loses it); the token's supply moved only by the registrations' burns."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import boa
import pytest
from data_fixtures import account, now
from eth_utils import keccak
from hypothesis import strategies as st
from hypothesis.stateful import initialize, invariant, rule
from stateful_support import CountingMachine, fixed_addresses, run_reproducibly, stateful_settings
from subnet_fixtures import ONE, SUPPLY
from subnet_settlement_fixtures import (
    EMISSION,
    EPOCHS,
    IMMUNITY,
    WINDOW,
    SettlementWorld,
    deploy_settlement,
    settlement_lab,
)

from agora.subnet.settlement import (
    NO_PRUNE,
    QUORUM,  # (numerator, denominator) of the epoch's permitted stake
    EpochClaim,
    check_leaves,
    epoch_key,
    epoch_leaves,
    leaves_proof,
    leaves_root,
    prune_candidate,
)

MAX_EXAMPLES = 46
STEPS_PER_EXAMPLE = 50
MIN_TOTAL_STEPS = 2_000
SETTINGS = stateful_settings(MAX_EXAMPLES, STEPS_PER_EXAMPLE)

SS = "SubnetSettlement: "
SLASH_BPS = 1_000
BPS = 10_000
MASK128 = 2**128 - 1
SIZE = 6


@dataclass
class Deployment:
    sw: SettlementWorld
    funder: str
    disputer: str
    claimer: str
    stranger: str
    stranger_key: bytes
    epoch_block: dict  # epoch -> block it began in
    permits: dict  # epoch -> permit bitmap
    stake_at: dict  # epoch -> [stake of each UID at the block before the epoch]
    reg_at: list  # UID -> block of registration
    coldkey_of: list  # UID -> its owner
    size: dict  # epoch -> the UIDs its leaves cover (the subnet's size when it began)
    steps: list = field(default_factory=lambda: [0])
    stats: Counter = field(default_factory=Counter)


@pytest.fixture(scope="module")
def deployment():
    with boa.env.anchor():
        with fixed_addresses("test_subnet_settlement_stateful"):
            sw = deploy_settlement("ssm")
            funder = sw.w.fund(account("ssm-funder").address, 10**27)
            with boa.env.prank(funder):
                sw.token.approve(sw.s.address, 2**256 - 1)
            disputer = account("ssm-disputer").address
            claimer = account("ssm-claimer").address
            stranger = account("ssm-stranger")
        reg, net = sw.reg, sw.netuid
        blocks = {e: reg.epoch_block(net, e) for e in range(1, EPOCHS + 1)}
        yield Deployment(
            sw,
            funder,
            disputer,
            claimer,
            stranger.address,
            bytes(stranger.key),
            blocks,
            {e: reg.permits_at(net, e) for e in blocks},
            {e: [reg.stake_at(net, u, b - 1) for u in range(SIZE)] for e, b in blocks.items()},
            [reg.registered_at(net, u) for u in range(SIZE)],
            [reg.coldkey_of(net, u) for u in range(SIZE)],
            {e: _epoch_size(reg, net, e) for e in blocks},
        )


def _epoch_size(reg, net, e):
    """The UIDs epoch ``e``'s leaves cover: the size when it began."""
    return reg.epoch_size(net, e)


pick = st.integers(0, EPOCHS)
# the kinds of leaves a post tries: right (honest) or provably wrong in one way each
MODES = ("honest", "sum", "account", "owner", "count", "prune", "honest", "malformed")
modes = st.integers(0, len(MODES) - 1)
totals = st.sampled_from(["full", "part", "zero", "full", "part", "over"])
# which of the epoch's 3 permit holders sign (bit i: the i-th lowest UID with a permit; 8..15: all)
signer_sets = st.integers(0, 15)
weights_ = st.lists(st.integers(0, 4), min_size=SIZE, max_size=SIZE)


class SettlementMachine(CountingMachine):
    def __init__(self, dep: Deployment):
        super().__init__()
        self.dep = dep
        self.sw = dep.sw
        self.s = dep.sw.s
        self.r = dep.sw.reg
        self.net = dep.sw.netuid
        self._anchor = boa.env.anchor()
        self._anchor.__enter__()
        self.supply0 = self.sw.token.totalSupply()
        assert self.supply0 == SUPPLY - self.sw.burned
        self.pool = self.s.pool(self.net)
        self.rate = self.s.emission_per_epoch(self.net)
        self.results: dict = {}  # epoch -> its model
        self.stake = {h: self.r.hotkey_stake(self.net, h)[0] for h in self.sw.hotkeys}
        self.slashed = 0  # what the disputer earned
        self.paid_out: Counter = Counter()  # account -> claimed
        self.equivocated: set = set()  # (epoch, hotkey)
        self.prune = None
        self.attempts = 0
        self.played = 0
        self.disputer0 = self.sw.token.balanceOf(dep.disputer)
        self.balance0 = {a: self.sw.token.balanceOf(a) for a in self._payees()}

    def teardown(self):
        try:
            self._check(full=True)
        finally:
            self._anchor.__exit__(None, None, None)

    # --- plumbing --------------------------------------------------------------------
    def _payees(self):
        return sorted({*self.dep.coldkey_of, self.sw.subnet_owner, self.dep.stranger})



    def _pending(self, m) -> bool:
        return m is not None and m["status"] == 1 and now() < m["final_at"]

    def _final(self, m) -> bool:
        return m is not None and m["status"] == 1 and now() >= m["final_at"]

    def _wrong(self, e, m) -> str:
        """``check_leaves`` over the chain's data, as ``dispute_leaves`` would see it now."""
        return check_leaves(
            m["accounts"],
            m["amounts"],
            total=m["claim"].total,
            size=m["size"],
            subnet_owner=self.r.subnet_owner(self.net),
            coldkeys=self.dep.coldkey_of[: m["size"]],
            registered_at=self.dep.reg_at[: m["size"]],
            epoch_block=self.dep.epoch_block[e],
            immunity=self.r.hyperparams(self.net).immunity_period,
            prune_uid=m["claim"].prune_uid,
        )

    def _slash(self, hotkey) -> int:
        amount = self.stake[hotkey] * SLASH_BPS // BPS
        self.stake[hotkey] -= amount
        self.slashed += amount
        return amount

    # --- the pool and the parameters ----------------------------------------------------
    @rule(
        kind=st.integers(0, 9),
        amount=st.sampled_from([50 * ONE, 7, EMISSION * 3, 0]),
        rate=st.sampled_from([EMISSION, 10 * ONE, 3 * EMISSION, 0, 2**128]),
        bad=st.integers(0, 9),
    )
    def govern(self, kind, amount, rate, bad):
        """Anyone funds the pool (mostly), the subnet's owner sets the emission rate, or its
        immunity period (which moves under pending results: a dispute reads it as it is then)."""
        if kind <= 5:
            self._fund(amount, bad)
        elif kind <= 8:
            self._set_emission(rate, bad)
        else:
            which = (0, 1_000, IMMUNITY)[bad % 3]
            self.sw.w.set_params(self.sw.subnet_owner, self.net, immunity_period=which)
            self._count("immunity set")

    def _fund(self, amount, bad):
        net = 99 if bad == 9 else self.net
        if amount == 0:
            reason = SS + "zero amount"
        elif net != self.net:
            reason = SS + "unknown subnet"
        else:
            reason = None
        self._expect(reason, self.s.fund, net, amount, who=self.dep.funder)
        if reason is None:
            self.pool += amount
            self._count("funded")

    def _set_emission(self, rate, bad):
        stranger = bad >= 8
        who = self.dep.funder if stranger else self.sw.subnet_owner
        if stranger:
            reason = SS + "not the subnet owner"
        elif rate > MASK128:
            reason = SS + "emission too large"
        else:
            reason = None
        self._expect(reason, self.s.set_emission, self.net, rate, who=who)
        if reason is None:
            self.rate = rate
            self._count("emission set")

    # --- posting ------------------------------------------------------------------------
    @initialize()
    def first_post(self):
        """The latest epoch posted honestly, so that every example starts with a result."""
        self.post(where=0, k=0, mode="honest", tsel="full", w=[1, 2, 3, 4, 1, 0], signers=0b111, extra=0, seed=0)

    def _epoch_for(self, where, k):
        """Mostly an open epoch (a rejected one first, else unposted from the latest down),
        now and then one posted already (6), one not started (7), or any (8, 9)."""
        rejected = [e for e in sorted(self.results) if self.results[e]["status"] == 2]
        open_ = rejected + [e for e in range(EPOCHS, 0, -1) if e not in self.results]
        posted = [e for e in sorted(self.results) if self.results[e]["status"] == 1]
        if where <= 5 and open_:
            return open_[k % len(open_)] if where > 2 else open_[0]
        if where == 6 and posted:
            return posted[k % len(posted)]
        if where == 7:
            return (0, EPOCHS + 1)[k % 2]
        return k % EPOCHS + 1

    def _leaves(self, e, mode, tsel, w, seed):
        emission = min(self.rate, self.pool)
        total = {"full": emission, "part": emission // 3 + 1, "zero": 0, "over": emission + 1}[tsel]
        n = self.dep.size.get(e, SIZE)
        w = w[:n] if sum(w[:n]) else [1] * n
        shares = [x / sum(w) for x in w]
        accounts, amounts = epoch_leaves(self.dep.coldkey_of[:n], self.sw.subnet_owner, shares, total)
        immunity = self.r.hyperparams(self.net).immunity_period
        prune = prune_candidate(amounts[:n], self.dep.reg_at[:n], self.dep.epoch_block.get(e, 0), immunity)
        split = seed % 3
        claimed_total = total
        if mode == "sum":  # the claim's total is one below what its leaves add up to
            if total == 0:
                amounts[0] += 1
            else:
                claimed_total = total - 1
        elif mode == "account":  # a UID's leaf paid to a stranger
            accounts[seed % n] = self.dep.stranger
        elif mode == "prune":
            prune = (seed % (n + 1)) if seed % (n + 1) < n else NO_PRUNE
        elif mode == "owner":  # the owner's cut taken by UID 0
            amounts[0] += amounts[n]
            amounts[n] = 0
        elif mode == "count":  # the last UID's leaf merged into the owner's
            accounts = accounts[: n - 1] + accounts[n:]
            amounts = amounts[: n - 1] + [amounts[n - 1] + amounts[n]]
        elif mode == "malformed":
            if w[0] % 2:
                split = 3
            else:
                prune = n + seed % 3
        claim = EpochClaim(
            leaves_root(accounts, amounts),
            claimed_total,
            prune,
            keccak(text=f"state {e} {seed}"),
            keccak(text=f"consensus {e} {seed}"),
            seed * ONE,
            split,
        )
        return claim, accounts, amounts

    @rule(
        where=st.integers(0, 9),
        k=pick,
        mode=modes,
        tsel=totals,
        w=weights_,
        signers=signer_sets,
        extra=st.integers(0, 14),
        seed=st.integers(0, 20),
    )
    def post(self, where, k, mode, tsel, w, signers, extra, seed, epoch=None):
        dep = self.dep
        e = self._epoch_for(where, k) if epoch is None else epoch
        # the draw shifted by the attempts so far: every example tries each kind of leaves in turn
        mode = mode if isinstance(mode, str) else MODES[(mode + self.attempts) % len(MODES)]
        self.attempts += 1
        claim, accounts, amounts = self._leaves(e, mode, tsel, w, seed)
        permits = dep.permits.get(e, 0b111)
        holders = [u for u in range(SIZE) if permits >> u & 1]
        keys = [self.sw.keys[u] for j, u in enumerate(holders) if signers >= 8 or signers >> j & 1]
        if extra in (5, 7):  # a registered hotkey without a permit in that epoch
            keys.append(self.sw.keys[next(u for u in (1, 3, 4) if not permits >> u & 1)])
        elif extra == 8:
            keys.append(dep.stranger_key)  # not registered
        sigs = self.sw.signatures(e, claim, keys)
        signer_addrs = sorted((self._addr(k_) for k_ in keys), key=lambda a: int(a, 16))
        if extra == 9 and len(sigs) > 1:  # out of order
            sigs, signer_addrs = sigs[::-1], signer_addrs[::-1]
        elif extra == 6 and sigs:  # one signer twice
            sigs, signer_addrs = [*sigs, sigs[-1]], [*signer_addrs, signer_addrs[-1]]
        reason = self._post_reason(e, claim, signer_addrs)
        m = self.results.get(e)
        if reason is None and m is not None and m["status"] == 1:
            reason = "settlement: result already posted"
        self._expect(reason, self.s.post_epoch, self.net, e, claim.as_tuple(), sigs, who=dep.funder)
        if reason is not None:
            return
        self.pool -= claim.total
        self.results[e] = dict(
            status=1,
            claim=claim,
            accounts=accounts,
            amounts=amounts,
            signers=signer_addrs,
            final_at=now() + WINDOW,
            paid=0,
            claimed=set(),
            finalized=False,
            mode=mode,
            size=self.dep.size[e],
        )
        wrong = self._wrong(e, self.results[e])
        self._count("posted (provably wrong)" if wrong else "posted (checks out)")
        self._count(f"posted: {mode}")
        if self.dep.size[e] < SIZE:
            self._count("posted for an epoch before the last UID registered")
        if m is not None:
            self._count("reposted after a rejection")

    def _addr(self, key):
        if key == self.dep.stranger_key:
            return self.dep.stranger
        return self.sw.hotkeys[self.sw.keys.index(key)]

    def _post_reason(self, e, claim, signer_addrs):
        """The contract's checks, in its order."""
        if e == 0 or e > EPOCHS:
            return SS + "epoch not started"
        if claim.total > min(self.rate, self.pool):
            return SS + "total above the epoch's emission"
        if not (claim.prune_uid < self.dep.size[e] or claim.prune_uid == NO_PRUNE):
            return SS + "bad prune UID"
        if claim.split > 2:
            return SS + "bad split"
        permits, stakes = self.dep.permits[e], self.dep.stake_at[e]
        last, signed = 0, 0
        for a in signer_addrs:
            if int(a, 16) <= last:
                return SS + "signers not in ascending order"
            last = int(a, 16)
            if a not in self.sw.hotkeys:
                return SS + "signer not registered"
            uid = self.sw.hotkeys.index(a)
            if not permits >> uid & 1:
                return SS + "signer has no permit in that epoch"
            signed += stakes[uid]
        permitted = sum(stakes[u] for u in range(SIZE) if permits >> u & 1)
        if permitted == 0 or signed * QUORUM[1] < permitted * QUORUM[0]:
            return SS + "below the quorum"
        if signed * QUORUM[1] == permitted * QUORUM[0]:
            self._count("signed by exactly the quorum")
        return None

    # --- disputes -----------------------------------------------------------------------
    @rule(k=pick, how=st.integers(0, 9), aim=st.integers(0, 3))
    def dispute_leaves(self, k, how, aim):
        pending = [e for e in sorted(self.results) if self._pending(self.results[e])]
        wrong = [e for e in pending if self._wrong(e, self.results[e])]
        others = [e for e in sorted(self.results) if not self._pending(self.results[e])]
        if how == 9 and others:
            e = others[k % len(others)]
        elif aim != 3 and wrong:
            e = wrong[k % len(wrong)]
        elif pending:
            e = pending[k % len(pending)]
        elif self.results:
            e = sorted(self.results)[k % len(self.results)]
        else:
            return
        self._dispute(e, how, k)

    def _dispute(self, e, how, k=0):
        m = self.results[e]
        accounts, amounts, signers = list(m["accounts"]), list(m["amounts"]), list(m["signers"])
        if how == 7:
            signers = signers[:-1]
        elif how == 8:
            amounts[k % len(amounts)] += 1
        if not self._pending(m):
            reason = SS + "no pending result"
        elif signers != m["signers"]:
            reason = SS + "not the posted signers"
        elif amounts != m["amounts"]:
            reason = SS + "leaves do not match the root"
        else:
            why = self._wrong(e, m)
            reason = None if why else SS + "the result checks out"
        before = self.sw.token.balanceOf(self.dep.disputer)
        got = self._expect(
            reason, self.s.dispute_leaves, self.net, e, accounts, amounts, signers, who=self.dep.disputer
        )
        if reason is not None:
            return
        assert got == why
        m["status"] = 2
        self.pool += m["claim"].total
        gain = sum(self._slash(h) for h in signers)
        assert self.sw.token.balanceOf(self.dep.disputer) - before == gain
        self._count(f"disputed: {why}")

    @rule(k=pick, who=st.integers(0, 5), same=st.integers(0, 9), n=st.integers(0, 2), unposted=st.integers(0, 9))
    def dispute_equivocation(self, k, who, same, n, unposted):
        if unposted >= 8 or not self.results:
            e = next(e for e in range(1 + k % EPOCHS, EPOCHS + 2) if e not in self.results)
        else:
            e = sorted(self.results)[k % len(self.results)]
        m = self.results.get(e)
        key = self.sw.keys[who] if who < 5 else self.dep.stranger_key
        hotkey = self._addr(key)
        if same == 9 and m is not None:
            other = m["claim"]
        else:
            base = m["claim"] if m is not None else EpochClaim(b"\x01" * 32, 0, NO_PRUNE)
            other = EpochClaim(
                keccak(text=f"other {e} {n}"),
                base.total,
                base.prune_uid,
                base.state,
                base.consensus_root,
                base.rank_sum,
                base.split,
            )
        sig = self.sw.sign(key, e, other)
        if m is None:
            reason = SS + "nothing posted"
        elif other == m["claim"]:
            reason = SS + "the same result"
        elif (e, hotkey) in self.equivocated:
            reason = SS + "already slashed"
        elif hotkey not in self.sw.hotkeys:
            reason = SS + "signer not registered"
        elif not self.dep.permits[e] >> self.sw.hotkeys.index(hotkey) & 1:
            reason = SS + "not a validator then"
        else:
            reason = None
        before = self.sw.token.balanceOf(self.dep.disputer)
        self._expect(reason, self.s.dispute_equivocation, self.net, e, other.as_tuple(), sig, who=self.dep.disputer)
        if reason is None:
            self.equivocated.add((e, hotkey))
            gain = self._slash(hotkey)
            assert self.sw.token.balanceOf(self.dep.disputer) - before == gain
            self._count("equivocation slashed" + (" (after the result was rejected)" if m["status"] == 2 else ""))

    # --- after the window ---------------------------------------------------------------
    @rule(k=pick, i=st.integers(0, SIZE), how=st.integers(0, 9))
    def claim(self, k, i, how):
        final = [e for e in sorted(self.results) if self._final(self.results[e])]
        ahead = sorted(m["final_at"] for m in self.results.values() if self._pending(m))
        if not final and ahead and how == 4:  # wait for the first pending result to be final
            boa.env.time_travel(seconds=ahead[0] - now())
            final = [e for e in sorted(self.results) if self._final(self.results[e])]
        if final and how != 6:
            e = final[k % len(final)]
        elif self.results:
            e = sorted(self.results)[k % len(self.results)]
        else:
            return
        m = self.results[e]
        n = len(m["amounts"])
        if how == 5:  # every leaf still unclaimed, in turn
            for j in range(n):
                if j not in m["claimed"]:
                    self._claim(e, m, j, 0)
            self._count("swept")
        else:
            self._claim(e, m, i % n, how)
            if how == 9:  # and again
                self._claim(e, m, i % n, 0)

    def _claim(self, e, m, i, how):
        accounts, amounts = m["accounts"], m["amounts"]
        index, account_, amount, proof = i, accounts[i], amounts[i], leaves_proof(accounts, amounts, i)
        if how == 7:
            amount += 1
        elif how == 8:
            index = i + 1
        if not self._final(m):
            reason = "settlement: result not final"
        elif index in m["claimed"]:
            reason = "settlement: already claimed"
        elif how in (7, 8):
            reason = "settlement: bad proof"
        elif m["paid"] + amount > m["claim"].total:
            reason = "settlement: above the total"
        else:
            reason = None
        self._expect(reason, self.s.claim, self.net, e, index, account_, amount, proof, who=self.dep.claimer)
        if reason is None:
            m["paid"] += amount
            m["claimed"].add(index)
            self.paid_out[account_] += amount
            self._count("claimed")

    @rule(k=pick, latest=st.integers(0, 1))
    def finalize(self, k, latest):
        if not self.results:
            return
        if latest == 0 and EPOCHS in self.results:
            e = EPOCHS
        else:
            e = sorted(self.results)[k % len(self.results)]
        self._finalize(e)

    def _finalize(self, e):
        m = self.results[e]
        if not self._final(m):
            reason = SS + "result not final"
        elif m["finalized"]:
            reason = SS + "already finalized"
        else:
            reason = None
        self._expect(reason, self.s.finalize, self.net, e, who=self.dep.claimer)
        if reason is None:
            m["finalized"] = True
            if m["claim"].prune_uid != NO_PRUNE and e == EPOCHS:
                self.prune = m["claim"].prune_uid
                self._count("finalized (prune candidate set)")
            else:
                self._count("finalized")

    @rule(how=st.integers(0, 4))
    def time_passes(self, how):
        """Within the window, past it, or to the second a pending result becomes final."""
        ahead = sorted(m["final_at"] for m in self.results.values() if m["status"] == 1 and m["final_at"] > now())
        if how == 4 and ahead:
            boa.env.time_travel(seconds=ahead[0] - now())
        else:
            boa.env.time_travel(seconds=(WINDOW // 4, WINDOW + 1, 2 * WINDOW, 1)[how % 4])

    @rule(odd=st.integers(0, 9), k=pick, mode=modes, w=weights_, seed=st.integers(0, 20), i=st.integers(0, SIZE))
    def play(self, odd, k, mode, w, seed, i):
        """What the newest live result calls for, mostly done right (hypothesis runs each example
        with a random subset of the rules, so one rule carries results through their life): a
        rejected epoch posted again; a pending result disputed if it is wrong (now and then left
        to become final), else its window waited out; a final one claimed leaf by leaf (now and
        then twice, or with a bad proof) and finalized; with nothing live, a new result posted."""
        now_ = now()
        rejected = [e for e in sorted(self.results) if self.results[e]["status"] == 2]
        pending = sorted((m["final_at"], e) for e, m in self.results.items() if self._pending(m))
        final = [
            e
            for e, m in sorted(self.results.items())
            if self._final(m) and (not m["finalized"] or len(m["claimed"]) < len(m["amounts"]))
        ]
        if rejected and odd < 4:
            self.post(where=0, k=k, mode=mode, tsel="full", w=w, signers=15, extra=0, seed=seed)
        elif pending:
            final_at, e = pending[-1]
            m = self.results[e]
            if odd == 7:  # posted again while pending
                posted = [x for x in sorted(self.results) if self.results[x]["status"] == 1]
                self.post(where=6, k=posted.index(e), mode=mode, tsel="part", w=w, signers=15, extra=0, seed=seed)
            elif self._wrong(e, m) and odd != 9:
                self._dispute(e, 0)
            elif odd == 8:
                self._dispute(e, 0)  # checks out
            else:
                boa.env.time_travel(seconds=final_at - now_)
        elif final:
            e = final[k % len(final)]
            m = self.results[e]
            unclaimed = [j for j in range(len(m["amounts"])) if j not in m["claimed"]]
            if unclaimed and odd < 7:
                for j in unclaimed[: 1 + odd]:
                    self._claim(e, m, j, 0)
                if odd in (1, 2):
                    self._claim(e, m, (unclaimed + [i])[i % len(unclaimed)], (9, 7)[odd - 1])
            else:
                self._finalize(e)
        else:  # each kind of leaves in turn
            self.played += 1
            exact = self.played % 3 == 2  # validators 0 and 1, in an epoch where they hold exactly 2/3
            self.post(
                where=3,
                k=k,
                mode=MODES[self.played % len(MODES)],
                tsel=("full", "part", "zero")[odd % 3],
                w=w,
                signers=3 if exact else 15,
                extra=0,
                seed=seed,
                epoch=next((e for e in range(1 + k % 20, 21) if e not in self.results), None) if exact else None,
            )

    # --- the books ----------------------------------------------------------------------------
    @invariant()
    def books(self):
        self.dep.steps[0] += 1  # once per step (hypothesis checks invariants after each rule)
        self._check()

    def _check(self, full=False):
        s, r, token, net = self.s, self.r, self.sw.token, self.net
        owed = 0
        for e, m in sorted(self.results.items()):
            res = s.result(epoch_key(self.net, e))
            assert (res.root, res.total, res.paid, res.status, res.final_at) == (
                m["claim"].root,
                m["claim"].total,
                m["paid"],
                m["status"],
                m["final_at"],
            )
            assert res.paid <= res.total
            if res.status == 1:
                owed += res.total - res.paid
        pool = s.pool(net)
        assert pool == self.pool and s.emission_per_epoch(net) == self.rate
        assert token.balanceOf(s.address) == pool + owed
        stakes = [r.hotkey_stake(net, h)[0] for h in self.sw.hotkeys]
        assert stakes == [self.stake[h] for h in self.sw.hotkeys]
        assert token.balanceOf(r.address) == sum(stakes)
        assert token.totalSupply() == self.supply0
        assert token.balanceOf(self.dep.disputer) == self.disputer0 + self.slashed
        assert tuple(r.prune_candidate(net)) == ((False, 0) if self.prune is None else (True, self.prune))
        if full:
            for a in self._payees():
                assert token.balanceOf(a) == self.balance0[a] + self.paid_out[a]
            for e, m in self.results.items():
                for j in range(len(m["amounts"]) + 1):
                    assert s.claimed(epoch_key(self.net, e), j) == (j in m["claimed"])


def test_subnet_settlement_keeps_the_books(deployment):
    run_reproducibly(lambda: SettlementMachine(deployment), SETTINGS)
    stats = deployment.stats
    print(deployment.steps, sorted(stats.items()))
    assert deployment.steps[0] >= MIN_TOTAL_STEPS, deployment.steps
    for what in (
        "funded",
        "emission set",
        "posted (checks out)",
        "posted (provably wrong)",
        "reposted after a rejection",
        "signed by exactly the quorum",
        "posted for an epoch before the last UID registered",
        "claimed",
        "finalized",
        "finalized (prune candidate set)",
        "equivocation slashed",
        "disputed: the leaves do not sum to the total",
        "disputed: the subnet owner's leaf is wrong",
        "disputed: a UID is paid to someone other than its owner",
        "disputed: the prune candidate is not the lowest-paid non-immune UID",
        "disputed: not one leaf per UID plus the owner's",
    ):
        assert stats[what] >= 3, (what, stats)
    for reason in (
        SS + "below the quorum",
        SS + "epoch not started",
        SS + "total above the epoch's emission",
        SS + "signers not in ascending order",
        SS + "signer not registered",
        SS + "signer has no permit in that epoch",
        "settlement: result already posted",
        SS + "the result checks out",
        SS + "not the posted signers",
        SS + "no pending result",
        SS + "leaves do not match the root",
        SS + "the same result",
        SS + "already slashed",
        SS + "not a validator then",
        SS + "nothing posted",
        "settlement: result not final",
        "settlement: already claimed",
        "settlement: bad proof",
        "settlement: above the total",
        SS + "result not final",
        SS + "already finalized",
    ):
        assert stats[f"revert: {reason}"] >= 3, (reason, stats)


def test_post_and_claim_gas():
    """``post_epoch`` signed by the 3 validators over 7 leaves (6 UIDs and the owner), and the
    median ``claim`` of one leaf, as transactions (cold slots, 21,000 base, calldata, no refunds).
    The post is an epoch's first: its result's and ``Posted``'s slots go from zero to non-zero (a
    post that replaces a rejected result rewrites them, for much less)."""
    with settlement_lab() as sw:
        e = 20  # validators 0..2 hold the permits; every UID but miner 5 (immune) may be pruned
        total = min(sw.s.emission_per_epoch(sw.netuid), sw.s.pool(sw.netuid))
        accounts, amounts = epoch_leaves(
            [sw.reg.coldkey_of(sw.netuid, u) for u in range(SIZE)],
            sw.subnet_owner,
            [0.3, 0.2, 0.1, 0.2, 0.15, 0.05],
            total,
        )
        reg_at = [sw.reg.registered_at(sw.netuid, u) for u in range(SIZE)]
        prune = prune_candidate(amounts[:SIZE], reg_at, sw.reg.epoch_block(sw.netuid, e), IMMUNITY)
        claim = EpochClaim(
            leaves_root(accounts, amounts), total, prune, keccak(text="state"), keccak(text="consensus"), 3 * ONE, 2
        )
        sigs = sw.signatures(e, claim, sw.keys[:3])
        poster = sw.staker
        post_gas = sw.w.gas(poster, sw.s.post_epoch, sw.netuid, e, claim.as_tuple(), sigs)
        assert sw.s.result(epoch_key(sw.netuid, e)).total == total
        boa.env.time_travel(seconds=WINDOW)
        claim_gas = []
        for i in range(SIZE + 1):
            claim_gas.append(
                sw.w.gas(
                    poster, sw.s.claim, sw.netuid, e, i, accounts[i], amounts[i], leaves_proof(accounts, amounts, i)
                )
            )
        assert sw.s.result(epoch_key(sw.netuid, e)).paid == total
        claim_median = sorted(claim_gas)[len(claim_gas) // 2]
        print(
            f"gas_epoch_settle (post_epoch, 3 signers, 7 leaves): {post_gas}; "
            f"gas_emission_claim (median claim): {claim_median} {claim_gas}"
        )
        assert post_gas < 500_000 and claim_median < 100_000
