"""Compute-to-data end to end on the embedded chain, with the real sandbox: a holder enables its
node, allows an algorithm, a consumer orders the compute service and posts a DIRECT job, the node
runs the algorithm next to the data (bubblewrap) and delivers the result's digest on chain, the
consumer fetches the result and checks it. Refusals: a disallowed algorithm (refused before
paying; forced, declined and refunded), a network-using algorithm (fails inside the sandbox:
declined, refunded), an output the policy forbids, an ε past the budget, another consumer asking
for the result, a compute order used to download the data."""

from __future__ import annotations

import base64
import json
import threading
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from agora.chain import connect
from agora.data import DataRegistry, DatasetsClient
from agora.data.access import create_access_app
from agora.data.c2d import C2D_KIND, C2DNode, ChainCompute, OutputPolicy
from agora.data.orders import ChainOrders
from agora.data.privacy import PrivacyLedger
from agora.errors import ConfigError
from agora.protocol import deploy_devnet
from agora.storage import LocalStore, Storage
from agora.workloads.sandbox import Limits, sandbox_available

ONE = 10**18

usable, why = sandbox_available()
pytestmark = pytest.mark.skipif(not usable, reason=f"no sandbox here: {why}")

MEAN = b'''
import csv, json, os
rows = list(csv.DictReader(open(os.environ["AGORA_DATA"])))
col = json.load(open(os.environ["AGORA_PARAMS"]))["column"]
values = [float(r[col]) for r in rows]
json.dump({"mean": sum(values) / len(values), "count": len(values)}, open("out/result.json", "w"))
'''
ROWS_LEAK = b'''
import os, shutil
shutil.copy(os.environ["AGORA_DATA"], "out/result.json")
'''
PHONE_HOME = b'''
import socket
socket.create_connection(("127.0.0.1", 9), timeout=2)
'''


@pytest.fixture
def world(tmp_path: Path):
    chain = connect("embedded://")
    dep = deploy_devnet(chain)
    storage = Storage(LocalStore(tmp_path / "blobs"), [])
    holder = DatasetsClient(DataRegistry(dep), storage, chain.dev_signers[1], state_dir=tmp_path / "holder")
    data = tmp_path / "patients.csv"
    data.write_text("age,weight\n" + "".join(f"{30 + i % 40},{60 + i % 25}\n" for i in range(200)))
    pub = holder.publish(data, name="patients", price=ONE, node_home=tmp_path / "node")
    holder.compute.enable(pub.dataset_id, stake=1000 * ONE, price=10**15, budget=2.0,
                          policy=OutputPolicy(files=("result.json",), max_bytes=4096, min_rows=20))
    node = holder.open_node(tmp_path / "node")
    lock = threading.RLock()
    node.orders = ChainOrders(DataRegistry(dep), lock=lock)
    c2d = C2DNode(node, ChainCompute(dep, chain.dev_signers[1], lock=lock, receipts=tmp_path / "c2d-receipts.sqlite"),
                  ledger=PrivacyLedger(tmp_path / "node"),
                  policies={pub.dataset_id: OutputPolicy(files=("result.json",), max_bytes=4096, min_rows=20)},
                  limits=Limits(cpu_s=20, memory_bytes=1 << 30, max_processes=32, output_bytes=1 << 20, wall_s=60),
                  inline=True)
    http = TestClient(create_access_app(node, c2d=c2d))
    consumer = DatasetsClient(DataRegistry(dep), storage, chain.dev_signers[5], state_dir=tmp_path / "c", http=http)
    try:
        yield dep, holder, consumer, pub.dataset_id, c2d
    finally:
        node.close()


