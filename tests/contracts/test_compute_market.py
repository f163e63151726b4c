"""Unit tests for ``contracts/compute/ComputeMarket.vy`` (with the real registry) on titanoboa.

Every external function, every revert reason and every settlement path:
NONE; AUDIT not drawn / drawn and agreed / disagreed and broken by a
tie-breaker either way / three different answers; reveal timeouts of the
worker, the auditor and the tie-breaker; commit timeouts with replacements
and refunds; REPLICATE unanimous, 2-1, silent and without majority; batches
with Merkle proofs; deposits, permits and withdrawals. After every
settlement the books must balance: the market holds exactly the open
escrows plus what it owes, the registry exactly the stakes.
"""

from pathlib import Path

import boa
import pytest
from compute_fixtures import (
    AUDIT,
    BAD,
    BPS,
    COMMIT_WINDOW,
    DURATION,
    E18,
    FEE_BPS,
    GOOD,
    HARMED_BPS,
    MARKET,
    MARKET_PATH,
    MASK80,
    MAX_REPLACEMENTS,
    MAX_UINT256,
    MIN_FEE,
    MIN_STAKE,
    NONE,
    OTHER,
    PAY,
    PRICE,
    REGISTRY,
    REGISTRY_PATH,
    REP_START,
    REPLICATE,
    RESULT_CID,
    REVEAL_WINDOW,
    SLASH_BPS,
    ST_ASSIGNED,
    ST_AUDIT_COMMIT,
    ST_AUDIT_REVEAL,
    ST_COMMITTED,
    ST_NONE,
    ST_REFUNDED,
    ST_REVEALING,
    ST_SETTLED,
    ST_TIE_COMMIT,
    ST_TIE_REVEAL,
    STAKE,
    UNBOND_DELAY,
    UNITS,
    ZERO,
    ZERO32,
    block_number,
    commitment,
    deploy_world,
    event_names,
    events,
    next_block,
    now,
    revert_strings,
    salt_for,
    spec,
)
from eth_account import Account
from eth_utils import keccak
from mock_tokens import FALSE_TOKEN, SILENT_TOKEN, TRANSFER_FAILED

from agora.chain import sign_permit as sign_chain_permit
from agora.chain import signer_from_key
from agora.chain.merkle import merkle_proof, merkle_root
from agora.compute.market import commitment as py_commitment

FEE = PAY * FEE_BPS // BPS
NET = PAY - FEE
SLASH = STAKE * SLASH_BPS // BPS
TO_HARMED = SLASH * HARMED_BPS // BPS

PERMIT_KEY = keccak(text="compute-permit-signer")
PERMIT_SIGNER = Account.from_key(PERMIT_KEY)


@pytest.fixture(scope="module")
def base():
    with boa.env.anchor():
        yield deploy_world()


@pytest.fixture
def w(base):
    with boa.env.anchor():
        yield base.fork()


@pytest.fixture
def mkt(w):
    return w.market


# --------------------------------------------------------------------------- helpers


def market_events(w, name):
    """Events called ``name`` emitted by the market itself (the registry has its own ``Slashed``)."""
    return [log for log in events(w.last_logs, name) if log.address == w.market.address]


def owed_snapshot(w):
    return {a: w.owed(a) for a in w.accounts}


def owed_deltas(w, before):
    return {a: w.owed(a) - v for a, v in before.items() if w.owed(a) != v}


def add(d, who, amount):
    d[who] = d.get(who, 0) + amount
    return d


def settled(w, job_id):
    logs = market_events(w, "Settled")
    assert [log.job_id for log in logs] == [job_id]
    return logs[0]


def audited_job(w, worker_digest=GOOD, **kw):
    """An AUDIT(100%) job whose worker committed and whose auditor is assigned."""
    j = w.post(policy=AUDIT, param=BPS, **kw)
    worker = w.assignees(j)[0]
    w.commit(j, worker, worker_digest)
    next_block()
    assert w.market.is_audited(j) is True
    w.open_audit(j)
    auditor = w.assignees(j)[1]
    return j, worker, auditor


def disputed_job(w):
    """An audited job where the worker said GOOD and the auditor BAD: a tie-breaker is assigned."""
    j, worker, auditor = audited_job(w)
    w.commit(j, auditor, BAD)
    w.reveal(j, worker, GOOD)
    w.reveal(j, auditor, BAD)
    assert w.job(j).state == ST_TIE_COMMIT
    tb = w.assignees(j)[2]
    return j, worker, auditor, tb


def replicate_job(w, k=3, digests=None):
    j = w.post(policy=REPLICATE, param=k)
    provs = w.assignees(j)
    for p, d in zip(provs, digests or [GOOD] * k, strict=True):
        w.commit(j, p, d)
    assert w.job(j).state == ST_REVEALING
    return j, provs


def leave_draw(w, keep):
    """Every provider not in ``keep`` unbonds all its stake (leaves the draw)."""
    for p in w.providers:
        if p not in keep:
            with boa.env.prank(p):
                w.registry.unbond(w.stake(p))


def sign_permit(w, owner_key, spender, value, deadline, nonce=0):
    domain = {
        "name": "Agora Token", "version": "1", "chainId": boa.env.evm.patch.chain_id,
        "verifyingContract": w.token.address,
    }
    return sign_chain_permit(signer_from_key(owner_key), domain, str(spender), value, nonce, deadline)


# --------------------------------------------------------------------------- deployment and owner


def test_constructor_stores_parameters(w, mkt):
    assert mkt.token() == w.token.address
    assert mkt.registry() == w.registry.address
    assert mkt.treasury() == w.treasury
    assert mkt.owner() == w.owner
    assert (mkt.min_fee(), mkt.fee_bps(), mkt.slash_bps(), mkt.harmed_bps()) == (
        MIN_FEE, FEE_BPS, SLASH_BPS, HARMED_BPS)
    assert (mkt.commit_window(), mkt.reveal_window(), mkt.max_replacements()) == (
        COMMIT_WINDOW, REVEAL_WINDOW, MAX_REPLACEMENTS)
    assert mkt.job_count() == 0
    assert (mkt.POLICY_NONE(), mkt.POLICY_AUDIT(), mkt.POLICY_REPLICATE()) == (NONE, AUDIT, REPLICATE)


def test_constructor_emits_params(w):
    m = MARKET.deploy(w.token.address, w.registry.address, w.treasury, 1, 2, 3, 4, 5, 6)
    logs = m.get_logs()
    assert event_names(logs) == ["OwnershipTransferred", "ParamsChanged"]
    p = logs[1]
    assert (p.min_fee, p.fee_bps, p.slash_bps, p.harmed_bps, p.commit_window, p.reveal_window,
            p.max_replacements) == (1, 2, 3, 4, 5, 6, 2)


@pytest.mark.parametrize("which", [0, 1, 2])
def test_constructor_rejects_zero_addresses(w, which):
    addrs = [w.token.address, w.registry.address, w.treasury]
    addrs[which] = ZERO
    with boa.reverts("ComputeMarket: zero address"):
        MARKET.deploy(*addrs, MIN_FEE, FEE_BPS, SLASH_BPS, HARMED_BPS, COMMIT_WINDOW, REVEAL_WINDOW)


def test_constructor_rejects_bad_params(w):
    with boa.reverts("ComputeMarket: zero window"):
        MARKET.deploy(w.token.address, w.registry.address, w.treasury, 0, 0, 0, 0, 0, 1)


def test_set_params_by_owner(w, mkt):
    with boa.env.prank(w.owner):
        mkt.set_params(7, 2000, BPS, BPS, 30 * 86400, 30 * 86400, 15)
    p = mkt.get_logs()[0]
    assert type(p).__name__ == "ParamsChanged"
    assert (p.min_fee, p.fee_bps, p.slash_bps, p.harmed_bps, p.commit_window, p.reveal_window,
            p.max_replacements) == (7, 2000, BPS, BPS, 30 * 86400, 30 * 86400, 15)
    assert (mkt.min_fee(), mkt.fee_bps(), mkt.slash_bps(), mkt.harmed_bps(), mkt.commit_window(),
            mkt.reveal_window(), mkt.max_replacements()) == (7, 2000, BPS, BPS, 30 * 86400, 30 * 86400, 15)


def test_set_params_by_stranger_reverts(w, mkt):
    with boa.env.prank(w.requesters[0]), boa.reverts("ownable: caller is not the owner"):
        mkt.set_params(1, 1, 1, 1, 1, 1, 1)


GOOD_PARAMS = (MIN_FEE, FEE_BPS, SLASH_BPS, HARMED_BPS, COMMIT_WINDOW, REVEAL_WINDOW, 2)


@pytest.mark.parametrize(
    ("index", "value", "reason"),
    [
        (1, 2001, "ComputeMarket: bad bps"),
        (2, BPS + 1, "ComputeMarket: bad bps"),
        (3, BPS + 1, "ComputeMarket: bad bps"),
        (4, 0, "ComputeMarket: zero window"),
        (5, 0, "ComputeMarket: zero window"),
        (4, 30 * 86400 + 1, "ComputeMarket: window too long"),
        (5, 30 * 86400 + 1, "ComputeMarket: window too long"),
        (6, 16, "ComputeMarket: too many replacements"),
        (0, 2**128, "ComputeMarket: fee too large"),
    ],
)
def test_set_params_rejects_bad_values(w, mkt, index, value, reason):
    params = list(GOOD_PARAMS)
    params[index] = value
    with boa.env.prank(w.owner), boa.reverts(reason):
        mkt.set_params(*params)


