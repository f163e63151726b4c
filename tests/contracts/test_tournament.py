"""Unit tests of ``Tournament``: rounds funded by their creator, targets committed before the
close and revealed after the resolution time, staked commitments revealed in their window,
unrevealed stakes burned, a settlement root posted with a bond, disputed by a provably wrong
leaf, claimed leaf by leaf (stake back, gain from the pool, loss burned), failed rounds refunded,
pools and bonds released. Every entry point, every revert; the books balance to the wei."""

from __future__ import annotations

import re

import boa
import pytest
from data_fixtures import ZERO, ZERO32, account, digest_of, events, now
from tournament_fixtures import (
    BURNED,
    CLAIMED,
    COMMITTED,
    MIN_BOND,
    ONE,
    REFUNDED,
    REVEALED,
    TOURNAMENT,
    TOURNAMENT_PATH,
    WINDOW,
    Tree,
    deploy_tournament,
    key_of,
    prediction_commit,
    settlement,
    targets_commit,
)

POOL = 100 * ONE
STAKE = 1_000 * ONE


@pytest.fixture(scope="module")
def tw():
    w = deploy_tournament()
    for name in ("creator", "resolver", "m0", "m1", "m2", "m3", "stranger"):
        w.fund(account(f"tour-{name}").address)
    return w


@pytest.fixture(autouse=True)
def _anchor(tw):
    with boa.env.anchor():
        yield


def addr(name):
    return account(f"tour-{name}").address


CREATOR, RESOLVER, STRANGER = addr("creator"), addr("resolver"), addr("stranger")
MODELS = [addr(f"m{i}") for i in range(4)]
T_CID, T_SALT = digest_of("targets round"), digest_of("targets salt")


def cid_of(who):
    return digest_of(f"predictions of {who}")


def salt_of(who):
    return digest_of(f"salt of {who}")


def open_round(tw, pool=POOL, commit=True):
    rid = tw.new_round(CREATOR, RESOLVER, pool=pool)
    if commit:
        tw.act(RESOLVER, tw.t.commit_targets, rid, targets_commit(T_CID, T_SALT))
    return rid


def submit(tw, rid, who, stake=STAKE):
    tw.act(who, tw.t.submit, rid, prediction_commit(rid, who, cid_of(who), salt_of(who)), stake)


def reveal(tw, rid, who):
    tw.act(who, tw.t.reveal, rid, cid_of(who), salt_of(who))


def times(tw, rid):
    r = tw.t.round(rid)
    return r.close_time, r.reveal_deadline, r.resolution_time, r.settle_deadline


def play(tw, stakes, revealed, payouts, pool=POOL):
    """A round with the models' stakes, those in `revealed` revealing, the targets revealed:
    returns the round and its honest settlement (tree, pool used, burn)."""
    rid = open_round(tw, pool)
    for who, stake in zip(MODELS, stakes, strict=False):
        submit(tw, rid, who, stake)
    close, _, resolution, _ = times(tw, rid)
    tw.goto(close)
    for who in revealed:
        reveal(tw, rid, who)
    tw.goto(resolution)
    tw.act(RESOLVER, tw.t.reveal_targets, rid, T_CID, T_SALT)
    subs = [(who, stake, who in revealed) for who, stake in zip(MODELS, stakes, strict=False)]
    return (rid, *settlement(subs, payouts))


def post(tw, rid, tree, used, burn):
    tw.act(RESOLVER, tw.t.post_root, rid, tree.root, tree.total, used, burn)


def balance(tw, who):
    return tw.token.balanceOf(who)


def test_every_revert_is_tested():
    text = open(__file__).read()
    reasons = set(re.findall(r'"(Tournament: [^"]+)"', TOURNAMENT_PATH.read_text()))
    assert len(reasons) >= 25
    missing = sorted(r for r in reasons if f'"{r}"' not in text)
    assert not missing, missing


def test_constructor(tw):
    t = tw.t
    assert (t.token(), t.challenge_window(), t.min_bond(), t.BAND_BPS()) == (tw.token.address, WINDOW, MIN_BOND, 500)
    assert t.round_count() == 0
    with boa.reverts("Tournament: zero token"):
        TOURNAMENT.deploy(ZERO, WINDOW, MIN_BOND)
    with boa.reverts("Tournament: zero window"):
        TOURNAMENT.deploy(tw.token.address, 0, MIN_BOND)


