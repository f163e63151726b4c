"""Tournament scoring (agora.value.tournament) against numerai-tools, the code Numerai scores with.

numerai-tools is a dev dependency (pinned in pyproject's ``dev`` extra); each score is compared
with its pandas implementation to 1e-9 (in practice they agree to about 1e-15): random rounds,
heavy ties, tiny rounds, and the cases where numerai-tools answers NaN and Agora raises. Then the
properties the incentives rest on: a copy of the crowd earns (almost) no MMC, an original signal
does, and a model betting against the target loses CORR and burns stake.
"""

from __future__ import annotations

import statistics
import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from numerai_tools import scoring as nt

from agora.value import tournament
from agora.value.tournament import (
    CORR_MULTIPLIER,
    MMC_MULTIPLIER,
    PAYOUT_CLIP,
    STAKE_THRESHOLD,
    gaussianize,
    meta_model,
    mmc,
    norm_ppf,
    numerai_corr,
    payout,
    payout_factor,
    score_round,
    tie_kept_rank,
)

TOL = 1e-9

# --- numerai-tools, on plain arrays -----------------------------------------------------------


def _frame(predictions: np.ndarray) -> pd.DataFrame:
    matrix = np.atleast_2d(predictions)
    return pd.DataFrame(matrix.T, columns=[f"m{i}" for i in range(matrix.shape[0])])


def _quiet(fn, *args):  # numerai-tools warns on the way to its NaNs; warnings are errors here
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fn(*args)


def ref_corr(predictions: np.ndarray, targets: np.ndarray) -> np.ndarray:
    return _quiet(nt.numerai_corr, _frame(predictions), pd.Series(targets, name="target")).to_numpy()


def ref_meta(predictions: np.ndarray, stakes: np.ndarray) -> np.ndarray:
    frame = _frame(predictions)
    cleaned = nt.gaussian(nt.tie_kept_rank(frame))  # Numerai's cleaning of each submission
    return nt.stake_weight(cleaned, pd.Series(stakes, index=frame.columns)).to_numpy()


def ref_mmc(predictions: np.ndarray, meta: np.ndarray, targets: np.ndarray) -> np.ndarray:
    args = (_frame(predictions), pd.Series(meta, name="meta"), pd.Series(targets, name="target"))
    return _quiet(nt.correlation_contribution, *args).to_numpy()


def _round(seed: int, models: int, rows: int, *, decimals: int | None = None, buckets: bool = True):
    """A synthetic round: targets on Numerai's 5 buckets (or continuous), models with some signal."""
    rng = np.random.default_rng(seed)
    latent = rng.normal(size=rows)
    if buckets:
        targets = np.digitize(latent + rng.normal(size=rows), [-1.5, -0.5, 0.5, 1.5]) / 4
    else:
        targets = latent + rng.normal(size=rows) * 3
    predictions = rng.normal(size=(models, rows)) + rng.uniform(-1, 1, size=(models, 1)) * latent
    if decimals is not None:
        predictions = np.round(predictions, decimals)
    stakes = rng.uniform(0, 1000, size=models)
    return predictions, stakes, targets


def _assert_round_matches(predictions: np.ndarray, stakes: np.ndarray, targets: np.ndarray) -> None:
    corr, contribution = score_round(predictions, stakes, targets)
    meta = meta_model(predictions, stakes)
    np.testing.assert_allclose(meta, ref_meta(predictions, stakes), rtol=0, atol=TOL)
    np.testing.assert_allclose(corr, ref_corr(predictions, targets), rtol=0, atol=TOL)
    np.testing.assert_allclose(contribution, ref_mmc(predictions, meta, targets), rtol=0, atol=TOL)
    # the batch is the per-model functions
    for i in range(predictions.shape[0]):
        assert numerai_corr(predictions[i], targets) == pytest.approx(corr[i], rel=1e-12, abs=1e-12)
        assert mmc(predictions[i], meta, targets) == pytest.approx(contribution[i], rel=1e-12, abs=1e-12)


