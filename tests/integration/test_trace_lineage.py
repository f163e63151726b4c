"""``agora trace`` on the embedded chain, across every layer: two datasets are published, a compute
job is posted and settled by a staked provider, a model is registered as trained on the datasets by
that job, served and called for pay; its output's receipt bundle is then traced back to the
datasets' owners, the job's provider and the payments — and the model, a dataset, the job and an
address are traced on their own. Bad references are refused with one clear line."""

from __future__ import annotations

import json
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from agora.chain import Signer, connect
from agora.chain.evidence import Bundle, ReceiptError
from agora.compute import ComputeClient, JobState, Market, Policy, ProviderDaemon
from agora.errors import ConfigError
from agora.protocol import Deployment, deploy_devnet, fund_account
from agora.storage import LocalStore, Storage
from agora.trace import Graph, amount_text, parse_ref, render_html, render_tree, trace, trace_bundle
from agora.value import OWNER, Channels, ModelCard, ModelRegistry, ModelsClient, PaidService, Share, create_app
from agora.workloads import build_digits_model, digits_inputs, get_workload
from tests.integration.lineage_helpers import publish_datasets

with warnings.catch_warnings():
    warnings.filterwarnings("ignore", message=r"Using `httpx` with `starlette\.testclient`")
    from fastapi.testclient import TestClient

STAKE = 1_000 * 10**18
JOB_PRICE = 10**15
CALL_PRICE = 10**15 + 7
CALLS = 3


@dataclass
class World:
    chain: Any
    dep: Deployment
    datasets: list[int]
    data_owner: Signer
    job_id: int
    provider: Signer
    requester: Signer
    model_id: int
    parent_id: int
    model_owner: Signer
    partner: Signer
    payer: Signer
    bundle: dict[str, Any]


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> World:
    root = tmp_path_factory.mktemp("trace")
    chain = connect("embedded://")
    dep = deploy_devnet(chain)
    s = chain.dev_signers
    data_owner, provider, requester, model_owner, partner, payer = s[1], s[2], s[3], s[4], s[5], s[6]
    for who in (provider, requester, payer):
        fund_account(dep, who.address, tokens=10**22, eth=0)
    datasets = publish_datasets(dep, data_owner, count=2)

    # the training job: posted, run and settled by a staked provider
    storage = Storage(LocalStore(root / "blobs"))
    market = Market(dep)
    market.register(provider, kinds=[1], price=JOB_PRICE, stake=STAKE)
    model_bytes = build_digits_model()
    job = ComputeClient(market, storage, requester).submit(
        "onnx-classify", model_bytes, digits_inputs(2, 0), policy=Policy.none(), price_per_unit=JOB_PRICE)
    daemon = ProviderDaemon(market, provider, storage, root / "provider.db", concurrency=1)
    for _ in range(40):
        daemon.step()
        if job.status().closed:
            break
        chain.mine(1)
    daemon.close()
    assert job.status().state == JobState.SETTLED

    # the model: a first version, then the one trained on the datasets by the job, split with a partner
    registry = ModelRegistry(dep, storage)
    workload = get_workload("onnx-classify")
    card = ModelCard(name="digits", kind="onnx-classify", weights_cid=storage.put(model_bytes),
                     weights_hash="0x" + workload.weights_hash(model_bytes).hex(), price=CALL_PRICE,
                     endpoint="http://testserver")
    parent_id, _ = registry.register(card, model_owner, split=[Share(OWNER, 10_000)])
    model_id, _ = registry.register(card, model_owner, split=[Share(OWNER, 7_000), Share(partner.address, 3_000)],
                                    datasets=datasets, jobs=[job.id], parent=parent_id)

    # a paid call, its receipt anchored; the model's revenue claimed and split
    channels = Channels(dep)
    svc = PaidService(chain=chain, registry=registry, channels=channels, model_id=model_id, card=card,
                      workload=workload, model_bytes=model_bytes, signer=model_owner,
                      ledger_path=root / "ledger.sqlite")
    svc.sync()
    http = TestClient(create_app(svc, claim_on_exit=False))
    client = ModelsClient(registry, channels, payer, root / "client.sqlite", storage=storage, http=http)
    results = [client.call(model_id, digits_inputs(1, seed=i)) for i in range(CALLS)]
    assert svc.anchor(force=True) == CALLS
    bundle = client.fetch_bundle(results[0].receipt)
    assert svc.claim(force=True) == CALL_PRICE * CALLS
    channels.distribute(model_id, model_owner)
    svc.close()
    return World(chain, dep, datasets, data_owner, job.id, provider, requester, model_id, parent_id, model_owner,
                 partner, payer, bundle)


