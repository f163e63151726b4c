"""A hypothesis state machine over one ``SubnetRegistry`` subnet (4 UIDs, 8 hotkeys competing for
them, 3 stakers): registrations with a rising and decaying burn and pruning (the settler's
candidate, the oldest non-immune UID, or none when every UID is immune), stake added and removed
by shares, slashes paid out or burnt (100% included), epochs with top-k permits, weights committed
and revealed (right, tampered, too early, too late, malformed), and blocks passing. A Python model
predicts every outcome, revert reasons included. After every step: the registry holds exactly the
sum of the stakes; no staker can claim more than its hotkey's stake; no two UIDs share a hotkey;
the size stays within max_uids; the token's supply fell by exactly what was burnt."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import boa
import pytest
from hypothesis import strategies as st
from hypothesis.stateful import initialize, invariant, rule
from stateful_support import CountingMachine, fixed_addresses, run_reproducibly, stateful_settings
from subnet_fixtures import (
    ONE,
    U16_MAX,
    ZERO,
    SubnetWorld,
    account,
    block_number,
    commit_hash,
    deploy_subnets,
    mine,
)

# many short examples rather than a few long ones: hypothesis switches random subsets of the rules
# off per example ("swarm testing"), so the rare paths are reached only across many examples
MAX_EXAMPLES = 140
STEPS_PER_EXAMPLE = 16
MIN_TOTAL_STEPS = 2_000
SETTINGS = stateful_settings(MAX_EXAMPLES, STEPS_PER_EXAMPLE)

TEMPO = 3
MAX_UIDS = 4
IMMUNITY = 3
VALIDATORS = 2
RATE = 2
MAX_WEIGHT = 40_000
MIN_BURN = ONE // 10
MAX_BURN = ONE
RISE_BPS = 2_600
HALF_LIFE = 8
FUNDS = 10**24

FROZEN = "SubnetRegistry: stake frozen until the next block"


@dataclass
class Deployment:
    w: SubnetWorld
    netuid: int
    hotkeys: list
    coldkeys: list
    stakers: list
    victim: str
    steps: list = field(default_factory=lambda: [0])
    stats: Counter = field(default_factory=Counter)


@pytest.fixture(scope="module")
def deployment():
    with boa.env.anchor():
        with fixed_addresses("test_subnet_registry_stateful"):
            w = deploy_subnets()
            owner = w.fund(account("sm-subnet-owner").address)
            netuid = w.subnet(owner, tempo=TEMPO, max_uids=MAX_UIDS, immunity=IMMUNITY, min_burn=MIN_BURN,
                              max_burn=MAX_BURN, max_allowed_validators=VALIDATORS, weights_rate_limit=RATE,
                              max_weight_limit=MAX_WEIGHT, burn_rise_bps=RISE_BPS, burn_half_life=HALF_LIFE)
            hotkeys = [account(f"sm-hotkey-{i}").address for i in range(8)]
            coldkeys = [w.fund(account(f"sm-coldkey-{i}").address, FUNDS) for i in range(2)]
            stakers = [w.fund(account(f"sm-staker-{i}").address, FUNDS) for i in range(3)]
            victim = account("sm-victim").address
        yield Deployment(w, netuid, hotkeys, coldkeys, stakers, victim)


hk = st.integers(0, 7)          # small ranges: hypothesis draws them about uniformly
who_ = st.integers(0, 2)
# hypothesis favours the first element of a list and 0 of a range: those are the common paths
amounts = st.sampled_from([ONE, 10**15, 7 * ONE + 3, 1, 0])
bps_ = st.sampled_from([2_500, 10_000, 1, 9_999, 0, 10_001])
blocks = st.sampled_from([1, 1, 2, 3, 5, 9])
# rows of 2..5 relative weights: a row with one weight above 61% of its sum breaks the max-weight limit
weights_ = st.lists(st.integers(1, 4), min_size=2, max_size=MAX_UIDS)


class SubnetMachine(CountingMachine):
    def __init__(self, dep: Deployment):
        super().__init__()
        self.dep = dep
        self.w = dep.w
        self.r = dep.w.reg
        self.net = dep.netuid
        self._anchor = boa.env.anchor()
        self._anchor.__enter__()
        self.supply0 = self.w.token.totalSupply()
        self.uids: list = []            # uid -> hotkey
        self.reg_at: list = []          # uid -> block
        self.reg_epoch: list = []       # uid -> epoch it registered in
        self.stake: Counter = Counter()                 # hotkey -> tokens
        self.shares: dict = {}                          # hotkey -> Counter(staker -> shares)
        self.burn_value = MIN_BURN
        self.burn_block = block_number()
        self.burned = 0
        self.epoch = 0
        self.epoch_blk = self.r.epoch_block(self.net, 0)
        self.permits = 0
        self.prune = None
        self.commits: dict = {}         # uid -> dict(uids, values, salt, epoch, pending)
        self.last_commit: dict = {}     # uid -> block
        self.rows: dict = {}            # uid -> dense weights
        self.salt_n = 0

    def teardown(self):
        try:
            self._check(full=True)
        finally:
            self._anchor.__exit__(None, None, None)

    # --- helpers -------------------------------------------------------------------------------

    def _frozen(self) -> bool:
        return self.epoch > 0 and self.epoch_blk == block_number()

    def _hotkey(self, h: int, anyone: int) -> str:
        """Mostly a registered hotkey (one of the 8 now and then, registered or not)."""
        if self.uids and anyone != 5:
            return self.uids[h % len(self.uids)]
        return self.dep.hotkeys[h % len(self.dep.hotkeys)]

    def _uid_of(self, hotkey):
        return self.uids.index(hotkey) if hotkey in self.uids else None

    def _current_burn(self) -> int:
        v, lo = self.burn_value, MIN_BURN
        if v <= lo:
            return lo
        since = block_number() - self.burn_block
        h = since // HALF_LIFE
        if h >= 128:
            return lo
        ex = (v - lo) >> h
        return lo + ex - ex * (since % HALF_LIFE) // (2 * HALF_LIFE)

    def _immune(self, uid) -> bool:
        return block_number() - self.reg_at[uid] < IMMUNITY

    def _prune_target(self):
        if self.prune is not None and not self._immune(self.prune):
            return self.prune, "candidate"
        free = [u for u in range(len(self.uids)) if not self._immune(u)]
        if not free:
            return None, None
        return min(free, key=lambda u: (self.reg_at[u], u)), "fallback"

    def _total_shares(self, hotkey) -> int:
        return sum(self.shares.get(hotkey, Counter()).values())

    # --- rules ---------------------------------------------------------------------------------
    @initialize()
    def seed(self):
        """Three neurons with stake and a first epoch, so that the rules start from a live subnet."""
        for i in range(3):
            self.register(h=0, c=0, tight=0, again=0)
            self.add_stake(h=i, s=i, amount=(i + 1) * ONE, anyone=0)
        self.advance_epoch(wait=0, then=0)

    @rule(h=hk, c=who_, tight=st.integers(0, 3), again=st.integers(0, 5), leave=st.integers(0, 2))
    def register(self, h, c, tight, again, leave=2):
        free = [k for k in self.dep.hotkeys if k not in self.uids]
        hotkey = free[h % len(free)] if again != 5 else self._hotkey(h, 0)
        cold = self.dep.coldkeys[c % 2]
        burn = self._current_burn()
        assert self.r.current_burn(self.net) == burn
        tight = tight == 3 and burn > 0
        uid, how = len(self.uids), "appended"
        if hotkey in self.uids:
            reason = "SubnetRegistry: hotkey already registered"
        elif tight:
            reason = "SubnetRegistry: burn above max_burn"
        else:
            reason = None
            if len(self.uids) == MAX_UIDS:
                uid, how = self._prune_target()
                if uid is None:
                    reason = "SubnetRegistry: every UID is immune"
            if reason is None:
                old = self.stake[self.uids[uid]] if uid < len(self.uids) else 0
                if old != self.stake[hotkey] and self._frozen():
                    reason = FROZEN
        got = self._expect(reason, self.r.register, self.net, hotkey, burn - 1 if tight else burn, who=cold)
        if reason is not None:
            return
        assert got == uid
        if uid == len(self.uids):
            self.uids.append(hotkey)
            self.reg_at.append(0)
            self.reg_epoch.append(0)
        else:
            self.commits.pop(uid, None)
            self.last_commit.pop(uid, None)
            self.rows.pop(uid, None)
            if self.prune == uid:
                self.prune = None
            replaced = self.uids[uid]
            self.uids[uid] = hotkey
        self.reg_at[uid] = block_number()
        self.reg_epoch[uid] = self.epoch
        self.burned += burn
        self.burn_value = min(burn * (10_000 + RISE_BPS) // 10_000, MAX_BURN)
        self.burn_block = block_number()
        self._count(f"registered ({how})")
        if how != "appended" and leave == 0:      # a staker of the pruned hotkey leaves at once
            for staker, held in sorted(self.shares.get(replaced, Counter()).items()):
                if held:
                    self._remove(replaced, staker, held)
                    break

    @rule(h=hk, s=who_, amount=amounts, anyone=st.integers(0, 5))
    def add_stake(self, h, s, amount, anyone):
        hotkey = self._hotkey(h, anyone)
        staker = self.dep.stakers[s % 3]
        if hotkey not in self.uids:
            reason = "SubnetRegistry: unknown hotkey"
        elif amount == 0:
            reason = "SubnetRegistry: zero amount"
        elif self._frozen():
            reason = FROZEN
        else:
            reason = None
        got = self._expect(reason, self.r.add_stake, self.net, hotkey, amount, who=staker)
        if reason is None:
            total = self._total_shares(hotkey)
            shares = amount if total == 0 else amount * total // self.stake[hotkey]
            assert got == shares
            self.shares.setdefault(hotkey, Counter())[staker] += shares
            self.stake[hotkey] += amount
            self._count("staked")

    @rule(h=hk, s=who_, mode=st.integers(0, 4), anyone=st.integers(0, 5), pruned=st.integers(0, 2))
    def remove_stake(self, h, s, mode, anyone, pruned):
        # mostly a holder's shares, in a pruned hotkey if there is one (pruned != 2)
        pools = [hk for hk in self.dep.hotkeys if any(self.shares.get(hk, Counter()).values())]
        if pruned != 2 and any(hk not in self.uids for hk in pools):
            pools = [hk for hk in pools if hk not in self.uids]
        hotkey = pools[h % len(pools)] if pools and anyone != 5 else self._hotkey(h, anyone)
        holders = [st_ for st_ in self.dep.stakers if self.shares.get(hotkey, Counter())[st_]]
        staker = holders[s % len(holders)] if holders and mode != 4 else self.dep.stakers[s % 3]
        held = self.shares.get(hotkey, Counter())[staker]
        self._remove(hotkey, staker, {0: held, 1: held // 2, 2: held + 1, 3: 0, 4: held}[mode])

    def _remove(self, hotkey, staker, shares):
        held = self.shares.get(hotkey, Counter())[staker]
        assert self.r.shares_of(self.net, hotkey, staker) == held
        amount = 0
        if shares == 0:
            reason = "SubnetRegistry: zero shares"
        elif shares > held:
            reason = "SubnetRegistry: not enough shares"
        else:
            amount = shares * self.stake[hotkey] // self._total_shares(hotkey)
            reason = FROZEN if hotkey in self.uids and amount != 0 and self._frozen() else None
        got = self._expect(reason, self.r.remove_stake, self.net, hotkey, shares, who=staker)
        if reason is None:
            assert got == amount
            self.shares[hotkey][staker] -= shares
            self.stake[hotkey] -= amount
            self._count("unstaked" if hotkey in self.uids else "unstaked from a pruned hotkey")

    @rule(h=hk, bps=bps_, burn=st.booleans(), by_settler=st.integers(0, 9), anyone=st.integers(0, 5))
    def slash(self, h, bps, burn, by_settler, anyone):
        hotkey = self._hotkey(h, anyone)
        by_settler = by_settler != 9
        who = self.w.settler if by_settler else self.dep.stakers[0]
        to = ZERO if burn else self.dep.victim
        amount = self.stake[hotkey] * bps // 10_000
        if not by_settler:
            reason = "SubnetRegistry: not the settler"
        elif bps > 10_000:
            reason = "SubnetRegistry: bad bps"
        elif hotkey in self.uids and amount != 0 and self._frozen():
            reason = FROZEN
        else:
            reason = None
        got = self._expect(reason, self.r.slash, self.net, hotkey, bps, to, who=who)
        if reason is None:
            assert got == amount
            if amount == self.stake[hotkey]:
                self.shares[hotkey] = Counter()
                if amount:
                    self._count("slashed in full")
            self.stake[hotkey] -= amount
            if burn:
                self.burned += amount
            if amount:
                self._count("slashed (burnt)" if burn else "slashed (paid)")

    @rule(u=st.integers(0, MAX_UIDS), by_settler=st.integers(0, 9), skip=st.integers(0, 2))
    def set_prune_candidate(self, u, by_settler, skip):
        if skip == 0:   # not always: registrations also need the fallback
            return
        by_settler = by_settler != 9
        # mostly a UID that is not immune (one the next registration can replace); u == MAX_UIDS: any
        free = [x for x in range(len(self.uids)) if not self._immune(x)]
        uid = free[u % len(free)] if free and u != MAX_UIDS else u % (len(self.uids) + 1)
        who = self.w.settler if by_settler else self.dep.coldkeys[0]
        if not by_settler:
            reason = "SubnetRegistry: not the settler"
        elif uid >= len(self.uids):
            reason = "SubnetRegistry: unknown UID"
        else:
            reason = None
        self._expect(reason, self.r.set_prune_candidate, self.net, uid, who=who)
        if reason is None:
            self.prune = uid
            self._count("candidate set")

    @rule(wait=st.integers(0, 3), then=st.integers(0, 3))
    def advance_epoch(self, wait, then):
        if wait != 3 and block_number() < self.epoch_blk + TEMPO:       # mostly: wait until it is due
            mine(self.epoch_blk + TEMPO - block_number())
        reason = None if block_number() >= self.epoch_blk + TEMPO else "SubnetRegistry: epoch not due"
        got = self._expect(reason, self.r.advance_epoch, self.net, who=self.dep.stakers[1])
        if reason is None:
            self.epoch += 1
            assert got == self.epoch
            self.epoch_blk = block_number()
            # subtensor's is_topk_nonzero, in exact integers (floats would tie 10**18 and 10**18 + 1)
            ranked = sorted(((self.stake[hk], u) for u, hk in enumerate(self.uids) if self.stake[hk]), reverse=True)
            self.permits = sum(1 << u for _, u in ranked[:VALIDATORS])
            assert self.r.permits_at(self.net, self.epoch) == self.permits
            self._count("epoch")
            if then < 2:        # half the time the next block at once: stakes are frozen in this one
                mine(1)

    @rule(h=hk, values=weights_, start=st.integers(0, MAX_UIDS - 1), bad=st.integers(0, 9),
          anyone=st.integers(0, 9), then=st.integers(0, 4))
    def commit_weights(self, h, values, start, bad, anyone, then):
        permitted = [hk for u, hk in enumerate(self.uids) if self.permits >> u & 1 and self.reg_epoch[u] < self.epoch]
        hotkey = permitted[h % len(permitted)] if permitted and anyone < 7 else self._hotkey(h, anyone)
        uid = self._uid_of(hotkey)
        # distinct UIDs of the subnet as it is now (bad == 7: of the largest subnet, maybe unknown)
        span = MAX_UIDS if bad == 7 else max(len(self.uids), 2)
        values = [v * 10_000 for v in values[:span]]
        uids = sorted((start + i) % span for i in range(len(values)))
        if bad == 9:            # now and then a malformed row: a UID twice, or nothing but zeros
            uids[1] = uids[0]
        elif bad == 8:
            values = [0] * len(values)
        self.salt_n += 1
        salt = self.salt_n.to_bytes(32, "big")
        if uid is None:
            reason = "SubnetRegistry: unknown hotkey"
        elif not (self.permits >> uid & 1 and self.reg_epoch[uid] < self.epoch):
            reason = "SubnetRegistry: no validator permit"
        elif uid in self.last_commit and block_number() < self.last_commit[uid] + RATE:
            reason = "SubnetRegistry: weights rate limited"
        else:
            reason = None
        self._expect(reason, self.r.commit_weights, self.net, commit_hash(self.net, hotkey, uids, values, salt),
                     who=hotkey)
        if reason is None:
            self.commits[uid] = dict(uids=uids, values=values, salt=salt, epoch=self.epoch, pending=True)
            self.last_commit[uid] = block_number()
            self._count("committed")
            # mostly revealed at once: 0 in the next epoch, 1 too early, 2 tampered with, 4 too late
            if then != 3:
                self._reveal(hotkey, tamper=then == 2, wait=then != 1, late=then == 4)

    @rule(h=hk, tamper=st.integers(0, 6), anyone=st.integers(0, 9), wait=st.integers(0, 3))
    def reveal_weights(self, h, tamper, anyone, wait):
        pending = [self.uids[u] for u, c in sorted(self.commits.items()) if c["pending"]]
        hotkey = pending[h % len(pending)] if pending and anyone < 7 else self._hotkey(h, anyone)
        self._reveal(hotkey, tamper=tamper >= 5, wait=wait != 3)

    def _reveal(self, hotkey, tamper: bool, wait: bool, late: bool = False):
        uid = self._uid_of(hotkey)
        c = self.commits.get(uid) if uid is not None else None
        if c and c["pending"] and c["epoch"] == self.epoch and wait:
            self.advance_epoch(wait=0, then=0)      # wait for the reveal epoch
            if late:
                self.advance_epoch(wait=0, then=0)  # and miss it
        uids, values, salt = (c["uids"], c["values"], c["salt"]) if c else ([0], [1], b"\x00" * 32)
        if tamper:
            values = [v + 1 if v < U16_MAX else v - 1 for v in values]
        n = len(self.uids)
        if uid is None:
            reason = "SubnetRegistry: unknown hotkey"
        elif not (c and c["pending"]):
            reason = "SubnetRegistry: no commit"
        elif self.epoch <= c["epoch"]:
            reason = "SubnetRegistry: reveal too early"
        elif self.epoch != c["epoch"] + 1:
            reason = "SubnetRegistry: reveal too late"
        elif tamper:
            reason = "SubnetRegistry: reveal does not match commit"
        elif self._row_error(uids, n):
            reason = self._row_error(uids, n)
        elif sum(values) == 0:
            reason = "SubnetRegistry: zero weights"
        elif max(values) * U16_MAX > MAX_WEIGHT * sum(values):
            reason = "SubnetRegistry: weight above the max"
        else:
            reason = None
        self._expect(reason, self.r.reveal_weights, self.net, uids, values, salt, who=hotkey)
        if reason is None:
            c["pending"] = False
            row = [0] * n
            for u, v in zip(uids, values, strict=True):
                row[u] = v
            self.rows[uid] = row
            assert self.r.weights(self.net, uid) == row
            assert self.r.last_update(self.net, uid) == block_number()
            self._count("revealed")

    @staticmethod
    def _row_error(uids, n):
        """The contract checks each UID in turn: above the previous one, then below the size."""
        nxt = 0
        for u in uids:
            if u < nxt:
                return "SubnetRegistry: UIDs not strictly increasing"
            if u >= n:
                return "SubnetRegistry: unknown UID"
            nxt = u + 1
        return None

    @rule(n=blocks)
    def blocks_pass(self, n):
        mine(n)

    # --- invariants ----------------------------------------------------------------------------
    @invariant()
    def books(self):
        self.dep.steps[0] += 1      # once per step (hypothesis checks invariants after each rule)
        self._check(full=False)

    def _check(self, full: bool):
        r, net, token = self.r, self.net, self.w.token
        # the registry holds exactly the stakes; the supply fell by exactly what was burnt
        assert token.balanceOf(r.address) == sum(self.stake.values())
        assert token.totalSupply() == self.supply0 - self.burned
        # every pool at the end; after a step, the pools that hold anything (the others are
        # checked when they first do, and at the end)
        pools = self.dep.hotkeys if full else [hk for hk in self.dep.hotkeys if self.stake[hk] or
                                               self._total_shares(hk)]
        for hk in pools:
            stake, total = r.hotkey_stake(net, hk)
            assert stake == self.stake[hk] and total == self._total_shares(hk)
            # what the stakers can claim never exceeds the stake; shares >= stake (ratio <= 1)
            held = self.shares.get(hk, Counter())
            assert sum(s * stake // total for s in held.values()) <= stake if total else stake == 0
            assert stake <= total
            if full:
                for s in self.dep.stakers:
                    assert r.shares_of(net, hk, s) == held[s]
        # the UIDs: within max_uids, every hotkey at most once, as the model says
        size = r.size(net)
        assert size == len(self.uids) <= MAX_UIDS
        on_chain = [r.hotkey_of(net, u) for u in range(size)]
        assert on_chain == self.uids and len(set(on_chain)) == size
        if full:
            for u, hk in enumerate(self.uids):
                assert r.uid_of(net, hk) == u and r.registered_at(net, u) == self.reg_at[u]
                assert r.stake_of(net, u) == self.stake[hk]
                assert r.weights(net, u) == (self.rows.get(u, []) + [0] * size)[:size]


def test_subnet_registry_keeps_the_books(deployment):
    run_reproducibly(lambda: SubnetMachine(deployment), SETTINGS)
    stats = deployment.stats
    assert deployment.steps[0] >= MIN_TOTAL_STEPS, deployment.steps
    for what in ("registered (appended)", "registered (candidate)", "registered (fallback)", "staked", "unstaked",
                 "unstaked from a pruned hotkey", "slashed (burnt)", "slashed (paid)", "slashed in full", "epoch",
                 "committed", "revealed", "candidate set"):
        assert stats[what] >= 3, (what, stats)
    for reason in ("SubnetRegistry: every UID is immune", "SubnetRegistry: burn above max_burn",
                   "SubnetRegistry: zero weights",
                   "SubnetRegistry: hotkey already registered", FROZEN, "SubnetRegistry: no validator permit",
                   "SubnetRegistry: weights rate limited", "SubnetRegistry: reveal too early",
                   "SubnetRegistry: reveal too late", "SubnetRegistry: reveal does not match commit",
                   "SubnetRegistry: epoch not due", "SubnetRegistry: not enough shares"):
        assert stats[f"revert: {reason}"] >= 3, (reason, stats)
    for reason in ("SubnetRegistry: unknown UID", "SubnetRegistry: weight above the max"):     # rarer rows
        assert stats[f"revert: {reason}"] >= 1, (reason, stats)
