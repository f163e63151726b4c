"""The private-compute part of the data chapter of ``agora demo``: data that never leaves its holders.

Three hospitals each publish their part of a dataset (scikit-learn's digits, split as the Flower
app splits it) and name a compute node. A consumer escrows a federated run on chain and trains one
model across the three with Flower and SecAgg+ (the server sees only the sum of the updates) and
record-level differential privacy inside each hospital (DP gradient descent: each record's
gradient clipped, Gaussian noise on their sum; see ``docs/federated.md``); each round is recorded
on chain and each hospital paid for it. The model, which reaches a stated held-out accuracy, is
registered with the three datasets as its provenance. Each hospital then gives its dataset a
privacy budget (the run's ε rounded up, plus ``BUDGET_EPSILON`` for queries) and records the ε the
run spent on its records against it, on chain. Then compute-to-data on the first hospital's node:
a differentially private count (OpenDP, in the sandbox) spends ε of what is left, recorded on
chain; a second that would overrun the budget is refused before anything is paid; an algorithm
the hospital did not allow is refused; an allowed algorithm that reaches for the network fails
inside the sandbox, so its job is declined and refunded. Every step asserts what it shows; a part
this machine cannot run (no Flower environment, no sandbox) is reported as skipped.

The run uses record-level DP, not update-level DP (``agora fl run --dp-clip/--dp-noise``, noise
on each hospital's whole update): with three holders the latter costs ε in the hundreds for a
useful model, the former reaches the accuracy floor at ε ≈ 3.5 per hospital (δ = 1e-5).
"""

from __future__ import annotations

import io
import json
import math
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from agora.chain import Chain, Signer
from agora.data.files import content_hash
from agora.data.registry import DataRegistry
from agora.data.services import DataServices, epsilon_to_micro, fl_reference
from agora.errors import AgoraError, ConfigError
from agora.protocol import Deployment, fund_account
from agora.storage import LocalStore, Storage, cid_digest

__all__ = ["ACCURACY_FLOOR", "run_private_chapter"]

#: The held-out accuracy the federated model must reach (digits, 3 rounds, SecAgg+ and DP).
ACCURACY_FLOOR = 0.85
ROUNDS = 3
PAY_PER_ROUND = 10**16
#: Record-level DP in each hospital (the recommended setting of docs/federated.md): full-batch DP
#: gradient descent, 10 steps a round, each record's gradient clipped to 1, noise σ = 8 × the clip.
RECORD_DP: dict[str, Any] = {"dp-record-clip": 1.0, "dp-record-noise": 8.0, "lr": 5.0, "local-epochs": 10,
                             "dp-delta": 1e-5}
#: Each dataset's budget is the federated run's ε rounded up plus this (what queries may spend).
BUDGET_EPSILON = 2.0
QUERY_EPSILON = 1.5
PHONE_HOME = b"import socket\nsocket.create_connection(('127.0.0.1', 9), timeout=2)\n"
NOT_ALLOWED = b"import json\njson.dump({'count': 0}, open('out/result.json', 'w'))\n"
#: A differentially private count of the records (OpenDP's Laplace mechanism at the job's epsilon).
DP_COUNT = b"""import json, os
import numpy as np
import opendp.prelude as dp
dp.enable_features("contrib")
eps = float(json.load(open(os.environ["AGORA_PARAMS"]))["epsilon"])
labels = np.load(os.environ["AGORA_DATA"])["y"].astype(int).tolist()
count = dp.t.make_count(dp.vector_domain(dp.atom_domain(T=int)), dp.symmetric_distance())
meas = count >> dp.m.then_laplace(scale=1.0 / eps)
assert meas.map(1) <= eps + 1e-9
json.dump({"count": int(meas(labels)), "epsilon": eps}, open("out/result.json", "w"))
"""


def _check(ok: bool, what: str) -> None:
    if not ok:
        raise AgoraError(f"demo check failed: {what}")


def _partitions(n: int, seed: int = 0) -> list[bytes]:
    """Each hospital's part of the digits training split, as the Flower app cuts it, as ``.npz``."""
    from agora.data.federated import _digits_split

    x, y, _, _ = _digits_split(seed)
    order = np.random.default_rng(seed).permutation(len(y))
    parts = []
    for idx in np.array_split(order, n):
        buf = io.BytesIO()
        np.savez(buf, X=x[idx], y=y[idx])
        parts.append(buf.getvalue())
    return parts


