"""``agora zk setup | prove | verify | register | show`` and ``agora provider run --zk`` refusals,
in process on the embedded chain with real ezkl (a tiny MLP; the SRS generated here: INSECURE,
acceptable only in a test)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import agora.context as sdk_context
from agora import Client
from agora.chain import connect
from agora.protocol import deploy_devnet
from agora.value import OWNER, Share
from agora.workloads.zk import zk_available
from tests.integration.cli_helpers import agora, one_line_error
from tests.integration.test_zk_proofs import X, mlp

pytestmark = [
    pytest.mark.slow,
    pytest.mark.xdist_group("zk"),
    pytest.mark.skipif(not zk_available(), reason="the zk prover's environment .venv-zk is missing (run `make setup`)"),
]


def test_setup_prove_verify_register_from_the_command_line(
    agora_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:
    model, _ = mlp(seed=0)
    (tmp_path / "m.onnx").write_bytes(model)
    np.save(tmp_path / "x.npy", X.reshape(1, -1))
    (tmp_path / "x.json").write_text(json.dumps(list(X[::-1])))
    folder, proof = tmp_path / "circuit", tmp_path / "proof.json"

    def cli(*args: str) -> tuple[int, str, str]:
        return agora(capsys, "--chain", "embedded://", *args)

    code, out, err = cli("zk", "setup", str(tmp_path / "m.onnx"), "--sample", str(tmp_path / "x.npy"),
                         "-o", str(folder), "--json")
    assert code == 0, err
    view = json.loads(out)
    assert view["weights"] == "polycommit" and view["srs_insecure"] is True and view["outputs"] == [8, 3]
    code, out, err = cli("zk", "prove", str(folder), "-i", str(tmp_path / "x.npy"), "-o", str(proof))
    assert code == 0 and out.startswith("proved in "), err
    code, out, _ = cli("zk", "verify", str(folder), str(proof))
    assert code == 0 and out.startswith("valid: outputs ")
    doc = json.loads(proof.read_text())
    tampered = tmp_path / "tampered.json"
    tampered.write_text(json.dumps(doc | {"proof": doc["proof"][:-128]}))
    code, _, err = cli("zk", "verify", str(folder), str(tampered))
    assert code == 1 and "does not verify" in one_line_error(err)
    other_input = tmp_path / "other.json"
    instances = list(doc["instances"])
    instances[0] = str(int(instances[0]) + 1)  # the first input (no hash instance under polycommit)
    other_input.write_text(json.dumps(doc | {"instances": instances}))
    code, _, err = cli("zk", "verify", str(folder), str(other_input))
    assert code == 1 and "does not verify" in one_line_error(err)
    code, _, err = cli("zk", "setup", str(tmp_path / "m.onnx"), "--sample", str(tmp_path / "x.npy"),
                       "-o", str(tmp_path / "c2"), "--weights", "plain")
    assert code == 1 and "--weights is polycommit, hashed or fixed" in one_line_error(err)
    code, _, err = cli("zk", "setup", str(tmp_path / "m.onnx"), "--sample", str(tmp_path / "x.npy"),
                       "-o", str(tmp_path / "c2"), "--srs", str(tmp_path / "x.npy"))
    assert code == 1 and "--srs and --srs-sha256 go together" in one_line_error(err)

    # on chain: the model registered, its circuit registered by its owner, shown; a provider's circuits checked
    chain = connect("embedded://")
    dep = deploy_devnet(chain)
    monkeypatch.setattr(sdk_context, "deploy_devnet", lambda *a, **k: dep)
    owner = Client(chain, signer=chain.dev_signers[3])
    reg = owner.models.registry.publish(owner.require_signer(), kind="onnx-classify", name="tiny", price=10**15,
                                        weights=model, split=[Share(OWNER, 10_000)])
    other, _ = mlp(seed=1)
    stranger = owner.models.registry.publish(owner.require_signer(), kind="onnx-classify", name="other",
                                             price=10**15, weights=other, split=[Share(OWNER, 10_000)])
    code, _, err = cli("--account", "3", "zk", "register", str(stranger.model_id), str(folder))
    assert code == 1 and "is for other weights than model" in one_line_error(err)
    code, _, err = cli("--account", "4", "zk", "register", str(reg.model_id), str(folder))
    assert code == 1 and "not the model's owner" in one_line_error(err)
    code, out, err = cli("--account", "3", "zk", "register", str(reg.model_id), str(folder), "--json")
    assert code == 0, err
    assert json.loads(out)["circuit_id"] == view["circuit_id"]
    code, _, err = cli("--account", "3", "zk", "register", str(reg.model_id), str(folder))
    assert code == 1 and "already has a circuit registered" in one_line_error(err)
    code, out, _ = cli("zk", "show", str(reg.model_id), "--json")
    assert code == 0 and json.loads(out)["artifacts"] == view["circuit_id"]
    code, out, _ = cli("zk", "verify", str(folder), str(proof), "--model", str(reg.model_id))
    assert code == 0 and f"model {reg.model_id}'s registered circuit" in out
    code, _, err = cli("zk", "show", str(stranger.model_id))
    assert code == 1 and "has no zero-knowledge circuit registered" in one_line_error(err)
    from agora.compute import Market, ProviderDaemon
    from agora.errors import ConfigError

    market = Market(dep)
    market.register(chain.dev_signers[1], kinds=[1], price=10**15, stake=1_000 * 10**18)
    with pytest.raises(ConfigError, match=f"model {stranger.model_id} has no circuit registered"):
        ProviderDaemon(market, chain.dev_signers[1], owner.storage, tmp_path / "p.db",
                       zk_circuits={stranger.model_id: folder})
    daemon = ProviderDaemon(market, chain.dev_signers[1], owner.storage, tmp_path / "p.db",
                            zk_circuits={reg.model_id: folder})
    daemon.close()
    code, _, err = cli("--account", "1", "provider", "run", "--zk", "nonsense")
    assert code == 1 and "--zk takes MODEL=DIR" in one_line_error(err)
