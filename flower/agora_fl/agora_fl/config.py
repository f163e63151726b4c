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
    "rounds-log": "",  # path: one JSON line per round
    "model-path": "",  # path: the final weights as .npz (W, b)
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