# --- the normal quantile ----------------------------------------------------------------------


def test_norm_ppf_matches_the_standard_library_and_scipy() -> None:
    rng = np.random.default_rng(1)
    p = np.concatenate([rng.random(2000), [1e-300, 1e-100, 1e-20, 1e-10, 0.02425, 0.075, 0.5, 0.925, 1 - 1e-12]])
    p = np.concatenate([p, 1 - p[:50]])
    expected = np.array([statistics.NormalDist().inv_cdf(float(x)) for x in p])
    np.testing.assert_allclose(norm_ppf(p), expected, rtol=1e-15, atol=0)
    stats = pytest.importorskip("scipy.stats")
    np.testing.assert_allclose(norm_ppf(p), stats.norm.ppf(p), rtol=1e-14, atol=1e-15)


def test_norm_ppf_edges() -> None:
    assert norm_ppf([0.0, 0.5, 1.0]).tolist() == [-np.inf, 0.0, np.inf]
    assert norm_ppf(0.975) == pytest.approx(1.959963984540054, abs=1e-15)
    for bad in (-0.1, 1.1, np.nan):
        with pytest.raises(ValueError, match=r"\[0, 1\]"):
            norm_ppf([0.5, bad])


# --- ranks and gaussianization ----------------------------------------------------------------


@pytest.mark.parametrize(
    "values",
    [
        [0, 1, 2, 3, 4],
        [1, 0, 1, 0, 1],
        [3.0, 3.0, 3.0, 1.0],
        [0.0, -0.0, 0.5, -0.5, 1.0, -1.0, 2.0, -2.0],  # -0.0 ties with 0.0, as in pandas
        [1e-300, 2e-300, 1e300, -1e300],
        [7.0, 7.0],
        [5.0, 4.0],
    ],
)
def test_ranks_are_numerai_tools_ranks_to_the_bit(values: list[float]) -> None:
    x = np.array(values, dtype=float)
    frame = _frame(x)
    assert np.array_equal(tie_kept_rank(x), nt.tie_kept_rank(frame).to_numpy()[:, 0])
    np.testing.assert_allclose(gaussianize(x), nt.gaussian(nt.tie_kept_rank(frame)).to_numpy()[:, 0], atol=1e-15)


def test_ranks_of_a_matrix_are_per_row() -> None:
    x = np.array([[3.0, 1.0, 2.0], [1.0, 1.0, 0.0]])
    np.testing.assert_allclose(tie_kept_rank(x), [[5 / 6, 1 / 6, 3 / 6], [4 / 6, 4 / 6, 1 / 6]], atol=1e-15)
    np.testing.assert_array_equal(gaussianize(x)[1], gaussianize(x[1]))


# --- agreement on rounds ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("seed", "models", "rows", "decimals", "buckets"),
    [
        (0, 6, 500, None, True),
        (1, 4, 2_000, None, False),  # continuous targets: no ×4 in MMC
        (2, 5, 300, 1, True),  # many ties
        (3, 3, 200, 0, True),  # very many ties
        (4, 2, 3, None, True),
        (5, 3, 2, None, True),  # the smallest round
    ],
)
def test_round_matches_numerai_tools(seed: int, models: int, rows: int, decimals: int | None, buckets: bool) -> None:
    predictions, stakes, targets = _round(seed, models, rows, decimals=decimals, buckets=buckets)
    if rows == 2:
        predictions = np.array([[0.1, 0.9], [0.8, 0.2], [0.3, 0.4]])
        targets = np.array([0.25, 0.75])
    _assert_round_matches(predictions, stakes, targets)


