"""Client-side weight helpers, as bittensor's SDK and subtensor's ``set_weights`` compute them.

A validator scores miners with floats; before they go on chain they are capped and turned into
u16 (``bittensor/utils/weight_utils.py``), and the chain max-upscales the row again when it stores
it (``subnets/weights.rs::do_set_weights`` → ``math.rs::vec_u16_max_upscale_to_u16``):

* :func:`normalize_max_weight` — normalise to sum 1 with no entry above ``limit`` (the SDK's
  ``normalize_max_weight``, used before ``max_weight_limit`` is checked on chain);
* :func:`weights_to_u16` — max-upscale so the largest weight is 65535, round, drop the zeros
  (the SDK's ``convert_weights_and_uids_for_emit``);
* :func:`u16_max_upscale` and :func:`weights_row` — the row as the chain stores it, dense, ready
  for :func:`agora.subnet.yuma.epoch`.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

__all__ = ["U16_MAX", "normalize_max_weight", "u16_max_upscale", "weights_row", "weights_to_u16"]

U16_MAX = 65535


def normalize_max_weight(x: ArrayLike, limit: float = 0.1) -> NDArray[np.float64]:
    """Normalise ``x`` to sum 1 so that no entry exceeds ``limit``, as bittensor's SDK does.

    The largest entries are cut at a common value and the whole renormalised, so the excess is
    spread over the others in proportion. If ``x`` sums to 0, or ``limit`` is too small for any
    vector to meet it (``len(x) · limit <= 1``), the result is uniform. The SDK's ``1e-7`` epsilon
    is kept, so the cap holds to about that.
    """
    epsilon = 1e-7
    weights: NDArray[np.float64] = np.array(x, dtype=np.float64)
    n = weights.shape[0]
    if weights.sum() == 0 or n * limit <= 1:
        uniform: NDArray[np.float64] = np.full(n, 1.0 / n)
        return uniform
    values = np.sort(weights)
    estimation = values / values.sum()
    if estimation.max() <= limit:
        scaled: NDArray[np.float64] = weights / weights.sum()
        return scaled
    cumsum = np.cumsum(estimation)
    estimation_sum = (n - np.arange(n) - 1) * estimation
    n_values = int((estimation / (estimation_sum + cumsum + epsilon) < limit).sum())
    cutoff_scale = (limit * cumsum[n_values - 1] - epsilon) / (1 - limit * (n - n_values))
    cutoff = cutoff_scale * values.sum()
    weights[weights > cutoff] = cutoff
    capped: NDArray[np.float64] = weights / weights.sum()
    return capped


def weights_to_u16(uids: ArrayLike, weights: ArrayLike) -> tuple[list[int], list[int]]:
    """The (uids, u16 values) a validator submits, as the SDK's ``convert_weights_and_uids_for_emit``.

    Weights are max-upscaled so the largest becomes 65535, rounded (half to even, as Python's
    ``round``), and the entries that round to 0 are dropped. All-zero weights give two empty
    lists (nothing to set).

    Raises:
        ValueError: a negative weight or uid, or lengths that differ.
    """
    u = np.asarray(uids, dtype=np.int64).reshape(-1)
    w = np.asarray(weights, dtype=np.float64).reshape(-1)
    if u.shape != w.shape:
        raise ValueError(f"Passed weights and uids must have the same length, got {u.shape[0]} and {w.shape[0]}")
    if w.size and w.min() < 0:
        raise ValueError("Passed weight is negative cannot exist on chain")
    if u.size and u.min() < 0:
        raise ValueError("Passed uid is negative cannot exist on chain")
    if w.size == 0 or w.sum() == 0:
        return [], []
    values = np.round(w / w.max() * U16_MAX).astype(np.int64)
    keep = values != 0
    return u[keep].tolist(), values[keep].tolist()


def u16_max_upscale(values: ArrayLike) -> NDArray[np.uint16]:
    """The chain's ``vec_u16_max_upscale_to_u16``: scale u16 values so the largest is 65535, rounding.

    Rounding is half away from zero (fixed-point ``round``). An all-zero row stays zero.
    """
    v = np.asarray(values, dtype=np.float64)
    if v.size == 0:
        return v.astype(np.uint16)
    top = v.max()
    if top == 0:
        return v.astype(np.uint16)
    upscaled: NDArray[np.uint16] = np.minimum(np.floor(v * U16_MAX / top + 0.5), U16_MAX).astype(np.uint16)
    return upscaled


def weights_row(n: int, uids: ArrayLike, values: ArrayLike) -> NDArray[np.uint16]:
    """The dense (n,) u16 row the chain stores for ``set_weights(uids, values)`` (max-upscaled)."""
    row = np.zeros(n, dtype=np.uint16)
    u = np.asarray(uids, dtype=np.int64).reshape(-1)
    if u.size:
        row[u] = u16_max_upscale(values)
    return row