def test_create_round_funds_the_pool(tw):
    t, t0 = tw.t, now()
    before = balance(tw, CREATOR)
    rid = tw.act(CREATOR, t.create_round, t0 + 10, t0 + 20, t0 + 20, t0 + 30, RESOLVER, POOL, 7 * ONE)
    assert rid == 1 and t.round_count() == 1
    (e,) = events(tw.last_logs, "RoundCreated")
    assert (e.round, e.creator, e.resolver, e.close_time, e.reveal_deadline, e.resolution_time, e.settle_deadline,
            e.reward_pool, e.stake_threshold) == (
        1, CREATOR, RESOLVER, t0 + 10, t0 + 20, t0 + 20, t0 + 30, POOL, 7 * ONE)
    r = t.round(rid)
    assert (r.creator, r.resolver, r.pool, r.stake_threshold, r.submissions, r.released) == (
        CREATOR, RESOLVER, POOL, 7 * ONE, 0, False)
    assert balance(tw, CREATOR) == before - POOL and balance(tw, t.address) == POOL
    assert tw.act(STRANGER, t.create_round, t0 + 10, t0 + 20, t0 + 21, t0 + 30, RESOLVER, 0, 0) == 2   # no pool
    for bad in ((t0, t0 + 20, t0 + 20, t0 + 30),           # closes now
                (t0 + 10, t0 + 10, t0 + 20, t0 + 30),      # reveals close at the close
                (t0 + 10, t0 + 20, t0 + 19, t0 + 30),      # resolution before the reveals close
                (t0 + 10, t0 + 20, t0 + 30, t0 + 30),      # no time to settle
                (t0 + 10, t0 + 20, t0 + 30, 2**64)):       # beyond 64 bits
        with boa.reverts("Tournament: bad times"):
            tw.act(CREATOR, t.create_round, *bad, RESOLVER, POOL, 0)
    with boa.reverts("Tournament: zero resolver"):
        tw.act(CREATOR, t.create_round, t0 + 10, t0 + 20, t0 + 20, t0 + 30, ZERO, POOL, 0)
    with boa.reverts("Tournament: unknown round"):
        t.round(3)
    with boa.reverts("Tournament: unknown round"):
        t.is_failed(3)


def test_commit_targets(tw):
    t = tw.t
    rid = open_round(tw, commit=False)
    c = targets_commit(T_CID, T_SALT)
    with boa.reverts("Tournament: unknown round"):
        tw.act(RESOLVER, t.commit_targets, 99, c)
    with boa.reverts("Tournament: not the resolver"):
        tw.act(CREATOR, t.commit_targets, rid, c)
    with boa.reverts("Tournament: empty commit"):
        tw.act(RESOLVER, t.commit_targets, rid, ZERO32)
    tw.act(RESOLVER, t.commit_targets, rid, c)
    (e,) = events(tw.last_logs, "TargetsCommitted")
    assert (e.round, e.commit) == (rid, c) and t.round(rid).targets_commit == c
    with boa.reverts("Tournament: targets already committed"):
        tw.act(RESOLVER, t.commit_targets, rid, digest_of("other"))
    late = open_round(tw, commit=False)
    tw.goto(times(tw, late)[0])
    with boa.reverts("Tournament: round closed"):
        tw.act(RESOLVER, t.commit_targets, late, c)


def test_submit_stakes_a_commitment_and_tops_it_up(tw):
    t = tw.t
    rid = open_round(tw, commit=False)
    m0, m1 = MODELS[:2]
    c0 = prediction_commit(rid, m0, cid_of(m0), salt_of(m0))
    with boa.reverts("Tournament: unknown round"):
        tw.act(m0, t.submit, 99, c0, STAKE)
    with boa.reverts("Tournament: targets not committed"):
        tw.act(m0, t.submit, rid, c0, STAKE)
    tw.act(RESOLVER, t.commit_targets, rid, targets_commit(T_CID, T_SALT))
    with boa.reverts("Tournament: empty commit"):
        tw.act(m0, t.submit, rid, ZERO32, STAKE)
    with boa.reverts("Tournament: zero stake"):
        tw.act(m0, t.submit, rid, c0, 0)
    with boa.reverts("Tournament: stake too large"):
        tw.act(m0, t.submit, rid, c0, 2**128)
    before = balance(tw, m0)
    tw.act(m0, t.submit, rid, digest_of("first thought"), STAKE)
    (e,) = events(tw.last_logs, "Submitted")
    assert (e.round, e.account, e.index, e.commit, e.stake) == (rid, m0, 0, digest_of("first thought"), STAKE)
    submit(tw, rid, m1, 3 * ONE)
    assert t.submission(rid, m1).index == 1
    tw.act(m0, t.submit, rid, c0, 5 * ONE)          # replaces the commit, tops the stake up
    (e,) = events(tw.last_logs, "Submitted")
    assert (e.index, e.commit, e.stake) == (0, c0, STAKE + 5 * ONE)
    tw.act(m0, t.submit, rid, c0, 0)                # a new commit alone
    s = t.submission(rid, m0)
    assert (s.stake, s.index, s.state, s.commit) == (STAKE + 5 * ONE, 0, COMMITTED, c0)
    assert balance(tw, m0) == before - STAKE - 5 * ONE
    assert t.round(rid).submissions == 2 and t.submission(rid, STRANGER).state == 0
    with boa.reverts("Tournament: stake too large"):
        tw.act(m0, t.submit, rid, c0, 2**128 - 1)
    tw.goto(times(tw, rid)[0])
    with boa.reverts("Tournament: round closed"):   # a late submission
        tw.act(MODELS[2], t.submit, rid, digest_of("late"), STAKE)
    with boa.reverts("Tournament: round closed"):   # a late update
        tw.act(m0, t.submit, rid, c0, STAKE)


