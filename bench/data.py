"""Data layer: gas of publishing and ordering a dataset against Ocean's, downloads through the access node.

- Gas (embedded chain, receipts, steady state unless ``_first``): publish (data NFT + datatoken
  + fixed price + dispenser + initial mint, one transaction), order (no fees, by a consumer who
  ordered the service before: its order record is rewritten; ``gas_order_first``: a new record;
  with a zero-fee quote signed anyway, as Ocean always checks one; with a provider fee), buy and
  order in one transaction (EIP-2612 permit), per extra split recipient, distribute,
  withdraw, and the datatoken proxy against a blueprint copy. See ``_data_gas.py``.
- Ocean's figures (``gas_ocean_*``) are constants: Ocean's Solidity contracts cannot be compiled
  here (no solc, no network to fetch one), so they are Ocean's measured figures from the research
  note (``shared/research/ocean_data.md`` §1.9: Ocean's contracts at HEAD, solc 0.8.12, 200 runs,
  measured on a Prague EVM like ours). ``*_vs_ocean_ratio`` = ours ÷ Ocean's (below 1: cheaper).
- Downloads on loopback: one 64 MiB random file through the access node (encrypted at rest,
  signed request, every chunk checked) with the real client, against Starlette's
  ``StaticFiles`` under uvicorn (same server stack, no encryption, no checks) and against
  ``http.server``; best of five alternating rounds each. See ``_data_download.py``.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import number, report, write  # noqa: E402
from _data_download import measure_download  # noqa: E402
from _data_gas import measure_gas  # noqa: E402

GOAL_PUBLISH = 350_000
GOAL_ORDER = 60_000
GOAL_BUY_AND_ORDER = 120_000
GOAL_DOWNLOAD_RATIO = 0.8
DOWNLOAD_MB = 64
DOWNLOAD_ROUNDS = 5

# Ocean Protocol's measured gas (research note §1.9), not measured here: see the docstring.
GAS_OCEAN_PUBLISH = 1_048_693              # ERC721Factory.createNftWithErc20 (NFT + datatoken, no price)
GAS_OCEAN_PUBLISH_FIXED_RATE = 1_449_727   # createNftWithErc20WithFixedRate (NFT + datatoken + price)
GAS_OCEAN_PUBLISH_DISPENSER = 1_269_289    # createNftWithErc20WithDispenser
GAS_OCEAN_ORDER = 97_402                   # startOrder, all fees 0, warm
GAS_OCEAN_ORDER_FIRST = 151_514            # startOrder, all fees 0, first order
GAS_OCEAN_ORDER_ALL_FEES = 183_968         # startOrder with publish + consume-market + provider fees
GAS_OCEAN_BUY_AND_ORDER = 286_503          # Enterprise buyFromFreAndOrder, warm
GAS_OCEAN_BUY_AND_ORDER_FIRST = 327_543    # Enterprise buyFromFreAndOrder, first
GAS_OCEAN_BUY = 130_804                    # FixedRateExchange.buyDT 1 DT (withMint), warm
GAS_OCEAN_APPROVE = 46_196                 # the ERC-20 approve most Ocean calls need first

T0 = time.perf_counter()


def log(msg: str) -> None:
    print(f"[{time.perf_counter() - T0:6.1f}s] {msg}", flush=True)


def main() -> None:
    figures: dict[str, float | int | str] = {}
    log("== gas (embedded chain)")
    gas = measure_gas(log)
    # the helper's anchors and ratios are re-emitted below under one naming scheme
    gas = {k: v for k, v in gas.items() if not k.startswith("ocean_") and not k.endswith("_ratio")}
    figures.update(gas)
    ocean = {
        "gas_ocean_publish": GAS_OCEAN_PUBLISH,
        "gas_ocean_publish_fixed_rate": GAS_OCEAN_PUBLISH_FIXED_RATE,
        "gas_ocean_publish_dispenser": GAS_OCEAN_PUBLISH_DISPENSER,
        "gas_ocean_order": GAS_OCEAN_ORDER,
        "gas_ocean_order_first": GAS_OCEAN_ORDER_FIRST,
        "gas_ocean_order_all_fees": GAS_OCEAN_ORDER_ALL_FEES,
        "gas_ocean_buy_and_order": GAS_OCEAN_BUY_AND_ORDER,
        "gas_ocean_buy_and_order_first": GAS_OCEAN_BUY_AND_ORDER_FIRST,
        "gas_ocean_buy": GAS_OCEAN_BUY,
    }
    figures.update(ocean)
    figures.update({
        # our publish sets a price too: against Ocean's NFT + datatoken alone, and with a fixed price
        "gas_publish_vs_ocean_ratio": round(gas["gas_publish"] / GAS_OCEAN_PUBLISH, 3),
        "gas_publish_vs_ocean_fixed_rate_ratio": round(gas["gas_publish"] / GAS_OCEAN_PUBLISH_FIXED_RATE, 3),
        "gas_order_vs_ocean_ratio": round(gas["gas_order"] / GAS_OCEAN_ORDER, 3),
        "gas_order_first_vs_ocean_first_ratio": round(gas["gas_order_first"] / GAS_OCEAN_ORDER_FIRST, 3),
        "gas_order_with_provider_fee_vs_ocean_all_fees_ratio":
            round(gas["gas_order_with_provider_fee"] / GAS_OCEAN_ORDER_ALL_FEES, 3),
        "gas_buy_and_order_vs_ocean_ratio": round(gas["gas_buy_and_order"] / GAS_OCEAN_BUY_AND_ORDER, 3),
        "gas_buy_and_order_first_vs_ocean_ratio":
            round(gas["gas_buy_and_order_first"] / GAS_OCEAN_BUY_AND_ORDER_FIRST, 3),
        "gas_buy_vs_ocean_ratio": round(gas["gas_buy"] / GAS_OCEAN_BUY, 3),
        # a paid use from a wallet holding only the payment token: Ocean approves, then buys and orders
        "gas_paid_use_from_cold_wallet": gas["gas_buy_and_order"],
        "gas_ocean_paid_use_from_cold_wallet": GAS_OCEAN_APPROVE + GAS_OCEAN_BUY_AND_ORDER,
    })
    for k in ("gas_publish", "gas_order", "gas_buy_and_order"):
        anchor = ocean[k.replace("gas_", "gas_ocean_")]
        log(f"  {k} {gas[k]:,} ({figures[k + '_vs_ocean_ratio']:.0%} of Ocean's {anchor:,})")

    log(f"== downloads: {DOWNLOAD_MB} MiB through the access node vs StaticFiles vs http.server, "
        f"best of {DOWNLOAD_ROUNDS} rounds")
    figures.update(measure_download(DOWNLOAD_MB, DOWNLOAD_ROUNDS))
    figures["download_rounds"] = DOWNLOAD_ROUNDS
    figures["bench_seconds"] = round(time.perf_counter() - T0, 1)
    write("data", figures)

    def num(key: str) -> float:
        return number(figures, key)

    # the bench measured something real: receipts of real transactions, bytes really moved
    checks = [
        ("every gas figure of a transaction is above the 21,000 intrinsic gas",
         all(num(k) > 21_000 for k in ("gas_publish", "gas_publish_first", "gas_buy", "gas_order",
                                        "gas_order_with_provider_fee", "gas_buy_and_order", "gas_withdraw"))),
        ("a provider fee costs gas on top of a bare order (the fee transfer happened)",
         num("gas_order_with_provider_fee") > num("gas_order")),
        ("the first publish costs more than a later one (cold storage is priced)",
         num("gas_publish_first") > num("gas_publish")),
        ("a consumer's first order fills a new record; checking a signed quote costs gas",
         num("gas_order_first") > num("gas_order") and num("gas_order_signed_free_quote") > num("gas_order")),
        (f"the downloads moved the whole file ({figures['download_file_mb']} MB) at a finite rate",
         num("download_file_mb") >= DOWNLOAD_MB and 0 < num("download_mb_per_s") < 1e6
         and 0 < num("static_download_mb_per_s") < 1e6),
    ]
    goals = [
        (f"publish <= {GOAL_PUBLISH:,} gas: {num('gas_publish'):,.0f} (Ocean {GAS_OCEAN_PUBLISH:,}, "
         f"{GAS_OCEAN_PUBLISH_FIXED_RATE:,} with a fixed price)", num("gas_publish") <= GOAL_PUBLISH),
        (f"order <= {GOAL_ORDER:,} gas: {num('gas_order'):,.0f} (Ocean {GAS_OCEAN_ORDER:,} warm; a consumer's "
         f"first order {num('gas_order_first'):,.0f}, Ocean's {GAS_OCEAN_ORDER_FIRST:,})",
         num("gas_order") <= GOAL_ORDER),
        (f"buy_and_order <= {GOAL_BUY_AND_ORDER:,} gas: {num('gas_buy_and_order'):,.0f} "
         f"(Ocean {GAS_OCEAN_BUY_AND_ORDER:,} warm)", num("gas_buy_and_order") <= GOAL_BUY_AND_ORDER),
        (f"download >= {GOAL_DOWNLOAD_RATIO:.0%} of a static file server: {num('download_vs_static_ratio'):.1%} "
         f"({num('download_mb_per_s'):.0f} vs {num('static_download_mb_per_s'):.0f} MB/s)",
         num("download_vs_static_ratio") >= GOAL_DOWNLOAD_RATIO),
    ]
    if not report(checks, goals):
        sys.exit(1)


if __name__ == "__main__":
    main()
