"""Unit tests for ``contracts/compute/ProviderRegistry.vy`` on titanoboa.

Every external function and every revert reason: owner settings, register /
update / add_stake / unbond / withdraw_stake, the market-only reward /
penalize / slash (called here from an EOA the owner authorised as a market),
and the stake-weighted Fenwick draw, checked against a plain-Python model of
the same draw after random stake changes.
"""

import random

import boa
import pytest
from compute_fixtures import (
    BPS,
    E18,
    MASK16,
    MASK96,
    MAX_UINT256,
    MIN_STAKE,
    PRICE,
    REGISTRY,
    REP_START,
    STAKE,
    UNBOND_DELAY,
    ZERO,
    deploy_world,
    event_names,
    events,
    now,
)
from eth_abi import encode
from eth_utils import keccak
from mock_tokens import FALSE_TOKEN, SILENT_TOKEN, TRANSFER_FAILED

META = keccak(text="manifest")


@pytest.fixture(scope="module")
def base():
    with boa.env.anchor():
        w = deploy_world(n_providers=0, n_requesters=0)
        w.fake_market = w.new_account("fake-market")
        with boa.env.prank(w.owner):
            w.registry.set_market(w.fake_market, True)
        yield w


@pytest.fixture
def w(base):
    with boa.env.anchor():
        fork = base.fork()
        fork.fake_market = base.fake_market
        yield fork


@pytest.fixture
def reg(w):
    return w.registry


def fresh_provider(w, name, amount=10_000 * E18):
    who = boa.env.generate_address(name)
    w.fund(who, amount)
    with boa.env.prank(who):
        w.token.approve(w.registry.address, MAX_UINT256)
    w.providers.append(who)
    return who


def register(w, name, stake=STAKE, price=PRICE, kinds=1):
    who = fresh_provider(w, name)
    with boa.env.prank(who):
        w.registry.register(kinds, price, stake, META)
    return who


def as_market(w, fn, *args):
    with boa.env.prank(w.fake_market):
        out = fn(*args)
    return out, w.registry.get_logs()


def check_registry_books(w):
    bonded = 0
    for a in w.accounts:
        p = w.registry.provider(a)
        bonded += p.stake + p.unbonding
    assert w.token.balanceOf(w.registry.address) == bonded


# --------------------------------------------------------------------------- deployment and owner


def test_constructor_stores_parameters_and_emits(w):
    reg = REGISTRY.deploy(w.token.address, 5 * E18, 3600)
    assert event_names(reg.get_logs()) == ["OwnershipTransferred", "ParamsChanged"]
    assert reg.token() == w.token.address
    assert reg.min_stake() == 5 * E18
    assert reg.unbond_delay() == 3600
    assert reg.owner() == boa.env.eoa
    assert reg.REP_START() == REP_START


def test_constructor_rejects_zero_token():
    with boa.reverts("ProviderRegistry: zero address"):
        REGISTRY.deploy(ZERO, MIN_STAKE, UNBOND_DELAY)


@pytest.mark.parametrize("min_stake", [0, MASK96 + 1])
def test_constructor_rejects_bad_min_stake(w, min_stake):
    with boa.reverts("ProviderRegistry: bad min stake"):
        REGISTRY.deploy(w.token.address, min_stake, UNBOND_DELAY)


def test_constructor_rejects_long_unbond_delay(w):
    with boa.reverts("ProviderRegistry: unbond delay too long"):
        REGISTRY.deploy(w.token.address, MIN_STAKE, 90 * 86400 + 1)
    assert REGISTRY.deploy(w.token.address, MASK96, 90 * 86400).unbond_delay() == 90 * 86400


def test_set_market_by_owner_allows_and_revokes(w, reg):
    m = boa.env.generate_address("some-market")
    with boa.env.prank(w.owner):
        reg.set_market(m, True)
    log = reg.get_logs()[0]
    assert (type(log).__name__, log.market, log.allowed) == ("MarketSet", m, True)
    assert reg.is_market(m) is True
    with boa.env.prank(w.owner):
        reg.set_market(m, False)
    assert reg.get_logs()[0].allowed is False
    assert reg.is_market(m) is False


def test_set_market_by_stranger_reverts(w, reg):
    with boa.env.prank(w.fake_market), boa.reverts("ownable: caller is not the owner"):
        reg.set_market(w.fake_market, True)