def test_set_treasury_moves_future_fees_only(w, mkt):
    j = w.post()
    new_treasury = w.new_account("new-treasury")
    with boa.env.prank(w.owner):
        mkt.set_treasury(new_treasury)
    assert mkt.treasury() == new_treasury
    worker = w.assignees(j)[0]
    w.commit(j, worker)
    next_block()
    w.reveal(j, worker)
    assert w.owed(w.treasury) == MIN_FEE          # the post's fee stayed with the old treasury
    assert w.owed(new_treasury) == FEE
    w.check_books()


def test_set_treasury_zero_reverts(w, mkt):
    with boa.env.prank(w.owner), boa.reverts("ComputeMarket: zero address"):
        mkt.set_treasury(ZERO)


def test_set_treasury_by_stranger_reverts(w, mkt):
    with boa.env.prank(w.requesters[0]), boa.reverts("ownable: caller is not the owner"):
        mkt.set_treasury(w.requesters[0])


def test_transfer_and_renounce_ownership(w, mkt):
    new_owner = w.requesters[1]
    with boa.env.prank(w.owner):
        mkt.transfer_ownership(new_owner)
    with boa.env.prank(w.owner), boa.reverts("ownable: caller is not the owner"):
        mkt.set_treasury(new_owner)
    with boa.env.prank(new_owner):
        mkt.set_treasury(new_owner)
        mkt.renounce_ownership()
    assert mkt.owner() == ZERO


# --------------------------------------------------------------------------- deposits and withdrawals


def test_deposit_credits_balance(w, mkt):
    r = w.requesters[0]
    before = w.token.balanceOf(r)
    w.act(r, mkt.deposit, 5 * E18)
    log = market_events(w, "Deposited")[0]
    assert (log.account, log.amount) == (r, 5 * E18)
    assert w.owed(r) == 5 * E18
    assert w.token.balanceOf(r) == before - 5 * E18
    w.check_books()


def test_deposit_zero_reverts(w, mkt):
    with boa.env.prank(w.requesters[0]), boa.reverts("ComputeMarket: zero amount"):
        mkt.deposit(0)


def test_deposit_without_approval_reverts_in_token(w, mkt):
    stranger = w.new_account("stranger", 10 * E18)
    with boa.env.prank(stranger), boa.reverts("erc20: insufficient allowance"):
        mkt.deposit(E18)


def test_withdraw_pays_out_everything_owed(w, mkt):
    r = w.requesters[0]
    w.act(r, mkt.deposit, 3 * E18)
    before = w.token.balanceOf(r)
    w.act(r, mkt.withdraw)
    log = market_events(w, "Withdrawn")[0]
    assert (log.account, log.amount) == (r, 3 * E18)
    assert w.owed(r) == 0
    assert w.token.balanceOf(r) == before + 3 * E18
    w.check_books()


def test_withdraw_with_nothing_owed_reverts(w, mkt):
    with boa.env.prank(w.requesters[0]), boa.reverts("ComputeMarket: nothing owed"):
        mkt.withdraw()


def test_deposit_with_permit(w, mkt):
    signer = PERMIT_SIGNER.address
    w.fund(signer, 10 * E18)
    w.extra_accounts.append(signer)
    deadline = now() + 3600
    v, r, s = sign_permit(w, PERMIT_KEY, mkt.address, 4 * E18, deadline)
    w.act(signer, mkt.deposit_with_permit, 4 * E18, deadline, v, r, s)
    assert market_events(w, "Deposited")[0].amount == 4 * E18
    assert w.owed(signer) == 4 * E18
    assert w.token.balanceOf(signer) == 6 * E18
    assert w.token.allowance(signer, mkt.address) == 0
    assert w.token.nonces(signer) == 1
    w.check_books()


def test_deposit_with_permit_zero_reverts(w, mkt):
    v, r, s = sign_permit(w, PERMIT_KEY, mkt.address, 0, now() + 60)
    with boa.env.prank(PERMIT_SIGNER.address), boa.reverts("ComputeMarket: zero amount"):
        mkt.deposit_with_permit(0, now() + 60, v, r, s)


def test_deposit_with_permit_for_another_amount_reverts(w, mkt):
    w.fund(PERMIT_SIGNER.address, 10 * E18)
    v, r, s = sign_permit(w, PERMIT_KEY, mkt.address, E18, now() + 60)
    with boa.env.prank(PERMIT_SIGNER.address), boa.reverts("erc20: invalid signature"):
        mkt.deposit_with_permit(2 * E18, now() + 60, v, r, s)


def test_deposit_with_expired_permit_reverts(w, mkt):
    w.fund(PERMIT_SIGNER.address, 10 * E18)
    deadline = now() - 1
    v, r, s = sign_permit(w, PERMIT_KEY, mkt.address, E18, deadline)
    with boa.env.prank(PERMIT_SIGNER.address), boa.reverts("erc20: expired deadline"):
        mkt.deposit_with_permit(E18, deadline, v, r, s)


# --------------------------------------------------------------------------- tokens that return false or nothing


@pytest.fixture(scope="module")
def false_base():
    """A world paid in FalseToken (transfers return false while ``fail`` is set), with one
    requester's deposit and a settled job, so there is something owed to withdraw."""
    with boa.env.anchor():
        w = deploy_world(n_providers=2, n_requesters=1, token=FALSE_TOKEN)
        w.act(w.requesters[0], w.market.deposit, E18)
        j = w.post(w.requesters[0])
        worker = w.assignees(j)[0]
        w.commit(j, worker)
        next_block()
        w.reveal(j, worker)
        yield w


@pytest.fixture
def fw(false_base):
    with boa.env.anchor():
        yield false_base.fork()


def market_state(w):
    """Everything a failed payment must leave as it was."""
    t, m = w.token, w.market
    return (
        [t.balanceOf(a) for a in [*w.accounts, m.address, w.registry.address]],
        [m.owed(a) for a in w.accounts], m.job_count(), t.allowance(w.requesters[0], m.address),
    )


@pytest.mark.parametrize(
    "call", ["deposit", "post_pulls", "post_many_pulls", "requester_withdraws", "provider_withdraws",
             "treasury_withdraws"])
def test_a_token_returning_false_reverts_and_changes_nothing(fw, call):
    m, r = fw.market, fw.requesters[0]
    paid = [p for p in fw.providers if fw.owed(p)]
    assert fw.owed(r) > 0 and fw.owed(fw.treasury) > 0 and paid
    who, fn, args = {
        "deposit": (r, m.deposit, (E18,)),
        "post_pulls": (r, m.post, (spec(units=10**6),)),              # above the balance: pulled
        "post_many_pulls": (r, m.post_many, ([spec(units=10**6)],)),
        "requester_withdraws": (r, m.withdraw, ()),
        "provider_withdraws": (paid[0], m.withdraw, ()),
        "treasury_withdraws": (fw.treasury, m.withdraw, ()),
    }[call]
    fw.token.set_fail(True)
    before = market_state(fw)
    with boa.env.prank(who), boa.reverts(TRANSFER_FAILED):
        fn(*args)
    assert market_state(fw) == before
    fw.token.set_fail(False)
    with boa.env.prank(who):
        fn(*args)                                                # the same call goes through once paid
    fw.check_books()


def test_a_permit_deposit_with_a_token_returning_false_reverts_and_changes_nothing(fw):
    m = fw.market
    fw.fund(PERMIT_SIGNER.address, 10 * E18)
    fw.extra_accounts.append(PERMIT_SIGNER.address)
    domain = {"name": "Agora Token", "version": "1", "chainId": boa.env.evm.patch.chain_id,
              "verifyingContract": fw.token.address}
    deadline = now() + 3600
    v, r, s = sign_chain_permit(signer_from_key(PERMIT_KEY), domain, str(m.address), E18, 0, deadline)
    fw.token.set_fail(True)
    before = market_state(fw)
    with boa.env.prank(PERMIT_SIGNER.address), boa.reverts(TRANSFER_FAILED):
        m.deposit_with_permit(E18, deadline, v, r, s)
    assert market_state(fw) == before
    assert fw.token.nonces(PERMIT_SIGNER.address) == 0      # the permit was rolled back too
    assert fw.token.allowance(PERMIT_SIGNER.address, m.address) == 0
    fw.token.set_fail(False)
    fw.act(PERMIT_SIGNER.address, m.deposit_with_permit, E18, deadline, v, r, s)
    assert fw.owed(PERMIT_SIGNER.address) == E18
    fw.check_books()


