"""Stateful (model-based) test of ``contracts/token/AgoraToken.vy`` on titanoboa.

A hypothesis ``RuleBasedStateMachine`` drives random sequences of mint, burn,
burn_from, transfer, approve, transferFrom, set_minter and EIP-3009 payments
(transferWithAuthorization / receiveWithAuthorization, fresh, replayed, expired,
not yet valid, canceled first, or signed by the wrong holder) against one
deployed token, and mirrors every call in a plain-Python model of balances,
allowances, total supply, minters and used authorization nonces. After every
step the on-chain state must equal the model exactly. Calls the model predicts
to fail must revert with the exact reason and leave the state untouched (the
model is not updated, so the invariants catch any partial write). The holders
have private keys, so each can sign authorizations.

The token is deployed once per module; each hypothesis example runs inside its
own ``boa.env.anchor()`` (entered in ``__init__``, left in ``teardown``), which
rolls the chain back to the freshly deployed state cheaply. Runs are
reproducible (see ``stateful_support``): every run plays the same examples.
"""

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import boa
import pytest
from eth_utils import keccak
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule
from stateful_support import run_reproducibly, stateful_settings

from agora.chain import Signer, signer_from_key
from agora.chain.eip712 import Domain, type_hash, word

TOKEN_PATH = Path(__file__).resolve().parents[2] / "contracts/token/AgoraToken.vy"

ZERO = "0x0000000000000000000000000000000000000000"
MAX_UINT256 = 2**256 - 1
INITIAL_SUPPLY = 1_000_000
# Each non-deployer holder starts with this much, so every account can act.
SEED_BALANCE = 5_000
# Every ordered pair of distinct holders starts with this allowance (one pair
# with an infinite one), so transferFrom / burn_from succeed often enough.
SEED_ALLOWANCE = 2_000

# 60 examples x up to 60 steps (3,657 in all: the same examples on every run);
# the test asserts that at least MIN_TOTAL_STEPS rule calls ran.
MAX_EXAMPLES = 60
STEPS_PER_EXAMPLE = 60
MIN_TOTAL_STEPS = 2_000

SETTINGS = stateful_settings(MAX_EXAMPLES, STEPS_PER_EXAMPLE)

# Every outcome of the EIP-3009 rule must be reached at least this often in a run.
MIN_AUTHORIZATION_OUTCOMES = 10
_AUTH_FIELDS = [
    {"name": "from", "type": "address"},
    {"name": "to", "type": "address"},
    {"name": "value", "type": "uint256"},
    {"name": "validAfter", "type": "uint256"},
    {"name": "validBefore", "type": "uint256"},
    {"name": "nonce", "type": "bytes32"},
]
TYPEHASHES = {
    "transfer": type_hash(_AUTH_FIELDS, "TransferWithAuthorization"),
    "receive": type_hash(_AUTH_FIELDS, "ReceiveWithAuthorization"),
}
CANCEL_TYPEHASH = type_hash(
    [{"name": "authorizer", "type": "address"}, {"name": "nonce", "type": "bytes32"}], "CancelAuthorization"
)


@dataclass
class Deployment:
    """The token deployed once per module, plus its initial state."""

    token: object
    owner: str
    holders: list  # owner first; all non-zero
    signers: dict  # holder -> Signer (its key)
    minters: set
    balances: dict
    allowances: dict
    steps: list = field(default_factory=lambda: [0])  # mutable step counter
    outcomes: Counter = field(default_factory=Counter)  # EIP-3009 rule: outcome -> count


