"""Tournament scoring as Numerai scores its tournament: CORR, MMC against the stake-weighted meta
model, and the per-round payout (or burn) of a stake.

The scores are those of numerai-tools' ``numerai_tools/scoring.py`` (0.7.2), the code Numerai
publishes as the one it scores with, computed here with numpy alone on plain arrays (one value
per row, every row of a round scored; numerai-tools' pandas index alignment is not needed):

* :func:`tie_kept_rank` — ``(average rank − 0.5) / n``: tied values share the mean of their ranks
  (pandas' ``rank(method="average")``), so every percentile lies strictly inside (0, 1);
* :func:`gaussianize` — the standard normal quantile of those percentiles (``scipy.stats.norm.ppf``
  in numerai-tools; :func:`norm_ppf` here, Wichura's AS241, which agrees with it to about 1e-15);
* :func:`numerai_corr` — CORR: the target is centred and raised to the signed power 1.5, the
  predictions are tie-kept ranked, gaussianized and raised to the signed power 1.5, and CORR is
  the Pearson correlation of the two;
* :func:`meta_model` — the stake-weighted meta model: the stake-weighted mean of each model's
  gaussianized ranks (numerai-tools' ``stake_weight`` applied to the submissions after Numerai's
  cleaning, which tie-kept ranks and gaussianizes them);
* :func:`mmc` — MMC, numerai-tools' ``correlation_contribution``: the predictions and the meta
  model are tie-kept ranked and gaussianized, the predictions are orthogonalised to the meta model
  (``p − m·(pᵀm)/(mᵀm)``), and MMC is the covariance of that residual with the target (a target
  inside [0, 1] is first scaled by 4, onto Numerai's buckets −2…2, then centred): a copy of the
  meta model earns 0, whatever its CORR;
* :func:`score_round` — CORR and MMC of every model of a round at once (one sort per model, one
  matrix product), equal to the per-model functions;
* :func:`payout` — ``stake × clip(payout_factor × (0.5·CORR + 2·MMC), −0.05, 0.05)`` with
  ``payout_factor = min(1, 72,000 / total at risk)``: the fixed multipliers Numerai has used since
  2024-01-02; a negative payout is the stake burned.

Where numerai-tools answers NaN (constant predictions or targets: no correlation exists) or fails
an assertion (its ``power`` check that the 1.5 power keeps a correlation of at least 0.9 with its
input), these functions raise :class:`ValueError` instead. numerai-tools drops rows whose
prediction or target is missing (up to 20%); here every value must be a finite number, so a caller
decides what a missing prediction means before scoring.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numpy.typing import ArrayLike, NDArray

__all__ = [
    "CORR_MULTIPLIER",
    "MMC_MULTIPLIER",
    "PAYOUT_CLIP",
    "STAKE_THRESHOLD",
    "gaussianize",
    "meta_model",
    "mmc",
    "norm_ppf",
    "numerai_corr",
    "payout",
    "payout_factor",
    "score_round",
    "tie_kept_rank",
]

#: The weight of CORR in a round's score (Numerai's tournament since 2024-01-02).
CORR_MULTIPLIER = 0.5
#: The weight of MMC in a round's score.
MMC_MULTIPLIER = 2.0
#: The most a round pays or burns, as a fraction of the stake.
PAYOUT_CLIP = 0.05
#: The total stake at risk above which every payout is scaled down (Numerai's tournament: 72,000 NMR).
STAKE_THRESHOLD = 72_000.0

Float64Array = NDArray[np.float64]

# The products below are np.einsum, not BLAS (``@``): matrix-vector products of this size take
# far longer in OpenBLAS' threads than in one loop, many times longer on a busy machine.

# Wichura, M.J. (1988), Algorithm AS 241 (PPND16), Applied Statistics 37(3): 477-484, the
# coefficients as CPython's statistics.NormalDist.inv_cdf spells them; highest power first.
_A = (
    2.5090809287301226727e3, 3.3430575583588128105e4, 6.7265770927008700853e4, 4.5921953931549871457e4,
    1.3731693765509461125e4, 1.9715909503065514427e3, 1.3314166789178437745e2, 3.3871328727963666080e0,
)  # fmt: skip
_B = (
    5.2264952788528545610e3, 2.8729085735721942674e4, 3.9307895800092710610e4, 2.1213794301586595867e4,
    5.3941960214247511077e3, 6.8718700749205790830e2, 4.2313330701600911252e1, 1.0,
)  # fmt: skip
_C = (
    7.74545014278341407640e-4, 2.27238449892691845833e-2, 2.41780725177450611770e-1, 1.27045825245236838258e0,
    3.64784832476320460504e0, 5.76949722146069140550e0, 4.63033784615654529590e0, 1.42343711074968357734e0,
)  # fmt: skip
_D = (
    1.05075007164441684324e-9, 5.47593808499534494600e-4, 1.51986665636164571966e-2, 1.48103976427480074590e-1,
    6.89767334985100004550e-1, 1.67638483018380384940e0, 2.05319162663775882187e0, 1.0,
)  # fmt: skip
_E = (
    2.01033439929228813265e-7, 2.71155556874348757815e-5, 1.24266094738807843860e-3, 2.65321895265761230930e-2,
    2.96560571828504891230e-1, 1.78482653991729133580e0, 5.46378491116411436990e0, 6.65790464350110377720e0,
)  # fmt: skip
_F = (
    2.04426310338993978564e-15, 1.42151175831644588870e-7, 1.84631831751005468180e-5, 7.86869131145613259100e-4,
    1.48753612908506148525e-2, 1.36929880922735805310e-1, 5.99832206555887937690e-1, 1.0,
)  # fmt: skip

#: The correlation numerai-tools' ``power`` requires between a vector and its signed 1.5 power.
_MIN_POW_CORR = 0.9


def _horner(coefficients: tuple[float, ...], r: Float64Array) -> Float64Array:
    acc = np.full_like(r, coefficients[0])
    for c in coefficients[1:]:
        acc = acc * r + c
    return acc


def norm_ppf(p: ArrayLike) -> Float64Array:
    """The standard normal quantile of each probability (AS241 in double precision, vectorised).

    Agrees with ``scipy.stats.norm.ppf`` to about 1e-15 relative; 0 gives −inf and 1 gives +inf as
    scipy does, a value outside [0, 1] (or NaN) raises :class:`ValueError`.
    """
    x = np.asarray(p, dtype=np.float64)
    if not np.all((x >= 0.0) & (x <= 1.0)):
        raise ValueError("norm_ppf: probabilities must lie in [0, 1]")
    q = x - 0.5
    out = np.empty_like(x)
    central = np.abs(q) <= 0.425
    if central.any():
        qc = q[central]
        r = 0.180625 - qc * qc
        out[central] = qc * _horner(_A, r) / _horner(_B, r)
    tail = ~central
    if tail.any():
        qt = q[tail]
        with np.errstate(divide="ignore"):
            r = np.sqrt(-np.log(np.where(qt <= 0.0, x[tail], 1.0 - x[tail])))
        near = r <= 5.0
        z = np.empty_like(r)
        rn = r[near] - 1.6
        z[near] = _horner(_C, rn) / _horner(_D, rn)
        rf = r[~near] - 5.0
        with np.errstate(invalid="ignore"):  # r = inf (p = 0 or 1): inf / inf, set below
            z[~near] = _horner(_E, rf) / _horner(_F, rf)
        z[np.isinf(r)] = np.inf
        out[tail] = np.where(qt < 0.0, -z, z)
    return out


# --- validation -------------------------------------------------------------------------------


def _vector(values: ArrayLike, name: str) -> Float64Array:
    x = np.asarray(values, dtype=np.float64)
    if x.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional (one value per row), got shape {x.shape}")
    if not np.isfinite(x).all():
        raise ValueError(f"{name} must be finite numbers (no NaN or infinity)")
    return x


def _matrix(values: ArrayLike, name: str) -> Float64Array:
    x = np.asarray(values, dtype=np.float64)
    if x.ndim != 2:
        raise ValueError(f"{name} must be two-dimensional (models, rows), got shape {x.shape}")
    if not np.isfinite(x).all():
        raise ValueError(f"{name} must be finite numbers (no NaN or infinity)")
    return x


def _rows(n: int, *named: tuple[str, int]) -> None:
    if n < 2:
        raise ValueError(f"a round needs at least 2 rows to score, got {n}")
    for name, size in named:
        if size != n:
            raise ValueError(f"{name} has {size} rows, the predictions have {n}")


def _stakes(values: ArrayLike, models: int) -> Float64Array:
    s = _vector(values, "stakes")
    if s.shape[0] != models:
        raise ValueError(f"{s.shape[0]} stakes for {models} models")
    if (s < 0).any():
        raise ValueError("stakes must not be negative")
    if not s.sum() > 0:
        raise ValueError("the stakes add up to 0: there is no meta model")
    return s


def _constant_rows(x: Float64Array) -> NDArray[np.intp]:
    return np.flatnonzero((x == x[:, :1]).all(axis=1))


# --- the transforms ---------------------------------------------------------------------------


class _Ranked(NamedTuple):
    """Tie-kept ranks of each row, as codes into the table of every percentile n rows can give."""

    #: first + last (0-based) sorted position of each value's group of ties: the value's tie-kept
    #: percentile is (code + 1) / (2n)
    codes: NDArray[np.intp]
    #: whether a row has ties (a row without is a permutation of the codes 0, 2, … 2n − 2)
    tied: NDArray[np.bool_]

    @property
    def n(self) -> int:
        return int(self.codes.shape[1])

    def percentiles(self) -> Float64Array:
        """Every tie-kept percentile n rows can give: k / (2n) for k = 1 … 2n − 1.

        (first + last + 2) / 2 − 0.5 over n (pandas' mean rank less 0.5, over the count) and
        (first + last + 1) / (2n) are the correctly rounded values of the same rational, so these
        are numerai-tools' percentiles to the bit.
        """
        return np.arange(1, 2 * self.n, dtype=np.float64) / (2 * self.n)

    def quantiles(self) -> Float64Array:
        """The normal quantile of each percentile: n rows need at most 2n − 1 of them."""
        return norm_ppf(self.percentiles())


def _rank(x: Float64Array) -> _Ranked:
    m, n = x.shape
    order = np.argsort(x, axis=1)
    ordered = np.take_along_axis(x, order, axis=1)
    starts = np.ones((m, n), dtype=bool)  # where a group of equal values starts, in sorted order
    np.not_equal(ordered[:, 1:], ordered[:, :-1], out=starts[:, 1:])
    tied = np.asarray(~starts.all(axis=1), dtype=np.bool_)
    if tied.any():
        # all rows as one run of groups (each row starts one): every value of a group has the code
        # 2 × the group's first position in its row + the group's size − 1
        first = np.flatnonzero(starts.ravel())
        size = np.diff(first, append=m * n)
        sorted_codes = np.repeat(2 * (first % n) + size - 1, size)
    else:
        sorted_codes = np.tile(np.arange(0, 2 * n, 2), m)
    order += np.arange(0, m * n, n)[:, None]  # each row's order, as positions in the flat array
    codes = np.empty(m * n, dtype=np.intp)
    codes[order.ravel()] = sorted_codes
    return _Ranked(codes.reshape(m, n), tied)


def _gaussianize_rows(x: Float64Array) -> Float64Array:
    ranked = _rank(x)
    return ranked.quantiles()[ranked.codes]


def tie_kept_rank(values: ArrayLike) -> Float64Array:
    """Percentile ranks ``(rank − 0.5) / n``, tied values sharing their mean rank (numerai-tools'
    ``tie_kept_rank``); of each row of a two-dimensional array."""
    x = np.asarray(values, dtype=np.float64)
    ranked = _rank(_matrix(np.atleast_2d(x), "values"))
    return ranked.percentiles()[ranked.codes].reshape(x.shape)


def gaussianize(values: ArrayLike) -> Float64Array:
    """The standard normal quantiles of the tie-kept percentile ranks (numerai-tools'
    ``gaussian(tie_kept_rank(x))``); of each row of a two-dimensional array."""
    x = np.asarray(values, dtype=np.float64)
    return _gaussianize_rows(_matrix(np.atleast_2d(x), "values")).reshape(x.shape)


def _pow15(x: Float64Array) -> Float64Array:
    return np.sign(x) * np.abs(x) ** 1.5


def _pearson(a: Float64Array, b: Float64Array) -> Float64Array:
    """The Pearson correlation of each row of ``a`` with the same row of ``b`` (or with ``b``'s one
    row), centred and scaled as pandas does; NaN for a row without variance."""
    a = a - a.mean(axis=1, keepdims=True)
    b = b - b.mean(axis=1, keepdims=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        a = a / np.abs(a).max(axis=1, keepdims=True)
        b = b / np.abs(b).max(axis=1, keepdims=True)
        cross = np.einsum("ij,j->i", a, b[0]) if b.shape[0] == 1 else np.einsum("ij,ij->i", a, b)
        r = cross / np.sqrt(np.einsum("ij,ij->i", a, a) * np.einsum("ij,ij->i", b, b))
    clipped: Float64Array = np.clip(r, -1.0, 1.0)
    return clipped


def _check_power(powered: Float64Array, original: Float64Array, what: str) -> None:
    """numerai-tools' ``power`` assertion: the 1.5 power keeps a correlation of at least 0.9
    with its input (or its input is constant)."""
    r = _pearson(powered, original)
    bad = ~((r >= _MIN_POW_CORR) | (np.ptp(original, axis=1) == 0))
    if bad.any():
        raise ValueError(
            f"{what}: the 1.5 power correlates {r[bad][0]:.3f} with its input, below numerai-tools' "
            f"{_MIN_POW_CORR} (the values are too skewed to score)"
        )


def _corr_target(targets: Float64Array) -> Float64Array:
    if np.ptp(targets) == 0:
        raise ValueError("the targets are constant: no correlation with them exists")
    centred = targets - targets.mean()
    powered = _pow15(centred)
    _check_power(powered[None, :], centred[None, :], "targets")
    return powered


def _mmc_target(targets: Float64Array) -> Float64Array:
    # numerai-tools: targets inside [0, 1] are Numerai's buckets 0, 0.25, … 1, scaled onto −2 … 2
    if ((targets >= 0) & (targets <= 1)).all():
        targets = targets * 4
    centred: Float64Array = targets - targets.mean()
    return centred


def _corr_rows(ranked: _Ranked, quantiles: Float64Array, target15: Float64Array) -> Float64Array:
    powered_quantiles = _pow15(quantiles)
    powered = powered_quantiles[ranked.codes]
    # the power check depends on a row's values only, not their order: every row without ties
    # holds the same values, so one check covers them all
    if not ranked.tied.all():
        _check_power(powered_quantiles[None, ::2], quantiles[None, ::2], "predictions")
    if ranked.tied.any():
        codes = ranked.codes if ranked.tied.all() else ranked.codes[ranked.tied]
        _check_power(powered_quantiles[codes], quantiles[codes], "predictions")
    return _pearson(powered, target15[None, :])


def _stake_weight(gauss: Float64Array, stakes: Float64Array) -> Float64Array:
    weighted: Float64Array = np.einsum("i,ij->j", stakes, gauss) / stakes.sum()
    return weighted


def _mmc_rows(gauss: Float64Array, meta_gauss: Float64Array, target: Float64Array) -> Float64Array:
    # orthogonalise each model to the meta model, then the covariance with the centred target
    projection = np.einsum("ij,j->i", gauss, meta_gauss) / np.einsum("j,j->", meta_gauss, meta_gauss)
    neutral = gauss - np.outer(projection, meta_gauss)
    result: Float64Array = np.einsum("ij,j->i", neutral, target) / target.shape[0]
    return result


def _refuse_constant(predictions: Float64Array) -> None:
    constant = _constant_rows(predictions)
    if constant.size:
        shown = ", ".join(map(str, constant[:10])) + (" …" if constant.size > 10 else "")
        raise ValueError(
            f"the predictions of model(s) {shown} are constant: CORR is undefined "
            "(numerai-tools gives NaN); leave them out of the round"
        )


# --- the public scores ------------------------------------------------------------------------


def numerai_corr(predictions: ArrayLike, targets: ArrayLike) -> float:
    """CORR: numerai-tools' ``numerai_corr`` of one model's predictions against the targets.

    Raises :class:`ValueError` where numerai-tools gives NaN (constant predictions or targets) or
    fails (fewer than 2 rows, non-finite values, a target too skewed for its 1.5-power check).
    """
    p = _vector(predictions, "predictions")
    t = _vector(targets, "targets")
    _rows(p.shape[0], ("targets", t.shape[0]))
    if np.ptp(p) == 0:
        raise ValueError("the predictions are constant: CORR is undefined (numerai-tools gives NaN)")
    ranked = _rank(p[None, :])
    return float(_corr_rows(ranked, ranked.quantiles(), _corr_target(t))[0])


def meta_model(predictions: ArrayLike, stakes: ArrayLike) -> Float64Array:
    """The stake-weighted meta model of a round: ``Σ stakeᵢ · gaussianize(predictionsᵢ) / Σ stake``.

    ``predictions`` is (models, rows), ``stakes`` (models,), non-negative with a positive sum.
    """
    p = _matrix(predictions, "predictions")
    s = _stakes(stakes, p.shape[0])
    _rows(p.shape[1])
    result: Float64Array = _stake_weight(_gaussianize_rows(p), s)
    return result


def mmc(predictions: ArrayLike, meta: ArrayLike, targets: ArrayLike) -> float:
    """MMC: numerai-tools' ``correlation_contribution`` of one model against the meta model.

    ``meta`` is the meta model's value per row (as :func:`meta_model` gives it; it is ranked and
    gaussianized again here, as numerai-tools does). Constant predictions contribute 0; a constant
    meta model raises :class:`ValueError` (numerai-tools gives NaN).
    """
    p = _vector(predictions, "predictions")
    m = _vector(meta, "meta")
    t = _vector(targets, "targets")
    _rows(p.shape[0], ("meta", m.shape[0]), ("targets", t.shape[0]))
    if np.ptp(m) == 0:
        raise ValueError("the meta model is constant: MMC is undefined (numerai-tools gives NaN)")
    return float(_mmc_rows(_gaussianize_rows(p[None, :]), _gaussianize_rows(m[None, :])[0], _mmc_target(t))[0])


def score_round(predictions: ArrayLike, stakes: ArrayLike, targets: ArrayLike) -> tuple[Float64Array, Float64Array]:
    """CORR and MMC of every model of a round at once: ``(corr, mmc)``, each of shape (models,).

    ``predictions`` is (models, rows), ``stakes`` (models,), ``targets`` (rows,). The meta model is
    :func:`meta_model` of all the models; model i's scores equal
    ``numerai_corr(predictions[i], targets)`` and ``mmc(predictions[i], meta_model(predictions,
    stakes), targets)`` (up to rounding; in practice to the bit), but each model's predictions are
    ranked once and the orthogonalisation is one matrix product for all models.
    Raises :class:`ValueError` naming the models whose predictions are constant (CORR undefined).
    """
    p = _matrix(predictions, "predictions")
    s = _stakes(stakes, p.shape[0])
    t = _vector(targets, "targets")
    _rows(p.shape[1], ("targets", t.shape[0]))
    _refuse_constant(p)
    ranked = _rank(p)
    quantiles = ranked.quantiles()
    gauss = quantiles[ranked.codes]
    meta = _stake_weight(gauss, s)
    if np.ptp(meta) == 0:
        raise ValueError("the meta model is constant: MMC is undefined (numerai-tools gives NaN)")
    corr = _corr_rows(ranked, quantiles, _corr_target(t))
    contribution = _mmc_rows(gauss, _gaussianize_rows(meta[None, :])[0], _mmc_target(t))
    return corr, contribution


# --- payouts ----------------------------------------------------------------------------------


def payout_factor(total_at_risk: float, stake_threshold: float = STAKE_THRESHOLD) -> float:
    """``min(1, stake_threshold / total_at_risk)``: how much a round's payouts shrink when more is staked."""
    if not (np.isfinite(total_at_risk) and total_at_risk > 0):
        raise ValueError(f"the total stake at risk must be a positive number, got {total_at_risk}")
    if not (np.isfinite(stake_threshold) and stake_threshold > 0):
        raise ValueError(f"the stake threshold must be a positive number, got {stake_threshold}")
    return min(1.0, stake_threshold / total_at_risk)


def payout(
    stake: float, corr: float, mmc: float, total_at_risk: float, stake_threshold: float = STAKE_THRESHOLD
) -> float:
    """What a stake earns in a round: ``stake × clip(payout_factor × (0.5·CORR + 2·MMC), −0.05, 0.05)``.

    A negative result is the part of the stake burned. ``total_at_risk`` is the round's whole stake
    at risk, this stake included.
    """
    if not (np.isfinite(stake) and stake >= 0):
        raise ValueError(f"the stake must be a non-negative number, got {stake}")
    if not (np.isfinite(corr) and np.isfinite(mmc)):
        raise ValueError(f"the scores must be finite numbers, got corr={corr}, mmc={mmc}")
    if stake > total_at_risk:
        raise ValueError(f"a stake of {stake} exceeds the total at risk, {total_at_risk}, which includes it")
    factor = payout_factor(total_at_risk, stake_threshold)
    score = CORR_MULTIPLIER * corr + MMC_MULTIPLIER * mmc
    return float(stake * min(PAYOUT_CLIP, max(-PAYOUT_CLIP, factor * score)))
