"""Merkle trees over batch results: every proof verifies, every forgery fails, and the
Python check agrees with ``ComputeMarket.verify_item`` on a settled batch."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boa
import pytest
from eth_abi import encode
from eth_utils import keccak
from hypothesis import given, settings
from hypothesis import strategies as st

from agora.chain.merkle import leaf_hash
from agora.compute import merkle_proof, merkle_root, verify_proof

ROOT = Path(__file__).resolve().parents[2]
ZERO = bytes(32)

digest = st.binary(min_size=32, max_size=32)
batches = st.lists(digest, min_size=1, max_size=70)


@st.composite
def batch_and_index(draw: st.DrawFn) -> tuple[list[bytes], int]:
    items = draw(batches)
    return items, draw(st.integers(min_value=0, max_value=len(items) - 1))


# -- the tree's shape, pinned -------------------------------------------------------------------
def test_leaf_is_prefixed_and_binds_the_index() -> None:
    d = keccak(b"item")
    assert leaf_hash(3, d) == keccak(b"\x00" + encode(["uint256", "bytes32"], [3, d]))
    assert leaf_hash(3, d) != leaf_hash(4, d)


def test_small_trees_by_hand() -> None:
    a, b, c = (keccak(x) for x in (b"a", b"b", b"c"))
    la, lb, lc = leaf_hash(0, a), leaf_hash(1, b), leaf_hash(2, c)
    assert merkle_root([a]) == la
    assert merkle_root([a, b]) == keccak(la + lb)
    # an odd node at the end of a level is paired with 32 zero bytes
    assert merkle_root([a, b, c]) == keccak(keccak(la + lb) + keccak(lc + ZERO))
    assert merkle_proof([a, b, c], 2) == [ZERO, keccak(la + lb)]
    assert merkle_proof([a], 0) == []


@pytest.mark.parametrize(("n", "depth"), [(1, 0), (2, 1), (3, 2), (4, 2), (5, 3), (8, 3), (9, 4), (64, 6), (70, 7)])
def test_proof_length_is_the_depth(n: int, depth: int) -> None:
    items = [keccak(i.to_bytes(2, "big")) for i in range(n)]
    assert {len(merkle_proof(items, i)) for i in range(n)} == {depth}


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="at least one leaf"):
        merkle_root([])
    with pytest.raises(ValueError, match="item 3 is not in a batch of 3"):
        merkle_proof([ZERO] * 3, 3)
    with pytest.raises(ValueError, match="item -1"):
        merkle_proof([ZERO] * 3, -1)
    with pytest.raises(ValueError, match="32 bytes"):
        leaf_hash(0, b"short")


# -- properties ----------------------------------------------------------------------------------
@settings(max_examples=150)
@given(batches)
def test_every_items_proof_verifies(items: list[bytes]) -> None:
    root = merkle_root(items)
    for i, d in enumerate(items):
        assert verify_proof(root, i, d, merkle_proof(items, i))


@pytest.mark.parametrize("n", range(1, 71))
def test_every_size_up_to_70(n: int) -> None:
    items = [keccak(b"item %d" % i) for i in range(n)]
    root = merkle_root(items)
    assert all(verify_proof(root, i, items[i], merkle_proof(items, i)) for i in range(n))


@given(batch_and_index(), digest)
def test_a_wrong_digest_fails(case: tuple[list[bytes], int], other: bytes) -> None:
    items, i = case
    if other == items[i]:
        return
    assert not verify_proof(merkle_root(items), i, other, merkle_proof(items, i))


@given(batch_and_index(), st.integers(min_value=0, max_value=200))
def test_a_wrong_index_fails(case: tuple[list[bytes], int], j: int) -> None:
    items, i = case
    if j == i:
        return
    # item i's digest and proof, claimed for position j: the index is bound into the leaf
    assert not verify_proof(merkle_root(items), j, items[i], merkle_proof(items, i))


@given(batch_and_index(), st.data())
def test_a_tampered_proof_fails(case: tuple[list[bytes], int], data: st.DataObject) -> None:
    items, i = case
    proof = merkle_proof(items, i)
    root = merkle_root(items)
    if proof:
        k = data.draw(st.integers(min_value=0, max_value=len(proof) - 1))
        bit = data.draw(st.integers(min_value=0, max_value=255))
        flipped = bytearray(proof[k])
        flipped[bit // 8] ^= 1 << (bit % 8)
        assert not verify_proof(root, i, items[i], [*proof[:k], bytes(flipped), *proof[k + 1 :]])
        assert not verify_proof(root, i, items[i], proof[:-1])
    assert not verify_proof(root, i, items[i], [*proof, ZERO])
    assert not verify_proof(keccak(root), i, items[i], proof)


@given(batches.filter(lambda xs: len(xs) >= 2))
def test_an_inner_node_cannot_pose_as_an_item(items: list[bytes]) -> None:
    root = merkle_root(items)
    proof = merkle_proof(items, 0)
    inner = keccak(leaf_hash(0, items[0]) + proof[0])  # the parent of items 0 and 1
    assert not verify_proof(root, 0, inner, proof[1:])


@given(batches, st.data())
def test_changing_any_item_changes_the_root(items: list[bytes], data: st.DataObject) -> None:
    i = data.draw(st.integers(min_value=0, max_value=len(items) - 1))
    other = data.draw(digest.filter(lambda d: d != items[i]))
    assert merkle_root(items) != merkle_root([*items[:i], other, *items[i + 1 :]])
    assert merkle_root(items) != merkle_root([*items, ZERO])  # a padding zero is not an item


# -- agreement with the contract -------------------------------------------------------------------
@dataclass
class Market:
    market: Any
    provider: Any
    requester: Any


PRICE = 10**15
SALT = keccak(b"salt")


@pytest.fixture(scope="module")
def chain() -> Iterator[Market]:
    """Token, registry and market on titanoboa, one provider of kind 0 and one requester."""
    with boa.env.anchor():
        owner = boa.env.generate_address("merkle-owner")
        provider = boa.env.generate_address("merkle-provider")
        requester = boa.env.generate_address("merkle-requester")
        with boa.env.prank(owner):
            tok = boa.load(str(ROOT / "contracts/token/AgoraToken.vy"), 10**30)
            reg = boa.load(str(ROOT / "contracts/compute/ProviderRegistry.vy"), tok.address, 100 * 10**18,
                           7 * 86400)
            m = boa.load(str(ROOT / "contracts/compute/ComputeMarket.vy"), tok.address, reg.address,
                         boa.env.generate_address("merkle-treasury"), 10**16, 250, 2000, 5000, 600, 600)
            reg.set_market(m.address, True)
            tok.transfer(provider, 1_000 * 10**18)
            tok.transfer(requester, 10**27)
        with boa.env.prank(provider):
            tok.approve(reg.address, 2**256 - 1)
            reg.register(1, PRICE, 200 * 10**18, keccak(b"meta"))
        with boa.env.prank(requester):
            tok.approve(m.address, 2**256 - 1)
        yield Market(m, provider, requester)


def _settle_batch(w: Market, items: list[bytes], policy: int = 0) -> int:
    """Post a batch of ``len(items)`` under ``policy`` (NONE, or AUDIT with p = 0), commit and
    reveal its Merkle root; return the settled job's id."""
    m, root = w.market, merkle_root(items)
    spec = (0, keccak(b"model"), keccak(b"manifest"), len(items), len(items), PRICE, policy, 0, 3_600)
    with boa.env.prank(w.requester):
        job_id = m.post(spec)
    assert list(m.job(job_id).providers) == [w.provider]
    c = keccak(encode(["uint256", "address", "bytes32", "bytes32"], [job_id, w.provider, root, SALT]))
    with boa.env.prank(w.provider):
        m.commit(job_id, c)
        boa.env.time_travel(blocks=1)  # a reveal goes in a later block than its commit
        m.reveal(job_id, root, keccak(b"result manifest"), SALT)
    job = m.job(job_id)
    assert job.state == 8 and job.result == root  # settled, on the root
    return job_id


