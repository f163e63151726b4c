"""Stateful (model-based) test of ``ModelRegistry`` + ``PaymentChannels`` on titanoboa.

A hypothesis ``RuleBasedStateMachine`` drives random sequences of channel
opens (with an approval or an EIP-2612 permit, signed by the payer or by a
delegate key), top-ups by the payer or a sponsor, extensions, cheques signed
with eth-account and claimed one by one or in batches (including stale,
replayed, over-the-deposit and forged ones), time jumps, closes, distributions,
withdrawals, model transfers and (de)activations, the models' payees (created
by anyone, paid by plain token transfers, as x402's ``exact`` scheme pays,
sometimes before they exist, and swept into the pots). Three payers pay four
models with different splits (three with an owner share, one without); every
other step the service is also paid once (a fresh cheque claimed alone, or a
batch over all live channels mixed with cheques the batch must skip), so money
keeps flowing whichever rules hypothesis favours. Each call is one the rules
expect to succeed, or one they expect to revert with an exact reason (or, in a
batch, to be skipped). The token is ``mocks/FalseToken.vy`` (snekmate's ERC-20
with a switch): now and then it returns ``false`` instead of paying, and the
open, top-up, close, withdrawal or sweep that needed the payment must revert
with nothing changed.

After every step the money must add up:

* the channel contract's token balance == sum over open channels of
  (deposit - claimed) + sum(pot) + sum(balance_of);
* every channel matches the Python model; its claimed amount never
  decreases, stays within its deposit and within the largest cheque its
  signer signed;
* every model's payee (or the address it will have) holds exactly what was
  sent to it and not yet swept, and the contract names the payees created;
* total withdrawn + balances + pots == total claimed + total swept;
* every payer's outflow is exactly what was claimed from its channels
  (closed ones; net of what a sponsor added) plus what is still escrowed in
  its open ones plus what it sent to payees; the token supply is all
  accounted for;
* every distribution credits exactly the pot, split by the documented rule.

The contracts are deployed once per module; each example runs inside its own
``boa.env.anchor()`` (entered in ``__init__``, left in ``teardown``). Runs are
reproducible (see ``stateful_support``): the coverage guards at the end see
the same counts on every run.
"""

from collections import Counter
from dataclasses import dataclass, field

import boa
import pytest
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule
from mock_tokens import FALSE_TOKEN, TRANSFER_FAILED
from stateful_support import fixed_addresses, run_reproducibly, stateful_settings
from value_fixtures import (
    BPS,
    DAY,
    MAX_DURATION,
    MAX_UINT256,
    SUPPLY,
    ZERO,
    account,
    deploy_world,
    events,
    now,
    pack,
    predicted_payee,
    sign_cheque,
    sign_token_permit,
    split_parts,
)

# boa wraps every contract a call creates, and a payee (an EIP-1167 proxy) created by
# `create_payee` is wrapped as the ModelPayee whose code it is not: a warning, not an error.
pytestmark = pytest.mark.filterwarnings("ignore:casted bytecode does not match compiled bytecode:UserWarning")

# 45 examples x up to 55 steps (hypothesis ends some examples early); the test asserts that
# at least MIN_TOTAL_STEPS rule calls ran and that the interesting paths were reached.
MAX_EXAMPLES = 45
STEPS_PER_EXAMPLE = 55
MIN_TOTAL_STEPS = 2_000
MAX_CHANNELS = 10
PAYER_FUNDS = 10**12

SETTINGS = stateful_settings(MAX_EXAMPLES, STEPS_PER_EXAMPLE)

OK, SKIP = "ok", "skip"
NOT_OPEN = "PaymentChannels: channel not open"
STALE = "PaymentChannels: cheque already claimed"
ABOVE = "PaymentChannels: amount above deposit"
BAD_SIG = "PaymentChannels: bad signature"


@dataclass
class Deployment:
    world: object
    owners: list           # model owners (and transfer targets)
    recipients: list       # data contributors named in splits
    payers: list           # LocalAccounts: funded, approved
    delegates: list        # LocalAccounts: signing keys without funds
    sponsor: str
    stranger: object       # a LocalAccount that forges cheques
    models: list           # model ids
    splits: dict           # model id -> [(recipient or ZERO, bps)]
    steps: list = field(default_factory=lambda: [0])
    stats: Counter = field(default_factory=Counter)


@pytest.fixture(scope="module")
def deployment():
    with boa.env.anchor():
        with fixed_addresses("test_value_stateful"):
            w = deploy_world(token=FALSE_TOKEN)
            owners = [w.address(f"sm-owner-{i}") for i in range(4)]
            recipients = [w.address(f"sm-data-{i}") for i in range(2)]
            payers = [w.payer(f"sm-payer-{i}", amount=PAYER_FUNDS) for i in range(3)]
            delegates = [account(f"sm-delegate-{i}") for i in range(2)]
            for d in delegates:
                w._remember(d.address)
            sponsor = w.address("sm-sponsor")
            w.fund(sponsor, PAYER_FUNDS)
            with boa.env.prank(sponsor):
                w.token.approve(w.channels.address, MAX_UINT256)
            stranger = account("sm-stranger")
            w._remember(stranger.address)
            splits = {}
            for owner, split in [
                (owners[0], [(recipients[0], 2500), (ZERO, 7500)]),
                (owners[1], [(ZERO, BPS)]),
                (owners[2], [(recipients[1], 3333), (recipients[0], 3333), (ZERO, 3334)]),
                (owners[3], [(recipients[0], 7000), (recipients[1], 3000)]),    # no owner share
            ]:
                m = w.register(owner, split=split)
                splits[m] = split
        yield Deployment(
            world=w, owners=owners, recipients=recipients, payers=payers, delegates=delegates, sponsor=sponsor,
            stranger=stranger, models=list(splits), splits=splits,
        )


