"""Unit tests of ``DataRegistry`` and ``Datatoken``: every entry point, every revert."""

from __future__ import annotations

import re

import boa
import pytest
from data_fixtures import (
    BPS,
    DATATOKEN,
    DATATOKEN_PATH,
    DAY,
    FREE_QUOTE,
    MASK96,
    MAX_PROTOCOL_FEE_BPS,
    MAX_UINT256,
    ONE,
    REGISTRY_PATH,
    ZERO,
    ZERO32,
    account,
    deploy_world,
    digest_of,
    events,
    now,
    order_id_of,
    quote_typed_data,
    sign_quote,
    sign_token_permit,
    split_parts,
)
from eth_account.messages import _hash_eip191_message, encode_typed_data
from mock_tokens import FALSE_TOKEN, TRANSFER_FAILED

ERC721_RECEIVER = """
# pragma version ~=0.4.3
accept: public(bool)

@external
def onERC721Received(operator: address, sender: address, token_id: uint256, data: Bytes[1024]) -> bytes4:
    if self.accept:
        return 0x150b7a02
    return 0x00000000

@external
def set_accept(a: bool):
    self.accept = a
"""

# boa warns when it meets a datatoken proxy (45 bytes of code, not the compiled datatoken)
pytestmark = pytest.mark.filterwarnings("ignore:casted bytecode does not match compiled bytecode:UserWarning")

CLONER = """
# pragma version ~=0.4.3
@external
def clone(impl: address) -> address:
    return create_minimal_proxy_to(impl)
"""


@pytest.fixture(scope="module")
def world():
    return deploy_world()


@pytest.fixture(autouse=True)
def _anchor(world):
    with boa.env.anchor():
        yield


@pytest.fixture(scope="module")
def pub(world):
    a = account("publisher")
    world.fund(a.address)
    return a.address


@pytest.fixture(scope="module")
def buyer(world):
    a = account("buyer")
    world.fund(a.address)
    return a


@pytest.fixture(scope="module")
def node():
    return account("node")


def order(world, payer, dataset, node, consumer=None, service_id=0, **kw):
    consumer = payer if consumer is None else consumer
    q = sign_quote(node.key, world.registry, dataset, service_id, consumer, **kw)
    return world.act(payer, world.registry.order, dataset, service_id, consumer, q)


def test_every_revert_is_tested():
    """Every revert reason of the two contracts is quoted by this module (two counters of 2**40
    cannot be reached in a test)."""
    text = open(__file__).read()
    unreachable = {"DataRegistry: too many datasets", "DataRegistry: too many orders"}
    for path, prefix in ((REGISTRY_PATH, "DataRegistry"), (DATATOKEN_PATH, "Datatoken")):
        reasons = set(re.findall(rf'"({prefix}: [^"]+)"', path.read_text()))
        assert len(reasons) >= 10
        missing = sorted(r for r in reasons - unreachable if f'"{r}"' not in text)
        assert not missing, missing


# ----------------------------------------------------------------------------- publish


def test_publish_records_everything_in_one_transaction(world, pub):
    r = world.registry
    split = [(ZERO, 7000), (account("curator").address, 3000)]
    ds = world.publish(pub, split=split, timeout=DAY, price=2 * ONE, cap=3 * ONE, supply=5 * ONE,
                       card=digest_of("card"), content=digest_of("content"), name="Weather 2026", symbol="WX26")
    assert ds == 1 and r.dataset_count() == 1
    assert r.ownerOf(ds) == pub and r.balanceOf(pub) == 1
    info = r.dataset_info(ds)
    assert info.owner == pub and info.card == digest_of("card") and info.content_hash == digest_of("content")
    assert info.timeout == DAY and info.payment_token == world.token.address and info.price == 2 * ONE
    assert info.dispenser_cap == 3 * ONE and info.market == ZERO and info.manager == ZERO
    assert [tuple(s) for s in r.split_of(ds)] == split
    dt = world.datatoken(ds)
    assert dt.address == info.datatoken
    assert dt.name() == "Weather 2026" and dt.symbol() == "WX26" and dt.decimals() == 18
    assert dt.registry() == r.address and dt.dataset_id() == ds
    assert dt.balanceOf(pub) == 5 * ONE and dt.totalSupply() == 5 * ONE
    names = [type(log).__name__ for log in world.last_logs]
    assert {"Transfer", "DatasetPublished", "PriceSet"} <= set(names)
    (e,) = events(world.last_logs, "DatasetPublished")
    assert e.dataset == ds and e.owner == pub and e.datatoken == dt.address and e.timeout == DAY


def test_publish_defaults_store_no_split_and_no_price(world, pub):
    r = world.registry
    ds = world.publish(pub, token=ZERO, price=0)
    assert [tuple(s) for s in r.split_of(ds)] == [(ZERO, BPS)]
    info = r.dataset_info(ds)
    assert info.payment_token == ZERO and info.price == 0 and info.dispenser_cap == 0
    assert world.datatoken(ds).totalSupply() == 0
    assert not events(world.last_logs, "PriceSet")