def test_a_job_runs_next_to_the_data_and_only_its_result_leaves(world, tmp_path: Path) -> None:
    dep, holder, consumer, ds, _ = world
    holder.compute.allow(ds, MEAN)
    token = dep.token
    before = token.balanceOf(consumer.signer.address)
    job = consumer.compute.submit(ds, MEAN, node_url="http://testserver", params={"column": "age"})
    assert job.status["state"] == "done"
    status = consumer.compute.status(job.job_id, node_url="http://testserver")
    assert status["state"] == "settled" and status["node"]["state"] == "done"
    assert status["result_digest"] == status["node"]["resultDigest"]
    out = consumer.compute.result(job.job_id, tmp_path / "mean.json", node_url="http://testserver")
    result = json.loads(out.read_text())
    assert result["count"] == 200 and abs(result["mean"] - sum(30 + i % 40 for i in range(200)) / 200) < 1e-9
    assert token.balanceOf(consumer.signer.address) < before      # the order and the job were paid
    # the job's model and input on chain are the algorithm and the request
    market = dep.contract("market")
    assert int(market.job(job.job_id)[2]) == C2D_KIND
    # nobody else gets the result: the node answers only a request signed by the job's consumer
    other = DatasetsClient(consumer.registry, consumer.storage, dep.chain.dev_signers[6], http=consumer.http)
    with pytest.raises(ConfigError, match="not_your_job"):
        other.compute.result(job.job_id, tmp_path / "theirs.json", node_url="http://testserver")
    # the compute order does not download the data
    with pytest.raises(Exception, match="order_wrong_service|not for the download service"):
        consumer.download(ds, job.order_id, tmp_path / "raw.csv", node_url="http://testserver")
    assert not (tmp_path / "raw.csv").exists()


def test_a_disallowed_algorithm_is_refused_before_paying_and_declined_if_forced(world) -> None:
    dep, holder, consumer, ds, c2d = world
    with pytest.raises(ConfigError, match="is not allowed on dataset"):
        consumer.compute.submit(ds, MEAN, node_url="http://testserver", params={"column": "age"})
    # allowed, submitted, then denied again before the node runs it: the node declines, the escrow comes back
    holder.compute.allow(ds, MEAN)
    c2d.inline = True
    market = dep.contract("market")
    orig = c2d.ops.algorithm_allowed
    c2d.ops.algorithm_allowed = lambda *_: False        # type: ignore[method-assign]
    try:
        job = consumer.compute.submit(ds, MEAN, node_url="http://testserver", params={"column": "age"})
    finally:
        c2d.ops.algorithm_allowed = orig                # type: ignore[method-assign]
    assert job.status["state"] == "failed" and job.status["code"] == "algorithm_not_allowed"
    assert int(market.job(job.job_id)[5]) == 9          # REFUNDED
    assert market.owed(consumer.signer.address) > 0


@pytest.mark.parametrize(("source", "code"), [(PHONE_HOME, "algorithm_failed"), (ROWS_LEAK, "output_refused")],
                         ids=["network", "raw-rows"])
def test_a_misbehaving_algorithm_is_stopped_declined_and_refunded(world, source: bytes, code: str) -> None:
    dep, holder, consumer, ds, _ = world
    holder.compute.allow(ds, source)
    job = consumer.compute.submit(ds, source, node_url="http://testserver")
    assert job.status["state"] == "failed" and job.status["code"] == code, job.status
    assert "weight" not in json.dumps(job.status)      # nothing of the data in the answer
    assert int(dep.contract("market").job(job.job_id)[5]) == 9


def test_privacy_budget_is_spent_on_chain_and_a_job_past_it_is_refused(world) -> None:
    dep, holder, consumer, ds, _ = world
    holder.compute.allow(ds, MEAN)
    job = consumer.compute.submit(ds, MEAN, node_url="http://testserver", params={"column": "age"}, epsilon=1.5)
    assert job.status["state"] == "done"
    assert holder.compute.budget(ds)["epsilon_left"] == pytest.approx(0.5)
    view = consumer.show(ds).to_json()["compute"]
    assert view["node"] == holder.signer.address and view["epsilon_spent"] == pytest.approx(1.5)
    assert view["output_policy"] is not None and view["epsilon_budget"] == pytest.approx(2.0)
    with pytest.raises(ConfigError, match="more than the 0.5 left"):
        consumer.compute.submit(ds, MEAN, node_url="http://testserver", params={"column": "age"}, epsilon=1.0)