@pytest.fixture(scope="module")
def deployment():
    # Holders from fixed keys (the same addresses on every run), so each can sign.
    signers = {
        s.address: s
        for s in (signer_from_key(keccak(text=f"sm-{name}")) for name in ("owner", "minter", "alice", "bob"))
    }
    owner, minter, alice, bob = holders = list(signers)
    with boa.env.prank(owner):
        token = boa.load_partial(str(TOKEN_PATH)).deploy(INITIAL_SUPPLY)
        token.set_minter(minter, True)
        for h in holders[1:]:
            token.transfer(h, SEED_BALANCE)
    allowances = {}
    for o in holders:
        for s in holders:
            allowances[(o, s)] = 0 if o == s else SEED_ALLOWANCE
    allowances[(alice, bob)] = MAX_UINT256
    for (o, s), value in allowances.items():
        if value:
            with boa.env.prank(o):
                token.approve(s, value)
    balances = {h: SEED_BALANCE for h in holders[1:]}
    balances[owner] = INITIAL_SUPPLY - SEED_BALANCE * (len(holders) - 1)
    return Deployment(
        token=token,
        owner=owner,
        holders=holders,
        signers=signers,
        minters={owner, minter},
        balances=balances,
        allowances=allowances,
    )


# Index into the holder list; index N_HOLDERS stands for the zero address where
# a rule accepts it as a target (to / spender / new minter), drawn 1 time in 9.
N_HOLDERS = 4
holder_idx = st.integers(0, N_HOLDERS - 1)
target_idx = st.sampled_from([*range(N_HOLDERS), *range(N_HOLDERS), N_HOLDERS])

# An amount is either absolute, or relative (-1, 0, +1) to what the call can
# spend (balance, or min(balance, allowance)), which hits the exact boundaries.
_small = st.tuples(st.just("abs"), st.integers(0, SEED_BALANCE))
_relative = st.tuples(st.just("rel"), st.integers(-1, 1))
_huge = st.tuples(st.just("abs"), st.integers(0, 10**30))
amounts = st.one_of(_small, _small, _relative, _relative, _huge)
approve_amounts = st.one_of(
    st.integers(0, 3 * SEED_BALANCE),
    st.just(MAX_UINT256),
    st.just(0),
)
# How an EIP-3009 payment is made: mostly a fresh authorization, else one that must fail.
AUTH_MODES = ["fresh", "fresh", "fresh", "replay", "expired", "early", "canceled", "wrong_signer"]