def test_a_token_returning_nothing_counts_as_paid(w):
    """USDT-style tokens return no data: a deposit and a withdrawal still go through."""
    tok = SILENT_TOKEN.deploy()
    reg = REGISTRY.deploy(tok.address, MIN_STAKE, UNBOND_DELAY)
    m = MARKET.deploy(tok.address, reg.address, w.treasury, 0, 0, 0, 0, COMMIT_WINDOW, REVEAL_WINDOW)
    r = w.requesters[0]
    tok.mint(r, 10 * E18)
    with boa.env.prank(r):
        tok.approve(m.address, MAX_UINT256)
        m.deposit(3 * E18)
        assert (tok.balanceOf(r), tok.balanceOf(m.address), m.owed(r)) == (7 * E18, 3 * E18, 3 * E18)
        m.withdraw()
    assert (tok.balanceOf(r), tok.balanceOf(m.address), m.owed(r)) == (10 * E18, 0, 0)


# --------------------------------------------------------------------------- post


def test_post_escrows_and_assigns(w, mkt):
    r = w.requesters[0]
    before = w.token.balanceOf(r)
    j = w.post(r)
    assert j == 1 and mkt.job_count() == 1
    assert event_names(w.last_logs) == ["Assigned", "JobPosted", "Transfer"]
    assigned = market_events(w, "Assigned")[0]
    posted = market_events(w, "JobPosted")[0]
    assert (posted.job_id, posted.requester, posted.kind, posted.policy, posted.param) == (1, r, 0, NONE, 0)
    assert (posted.model, posted.input, posted.units, posted.items, posted.pay) == (
        keccak(text="model"), keccak(text="input"), UNITS, 1, PAY)
    assert posted.deadline == now() + DURATION
    assert (assigned.job_id, assigned.slot, assigned.role, assigned.commit_by) == (1, 0, 0, now() + COMMIT_WINDOW)
    assert assigned.provider in w.providers
    view = w.job(j)
    assert (view.requester, view.pay, view.kind, view.policy, view.param, view.state) == (r, PAY, 0, NONE, 0,
                                                                                            ST_ASSIGNED)
    assert (view.deadline, view.mark, view.replacements, view.escrow) == (
        now() + DURATION, now() + COMMIT_WINDOW, 0, PAY)
    assert list(view.providers) == [assigned.provider]
    assert view.result == ZERO32
    assert mkt.assignment(j, 0) == (assigned.provider, ZERO32, False)
    assert w.token.balanceOf(r) == before - PAY - MIN_FEE
    assert w.owed(w.treasury) == MIN_FEE
    w.check_books()


def test_post_uses_deposit_when_it_covers_the_cost(w, mkt):
    r = w.requesters[0]
    w.act(r, mkt.deposit, PAY + MIN_FEE + 5)
    before = w.token.balanceOf(r)
    w.post(r)
    assert "Transfer" not in event_names(w.last_logs)
    assert w.token.balanceOf(r) == before
    assert w.owed(r) == 5
    w.check_books()


def test_post_pulls_everything_when_deposit_is_short(w, mkt):
    r = w.requesters[0]
    w.act(r, mkt.deposit, PAY)
    before = w.token.balanceOf(r)
    w.post(r)
    assert w.token.balanceOf(r) == before - PAY - MIN_FEE
    assert w.owed(r) == PAY          # the deposit is left alone
    w.check_books()


def test_post_without_allowance_reverts(w, mkt):
    stranger = w.new_account("stranger", 10 * E18)
    with boa.env.prank(stranger), boa.reverts("erc20: insufficient allowance"):
        mkt.post(spec())


@pytest.mark.parametrize(("policy", "param", "execs"), [(NONE, 0, 1), (AUDIT, 0, 3), (AUDIT, 700, 3),
                                                        (REPLICATE, 2, 2), (REPLICATE, 5, 5)])
def test_escrow_is_the_worst_case(w, policy, param, execs):
    j = w.post(policy=policy, param=param)
    assert w.job(j).escrow == execs * PAY
    assert len(w.assignees(j)) == (param if policy == REPLICATE else 1)
    w.check_books()


@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        ({"kind": 16}, "ComputeMarket: unknown kind"),
        ({"items": 0}, "ComputeMarket: bad units"),
        ({"units": 3, "items": 4}, "ComputeMarket: bad units"),
        ({"duration": COMMIT_WINDOW}, "ComputeMarket: bad duration"),
        ({"duration": 365 * 86400 + 1}, "ComputeMarket: bad duration"),
        ({"price": 0}, "ComputeMarket: bad price"),
        ({"units": 1, "price": MASK80 + 1}, "ComputeMarket: bad price"),
        ({"policy": AUDIT, "param": BPS + 1}, "ComputeMarket: audit rate above 100%"),
        ({"policy": REPLICATE, "param": 1}, "ComputeMarket: replicas must be 2..7"),
        ({"policy": REPLICATE, "param": 8}, "ComputeMarket: replicas must be 2..7"),
        ({"policy": 5}, "ComputeMarket: unknown policy"),   # 3 is DIRECT, 4 ZK
        ({"policy": NONE, "param": 1}, "ComputeMarket: NONE takes no parameter"),
    ],
)
def test_post_rejects_bad_specs(w, mkt, overrides, reason):
    with boa.env.prank(w.requesters[0]), boa.reverts(reason):
        mkt.post(spec(**overrides))
    assert mkt.job_count() == 0


def test_post_accepts_the_bounds(w, mkt):
    w.fund(w.requesters[0], MASK80)
    j = w.post(units=1, price=MASK80, duration=365 * 86400, kind=0)
    assert w.job(j).pay == MASK80
    j = w.post(duration=COMMIT_WINDOW + 1, units=4, items=4)
    assert w.job(j).deadline == now() + COMMIT_WINDOW + 1


@pytest.mark.parametrize(
    "overrides",
    [{"price": PRICE - 1}, {"kind": 5}, {"policy": REPLICATE, "param": 6}],
    ids=["price-below-every-provider", "kind-nobody-serves", "more-replicas-than-providers"],
)
def test_post_without_eligible_provider_reverts(w, mkt, overrides):
    with boa.env.prank(w.requesters[0]), boa.reverts("ComputeMarket: no eligible provider"):
        mkt.post(spec(**overrides))


def test_providers_above_the_offered_price_are_never_drawn(w, mkt):
    dear = w.add_provider("dear", stake=5000 * E18, price=2 * PRICE)
    for _ in range(25):
        j = w.post(policy=REPLICATE, param=3)
        assert dear not in w.assignees(j)
    drawn = set()
    for _ in range(10):
        drawn.update(w.assignees(w.post(price=2 * PRICE)))
    assert dear in drawn      # at its price it is drawn, and often (it holds most of the stake)


def test_replicas_are_distinct_providers(w):
    for k in (2, 3, 5):
        for _ in range(8):
            provs = w.assignees(w.post(policy=REPLICATE, param=k))
            assert len(set(provs)) == k
            assert set(provs) <= set(w.providers)


def test_post_many(w, mkt):
    r = w.requesters[0]
    before = w.token.balanceOf(r)
    specs = [spec(), spec(policy=AUDIT, param=10), spec(policy=REPLICATE, param=3, units=20)]
    first = w.act(r, mkt.post_many, specs)
    assert first == 1 and mkt.job_count() == 3
    assert [log.job_id for log in market_events(w, "JobPosted")] == [1, 2, 3]
    assert [w.job(i).escrow for i in (1, 2, 3)] == [PAY, 3 * PAY, 6 * PAY]
    # the flat fee is per job: batching jobs into one call does not dodge it
    assert w.token.balanceOf(r) == before - 10 * PAY - 3 * MIN_FEE
    assert w.owed(w.treasury) == 3 * MIN_FEE
    assert w.act(r, mkt.post_many, [spec()]) == 4
    w.check_books()


def test_post_many_empty_reverts(w, mkt):
    with boa.env.prank(w.requesters[0]), boa.reverts("ComputeMarket: no jobs"):
        mkt.post_many([])


def test_post_many_is_atomic(w, mkt):
    with boa.env.prank(w.requesters[0]), boa.reverts("ComputeMarket: unknown kind"):
        mkt.post_many([spec(), spec(kind=16)])
    assert mkt.job_count() == 0
    assert w.job(1).state == ST_NONE


# --------------------------------------------------------------------------- commit


def test_commit_records_commitment_and_block(w, mkt):
    j = w.post()
    worker = w.assignees(j)[0]
    c = commitment(j, worker, GOOD, salt_for(j, worker))
    w.act(worker, mkt.commit, j, c)
    log = market_events(w, "Committed")[0]
    assert (log.job_id, log.provider, log.commitment) == (j, worker, c)
    view = w.job(j)
    assert (view.state, view.mark) == (ST_COMMITTED, block_number())
    assert mkt.assignment(j, 0) == (worker, c, False)


def test_commitment_of_matches_python(w, mkt):
    who, salt = w.providers[0], keccak(text="s")
    expected = commitment(42, who, GOOD, salt)
    assert mkt.commitment_of(42, who, GOOD, salt) == expected
    assert py_commitment(42, str(who), GOOD, salt) == expected


def test_commit_empty_reverts(w, mkt):
    j = w.post()
    with boa.env.prank(w.assignees(j)[0]), boa.reverts("ComputeMarket: empty commitment"):
        mkt.commit(j, ZERO32)