def test_reveal_must_match_the_commit_in_its_window(tw):
    t = tw.t
    rid = open_round(tw)
    m0, m1 = MODELS[:2]
    submit(tw, rid, m0)
    submit(tw, rid, m1)
    close, deadline, _, _ = times(tw, rid)
    with boa.reverts("Tournament: no submission"):
        tw.act(STRANGER, t.reveal, rid, cid_of(STRANGER), salt_of(STRANGER))
    with boa.reverts("Tournament: reveal not open"):     # too early
        reveal(tw, rid, m0)
    tw.goto(close)
    with boa.reverts("Tournament: reveal does not match commit"):
        tw.act(m0, t.reveal, rid, digest_of("other predictions"), salt_of(m0))
    with boa.reverts("Tournament: reveal does not match commit"):
        tw.act(m0, t.reveal, rid, cid_of(m0), digest_of("other salt"))
    with boa.reverts("Tournament: reveal does not match commit"):    # m0's commit is bound to m0
        tw.act(m1, t.reveal, rid, cid_of(m0), salt_of(m0))
    reveal(tw, rid, m0)
    (e,) = events(tw.last_logs, "Revealed")
    assert (e.round, e.account, e.predictions_cid, e.stake) == (rid, m0, cid_of(m0), STAKE)
    s = t.submission(rid, m0)
    assert (s.state, s.commit) == (REVEALED, cid_of(m0)) and t.round(rid).revealed_stake == STAKE
    with boa.reverts("Tournament: already revealed"):
        reveal(tw, rid, m0)
    tw.goto(deadline)
    with boa.reverts("Tournament: reveal closed"):       # too late
        reveal(tw, rid, m1)


def test_reveal_targets(tw):
    t = tw.t
    rid = open_round(tw)
    _, _, resolution, settle = times(tw, rid)
    with boa.reverts("Tournament: unknown round"):
        tw.act(RESOLVER, t.reveal_targets, 99, T_CID, T_SALT)
    with boa.reverts("Tournament: too early for the targets"):
        tw.act(RESOLVER, t.reveal_targets, rid, T_CID, T_SALT)
    tw.goto(resolution)
    with boa.reverts("Tournament: not the resolver"):
        tw.act(STRANGER, t.reveal_targets, rid, T_CID, T_SALT)
    with boa.reverts("Tournament: targets do not match commit"):
        tw.act(RESOLVER, t.reveal_targets, rid, T_CID, digest_of("wrong salt"))
    with boa.reverts("Tournament: empty targets"):
        tw.act(RESOLVER, t.reveal_targets, rid, ZERO32, T_SALT)
    tw.act(RESOLVER, t.reveal_targets, rid, T_CID, T_SALT)
    (e,) = events(tw.last_logs, "TargetsRevealed")
    assert (e.round, e.targets_cid) == (rid, T_CID) and t.round(rid).targets_cid == T_CID
    with boa.reverts("Tournament: targets already revealed"):
        tw.act(RESOLVER, t.reveal_targets, rid, T_CID, T_SALT)
    late = open_round(tw)
    tw.goto(times(tw, late)[3])
    with boa.reverts("Tournament: past the settle deadline"):
        tw.act(RESOLVER, t.reveal_targets, late, T_CID, T_SALT)