@pytest.mark.parametrize(
    ("kw", "reason"),
    [
        ({"card": ZERO32}, "DataRegistry: empty card"),
        ({"content": ZERO32}, "DataRegistry: empty content hash"),
        ({"timeout": 2**32}, "DataRegistry: timeout too large"),
        ({"price": MASK96 + 1}, "DataRegistry: price too large"),
        ({"cap": MASK96 + 1}, "DataRegistry: cap too large"),
        ({"token": ZERO, "price": 1}, "DataRegistry: price without token"),
        ({"split": []}, "DataRegistry: empty split"),
        ({"split": [(ZERO, BPS), ("0x" + "11" * 20, 0)]}, "DataRegistry: zero share"),
        ({"split": [(ZERO, 5000), (ZERO, 5000)]}, "DataRegistry: duplicate recipient"),
        ({"split": [(ZERO, 5000), ("0x" + "11" * 20, 4999)]}, "DataRegistry: shares must sum to 10000"),
    ],
)
def test_publish_reverts(world, pub, kw, reason):
    with boa.reverts(reason):
        world.publish(pub, **kw)


# ----------------------------------------------------------------------------- metadata, roles, pricing


def test_update_metadata_by_owner_and_updater(world, pub):
    r = world.registry
    ds = world.publish(pub)
    world.act(pub, r.update_metadata, ds, digest_of("c2"), digest_of("h2"))
    (e,) = events(world.last_logs, "MetadataUpdated")
    assert e.card == digest_of("c2") and e.content_hash == digest_of("h2")
    updater, manager = account("updater").address, account("manager").address
    with boa.reverts("DataRegistry: not the owner"):
        world.act(updater, r.update_metadata, ds, digest_of("c3"), digest_of("h3"))
    world.act(pub, r.set_roles, ds, manager, updater)
    (e,) = events(world.last_logs, "RolesSet")
    assert e.manager == manager and e.metadata_updater == updater
    world.act(updater, r.update_metadata, ds, digest_of("c3"), digest_of("h3"))
    info = r.dataset_info(ds)
    assert info.card == digest_of("c3") and info.content_hash == digest_of("h3")
    assert info.manager == manager and info.metadata_updater == updater
    with boa.reverts("DataRegistry: empty card"):
        world.act(updater, r.update_metadata, ds, ZERO32, digest_of("h3"))
    with boa.reverts("DataRegistry: empty content hash"):
        world.act(updater, r.update_metadata, ds, digest_of("c3"), ZERO32)
    # the updater may not set prices or roles; the manager may not set roles
    with boa.reverts("DataRegistry: not the owner"):
        world.act(updater, r.set_price, ds, (world.token.address, 1, 0))
    with boa.reverts("DataRegistry: not the owner"):
        world.act(manager, r.set_roles, ds, manager, manager)
    with boa.reverts("DataRegistry: unknown dataset"):
        world.act(pub, r.update_metadata, 99, digest_of("c"), digest_of("h"))


def test_sources_are_recorded_once_by_the_owner(world, pub, buyer):
    """A model's outputs published as a dataset: the model version, the job and a parent dataset,
    set once by the owner, readable on chain; the order path is untouched."""
    r = world.registry
    parent = world.publish(pub)
    ds = world.publish(pub, timeout=DAY)
    assert r.sources(ds) == []
    models, market = account("model registry").address, account("compute market").address
    sources = [(models, 3, digest_of("receipts")), (market, 7, ZERO32), (r.address, parent, ZERO32)]
    manager = account("manager").address
    world.act(pub, r.set_roles, ds, manager, ZERO)
    with boa.reverts("DataRegistry: not the owner"):       # the owner's claim, not the manager's
        world.act(manager, r.set_sources, ds, sources)
    with boa.reverts("DataRegistry: no sources"):
        world.act(pub, r.set_sources, ds, [])
    with boa.reverts("DataRegistry: zero source registry"):
        world.act(pub, r.set_sources, ds, [(ZERO, 1, ZERO32)])
    with boa.reverts("DataRegistry: a dataset cannot be its own source"):
        world.act(pub, r.set_sources, ds, [(r.address, ds, ZERO32)])
    with boa.reverts("DataRegistry: unknown dataset"):
        world.act(pub, r.set_sources, ds, [(r.address, 99, ZERO32)])
    with boa.reverts("DataRegistry: unknown dataset"):
        world.act(pub, r.set_sources, 99, sources)
    world.act(pub, r.set_sources, ds, sources)
    (e,) = events(world.last_logs, "SourcesSet")
    assert e.dataset == ds and [tuple(x) for x in e.sources] == [tuple(x) for x in sources]
    assert [tuple(x) for x in r.sources(ds)] == [tuple(x) for x in sources]
    with boa.reverts("DataRegistry: sources already set"):
        world.act(pub, r.set_sources, ds, sources[:1])
    with boa.reverts("DataRegistry: unknown dataset"):
        r.sources(99)
    # the flag lives next to the market flag in the hot word: orders still work, with or without a market
    world.act(pub, r.set_market_fee, ds, market, 0)
    world.act(buyer.address, r.buy, ds, ONE, ONE)
    oid = world.act(buyer.address, r.order, ds, 0, buyer.address, FREE_QUOTE)
    assert r.order_info(oid).expires == now() + DAY and len(r.sources(ds)) == 3


