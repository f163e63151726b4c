"""Unit tests for ``contracts/value/PaymentChannels.vy`` (with the real token and registry) on titanoboa.

Every entry point and every revert reason: opening (with an approval or an
EIP-2612 permit, with a delegate signer), top-ups by anyone, extensions,
closing after the expiry; cheques signed by eth-account's ``sign_typed_data``
exactly as a wallet signs them, and every way a cheque can be wrong (replayed,
stale, for another chain or contract, above the deposit, malleable, from the
wrong key, on a closed channel); batches over many channels and two models;
the split with its rounding rule (including a property test); withdrawals;
the EIP-712 views; the models' payees (``ModelPayee`` proxies: plain token
transfers, as x402's ``exact`` scheme makes, swept into the pots). After every
money-moving test the books must balance:

    channels' token balance == open escrow + pots + balances
"""

from types import SimpleNamespace

import boa
import pytest
from eth_utils import keccak
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from mock_tokens import FALSE_TOKEN, SILENT_TOKEN, TRANSFER_FAILED
from value_fixtures import (
    BPS,
    CHANNELS,
    CHANNELS_NAME,
    CHANNELS_PATH,
    DAY,
    MASK32,
    MASK64,
    MASK96,
    MAX_BATCH,
    MAX_DURATION,
    MAX_NONCE,
    MAX_UINT256,
    MAX_WITHDRAW_MODELS,
    PAYEE,
    PAYEE_PATH,
    PERMISSIVE_REGISTRY_SOURCE,
    PROXY_POST,
    PROXY_PRE,
    SECP256K1_N,
    ZERO,
    ZERO32,
    account,
    chain_id,
    channel_id_of,
    cheque_hash,
    deploy_world,
    event_names,
    events,
    malleate,
    now,
    pack,
    predicted_payee,
    sign_cheque,
    sign_token_permit,
    split_parts,
    untested_reverts,
)

# boa wraps every contract a call creates, and a payee (an EIP-1167 proxy) created by
# `create_payee` is wrapped as the ModelPayee whose code it is not: a warning, not an error.
pytestmark = pytest.mark.filterwarnings("ignore:casted bytecode does not match compiled bytecode:UserWarning")

DEPOSIT = 1_000 * 10**18
DATA_BPS = 3_000        # model A: data contributor 30 % (first share), owner 70 %

ECRECOVER_SOURCE = """
# pragma version ~=0.4.3
@external
@view
def rec(digest: bytes32, v: uint8, r: bytes32, s: bytes32) -> address:
    return ecrecover(digest, v, r, s)
"""


@pytest.fixture(scope="module")
def base():
    with boa.env.anchor():
        w = deploy_world()
        w.mo = w.address("ch-model-owner")           # owns model A
        w.mo2 = w.address("ch-model-owner-2")        # owns model B
        w.data = w.address("ch-data-contributor")
        w.stranger = w.address("ch-stranger")
        w.sponsor = w.address("ch-sponsor")          # tops up channels it does not own
        w.fund(w.sponsor, 10**24)
        with boa.env.prank(w.sponsor):
            w.token.approve(w.channels.address, 2**256 - 1)
        w.p = w.payer("ch-payer")                    # payer and signer
        w.p2 = w.payer("ch-payer-2")
        w.hot = account("ch-hot-signer")             # a delegate signing key, no funds
        w.model_a = w.register(w.mo, split=[(w.data, DATA_BPS), (ZERO, BPS - DATA_BPS)])
        w.model_b = w.register(w.mo2)
        yield w


NAMES = ("mo", "mo2", "data", "stranger", "sponsor", "p", "p2", "hot", "model_a", "model_b")


def fork(base):
    f = base.fork()
    for k in NAMES:
        setattr(f, k, getattr(base, k))
    return f


@pytest.fixture
def w(base):
    with boa.env.anchor():
        f = fork(base)
        yield f
        f.check_books()


@pytest.fixture
def pc(w):
    return w.channels


def view(w, cid):
    payer, signer, model, deposit, claimed, nonce, expiry = w.channels.channel(cid)
    return SimpleNamespace(payer=payer, signer=signer, model=model, deposit=deposit, claimed=claimed,
                           nonce=nonce, expiry=expiry)


def send(w, who, fn, *args):
    """Call ``fn`` as ``who``; keep its logs in ``w.last_logs`` (a later view call would lose them)."""
    with boa.env.prank(str(who)):
        out = fn(*args)
    w.last_logs = fn.contract.get_logs()
    return out


def pc_events(w, name):
    """The channel contract's own ``name`` events of the last call made with ``send`` / ``w.*``."""
    return events(w.last_logs, name, w.channels.address)


def bal(w, who):
    return w.token.balanceOf(str(who))


def open_a(w, deposit=DEPOSIT, payer=None, signer=ZERO, expiry=None, model=None):
    payer = payer or w.p
    return w.open(payer.address, model or w.model_a, deposit, expiry, signer)


# --------------------------------------------------------------------------- deployment and views


def test_constructor_state(w, pc):
    assert pc.token() == w.token.address
    assert pc.registry() == w.registry.address
    assert pc.channel_count() == 0
    assert pc.payee_impl() == w.payee_impl.address
    assert pc.payee_of(w.model_a) == ZERO
    assert pc.CHEQUE_TYPEHASH() == keccak(text="Cheque(uint256 channelId,uint256 nonce,uint256 amount)")
    assert (pc.MAX_BATCH(), pc.MAX_WITHDRAW_MODELS(), pc.MAX_DURATION()) == (
        MAX_BATCH, MAX_WITHDRAW_MODELS, MAX_DURATION)


def test_eip712_domain(w, pc):
    assert pc.eip712Domain() == (b"\x0f", CHANNELS_NAME, "1", chain_id(), pc.address, ZERO32, [])


def test_domain_separator_is_the_eip712_one(w, pc):
    typehash = keccak(b"EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)")
    expected = keccak(typehash + keccak(text=CHANNELS_NAME) + keccak(text="1") + chain_id().to_bytes(32, "big")
                      + bytes.fromhex(pc.address[2:]).rjust(32, b"\0"))
    assert pc.DOMAIN_SEPARATOR() == expected


@pytest.mark.parametrize("channel_id, nonce, amount", [(1, 1, 1), (7, 3, 10**18), (2**200, MASK64, MASK96),
                                                       (0, 0, 0)])
def test_cheque_digest_equals_eth_accounts_eip712_hash(w, pc, channel_id, nonce, amount):
    digest = pc.cheque_digest(channel_id, nonce, amount)
    assert digest == cheque_hash(pc.address, channel_id, nonce, amount)
    struct = keccak(pc.CHEQUE_TYPEHASH() + channel_id.to_bytes(32, "big") + nonce.to_bytes(32, "big")
                    + amount.to_bytes(32, "big"))
    assert digest == keccak(b"\x19\x01" + pc.DOMAIN_SEPARATOR() + struct)


def test_channel_view_of_an_unknown_id_is_all_zero(pc):
    assert pc.channel(0) == (ZERO, ZERO, 0, 0, 0, 0, 0)
    assert pc.channel(1) == (ZERO, ZERO, 0, 0, 0, 0, 0)


def test_a_new_chain_id_rebuilds_the_domain(w, pc):
    """After a fork (new chain id) the domain changes: old-chain cheques no longer verify."""
    cid = open_a(w)
    old_sep, old_chain = pc.DOMAIN_SEPARATOR(), chain_id()
    v1, r1, s1 = sign_cheque(w.p.key, pc.address, cid, 1, 10, cid=old_chain)
    boa.env.evm.patch.chain_id = 1337
    try:
        assert pc.DOMAIN_SEPARATOR() != old_sep
        assert pc.eip712Domain()[3] == 1337
        assert pc.cheque_digest(cid, 1, 10) == cheque_hash(pc.address, cid, 1, 10, cid=1337)
        with boa.reverts("PaymentChannels: bad signature"):
            pc.claim(cid, 1, 10, v1, r1, s1)
        assert w.claim(w.p.key, cid, 1, 10, cid=1337) == 10
    finally:
        boa.env.evm.patch.chain_id = old_chain
    assert pc.DOMAIN_SEPARATOR() == old_sep


# --------------------------------------------------------------------------- open


