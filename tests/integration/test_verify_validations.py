"""ERC-8004 validations of a model, answered from the chain (``agora.verify``, ``agora validation``):
a model trained by a replicated job gets 100 from the evidence validator, one whose training job
was refunded gets 0; the validator refuses a job that is not the model's, or still open, or that
it was not asked about; tools read the answers through the registry's ERC-8004 getters."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import agora.context as sdk_context
from agora import Client
from agora.chain import connect
from agora.compute import ComputeClient, Market, Policy, ProviderDaemon
from agora.errors import ConfigError
from agora.protocol import deploy_devnet
from agora.storage import LocalStore, Storage
from agora.value import OWNER, Share
from agora.verify import TRAINING_JOB_TAG, Validations
from agora.workloads import build_digits_model, digits_inputs
from tests.integration.cli_helpers import agora, one_line_error

PRICE, STAKE = 10**15, 1_000 * 10**18


def test_a_models_training_job_is_validated_from_the_chain(
    agora_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:
    chain = connect("embedded://")
    dep = deploy_devnet(chain)
    monkeypatch.setattr(sdk_context, "deploy_devnet", lambda *a, **k: dep)
    market, storage = Market(dep), Storage(LocalStore(tmp_path / "blobs"))
    for a in (1, 2):
        market.register(chain.dev_signers[a], kinds=[1], price=PRICE, stake=STAKE)
    requester = chain.dev_signers[9]
    jobs = ComputeClient(market, storage, requester)
    model = build_digits_model()
    replicated = jobs.submit("onnx-classify", model, digits_inputs(2, 1), policy=Policy.replicate(2),
                             price_per_unit=PRICE)
    daemons = [ProviderDaemon(market, chain.dev_signers[a], storage, tmp_path / f"p{a}.db", concurrency=1)
               for a in (1, 2)]
    for _ in range(40):
        for d in daemons:
            d.step()
        if replicated.status().closed:
            break
        chain.mine(1)
    assert replicated.status().closed
    for d in daemons:
        d.close()
    open_job = jobs.submit("onnx-classify", model, digits_inputs(2, 2), policy=Policy.none(), price_per_unit=PRICE)

    modeler = Client(chain, signer=requester)
    reg = modeler.models.registry.publish(requester, kind="onnx-classify", name="digits", price=PRICE,
                                          digits_demo=True, split=[Share(OWNER, 10_000)],
                                          jobs=[replicated.id, open_job.id])
    mid = reg.model_id
    v = modeler.verify.attest_training_job(mid, replicated.id)
    assert (v.response, v.tag, v.agent_id) == (100, TRAINING_JOB_TAG, mid)
    assert v.response_hash == replicated.status().result
    assert v.validator == dep.addresses["evidence_validator"]
    assert modeler.verify.summary(mid) == (1, 100)
    validations = Validations(dep)
    with pytest.raises(ConfigError, match="job not closed"):
        validations.attest_training_job(mid, open_job.id, requester)
    with pytest.raises(ConfigError, match="not a training job of the model"):
        validations.attest_training_job(mid, 999, requester)
    with pytest.raises(ConfigError, match="not authorized"):  # only the owner asks
        validations.attest_training_job(mid, replicated.id + 50, chain.dev_signers[3])
    from agora.errors import Reverted

    with pytest.raises(Reverted, match="ValidationRegistry: unknown request"):  # no one asked about this pair
        validations.evidence.attest_training_job(mid, open_job.id + 5, sender=chain.dev_signers[3])
    # the same request hash, but the owner named another validator: not the evidence validator's to answer
    validations.request(mid, chain.dev_signers[3].address, validations.training_job_request(mid, open_job.id + 6),
                        requester)
    with pytest.raises(Reverted, match="EvidenceValidator: not asked"):
        validations.evidence.attest_training_job(mid, open_job.id + 6, sender=chain.dev_signers[3])
    # anyone may trigger the answer once the owner asked: the answer is the chain's, not theirs
    validations.request(mid, validations.evidence.address, validations.training_job_request(mid, replicated.id + 100),
                        requester)
    with pytest.raises(Reverted, match="EvidenceValidator: not a training job of the model"):
        validations.evidence.attest_training_job(mid, replicated.id + 100, sender=chain.dev_signers[3])
    # the CLI: the same, and the model as an ERC-8004 agent
    code, out, _ = agora(capsys, "--chain", "embedded://", "validation", "list", str(mid), "--json")
    assert code == 0 and json.loads(out)["validations"][0]["response"] == 100
    code, out, _ = agora(capsys, "--chain", "embedded://", "validation", "summary", str(mid))
    assert code == 0 and "1 answered validation(s), mean 100/100" in out
    code, out, _ = agora(capsys, "--chain", "embedded://", "validation", "agent", str(mid))
    doc = json.loads(out)
    assert doc["registrations"] == [{"agentId": mid, "agentRegistry": f"eip155:{chain.chain_id}:"
                                                                      f"{dep.addresses['models']}"}]
    assert doc["type"].endswith("#registration-v1") and doc["agentWallet"].endswith(requester.address)
    code, _, err = agora(capsys, "--chain", "embedded://", "validation", "summary", "abc")
    assert code != 0
    code, _, err = agora(capsys, "--chain", "embedded://", "--account", "9", "validation", "attest", str(mid), "999")
    assert code == 1 and "not a training job of the model" in one_line_error(err)
