"""Lineage across the layers, through the SDK (a test sits above the layers, so it may use both):
a dataset → a model trained on it → the model's outputs, bought by an analyst and published as
a new dataset that names the model and the evidence → walked back to the first dataset's owner."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import agora.context as sdk_context
from agora import Client
from agora.chain import connect
from agora.data import OWNER, Share
from agora.errors import ConfigError
from agora.protocol import deploy_devnet
from agora.storage import bytes32_to_cid

ONE = 10**18


def test_a_models_outputs_as_a_dataset_walk_back_to_the_data_it_was_trained_on(
    agora_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    chain = connect("embedded://")
    dep = deploy_devnet(chain)
    monkeypatch.setattr(sdk_context, "deploy_devnet", lambda *a, **k: dep)  # one deployment for every client
    owner, modeler, analyst = (Client(chain, signer=chain.dev_signers[i]) for i in (1, 2, 3))
    raw = tmp_path / "raw.csv"
    raw.write_text("x,y\n1,2\n3,4\n")
    first = owner.data.publish(raw, name="raw measurements", price=ONE)

    reg = modeler.models.registry.publish(
        modeler.require_signer(), kind="onnx-classify", name="digits", price=10**15, digits_demo=True,
        split=[Share(OWNER, 10_000)], datasets=[first.dataset_id],
    )
    # the analyst calls the model (here: its outputs, and a receipt-like record of the calls) …
    outputs = tmp_path / "predictions.csv"
    outputs.write_text("digit\n3\n7\n")
    evidence = tmp_path / "receipts.json"
    evidence.write_text(json.dumps([{"model": reg.model_id, "output": "0x01"}]))
    # … and sells them as a dataset that names where they came from
    sources = [analyst.data.source("model", reg.model_id, evidence=evidence),
               analyst.data.source("dataset", first.dataset_id)]
    derived = analyst.data.publish(outputs, name="digits predictions", price=ONE, sources=sources)

    view = analyst.data.show(derived.dataset_id)
    kinds = [(kind, src.id) for kind, src in view.sources]
    assert kinds == [("model", reg.model_id), ("dataset", first.dataset_id)]
    model_source = view.sources[0][1]
    assert analyst.storage.get(bytes32_to_cid(model_source.evidence)) == evidence.read_bytes()
    assert view.to_json()["sources"][0]["evidence"] == bytes32_to_cid(model_source.evidence)

    # walk back: derived dataset -> model -> the datasets it was trained on -> their owners now
    lineage = analyst.models.lineage(model_source.id)
    assert [(d.id, d.owner) for d in lineage.datasets] == [(first.dataset_id, owner.address)]
    assert analyst.data.show(first.dataset_id).info.owner == owner.address

    # sources are set once, by the owner
    with pytest.raises(Exception, match="sources already set"):
        analyst.data.registry.set_sources(derived.dataset_id, sources[:1], analyst.require_signer())
    with pytest.raises(ConfigError, match=f"there is no model 99 on chain {chain.chain_id}"):
        analyst.data.source("model", 99)
    with pytest.raises(ConfigError, match="a source is a model, a job or a dataset, not 'paper'"):
        analyst.data.source("paper", 1)
