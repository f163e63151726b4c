"""Differential privacy in the data layer: the ε ledger, OpenDP queries, DP-SGD with opacus.

Query noise comes from OpenDP's unseedable cryptographic RNG, so every statistical assertion
below has a failure probability far below 1e-9 (stated next to it); DP-SGD is seeded.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from agora.data.privacy import (
    MICRO,
    BudgetExceeded,
    PrivacyLedger,
    Query,
    run_query,
    to_micro_epsilon,
    train_dp_sgd,
)
from agora.errors import AgoraError, ConfigError


@pytest.fixture
def ledger(tmp_path: Path) -> Iterator[PrivacyLedger]:
    with PrivacyLedger(tmp_path / "node") as ledger:
        yield ledger


# --- the ledger ---------------------------------------------------------------------------


def test_micro_epsilon_rounds_up() -> None:
    assert to_micro_epsilon(1.0) == MICRO
    assert to_micro_epsilon(0.1) == 100_000  # not 100_001 from 0.1's binary error
    assert to_micro_epsilon(1e-7) == 1
    assert to_micro_epsilon(0.0000015) == 2
    for bad in (0, -1.0, math.inf, math.nan):
        with pytest.raises(ConfigError):
            to_micro_epsilon(bad)


def test_budget_accounting(ledger: PrivacyLedger) -> None:
    budget = ledger.set_budget(7, 3.0, delta=1e-5)
    assert (budget.dataset, budget.epsilon_micro, budget.delta, budget.remaining) == ("7", 3 * MICRO, 1e-5, 3.0)
    first = ledger.reserve(7, "job-a", 1.0)
    assert ledger.remaining(7) == pytest.approx(2.0)
    assert ledger.get_budget(7).reserved_micro == MICRO
    spend = first.commit()
    assert (spend.state, spend.epsilon_micro, spend.seq) == ("committed", MICRO, 1)
    second = ledger.reserve("7", "job-b", 0.5, delta=1e-6)
    assert second.release().state == "released"
    assert ledger.remaining(7) == pytest.approx(2.0)
    ledger.reserve(7, "job-c", 1.5).commit(epsilon=1.25)  # spent less than reserved: the rest comes back
    budget = ledger.get_budget(7)
    assert (budget.committed_micro, budget.reserved_micro, budget.remaining_micro) == (2_250_000, 0, 750_000)
    assert [s.job_id for s in ledger.get_spends(7)] == ["job-a", "job-b", "job-c"]
    assert [s.to_chain_record() for s in ledger.get_committed_since(0)] == [
        {"dataset_id": "7", "job_id": "job-a", "epsilon_micro": MICRO},
        {"dataset_id": "7", "job_id": "job-c", "epsilon_micro": 1_250_000},
    ]
    assert [s.job_id for s in ledger.get_committed_since(1)] == ["job-c"]


def test_refusal_before_running(ledger: PrivacyLedger) -> None:
    ledger.set_budget(1, 1.0, delta=1e-5)
    ledger.reserve(1, "big", 0.8).commit()
    ran = []
    with pytest.raises(BudgetExceeded, match=r"job small needs ε=0.5 of dataset 1, but only ε=0.2 of its ε=1 is left"):
        with ledger.spend(1, "small", 0.5):
            ran.append(True)
    assert ran == []
    assert isinstance(BudgetExceeded("x"), ConfigError) and isinstance(BudgetExceeded("x"), AgoraError)
    assert "\n" not in str(BudgetExceeded("x", hint="y"))
    with pytest.raises(BudgetExceeded, match="δ"):
        ledger.reserve(1, "delta-hungry", 0.1, delta=1e-4)
    ledger.reserve(1, "exact", 0.2).commit()  # the whole rest is allowed
    assert ledger.remaining(1) == 0
    with pytest.raises(BudgetExceeded):
        ledger.reserve(1, "one-more", 1e-6)


def test_errors_are_one_clear_line(ledger: PrivacyLedger) -> None:
    with pytest.raises(ConfigError, match="dataset 9 has no privacy budget; set one"):
        ledger.reserve(9, "j", 1.0)
    with pytest.raises(ConfigError, match="no privacy budget"):
        ledger.remaining(9)
    ledger.set_budget(9, 1.0)
    with pytest.raises(ConfigError, match="holds no privacy budget"):
        ledger.commit(9, "never")
    with pytest.raises(ConfigError, match="job id"):
        ledger.reserve(9, "", 0.1)
    with pytest.raises(ConfigError):
        ledger.set_budget(9, 1.0, delta=1.5)
    ledger.reserve(9, "j", 0.6)
    with pytest.raises(ConfigError, match="would be below it"):
        ledger.set_budget(9, 0.5)
    with pytest.raises(ConfigError, match="reserved only"):
        ledger.commit(9, "j", epsilon=0.7)
    ledger.commit(9, "j")
    with pytest.raises(ConfigError, match="cannot be given back"):
        ledger.release(9, "j")
    assert ledger.set_budget(9, 2.0).remaining == pytest.approx(1.4)


def test_the_same_job_spends_once(ledger: PrivacyLedger) -> None:
    ledger.set_budget("d", 1.0)
    first = ledger.reserve("d", "order-0x01", 0.6)
    again = ledger.reserve("d", "order-0x01", 0.6)
    assert again == first
    assert ledger.remaining("d") == pytest.approx(0.4)
    assert ledger.commit("d", "order-0x01") == ledger.commit("d", "order-0x01")
    retry = ledger.reserve("d", "order-0x01", 0.6)  # committed: the same spend, marked so the job is not rerun
    assert (retry.epsilon, retry.state, first.state) == (pytest.approx(0.6), "committed", "reserved")
    assert ledger.remaining("d") == pytest.approx(0.4)
    assert len(ledger.get_committed_since()) == 1
    second = ledger.reserve("d", "other", 0.3)
    with pytest.raises(ConfigError, match="already holds"):
        ledger.reserve("d", "other", 0.2)
    second.release()
    assert second.release().state == "released"  # idempotent
    assert ledger.reserve("d", "other", 0.2).epsilon == pytest.approx(0.2)  # released: may reserve again


def test_a_failed_job_releases_and_a_finished_one_commits(ledger: PrivacyLedger) -> None:
    ledger.set_budget(3, 2.0)
    with pytest.raises(RuntimeError):
        with ledger.spend(3, "crashes", 1.5):
            raise RuntimeError("the job died")
    assert ledger.get_spend(3, "crashes").state == "released"
    assert ledger.remaining(3) == pytest.approx(2.0)
    with ledger.spend(3, "finishes", 1.5) as reservation:
        assert reservation.epsilon == pytest.approx(1.5)
    assert ledger.get_spend(3, "finishes").state == "committed"
    assert ledger.remaining(3) == pytest.approx(0.5)


def test_stale_reservations(tmp_path: Path) -> None:
    now = [1000.0]
    ledger = PrivacyLedger(tmp_path, clock=lambda: now[0])
    ledger.set_budget(1, 1.0)
    ledger.reserve(1, "killed", 0.7)
    now[0] += 30
    ledger.reserve(1, "running", 0.3)
    assert ledger.release_stale(60) == []
    now[0] += 40
    assert [s.job_id for s in ledger.release_stale(60)] == ["killed"]
    assert ledger.remaining(1) == pytest.approx(0.7)
    ledger.close()
    ledger.close()


def test_survives_restart(tmp_path: Path) -> None:
    with PrivacyLedger(tmp_path) as ledger:
        ledger.set_budget(5, 2.0, delta=1e-5)
        ledger.reserve(5, "done", 1.0, delta=5e-6).commit()
        ledger.reserve(5, "in-flight", 0.5)
    with PrivacyLedger(tmp_path) as reopened:
        budget = reopened.get_budget(5)
        assert (budget.committed_micro, budget.reserved_micro, budget.delta_used) == (MICRO, 500_000, 5e-6)
        assert reopened.reserve(5, "done", 1.0, delta=5e-6).epsilon == 1.0  # still spent once
        with pytest.raises(BudgetExceeded):
            reopened.reserve(5, "new", 0.6)
        reopened.commit(5, "in-flight")
        assert reopened.remaining(5) == pytest.approx(0.5)
        assert [s.seq for s in reopened.get_committed_since()] == [1, 2]


@pytest.mark.parametrize("shared", [True, False], ids=["one-ledger", "a-ledger-each"])
def test_threads_racing_for_the_last_budget(tmp_path: Path, shared: bool) -> None:
    """Eight threads each ask for 0.3 of 1.0 at once: exactly three get it, whatever the interleaving."""
    PrivacyLedger(tmp_path).set_budget(1, 1.0)
    common = PrivacyLedger(tmp_path)
    start = threading.Barrier(8)
    outcomes: dict[int, str] = {}

    def job(i: int) -> None:
        ledger = common if shared else PrivacyLedger(tmp_path)
        start.wait()
        try:
            ledger.reserve(1, f"job-{i}", 0.3).commit()
            outcomes[i] = "spent"
        except BudgetExceeded:
            outcomes[i] = "refused"

    threads = [threading.Thread(target=job, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes.values()) == ["refused"] * 5 + ["spent"] * 3
    assert common.get_budget(1).committed_micro == 900_000


def test_two_threads_that_together_exceed(tmp_path: Path) -> None:
    PrivacyLedger(tmp_path).set_budget(1, 1.0)
    start = threading.Barrier(2)
    outcomes: list[str] = []

    def job(name: str) -> None:
        ledger = PrivacyLedger(tmp_path)
        start.wait()
        try:
            ledger.reserve(1, name, 0.6)
            outcomes.append("reserved")
        except BudgetExceeded:
            outcomes.append("refused")

    threads = [threading.Thread(target=job, args=(n,)) for n in ("a", "b")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["refused", "reserved"]


# --- OpenDP queries -------------------------------------------------------------------------

VALUES = np.random.default_rng(0).uniform(0, 100, 2_000)


def test_queries_are_close_to_the_truth_for_a_large_epsilon() -> None:
    eps = 1000.0
    count = run_query(VALUES, Query("count", None, (0.0, 100.0), eps))
    # discrete Laplace of scale 1/1000: |noise| ≥ 1 with probability ≈ 2e-434
    assert count.value == 2000 and count.epsilon <= eps and count.mechanism == "discrete laplace"
    total = run_query(VALUES, Query("sum", None, (0.0, 100.0), eps))
    # Laplace of scale 100/1000: |noise| > 5 with probability e^-50
    assert abs(total.value - VALUES.sum()) < 5 and total.epsilon <= eps
    mean = run_query(VALUES, Query("mean", None, (0.0, 100.0), eps))
    assert abs(mean.value - VALUES.mean()) < 0.01 and mean.epsilon <= eps
    hist = run_query(VALUES, Query("histogram", None, (0.0, 100.0), eps, bins=4))
    truth = np.histogram(VALUES, bins=4, range=(0, 100))[0].tolist()
    assert hist.value == truth and hist.edges == [0.0, 25.0, 50.0, 75.0, 100.0]
    assert hist.epsilon <= eps and hist.epsilon_micro == to_micro_epsilon(hist.epsilon)


def test_queries_are_noisy_for_a_small_epsilon() -> None:
    eps = 0.01
    counts = [run_query(VALUES, Query("count", None, (0.0, 100.0), eps)).value for _ in range(10)]
    # discrete Laplace of scale 100: P(noise = 0) ≈ 0.005, so ten exact answers ≈ 1e-23
    assert any(c != 2000 for c in counts)
    assert len(set(counts)) > 1
    sums = [run_query(VALUES, Query("sum", None, (0.0, 100.0), eps)).value for _ in range(10)]
    # Laplace of scale 10,000: all ten within 10 of the truth with probability (1e-3)^10
    assert max(abs(s - VALUES.sum()) for s in sums) > 10
    # and not absurd: |noise| > 2e6 (200 scales) with probability e^-200 each
    assert max(abs(s - VALUES.sum()) for s in sums) < 2e6
    hist = run_query(VALUES, Query("histogram", None, (0.0, 100.0), eps, bins=4))
    assert hist.value != np.histogram(VALUES, bins=4, range=(0, 100))[0].tolist()


def test_a_query_spends_at_most_its_epsilon() -> None:
    for kind in ("count", "sum", "mean", "histogram"):
        result = run_query(VALUES, Query(kind, None, (0.0, 100.0), 0.5, bins=3 if kind == "histogram" else None))
        assert 0.49 <= result.epsilon <= 0.5, kind


def test_values_outside_the_bounds_are_clamped() -> None:
    result = run_query([-50.0, 150.0, 20.0], Query("sum", None, (0.0, 100.0), 1000.0))
    assert abs(result.value - 120.0) < 5
    mean = run_query([500.0] * 100, Query("mean", None, (0.0, 10.0), 1000.0))
    assert mean.value == pytest.approx(10.0, abs=0.1)


def test_queries_on_a_csv_column(tmp_path: Path) -> None:
    path = tmp_path / "patients.csv"
    rows = ["age,weight"] + [f"{20 + i % 50},{60 + i % 30}" for i in range(500)]
    path.write_text("\n".join(rows) + "\n")
    ages = np.array([20 + i % 50 for i in range(500)], dtype=float)
    result = run_query(path, Query("mean", "age", (0.0, 120.0), 1000.0))
    assert abs(result.value - ages.mean()) < 0.1
    result = run_query(str(path), Query("histogram", "weight", (60.0, 90.0), 1000.0, bins=3))
    assert result.value == [170, 170, 160]
    with pytest.raises(ConfigError, match="has no column 'height'; its columns: age, weight"):
        run_query(path, Query("count", "height", (0.0, 1.0), 1.0))
    path.write_text("age\n20\n\n30\nabc\n")
    with pytest.raises(ConfigError, match=r"patients.csv:5: 'age' is 'abc', not a number"):
        run_query(path, Query("count", "age", (0.0, 1.0), 1.0))
    with pytest.raises(ConfigError, match="no CSV file"):
        run_query(tmp_path / "missing.csv", Query("count", "age", (0.0, 1.0), 1.0))


def test_a_2d_array_by_column_index() -> None:
    data = np.column_stack([np.zeros(100), np.full(100, 5.0)])
    assert run_query(data, Query("mean", 1, (0.0, 10.0), 1000.0)).value == pytest.approx(5.0, abs=0.05)
    with pytest.raises(ConfigError, match="column index below 2"):
        run_query(data, Query("mean", 2, (0.0, 10.0), 1.0))
    with pytest.raises(ConfigError, match="NaN"):
        run_query([1.0, float("nan")], Query("count", None, (0.0, 1.0), 1.0))


@pytest.mark.parametrize(
    ("query", "message"),
    [
        (Query("median", None, (0.0, 1.0), 1.0), "unknown query kind"),  # type: ignore[arg-type]
        (Query("sum", None, (1.0, 0.0), 1.0), "lower < upper"),
        (Query("sum", None, (0.0, math.inf), 1.0), "finite"),
        (Query("sum", None, (0.0, 1.0), 0.0), "ε must be"),
        (Query("histogram", None, (0.0, 1.0), 1.0), "needs bins"),
        (Query("count", None, (0.0, 1.0), 1.0, bins=3), "histograms only"),
    ],
)
def test_malformed_queries_are_refused(query: Query, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        run_query(VALUES, query)


def test_a_query_under_the_ledger(ledger: PrivacyLedger) -> None:
    ledger.set_budget(4, 1.0)
    query = Query("count", None, (0.0, 100.0), 0.6)
    with ledger.spend(4, "q1", query.epsilon) as reservation:
        result = run_query(VALUES, query)
        reservation.commit(result.epsilon)
    assert ledger.get_spend(4, "q1").epsilon_micro == result.epsilon_micro
    with pytest.raises(BudgetExceeded):
        with ledger.spend(4, "q2", query.epsilon):
            pytest.fail("the query ran past its budget")


# --- DP-SGD (opacus) ------------------------------------------------------------------------


def test_dp_sgd_on_digits_at_epsilon_3() -> None:
    from sklearn.datasets import load_digits

    X, y = load_digits(return_X_y=True)
    state, accuracy, epsilon = train_dp_sgd(
        X, y, epsilon=3.0, delta=1e-5, epochs=10, max_grad_norm=1.0, feature_bounds=(0.0, 16.0), seed=0,
    )
    assert epsilon <= 3.0 and epsilon > 2.5
    assert accuracy >= 0.8  # ≈ 0.89 with this seed; non-private ≈ 0.97
    assert sorted(state) == ["0.bias", "0.weight", "2.bias", "2.weight"]
    assert tuple(state["0.weight"].shape) == (64, 64)


def test_dp_sgd_rdp_accountant_and_breast_cancer() -> None:
    from sklearn.datasets import load_breast_cancer

    X, y = load_breast_cancer(return_X_y=True)
    # declared per-feature bounds (public: here the dataset's documented ranges, rounded outwards)
    bounds = (np.floor(X.min(axis=0)), np.ceil(X.max(axis=0)))
    options = dict(epsilon=3.0, delta=1e-5, epochs=5, feature_bounds=bounds, hidden=(16,), batch_size=32,
                   learning_rate=0.5, accountant="rdp", seed=1)
    result = train_dp_sgd(X, y, **options)
    assert result.epsilon_spent <= 3.0
    assert result.accuracy >= 0.6  # the majority class is 0.63: better than nothing is all we hold it to
    assert tuple(result.model_state["2.weight"].shape) == (2, 16)
    again = train_dp_sgd(X, y, **options)
    assert again.accuracy == result.accuracy  # seeded: the same split, initial weights, batches and noise
    assert all(bool((again.model_state[k] == v).all()) for k, v in result.model_state.items())


def test_dp_sgd_refuses_bad_arguments() -> None:
    X, y = np.zeros((10, 2)), np.zeros(10)
    with pytest.raises(ConfigError, match="δ > 0"):
        train_dp_sgd(X, y, epsilon=1.0, delta=0.0, epochs=1)
    with pytest.raises(ConfigError, match="epochs"):
        train_dp_sgd(X, y, epsilon=1.0, delta=1e-5, epochs=0)
    with pytest.raises(ConfigError, match="one label per row"):
        train_dp_sgd(X, y[:5], epsilon=1.0, delta=1e-5, epochs=1)
    with pytest.raises(ConfigError, match="labels must be"):
        train_dp_sgd(X, y - 1, epsilon=1.0, delta=1e-5, epochs=1)