def test_commit_by_stranger_reverts(w, mkt):
    j = w.post()
    stranger = next(p for p in w.providers if p not in w.assignees(j))
    with boa.env.prank(stranger), boa.reverts("ComputeMarket: not assigned to this job"):
        mkt.commit(j, keccak(text="c"))


def test_commit_to_unknown_or_committed_job_reverts(w, mkt):
    with boa.env.prank(w.providers[0]), boa.reverts("ComputeMarket: not accepting commits"):
        mkt.commit(99, keccak(text="c"))
    j = w.post()
    worker = w.assignees(j)[0]
    w.commit(j, worker)
    with boa.env.prank(worker), boa.reverts("ComputeMarket: not accepting commits"):
        mkt.commit(j, keccak(text="again"))


def test_commit_after_window_reverts(w, mkt):
    j = w.post()
    boa.env.time_travel(seconds=COMMIT_WINDOW + 1)
    with boa.env.prank(w.assignees(j)[0]), boa.reverts("ComputeMarket: commit window closed"):
        mkt.commit(j, keccak(text="c"))


def test_commit_at_window_end_is_accepted(w):
    j = w.post()
    boa.env.time_travel(seconds=COMMIT_WINDOW)
    w.commit(j, w.assignees(j)[0])
    assert w.job(j).state == ST_COMMITTED


def test_replica_commit_twice_reverts(w, mkt):
    j = w.post(policy=REPLICATE, param=3)
    first = w.assignees(j)[0]
    w.commit(j, first)
    assert w.job(j).state == ST_ASSIGNED
    with boa.env.prank(first), boa.reverts("ComputeMarket: already committed"):
        mkt.commit(j, keccak(text="again"))


def test_only_the_auditor_commits_during_the_audit(w, mkt):
    j, worker, _ = audited_job(w)
    with boa.env.prank(worker), boa.reverts("ComputeMarket: only the auditor commits now"):
        mkt.commit(j, keccak(text="c"))


def test_only_the_tie_breaker_commits_during_the_tie(w, mkt):
    j, worker, auditor, _ = disputed_job(w)
    for who in (worker, auditor):
        with boa.env.prank(who), boa.reverts("ComputeMarket: only the tie-breaker commits now"):
            mkt.commit(j, keccak(text="c"))


def test_commit_many(w, mkt):
    ids = [w.post() for _ in range(12)]
    by_worker: dict = {}
    for j in ids:
        by_worker.setdefault(w.assignees(j)[0], []).append(j)
    worker, jobs = max(by_worker.items(), key=lambda kv: len(kv[1]))
    assert len(jobs) >= 2
    cs = [commitment(j, worker, GOOD, salt_for(j, worker)) for j in jobs]
    w.act(worker, mkt.commit_many, jobs, cs)
    assert [log.job_id for log in market_events(w, "Committed")] == jobs
    assert all(w.job(j).state == ST_COMMITTED for j in jobs)
    next_block()
    n = len(jobs)
    w.act(worker, mkt.reveal_many, jobs, [GOOD] * n, [RESULT_CID] * n, [salt_for(j, worker) for j in jobs])
    assert [log.job_id for log in market_events(w, "Settled")] == jobs
    assert w.owed(worker) == n * NET
    w.check_books()


def test_commit_many_length_mismatch_reverts(w, mkt):
    with boa.env.prank(w.providers[0]), boa.reverts("ComputeMarket: length mismatch"):
        mkt.commit_many([1, 2], [keccak(text="c")])


@pytest.mark.parametrize("short", [1, 2, 3])
def test_reveal_many_length_mismatch_reverts(w, mkt, short):
    arrays = [[GOOD, GOOD], [RESULT_CID, RESULT_CID], [ZERO32, ZERO32]]
    arrays[short - 1] = arrays[short - 1][:1]
    with boa.env.prank(w.providers[0]), boa.reverts("ComputeMarket: length mismatch"):
        mkt.reveal_many([1, 2], *arrays)


def test_reveal_many_is_atomic(w, mkt):
    a, b = w.post(), w.post()
    for j in (a, b):
        w.commit(j, w.assignees(j)[0])
    next_block()
    worker = w.assignees(a)[0]
    # the second reveal is not this worker's (or not its salt): everything rolls back
    with boa.env.prank(worker), boa.reverts():
        mkt.reveal_many([a, b], [GOOD, GOOD], [RESULT_CID] * 2, [salt_for(a, worker), keccak(text="x")])
    assert w.job(a).state == ST_COMMITTED


# --------------------------------------------------------------------------- reveal guards


def test_reveal_in_the_commit_block_reverts(w, mkt):
    j = w.post()
    worker = w.assignees(j)[0]
    w.commit(j, worker)
    with boa.env.prank(worker), boa.reverts("ComputeMarket: reveal in a later block than the commit"):
        mkt.reveal(j, GOOD, RESULT_CID, salt_for(j, worker))


@pytest.mark.parametrize("what", ["digest", "salt", "result-is-free"])
def test_reveal_must_match_commitment(w, mkt, what):
    j = w.post()
    worker = w.assignees(j)[0]
    w.commit(j, worker)
    next_block()
    digest, salt = GOOD, salt_for(j, worker)
    if what == "result-is-free":
        w.act(worker, mkt.reveal, j, digest, keccak(text="any cid"), salt)
        assert w.job(j).state == ST_SETTLED
        return
    if what == "digest":
        digest = BAD
    else:
        salt = keccak(text="wrong salt")
    with boa.env.prank(worker), boa.reverts("ComputeMarket: reveal does not match commitment"):
        mkt.reveal(j, digest, RESULT_CID, salt)


def test_reveal_empty_digest_reverts(w, mkt):
    j = w.post()
    worker = w.assignees(j)[0]
    w.commit(j, worker)
    next_block()
    with boa.env.prank(worker), boa.reverts("ComputeMarket: empty digest"):
        mkt.reveal(j, ZERO32, RESULT_CID, salt_for(j, worker))


def test_reveal_after_deadline_reverts(w, mkt):
    j = w.post()
    worker = w.assignees(j)[0]
    w.commit(j, worker)
    boa.env.time_travel(seconds=DURATION + 1)
    with boa.env.prank(worker), boa.reverts("ComputeMarket: past the deadline"):
        mkt.reveal(j, GOOD, RESULT_CID, salt_for(j, worker))


def test_reveal_before_commit_reverts(w, mkt):
    j = w.post()
    worker = w.assignees(j)[0]
    with boa.env.prank(worker), boa.reverts("ComputeMarket: not accepting reveals"):
        mkt.reveal(j, GOOD, RESULT_CID, salt_for(j, worker))


def test_reveal_by_stranger_reverts(w, mkt):
    j = w.post()
    worker = w.assignees(j)[0]
    w.commit(j, worker)
    next_block()
    stranger = next(p for p in w.providers if p != worker)
    with boa.env.prank(stranger), boa.reverts("ComputeMarket: not assigned to this job"):
        mkt.reveal(j, GOOD, RESULT_CID, salt_for(j, worker))


def test_reveal_of_settled_job_reverts(w, mkt):
    j = w.post()
    worker = w.assignees(j)[0]
    w.commit(j, worker)
    next_block()
    w.reveal(j, worker)
    with boa.env.prank(worker), boa.reverts("ComputeMarket: not accepting reveals"):
        mkt.reveal(j, GOOD, RESULT_CID, salt_for(j, worker))


def test_reveal_when_drawn_for_audit_needs_open_audit(w, mkt):
    j = w.post(policy=AUDIT, param=BPS)
    worker = w.assignees(j)[0]
    w.commit(j, worker)
    assert mkt.is_audited(j) is False          # not before the commit is one block old
    next_block()
    assert mkt.is_audited(j) is True
    with boa.env.prank(worker), boa.reverts("ComputeMarket: drawn for audit; open_audit first"):
        mkt.reveal(j, GOOD, RESULT_CID, salt_for(j, worker))


def test_replica_reveal_twice_and_late_reveal_revert(w, mkt):
    j, provs = replicate_job(w)
    w.reveal(j, provs[0])
    with boa.env.prank(provs[0]), boa.reverts("ComputeMarket: already revealed"):
        mkt.reveal(j, GOOD, RESULT_CID, salt_for(j, provs[0]))
    boa.env.time_travel(seconds=REVEAL_WINDOW + 1)
    with boa.env.prank(provs[1]), boa.reverts("ComputeMarket: reveal window closed"):
        mkt.reveal(j, GOOD, RESULT_CID, salt_for(j, provs[1]))


def test_audit_reveal_twice_and_late_reveal_revert(w, mkt):
    j, worker, auditor = audited_job(w)
    w.commit(j, auditor)
    w.reveal(j, worker)
    assert w.job(j).state == ST_AUDIT_REVEAL
    with boa.env.prank(worker), boa.reverts("ComputeMarket: already revealed"):
        mkt.reveal(j, GOOD, RESULT_CID, salt_for(j, worker))
    boa.env.time_travel(seconds=REVEAL_WINDOW + 1)
    with boa.env.prank(auditor), boa.reverts("ComputeMarket: reveal window closed"):
        mkt.reveal(j, GOOD, RESULT_CID, salt_for(j, auditor))


