"""A hypothesis state machine over ``Tournament``: rounds created with or without a pool, targets
committed (or not), models submitting and topping up, reveals right and wrong, early and late,
unrevealed stakes burned, targets revealed (or never), settlement roots posted honest or with a
provably wrong leaf, disputed, claimed (tampered now and then) or exited at the floor, refunds
of failed rounds, releases, and time passing. After every step: the contract holds exactly the
live stakes, the pools and the bonds; what the model says was burned is what the AGR supply
lost; and every round's pool, bond and settlement status agree with the model."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import boa
import pytest
from data_fixtures import ZERO, account, digest_of, now
from hypothesis import strategies as st
from hypothesis.stateful import initialize, invariant, rule
from stateful_support import CountingMachine, fixed_addresses, run_reproducibly, stateful_settings
from tournament_fixtures import (
    BAND_BPS,
    BPS,
    ONE,
    TournamentWorld,
    Tree,
    deploy_tournament,
    key_of,
    prediction_commit,
    settlement,
    targets_commit,
)

MAX_EXAMPLES = 36
STEPS_PER_EXAMPLE = 75
MIN_TOTAL_STEPS = 2_000
SETTINGS = stateful_settings(MAX_EXAMPLES, STEPS_PER_EXAMPLE)
HOUR = 3_600
WINDOW = 8 * HOUR
MIN_BOND = ONE
FUNDS = 10**27
MAX_ROUNDS = 6          # per example: enough to overlap, few enough to see each one through

T_CID, T_SALT = digest_of("sm targets"), digest_of("sm targets salt")


@dataclass
class Deployment:
    tw: TournamentWorld
    creators: list
    resolvers: list
    models: list
    stranger: str
    supply: int
    steps: list = field(default_factory=lambda: [0])
    stats: Counter = field(default_factory=Counter)


@pytest.fixture(scope="module")
def deployment():
    with boa.env.anchor():
        with fixed_addresses("test_tournament_stateful"):
            tw = deploy_tournament(window=WINDOW, min_bond=MIN_BOND)
            creators = [account(f"tsm-creator-{i}").address for i in range(2)]
            resolvers = [account(f"tsm-resolver-{i}").address for i in range(2)]
            models = [account(f"tsm-model-{i}").address for i in range(4)]
            stranger = account("tsm-stranger").address
            for a in (*creators, *resolvers, *models, stranger):
                tw.fund(a, FUNDS)
        yield Deployment(tw, creators, resolvers, models, stranger, tw.token.totalSupply())


pick = st.integers(0, 11)
stakes = st.sampled_from([1, ONE, ONE + 7, 123 * ONE])
pools = st.sampled_from([0, 3 * ONE, 1_000 * ONE])
payout_bps = [-BAND_BPS, -250, -1, 0, 3, 250, BAND_BPS]
one_model = st.integers(0, 3)
who_bits = st.sampled_from([15, 7, 14, 11, 13, 3, 12, 5, 1, 8])    # which of the four models act


def cid_of(rid, who):
    return digest_of(f"sm predictions {rid} {who}")


def salt_of(rid, who):
    return digest_of(f"sm salt {rid} {who}")


def within_band(amount, stake):
    return amount < 2**128 and stake * (BPS - BAND_BPS) <= amount * BPS <= stake * (BPS + BAND_BPS)


class TournamentMachine(CountingMachine):
    def __init__(self, dep: Deployment):
        super().__init__()
        self.dep = dep
        self.tw = dep.tw
        self.t = dep.tw.t
        self._anchor = boa.env.anchor()
        self._anchor.__enter__()
        self.rounds: dict = {}       # round id -> its model
        self.burned = 0

    def teardown(self):
        try:
            self._check(final=True)
        finally:
            self._anchor.__exit__(None, None, None)

    # --- plumbing --------------------------------------------------------------------

    def _pick(self, r):
        """One of this example's rounds."""
        if not self.rounds:
            return None, None
        live = sorted(self.rounds)
        rid = live[r % len(live)]
        return rid, self.rounds[rid]

    def _status(self, m):
        return m["status"]

    def _final(self, m):
        return m["status"] == 1 and now() >= m["final_at"]

    def _failed(self, m):
        return now() >= m["settle"] and m["status"] != 1

    # --- rounds ---------------------------------------------------------------------------
    @initialize(c=pick, pool=pools, close=st.sampled_from([2 * HOUR, 6 * HOUR]), gap=st.sampled_from([0, 2 * HOUR]))
    def first_round(self, c, pool, close, gap):
        self.create_round(c, pool, close, gap, 1)

    def create_round(self, c, pool, close, gap, commit):
        creator = self.dep.creators[c % 2]
        resolver = self.dep.resolvers[(c >> 1) % 2]
        t0 = now()
        times = (t0 + close, t0 + close + 4 * HOUR, t0 + close + 4 * HOUR + gap, t0 + close + 28 * HOUR + gap)
        rid = self._expect(None, self.t.create_round, *times, resolver, pool, 0, who=creator)
        self.rounds[rid] = dict(creator=creator, resolver=resolver, close=times[0], reveal=times[1],
                                resolution=times[2], settle=times[3], pool=pool, committed=False, targets=False,
                                subs={}, status=0, final_at=0, tree=None, bad=None, used=0, burn=0, gain_left=0,
                                burn_left=0, bond=0, released=False)
        self._count("created")
        if commit != 0:         # mostly committed at once
            self._commit_targets(rid, self.rounds[rid])

    def commit_targets(self, r):
        rid, m = self._pick(r)
        if rid is not None:
            self._commit_targets(rid, m)

    def _commit_targets(self, rid, m):
        if now() >= m["close"]:
            reason = "Tournament: round closed"
        elif m["committed"]:
            reason = "Tournament: targets already committed"
        else:
            reason = None
        self._expect(reason, self.t.commit_targets, rid, targets_commit(T_CID, T_SALT), who=m["resolver"])
        if reason is None:
            m["committed"] = True

    def _each(self, bits):
        return [w for i, w in enumerate(self.dep.models) if bits >> i & 1]

    def submit(self, r, a, stake, zero):
        rid, m = self._pick(r)
        if rid is None:
            return
        for who in [self.dep.models[a]]:
            self._submit(rid, m, who, stake, zero)

    def _submit(self, rid, m, who, stake, zero):
        stake = 0 if zero == 0 else stake
        sub = m["subs"].get(who)
        if not m["committed"]:
            reason = "Tournament: targets not committed"
        elif now() >= m["close"]:
            reason = "Tournament: round closed"
        elif sub is None and stake == 0:
            reason = "Tournament: zero stake"
        else:
            reason = None
        commit = prediction_commit(rid, who, cid_of(rid, who), salt_of(rid, who))
        self._expect(reason, self.t.submit, rid, commit, stake, who=who)
        if reason is None:
            if sub is None:
                m["subs"][who] = dict(stake=stake, index=len(m["subs"]), state="committed")
                self._count("submitted")
            else:
                sub["stake"] += stake
                self._count("topped up")

    def reveal(self, r, a, wrong):
        rid, m = self._pick(r)
        if rid is None:
            return
        for who in [self.dep.models[a]]:
            self._reveal(rid, m, who, wrong)

    def _reveal(self, rid, m, who, wrong):
        sub = m["subs"].get(who)
        wrong = wrong == 0
        if sub is None:
            reason = "Tournament: no submission"
        elif sub["state"] != "committed":
            reason = "Tournament: already revealed"
        elif now() < m["close"]:
            reason = "Tournament: reveal not open"
        elif now() >= m["reveal"]:
            reason = "Tournament: reveal closed"
        elif wrong:
            reason = "Tournament: reveal does not match commit"
        else:
            reason = None
        cid = digest_of("not my predictions") if wrong else cid_of(rid, who)
        self._expect(reason, self.t.reveal, rid, cid, salt_of(rid, who), who=who)
        if reason is None:
            sub["state"] = "revealed"
            self._count("revealed")

    def burn_unrevealed(self, r, a):
        rid, m = self._pick(r)
        if rid is None:
            return
        for who in [self.dep.models[a]]:
            self._burn_unrevealed(rid, m, who)

    def _burn_unrevealed(self, rid, m, who):
        sub = m["subs"].get(who)
        if now() < m["reveal"]:
            reason = "Tournament: reveal still open"
        elif sub is None or sub["state"] != "committed":
            reason = "Tournament: nothing to burn"
        else:
            reason = None
        self._expect(reason, self.t.burn_unrevealed, rid, who, who=self.dep.stranger)
        if reason is None:
            sub["state"] = "burned"
            self.burned += sub["stake"]
            self._count("burned unrevealed")

    def reveal_targets(self, r):
        rid, m = self._pick(r)
        if rid is None:
            return
        self._reveal_targets(rid, m)

    def _reveal_targets(self, rid, m):
        if now() < m["resolution"]:
            reason = "Tournament: too early for the targets"
        elif now() >= m["settle"]:
            reason = "Tournament: past the settle deadline"
        elif m["targets"]:
            reason = "Tournament: targets already revealed"
        elif not m["committed"]:
            reason = "Tournament: targets do not match commit"
        else:
            reason = None
        self._expect(reason, self.t.reveal_targets, rid, T_CID, T_SALT, who=m["resolver"])
        if reason is None:
            m["targets"] = True
            self._count("targets revealed")

    # --- settlement ----------------------------------------------------------------------
    def post_root(self, r, seed, bad, fit):
        rid, m = self._pick(r)
        if rid is None:
            return
        self._post_root(rid, m, seed, bad, fit)

    def _post_root(self, rid, m, seed, bad, fit):
        order = sorted(m["subs"].items(), key=lambda kv: kv[1]["index"])
        subs = [(w, s["stake"], s["state"] == "revealed") for w, s in order]
        payouts = {w: payout_bps[(seed + i) % len(payout_bps)] for i, (w, _, _) in enumerate(subs)}
        tree, used, burn = settlement(subs, payouts) if subs else (Tree([(ZERO, 0)]), 0, 0)
        if fit and used > m["pool"]:            # a payout factor that fits the pool: no gains
            payouts = {w: min(0, b) for w, b in payouts.items()}
            tree, used, burn = settlement(subs, payouts)
        bad_index = None
        if bad == 0:                            # a leaf for an account with no submission
            bad_index = len(tree.leaves)
            tree = Tree([*tree.leaves, (self.dep.stranger, 0)])
        if not m["targets"]:
            reason = "Tournament: targets not revealed"
        elif now() >= m["settle"]:
            reason = "Tournament: past the settle deadline"
        elif used > m["pool"]:
            reason = "Tournament: pool used above the pool"
        elif m["status"] == 1:
            reason = "settlement: result already posted"
        else:
            reason = None
        self._expect(reason, self.t.post_root, rid, tree.root, tree.total, used, burn, who=m["resolver"])
        if reason is None:
            m.update(status=1, final_at=now() + WINDOW, tree=tree, bad=bad_index, used=used, burn=burn,
                     gain_left=used, burn_left=burn, bond=max(MIN_BOND, used + burn))
            self._count("posted bad" if bad_index is not None else "posted")

    def _leaf_is_wrong(self, m, index, who, amount):
        sub = m["subs"].get(who)
        if sub is None or sub["index"] != index:
            return True
        if sub["state"] == "revealed":
            return not within_band(amount, sub["stake"])
        return amount != 0

    def dispute(self, r, i, aim):
        rid, m = self._pick(r)
        if rid is None or m["tree"] is None:
            return
        self._dispute(rid, m, i, aim)

    def _dispute(self, rid, m, i, aim):
        tree = m["tree"]
        index = m["bad"] if aim and m["bad"] is not None else i % len(tree.leaves)
        who, amount = tree.leaves[index]
        if m["status"] != 1:
            reason = "settlement: no pending result"
        elif now() >= m["final_at"]:
            reason = "settlement: result final"
        elif not self._leaf_is_wrong(m, index, who, amount):
            reason = "Tournament: leaf is valid"
        else:
            reason = None
        self._expect(reason, self.t.dispute, rid, index, who, amount, tree.proof(index), who=self.dep.stranger)
        if reason is None:
            m.update(status=2, bond=0, gain_left=0, burn_left=0)
            self._count("disputed")

    def claim(self, r, a, tamper):
        rid, m = self._pick(r)
        if rid is None:
            return
        for who in [self.dep.models[a]]:
            self._claim(rid, m, who, tamper)

    def _claim(self, rid, m, who, tamper):
        sub = m["subs"].get(who)
        tree = m["tree"]
        if sub is not None and tree is not None and sub["index"] < len(tree.leaves):
            index = sub["index"]
            amount, proof = tree.leaves[index][1], tree.proof(index)
        else:
            index, amount, proof = (sub["index"] if sub else 0), (sub["stake"] if sub else 0), []
        if tamper == 0:
            index += 1
        elif tamper == 1:
            amount += 1
        state = sub["state"] if sub else None
        if state in ("claimed", "refunded"):
            reason = "Tournament: already settled"
        elif state != "revealed":
            reason = "Tournament: not revealed"
        elif index != sub["index"]:
            reason = "Tournament: wrong index"
        elif not within_band(amount, sub["stake"]):
            reason = "Tournament: amount out of bounds"
        elif not self._final(m):
            reason = "settlement: result not final"
        elif tamper == 1 or tree.leaves[index][0] != who:
            reason = "settlement: bad proof"
        else:
            reason = None
        paid = self._expect(reason, self.t.claim, rid, index, amount, proof, who=who)
        if reason is None:
            stake = sub["stake"]
            expected = stake
            if amount > stake:
                gain = min(amount - stake, m["gain_left"])
                m["gain_left"] -= gain
                m["pool"] -= gain
                expected += gain
            else:
                loss = min(stake - amount, m["burn_left"])
                m["burn_left"] -= loss
                self.burned += loss
                expected -= loss
            assert paid == expected == amount     # honest roots are never cut short
            sub["state"] = "claimed"
            self._count("claimed")

    def _exit_round(self, rid, m, who):
        sub = m["subs"].get(who)
        state = sub["state"] if sub else None
        if not self._final(m):
            reason = "Tournament: root not final"
        elif state in ("claimed", "refunded"):
            reason = "Tournament: already settled"
        elif state != "revealed":
            reason = "Tournament: not revealed"
        else:
            reason = None
        paid = self._expect(reason, self.t.exit_round, rid, who=who)
        if reason is None:
            burned = sub["stake"] * BAND_BPS // BPS
            assert paid == sub["stake"] - burned
            self.burned += burned
            sub["state"] = "claimed"
            self._count("exited")

    def refund(self, r, a):
        rid, m = self._pick(r)
        if rid is None:
            return
        for who in [self.dep.models[a]]:
            self._refund(rid, m, who)

    def _refund(self, rid, m, who):
        sub = m["subs"].get(who)
        state = sub["state"] if sub else None
        if not self._failed(m):
            reason = "Tournament: round not failed"
        elif state in ("claimed", "refunded"):
            reason = "Tournament: already settled"
        elif state != "revealed":
            reason = "Tournament: not revealed"
        else:
            reason = None
        out = self._expect(reason, self.t.refund, rid, who=who)
        if reason is None:
            assert out == sub["stake"]
            sub["state"] = "refunded"
            self._count("refunded")

    def release(self, r):
        rid, m = self._pick(r)
        if rid is None:
            return
        self._release(rid, m)

    def _release(self, rid, m):
        if m["released"]:
            reason = "Tournament: already released"
        elif not self._final(m) and not self._failed(m):
            reason = "Tournament: round not settled"
        else:
            reason = None
        self._expect(reason, self.t.release, rid, who=self.dep.stranger)
        if reason is None:
            if self._final(m):
                m["pool"] = m["gain_left"]
                m["bond"] = 0
                self._count("released final")
            else:
                m["pool"] = 0
                self._count("released failed")
            m["released"] = True

    def _done(self, m):
        return m["released"] and all(x["state"] in ("claimed", "refunded", "burned") for x in m["subs"].values())

    @rule(r=pick, bits=who_bits, stake=stakes, odd=st.integers(0, 9), seed=st.integers(0, 6), c=pick)
    def play_the_phase(self, r, bits, stake, odd, seed, c):
        """What a round's phase calls for, mostly done right, on a round not yet done
        (hypothesis runs each example with a random subset of the rules, so the rounds need
        one rule that carries them through): submit before the close, reveal in the window,
        burn the unrevealed after it, reveal the targets and post, dispute while pending,
        claim and release once final, refund, burn and release once failed. A phase with
        nothing left to do moves on to the next one; with fewer than two rounds
        under way, now and then a new one."""
        active = [rid for rid in sorted(self.rounds) if not self._done(self.rounds[rid])][:2]
        if len(active) < 2 and len(self.rounds) < MAX_ROUNDS and (not active or odd == 9):
            self.create_round(c, (0, 3 * ONE, 1_000 * ONE)[seed % 3], (2 * HOUR, 6 * HOUR)[c % 2],
                              (0, 2 * HOUR)[seed % 2], 1)
            return
        if not active:
            return
        rid = active[r % len(active)]
        m = self.rounds[rid]
        t = now()
        subs = m["subs"]
        models = self._each(bits)

        def in_state(*states):
            return [w for w in models if w in subs and subs[w]["state"] in states]

        if t < m["close"]:
            if not m["committed"]:
                self._commit_targets(rid, m)
            else:
                todo = [w for w in models if w not in subs or odd == 2]     # odd == 2: top-ups
                if not todo or odd == 0:
                    self._next_phase(rid, m, seed & 1)
                for who in todo:
                    self._submit(rid, m, who, stake, odd)       # odd == 1: a first stake of 0
        elif t < m["reveal"]:
            todo = in_state("committed")
            if not todo or odd == 0:
                self._next_phase(rid, m, seed & 1)
            for who in todo:
                self._reveal(rid, m, who, 0 if odd in (1, 2) else 1)    # odd 1, 2: the wrong predictions
        elif t < m["resolution"]:
            todo = in_state("committed")
            if not todo or odd < 3:
                self._next_phase(rid, m, seed & 1)
            else:
                for who in todo:
                    self._burn_unrevealed(rid, m, who)
        elif m["status"] == 1 and t < m["final_at"]:
            if m["bad"] is not None and odd < 7 or odd == 7:
                self._dispute(rid, m, seed, odd < 5)
            elif odd == 8:                                      # too early to claim
                for who in in_state("revealed"):
                    self._claim(rid, m, who, 9)
            else:
                self._next_phase(rid, m, seed & 1)
        elif self._final(m):
            todo = in_state("revealed", "committed")
            for who in todo:
                if subs[who]["state"] == "committed":
                    self._burn_unrevealed(rid, m, who)
                elif odd == 8:
                    self._exit_round(rid, m, who)               # takes the floor instead
                else:
                    self._claim(rid, m, who, (0, 1, 0)[odd] if odd < 3 else 9)      # odd < 3: tampered
            if not todo or odd == 9:
                self._release(rid, m)
        elif self._failed(m):
            todo = in_state("revealed", "committed")
            for who in todo:
                if subs[who]["state"] == "committed":
                    self._burn_unrevealed(rid, m, who)
                else:
                    self._refund(rid, m, who)
            if not todo or odd >= 7:
                self._release(rid, m)
        elif not m["targets"]:
            if odd < 2:
                self._next_phase(rid, m, seed & 1)              # a resolver that never reveals
            else:
                self._reveal_targets(rid, m)
        elif odd == 0:
            self._next_phase(rid, m, seed & 1)
        else:
            self._post_root(rid, m, seed, 0 if odd < 3 else 1, odd != 3)

    @rule(kind=st.integers(0, 9), r=pick, a=one_model, stake=stakes, x=st.integers(0, 9), seed=st.integers(0, 6))
    def any_move(self, kind, r, a, stake, x, seed):
        """Any action on any round, whatever its phase (most are refused there): the reverts,
        and the odd moves the phase player does not make."""
        if kind == 0:
            self.commit_targets(r)
        elif kind == 1:
            self.submit(r, a, stake, x)
        elif kind == 2:
            self.reveal(r, a, x % 7)
        elif kind == 3:
            self.burn_unrevealed(r, a)
        elif kind == 4:
            self.reveal_targets(r)
        elif kind == 5:
            self.post_root(r, seed, x % 4, x < 7)
        elif kind == 6:
            self.dispute(r, seed, x < 5)
        elif kind == 7:
            if x == 9:
                rid, m = self._pick(r)
                if rid is not None:
                    self._exit_round(rid, m, self.dep.models[a])
            else:
                self.claim(r, a, x)
        elif kind == 8:
            self.refund(r, a)
        else:
            self.release(r)

    @rule(how=st.integers(1, 3))
    def time_passes(self, how):
        """An hour to three."""
        boa.env.time_travel(seconds=how * HOUR)

    def next_phase(self, r, late):
        """To a round's next boundary (close, reveal deadline, resolution, finality, settle
        deadline), or a second past it."""
        rid, m = self._pick(r)
        if rid is None:
            return
        self._next_phase(rid, m, late)

    def _next_phase(self, rid, m, late):
        marks = [m["close"], m["reveal"], m["resolution"], m["settle"]]
        if m["status"] == 1:
            marks.append(m["final_at"])
        ahead = sorted(x for x in marks if x > now())
        if ahead and ahead[0] == m["settle"] and m["targets"] and m["status"] != 1:
            boa.env.time_travel(seconds=2 * HOUR)       # give the resolver its chance to post
        elif ahead:
            boa.env.time_travel(seconds=ahead[0] - now() + int(late))

    # --- the books ----------------------------------------------------------------------------
    @invariant()
    def books(self):
        self.dep.steps[0] += 1      # once per step (hypothesis checks invariants after each rule)
        self._check()

    def _check(self, final=False):
        t, token = self.t, self.tw.token
        live = sum(s["stake"] for m in self.rounds.values() for s in m["subs"].values()
                   if s["state"] in ("committed", "revealed"))
        pools = sum(m["pool"] for m in self.rounds.values())
        bonds = sum(m["bond"] for m in self.rounds.values())
        assert token.balanceOf(t.address) == live + pools + bonds
        assert self.dep.supply - token.totalSupply() == self.burned
        for rid in sorted(self.rounds):
            if self._done(self.rounds[rid]) and not final:
                continue            # nothing moves in a round that is done; the teardown looks again
            m, view = self.rounds[rid], t.round(rid)
            assert (view.pool, view.bond, view.gain_left, view.burn_left, view.released) == (
                m["pool"], m["bond"], m["gain_left"], m["burn_left"], m["released"])
            assert t.result(key_of(rid)).status == m["status"]


def test_tournament_keeps_the_books(deployment):
    run_reproducibly(lambda: TournamentMachine(deployment), SETTINGS)
    stats = deployment.stats
    assert deployment.steps[0] >= MIN_TOTAL_STEPS, deployment.steps
    for what in ("created", "submitted", "topped up", "revealed", "burned unrevealed", "targets revealed",
                 "posted", "posted bad", "disputed", "claimed", "exited", "refunded", "released final",
                 "released failed"):
        assert stats[what] >= 5, (what, stats)
    for reason in ("Tournament: reveal does not match commit", "Tournament: round closed",
                   "Tournament: reveal not open", "Tournament: reveal closed", "Tournament: leaf is valid",
                   "settlement: result not final", "Tournament: round not failed", "Tournament: wrong index",
                   "settlement: bad proof", "Tournament: already settled", "Tournament: nothing to burn"):
        assert stats[f"revert: {reason}"] >= 3, (reason, stats)
