"""Federated learning across data holders: round times and accuracy against training on pooled data.

The Flower app (``flower/agora_fl``: softmax regression on digits, FedAvg over SecAgg+, 3
holders, 5 local epochs a round) runs on both of Flower's engines, driven by
:mod:`agora.data.federated` as processes of Flower's own environment (``.venv-flower``):

* ``fl_round_s_simulation`` — the simulation engine (ray, 2 CPUs, virtual SuperNodes in one
  process tree): seconds per round in steady state, i.e. between the first and the last round's
  log lines as the driver sees them (``…_startup_s``: start until the first round is logged).
* ``fl_round_s_deployment`` — the deployment engine: a SuperLink and 3 SuperNodes as real
  processes on loopback, ``flwr run --stream``; each SecAgg+ stage starts a fresh
  ``flwr-clientapp`` process per holder, which dominates.
* ``fl_accuracy`` — held-out accuracy after the simulation's last round; ``central_accuracy`` —
  the same model trained here on the pooled training data for the same number of epochs
  (rounds x local epochs); ``fl_vs_central_accuracy_ratio`` = the two's ratio (goal >= 0.95).

Runs on its own: ``.venv/bin/python bench/_private_fl.py`` (writes ``bench/results/private_fl.json``).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from agora.data.federated import FLRound, run_deployment, run_simulation, train_central  # noqa: E402

ROUNDS = 3
HOLDERS = 3
LOCAL_EPOCHS = 5
GOAL_RATIO = 0.95


def _timed(run: Any) -> tuple[Any, list[float], float]:
    """Run ``run(on_round)``; the driver's clock at each round's log line, and at the start."""
    stamps: list[float] = []

    def on_round(_: FLRound) -> None:
        stamps.append(time.monotonic())

    t0 = time.monotonic()
    return run(on_round), stamps, t0


def _per_round(stamps: list[float]) -> float:
    return (stamps[-1] - stamps[0]) / (len(stamps) - 1)


def measure_fl(rounds: int = ROUNDS, holders: int = HOLDERS) -> dict[str, float | int | str]:
    """Round times of both engines and accuracy against the centralised baseline (a flat dict)."""
    config = {"local-epochs": LOCAL_EPOCHS}
    sim, sim_stamps, sim_t0 = _timed(lambda cb: run_simulation(holders, rounds=rounds, config=config, on_round=cb))
    dep, dep_stamps, dep_t0 = _timed(lambda cb: run_deployment(holders, rounds=rounds, config=config, on_round=cb))
    central = train_central(epochs=rounds * LOCAL_EPOCHS)
    return {
        "fl_round_s_simulation": _per_round(sim_stamps),
        "fl_startup_s_simulation": sim_stamps[0] - sim_t0,
        "fl_wall_s_simulation": sim.wall_s,
        "fl_round_s_deployment": _per_round(dep_stamps),
        "fl_startup_s_deployment": dep_stamps[0] - dep_t0,
        "fl_wall_s_deployment": dep.wall_s,
        "fl_accuracy": sim.final_accuracy,
        "fl_accuracy_deployment": dep.final_accuracy,
        "central_accuracy": central,
        "fl_vs_central_accuracy_ratio": sim.final_accuracy / central,
        "fl_vs_central_accuracy_ratio_goal": GOAL_RATIO,
        "fl_rounds": rounds,
        "fl_holders": holders,
    }


if __name__ == "__main__":
    from _common import write

    write("private_fl", measure_fl())
