"""Differential privacy for the data layer: a durable ε budget per dataset, private queries, DP-SGD.

* :class:`PrivacyLedger` — the data holder's node keeps, per dataset, a total ε (and δ) in
  ``<home>/privacy.db`` and records every job's spend under its job (or order) id. A job
  **reserves** its ε before it runs — refused with :class:`BudgetExceeded` when the reservation
  would overrun the budget — then **commits** it when its result is released, or **releases** it
  when it failed before releasing anything. The same job id spends once. ε is kept as an integer
  in micro-ε (rounded up), the unit a chain record carries.
* :func:`run_query` — count, sum, mean and histogram of one numeric column (a CSV file or a numpy
  array) with declared bounds, through OpenDP's measurements (Laplace noise, the discrete one on
  counts), each calibrated so that OpenDP's own privacy map proves it spends at most the query's ε.
* :func:`train_dp_sgd` — a small MLP trained with DP-SGD by opacus, its noise chosen by
  ``make_private_with_epsilon`` to reach a target (ε, δ) after the given epochs; returns the
  weights, the accuracy on a holdout and the ε its accountant reports.

The privacy unit is one row: neighbouring datasets differ by adding or removing one row
(OpenDP's symmetric distance 1; opacus' per-sample clipping). See ``docs/privacy.md``.

OpenDP and torch/opacus are imported on first use, so importing this module stays light.
"""

from __future__ import annotations

import csv
import math
import sqlite3
import threading
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, NamedTuple

import numpy as np

from agora.data.services import MICRO, epsilon_to_micro
from agora.errors import AgoraError, ConfigError
from agora.storage.state import immediate_transaction, open_state_db

if TYPE_CHECKING:
    from numpy.typing import ArrayLike, NDArray

__all__ = [
    "MICRO",
    "QUERY_KINDS",
    "Budget",
    "BudgetExceeded",
    "DPTrainingResult",
    "PrivacyLedger",
    "Query",
    "QueryResult",
    "Reservation",
    "Spend",
    "gaussian_steps_epsilon",
    "load_column",
    "run_query",
    "to_micro_epsilon",
    "train_dp_sgd",
]

