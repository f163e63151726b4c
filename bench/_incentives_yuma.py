"""Yuma consensus's cost: one epoch of :func:`agora.subnet.yuma.epoch` against a straight port.

Helper of the incentives benchmark (:mod:`agora.subnet.yuma`).

* Inputs (:func:`bench_inputs`, seeded): n UIDs of which ``min(128, n // 4)`` validators hold
  the stake (log-normal) and the previous epoch's permits; the miners hold none. Each validator
  scores a random 75 % of the miners: a shared true quality times its own log-normal noise, as a
  u16 row max-upscaled like the SDK's ``convert_weights_and_uids_for_emit`` (zeros dropped). A few
  miners registered recently (outdated weights, masked bonds), a few validators are inactive.
  Yuma 2 defaults (κ = 32767, β = 1, α = 0.1); the bonds come from one warm-up epoch on the same
  inputs, so the timed epoch carries a real previous state.
* ``yuma_epoch_ms_{256,1024,4096}``: the median of several runs of ``epoch`` on those inputs.
* ``anchor_dense_port_ms_{256,1024,4096}``: the same epoch by ``bench/_yuma_dense_port.py``, a
  function-by-function numpy port of subtensor's ``epoch_dense_mechanism`` with the chain's
  mid-pivot weighted median per column. Before timing, both are run on the same inputs and must
  agree to 1e-6 on every output (the stored u16 bonds to 1), and a Yuma 3 + liquid-alpha variant
  of the inputs is checked the same way.
* ``yuma_speedup_4096``: anchor / epoch at n = 4096.

Runnable on its own: ``python bench/_incentives_yuma.py`` prints the figures as JSON.
"""

from __future__ import annotations

import dataclasses
import json
import statistics
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from _yuma_dense_port import epoch_dense
from agora.subnet.yuma import EpochResult, YumaParams, epoch

SIZES = (256, 1024, 4096)
FIELDS = (
    "consensus",
    "incentive",
    "dividends",
    "validator_trust",
    "server_emission",
    "validator_emission",
)


def bench_inputs(n: int, seed: int = 0, params: YumaParams | None = None) -> dict[str, Any]:
    """Realistic epoch inputs for n UIDs (see the module docstring), bonds from a warm-up epoch."""
    rng = np.random.default_rng(seed)
    p = params if params is not None else YumaParams()
    validators = min(128, n // 4)
    block, tempo = 100_000, 360
    order = rng.permutation(n)
    vals = np.sort(order[:validators])
    miners = np.sort(order[validators:])
    stake = np.zeros(n)
    stake[vals] = rng.lognormal(10.0, 1.5, validators)
    permit = np.zeros(n, dtype=bool)
    permit[vals] = True
    quality = rng.lognormal(0.0, 1.0, n)
    weights = np.zeros((n, n), dtype=np.uint16)
    for v in vals:  # input construction only; the timed code has no per-UID loop
        chosen = rng.choice(miners, size=max(1, (len(miners) * 3) // 4), replace=False)
        scores = quality[chosen] * rng.lognormal(0.0, 0.3, len(chosen))
        row = np.round(scores / scores.max() * 65535)
        weights[v, chosen] = row.astype(np.uint16)
    last_update = np.full(n, block - 100, dtype=np.int64)
    last_update[vals] = block - rng.integers(1, 300, validators)
    inactive = rng.choice(vals, size=max(1, validators // 16), replace=False)
    last_update[inactive] = block - p.activity_cutoff - 10
    registered_at = rng.integers(0, block - 50_000, n)
    recent = rng.choice(miners, size=max(1, n // 64), replace=False)
    registered_at[recent] = block - rng.integers(1, 2 * tempo, len(recent))
    inputs: dict[str, Any] = {
        "stake": stake,
        "weights": weights,
        "bonds": np.zeros((n, n), dtype=np.uint16),
        "validator_permit": permit,
        "last_update": last_update,
        "registered_at": registered_at,
        "block": block,
        "last_tempo": block - tempo + 1,
        "params": p,
    }
    warm = epoch(**{**inputs, "block": block - tempo, "last_tempo": block - 2 * tempo + 1})
    inputs["bonds"] = warm.bonds
    return inputs


def _run(fn: Callable[..., EpochResult], inputs: dict[str, Any]) -> EpochResult:
    return fn(
        inputs["stake"],
        inputs["weights"],
        inputs["bonds"],
        inputs["validator_permit"],
        inputs["last_update"],
        inputs["registered_at"],
        block=inputs["block"],
        last_tempo=inputs["last_tempo"],
        params=inputs["params"],
    )


def assert_same(a: EpochResult, b: EpochResult, what: str) -> None:
    """The optimised epoch and the straight port agree: 1e-6 on proportions, exactly on u16 bonds."""
    for field in FIELDS:
        np.testing.assert_allclose(getattr(a, field), getattr(b, field), atol=1e-6, rtol=0, err_msg=f"{what}: {field}")
    np.testing.assert_array_equal(a.validator_permit, b.validator_permit, err_msg=f"{what}: permits")
    diff = np.abs(a.bonds.astype(np.int64) - b.bonds.astype(np.int64)).max()
    assert diff <= 1, f"{what}: bonds differ by {diff} u16"


def _times_ms(fn: Callable[[], object], rounds: int) -> list[float]:
    times = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1000)
    return times


def measure(rounds: int = 7, anchor_rounds: int = 3) -> dict[str, float]:
    """Median ms of one epoch at n = 256, 1024, 4096, with the dense port as anchor (same inputs).

    ``epoch`` gets a warm-up run (the equality check) and ``rounds`` timed runs; the anchor, whose
    first run is already representative, ``anchor_rounds`` timed runs, the first also checked.
    """
    figures: dict[str, float] = {}
    y3 = YumaParams(yuma3=True, liquid_alpha=True, bonds_penalty=0, bonds_moving_average=975_000)
    for n in SIZES:
        inputs = bench_inputs(n)
        fast = _run(epoch, inputs)
        t0 = time.perf_counter()
        slow = _run(epoch_dense, inputs)
        anchor = [(time.perf_counter() - t0) * 1000]
        assert_same(fast, slow, f"yuma2 n={n}")
        inputs3 = bench_inputs(n, seed=1, params=y3)
        assert_same(_run(epoch, inputs3), _run(epoch_dense, inputs3), f"yuma3 + liquid alpha n={n}")

        def fast_run(i: dict[str, Any] = inputs) -> EpochResult:
            return _run(epoch, i)

        def slow_run(i: dict[str, Any] = inputs) -> EpochResult:
            return _run(epoch_dense, i)

        figures[f"yuma_epoch_ms_{n}"] = statistics.median(_times_ms(fast_run, rounds))
        anchor += _times_ms(slow_run, anchor_rounds - 1)
        figures[f"anchor_dense_port_ms_{n}"] = statistics.median(anchor)
    figures["yuma_speedup_4096"] = figures["anchor_dense_port_ms_4096"] / figures["yuma_epoch_ms_4096"]
    return figures


def with_params(inputs: dict[str, Any], **changes: Any) -> dict[str, Any]:
    """The same inputs under other hyperparameters (for trying variants by hand)."""
    return {**inputs, "params": dataclasses.replace(inputs["params"], **changes)}


if __name__ == "__main__":
    print(json.dumps(measure(), indent=2))