def test_set_market_zero_address_reverts(w, reg):
    with boa.env.prank(w.owner), boa.reverts("ProviderRegistry: zero address"):
        reg.set_market(ZERO, True)


def test_set_stake_params_by_owner(w, reg):
    with boa.env.prank(w.owner):
        reg.set_stake_params(50 * E18, 86400)
    log = reg.get_logs()[0]
    assert (type(log).__name__, log.min_stake, log.unbond_delay) == ("ParamsChanged", 50 * E18, 86400)
    assert (reg.min_stake(), reg.unbond_delay()) == (50 * E18, 86400)


def test_set_stake_params_by_stranger_reverts(w, reg):
    with boa.env.prank(w.fake_market), boa.reverts("ownable: caller is not the owner"):
        reg.set_stake_params(1, 1)


@pytest.mark.parametrize(
    ("min_stake", "delay", "reason"),
    [
        (0, 1, "ProviderRegistry: bad min stake"),
        (MASK96 + 1, 1, "ProviderRegistry: bad min stake"),
        (1, 90 * 86400 + 1, "ProviderRegistry: unbond delay too long"),
    ],
)
def test_set_stake_params_rejects_bad_values(w, reg, min_stake, delay, reason):
    with boa.env.prank(w.owner), boa.reverts(reason):
        reg.set_stake_params(min_stake, delay)


def test_transfer_and_renounce_ownership(w, reg):
    new_owner = boa.env.generate_address("new-owner")
    with boa.env.prank(w.owner):
        reg.transfer_ownership(new_owner)
    assert reg.owner() == new_owner
    with boa.env.prank(w.owner), boa.reverts("ownable: caller is not the owner"):
        reg.set_market(new_owner, True)
    with boa.env.prank(new_owner):
        reg.set_market(new_owner, True)
        reg.renounce_ownership()
    assert reg.owner() == ZERO
    with boa.env.prank(new_owner), boa.reverts("ownable: caller is not the owner"):
        reg.set_stake_params(1, 1)


def test_raised_min_stake_applies_at_next_stake_change(w, reg):
    p = register(w, "p", stake=150 * E18)
    with boa.env.prank(w.owner):
        reg.set_stake_params(300 * E18, UNBOND_DELAY)
    assert reg.provider(p).active is True          # untouched until its stake changes
    with boa.env.prank(p):
        reg.add_stake(1)
    assert reg.provider(p).active is False
    assert reg.kind_weight(0) == (1, 0)


# --------------------------------------------------------------------------- register


def test_register_records_provider_and_pulls_stake(w, reg):
    p = fresh_provider(w, "p")
    before = w.token.balanceOf(p)
    with boa.env.prank(p):
        reg.register(0b101, PRICE, STAKE, META)
    logs = reg.get_logs()
    reg_log = events(logs, "ProviderRegistered")[0]
    assert (reg_log.provider, reg_log.kinds, reg_log.price, reg_log.stake, reg_log.metadata) == (
        p, 0b101, PRICE, STAKE, META)
    view = reg.provider(p)
    assert (view.stake, view.unbonding, view.unbond_at, view.price) == (STAKE, 0, 0, PRICE)
    assert (view.reputation, view.kinds, view.active, view.registered, view.metadata) == (
        REP_START, 0b101, True, True, META)
    assert w.token.balanceOf(p) == before - STAKE
    assert w.token.balanceOf(reg.address) == STAKE
    assert reg.kind_weight(0) == (1, STAKE)
    assert reg.kind_weight(1) == (0, 0)
    assert reg.kind_weight(2) == (1, STAKE)
    assert reg.member(0, 1) == p and reg.member(2, 1) == p
    assert reg.exclusion(0, p) == (1, STAKE)
    assert reg.exclusion(1, p) == (0, 0)


def test_register_at_exact_minimum_and_highest_kind(w, reg):
    p = fresh_provider(w, "p")
    with boa.env.prank(p):
        reg.register(1 << 15, MASK96, MIN_STAKE, META)
    assert reg.kind_weight(15) == (1, MIN_STAKE)
    assert reg.provider(p).price == MASK96


def test_register_twice_reverts(w, reg):
    p = register(w, "p")
    with boa.env.prank(p), boa.reverts("ProviderRegistry: already registered"):
        reg.register(1, PRICE, STAKE, META)