@dataclass
class Chan:
    id: int
    payer: object           # LocalAccount
    signer: object          # LocalAccount
    model: int
    deposit: int
    expiry: int
    own_in: int             # what the payer put in
    sponsor_in: int = 0     # what the sponsor put in
    claimed: int = 0
    nonce: int = 0
    open: bool = True
    signed: list = field(default_factory=list)   # (nonce, amount, v, r, s), in signing order
    max_signed: int = 0


pick = st.integers(0, 10**6)
#: which of a channel's signed cheques to submit: -1 is the latest (two times in three)
which_cheque = st.one_of(st.just(-1), st.just(-1), pick)
deposits = st.sampled_from([1, 10, 1_000, 50_000, 10**6])
durations = st.sampled_from([60, 3600, 3600, DAY, DAY, 3 * DAY, MAX_DURATION])
jumps = st.sampled_from([1, 59, 600, 3600, DAY, 2 * DAY, 30 * DAY])
steps_up = st.sampled_from([0, 1, 7, 100, 999, 5_000, 200_000])
#: how a fresh cheque's amount moves: a share (in %) of what is left of the deposit; 0 is "nothing
#: more" (stale), 150 is past the deposit
fresh_steps = st.sampled_from([0, 1, 10, 50, 50, 100, 150])
batch_fresh_steps = st.sampled_from([0, 1, 10, 20, 50, 50, 100])
#: what spoils a batch: nothing (mostly), a forged cheque or one past the deposit at some position
spoilers = st.one_of(st.none(), st.none(), st.none(), st.none(), st.tuples(st.sampled_from(["forge", "over"]), pick))
FULL_SWEEP_EVERY = 4


