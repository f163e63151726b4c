"""Incentives: subnets with Yuma consensus and staked prediction tournaments, settled on chain.

- ``yuma_epoch_ms_{256,1024,4096}`` — one Yuma epoch (``agora.subnet.yuma.epoch``) at n UIDs;
  anchor ``anchor_dense_port_ms_*``: a straight numpy port of subtensor's dense epoch, on the same
  inputs, checked to agree first (goal at 4,096: <= 300 ms). See ``_incentives_yuma.py``.
- ``scoring_ms_10000_rows_50_models`` — CORR and MMC of 50 models over 10,000 rows
  (``agora.value.tournament.score_round``); anchor ``anchor_numerai_tools_…``: numerai-tools,
  model by model, checked to agree first. See ``_incentives_scoring.py``.
- ``gas_weights_commit``, ``gas_weights_reveal``, ``gas_epoch_settle``, ``gas_emission_claim``,
  ``gas_dispute_consensus`` — a subnet's transactions from real receipts on the embedded chain.
  See ``_incentives_subnet_gas.py``.
- ``gas_tournament_submit``, ``gas_tournament_claim`` — a tournament model's commit with stake,
  and a claim by proof. See ``_incentives_tournament.py``.

Anchors for the gas: subtensor is its own chain (weights and epochs are extrinsics, not EVM
gas); Numerai's ``NumeraiErasureV1`` stakes and burns on Ethereum but scores off chain with no
challenge — neither is measured here in gas.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import measure_parts, number, report, write  # noqa: E402
from _incentives_scoring import measure as measure_scoring  # noqa: E402
from _incentives_subnet_gas import measure as measure_subnet_gas  # noqa: E402
from _incentives_tournament import measure as measure_tournament  # noqa: E402
from _incentives_yuma import measure as measure_yuma  # noqa: E402

GOAL_YUMA_4096_MS = 300


def main() -> None:
    figures = measure_parts([
        ("Yuma epochs (and a straight port of subtensor's dense epoch)", measure_yuma),
        ("tournament scoring (and numerai-tools)", measure_scoring),
        ("a subnet's transactions", measure_subnet_gas),
        ("a tournament's transactions", measure_tournament),
    ])
    write("incentives", figures)

    def num(key: str) -> float:
        return number(figures, key)

    checks = [
        ("an epoch at 4,096 UIDs takes longer than at 256", num("yuma_epoch_ms_4096") > num("yuma_epoch_ms_256")),
        ("the settle and claim transactions cost more than the intrinsic gas",
         num("gas_epoch_settle") > 21_000 and num("gas_emission_claim") > 21_000),
        ("scoring took time", num("scoring_ms_10000_rows_50_models") > 0),
    ]
    goals = [
        (f"yuma_epoch_ms_4096 <= {GOAL_YUMA_4096_MS}: {num('yuma_epoch_ms_4096'):.1f}",
         num("yuma_epoch_ms_4096") <= GOAL_YUMA_4096_MS),
        (f"faster than the straight port at 4,096: {num('anchor_dense_port_ms_4096'):.0f} ms",
         num("yuma_epoch_ms_4096") < num("anchor_dense_port_ms_4096")),
    ]
    if "anchor_numerai_tools_scoring_ms_10000_rows_50_models" in figures:
        goals.append(("faster than numerai-tools", num("scoring_ms_10000_rows_50_models")
                      < num("anchor_numerai_tools_scoring_ms_10000_rows_50_models")))
    if not report(checks, goals):
        sys.exit(1)


if __name__ == "__main__":
    main()