def test_adversarial_predictions_match_numerai_tools() -> None:
    rows = 40
    rng = np.random.default_rng(7)
    targets = rng.integers(0, 5, rows) / 4
    predictions = np.array(
        [
            np.r_[np.zeros(rows - 1), 1.0],  # all tied but one
            np.r_[np.zeros(rows // 2), np.ones(rows // 2)],  # a coin
            np.arange(rows) * 1e-12,  # tiny steps
            np.arange(rows) * 1e12,  # huge steps
            -targets,  # against the target, with its ties
            targets,  # the target itself
            rng.permutation(rows).astype(float),
        ]
    )
    stakes = np.array([5.0, 0.0, 1.0, 2.0, 3.0, 0.5, 1.0])  # a zero stake counts for nothing
    _assert_round_matches(predictions, stakes, targets)
    corr, _ = score_round(predictions, stakes, targets)
    assert corr[5] > 0.99 and corr[4] < -0.99  # not ±1: gaussianizing reshapes the predictions


def test_large_targets_and_offsets_match_numerai_tools() -> None:
    predictions, stakes, _ = _round(8, 4, 300)
    targets = np.random.default_rng(8).normal(size=300) * 1e6 + 5e6
    _assert_round_matches(predictions, stakes, targets)


def test_a_meta_model_with_ties_matches_numerai_tools() -> None:
    # two models that rank every row in opposite orders, equally staked: a flat meta model but for
    # the ties the average makes
    rows = 10
    predictions = np.array([np.arange(rows, dtype=float), np.arange(rows, dtype=float)[::-1], np.r_[1.0, np.zeros(9)]])
    targets = np.arange(rows) / (rows - 1)
    meta = meta_model(predictions, [1.0, 1.0, 0.01])
    np.testing.assert_allclose(mmc(predictions[2], meta, targets), ref_mmc(predictions[2], meta, targets)[0], atol=TOL)


# --- NaN in numerai-tools, an error here ------------------------------------------------------


def test_constant_predictions_have_no_corr() -> None:
    targets = np.array([0.0, 0.25, 0.5, 0.75, 1.0])
    assert np.isnan(ref_corr(np.full(5, 0.5), targets)[0])
    with pytest.raises(ValueError, match="constant"):
        numerai_corr(np.full(5, 0.5), targets)
    predictions = np.array([[1.0, 2, 3, 4, 5], [0.5] * 5, [5.0, 4, 3, 2, 1]])
    with pytest.raises(ValueError, match=r"model\(s\) 1 are constant"):
        score_round(predictions, [1, 1, 1], targets)


def test_constant_predictions_contribute_nothing() -> None:
    targets = np.array([0.0, 0.25, 0.5, 0.75, 1.0])
    meta = np.array([0.1, 0.3, 0.2, 0.5, 0.4])
    assert mmc(np.full(5, 3.0), meta, targets) == ref_mmc(np.full(5, 3.0), meta, targets)[0] == 0.0


def test_a_constant_meta_model_has_no_mmc() -> None:
    targets = np.array([0.0, 0.25, 0.5, 0.75, 1.0])
    predictions = np.arange(5.0)
    assert np.isnan(ref_mmc(predictions, np.zeros(5), targets)[0])
    with pytest.raises(ValueError, match="meta model is constant"):
        mmc(predictions, np.zeros(5), targets)
    # the only staked model submitted a constant: the meta model is constant too
    with pytest.raises(ValueError, match="constant"):
        score_round(np.array([predictions, np.full(5, 1.0)]), [0.0, 1.0], targets)


def test_constant_targets_have_no_corr() -> None:
    with pytest.raises(ValueError, match="targets are constant"):
        numerai_corr(np.arange(5.0), np.full(5, 0.5))


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: numerai_corr([1.0], [0.5]), "at least 2 rows"),
        (lambda: numerai_corr([1.0, 2.0, 3.0], [0.5, 1.0]), "targets has 2 rows"),
        (lambda: numerai_corr([1.0, np.nan, 3.0], [0.5, 1.0, 0.0]), "finite"),
        (lambda: numerai_corr([1.0, 2.0], [0.5, np.inf]), "finite"),
        (lambda: numerai_corr([[1.0, 2.0]], [0.5, 1.0]), "one-dimensional"),
        (lambda: mmc([1.0, 2.0], [1.0, 2.0, 3.0], [0.0, 1.0]), "meta has 3 rows"),
        (lambda: meta_model([1.0, 2.0], [1.0]), "two-dimensional"),
        (lambda: meta_model([[1.0, 2.0]], [1.0, 2.0]), "2 stakes for 1 models"),
        (lambda: meta_model([[1.0, 2.0], [2.0, 1.0]], [1.0, -1.0]), "negative"),
        (lambda: meta_model([[1.0, 2.0], [2.0, 1.0]], [0.0, 0.0]), "add up to 0"),
        (lambda: score_round([[1.0, 2.0, 3.0]], [1.0], [0.0, 1.0]), "targets has 2 rows"),
    ],
)
def test_bad_inputs_are_refused(call, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        call()


def test_targets_too_skewed_for_the_power_check() -> None:
    # numerai-tools asserts that the 1.5 power keeps a correlation >= 0.9 with the centred target:
    # two clusters and one outlier a little way off fail it (0.8997)
    targets = np.r_[np.zeros(40), np.ones(40), 4.0]
    predictions = np.arange(targets.size, dtype=float)
    with pytest.raises(AssertionError):
        ref_corr(predictions, targets)
    with pytest.raises(ValueError, match="too skewed"):
        numerai_corr(predictions, targets)


def test_the_power_check_covers_predictions(monkeypatch: pytest.MonkeyPatch) -> None:
    # gaussianized ranks pass numerai-tools' 0.9 easily; a stricter bar shows the check runs, on
    # rows with ties (from their moments) and without
    tied = np.repeat([0.0, 1.0, 2.0, 3.0], [2, 45, 39, 3])
    gauss = gaussianize(tied)
    r = np.corrcoef(gauss, np.sign(gauss) * np.abs(gauss) ** 1.5)[0, 1]  # 0.954
    targets = np.linspace(0, 1, tied.size)
    monkeypatch.setattr(tournament, "_MIN_POW_CORR", r - 1e-9)
    numerai_corr(tied, targets)
    monkeypatch.setattr(tournament, "_MIN_POW_CORR", r + 1e-9)
    with pytest.raises(ValueError, match="too skewed"):
        numerai_corr(tied, targets)
    with pytest.raises(ValueError, match="too skewed"):
        score_round(np.array([np.arange(tied.size, dtype=float), tied]), [1.0, 1.0], targets)
    monkeypatch.setattr(tournament, "_MIN_POW_CORR", 0.999)
    with pytest.raises(ValueError, match="too skewed"):
        numerai_corr(np.arange(tied.size, dtype=float), targets)


# --- properties -------------------------------------------------------------------------------

_values = st.sampled_from([-2.0, -1.0, -0.5, 0.0, 0.25, 0.5, 1.0, 3.0])


@st.composite
def _rounds(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rows = draw(st.integers(2, 25))
    models = draw(st.integers(1, 4))
    predictions = np.array(
        draw(st.lists(st.lists(_values, min_size=rows, max_size=rows), min_size=models, max_size=models))
    )
    stakes = np.array(draw(st.lists(st.floats(0.5, 1000), min_size=models, max_size=models)))
    targets = np.array(draw(st.lists(st.sampled_from([0.0, 0.25, 0.5, 0.75, 1.0]), min_size=rows, max_size=rows)))
    return predictions, stakes, targets


@settings(max_examples=60, deadline=None)
@given(_rounds())
def test_any_small_round_matches_numerai_tools(round_: tuple[np.ndarray, np.ndarray, np.ndarray]) -> None:
    predictions, stakes, targets = round_
    try:
        expected_corr = ref_corr(predictions, targets)
    except AssertionError:  # numerai-tools' power check
        with pytest.raises(ValueError, match="too skewed"):
            score_round(predictions, stakes, targets)
        return
    meta = ref_meta(predictions, stakes)
    if np.isnan(expected_corr).any() or np.ptp(meta) == 0:
        with pytest.raises(ValueError, match="constant"):
            score_round(predictions, stakes, targets)
        return
    corr, contribution = score_round(predictions, stakes, targets)
    np.testing.assert_allclose(corr, expected_corr, rtol=0, atol=TOL)
    np.testing.assert_allclose(meta_model(predictions, stakes), meta, rtol=0, atol=TOL)
    np.testing.assert_allclose(contribution, ref_mmc(predictions, meta_model(predictions, stakes), targets), atol=TOL)


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(3, 200))
def test_scores_depend_on_the_order_of_predictions_only(seed: int, rows: int) -> None:
    predictions, stakes, targets = _round(seed, 3, rows, decimals=1, buckets=False)
    # rounded to one decimal, a short round can give a model the same prediction on every row:
    # CORR is undefined then, and score_round refuses it (tested on its own)
    assume(all(np.unique(p).size > 1 for p in predictions))
    corr, contribution = score_round(predictions, stakes, targets)
    assert np.all(np.abs(corr) <= 1)
    # a strictly increasing transform of any model changes nothing
    warped = predictions.copy()
    warped[0] = np.exp(warped[0]) * 7 - 3
    np.testing.assert_allclose(score_round(warped, stakes, targets), (corr, contribution), atol=1e-12)
    # nor does shuffling the rows of the round, or the order of the models
    rows_order = np.random.default_rng(seed).permutation(rows)
    shuffled = score_round(predictions[:, rows_order], stakes, targets[rows_order])
    np.testing.assert_allclose(shuffled, (corr, contribution), atol=1e-12)
    models_order = [2, 0, 1]
    reordered = score_round(predictions[models_order], stakes[models_order], targets)
    np.testing.assert_allclose(reordered, (corr[models_order], contribution[models_order]), atol=1e-12)
    # scaling every stake changes nothing either
    np.testing.assert_allclose(score_round(predictions, stakes * 3.5, targets), (corr, contribution), atol=1e-12)


# --- what the incentives rest on --------------------------------------------------------------


def _crowd(rows: int = 5_000):
    """A round whose target has two independent sources of signal: the crowd sees one, one model
    the other."""
    rng = np.random.default_rng(42)
    seen_by_crowd, unique = rng.normal(size=rows), rng.normal(size=rows)
    targets = np.digitize(seen_by_crowd + unique + 4 * rng.normal(size=rows), [-6.0, -2.0, 2.0, 6.0]) / 4
    dominant = seen_by_crowd + rng.normal(size=rows) * 0.5
    models = {
        "dominant": (dominant, 5_000.0),
        "crowd": (seen_by_crowd + rng.normal(size=rows) * 0.5, 1_000.0),
        "original": (unique + rng.normal(size=rows) * 0.5, 100.0),
        "copycat": (dominant.copy(), 100.0),
        "anti": (-(seen_by_crowd + unique), 100.0),
    }
    names = list(models)
    predictions = np.array([models[name][0] for name in names])
    stakes = np.array([models[name][1] for name in names])
    return names, predictions, stakes, targets


def test_copying_the_crowd_earns_little_mmc_and_originality_earns_more() -> None:
    names, predictions, stakes, targets = _crowd()
    corr, contribution = score_round(predictions, stakes, targets)
    score = dict(zip(names, zip(corr, contribution, strict=True), strict=True))
    # the copycat's CORR is the dominant model's, but it adds nothing to the meta model
    assert score["copycat"][0] == pytest.approx(score["dominant"][0], abs=1e-12)
    assert score["copycat"][0] > 0.1
    assert score["original"][1] > 0.1
    assert abs(score["copycat"][1]) < 0.1 * score["original"][1]
    # submitting the meta model itself earns no MMC at all, however good its CORR
    meta = meta_model(predictions, stakes)
    assert numerai_corr(meta, targets) > 0.1
    assert mmc(meta, meta, targets) == pytest.approx(0.0, abs=1e-12)
    assert ref_mmc(meta, meta, targets)[0] == pytest.approx(0.0, abs=1e-12)
    # at the same stake, the original model earns more than the copycat (with 7.2M NMR at risk,
    # so that the 5% clip does not hide the difference)
    original, copycat = (payout(100.0, *score[name], 7_200_000.0) for name in ("original", "copycat"))
    assert original > 2 * copycat > 0


def test_betting_against_the_target_burns_stake() -> None:
    names, predictions, stakes, targets = _crowd()
    corr, contribution = score_round(predictions, stakes, targets)
    anti = names.index("anti")
    assert corr[anti] < -0.2 and contribution[anti] < 0
    burned = payout(100.0, corr[anti], contribution[anti], stakes.sum())
    assert burned == pytest.approx(-PAYOUT_CLIP * 100.0)  # the clip: at most 5% burned per round


# --- payouts ----------------------------------------------------------------------------------


def test_payout_formula() -> None:
    assert (CORR_MULTIPLIER, MMC_MULTIPLIER, PAYOUT_CLIP, STAKE_THRESHOLD) == (0.5, 2.0, 0.05, 72_000.0)
    # the research note's hand-checked cases: 100 × (0.5·0.02 + 2·0.01) = 3.0, halved at 144k at risk
    assert payout(100.0, 0.02, 0.01, 50_000.0) == pytest.approx(3.0)
    assert payout(100.0, 0.02, 0.01, 144_000.0) == pytest.approx(1.5)
    assert payout(100.0, -0.02, -0.01, 50_000.0) == pytest.approx(-3.0)
    assert payout(100.0, 0.02, -0.005, 50_000.0) == pytest.approx(0.0)
    assert payout(0.0, 0.5, 0.5, 1.0) == 0.0


def test_payout_is_clipped_at_five_percent() -> None:
    assert payout(1_000.0, 0.2, 0.05, 10_000.0) == pytest.approx(50.0)
    assert payout(1_000.0, -0.2, -0.05, 10_000.0) == pytest.approx(-50.0)
    # the factor applies before the clip: at 720k at risk a 0.2 score pays 0.02, not 0.05
    assert payout(1_000.0, 0.2, 0.05, 720_000.0) == pytest.approx(1_000.0 * 0.1 * 0.2)


def test_payout_factor() -> None:
    assert payout_factor(1_000.0) == 1.0
    assert payout_factor(72_000.0) == 1.0
    assert payout_factor(144_000.0) == 0.5
    assert payout_factor(20_000.0, stake_threshold=10_000.0) == 0.5  # Numerai Crypto's threshold
    assert payout(100.0, 0.02, 0.01, 20_000.0, stake_threshold=10_000.0) == pytest.approx(1.5)


@settings(max_examples=200, deadline=None)
@given(
    st.floats(0, 1e6),
    st.floats(-1, 1),
    st.floats(-0.5, 0.5),
    st.floats(1, 1e9),
)
def test_payout_never_exceeds_five_percent(stake: float, corr: float, contribution: float, others: float) -> None:
    total = stake + others
    paid = payout(stake, corr, contribution, total)
    assert abs(paid) <= PAYOUT_CLIP * stake * (1 + 1e-12)
    assert np.sign(paid) in (0.0, np.sign(0.5 * corr + 2 * contribution))
    expected = stake * np.clip(min(1.0, STAKE_THRESHOLD / total) * (0.5 * corr + 2 * contribution), -0.05, 0.05)
    assert paid == pytest.approx(expected, rel=1e-12, abs=1e-12)


@pytest.mark.parametrize(
    ("args", "match"),
    [
        ((-1.0, 0.0, 0.0, 10.0), "stake"),
        ((np.nan, 0.0, 0.0, 10.0), "stake"),
        ((1.0, np.nan, 0.0, 10.0), "finite"),
        ((1.0, 0.0, np.inf, 10.0), "finite"),
        ((1.0, 0.0, 0.0, 0.0), "exceeds"),
        ((0.0, 0.0, 0.0, 0.0), "positive"),
        ((11.0, 0.0, 0.0, 10.0), "exceeds"),
    ],
)
def test_bad_payout_inputs_are_refused(args: tuple[float, float, float, float], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        payout(*args)
    with pytest.raises(ValueError, match="threshold"):
        payout_factor(10.0, stake_threshold=0.0)
