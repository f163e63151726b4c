"""Yuma consensus, one epoch, exactly as subtensor's ``run_epoch.rs`` computes it, in vectorised numpy.

:func:`epoch` mirrors ``Pallet::epoch_mechanism`` (``pallets/subtensor/src/epoch/run_epoch.rs``,
subtensor snapshot ``14bc6f9f``) with the helpers of ``epoch/math.rs``, step by step:

1. **Stake.** ``S = stake / Σ stake`` (the chain's stake threshold is taken as 0).
2. **Active.** UID *i* is active when ``last_update_i + activity_cutoff >= block``.
3. **Permits.** The epoch uses the permits stored by the *previous* epoch (``validator_permit``)
   and computes the new ones as ``is_topk_nonzero(S, max_allowed_validators)``: an ascending
   stable sort by stake takes the permit away from the ``n - k`` smallest, so among equal stakes
   the *lower* UID loses first; zero stake never gets a permit; with ``n < k`` every UID with
   stake has one.
4. **Active stake.** ``Sa = normalize(S · active · previous_permit)``.
5. **Weights.** Rows without a previous permit are zeroed, then the diagonal (self-weight), then
   the *outdated* entries: ``W_ij = 0`` where ``last_update_i <= registered_at_j`` (the weight was
   set before miner *j* took the UID). Rows are then normalised to sum 1.
6. **Consensus.** ``C_j`` is the stake-weighted median of column *j* over the UIDs with active
   stake, at ``κ = kappa / 65535``, as ``math.rs::weighted_median`` (a mid-pivot partition
   search) returns it: with the minority ``m = Σ Sa − κ``, the smallest weight *v* whose
   cumulative stake ``Σ_i Sa_i [W_ij <= v]`` exceeds *m* (the largest weight at least κ of the
   stake supports). Here each column is sorted once instead of pivoted; the result is the same.
7. **Clipping, trust, incentive.** ``W̄ = min(W, C)``; validator trust ``Σ_j W̄_ij``;
   incentive ``I = normalize(Sa @ W̄)`` (it sums to 1, or is all 0 when nothing survives).
8. **Bonds.** Weights for bonds ``W̃ = W + β (W̄ − W)``, ``β = bonds_penalty / 65535``.
   The stored bonds of the columns whose miner registered at or after ``last_tempo`` are
   masked (``last_tempo <= registered_at_j``: bonds to a UID that changed hands are dropped).

   * **Yuma 2** (``yuma3=False``): stored bonds column-normalised, ``ΔB = normalize_col(W̃ · Sa)``,
     ``B = α ΔB + (1 − α) B_prev`` with ``α = 1 − bonds_moving_average / 1e6``, column-normalised;
     dividends ``D = normalize(B @ I)``; stored as each column max-upscaled to 1 then
     ``floor(x · 65535)``.
   * **Yuma 3** (``yuma3=True``): ``B_prev = stored / 65535`` (absolute proportions). With
     ``liquid_alpha`` and any ``C_j ≠ 0``: a per-entry ``α_ij`` from ``alpha_sigmoid``
     (buying ``d = clamp(W̃ − C, 0, 1)`` when ``W̃ >= B_prev``, selling
     ``d = clamp(B_prev − W̃, 0, 1)`` otherwise; ``σ = 1 / (1 + exp(clamp(−steepness/100 ·
     (d − 0.5), −20, 20)))``; ``α = clamp(α_low + σ (α_high − α_low), α_low, α_high)``) and
     ``B = min(1, (1 − α) B_prev + max(0, α W̃))``; otherwise ``B = α W̃ + (1 − α) B_prev``
     with the scalar α above. Dividends ``D = normalize(Sa · Σ_j normalize_col(B)_ij I_j)``;
     stored as ``floor(B · 65535)``.
9. **Emission.** ``server = I / Σ(I + D)``, ``validator = D / Σ(I + D)``. When ``Σ(I + D) = 0``
   (no weights, all outdated, only self-weights) the chain falls back to stake: validators get
   ``Sa`` (or ``S`` when there is no active stake) and miners nothing. Both vectors together
   sum to 1 (to 0 only when every stake is 0).
10. **Storage.** Bond rows are kept only for UIDs holding a *new* permit; the others are zeroed
    (the chain clears the row of a UID that loses its permit).

**Omitted weights decay their bonds (dense semantics).** The chain's sparse Yuma 3 +
liquid-alpha path (``mat_ema_alpha_sparse``) keeps only the entries present in a validator's new
weight row, so a bond to a miner the validator *omitted* is dropped at once, while a bond to a
miner set to an explicit 0 decays by ``(1 − α)``. A dense matrix cannot tell the two apart; this
module takes every 0 as an explicit 0, i.e. the bond decays (as ``epoch_dense_mechanism`` does,
and as subtensor's ``test_yuma_3_*`` targets, which set explicit zeros, expect). Every other path
gives the same numbers sparse or dense.

**Numbers.** The chain computes in ``I32F32``/``I64F64`` fixed point; this module in float64.
Stored u16 values can therefore differ by ±1–2 from the chain's after several epochs of
truncation (``test_bonds`` shows one such entry), and proportions by ~1e-5.

Not modelled: the subnet owner (the chain gives the owner UID a permanent permit, exempts it from
the stake threshold and keeps its self-weight), the stake threshold, and the commit-reveal column
mask; they are off when no owner UID is set and commit-reveal is disabled.

The work is done on the rows that can matter (UIDs with a previous permit, or with stored bonds),
so an epoch with 128 validators among 4096 UIDs costs a few (128 × 4096) passes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

__all__ = ["U16_MAX", "EpochResult", "YumaParams", "epoch", "is_topk_nonzero", "weighted_median_col"]

U16_MAX = 65535

Floats = NDArray[np.float64]
Bools = NDArray[np.bool_]


@dataclass(frozen=True)
class YumaParams:
    """A subnet's Yuma hyperparameters, in the chain's units (subtensor's runtime defaults).

    * ``kappa``: consensus majority as a u16 proportion (``32767`` ≈ 0.5).
    * ``bonds_penalty``: β as a u16 proportion; ``65535`` bonds on clipped weights, ``0`` on raw ones.
    * ``bonds_moving_average``: per million; the EMA's α is ``1 − bonds_moving_average / 1e6``.
    * ``yuma3``: the Yuma 3 bonds path (absolute bonds, dividends weighted by stake).
    * ``liquid_alpha``, ``alpha_low``, ``alpha_high`` (u16 proportions), ``alpha_sigmoid_steepness``:
      per-entry α on the Yuma 3 path.
    * ``max_allowed_validators``: how many UIDs get a validator permit (top-k by stake).
    * ``activity_cutoff``: blocks after which a UID that has not set weights counts as inactive.
    """

    kappa: int = 32767
    bonds_penalty: int = 65535
    bonds_moving_average: int = 900_000
    yuma3: bool = False
    liquid_alpha: bool = False
    alpha_low: int = 45875
    alpha_high: int = 58982
    alpha_sigmoid_steepness: float = 1000.0
    max_allowed_validators: int = 128
    activity_cutoff: int = 5000


@dataclass(frozen=True)
class EpochResult:
    """What one epoch computes; every array has one entry (or row) per UID.

    ``consensus``, ``incentive``, ``dividends`` and ``validator_trust`` are proportions in [0, 1]
    (the chain stores them as ``floor(x · 65535)``). ``bonds`` is the (n, n) u16 matrix to pass to
    the next epoch, ``validator_permit`` the permits for the next epoch. ``server_emission`` and
    ``validator_emission`` are each UID's share of the epoch's emission; together they sum to 1.
    """

    consensus: Floats
    incentive: Floats
    dividends: Floats
    validator_trust: Floats
    bonds: NDArray[np.uint16]
    validator_permit: Bools
    server_emission: Floats
    validator_emission: Floats


def _normalize(x: Floats) -> Floats:
    """``math.rs::inplace_normalize``: divide by the sum unless it is 0."""
    total = x.sum()
    return x / total if total != 0 else x


def _scale_cols(x: Floats, by: Floats) -> None:
    """Divide each column of ``x`` in place by ``by`` where that is not 0 (``inplace_col_normalize``
    with the column sums, ``inplace_col_max_upscale`` with the column maxima)."""
    x /= np.where(by != 0, by, 1.0)[None, :]


def _scale_rows(x: Floats, by: Floats) -> None:
    """Divide each row of ``x`` in place by ``by`` where that is positive (``inplace_row_normalize``)."""
    x /= np.where(by > 0, by, 1.0)[:, None]


def _nonzero_rows(x: NDArray[Any]) -> Bools:
    """Which rows of a matrix hold a non-zero entry (read as u64 words when the layout allows)."""
    if x.ndim == 2 and x.flags.c_contiguous and x.dtype.itemsize == 2 and x.shape[1] % 4 == 0 and x.size:
        x = x.view(np.uint64)
    if x.size == 0:
        return np.zeros(x.shape[0], dtype=bool)
    found: Bools = x.max(axis=1) != 0 if x.dtype.kind == "u" else (x != 0).any(axis=1)
    return found


def _to_u16(x: Floats) -> NDArray[np.uint16]:
    """``math.rs::fixed_proportion_to_u16``: ``floor(x · 65535)``, saturating. Overwrites ``x``."""
    x *= U16_MAX
    np.clip(x, 0, U16_MAX, out=x)
    return x.astype(np.uint16)  # truncation toward 0 is floor on [0, 65535]


def is_topk_nonzero(values: ArrayLike, k: int) -> Bools:
    """``math.rs::is_topk_nonzero``: True for the k largest non-zero values.

    The chain sorts ascending with a stable sort and takes the first ``n − k`` out, so among equal
    values the lower index loses first. With ``n < k`` every non-zero value is in.
    """
    v = np.asarray(values, dtype=np.float64)
    result: Bools = np.not_equal(v, 0)
    n = v.shape[0]
    if n < k:
        return result
    order = np.argsort(v, kind="stable")
    result[order[: n - k]] = False
    return result


def weighted_median_col(stake: Floats, score: Floats, majority: float) -> Floats:
    """Column-wise stake-weighted median, as ``math.rs::weighted_median_col_sparse`` returns it.

    ``stake`` (m,) is positive (the rows with zero stake must be left out), ``score`` is (m, n).
    The stake is normalised, ``minority = Σ stake − majority``, and column *j* gets the smallest
    score *v* for which ``Σ_i stake_i [score_ij <= v] > minority`` (the column maximum if none).
    That is the value the chain's mid-pivot search settles on, found here by sorting each column.
    """
    m, n = score.shape
    if m == 0:
        return np.zeros(n)
    s = _normalize(stake)
    minority = s.sum() - majority
    if m == 1:
        single: Floats = score[0].copy()
        return single
    # Sort each column (as rows of the transpose, contiguous) and accumulate the stake in order.
    cols = np.ascontiguousarray(score.T)
    order = np.argsort(cols, axis=1)
    cum = np.cumsum(s[order], axis=1)
    above = cum > minority
    pos = np.where(above[:, -1], np.argmax(above, axis=1), m - 1)
    median: Floats = cols[np.arange(n), order[np.arange(n), pos]]
    return median


def _alpha_sigmoid(
    consensus: Floats, weights: Floats, bonds: Floats, low: float, high: float, steepness: float
) -> Floats:
    """``run_epoch.rs::alpha_sigmoid`` for every (validator, miner) entry at once."""
    diff_buy = np.clip(weights - consensus[None, :], 0.0, 1.0)
    diff_sell = np.clip(bonds - weights, 0.0, 1.0)
    diff = np.where(weights >= bonds, diff_buy, diff_sell)
    exponent = np.clip((steepness / -100.0) * (diff - 0.5), -20.0, 20.0)
    sigmoid = 1.0 / (1.0 + np.exp(exponent))
    return np.maximum(np.minimum(low + sigmoid * (high - low), high), low)  # clamp_value: min(high), then max(low)


def epoch(
    stake: ArrayLike,
    weights: ArrayLike,
    bonds: ArrayLike,
    validator_permit: ArrayLike,
    last_update: ArrayLike,
    registered_at: ArrayLike,
    *,
    block: int,
    last_tempo: int,
    params: YumaParams | None = None,
) -> EpochResult:
    """Run one Yuma epoch over n UIDs (see the module docstring for every step).

    Args:
        stake: (n,) each UID's stake, in any unit (only proportions matter).
        weights: (n, n) the stored u16 weights, row *i* being UID *i*'s (max-upscaled so each
            row's largest entry is 65535, as the chain stores them; see
            :func:`agora.subnet.weights.weights_to_u16`). Only rows with a previous permit count.
        bonds: (n, n) the u16 bonds the previous epoch stored (:attr:`EpochResult.bonds`).
        validator_permit: (n,) bool, the permits the previous epoch gave.
        last_update: (n,) the block at which each UID last set weights.
        registered_at: (n,) the block at which each UID was (last) registered.
        block: the current block.
        last_tempo: the first block after the previous epoch (the chain's
            ``LastMechansimStepBlock + 1``, or ``block − tempo`` before any epoch ran). Bonds to
            UIDs registered at or after it (``last_tempo <= registered_at_j``) are dropped,
            because the UID changed hands since the bonds were formed.
        params: the subnet's hyperparameters; subtensor's defaults if None.

    Returns:
        The epoch's :class:`EpochResult`.
    """
    p = params if params is not None else YumaParams()
    s_raw = np.asarray(stake, dtype=np.float64)
    n = s_raw.shape[0]
    w_all = np.asarray(weights)
    b_all = np.asarray(bonds)
    prev_permit = np.asarray(validator_permit, dtype=bool)
    upd = np.asarray(last_update, dtype=np.int64)
    reg = np.asarray(registered_at, dtype=np.int64)
    if w_all.shape != (n, n) or b_all.shape != (n, n):
        raise ValueError(f"weights and bonds must be ({n}, {n}), got {w_all.shape} and {b_all.shape}")
    if prev_permit.shape != (n,) or upd.shape != (n,) or reg.shape != (n,):
        raise ValueError("validator_permit, last_update and registered_at must have one entry per UID")
    if n and s_raw.min() < 0:
        raise ValueError("stake must be non-negative")

    # Stake, activity, permits.
    stake_n = _normalize(s_raw)
    active = upd + p.activity_cutoff >= block
    new_permit = is_topk_nonzero(s_raw, p.max_allowed_validators)
    active_stake = _normalize(stake_n * (active & prev_permit))

    # The rows that can matter: a previous permit (weights) or stored bonds. Every other row has
    # zero weights and zero bonds, so it contributes nothing and gets nothing.
    rows = np.flatnonzero(prev_permit | _nonzero_rows(b_all))
    k = rows.shape[0]
    sa = active_stake[rows]

    # Weights: permit rows, no self-weight, no outdated entries, row-normalised.
    w = w_all[rows].astype(np.float64)
    w[~prev_permit[rows]] = 0.0
    w[np.arange(k), rows] = 0.0
    w[upd[rows][:, None] <= reg[None, :]] = 0.0
    _scale_rows(w, w.sum(axis=1))

    # Consensus, clipping, validator trust, incentive. (Mat-vecs by einsum: no BLAS threads.)
    voters = sa > 0
    consensus = weighted_median_col(sa[voters], w[voters], p.kappa / U16_MAX)
    clipped = np.minimum(w, consensus[None, :])
    validator_trust = np.zeros(n)
    validator_trust[rows] = clipped.sum(axis=1)
    incentive = _normalize(np.einsum("i,ij->j", sa, clipped))

    # Bonds.
    beta = p.bonds_penalty / U16_MAX
    if beta == 0:
        w_bonds = w
    elif beta == 1:
        w_bonds = clipped
    else:
        w_bonds = clipped - w
        w_bonds *= beta
        w_bonds += w
    alpha = 1.0 - p.bonds_moving_average / 1_000_000
    ema = b_all[rows].astype(np.float64)  # B_prev, updated in place into the EMA
    ema[:, last_tempo <= reg] = 0.0
    dividends = np.zeros(n)
    if p.yuma3:
        ema /= U16_MAX
        if p.liquid_alpha and np.any(consensus != 0):
            alphas = _alpha_sigmoid(
                consensus,
                w_bonds,
                ema,
                p.alpha_low / U16_MAX,
                p.alpha_high / U16_MAX,
                p.alpha_sigmoid_steepness,
            )
            ema *= 1.0 - alphas
            alphas *= w_bonds
            np.maximum(alphas, 0.0, out=alphas)
            ema += alphas
            np.minimum(ema, 1.0, out=ema)
        else:
            ema *= 1.0 - alpha
            ema += alpha * w_bonds
        ema_sums = ema.sum(axis=0)
        share = np.einsum("ij,j->i", ema, incentive / np.where(ema_sums != 0, ema_sums, 1.0))
        dividends[rows] = share * sa
        stored = _to_u16(ema)
    else:
        _scale_cols(ema, ema.sum(axis=0))
        delta = w_bonds * sa[:, None]
        _scale_cols(delta, delta.sum(axis=0))
        ema *= 1.0 - alpha
        delta *= alpha
        ema += delta
        _scale_cols(ema, ema.sum(axis=0))
        dividends[rows] = np.einsum("ij,j->i", ema, incentive)
        _scale_cols(ema, ema.max(axis=0) if k else np.zeros(n))
        stored = _to_u16(ema)
    dividends = _normalize(dividends)

    # Emission shares.
    emission_sum = incentive.sum() + dividends.sum()
    if emission_sum != 0:
        server_emission = incentive / emission_sum
        validator_emission = dividends / emission_sum
    else:
        server_emission = incentive.copy()
        validator_emission = active_stake.copy() if active_stake.sum() != 0 else stake_n.copy()

    # Bonds kept only for the new permit holders.
    out_bonds = np.zeros((n, n), dtype=np.uint16)
    out_bonds[rows] = stored
    out_bonds[rows[~new_permit[rows]]] = 0

    return EpochResult(
        consensus=consensus,
        incentive=incentive,
        dividends=dividends,
        validator_trust=validator_trust,
        bonds=out_bonds,
        validator_permit=new_permit,
        server_emission=server_emission,
        validator_emission=validator_emission,
    )
