"""The anchor for the Yuma benchmark: a straight numpy port of subtensor's dense epoch.

Function by function as ``pallets/subtensor/src/epoch/run_epoch.rs::epoch_dense_mechanism`` and
``epoch/math.rs`` (subtensor ``14bc6f9f``) write it: every matrix n × n, every step its own pass,
and the consensus by ``weighted_median`` — the chain's mid-pivot partition search — column by
column. Nothing is optimised; it is what a first port costs, so that :mod:`agora.subnet.yuma`
(which must give the same numbers, asserted by ``bench/_incentives_yuma.py``) has a fair anchor.

Same inputs, outputs and conventions as :func:`agora.subnet.yuma.epoch` (float64, no subnet owner,
omitted weights decay their bonds as in the dense mechanism).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from agora.subnet.yuma import EpochResult, YumaParams

U16_MAX = 65535
F = NDArray[np.float64]


# --- math.rs ----------------------------------------------------------------------------------


def inplace_normalize(x: F) -> F:
    total = x.sum()
    return x if total == 0 else x / total


def is_topk_nonzero(vector: F, k: int) -> NDArray[np.bool_]:
    n = len(vector)
    result: NDArray[np.bool_] = np.not_equal(vector, 0)
    if n < k:
        return result
    idxs = sorted(range(n), key=lambda i: vector[i])  # ascending stable sort
    for idx in idxs[: n - k]:
        result[idx] = False
    return result


def inplace_mask_vector(mask: NDArray[np.bool_], vector: F) -> F:
    return np.where(mask, 0.0, vector)


def inplace_mask_rows(mask: NDArray[np.bool_], matrix: F) -> F:
    return np.where(mask[:, None], 0.0, matrix)


def inplace_mask_cols(mask: NDArray[np.bool_], matrix: F) -> F:
    return np.where(mask[None, :], 0.0, matrix)


def inplace_mask_diag(matrix: F) -> F:
    out = matrix.copy()
    np.fill_diagonal(out, 0.0)
    return out


def inplace_mask_matrix(mask: NDArray[np.bool_], matrix: F) -> F:
    return np.where(mask, 0.0, matrix)


def inplace_row_normalize(x: F) -> F:
    sums = x.sum(axis=1)
    return x / np.where(sums > 0, sums, 1.0)[:, None]


def inplace_col_normalize(x: F) -> F:
    sums = x.sum(axis=0)
    return x / np.where(sums != 0, sums, 1.0)[None, :]


def inplace_col_max_upscale(x: F) -> F:
    maxes = x.max(axis=0)
    return x / np.where(maxes != 0, maxes, 1.0)[None, :]


def row_sum(x: F) -> F:
    sums: F = x.sum(axis=1)
    return sums


def row_hadamard(matrix: F, vector: F) -> F:
    return matrix * vector[:, None]


def matmul(matrix: F, vector: F) -> F:
    return vector @ matrix


def matmul_transpose(matrix: F, vector: F) -> F:
    return matrix @ vector


def inplace_col_clip(x: F, col_threshold: F) -> F:
    return np.minimum(x, col_threshold[None, :])


def weighted_median(
    stake: list[float], score: list[float], partition_idx: list[int], minority: float, lo: float, hi: float
) -> float:
    """The chain's deterministic mid-pivot stake-weighted median (``math.rs::weighted_median``)."""
    current = list(partition_idx)
    iteration_limit = len(partition_idx)
    iterations = 0
    while True:
        n = len(current)
        if n == 0:
            return 0.0
        if n == 1:
            return score[current[0]]
        pivot = score[current[n // 2]]
        lo_stake = 0.0
        hi_stake = 0.0
        lower: list[int] = []
        upper: list[int] = []
        for idx in current:
            value = score[idx]
            if value == pivot:
                continue
            if value < pivot:
                lo_stake += stake[idx]
                lower.append(idx)
            else:
                hi_stake += stake[idx]
                upper.append(idx)
        if minority < lo + lo_stake and lower:
            current = lower
            hi = lo + lo_stake
        elif hi - hi_stake <= minority and upper:
            current = upper
            lo = hi - hi_stake
        else:
            return pivot
        iterations += 1
        if iterations > iteration_limit:
            return 0.0


def weighted_median_col(stake: F, score: F, majority: float) -> F:
    columns = score.shape[1]
    median = np.zeros(columns)
    positive = stake > 0
    for c in range(columns):
        use_stake = inplace_normalize(stake[positive])
        use_score = score[positive, c]
        if len(use_stake) == 0:
            continue
        stake_sum = float(use_stake.sum())
        median[c] = weighted_median(
            use_stake.tolist(), use_score.tolist(), list(range(len(use_stake))), stake_sum - majority, 0.0, stake_sum
        )
    return median


def interpolate(mat1: F, mat2: F, ratio: float) -> F:
    if ratio == 0:
        return mat1.copy()
    if ratio == 1:
        return mat2.copy()
    return mat1 + ratio * (mat2 - mat1)


def mat_ema(new: F, old: F, alpha: float) -> F:
    return alpha * new + (1.0 - alpha) * old


def mat_ema_alpha(new: F, old: F, alpha: F) -> F:
    return np.minimum((1.0 - alpha) * old + np.maximum(alpha * new, 0.0), 1.0)


def mat_vec_mul(matrix: F, vector: F) -> F:
    return matrix * vector[None, :]


def exp_safe(x: F) -> F:
    return np.exp(np.clip(x, -20.0, 20.0))


def fixed_proportion_to_u16(x: F) -> NDArray[np.uint16]:
    return np.clip(np.floor(x * U16_MAX), 0, U16_MAX).astype(np.uint16)


# --- run_epoch.rs -----------------------------------------------------------------------------


def alpha_sigmoid(consensus: F, weight: F, bond: F, low: float, high: float, steepness: float) -> F:
    diff_buy = np.clip(weight - consensus, 0.0, 1.0)
    diff_sell = np.clip(bond - weight, 0.0, 1.0)
    combined = np.where(weight >= bond, diff_buy, diff_sell)
    sigmoid = 1.0 / (1.0 + exp_safe((steepness / -100.0) * (combined - 0.5)))
    return np.maximum(np.minimum(low + sigmoid * (high - low), high), low)  # clamp_value: min(high), then max(low)


def compute_liquid_alpha_values(weights: F, bonds: F, consensus: F, p: YumaParams) -> F:
    return alpha_sigmoid(
        consensus[None, :], weights, bonds, p.alpha_low / U16_MAX, p.alpha_high / U16_MAX, p.alpha_sigmoid_steepness
    )


def compute_disabled_liquid_alpha(p: YumaParams) -> float:
    return 1.0 - p.bonds_moving_average / 1_000_000


def compute_bonds(weights: F, bonds: F, consensus: F, p: YumaParams) -> F:
    if p.liquid_alpha and len(consensus) and np.any(consensus != 0):
        alphas = compute_liquid_alpha_values(weights, bonds, consensus, p)
        return mat_ema_alpha(weights, bonds, alphas)
    return mat_ema(weights, bonds, compute_disabled_liquid_alpha(p))


def compute_ema_bonds_normal(bonds_delta: F, bonds: F, p: YumaParams) -> F:
    return mat_ema(bonds_delta, bonds, 1.0 - p.bonds_moving_average / 1_000_000)


def epoch_dense(
    stake: NDArray[np.float64],
    weights: NDArray[np.uint16],
    bonds: NDArray[np.uint16],
    validator_permit: NDArray[np.bool_],
    last_update: NDArray[np.int64],
    registered_at: NDArray[np.int64],
    *,
    block: int,
    last_tempo: int,
    params: YumaParams | None = None,
) -> EpochResult:
    """``epoch_dense_mechanism``, step by step, on dense n × n matrices."""
    p = params if params is not None else YumaParams()
    n = len(stake)
    last_update = np.asarray(last_update, dtype=np.int64)
    block_at_registration = np.asarray(registered_at, dtype=np.int64)

    inactive = last_update + p.activity_cutoff < block
    outdated = last_update[:, None] <= block_at_registration[None, :]
    recently_registered = last_tempo <= block_at_registration

    total_stake = np.asarray(stake, dtype=np.float64)
    stake_n = inplace_normalize(total_stake)

    validator_permits = np.asarray(validator_permit, dtype=bool)
    validator_forbids = ~validator_permits
    new_validator_permits = is_topk_nonzero(total_stake, p.max_allowed_validators)

    active_stake = inplace_mask_vector(inactive, stake_n)
    active_stake = inplace_mask_vector(validator_forbids, active_stake)
    active_stake = inplace_normalize(active_stake)

    w = np.asarray(weights).astype(np.float64)
    w = inplace_mask_rows(validator_forbids, w)
    w = inplace_mask_diag(w)
    w = inplace_mask_matrix(outdated, w)
    w = inplace_row_normalize(w)

    kappa = p.kappa / U16_MAX
    consensus = weighted_median_col(active_stake, w, kappa)
    clipped_weights = inplace_col_clip(w, consensus)
    validator_trust = row_sum(clipped_weights)

    ranks = matmul(clipped_weights, active_stake)
    incentive = inplace_normalize(ranks)

    bonds_penalty = p.bonds_penalty / U16_MAX
    weights_for_bonds = interpolate(w, clipped_weights, bonds_penalty)

    if p.yuma3:
        b = np.asarray(bonds).astype(np.float64) / U16_MAX
        b = inplace_mask_cols(recently_registered, b)
        ema_bonds = compute_bonds(weights_for_bonds, b, consensus, p)
        ema_bonds_norm = inplace_col_normalize(ema_bonds)
        total_bonds_per_validator = row_sum(mat_vec_mul(ema_bonds_norm, incentive))
        dividends = inplace_normalize(total_bonds_per_validator * active_stake)
    else:
        b = np.asarray(bonds).astype(np.float64)
        b = inplace_mask_cols(recently_registered, b)
        b = inplace_col_normalize(b)
        bonds_delta = inplace_col_normalize(row_hadamard(weights_for_bonds, active_stake))
        ema_bonds = inplace_col_normalize(compute_ema_bonds_normal(bonds_delta, b, p))
        dividends = inplace_normalize(matmul_transpose(ema_bonds, incentive))
        ema_bonds = inplace_col_max_upscale(ema_bonds)

    emission_sum = (incentive + dividends).sum()
    normalized_server_emission = incentive / emission_sum if emission_sum != 0 else incentive.copy()
    normalized_validator_emission = dividends / emission_sum if emission_sum != 0 else dividends.copy()
    if emission_sum == 0:
        if active_stake.sum() == 0:
            normalized_validator_emission = stake_n.copy()
        else:
            normalized_validator_emission = active_stake.copy()

    stored = fixed_proportion_to_u16(ema_bonds)
    new_bonds = np.zeros((n, n), dtype=np.uint16)
    for i in range(n):
        if new_validator_permits[i]:
            new_bonds[i] = stored[i]

    return EpochResult(
        consensus=consensus,
        incentive=incentive,
        dividends=dividends,
        validator_trust=validator_trust,
        bonds=new_bonds,
        validator_permit=new_validator_permits,
        server_emission=normalized_server_emission,
        validator_emission=normalized_validator_emission,
    )
