"""The typed ``agora.data.DataRegistry`` client against the deployed contracts (embedded chain)."""

from __future__ import annotations

import pytest

from agora.chain import connect
from agora.data import OWNER, DataRegistry, Share, quote_typed_data, sign_quote
from agora.data.registry import ONE, order_key, validate_split
from agora.errors import ConfigError
from agora.protocol import deploy_devnet


@pytest.fixture(scope="module")
def world():
    chain = connect("embedded://")
    dep = deploy_devnet(chain)
    dev = chain.dev_signers
    for who in dev[3:6]:
        dep.token.transfer(who.address, 10**21, sender=dev[0])
    return chain, dep, DataRegistry(dep), dev


def test_publish_buy_order_and_withdraw(world):
    chain, dep, reg, dev = world
    publisher, node, curator, buyer, fresh = dev[1], dev[2], dev[6], dev[3], dev[4]
    token = dep.token.address
    split = [Share(OWNER, 8000), Share(curator.address, 2000)]
    ds, receipt = reg.publish(
        publisher, card="0x" + "11" * 32, content_hash=b"\x22" * 32, split=split, timeout=3_600, name="Weather",
        symbol="WX", initial_supply=ONE, price=2 * ONE, dispenser_cap=ONE,
    )
    assert receipt.gas_used < 400_000       # a first publish with a two-share split
    info = reg.fetch(ds)
    assert info.owner == publisher.address and info.payment_token == token and info.price == 2 * ONE
    assert info.datatoken == reg.datatoken_of(ds) and reg.owner_of(ds) == publisher.address
    assert reg.split(ds) == split
    assert reg.datatoken_balance(ds, publisher.address) == ONE

    reg.buy(ds, 2 * ONE, buyer)                        # approves the payment token first
    reg.dispense(ds, ONE, buyer)
    assert reg.datatoken_balance(ds, buyer.address) == 3 * ONE
    assert reg.pot(ds, token) == 4 * ONE

    valid = chain.timestamp() + 600
    q = reg.sign_quote(node, ds, 1, buyer.address, valid_until=valid, fee_token=token, fee=10**15, nonce=7)
    assert q.signer(reg.domain) == node.address
    assert bytes(reg.contract.quote_digest(ds, 1, buyer.address, node.address, token, 10**15, valid, 7)) == \
        reg.domain.digest(q.struct_hash())
    assert quote_typed_data(reg.domain, ds, 1, buyer.address, node.address, token, 10**15, valid, 7)["message"][
        "nonce"] == 7
    oid = reg.order(ds, 1, buyer.address, q, buyer)
    assert reg.last_receipt is not None and reg.last_receipt.gas_used < 120_000
    assert reg.order_valid(oid, buyer.address) and not reg.order_valid(oid, fresh.address)
    order = reg.order_info(oid)
    assert order.dataset == ds and order.consumer == buyer.address and order.expires > chain.timestamp()
    assert reg.datatoken_balance(ds, buyer.address) == 2 * ONE

    # one transaction with a permit, from a wallet that never approved the registry
    q2 = sign_quote(node, reg.domain, ds, 0, fresh.address, valid_until=valid)
    oid2 = reg.buy_and_order(ds, 0, fresh.address, q2, fresh)
    assert oid2 == reg.order_id_of(ds, 0, fresh.address) and oid2 != oid and reg.order_valid(oid2, fresh.address)
    # no provider fee: no quote to sign (None), and the same consumer's next order shares its record
    oid3 = reg.buy_and_order(ds, 0, fresh.address, None, fresh)
    assert oid3 == oid2 + 1 == reg.order_id_of(ds, 0, fresh.address) and reg.order_valid(oid2, fresh.address)
    assert oid3 >> 32 == order_key(ds, 0, fresh.address) != order_key(ds, 1, fresh.address)   # as the contract keys
    assert reg.pot(ds, token) == 8 * ONE

    # the split: 80 % to the owner, 20 % to the curator
    assert reg.withdraw(token, publisher, datasets=[ds]) == 8 * ONE * 8 // 10
    assert reg.earnings(curator.address, token) == 8 * ONE * 2 // 10
    assert reg.withdraw(token, publisher) == 0
    assert reg.protocol_fee() == (dev[0].address, 0)

    with pytest.raises(ConfigError, match="no dataset 99"):
        reg.fetch(99)
    with pytest.raises(ConfigError, match="no order 99"):
        reg.order_info(99)


def test_roles_metadata_and_transfer(world):
    chain, dep, reg, dev = world
    publisher, manager, new_owner = dev[1], dev[7], dev[8]
    ds, _ = reg.publish(publisher, card=b"\x01" * 32, content_hash=b"\x02" * 32)
    assert reg.fetch(ds).payment_token == OWNER
    reg.set_roles(ds, publisher, manager=manager.address, metadata_updater=manager.address)
    reg.update_metadata(ds, b"\x03" * 32, b"\x04" * 32, manager)
    reg.set_price(ds, manager, payment_token=dep.token.address, price=ONE)
    reg.set_market_fee(ds, dev[9].address, 10**15, manager)
    reg.mint_datatokens(ds, manager.address, ONE, manager)
    info = reg.fetch(ds)
    assert info.card == b"\x03" * 32 and info.price == ONE and info.market_fee == 10**15
    reg.transfer(ds, new_owner.address, publisher)
    info = reg.fetch(ds)
    assert info.owner == new_owner.address and info.manager == OWNER and info.metadata_updater == OWNER
    reg.set_protocol_fee(dev[0].address, 100, dev[0])
    assert reg.protocol_fee() == (dev[0].address, 100)


@pytest.mark.parametrize(
    ("split", "match"),
    [
        ([], "1 to 8 shares"),
        ([Share(OWNER, 0), Share("0x" + "11" * 20, 10_000)], "above 0"),
        ([Share(OWNER, 5000), Share(OWNER, 5000)], "each recipient once"),
        ([Share(OWNER, 9999)], "sum to 10000"),
    ],
)
def test_validate_split(split, match):
    with pytest.raises(ConfigError, match=match):
        validate_split(split)


def test_publish_checks_names(world):
    _, _, reg, dev = world
    with pytest.raises(ConfigError, match="at most 32 bytes"):
        reg.publish(dev[1], card=b"\x01" * 32, content_hash=b"\x02" * 32, name="x" * 33)
    with pytest.raises(ConfigError, match="32 bytes, not 3"):
        reg.publish(dev[1], card=b"\x01" * 3, content_hash=b"\x02" * 32)