def test_an_unrevealed_submission_is_burned(tw):
    t, token = tw.t, tw.token
    rid = open_round(tw)
    m0, m1 = MODELS[:2]
    submit(tw, rid, m0)
    submit(tw, rid, m1, 2 * STAKE)
    close, deadline, _, _ = times(tw, rid)
    tw.goto(close)
    reveal(tw, rid, m0)
    with boa.reverts("Tournament: unknown round"):
        tw.act(STRANGER, t.burn_unrevealed, 99, m1)
    with boa.reverts("Tournament: reveal still open"):
        tw.act(STRANGER, t.burn_unrevealed, rid, m1)
    tw.goto(deadline)
    with boa.reverts("Tournament: nothing to burn"):     # revealed
        tw.act(STRANGER, t.burn_unrevealed, rid, m0)
    with boa.reverts("Tournament: nothing to burn"):     # never submitted
        tw.act(STRANGER, t.burn_unrevealed, rid, STRANGER)
    supply = token.totalSupply()
    assert tw.act(STRANGER, t.burn_unrevealed, rid, m1) == 2 * STAKE
    (e,) = events(tw.last_logs, "Burned")
    assert (e.round, e.account, e.amount) == (rid, m1, 2 * STAKE)
    assert token.totalSupply() == supply - 2 * STAKE and t.submission(rid, m1).state == BURNED
    assert balance(tw, t.address) == POOL + STAKE
    with boa.reverts("Tournament: nothing to burn"):
        tw.act(STRANGER, t.burn_unrevealed, rid, m1)


def test_post_root_checks_what_it_can_and_takes_a_bond(tw):
    t = tw.t
    stakes = [STAKE, 2 * STAKE, STAKE, STAKE]
    rid, tree, used, burn = play(tw, stakes, MODELS[:3], {MODELS[0]: 500, MODELS[1]: -300, MODELS[2]: 100})
    assert (used, burn) == (60 * ONE, 60 * ONE)
    assert t.required_bond(used, burn) == used + burn and t.required_bond(0, 0) == MIN_BOND
    with boa.reverts("Tournament: unknown round"):
        tw.act(RESOLVER, t.post_root, 99, tree.root, tree.total, used, burn)
    with boa.reverts("Tournament: not the resolver"):
        tw.act(STRANGER, t.post_root, rid, tree.root, tree.total, used, burn)
    with boa.reverts("Tournament: pool used above the pool"):
        tw.act(RESOLVER, t.post_root, rid, tree.root, tree.total + POOL, POOL + 1, burn)
    with boa.reverts("Tournament: beyond 5% of the stakes"):        # S = 4,000: at most 200 either way
        tw.act(RESOLVER, t.post_root, rid, tree.root, tree.total - 141 * ONE, used, 201 * ONE)
    with boa.reverts("Tournament: totals do not add up"):
        tw.act(RESOLVER, t.post_root, rid, tree.root, tree.total + 1, used, burn)
    with boa.reverts("settlement: empty root"):
        tw.act(RESOLVER, t.post_root, rid, ZERO32, tree.total, used, burn)
    before = balance(tw, RESOLVER)
    post(tw, rid, tree, used, burn)
    (e,) = events(tw.last_logs, "RootPosted")
    assert (e.round, e.root, e.total, e.pool_used, e.burn, e.bond) == (
        rid, tree.root, tree.total, used, burn, used + burn)
    (e,) = events(tw.last_logs, "ResultPosted")
    assert (e.key, e.root, e.total, e.final_at) == (key_of(rid), tree.root, tree.total, now() + WINDOW)
    assert balance(tw, RESOLVER) == before - used - burn
    r = t.round(rid)
    assert (r.gain_left, r.burn_left, r.bond) == (used, burn, used + burn)
    assert t.result(key_of(rid)).status == 1 and not t.is_final(key_of(rid))
    with boa.reverts("settlement: result already posted"):
        post(tw, rid, tree, used, burn)
    # a round whose targets are not out yet; one past its settle deadline
    early = open_round(tw)
    with boa.reverts("Tournament: targets not revealed"):
        post(tw, early, tree, used, burn)
    tw.goto(times(tw, rid)[3])
    tw.goto(times(tw, early)[2])
    tw.act(RESOLVER, t.reveal_targets, early, T_CID, T_SALT)
    tw.goto(times(tw, early)[3])
    with boa.reverts("Tournament: past the settle deadline"):
        tw.act(RESOLVER, t.post_root, early, tree.root, 0, 0, 0)


