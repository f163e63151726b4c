"""Unit tests of ``contracts/common/settlement.vy`` and ``merkle.vy`` through ``SettlementHarness``:
the proof walk agrees with ``agora.chain.merkle``; a result is posted, pending for its window,
rejected (and replaced) only while pending, final from ``final_at``; each leaf is claimed once,
against its proof, never past the total. Every revert of the module."""

from __future__ import annotations

import re

import boa
import pytest
from data_fixtures import ZERO32, account, events, now, pin_chain
from hypothesis import given, settings
from hypothesis import strategies as st
from tournament_fixtures import HARNESS, SETTLEMENT_PATH, Tree, leaf_digest

from agora.chain.merkle import merkle_proof, merkle_root, verify_proof

W = 3_600
KEY = b"\x07" * 32


@pytest.fixture(scope="module")
def h():
    pin_chain()
    return HARNESS.deploy()


@pytest.fixture(autouse=True)
def _anchor(h):
    with boa.env.anchor():
        yield


def people(n):
    return [account(f"settle-{i}").address for i in range(n)]


def tree_of(n, base=10**18):
    return Tree([(a, base + i) for i, a in enumerate(people(n))])


def test_every_revert_is_tested():
    text = open(__file__).read()
    reasons = set(re.findall(r'"(settlement: [^"]+)"', SETTLEMENT_PATH.read_text()))
    assert len(reasons) >= 8
    missing = sorted(r for r in reasons if f'"{r}"' not in text)
    assert not missing, missing


@pytest.mark.parametrize("n", [1, 2, 3, 5, 8, 9])
def test_the_proof_walk_agrees_with_the_python_tree(h, n):
    digests = [leaf_digest(a, i) for i, a in enumerate(people(n))]
    root = merkle_root(digests)
    for i in range(n):
        proof = merkle_proof(digests, i)
        assert h.verify(root, i, digests[i], proof) and verify_proof(root, i, digests[i], proof)
        assert not h.verify(root, i, b"\x01" * 32, proof)                     # another digest
        assert not h.verify(root, i + (1 << len(proof)), digests[i], proof)     # beyond the depth
        if n > 1:
            assert not h.verify(root, (i + 1) % n, digests[i], proof)           # another item's place


@settings(max_examples=25, deadline=None)
@given(st.lists(st.binary(min_size=32, max_size=32), min_size=1, max_size=20), st.data())
def test_property_every_leaf_proves_and_a_flipped_bit_does_not(h, digests, data):
    root = merkle_root(digests)
    i = data.draw(st.integers(0, len(digests) - 1))
    proof = merkle_proof(digests, i)
    assert h.verify(root, i, digests[i], proof)
    if proof:
        j = data.draw(st.integers(0, len(proof) - 1))
        bad = list(proof)
        bad[j] = bytes([bad[j][0] ^ 1]) + bad[j][1:]
        assert not h.verify(root, i, digests[i], bad)


def test_post_records_a_pending_result_final_after_its_window(h):
    tree = tree_of(3)
    t0 = now()
    final_at = h.post(KEY, tree.root, tree.total, W)
    assert final_at == t0 + W
    (e,) = events(h.get_logs(), "ResultPosted")
    assert (e.key, e.root, e.total, e.final_at) == (KEY, tree.root, tree.total, t0 + W)
    r = h.result(KEY)
    assert (r.root, r.total, r.paid, r.posted_at, r.final_at, r.status) == (tree.root, tree.total, 0, t0, t0 + W, 1)
    assert h.status(KEY) == 1 and not h.is_final(KEY)
    boa.env.time_travel(seconds=W - 1)
    assert not h.is_final(KEY)
    boa.env.time_travel(seconds=1)
    assert h.is_final(KEY)
    assert h.result(b"\x08" * 32).status == 0 and not h.is_final(b"\x08" * 32)


def test_post_refusals(h):
    tree = tree_of(2)
    with boa.reverts("settlement: empty root"):
        h.post(KEY, ZERO32, 0, W)
    with boa.reverts("settlement: total too large"):
        h.post(KEY, tree.root, 2**128, W)
    with boa.reverts("settlement: zero window"):
        h.post(KEY, tree.root, tree.total, 0)
    with boa.reverts("settlement: window too long"):
        h.post(KEY, tree.root, tree.total, 2**64)
    h.post(KEY, tree.root, tree.total, W)
    with boa.reverts("settlement: result already posted"):       # pending
        h.post(KEY, tree.root, tree.total, W)
    boa.env.time_travel(seconds=W)
    with boa.reverts("settlement: result already posted"):       # final
        h.post(KEY, tree_of(3).root, 1, W)


