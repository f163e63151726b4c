"""The data chapter of ``agora demo``: a dataset that pays everyone who made it, every time it is used.

An owner and two contributors publish a small CSV as a dataset in one transaction: the data
token (ERC-721), its datatoken (ERC-20), a fixed price and a three-way split. An access node
holds the file encrypted at rest and serves it on a loopback port. Two consumers each pay for
one use: the first buys a datatoken and orders with it (two transactions), the second buys and
orders in one (an EIP-2612 permit, no approval). Each order pays the node's signed provider
fee, the dataset's market fee and the protocol fee, and its validity is read on chain. Each
consumer downloads the file through the node with a signed request and checks it against the
content hash on chain; another consumer's order is refused. The pot is split and every
recipient withdraws; every wei is accounted for. Every step asserts what it shows.

A model registered on this dataset needs the value layer, which a layer may not import: the
value chapter, which runs after this one, registers its model on the dataset published here
(this chapter's summary names it: ``dataset_id``); the model registry checks it exists.
"""

from __future__ import annotations

import json
import socket
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from agora.chain import Chain, Signer
from agora.data.access import AccessNode, create_access_app
from agora.data.download import AccessRefused, download
from agora.data.files import content_hash
from agora.data.orders import ChainOrders
from agora.data.registry import ONE, OWNER, DataRegistry, Quote, Share
from agora.errors import AgoraError
from agora.layers import DemoContext
from agora.protocol import Deployment, fund_account
from agora.storage import LocalStore, Storage

__all__ = [
    "DEMO_MARKET_FEE",
    "DEMO_PRICE",
    "DEMO_PROTOCOL_FEE_BPS",
    "DEMO_PROVIDER_FEE",
    "DEMO_SPLIT_BPS",
    "demo_chapter",
    "run_data_chapter",
]

#: owner, contributor, contributor
DEMO_SPLIT_BPS = (6_000, 2_500, 1_500)
#: wei per datatoken: not a round number, so the split's rounding rule shows
DEMO_PRICE = 2_000_000_000_000_000_011
#: the protocol fee, in basis points of the price (set for the chapter, restored after)
DEMO_PROTOCOL_FEE_BPS = 100
#: the dataset's market fee per order, to the market that listed it
DEMO_MARKET_FEE = 10_000_000_000_000_003
#: the access node's fee per order, in its signed quote
DEMO_PROVIDER_FEE = 50_000_000_000_000_000
_BPS = 10_000

_CSV_ROWS = 2_000


class DataDemoFailed(AgoraError):
    """A data demo step did not show what it claims."""


def _check(cond: bool, what: str) -> None:
    if not cond:
        raise DataDemoFailed(f"demo check failed: {what}")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _write_csv(path: Path) -> None:
    """A small deterministic CSV: hourly weather readings of three stations."""
    lines = ["station,hour,temp_c,humidity_pct,wind_ms"]
    for i in range(_CSV_ROWS):
        lines.append(f"st{i % 3},{i // 3},{(i * 37) % 300 / 10 - 5:.1f},{30 + (i * 53) % 70},{(i * 11) % 150 / 10:.1f}")
    path.write_text("\n".join(lines) + "\n")


