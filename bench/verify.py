"""Verifiability: receipts anchored on chain, traces, zero-knowledge proofs.

- ``gas_per_receipt_anchored_1000`` (goal <= 100) — a service anchors 1,000 signed receipts in
  one ``ReceiptAnchor.anchor``; anchor ``anchor_gas_per_receipt_unbatched``: one receipt a
  transaction (evidence posted per output). ``receipt_verify_ms``: a paid call's anchored
  receipt checked end to end against a node (signature, proof, one anchor read, the service
  key's history). See ``_verify_anchor.py``.
- ``trace_ms`` (goal <= 1,000) — ``agora trace`` from a paid call's receipt on a devnet with 2,000
  jobs, and from a model, a job, the busy requester. See ``_verify_trace.py``.
- ``zk_prove_s_digits`` (anchor: ezkl tuned, 0.25 s for a small MLP), ``gas_zk_verify`` (anchor
  ezkl ~546,000; goal <= 550,000), ``zk_prove_vs_inference_ratio``. See ``_verify_zk.py``.

All of it runs on anvil (a real node: the embedded chain's log queries scan every block).
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import measure_parts, number, report, write  # noqa: E402
from _verify_anchor import measure as measure_anchor  # noqa: E402
from _verify_trace import measure as measure_trace  # noqa: E402
from _verify_zk import measure as measure_zk  # noqa: E402
from agora.chain import connect  # noqa: E402
from agora.devnet.anvil import start_anvil  # noqa: E402
from agora.protocol import deploy_devnet  # noqa: E402

GOAL_GAS_PER_RECEIPT = 100
GOAL_TRACE_MS = 1_000
ANCHOR_ZK_PROVE_S = 0.25  # ezkl tuned, a small MLP (measured in ../shared's ZKML notes)
GOAL_ZK_GAS = 550_000


def main() -> None:
    node = start_anvil()
    try:
        chain = connect(node.url)
        dep = deploy_devnet(chain)
        figures = measure_parts([
            ("receipts anchored in batches, and checked", lambda: measure_anchor(chain, dep)),
            ("agora trace on a devnet with 2,000 jobs", lambda: measure_trace(chain, dep)),
            ("zero-knowledge proofs of inference (ezkl)", lambda: measure_zk(chain, dep)),
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
        ("the trace ran on a devnet with at least 2,000 jobs", num("trace_jobs_on_chain") >= 2_000),
        ("a proof costs more than an inference", num("zk_prove_vs_inference_ratio") > 1),
    ]
    goals = [
        (f"gas per receipt anchored at 1,000 <= {GOAL_GAS_PER_RECEIPT} ({num('gas_per_receipt_anchored_1000')})",
         num("gas_per_receipt_anchored_1000") <= GOAL_GAS_PER_RECEIPT),
        (f"trace from a receipt <= {GOAL_TRACE_MS} ms on 2,000 jobs ({num('trace_ms')})",
         num("trace_ms") <= GOAL_TRACE_MS),
        (f"a small MLP proven within ezkl tuned's {ANCHOR_ZK_PROVE_S} s ({num('zk_prove_s_mlp_8_4_3')})",
         num("zk_prove_s_mlp_8_4_3") <= ANCHOR_ZK_PROVE_S),
        (f"the digits classifier proven within {ANCHOR_ZK_PROVE_S} s ({num('zk_prove_s_digits')})",
         num("zk_prove_s_digits") <= ANCHOR_ZK_PROVE_S),
        (f"verify gas <= {GOAL_ZK_GAS:,} ({num('gas_zk_verify'):,.0f})", num("gas_zk_verify") <= GOAL_ZK_GAS),
    ]
    if not report(checks, goals):
        raise SystemExit(1)


if __name__ == "__main__":
    main()