@pytest.mark.parametrize("kinds", [0, MASK16 + 1])
def test_register_bad_kinds_reverts(w, reg, kinds):
    p = fresh_provider(w, "p")
    with boa.env.prank(p), boa.reverts("ProviderRegistry: bad kinds bitmap"):
        reg.register(kinds, PRICE, STAKE, META)


@pytest.mark.parametrize("price", [0, MASK96 + 1])
def test_register_bad_price_reverts(w, reg, price):
    p = fresh_provider(w, "p")
    with boa.env.prank(p), boa.reverts("ProviderRegistry: bad price"):
        reg.register(1, price, STAKE, META)


@pytest.mark.parametrize("stake", [MIN_STAKE - 1, MASK96 + 1])
def test_register_stake_out_of_range_reverts(w, reg, stake):
    p = fresh_provider(w, "p")
    with boa.env.prank(p), boa.reverts("ProviderRegistry: stake below minimum"):
        reg.register(1, PRICE, stake, META)


def test_register_without_approval_reverts_in_token(w, reg):
    p = boa.env.generate_address("unapproved")
    w.fund(p, STAKE)
    with boa.env.prank(p), boa.reverts("erc20: insufficient allowance"):
        reg.register(1, PRICE, STAKE, META)
    assert reg.provider(p).registered is False


# --------------------------------------------------------------------------- update_provider


def test_update_provider_moves_weight_between_kinds(w, reg):
    p = register(w, "p", kinds=0b011)
    with boa.env.prank(p):
        reg.update_provider(0b110, 2 * PRICE, keccak(text="v2"))
    log = events(reg.get_logs(), "ProviderUpdated")[0]
    assert (log.provider, log.kinds, log.price, log.metadata) == (p, 0b110, 2 * PRICE, keccak(text="v2"))
    view = reg.provider(p)
    assert (view.kinds, view.price, view.metadata, view.stake, view.reputation) == (
        0b110, 2 * PRICE, keccak(text="v2"), STAKE, REP_START)
    assert reg.kind_weight(0) == (1, 0)
    assert reg.kind_weight(1) == (1, STAKE)
    assert reg.kind_weight(2) == (1, STAKE)
    check_registry_books(w)


def test_update_provider_when_inactive_adds_no_weight(w, reg):
    p = register(w, "p", kinds=0b01)
    with boa.env.prank(p):
        reg.unbond(STAKE - MIN_STAKE + 1)
        reg.update_provider(0b11, PRICE, META)
    assert reg.provider(p).active is False
    assert reg.kind_weight(0) == (1, 0)
    assert reg.kind_weight(1) == (0, 0)


def test_update_provider_not_registered_reverts(w, reg):
    with boa.env.prank(w.fake_market), boa.reverts("ProviderRegistry: not a provider"):
        reg.update_provider(1, PRICE, META)


def test_update_provider_bad_kinds_and_price_revert(w, reg):
    p = register(w, "p")
    with boa.env.prank(p):
        with boa.reverts("ProviderRegistry: bad kinds bitmap"):
            reg.update_provider(0, PRICE, META)
        with boa.reverts("ProviderRegistry: bad price"):
            reg.update_provider(1, 0, META)


# --------------------------------------------------------------------------- add_stake / unbond / withdraw


def test_add_stake_tops_up_and_emits(w, reg):
    p = register(w, "p")
    with boa.env.prank(p):
        reg.add_stake(5 * E18)
    log = events(reg.get_logs(), "StakeAdded")[0]
    assert (log.provider, log.amount, log.stake) == (p, 5 * E18, STAKE + 5 * E18)
    assert reg.kind_weight(0) == (1, STAKE + 5 * E18)
    check_registry_books(w)


def test_add_stake_not_registered_reverts(w, reg):
    with boa.env.prank(w.fake_market), boa.reverts("ProviderRegistry: not a provider"):
        reg.add_stake(1)


def test_add_stake_zero_reverts(w, reg):
    p = register(w, "p")
    with boa.env.prank(p), boa.reverts("ProviderRegistry: zero amount"):
        reg.add_stake(0)


def test_add_stake_beyond_96_bits_reverts(w, reg):
    p = fresh_provider(w, "whale", amount=MASK96 + E18)
    with boa.env.prank(p):
        reg.register(1, PRICE, MASK96, META)
        with boa.reverts("ProviderRegistry: stake too large"):
            reg.add_stake(1)


