"""Private compute: compute-to-data in the sandbox, federated learning across holders, privacy.

- ``c2d_overhead_ms`` — sandbox start and teardown over the same algorithm run plainly (median
  of 25; goal <= 50 ms); ``sandbox_run_ms`` — a trivial algorithm in the sandbox. See
  ``_private_sandbox.py``.
- ``c2d_job_end_to_end_s`` — one compute-to-data job through the access node's HTTP API on the
  embedded chain: order of the compute service, DIRECT job post, hand-over, checks on chain, the
  sandboxed run next to the decrypted data, commit and reveal, the result fetched and checked
  (median of 5); ``gas_c2d_job`` — the job's post + commit + reveal; ``gas_c2d_order`` — the
  order of the compute service (buy and order in one transaction); ``gas_fl_round_record`` —
  one federated round recorded with 3 participants (``…_first``: the run's first round). See
  ``_private_c2d.py``.
- ``fl_round_s_simulation`` / ``fl_round_s_deployment`` — seconds per round, 3 holders with
  SecAgg+, Flower's simulation engine and its deployment engine (SuperLink + SuperNodes as
  processes; ``fl_round_s`` is the deployment engine's); ``fl_accuracy`` against
  ``central_accuracy`` (the same model on the pooled data): ``fl_vs_central_accuracy_ratio``
  (goal >= 0.95). See ``_private_fl.py``.
- ``dp_*`` — OpenDP queries against numpy, DP-SGD at epsilon 3 against plain SGD. See ``_private_dp.py``.

Anchors: Ocean's compute-to-data needs Kubernetes or Docker (not measured here); nobody we know of
integrates federated rounds or privacy budgets with on-chain payment, so those figures have no anchor.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import measure_parts, number, report, write  # noqa: E402
from _private_c2d import measure_c2d  # noqa: E402
from _private_dp import measure_dp  # noqa: E402
from _private_fl import measure_fl  # noqa: E402
from _private_sandbox import measure_sandbox  # noqa: E402

GOAL_OVERHEAD_MS = 50
GOAL_FL_RATIO = 0.95


def main() -> None:
    figures = measure_parts([
        ("sandbox overhead", measure_sandbox),
        ("compute-to-data", measure_c2d),
        ("differential privacy", measure_dp),
        ("federated learning (simulation and deployment engines)", measure_fl),
    ])
    # the name: a round with real holder processes (the deployment engine)
    figures["fl_round_s"] = figures["fl_round_s_deployment"]
    write("private_compute", figures)

    def num(key: str) -> float:
        return number(figures, key)

    checks = [
        ("a sandboxed run costs more than a plain one", num("c2d_overhead_ms") > 0),
        ("the C2D job's transactions cost more than the intrinsic gas of three", num("gas_c2d_job") > 63_000),
        ("the federated runs reported accuracy in (0, 1]", 0 < num("fl_accuracy") <= 1),
    ]
    goals = [
        (f"c2d_overhead_ms <= {GOAL_OVERHEAD_MS}: {num('c2d_overhead_ms'):.1f}",
         num("c2d_overhead_ms") <= GOAL_OVERHEAD_MS),
        (f"fl_vs_central_accuracy_ratio >= {GOAL_FL_RATIO}: {num('fl_vs_central_accuracy_ratio'):.3f}",
         num("fl_vs_central_accuracy_ratio") >= GOAL_FL_RATIO),
    ]
    if not report(checks, goals):
        sys.exit(1)


if __name__ == "__main__":
    main()