def test_reject_only_while_pending_and_a_rejected_result_is_replaced(h):
    tree, better = tree_of(2), tree_of(4)
    with boa.reverts("settlement: no pending result"):
        h.reject(KEY)
    h.post(KEY, tree.root, tree.total, W)
    boa.env.time_travel(seconds=W - 1)
    who = account("rejecter").address
    with boa.env.prank(who):
        h.reject(KEY)
    (e,) = events(h.get_logs(), "ResultRejected")
    assert (e.key, e.root, e.by) == (KEY, tree.root, who)
    assert h.status(KEY) == 2 and not h.is_final(KEY)
    boa.env.time_travel(seconds=5 * W)
    assert not h.is_final(KEY)                                    # rejected results never become final
    with boa.reverts("settlement: no pending result"):
        h.reject(KEY)
    with boa.reverts("settlement: result not final"):
        h.claim(KEY, 0, *tree.leaves[0], tree.proof(0))
    h.post(KEY, better.root, better.total, W)                     # replaced
    assert h.result(KEY).root == better.root and h.status(KEY) == 1
    boa.env.time_travel(seconds=W)
    with boa.reverts("settlement: result final"):                 # at final_at: too late
        h.reject(KEY)


def test_claims_are_paid_once_by_proof_never_past_the_total(h):
    tree = tree_of(5)
    h.post(KEY, tree.root, tree.total, W)
    with boa.reverts("settlement: result not final"):
        h.claim(KEY, 0, *tree.leaves[0], tree.proof(0))
    boa.env.time_travel(seconds=W)
    who, amount = tree.leaves[2]
    with boa.reverts("settlement: bad proof"):
        h.claim(KEY, 2, who, amount + 1, tree.proof(2))
    with boa.reverts("settlement: bad proof"):
        h.claim(KEY, 3, who, amount, tree.proof(2))
    assert h.claim(KEY, 2, who, amount, tree.proof(2)) == amount
    (e,) = events(h.get_logs(), "Claimed")
    assert (e.key, e.index, e.account, e.amount) == (KEY, 2, who, amount)
    assert h.claimed(KEY, 2) and not h.claimed(KEY, 1) and h.result(KEY).paid == amount
    with boa.reverts("settlement: already claimed"):
        h.claim(KEY, 2, who, amount, tree.proof(2))
    for i in (0, 1, 3, 4):
        h.claim(KEY, i, *tree.leaves[i], tree.proof(i))
    assert h.result(KEY).paid == tree.total


def test_a_root_whose_leaves_exceed_its_total_pays_at_most_the_total(h):
    tree = tree_of(3)
    h.post(KEY, tree.root, tree.total - 1, W)        # the poster understates the total
    boa.env.time_travel(seconds=W)
    h.claim(KEY, 0, *tree.leaves[0], tree.proof(0))
    h.claim(KEY, 1, *tree.leaves[1], tree.proof(1))
    with boa.reverts("settlement: above the total"):
        h.claim(KEY, 2, *tree.leaves[2], tree.proof(2))
    assert not h.claimed(KEY, 2)


def test_the_bitmap_spans_words(h):
    tree = tree_of(300)
    h.post(KEY, tree.root, tree.total, W)
    boa.env.time_travel(seconds=W)
    for i in (255, 256, 299):
        h.claim(KEY, i, *tree.leaves[i], tree.proof(i))
    assert [h.claimed(KEY, i) for i in (254, 255, 256, 257, 299)] == [False, True, True, False, True]
    with boa.reverts("settlement: already claimed"):
        h.claim(KEY, 256, *tree.leaves[256], tree.proof(256))


def test_results_are_kept_apart_by_key(h):
    a, b = tree_of(2), tree_of(3)
    other = b"\x09" * 32
    h.post(KEY, a.root, a.total, W)
    h.post(other, b.root, b.total, 2 * W)
    boa.env.time_travel(seconds=W)
    assert h.is_final(KEY) and not h.is_final(other)
    with boa.reverts("settlement: bad proof"):       # b's leaf against a's root
        h.claim(KEY, 2, *b.leaves[2], b.proof(2))
    h.claim(KEY, 0, *a.leaves[0], a.proof(0))
    assert h.claimed(KEY, 0) and not h.claimed(other, 0)