def _edge(g: Graph, src: str, dst: str, relation: str) -> dict[str, Any]:
    found = [e for e in g.edges if e.src == src and e.dst == dst and e.relation == relation]
    assert found, f"no edge {src} -{relation}-> {dst}; edges: {[(e.src, e.relation, e.dst) for e in g.edges]}"
    return found[0].facts


def _a(signer: Signer) -> str:
    return f"address:{signer.address}"


def test_a_receipt_traces_back_to_the_data_the_job_and_every_payment(world: World) -> None:
    w = world
    started = time.perf_counter()
    g = trace_bundle(w.dep, Bundle.from_json(w.bundle))
    took = time.perf_counter() - started
    root = g.nodes[g.root]
    assert root.kind == "receipt" and root.facts["status"] == "anchored"
    model, parent, job = f"model:{w.model_id}", f"model:{w.parent_id}", f"job:{w.job_id}"
    # output → receipt → model version → parent version
    assert _edge(g, g.root, model, "output of") == {"item": 1}
    assert _edge(g, g.root, _a(w.payer), "paid by")["amount_wei"] == CALL_PRICE
    _edge(g, g.root, _a(w.model_owner), "signed by")
    _edge(g, model, parent, "new version of")
    assert g.nodes[parent].label == f"model {w.parent_id} · v1" and g.nodes[model].facts["version"] == 2
    # → the datasets it was trained on → their owners
    for d in w.datasets:
        _edge(g, model, f"dataset:{d}", "trained on")
        _edge(g, f"dataset:{d}", _a(w.data_owner), "owned by")
    # → the training job → its requester and provider (with its stake and reputation), and what it was paid
    _edge(g, model, job, "trained by")
    assert g.nodes[job].facts["state"] == "settled" and g.nodes[job].facts["workload"] == "onnx-classify"
    run = _edge(g, job, _a(w.provider), "run by")
    assert run["role"] == "worker" and run["amount_wei"] > 0 and run["result_agreed"] is True
    assert g.nodes[_a(w.provider)].facts["provider_stake_wei"] == STAKE
    assert _edge(g, job, _a(w.requester), "requested by")["amount_wei"] >= run["amount_wei"]
    # → every payment along the way: what the payer paid the model, and each revenue share
    total = CALL_PRICE * CALLS
    paid = _edge(g, model, _a(w.payer), "paid by")
    assert paid["amount_wei"] == total and paid["channels"] == 1
    assert g.nodes[model].facts["claimed_wei"] == total and g.nodes[model].facts["distributed_wei"] == total
    share = _edge(g, model, _a(w.partner), "revenue share")
    assert share["bps"] == 3_000 and share["amount_wei"] == total * 3_000 // 10_000
    assert _edge(g, model, _a(w.model_owner), "revenue share")["amount_wei"] == total - share["amount_wei"]
    assert not g.truncated and g.notes == []
    # the three renderings
    text = render_tree(g)
    assert text.splitlines()[0].startswith("receipt 0x")
    assert f"trained by → job {w.job_id} · onnx-classify" in text and "run by · " in text
    assert f"revenue share · 30% · {amount_text(total * 3_000 // 10_000, 'AGR')}" in text
    page = render_html(g)
    assert page.count("<svg") == 1 and "http://" not in page.replace("http://testserver", "")
    data = json.loads(json.dumps(g.to_json()))
    assert data["root"] == g.root and {n["id"] for n in data["nodes"]} == set(g.nodes)
    print(f"\nreceipt trace: {len(g.nodes)} nodes, {len(g.edges)} edges in {took * 1000:.0f} ms")