def test_a_delivered_result_leaves_an_anchored_receipt_naming_the_algorithm_and_the_data(world) -> None:
    from agora.storage import cid_digest, cid_for
    from agora.verification import verify_bundle

    dep, holder, consumer, ds, c2d = world
    holder.compute.allow(ds, MEAN)
    job = consumer.compute.submit(ds, MEAN, node_url="http://testserver", params={"column": "age"})
    assert job.status["state"] == "done"
    book = c2d.ops.book
    ((digest, r),) = book.kept()
    verdict = verify_bundle(dep, book.bundle(digest))
    assert verdict.final and book.pending() == 0  # anchored as it was delivered
    assert verdict.entitled_as == f"a provider assigned to job {job.job_id}; its output is the job's agreed result"
    assert (r.kind, r.subject, r.runner, r.payer) == ("compute-item", job.job_id, holder.signer.address,
                                                      consumer.signer.address)
    assert r.weights_hash == cid_digest(cid_for(MEAN))  # the algorithm the owner allowed
    assert r.input_hash == holder.registry.fetch(ds).content_hash  # the data it ran on, by its registered hash


def test_the_node_refuses_a_request_that_is_not_the_jobs(world) -> None:
    dep, holder, consumer, ds, _ = world
    holder.compute.allow(ds, MEAN)
    job = consumer.compute.submit(ds, MEAN, node_url="http://testserver", params={"column": "age"})
    r = consumer.http.post("/compute", json={"jobId": str(job.job_id + 1000), "tx": job.tx,
                                             "request": base64.b64encode(b"{}").decode(), "algorithm": ""})
    assert r.status_code == 400 and r.json()["code"] == "bad_request"


def test_an_algorithm_swapped_after_it_was_allowed_is_refused(world, monkeypatch: pytest.MonkeyPatch) -> None:
    """The job names the allowed algorithm's digest; handing the node other bytes for it is refused
    (the job is left alone: the right hand-over still runs it)."""
    from agora.data.compute_client import ComputeToDataClient

    dep, holder, consumer, ds, _ = world
    holder.compute.allow(ds, MEAN)
    sent: list[dict] = []
    monkeypatch.setattr(ComputeToDataClient, "_post", lambda self, url, body: sent.append(body) or {"state": "?"})
    job = consumer.compute.submit(ds, MEAN, node_url="http://testserver", params={"column": "age"})
    monkeypatch.undo()
    body = dict(sent[0])
    swapped = {**body, "algorithm": base64.b64encode(ROWS_LEAK).decode()}
    r = consumer.http.post("/compute", json=swapped)
    assert r.status_code == 403 and r.json()["code"] == "not_the_jobs_request"
    assert int(dep.contract("market").job(job.job_id)[5]) == 1      # still assigned: nothing declined
    r = consumer.http.post("/compute", json=body)
    assert r.status_code == 200 and r.json()["state"] == "done"


def test_a_job_its_node_never_answered_is_reclaimed(world, monkeypatch: pytest.MonkeyPatch) -> None:
    """Never handed over (or the node is gone): past the commit window the consumer reclaims the
    escrow; never before."""
    from agora.data.compute_client import ComputeToDataClient

    dep, holder, consumer, ds, _ = world
    holder.compute.allow(ds, MEAN)
    monkeypatch.setattr(ComputeToDataClient, "_post", lambda self, url, body: {"state": "not handed over"})
    job = consumer.compute.submit(ds, MEAN, node_url="http://testserver", params={"column": "age"})
    with pytest.raises(ConfigError, match=f"job {job.job_id} cannot be refunded now: .*not timed out"):
        consumer.compute.reclaim(job.job_id)
    market = dep.contract("market")
    owed = int(market.owed(consumer.signer.address))
    dep.chain.advance_time(int(market.commit_window()) + 1)
    view = consumer.compute.reclaim(job.job_id)
    assert view["state"] == "refunded" and int(market.owed(consumer.signer.address)) > owed