def run_private_chapter(chain: Chain, dep: Deployment, *, hospitals: tuple[Signer, Signer, Signer],
                        consumer: Signer, workdir: Path | None = None,
                        step: Callable[[str], None] = lambda _m: None) -> dict[str, Any]:
    """Run the private-compute part; return its summary."""
    registry, services = DataRegistry(dep), DataServices(dep)
    fund_account(dep, consumer.address, tokens=100 * 10**18)
    summary: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(workdir or tmp) / "private-demo"
        root.mkdir(parents=True, exist_ok=True)
        storage = Storage(LocalStore(root / "blobs"))
        step("three hospitals publish their part of a dataset and name their compute nodes")
        datasets: list[int] = []
        files: list[Path] = []
        for i, (hospital, part) in enumerate(zip(hospitals, _partitions(3), strict=True)):
            path = root / f"hospital-{i + 1}.npz"
            path.write_bytes(part)
            files.append(path)
            ds, _ = registry.publish(hospital, card=storage.put(f"hospital {i + 1}: digits, part {i + 1}/3".encode()),
                                     content_hash=content_hash(path), name=f"Hospital {i + 1} digits")
            services.set_compute_node(ds, hospital.address, hospital)
            datasets.append(ds)
        summary["datasets"] = datasets
        summary |= _federated(chain, dep, services, datasets, hospitals, consumer, root, storage, step)
        summary["budgets"] = _budgets(services, datasets, hospitals, summary["fl"], step)
        summary |= _compute_to_data(chain, dep, datasets[0], files[0], hospitals[0], consumer, root, storage, step)
    return summary


def _budgets(services: DataServices, datasets: list[int], hospitals: tuple[Signer, Signer, Signer],
             fl: dict[str, Any], step: Callable[[str], None]) -> list[float]:
    """Each hospital sets its dataset's budget and records what the federated run spent of it."""
    fl_eps = fl.get("epsilon")
    budget = BUDGET_EPSILON + (math.ceil(fl_eps) if fl_eps is not None else 0)
    if fl_eps is not None:
        step(f"each hospital records the run's ε {fl_eps:.2f} against a budget of {budget:g}, on chain")
    for ds, hospital in zip(datasets, hospitals, strict=True):
        services.set_privacy_budget(ds, budget, hospital)
        if fl_eps is not None:
            services.spend_privacy(ds, fl_reference(int(fl["run_id"])), epsilon_to_micro(fl_eps), hospital)
        spent = epsilon_to_micro(fl_eps) if fl_eps is not None else 0
        _check(services.privacy(ds) == (epsilon_to_micro(budget), spent),
               f"dataset {ds}'s budget and the run's spend are on chain")
    return [budget] * len(datasets)


def _federated(chain: Chain, dep: Deployment, services: DataServices, datasets: list[int],
               hospitals: tuple[Signer, Signer, Signer], consumer: Signer, root: Path, storage: Storage,
               step: Callable[[str], None]) -> dict[str, Any]:
    from agora.data.federated import FederatedError, find_flower_venv
    from agora.data.fl_market import run_paid

    try:
        find_flower_venv()
    except FederatedError as exc:
        return {"fl": {"skipped": str(exc)}}
    step(f"federated learning across the three hospitals: {ROUNDS} rounds with SecAgg+ and record-level DP "
         "(Flower)")
    before = [services.owed(h.address) for h in hospitals]
    paid = run_paid(services, consumer, datasets, rounds=ROUNDS, pay_per_round=PAY_PER_ROUND,
                    config=RECORD_DP, workdir=root / "fl", deadline_s=3600, receipts=root / "fl-receipts.sqlite")
    result = paid.result
    _check(result is not None and len(paid.recorded) == ROUNDS, "every round was recorded on chain")
    assert result is not None
    _check(result.final_accuracy >= ACCURACY_FLOOR,
           f"the federated model reaches {ACCURACY_FLOOR:.0%} held-out accuracy ({result.final_accuracy:.3f})")
    spent = [r.epsilon_record for r in result.rounds if r.epsilon_record is not None]
    _check(len(spent) == ROUNDS and spent == sorted(spent),
           "each round logged the record-level ε spent so far per hospital")
    fl_eps = spent[-1]
    earned = [services.owed(h.address) - b for h, b in zip(hospitals, before, strict=True)]
    _check(earned == [ROUNDS * PAY_PER_ROUND] * 3 and paid.refund == 0, "each hospital was paid for every round")
    last = chain.fetch_receipts([paid.recorded[-1].tx])[0]
    record_gas = last.gas_used if last is not None else 0
    for h in hospitals:
        services.withdraw(h)
    step("the model is registered with the three datasets as its provenance")
    model_bytes = result.model_path.read_bytes() if result.model_path is not None else b""
    models = dep.contract("models")
    from eth_utils import keccak

    card = storage.put(b'{"name": "digits, federated across three hospitals"}')
    receipt = models.register(cid_digest(card), keccak(model_bytes), "", datasets, [], [("0x" + "00" * 20, 10_000)],
                              0, sender=consumer)
    (event,) = models.events_in(receipt, "ModelRegistered")
    model_id = int(event.args["model_id"])
    _check(list(models.provenance(model_id)[0]) == datasets, "the model's provenance names the three datasets")
    return {"fl": {
        "run_id": paid.run_id, "rounds": ROUNDS, "accuracy": round(result.final_accuracy, 4),
        "epsilon": fl_eps, "delta": RECORD_DP["dp-delta"], "dp_record_noise": RECORD_DP["dp-record-noise"],
        "accuracy_floor": ACCURACY_FLOOR, "paid_per_hospital_wei": ROUNDS * PAY_PER_ROUND,
        "record_gas": record_gas, "model_id": model_id,
        "aggregates": [r.aggregate_hash[:16] for r in paid.recorded],
    }}


