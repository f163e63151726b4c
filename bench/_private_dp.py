"""Differential privacy's cost: OpenDP queries and DP-SGD against their plain anchors.

Helper of the private-compute benchmarks (:mod:`agora.data.privacy`).

* Queries: count, sum, mean and histogram (10 bins) of 10,000 uniform values in [0, 100] at
  ε = 1 through :func:`run_query` (OpenDP: clamp, aggregate, Laplace noise), the median of
  ``rounds`` runs each after a warm-up (OpenDP's import and first build excluded);
  ``dp_query_ms`` is the median over the four kinds. The anchor is numpy's plain aggregate on
  the same array (``plain_query_ms``); ``dp_query_mean_abs_error_ratio`` is the mean's median
  absolute error relative to its true value, to show what ε = 1 costs in accuracy.
* DP-SGD: an MLP 64-64-10 on sklearn's digits (1,437 training rows, 360 held out), features
  scaled by their declared range [0, 16], 10 epochs at (ε = 3, δ = 1e-5) with the PRV accountant
  (:func:`train_dp_sgd`); ``dp_sgd_epoch_s`` is the median epoch (the noise calibration excluded,
  ``dp_sgd_calibration_s`` is the time before the first epoch, including opacus' setup).
  The anchor trains the same MLP with plain SGD (same batches of 64, same learning rate, no
  clipping, no noise): ``plain_sgd_epoch_s`` and ``plain_sgd_accuracy``. Both on one torch
  thread (``torch_threads``).

Runnable on its own: ``python bench/_private_dp.py`` prints the figures as JSON.
"""

from __future__ import annotations

import json
import statistics
import time

import numpy as np

from agora.data.privacy import Query, run_query, train_dp_sgd

EPSILON_QUERY = 1.0
EPSILON_SGD = 3.0
DELTA_SGD = 1e-5
EPOCHS = 10


def _median_ms(fn: object, rounds: int) -> float:
    times = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        fn()  # type: ignore[operator]
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times)


def measure_queries(rounds: int = 20) -> dict[str, float]:
    """Median ms of each private query kind and of numpy's plain aggregates, and the mean's error."""
    values = np.random.default_rng(0).uniform(0, 100, 10_000)
    queries = {
        "count": Query("count", None, (0.0, 100.0), EPSILON_QUERY),
        "sum": Query("sum", None, (0.0, 100.0), EPSILON_QUERY),
        "mean": Query("mean", None, (0.0, 100.0), EPSILON_QUERY),
        "histogram": Query("histogram", None, (0.0, 100.0), EPSILON_QUERY, bins=10),
    }
    plain = {
        "count": lambda: len(values),
        "sum": lambda: np.clip(values, 0, 100).sum(),
        "mean": lambda: np.clip(values, 0, 100).mean(),
        "histogram": lambda: np.histogram(values, bins=10, range=(0, 100)),
    }
    figures: dict[str, float] = {}
    for kind, query in queries.items():
        run_query(values, query)  # warm-up
        figures[f"dp_query_{kind}_ms"] = _median_ms(lambda q=query: run_query(values, q), rounds)
        figures[f"plain_query_{kind}_ms"] = _median_ms(plain[kind], rounds)
    figures["dp_query_ms"] = statistics.median(figures[f"dp_query_{k}_ms"] for k in queries)
    figures["plain_query_ms"] = statistics.median(figures[f"plain_query_{k}_ms"] for k in queries)
    errors = [abs(float(run_query(values, queries["mean"]).value) - values.mean()) for _ in range(rounds)]  # type: ignore[arg-type]
    figures["dp_query_mean_abs_error_ratio"] = statistics.median(errors) / values.mean()
    return figures


def _plain_sgd(X: np.ndarray, y: np.ndarray, seed: int = 0) -> tuple[float, float]:
    """The anchor: the same MLP, split and batches, trained without privacy; (median epoch s, accuracy)."""
    import torch

    order = np.random.default_rng(seed).permutation(len(y))
    n_test = round(len(y) * 0.2)
    test, train = order[:n_test], order[n_test:]
    features = (X / 16.0).astype(np.float32)
    torch.manual_seed(seed)
    model = torch.nn.Sequential(torch.nn.Linear(64, 64), torch.nn.ReLU(), torch.nn.Linear(64, 10))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.5)
    loader = torch.utils.data.DataLoader(
        torch.utils.data.TensorDataset(torch.from_numpy(features[train]), torch.from_numpy(y[train].astype(np.int64))),
        batch_size=64, shuffle=True, generator=torch.Generator().manual_seed(seed),
    )
    epochs = []
    for _ in range(EPOCHS):
        t0 = time.perf_counter()
        for xb, yb in loader:
            optimizer.zero_grad()
            torch.nn.functional.cross_entropy(model(xb), yb).backward()
            optimizer.step()
        epochs.append(time.perf_counter() - t0)
    with torch.no_grad():
        accuracy = float((model(torch.from_numpy(features[test])).argmax(1).numpy() == y[test]).mean())
    return statistics.median(epochs), accuracy


def measure_dp_sgd() -> dict[str, float]:
    """DP-SGD on digits at ε = 3 against plain SGD: epoch times, accuracies, ε spent."""
    from sklearn.datasets import load_digits

    X, y = load_digits(return_X_y=True)
    marks: list[float] = []
    t0 = time.perf_counter()
    result = train_dp_sgd(
        X, y, epsilon=EPSILON_SGD, delta=DELTA_SGD, epochs=EPOCHS, max_grad_norm=1.0, feature_bounds=(0.0, 16.0),
        seed=0, on_epoch=lambda _: marks.append(time.perf_counter()),
    )
    starts = [t0, *marks[:-1]]
    plain_epoch_s, plain_accuracy = _plain_sgd(X, y)
    dp_epoch_s = statistics.median(b - a for a, b in zip(starts[1:], marks[1:], strict=True))
    return {
        "dp_sgd_epoch_s": dp_epoch_s,
        "dp_sgd_calibration_s": marks[0] - t0 - dp_epoch_s,
        "dp_sgd_total_s": marks[-1] - t0,
        "dp_sgd_accuracy_eps3": result.accuracy,
        "dp_sgd_epsilon_spent": result.epsilon_spent,
        "plain_sgd_epoch_s": plain_epoch_s,
        "plain_sgd_accuracy": plain_accuracy,
        "dp_sgd_vs_plain_epoch_ratio": dp_epoch_s / plain_epoch_s,
    }


def measure_dp(rounds: int = 20, torch_threads: int = 1) -> dict[str, float]:
    """Every differential-privacy figure: the queries' and DP-SGD's (see the module docstring).

    torch runs on ``torch_threads`` threads for both DP-SGD and its anchor: on a shared machine
    more threads than free cores make a small MLP's epochs many times slower, and noisier.
    """
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(torch_threads)
    try:
        return {**measure_queries(rounds), **measure_dp_sgd(), "torch_threads": torch_threads}
    finally:
        torch.set_num_threads(previous)


if __name__ == "__main__":
    print(json.dumps(measure_dp(), indent=2))