def test_a_round_reconciles_to_the_wei(tw):
    """pool + stakes == what the models get back + what is burned + what the creator gets back."""
    t, token = tw.t, tw.token
    stakes = [1_000 * ONE + 7, 333 * ONE + 1, 250 * ONE, 40 * ONE + 3]
    payouts = {MODELS[0]: 500, MODELS[1]: -123, MODELS[2]: 37}
    start = {w: balance(tw, w) for w in (*MODELS, CREATOR, RESOLVER)}
    supply = token.totalSupply()
    rid, tree, used, burn = play(tw, stakes, MODELS[:3], payouts)
    tw.goto(times(tw, rid)[1])
    tw.act(STRANGER, t.burn_unrevealed, rid, MODELS[3])
    post(tw, rid, tree, used, burn)
    with boa.reverts("settlement: result not final"):
        tw.act(MODELS[0], t.claim, rid, 0, tree.leaves[0][1], tree.proof(0))
    with boa.reverts("Tournament: round not settled"):
        tw.act(STRANGER, t.release, rid)
    tw.goto(now() + WINDOW)
    assert t.is_final(key_of(rid))
    paid = {}
    for i, who in enumerate(MODELS[:3]):
        paid[who] = tw.act(who, t.claim, rid, i, tree.leaves[i][1], tree.proof(i))
        (e,) = events(tw.last_logs, "StakeSettled")
        assert e.paid == tree.leaves[i][1] == paid[who] and e.burned == max(0, stakes[i] - paid[who])
        (c,) = events(tw.last_logs, "Claimed")
        assert (c.key, c.index, c.account, c.amount) == (key_of(rid), i, who, tree.leaves[i][1])
        assert t.submission(rid, who).state == CLAIMED and t.claimed(key_of(rid), i)
    tw.act(STRANGER, t.release, rid)
    (e,) = events(tw.last_logs, "Released")
    assert (e.round, e.creator_amount, e.resolver_amount) == (rid, POOL - used, used + burn)
    returns = sum(paid.values())
    burned = supply - token.totalSupply()
    assert burned == burn + stakes[3]
    assert POOL + sum(stakes) == returns + burned + (POOL - used)
    assert returns + burn == sum(stakes[:3]) + used
    assert balance(tw, t.address) == 0
    for i, who in enumerate(MODELS[:3]):
        assert balance(tw, who) == start[who] - stakes[i] + paid[who]
    assert balance(tw, CREATOR) == start[CREATOR] - used and balance(tw, RESOLVER) == start[RESOLVER]
    assert t.result(key_of(rid)).paid == tree.total