def test_only_the_tie_breaker_reveals_during_the_tie(w, mkt):
    j, worker, _, tb = disputed_job(w)
    w.commit(j, tb, GOOD)
    assert w.job(j).state == ST_TIE_REVEAL
    with boa.env.prank(worker), boa.reverts("ComputeMarket: only the tie-breaker reveals now"):
        mkt.reveal(j, GOOD, RESULT_CID, salt_for(j, worker))
    boa.env.time_travel(seconds=REVEAL_WINDOW + 1)
    with boa.env.prank(tb), boa.reverts("ComputeMarket: reveal window closed"):
        mkt.reveal(j, GOOD, RESULT_CID, salt_for(j, tb))


def test_replica_that_never_committed_cannot_reveal(w, mkt):
    w.set_max_replacements(0)
    j = w.post(policy=REPLICATE, param=3)
    provs = w.assignees(j)
    w.commit(j, provs[0])
    w.commit(j, provs[1])
    boa.env.time_travel(seconds=COMMIT_WINDOW + 1)
    w.timeout(j)
    assert w.job(j).state == ST_REVEALING
    with boa.env.prank(provs[2]), boa.reverts("ComputeMarket: nothing committed"):
        mkt.reveal(j, GOOD, RESULT_CID, salt_for(j, provs[2]))


# --------------------------------------------------------------------------- NONE


def test_none_job_pays_worker_and_fee(w, mkt):
    j = w.post()
    worker = w.assignees(j)[0]
    w.commit(j, worker)
    next_block()
    before = owed_snapshot(w)
    w.reveal(j, worker)
    assert event_names(w.last_logs) == ["Revealed", "Settled"]  # unverified: no reputation
    rev = market_events(w, "Revealed")[0]
    assert (rev.job_id, rev.provider, rev.digest, rev.result) == (j, worker, GOOD, RESULT_CID)
    s = settled(w, j)
    assert (s.digest, s.paid, s.refund, s.fee) == (GOOD, NET, 0, FEE)
    assert owed_deltas(w, before) == {worker: NET, w.treasury: FEE}
    view = w.job(j)
    assert (view.state, view.escrow, view.result) == (ST_SETTLED, 0, GOOD)
    assert mkt.assignment(j, 0) == (worker, GOOD, True)
    assert w.rep(worker) == REP_START
    w.check_books()
    # the worker and the treasury take their money out
    for who in (worker, w.treasury):
        bal = w.token.balanceOf(who)
        owed = w.owed(who)
        w.act(who, mkt.withdraw)
        assert w.token.balanceOf(who) == bal + owed
    w.check_books()


def test_worker_that_raised_its_price_is_still_paid_the_job_price(w):
    j = w.post()
    worker = w.assignees(j)[0]
    with boa.env.prank(worker):
        w.registry.update_provider(1, 100 * PRICE, keccak(text="m"))
    w.commit(j, worker)
    next_block()
    w.reveal(j, worker)
    assert w.owed(worker) == NET


# --------------------------------------------------------------------------- AUDIT


def test_audit_not_drawn_settles_on_reveal(w, mkt):
    j = w.post(policy=AUDIT, param=0)
    worker = w.assignees(j)[0]
    w.commit(j, worker)
    next_block()
    assert mkt.is_audited(j) is False
    with boa.env.prank(w.owner), boa.reverts("ComputeMarket: not drawn for audit"):
        mkt.open_audit(j)
    before = owed_snapshot(w)
    w.reveal(j, worker)
    s = settled(w, j)
    assert (s.digest, s.paid, s.refund, s.fee) == (GOOD, NET, 2 * PAY, FEE)
    assert owed_deltas(w, before) == {worker: NET, w.treasury: FEE, w.requesters[0]: 2 * PAY}
    w.check_books()


def test_audit_rate_draws_some_jobs_and_not_others(w, mkt):
    drawn = 0
    n = 24
    for _ in range(n):
        j = w.post(policy=AUDIT, param=5000)
        worker = w.assignees(j)[0]
        w.commit(j, worker)
        next_block()
        if mkt.is_audited(j):
            drawn += 1
            w.open_audit(j)
            assert w.job(j).state == ST_AUDIT_COMMIT
        else:
            w.reveal(j, worker)
            assert w.job(j).state == ST_SETTLED
    assert 4 <= drawn <= n - 4
    w.check_books()


def test_audit_forced_when_commit_block_hash_is_gone(w, mkt):
    j = w.post(policy=AUDIT, param=1, duration=30 * 86400)
    worker = w.assignees(j)[0]
    w.commit(j, worker)
    next_block()
    assert mkt.is_audited(j) is False           # 1 bps: (deterministically) not drawn here
    boa.env.time_travel(blocks=256)
    assert mkt.is_audited(j) is True            # 257 blocks on: audited rather than dodged


def test_is_audited_is_false_outside_the_committed_state(w, mkt):
    j = w.post(policy=AUDIT, param=BPS)
    assert mkt.is_audited(j) is False
    assert mkt.is_audited(999) is False
    none_job = w.post()
    w.commit(none_job, w.assignees(none_job)[0])
    next_block()
    assert mkt.is_audited(none_job) is False


def test_open_audit_guards(w, mkt):
    none_job = w.post()
    w.commit(none_job, w.assignees(none_job)[0])
    next_block()
    audit_job = w.post(policy=AUDIT, param=BPS)
    with boa.env.prank(w.owner):
        with boa.reverts("ComputeMarket: not awaiting audit"):
            mkt.open_audit(none_job)
        with boa.reverts("ComputeMarket: not awaiting audit"):
            mkt.open_audit(audit_job)          # not committed yet
        with boa.reverts("ComputeMarket: not awaiting audit"):
            mkt.open_audit(12345)


def test_audit_agreement_pays_both(w, mkt):
    j, worker, auditor = audited_job(w)
    opened = market_events(w, "AuditOpened")[0]
    assert (opened.job_id, opened.auditor) == (j, auditor)
    assigned = market_events(w, "Assigned")[0]
    assert (assigned.provider, assigned.slot, assigned.role, assigned.commit_by) == (
        auditor, 1, 1, now() + COMMIT_WINDOW)
    assert auditor != worker
    view = w.job(j)
    assert (view.state, view.mark, list(view.providers)) == (ST_AUDIT_COMMIT, now() + COMMIT_WINDOW,
                                                             [worker, auditor])
    w.commit(j, auditor)
    assert w.job(j).state == ST_AUDIT_REVEAL
    assert w.job(j).mark == now() + REVEAL_WINDOW
    w.reveal(j, worker)
    assert w.job(j).state == ST_AUDIT_REVEAL
    before = owed_snapshot(w)
    w.reveal(j, auditor)
    s = settled(w, j)
    assert (s.digest, s.paid, s.refund, s.fee) == (GOOD, 2 * NET, PAY, 2 * FEE)
    assert owed_deltas(w, before) == {worker: NET, auditor: NET, w.treasury: 2 * FEE, w.requesters[0]: PAY}
    assert w.rep(worker) > REP_START and w.rep(auditor) > REP_START
    assert w.job(j).result == GOOD
    w.check_books()


def test_auditor_may_reveal_first(w):
    j, worker, auditor = audited_job(w)
    w.commit(j, auditor)
    w.reveal(j, auditor)
    w.reveal(j, worker)
    assert settled(w, j).digest == GOOD
    w.check_books()


def test_tie_breaker_sides_with_worker_slashes_auditor(w, mkt):
    j, worker, auditor, tb = disputed_job(w)
    assert tb not in (worker, auditor)
    assigned = market_events(w, "Assigned")[0]
    assert (assigned.provider, assigned.slot, assigned.role) == (tb, 2, 2)
    assert list(w.job(j).providers) == [worker, auditor, tb]
    w.commit(j, tb, GOOD)
    assert w.job(j).state == ST_TIE_REVEAL
    before = owed_snapshot(w)
    w.reveal(j, tb, GOOD)
    s = settled(w, j)
    assert (s.digest, s.paid, s.refund, s.fee) == (GOOD, 2 * NET, PAY, 2 * FEE)
    slash = market_events(w, "Slashed")[0]
    assert (slash.provider, slash.job_id, slash.amount, slash.to_harmed) == (auditor, j, SLASH, TO_HARMED)
    expected = {worker: NET, tb: NET}
    add(expected, w.treasury, 2 * FEE + SLASH - TO_HARMED)
    add(expected, w.requesters[0], PAY + TO_HARMED)
    assert owed_deltas(w, before) == expected
    assert w.stake(auditor) == STAKE - SLASH
    assert w.rep(auditor) == REP_START // 2
    assert w.job(j).result == GOOD
    w.check_books()


def test_tie_breaker_sides_with_auditor_slashes_worker(w, mkt):
    j, worker, auditor, tb = disputed_job(w)
    w.commit(j, tb, BAD)
    before = owed_snapshot(w)
    w.reveal(j, tb, BAD)
    s = settled(w, j)
    assert (s.digest, s.paid, s.refund) == (BAD, 2 * NET, PAY)
    assert market_events(w, "Slashed")[0].provider == worker
    expected = {auditor: NET, tb: NET}
    add(expected, w.treasury, 2 * FEE + SLASH - TO_HARMED)
    add(expected, w.requesters[0], PAY + TO_HARMED)
    assert owed_deltas(w, before) == expected
    assert w.stake(worker) == STAKE - SLASH
    assert w.job(j).result == BAD
    assert mkt.assignment(j, 1) == (auditor, BAD, True)
    w.check_books()


