"""Unit tests of ``SubnetRegistry``: subnets and their hyperparameters, registration with a burn
that rises and decays, pruning (the settler's candidate, immunity, the oldest non-immune UID),
stake pools with shares, checkpoints and slashes, validator permits (top-k by stake, subtensor's
tie rule), and weights by commit-reveal: every entry point, every revert."""

from __future__ import annotations

import re

import boa
import numpy as np
import pytest
from subnet_fixtures import (
    BPS,
    ONE,
    REGISTRY,
    REGISTRY_PATH,
    U16_MAX,
    ZERO,
    account,
    block_number,
    commit_hash,
    deploy_subnets,
    events,
    gas_lab,
    mine,
)

from agora.subnet.yuma import is_topk_nonzero

SALT = b"\x5a" * 32
MAX = 2**256 - 1


@pytest.fixture(scope="module")
def w():
    return deploy_subnets()


@pytest.fixture(autouse=True)
def _anchor(w):
    with boa.env.anchor():
        yield


@pytest.fixture(scope="module")
def owner(w):
    return w.fund(account("subnet-creator").address)


@pytest.fixture(scope="module")
def cold(w):
    return w.fund(account("coldkey").address)


@pytest.fixture(scope="module")
def staker(w):
    return w.fund(account("staker").address)


def hotkeys(n: int, tag: str = "hk") -> list[str]:
    return [account(f"{tag}-{i}").address for i in range(n)]


def full_subnet(w, owner, cold, n=4, **params):
    """A subnet of ``n`` UIDs, all registered (one block apart), with free registration."""
    params.setdefault("weights_rate_limit", 0)
    net = w.subnet(owner, tempo=5, max_uids=n, min_burn=0, max_burn=0, **params)
    keys = hotkeys(n)
    for h in keys:
        w.register(cold, net, h)
        mine()
    return net, keys


def validators(w, owner, cold, staker, stakes, **params):
    """A subnet whose UID i has stake ``stakes[i]`` and the first epoch advanced (permits set)."""
    net, keys = full_subnet(w, owner, cold, len(stakes), **params)
    for h, s in zip(keys, stakes, strict=True):
        if s:
            w.stake(staker, net, h, s)
    mine(5)
    w.act(cold, w.reg.advance_epoch, net)
    mine()
    return net, keys


def test_every_revert_is_tested():
    text = open(__file__).read()
    reasons = set(re.findall(r'"(SubnetRegistry: [^"]+)"', REGISTRY_PATH.read_text()))
    assert len(reasons) >= 30
    missing = sorted(r for r in reasons if f'"{r}"' not in text)
    assert not missing, missing


def test_code_size_is_under_the_eip170_limit():
    from agora.chain.compiler import compile_contract

    art = compile_contract("SubnetRegistry")
    print(f"SubnetRegistry: {art.runtime_size} bytes of runtime code")
    assert art.runtime_size <= 24_576


# --- constructor, settler -------------------------------------------------------------------------
def test_constructor_and_settler(w):
    assert w.reg.token() == w.token.address and w.reg.owner() == w.owner
    assert w.reg.settler() == w.settler
    with boa.reverts("SubnetRegistry: zero address"):
        REGISTRY.deploy(ZERO)
    with boa.env.prank(w.owner):
        fresh = REGISTRY.deploy(w.token.address)
    assert fresh.settler() == ZERO
    with boa.reverts("ownable: caller is not the owner"):
        w.act(w.settler, fresh.set_settler, w.settler)
    with boa.reverts("SubnetRegistry: zero address"):
        w.act(w.owner, fresh.set_settler, ZERO)
    w.act(w.owner, fresh.set_settler, w.settler)
    (e,) = events(fresh.get_logs(), "SettlerSet")
    assert e.settler == w.settler
    with boa.reverts("SubnetRegistry: settler already set"):
        w.act(w.owner, fresh.set_settler, w.owner)


# --- subnets ------------------------------------------------------------------------------------------
def test_create_subnet_with_defaults(w, owner):
    assert w.reg.subnet_count() == 0
    net = w.act(owner, w.reg.create_subnet, 360, 256, 5000, ONE, 100 * ONE)
    assert net == 1 and w.reg.subnet_count() == 1 and w.reg.subnet_owner(net) == owner
    (e,) = events(w.last_logs, "SubnetCreated")
    assert (e.netuid, e.owner, e.tempo, e.max_uids, e.immunity_period) == (1, owner, 360, 256, 5000)
    p = w.reg.hyperparams(net)
    assert p == (360, 256, 5000, 32767, 65535, 900_000, 65535, 100, 64, 5000, True, False, 45875, 58982,
                 ONE, 100 * ONE, 2600, 360)
    assert w.reg.size(net) == 0 and w.reg.epoch(net) == 0 and w.reg.epoch_block(net, 0) == block_number()
    assert w.reg.permits_at(net, 0) == 0 and w.reg.current_burn(net) == ONE
    assert w.act(owner, w.reg.create_subnet, 1, 1, 0, 0, 0) == 2
    assert w.reg.hyperparams(2).max_allowed_validators == 1
    for args, reason in (
        ((0, 8, 0, 0, 0), "SubnetRegistry: bad tempo"),
        ((50_401, 8, 0, 0, 0), "SubnetRegistry: bad tempo"),
        ((10, 0, 0, 0, 0), "SubnetRegistry: bad max_uids"),
        ((10, 257, 0, 0, 0), "SubnetRegistry: bad max_uids"),
        ((10, 8, 2**32, 0, 0), "SubnetRegistry: bad period"),
        ((10, 8, 0, 2, 1), "SubnetRegistry: bad burn parameters"),
        ((10, 8, 0, 0, 2**128), "SubnetRegistry: bad burn parameters"),
    ):
        with boa.reverts(reason):
            w.act(owner, w.reg.create_subnet, *args)
    with boa.reverts("SubnetRegistry: unknown subnet"):
        w.reg.hyperparams(3)
    with boa.reverts("SubnetRegistry: unknown subnet"):
        w.reg.hyperparams(0)


