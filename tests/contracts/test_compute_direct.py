"""``POLICY_DIRECT`` jobs of ``ComputeMarket`` (compute-to-data): the one provider named by its
index in the kind's pool runs the job — nobody else holds the data, so nobody else is drawn,
audits or replaces it. It is paid like a ``NONE`` job; it may decline before committing (a full
refund, no penalty); a silent one is penalised and the job refunded, never left open."""

from __future__ import annotations

import boa
import pytest
from compute_fixtures import (
    BPS,
    COMMIT_WINDOW,
    DURATION,
    FEE_BPS,
    GOOD,
    PAY,
    PRICE,
    RESULT_CID,
    ST_REFUNDED,
    ST_SETTLED,
    deploy_world,
    next_block,
    salt_for,
)

DIRECT = 3
FEE = PAY * FEE_BPS // BPS


@pytest.fixture(scope="module")
def base():
    with boa.env.anchor():
        yield deploy_world()


@pytest.fixture
def w(base):
    with boa.env.anchor():
        yield base.fork()


def index_of(w, who, kind: int = 0) -> int:
    idx, _weight = w.registry.exclusion(kind, who)
    assert idx != 0
    return idx


def test_direct_job_goes_to_the_named_provider_and_pays_it(w):
    assert w.market.POLICY_DIRECT() == DIRECT
    holder = w.providers[3]
    for _ in range(3):      # never a draw: always the named provider
        j = w.post(policy=DIRECT, param=index_of(w, holder))
        assert w.assignees(j) == [holder]
    assert w.registry.designated(0, index_of(w, holder), PRICE) == holder
    w.commit(j, holder)
    next_block()
    before = w.owed(holder)
    w.reveal(j, holder)
    view = w.job(j)
    assert (view.state, view.result) == (ST_SETTLED, GOOD)
    assert w.owed(holder) == before + PAY - FEE
    w.check_books()


def test_direct_job_reverts_for_an_index_nobody_serves(w):
    holder = w.providers[0]
    with boa.reverts("ComputeMarket: bad provider index"):
        w.post(policy=DIRECT, param=0)
    with boa.reverts("ComputeMarket: bad provider index"):
        w.post(policy=DIRECT, param=2**16)
    with boa.reverts("ComputeMarket: no eligible provider"):
        w.post(policy=DIRECT, param=999)                                   # nobody there
    with boa.reverts("ComputeMarket: no eligible provider"):
        w.post(policy=DIRECT, param=index_of(w, holder), price=PRICE - 1)   # above the offered price
    assert w.registry.designated(0, index_of(w, holder), PRICE - 1) == "0x" + "00" * 20


def test_the_holder_declines_before_committing_and_the_requester_gets_everything_back(w):
    holder, other = w.providers[1], w.providers[2]
    requester = w.requesters[0]
    j = w.post(requester=requester, policy=DIRECT, param=index_of(w, holder))
    escrow = w.job(j).escrow
    rep, owed = w.rep(holder), w.owed(requester)
    with boa.reverts("ComputeMarket: not assigned to this job"):
        w.act(other, w.market.decline, j)
    w.act(holder, w.market.decline, j)
    assert w.job(j).state == ST_REFUNDED and w.owed(requester) == owed + escrow and w.rep(holder) == rep
    with boa.reverts("ComputeMarket: cannot decline"):
        w.act(holder, w.market.decline, j)
    # a job that was not DIRECT cannot be declined, nor one already committed
    k = w.post()
    with boa.reverts("ComputeMarket: cannot decline"):
        w.act(w.assignees(k)[0], w.market.decline, k)
    m = w.post(policy=DIRECT, param=index_of(w, holder))
    w.commit(m, holder)
    with boa.reverts("ComputeMarket: cannot decline"):
        w.act(holder, w.market.decline, m)
    w.check_books()


def test_a_silent_holder_is_penalised_and_the_job_refunded_never_replaced(w):
    holder = w.providers[4]
    requester = w.requesters[1]
    j = w.post(requester=requester, policy=DIRECT, param=index_of(w, holder), duration=DURATION)
    escrow, owed, rep = w.job(j).escrow, w.owed(requester), w.rep(holder)
    boa.env.time_travel(seconds=COMMIT_WINDOW + 1)
    w.timeout(j)
    assert w.job(j).state == ST_REFUNDED and w.owed(requester) == owed + escrow
    assert w.rep(holder) < rep and w.assignees(j) == [holder]
    # committed but never revealed: slashed and refunded, as any job
    m = w.post(requester=requester, policy=DIRECT, param=index_of(w, holder))
    w.commit(m, holder)
    boa.env.time_travel(seconds=DURATION + 1)
    w.timeout(m)
    assert w.job(m).state == ST_REFUNDED
    w.check_books()


def test_a_direct_job_has_no_audit(w):
    holder = w.providers[0]
    j = w.post(policy=DIRECT, param=index_of(w, holder))
    w.commit(j, holder)
    next_block()
    with boa.reverts("ComputeMarket: not awaiting audit"):
        w.open_audit(j)
    assert not w.market.is_audited(j)
    with boa.env.prank(holder):
        w.market.reveal(j, GOOD, RESULT_CID, salt_for(j, holder))
    assert w.job(j).state == ST_SETTLED