class ValueMachine(RuleBasedStateMachine):
    def __init__(self, dep: Deployment):
        super().__init__()
        self.dep = dep
        w = dep.world
        self.w, self.pc, self.reg, self.t = w, w.channels, w.registry, w.token
        self._anchor = boa.env.anchor()
        self._anchor.__enter__()
        # the model, reset for every example
        self.chans: list[Chan] = []
        self.owner = {m: self.reg.ownerOf(m) for m in dep.models}
        self.active = dict.fromkeys(dep.models, True)
        self.pots = dict.fromkeys(dep.models, 0)
        self.earners = sorted({*dep.owners, *dep.recipients})
        self.balances = dict.fromkeys(self.earners, 0)
        self.withdrawn = 0
        self.holders = sorted({*w.accounts, self.pc.address, w.owner})
        self.start_balance = {p.address: self.t.balanceOf(p.address) for p in dep.payers}
        self.last_claimed: dict = {}
        self.logs: list = []
        self.n = 0                      # steps in this example
        self.touched: set = set()       # channel ids, model ids and addresses written this step
        # payees: the address each model's payee has (or will have: CREATE2), whether it exists, what
        # it holds (sent, not swept), what each payer sent to payees, and the total swept
        self.payee_address = {m: predicted_payee(self.pc.address, w.payee_impl.address, m) for m in dep.models}
        self.payee_created = dict.fromkeys(dep.models, False)
        self.held = dict.fromkeys(dep.models, 0)
        self.plain_paid = {p.address: 0 for p in dep.payers}
        self.swept = 0

    def teardown(self):
        try:
            self._check(full=True, supply=True)
        finally:
            self._anchor.__exit__(None, None, None)

    # ------------------------------------------------------------------ helpers

    def _count(self, name, advance=True):
        """Count the step; then, every other step, let the service be paid once (see ``_serve``).

        hypothesis draws rules unevenly (and switches some off per example), so money would rarely
        reach the pots if only the claim rules moved it.
        """
        self.dep.steps[0] += 1
        n = self.n = self.n + 1          # a per-example counter: replays identically when shrinking
        self.dep.stats[name] += 1
        if advance and n % 2 == 0:
            self._serve(n * 7919)
        if advance and n % 6 == 3:      # now and then a server sweeps what its payees were paid
            owed = [m for m in self.dep.models if self.payee_created[m] and self.held[m]]
            if owed:
                self._sweep(owed, n)

    def _serve(self, idx: int):
        """Paid calls: live channels' signers sign their next totals and the service claims them,
        one cheque (two times in three) or all of them in one batch, mixed with a replayed cheque
        and a closed channel's, which the batch skips. One time in seven, a signer first signs
        past the deposit, and claiming that cheque must revert."""
        live = [c for c in self.chans if c.open and c.claimed < c.deposit]
        if not live:
            return
        pct = (5, 20, 50, 100)[idx % 4]
        if idx % 3:
            ch = self._choose(live, idx)
            if idx % 7 == 0:
                self._sign_fresh(ch, 150, base=ch.claimed)
                nonce, amount, v, r, s = ch.signed[-1]
                assert self._expect(ch, nonce, amount, True, strict=True) == ABOVE
                self._reverts(ABOVE, self.owner[ch.model], self.pc.claim, ch.id, nonce, amount, v, r, s)
            self._sign_fresh(ch, pct, base=ch.claimed)
            nonce, amount, v, r, s = ch.signed[-1]
            assert self._expect(ch, nonce, amount, True, strict=True) == OK
            delta = self._send(self.owner[ch.model], self.pc.claim, ch.id, nonce, amount, v, r, s)
            assert delta == self._apply_claim(ch, nonce, amount)
            self.dep.stats["claimed"] += 1
            return
        plan = []
        for ch in live[:8]:
            self._sign_fresh(ch, pct, base=ch.claimed)
            plan.append((ch, *ch.signed[-1], False))
        done = [c for c in self.chans if c.signed and (not c.open or c.claimed)]
        if done:
            ch = self._choose(done, idx)
            plan.insert(idx % (len(plan) + 1), (ch, *ch.signed[idx % len(ch.signed)], False))
        service = self.owner[plan[0][0].model]
        if idx % 5 == 0:                # someone slips a forgery into the batch first: all of it reverts
            k = idx % len(plan)
            ch = plan[k][0]
            forged = (ch, *self._cheque(ch, -1, True), True)
            self._submit_batch([*plan[:k], forged, *plan[k + 1:]], service)
        self._submit_batch(plan, service)

    def _touch(self, *things):
        self.touched.update(things)

    def _choose(self, items, idx):
        return items[idx % len(items)] if items else None

    def _send(self, who, fn, *args):
        with boa.env.prank(str(who)):
            out = fn(*args)
        self.logs = [x for x in fn.contract.get_logs() if str(x.address) == str(self.pc.address)]
        return out

    def _reverts(self, reason, who, fn, *args):
        self.dep.stats[f"revert: {reason}"] += 1
        with boa.env.prank(str(who)), boa.reverts(reason):
            fn(*args)

    def _expect(self, ch: Chan, nonce: int, amount: int, genuine: bool, strict: bool) -> str:
        """What ``claim`` (strict) or ``claim_many`` does with this cheque, from the model alone."""
        if not ch.open:
            return NOT_OPEN if strict else SKIP
        if amount <= ch.claimed or nonce <= ch.nonce:
            return STALE if strict else SKIP
        if amount > ch.deposit:
            return ABOVE
        if not genuine:
            return BAD_SIG
        return OK

    def _apply_claim(self, ch: Chan, nonce: int, amount: int) -> int:
        delta = amount - ch.claimed
        ch.claimed, ch.nonce = amount, nonce
        self.pots[ch.model] += delta
        self._touch(ch.id, ch.model)
        return delta

    def _sign(self, ch: Chan, nonce_step: int, amount_step: int):
        last_nonce, last_amount = (ch.signed[-1][0], ch.signed[-1][1]) if ch.signed else (0, 0)
        nonce, amount = last_nonce + nonce_step, last_amount + amount_step
        ch.signed.append((nonce, amount, *sign_cheque(ch.signer.key, self.pc.address, ch.id, nonce, amount)))
        ch.max_signed = max(ch.max_signed, amount)

    def _sign_fresh(self, ch: Chan, pct: int, base: int | None = None):
        """The payer was served again: its signer signs the next running total (on top of ``base``,
        by default the largest total it signed within the deposit; the nonce always moves up)."""
        last_nonce = ch.signed[-1][0] if ch.signed else 0
        if base is None:
            base = max([a for _, a, *_ in ch.signed if a <= ch.deposit], default=0)
        left = ch.deposit - base
        step = left * pct // 100 if pct <= 100 else left + 1 + left * (pct - 100) // 100
        amount = base + (max(step, 1) if pct else 0)
        ch.signed.append((last_nonce + 1, amount, *sign_cheque(ch.signer.key, self.pc.address, ch.id,
                                                               last_nonce + 1, amount)))
        ch.max_signed = max(ch.max_signed, amount)

    def _cheque(self, ch: Chan, which: int, forged: bool):
        """One of the channel's signed cheques (or a forgery of it by the stranger): (nonce, amount, v, r, s)."""
        nonce, amount, v, r, s = ch.signed[which % len(ch.signed)]
        if forged:
            v, r, s = sign_cheque(self.dep.stranger.key, self.pc.address, ch.id, nonce, amount)
        return nonce, amount, v, r, s

    def _payees(self, model: int) -> list:
        return [(self.owner[model] if r == ZERO else r, b) for r, b in self.dep.splits[model]]

    def _model_distribute(self, model: int) -> list:
        """Apply a distribution to the model; return the expected credits [(recipient, amount)]."""
        amount = self.pots[model]
        if amount == 0:
            return []
        self.pots[model] = 0
        self.dep.stats["distributed"] += 1
        payees = self._payees(model)
        parts = split_parts(amount, [b for _, b in payees])
        assert sum(parts) == amount
        for (who, _), part in zip(payees, parts, strict=True):
            self.balances[who] += part
        self._touch(model, *(who for who, _ in payees))
        return [(who, part) for (who, _), part in zip(payees, parts, strict=True)]

    def _check_credits(self, expected_by_model: dict):
        """The Credited / Distributed events of the last call: exactly the expected split, to the wei."""
        credited = Counter()
        for log in events(self.logs, "Credited"):
            credited[(log.model_id, str(log.recipient))] += log.amount
        distributed = {log.model_id: log.amount for log in events(self.logs, "Distributed")}
        want = Counter()
        for model, credits in expected_by_model.items():
            for who, part in credits:
                want[(model, str(who))] += part
            assert distributed[model] == sum(p for _, p in credits)
            assert sum(v for (m, _), v in credited.items() if m == model) == distributed[model]
        assert +credited == +want
        assert set(distributed) == set(expected_by_model)

    # ------------------------------------------------------------------ payers

    @initialize(n=st.integers(1, 3), seed=pick)
    def first_channels(self, n, seed):
        """Every example starts with a few channels (each with one cheque), so other rules have work."""
        for i in range(n):
            self._open(self.dep.payers[(seed + i) % 3], self.dep.models[(seed + i) % 4], 10_000 * (i + 1),
                       now() + DAY * (i + 1), delegate=(seed + i) % 2 == 0, permit=False)
            self._sign(self.chans[-1], 1 + i, 100 * (i + 1))

    def _open(self, payer, model, deposit, expiry, delegate, permit):
        signer = self.dep.delegates[self.dep.payers.index(payer) % 2] if delegate else payer
        signer_arg = signer.address if delegate else ZERO
        if permit:
            deadline = now() + 3600
            v, r, s = sign_token_permit(payer.key, self.t, self.pc.address, deposit, deadline)
            cid = self._send(payer.address, self.pc.open_with_permit, model, deposit, expiry, signer_arg,
                             deadline, v, r, s)
            with boa.env.prank(payer.address):       # the permit left a zero allowance: approve again
                self.t.approve(self.pc.address, MAX_UINT256)
            self.dep.stats["opened with a permit"] += 1
        else:
            cid = self._send(payer.address, self.pc.open, model, deposit, expiry, signer_arg)
        opened = events(self.logs, "ChannelOpened")
        assert [(x.channel_id, x.payer, x.model_id, x.signer, x.deposit, x.expiry) for x in opened] == [
            (cid, payer.address, model, signer.address, deposit, expiry)]
        self.chans.append(Chan(id=cid, payer=payer, signer=signer, model=model, deposit=deposit, expiry=expiry,
                               own_in=deposit))
        self._touch(cid, payer.address)

    @rule(payer=st.integers(0, 2), model=st.integers(0, 3), deposit=deposits, duration=durations,
          delegate=st.booleans(), permit=st.sampled_from([False, False, False, True]))
    def open(self, payer, model, deposit, duration, delegate, permit):
        self._count("open")
        if len(self.chans) >= MAX_CHANNELS:
            return
        p, m = self.dep.payers[payer], self.dep.models[model]
        if not self.active[m]:
            self._reverts("PaymentChannels: model not active", p.address, self.pc.open, m, deposit,
                          now() + duration, ZERO)
            return
        self._open(p, m, deposit, now() + duration, delegate, permit)

    @rule(idx=pick, amount=st.sampled_from([0, 1, 500, 20_000]), by_sponsor=st.booleans())
    def top_up(self, idx, amount, by_sponsor):
        self._count("top_up")
        ch = self._choose(self.chans, idx)
        if ch is None:
            return
        who = self.dep.sponsor if by_sponsor else ch.payer.address
        if not ch.open:
            self._reverts(NOT_OPEN, who, self.pc.top_up, ch.id, max(amount, 1))
            return
        if amount == 0:
            self._reverts("PaymentChannels: zero amount", who, self.pc.top_up, ch.id, 0)
            return
        self._send(who, self.pc.top_up, ch.id, amount)
        ch.deposit += amount
        if by_sponsor:
            ch.sponsor_in += amount
        else:
            ch.own_in += amount
        funded = events(self.logs, "ChannelFunded")
        assert [(x.channel_id, x.deposit, x.expiry) for x in funded] == [(ch.id, ch.deposit, ch.expiry)]
        self._touch(ch.id, ch.payer.address)

    @rule(idx=pick, who=st.sampled_from(["payer", "signer", "stranger"]),
          delta=st.sampled_from([-1, 0, 1, DAY, MAX_DURATION]))
    def extend(self, idx, who, delta):
        self._count("extend")
        ch = self._choose(self.chans, idx)
        if ch is None:
            return
        caller = {"payer": ch.payer.address, "signer": ch.signer.address, "stranger": self.dep.sponsor}[who]
        expiry = max(ch.expiry, now()) + delta
        if not ch.open:
            reason = NOT_OPEN
        elif who == "stranger":
            reason = "PaymentChannels: not the payer"
        elif expiry <= ch.expiry:
            reason = "PaymentChannels: expiry must move later"
        elif expiry > now() + MAX_DURATION:
            reason = "PaymentChannels: expiry too far"
        else:
            reason = None
        if reason:
            self._reverts(reason, caller, self.pc.extend, ch.id, expiry)
            return
        self._send(caller, self.pc.extend, ch.id, expiry)
        ch.expiry = expiry
        self._touch(ch.id)

    @rule(idx=pick, who=st.sampled_from(["payer", "payer", "signer", "stranger"]))
    def close(self, idx, who):
        self._count("close")
        # mostly channels that can be closed, so that closes happen
        due = [c for c in self.chans if c.open and now() > c.expiry]
        ch = self._choose(due if due and idx % 3 else self.chans, idx)
        if ch is None:
            return
        caller = {"payer": ch.payer.address, "signer": ch.signer.address, "stranger": self.dep.sponsor}[who]
        if ch.open and now() <= ch.expiry and who != "stranger":
            self._reverts("PaymentChannels: channel not expired", caller, self.pc.close, ch.id)
            if not (idx % 2 and ch.expiry - now() <= 30 * DAY):
                return
            boa.env.time_travel(seconds=ch.expiry - now() + 1)     # the payer waits out the expiry
        if not ch.open:
            reason = NOT_OPEN
        elif who == "stranger":
            reason = "PaymentChannels: not the payer"
        elif now() <= ch.expiry:
            reason = "PaymentChannels: channel not expired"
        else:
            reason = None
        if reason:
            self._reverts(reason, caller, self.pc.close, ch.id)
            return
        before = self.t.balanceOf(ch.payer.address)
        self._send(caller, self.pc.close, ch.id)
        refund = ch.deposit - ch.claimed
        assert self.t.balanceOf(ch.payer.address) == before + refund
        assert [(x.channel_id, x.refund) for x in events(self.logs, "ChannelClosed")] == [(ch.id, refund)]
        ch.open = False
        ch.deposit = ch.claimed
        self._touch(ch.id, ch.payer.address)
        self.dep.stats["closed"] += 1

    @rule(jump=jumps)
    def time_travel(self, jump):
        self._count("time_travel", advance=False)
        boa.env.time_travel(seconds=jump)

    # ------------------------------------------------------------------ cheques

    @rule(idx=pick, nonce_step=st.sampled_from([1, 1, 2, 5]), amount_step=steps_up)
    def sign(self, idx, nonce_step, amount_step):
        """The signer signs the next cheque (possibly for nothing more, possibly past the deposit),
        which nobody submits yet."""
        self._count("sign")
        ch = self._choose(self.chans, idx)
        if ch is not None:
            self._sign(ch, nonce_step, amount_step)

    @rule(idx=pick, fresh=fresh_steps, which=which_cheque,
          forged=st.sampled_from([False, False, False, False, True]), caller=pick)
    def claim(self, idx, fresh, which, forged, caller):
        """Mostly: the payer is served, its signer signs the new total, and the service claims it;
        sometimes an older (stale or replayed) cheque, or a forgery, is submitted instead."""
        self._count("claim")
        live = [c for c in self.chans if c.open and c.claimed < c.deposit]
        ch = self._choose(live if live and idx % 4 else self.chans, idx)
        if ch is None:
            return
        if which == -1 or not ch.signed:
            self._sign_fresh(ch, fresh)
        nonce, amount, v, r, s = self._cheque(ch, which, forged)
        who = self._choose([*self.dep.owners, self.dep.sponsor, ch.payer.address], caller)
        outcome = self._expect(ch, nonce, amount, not forged, strict=True)
        if outcome != OK:
            self._reverts(outcome, who, self.pc.claim, ch.id, nonce, amount, v, r, s)
            return
        delta = self._send(who, self.pc.claim, ch.id, nonce, amount, v, r, s)
        assert delta == self._apply_claim(ch, nonce, amount)
        assert [(x.channel_id, x.amount) for x in events(self.logs, "Claimed")] == [(ch.id, amount)]
        self.dep.stats["claimed"] += 1

    @rule(picks=st.lists(st.tuples(pick, which_cheque, batch_fresh_steps), min_size=1, max_size=8),
          spoil=spoilers)
    def claim_many(self, picks, spoil):
        """A batch of cheques over several channels (fresh ones, stale ones, replays, closed
        channels): skipped ones are skipped, a forged or over-the-deposit one that is not skipped
        reverts the whole batch."""
        self._count("claim_many")
        if not self.chans:
            return
        plan = []
        spoil_kind, spoil_at = spoil if spoil else (None, -1)
        for n, (ci, which, fresh) in enumerate(picks):
            ch = self._choose(self.chans, ci)
            here = n == spoil_at % len(picks)
            if which == -1 or not ch.signed or (here and spoil_kind == "over"):
                self._sign_fresh(ch, 150 if here and spoil_kind == "over" else fresh)
                which = -1
            forged = here and spoil_kind == "forge"
            plan.append((ch, *self._cheque(ch, which, forged), forged))
        self._submit_batch(plan, self.dep.sponsor)

    def _submit_batch(self, plan: list, caller):
        """Submit ``plan`` [(channel, nonce, amount, v, r, s, forged)] as one ``claim_many``, after
        playing it on the model: skipped cheques are skipped, the first failure reverts it all."""
        batch = [pack(ch.id, nonce, amount, v, r, s) for ch, nonce, amount, v, r, s, _ in plan]
        saved = {id(ch): (ch.claimed, ch.nonce) for ch, *_ in plan}
        failure, total, runs = None, 0, []
        for ch, nonce, amount, _, _, _, forged in plan:
            outcome = self._expect(ch, nonce, amount, not forged, strict=False)
            if outcome == SKIP:
                continue
            if outcome != OK:
                failure = outcome
                break
            delta = amount - ch.claimed
            ch.claimed, ch.nonce = amount, nonce
            total += delta
            if runs and runs[-1][0] == ch.model:        # one BatchClaimed per run of one model
                runs[-1][1] += 1
                runs[-1][2] += delta
            else:
                runs.append([ch.model, 1, delta])
        for ch, *_ in plan:                              # undo: applied for real below
            ch.claimed, ch.nonce = saved[id(ch)]
        if failure:
            self._reverts(failure, caller, self.pc.claim_many, batch)
            return
        got = self._send(caller, self.pc.claim_many, batch)
        for ch, nonce, amount, _, _, _, forged in plan:
            if self._expect(ch, nonce, amount, not forged, strict=False) == OK:
                self._apply_claim(ch, nonce, amount)
        assert got == total
        assert [[x.model_id, x.channels, x.amount] for x in events(self.logs, "BatchClaimed")] == runs
        assert events(self.logs, "Claimed") == []
        self.dep.stats["claimed in batches"] += sum(n for _, n, _ in runs)
        self.dep.stats["skipped in batches"] += len(plan) - sum(n for _, n, _ in runs)
        if len(runs) > 1:
            self.dep.stats["batches over several models"] += 1

    # ------------------------------------------------------------------ payees (plain transfers)

    def _create_payee(self, m, caller) -> bool:
        """``create_payee`` as the model expects it: the existing payee (no event), a new one (an
        active model), or a revert (an inactive model without one). True if the model has a payee."""
        if self.payee_created[m]:
            assert self._send(caller, self.pc.create_payee, m) == self.payee_address[m]
            assert events(self.logs, "PayeeCreated") == []
            return True
        if not self.active[m]:
            self._reverts("PaymentChannels: model not active", caller, self.pc.create_payee, m)
            return False
        assert self._send(caller, self.pc.create_payee, m) == self.payee_address[m]
        assert [(x.model_id, x.payee) for x in events(self.logs, "PayeeCreated")] == [(m, self.payee_address[m])]
        self.payee_created[m] = True
        self._touch(m)
        self.dep.stats["payees created"] += 1
        return True

    @rule(model=st.integers(0, 3), caller=pick)
    def create_payee(self, model, caller):
        self._count("create_payee")
        self._create_payee(self.dep.models[model], self._choose([*self.earners, self.dep.sponsor], caller))

    @rule(payer=st.integers(0, 2), model=st.integers(0, 3), amount=st.sampled_from([1, 7, 1_000, 50_000]),
          first=st.sampled_from([True, True, True, False]))
    def pay_payee(self, payer, model, amount, first):
        """An x402 ``exact`` payment: a plain token transfer to the model's payee (whoever submits the
        authorization, this is where the tokens land). Mostly the server made the payee first;
        sometimes the payer pays the address the payee will have before it exists."""
        self._count("pay_payee")
        m, p = self.dep.models[model], self.dep.payers[payer]
        if first and not self.payee_created[m]:
            self._create_payee(m, self.dep.sponsor)
        if not self.payee_created[m]:
            self.dep.stats["paid before the payee existed"] += 1
        with boa.env.prank(p.address):
            assert self.t.transfer(self.payee_address[m], amount)
        self.held[m] += amount
        self.plain_paid[p.address] += amount
        self._touch(m, p.address)
        self.dep.stats["paid a payee"] += 1

    @rule(models=st.lists(st.integers(0, 3), max_size=5), caller=pick)
    def sweep(self, models, caller):
        """Anyone sweeps: every listed model with a payee gets what its payee holds, once (a model
        listed twice has nothing left the second time); the others are skipped."""
        self._count("sweep")
        ids = [self.dep.models[i] for i in models]
        owed = [m for m in self.dep.models if self.payee_created[m] and self.held[m]]
        if owed and caller % 4 != 3:    # mostly a sweep of what is owed (with the listed models mixed in)
            ids = [*owed, *ids][:5]
        self._sweep(ids, caller)

    def _sweep(self, ids, caller):
        swept = [(m, self.held[m]) for m in dict.fromkeys(ids) if self.payee_created[m] and self.held[m]]
        got = self._send(self._choose([*self.earners, self.dep.sponsor], caller), self.pc.sweep, ids)
        assert got == sum(a for _, a in swept)
        assert [(x.model_id, x.amount) for x in events(self.logs, "Swept")] == swept
        for m, amount in swept:
            self.pots[m] += amount
            self.held[m] = 0
            self.swept += amount
            self._touch(m)
        self.dep.stats["swept"] += len(swept)
        if not swept:
            self.dep.stats["swept nothing"] += 1

    # ------------------------------------------------------------------ earners

    @rule(model=st.integers(0, 3), caller=pick)
    def distribute(self, model, caller):
        self._count("distribute")
        m = self.dep.models[model]
        pot = self.pots[m]
        got = self._send(self._choose(self.earners, caller), self.pc.distribute, m)
        assert got == pot
        credits = self._model_distribute(m)
        self._check_credits({m: credits} if credits else {})

    @rule(who=pick, models=st.lists(st.integers(0, 3), max_size=4))
    def withdraw(self, who, models):
        """Withdraw, distributing the listed models first (a model listed twice has nothing left the
        second time); for a caller with nothing coming, everything rolls back."""
        self._count("withdraw")
        # mostly someone with something coming (a balance, or a share of a listed pot)
        coming = sorted({*(a for a, b in self.balances.items() if b), *(
            r for i in models for r, _ in self._payees(self.dep.models[i]) if self.pots[self.dep.models[i]])})
        earner = self._choose(coming if coming and who % 4 else [*self.earners, self.dep.sponsor], who)
        ids = [self.dep.models[i] for i in models]
        gain, pots = 0, dict(self.pots)
        for m in ids:
            if pots[m]:
                payees = self._payees(m)
                parts = split_parts(pots[m], [b for _, b in payees])
                gain += sum(p for (r, _), p in zip(payees, parts, strict=True) if r == earner)
                pots[m] = 0
        amount = self.balances.get(earner, 0) + gain
        if amount == 0:
            self._reverts("PaymentChannels: nothing to withdraw", earner, self.pc.withdraw, ids)
            return
        before = self.t.balanceOf(earner)
        got = self._send(earner, self.pc.withdraw, ids)
        expected = {}
        for m in ids:
            credits = self._model_distribute(m)
            if credits:
                expected[m] = credits
        self._check_credits(expected)
        assert got == amount == self.balances[earner]
        assert self.t.balanceOf(earner) == before + amount
        assert [(x.account, x.amount) for x in events(self.logs, "Withdrawn")] == [(earner, amount)]
        self.balances[earner] = 0
        self.withdrawn += amount
        self._touch(earner)
        self.dep.stats["withdrawn"] += 1

    @rule(model=st.integers(0, 3), to=st.integers(0, 3))
    def transfer_model(self, model, to):
        """The model changes hands: from now on its owner share goes to the new owner (and so does
        what is in its pot, undistributed)."""
        self._count("transfer_model")
        m = self.dep.models[model]
        new = self.dep.owners[to]
        if new == self.owner[m]:
            return
        with boa.env.prank(self.owner[m]):
            self.reg.transferFrom(self.owner[m], new, m)
        self.owner[m] = new
        assert [(s.recipient, s.bps) for s in self.reg.payees(m)] == self._payees(m)
        self.dep.stats["transferred"] += 1

    @rule(model=st.integers(0, 3))
    def toggle_active(self, model):
        self._count("toggle_active")
        m = self.dep.models[model]
        with boa.env.prank(self.owner[m]):
            self.reg.set_active(m, not self.active[m])
        self.active[m] = not self.active[m]

    # ------------------------------------------------------------------ refused payments

    REFUSABLE = ["open", "open_with_permit", "top_up", "close", "withdraw", "sweep"]

    @rule(idx=pick)
    def refused_payments(self, idx):
        """The token returns ``false`` instead of paying: every call that needs a payment now
        reverts, and the books (the invariants compare them with a model that did not move)
        are exactly as they were."""
        self._count("refused_payment")
        for what in self.REFUSABLE:
            call = self._refusable(what, idx)
            if call is None:
                continue
            who, fn, args = call
            self.t.set_fail(True)
            try:
                with boa.env.prank(str(who)), boa.reverts(TRANSFER_FAILED):
                    fn(*args)
            finally:
                self.t.set_fail(False)
            self.dep.stats[f"refused {what}"] += 1

    def _refusable(self, what, idx):
        """A call that must move tokens now, as (caller, function, args); None if there is none."""
        payer = self.dep.payers[idx % 3]
        if what in ("open", "open_with_permit"):
            m = self._choose([m for m in self.dep.models if self.active[m]], idx)
            if m is None:
                return None
            args = (m, 1_000, now() + DAY, ZERO)
            if what == "open":
                return payer.address, self.pc.open, args
            deadline = now() + 3600
            permit = sign_token_permit(payer.key, self.t, self.pc.address, 1_000, deadline)
            return payer.address, self.pc.open_with_permit, (*args, deadline, *permit)
        if what == "top_up":
            ch = self._choose([c for c in self.chans if c.open], idx)
            return None if ch is None else (self.dep.sponsor if idx % 2 else ch.payer.address, self.pc.top_up,
                                            (ch.id, 500))
        if what == "close":
            ch = self._choose([c for c in self.chans if c.open and c.claimed < c.deposit], idx)
            if ch is None or (now() <= ch.expiry and (idx % 3 or ch.expiry - now() > 30 * DAY)):
                return None
            if now() <= ch.expiry:
                boa.env.time_travel(seconds=ch.expiry - now() + 1)     # the payer waits out the expiry
            return ch.payer.address, self.pc.close, (ch.id,)
        if what == "sweep":
            m = self._choose([m for m in self.dep.models if self.payee_created[m] and self.held[m]], idx)
            return None if m is None else (self.dep.sponsor, self.pc.sweep, ([m],))
        earner = self._choose([a for a, b in self.balances.items() if b], idx)
        if earner is not None:
            return earner, self.pc.withdraw, ([],)
        # no balance yet: the first payee of a model with a pot distributes it and withdraws (the
        # refused payment rolls the distribution back too)
        m = self._choose([m for m in self.dep.models if self.pots[m]], idx)
        return None if m is None else (self._payees(m)[0][0], self.pc.withdraw, ([m],))

    # ------------------------------------------------------------------ invariants

    def _check(self, full: bool, supply: bool = False):
        """Compare the chain with the model: what this step touched (everything, every few steps and
        at the end of an example), and the books in full from the model every step."""
        pc, t, touched = self.pc, self.t, self.touched
        escrow = 0
        for ch in self.chans:
            if full or ch.id in touched:
                view = pc.channel(ch.id)
                if not ch.open and ch.claimed == 0:
                    assert view == (ZERO, ZERO, 0, 0, 0, 0, 0)   # closed, never claimed: reads as unknown
                else:
                    assert view == (ch.payer.address, ch.signer.address, ch.model, ch.deposit, ch.claimed,
                                    ch.nonce, ch.expiry if ch.open else 0)
            # claimed never decreases, never exceeds the deposit nor the largest cheque signed
            assert ch.claimed <= ch.deposit
            assert ch.claimed <= ch.max_signed
            assert ch.claimed >= self.last_claimed.get(ch.id, 0)
            self.last_claimed[ch.id] = ch.claimed
            if ch.open:
                escrow += ch.deposit - ch.claimed
        for m in self.dep.models:
            if full or m in touched:
                assert pc.pot(m) == self.pots[m], m
        for a in self.earners:
            if full or a in touched:
                assert pc.balance_of(a) == self.balances[a], a
        # every payee holds exactly what was sent to it and not swept (also before it exists)
        for m in self.dep.models:
            assert t.balanceOf(self.payee_address[m]) == self.held[m], m
            if full or m in touched:
                assert pc.payee_of(m) == (self.payee_address[m] if self.payee_created[m] else ZERO), m
        # the channel contract holds exactly the open escrow, the pots and the balances
        pots, balances = sum(self.pots.values()), sum(self.balances.values())
        assert t.balanceOf(pc.address) == escrow + pots + balances
        # nothing is created or lost between claims and sweeps, and withdrawals
        assert self.withdrawn + balances + pots == sum(ch.claimed for ch in self.chans) + self.swept
        # every payer paid exactly what was claimed from it (net of sponsors) plus what is still escrowed
        for p in self.dep.payers:
            if full or p.address in touched:
                outflow = self.start_balance[p.address] - t.balanceOf(p.address)
                owed = sum((ch.own_in if ch.open else ch.claimed - ch.sponsor_in) for ch in self.chans
                           if ch.payer.address == p.address) + self.plain_paid[p.address]
                assert outflow == owed, (p.address, outflow, owed)
        if supply:
            assert sum(t.balanceOf(h) for h in [*self.holders, *self.payee_address.values()]) == SUPPLY
        self.touched = set()

    @invariant()
    def money_adds_up(self):
        self._check(full=self.n % FULL_SWEEP_EVERY == 0)


