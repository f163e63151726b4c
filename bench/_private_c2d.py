"""Compute-to-data on the embedded chain (helper of ``bench/private_compute.py``): the gas of a
compute-to-data job (the consumer's order of the compute service, its DIRECT job post, the
node's commit and reveal), the gas of recording one federated round (3 holders), and a job end
to end through the access node's HTTP API with the real sandbox (order, post, hand-over, sandboxed
run, delivery on chain, the result fetched and checked)."""

from __future__ import annotations

import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from agora.chain import connect
from agora.data import DataRegistry, DatasetsClient
from agora.data.access import create_access_app
from agora.data.c2d import C2DNode, ChainCompute, OutputPolicy
from agora.data.orders import ChainOrders
from agora.data.privacy import PrivacyLedger
from agora.data.services import DataServices
from agora.protocol import deploy_devnet
from agora.storage import LocalStore, Storage
from agora.workloads.sandbox import sandbox_available

ONE = 10**18
MEAN = b'''
import csv, json, os
rows = list(csv.DictReader(open(os.environ["AGORA_DATA"])))
values = [float(r["age"]) for r in rows]
json.dump({"mean": sum(values) / len(values), "count": len(values)}, open("out/result.json", "w"))
'''


def measure_c2d(rounds: int = 5, log: Any = print) -> dict[str, float | int]:
    """``gas_c2d_job`` (post + commit + reveal), ``gas_c2d_order``, ``gas_fl_round_record`` and
    ``c2d_job_end_to_end_s`` (median of ``rounds`` jobs; needs the sandbox)."""
    from fastapi.testclient import TestClient

    ok, why = sandbox_available()
    if not ok:
        raise SystemExit(f"compute-to-data needs the sandbox: {why}")
    chain = connect("embedded://")
    dep = deploy_devnet(chain)
    with tempfile.TemporaryDirectory() as tmp_:
        tmp = Path(tmp_)
        storage = Storage(LocalStore(tmp / "blobs"), [])
        holder = DatasetsClient(DataRegistry(dep), storage, chain.dev_signers[1], state_dir=tmp / "h")
        data = tmp / "patients.csv"
        data.write_text("age,weight\n" + "".join(f"{30 + i % 40},{60 + i % 25}\n" for i in range(1000)))
        pub = holder.publish(data, name="patients", price=ONE, node_home=tmp / "node")
        ds = pub.dataset_id
        holder.compute.enable(ds, stake=1000 * ONE, price=10**15, budget=100.0)
        holder.compute.allow(ds, MEAN)
        node = holder.open_node(tmp / "node")
        lock = threading.RLock()
        node.orders = ChainOrders(DataRegistry(dep), lock=lock)
        ops = ChainCompute(dep, chain.dev_signers[1], lock=lock)
        c2d = C2DNode(node, ops, ledger=PrivacyLedger(tmp / "node"), policies={ds: OutputPolicy()}, inline=True)
        http = TestClient(create_access_app(node, c2d=c2d))
        consumer = DatasetsClient(DataRegistry(dep), storage, chain.dev_signers[5], state_dir=tmp / "c", http=http)
        market = dep.contract("market")
        times: list[float] = []
        gas_jobs: list[int] = []
        gas_orders: list[int] = []
        try:
            for i in range(rounds + 1):
                log(f"c2d: job {i + 1}/{rounds + 1}")
                t0 = time.perf_counter()
                job = consumer.compute.submit(ds, MEAN, node_url="http://testserver")
                consumer.compute.result(job.job_id, tmp / "r.json", node_url="http://testserver")
                elapsed = time.perf_counter() - t0
                assert job.status["state"] == "done", job.status
                # the gas of this job's transactions: its post, and the node's commit and reveal
                post = chain.fetch_receipts([job.tx])[0]
                assert post is not None
                logs = market.get_events("Revealed", from_block=post.block_number)
                reveal_tx = next(e.tx_hash for e in logs if int(e.args["job_id"]) == job.job_id)
                commits = market.get_events("Committed", from_block=post.block_number)
                commit_tx = next(e.tx_hash for e in commits if int(e.args["job_id"]) == job.job_id)
                receipts = chain.fetch_receipts([commit_tx, reveal_tx])
                if i > 0:       # the first job pays for cold storage
                    times.append(elapsed)
                    gas_jobs.append(post.gas_used + sum(r.gas_used for r in receipts if r is not None))
                    order_receipt = consumer.registry.last_receipt
                    if order_receipt is not None:
                        gas_orders.append(order_receipt.gas_used)
        finally:
            node.close()
        # one federated round over three holders' datasets
        log("c2d: a federated round record")
        services = DataServices(dep)
        datasets = []
        for k in range(3):
            d, _ = holder.registry.publish(chain.dev_signers[1], card=bytes([k + 1]) * 32,
                                           content_hash=bytes([k + 9]) * 32)
            services.set_compute_node(d, chain.dev_signers[2 + k].address, chain.dev_signers[1])
            datasets.append(d)
        consumer_signer = chain.dev_signers[6]
        run = services.open_run(datasets, 3, 10**16, chain.timestamp() + 3600, consumer_signer)
        services.record_round(run, 1, [0, 1, 2], b"\x01" * 32, consumer_signer)
        first = services.last_receipt.gas_used if services.last_receipt else 0
        services.record_round(run, 2, [0, 1, 2], b"\x02" * 32, consumer_signer)
        steady = services.last_receipt.gas_used if services.last_receipt else 0
    times.sort()
    gas_jobs.sort()
    return {
        "c2d_job_end_to_end_s": round(times[len(times) // 2], 3),
        "gas_c2d_job": gas_jobs[len(gas_jobs) // 2],
        "gas_c2d_order": sorted(gas_orders)[len(gas_orders) // 2] if gas_orders else 0,
        "gas_fl_round_record": steady,
        "gas_fl_round_record_first": first,
    }


if __name__ == "__main__":
    import json

    print(json.dumps(measure_c2d(), indent=2))
