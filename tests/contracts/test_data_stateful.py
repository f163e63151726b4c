"""Stateful (model-based) test of ``DataRegistry`` + ``Datatoken`` on titanoboa.

A hypothesis ``RuleBasedStateMachine`` drives random sequences of publishes (splits with and
without an owner share, priced in the protocol token or in ``mocks/FalseToken.vy``, free
datasets with a dispenser), buys (some above the buyer's max price, some of datasets not for
sale), dispenses (some past the cap), orders with access-node quotes (with and without a
provider fee, some without a datatoken to spend), buy-and-orders with an EIP-2612 permit,
dataset-token transfers, distributions, withdrawals, price and payment-token changes,
protocol-fee changes, time jumps, and the false token refusing to pay now and then. Each
call is one the rules expect to succeed, or one they expect to revert with an exact reason.

After every step the money must add up, for each payment token ``t``:

* ``t.balanceOf(registry) == sum(pot[*][t]) + sum(earnings[*][t])``;
* every pot and every balance of earnings matches the Python model, which splits a pot by
  the documented rule with the owner's share paid to the owner at distribution time (a
  transfer distributes first, so what was earned stays earned);
* every datatoken's supply and the buyers' datatoken balances match the model;
* every order the machine started is valid exactly while the model says so.

The contracts are deployed once per module; each example runs inside its own
``boa.env.anchor()``. Runs are reproducible (see ``stateful_support``).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import boa
import pytest
from data_fixtures import (
    BPS,
    DAY,
    FREE_QUOTE,
    MAX_UINT256,
    ONE,
    ZERO,
    account,
    deploy_world,
    now,
    order_id_of,
    sign_quote,
    sign_token_permit,
    split_parts,
)
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule
from mock_tokens import FALSE_TOKEN, TRANSFER_FAILED
from stateful_support import fixed_addresses, run_reproducibly, stateful_settings

pytestmark = pytest.mark.filterwarnings("ignore:casted bytecode does not match compiled bytecode:UserWarning")

MAX_EXAMPLES = 30
STEPS_PER_EXAMPLE = 75
MIN_TOTAL_STEPS = 2_000
SETTINGS = stateful_settings(MAX_EXAMPLES, STEPS_PER_EXAMPLE)
MAX_DATASETS = 10
FUNDS = 10**24

NO_BALANCE = "Datatoken: burn amount exceeds balance"


@dataclass
class Deployment:
    world: object
    false_token: object
    publishers: list
    curators: list
    buyers: list          # LocalAccounts: funded in both tokens, approved
    node: object          # LocalAccount: the access node that signs quotes
    feeman: str
    steps: list = field(default_factory=lambda: [0])
    stats: Counter = field(default_factory=Counter)


@pytest.fixture(scope="module")
def deployment():
    with boa.env.anchor():
        with fixed_addresses("test_data_stateful"):
            w = deploy_world()
            with boa.env.prank(w.owner):
                ft = FALSE_TOKEN.deploy(10**27)
            w.tokens.append(ft)
            publishers = [account(f"sm-publisher-{i}").address for i in range(2)]
            curators = [account(f"sm-curator-{i}").address for i in range(2)]
            buyers = [account(f"sm-buyer-{i}") for i in range(3)]
            for b in buyers:
                w.fund(b.address, FUNDS)
                w.fund(b.address, FUNDS, token=ft)
            for who in (*publishers, *curators):
                w.remember(who)
            feeman = account("sm-feeman").address
            w.remember(feeman)
            node = account("sm-node")
            w.remember(node.address)
        yield Deployment(world=w, false_token=ft, publishers=publishers, curators=curators, buyers=buyers,
                         node=node, feeman=feeman)


pick = st.integers(0, 10**6)
prices = st.sampled_from([0, 1, 10**15, ONE, 3 * ONE + 7])
caps = st.sampled_from([0, 0, ONE, 3 * ONE])
supplies = st.sampled_from([0, 0, ONE, 2 * ONE])
amounts = st.sampled_from([1, 10**17, ONE, ONE, 2 * ONE, 5 * ONE + 3])
timeouts = st.sampled_from([0, 60, 3600, DAY])
jumps = st.sampled_from([1, 59, 600, 3600, DAY, 2 * DAY])
fees = st.sampled_from([0, 0, 10**15])
bps_choices = st.sampled_from([0, 0, 100, 1_000])


class DataMachine(RuleBasedStateMachine):
    def __init__(self, dep: Deployment):
        super().__init__()
        self.dep = dep
        self.w = w = dep.world
        self.r = w.registry
        self.tokens = {"agr": w.token, "false": dep.false_token}
        self._anchor = boa.env.anchor()
        self._anchor.__enter__()
        # the model, reset for every example
        self.datasets: list[int] = []
        self.owner: dict = {}
        self.split: dict = {}
        self.token_of: dict = {}        # dataset -> token key or None
        self.price: dict = {}
        self.cap: dict = {}
        self.timeout: dict = {}
        self.supply: dict = {}
        self.dt_balance: dict = {}      # (dataset, holder) -> units
        self.dispensed: dict = {}
        self.pots: Counter = Counter()      # (dataset, token key) -> amount
        self.earnings: Counter = Counter()  # (address, token key) -> amount
        self.fee_recipient = w.owner
        self.fee_bps = 0
        self.orders: list = []          # (order id, record key)
        self.records: dict = {}         # (dataset, service, consumer) -> (orders, expires)
        self.fail = False
        self.earners = sorted({*w.accounts})
        self.nonce = 0

    def teardown(self):
        try:
            self._check()
        finally:
            self.dep.false_token.set_fail(False)
            self._anchor.__exit__(None, None, None)

    # ------------------------------------------------------------------ helpers

    def _count(self, what: str) -> None:
        self.dep.stats[what] += 1

    def _pick_dataset(self, seed: int):
        return self.datasets[seed % len(self.datasets)] if self.datasets else None

    def _distribute(self, ds: int, key: str | None) -> None:
        if key is None:
            return
        amount = self.pots[(ds, key)]
        if not amount:
            return
        self.pots[(ds, key)] = 0
        split = self.split[ds]
        for (recipient, _), part in zip(split, split_parts(amount, [b for _, b in split]), strict=True):
            who = self.owner[ds] if recipient == ZERO else recipient
            self.earnings[(who, key)] += part

    def _expect(self, reason: str | None, fn, *args, who) -> object:
        if reason is None:
            with boa.env.prank(who):
                return fn(*args)
        try:
            with boa.reverts(reason), boa.env.prank(who):
                fn(*args)
        except ValueError:
            with boa.env.prank(who):
                fn(*args)        # raises with the actual reason
            raise
        self.dep.stats[f"revert: {reason}"] += 1
        return None

    def _pull_fails(self, key: str | None, amount: int) -> bool:
        return key == "false" and self.fail and amount > 0

    # ------------------------------------------------------------------ rules

    @initialize(p=pick, token=st.sampled_from(["agr", "false"]), price=st.sampled_from([1, 10**15, ONE]))
    def start(self, p, token, price):
        """Every example starts with a priced dataset and a free one with a dispenser."""
        self.publish(p, p % 4, token, price, 0, ONE, DAY)
        self.publish(p + 1, (p + 1) % 4, None, 0, 3 * ONE, 0, 0)
        for i in range(3):      # each buyer holds two datatokens of the priced one
            self.buy(i, 0, 2 * ONE, False)

    @rule(p=pick, split_kind=st.integers(0, 3), token=st.sampled_from(["agr", "false", None]), price=prices,
          cap=caps, supply=supplies, timeout=timeouts)
    def publish(self, p, split_kind, token, price, cap, supply, timeout):
        if len(self.datasets) >= MAX_DATASETS:
            return
        publisher = self.dep.publishers[p % 2]
        c0, c1 = self.dep.curators
        split = [
            [(ZERO, BPS)],
            [(c0, 2500), (ZERO, 7500)],
            [(c1, 3333), (c0, 3333), (ZERO, 3334)],
            [(c0, 7000), (c1, 3000)],
        ][split_kind]
        if token is None:
            price = 0
        addr = ZERO if token is None else self.tokens[token].address
        with boa.env.prank(publisher):
            ds = self.r.publish(
                (p + 1).to_bytes(32, "big"), (p + 2).to_bytes(32, "big"), split, timeout, "D", "D", supply,
                (addr, price, cap),
            )
        self.datasets.append(ds)
        self.owner[ds], self.split[ds], self.token_of[ds] = publisher, split, token
        self.price[ds], self.cap[ds], self.timeout[ds], self.supply[ds] = price, cap, timeout, supply
        self.dt_balance[(ds, publisher)] = supply
        self._count("published")

    @rule(b=pick, d=pick, amount=amounts, under=st.booleans())
    def buy(self, b, d, amount, under):
        ds = self._pick_dataset(d)
        if ds is None:
            return
        buyer = self.dep.buyers[b % 3].address
        key, price = self.token_of[ds], self.price[ds]
        max_price = price - 1 if under and price else price
        cost = (price * amount + ONE - 1) // ONE
        if key is None:
            reason = "DataRegistry: not for sale"
        elif max_price < price:
            reason = "DataRegistry: price above max"
        elif self._pull_fails(key, cost):
            reason = TRANSFER_FAILED
        else:
            reason = None
        self._expect(reason, self.r.buy, ds, amount, max_price, who=buyer)
        if reason is None:
            self.pots[(ds, key)] += cost
            self.dt_balance[(ds, buyer)] = self.dt_balance.get((ds, buyer), 0) + amount
            self.supply[ds] += amount
            self._count("bought")

    @rule(b=pick, d=pick, amount=amounts)
    def dispense(self, b, d, amount):
        ds = self._pick_dataset(d)
        if ds is None:
            return
        buyer = self.dep.buyers[b % 3].address
        taken = self.dispensed.get((ds, buyer), 0)
        if self.cap[ds] == 0:
            reason = "DataRegistry: no dispenser"
        elif taken + amount > self.cap[ds]:
            reason = "DataRegistry: dispenser cap reached"
        else:
            reason = None
        self._expect(reason, self.r.dispense, ds, amount, who=buyer)
        if reason is None:
            self.dispensed[(ds, buyer)] = taken + amount
            self.dt_balance[(ds, buyer)] = self.dt_balance.get((ds, buyer), 0) + amount
            self.supply[ds] += amount
            self._count("dispensed")

    def _start(self, ds, service, consumer, oid):
        expires = 0 if self.timeout[ds] == 0 else now() + self.timeout[ds]
        key = (ds, service, consumer)
        n = self.records.get(key, (0, 0))[0] + 1
        assert oid == order_id_of(ds, service, consumer, n)
        self.records[key] = (n, expires)
        self.orders.append((oid, key))
        info = self.r.order_info(oid)
        assert (info.dataset, info.consumer, info.expires) == (ds, consumer, expires)

    @rule(b=pick, d=pick, c=pick, fee=fees, holder=st.booleans())
    def order(self, b, d, c, fee, holder):
        ds = self._pick_dataset(d)
        if ds is None:
            return
        payer = self.dep.buyers[b % 3]
        if holder:      # mostly, a buyer that has a datatoken of the dataset to spend
            holders = [x for x in self.dep.buyers if self.dt_balance.get((ds, x.address), 0) >= ONE]
            if holders:
                payer = holders[b % len(holders)]
        consumer = self.dep.buyers[c % 3].address
        self.nonce += 1
        q = FREE_QUOTE if fee == 0 and b % 2 else sign_quote(
            self.dep.node.key, self.r, ds, c % 4, consumer, fee_token=self.w.token.address, fee=fee, nonce=self.nonce)
        key = self.token_of[ds]
        protocol_fee = self.price[ds] * self.fee_bps // BPS if key is not None else 0
        if self._pull_fails(key, protocol_fee):
            reason = TRANSFER_FAILED
        elif self.dt_balance.get((ds, payer.address), 0) < ONE:
            reason = NO_BALANCE
        else:
            reason = None
        node_before = self.w.token.balanceOf(self.dep.node.address)
        oid = self._expect(reason, self.r.order, ds, c % 4, consumer, q, who=payer.address)
        if reason is None:
            self.dt_balance[(ds, payer.address)] -= ONE
            self.supply[ds] -= ONE
            if protocol_fee:
                self.earnings[(self.fee_recipient, key)] += protocol_fee
            assert self.w.token.balanceOf(self.dep.node.address) == node_before + fee
            self._start(ds, c % 4, consumer, oid)
            self._count("ordered")

    @rule(b=pick, d=pick, under=st.booleans())
    def buy_and_order(self, b, d, under):
        ds = self._pick_dataset(d)
        if ds is None or self.token_of[ds] != "agr":
            return
        payer = self.dep.buyers[b % 3]
        price = self.price[ds]
        max_price = price - 1 if under and price else price
        protocol_fee = price * self.fee_bps // BPS
        deadline = now() + 600
        v, r_, s = sign_token_permit(payer.key, self.w.token, self.r.address, price + protocol_fee, deadline)
        self.nonce += 1
        q = sign_quote(self.dep.node.key, self.r, ds, 0, payer.address, nonce=self.nonce)
        reason = "DataRegistry: price above max" if max_price < price else None
        oid = self._expect(reason, self.r.buy_and_order, ds, 0, payer.address, q, max_price, deadline, v, r_, s,
                           who=payer.address)
        if reason is None:
            # the permit replaced the buyer's unlimited approval (and the pull used it up):
            # approve again, as a wallet would before its next plain order
            with boa.env.prank(payer.address):
                self.w.token.approve(self.r.address, MAX_UINT256)
            self.pots[(ds, "agr")] += price
            if protocol_fee:
                self.earnings[(self.fee_recipient, "agr")] += protocol_fee
            self._start(ds, 0, payer.address, oid)
            self._count("bought and ordered")

    @rule(d=pick, t=pick)
    def transfer_dataset(self, d, t):
        ds = self._pick_dataset(d)
        if ds is None:
            return
        candidates = [*self.dep.publishers, *(b.address for b in self.dep.buyers)]
        old, new = self.owner[ds], candidates[t % len(candidates)]
        if new == old:
            return
        key = self.token_of[ds]
        self._expect(None, self.r.transferFrom, old, new, ds, who=old)
        self._distribute(ds, key)        # what was earned stays with the old owner
        self.owner[ds] = new
        if (ds, new) not in self.dt_balance:
            self.dt_balance[(ds, new)] = 0
        self._count("transferred")

    @rule(d=pick, b=pick)
    def distribute(self, d, b):
        ds = self._pick_dataset(d)
        if ds is None or self.token_of[ds] is None:
            return
        key = self.token_of[ds]
        self._expect(None, self.r.distribute, ds, self.tokens[key].address, who=self.dep.buyers[b % 3].address)
        self._distribute(ds, key)
        self._count("distributed")

    @rule(a=pick, key=st.sampled_from(["agr", "false"]), owed_only=st.booleans())
    def withdraw(self, a, key, owed_only):
        who = self.earners[a % len(self.earners)]
        owing = sorted(k for k, v in self.earnings.items() if v)
        if owed_only:       # someone who has something to withdraw, if anyone has
            if not owing:
                return
            who, key = owing[a % len(owing)]
        owed = self.earnings[(who, key)]
        token = self.tokens[key]
        if owed == 0:
            reason = "DataRegistry: nothing to withdraw"
        elif key == "false" and self.fail:
            reason = TRANSFER_FAILED
        else:
            reason = None
        before = token.balanceOf(who)
        self._expect(reason, self.r.withdraw, token.address, who=who)
        if reason is None:
            self.earnings[(who, key)] = 0
            assert token.balanceOf(who) == before + owed
            self._count("withdrawn")

    @rule(d=pick, token=st.sampled_from(["agr", "false", None, "same"]), price=prices, cap=caps)
    def set_price(self, d, token, price, cap):
        ds = self._pick_dataset(d)
        if ds is None:
            return
        if token == "same":
            token = self.token_of[ds]
        if token is None:
            price = 0
        addr = ZERO if token is None else self.tokens[token].address
        self._expect(None, self.r.set_price, ds, (addr, price, cap), who=self.owner[ds])
        if token != self.token_of[ds]:
            self._distribute(ds, self.token_of[ds])
            self.dep.stats["payment token changed"] += 1
        self.token_of[ds], self.price[ds], self.cap[ds] = token, price, cap
        self._count("price set")

    @rule(bps=bps_choices, to_feeman=st.booleans())
    def set_protocol_fee(self, bps, to_feeman):
        recipient = self.dep.feeman if to_feeman else self.w.owner
        self._expect(None, self.r.set_protocol_fee, recipient, bps, who=self.w.owner)
        self.fee_recipient, self.fee_bps = recipient, bps
        self._count("protocol fee set")

    @rule(b=pick, d=pick)
    def refused_buy(self, b, d):
        """The false token refuses to pay for a sale: the buy reverts and nothing changes."""
        priced = [ds for ds in self.datasets if self.token_of[ds] == "false" and self.price[ds]]
        if not priced:
            return
        ds = priced[d % len(priced)]
        self.dep.false_token.set_fail(True)
        self._expect(TRANSFER_FAILED, self.r.buy, ds, ONE, self.price[ds], who=self.dep.buyers[b % 3].address)
        self.dep.false_token.set_fail(self.fail)

    @rule(fail=st.booleans())
    def toggle_false_token(self, fail):
        self.dep.false_token.set_fail(fail)
        self.fail = fail
        self._count("false token toggled")

    @rule(seconds=jumps)
    def time_passes(self, seconds):
        boa.env.time_travel(seconds=seconds)
        self._count("time passed")

    # ------------------------------------------------------------------ the books

    def _check(self):
        r = self.r
        for key, token in self.tokens.items():
            pots = sum(r.pot(ds, token.address) for ds in self.datasets)
            owed = sum(r.earnings(a, token.address) for a in self.earners)
            assert token.balanceOf(r.address) == pots + owed, key
            for ds in self.datasets:
                assert r.pot(ds, token.address) == self.pots[(ds, key)], (ds, key)
            for a in self.earners:
                assert r.earnings(a, token.address) == self.earnings[(a, key)], (a, key)

    @invariant()
    def books_balance(self):
        self.dep.steps[0] += 1       # runs once after every step
        self._check()

    @invariant()
    def datatokens_and_orders(self):
        for ds in self.datasets:
            dt = self.w.datatoken(ds)
            assert dt.totalSupply() == self.supply[ds]
            assert self.r.ownerOf(ds) == self.owner[ds]
        for (ds, holder), units in self.dt_balance.items():
            assert self.w.datatoken(ds).balanceOf(holder) == units
        t = now()
        for oid, key in self.orders[-5:]:
            expires = self.records[key][1]      # the record's latest order decides
            valid = expires == 0 or t < expires
            assert self.r.order_valid(oid, key[2]) == valid
            if valid:
                self.dep.stats["order checked valid"] += 1
            else:
                self.dep.stats["order checked expired"] += 1


def test_data_state_machine_keeps_the_books(deployment):
    run_reproducibly(lambda: DataMachine(deployment), SETTINGS)
    # Guard the test's strength: enough steps ran, and they reached the interesting paths (the
    # examples are the same on every run: derandomized, fixed addresses).
    assert deployment.steps[0] >= MIN_TOTAL_STEPS, deployment.steps
    stats = deployment.stats
    for what in ("published", "bought", "dispensed", "ordered", "bought and ordered", "transferred",
                 "distributed", "withdrawn", "price set", "payment token changed"):
        assert stats[what] >= 5, (what, stats)
    for reason in (NO_BALANCE, TRANSFER_FAILED, "DataRegistry: not for sale", "DataRegistry: price above max",
                   "DataRegistry: no dispenser", "DataRegistry: nothing to withdraw"):
        assert stats[f"revert: {reason}"] >= 3, (reason, stats)
    assert stats["order checked expired"] >= 1 and stats["order checked valid"] >= 1, stats


def test_anchor_restores_the_deployed_state(deployment):
    """After the machine's examples, nothing was left behind."""
    w = deployment.world
    assert w.registry.dataset_count() == 0
    assert w.token.balanceOf(w.registry.address) == 0
