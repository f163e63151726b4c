"""Paid federated learning: a consumer trains across the holders of several datasets with Flower
(:mod:`agora.data.federated`) and pays each holder per round it took part in, on chain
(``DataServices`` runs: escrow up front, each round recorded with its participants and the hash
of its aggregate, the unearned rest refunded when the run closes).

    >>> paid = run_paid(DataServices(dep), consumer, [1, 2, 3], rounds=3, pay_per_round=10**16)
    >>> paid.run_id, [r.participants for r in paid.recorded], paid.refund
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agora.chain.eip712 import keccak256
from agora.chain.evidence import Receipt, ReceiptBook, receipt_domain, sign_receipt
from agora.data.federated import FLRound, FLRunResult, Holder, app_config, run_deployment, run_simulation
from agora.data.privacy import gaussian_steps_epsilon
from agora.data.services import DataServices, epsilon_to_micro, fl_reference, micro_to_epsilon
from agora.errors import ConfigError

__all__ = [
    "ROUND_KIND", "PaidRound", "PaidRun", "RoundGate", "fl_reference", "holder_label", "planned_epsilon",
    "round_receipt", "run_paid",
]

#: The kind of a federated round's receipt.
ROUND_KIND = "fl-round"


def planned_epsilon(config: Mapping[str, Any] | None, rounds: int) -> float | None:
    """The record-level ε a holder spends training every round of a run with ``config`` (the
    Flower app's defaults filled in); None when the run is not record-level DP."""
    cfg = app_config(config)
    if float(cfg["dp-record-clip"]) <= 0:
        return None
    return gaussian_steps_epsilon(rounds * int(cfg["local-epochs"]), float(cfg["dp-record-noise"]),
                                  float(cfg["dp-delta"]))


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
    epsilon: float | None = None      # record-level ε each holder spent (an upper bound); None: no DP

    def to_json(self) -> dict[str, Any]:
        """The run as JSON."""
        return {
            "run_id": self.run_id, "datasets": self.datasets,
            "final_accuracy": self.result.final_accuracy if self.result else None,
            "rounds": [{"round": r.round, "participants": [self.datasets[i] for i in r.participants],
                        "accuracy": r.accuracy, "aggregate": r.aggregate_hash, "tx": r.tx,
                        "epsilon_record": r.epsilon_record} for r in self.recorded],
            "refund_wei": self.refund,
            "epsilon_record": self.epsilon,
        }


class RoundGate:
    """The holders' chain watcher: what each holder's ClientApp checks before it trains again.

    It reads the run's ``RoundRecorded`` events from the chain (not the consumer's word) and
    writes, for each holder, ``<folder>/<label>.json`` = ``{"run": id, "paid": [rounds recorded
    with it among the paid]}`` (atomically). A holder's ClientApp (``round-gate-dir``) refuses
    round r while a round it trained in is missing there (see ``flower/agora_fl``). Here one
    watcher serves every holder of a run on this machine; a holder elsewhere runs its own against
    its own chain endpoint.
    """

    def __init__(self, services: DataServices, run_id: int, labels: Sequence[str], folder: Path,
                 datasets: Sequence[int] = ()) -> None:
        self.services, self.run_id, self.labels = services, run_id, list(labels)
        self.datasets = list(datasets)
        self.folder = Path(folder).resolve()
        self.folder.mkdir(parents=True, exist_ok=True)

    def refresh(self) -> dict[str, list[int]]:
        """Read the chain and rewrite every holder's file; label -> rounds paid. With the run's
        ``datasets``, each file also holds ``epsilon_left``: what is left of the dataset's privacy
        budget on chain (None where it has none)."""
        recorded = self.services.recorded_rounds(self.run_id)
        paid = {label: sorted(r for r, who in recorded.items() if i in who) for i, label in enumerate(self.labels)}
        for i, (label, rounds) in enumerate(paid.items()):
            left: float | None = None
            if i < len(self.datasets):
                budget, spent = self.services.privacy(self.datasets[i])
                left = micro_to_epsilon(budget - spent) if budget > 0 else None
            fd, tmp = tempfile.mkstemp(dir=self.folder, prefix=f".{label}.")
            with os.fdopen(fd, "w") as f:
                json.dump({"run": self.run_id, "paid": rounds, "epsilon_left": left}, f)
            os.replace(tmp, self.folder / f"{label}.json")
        return paid


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
    on_round: Callable[[PaidRound], None] | None = None, receipts: Path | None = None, **flower: Any,
) -> PaidRun:
    """Open a run on chain (escrow: rounds x holders x ``pay_per_round``), train with Flower
    (``engine``: ``simulation`` or ``deployment``; ``holder_data``: each holder's own ``.npz``,
    deployment only), record each round as it ends (its participants are paid), then close the
    run (what dropped-out holders did not earn goes back to the consumer). With ``receipts`` (a
    file), the consumer, who aggregates, signs each round's receipt (kind ``fl-round``) there and
    anchors them when the run ends."""
    if engine not in ("simulation", "deployment"):
        raise ConfigError(f"engine is simulation or deployment, not {engine!r}")
    if len(set(datasets)) != len(datasets) or len(datasets) < 3:
        raise ConfigError("a federated run with SecAgg+ needs at least 3 distinct datasets")
    for ds in datasets:
        if services.compute_node(ds) is None:
            raise ConfigError(f"dataset {ds} has no compute node: its holder cannot be paid")
    epsilon = planned_epsilon(config, rounds)
    for ds in datasets:       # refused here, before anything is escrowed (each holder checks again)
        budget, spent = services.privacy(ds)
        if budget == 0:
            continue
        if epsilon is None:
            raise ConfigError(f"dataset {ds} has a privacy budget: train on it with record-level DP "
                              "(dp-record-clip and dp-record-noise)")
        if epsilon_to_micro(epsilon) > budget - spent:
            raise ConfigError(f"the run would spend epsilon {epsilon:.3f} of dataset {ds}, which has "
                              f"{micro_to_epsilon(budget - spent):g} left of its privacy budget")
    deadline = services.chain.timestamp() + deadline_s
    run_id = services.open_run(list(datasets), rounds, pay_per_round, deadline, consumer)
    paid = PaidRun(run_id, list(datasets))
    if engine == "simulation":
        labels = {f"partition-{i}": i for i in range(len(datasets))}
    else:
        labels = {holder_label(ds): i for i, ds in enumerate(datasets)}
    book_domain = receipt_domain(services.chain.chain_id, services.contract.address)
    book = ReceiptBook(receipts, services.dep.contract("anchor"), consumer.address) \
        if receipts is not None and "anchor" in services.dep.addresses else None
    gate_dir = Path(tempfile.mkdtemp(prefix="agora-fl-gate-"))
    gate = RoundGate(services, run_id, list(labels), gate_dir, datasets)
    gate.refresh()
    run_config = {**(config or {}), "round-gate-dir": str(gate.folder)}

    def record(fl_round: FLRound, labels: Mapping[str, int]) -> None:
        indices = _indices(fl_round, labels)
        receipt = services.record_round(run_id, fl_round.round, indices, bytes.fromhex(fl_round.aggregate_hash),
                                        consumer)
        done = PaidRound(fl_round.round, indices, fl_round.accuracy, fl_round.aggregate_hash, receipt.tx_hash,
                         getattr(fl_round, "epsilon_record", None))
        paid.recorded.append(done)
        if book is not None:
            book.add(round_receipt(services, run_id, done, consumer), book_domain)
        if on_round is not None:
            on_round(done)
        gate.refresh()

    try:
        if engine == "simulation":
            paid.result = run_simulation(len(datasets), rounds=rounds, config=run_config,
                                         on_round=lambda r: record(r, labels), **flower)
        else:
            data = list(holder_data) if holder_data is not None else [None] * len(datasets)
            holders = [Holder(holder_label(ds), path) for ds, path in zip(datasets, data, strict=True)]
            paid.result = run_deployment(holders, rounds=rounds, config=run_config,
                                         on_round=lambda r: record(r, labels), **flower)
        paid.epsilon = paid.result.rounds[-1].epsilon_record if paid.result.rounds else None
    finally:
        shutil.rmtree(gate_dir, ignore_errors=True)
        run = services.run(run_id)
        if not run.closed:
            services.close_run(run_id, consumer)     # what is still escrowed goes back to the consumer
            paid.refund = run.escrow
        if book is not None:
            try:
                book.anchor_pending(consumer)
            finally:
                book.close()
    return paid


def round_receipt(services: DataServices, run_id: int, done: PaidRound, consumer: Any) -> Receipt:
    """The signed receipt of a recorded round: the run as ``subject``, the round as ``item``, the
    hash of the participants' datasets as the input, the aggregate as the output, what the holders
    were paid for it as the amount; signed by the consumer, who aggregated it."""
    run = services.run(run_id)
    inputs = keccak256(b"".join(run.datasets[i].to_bytes(32, "big") for i in done.participants))
    aggregate = bytes.fromhex(done.aggregate_hash.removeprefix("0x"))
    r = Receipt(ROUND_KIND, run_id, done.round, bytes(32), inputs, aggregate, consumer.address, consumer.address,
                run.pay_per_round * len(done.participants), run_id, services.chain.timestamp())
    return sign_receipt(consumer, receipt_domain(services.chain.chain_id, services.contract.address), r)