def test_three_different_answers_pay_everyone_and_slash_nobody(w):
    j, worker, auditor, tb = disputed_job(w)
    w.commit(j, tb, OTHER)
    before = owed_snapshot(w)
    reps = {p: w.rep(p) for p in (worker, auditor, tb)}
    w.reveal(j, tb, OTHER)
    s = settled(w, j)
    assert (s.digest, s.paid, s.refund, s.fee) == (ZERO32, 3 * NET, 0, 3 * FEE)
    assert market_events(w, "Slashed") == []
    assert owed_deltas(w, before) == {worker: NET, auditor: NET, tb: NET, w.treasury: 3 * FEE}
    for p in (worker, auditor, tb):
        assert w.stake(p) == STAKE
        assert w.rep(p) == reps[p] - reps[p] // 10        # suspect, not proven
    assert w.job(j).result == ZERO32
    w.check_books()


def test_disagreement_without_a_tie_breaker_pays_both(w):
    j, worker, auditor = audited_job(w)
    leave_draw(w, keep={worker, auditor})
    w.commit(j, auditor, BAD)
    w.reveal(j, worker, GOOD)
    before = owed_snapshot(w)
    w.reveal(j, auditor, BAD)
    s = settled(w, j)
    assert (s.digest, s.paid, s.refund) == (ZERO32, 2 * NET, PAY)
    assert owed_deltas(w, before) == {worker: NET, auditor: NET, w.treasury: 2 * FEE, w.requesters[0]: PAY}
    assert w.rep(worker) == REP_START - REP_START // 10
    w.check_books()


def test_open_audit_without_any_auditor_goes_on_unaudited(w, mkt):
    j = w.post(policy=AUDIT, param=BPS)
    worker = w.assignees(j)[0]
    leave_draw(w, keep={worker})
    w.commit(j, worker)
    next_block()
    w.open_audit(j)
    assert market_events(w, "AuditOpened") == []
    view = w.job(j)
    assert (view.state, view.param) == (ST_COMMITTED, 0)
    assert mkt.is_audited(j) is False
    w.reveal(j, worker)
    s = settled(w, j)
    assert (s.paid, s.refund) == (NET, 2 * PAY)
    w.check_books()


# --------------------------------------------------------------------------- audit timeouts


def test_worker_silent_in_audit_is_slashed_auditor_paid(w):
    j, worker, auditor = audited_job(w)
    w.commit(j, auditor, BAD)
    w.reveal(j, auditor, BAD)
    boa.env.time_travel(seconds=REVEAL_WINDOW + 1)
    before = owed_snapshot(w)
    w.timeout(j)
    s = settled(w, j)
    assert (s.digest, s.paid, s.refund) == (BAD, NET, 2 * PAY)
    assert market_events(w, "Slashed")[0].provider == worker
    expected = {auditor: NET}
    add(expected, w.treasury, FEE + SLASH - TO_HARMED)
    add(expected, w.requesters[0], 2 * PAY + TO_HARMED)
    assert owed_deltas(w, before) == expected
    assert w.job(j).result == BAD
    w.check_books()


def test_auditor_silent_is_slashed_worker_paid(w):
    j, worker, auditor = audited_job(w)
    w.commit(j, auditor)
    w.reveal(j, worker)
    boa.env.time_travel(seconds=REVEAL_WINDOW + 1)
    before = owed_snapshot(w)
    w.timeout(j)
    s = settled(w, j)
    assert (s.digest, s.paid, s.refund) == (GOOD, NET, 2 * PAY)
    assert market_events(w, "Slashed")[0].provider == auditor
    expected = {worker: NET}
    add(expected, w.treasury, FEE + SLASH - TO_HARMED)
    add(expected, w.requesters[0], 2 * PAY + TO_HARMED)
    assert owed_deltas(w, before) == expected
    w.check_books()


def test_both_silent_in_audit_are_slashed_and_job_refunded(w):
    j, worker, auditor = audited_job(w)
    w.commit(j, auditor)
    boa.env.time_travel(seconds=REVEAL_WINDOW + 1)
    before = owed_snapshot(w)
    w.timeout(j)
    refunded = market_events(w, "Refunded")[0]
    assert (refunded.job_id, refunded.amount) == (j, 3 * PAY)
    assert [s.provider for s in market_events(w, "Slashed")] == [worker, auditor]
    expected = {}
    add(expected, w.treasury, 2 * (SLASH - TO_HARMED))
    add(expected, w.requesters[0], 3 * PAY + 2 * TO_HARMED)
    assert owed_deltas(w, before) == expected
    assert w.job(j).state == ST_REFUNDED
    w.check_books()


def test_tie_breaker_silent_is_slashed_both_paid(w):
    j, worker, auditor, tb = disputed_job(w)
    w.commit(j, tb, GOOD)
    boa.env.time_travel(seconds=REVEAL_WINDOW + 1)
    before = owed_snapshot(w)
    w.timeout(j)
    s = settled(w, j)
    assert (s.digest, s.paid, s.refund) == (ZERO32, 2 * NET, PAY)
    assert [x.provider for x in market_events(w, "Slashed")] == [tb]
    expected = {worker: NET, auditor: NET}
    add(expected, w.treasury, 2 * FEE + SLASH - TO_HARMED)
    add(expected, w.requesters[0], PAY + TO_HARMED)
    assert owed_deltas(w, before) == expected
    w.check_books()


def test_stalling_auditor_is_replaced(w):
    j, worker, auditor = audited_job(w)
    boa.env.time_travel(seconds=COMMIT_WINDOW + 1)
    w.timeout(j)
    assert event_names([x for x in w.last_logs if x.address == w.market.address]) == ["Replaced", "Assigned"]
    replaced = market_events(w, "Replaced")[0]
    assert (replaced.provider, replaced.slot) == (auditor, 1)
    new = market_events(w, "Assigned")[0]
    assert (new.slot, new.role) == (1, 1)
    assert new.provider not in (worker, auditor)
    assert w.rep(auditor) == REP_START - REP_START // 10
    view = w.job(j)
    assert (view.state, view.replacements, list(view.providers)) == (ST_AUDIT_COMMIT, 1, [worker, new.provider])
    w.commit(j, new.provider)
    w.reveal(j, worker)
    w.reveal(j, new.provider)
    assert settled(w, j).digest == GOOD
    w.check_books()


def test_no_auditor_left_means_worker_reveals_unaudited(w, mkt):
    w.set_max_replacements(0)
    j, worker, auditor = audited_job(w)
    boa.env.time_travel(seconds=COMMIT_WINDOW + 1)
    w.timeout(j)
    assert market_events(w, "Replaced")[0].provider == auditor
    assert market_events(w, "Assigned") == []
    view = w.job(j)
    assert (view.state, view.param, view.mark) == (ST_COMMITTED, 0, block_number() - 1)
    assert list(view.providers) == [worker]     # the stalled auditor is no longer an assignee
    with boa.env.prank(auditor), boa.reverts("ComputeMarket: not assigned to this job"):
        mkt.reveal(j, GOOD, RESULT_CID, salt_for(j, auditor))
    w.reveal(j, worker)                  # same block is fine: the audit question is settled
    s = settled(w, j)
    assert (s.paid, s.refund) == (NET, 2 * PAY)
    w.check_books()


def test_stalling_tie_breaker_is_replaced(w):
    j, worker, auditor, tb = disputed_job(w)
    boa.env.time_travel(seconds=COMMIT_WINDOW + 1)
    w.timeout(j)
    assert market_events(w, "Replaced")[0].provider == tb
    new = market_events(w, "Assigned")[0]
    assert (new.slot, new.role) == (2, 2)
    assert new.provider not in (worker, auditor, tb)
    w.commit(j, new.provider, BAD)
    w.reveal(j, new.provider, BAD)
    assert settled(w, j).digest == BAD
    w.check_books()


def test_no_tie_breaker_left_pays_both_unresolved(w):
    j, worker, auditor, tb = disputed_job(w)
    w.set_max_replacements(0)
    boa.env.time_travel(seconds=COMMIT_WINDOW + 1)
    before = owed_snapshot(w)
    w.timeout(j)
    s = settled(w, j)
    assert (s.digest, s.paid, s.refund) == (ZERO32, 2 * NET, PAY)
    assert market_events(w, "Slashed") == []
    assert owed_deltas(w, before) == {worker: NET, auditor: NET, w.treasury: 2 * FEE, w.requesters[0]: PAY}
    assert w.rep(tb) == REP_START - REP_START // 10
    w.check_books()