def test_set_hyperparams_checks_owner_and_bounds(w, owner, cold):
    net, _ = full_subnet(w, owner, cold, 3)
    p = w.reg.hyperparams(net)._asdict()
    with boa.reverts("SubnetRegistry: not the subnet owner"):
        w.act(cold, w.reg.set_hyperparams, net, tuple(p.values()))
    with boa.reverts("SubnetRegistry: unknown subnet"):
        w.act(owner, w.reg.set_hyperparams, 99, tuple(p.values()))
    for change, reason in (
        ({"max_uids": 2}, "SubnetRegistry: bad max_uids"),          # below the size (3)
        ({"weights_rate_limit": 2**32}, "SubnetRegistry: bad period"),
        ({"activity_cutoff": 2**32}, "SubnetRegistry: bad period"),
        ({"kappa": 65536}, "SubnetRegistry: bad u16 parameter"),
        ({"bonds_penalty": 65536}, "SubnetRegistry: bad u16 parameter"),
        ({"max_weight_limit": 0}, "SubnetRegistry: bad u16 parameter"),
        ({"max_weight_limit": 65536}, "SubnetRegistry: bad u16 parameter"),
        ({"bonds_moving_average": 1_000_001}, "SubnetRegistry: bad bonds moving average"),
        ({"max_allowed_validators": 0}, "SubnetRegistry: bad max_allowed_validators"),
        ({"max_allowed_validators": 4}, "SubnetRegistry: bad max_allowed_validators"),   # > max_uids
        ({"alpha_low": 60_000}, "SubnetRegistry: bad alpha"),
        ({"alpha_low": 65_536, "alpha_high": 65_536}, "SubnetRegistry: bad alpha"),
        ({"burn_rise_bps": BPS + 1}, "SubnetRegistry: bad burn parameters"),
        ({"burn_half_life": 0}, "SubnetRegistry: bad burn parameters"),
    ):
        with boa.reverts(reason):
            w.set_params(owner, net, **change)
    # max_allowed_validators is capped at 128 even when max_uids is 256
    big = w.subnet(owner, max_uids=256)
    with boa.reverts("SubnetRegistry: bad max_allowed_validators"):
        w.set_params(owner, big, max_allowed_validators=129)
    w.set_params(owner, big, max_allowed_validators=128, yuma3=False, liquid_alpha=True, kappa=1, alpha_low=7,
                 alpha_high=9, bonds_moving_average=1_000_000)
    (e,) = events(w.last_logs, "ParamsChanged")
    assert e.netuid == big and e.params.max_allowed_validators == 128
    p = w.reg.hyperparams(big)
    assert (p.max_allowed_validators, p.yuma3, p.liquid_alpha, p.kappa, p.alpha_low, p.alpha_high) == (
        128, False, True, 1, 7, 9)


# --- registration and the burn -------------------------------------------------------------------------
def test_register_burns_the_price_and_emits(w, owner, cold):
    net = w.subnet(owner, max_uids=4, min_burn=ONE, max_burn=100 * ONE)
    h = hotkeys(1)[0]
    supply, bal = w.token.totalSupply(), w.token.balanceOf(cold)
    assert w.register(cold, net, h) == 0
    (e,) = events(w.last_logs, "NeuronRegistered")
    assert (e.netuid, e.uid, e.hotkey, e.owner, e.replaced_hotkey, e.burned) == (net, 0, h, cold, ZERO, ONE)
    assert w.token.totalSupply() == supply - ONE and w.token.balanceOf(cold) == bal - ONE
    assert w.token.balanceOf(w.reg.address) == 0
    assert w.reg.size(net) == 1 and w.reg.uid_of(net, h) == 0 and w.reg.hotkey_of(net, 0) == h
    assert w.reg.coldkey_of(net, 0) == cold and w.reg.registered_at(net, 0) == block_number()
    assert w.reg.is_registered(net, h) and not w.reg.is_registered(net, cold)
    assert w.reg.last_update(net, 0) == 0 and w.reg.weights(net, 0) == [0]