#: The kinds of aggregate query :func:`run_query` answers.
QUERY_KINDS = ("count", "sum", "mean", "histogram")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS budgets (
    dataset TEXT PRIMARY KEY,
    epsilon_micro INTEGER NOT NULL,
    delta REAL NOT NULL,
    created_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS spends (
    dataset TEXT NOT NULL,
    job_id TEXT NOT NULL,
    epsilon_micro INTEGER NOT NULL,
    delta REAL NOT NULL,
    state TEXT NOT NULL,
    reserved_at REAL NOT NULL,
    finished_at REAL,
    seq INTEGER UNIQUE,
    PRIMARY KEY (dataset, job_id)
);
"""
# a spend in one of these states counts against the budget
_COUNTED = ("reserved", "committed")
# δ is summed as a float: allow for its rounding, never for a real overrun
_DELTA_SLACK = 1e-12


class BudgetExceeded(ConfigError):
    """A job asked for more ε (or δ) than its dataset's budget has left; nothing was run."""


def gaussian_steps_epsilon(steps: int, noise_multiplier: float, delta: float) -> float:
    """ε after ``steps`` full-batch Gaussian mechanisms of noise multiplier σ (sensitivity 1 after
    clipping): each is 1/(2σ²)-zCDP, zCDP adds up, and ρ-zCDP is (ρ + 2√(ρ ln(1/δ)), δ)-DP (Bun &
    Steinke 2016). The same accountant as the Flower app's (``flower/agora_fl``), which logs it."""
    if steps < 0 or noise_multiplier <= 0 or not 0 < delta < 1:
        raise ConfigError("steps >= 0, a noise multiplier > 0 and 0 < delta < 1, please")
    rho = steps / (2 * noise_multiplier**2)
    return rho + 2 * math.sqrt(rho * math.log(1 / delta))


def to_micro_epsilon(epsilon: float) -> int:
    """``epsilon`` in micro-ε, rounded **up** (a spend is never recorded as smaller than it was)."""
    _validate_epsilon(epsilon)
    return epsilon_to_micro(epsilon)


def _validate_epsilon(epsilon: float, what: str = "ε") -> None:
    if not (isinstance(epsilon, int | float) and math.isfinite(epsilon) and epsilon > 0):
        raise ConfigError(f"{what} must be a finite number above 0, not {epsilon!r}")


def _validate_delta(delta: float) -> None:
    if not (isinstance(delta, int | float) and math.isfinite(delta) and 0 <= delta < 1):
        raise ConfigError(f"δ must be a number in [0, 1), not {delta!r}")


@dataclass(frozen=True)
class Budget:
    """One dataset's budget: totals, and what committed and reserved jobs hold of it (micro-ε)."""

    dataset: str
    epsilon_micro: int
    delta: float
    committed_micro: int
    reserved_micro: int
    delta_used: float

    @property
    def remaining_micro(self) -> int:
        """Micro-ε still free for new jobs."""
        return self.epsilon_micro - self.committed_micro - self.reserved_micro

    @property
    def remaining(self) -> float:
        """ε still free for new jobs."""
        return self.remaining_micro / MICRO


@dataclass(frozen=True)
class Spend:
    """One job's spend on one dataset, as the ledger records it.

    ``state`` is ``"reserved"`` (counted, the job runs), ``"committed"`` (counted for good: its
    result was released) or ``"released"`` (not counted: it failed before releasing anything).
    ``seq`` numbers committed spends 1, 2, … in the order they were committed, so a chain
    recorder can send each once (:meth:`PrivacyLedger.get_committed_since`).
    """

    dataset: str
    job_id: str
    epsilon_micro: int
    delta: float
    state: str
    reserved_at: float
    finished_at: float | None
    seq: int | None

    @property
    def epsilon(self) -> float:
        """The spend in ε."""
        return self.epsilon_micro / MICRO

    def to_chain_record(self) -> dict[str, int | str]:
        """What a chain record of this spend needs: dataset id, job/order id, ε in micro-ε."""
        return {"dataset_id": self.dataset, "job_id": self.job_id, "epsilon_micro": self.epsilon_micro}


@dataclass(frozen=True)
class Reservation:
    """A job's hold on part of a dataset's budget; finish it with ``commit`` or ``release``.

    ``state`` is ``"reserved"``, or ``"committed"`` when the job id had already spent its ε:
    then its result is out already, and running the job again would release a second one
    that nothing counts — answer with the stored result instead.
    """

    ledger: PrivacyLedger
    dataset: str
    job_id: str
    epsilon_micro: int
    delta: float
    state: str = "reserved"

    @property
    def epsilon(self) -> float:
        """The reserved ε."""
        return self.epsilon_micro / MICRO

    def commit(self, epsilon: float | None = None) -> Spend:
        """Count the spend for good (its result is out); ``epsilon`` (≤ the reserved) if it spent less."""
        return self.ledger.commit(self.dataset, self.job_id, epsilon=epsilon)

    def release(self) -> Spend:
        """Give the ε back: the job failed before releasing any result."""
        return self.ledger.release(self.dataset, self.job_id)


def _spend(row: tuple[Any, ...]) -> Spend:
    return Spend(str(row[0]), str(row[1]), int(row[2]), float(row[3]), str(row[4]), float(row[5]),
                 None if row[6] is None else float(row[6]), None if row[7] is None else int(row[7]))


_SPEND_COLUMNS = "dataset, job_id, epsilon_micro, delta, state, reserved_at, finished_at, seq"


class PrivacyLedger:
    """The data holder's durable ε budget per dataset, in ``<home>/privacy.db``.

    Several processes (jobs) may open the same home at once: every change is one SQLite
    ``BEGIN IMMEDIATE`` transaction, so two jobs that race for the last of a budget are
    serialised and exactly the one that would overrun it is refused. Within a process, one
    ledger may be shared by threads.
    """

    def __init__(self, home: Path | str, *, clock: Callable[[], float] = time.time) -> None:
        self.home = Path(home)
        self.path = self.home / "privacy.db"
        self.clock = clock
        self.db = open_state_db(self.path, schema=_SCHEMA)
        # wait for another process' transaction rather than fail with "database is locked"
        self.db.execute("PRAGMA busy_timeout = 60000")
        self._mu = threading.Lock()

    def __repr__(self) -> str:
        return f"PrivacyLedger({self.home})"

    def close(self) -> None:
        """Close the state file (idempotent)."""
        with self._mu:
            self.db.close()

    def __enter__(self) -> PrivacyLedger:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _transaction(self) -> AbstractContextManager[sqlite3.Connection]:
        return immediate_transaction(self.db, self._mu)

    # --- budgets ---------------------------------------------------------------------------

    def set_budget(self, dataset: int | str, epsilon: float, delta: float = 0.0) -> Budget:
        """Give ``dataset`` a total budget of ``epsilon`` (and ``delta``), or change it.

        A new total below what jobs already hold is refused: ε once spent stays spent.
        """
        _validate_epsilon(epsilon, "a budget's ε")
        _validate_delta(delta)
        total = to_micro_epsilon(epsilon)
        key = str(dataset)
        with self._transaction() as db:
            used, delta_used = self._used(db, key)
            if total < used or delta + _DELTA_SLACK < delta_used:
                raise ConfigError(
                    f"dataset {key}: jobs already hold ε={used / MICRO:g}, δ={delta_used:g}; "
                    f"a budget of ε={epsilon:g}, δ={delta:g} would be below it",
                )
            db.execute(
                "INSERT INTO budgets VALUES (?, ?, ?, ?) ON CONFLICT(dataset) DO UPDATE "
                "SET epsilon_micro = excluded.epsilon_micro, delta = excluded.delta",
                (key, total, float(delta), self.clock()),
            )
        return self.get_budget(key)

    def get_budget(self, dataset: int | str) -> Budget:
        """The budget of ``dataset`` and what is held of it; :class:`ConfigError` if it has none."""
        key = str(dataset)
        with self._mu:
            self.db.execute("BEGIN")  # one snapshot for the three reads
            try:
                row = self.db.execute("SELECT epsilon_micro, delta FROM budgets WHERE dataset = ?", (key,)).fetchone()
                sums = dict(self.db.execute(
                    "SELECT state, SUM(epsilon_micro) FROM spends WHERE dataset = ? GROUP BY state", (key,),
                ).fetchall())
                _, delta_used = self._used(self.db, key)
            finally:
                self.db.execute("COMMIT")
        if row is None:
            raise ConfigError(f"dataset {key} has no privacy budget", hint="set one with set_budget first")
        return Budget(key, int(row[0]), float(row[1]), int(sums.get("committed") or 0),
                      int(sums.get("reserved") or 0), delta_used)

    def remaining(self, dataset: int | str) -> float:
        """ε of ``dataset``'s budget not yet committed or reserved."""
        return self.get_budget(dataset).remaining

    @staticmethod
    def _used(db: sqlite3.Connection, key: str) -> tuple[int, float]:
        row = db.execute(
            f"SELECT COALESCE(SUM(epsilon_micro), 0), COALESCE(SUM(delta), 0.0) FROM spends "
            f"WHERE dataset = ? AND state IN {_COUNTED}", (key,),
        ).fetchone()
        return int(row[0]), float(row[1])

    # --- spends ----------------------------------------------------------------------------

    def reserve(self, dataset: int | str, job_id: str, epsilon: float, delta: float = 0.0) -> Reservation:
        """Hold ``epsilon`` (and ``delta``) of ``dataset``'s budget for job ``job_id`` before it runs.

        Refused with :class:`BudgetExceeded` when it would overrun the budget. Idempotent: a job
        that already holds its ε gets the same reservation back (with another ε, it is refused);
        one that already committed gets its spend back, marked ``state="committed"`` and not
        charged again (it must not run again); a job whose reservation was released may reserve
        again.
        """
        _validate_epsilon(epsilon)
        _validate_delta(delta)
        micro = to_micro_epsilon(epsilon)
        key, job = str(dataset), str(job_id)
        if not job:
            raise ConfigError("a job id is needed to spend privacy budget")
        with self._transaction() as db:
            row = db.execute("SELECT epsilon_micro, delta FROM budgets WHERE dataset = ?", (key,)).fetchone()
            if row is None:
                raise ConfigError(f"dataset {key} has no privacy budget", hint="set one with set_budget first")
            total, delta_total = int(row[0]), float(row[1])
            old = db.execute(
                f"SELECT {_SPEND_COLUMNS} FROM spends WHERE dataset = ? AND job_id = ?", (key, job),
            ).fetchone()
            if old is not None and old[4] in _COUNTED:
                spend = _spend(old)
                if spend.state == "reserved" and (spend.epsilon_micro != micro or spend.delta != delta):
                    raise ConfigError(
                        f"job {job} already holds ε={spend.epsilon:g}, δ={spend.delta:g} on dataset {key}, "
                        f"not ε={epsilon:g}, δ={delta:g}", hint="use a new job id",
                    )
                return Reservation(self, key, job, spend.epsilon_micro, spend.delta, spend.state)
            used, delta_used = self._used(db, key)
            if used + micro > total:
                raise BudgetExceeded(
                    f"job {job} needs ε={micro / MICRO:g} of dataset {key}, but only ε={(total - used) / MICRO:g} "
                    f"of its ε={total / MICRO:g} is left", hint="ask for a smaller ε",
                )
            if delta_used + delta > delta_total + _DELTA_SLACK:
                raise BudgetExceeded(
                    f"job {job} needs δ={delta:g} of dataset {key}, but only δ={max(delta_total - delta_used, 0):g} "
                    f"of its δ={delta_total:g} is left", hint="ask for a smaller δ",
                )
            db.execute(
                "INSERT OR REPLACE INTO spends VALUES (?, ?, ?, ?, 'reserved', ?, NULL, NULL)",
                (key, job, micro, float(delta), self.clock()),
            )
        return Reservation(self, key, job, micro, float(delta))

    def commit(self, dataset: int | str, job_id: str, *, epsilon: float | None = None) -> Spend:
        """Count job ``job_id``'s reserved ε for good (its result is released); idempotent.

        ``epsilon``, if given, is what the job really spent (at most what it reserved, e.g. a
        DP-SGD run that stopped below its target); the rest goes back to the budget.
        """
        key, job = str(dataset), str(job_id)
        with self._transaction() as db:
            spend = self._get(db, key, job)
            if spend.state == "committed":
                return spend
            if spend.state != "reserved":
                raise ConfigError(f"job {job} on dataset {key} was released; reserve again before committing")
            micro = spend.epsilon_micro
            if epsilon is not None:
                micro = to_micro_epsilon(epsilon)
                if micro > spend.epsilon_micro:
                    raise ConfigError(
                        f"job {job} spent ε={epsilon:g} but reserved only ε={spend.epsilon:g} of dataset {key}",
                    )
            seq = int(db.execute("SELECT COALESCE(MAX(seq), 0) + 1 FROM spends").fetchone()[0])
            db.execute(
                "UPDATE spends SET state = 'committed', epsilon_micro = ?, finished_at = ?, seq = ? "
                "WHERE dataset = ? AND job_id = ?", (micro, self.clock(), seq, key, job),
            )
            return self._get(db, key, job)

    def release(self, dataset: int | str, job_id: str) -> Spend:
        """Give job ``job_id``'s reserved ε back (it failed before releasing a result); idempotent.

        A committed spend cannot be released: its result is out.
        """
        key, job = str(dataset), str(job_id)
        with self._transaction() as db:
            spend = self._get(db, key, job)
            if spend.state == "committed":
                raise ConfigError(f"job {job} already committed its ε on dataset {key}; it cannot be given back")
            if spend.state == "reserved":
                db.execute(
                    "UPDATE spends SET state = 'released', finished_at = ? WHERE dataset = ? AND job_id = ?",
                    (self.clock(), key, job),
                )
            return self._get(db, key, job)

    @contextmanager
    def spend(self, dataset: int | str, job_id: str, epsilon: float, delta: float = 0.0) -> Iterator[Reservation]:
        """Reserve before the job runs, commit when the block ends, release if it raises.

        The reservation's ``state`` says ``"committed"`` when the job id already spent its ε:
        the block should then not run the job again (nothing would count a second release).
        """
        reservation = self.reserve(dataset, job_id, epsilon, delta)
        try:
            yield reservation
        except BaseException:
            if self.get_spend(dataset, job_id).state == "reserved":
                reservation.release()
            raise
        reservation.commit()

    def get_spend(self, dataset: int | str, job_id: str) -> Spend:
        """Job ``job_id``'s spend on ``dataset``; :class:`ConfigError` if it never reserved."""
        with self._mu:
            return self._get(self.db, str(dataset), str(job_id))

    def get_spends(self, dataset: int | str) -> list[Spend]:
        """Every spend on ``dataset``, oldest reservation first."""
        with self._mu:
            rows = self.db.execute(
                f"SELECT {_SPEND_COLUMNS} FROM spends WHERE dataset = ? ORDER BY reserved_at, rowid", (str(dataset),),
            ).fetchall()
        return [_spend(row) for row in rows]

    def get_committed_since(self, seq: int = 0) -> list[Spend]:
        """Committed spends with a sequence number above ``seq``, in order (what a chain recorder sends next)."""
        with self._mu:
            rows = self.db.execute(
                f"SELECT {_SPEND_COLUMNS} FROM spends WHERE seq > ? ORDER BY seq", (seq,),
            ).fetchall()
        return [_spend(row) for row in rows]

    def release_stale(self, older_than_s: float) -> list[Spend]:
        """Release reservations held longer than ``older_than_s`` (their jobs died without a word).

        Only for jobs known to have released nothing: a killed job's reservation otherwise keeps
        counting, which is the safe side.
        """
        cutoff = self.clock() - older_than_s
        with self._transaction() as db:
            rows = db.execute(
                f"SELECT {_SPEND_COLUMNS} FROM spends WHERE state = 'reserved' AND reserved_at < ?", (cutoff,),
            ).fetchall()
            db.execute(
                "UPDATE spends SET state = 'released', finished_at = ? WHERE state = 'reserved' AND reserved_at < ?",
                (self.clock(), cutoff),
            )
        return [_spend(row) for row in rows]

    @staticmethod
    def _get(db: sqlite3.Connection, key: str, job: str) -> Spend:
        row = db.execute(f"SELECT {_SPEND_COLUMNS} FROM spends WHERE dataset = ? AND job_id = ?", (key, job)).fetchone()
        if row is None:
            raise ConfigError(f"job {job} holds no privacy budget of dataset {key}")
        return _spend(row)


# --- aggregate queries (OpenDP) -------------------------------------------------------------


@dataclass(frozen=True)
class Query:
    """One aggregate query over a numeric column.

    ``kind`` is one of :data:`QUERY_KINDS`; ``column`` names the CSV column (or a 2-D array's
    column index; ignored for a 1-D array); ``bounds`` are the declared (lower, upper) of the
    values — values outside are clamped to them, and they set the noise; ``epsilon`` is what
    the query spends; ``bins`` (histogram only) splits ``bounds`` into equal-width bins.
    """

    kind: Literal["count", "sum", "mean", "histogram"]
    column: str | int | None
    bounds: tuple[float, float]
    epsilon: float
    bins: int | None = None

    def validate(self) -> None:
        """Raise :class:`ConfigError` (one line) if the query is malformed."""
        if self.kind not in QUERY_KINDS:
            raise ConfigError(f"unknown query kind {self.kind!r}; use one of {', '.join(QUERY_KINDS)}")
        _validate_epsilon(self.epsilon, "a query's ε")
        lower, upper = self.bounds
        if not (math.isfinite(lower) and math.isfinite(upper) and lower < upper):
            raise ConfigError(f"bounds must be finite with lower < upper, not {self.bounds!r}")
        if self.kind == "histogram":
            if not (isinstance(self.bins, int) and 1 <= self.bins <= 10_000):
                raise ConfigError(f"a histogram needs bins between 1 and 10000, not {self.bins!r}")
        elif self.bins is not None:
            raise ConfigError(f"bins is for histograms only, not {self.kind}")


@dataclass(frozen=True)
class QueryResult:
    """A query's private answer and what it spent.

    ``value`` is a float (count, sum, mean) or a list of counts per bin (histogram, with
    ``edges``); ``epsilon`` is the ε OpenDP's privacy map proves for it (≤ the query's);
    ``mechanism`` names the noise and ``scale`` its scale.
    """

    kind: str
    value: float | list[int]
    epsilon: float
    mechanism: str
    scale: float
    edges: list[float] | None = None

    @property
    def epsilon_micro(self) -> int:
        """The spend in micro-ε (rounded up), as the ledger records it."""
        return to_micro_epsilon(self.epsilon)


def load_column(data: str | Path | ArrayLike, column: str | int | None = None) -> NDArray[np.float64]:
    """One numeric column as a 1-D float array: from a CSV file (``column`` names it) or an array.

    Empty or non-numeric cells are refused (one line naming the first), not dropped: dropping
    rows would change what the privacy unit covers without saying so.
    """
    if isinstance(data, str | Path):
        path = Path(data)
        if not path.is_file():
            raise ConfigError(f"no CSV file at {path}")
        with path.open(newline="") as f:
            reader = csv.DictReader(f)
            if column is None or str(column) not in (reader.fieldnames or []):
                raise ConfigError(f"{path} has no column {column!r}; its columns: {', '.join(reader.fieldnames or [])}")
            values = []
            for row in reader:  # (blank lines are skipped: no row)
                cell = row[str(column)]
                try:
                    values.append(float(cell))
                except (TypeError, ValueError):
                    raise ConfigError(f"{path}:{reader.line_num}: {column!r} is {cell!r}, not a number") from None
        array = np.asarray(values, dtype=np.float64)
    else:
        array = np.asarray(data, dtype=np.float64)
        if array.ndim == 2:
            if not isinstance(column, int) or not 0 <= column < array.shape[1]:
                raise ConfigError(f"a 2-D array needs a column index below {array.shape[1]}, not {column!r}")
            array = array[:, column]
        elif array.ndim != 1:
            raise ConfigError(f"data must be a CSV file, a 1-D or a 2-D array, not {array.ndim}-D")
    if not np.all(np.isfinite(array)):
        raise ConfigError("the column holds NaN or infinite values; clean it first")
    return array


def _opendp() -> Any:
    import opendp.prelude as dp

    # OpenDP keeps its non-vetted ("contrib") constructors behind this switch; every one used here
    # (clamp, count, sum, find_bin, count_by_categories, laplace) is one of them
    dp.enable_features("contrib")
    return dp


def _calibrate(dp: Any, chain: Any, epsilon: float) -> tuple[Any, float]:
    """The Laplace measurement after ``chain`` with the smallest scale whose ε (rows: d_in = 1) ≤ ``epsilon``."""
    scale = float(dp.binary_search_param(lambda s: chain >> dp.m.then_laplace(s), d_in=1, d_out=float(epsilon)))
    return chain >> dp.m.then_laplace(scale), scale


def run_query(data: str | Path | ArrayLike, query: Query) -> QueryResult:
    """Answer ``query`` on ``data`` (a CSV path or an array) with differential privacy, via OpenDP.

    * count: the number of rows + discrete Laplace noise (sensitivity 1);
    * sum: values clamped to ``bounds``, summed, + Laplace noise (sensitivity max(|lower|, |upper|));
    * mean: a noisy sum and a noisy count, ε/2 each (composed; OpenDP checks the total), their
      ratio clamped to ``bounds`` — no public row count needed;
    * histogram: values clamped, put into ``bins`` equal bins over ``bounds``, counted per bin +
      discrete Laplace noise (one row changes one bin: sensitivity 1).

    The result's ``epsilon`` is what OpenDP's privacy map gives for one row changed: never above
    ``query.epsilon``. Noise comes from OpenDP's own cryptographic RNG: it cannot be seeded.
    """
    query.validate()
    values = load_column(data, query.column).tolist()
    dp = _opendp()
    space = dp.vector_domain(dp.atom_domain(T=float, nan=False)), dp.symmetric_distance()
    lower, upper = float(query.bounds[0]), float(query.bounds[1])
    edges: list[float] | None = None
    value: float | list[int]
    if query.kind == "count":
        measurement, scale = _calibrate(dp, space >> dp.t.then_count(), query.epsilon)
        value, mechanism = float(measurement(values)), "discrete laplace"
    elif query.kind == "sum":
        chain = space >> dp.t.then_clamp((lower, upper)) >> dp.t.then_sum()
        measurement, scale = _calibrate(dp, chain, query.epsilon)
        value, mechanism = float(measurement(values)), "laplace"
    elif query.kind == "mean":
        sum_chain = space >> dp.t.then_clamp((lower, upper)) >> dp.t.then_sum()
        noisy_sum, scale = _calibrate(dp, sum_chain, query.epsilon / 2)
        noisy_count, _ = _calibrate(dp, space >> dp.t.then_count(), query.epsilon / 2)
        measurement = dp.c.make_composition([noisy_sum, noisy_count])
        total, count = measurement(values)
        value = float(np.clip(total / max(count, 1), lower, upper))
        mechanism = "laplace (sum) / discrete laplace (count)"
    else:
        assert query.bins is not None
        edges = np.linspace(lower, upper, query.bins + 1).tolist()
        chain = (
            space >> dp.t.then_clamp((lower, upper)) >> dp.t.then_find_bin(edges=edges[1:-1])
            >> dp.t.then_count_by_categories(categories=list(range(query.bins)), null_category=False)
        )
        measurement, scale = _calibrate(dp, chain, query.epsilon)
        value, mechanism = [int(c) for c in measurement(values)], "discrete laplace"
    spent = float(measurement.map(1))
    if spent > query.epsilon * (1 + 1e-9):  # OpenDP's search should never allow it; a tripwire
        raise AgoraError(f"OpenDP's measurement spends ε={spent:g}, above the query's ε={query.epsilon:g}")
    return QueryResult(query.kind, value, spent, mechanism, scale, edges)


# --- DP-SGD (opacus) --------------------------------------------------------------------------


class DPTrainingResult(NamedTuple):
    """What :func:`train_dp_sgd` returns (unpacks as ``state, accuracy, epsilon``)."""

    model_state: dict[str, Any]
    accuracy: float
    epsilon_spent: float


# opacus and torch warn on every private run: none of these is a fault of the caller's
_OPACUS_WARNINGS = (
    # secure_mode needs torchcsprng, which has no wheels for current torch; see docs/privacy.md
    "Secure RNG turned off",
    # torch's full backward hooks (opacus' per-sample gradients) on the first layer, whose input needs no grad
    "Full backward hook is firing when gradients are computed with respect to module outputs",
    # the RDP accountant: its largest order was the best one
    "Optimal order is the largest alpha",
)


@contextmanager
def _quiet_opacus() -> Iterator[None]:
    with warnings.catch_warnings():
        for message in _OPACUS_WARNINGS:
            warnings.filterwarnings("ignore", message=message, category=UserWarning)
        yield


def train_dp_sgd(
    X: ArrayLike, y: ArrayLike, *, epsilon: float, delta: float, epochs: int, max_grad_norm: float = 1.0,
    feature_bounds: tuple[ArrayLike, ArrayLike] | None = None, hidden: Sequence[int] = (64,), batch_size: int = 64,
    learning_rate: float = 0.5, holdout: float = 0.2, n_classes: int | None = None,
    accountant: Literal["prv", "rdp"] = "prv", seed: int = 0, on_epoch: Callable[[int], None] | None = None,
) -> DPTrainingResult:
    """Train an MLP classifier with DP-SGD (opacus) to a target (``epsilon``, ``delta``).

    Rows are split (``seed``) into training rows and a ``holdout`` share; features are scaled
    to [0, 1] by the **declared** ``feature_bounds`` (public: fitting a scaler on the data would
    leak it), else used as they are. ``make_private_with_epsilon`` picks the noise multiplier
    that reaches the target after ``epochs`` epochs of Poisson-sampled batches (expected size
    ``batch_size``), each example's gradient clipped to ``max_grad_norm``; the ``accountant``
    (PRV by default, or RDP) reports the ε spent, at most ``epsilon``. Seeded with ``seed``
    (torch's generator; opacus' noise then repeats on the same machine and thread count).
    ``on_epoch(epoch)`` is called after each epoch (1, 2, …), e.g. to show progress.

    Returns the model's weights (a plain ``state_dict`` of a ``torch.nn.Sequential``), its
    accuracy on the holdout rows (a diagnostic for the data holder: it is not private) and ε.
    """
    _validate_epsilon(epsilon)
    _validate_delta(delta)
    if not 0 < delta:
        raise ConfigError("DP-SGD needs δ > 0 (e.g. below 1 / number of rows)")
    if epochs < 1 or batch_size < 1 or not max_grad_norm > 0 or not 0 < holdout < 1:
        raise ConfigError("epochs and batch_size must be ≥ 1, max_grad_norm > 0 and holdout in (0, 1)")
    try:
        import torch
        from opacus import PrivacyEngine  # type: ignore[import-untyped]
    except ImportError:
        raise ConfigError("DP-SGD needs opacus and torch", hint="pip install 'agora[private]'") from None

    features = np.asarray(X, dtype=np.float32)
    labels = np.asarray(y).astype(np.int64)
    if features.ndim != 2 or labels.shape != (features.shape[0],):
        raise ConfigError(f"X must be 2-D and y 1-D with one label per row, not {features.shape} and {labels.shape}")
    if feature_bounds is not None:
        lower, upper = (np.asarray(b, dtype=np.float32) for b in feature_bounds)
        if np.any(upper <= lower):
            raise ConfigError("feature_bounds must have lower < upper")
        features = np.clip((features - lower) / (upper - lower), 0.0, 1.0).astype(np.float32)
    classes = int(labels.max()) + 1 if n_classes is None else n_classes
    if labels.min() < 0 or labels.max() >= classes:
        raise ConfigError(f"labels must be 0 … {classes - 1}")
    order = np.random.default_rng(seed).permutation(len(labels))
    n_holdout = max(1, round(len(labels) * holdout))
    test, train = order[:n_holdout], order[n_holdout:]

    torch.manual_seed(seed)
    sizes = [features.shape[1], *hidden]
    layers: list[torch.nn.Module] = []
    for size_in, size_out in zip(sizes, sizes[1:], strict=False):
        layers += [torch.nn.Linear(size_in, size_out), torch.nn.ReLU()]
    model = torch.nn.Sequential(*layers, torch.nn.Linear(sizes[-1], classes))
    optimizer = torch.optim.SGD(model.parameters(), lr=learning_rate)
    loader = torch.utils.data.DataLoader(
        torch.utils.data.TensorDataset(torch.from_numpy(features[train]), torch.from_numpy(labels[train])),
        batch_size=batch_size, generator=torch.Generator().manual_seed(seed),
    )
    with _quiet_opacus():
        engine = PrivacyEngine(accountant=accountant)
        private_model, private_optimizer, private_loader = engine.make_private_with_epsilon(
            module=model, optimizer=optimizer, data_loader=loader, target_epsilon=float(epsilon),
            target_delta=float(delta), epochs=epochs, max_grad_norm=float(max_grad_norm),
            noise_generator=torch.Generator().manual_seed(seed + 1),
        )
        private_model.train()
        for epoch in range(1, epochs + 1):
            for xb, yb in private_loader:
                private_optimizer.zero_grad()
                torch.nn.functional.cross_entropy(private_model(xb), yb).backward()
                private_optimizer.step()
            if on_epoch is not None:
                on_epoch(epoch)
        spent = float(engine.get_epsilon(float(delta)))
    model.eval()
    with torch.no_grad():
        predicted = model(torch.from_numpy(features[test])).argmax(dim=1).numpy()
    accuracy = float((predicted == labels[test]).mean())
    state = {name: tensor.detach().clone() for name, tensor in model.state_dict().items()}
    return DPTrainingResult(state, accuracy, spent)