def _split_amount(amount: int, bps: tuple[int, ...]) -> list[int]:
    """What ``DataRegistry.distribute`` credits: every share but the first is floored, the first gets the rest."""
    parts = [amount * b // _BPS for b in bps[1:]]
    return [amount - sum(parts), *parts]


def _quote_from(http: Any, url: str, dataset: int, consumer: str) -> Quote:
    """Ask the node at ``url`` for a provider-fee quote over HTTP, as the registry's ``Quote``."""
    response = http.post(f"{url}/quotes", json={"datasetId": str(dataset), "consumer": consumer})
    _check(response.status_code == 200, f"the access node quoted a fee ({response.status_code})")
    return Quote.from_json(response.json()["quote"])


def run_data_chapter(
    chain: Chain,
    dep: Deployment,
    *,
    owner: Signer,
    contributors: tuple[Signer, Signer],
    node_signer: Signer,
    market: Signer,
    consumers: tuple[Signer, Signer],
    workdir: Path | None = None,
    step: Callable[[str], None] = lambda _m: None,
) -> dict[str, Any]:
    """Run the chapter; return its summary."""
    import httpx
    import uvicorn

    token = dep.token
    registry = DataRegistry(dep)
    deployer = chain.dev_signers[0]
    fee_recipient, fee_bps0 = registry.protocol_fee()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(workdir or tmp) / "data-demo"
        root.mkdir(parents=True, exist_ok=True)
        storage = Storage(LocalStore(root / "blobs"))
        for who in consumers:
            fund_account(dep, who.address, tokens=100 * 10**18)
        registry.set_protocol_fee(fee_recipient, DEMO_PROTOCOL_FEE_BPS, deployer)
        try:
            step("publishing a dataset with a three-way split, in one transaction")
            source = root / "weather.csv"
            _write_csv(source)
            digest = content_hash(source)
            sample = "\n".join(source.read_text().splitlines()[:6]).encode()
            card = {
                "name": "hourly weather, three stations", "schema": "station,hour,temp_c,humidity_pct,wind_ms",
                "size": source.stat().st_size, "license": "CC-BY-4.0", "sample": storage.put(sample),
                "content_hash": "0x" + digest.hex(),
            }
            card_cid = storage.put(json.dumps(card, sort_keys=True).encode())
            split = [Share(OWNER, DEMO_SPLIT_BPS[0]), Share(contributors[0].address, DEMO_SPLIT_BPS[1]),
                     Share(contributors[1].address, DEMO_SPLIT_BPS[2])]
            dataset, pub = registry.publish(
                owner, card=card_cid, content_hash=digest, split=split, timeout=3_600, name="Weather 3 stations",
                symbol="WX3", payment_token=token.address, price=DEMO_PRICE,
            )
            info = registry.fetch(dataset)
            _check(pub.status == 1 and info.owner == owner.address and info.datatoken != OWNER
                   and info.content_hash == digest and info.price == DEMO_PRICE and registry.split(dataset) == split,
                   "one transaction put the dataset token, its datatoken, content hash, price and split on chain")
            step("the owner lists it on a market, which takes a fee per order")
            registry.set_market_fee(dataset, market.address, DEMO_MARKET_FEE, owner)
            _check(registry.fetch(dataset).market_fee == DEMO_MARKET_FEE, "the market fee is on chain")

            step("an access node holds the file, encrypted at rest, and serves it")
            node = AccessNode(root / "node", node_signer, ChainOrders(registry), chain_id=chain.chain_id,
                                   registry=registry.address, fee_token=token.address, fee_amount=DEMO_PROVIDER_FEE)
            _check(node.add_file(dataset, source) == digest, "the node's content hash is the one on chain")
            stored = node.get_dataset(dataset)
            assert stored is not None
            at_rest = node.store.path_of(stored.name).read_bytes()
            _check(source.read_bytes()[:64] not in at_rest, "the file at rest is not the plain file")
            port = _free_port()
            url = f"http://127.0.0.1:{port}"
            server = uvicorn.Server(uvicorn.Config(create_access_app(node), host="127.0.0.1", port=port,
                                                   log_level="warning"))
            thread = threading.Thread(target=server.run, name="agora-demo-access-node", daemon=True)
            thread.start()
            deadline = time.monotonic() + 20
            while not server.started and time.monotonic() < deadline:
                time.sleep(0.02)
            _check(server.started, "the access node is listening")
            try:
                with httpx.Client(timeout=30) as http:
                    step("two consumers pay: buy then order, and buy-and-order in one transaction")
                    balances0 = {w.address: int(token.balanceOf(w.address))
                                 for w in (*consumers, node_signer, market)}
                    held0 = int(token.balanceOf(registry.address))
                    first, second = consumers
                    buy = registry.buy(dataset, ONE, first)
                    _check(registry.datatoken_balance(dataset, first.address) == ONE,
                           "the first consumer holds one datatoken")
                    quote = _quote_from(http, url, dataset, first.address)
                    _check(quote.signer(registry.domain) == node_signer.address,
                           "the node's quote is signed by its key, over the contract's type")
                    order1 = registry.order(dataset, 0, first.address, quote, first)
                    assert registry.last_receipt is not None
                    order_gas = registry.last_receipt.gas_used
                    quote = _quote_from(http, url, dataset, second.address)
                    order2 = registry.buy_and_order(dataset, 0, second.address, quote, second)
                    assert registry.last_receipt is not None
                    bao_gas = registry.last_receipt.gas_used
                    _check(all(registry.datatoken_balance(dataset, c.address) == 0 for c in consumers),
                           "each order spent its datatoken")
                    _check(registry.order_valid(order1, first.address) and registry.order_valid(order2, second.address)
                           and not registry.order_valid(order1, second.address),
                           "each order is valid on chain for its consumer only")

                    step("both download it through the node, checked against the content hash on chain")
                    sizes = []
                    for i, (who, order_id) in enumerate(((first, order1), (second, order2))):
                        out = root / f"consumer{i}.csv"
                        got = download(url, dataset, order_id, who, out, expected_hash=info.content_hash,
                                       chain_id=chain.chain_id, registry=registry.address, client=http)
                        _check(got.content_hash == digest and out.read_bytes() == source.read_bytes(),
                               "the download is the published file, byte for byte")
                        sizes.append(got.size)
                    try:
                        download(url, dataset, order1, second, root / "stolen.csv", expected_hash=digest,
                                 chain_id=chain.chain_id, registry=registry.address, client=http, retries=0)
                        refused = ""
                    except AccessRefused as exc:
                        refused = exc.code
                    _check(refused == "order_invalid" and not (root / "stolen.csv").exists(),
                           "another consumer's order is refused, nothing served")
            finally:
                server.should_exit = True
                thread.join(timeout=20)
                node.close()

            step("the pot is split and every recipient withdraws")
            protocol_fee = DEMO_PRICE * DEMO_PROTOCOL_FEE_BPS // _BPS
            paid_each = DEMO_PRICE + protocol_fee + DEMO_MARKET_FEE + DEMO_PROVIDER_FEE
            for c in consumers:
                _check(balances0[c.address] - int(token.balanceOf(c.address)) == paid_each,
                       "each consumer paid price + protocol fee + market fee + provider fee, no more")
            revenue = 2 * DEMO_PRICE
            _check(registry.pot(dataset, token.address) == revenue, "the dataset's pot holds both sales")
            _check(int(token.balanceOf(node_signer.address)) - balances0[node_signer.address] == 2 * DEMO_PROVIDER_FEE,
                   "the node received its quoted fee for each order")
            _check(int(token.balanceOf(market.address)) - balances0[market.address] == 2 * DEMO_MARKET_FEE,
                   "the market received its fee for each order")
            expected = _split_amount(revenue, DEMO_SPLIT_BPS)
            recipients = [("owner", owner), ("contributor", contributors[0]), ("contributor", contributors[1])]
            got_split: list[int] = []
            for i, (_, who) in enumerate(recipients):
                before = int(token.balanceOf(who.address))
                paid = registry.withdraw(token.address, who, datasets=[dataset] if i == 0 else [])
                _check(int(token.balanceOf(who.address)) - before == paid, "the withdrawal arrived")
                got_split.append(paid)
            _check(got_split == expected and sum(got_split) == revenue, "the split adds up to the wei")
            before = int(token.balanceOf(fee_recipient))
            fees_withdrawn = registry.withdraw(token.address, deployer) if fee_recipient == deployer.address else 0
            _check(fees_withdrawn == 2 * protocol_fee
                   and int(token.balanceOf(fee_recipient)) - before == fees_withdrawn,
                   "the protocol fee recipient withdrew its fee on each order")

            step("reconciling")
            _check(2 * paid_each == revenue + fees_withdrawn + 2 * DEMO_MARKET_FEE + 2 * DEMO_PROVIDER_FEE,
                   "what the consumers paid = split + protocol fees + market fees + provider fees")
            _check(int(token.balanceOf(registry.address)) == held0 and registry.pot(dataset, token.address) == 0,
                   "the registry holds nothing of this chapter's money")
        finally:
            registry.set_protocol_fee(fee_recipient, fee_bps0, deployer)

    return {
        "dataset_id": dataset,
        "content_hash": "0x" + digest.hex(),
        "file_bytes": sizes[0],
        "card_cid": card_cid,
        "price_wei": DEMO_PRICE,
        "publish_gas": pub.gas_used,
        "buy_gas": buy.gas_used,
        "order_gas": order_gas,
        "buy_and_order_gas": bao_gas,
        "orders": [order1, order2],
        "downloads": len(sizes),
        "refused": refused,
        "provider_fee_wei": DEMO_PROVIDER_FEE,
        "market_fee_wei": DEMO_MARKET_FEE,
        "protocol_fee_bps": DEMO_PROTOCOL_FEE_BPS,
        "protocol_fees_wei": fees_withdrawn,
        "paid_per_consumer_wei": paid_each,
        "revenue_wei": revenue,
        "split": [
            {"recipient": name, "address": who.address, "bps": bps, "withdrawn_wei": amount}
            for (name, who), bps, amount in zip(recipients, DEMO_SPLIT_BPS, got_split, strict=True)
        ],
        "reconciled": True,
    }


def demo_chapter(demo: DemoContext) -> dict[str, Any]:
    """The data layer's chapter of ``agora demo``: dev account 8 owns the dataset (the value chapter's
    data contributor), 4 and 5 contributed to it, 1 runs the access node, 6 is the market that
    listed it; 9 and 2 buy it."""
    from agora.data.demo_private import run_private_chapter

    s = demo.chain.dev_signers
    summary = run_data_chapter(
        demo.chain, demo.deployment, owner=s[8], contributors=(s[4], s[5]), node_signer=s[1], market=s[6],
        consumers=(s[9], s[2]), workdir=demo.workdir, step=demo.step,
    )
    # data that never leaves its holders: hospitals 3, 7 and 0 (the deployer), consumer 9
    summary["private"] = run_private_chapter(demo.chain, demo.deployment, hospitals=(s[3], s[7], s[0]),
                                             consumer=s[9], workdir=demo.workdir, step=demo.step)
    return summary