def test_register_reverts(w, owner, cold):
    net = w.subnet(owner, max_uids=4)
    h = hotkeys(2)
    with boa.reverts("SubnetRegistry: unknown subnet"):
        w.register(cold, 99, h[0])
    with boa.reverts("SubnetRegistry: zero hotkey"):
        w.register(cold, net, ZERO)
    with boa.reverts("SubnetRegistry: burn above max_burn"):
        w.register(cold, net, h[0], max_burn=ONE - 1)
    w.register(cold, net, h[0], max_burn=ONE)
    with boa.reverts("SubnetRegistry: hotkey already registered"):       # by anyone
        w.register(owner, net, h[0])
    with boa.reverts():                                                    # no allowance: the token refuses
        w.register(account("broke").address, net, h[1])
    other = w.subnet(owner)
    w.register(cold, other, h[0])                                          # another subnet: fine
    for fn, args in ((w.reg.hotkey_of, (net, 1)), (w.reg.coldkey_of, (net, 1)), (w.reg.registered_at, (net, 1)),
                     (w.reg.last_update, (net, 1)), (w.reg.weights, (net, 1))):
        with boa.reverts("SubnetRegistry: unknown UID"):
            fn(*args)
    with boa.reverts("SubnetRegistry: unknown hotkey"):
        w.reg.uid_of(net, h[1])
    with boa.reverts("SubnetRegistry: unknown subnet"):
        w.reg.current_burn(99)