def test_unrevealed_commit_past_deadline_is_slashed_and_refunded(w):
    j = w.post()
    worker = w.assignees(j)[0]
    w.commit(j, worker)
    boa.env.time_travel(seconds=DURATION)
    with boa.reverts("ComputeMarket: not timed out"):
        w.timeout(j)
    boa.env.time_travel(seconds=1)
    before = owed_snapshot(w)
    w.timeout(j)
    assert market_events(w, "Refunded")[0].amount == PAY
    assert market_events(w, "Slashed")[0].provider == worker
    expected = {}
    add(expected, w.treasury, SLASH - TO_HARMED)
    add(expected, w.requesters[0], PAY + TO_HARMED)
    assert owed_deltas(w, before) == expected
    w.check_books()


# --------------------------------------------------------------------------- commit timeouts


def test_timeout_guards(w, mkt):
    with boa.reverts("ComputeMarket: no such job"):
        w.timeout(1)
    j = w.post()
    with boa.reverts("ComputeMarket: not timed out"):
        w.timeout(j)
    boa.env.time_travel(seconds=COMMIT_WINDOW)
    with boa.reverts("ComputeMarket: not timed out"):
        w.timeout(j)
    worker = w.assignees(j)[0]
    w.commit(j, worker)
    next_block()
    w.reveal(j, worker)
    with boa.reverts("ComputeMarket: job is closed"):
        w.timeout(j)


def test_commit_timeout_replaces_and_penalizes(w, mkt):
    j = w.post()
    old = w.assignees(j)[0]
    boa.env.time_travel(seconds=COMMIT_WINDOW + 1)
    w.timeout(j, caller=w.requesters[1])          # anyone may call
    replaced = market_events(w, "Replaced")[0]
    assert (replaced.job_id, replaced.provider, replaced.slot) == (j, old, 0)
    new = market_events(w, "Assigned")[0]
    assert new.provider != old and (new.slot, new.role, new.commit_by) == (0, 0, now() + COMMIT_WINDOW)
    assert w.rep(old) == REP_START - REP_START // 10
    view = w.job(j)
    assert (view.state, view.replacements, view.mark, list(view.providers)) == (
        ST_ASSIGNED, 1, now() + COMMIT_WINDOW, [new.provider])
    with boa.env.prank(old), boa.reverts("ComputeMarket: not assigned to this job"):
        mkt.commit(j, keccak(text="late"))
    w.commit(j, new.provider)
    next_block()
    w.reveal(j, new.provider)
    assert w.owed(new.provider) == NET
    w.check_books()


def test_commit_timeouts_refund_after_max_replacements(w):
    j = w.post()
    stallers = [w.assignees(j)[0]]
    for n in range(1, MAX_REPLACEMENTS + 1):
        boa.env.time_travel(seconds=COMMIT_WINDOW + 1)
        w.timeout(j)
        assert w.job(j).replacements == n
        stallers.append(w.assignees(j)[0])
    assert len(set(stallers)) == MAX_REPLACEMENTS + 1
    boa.env.time_travel(seconds=COMMIT_WINDOW + 1)
    before = owed_snapshot(w)
    w.timeout(j)
    assert market_events(w, "Refunded")[0].amount == PAY
    assert owed_deltas(w, before) == {w.requesters[0]: PAY}
    assert w.job(j).state == ST_REFUNDED
    for p in stallers:
        assert w.rep(p) == REP_START - REP_START // 10
    w.check_books()


def test_commit_timeout_without_replacement_refunds(w):
    j = w.post()
    worker = w.assignees(j)[0]
    leave_draw(w, keep={worker})
    boa.env.time_travel(seconds=COMMIT_WINDOW + 1)
    w.timeout(j)
    assert market_events(w, "Refunded")[0].amount == PAY
    assert w.rep(worker) == REP_START - REP_START // 10
    w.check_books()


# --------------------------------------------------------------------------- REPLICATE


def test_replicate_unanimous_pays_all(w):
    j, provs = replicate_job(w)
    assert w.job(j).mark == now() + REVEAL_WINDOW
    w.reveal(j, provs[0])
    w.reveal(j, provs[1])
    before = owed_snapshot(w)
    w.reveal(j, provs[2])
    s = settled(w, j)
    assert (s.digest, s.paid, s.refund, s.fee) == (GOOD, 3 * NET, 0, 3 * FEE)
    assert owed_deltas(w, before) == {**dict.fromkeys(provs, NET), w.treasury: 3 * FEE}
    assert all(w.rep(p) > REP_START for p in provs)
    assert w.job(j).result == GOOD
    w.check_books()


def test_replicate_two_to_one_slashes_dissenter(w):
    j, provs = replicate_job(w, digests=[GOOD, BAD, GOOD])
    for p, d in zip(provs, [GOOD, BAD, GOOD], strict=True):
        before = owed_snapshot(w)
        w.reveal(j, p, d)
    s = settled(w, j)
    assert (s.digest, s.paid, s.refund) == (GOOD, 2 * NET, PAY)
    assert [x.provider for x in market_events(w, "Slashed")] == [provs[1]]
    expected = {provs[0]: NET, provs[2]: NET}
    add(expected, w.treasury, 2 * FEE + SLASH - TO_HARMED)
    add(expected, w.requesters[0], PAY + TO_HARMED)
    assert owed_deltas(w, before) == expected
    assert w.stake(provs[1]) == STAKE - SLASH
    w.check_books()


def test_replicate_non_revealer_is_slashed(w):
    j, provs = replicate_job(w)
    w.reveal(j, provs[0])
    w.reveal(j, provs[1])
    with boa.reverts("ComputeMarket: not timed out"):
        w.timeout(j)
    boa.env.time_travel(seconds=REVEAL_WINDOW + 1)
    before = owed_snapshot(w)
    w.timeout(j)
    s = settled(w, j)
    assert (s.digest, s.paid, s.refund) == (GOOD, 2 * NET, PAY)
    assert [x.provider for x in market_events(w, "Slashed")] == [provs[2]]
    expected = {provs[0]: NET, provs[1]: NET}
    add(expected, w.treasury, 2 * FEE + SLASH - TO_HARMED)
    add(expected, w.requesters[0], PAY + TO_HARMED)
    assert owed_deltas(w, before) == expected
    w.check_books()


def test_replicate_without_majority_pays_nobody(w):
    j, provs = replicate_job(w, digests=[GOOD, BAD, OTHER])
    for p, d in zip(provs, [GOOD, BAD, OTHER], strict=True):
        before = owed_snapshot(w)
        w.reveal(j, p, d)
    s = settled(w, j)
    assert (s.digest, s.paid, s.refund) == (ZERO32, 0, 3 * PAY)
    assert market_events(w, "Slashed") == []
    assert owed_deltas(w, before) == {w.requesters[0]: 3 * PAY}
    for p in provs:
        assert w.rep(p) == REP_START - REP_START // 10
        assert w.stake(p) == STAKE
    assert w.job(j).result == ZERO32
    w.check_books()


def test_replicate_commit_timeout_replaces_only_missing_slot(w):
    j = w.post(policy=REPLICATE, param=3)
    provs = w.assignees(j)
    w.commit(j, provs[0])
    w.commit(j, provs[1])
    boa.env.time_travel(seconds=COMMIT_WINDOW + 1)
    w.timeout(j)
    replaced = market_events(w, "Replaced")
    assert [(x.provider, x.slot) for x in replaced] == [(provs[2], 2)]
    new = w.assignees(j)
    assert new[:2] == provs[:2] and new[2] not in provs
    w.commit(j, new[2])
    assert w.job(j).state == ST_REVEALING
    for p in new:
        w.reveal(j, p)
    assert settled(w, j).paid == 3 * NET
    w.check_books()


