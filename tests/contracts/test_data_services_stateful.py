"""A hypothesis state machine over ``DataServices``: federated runs opened, rounds recorded with
any participants, runs closed by the consumer or after their deadline, withdrawals — in two
tokens, one of which can fail its transfers — and privacy spends racing for one budget. After
every step the contract holds, in every token, exactly the open escrows plus what it owes, and
every account's balance and every budget agree with a model."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import boa
import pytest
from data_fixtures import DAY, account, digest_of, now
from hypothesis import strategies as st
from hypothesis.stateful import invariant, rule
from mock_tokens import FALSE_TOKEN, TRANSFER_FAILED
from services_fixtures import ServicesWorld, deploy_services
from stateful_support import CountingMachine, fixed_addresses, run_reproducibly, stateful_settings

pytestmark = pytest.mark.filterwarnings("ignore:casted bytecode does not match compiled bytecode:UserWarning")

MAX_EXAMPLES = 40
STEPS_PER_EXAMPLE = 75
MIN_TOTAL_STEPS = 2_000
SETTINGS = stateful_settings(MAX_EXAMPLES, STEPS_PER_EXAMPLE)
FUNDS = 10**24
BUDGET = 5 * 10**6


@dataclass
class Deployment:
    sw: ServicesWorld
    false_token: object
    datasets: list
    nodes: list
    consumers: list
    others: list
    steps: list = field(default_factory=lambda: [0])
    stats: Counter = field(default_factory=Counter)


@pytest.fixture(scope="module")
def deployment():
    with boa.env.anchor():
        with fixed_addresses("test_data_services_stateful"):
            sw = deploy_services()
            w = sw.data
            with boa.env.prank(w.owner):
                ft = FALSE_TOKEN.deploy(10**27)
            w.tokens.append(ft)
            owner = account("sm-holder").address
            w.fund(owner, FUNDS)
            nodes = [account(f"sm-node-{i}").address for i in range(4)]
            datasets = []
            for node in nodes:
                ds = w.publish(owner)
                sw.act(owner, sw.services.set_compute_node, ds, node)
                sw.act(owner, sw.services.set_privacy_budget, ds, BUDGET)
                datasets.append(ds)
            consumers = [account(f"sm-consumer-{i}").address for i in range(2)]
            for c in consumers:
                for t in (w.token, ft):
                    with boa.env.prank(w.owner):
                        t.transfer(c, FUNDS)
                    sw.approve(c, t)
            others = [account("sm-stranger").address]
        yield Deployment(sw, ft, datasets, nodes, consumers, others)


pick = st.integers(0, 10**6)
pays = st.sampled_from([0, 1, 10**15, 10**18 + 3])
rounds_ = st.sampled_from([1, 2, 3, 5])
jumps = st.sampled_from([1, 60, 600, 3600, DAY // 2, 2 * DAY])
eps = st.sampled_from([1, 10**5, 10**6, 2 * 10**6, 3 * 10**6])


class ServicesMachine(CountingMachine):
    def __init__(self, dep: Deployment):
        super().__init__()
        self.dep = dep
        self.s = dep.sw.services
        self.tokens = {"agr": dep.sw.data.token, "false": dep.false_token}
        self._anchor = boa.env.anchor()
        self._anchor.__enter__()
        self.runs: dict = {}        # run id -> its model: consumer, token, pay, rounds, recorded, escrow…
        self.owed: Counter = Counter()      # (account, token key) -> amount
        self.spent: Counter = Counter()     # dataset -> micro-epsilon
        self.refs: set = set()

    def teardown(self):
        try:
            self._check()
        finally:
            self.dep.false_token.set_fail(False)
            self._anchor.__exit__(None, None, None)


    @rule(c=pick, d=pick, n=st.integers(1, 4), rounds=rounds_, pay=pays, tok=st.sampled_from(["agr", "false"]),
          fail=st.booleans())
    def open_run(self, c, d, n, rounds, pay, tok, fail):
        consumer = self.dep.consumers[c % 2]
        start = d % 4
        datasets = [self.dep.datasets[(start + i) % 4] for i in range(n)]
        token = self.tokens[tok]
        failing = tok == "false" and fail and pay != 0
        self.dep.false_token.set_fail(failing)
        deadline = now() + DAY
        run = self._expect(TRANSFER_FAILED if failing else None, self.s.open_run, datasets, rounds, token.address,
                           pay, deadline, who=consumer)
        self.dep.false_token.set_fail(False)
        if run is not None:
            nodes = [self.dep.nodes[(start + i) % 4] for i in range(n)]
            self.runs[run] = dict(consumer=consumer, token=tok, pay=pay, rounds=rounds, recorded=0,
                                  deadline=deadline, escrow=rounds * n * pay, closed=False, nodes=nodes)
            self._count("opened")

    def _pick_run(self, r):
        if not self.runs:
            return None, None
        run = sorted(self.runs)[r % len(self.runs)]
        return run, self.runs[run]

    @rule(r=pick, bits=st.integers(0, 31), by_consumer=st.booleans(), skip=st.integers(0, 5), raw=st.integers(0, 4))
    def record_round(self, r, bits, by_consumer, skip, raw):
        run, m = self._pick_run(r)
        if run is None:
            return
        who = m["consumer"] if by_consumer else self.dep.others[0]
        n = len(m["nodes"])
        if raw != 0:        # mostly a valid bitmap of the run's holders
            bits = bits % ((1 << n) - 1) + 1
        skip = skip == 0
        rnd = m["recorded"] + (2 if skip else 1)
        if not by_consumer:
            reason = "DataServices: not the consumer"
        elif m["closed"]:
            reason = "DataServices: run closed"
        elif now() > m["deadline"]:
            reason = "DataServices: past the deadline"
        elif skip or rnd > m["rounds"]:
            reason = "DataServices: not the next round"
        elif bits == 0 or bits >> n:
            reason = "DataServices: bad participants"
        else:
            reason = None
        self._expect(reason, self.s.record_round, run, rnd, bits, digest_of(f"agg {run} {rnd}"), who=who)
        if reason is None:
            for i in range(n):
                if bits >> i & 1:
                    self.owed[(m["nodes"][i], m["token"])] += m["pay"]
                    m["escrow"] -= m["pay"]
            m["recorded"] = rnd
            self._count("recorded")

    @rule(r=pick, by_consumer=st.booleans())
    def close_run(self, r, by_consumer):
        run, m = self._pick_run(r)
        if run is None:
            return
        who = m["consumer"] if by_consumer else self.dep.others[0]
        if m["closed"]:
            reason = "DataServices: run closed"
        elif not by_consumer and now() <= m["deadline"]:
            reason = "DataServices: not the consumer"
        else:
            reason = None
        self._expect(reason, self.s.close_run, run, who=who)
        if reason is None:
            self.owed[(m["consumer"], m["token"])] += m["escrow"]
            m["escrow"] = 0
            m["closed"] = True
            self._count("closed" if by_consumer else "closed after the deadline")

    @rule(a=pick, tok=st.sampled_from(["agr", "false"]), fail=st.booleans())
    def withdraw(self, a, tok, fail):
        everyone = self.dep.nodes + self.dep.consumers
        who = everyone[a % len(everyone)]
        owed = self.owed[(who, tok)]
        failing = tok == "false" and fail and owed != 0
        self.dep.false_token.set_fail(failing)
        if owed == 0:
            reason = "DataServices: nothing to withdraw"
        elif failing:
            reason = TRANSFER_FAILED
        else:
            reason = None
        self._expect(reason, self.s.withdraw, self.tokens[tok].address, who=who)
        self.dep.false_token.set_fail(False)
        if reason is None:
            self.owed[(who, tok)] = 0
            self._count("withdrawn")

    @rule(d=pick, ref=st.integers(1, 12), amount=eps)
    def spend_privacy(self, d, ref, amount):
        i = d % 4
        ds, node = self.dep.datasets[i], self.dep.nodes[i]
        if (ds, ref) in self.refs:
            reason = "DataServices: already spent for this reference"
        elif self.spent[ds] + amount > BUDGET:
            reason = "DataServices: privacy budget exceeded"
        else:
            reason = None
        self._expect(reason, self.s.spend_privacy, ds, ref, amount, who=node)
        if reason is None:
            self.refs.add((ds, ref))
            self.spent[ds] += amount
            self._count("spent")

    @rule(dt=jumps)
    def time_passes(self, dt):
        boa.env.time_travel(seconds=dt)

    @invariant()
    def books(self):
        self.dep.steps[0] += 1      # once per step (hypothesis checks invariants after each rule)
        self._check()

    def _check(self):
        s = self.s
        for key, t in self.tokens.items():
            escrow = sum(m["escrow"] for m in self.runs.values() if m["token"] == key)
            accounts = {a for (a, k) in self.owed if k == key}
            for a in accounts:
                assert s.owed(a, t.address) == self.owed[(a, key)]
            assert t.balanceOf(s.address) == escrow + sum(self.owed[(a, key)] for a in accounts)
        for run, m in self.runs.items():
            view = s.run(run)
            assert (view.recorded, view.escrow, view.closed) == (m["recorded"], m["escrow"], m["closed"])
        for ds in self.dep.datasets:
            assert s.privacy(ds) == (BUDGET, self.spent[ds])


def test_data_services_keep_the_books(deployment):
    run_reproducibly(lambda: ServicesMachine(deployment), SETTINGS)
    assert deployment.steps[0] >= MIN_TOTAL_STEPS, deployment.steps
    stats = deployment.stats
    for what in ("opened", "recorded", "closed", "withdrawn", "spent"):
        assert stats[what] >= 5, (what, stats)
    for reason in ("DataServices: not the next round", "DataServices: privacy budget exceeded",
                   "DataServices: already spent for this reference", TRANSFER_FAILED,
                   "DataServices: nothing to withdraw", "DataServices: run closed"):
        assert stats[f"revert: {reason}"] >= 3, (reason, stats)