def test_set_price_and_mint_by_owner_or_manager(world, pub, buyer):
    r = world.registry
    ds = world.publish(pub, price=ONE)
    manager = account("manager").address
    world.act(pub, r.set_roles, ds, manager, ZERO)
    world.act(manager, r.set_price, ds, (world.token.address, 3 * ONE, 2 * ONE))
    (e,) = events(world.last_logs, "PriceSet")
    assert e.price == 3 * ONE and e.dispenser_cap == 2 * ONE
    assert r.dataset_info(ds).price == 3 * ONE and r.dataset_info(ds).dispenser_cap == 2 * ONE
    world.act(manager, r.mint_datatokens, ds, manager, 7)
    assert world.datatoken(ds).balanceOf(manager) == 7
    with boa.reverts("DataRegistry: not the owner"):
        world.act(buyer.address, r.mint_datatokens, ds, buyer.address, 1)
    with boa.reverts("DataRegistry: price too large"):
        world.act(pub, r.set_price, ds, (world.token.address, MASK96 + 1, 0))
    # not for sale any more
    world.act(pub, r.set_price, ds, (ZERO, 0, 0))
    with boa.reverts("DataRegistry: not for sale"):
        world.act(buyer.address, r.buy, ds, ONE, MAX_UINT256)
    with boa.reverts("DataRegistry: unknown dataset"):
        world.act(pub, r.set_price, 99, (ZERO, 0, 0))


def test_changing_the_payment_token_distributes_the_old_pot(world, pub, buyer):
    r = world.registry
    ds = world.publish(pub, price=ONE)
    world.act(buyer.address, r.buy, ds, 2 * ONE, ONE)
    assert r.pot(ds, world.token.address) == 2 * ONE
    other = FALSE_TOKEN.deploy(10**24)
    world.act(pub, r.set_price, ds, (other.address, ONE, 0))
    assert r.pot(ds, world.token.address) == 0 and r.earnings(pub, world.token.address) == 2 * ONE
    world.check_books()


def test_market_fee(world, pub, buyer, node):
    r = world.registry
    ds = world.publish(pub, price=ONE)
    market = account("market").address
    with boa.reverts("DataRegistry: fee too large"):
        world.act(pub, r.set_market_fee, ds, market, MASK96 + 1)
    world.act(pub, r.set_market_fee, ds, market, 10**17)
    (e,) = events(world.last_logs, "MarketFeeSet")
    assert e.market == market and e.fee == 10**17
    world.act(buyer.address, r.buy, ds, ONE, ONE)
    order(world, buyer.address, ds, node)
    (e,) = events(world.last_logs, "OrderStarted")
    assert e.market == market and e.market_fee == 10**17
    assert world.token.balanceOf(market) == 10**17
    world.act(pub, r.set_market_fee, ds, ZERO, 0)
    assert r.dataset_info(ds).market == ZERO
    free = world.publish(pub, token=ZERO, price=0, cap=ONE)
    with boa.reverts("DataRegistry: no payment token"):
        world.act(pub, r.set_market_fee, free, market, 1)


# ----------------------------------------------------------------------------- buy and dispense