def test_each_kind_of_reference_traces_on_its_own(world: World) -> None:
    w = world
    timings: dict[str, float] = {}

    def timed(ref: str, depth: int) -> Graph:
        started = time.perf_counter()
        g = trace(w.dep, ref, depth=depth)
        timings[ref] = time.perf_counter() - started
        assert g.root == parse_ref(ref)
        return g

    model = f"model:{w.model_id}"
    g = timed(model, 6)
    assert g.root == model and g.nodes[model].kind == "model"
    _edge(g, model, f"job:{w.job_id}", "trained by")
    _edge(g, f"job:{w.job_id}", _a(w.provider), "run by")
    g = timed(f"dataset:{w.datasets[0]}", 1)
    _edge(g, f"dataset:{w.datasets[0]}", _a(w.data_owner), "owned by")
    g = timed(f"job:{w.job_id}", 1)
    _edge(g, f"job:{w.job_id}", _a(w.requester), "requested by")
    # an address is expanded only as the root; depth 0 names its neighbours without expanding them
    g = timed(w.provider.address, 0)
    _edge(g, _a(w.provider), f"job:{w.job_id}", "ran")
    assert g.nodes[_a(w.provider)].facts["jobs_run"] == 1
    assert g.nodes[_a(w.provider)].facts["provider_stake_wei"] == STAKE
    assert g.nodes[f"job:{w.job_id}"].facts == {}, "depth 0: the job is named, not described"
    g = timed(f"address:{w.model_owner.address.lower()}", 0)
    _edge(g, _a(w.model_owner), model, "owns")
    earned = _edge(g, _a(w.model_owner), model, "earned from")["amount_wei"]
    owner = g.nodes[_a(w.model_owner)].facts
    assert owner["models_owned"] == 2 and owner["revenue_withdrawable_wei"] == earned
    assert owner["revenue_withdrawn_wei"] == 0
    g = timed(w.data_owner.address, 0)
    for d in w.datasets:
        _edge(g, _a(w.data_owner), f"dataset:{d}", "owns")
    g = timed(w.payer.address, 0)
    assert _edge(g, _a(w.payer), model, "paid")["amount_wei"] > 0
    print("\n" + ", ".join(f"{r}: {t * 1000:.0f} ms" for r, t in timings.items()))


def test_bad_references_are_refused_with_one_clear_line(world: World, tmp_path: Path) -> None:
    w = world
    with pytest.raises(ConfigError, match=f"there is no model 999 on chain {w.chain.chain_id}"):
        trace(w.dep, "model:999")
    with pytest.raises(ConfigError, match="there is no job 999"):
        trace(w.dep, "job:999")
    with pytest.raises(ConfigError, match="there is no dataset 999"):
        trace(w.dep, "dataset:999")
    with pytest.raises(ConfigError, match="no installed layer knows tournament:1"):
        trace(w.dep, "tournament:1")
    for bad, says in (("model:x", "a model id is a positive whole number"), ("model:0", "positive whole number"),
                      ("0x1234", "is not something to trace"), ("address:0x12", "is not an address"),
                      ("receipt:0xabc", "traced from its bundle file")):
        with pytest.raises(ConfigError, match=says):
            parse_ref(bad)
    tampered = dict(w.bundle, receipt=dict(w.bundle["receipt"], amount="1"))
    with pytest.raises(ReceiptError, match="not by its runner"):
        trace_bundle(w.dep, Bundle.from_json(tampered))


def test_the_command_prints_a_tree_json_and_an_html_page(world: World, tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    from agora.cli import trace as cli_trace

    w = world

    class Client:
        deployment = w.dep

    class State:
        client = Client()

    monkeypatch.setattr(cli_trace, "get_state", lambda ctx: State())
    runner = CliRunner()
    bundle_file = tmp_path / "bundle.json"
    bundle_file.write_text(json.dumps(w.bundle))
    page = tmp_path / "trace.html"
    done = runner.invoke(cli_trace.app, [str(bundle_file), "--html", str(page)])
    assert done.exit_code == 0, done.output
    assert f"output of → model {w.model_id} · v2" in done.output
    assert "<svg" in page.read_text()
    done = runner.invoke(cli_trace.app, [f"job:{w.job_id}", "--json", "--depth", "1"])
    assert done.exit_code == 0, done.output
    assert json.loads(done.stdout)["root"] == f"job:{w.job_id}"
    done = runner.invoke(cli_trace.app, ["nonsense"])
    assert done.exit_code != 0 and isinstance(done.exception, ConfigError)
    assert "is not something to trace" in str(done.exception)
    done = runner.invoke(cli_trace.app, [str(tmp_path / "missing.json")])
    assert isinstance(done.exception, ConfigError) and "does not exist" in str(done.exception)