def test_replicate_all_silent_refunds_after_max_replacements(w):
    w.set_max_replacements(0)
    j = w.post(policy=REPLICATE, param=3)
    provs = w.assignees(j)
    boa.env.time_travel(seconds=COMMIT_WINDOW + 1)
    before = owed_snapshot(w)
    w.timeout(j)
    assert market_events(w, "Refunded")[0].amount == 3 * PAY
    assert owed_deltas(w, before) == {w.requesters[0]: 3 * PAY}
    assert all(w.rep(p) == REP_START - REP_START // 10 for p in provs)
    w.check_books()


def test_replicate_goes_on_with_the_replicas_that_committed(w):
    w.set_max_replacements(0)
    j = w.post(policy=REPLICATE, param=3)
    provs = w.assignees(j)
    w.commit(j, provs[0])
    w.commit(j, provs[1])
    boa.env.time_travel(seconds=COMMIT_WINDOW + 1)
    w.timeout(j)
    view = w.job(j)
    assert (view.state, view.mark) == (ST_REVEALING, now() + REVEAL_WINDOW)
    assert w.rep(provs[2]) == REP_START - REP_START // 10
    w.reveal(j, provs[0])
    w.reveal(j, provs[1])
    assert w.job(j).state == ST_REVEALING        # the silent third keeps the phase open
    boa.env.time_travel(seconds=REVEAL_WINDOW + 1)
    before = owed_snapshot(w)
    w.timeout(j)
    s = settled(w, j)
    assert (s.digest, s.paid, s.refund) == (GOOD, 2 * NET, PAY)
    assert market_events(w, "Slashed") == []      # never committed: penalized, not slashed
    assert owed_deltas(w, before) == {provs[0]: NET, provs[1]: NET, w.treasury: 2 * FEE, w.requesters[0]: PAY}
    w.check_books()


def test_replicate_replacement_impossible_refunds(w):
    j = w.post(policy=REPLICATE, param=3)
    provs = w.assignees(j)
    w.commit(j, provs[0])
    leave_draw(w, keep=set(provs))
    boa.env.time_travel(seconds=COMMIT_WINDOW + 1)
    w.timeout(j)
    assert market_events(w, "Refunded")[0].amount == 3 * PAY
    assert w.rep(provs[1]) == w.rep(provs[2]) == REP_START - REP_START // 10
    assert w.rep(provs[0]) == REP_START
    w.check_books()


# --------------------------------------------------------------------------- batches


@pytest.mark.parametrize("n_items", [1, 2, 5, 8])
def test_batch_result_items_verify_with_merkle_proofs(w, mkt, n_items):
    items = [keccak(text=f"item-{i}") for i in range(n_items)]
    root = merkle_root(items)
    j = w.post(units=4 * n_items, items=n_items)
    worker = w.assignees(j)[0]
    w.commit(j, worker, root)
    assert mkt.verify_item(j, 0, items[0], merkle_proof(items, 0)) is False     # nothing agreed yet
    next_block()
    w.reveal(j, worker, root)
    assert w.job(j).result == root
    for i, d in enumerate(items):
        proof = merkle_proof(items, i)
        assert mkt.verify_item(j, i, d, proof) is True
        assert mkt.verify_item(j, i, keccak(text="forged"), proof) is False
        if n_items > 1:
            assert mkt.verify_item(j, (i + 1) % n_items, d, proof) is False
    if n_items > 1:
        assert mkt.verify_item(j, 0, items[0], merkle_proof(items, 0)[:-1]) is False
    w.check_books()


def test_verify_item_on_unknown_or_unresolved_job_is_false(w, mkt):
    assert mkt.verify_item(77, 0, GOOD, []) is False
    j, provs = replicate_job(w, digests=[GOOD, BAD, OTHER])
    for p, d in zip(provs, [GOOD, BAD, OTHER], strict=True):
        w.reveal(j, p, d)
    assert mkt.verify_item(j, 0, GOOD, []) is False


def test_verify_item_rejects_an_internal_node_posing_as_an_item(w, mkt):
    items = [keccak(text=f"item-{i}") for i in range(2)]
    root = merkle_root(items)
    j = w.post(units=2, items=2)
    worker = w.assignees(j)[0]
    w.commit(j, worker, root)
    next_block()
    w.reveal(j, worker, root)
    # root = keccak(leaf0 ++ leaf1) = keccak(abi_encode(uint256(leaf0), leaf1)): the "item" at
    # index uint256(leaf0) of a 2-item batch "has digest" leaf1, with an empty proof.
    leaf0 = keccak(b"\x00" * 32 + items[0])
    leaf1 = keccak((1).to_bytes(32, "big") + items[1])
    assert mkt.verify_item(j, int.from_bytes(leaf0, "big"), leaf1, []) is False


# --------------------------------------------------------------------------- stake and the market


def test_unbonding_stake_is_still_slashable(w, mkt):
    j = w.post()
    worker = w.assignees(j)[0]
    w.commit(j, worker)
    with boa.env.prank(worker):
        w.registry.unbond(STAKE)
    assert w.registry.provider(worker).stake == 0
    boa.env.time_travel(seconds=DURATION + 1)
    w.timeout(j)
    assert market_events(w, "Slashed")[0].amount == SLASH
    view = w.registry.provider(worker)
    assert (view.stake, view.unbonding) == (0, STAKE - SLASH)
    w.check_books()
    boa.env.time_travel(seconds=UNBOND_DELAY)
    before = w.token.balanceOf(worker)
    with boa.env.prank(worker):
        w.registry.withdraw_stake()
    assert w.token.balanceOf(worker) == before + STAKE - SLASH
    w.check_books()


def test_slash_below_minimum_removes_provider_from_draw(w):
    small = w.add_provider("small", stake=110 * E18)
    total = w.registry.kind_weight(0)[1]
    # find a job assigned to the small provider
    for _ in range(60):
        j = w.post()
        if w.assignees(j)[0] == small:
            break
    else:
        pytest.fail("the small provider was never drawn")
    w.commit(j, small)
    boa.env.time_travel(seconds=DURATION + 1)
    w.timeout(j)
    assert w.registry.provider(small).active is False
    assert w.registry.kind_weight(0)[1] == total - 110 * E18
    for _ in range(20):
        assert small not in w.assignees(w.post())
    with boa.env.prank(small):
        w.registry.add_stake(50 * E18)
    assert w.registry.provider(small).active is True
    assert w.registry.kind_weight(0)[1] == total + 50 * E18 - 110 * E18 * SLASH_BPS // BPS
    w.check_books()


# --------------------------------------------------------------------------- views


def test_job_view_of_unknown_job_is_empty(w, mkt):
    view = w.job(5)
    assert (view.requester, view.pay, view.state, view.escrow, list(view.providers), view.result) == (
        ZERO, 0, ST_NONE, 0, [], ZERO32)
    assert mkt.assignment(5, 0) == (ZERO, ZERO32, False)


def test_job_view_of_closed_audit_jobs_lists_real_assignees(w):
    j = w.post(policy=AUDIT, param=0)
    worker = w.assignees(j)[0]
    w.commit(j, worker)
    next_block()
    w.reveal(j, worker)
    assert w.assignees(j) == [worker]
    j, worker, auditor = audited_job(w)
    w.commit(j, auditor)
    w.reveal(j, worker)
    w.reveal(j, auditor)
    assert w.assignees(j) == [worker, auditor]


def test_open_audit_in_the_commit_block_is_refused(w, mkt):
    j = w.post(policy=AUDIT, param=BPS)
    worker = w.assignees(j)[0]
    w.commit(j, worker)
    assert mkt.is_audited(j) is False
    # the commit block's own hash is not known yet: Vyper's blockhash() reverts for it
    with boa.env.prank(w.owner), boa.reverts():
        mkt.open_audit(j)
    next_block()
    w.open_audit(j)
    assert w.job(j).state == ST_AUDIT_COMMIT


def test_worker_left_unaudited_after_the_deadline_can_still_reveal(w):
    j, worker, auditor = audited_job(w, duration=COMMIT_WINDOW + 100)
    DEADLINE_AT_POST = w.job(j).deadline  # noqa: N806
    for _ in range(MAX_REPLACEMENTS + 1):       # every auditor drawn stalls
        boa.env.time_travel(seconds=COMMIT_WINDOW + 1)
        w.timeout(j)
    assert w.job(j).state == ST_COMMITTED       # nobody left to audit: the worker may reveal unaudited
    assert now() > DEADLINE_AT_POST             # the stalls used up the original deadline ...
    assert w.job(j).deadline > now()            # ... so it was extended for the worker's reveal
    w.reveal(j, worker)                         # the deadline was extended when the audit was given up
    assert w.job(j).state == ST_SETTLED


# --------------------------------------------------------------------------- coverage of revert reasons


def test_every_revert_reason_is_exercised():
    here = Path(__file__).resolve().parent
    tests = "".join(p.read_text() for p in here.glob("test_compute_*.py"))
    for path in (REGISTRY_PATH, MARKET_PATH):
        reasons = revert_strings(path)
        assert reasons
        missing = sorted(r for r in reasons if f'"{r}"' not in tests)
        assert missing == [], f"revert reasons of {path.name} without a test: {missing}"


def test_late_open_audit_without_auditor_gives_the_worker_time_to_reveal(w, mkt):
    j = w.post(policy=AUDIT, param=BPS, duration=COMMIT_WINDOW + 100)
    worker = w.assignees(j)[0]
    w.commit(j, worker)
    leave_draw(w, keep={worker})
    boa.env.time_travel(seconds=COMMIT_WINDOW + 200)     # past the deadline, nobody opened the audit
    w.open_audit(j)                                       # nobody can audit: the job goes on unaudited
    view = w.job(j)
    assert (view.state, view.param) == (ST_COMMITTED, 0)
    assert view.deadline >= now() + REVEAL_WINDOW
    w.reveal(j, worker)
    assert settled(w, j).paid == NET
    w.check_books()


# --------------------------------------------------------------------------- a retired market


def test_a_retired_market_still_settles_and_refunds_its_jobs(w, mkt):
    # the registry's owner retires this market: it can no longer slash or score anyone ...
    silent = w.post()
    worker = w.assignees(silent)[0]
    w.commit(silent, worker)
    done = w.post(policy=REPLICATE, param=3)
    for p in w.assignees(done):
        w.commit(done, p)
    with boa.env.prank(w.owner):
        w.registry.set_market(mkt.address, False)
    stake_before = w.registry.provider(worker).stake
    # ... but its open jobs still settle: the replicas are paid, the silent worker's job is refunded
    for p in w.assignees(done):
        w.reveal(done, p)
    assert w.job(done).state == ST_SETTLED
    boa.env.time_travel(seconds=DURATION + 1)
    w.timeout(silent)
    assert w.job(silent).state == ST_REFUNDED
    assert market_events(w, "Slashed") == []
    assert w.registry.provider(worker).stake == stake_before
    w.check_books()
