"""Gas of the data market on the embedded chain (helper of ``bench/data.py``).

Every figure is a receipt's ``gas_used`` (intrinsic gas and calldata included), in steady
state unless named ``_first``: the publisher has published before (its dataset-token balance
is non-zero), the buyer already holds datatokens and has approved the registry once, the
registry's counters are non-zero. ``gas_order`` is an order with no fees (Ocean's "startOrder,
all fees 0") by a consumer who has ordered the service before (its order record is rewritten);
``gas_order_first`` is a consumer's first order of the service (a new record: +17,100 gas);
``gas_order_signed_free_quote`` passes a zero fee quote signed by the node (what Ocean's
startOrder always checks; Agora skips the signature check when there is no fee);
``gas_order_with_provider_fee`` adds a provider fee in the protocol token.
``gas_buy_and_order`` is one transaction from a wallet that holds only the payment token (an
EIP-2612 permit, no approval). ``gas_order_per_extra_recipient`` is the extra gas of an order
per extra split recipient: 0, because sales go to a pot that ``distribute`` splits later
(``gas_distribute_per_extra_recipient`` is what the split costs, once per distribution).

The datatoken is an EIP-1167 proxy: ``gas_datatoken_proxy_create`` (create + initialise, what
``publish`` pays, in a transaction of its own) against ``gas_datatoken_blueprint_create`` (an
EIP-5202 blueprint copy, constructor only: a lower bound, its name and symbol not yet
written), and ``gas_datatoken_proxy_call_overhead`` (what every call through the proxy pays
for its delegatecall).

The anchors are Ocean Protocol's contracts measured on the same kind of EVM (Prague, solc
0.8.12, 200 runs) and kept as constants: ``createNftWithErc20`` 1,048,693 gas,
``startOrder`` with no fees 97,402 (warm) to 151,514 (first), Enterprise ``buyFromFreAndOrder``
286,503 (warm) to 327,543 (first).
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from statistics import median
from typing import Any

from agora.chain import connect
from agora.chain.compiler import compile_contract, compile_file
from agora.chain.contracts import Contract, deploy
from agora.data import OWNER, DataRegistry, Share, Source
from agora.protocol import deploy_devnet

OCEAN_PUBLISH = 1_048_693
OCEAN_ORDER_WARM = 97_402
OCEAN_ORDER_FIRST = 151_514
OCEAN_BUY_AND_ORDER_WARM = 286_503
OCEAN_BUY_AND_ORDER_FIRST = 327_543

ONE = 10**18
REPEATS = 5

_HARNESS = """# pragma version ~=0.4.3
interface IDatatoken:
    def initialize(name_: String[32], symbol_: String[16], registry_: address, dataset_id_: uint256): nonpayable

last: public(address)

@external
def clone(impl: address) -> address:
    t: address = create_minimal_proxy_to(impl)
    extcall IDatatoken(t).initialize("Weather 2026", "WX26", self, 1)
    return t

@external
def clone_and_keep(impl: address):
    self.last = create_minimal_proxy_to(impl)

@external
def from_blueprint(blueprint: address) -> address:
    return create_from_blueprint(blueprint)