def test_open_escrows_and_stores_the_channel(w, pc):
    before = bal(w, w.p.address)
    expiry = now() + 7 * DAY
    cid = open_a(w, expiry=expiry)
    assert cid == channel_id_of(w.p.address, w.model_a, 1)
    assert pc.channel_count() == 1
    assert bal(w, w.p.address) == before - DEPOSIT
    assert bal(w, pc.address) == DEPOSIT
    assert pc.channel(cid) == (w.p.address, w.p.address, w.model_a, DEPOSIT, 0, 0, expiry)
    e = events(w.last_logs, "ChannelOpened", pc.address)
    assert len(e) == 1
    assert (e[0].channel_id, e[0].payer, e[0].model_id, e[0].signer, e[0].deposit, e[0].expiry) == (
        cid, w.p.address, w.model_a, w.p.address, DEPOSIT, expiry)
    assert open_a(w) == channel_id_of(w.p.address, w.model_a, 2)
    assert open_a(w, signer=w.hot.address, model=w.model_b) == channel_id_of(w.hot.address, w.model_b, 3)
    assert pc.channel_count() == 3


def test_open_with_a_delegate_signer_stores_the_payer(w, pc):
    cid = open_a(w, signer=w.hot.address)
    v = view(w, cid)
    assert (v.payer, v.signer) == (w.p.address, w.hot.address)
    e = events(w.last_logs, "ChannelOpened", pc.address)[0]
    assert (e.payer, e.signer) == (w.p.address, w.hot.address)


def test_open_naming_oneself_as_signer_is_the_default(w, pc):
    cid = open_a(w, signer=w.p.address)
    v = view(w, cid)
    assert (v.payer, v.signer) == (w.p.address, w.p.address)


def test_open_accepts_the_limits(w, pc):
    w.fund(w.p.address, MASK96)
    cid = open_a(w, deposit=MASK96, expiry=now() + MAX_DURATION)
    assert (view(w, cid).deposit, view(w, cid).expiry) == (MASK96, now() + MAX_DURATION)
    cid2 = open_a(w, deposit=1, expiry=now() + 1)
    assert view(w, cid2).deposit == 1


@pytest.mark.parametrize("model", [0, 3, 2**64])
def test_open_unknown_model_reverts(w, pc, model):
    with boa.env.prank(w.p.address), boa.reverts("PaymentChannels: model not active"):
        pc.open(model, DEPOSIT, now() + DAY, ZERO)


def test_open_inactive_model_reverts_but_open_channels_go_on(w, pc):
    cid = open_a(w)
    send(w, w.mo, w.registry.set_active, w.model_a, False)
    with boa.env.prank(w.p.address), boa.reverts("PaymentChannels: model not active"):
        pc.open(w.model_a, DEPOSIT, now() + DAY, ZERO)
    send(w, w.p.address, pc.top_up, cid, 5)
    assert w.claim(w.p.key, cid, 1, 10) == 10
    send(w, w.mo, w.registry.set_active, w.model_a, True)
    open_a(w)


def test_open_zero_amount_reverts(w, pc):
    with boa.env.prank(w.p.address), boa.reverts("PaymentChannels: zero amount"):
        pc.open(w.model_a, 0, now() + DAY, ZERO)


def test_open_deposit_too_large_reverts(w, pc):
    with boa.env.prank(w.p.address), boa.reverts("PaymentChannels: deposit too large"):
        pc.open(w.model_a, MASK96 + 1, now() + DAY, ZERO)


def test_open_model_id_too_large_reverts(w):
    """Unreachable with the real registry (ids count from 1): a registry that calls every id active."""
    permissive = boa.loads(PERMISSIVE_REGISTRY_SOURCE)
    pc = CHANNELS.deploy(w.token.address, permissive.address, w.payee_impl.address)
    with boa.env.prank(w.p.address):
        w.token.approve(pc.address, 2**256 - 1)
        cid = pc.open(MASK64, 10, now() + DAY, ZERO)
        assert pc.channel(cid)[2] == MASK64
        with boa.reverts("PaymentChannels: model id too large"):
            pc.open(MASK64 + 1, 10, now() + DAY, ZERO)
    assert w.token.balanceOf(pc.address) == 10       # (outside the fixture's books: another contract)


@pytest.mark.parametrize("offset", [0, -1, -DAY])
def test_open_expiry_in_the_past_reverts(w, pc, offset):
    with boa.env.prank(w.p.address), boa.reverts("PaymentChannels: expiry in the past"):
        pc.open(w.model_a, DEPOSIT, now() + offset, ZERO)


def test_open_expiry_too_far_reverts(w, pc):
    with boa.env.prank(w.p.address), boa.reverts("PaymentChannels: expiry too far"):
        pc.open(w.model_a, DEPOSIT, now() + MAX_DURATION + 1, ZERO)


def test_open_without_allowance_reverts_in_the_token(w, pc):
    poor = w.payer("ch-unapproved", approve=False)
    with boa.env.prank(poor.address), boa.reverts("erc20: insufficient allowance"):
        pc.open(w.model_a, DEPOSIT, now() + DAY, ZERO)
    assert pc.channel_count() == 0


def test_open_or_extend_expiry_beyond_32_bits_reverts(w, pc):
    """The expiry has a 32-bit field (unix time until 2106): a later one is refused, not wrapped."""
    boa.env.evm.patch.timestamp = 2**32 - DAY
    with boa.env.prank(w.p.address), boa.reverts("PaymentChannels: expiry too far"):
        pc.open(w.model_a, DEPOSIT, 2**32 + DAY, ZERO)
    cid = open_a(w, expiry=2**32 - 1)
    with boa.env.prank(w.p.address), boa.reverts("PaymentChannels: expiry too far"):
        pc.extend(cid, 2**32)
    assert view(w, cid).expiry == 2**32 - 1


def test_too_many_channels_reverts(w, pc):
    """Unreachable in practice (2**32 - 1 channels): the sequence counter is set by hand."""
    slot = pc.compiler_data.storage_layout["storage_layout"]["channel_count"]["slot"]
    boa.env.set_storage(pc.address, slot, MASK32 - 1)
    cid = open_a(w)
    assert cid & MASK32 == MASK32
    with boa.env.prank(w.p.address), boa.reverts("PaymentChannels: too many channels"):
        pc.open(w.model_a, DEPOSIT, now() + DAY, ZERO)


def test_channel_id_carries_signer_and_model(w, pc):
    cid = open_a(w, signer=w.hot.address, model=w.model_b)
    assert cid >> 96 == int(w.hot.address, 16)
    assert (cid >> 32) & MASK64 == w.model_b
    assert cid & MASK32 == pc.channel_count()
    v = view(w, cid)
    assert (v.payer, v.signer, v.model) == (w.p.address, w.hot.address, w.model_b)
    # a made-up id with the same signer and model but another sequence number is unknown
    assert pc.channel(cid + 1) == (ZERO, ZERO, 0, 0, 0, 0, 0)


# --------------------------------------------------------------------------- open_with_permit


def test_open_with_permit(w, pc):
    holder = w.payer("ch-permit-holder", approve=False)
    deadline = now() + 3600
    v, r, s = sign_token_permit(holder.key, w.token, pc.address, DEPOSIT, deadline)
    before = bal(w, holder.address)
    with boa.env.prank(holder.address):
        cid = w.track(pc.open_with_permit(w.model_a, DEPOSIT, now() + DAY, w.hot.address, deadline, v, r, s))
    logs = pc.get_logs()
    assert cid == channel_id_of(w.hot.address, w.model_a, 1)
    assert pc.channel(cid)[:4] == (holder.address, w.hot.address, w.model_a, DEPOSIT)
    assert bal(w, holder.address) == before - DEPOSIT
    assert w.token.allowance(holder.address, pc.address) == 0
    assert w.token.nonces(holder.address) == 1
    assert sorted(event_names(logs)) == ["Approval", "Approval", "ChannelOpened", "Transfer"]
    assert events(logs, "ChannelOpened", pc.address)[0].payer == holder.address


def test_open_with_permit_for_another_amount_reverts(w, pc):
    holder = w.payer("ch-permit-holder", approve=False)
    deadline = now() + 3600
    v, r, s = sign_token_permit(holder.key, w.token, pc.address, DEPOSIT, deadline)
    with boa.env.prank(holder.address), boa.reverts("erc20: invalid signature"):
        pc.open_with_permit(w.model_a, DEPOSIT + 1, now() + DAY, ZERO, deadline, v, r, s)


