"""Run configuration: the defaults, merged with what the run supplies.

``flwr run`` fills ``context.run_config`` from ``[tool.flwr.app.config]`` in pyproject.toml
(plus ``--run-config`` overrides); ``run_simulation`` leaves it empty, so the simulation runner
passes its overrides to the app factories instead. Keys use Flower's kebab-case.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

DEFAULTS: dict[str, Any] = {
    "num-server-rounds": 2,
    "local-epochs": 5,
    "lr": 0.5,
    "seed": 0,
    "min-available-clients": 3,  # the first round waits until this many holders are connected
    "min-fit-clients": 2,  # later rounds wait for this many (every connected holder is asked)
    "num-shares": 3,  # SecAgg+: shares of each holder's secrets (int > 2, or a float fraction)
    "reconstruction-threshold": 2,  # SecAgg+: shares needed to rebuild one (< num-shares)
    "clipping-range": 8.0,  # SecAgg+: weights are clipped to +-this before quantisation
    "quantization-range": 4194304,  # SecAgg+: 2**22 levels
    "max-weight": 1000.0,  # SecAgg+: num_examples above this count as this in the average
    "timeout": 120.0,  # SecAgg+: seconds each stage waits for replies
    "dp-clip": 0.0,  # > 0: clip each holder's update (L2) to this and add Gaussian noise
    "dp-noise-multiplier": 0.0,  # sigma / clip
    "dp-delta": 1e-5,
    # record-level DP inside each holder (see docs/federated.md): > 0 turns local training into
    # full-batch DP gradient descent, ``local-epochs`` steps a round, each example's gradient
    # clipped (L2) to this, N(0, (dp-record-noise * dp-record-clip)^2) added to their sum
    "dp-record-clip": 0.0,
    "dp-record-noise": 0.0,  # sigma / clip per step
    "rounds-log": "",  # path: one JSON line per round
    "model-path": "",  # path: the final weights as .npz (W, b)
    # the holder's round gate (see client_app): a folder where the holder's chain watcher writes
    # ``<holder>.json`` = {"paid": [rounds recorded on chain with this holder among the paid]};
    # before training round r the holder waits up to ``round-gate-timeout`` s for every earlier
    # round it trained in to be there, and refuses round r otherwise ("" : no gate)
    "round-gate-dir": "",
    "round-gate-timeout": 60.0,
    "drop-partition": -1,  # fault injection (tests): this partition fails its training ...
    "drop-round": -1,  # ... in this round (-1: never)
}


def merged(*layers: Mapping[str, Any]) -> dict[str, Any]:
    """The defaults overlaid with each mapping in turn (unknown keys are refused)."""
    out = dict(DEFAULTS)
    for layer in layers:
        unknown = set(layer) - set(DEFAULTS)
        if unknown:
            raise KeyError(f"unknown run config keys: {sorted(unknown)}")
        out.update(layer)
    if float(out["dp-record-clip"]) > 0 and float(out["dp-record-noise"]) <= 0:
        raise ValueError("dp-record-clip > 0 needs dp-record-noise > 0")
    return out


def dp_epsilon(rounds: int, noise_multiplier: float, delta: float) -> float | None:
    """ε after ``rounds`` releases of the Gaussian mechanism with ``noise_multiplier`` (σ/C).

    Each round is (1/(2σ²))-zCDP for the holder's whole update (sensitivity C after clipping);
    zCDP composes by adding, and ρ-zCDP gives (ρ + 2√(ρ ln(1/δ)), δ)-DP (Bun & Steinke 2016).
    None when DP is off.
    """
    if noise_multiplier <= 0:
        return None
    rho = rounds / (2 * noise_multiplier**2)
    return rho + 2 * math.sqrt(rho * math.log(1 / delta))


def record_epsilon(rounds: int, steps_per_round: int, noise: float, delta: float) -> float | None:
    """Record-level ε of one holder after ``rounds`` rounds of ``steps_per_round`` DP-GD steps.

    Full-batch steps (no subsampling), each a Gaussian mechanism of sensitivity C on the clipped
    gradient sum: ρ = T/(2σ²) for T = rounds·steps_per_round steps, converted as in
    :func:`dp_epsilon`. An upper bound for a holder that skipped a round. None when off.
    """
    return dp_epsilon(rounds * steps_per_round, noise, delta)
