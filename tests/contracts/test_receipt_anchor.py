"""``contracts/verify/ReceiptAnchor.vy``: a batch's root anchored once per poster with its time and
count; another poster's anchor of the same root counts only for that poster; inclusion checked on
chain against ``agora.chain.merkle``'s tree; every refusal."""

from __future__ import annotations

import boa
import pytest
from data_fixtures import ROOT, ZERO32, account, events, now, pin_chain
from hypothesis import given, settings
from hypothesis import strategies as st

from agora.chain.eip712 import keccak256
from agora.chain.merkle import merkle_proof, merkle_root

ANCHOR = boa.load_partial(str(ROOT / "contracts/verify/ReceiptAnchor.vy"))


@pytest.fixture(scope="module")
def anchor():
    pin_chain()
    return ANCHOR.deploy()


def _digests(n: int, salt: bytes = b"") -> list[bytes]:
    return [keccak256(salt + i.to_bytes(32, "big")) for i in range(n)]


def test_a_root_is_anchored_once_per_poster_with_its_time_and_count(anchor) -> None:
    service, other = account("anchor-service").address, account("anchor-other").address
    digests = _digests(5)
    root = merkle_root(digests)
    assert anchor.anchored(service, root) == (0, 0)
    with boa.env.prank(service):
        anchor.anchor(root, 5)
    (ev,) = events(anchor.get_logs(), "Anchored")
    assert (ev.poster, ev.root, ev.count) == (service, root, 5)
    assert anchor.anchored(service, root) == (now(), 5)
    with boa.env.prank(service), boa.reverts("ReceiptAnchor: root already anchored"):
        anchor.anchor(root, 5)
    # the same root anchored by someone else is theirs: it neither blocks nor vouches for the service
    assert anchor.anchored(other, root) == (0, 0)
    with boa.env.prank(other):
        anchor.anchor(root, 3)
    assert anchor.anchored(other, root) == (now(), 3) and anchor.anchored(service, root) == (now(), 5)


def test_refusals(anchor) -> None:
    with boa.reverts("ReceiptAnchor: empty root"):
        anchor.anchor(ZERO32, 1)
    with boa.reverts("ReceiptAnchor: bad count"):
        anchor.anchor(b"\x01" * 32, 0)
    with boa.reverts("ReceiptAnchor: bad count"):
        anchor.anchor(b"\x01" * 32, 2**64)


@settings(max_examples=25, deadline=None)
@given(n=st.integers(1, 40), data=st.data())
def test_inclusion_is_checked_against_the_house_tree(anchor, n: int, data: st.DataObject) -> None:
    poster = account(f"anchor-poster-{n}").address
    digests = _digests(n, salt=b"batch")
    root = merkle_root(digests)
    i = data.draw(st.integers(0, n - 1))
    if anchor.anchored(poster, root)[1] == 0:
        with boa.env.prank(poster):
            anchor.anchor(root, n)
    proof = merkle_proof(digests, i)
    assert anchor.verify(poster, root, i, digests[i], proof) == now()
    # another receipt, another index, another poster, a truncated proof: not under this anchor
    assert anchor.verify(poster, root, i, keccak256(b"forged"), proof) == 0
    if n > 1:
        assert anchor.verify(poster, root, (i + 1) % n, digests[i], proof) == 0
        assert anchor.verify(poster, root, i, digests[i], proof[:-1]) == 0
    assert anchor.verify(account("anchor-nobody").address, root, i, digests[i], proof) == 0


def test_an_index_past_the_count_is_not_under_the_anchor(anchor) -> None:
    """A root anchored for fewer receipts than its tree holds vouches for the first ``count`` only."""
    poster = account("anchor-short").address
    digests = _digests(4, salt=b"short")
    root = merkle_root(digests)
    with boa.env.prank(poster):
        anchor.anchor(root, 3)
    assert anchor.verify(poster, root, 2, digests[2], merkle_proof(digests, 2)) == now()
    assert anchor.verify(poster, root, 3, digests[3], merkle_proof(digests, 3)) == 0