@pytest.mark.parametrize(("n", "policy"), [(1, 0), (2, 0), (3, 1), (5, 0), (8, 1), (13, 0), (70, 0)])
def test_contract_verifies_every_item_as_python_does(chain: Market, n: int, policy: int) -> None:
    items = [keccak(b"out %d %d" % (n, i)) for i in range(n)]
    job_id = _settle_batch(chain, items, policy)
    root = merkle_root(items)
    for i, d in enumerate(items):
        proof = merkle_proof(items, i)
        assert verify_proof(root, i, d, proof)
        assert chain.market.verify_item(job_id, i, d, proof) is True
        wrong = keccak(d)
        assert not verify_proof(root, i, wrong, proof)
        assert chain.market.verify_item(job_id, i, wrong, proof) is False
    if n >= 2:
        proof = merkle_proof(items, 0)
        assert chain.market.verify_item(job_id, 1, items[0], proof) is False
        inner = keccak(leaf_hash(0, items[0]) + proof[0])
        assert chain.market.verify_item(job_id, 0, inner, proof[1:]) is False


@settings(max_examples=20, deadline=None)
@given(batch_and_index(), st.data())
def test_contract_and_python_agree_on_any_claim(chain: Market, case: tuple[list[bytes], int],
                                                data: st.DataObject) -> None:
    items, i = case
    job_id = _settle_batch(chain, items)
    root, proof = merkle_root(items), merkle_proof(items, i)
    claims = [(i, items[i], proof)]
    j = data.draw(st.integers(min_value=0, max_value=len(items) + 3))
    claims.append((j, items[i], proof))
    if proof:
        claims.append((i, items[i], proof[::-1]))
        claims.append((i, items[i], proof[:-1]))
    for index, d, p in claims:
        assert verify_proof(root, index, d, p) == chain.market.verify_item(job_id, index, d, p)


def test_unsettled_job_verifies_nothing(chain: Market) -> None:
    items = [keccak(b"x"), keccak(b"y")]
    spec = (0, keccak(b"model"), keccak(b"manifest"), 2, 2, PRICE, 0, 0, 3_600)
    with boa.env.prank(chain.requester):
        job_id = chain.market.post(spec)
    assert chain.market.verify_item(job_id, 0, items[0], merkle_proof(items, 0)) is False
