"""The data layer's facade, without a chain: the dataset card, splits, pricing rules, quotes as an
access node hands them out, and the order checks of :class:`ChainOrders`."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest

from agora.chain import dev_signer
from agora.data import AccessNode, ChainOrders, DatasetCard, Share, build_dataset_card, parse_split
from agora.data.client import _check_pricing, quote_from_json
from agora.data.registry import OWNER, Quote, registry_domain, sign_quote
from agora.errors import ConfigError

HASH = "0x" + "ab" * 32
ADDR = "0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC"
REGISTRY = "0x" + "5a" * 20
NODE, CONSUMER = dev_signer(0), dev_signer(1)


# -- the card ---------------------------------------------------------------------------------------
def test_card_round_trip_and_canonical_bytes() -> None:
    card = build_dataset_card(name="corpus", description="texts", license="MIT", size=10, content_hash=HASH[2:],
                              schema={"b": 1, "a": [1, 2]}, sample_cid=None)
    assert card.content_hash == HASH and card.content_hash_bytes == bytes.fromhex("ab" * 32)
    assert card.data_schema == {"b": 1, "a": [1, 2]} and card.schema_ == "agora-dataset-card/1"
    raw = card.to_bytes()
    assert raw.startswith(b'{"content_hash":') and b" " not in raw  # sorted keys, compact
    assert DatasetCard.from_bytes(raw) == card
    again = build_dataset_card(name="corpus", description="texts", license="MIT", size=10, content_hash=HASH,
                               schema={"a": [1, 2], "b": 1})
    assert again.to_bytes() == raw  # the same card, the same bytes: the same CID
    assert card.to_json()["schema"] == "agora-dataset-card/1"


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"name": ""}, "bad dataset card: name: String should have at least 1 character"),
        ({"size": -1}, "bad dataset card: size: Input should be greater than or equal to 0"),
        ({"content_hash": "0x1234"}, "bad dataset card: content_hash: Value error, content_hash must be 32 bytes"),
        ({"content_hash": "zz"}, "bad dataset card: content_hash: Value error, content_hash must be 32 bytes"),
        ({"colour": "red"}, "bad dataset card: colour: Extra inputs are not permitted"),
        ({"description": "x" * 2001}, "bad dataset card: description: String should have at most 2000"),
    ],
)
def test_bad_cards_are_one_clear_error(fields: dict[str, Any], message: str) -> None:
    base: dict[str, Any] = {"name": "d", "size": 1, "content_hash": HASH}
    with pytest.raises(ConfigError) as info:
        build_dataset_card(**{**base, **fields})
    assert str(info.value).startswith(message)


def test_a_stored_blob_that_is_not_a_card() -> None:
    with pytest.raises(ConfigError, match="^not a dataset card: "):
        DatasetCard.from_bytes(b'{"name": "x"}')
    with pytest.raises(ConfigError, match="above the 65536 bytes"):
        DatasetCard.from_bytes(b" " * 70_000)
    with pytest.raises(ConfigError, match="above the 65536 bytes a card may have"):
        build_dataset_card(name="d", size=1, content_hash=HASH, schema={"x": "y" * 70_000})


# -- splits and pricing -------------------------------------------------------------------------------
def test_parse_split() -> None:
    assert parse_split("owner:7000, " + ADDR.lower() + ":3000") == [Share(OWNER, 7000), Share(ADDR, 3000)]
    assert parse_split("OWNER:10000") == [Share(OWNER, 10_000)]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("owner:5000", "a split's shares sum to 10000 basis points, not 5000"),
        ("", "a split has 1 to 8 shares, not 0"),
        (":10000", "split entry ':10000' must be ADDRESS:BPS"),
        ("owner", "split entry 'owner' must be ADDRESS:BPS"),
        ("0x12:10000", "split entry '0x12:10000': '0x12' is not an address"),
        ("owner:half", "split entry 'owner:half': 'half' is not a whole number of basis points"),
        (f"owner:10000,{ADDR}:0", "every share of a split must be above 0 basis points"),
        (f"{ADDR}:5000,{ADDR.lower()}:5000", "a split names each recipient once"),
    ],
)
def test_bad_splits(text: str, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_split(text)
    assert str(info.value).startswith(message)


def test_pricing_rules() -> None:
    _check_pricing(0, None, 0)  # not for sale
    _check_pricing(10**18, None, 0)
    _check_pricing(0, None, 10**18)  # free, from the dispenser
    with pytest.raises(ConfigError, match="a payment token needs a price above 0"):
        _check_pricing(0, ADDR, 0)
    with pytest.raises(ConfigError, match="cannot be negative"):
        _check_pricing(-1, None, 0)
    with pytest.raises(ConfigError, match="at most 2\\*\\*96 - 1"):
        _check_pricing(2**96, None, 0)


# -- quotes -----------------------------------------------------------------------------------------------
def _quote() -> Quote:
    return sign_quote(NODE, registry_domain(31337, REGISTRY), 7, 0, CONSUMER.address, valid_until=2_000_000_000,
                      nonce=99)


def test_quote_from_json() -> None:
    q = _quote()
    assert quote_from_json({"quote": q.to_json()}) == q
    assert quote_from_json({**q.to_json(), "consumer": q.consumer.lower()}) == q
    assert q.signer(registry_domain(31337, REGISTRY)) == NODE.address
    free = Quote.free(7, 0, CONSUMER.address)
    assert quote_from_json({"quote": free.to_json()}) == free


@pytest.mark.parametrize("body", [[], {"quote": {}}, {"quote": {"datasetId": "x"}}, "text",
                                  {"quote": {**_quote().to_json(), "signature": "0x12"}},
                                  {"quote": {**Quote.free(7, 0, CONSUMER.address).to_json(), "fee": "1"}}])
def test_not_a_quote(body: Any) -> None:
    with pytest.raises(ConfigError, match="the access node's"):
        quote_from_json(body)


# -- the access node's chain side ---------------------------------------------------------------------------
class _FakeChain:
    chain_id = 31337

    def __init__(self, embedded: bool) -> None:
        self.embedded = embedded


class _FakeRegistry:
    """Counts the reads, and checks that no two of them overlap (the embedded chain's rule)."""

    address = REGISTRY

    def __init__(self, embedded: bool) -> None:
        self.chain = _FakeChain(embedded)
        self.calls = 0
        self.inside = 0
        self.overlapped = False
        self._mu = threading.Lock()

    def _enter(self) -> None:
        with self._mu:
            self.inside += 1
            self.calls += 1
            self.overlapped |= self.inside > 1
        threading.Event().wait(0.001)
        with self._mu:
            self.inside -= 1

    def order_valid(self, order_id: int, consumer: str) -> bool:
        self._enter()
        return order_id == 1 and consumer == CONSUMER.address

    def order_info(self, order_id: int) -> Any:
        self._enter()
        if order_id != 1:
            raise ConfigError(f"there is no order {order_id} on chain 31337")
        return type("Info", (), {"dataset": 7})()


def test_chain_orders_read_each_time_and_lock_the_embedded_chain() -> None:
    reg = _FakeRegistry(embedded=True)
    orders = ChainOrders(reg)  # type: ignore[arg-type]
    assert orders.order_valid(1, CONSUMER.address) and not orders.order_valid(1, NODE.address)
    assert orders.order_dataset(1) == 7 and reg.calls == 3  # nothing cached
    with pytest.raises(ConfigError, match="there is no order 2"):
        orders.order_dataset(2)

    def hammer() -> None:
        for _ in range(20):
            orders.order_valid(1, CONSUMER.address)

    threads = [threading.Thread(target=hammer) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert reg.calls == 84 and not reg.overlapped


def test_the_node_signs_quotes_the_contract_accepts(tmp_path: Path) -> None:
    reg = _FakeRegistry(embedded=False)
    node = AccessNode(tmp_path / "node", NODE, ChainOrders(reg), chain_id=31337,  # type: ignore[arg-type]
                      registry=REGISTRY, fee_amount=10**15)
    try:
        (tmp_path / "f.bin").write_bytes(b"hello")
        node.add_file(7, tmp_path / "f.bin")
        signed = node.build_quote(7, CONSUMER.address)
        quote = quote_from_json({"quote": signed.to_json()})
        assert (quote.dataset, quote.consumer, quote.provider) == (7, CONSUMER.address, NODE.address)
        assert quote.signer(registry_domain(31337, REGISTRY)) == NODE.address  # the contract's Quote type
        node.fee_amount = 0
        assert node.build_quote(7, CONSUMER.address).is_free  # no fee: nothing to sign
    finally:
        node.close()


def test_chain_orders_tell_the_service_of_an_order_from_its_id_alone() -> None:
    """An order id carries its record key: a compute-to-data order (service 1) is not a download
    order (service 0), nor another consumer's or dataset's — without a chain call."""
    from agora.data.registry import order_key

    orders = ChainOrders(_FakeRegistry(embedded=False))  # type: ignore[arg-type]
    download = order_key(7, 0, CONSUMER.address) << 32 | 3
    compute = order_key(7, 1, CONSUMER.address) << 32 | 1
    assert orders.order_is_for(download, 7, 0, CONSUMER.address)
    assert not orders.order_is_for(compute, 7, 0, CONSUMER.address)
    assert orders.order_is_for(compute, 7, 1, CONSUMER.address)
    assert not orders.order_is_for(download, 8, 0, CONSUMER.address)
    assert not orders.order_is_for(download, 7, 0, NODE.address)
    assert reg_calls(orders) == 0


def reg_calls(orders: ChainOrders) -> int:
    return orders.registry.calls  # type: ignore[attr-defined,no-any-return]