def test_burn_rises_per_registration_and_decays_to_the_floor(w, owner, cold):
    net = w.subnet(owner, max_uids=16, min_burn=ONE, max_burn=3 * ONE)
    w.set_params(owner, net, burn_half_life=100)
    keys = hotkeys(8)
    burns = []
    for h in keys[:5]:
        burns.append(w.reg.current_burn(net))
        w.register(cold, net, h)
        assert events(w.last_logs, "NeuronRegistered")[0].burned == burns[-1]
    # x1.26 per registration, in integers, capped at max_burn
    expect = [ONE]
    for _ in range(4):
        expect.append(min(expect[-1] * 12_600 // BPS, 3 * ONE))
    assert burns == expect
    assert w.reg.current_burn(net) == 3 * ONE
    # the part above the floor halves every half-life; in between, the chord
    mine(100)
    assert w.reg.current_burn(net) == ONE + 2 * ONE // 2
    mine(50)
    assert w.reg.current_burn(net) == ONE + ONE - ONE * 50 // 200       # 1.75: above 2**-1.5 * 2 = 1.707
    mine(50)
    assert w.reg.current_burn(net) == ONE + ONE // 2
    mine(100 * 130)
    assert w.reg.current_burn(net) == ONE                                # never below the floor
    # a registration restarts from the decayed price
    mine(200)
    w.register(cold, net, keys[5])
    assert w.reg.current_burn(net) == ONE * 12_600 // BPS
    # the owner's new bounds move the current price into them
    w.set_params(owner, net, min_burn=2 * ONE, max_burn=4 * ONE)
    assert w.reg.current_burn(net) == 2 * ONE
    w.set_params(owner, net, min_burn=0, max_burn=ONE // 2)
    assert w.reg.current_burn(net) == ONE // 2
    # a floor of 0 and a price of 0: registration is free for good
    w.set_params(owner, net, max_burn=0)
    supply = w.token.totalSupply()
    w.register(cold, net, keys[6])
    assert w.reg.current_burn(net) == 0 and w.token.totalSupply() == supply


# --- pruning ---------------------------------------------------------------------------------------------------
def test_full_subnet_replaces_the_settlers_candidate(w, owner, cold, staker):
    net, keys = full_subnet(w, owner, cold, 4, immunity_period=10)
    with boa.reverts("SubnetRegistry: not the settler"):
        w.act(owner, w.reg.set_prune_candidate, net, 2)
    with boa.reverts("SubnetRegistry: unknown UID"):
        w.act(w.settler, w.reg.set_prune_candidate, net, 4)
    assert w.reg.prune_candidate(net) == (False, 0)
    w.act(w.settler, w.reg.set_prune_candidate, net, 2)
    (e,) = events(w.last_logs, "PruneCandidateSet")
    assert (e.netuid, e.uid) == (net, 2) and w.reg.prune_candidate(net) == (True, 2)
    new = hotkeys(3, "new")
    # every UID registered less than 10 blocks ago: all immune, the candidate too
    with boa.reverts("SubnetRegistry: every UID is immune"):
        w.register(cold, net, new[0])
    mine(10)
    w.stake(staker, net, keys[2], 5 * ONE)
    mine()
    uid = w.register(cold, net, new[0])
    assert uid == 2 and w.reg.size(net) == 4
    (e,) = events(w.last_logs, "NeuronRegistered")
    assert (e.uid, e.hotkey, e.replaced_hotkey) == (2, new[0], keys[2])
    assert w.reg.hotkey_of(net, 2) == new[0] and not w.reg.is_registered(net, keys[2])
    assert w.reg.prune_candidate(net) == (False, 0)                      # used up
    # the pruned hotkey's stake no longer counts for UID 2 but stays withdrawable
    assert w.reg.stake_of(net, 2) == 0 and w.reg.hotkey_stake(net, keys[2]) == (5 * ONE, 5 * ONE)
    with boa.reverts("SubnetRegistry: unknown hotkey"):
        w.stake(staker, net, keys[2], ONE)
    before = w.token.balanceOf(staker)
    assert w.act(staker, w.reg.remove_stake, net, keys[2], 5 * ONE) == 5 * ONE
    assert w.token.balanceOf(staker) == before + 5 * ONE
    # no candidate now: the non-immune UID registered longest ago (UID 0)
    uid = w.register(cold, net, new[1])
    assert uid == 0 and events(w.last_logs, "NeuronRegistered")[0].replaced_hotkey == keys[0]


def test_an_immune_candidate_falls_back_to_the_oldest_non_immune_uid(w, owner, cold):
    net, keys = full_subnet(w, owner, cold, 4, immunity_period=3)
    mine(3)
    w.act(w.settler, w.reg.set_prune_candidate, net, 3)
    w.set_params(owner, net, immunity_period=5)          # UID 3 registered 4 blocks ago: immune again
    assert block_number() - w.reg.registered_at(net, 3) == 4
    uid = w.register(cold, net, hotkeys(1, "new")[0])
    assert uid == 0                                       # the oldest non-immune
    assert w.reg.prune_candidate(net) == (True, 3)        # still named, used once it is no longer immune
    mine()
    assert w.register(cold, net, hotkeys(2, "new")[1]) == 3


def test_fallback_ties_go_to_the_lowest_uid(w, owner, cold):
    net = w.subnet(owner, tempo=5, max_uids=3, min_burn=0, max_burn=0, immunity_period=1)
    keys = hotkeys(3)
    for h in keys:                                        # all in one block
        w.register(cold, net, h)
    mine()
    assert w.register(cold, net, hotkeys(1, "new")[0]) == 0
    mine()
    assert w.register(cold, net, hotkeys(2, "new")[1]) == 1


def test_replacing_a_uid_clears_its_weights_commit_and_last_update(w, owner, cold, staker):
    net, keys = validators(w, owner, cold, staker, [ONE, ONE, ONE, ONE])
    w.act(keys[1], w.reg.commit_weights, net, commit_hash(net, keys[1], [0, 3], [1, 2], SALT))
    mine(5)
    w.act(cold, w.reg.advance_epoch, net)
    w.act(keys[1], w.reg.reveal_weights, net, [0, 3], [1, 2], SALT)
    w.act(keys[1], w.reg.commit_weights, net, commit_hash(net, keys[1], [0], [1], SALT))
    assert w.reg.weights(net, 1) == [1, 0, 0, 2] and w.reg.last_update(net, 1) == block_number()
    assert w.reg.pending_commit(net, 1)[2]
    w.act(w.settler, w.reg.set_prune_candidate, net, 1)
    mine()
    newkey = hotkeys(1, "new")[0]
    assert w.register(cold, net, newkey) == 1
    assert w.reg.weights(net, 1) == [0, 0, 0, 0] and w.reg.last_update(net, 1) == 0
    assert not w.reg.pending_commit(net, 1)[2]
    # the newcomer inherits no permit for the epoch it joined in
    with boa.reverts("SubnetRegistry: no validator permit"):
        w.act(newkey, w.reg.commit_weights, net, SALT)


# --- stake ----------------------------------------------------------------------------------------------------
def test_stake_shares_and_removal(w, owner, cold, staker):
    net, keys = full_subnet(w, owner, cold, 2)
    h = keys[0]
    other = w.fund(account("staker-2").address)
    with boa.reverts("SubnetRegistry: unknown hotkey"):
        w.stake(staker, net, cold, ONE)
    with boa.reverts("SubnetRegistry: zero amount"):
        w.stake(staker, net, h, 0)
    assert w.stake(staker, net, h, 3 * ONE) == 3 * ONE
    (e,) = events(w.last_logs, "StakeAdded")
    assert (e.netuid, e.hotkey, e.staker, e.amount, e.shares) == (net, h, staker, 3 * ONE, 3 * ONE)
    w.stake(other, net, h, ONE)
    assert w.reg.stake_of(net, 0) == 4 * ONE and w.reg.hotkey_stake(net, h) == (4 * ONE, 4 * ONE)
    assert w.reg.shares_of(net, h, staker) == 3 * ONE and w.token.balanceOf(w.reg.address) == 4 * ONE
    with boa.reverts("SubnetRegistry: zero shares"):
        w.act(staker, w.reg.remove_stake, net, h, 0)
    with boa.reverts("SubnetRegistry: not enough shares"):
        w.act(other, w.reg.remove_stake, net, h, ONE + 1)
    with boa.reverts("SubnetRegistry: not enough shares"):
        w.act(staker, w.reg.remove_stake, net, keys[1], 1)
    assert w.act(staker, w.reg.remove_stake, net, h, ONE) == ONE
    (e,) = events(w.last_logs, "StakeRemoved")
    assert (e.netuid, e.hotkey, e.staker, e.amount, e.shares) == (net, h, staker, ONE, ONE)
    assert w.reg.stake_of(net, 0) == 3 * ONE
    w.check_books()
    with boa.reverts("SubnetRegistry: stake too large"):
        w.stake(w.owner, net, h, 2**128 - 3 * ONE + 1)
    with boa.env.prank(w.owner):
        w.token.approve(w.reg.address, MAX)
    w.stake(w.owner, net, h, 2**128 - 1 - 3 * ONE)               # exactly the cap
    assert w.reg.stake_of(net, 0) == 2**128 - 1


def test_slash_is_pro_rata_and_pays_or_burns(w, owner, cold, staker):
    net, keys = full_subnet(w, owner, cold, 2)
    h = keys[0]
    other = w.fund(account("staker-2").address)
    w.stake(staker, net, h, 3 * ONE)
    w.stake(other, net, h, ONE)
    with boa.reverts("SubnetRegistry: not the settler"):
        w.act(owner, w.reg.slash, net, h, 100, owner)
    with boa.reverts("SubnetRegistry: bad bps"):
        w.act(w.settler, w.reg.slash, net, h, BPS + 1, owner)
    victim = account("victim").address
    assert w.act(w.settler, w.reg.slash, net, h, 2_500, victim) == ONE
    (e,) = events(w.last_logs, "Slashed")
    assert (e.netuid, e.hotkey, e.to, e.amount) == (net, h, victim, ONE)
    assert w.token.balanceOf(victim) == ONE and w.reg.stake_of(net, 0) == 3 * ONE
    # every staker lost a quarter: 3 -> 2.25 and 1 -> 0.75
    assert w.act(other, w.reg.remove_stake, net, h, ONE) == 3 * ONE // 4
    supply = w.token.totalSupply()
    assert w.act(w.settler, w.reg.slash, net, h, 5_000, ZERO) == 9 * ONE // 8      # burnt
    assert w.token.totalSupply() == supply - 9 * ONE // 8
    w.check_books()
    # a slash of a hotkey without stake takes nothing
    assert w.act(w.settler, w.reg.slash, net, keys[1], BPS, ZERO) == 0


def test_a_full_slash_makes_old_shares_worthless_and_new_stakers_start_afresh(w, owner, cold, staker):
    net, keys = full_subnet(w, owner, cold, 1)
    h = keys[0]
    w.stake(staker, net, h, 2 * ONE)
    w.act(w.settler, w.reg.slash, net, h, BPS, ZERO)
    assert w.reg.hotkey_stake(net, h) == (0, 0) and w.reg.shares_of(net, h, staker) == 0
    with boa.reverts("SubnetRegistry: not enough shares"):
        w.act(staker, w.reg.remove_stake, net, h, 1)
    other = w.fund(account("staker-2").address)
    assert w.stake(other, net, h, ONE) == ONE
    assert w.stake(staker, net, h, ONE) == ONE                     # its old shares are gone, not added to
    assert w.reg.shares_of(net, h, staker) == ONE
    assert w.act(staker, w.reg.remove_stake, net, h, ONE) == ONE
    w.check_books()


def test_stake_checkpoints_answer_for_past_blocks(w, owner, cold, staker):
    net, keys = full_subnet(w, owner, cold, 2)
    h = keys[1]
    b0 = block_number()
    w.stake(staker, net, h, ONE)
    w.stake(staker, net, h, ONE)                  # same block: one checkpoint, overwritten
    mine(3)
    b1 = block_number()
    w.stake(staker, net, h, 5 * ONE)
    mine(2)
    b2 = block_number()
    w.act(staker, w.reg.remove_stake, net, h, 4 * ONE)
    with boa.reverts("SubnetRegistry: future lookup"):
        w.reg.stake_at(net, 1, b2)
    mine()
    assert [w.reg.stake_at(net, 1, b) for b in (0, b0 - 1, b0, b0 + 1, b1 - 1, b1, b1 + 1, b2)] == [
        0, 0, 2 * ONE, 2 * ONE, 2 * ONE, 7 * ONE, 7 * ONE, 3 * ONE]
    assert w.reg.stake_at(net, 0, b2) == 0
    # replacement: the UID's stake becomes the new hotkey's, checkpointed
    w.set_params(owner, net, max_uids=2)
    w.act(w.settler, w.reg.set_prune_candidate, net, 1)
    b3 = block_number()
    w.register(cold, net, hotkeys(1, "new")[0])
    mine()
    assert w.reg.stake_at(net, 1, b3 - 1) == 3 * ONE and w.reg.stake_at(net, 1, b3) == 0


def test_stakes_freeze_in_the_block_an_epoch_began(w, owner, cold, staker):
    net, keys = validators(w, owner, cold, staker, [ONE, 0])
    mine(5)
    w.act(cold, w.reg.advance_epoch, net)
    for fn, args in ((w.stake, (staker, net, keys[0], ONE)),):
        with boa.reverts("SubnetRegistry: stake frozen until the next block"):
            fn(*args)
    with boa.reverts("SubnetRegistry: stake frozen until the next block"):
        w.act(staker, w.reg.remove_stake, net, keys[0], 1)
    # the settler's slash is never frozen: advancing the epoch cannot block a dispute
    before = w.reg.stake_of(net, 0)
    w.act(w.settler, w.reg.slash, net, keys[0], 1, ZERO)
    assert w.reg.stake_of(net, 0) == before - before // 10_000
    mine()
    w.stake(staker, net, keys[0], ONE)
    mine()
    assert w.reg.stake_at(net, 0, w.reg.epoch_block(net, 2)) == before - before // 10_000


# --- epochs and permits -------------------------------------------------------------------------------------------
def test_advance_epoch_is_due_once_per_tempo(w, owner, cold):
    net, _ = full_subnet(w, owner, cold, 2)
    with boa.reverts("SubnetRegistry: unknown subnet"):
        w.act(cold, w.reg.advance_epoch, 99)
    start = w.reg.epoch_block(net, 0)
    mine(start + 5 - block_number() - 1)
    with boa.reverts("SubnetRegistry: epoch not due"):
        w.act(cold, w.reg.advance_epoch, net)
    mine()
    assert w.act(cold, w.reg.advance_epoch, net) == 1
    (e,) = events(w.last_logs, "EpochAdvanced")
    assert (e.netuid, e.epoch, e.block, e.permits) == (net, 1, block_number(), 0)     # nobody staked
    assert w.reg.epoch(net) == 1 and w.reg.epoch_block(net, 1) == block_number()
    with boa.reverts("SubnetRegistry: epoch not due"):
        w.act(cold, w.reg.advance_epoch, net)


@pytest.mark.parametrize("stakes,k", [
    ([5, 3, 5, 0, 5, 1], 2),           # a three-way tie for two permits: the higher UIDs win
    ([1, 1, 1, 1], 3),
    ([0, 2, 0, 2], 4),                 # fewer stakers than permits: every non-zero stake
    ([7, 1, 9, 9, 2, 7, 7, 3], 4),
    ([4, 4, 4, 4, 4, 4, 4, 4], 1),
])
def test_permits_are_the_top_k_by_stake_with_subtensors_tie_rule(w, owner, cold, staker, stakes, k):
    net, _ = validators(w, owner, cold, staker, stakes, max_allowed_validators=k)
    bitmap = w.reg.permits_at(net, 1)
    got = [bool(bitmap >> i & 1) for i in range(len(stakes))]
    assert got == list(is_topk_nonzero(np.array(stakes, dtype=float), k))
    assert bitmap >> len(stakes) == 0


def lab_accounts(w):
    return [w.fund(account(name).address) for name in ("subnet-creator", "coldkey", "staker")]


def test_permits_of_256_uids_and_the_gas():
    with gas_lab() as w:
        permits_of_256_uids(w, *lab_accounts(w))


def permits_of_256_uids(w, owner, cold, staker):
    net = w.subnet(owner, tempo=1, max_uids=256, min_burn=0, max_burn=0, max_allowed_validators=128)
    rng = np.random.default_rng(7)
    stakes = [int(x) for x in rng.integers(1, 50, 256)]      # many ties
    for i, s in enumerate(stakes):
        h = account(f"big-{i}").address
        w.register(cold, net, h)
        w.stake(staker, net, h, s)
    mine()
    gas = w.gas(cold, w.reg.advance_epoch, net)
    print(f"advance_epoch, 256 UIDs staked, 128 permits: {gas} gas (transaction, no refunds)")
    bitmap = w.reg.permits_at(net, 1)
    assert [bool(bitmap >> i & 1) for i in range(256)] == list(is_topk_nonzero(np.array(stakes, float), 128))
    assert gas < 1_200_000
    # a full subnet of 256: the settler's candidate, then the fallback scan over 256 UIDs
    mine()
    w.act(w.settler, w.reg.set_prune_candidate, net, 200)
    with_candidate = w.gas(cold, w.reg.register, net, account("big-new-0").address, MAX)
    fallback = w.gas(cold, w.reg.register, net, account("big-new-1").address, MAX)
    print(f"register into 256 full UIDs: {with_candidate} gas (candidate), {fallback} gas (fallback scan)")
    assert w.reg.uid_of(net, account("big-new-0").address) == 200
    assert w.reg.uid_of(net, account("big-new-1").address) == 0


# --- weights --------------------------------------------------------------------------------------------------------
def test_commit_and_reveal(w, owner, cold, staker):
    net, keys = validators(w, owner, cold, staker, [ONE, ONE, 0, ONE], max_allowed_validators=3)
    v = keys[3]
    uids, values = [0, 2, 3], [10, 20, 30]
    ch = commit_hash(net, v, uids, values, SALT)
    w.act(v, w.reg.commit_weights, net, ch)
    (e,) = events(w.last_logs, "WeightsCommitted")
    assert (e.netuid, e.uid, e.epoch, e.commit_hash) == (net, 3, 1, ch)
    assert w.reg.pending_commit(net, 3) == (ch, 1, True)
    with boa.reverts("SubnetRegistry: reveal too early"):
        w.act(v, w.reg.reveal_weights, net, uids, values, SALT)
    mine(5)
    w.act(cold, w.reg.advance_epoch, net)
    mine()
    w.act(v, w.reg.reveal_weights, net, uids, values, SALT)
    (e,) = events(w.last_logs, "WeightsRevealed")
    assert (e.netuid, e.uid, e.epoch, list(e.uids), list(e.values)) == (net, 3, 1, uids, values)
    assert w.reg.weights(net, 3) == [10, 0, 20, 30] and w.reg.last_update(net, 3) == block_number()
    assert w.reg.pending_commit(net, 3) == (ch, 1, False)
    with boa.reverts("SubnetRegistry: no commit"):
        w.act(v, w.reg.reveal_weights, net, uids, values, SALT)
    # a later, shorter row replaces the whole row
    w.act(v, w.reg.commit_weights, net, commit_hash(net, v, [1], [5], SALT))
    mine(5)
    w.act(cold, w.reg.advance_epoch, net)
    w.act(v, w.reg.reveal_weights, net, [1], [5], SALT)
    assert w.reg.weights(net, 3) == [0, 5, 0, 0]


def test_commit_reverts(w, owner, cold, staker):
    net, keys = validators(w, owner, cold, staker, [ONE, 0, ONE], weights_rate_limit=3)
    with boa.reverts("SubnetRegistry: unknown hotkey"):
        w.act(cold, w.reg.commit_weights, net, SALT)
    with boa.reverts("SubnetRegistry: no validator permit"):           # UID 1 has no stake
        w.act(keys[1], w.reg.commit_weights, net, SALT)
    w.act(keys[0], w.reg.commit_weights, net, SALT)
    mine(2)
    with boa.reverts("SubnetRegistry: weights rate limited"):
        w.act(keys[0], w.reg.commit_weights, net, SALT)
    mine()
    w.act(keys[0], w.reg.commit_weights, net, b"\x01" * 32)            # replaces the first commit
    assert w.reg.pending_commit(net, 0)[0] == b"\x01" * 32
    # epoch 0 has no permits at all
    net2, keys2 = full_subnet(w, owner, cold, 1)
    w.stake(staker, net2, keys2[0], ONE)
    with boa.reverts("SubnetRegistry: no validator permit"):
        w.act(keys2[0], w.reg.commit_weights, net2, SALT)


def test_reveal_timing_and_match(w, owner, cold, staker):
    net, keys = validators(w, owner, cold, staker, [ONE, ONE, ONE])
    v, x, y = keys
    w.act(v, w.reg.commit_weights, net, commit_hash(net, v, [1], [7], SALT))
    w.act(x, w.reg.commit_weights, net, commit_hash(net, v, [1], [7], SALT))        # made for another hotkey
    w.act(y, w.reg.commit_weights, net, commit_hash(net + 1, y, [1], [7], SALT))    # for another subnet
    mine(5)
    w.act(cold, w.reg.advance_epoch, net)
    for who, args in ((v, ([1], [8], SALT)), (v, ([1], [7], b"\x00" * 32)), (v, ([0], [7], SALT)),
                      (x, ([1], [7], SALT)), (y, ([1], [7], SALT))):
        with boa.reverts("SubnetRegistry: reveal does not match commit"):
            w.act(who, w.reg.reveal_weights, net, *args)
    mine(5)
    w.act(cold, w.reg.advance_epoch, net)
    with boa.reverts("SubnetRegistry: reveal too late"):
        w.act(v, w.reg.reveal_weights, net, [1], [7], SALT)


@pytest.mark.parametrize("uids,values,reason", [
    ([0, 1], [1], "SubnetRegistry: length mismatch"),
    ([1, 1], [1, 1], "SubnetRegistry: UIDs not strictly increasing"),
    ([2, 1], [1, 1], "SubnetRegistry: UIDs not strictly increasing"),
    ([0, 4], [1, 1], "SubnetRegistry: unknown UID"),
    ([0, 1], [0, 0], "SubnetRegistry: zero weights"),
    ([], [], "SubnetRegistry: zero weights"),
    ([0, 1], [3, 1], "SubnetRegistry: weight above the max"),      # 3/4 > 0.5
])
def test_reveal_checks_the_weights(w, owner, cold, staker, uids, values, reason):
    net, keys = validators(w, owner, cold, staker, [ONE] * 4, max_weight_limit=U16_MAX // 2 + 1)
    v = keys[2]
    w.act(v, w.reg.commit_weights, net, commit_hash(net, v, uids, values, SALT))
    mine(5)
    w.act(cold, w.reg.advance_epoch, net)
    with boa.reverts(reason):
        w.act(v, w.reg.reveal_weights, net, uids, values, SALT)


def test_max_weight_is_an_exact_integer_check(w, owner, cold, staker):
    limit = 40_000
    net, keys = validators(w, owner, cold, staker, [ONE] * 2, max_weight_limit=limit)
    v = keys[0]
    total = 65_535
    ok = limit * total // U16_MAX                         # value * 65535 <= limit * sum
    for value, good in ((ok, True), (ok + 1, False)):
        row = [value, total - value]
        w.act(v, w.reg.commit_weights, net, commit_hash(net, v, [0, 1], row, SALT))
        mine(5)
        w.act(cold, w.reg.advance_epoch, net)
        if good:
            w.act(v, w.reg.reveal_weights, net, [0, 1], row, SALT)
        else:
            with boa.reverts("SubnetRegistry: weight above the max"):
                w.act(v, w.reg.reveal_weights, net, [0, 1], row, SALT)


def test_weights_gas_8_and_256_uids():
    with gas_lab() as w:
        weights_gas(w, *lab_accounts(w))


def weights_gas(w, owner, cold, staker):
    net = w.subnet(owner, tempo=1, max_uids=256, min_burn=0, max_burn=0, weights_rate_limit=0)
    keys = [account(f"big-{i}").address for i in range(256)]
    for h in keys:
        w.register(cold, net, h)
    w.stake(staker, net, keys[0], ONE)
    mine()
    w.act(cold, w.reg.advance_epoch, net)
    mine()
    v = keys[0]
    out = {}
    for n, tag in ((8, "8"), (256, "256"), (256, "256_again")):
        uids = list(range(0, 256, 256 // n))
        values = [1000 + i for i in range(n)]
        out[f"commit_{tag}"] = w.gas(v, w.reg.commit_weights, net, commit_hash(net, v, uids, values, SALT))
        mine()
        w.act(cold, w.reg.advance_epoch, net)
        out[f"reveal_{tag}"] = w.gas(v, w.reg.reveal_weights, net, uids, values, SALT)
        row = w.reg.weights(net, 0)
        assert [row[u] for u in uids] == values and sum(1 for x in row if x) == n
        mine()
    print("weights gas (transaction, no refunds):", out)
    assert out["reveal_256"] < 2_000_000


def test_register_and_stake_gas():
    with gas_lab() as w:
        register_and_stake_gas(w, *lab_accounts(w))


def register_and_stake_gas(w, owner, cold, staker):
    net = w.subnet(owner, tempo=5, max_uids=4, min_burn=ONE, max_burn=100 * ONE)
    keys = hotkeys(6)
    g = [w.gas(cold, w.reg.register, net, h, MAX) for h in keys[:4]]
    mine()
    w.act(w.settler, w.reg.set_prune_candidate, net, 1)
    prune = w.gas(cold, w.reg.register, net, keys[4], MAX)
    mine()
    fallback = w.gas(cold, w.reg.register, net, keys[5], MAX)
    first = w.gas(staker, w.reg.add_stake, net, keys[2], ONE)
    mine()
    again = w.gas(staker, w.reg.add_stake, net, keys[2], ONE)
    print(f"register: {g}, full with candidate {prune}, full with fallback {fallback}; "
          f"add_stake first {first}, again {again} (transaction, no refunds)")


# --- endpoints and the history of weight rows (used by the settlement) -------------------------------------
def test_serve_and_endpoint_of(w, owner, cold):
    net, keys = full_subnet(w, owner, cold, 2)
    with boa.reverts("SubnetRegistry: unknown hotkey"):
        w.act(cold, w.reg.serve, net, "http://nowhere")
    w.act(keys[1], w.reg.serve, net, "https://miner-1.example/api")
    (e,) = events(w.last_logs, "NeuronServing")
    assert (e.netuid, e.uid, e.hotkey, e.endpoint) == (net, 1, keys[1], "https://miner-1.example/api")
    assert w.reg.endpoint_of(net, 1) == "https://miner-1.example/api" and w.reg.endpoint_of(net, 0) == ""
    with boa.reverts("SubnetRegistry: unknown UID"):
        w.reg.endpoint_of(net, 2)
    w.act(w.settler, w.reg.set_prune_candidate, net, 1)
    w.register(cold, net, hotkeys(1, "new")[0])
    assert w.reg.endpoint_of(net, 1) == ""          # the newcomer has not said where it serves


def row_digest(row: list[int]) -> bytes:
    """keccak256(abi_encode(words)) of a dense row packed 16 u16 per word (UID u at bits 16 * (u & 15))."""
    from eth_abi import encode
    from eth_utils import keccak

    words = [0] * 16
    for u, v in enumerate(row):
        words[u >> 4] |= v << (16 * (u & 15))
    return keccak(encode(["uint256[16]"], [words]))


def test_weights_at_keeps_each_rows_digest_by_block(w, owner, cold, staker):
    net, keys = validators(w, owner, cold, staker, [ONE, ONE, ONE])
    v = keys[0]
    assert w.reg.weights_at(net, 0, block_number()) == (b"\x00" * 32, 0)
    w.act(v, w.reg.commit_weights, net, commit_hash(net, v, [1, 2], [3, 4], SALT))
    mine(5)
    w.act(cold, w.reg.advance_epoch, net)
    first = block_number()
    w.act(v, w.reg.reveal_weights, net, [1, 2], [3, 4], SALT)
    mine(2)
    assert w.reg.weights_at(net, 0, first) == (row_digest([0, 3, 4]), first)
    assert w.reg.weights_at(net, 0, first - 1) == (b"\x00" * 32, 0)
    w.act(w.settler, w.reg.set_prune_candidate, net, 0)
    cleared = block_number()
    w.register(cold, net, hotkeys(1, "new")[0])
    assert w.reg.weights_at(net, 0, cleared) == (b"\x00" * 32, 0)
    assert w.reg.weights_at(net, 0, cleared - 1) == (row_digest([0, 3, 4]), first)
