"""Verifiability: receipts anchored on chain, traces, zero-knowledge proofs.

- ``gas_per_receipt_anchored_1000`` (goal <= 100) — a service anchors 1,000 signed receipts in
  one ``ReceiptAnchor.anchor``; anchor ``anchor_gas_per_receipt_unbatched``: one receipt a
  transaction (evidence posted per output). ``receipt_verify_ms``: a paid call's anchored
  receipt checked end to end against a node (signature, proof, one anchor read, the service
  key's history). See ``_verify_anchor.py``.

All of it runs on anvil (a real node: the embedded chain's log queries scan every block).
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import measure_parts, number, report, write  # noqa: E402
from _verify_anchor import measure as measure_anchor  # noqa: E402
from agora.chain import connect  # noqa: E402
from agora.devnet.anvil import start_anvil  # noqa: E402
from agora.protocol import deploy_devnet  # noqa: E402

GOAL_GAS_PER_RECEIPT = 100


def main() -> None:
    node = start_anvil()
    try:
        chain = connect(node.url)
        dep = deploy_devnet(chain)
        figures = measure_parts([
            ("receipts anchored in batches, and checked", lambda: measure_anchor(chain, dep)),
        ])
    finally:
        node.stop()
    write("verify", figures)

    def num(key: str) -> float:
        return number(figures, key)

    checks = [
        ("a batch of 1,000 costs more than one receipt alone",
         num("gas_anchor_batch_1000") >= num("anchor_gas_per_receipt_unbatched")),
        ("checking a receipt reads the chain (slower than offline)",
         num("receipt_verify_ms") > num("receipt_verify_offline_ms")),
    ]
    goals = [
        (f"gas per receipt anchored at 1,000 <= {GOAL_GAS_PER_RECEIPT} ({num('gas_per_receipt_anchored_1000')})",
         num("gas_per_receipt_anchored_1000") <= GOAL_GAS_PER_RECEIPT),
    ]
    if not report(checks, goals):
        raise SystemExit(1)


if __name__ == "__main__":
    main()