"""


def _proxy_vs_blueprint(chain: Any, dep: Any, sender: Any) -> dict[str, int]:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "DatatokenFactoryHarness.vy"
        path.write_text(_HARNESS)
        harness = deploy(chain, compile_file(path), sender=sender)
    art = compile_contract("Datatoken")
    initcode = bytes(art.bytecode)
    code = b"\xfe\x71\x00" + initcode  # EIP-5202 blueprint: preamble + initcode
    deployer = b"\x61" + len(code).to_bytes(2, "big") + b"\x3d\x81\x60\x0a\x3d\x39\xf3" + code
    blueprint = chain.send({"data": deployer}, sender).contract_address
    impl = dep.contract("datatoken_impl")
    proxy_gas = harness.clone(impl.address, sender=sender).gas_used
    blueprint_gas = harness.from_blueprint(blueprint, sender=sender).gas_used
    # one call through a proxy against the same call on the implementation itself
    harness.clone_and_keep(impl.address, sender=sender)
    proxy = Contract(chain, "Datatoken", harness.last(), impl.abi)
    spender = "0x" + "42" * 20
    direct = impl.approve(spender, 1, sender=sender).gas_used
    via_proxy = proxy.approve(spender, 1, sender=sender).gas_used
    return {
        "gas_datatoken_proxy_create": proxy_gas,
        "gas_datatoken_blueprint_create": blueprint_gas,
        "gas_datatoken_proxy_call_overhead": via_proxy - direct,
    }


def measure_gas(log: Any = print) -> dict[str, float | int]:
    """The gas figures of the data layer (see the module docstring)."""
    chain = connect("embedded://")
    dep = deploy_devnet(chain)
    reg = DataRegistry(dep)
    dev = chain.dev_signers
    deployer, publisher, node, buyer, curator, fresh = dev[0], dev[1], dev[2], dev[3], dev[4], dev[5]
    token = dep.token.address
    for who in (buyer, fresh):
        dep.token.transfer(who.address, 10**21, sender=deployer)

    def publish(n: int, split: list[Share] | None = None) -> tuple[int, int]:
        ds, receipt = reg.publish(
            publisher, card=bytes([n]) * 32, content_hash=bytes([n + 100]) * 32, split=split, timeout=86_400,
            name=f"Dataset {n}", symbol=f"DS{n}", initial_supply=5 * ONE, payment_token=token, price=ONE,
            dispenser_cap=ONE,
        )
        return ds, receipt.gas_used

    log("gas: publish")
    ds_first, publish_first = publish(1)
    ds, publish_steady = publish(2)
    three = [Share(OWNER, 6000), Share(curator.address, 3000), Share(node.address, 1000)]
    ds3, publish_three = publish(3, three)

    log("gas: buy and order")
    buy_first = reg.buy(ds, 20 * ONE, buyer).gas_used     # approves first, then buys
    buy_steady = reg.buy(ds, 10 * ONE, buyer).gas_used
    reg.buy(ds3, 10 * ONE, buyer)
    valid = chain.timestamp() + 3_600

    def order(dataset: int, nonce: int, fee: int = 0, *, signed: bool = False, consumer: str | None = None) -> int:
        who = consumer or buyer.address
        q = (reg.sign_quote(node, dataset, 0, who, valid_until=valid, fee_token=token, fee=fee, nonce=nonce)
             if fee or signed else None)
        reg.order(dataset, 0, who, q, buyer)
        assert reg.last_receipt is not None
        return reg.last_receipt.gas_used

    order(ds, 0)
    order_gas = [order(ds, i) for i in range(1, REPEATS + 1)]
    # a consumer's first order of the service: a new order record
    order_first = [order(ds, i, consumer="0x" + f"{0xc0 + i:02x}" * 20) for i in range(REPEATS)]
    order_signed = [order(ds, 50 + i, signed=True) for i in range(REPEATS)]
    order(ds3, 0)
    order_three = [order(ds3, i) for i in range(1, REPEATS + 1)]
    order(ds, 99, fee=10**15)
    order_fee = [order(ds, 100 + i, fee=10**15) for i in range(REPEATS)]

    def buy_and_order() -> int:
        reg.buy_and_order(ds, 0, fresh.address, None, fresh)
        assert reg.last_receipt is not None
        return reg.last_receipt.gas_used

    bao_first = buy_and_order()
    bao = [buy_and_order() for _ in range(REPEATS)]

    log("gas: distribute, withdraw")
    dist_one = reg.distribute(ds, token, buyer).gas_used
    reg.buy(ds3, ONE, buyer)
    dist_three = reg.distribute(ds3, token, buyer).gas_used
    withdraw = reg.contract.withdraw(token, sender=publisher).gas_used

    log("gas: sources")
    models = dep.addresses.get("models", reg.address)
    one_src, _ = publish(4)
    three_src, _ = publish(5)
    set_sources_1 = reg.set_sources(one_src, [Source(models, 1, b"\x01" * 32)], publisher).gas_used
    set_sources_3 = reg.set_sources(three_src, [Source(models, 1, b"\x01" * 32), Source(reg.address, ds),
                                                Source(reg.address, ds3)], publisher).gas_used

    log("gas: datatoken proxy against blueprint")
    proxy_figures = _proxy_vs_blueprint(chain, dep, deployer)

    g_order = round(median(order_gas))
    g_bao = round(median(bao))
    return {
        "gas_publish": publish_steady,
        "gas_publish_first": publish_first,
        "gas_publish_per_extra_recipient": round((publish_three - publish_steady) / 2),
        "gas_buy": buy_steady,
        "gas_buy_first": buy_first,
        "gas_order": g_order,
        "gas_order_first": round(median(order_first)),
        "gas_order_signed_free_quote": round(median(order_signed)),
        "gas_order_with_provider_fee": round(median(order_fee)),
        "gas_order_per_extra_recipient": round((median(order_three) - g_order) / 2),
        "gas_buy_and_order": g_bao,
        "gas_buy_and_order_first": bao_first,
        "gas_distribute_1way": dist_one,
        "gas_distribute_per_extra_recipient": round((dist_three - dist_one) / 2),
        "gas_withdraw": withdraw,
        "gas_set_sources_1": set_sources_1,
        "gas_set_sources_3": set_sources_3,
        **proxy_figures,
        "gas_publish_vs_ocean_ratio": round(publish_steady / OCEAN_PUBLISH, 3),
        "gas_order_vs_ocean_warm_ratio": round(g_order / OCEAN_ORDER_WARM, 3),
        "gas_buy_and_order_vs_ocean_warm_ratio": round(g_bao / OCEAN_BUY_AND_ORDER_WARM, 3),
        "ocean_gas_publish": OCEAN_PUBLISH,
        "ocean_gas_order_warm": OCEAN_ORDER_WARM,
        "ocean_gas_order_first": OCEAN_ORDER_FIRST,
        "ocean_gas_buy_and_order_warm": OCEAN_BUY_AND_ORDER_WARM,
        "ocean_gas_buy_and_order_first": OCEAN_BUY_AND_ORDER_FIRST,
    }


if __name__ == "__main__":
    import json

    print(json.dumps(measure_gas(), indent=2))