def _compute_to_data(chain: Chain, dep: Deployment, dataset: int, data_file: Path, hospital: Signer,
                     consumer: Signer, root: Path, storage: Storage, step: Callable[[str], None]) -> dict[str, Any]:
    from fastapi.testclient import TestClient

    from agora.data.access import AccessNode, create_access_app
    from agora.data.c2d import C2DNode, ChainCompute, OutputPolicy
    from agora.data.client import DatasetsClient
    from agora.data.orders import ChainOrders
    from agora.data.privacy import PrivacyLedger
    from agora.workloads.sandbox import sandbox_available

    ok, why = sandbox_available()
    if not ok:
        return {"c2d": {"skipped": why}}
    step("compute-to-data on the first hospital's node: allow-list and sandbox")
    registry = DataRegistry(dep)
    lock = threading.RLock()
    node = AccessNode(root / "node", hospital, ChainOrders(registry, lock=lock), chain_id=chain.chain_id,
                      registry=registry.address)
    try:
        node.add_file(dataset, data_file)
        holder = DatasetsClient(registry, storage, hospital)
        holder.compute.enable(dataset, stake=1000 * 10**18, price=10**15,
                              policy=OutputPolicy(files=("result.json",), min_rows=20))
        holder.compute.allow(dataset, PHONE_HOME)
        holder.compute.allow(dataset, DP_COUNT)
        c2d = C2DNode(node, ChainCompute(dep, hospital, lock=lock, receipts=root / "node" / "c2d-receipts.sqlite"),
                      ledger=PrivacyLedger(root / "node"),
                      policies={dataset: OutputPolicy(files=("result.json",), min_rows=20)}, inline=True)
        http = TestClient(create_access_app(node, c2d=c2d))
        buyer = DatasetsClient(registry, storage, consumer, http=http)
        registry.set_price(dataset, hospital, payment_token=dep.token.address, price=10**16)
        budget, spent_before = DataServices(dep).privacy(dataset)
        query = buyer.compute.submit(dataset, DP_COUNT, node_url="http://testserver", epsilon=QUERY_EPSILON)
        _check(query.status["state"] == "done", "the private count ran in the sandbox next to the data")
        counted = json.loads(buyer.compute.result(query.job_id, root / "count.json", node_url="http://testserver")
                             .read_text())["count"]
        _, spent = DataServices(dep).privacy(dataset)
        _check(spent == spent_before + epsilon_to_micro(QUERY_EPSILON),
               "its epsilon is recorded against the budget on chain")
        over = ""
        try:
            buyer.compute.submit(dataset, DP_COUNT, node_url="http://testserver", epsilon=QUERY_EPSILON)
        except ConfigError as exc:
            over = str(exc)
        _check("left of dataset" in over, "a second query that would overrun the budget is refused")
        refused = ""
        try:
            buyer.compute.submit(dataset, NOT_ALLOWED, node_url="http://testserver")
        except ConfigError as exc:
            refused = str(exc)
        _check("is not allowed on dataset" in refused, "an algorithm the hospital did not allow is refused")
        job = buyer.compute.submit(dataset, PHONE_HOME, node_url="http://testserver")
        _check(job.status["state"] == "failed" and job.status["code"] == "algorithm_failed",
               "the algorithm that reaches for the network fails inside the sandbox")
        state = int(dep.contract("market").job(job.job_id)[5])
        _check(state == 9, "its job was declined: the escrow went back to the consumer")
    finally:
        node.close()
    return {"c2d": {"refused": refused.split(" (")[0], "job_id": job.job_id, "code": job.status["code"],
                    "refunded": True, "query_epsilon": QUERY_EPSILON, "budget_epsilon": budget / 1e6,
                    "spent_before_epsilon": spent_before / 1e6,
                    "dp_count": counted, "over_budget": over.split(";")[0]}}