def test_open_with_expired_permit_reverts(w, pc):
    holder = w.payer("ch-permit-holder", approve=False)
    deadline = now() - 1
    v, r, s = sign_token_permit(holder.key, w.token, pc.address, DEPOSIT, deadline)
    with boa.env.prank(holder.address), boa.reverts("erc20: expired deadline"):
        pc.open_with_permit(w.model_a, DEPOSIT, now() + DAY, ZERO, deadline, v, r, s)


def test_open_with_permit_checks_the_channel_too(w, pc):
    holder = w.payer("ch-permit-holder", approve=False)
    deadline = now() + 3600
    v, r, s = sign_token_permit(holder.key, w.token, pc.address, DEPOSIT, deadline)
    send(w, w.mo, w.registry.set_active, w.model_a, False)
    with boa.env.prank(holder.address), boa.reverts("PaymentChannels: model not active"):
        pc.open_with_permit(w.model_a, DEPOSIT, now() + DAY, ZERO, deadline, v, r, s)
    assert w.token.nonces(holder.address) == 0      # the whole call rolled back


# --------------------------------------------------------------------------- top_up


def test_top_up_by_the_payer(w, pc):
    cid = open_a(w)
    expiry = view(w, cid).expiry
    send(w, w.p.address, pc.top_up, cid, 50)
    assert view(w, cid).deposit == DEPOSIT + 50
    e = pc_events(w, "ChannelFunded")
    assert [(x.channel_id, x.deposit, x.expiry) for x in e] == [(cid, DEPOSIT + 50, expiry)]


def test_top_up_by_a_third_party_is_refunded_to_the_payer(w, pc):
    cid = open_a(w, deposit=100, signer=w.hot.address)
    sponsor_before, payer_before = bal(w, w.sponsor), bal(w, w.p.address)
    send(w, w.sponsor, pc.top_up, cid, 400)
    assert bal(w, w.sponsor) == sponsor_before - 400
    assert view(w, cid).deposit == 500
    w.claim(w.hot.key, cid, 1, 120)
    boa.env.time_travel(seconds=DAY + 1)
    send(w, w.hot.address, pc.close, cid)                  # the signer closes ...
    assert bal(w, w.p.address) == payer_before + 380   # ... the payer gets the unclaimed rest
    assert bal(w, w.sponsor) == sponsor_before - 400


def test_top_up_zero_reverts(w, pc):
    cid = open_a(w)
    with boa.env.prank(w.p.address), boa.reverts("PaymentChannels: zero amount"):
        pc.top_up(cid, 0)


def test_top_up_unknown_or_closed_channel_reverts(w, pc):
    with boa.env.prank(w.p.address), boa.reverts("PaymentChannels: channel not open"):
        pc.top_up(1, 10)
    cid = open_a(w)
    boa.env.time_travel(seconds=DAY + 1)
    send(w, w.p.address, pc.close, cid)
    with boa.env.prank(w.p.address), boa.reverts("PaymentChannels: channel not open"):
        pc.top_up(cid, 10)


def test_top_up_deposit_too_large_reverts(w, pc):
    w.fund(w.p.address, MASK96)
    cid = open_a(w, deposit=MASK96 - 5)
    send(w, w.p.address, pc.top_up, cid, 5)
    assert view(w, cid).deposit == MASK96
    with boa.env.prank(w.p.address), boa.reverts("PaymentChannels: deposit too large"):
        pc.top_up(cid, 1)


def test_top_up_after_expiry_before_close_is_allowed(w, pc):
    cid = open_a(w, deposit=10)
    boa.env.time_travel(seconds=DAY + 1)
    send(w, w.sponsor, pc.top_up, cid, 10)
    assert view(w, cid).deposit == 20


def test_top_up_keeps_claimed_and_nonce(w, pc):
    cid = open_a(w, deposit=100)
    w.claim(w.p.key, cid, 5, 60)
    send(w, w.p.address, pc.top_up, cid, 1)
    v = view(w, cid)
    assert (v.deposit, v.claimed, v.nonce) == (101, 60, 5)


# --------------------------------------------------------------------------- extend


def test_extend_by_payer_and_by_signer(w, pc):
    cid = open_a(w, signer=w.hot.address)
    e1 = now() + 2 * DAY
    send(w, w.p.address, pc.extend, cid, e1)
    assert view(w, cid).expiry == e1
    assert [(x.channel_id, x.deposit, x.expiry) for x in pc_events(w, "ChannelFunded")] == [(cid, DEPOSIT, e1)]
    e2 = now() + MAX_DURATION
    send(w, w.hot.address, pc.extend, cid, e2)
    assert view(w, cid).expiry == e2


def test_extend_by_a_stranger_reverts(w, pc):
    cid = open_a(w, signer=w.hot.address)
    for who in (w.stranger, w.mo, w.sponsor):
        with boa.env.prank(who), boa.reverts("PaymentChannels: not the payer"):
            pc.extend(cid, now() + 2 * DAY)


@pytest.mark.parametrize("delta", [0, -1])
def test_extend_must_move_later(w, pc, delta):
    cid = open_a(w)
    with boa.env.prank(w.p.address), boa.reverts("PaymentChannels: expiry must move later"):
        pc.extend(cid, view(w, cid).expiry + delta)


def test_extend_too_far_reverts(w, pc):
    cid = open_a(w)
    with boa.env.prank(w.p.address), boa.reverts("PaymentChannels: expiry too far"):
        pc.extend(cid, now() + MAX_DURATION + 1)
    boa.env.time_travel(seconds=DAY)          # the limit counts from now
    send(w, w.p.address, pc.extend, cid, now() + MAX_DURATION)


def test_extend_unknown_or_closed_channel_reverts(w, pc):
    with boa.env.prank(w.p.address), boa.reverts("PaymentChannels: channel not open"):
        pc.extend(1, now() + DAY)
    cid = open_a(w)
    boa.env.time_travel(seconds=DAY + 1)
    send(w, w.p.address, pc.close, cid)
    with boa.env.prank(w.p.address), boa.reverts("PaymentChannels: channel not open"):
        pc.extend(cid, now() + DAY)


def test_extend_after_expiry_reopens_the_window(w, pc):
    cid = open_a(w)
    boa.env.time_travel(seconds=DAY + 10)
    send(w, w.p.address, pc.extend, cid, now() + DAY)
    with boa.env.prank(w.p.address), boa.reverts("PaymentChannels: channel not expired"):
        pc.close(cid)


# --------------------------------------------------------------------------- close


def test_close_before_expiry_reverts(w, pc):
    cid = open_a(w)
    with boa.env.prank(w.p.address), boa.reverts("PaymentChannels: channel not expired"):
        pc.close(cid)
    boa.env.evm.patch.timestamp = view(w, cid).expiry        # at the expiry itself: not yet
    with boa.env.prank(w.p.address), boa.reverts("PaymentChannels: channel not expired"):
        pc.close(cid)


def test_close_refunds_the_unclaimed_rest(w, pc):
    cid = open_a(w, deposit=1000)
    w.claim(w.p.key, cid, 1, 300)
    before = bal(w, w.p.address)
    boa.env.time_travel(seconds=DAY + 1)
    send(w, w.p.address, pc.close, cid)
    assert bal(w, w.p.address) == before + 700
    assert [(x.channel_id, x.refund) for x in pc_events(w, "ChannelClosed")] == [(cid, 700)]
    v = view(w, cid)
    # closed: expiry 0; the deposit left in the contract is what was claimed
    assert (v.payer, v.signer, v.model, v.deposit, v.claimed, v.nonce, v.expiry) == (
        w.p.address, w.p.address, w.model_a, 300, 300, 1, 0)
    assert pc.pot(w.model_a) == 300


def test_close_by_the_signer_refunds_the_payer(w, pc):
    cid = open_a(w, deposit=1000, signer=w.hot.address)
    before = bal(w, w.p.address)
    boa.env.time_travel(seconds=DAY + 1)
    send(w, w.hot.address, pc.close, cid)
    assert bal(w, w.p.address) == before + 1000
    assert bal(w, w.hot.address) == 0
    assert [(x.channel_id, x.refund) for x in pc_events(w, "ChannelClosed")] == [(cid, 1000)]


def test_a_closed_channel_with_nothing_claimed_reads_as_unknown(w, pc):
    """Documented by the view ("all zero for an unknown id"): closing zeroes deposit and expiry, so a
    channel that never had a claim leaves an all-zero word and ``channel`` cannot tell it from an id
    that never existed. The ``ChannelOpened`` / ``ChannelClosed`` events keep the history."""
    cid = open_a(w, deposit=1000, signer=w.hot.address)
    boa.env.time_travel(seconds=DAY + 1)
    send(w, w.p.address, pc.close, cid)
    assert pc.channel(cid) == (ZERO, ZERO, 0, 0, 0, 0, 0)
    with boa.reverts("PaymentChannels: channel not open"):
        pc.close(cid)