@pytest.mark.slow
def test_value_state_machine_keeps_the_books(deployment):
    run_reproducibly(lambda: ValueMachine(deployment), SETTINGS)
    # Guard the test's strength: enough steps ran, and they reached the interesting paths. The
    # examples are the same on every run (derandomized, fixed addresses), so are these counts:
    # 2,350 steps, 767 single claims, 1,517 claimed in batches (562 skipped), 8 closes, 57
    # distributions, 26 withdrawals, 67 transfers, 300 to 389 of each refused payment.
    assert deployment.steps[0] >= MIN_TOTAL_STEPS
    stats = deployment.stats
    for what in ValueMachine.REFUSABLE:
        assert stats[f"refused {what}"] >= (3 if what == "sweep" else 20), (what, stats)
    assert stats["claimed"] >= 150, stats
    assert stats["claimed in batches"] >= 200, stats
    assert stats["skipped in batches"] >= 100, stats
    assert stats["batches over several models"] >= 30, stats
    assert stats["closed"] >= 3, stats
    assert stats["distributed"] >= 30, stats
    assert stats["withdrawn"] >= 5, stats
    assert stats["transferred"] >= 10, stats
    assert stats["opened with a permit"] >= 3, stats
    # payees: 52 created, 125 plain payments (11 before the payee existed), 68 models swept
    assert stats["payees created"] >= 20, stats
    assert stats["paid a payee"] >= 50, stats
    assert stats["paid before the payee existed"] >= 3, stats
    assert stats["swept"] >= 30, stats
    assert stats["swept nothing"] >= 10, stats
    for reason, least in [(STALE, 3), (ABOVE, 10), (BAD_SIG, 3), (NOT_OPEN, 10),
                          ("PaymentChannels: channel not expired", 3), ("PaymentChannels: not the payer", 3),
                          ("PaymentChannels: nothing to withdraw", 1)]:
        assert stats[f"revert: {reason}"] >= least, (reason, stats)


def test_anchor_restores_the_deployed_state(deployment):
    """After the machine's examples, the module's contracts are back at their deployed state."""
    w = deployment.world
    assert w.channels.channel_count() == 0
    assert w.token.balanceOf(w.channels.address) == 0
    for m, owner in zip(deployment.models, deployment.owners, strict=True):
        assert w.channels.payee_of(m) == ZERO
        assert w.registry.ownerOf(m) == owner
        assert w.registry.is_active(m) is True