class TokenMachine(RuleBasedStateMachine):
    def __init__(self, dep: Deployment):
        super().__init__()
        self.dep = dep
        self.token = dep.token
        self.holders = dep.holders
        self._anchor = boa.env.anchor()
        self._anchor.__enter__()
        # Model, reset to the deployed state for every example.
        self.balances = dict(dep.balances)
        self.total_supply = INITIAL_SUPPLY
        self.allowances = dict(dep.allowances)
        self.minters = set(dep.minters)
        self.used_nonces: set = set()  # (authorizer, nonce) used or canceled
        self.touched_nonces: set = set()  # every (authorizer, nonce) the rules signed
        self.paid: list = []  # the calls of successful payments, for replays
        self.domain = Domain("Agora Token", "1", boa.env.evm.patch.chain_id, str(self.token.address))

    def teardown(self):
        self._anchor.__exit__(None, None, None)

    # ------------------------------------------------------------------ helpers

    def _who(self, idx: int) -> str:
        return ZERO if idx == N_HOLDERS else self.holders[idx]

    def _resolve(self, spec, spendable: int) -> int:
        kind, n = spec
        if kind == "abs":
            return n
        return max(0, spendable + n)

    def _count(self):
        self.dep.steps[0] += 1

    def _expect_transfer_log(self, sender, receiver, value):
        logs = self.token.get_logs()
        transfers = [log for log in logs if type(log).__name__ == "Transfer"]
        assert len(transfers) == 1
        t = transfers[0]
        assert (t.sender, t.receiver, t.value) == (sender, receiver, value)

    def _spend_allowance(self, owner, spender, amount):
        """Return the revert reason the allowance check gives, or None; no mutation."""
        current = self.allowances[(owner, spender)]
        if current != MAX_UINT256 and current < amount:
            return "erc20: insufficient allowance"
        return None

    def _apply_allowance(self, owner, spender, amount):
        if self.allowances[(owner, spender)] != MAX_UINT256:
            self.allowances[(owner, spender)] -= amount

    def _spendable_from(self, owner, spender):
        allowance = self.allowances[(owner, spender)]
        return min(self.balances[owner], allowance)

    # ------------------------------------------------------------------ rules

    @rule(caller=holder_idx, to=target_idx, amount=st.integers(0, 10 * SEED_BALANCE))
    def mint(self, caller, to, amount):
        self._count()
        sender, receiver = self.holders[caller], self._who(to)
        if sender not in self.minters:
            reason = "erc20: access is denied"
        elif receiver == ZERO:
            reason = "erc20: mint to the zero address"
        else:
            reason = None
        with boa.env.prank(sender):
            if reason is not None:
                with boa.reverts(reason):
                    self.token.mint(receiver, amount)
                return
            self.token.mint(receiver, amount)
        self._expect_transfer_log(ZERO, receiver, amount)
        self.balances[receiver] += amount
        self.total_supply += amount

    @rule(caller=holder_idx, to=holder_idx, excess=st.integers(1, 10**6))
    def mint_overflowing_total_supply(self, caller, to, excess):
        self._count()
        sender = self.holders[caller]
        if self.total_supply == 0:
            return  # nothing can overflow
        # 1 <= overshoot <= totalSupply keeps the argument itself a valid uint256.
        overshoot = 1 + (excess - 1) % self.total_supply
        amount = MAX_UINT256 - self.total_supply + overshoot
        with boa.env.prank(sender):
            if sender not in self.minters:
                with boa.reverts("erc20: access is denied"):
                    self.token.mint(self.holders[to], amount)
            else:
                # Checked arithmetic on totalSupply: reverts without a reason string.
                with boa.reverts():
                    self.token.mint(self.holders[to], amount)

    @rule(caller=holder_idx, amount=amounts)
    def burn(self, caller, amount):
        self._count()
        owner = self.holders[caller]
        value = self._resolve(amount, self.balances[owner])
        with boa.env.prank(owner):
            if value > self.balances[owner]:
                with boa.reverts("erc20: burn amount exceeds balance"):
                    self.token.burn(value)
                return
            self.token.burn(value)
        self._expect_transfer_log(owner, ZERO, value)
        self.balances[owner] -= value
        self.total_supply -= value

    @rule(caller=holder_idx, owner_idx=holder_idx, amount=amounts)
    def burn_from(self, caller, owner_idx, amount):
        self._count()
        spender, owner = self.holders[caller], self.holders[owner_idx]
        value = self._resolve(amount, self._spendable_from(owner, spender))
        reason = self._spend_allowance(owner, spender, value)
        if reason is None and value > self.balances[owner]:
            reason = "erc20: burn amount exceeds balance"
        with boa.env.prank(spender):
            if reason is not None:
                with boa.reverts(reason):
                    self.token.burn_from(owner, value)
                return
            self.token.burn_from(owner, value)
        self._expect_transfer_log(owner, ZERO, value)
        self._apply_allowance(owner, spender, value)
        self.balances[owner] -= value
        self.total_supply -= value

    @rule(caller=holder_idx, to=target_idx, amount=amounts)
    def transfer(self, caller, to, amount):
        self._count()
        sender, receiver = self.holders[caller], self._who(to)
        value = self._resolve(amount, self.balances[sender])
        if receiver == ZERO:
            reason = "erc20: transfer to the zero address"
        elif value > self.balances[sender]:
            reason = "erc20: transfer amount exceeds balance"
        else:
            reason = None
        with boa.env.prank(sender):
            if reason is not None:
                with boa.reverts(reason):
                    self.token.transfer(receiver, value)
                return
            assert self.token.transfer(receiver, value) is True
        self._expect_transfer_log(sender, receiver, value)
        self.balances[sender] -= value
        self.balances[receiver] += value

    @rule(caller=holder_idx, spender_idx=target_idx, amount=approve_amounts)
    def approve(self, caller, spender_idx, amount):
        self._count()
        owner, spender = self.holders[caller], self._who(spender_idx)
        with boa.env.prank(owner):
            if spender == ZERO:
                with boa.reverts("erc20: approve to the zero address"):
                    self.token.approve(spender, amount)
                return
            assert self.token.approve(spender, amount) is True
        logs = self.token.get_logs()
        assert len(logs) == 1
        assert (logs[0].owner, logs[0].spender, logs[0].value) == (owner, spender, amount)
        self.allowances[(owner, spender)] = amount

    @rule(caller=holder_idx, owner_idx=holder_idx, to=target_idx, amount=amounts)
    def transfer_from(self, caller, owner_idx, to, amount):
        self._count()
        spender, owner, receiver = self.holders[caller], self.holders[owner_idx], self._who(to)
        value = self._resolve(amount, self._spendable_from(owner, spender))
        reason = self._spend_allowance(owner, spender, value)
        if reason is None and receiver == ZERO:
            reason = "erc20: transfer to the zero address"
        if reason is None and value > self.balances[owner]:
            reason = "erc20: transfer amount exceeds balance"
        with boa.env.prank(spender):
            if reason is not None:
                with boa.reverts(reason):
                    self.token.transferFrom(owner, receiver, value)
                return
            assert self.token.transferFrom(owner, receiver, value) is True
        self._expect_transfer_log(owner, receiver, value)
        self._apply_allowance(owner, spender, value)
        self.balances[owner] -= value
        self.balances[receiver] += value

    @rule(caller=holder_idx, minter_idx=target_idx, status=st.booleans())
    def set_minter(self, caller, minter_idx, status):
        self._count()
        sender, minter = self.holders[caller], self._who(minter_idx)
        if sender != self.dep.owner:
            reason = "ownable: caller is not the owner"
        elif minter == ZERO:
            reason = "erc20: minter is the zero address"
        elif minter == sender:
            reason = "erc20: minter is owner address"
        else:
            reason = None
        with boa.env.prank(sender):
            if reason is not None:
                with boa.reverts(reason):
                    self.token.set_minter(minter, status)
                return
            self.token.set_minter(minter, status)
        if status:
            self.minters.add(minter)
        else:
            self.minters.discard(minter)

    def _new_nonce(self) -> bytes:
        self.dep.steps.append(0)  # the list's length makes every nonce of the run distinct
        return keccak(len(self.dep.steps).to_bytes(32, "big"))

    def _sign(self, signer: Signer, struct: bytes) -> tuple[int, bytes, bytes]:
        sig = signer.sign_hash(self.domain.digest(keccak(struct)))
        return sig[64], sig[:32], sig[32:64]

    def _authorization(self, kind, signer, payer, to, value, after, before, nonce):
        struct = TYPEHASHES[kind] + b"".join(map(word, (payer, to, value, after, before))) + nonce
        return (payer, to, value, after, before, nonce, *self._sign(signer, struct))

    @rule(
        caller=holder_idx, payer_idx=holder_idx, to=target_idx, amount=amounts,
        mode=st.sampled_from(AUTH_MODES), receive=st.booleans(), margin=st.integers(0, 100),
        wrong_caller=st.integers(0, 4),
    )
    def pay_with_authorization(self, caller, payer_idx, to, amount, mode, receive, margin, wrong_caller):
        """An EIP-3009 payment, submitted by ``caller`` (for ``receive``, by the payee except
        one time in five); replayed, expired, early, canceled or forged ones must revert."""
        self._count()
        payer, receiver = self.holders[payer_idx], self._who(to)
        kind = "receive" if receive else "transfer"
        submitter = receiver if receive and wrong_caller and receiver != ZERO else self.holders[caller]
        now = boa.env.evm.patch.timestamp
        after, before = now - 1 - margin, now + 1 + margin
        value = self._resolve(amount, self.balances[payer])
        signer = self.dep.signers[payer]
        if mode == "replay" and not self.paid:
            mode = "fresh"
        if mode == "replay":
            kind, submitter, call = self.paid[margin % len(self.paid)]
            payer, receiver, value, receive = call[0], call[1], call[2], kind == "receive"
        else:
            nonce = self._new_nonce()
            if mode == "expired":
                before = now - margin
            elif mode == "early":
                after = now + margin
            elif mode == "wrong_signer":
                signer = self.dep.signers[self.holders[(payer_idx + 1 + caller % 3) % N_HOLDERS]]
            elif mode == "canceled":
                v, r, s = self._sign(signer, CANCEL_TYPEHASH + word(payer) + nonce)
                with boa.env.prank(self.holders[caller]):
                    self.token.cancelAuthorization(payer, nonce, v, r, s)
                logs = self.token.get_logs()
                assert [(type(log).__name__, log.authorizer, log.nonce) for log in logs] == [
                    ("AuthorizationCanceled", payer, nonce)
                ]
                self.used_nonces.add((payer, nonce))
            self.touched_nonces.add((payer, nonce))
            call = self._authorization(kind, signer, payer, receiver, value, after, before, nonce)
        # The contract's order of checks: payee (receive only), window, nonce, signature, transfer.
        if receive and submitter != receiver:
            reason = "AgoraToken: caller must be the payee"
        elif mode == "early":
            reason = "AgoraToken: authorization is not yet valid"
        elif mode == "expired":
            reason = "AgoraToken: authorization is expired"
        elif mode in ("replay", "canceled"):
            reason = "AgoraToken: authorization is used or canceled"
        elif mode == "wrong_signer":
            reason = "AgoraToken: invalid signature"
        elif receiver == ZERO:
            reason = "erc20: transfer to the zero address"
        elif value > self.balances[payer]:
            reason = "erc20: transfer amount exceeds balance"
        else:
            reason = None
        fn = self.token.receiveWithAuthorization if kind == "receive" else self.token.transferWithAuthorization
        with boa.env.prank(submitter):
            if reason is not None:
                with boa.reverts(reason):
                    fn(*call)
                self.dep.outcomes[reason.split(": ")[1] + (" (receive)" if receive else "")] += 1
                return
            fn(*call)
        logs = self.token.get_logs()
        assert [type(log).__name__ for log in logs] == ["AuthorizationUsed", "Transfer"]
        assert (logs[0].authorizer, logs[0].nonce) == (payer, call[5])
        self._expect_transfer_log(payer, receiver, value)
        self.dep.outcomes[f"paid ({kind})"] += 1
        self.paid.append((kind, submitter, call))
        self.used_nonces.add((payer, call[5]))
        self.balances[payer] -= value
        self.balances[receiver] += value

    # ------------------------------------------------------------------ invariants

    @invariant()
    def total_supply_matches_model_and_sum_of_balances(self):
        on_chain = {h: self.token.balanceOf(h) for h in self.holders}
        total = self.token.totalSupply()
        assert total == self.total_supply
        assert sum(on_chain.values()) == total
        assert sum(self.balances.values()) == self.total_supply
        assert on_chain == self.balances
        assert self.token.balanceOf(ZERO) == 0

    @invariant()
    def allowances_match_model(self):
        for (owner, spender), expected in self.allowances.items():
            assert self.token.allowance(owner, spender) == expected

    @invariant()
    def authorization_states_match_model(self):
        for payer, nonce in self.touched_nonces:
            assert self.token.authorizationState(payer, nonce) is ((payer, nonce) in self.used_nonces)

    @invariant()
    def minters_and_owner_match_model(self):
        assert self.token.owner() == self.dep.owner
        for h in self.holders:
            assert self.token.is_minter(h) is (h in self.minters)


def test_token_state_machine_matches_python_model(deployment):
    run_reproducibly(lambda: TokenMachine(deployment), SETTINGS)
    # Guard the test's strength: enough random steps actually ran, and the EIP-3009 rule
    # reached each of its outcomes (the same counts on every run).
    assert deployment.steps[0] >= MIN_TOTAL_STEPS
    print(dict(deployment.outcomes))
    for outcome in (
        "paid (transfer)", "paid (receive)", "authorization is used or canceled", "authorization is expired",
        "authorization is not yet valid", "invalid signature", "caller must be the payee (receive)",
    ):
        assert deployment.outcomes[outcome] >= MIN_AUTHORIZATION_OUTCOMES, (outcome, dict(deployment.outcomes))


def test_anchor_restores_deployed_state_between_examples(deployment):
    """After the machine's examples, the module's token is back at its deployed state."""
    token = deployment.token
    assert token.totalSupply() == INITIAL_SUPPLY
    for h in deployment.holders:
        assert token.balanceOf(h) == deployment.balances[h]
    for (owner, spender), value in deployment.allowances.items():
        assert token.allowance(owner, spender) == value