def test_unbond_leaves_draw_and_schedules_withdrawal(w, reg):
    p = register(w, "p")
    t0 = now()
    with boa.env.prank(p):
        reg.unbond(40 * E18)
    log = events(reg.get_logs(), "UnbondStarted")[0]
    assert (log.provider, log.amount, log.unlock_at) == (p, 40 * E18, t0 + UNBOND_DELAY)
    view = reg.provider(p)
    assert (view.stake, view.unbonding, view.unbond_at, view.active) == (
        STAKE - 40 * E18, 40 * E18, t0 + UNBOND_DELAY, True)
    assert reg.kind_weight(0) == (1, STAKE - 40 * E18)
    check_registry_books(w)


def test_unbond_below_minimum_deactivates(w, reg):
    p = register(w, "p")
    with boa.env.prank(p):
        reg.unbond(STAKE - MIN_STAKE + 1)
    logs = reg.get_logs()
    deact = events(logs, "ProviderDeactivated")[0]
    assert (deact.provider, deact.stake) == (p, MIN_STAKE - 1)
    assert reg.provider(p).active is False
    assert reg.kind_weight(0) == (1, 0)


def test_second_unbond_adds_and_restarts_delay(w, reg):
    p = register(w, "p")
    with boa.env.prank(p):
        reg.unbond(10 * E18)
    boa.env.time_travel(seconds=1000)
    with boa.env.prank(p):
        reg.unbond(15 * E18)
    view = reg.provider(p)
    assert view.unbonding == 25 * E18
    assert view.unbond_at == now() + UNBOND_DELAY


@pytest.mark.parametrize("amount", [0, STAKE + 1])
def test_unbond_bad_amount_reverts(w, reg, amount):
    p = register(w, "p")
    with boa.env.prank(p), boa.reverts("ProviderRegistry: bad unbond amount"):
        reg.unbond(amount)


def test_unbond_not_registered_reverts(w, reg):
    with boa.env.prank(w.fake_market), boa.reverts("ProviderRegistry: not a provider"):
        reg.unbond(1)


def test_withdraw_stake_after_delay(w, reg):
    p = register(w, "p")
    with boa.env.prank(p):
        reg.unbond(STAKE)
    unlock = reg.provider(p).unbond_at
    boa.env.time_travel(seconds=unlock - now() - 1)
    with boa.env.prank(p), boa.reverts("ProviderRegistry: still unbonding"):
        reg.withdraw_stake()
    boa.env.time_travel(seconds=1)
    before = w.token.balanceOf(p)
    with boa.env.prank(p):
        reg.withdraw_stake()
    log = events(reg.get_logs(), "StakeWithdrawn")[0]
    assert (log.provider, log.amount) == (p, STAKE)
    assert w.token.balanceOf(p) == before + STAKE
    view = reg.provider(p)
    assert (view.stake, view.unbonding, view.unbond_at, view.registered) == (0, 0, 0, True)
    check_registry_books(w)
    with boa.env.prank(p), boa.reverts("ProviderRegistry: nothing unbonding"):
        reg.withdraw_stake()


def test_withdraw_stake_with_nothing_unbonding_reverts(w, reg):
    p = register(w, "p")
    with boa.env.prank(p), boa.reverts("ProviderRegistry: nothing unbonding"):
        reg.withdraw_stake()


def test_reregister_after_full_exit_reverts(w, reg):
    p = register(w, "p")
    with boa.env.prank(p):
        reg.unbond(STAKE)
    boa.env.time_travel(seconds=UNBOND_DELAY)
    with boa.env.prank(p):
        reg.withdraw_stake()
        with boa.reverts("ProviderRegistry: already registered"):
            reg.register(1, PRICE, STAKE, META)
        reg.add_stake(STAKE)     # comes back through add_stake instead
    assert reg.provider(p).active is True
    assert reg.kind_weight(0) == (1, STAKE)


# --------------------------------------------------------------------------- transfer failures


@pytest.fixture
def false_token_registry(w):
    """A registry staked in FalseToken, with one funded, approving provider (not registered)."""
    tok = FALSE_TOKEN.deploy(0)
    reg = REGISTRY.deploy(tok.address, MIN_STAKE, UNBOND_DELAY)
    p = boa.env.generate_address("false-token-provider")
    tok.mint(p, 10 * STAKE)
    with boa.env.prank(p):
        tok.approve(reg.address, MAX_UINT256)
    return tok, reg, p