def test_close_fully_claimed_channel_moves_no_tokens(w, pc):
    cid = open_a(w, deposit=100)
    w.claim(w.p.key, cid, 1, 100)
    boa.env.time_travel(seconds=DAY + 1)
    send(w, w.p.address, pc.close, cid)
    logs = pc.get_logs()
    assert event_names(logs) == ["ChannelClosed"]
    assert logs[0].refund == 0


def test_close_by_a_stranger_reverts(w, pc):
    cid = open_a(w, signer=w.hot.address)
    boa.env.time_travel(seconds=DAY + 1)
    for who in (w.stranger, w.mo, w.sponsor):
        with boa.env.prank(who), boa.reverts("PaymentChannels: not the payer"):
            pc.close(cid)


def test_close_twice_or_unknown_reverts(w, pc):
    with boa.env.prank(w.p.address), boa.reverts("PaymentChannels: channel not open"):
        pc.close(1)
    cid = open_a(w)
    boa.env.time_travel(seconds=DAY + 1)
    send(w, w.p.address, pc.close, cid)
    with boa.env.prank(w.p.address), boa.reverts("PaymentChannels: channel not open"):
        pc.close(cid)


# --------------------------------------------------------------------------- claim


def test_claim_settles_a_wallet_signed_cheque(w, pc):
    cid = open_a(w)
    v, r, s = sign_cheque(w.p.key, pc.address, cid, 1, 250)
    delta = send(w, w.stranger, pc.claim, cid, 1, 250, v, r, s)     # anyone may submit it
    assert delta == 250
    assert pc.pot(w.model_a) == 250
    assert (view(w, cid).claimed, view(w, cid).nonce) == (250, 1)
    assert [(x.channel_id, x.amount) for x in pc_events(w, "Claimed")] == [(cid, 250)]
    # running totals: the next cheque adds only the difference
    assert w.claim(w.p.key, cid, 2, 400) == 150
    assert pc.pot(w.model_a) == 400


def test_claim_with_skipped_nonces_and_out_of_order_cheques(w, pc):
    cid = open_a(w)
    cheques = [(n, 10 * n) for n in range(1, 6)]
    sigs = {n: sign_cheque(w.p.key, pc.address, cid, n, a) for n, a in cheques}
    assert send(w, w.mo, pc.claim, cid, 3, 30, *sigs[3]) == 30      # the middle one first
    for n in (1, 2, 3):                                          # the older ones are now stale
        with boa.reverts("PaymentChannels: cheque already claimed"):
            pc.claim(cid, n, 10 * n, *sigs[n])
    assert send(w, w.mo, pc.claim, cid, 5, 50, *sigs[5]) == 20      # nonce 4 was never claimed: fine
    with boa.reverts("PaymentChannels: cheque already claimed"):
        pc.claim(cid, 4, 40, *sigs[4])


def test_claim_replay_reverts(w, pc):
    cid = open_a(w)
    v, r, s = sign_cheque(w.p.key, pc.address, cid, 1, 100)
    pc.claim(cid, 1, 100, v, r, s)
    with boa.reverts("PaymentChannels: cheque already claimed"):
        pc.claim(cid, 1, 100, v, r, s)
    assert pc.pot(w.model_a) == 100


@pytest.mark.parametrize("nonce, amount", [
    (2, 100),       # same amount, higher nonce
    (1, 150),       # higher amount, same nonce
    (0, 150),       # higher amount, lower nonce
    (2, 99),        # lower amount
])
def test_claim_needs_both_a_higher_amount_and_a_higher_nonce(w, pc, nonce, amount):
    cid = open_a(w)
    w.claim(w.p.key, cid, 1, 100)
    v, r, s = sign_cheque(w.p.key, pc.address, cid, nonce, amount)
    with boa.reverts("PaymentChannels: cheque already claimed"):
        pc.claim(cid, nonce, amount, v, r, s)


def test_claim_zero_amount_is_never_new(w, pc):
    cid = open_a(w)
    v, r, s = sign_cheque(w.p.key, pc.address, cid, 1, 0)
    with boa.reverts("PaymentChannels: cheque already claimed"):
        pc.claim(cid, 1, 0, v, r, s)


def test_cheque_for_another_chain_reverts(w, pc):
    cid = open_a(w)
    v, r, s = sign_cheque(w.p.key, pc.address, cid, 1, 100, cid=chain_id() + 1)
    with boa.reverts("PaymentChannels: bad signature"):
        pc.claim(cid, 1, 100, v, r, s)


def test_cheque_for_another_contract_reverts(w, pc):
    cid = open_a(w)
    other = CHANNELS.deploy(w.token.address, w.registry.address, w.payee_impl.address)
    v, r, s = sign_cheque(w.p.key, other.address, cid, 1, 100)
    with boa.reverts("PaymentChannels: bad signature"):
        pc.claim(cid, 1, 100, v, r, s)
    # ... and the cheque for this contract is no good on the other one (no such channel there)
    v, r, s = sign_cheque(w.p.key, pc.address, cid, 1, 100)
    with boa.reverts("PaymentChannels: channel not open"):
        other.claim(cid, 1, 100, v, r, s)


@pytest.mark.parametrize("kw", [{"name": "Agora PaymentChannel"}, {"version": "2"}])
def test_cheque_for_another_domain_reverts(w, pc, kw):
    cid = open_a(w)
    v, r, s = sign_cheque(w.p.key, pc.address, cid, 1, 100, **kw)
    with boa.reverts("PaymentChannels: bad signature"):
        pc.claim(cid, 1, 100, v, r, s)


def test_cheque_for_another_channel_reverts(w, pc):
    c1, c2 = open_a(w), open_a(w)
    v, r, s = sign_cheque(w.p.key, pc.address, c1, 1, 100)
    with boa.reverts("PaymentChannels: bad signature"):
        pc.claim(c2, 1, 100, v, r, s)


def test_tampered_fields_revert(w, pc):
    cid = open_a(w)
    v, r, s = sign_cheque(w.p.key, pc.address, cid, 1, 100)
    with boa.reverts("PaymentChannels: bad signature"):
        pc.claim(cid, 1, 101, v, r, s)
    with boa.reverts("PaymentChannels: bad signature"):
        pc.claim(cid, 2, 100, v, r, s)


def test_claim_above_deposit_reverts_until_topped_up(w, pc):
    cid = open_a(w, deposit=100)
    v, r, s = sign_cheque(w.p.key, pc.address, cid, 1, 101)
    with boa.reverts("PaymentChannels: amount above deposit"):
        pc.claim(cid, 1, 101, v, r, s)
    send(w, w.sponsor, pc.top_up, cid, 1)
    assert pc.claim(cid, 1, 101, v, r, s) == 101


def test_claim_exactly_the_deposit(w, pc):
    cid = open_a(w, deposit=100)
    assert w.claim(w.p.key, cid, 1, 100) == 100


def test_claim_nonce_too_large_reverts(w, pc):
    cid = open_a(w)
    v, r, s = sign_cheque(w.p.key, pc.address, cid, MAX_NONCE + 1, 10)
    with boa.reverts("PaymentChannels: nonce too large"):
        pc.claim(cid, MAX_NONCE + 1, 10, v, r, s)
    assert w.claim(w.p.key, cid, MAX_NONCE, 10) == 10
    assert view(w, cid).nonce == MAX_NONCE     # the channel is now spent for good
    v, r, s = sign_cheque(w.p.key, pc.address, cid, MAX_NONCE + 1, 20)
    with boa.reverts("PaymentChannels: nonce too large"):
        pc.claim(cid, MAX_NONCE + 1, 20, v, r, s)


def test_high_s_malleable_signature_reverts(w, pc):
    cid = open_a(w)
    v, r, s = sign_cheque(w.p.key, pc.address, cid, 1, 100)
    mv, mr, ms = malleate(v, r, s)
    assert int.from_bytes(ms, "big") > SECP256K1_N // 2
    # the twin is a valid signature by the same key for the precompile: only the s check stops it
    rec = boa.loads(ECRECOVER_SOURCE)
    digest = pc.cheque_digest(cid, 1, 100)
    assert rec.rec(digest, mv, mr, ms) == rec.rec(digest, v, r, s) == w.p.address
    with boa.reverts("PaymentChannels: bad signature"):
        pc.claim(cid, 1, 100, mv, mr, ms)
    assert pc.claim(cid, 1, 100, v, r, s) == 100