def test_claim_refusals(tw):
    t = tw.t
    rid, tree, used, burn = play(tw, [STAKE] * 3, MODELS[:2], {MODELS[0]: 200, MODELS[1]: -200})
    post(tw, rid, tree, used, burn)
    tw.goto(now() + WINDOW)
    m0, m1, m2 = MODELS[:3]
    a0 = tree.leaves[0][1]
    with boa.reverts("Tournament: not revealed"):
        tw.act(m2, t.claim, rid, 2, 0, tree.proof(2))
    with boa.reverts("Tournament: not revealed"):
        tw.act(STRANGER, t.claim, rid, 0, a0, tree.proof(0))
    with boa.reverts("Tournament: wrong index"):
        tw.act(m0, t.claim, rid, 1, a0, tree.proof(1))
    with boa.reverts("Tournament: amount out of bounds"):
        tw.act(m0, t.claim, rid, 0, STAKE * 106 // 100, tree.proof(0))
    with boa.reverts("Tournament: amount out of bounds"):
        tw.act(m0, t.claim, rid, 0, 2**255, tree.proof(0))
    with boa.reverts("settlement: bad proof"):
        tw.act(m0, t.claim, rid, 0, a0 - 1, tree.proof(0))
    with boa.reverts("settlement: bad proof"):
        tw.act(m0, t.claim, rid, 0, a0, tree.proof(1))
    tw.act(m0, t.claim, rid, 0, a0, tree.proof(0))
    with boa.reverts("Tournament: already settled"):       # claimed twice
        tw.act(m0, t.claim, rid, 0, a0, tree.proof(0))


def test_a_dispute_proving_a_bad_leaf_rejects_the_root_and_pays_the_bond(tw):
    t = tw.t
    rid, good, used, burn = play(tw, [STAKE] * 4, MODELS[:3], {MODELS[0]: 500, MODELS[1]: -500})
    m0, m1, m2, m3 = MODELS
    # the resolver pays m0 6% and takes it from m1: m0's leaf is out of bounds
    bad = Tree([(m0, STAKE * 106 // 100), (m1, STAKE * 94 // 100), (m2, STAKE), (m3, 0)])
    with boa.reverts("settlement: no pending result"):
        tw.act(STRANGER, t.dispute, rid, 0, *bad.leaves[0], bad.proof(0))
    post(tw, rid, bad, 60 * ONE, 60 * ONE)
    bond = 120 * ONE
    with boa.reverts("Tournament: leaf is valid"):
        tw.act(STRANGER, t.dispute, rid, 2, *bad.leaves[2], bad.proof(2))
    with boa.reverts("Tournament: leaf is valid"):
        tw.act(STRANGER, t.dispute, rid, 3, *bad.leaves[3], bad.proof(3))
    with boa.reverts("Tournament: bad proof"):
        tw.act(STRANGER, t.dispute, rid, 0, m0, STAKE, bad.proof(0))
    before = balance(tw, STRANGER)
    tw.act(STRANGER, t.dispute, rid, 0, *bad.leaves[0], bad.proof(0))
    (e,) = events(tw.last_logs, "Disputed")
    assert (e.round, e.disputer, e.index, e.account, e.amount, e.bond) == (rid, STRANGER, 0, m0, bad.leaves[0][1], bond)
    (e,) = events(tw.last_logs, "ResultRejected")
    assert (e.key, e.root, e.by) == (key_of(rid), bad.root, STRANGER)
    assert balance(tw, STRANGER) == before + bond and t.round(rid).bond == 0
    assert t.result(key_of(rid)).status == 2
    with boa.reverts("settlement: no pending result"):
        tw.act(STRANGER, t.dispute, rid, 1, *bad.leaves[1], bad.proof(1))
    # the resolver posts the right root, which stands
    post(tw, rid, good, used, burn)
    tw.goto(now() + WINDOW)
    with boa.reverts("settlement: result final"):
        tw.act(STRANGER, t.dispute, rid, 0, *good.leaves[0], good.proof(0))
    tw.act(m0, t.claim, rid, 0, good.leaves[0][1], good.proof(0))
    assert balance(tw, m0) == 10**24 + 50 * ONE


@pytest.mark.parametrize("case", ["stranger", "wrong index", "unrevealed paid", "under the band"])
def test_every_provable_kind_of_bad_leaf(tw, case):
    t = tw.t
    rid, good, used, burn = play(tw, [STAKE] * 4, MODELS[:3], {})
    m0, m1, m2, m3 = MODELS
    leaves = list(good.leaves)
    if case == "stranger":
        leaves[2] = (STRANGER, STAKE)
    elif case == "wrong index":
        leaves[1], leaves[2] = leaves[2], leaves[1]
    elif case == "unrevealed paid":
        leaves[3] = (m3, 1)
    else:
        leaves[0] = (m0, STAKE * 95 // 100 - 1)
    bad = Tree(leaves)
    i = {"stranger": 2, "wrong index": 1, "unrevealed paid": 3, "under the band": 0}[case]
    total = bad.total
    burn = sum(max(0, STAKE - a) for w, a in leaves if w in (m0, m1, m2))
    used = total + burn - 3 * STAKE
    if used < 0:
        burn -= used
        used = 0
    if burn * 10_000 > 3 * STAKE * 500:       # keep the post itself acceptable
        pytest.skip("not postable")
    post(tw, rid, bad, used, burn)
    tw.act(STRANGER, t.dispute, rid, i, *bad.leaves[i], bad.proof(i))
    assert t.result(key_of(rid)).status == 2


def test_a_resolver_that_never_reveals_lets_every_stake_be_refunded(tw):
    t = tw.t
    rid = open_round(tw)
    stakes = [STAKE, 2 * STAKE, 3 * STAKE]
    for who, s in zip(MODELS, stakes, strict=False):
        submit(tw, rid, who, s)
    before = {w: balance(tw, w) for w in (*MODELS, CREATOR)}
    close, deadline, _, settle = times(tw, rid)
    tw.goto(close)
    for who in MODELS[:3]:
        reveal(tw, rid, who)
    tw.goto(settle - 1)
    assert not t.is_failed(rid)
    with boa.reverts("Tournament: round not failed"):
        tw.act(MODELS[0], t.refund, rid)
    with boa.reverts("Tournament: round not settled"):
        tw.act(STRANGER, t.release, rid)
    tw.goto(settle)
    assert t.is_failed(rid)
    with boa.reverts("Tournament: unknown round"):
        tw.act(MODELS[0], t.refund, 99)
    with boa.reverts("Tournament: not revealed"):
        tw.act(STRANGER, t.refund, rid)
    for who, s in zip(MODELS, stakes, strict=False):
        assert tw.act(who, t.refund, rid) == s
        (e,) = events(tw.last_logs, "Refunded")
        assert (e.round, e.account, e.amount) == (rid, who, s)
        assert balance(tw, who) == before[who] + s and t.submission(rid, who).state == REFUNDED
    with boa.reverts("Tournament: already settled"):
        tw.act(MODELS[0], t.refund, rid)
    with boa.reverts("Tournament: unknown round"):
        tw.act(STRANGER, t.release, 99)
    tw.act(STRANGER, t.release, rid)
    (e,) = events(tw.last_logs, "Released")
    assert (e.creator_amount, e.resolver_amount) == (POOL, 0)
    assert balance(tw, CREATOR) == before[CREATOR] + POOL and balance(tw, t.address) == 0
    with boa.reverts("Tournament: already released"):
        tw.act(STRANGER, t.release, rid)


def test_a_root_rejected_after_the_settle_deadline_fails_the_round(tw):
    t = tw.t
    rid, good, used, burn = play(tw, [STAKE] * 2, MODELS[:2], {})
    bad = Tree([(MODELS[0], STAKE), (STRANGER, STAKE)])
    tw.goto(times(tw, rid)[3] - 1)
    post(tw, rid, bad, 0, 0)                  # posted at the last second
    tw.goto(now() + 1)
    assert not t.is_failed(rid)               # pending: it may yet become final
    tw.act(STRANGER, t.dispute, rid, 1, *bad.leaves[1], bad.proof(1))
    assert t.is_failed(rid)
    with boa.reverts("Tournament: past the settle deadline"):
        post(tw, rid, good, used, burn)
    for who in MODELS[:2]:
        assert tw.act(who, t.refund, rid) == STAKE
    tw.act(CREATOR, t.release, rid)
    assert balance(tw, t.address) == 0


def test_a_root_not_adding_up_pays_gains_and_burns_no_further_than_stated(tw):
    """Leaves in bounds that do not add up to the stated totals cannot be disputed, but the
    pool pays at most the stated use and stakes burn at most the stated burn."""
    t, token = tw.t, tw.token
    rid, _, _, _ = play(tw, [STAKE] * 4, MODELS, {})
    m0, m1, m2, m3 = MODELS
    # states a pool use of 10 and a burn of 10, but its leaves give +50, +50, -50, -50
    lying = Tree([(m0, STAKE + 50 * ONE), (m1, STAKE + 50 * ONE), (m2, STAKE - 50 * ONE), (m3, STAKE - 50 * ONE)])
    post(tw, rid, lying, 10 * ONE, 10 * ONE)
    tw.goto(now() + WINDOW)
    supply = token.totalSupply()
    assert tw.act(m0, t.claim, rid, 0, lying.leaves[0][1], lying.proof(0)) == STAKE + 10 * ONE
    assert tw.act(m1, t.claim, rid, 1, lying.leaves[1][1], lying.proof(1)) == STAKE
    assert tw.act(m2, t.claim, rid, 2, lying.leaves[2][1], lying.proof(2)) == STAKE - 10 * ONE
    assert tw.act(m3, t.claim, rid, 3, lying.leaves[3][1], lying.proof(3)) == STAKE
    assert supply - token.totalSupply() == 10 * ONE
    tw.act(STRANGER, t.release, rid)
    assert balance(tw, t.address) == 0


def test_release_after_final_keeps_what_unclaimed_gains_reserve(tw):
    t = tw.t
    rid, tree, used, burn = play(tw, [STAKE] * 2, MODELS[:2], {MODELS[0]: 300, MODELS[1]: 200})
    post(tw, rid, tree, used, burn)
    tw.goto(now() + WINDOW)
    before = balance(tw, CREATOR)
    tw.act(STRANGER, t.release, rid)
    assert balance(tw, CREATOR) == before + POOL - used and t.round(rid).pool == used
    assert balance(tw, t.address) == 2 * STAKE + used
    with boa.reverts("Tournament: already released"):
        tw.act(STRANGER, t.release, rid)
    for i, who in enumerate(MODELS[:2]):
        tw.act(who, t.claim, rid, i, tree.leaves[i][1], tree.proof(i))
    assert balance(tw, t.address) == 0 and t.round(rid).pool == 0


def test_an_unrevealed_model_is_burned_even_in_a_failed_round(tw):
    t, token = tw.t, tw.token
    rid = open_round(tw)
    submit(tw, rid, MODELS[0])
    tw.goto(times(tw, rid)[3])
    assert t.is_failed(rid)
    with boa.reverts("Tournament: not revealed"):
        tw.act(MODELS[0], t.refund, rid)
    supply = token.totalSupply()
    tw.act(STRANGER, t.burn_unrevealed, rid, MODELS[0])
    assert token.totalSupply() == supply - STAKE
    tw.act(STRANGER, t.release, rid)
    assert balance(tw, t.address) == 0


def test_an_empty_round_settles_with_an_empty_root(tw):
    t = tw.t
    rid = open_round(tw)
    tw.goto(times(tw, rid)[2])
    tw.act(RESOLVER, t.reveal_targets, rid, T_CID, T_SALT)
    tree = Tree([(ZERO, 0)])
    before = balance(tw, RESOLVER)
    post(tw, rid, tree, 0, 0)
    assert balance(tw, RESOLVER) == before - MIN_BOND
    tw.goto(now() + WINDOW)
    tw.act(STRANGER, t.release, rid)
    assert balance(tw, RESOLVER) == before and balance(tw, t.address) == 0


def test_a_model_left_out_of_the_tree_exits_at_the_floor(tw):
    t, token = tw.t, tw.token
    rid, _, _, _ = play(tw, [STAKE] * 3, MODELS[:3], {})
    m0, m1, m2 = MODELS[:3]
    # m2 is left out: a two-leaf tree stating the total of three, nothing to dispute (neither
    # absence nor a total that the leaves do not reach is provable by one proof)
    short = Tree([(m0, STAKE), (m1, STAKE)])
    tw.act(RESOLVER, t.post_root, rid, short.root, 3 * STAKE, 0, 0)
    with boa.reverts("Tournament: root not final"):
        tw.act(m2, t.exit_round, rid)
    tw.goto(now() + WINDOW)
    with boa.reverts("Tournament: not revealed"):
        tw.act(STRANGER, t.exit_round, rid)
    supply, before = token.totalSupply(), balance(tw, m2)
    assert tw.act(m2, t.exit_round, rid) == STAKE * 95 // 100
    (e,) = events(tw.last_logs, "StakeSettled")
    assert (e.account, e.paid, e.burned) == (m2, STAKE * 95 // 100, STAKE * 5 // 100)
    assert token.totalSupply() == supply - STAKE * 5 // 100 and balance(tw, m2) == before + STAKE * 95 // 100
    with boa.reverts("Tournament: already settled"):
        tw.act(m2, t.exit_round, rid)
    tw.act(m0, t.claim, rid, 0, STAKE, short.proof(0))
    with boa.reverts("Tournament: already settled"):
        tw.act(m0, t.exit_round, rid)
    with boa.reverts("Tournament: root not final"):
        tw.act(m2, t.exit_round, 99)


def test_gains_never_claimed_are_swept_back_to_the_creator(tw):
    """A model that exits instead of claiming its gain (or never claims) leaves that gain reserved;
    CLAIM_PERIOD after the root is final, anyone sweeps it back to the creator: nothing is stuck."""
    t = tw.t
    rid, tree, used, burn = play(tw, [STAKE] * 2, MODELS[:2], {MODELS[0]: 300, MODELS[1]: -200})
    post(tw, rid, tree, used, burn)
    final = now() + WINDOW
    tw.goto(final)
    with boa.reverts("Tournament: not released"):
        tw.act(STRANGER, t.sweep, rid)
    tw.act(STRANGER, t.release, rid)
    tw.act(MODELS[1], t.claim, rid, 1, tree.leaves[1][1], tree.proof(1))
    tw.act(MODELS[0], t.exit_round, rid)               # gives up its gain: 95 % of the stake back
    assert t.round(rid).pool > 0 and balance(tw, t.address) == t.round(rid).pool
    with boa.reverts("Tournament: claims still open"):
        tw.act(STRANGER, t.sweep, rid)
    tw.goto(final + t.CLAIM_PERIOD())
    before = balance(tw, CREATOR)
    left = t.round(rid).pool
    tw.act(STRANGER, t.sweep, rid)
    assert balance(tw, CREATOR) == before + left and balance(tw, t.address) == 0
    assert t.round(rid).pool == 0 and t.round(rid).gain_left == 0
