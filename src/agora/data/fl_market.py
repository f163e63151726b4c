"""Paid federated learning: a consumer trains across the holders of several datasets with Flower
(:mod:`agora.data.federated`) and pays each holder per round it took part in, on chain
(``DataServices`` runs: escrow up front, each round recorded with its participants and the hash
of its aggregate, the unearned rest refunded when the run closes).

    >>> paid = run_paid(DataServices(dep), consumer, [1, 2, 3], rounds=3, pay_per_round=10**16)
    >>> paid.run_id, [r.participants for r in paid.recorded], paid.refund
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agora.data.federated import FLRound, FLRunResult, Holder, run_deployment, run_simulation
from agora.data.services import DataServices
from agora.errors import ConfigError

__all__ = ["PaidRound", "PaidRun", "holder_label", "run_paid"]


def holder_label(dataset_id: int) -> str:
    """The Flower label of the holder of ``dataset_id`` (deployment engine)."""
    return f"dataset-{dataset_id}"


@dataclass(frozen=True)
class PaidRound:
    """A round recorded on chain: the indices (in the run's dataset order) of the holders paid."""

    round: int
    participants: tuple[int, ...]
    accuracy: float
    aggregate_hash: str
    tx: str
    epsilon_record: float | None = None   # each holder's record-level ε so far (None: no record-level DP)


@dataclass
class PaidRun:
    """A paid federated run: its id on chain, Flower's result, the rounds recorded, the refund."""

    run_id: int
    datasets: list[int]
    result: FLRunResult | None = None
    recorded: list[PaidRound] = field(default_factory=list)
    refund: int = 0

    def to_json(self) -> dict[str, Any]:
        """The run as JSON."""
        return {
            "run_id": self.run_id, "datasets": self.datasets,
            "final_accuracy": self.result.final_accuracy if self.result else None,
            "rounds": [{"round": r.round, "participants": [self.datasets[i] for i in r.participants],
                        "accuracy": r.accuracy, "aggregate": r.aggregate_hash, "tx": r.tx,
                        "epsilon_record": r.epsilon_record} for r in self.recorded],
            "refund_wei": self.refund,
        }


def _indices(fl_round: FLRound, labels: Mapping[str, int]) -> tuple[int, ...]:
    found = sorted({labels[h] for h in fl_round.holders if h in labels})
    if len(found) != len(fl_round.holders):
        unknown = [h for h in fl_round.holders if h not in labels]
        raise ConfigError(f"round {fl_round.round} names holders that are not in the run: {unknown}")
    return tuple(found)


def run_paid(
    services: DataServices, consumer: Any, datasets: Sequence[int], *, rounds: int, pay_per_round: int,
    engine: str = "simulation", config: Mapping[str, Any] | None = None,
    holder_data: Sequence[Path | None] | None = None, deadline_s: int = 3600,
    on_round: Callable[[PaidRound], None] | None = None, **flower: Any,
) -> PaidRun:
    """Open a run on chain (escrow: rounds x holders x ``pay_per_round``), train with Flower
    (``engine``: ``simulation`` or ``deployment``; ``holder_data``: each holder's own ``.npz``,
    deployment only), record each round as it ends (its participants are paid), then close the
    run (what dropped-out holders did not earn goes back to the consumer)."""
    if engine not in ("simulation", "deployment"):
        raise ConfigError(f"engine is simulation or deployment, not {engine!r}")
    if len(set(datasets)) != len(datasets) or len(datasets) < 3:
        raise ConfigError("a federated run with SecAgg+ needs at least 3 distinct datasets")
    for ds in datasets:
        if services.compute_node(ds) is None:
            raise ConfigError(f"dataset {ds} has no compute node: its holder cannot be paid")
    deadline = services.chain.timestamp() + deadline_s
    run_id = services.open_run(list(datasets), rounds, pay_per_round, deadline, consumer)
    paid = PaidRun(run_id, list(datasets))

    def record(fl_round: FLRound, labels: Mapping[str, int]) -> None:
        indices = _indices(fl_round, labels)
        receipt = services.record_round(run_id, fl_round.round, indices, bytes.fromhex(fl_round.aggregate_hash),
                                        consumer)
        done = PaidRound(fl_round.round, indices, fl_round.accuracy, fl_round.aggregate_hash, receipt.tx_hash,
                         getattr(fl_round, "epsilon_record", None))
        paid.recorded.append(done)
        if on_round is not None:
            on_round(done)

    try:
        if engine == "simulation":
            labels = {f"partition-{i}": i for i in range(len(datasets))}
            paid.result = run_simulation(len(datasets), rounds=rounds, config=config,
                                         on_round=lambda r: record(r, labels), **flower)
        else:
            data = list(holder_data) if holder_data is not None else [None] * len(datasets)
            holders = [Holder(holder_label(ds), path) for ds, path in zip(datasets, data, strict=True)]
            labels = {h.name: i for i, h in enumerate(holders)}
            paid.result = run_deployment(holders, rounds=rounds, config=config,
                                         on_round=lambda r: record(r, labels), **flower)
    finally:
        run = services.run(run_id)
        if not run.closed:
            services.close_run(run_id, consumer)     # what is still escrowed goes back to the consumer
            paid.refund = run.escrow
    return paid