def test_wrong_signer_reverts(w, pc):
    cid = open_a(w)
    v, r, s = sign_cheque(w.p2.key, pc.address, cid, 1, 100)
    with boa.reverts("PaymentChannels: bad signature"):
        pc.claim(cid, 1, 100, v, r, s)


def test_delegate_signer_signs_and_the_payer_does_not(w, pc):
    cid = open_a(w, signer=w.hot.address)
    v, r, s = sign_cheque(w.p.key, pc.address, cid, 1, 100)
    with boa.reverts("PaymentChannels: bad signature"):
        pc.claim(cid, 1, 100, v, r, s)
    assert w.claim(w.hot.key, cid, 1, 100) == 100


@pytest.mark.parametrize("mangle", [
    lambda v, r, s: (0, r, s),
    lambda v, r, s: (1, r, s),
    lambda v, r, s: (29, r, s),
    lambda v, r, s: (55 - v, r, s),                       # the other recovery id
    lambda v, r, s: (v, ZERO32, s),
    lambda v, r, s: (v, r, ZERO32),
    lambda v, r, s: (v, (SECP256K1_N).to_bytes(32, "big"), s),
], ids=["v0", "v1", "v29", "flipped-v", "r0", "s0", "r=n"])
def test_malformed_signatures_revert(w, pc, mangle):
    cid = open_a(w)
    v, r, s = mangle(*sign_cheque(w.p.key, pc.address, cid, 1, 100))
    with boa.reverts("PaymentChannels: bad signature"):
        pc.claim(cid, 1, 100, v, r, s)


def test_claim_on_unknown_channel_reverts(w, pc):
    v, r, s = sign_cheque(w.p.key, pc.address, 1, 1, 100)
    with boa.reverts("PaymentChannels: channel not open"):
        pc.claim(1, 1, 100, v, r, s)


def test_claim_after_close_reverts(w, pc):
    cid = open_a(w)
    v, r, s = sign_cheque(w.p.key, pc.address, cid, 1, 100)
    boa.env.time_travel(seconds=DAY + 1)
    send(w, w.p.address, pc.close, cid)
    with boa.reverts("PaymentChannels: channel not open"):
        pc.claim(cid, 1, 100, v, r, s)


def test_claim_after_expiry_before_close_is_allowed(w, pc):
    """MPE semantics: the expiry only opens the payer's right to take the rest back; until the
    payer closes, the service may still settle the latest cheque (a race it should not run)."""
    cid = open_a(w, deposit=100)
    boa.env.time_travel(seconds=2 * DAY)
    assert w.claim(w.p.key, cid, 1, 60) == 60
    before = bal(w, w.p.address)
    send(w, w.p.address, pc.close, cid)
    assert bal(w, w.p.address) == before + 40


# --------------------------------------------------------------------------- claim_many


def test_pack_matches_the_contracts_layout(w, pc):
    """``PackedCheque``: (channel id, amount << 32 | nonce, r, (v - 27) << 255 | s), EIP-2098 style."""
    cid, nonce, amount, v, r, s = w.cheque(w.p.key, 7, 3, 10**18)
    packed = pack(cid, nonce, amount, v, r, s)
    assert packed[0] == cid
    assert (packed[1] >> 32, packed[1] & MASK32) == (amount, nonce)
    assert packed[2] == r
    vs = int.from_bytes(packed[3], "big")
    assert (27 + (vs >> 255), vs & ((1 << 255) - 1)) == (v, int.from_bytes(s, "big"))


def test_claim_many_over_many_channels_and_two_models(w, pc):
    payers = [w.p, w.p2]
    chans = []
    for i in range(24):
        model = w.model_a if i % 3 else w.model_b
        chans.append((open_a(w, deposit=10_000, payer=payers[i % 2], model=model), model, payers[i % 2]))
    batch, expected = [], {w.model_a: 0, w.model_b: 0}
    for i, (cid, model, payer) in enumerate(chans):      # models interleaved: B, A, A, B, A, A ...
        amount = 100 + i
        batch.append(w.packed(payer.key, cid, i + 1, amount))
        expected[model] += amount
    total = send(w, w.stranger, pc.claim_many, batch)     # anyone may submit a batch
    assert total == sum(expected.values())
    assert pc.pot(w.model_a) == expected[w.model_a]
    assert pc.pot(w.model_b) == expected[w.model_b]
    # one BatchClaimed per run of consecutive cheques of one model
    runs = [(x.model_id, x.channels, x.amount) for x in pc_events(w, "BatchClaimed")]
    assert len(runs) == 16
    assert sum(a for _, _, a in runs) == total
    assert sum(n for _, n, _ in runs) == 24
    assert runs[:3] == [(w.model_b, 1, 100), (w.model_a, 2, 101 + 102), (w.model_b, 1, 103)]
    for i, (cid, _, _) in enumerate(chans):
        assert (view(w, cid).claimed, view(w, cid).nonce) == (100 + i, i + 1)


def test_claim_many_grouped_by_model(w, pc):
    a = [open_a(w, deposit=100) for _ in range(3)]
    b = [open_a(w, deposit=100, model=w.model_b) for _ in range(3)]
    batch = [w.packed(w.p.key, c, 1, 10) for c in a] + [w.packed(w.p.key, c, 1, 20) for c in b]
    assert send(w, w.mo, pc.claim_many, batch) == 90
    assert [(x.model_id, x.channels, x.amount) for x in pc_events(w, "BatchClaimed")] == [
        (w.model_a, 3, 30), (w.model_b, 3, 60)]
    assert (pc.pot(w.model_a), pc.pot(w.model_b)) == (30, 60)


def test_claim_many_skips_settled_closed_and_unknown_channels(w, pc):
    c1, c2, c3, c4 = (open_a(w, deposit=1000) for _ in range(4))
    stale = w.cheque(w.p.key, c1, 1, 100)
    pc.claim(*stale)
    closing = w.cheque(w.p.key, c2, 1, 100)
    boa.env.time_travel(seconds=DAY + 1)
    send(w, w.p.address, pc.close, c2)
    batch = [
        pack(*stale),                           # already claimed
        w.packed(w.p.key, c1, 2, 100),          # higher nonce, same amount: not new
        pack(*closing),                         # closed channel
        w.packed(w.p.key, c3, 1, 300),          # good
        w.packed(w.p.key, 99, 1, 5),            # unknown channel
        w.packed(w.p.key, c4, 4, 400),          # good
        w.packed(w.p.key, c4, 3, 350),          # stale inside the batch
        w.packed(w.p.key, c4, 5, 450),          # newer inside the batch
        w.packed(w.p.key, c1, 3, 150),          # good
    ]
    assert send(w, w.mo, pc.claim_many, batch) == 300 + 450 + 50
    assert [(x.model_id, x.channels, x.amount) for x in pc_events(w, "BatchClaimed")] == [
        (w.model_a, 4, 800)]
    assert pc.pot(w.model_a) == 100 + 800
    assert [(view(w, c).claimed, view(w, c).nonce) for c in (c1, c2, c3, c4)] == [
        (150, 3), (0, 0), (300, 1), (450, 5)]


def test_claim_many_with_nothing_new_returns_zero(w, pc):
    cid = open_a(w)
    ch = w.cheque(w.p.key, cid, 1, 100)
    pc.claim(*ch)
    assert send(w, w.mo, pc.claim_many, [pack(*ch), pack(*ch)]) == 0
    assert pc_events(w, "BatchClaimed") == []
    assert pc.claim_many([]) == 0
    assert pc.pot(w.model_a) == 100


def test_claim_many_reverts_on_a_bad_signature(w, pc):
    c1, c2 = open_a(w), open_a(w)
    good = w.packed(w.p.key, c1, 1, 100)
    with boa.reverts("PaymentChannels: bad signature"):
        pc.claim_many([good, w.packed(w.p2.key, c2, 1, 100)])          # wrong signer
    with boa.reverts("PaymentChannels: bad signature"):
        pc.claim_many([good, w.packed(w.p.key, c2, 1, 100, cid=chain_id() + 1)])   # another chain
    cid_, nonce, amount, v, r, s = w.cheque(w.p.key, c2, 1, 100)
    with boa.reverts("PaymentChannels: bad signature"):
        pc.claim_many([good, pack(cid_, nonce, amount + 1, v, r, s)])   # tampered amount
    with boa.reverts("PaymentChannels: bad signature"):
        pc.claim_many([good, pack(cid_, nonce, amount, 55 - v, r, s)])  # the other recovery id
    with boa.reverts("PaymentChannels: bad signature"):
        pc.claim_many([good, pack(cid_, nonce, amount, v, ZERO32, s)])  # r = 0: ecrecover fails
    assert pc.pot(w.model_a) == 0
    assert view(w, c1).claimed == 0