def test_buy_pays_into_the_pot_and_mints(world, pub, buyer):
    r = world.registry
    ds = world.publish(pub, price=3 * ONE)
    before = world.token.balanceOf(buyer.address)
    cost = world.act(buyer.address, r.buy, ds, ONE // 2, 3 * ONE)
    assert cost == 3 * ONE // 2
    assert world.token.balanceOf(buyer.address) == before - cost
    assert r.pot(ds, world.token.address) == cost and world.datatoken(ds).balanceOf(buyer.address) == ONE // 2
    (e,) = events(world.last_logs, "Bought")
    assert e.amount == ONE // 2 and e.cost == cost
    # the cost rounds up: no free dust
    assert world.act(buyer.address, r.buy, ds, 1, 3 * ONE) == 3
    world.check_books()


def test_buy_reverts(world, pub, buyer):
    r = world.registry
    ds = world.publish(pub, price=2 * ONE)
    with boa.reverts("DataRegistry: zero amount"):
        world.act(buyer.address, r.buy, ds, 0, 2 * ONE)
    # the price changed between reading it and buying
    with boa.reverts("DataRegistry: price above max"):
        world.act(buyer.address, r.buy, ds, ONE, 2 * ONE - 1)
    free = world.publish(pub, token=ZERO, price=0)
    with boa.reverts("DataRegistry: not for sale"):
        world.act(buyer.address, r.buy, free, ONE, ONE)
    poor = account("poor").address
    with boa.reverts():
        world.act(poor, r.buy, ds, ONE, 2 * ONE)


def test_buy_with_a_token_that_returns_false(world, pub):
    with boa.env.prank(world.owner):
        tok = FALSE_TOKEN.deploy(10**24)
    world.tokens.append(tok)
    try:
        _buy_with_false_token(world, pub, tok)
    finally:
        world.tokens.remove(tok)      # the token is gone with this test's anchor


def _buy_with_false_token(world, pub, tok):
    r = world.registry
    ds = world.publish(pub, token=tok, price=ONE)
    payer = account("false-payer").address
    world.fund(payer, 10**21, token=tok)
    tok.set_fail(True)
    with boa.reverts(TRANSFER_FAILED):
        world.act(payer, r.buy, ds, ONE, ONE)
    tok.set_fail(False)
    world.act(payer, r.buy, ds, ONE, ONE)
    world.act(pub, r.distribute, ds, tok.address)
    tok.set_fail(True)
    with boa.reverts(TRANSFER_FAILED):
        world.act(pub, r.withdraw, tok.address)
    assert r.earnings(pub, tok.address) == ONE
    world.check_books()


def test_dispense_up_to_the_cap(world, pub, buyer):
    r = world.registry
    ds = world.publish(pub, token=ZERO, price=0, cap=2 * ONE)
    world.act(buyer.address, r.dispense, ds, ONE)
    (e,) = events(world.last_logs, "Dispensed")
    assert e.receiver == buyer.address and e.amount == ONE
    world.act(buyer.address, r.dispense, ds, ONE)
    assert r.dispensed(ds, buyer.address) == 2 * ONE
    with boa.reverts("DataRegistry: dispenser cap reached"):
        world.act(buyer.address, r.dispense, ds, 1)
    with boa.reverts("DataRegistry: zero amount"):
        world.act(buyer.address, r.dispense, ds, 0)
    # another address has its own allowance
    other = account("other").address
    world.act(other, r.dispense, ds, 2 * ONE)
    assert world.datatoken(ds).balanceOf(other) == 2 * ONE
    paid = world.publish(pub)
    with boa.reverts("DataRegistry: no dispenser"):
        world.act(buyer.address, r.dispense, paid, ONE)


# ----------------------------------------------------------------------------- orders


def test_order_burns_one_datatoken_and_records_the_order(world, pub, buyer, node):
    r = world.registry
    ds = world.publish(pub, timeout=DAY, price=ONE)
    world.act(buyer.address, r.buy, ds, 2 * ONE, ONE)
    consumer = account("consumer").address
    fee_before = world.token.balanceOf(node.address)
    oid = order(world, buyer.address, ds, node, consumer=consumer, service_id=3, fee_token=world.token.address,
                fee=5 * 10**16)
    assert oid == order_id_of(ds, 3, consumer) and r.order_id_of(ds, 3, consumer) == oid
    assert r.order_id_of(ds, 0, consumer) == 0 and r.order_id_of(ds, 3, buyer.address) == 0
    assert world.datatoken(ds).balanceOf(buyer.address) == ONE and world.datatoken(ds).totalSupply() == ONE
    assert world.token.balanceOf(node.address) == fee_before + 5 * 10**16
    (e,) = events(world.last_logs, "OrderStarted")
    assert (e.order_id, e.dataset, e.consumer, e.payer, e.service_id, e.amount) == (
        oid, ds, consumer, buyer.address, 3, ONE)
    assert (e.provider, e.provider_fee, e.market, e.market_fee, e.protocol_fee, e.expires) == (
        node.address, 5 * 10**16, ZERO, 0, 0, now() + DAY)
    info = r.order_info(oid)
    assert (info.dataset, info.consumer, info.expires) == (ds, consumer, now() + DAY)
    assert r.order_valid(oid, consumer)
    assert not r.order_valid(oid, buyer.address)        # the payer is not the consumer
    assert not r.order_valid(oid + 1, consumer)          # no such order (yet)
    assert not r.order_valid(oid - 1, consumer)          # order number 0 never exists
    assert not r.order_valid(2, consumer)
    boa.env.time_travel(seconds=DAY - 1)
    assert r.order_valid(oid, consumer)
    boa.env.time_travel(seconds=1)
    assert not r.order_valid(oid, consumer)
    with boa.reverts("DataRegistry: unknown order"):
        r.order_info(oid + 1)
    with boa.reverts("DataRegistry: unknown order"):
        r.order_info(2)


def test_orders_of_one_consumer_and_service_share_a_record(world, pub, buyer, node):
    """A second order rewrites the record (one warm word): both ids valid until the latest expiry;
    another service or consumer is another record."""
    r = world.registry
    ds = world.publish(pub, timeout=DAY, price=ONE)
    world.act(buyer.address, r.buy, ds, 4 * ONE, ONE)
    first = order(world, buyer.address, ds, node)
    boa.env.time_travel(seconds=DAY // 2)
    second = world.act(buyer.address, r.order, ds, 0, buyer.address, FREE_QUOTE)
    assert (first, second) == (order_id_of(ds, 0, buyer.address, 1), order_id_of(ds, 0, buyer.address, 2))
    assert r.order_id_of(ds, 0, buyer.address) == second
    (e,) = events(world.last_logs, "OrderStarted")
    assert (e.order_id, e.provider, e.provider_fee, e.expires) == (second, ZERO, 0, now() + DAY)
    boa.env.time_travel(seconds=DAY // 2 + 1)        # past the first order's own day
    assert r.order_valid(first, buyer.address) and r.order_valid(second, buyer.address)
    assert r.order_info(first).expires == r.order_info(second).expires == now() + DAY // 2 - 1
    other_service = world.act(buyer.address, r.order, ds, 1, buyer.address, FREE_QUOTE)
    for_someone = world.act(buyer.address, r.order, ds, 0, node.address, FREE_QUOTE)
    assert other_service == order_id_of(ds, 1, buyer.address) and for_someone == order_id_of(ds, 0, node.address)
    assert not r.order_valid(for_someone, buyer.address) and r.order_valid(for_someone, node.address)
    boa.env.time_travel(seconds=DAY // 2)
    assert not r.order_valid(first, buyer.address) and not r.order_valid(second, buyer.address)
    assert r.order_valid(other_service, buyer.address)


def test_a_free_quote_needs_no_signature_but_carries_no_fee(world, pub, buyer):
    r = world.registry
    ds = world.publish(pub)
    world.act(buyer.address, r.buy, ds, ONE, ONE)
    unsigned_fee = (buyer.address, world.token.address, 5, now() + 60, 0, 0, ZERO32, ZERO32)
    with boa.reverts("DataRegistry: bad quote signature"):   # a provider is named: its signature is checked
        world.act(buyer.address, r.order, ds, 0, buyer.address, unsigned_fee)
    with boa.reverts("DataRegistry: a provider fee needs a signed quote"):
        world.act(buyer.address, r.order, ds, 0, buyer.address, (ZERO, world.token.address, 5, 0, 0, 0, ZERO32, ZERO32))
    oid = world.act(buyer.address, r.order, ds, 0, buyer.address, FREE_QUOTE)
    assert r.order_valid(oid, buyer.address) and world.datatoken(ds).balanceOf(buyer.address) == 0


def test_timeout_zero_means_forever(world, pub, buyer, node):
    r = world.registry
    ds = world.publish(pub, timeout=0, supply=0)
    world.act(buyer.address, r.buy, ds, ONE, ONE)
    oid = order(world, buyer.address, ds, node)
    assert r.order_info(oid).expires == 0
    boa.env.time_travel(seconds=10 * 365 * DAY)
    assert r.order_valid(oid, buyer.address)


def test_order_reverts(world, pub, buyer, node):
    r = world.registry
    ds = world.publish(pub)
    other_ds = world.publish(pub)
    # too few datatokens
    with boa.reverts("Datatoken: burn amount exceeds balance"):
        order(world, buyer.address, ds, node)
    world.act(buyer.address, r.buy, ds, ONE, ONE)
    with boa.reverts("DataRegistry: unknown dataset"):
        order(world, buyer.address, 99, node)
    with boa.reverts("DataRegistry: zero consumer"):
        q = sign_quote(node.key, r, ds, 0, ZERO)
        world.act(buyer.address, r.order, ds, 0, ZERO, q)
    # expired quote
    q = sign_quote(node.key, r, ds, 0, buyer.address, valid_until=now() - 1)
    with boa.reverts("DataRegistry: quote expired"):
        world.act(buyer.address, r.order, ds, 0, buyer.address, q)
    # a quote signed by another key than the provider it names
    q = sign_quote(account("mallory").key, r, ds, 0, buyer.address, provider=node.address)
    with boa.reverts("DataRegistry: bad quote signature"):
        world.act(buyer.address, r.order, ds, 0, buyer.address, q)
    # a quote cannot be replayed for another dataset, service or consumer, or with another fee
    q = sign_quote(node.key, r, other_ds, 0, buyer.address)
    with boa.reverts("DataRegistry: bad quote signature"):
        world.act(buyer.address, r.order, ds, 0, buyer.address, q)
    q = sign_quote(node.key, r, ds, 1, buyer.address)
    with boa.reverts("DataRegistry: bad quote signature"):
        world.act(buyer.address, r.order, ds, 2, buyer.address, q)
    q = sign_quote(node.key, r, ds, 0, account("someone").address)
    with boa.reverts("DataRegistry: bad quote signature"):
        world.act(buyer.address, r.order, ds, 0, buyer.address, q)
    q = list(sign_quote(node.key, r, ds, 0, buyer.address, fee=5))
    q[2] = 4
    with boa.reverts("DataRegistry: bad quote signature"):
        world.act(buyer.address, r.order, ds, 0, buyer.address, tuple(q))
    # a malleable (high-s) copy of a good signature
    q = list(sign_quote(node.key, r, ds, 0, buyer.address))
    n = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
    q[5], q[7] = 55 - q[5], (n - int.from_bytes(q[7], "big")).to_bytes(32, "big")
    with boa.reverts("DataRegistry: bad quote signature"):
        world.act(buyer.address, r.order, ds, 0, buyer.address, tuple(q))
    # a timeout that would end after 2106
    late = world.publish(pub, timeout=2**32 - 1)
    world.act(buyer.address, r.buy, late, ONE, ONE)
    with boa.reverts("DataRegistry: expiry too large"):
        order(world, buyer.address, late, node)
    # the good quote still works
    order(world, buyer.address, ds, node)


def test_quote_digest_matches_eth_account(world, node):
    r = world.registry
    msg = quote_typed_data(r, 7, 2, node.address, node.address, world.token.address, 5, 123, 9)
    ref = _hash_eip191_message(encode_typed_data(full_message=msg))
    assert r.quote_digest(7, 2, node.address, node.address, world.token.address, 5, 123, 9) == ref
    assert len(r.DOMAIN_SEPARATOR()) == 32
    assert r.eip712Domain()[1] == "Agora DataRegistry"


def test_protocol_fee(world, pub, buyer, node):
    r = world.registry
    ds = world.publish(pub, price=2 * ONE)
    feeman = account("feeman").address
    world.remember(feeman)
    with boa.reverts("ownable: caller is not the owner"):
        world.act(pub, r.set_protocol_fee, feeman, 100)
    with boa.reverts("DataRegistry: protocol fee too high"):
        world.act(world.owner, r.set_protocol_fee, feeman, MAX_PROTOCOL_FEE_BPS + 1)
    with boa.reverts("DataRegistry: zero fee recipient"):
        world.act(world.owner, r.set_protocol_fee, ZERO, 100)
    world.act(world.owner, r.set_protocol_fee, feeman, 250)
    assert r.protocol_fee() == (feeman, 250)
    world.act(buyer.address, r.buy, ds, ONE, 2 * ONE)
    order(world, buyer.address, ds, node)
    (e,) = events(world.last_logs, "OrderStarted")
    assert e.protocol_fee == 2 * ONE * 250 // BPS
    assert r.earnings(feeman, world.token.address) == e.protocol_fee
    world.check_books()
    assert world.act(feeman, r.withdraw, world.token.address) == e.protocol_fee
    assert world.token.balanceOf(feeman) == e.protocol_fee
    world.check_books()


# ----------------------------------------------------------------------------- buy_and_order


def test_buy_and_order_with_a_permit(world, pub, node):
    r = world.registry
    ds = world.publish(pub, price=2 * ONE)
    payer = account("permit-payer")
    world.fund(payer.address, 10 * ONE, approve=False)
    world.act(world.owner, r.set_protocol_fee, world.owner, 100)
    market = account("market").address
    world.act(pub, r.set_market_fee, ds, market, 10**16)
    fee = 3 * 10**16
    value = 2 * ONE + 2 * ONE * 100 // BPS + 10**16 + fee
    deadline = now() + 600
    v, rr, s = sign_token_permit(payer.key, world.token, r.address, value, deadline)
    q = sign_quote(node.key, r, ds, 4, payer.address, fee_token=world.token.address, fee=fee)
    oid = world.act(payer.address, r.buy_and_order, ds, 4, payer.address, q, 2 * ONE, deadline, v, rr, s)
    assert r.order_valid(oid, payer.address)
    assert world.token.balanceOf(payer.address) == 10 * ONE - value
    assert world.token.allowance(payer.address, r.address) == 0
    assert r.pot(ds, world.token.address) == 2 * ONE
    assert world.token.balanceOf(market) == 10**16 and world.token.balanceOf(node.address) == fee
    assert world.datatoken(ds).totalSupply() == 0      # neither minted nor burned
    (e,) = events(world.last_logs, "OrderStarted")
    assert e.payer == payer.address and e.protocol_fee == 2 * ONE * 100 // BPS and e.amount == ONE
    world.check_books()


def test_buy_and_order_reverts(world, pub, node):
    r = world.registry
    ds = world.publish(pub, price=2 * ONE)
    payer = account("permit-payer")
    world.fund(payer.address, 10 * ONE, approve=False)
    deadline = now() + 600
    v, rr, s = sign_token_permit(payer.key, world.token, r.address, 2 * ONE, deadline)
    q = sign_quote(node.key, r, ds, 0, payer.address)
    # the price went up between the quote and the order
    world.act(pub, r.set_price, ds, (world.token.address, 3 * ONE, 0))
    with boa.reverts("DataRegistry: price above max"):
        world.act(payer.address, r.buy_and_order, ds, 0, payer.address, q, 2 * ONE, deadline, v, rr, s)
    with boa.reverts("DataRegistry: unknown dataset"):
        world.act(payer.address, r.buy_and_order, 99, 0, payer.address, q, 2 * ONE, deadline, v, rr, s)
    # a permit for less than the price: the pull fails
    with boa.reverts():
        world.act(payer.address, r.buy_and_order, ds, 0, payer.address, q, 3 * ONE, deadline, v, rr, s)


# ----------------------------------------------------------------------------- revenue


def test_distribute_and_withdraw(world, pub, buyer):
    r = world.registry
    a, b = account("share-a").address, account("share-b").address
    ds = world.publish(pub, split=[(ZERO, 5001), (a, 3333), (b, 1666)], price=ONE)
    world.act(buyer.address, r.buy, ds, 7 * ONE + 3, ONE)
    pot = r.pot(ds, world.token.address)
    assert world.act(pub, r.distribute, ds, world.token.address) == pot
    parts = split_parts(pot, [5001, 3333, 1666])
    assert [r.earnings(x, world.token.address) for x in (pub, a, b)] == parts
    assert len(events(world.last_logs, "Credited")) == 3
    assert world.act(a, r.distribute, ds, world.token.address) == 0     # empty pot: nothing
    world.check_books()
    assert world.act(a, r.withdraw, world.token.address) == parts[1]
    (e,) = events(world.last_logs, "Withdrawn")
    assert e.account == a and e.amount == parts[1]
    assert world.token.balanceOf(a) == parts[1]
    with boa.reverts("DataRegistry: nothing to withdraw"):
        world.act(a, r.withdraw, world.token.address)
    world.check_books()


def test_nft_transfer_moves_future_revenue_and_roles_but_not_earnings(world, pub, buyer):
    r = world.registry
    curator = account("curator").address
    ds = world.publish(pub, split=[(ZERO, 8000), (curator, 2000)], price=ONE)
    manager, updater = account("manager").address, account("updater").address
    world.act(pub, r.set_roles, ds, manager, updater)
    world.act(buyer.address, r.buy, ds, 10 * ONE, ONE)          # earned under pub
    new_owner = account("new-owner").address
    world.remember(new_owner)
    world.act(pub, r.transferFrom, pub, new_owner, ds)
    assert r.ownerOf(ds) == new_owner and r.balanceOf(pub) == 0 and r.balanceOf(new_owner) == 1
    # what was earned stayed with the old owner (the pot was split before the transfer)
    assert r.pot(ds, world.token.address) == 0
    assert r.earnings(pub, world.token.address) == 8 * ONE and r.earnings(curator, world.token.address) == 2 * ONE
    info = r.dataset_info(ds)
    assert info.manager == ZERO and info.metadata_updater == ZERO
    with boa.reverts("DataRegistry: not the owner"):
        world.act(manager, r.set_price, ds, (world.token.address, 1, 0))
    with boa.reverts("DataRegistry: not the owner"):
        world.act(updater, r.update_metadata, ds, digest_of("x"), digest_of("y"))
    # future revenue goes to the new owner
    world.act(buyer.address, r.buy, ds, 5 * ONE, ONE)
    world.act(buyer.address, r.distribute, ds, world.token.address)
    assert r.earnings(new_owner, world.token.address) == 4 * ONE and r.earnings(pub, world.token.address) == 8 * ONE
    assert r.earnings(curator, world.token.address) == 3 * ONE
    # the old owner can no longer act
    with boa.reverts("DataRegistry: not the owner"):
        world.act(pub, r.set_roles, ds, pub, pub)
    world.check_books()


# ----------------------------------------------------------------------------- ERC-721


def test_erc721_surface(world, pub):
    r = world.registry
    ds = world.publish(pub)
    assert r.name() == "Agora Dataset" and r.symbol() == "DATA" and r.tokenURI(ds) == ""
    assert r.supportsInterface(bytes.fromhex("80ac58cd")) and r.supportsInterface(bytes.fromhex("01ffc9a7"))
    assert r.supportsInterface(bytes.fromhex("5b5e139f")) and not r.supportsInterface(bytes.fromhex("ffffffff"))
    spender, operator = account("spender").address, account("operator").address
    with boa.reverts("DataRegistry: zero address"):
        r.balanceOf(ZERO)
    with boa.reverts("DataRegistry: unknown dataset"):
        r.ownerOf(99)
    with boa.reverts("DataRegistry: approval to the owner"):
        world.act(pub, r.approve, pub, ds)
    with boa.reverts("DataRegistry: not the owner"):
        world.act(spender, r.approve, spender, ds)
    world.act(pub, r.approve, spender, ds)
    assert r.getApproved(ds) == spender
    (e,) = events(world.last_logs, "Approval")
    assert e.approved == spender
    with boa.reverts("DataRegistry: approval to the caller"):
        world.act(pub, r.setApprovalForAll, pub, True)
    world.act(pub, r.setApprovalForAll, operator, True)
    assert r.isApprovedForAll(pub, operator)
    # the approved account may act as the owner (roles, metadata) and transfer
    world.act(spender, r.set_roles, ds, spender, ZERO)
    with boa.reverts("DataRegistry: transfer to the zero address"):
        world.act(spender, r.transferFrom, pub, ZERO, ds)
    with boa.reverts("DataRegistry: transfer from incorrect owner"):
        world.act(spender, r.transferFrom, spender, spender, ds)
    with boa.reverts("DataRegistry: not the owner"):
        world.act(account("nobody").address, r.transferFrom, pub, spender, ds)
    world.act(spender, r.transferFrom, pub, spender, ds)
    assert r.ownerOf(ds) == spender and r.getApproved(ds) == ZERO
    # the operator of the old owner has no say any more
    with boa.reverts("DataRegistry: not the owner"):
        world.act(operator, r.transferFrom, spender, operator, ds)


def test_safe_transfer_checks_the_receiver(world, pub):
    r = world.registry
    ds = world.publish(pub)
    receiver = boa.loads(ERC721_RECEIVER)
    with boa.reverts("DataRegistry: transfer to non-ERC721Receiver"):
        world.act(pub, r.safeTransferFrom, pub, receiver.address, ds)
    receiver.set_accept(True)
    world.act(pub, r.safeTransferFrom, pub, receiver.address, ds, b"hello")
    assert r.ownerOf(ds) == receiver.address
    # to an account without code: no check
    ds2 = world.publish(pub)
    eoa = account("eoa").address
    world.act(pub, r.safeTransferFrom, pub, eoa, ds2)
    assert r.ownerOf(ds2) == eoa


# ----------------------------------------------------------------------------- Datatoken


def test_datatoken_erc20(world, pub, buyer):
    r = world.registry
    ds = world.publish(pub, supply=10)
    dt = world.datatoken(ds)
    other = account("dt-other").address
    with boa.env.prank(pub):
        assert dt.transfer(other, 3)
        assert dt.approve(buyer.address, 4)
    assert dt.allowance(pub, buyer.address) == 4
    with boa.env.prank(buyer.address):
        assert dt.transferFrom(pub, buyer.address, 4)
        with boa.reverts("Datatoken: insufficient allowance"):
            dt.transferFrom(pub, buyer.address, 1)
        with boa.reverts("Datatoken: transfer amount exceeds balance"):
            dt.transfer(other, 5)
        with boa.reverts("Datatoken: transfer to the zero address"):
            dt.transfer(ZERO, 1)
    with boa.env.prank(other):
        dt.approve(buyer.address, MAX_UINT256)
    with boa.env.prank(buyer.address):
        dt.transferFrom(other, buyer.address, 3)
    assert dt.allowance(other, buyer.address) == MAX_UINT256     # unlimited: not reduced
    assert (dt.balanceOf(pub), dt.balanceOf(buyer.address), dt.balanceOf(other)) == (3, 7, 0)
    with boa.env.prank(pub):
        with boa.reverts("Datatoken: not the registry"):
            dt.mint(pub, 1)
        with boa.reverts("Datatoken: not the registry"):
            dt.burn(pub, 1)
    with boa.reverts("Datatoken: mint to the zero address"):
        world.act(pub, r.mint_datatokens, ds, ZERO, 1)
    with boa.reverts("Datatoken: supply too large"):
        world.act(pub, r.mint_datatokens, ds, pub, MASK96)


def test_datatoken_initialize_once(world):
    impl = world.impl
    assert impl.registry() == impl.address          # the implementation locked itself
    with boa.reverts("Datatoken: already initialized"):
        impl.initialize("x", "x", world.owner, 1)
    cloner = boa.loads(CLONER)
    proxy = DATATOKEN.at(cloner.clone(impl.address))
    assert proxy.registry() == ZERO
    with boa.reverts("Datatoken: zero registry"):
        proxy.initialize("x", "x", ZERO, 1)
    with boa.reverts("Datatoken: dataset id too large"):
        proxy.initialize("x", "x", world.owner, 2**64)
    proxy.initialize("", "", world.owner, 2**64 - 1)
    assert proxy.name() == "" and proxy.symbol() == "" and proxy.dataset_id() == 2**64 - 1
    with boa.reverts("Datatoken: already initialized"):
        proxy.initialize("x", "x", world.owner, 1)


def test_contract_ownership_exports(world):
    r = world.registry
    assert r.owner() == world.owner
    new = account("new-contract-owner").address
    world.act(world.owner, r.transfer_ownership, new)
    assert r.owner() == new
    world.act(new, r.renounce_ownership)
    assert r.owner() == ZERO


def test_unknown_dataset_views(world):
    r = world.registry
    for fn in (r.dataset_info, r.datatoken_of, r.split_of, r.tokenURI, r.getApproved):
        with boa.reverts("DataRegistry: unknown dataset"):
            fn(99)
    with boa.reverts("DataRegistry: unknown dataset"):
        r.datatoken_of(0)