def registry_state(tok, reg, *who):
    """Everything a failed payment must leave as it was."""
    return (
        [tok.balanceOf(a) for a in (*who, reg.address)], [reg.provider(a) for a in who], reg.kind_weight(0),
        [reg.exclusion(0, a) for a in who],
    )


def test_register_when_token_returns_false_reverts(false_token_registry):
    tok, reg, p = false_token_registry
    tok.set_fail(True)
    before = registry_state(tok, reg, p)
    with boa.env.prank(p), boa.reverts(TRANSFER_FAILED):
        reg.register(1, PRICE, STAKE, META)
    assert registry_state(tok, reg, p) == before
    assert reg.provider(p).registered is False


def test_add_stake_when_token_returns_false_reverts(false_token_registry):
    tok, reg, p = false_token_registry
    with boa.env.prank(p):
        reg.register(1, PRICE, STAKE, META)
    tok.set_fail(True)
    before = registry_state(tok, reg, p)
    with boa.env.prank(p), boa.reverts(TRANSFER_FAILED):
        reg.add_stake(STAKE)
    assert registry_state(tok, reg, p) == before


def test_withdraw_stake_when_token_returns_false_reverts(false_token_registry):
    tok, reg, p = false_token_registry
    with boa.env.prank(p):
        reg.register(1, PRICE, STAKE, META)
        reg.unbond(STAKE)
    boa.env.time_travel(seconds=UNBOND_DELAY)
    tok.set_fail(True)
    before = registry_state(tok, reg, p)
    with boa.env.prank(p), boa.reverts(TRANSFER_FAILED):
        reg.withdraw_stake()
    assert registry_state(tok, reg, p) == before
    assert reg.provider(p).unbonding == STAKE


def test_slash_when_token_returns_false_reverts(false_token_registry):
    tok, reg, p = false_token_registry
    market = boa.env.generate_address("false-token-market")
    with boa.env.prank(p):
        reg.register(1, PRICE, STAKE, META)
    reg.set_market(market, True)
    tok.set_fail(True)
    before = registry_state(tok, reg, p, market)
    with boa.env.prank(market), boa.reverts(TRANSFER_FAILED):
        reg.slash(p, 1000)
    assert registry_state(tok, reg, p, market) == before
    assert reg.provider(p).stake == STAKE


def test_a_token_returning_nothing_counts_as_paid(w):
    """USDT-style tokens return no data: staking and unstaking still go through."""
    tok = SILENT_TOKEN.deploy()
    reg = REGISTRY.deploy(tok.address, MIN_STAKE, UNBOND_DELAY)
    p = boa.env.generate_address("silent-token-provider")
    tok.mint(p, 3 * STAKE)
    with boa.env.prank(p):
        tok.approve(reg.address, MAX_UINT256)
        reg.register(1, PRICE, STAKE, META)
        reg.add_stake(STAKE)
        assert (tok.balanceOf(p), tok.balanceOf(reg.address), reg.provider(p).stake) == (STAKE, 2 * STAKE, 2 * STAKE)
        reg.unbond(2 * STAKE)
    boa.env.time_travel(seconds=UNBOND_DELAY)
    with boa.env.prank(p):
        reg.withdraw_stake()
    assert (tok.balanceOf(p), tok.balanceOf(reg.address)) == (3 * STAKE, 0)


# --------------------------------------------------------------------------- markets only


@pytest.mark.parametrize("fn", ["reward", "penalize"])
def test_reputation_calls_are_markets_only(w, reg, fn):
    p = register(w, "p")
    with boa.env.prank(p), boa.reverts("ProviderRegistry: markets only"):
        getattr(reg, fn)(p)


def test_slash_is_markets_only(w, reg):
    p = register(w, "p")
    with boa.env.prank(p), boa.reverts("ProviderRegistry: markets only"):
        reg.slash(p, 100)


def test_revoked_market_loses_access(w, reg):
    p = register(w, "p")
    with boa.env.prank(w.owner):
        reg.set_market(w.fake_market, False)
    with boa.env.prank(w.fake_market), boa.reverts("ProviderRegistry: markets only"):
        reg.reward(p)


def test_reward_moves_reputation_a_32nd_of_the_way_up(w, reg):
    p = register(w, "p")
    _, logs = as_market(w, reg.reward, p)
    expected = REP_START + (BPS - REP_START) // 32
    log = events(logs, "ReputationChanged")[0]
    assert (log.provider, log.reputation) == (p, expected)
    assert reg.provider(p).reputation == expected