def test_claim_many_rejects_high_s(w, pc):
    """In the compact form s has 255 bits. A real high-s twin (s' = n - s > n / 2) almost surely has
    bit 255 set, which the compact form reads as the other v: the twin is garbled, not accepted. An s
    in (n / 2, 2**255) is caught by the s check itself."""
    cid = open_a(w)
    cid_, n, amount, v, r, s = w.cheque(w.p.key, cid, 1, 100)
    mv, mr, ms = malleate(v, r, s)
    assert int.from_bytes(ms, "big") >= 2**255
    with boa.reverts("PaymentChannels: bad signature"):
        pc.claim_many([pack(cid_, n, amount, mv, mr, ms)])
    for high in (SECP256K1_N // 2 + 1, 2**255 - 1):
        with boa.reverts("PaymentChannels: bad signature"):
            pc.claim_many([(cid_, (amount << 32) | n, r, high.to_bytes(32, "big"))])
    assert pc.claim_many([pack(cid_, n, amount, v, r, s)]) == 100


def test_claim_many_reverts_above_deposit(w, pc):
    c1, c2 = open_a(w, deposit=100), open_a(w, deposit=100)
    good = w.packed(w.p.key, c1, 1, 100)
    with boa.reverts("PaymentChannels: amount above deposit"):
        pc.claim_many([good, w.packed(w.p.key, c2, 1, 101)])
    assert pc.pot(w.model_a) == 0


def test_claim_many_amount_and_nonce_share_a_word(w, pc):
    """The nonce is the low 32 bits of ``amount_nonce``: a nonce above 2**32 - 1 cannot be expressed,
    and a cheque signed for one is a different cheque (its digest differs): bad signature."""
    cid = open_a(w)
    signed = w.cheque(w.p.key, cid, MAX_NONCE + 2, 100)
    with boa.reverts("PaymentChannels: bad signature"):
        pc.claim_many([pack(*signed)])                # packs as nonce 1
    assert pc.claim_many([w.packed(w.p.key, cid, MAX_NONCE, 100)]) == 100
    assert view(w, cid).nonce == MAX_NONCE


def test_claim_many_batch_limit(w, pc):
    cid = open_a(w)
    ch = w.packed(w.p.key, cid, 1, 100)
    assert pc.claim_many([ch] * MAX_BATCH) == 100
    with boa.reverts():
        pc.claim_many([ch] * (MAX_BATCH + 1))


def test_claim_and_claim_many_agree(w, pc):
    """The batch inlines ``_claim``: the same cheques give the same state either way."""
    cids = [open_a(w, deposit=1000, model=m) for m in (w.model_a, w.model_b, w.model_a)]
    cheques = [w.cheque(w.p.key, c, n, 100 * n) for n, c in enumerate(cids, start=1)]
    with boa.env.anchor():
        for ch in cheques:
            pc.claim(*ch)
        one_by_one = [pc.channel(c) for c in cids], pc.pot(w.model_a), pc.pot(w.model_b)
    pc.claim_many([pack(*ch) for ch in cheques])
    assert ([pc.channel(c) for c in cids], pc.pot(w.model_a), pc.pot(w.model_b)) == one_by_one


# --------------------------------------------------------------------------- distribute


def claimed_into_pot(w, amount, model=None, payer=None):
    payer = payer or w.p
    cid = open_a(w, deposit=max(amount, 1), payer=payer, model=model)
    w.claim(payer.key, cid, 1, amount)
    return cid


def test_distribute_splits_exactly_with_the_rounding_rule(w, pc):
    carol = w.address("ch-carol")
    model = w.register(w.mo, split=[(w.data, 3333), (carol, 3333), (ZERO, 3334)])
    claimed_into_pot(w, 100, model=model)
    assert send(w, w.stranger, pc.distribute, model) == 100
    # every share but the first gets floor(100 * bps / 10,000); the first gets the rest
    assert split_parts(100, [3333, 3333, 3334]) == [34, 33, 33]
    assert (pc.balance_of(w.data), pc.balance_of(carol), pc.balance_of(w.mo)) == (34, 33, 33)
    assert pc.pot(model) == 0
    logs = [x for x in w.last_logs if x.address == pc.address]
    assert event_names(logs) == ["Credited", "Credited", "Credited", "Distributed"]
    assert [(x.recipient, x.model_id, x.amount) for x in logs[:3]] == [
        (carol, model, 33), (w.mo, model, 33), (w.data, model, 34)]
    assert (logs[3].model_id, logs[3].amount) == (model, 100)


def test_distribute_skips_zero_parts_but_credits_the_first_share(w, pc):
    model = w.register(w.mo, split=[(ZERO, 9999), (w.data, 1)])
    claimed_into_pot(w, 9999, model=model)
    send(w, w.stranger, pc.distribute, model)
    assert (pc.balance_of(w.mo), pc.balance_of(w.data)) == (9999, 0)
    assert [x.recipient for x in pc_events(w, "Credited")] == [w.mo]


def test_distribute_an_empty_pot_is_a_no_op(w, pc):
    assert pc.distribute(w.model_a) == 0
    assert pc.distribute(12345) == 0
    assert [x for x in pc.get_logs() if x.address == pc.address] == []


def test_distribute_model_a(w, pc):
    claimed_into_pot(w, 1001)
    assert pc.distribute(w.model_a) == 1001
    assert (pc.balance_of(w.data), pc.balance_of(w.mo)) == (1001 - 1001 * 7000 // BPS, 1001 * 7000 // BPS)


def test_owner_share_goes_to_the_new_owner_after_a_transfer(w, pc):
    claimed_into_pot(w, 1000)
    pc.distribute(w.model_a)
    assert (pc.balance_of(w.data), pc.balance_of(w.mo)) == (300, 700)
    new_owner = w.address("ch-new-owner")
    w.transfer_model(w.model_a, new_owner)
    claimed_into_pot(w, 1000)
    pc.distribute(w.model_a)
    assert (pc.balance_of(w.data), pc.balance_of(w.mo), pc.balance_of(new_owner)) == (600, 700, 700)


def test_undistributed_pot_follows_the_token(w, pc):
    """The pot is split at distribution time: what was claimed but not yet distributed when the
    token changes hands goes to the new owner (the old owner should distribute before selling)."""
    claimed_into_pot(w, 1000)
    new_owner = w.address("ch-new-owner")
    w.transfer_model(w.model_a, new_owner)
    pc.distribute(w.model_a)
    assert (pc.balance_of(w.mo), pc.balance_of(new_owner)) == (0, 700)


@settings(max_examples=100, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    amount=st.one_of(st.integers(1, 10**6), st.integers(1, MASK96), st.just(MASK96)),
    cuts=st.lists(st.integers(1, BPS - 1), max_size=7, unique=True),
    owner_at=st.one_of(st.none(), st.integers(0, 7)),
)
def test_property_distribution_parts_sum_exactly(base, amount, cuts, owner_at):
    bps = [b - a for a, b in zip([0, *sorted(cuts)], [*sorted(cuts), BPS], strict=True)]
    recipients = [boa.env.generate_address(f"prop-{i}") for i in range(len(bps))]
    if owner_at is not None:
        recipients[owner_at % len(bps)] = ZERO
    with boa.env.anchor():
        w = fork(base)
        if amount > 10**23:
            w.fund(w.p.address, amount)
        model = w.register(w.mo, split=list(zip(recipients, bps, strict=True)))
        pc = w.channels
        cid = w.open(w.p.address, model, amount)
        w.claim(w.p.key, cid, 1, amount)
        before = {str(r): pc.balance_of(w.mo if r == ZERO else r) for r in recipients}
        assert send(w, w.stranger, pc.distribute, model) == amount
        parts = split_parts(amount, bps)
        assert sum(parts) == amount
        assert all(p >= 0 for p in parts)
        credited = [x.amount for x in pc_events(w, "Credited")]
        assert sum(credited) == amount
        for r, part in zip(recipients, parts, strict=True):
            who = w.mo if r == ZERO else r
            assert pc.balance_of(who) - before[str(r)] == part
        assert pc.pot(model) == 0
        w.check_books()


# --------------------------------------------------------------------------- withdraw


def test_withdraw_pays_the_balance(w, pc):
    claimed_into_pot(w, 1000)
    pc.distribute(w.model_a)
    before = bal(w, w.data)
    assert send(w, w.data, pc.withdraw, []) == 300
    assert bal(w, w.data) == before + 300
    assert pc.balance_of(w.data) == 0
    assert [(x.account, x.amount) for x in pc_events(w, "Withdrawn")] == [(w.data, 300)]
    with boa.env.prank(w.data), boa.reverts("PaymentChannels: nothing to withdraw"):
        pc.withdraw([])


def test_withdraw_with_models_distributes_first(w, pc):
    claimed_into_pot(w, 1000)
    model = w.register(w.mo, split=[(ZERO, 5000), (w.data, 5000)])
    claimed_into_pot(w, 10, model=model)
    before = bal(w, w.mo)
    assert send(w, w.mo, pc.withdraw, [w.model_a, model, w.model_b]) == 700 + 5
    assert bal(w, w.mo) == before + 705
    assert (pc.pot(w.model_a), pc.pot(model)) == (0, 0)
    assert pc.balance_of(w.data) == 300 + 5              # distributed, not withdrawn
    assert len(pc_events(w, "Distributed")) == 2


def test_withdraw_nothing_reverts(w, pc):
    with boa.env.prank(w.stranger), boa.reverts("PaymentChannels: nothing to withdraw"):
        pc.withdraw([])
    claimed_into_pot(w, 1000, model=w.model_b)            # all to mo2
    with boa.env.prank(w.stranger), boa.reverts("PaymentChannels: nothing to withdraw"):
        pc.withdraw([w.model_b])
    assert pc.pot(w.model_b) == 1000                      # the distribution rolled back with it


def test_withdraw_model_list_limit(w, pc):
    claimed_into_pot(w, 1000)
    assert send(w, w.mo, pc.withdraw, [w.model_a] * MAX_WITHDRAW_MODELS) == 700
    with boa.env.prank(w.data), boa.reverts():
        pc.withdraw([w.model_a] * (MAX_WITHDRAW_MODELS + 1))


# --------------------------------------------------------------------------- payees (plain transfers)

def payee_at(address):
    """The payee proxy at ``address``, with ModelPayee's ABI."""
    return PAYEE.at(address)


def test_the_payee_implementation_is_locked(w):
    impl = w.payee_impl
    assert impl.channels() == impl.address                 # it set itself up in its constructor
    with boa.env.prank(w.stranger), boa.reverts("ModelPayee: already set up"):
        impl.setup()
    with boa.env.prank(w.stranger), boa.reverts("ModelPayee: not the channels"):
        impl.release(w.token.address)


def test_create_payee_makes_a_proxy_bound_to_the_channels(w, pc):
    expected = predicted_payee(pc.address, w.payee_impl.address, w.model_a)
    payee = send(w, w.stranger, pc.create_payee, w.model_a)     # anyone may
    assert payee == expected
    assert pc.payee_of(w.model_a) == payee
    assert [(x.model_id, x.payee) for x in pc_events(w, "PayeeCreated")] == [(w.model_a, payee)]
    code = boa.env.get_code(payee)
    assert code == PROXY_PRE + bytes.fromhex(w.payee_impl.address[2:]) + PROXY_POST
    assert payee_at(payee).channels() == pc.address
    # one payee per model
    other = send(w, w.stranger, pc.create_payee, w.model_b)
    assert other not in (payee, ZERO) and pc.payee_of(w.model_b) == other


def test_create_payee_is_idempotent(w, pc):
    payee = send(w, w.stranger, pc.create_payee, w.model_a)
    assert send(w, w.mo, pc.create_payee, w.model_a) == payee
    assert pc_events(w, "PayeeCreated") == []
    assert pc.payee_of(w.model_a) == payee


@pytest.mark.parametrize("model", [0, 3, 2**64])
def test_create_payee_for_an_unknown_model_reverts(w, pc, model):
    with boa.env.prank(w.stranger), boa.reverts("PaymentChannels: model not active"):
        pc.create_payee(model)
    assert pc.payee_of(model) == ZERO


def test_create_payee_for_an_inactive_model_reverts_but_an_existing_payee_stays(w, pc):
    send(w, w.mo2, w.registry.set_active, w.model_b, False)
    with boa.env.prank(w.stranger), boa.reverts("PaymentChannels: model not active"):
        pc.create_payee(w.model_b)
    payee = send(w, w.stranger, pc.create_payee, w.model_a)
    send(w, w.mo, w.registry.set_active, w.model_a, False)
    assert send(w, w.stranger, pc.create_payee, w.model_a) == payee     # no new one, no revert
    # what was paid to it still reaches the pot
    send(w, w.sponsor, w.token.transfer, payee, 77)
    assert send(w, w.stranger, pc.sweep, [w.model_a]) == 77
    assert pc.pot(w.model_a) == 77


def test_a_plain_transfer_to_the_payee_is_swept_into_the_pot_and_split(w, pc):
    """An x402 ``exact`` payment ends as a plain transfer to the payee, whoever submits it; a sweep
    (anyone's) moves exactly that into the pot, and the split pays it out."""
    payee = send(w, w.stranger, pc.create_payee, w.model_a)
    send(w, w.sponsor, w.token.transfer, payee, 1_000)
    send(w, w.p.address, w.token.transfer, payee, 1)
    pc_before = bal(w, pc.address)
    assert bal(w, payee) == 1_001
    assert send(w, w.stranger, pc.sweep, [w.model_a]) == 1_001
    assert [(x.model_id, x.amount) for x in pc_events(w, "Swept")] == [(w.model_a, 1_001)]
    assert (pc.pot(w.model_a), bal(w, payee), bal(w, pc.address)) == (1_001, 0, pc_before + 1_001)
    data_part, owner_part = split_parts(1_001, [DATA_BPS, BPS - DATA_BPS])
    before = (bal(w, w.mo), bal(w, w.data))
    assert send(w, w.mo, pc.withdraw, [w.model_a]) == owner_part
    assert send(w, w.data, pc.withdraw, []) == data_part
    assert (bal(w, w.mo), bal(w, w.data)) == (before[0] + owner_part, before[1] + data_part)
    assert bal(w, pc.address) == pc_before


def test_swept_and_claimed_revenue_share_one_pot(w, pc):
    claimed_into_pot(w, 1_000)
    payee = send(w, w.stranger, pc.create_payee, w.model_a)
    send(w, w.sponsor, w.token.transfer, payee, 500)
    assert pc.sweep([w.model_a]) == 500
    assert pc.pot(w.model_a) == 1_500
    assert send(w, w.stranger, pc.distribute, w.model_a) == 1_500
    assert (pc.balance_of(w.data), pc.balance_of(w.mo)) == (450, 1_050)


def test_tokens_sent_before_the_payee_exists_are_swept_once_it_does(w, pc):
    early = predicted_payee(pc.address, w.payee_impl.address, w.model_b)
    send(w, w.sponsor, w.token.transfer, early, 40)
    assert pc.sweep([w.model_b]) == 0                    # no payee yet: nothing to release
    assert send(w, w.stranger, pc.create_payee, w.model_b) == early
    assert pc.sweep([w.model_b]) == 40
    assert (pc.pot(w.model_b), bal(w, early)) == (40, 0)


def test_sweep_of_models_without_a_payee_or_a_balance_is_a_no_op(w, pc):
    assert send(w, w.stranger, pc.sweep, []) == 0
    assert send(w, w.stranger, pc.sweep, [w.model_a, w.model_b, 12345, 0]) == 0
    assert [x for x in w.last_logs if x.address == pc.address] == []
    payee = send(w, w.stranger, pc.create_payee, w.model_b)
    assert send(w, w.stranger, pc.sweep, [w.model_b]) == 0
    assert w.last_logs == []                             # no Swept, and no token transfer either
    # a batch mixing a paid model with empty, unknown and repeated ones credits only the paid one, once
    other = send(w, w.stranger, pc.create_payee, w.model_a)
    send(w, w.sponsor, w.token.transfer, other, 9)
    assert send(w, w.stranger, pc.sweep, [w.model_b, w.model_a, 12345, w.model_a]) == 9
    assert [(x.model_id, x.amount) for x in pc_events(w, "Swept")] == [(w.model_a, 9)]
    assert (pc.pot(w.model_a), pc.pot(w.model_b), bal(w, payee)) == (9, 0, 0)


def test_sweep_model_list_limit(w, pc):
    payee = send(w, w.stranger, pc.create_payee, w.model_a)
    send(w, w.sponsor, w.token.transfer, payee, 5)
    assert pc.sweep([w.model_a] * MAX_WITHDRAW_MODELS) == 5
    with boa.reverts():
        pc.sweep([w.model_a] * (MAX_WITHDRAW_MODELS + 1))


def test_only_the_channels_release_a_payee_and_setup_runs_once(w, pc):
    payee = payee_at(send(w, w.stranger, pc.create_payee, w.model_a))
    send(w, w.sponsor, w.token.transfer, payee.address, 100)
    for who in (w.stranger, w.mo, w.data, w.owner):
        with boa.env.prank(str(who)), boa.reverts("ModelPayee: not the channels"):
            payee.release(w.token.address)
    for who in (w.stranger, pc.address):
        with boa.env.prank(str(who)), boa.reverts("ModelPayee: already set up"):
            payee.setup()
    assert payee.channels() == pc.address
    # another channel contract (same implementation) cannot reach this payee either
    other = CHANNELS.deploy(w.token.address, w.registry.address, w.payee_impl.address)
    assert other.sweep([w.model_a]) == 0
    assert bal(w, payee.address) == 100


def test_release_by_the_channels_returns_zero_without_a_balance(w, pc):
    payee = payee_at(send(w, w.stranger, pc.create_payee, w.model_a))
    with boa.env.prank(pc.address):
        assert payee.release(w.token.address) == 0
    assert payee.get_logs() == []


# --------------------------------------------------------------------------- the whole life


def test_a_channels_whole_life_balances_to_the_wei(w, pc):
    payer_before = bal(w, w.p.address)
    cid = open_a(w, deposit=10_000, signer=w.hot.address)
    send(w, w.sponsor, pc.top_up, cid, 1_000)
    last = 0
    for n in range(1, 30):
        last = n * 333
        v, r, s = sign_cheque(w.hot.key, pc.address, cid, n, last)
        if n % 7 == 0:
            pc.claim(cid, n, last, v, r, s)
    pc.claim_many([w.packed(w.hot.key, cid, 29, last)])
    boa.env.time_travel(seconds=DAY + 1)
    send(w, w.p.address, pc.close, cid)
    assert bal(w, w.p.address) == payer_before - 10_000 + (11_000 - last)
    send(w, w.mo, pc.withdraw, [w.model_a])
    send(w, w.data, pc.withdraw, [])
    assert bal(w, pc.address) == 0
    assert bal(w, w.mo) + bal(w, w.data) == last


# --------------------------------------------------------------------------- coverage guard


# --------------------------------------------------------------------------- tokens that return false or nothing


@pytest.fixture(scope="module")
def false_base():
    """A world paid in FalseToken (transfers return false while ``fail`` is set): a model with a
    two-way split, and a channel with a claim distributed, so there is something to withdraw."""
    with boa.env.anchor():
        w = deploy_world(token=FALSE_TOKEN)
        w.mo = w.address("fw-model-owner")
        w.data = w.address("fw-data")
        w.p = w.payer("fw-payer")
        w.model = w.register(w.mo, split=[(w.data, DATA_BPS), (ZERO, BPS - DATA_BPS)])
        w.cid = w.open(w.p.address, w.model, 1_000, now() + DAY)
        w.claim(w.p.key, w.cid, 1, 400)
        w.channels.distribute(w.model)
        yield w


@pytest.fixture
def fw(false_base):
    with boa.env.anchor():
        f = false_base.fork()
        for k in ("mo", "data", "p", "model", "cid"):
            setattr(f, k, getattr(false_base, k))
        yield f
        f.check_books()


def channels_state(w):
    """Everything a failed payment must leave as it was."""
    pc, t = w.channels, w.token
    return (
        [t.balanceOf(a) for a in [*w.accounts, pc.address]], [pc.balance_of(a) for a in w.accounts],
        [pc.channel(c) for c in w.channel_ids], pc.channel_count(), pc.pot(w.model),
        t.allowance(w.p.address, pc.address), t.nonces(w.p.address),
    )


@pytest.mark.parametrize("call", ["open", "open_with_permit", "top_up", "close", "withdraw"])
def test_a_token_returning_false_reverts_and_changes_nothing(fw, call):
    pc, payer, expiry = fw.channels, fw.p.address, now() + DAY
    if call == "open":
        who, fn, args = payer, pc.open, (fw.model, 500, expiry, ZERO)
    elif call == "open_with_permit":
        deadline = now() + 3600
        permit = sign_token_permit(fw.p.key, fw.token, pc.address, 500, deadline)
        who, fn, args = payer, pc.open_with_permit, (fw.model, 500, expiry, ZERO, deadline, *permit)
    elif call == "top_up":
        who, fn, args = payer, pc.top_up, (fw.cid, 500)
    elif call == "close":
        boa.env.time_travel(seconds=DAY + 1)
        who, fn, args = payer, pc.close, (fw.cid,)                # refunds the unclaimed 600
    else:
        who, fn, args = fw.data, pc.withdraw, ([fw.model],)
    fw.token.set_fail(True)
    before = channels_state(fw)
    with boa.env.prank(str(who)), boa.reverts(TRANSFER_FAILED):
        fn(*args)
    assert channels_state(fw) == before
    fw.token.set_fail(False)
    with boa.env.prank(str(who)):
        out = fn(*args)                                          # the same call goes through once paid
    if call.startswith("open"):
        fw.track(out)


def test_a_token_returning_nothing_counts_as_paid(w):
    """USDT-style tokens return no data: opening, closing and withdrawing still go through."""
    tok = SILENT_TOKEN.deploy()
    pc = CHANNELS.deploy(tok.address, w.registry.address, w.payee_impl.address)
    payer = w.p.address
    tok.mint(payer, 1_000)
    with boa.env.prank(payer):
        tok.approve(pc.address, MAX_UINT256)
        cid = pc.open(w.model_b, 1_000, now() + 60, ZERO)
    v, r, s = sign_cheque(w.p.key, pc.address, cid, 1, 300)
    pc.claim(cid, 1, 300, v, r, s)
    boa.env.time_travel(seconds=61)
    with boa.env.prank(payer):
        pc.close(cid)
    with boa.env.prank(str(w.mo2)):
        pc.withdraw([w.model_b])
    assert (tok.balanceOf(payer), tok.balanceOf(str(w.mo2)), tok.balanceOf(pc.address)) == (700, 300, 0)


def test_a_token_returning_false_refuses_a_sweep_and_changes_nothing(fw):
    pc = fw.channels
    payee = pc.create_payee(fw.model)
    with boa.env.prank(fw.owner):
        fw.token.transfer(payee, 250)
    fw.token.set_fail(True)
    before = channels_state(fw), fw.token.balanceOf(payee)
    with boa.env.prank(fw.data), boa.reverts(TRANSFER_FAILED):
        pc.sweep([fw.model])
    assert (channels_state(fw), fw.token.balanceOf(payee)) == before
    fw.token.set_fail(False)
    assert pc.sweep([fw.model]) == 250
    assert pc.pot(fw.model) == 250


def test_a_token_returning_nothing_is_swept(w):
    tok = SILENT_TOKEN.deploy()
    pc = CHANNELS.deploy(tok.address, w.registry.address, w.payee_impl.address)
    payee = pc.create_payee(w.model_b)
    tok.mint(payee, 321)
    assert pc.sweep([w.model_b]) == 321
    assert (tok.balanceOf(payee), tok.balanceOf(pc.address), pc.pot(w.model_b)) == (0, 321, 321)


def test_every_modelpayee_revert_reason_has_a_test():
    """Every literal ``"ModelPayee: ..."`` in the source appears, quoted, in this file."""
    missing = untested_reverts(PAYEE_PATH, "ModelPayee", __file__, at_least=2)
    assert missing == [], f"revert reasons of ModelPayee without a test: {missing}"


def test_every_revert_reason_has_a_test():
    """Every literal ``"PaymentChannels: ..."`` in the source appears, quoted, in this file."""
    missing = untested_reverts(CHANNELS_PATH, "PaymentChannels", __file__, at_least=12)
    assert missing == [], f"revert reasons of PaymentChannels without a test: {missing}"
