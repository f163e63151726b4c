"""Tournament scoring's cost: a Numerai-sized round scored at once, against numerai-tools per model.

Helper of the incentives benchmarks (:mod:`agora.value.tournament`).

* ``scoring_ms_10000_rows_50_models``: :func:`score_round` (CORR and MMC of every model against
  the stake-weighted meta model) on 10,000 rows × 50 models, the median of ``rounds`` runs after a
  warm-up. The round is synthetic: targets on Numerai's 5 buckets, each model a noisy view of the
  signal with its predictions rounded to 3 decimals (so that ties occur), stakes uniform in [0, 1000).
* ``anchor_numerai_tools_scoring_ms_10000_rows_50_models`` (only where numerai-tools is installed,
  as the ``dev`` extra installs it): the same work through numerai-tools, the code Numerai scores
  with, called per model as a scorer of one submission at a time would (``numerai_corr`` and
  ``correlation_contribution`` against the same meta model), measured in the same run; the bench
  asserts that both give the same scores (to 1e-9) before timing them.

Runnable on its own: ``python bench/_incentives_scoring.py`` prints the figures as JSON.
"""

from __future__ import annotations

import json
import statistics
import time
from collections.abc import Callable

import numpy as np

from agora.value.tournament import meta_model, score_round

ROWS = 10_000
MODELS = 50


def _median_ms(fn: Callable[[], object], rounds: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times)


def synthetic_round(rows: int = ROWS, models: int = MODELS, seed: int = 0) -> tuple[np.ndarray, ...]:
    """(predictions (models, rows), stakes (models,), targets (rows,)) of a synthetic round."""
    rng = np.random.default_rng(seed)
    signal = rng.normal(size=rows)
    targets = np.digitize(signal + 3 * rng.normal(size=rows), [-4.5, -1.5, 1.5, 4.5]) / 4
    predictions = np.round(signal * rng.uniform(0, 1, size=(models, 1)) + rng.normal(size=(models, rows)), 3)
    stakes = rng.uniform(0, 1000, size=models)
    return predictions, stakes, targets


Scores = tuple[np.ndarray, np.ndarray, np.ndarray]


def _numerai_tools_scorer(predictions: np.ndarray, stakes: np.ndarray, targets: np.ndarray) -> Callable[[], Scores]:
    """numerai-tools doing score_round's work, one model at a time: () -> (corr, mmc, meta model).

    Raises ImportError where numerai-tools is not installed.
    """
    import pandas as pd
    from numerai_tools import scoring

    frames = [pd.DataFrame({f"model_{i}": row}) for i, row in enumerate(predictions)]
    target = pd.Series(targets, name="target")
    stake = pd.Series(stakes, index=[f"model_{i}" for i in range(len(stakes))])

    def run() -> Scores:
        cleaned = pd.concat([scoring.gaussian(scoring.tie_kept_rank(frame)) for frame in frames], axis=1)
        meta = scoring.stake_weight(cleaned, stake).rename("meta")
        corr = [scoring.numerai_corr(frame, target).iloc[0] for frame in frames]
        mmc = [scoring.correlation_contribution(frame, meta, target).iloc[0] for frame in frames]
        return np.array(corr), np.array(mmc), meta.to_numpy()

    return run


def measure(rounds: int = 7) -> dict[str, float]:
    """Median ms of scoring a 10,000-row, 50-model round, and of numerai-tools doing the same."""
    predictions, stakes, targets = synthetic_round()
    figures = {"scoring_ms_10000_rows_50_models": _median_ms(lambda: score_round(predictions, stakes, targets), rounds)}
    try:
        anchor = _numerai_tools_scorer(predictions, stakes, targets)
    except ImportError:
        return figures
    corr, mmc = score_round(predictions, stakes, targets)
    expected_corr, expected_mmc, expected_meta = anchor()
    assert np.allclose(meta_model(predictions, stakes), expected_meta, rtol=0, atol=1e-9)
    assert np.allclose(corr, expected_corr, rtol=0, atol=1e-9), np.abs(corr - expected_corr).max()
    assert np.allclose(mmc, expected_mmc, rtol=0, atol=1e-9), np.abs(mmc - expected_mmc).max()
    figures["anchor_numerai_tools_scoring_ms_10000_rows_50_models"] = _median_ms(anchor, max(3, rounds // 2))
    return figures


if __name__ == "__main__":
    print(json.dumps(measure(), indent=2))