def test_reward_saturates_without_writing(w, reg):
    p = register(w, "p")
    rep = REP_START
    for _ in range(400):
        if (BPS - rep) // 32 == 0:
            break
        as_market(w, reg.reward, p)
        rep += (BPS - rep) // 32
    assert reg.provider(p).reputation == rep
    assert (BPS - rep) // 32 == 0
    _, logs = as_market(w, reg.reward, p)
    assert events(logs, "ReputationChanged") == []
    assert reg.provider(p).reputation == rep


def test_reward_and_penalize_ignore_strangers(w, reg):
    stranger = boa.env.generate_address("stranger")
    for fn in (reg.reward, reg.penalize):
        _, logs = as_market(w, fn, stranger)
        assert logs == []
    assert reg.provider(stranger).registered is False


def test_penalize_takes_a_tenth_down_to_the_floor(w, reg):
    p = register(w, "p")
    _, logs = as_market(w, reg.penalize, p)
    assert events(logs, "ReputationChanged")[0].reputation == 4500
    rep = 4500
    for _ in range(60):
        as_market(w, reg.penalize, p)
        rep = max(rep - rep // 10, 100)
    assert rep == 100
    assert reg.provider(p).reputation == 100
    _, logs = as_market(w, reg.penalize, p)
    assert logs == []     # already at the floor: nothing written


def test_slash_takes_share_of_stake_and_halves_reputation(w, reg):
    p = register(w, "p")
    before = w.token.balanceOf(w.fake_market)
    amount, logs = as_market(w, reg.slash, p, 2000)
    assert amount == STAKE * 2000 // BPS
    slash = events(logs, "Slashed")[0]
    assert (slash.provider, slash.market, slash.amount) == (p, w.fake_market, amount)
    assert events(logs, "ReputationChanged")[0].reputation == REP_START // 2
    assert w.token.balanceOf(w.fake_market) == before + amount
    view = reg.provider(p)
    assert (view.stake, view.reputation, view.active) == (STAKE - amount, REP_START // 2, True)
    assert reg.kind_weight(0) == (1, STAKE - amount)
    check_registry_books(w)


def test_slash_reaches_unbonding_stake(w, reg):
    p = register(w, "p")
    with boa.env.prank(p):
        reg.unbond(STAKE - 10 * E18)
    unlock = reg.provider(p).unbond_at
    amount, _ = as_market(w, reg.slash, p, 5000)
    assert amount == STAKE // 2
    view = reg.provider(p)
    assert view.stake == 0                                 # stake taken first
    assert view.unbonding == STAKE - 10 * E18 - (amount - 10 * E18)
    assert view.unbond_at == unlock                        # delay unchanged
    check_registry_books(w)


def test_slash_everything_then_nothing_to_withdraw(w, reg):
    p = register(w, "p")
    with boa.env.prank(p):
        reg.unbond(STAKE)
    amount, _ = as_market(w, reg.slash, p, BPS)
    assert amount == STAKE
    boa.env.time_travel(seconds=UNBOND_DELAY)
    with boa.env.prank(p), boa.reverts("ProviderRegistry: nothing unbonding"):
        reg.withdraw_stake()
    check_registry_books(w)


def test_slash_below_minimum_deactivates_and_add_stake_reactivates(w, reg):
    p = register(w, "p", stake=110 * E18)
    q = register(w, "q")
    assert reg.kind_weight(0) == (2, 110 * E18 + STAKE)
    amount, logs = as_market(w, reg.slash, p, 2000)
    assert "ProviderDeactivated" in event_names(logs)
    assert reg.provider(p).active is False
    assert reg.kind_weight(0) == (2, STAKE)
    for seed in range(20):                                   # never drawn while inactive
        assert reg.draw(0, MAX_UINT256, seed, [], [])[0] == q
    with boa.env.prank(p):
        reg.add_stake(amount)
    assert reg.provider(p).active is True
    assert reg.kind_weight(0) == (2, 110 * E18 + STAKE)
    check_registry_books(w)


def test_slash_zero_bps_only_halves_reputation(w, reg):
    p = register(w, "p")
    amount, logs = as_market(w, reg.slash, p, 0)
    assert amount == 0
    assert events(logs, "Slashed")[0].amount == 0
    assert reg.provider(p).stake == STAKE
    assert reg.provider(p).reputation == REP_START // 2


def test_slash_bad_bps_reverts(w, reg):
    p = register(w, "p")
    with boa.env.prank(w.fake_market), boa.reverts("ProviderRegistry: bad bps"):
        reg.slash(p, BPS + 1)


def test_slash_stranger_returns_zero(w, reg):
    stranger = boa.env.generate_address("stranger")
    amount, logs = as_market(w, reg.slash, stranger, BPS)
    assert amount == 0
    assert logs == []


# --------------------------------------------------------------------------- views


def test_views_for_unknown_accounts_and_indices(w, reg):
    stranger = boa.env.generate_address("stranger")
    view = reg.provider(stranger)
    assert (view.stake, view.unbonding, view.price, view.reputation, view.kinds) == (0, 0, 0, 0, 0)
    assert (view.active, view.registered) == (False, False)
    assert reg.exclusion(0, stranger) == (0, 0)
    assert reg.member(0, 1) == ZERO
    assert reg.kind_weight(7) == (0, 0)


# --------------------------------------------------------------------------- the draw


def model_draw(reg, kind, max_price, seed, excl_idx=(), excl_w=()):
    """The registry's draw, in Python over the leaf weights (a linear scan instead of the Fenwick descent)."""
    n, total = reg.kind_weight(kind)
    members = [reg.member(kind, i) for i in range(1, n + 1)]
    leaves = [reg.exclusion(kind, m)[1] for m in members]
    provs = [reg.provider(m) for m in members]
    assert sum(leaves) == total
    idx_list, w_list = list(excl_idx), list(excl_w)
    fallback, r = 0, seed
    for attempt in range(24):
        avail = total - sum(w_list)
        if avail == 0:
            break
        r = int.from_bytes(keccak(encode(["uint256", "uint256"], [r, attempt])), "big")
        target = r % avail
        acc, idx = 0, 0
        for i in range(1, n + 1):
            weight = leaves[i - 1] - sum(wx for ix, wx in zip(idx_list, w_list, strict=True) if ix == i)
            if target < acc + weight:
                idx = i
                break
            acc += weight
        p = provs[idx - 1]
        if p.price > max_price:
            if len(idx_list) == 16:
                break
            idx_list.append(idx)
            w_list.append(leaves[idx - 1])
            continue
        if (r >> 128) % BPS < p.reputation:
            return members[idx - 1], idx, leaves[idx - 1]
        if fallback == 0:
            fallback = idx
    if fallback == 0:
        return ZERO, 0, 0
    return members[fallback - 1], fallback, leaves[fallback - 1]


def test_draw_length_mismatch_reverts(w, reg):
    register(w, "p")
    with boa.reverts("ProviderRegistry: length mismatch"):
        reg.draw(0, MAX_UINT256, 1, [1], [])


def test_draw_from_empty_pool_returns_nobody(w, reg):
    assert reg.draw(3, MAX_UINT256, 1, [], []) == (ZERO, 0, 0)


def test_draw_returns_index_and_weight_for_exclusion(w, reg):
    p = register(w, "p")
    q = register(w, "q", stake=300 * E18)
    who, idx, weight = reg.draw(0, MAX_UINT256, 7, [], [])
    assert (idx, weight) == reg.exclusion(0, who)
    other = q if who == p else p
    assert reg.draw(0, MAX_UINT256, 7, [idx], [weight])[0] == other
    assert reg.draw(0, MAX_UINT256, 7, [1, 2], [STAKE, 300 * E18]) == (ZERO, 0, 0)


def test_draw_skips_providers_above_the_price(w, reg):
    cheap = register(w, "cheap", price=PRICE)
    register(w, "dear-1", price=PRICE + 1, stake=1000 * E18)
    register(w, "dear-2", price=10 * PRICE, stake=1000 * E18)
    for seed in range(40):
        assert reg.draw(0, PRICE, seed, [], [])[0] == cheap
    assert reg.draw(0, PRICE - 1, 1, [], []) == (ZERO, 0, 0)


def test_draw_is_roughly_stake_proportional(w, reg):
    stakes = [100 * E18, 200 * E18, 300 * E18, 400 * E18]
    provs = [register(w, f"p{i}", stake=s) for i, s in enumerate(stakes)]
    n_draws = 600
    counts = dict.fromkeys(provs, 0)
    for seed in range(n_draws):
        counts[reg.draw(0, MAX_UINT256, seed, [], [])[0]] += 1
    for p, s in zip(provs, stakes, strict=True):
        expected = n_draws * s / sum(stakes)
        assert abs(counts[p] - expected) < 0.4 * expected, (counts, expected)


def test_low_reputation_is_drawn_less(w, reg):
    good = register(w, "good")
    poor = register(w, "poor")
    for _ in range(40):
        as_market(w, reg.penalize, poor)
    assert reg.provider(poor).reputation == 100
    counts = {good: 0, poor: 0}
    for seed in range(300):
        counts[reg.draw(0, MAX_UINT256, seed, [], [])[0]] += 1
    assert counts[poor] < 0.1 * counts[good]
    assert counts[poor] + counts[good] == 300      # the fallback means nobody is ever refused


@pytest.mark.parametrize("seed", range(4))
def test_fenwick_tree_matches_model_after_random_changes(w, reg, seed):
    rnd = random.Random(seed)
    stakes: dict = {}         # provider -> (stake, kinds)
    names = iter(range(1000))
    for _ in range(45):
        op = rnd.choice(["register", "register", "unbond", "add", "update", "slash"])
        if op == "register" or not stakes:
            who = fresh_provider(w, f"fw-{seed}-{next(names)}")
            stake = rnd.randrange(MIN_STAKE, 5 * MIN_STAKE)
            kinds = rnd.randrange(1, 8)
            with boa.env.prank(who):
                reg.register(kinds, rnd.randrange(1, 3) * PRICE, stake, META)
            stakes[who] = [stake, kinds]
            continue
        who = rnd.choice(list(stakes))
        stake, kinds = stakes[who]
        if op == "unbond" and stake > 0:
            amount = rnd.randrange(1, stake + 1)
            with boa.env.prank(who):
                reg.unbond(amount)
            stakes[who][0] -= amount
        elif op == "add":
            amount = rnd.randrange(1, 2 * MIN_STAKE)
            with boa.env.prank(who):
                reg.add_stake(amount)
            stakes[who][0] += amount
        elif op == "update":
            kinds = rnd.randrange(1, 8)
            with boa.env.prank(who):
                reg.update_provider(kinds, PRICE, META)
            stakes[who][1] = kinds
        elif op == "slash":
            amount, _ = as_market(w, reg.slash, who, 2000)
            stakes[who][0] -= min(amount, stake)
    for kind in range(3):
        expected = sum(s for s, k in stakes.values() if s >= MIN_STAKE and k & (1 << kind))
        assert reg.kind_weight(kind)[1] == expected
        for who, (s, k) in stakes.items():
            if k & (1 << kind):
                assert reg.exclusion(kind, who)[1] == (s if s >= MIN_STAKE else 0)
        for draw_seed in range(12):
            price = rnd.choice([PRICE, 2 * PRICE, MAX_UINT256])
            assert reg.draw(kind, price, draw_seed, [], []) == model_draw(reg, kind, price, draw_seed)
        # and with the first two drawn providers excluded
        first = reg.draw(kind, MAX_UINT256, 99, [], [])
        if first[1]:
            second = reg.draw(kind, MAX_UINT256, 98, [first[1]], [first[2]])
            assert second == model_draw(reg, kind, MAX_UINT256, 98, [first[1]], [first[2]])
            assert second[0] != first[0]
    check_registry_books(w)


def test_draw_finds_the_cheap_provider_among_many_dear_ones(w, reg):
    cheap = register(w, "cheap", stake=MIN_STAKE)
    for i in range(17):
        register(w, f"dear-{i}", price=2 * PRICE, stake=1000 * E18)
    # every draw that offers PRICE has exactly one eligible provider, and should find it
    assert [reg.draw(0, PRICE, seed, [], [])[0] for seed in range(8)] == [cheap] * 8


def test_draw_gives_up_after_its_attempts(w, reg):
    # each attempt skips one provider above the price; with more of them than attempts, a
    # cheap provider may stay unfound: the draw is bounded, and says so by returning nobody
    register(w, "cheap", stake=MIN_STAKE)
    for i in range(30):
        register(w, f"dear-{i}", price=2 * PRICE, stake=1000 * E18)
    found = [reg.draw(0, PRICE, seed, [], [])[0] for seed in range(6)]
    assert ZERO in found
