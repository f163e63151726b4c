"""``agora data …``: datasets published, priced, bought, ordered from an access node and downloaded.

On the embedded chain every CLI invocation would start a fresh chain, so those tests share one
embedded chain (and its deployment) between the in-process invocations of a test, and the SDK flow
runs the access node in process (starlette's TestClient). On anvil, ``agora data serve`` runs as a
real process on a free 127.0.0.1 port (stopped by pid) and the whole flow goes through the CLI:
publish -> order (buying the datatoken in the same transaction) -> download (every chunk checked
against the chain's content hash) -> earnings -> withdraw.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import pytest

with warnings.catch_warnings():
    warnings.filterwarnings("ignore", message=r"Using `httpx` with `starlette\.testclient`")
    from fastapi.testclient import TestClient

import agora.context as sdk_context
from agora.chain import Chain, connect
from agora.context import Context
from agora.data import DataRegistry, DatasetCard, DatasetsClient
from agora.data.access import create_access_app
from agora.data.files import CHUNK_SIZE, content_hash
from agora.data.registry import OWNER as ZERO_ADDRESS
from agora.data.registry import order_id_hex
from agora.devnet.anvil import AnvilProcess, free_port
from agora.errors import ConfigError
from agora.protocol import AddressBook, Deployment, deploy_devnet
from agora.storage import LocalStore, Storage
from agora.units import format_amount
from tests.integration.cli_helpers import agora, one_line_error
from tests.integration.proc_helpers import terminate

AGORA = str(Path(sys.executable).with_name("agora"))
ACCOUNT_1 = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"
ACCOUNT_2 = "0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC"
ACCOUNT_5 = "0x9965507D1a55bcC2695C58ba16FB37d819B0A4dc"
ONE = 10**18


@pytest.fixture(scope="module")
def content(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("data-cli") / "corpus.bin"
    path.write_bytes(os.urandom(2 * CHUNK_SIZE + 12_345))  # three chunks, the last one short
    return path


@dataclass
class Shared:
    """One embedded chain and deployment that every in-process `agora` of a test uses."""

    chain: Chain
    dep: Deployment
    home: Path

    @property
    def storage(self) -> Storage:
        return Storage(LocalStore(self.home / "blobs"), [])

    def client(self, account: int, **kwargs: object) -> DatasetsClient:
        return DatasetsClient(DataRegistry(self.dep), self.storage, self.chain.dev_signers[account],
                              state_dir=self.home / "data", **kwargs)  # type: ignore[arg-type]


@pytest.fixture
def shared(monkeypatch: pytest.MonkeyPatch, agora_home: Path) -> Shared:
    chain = connect("embedded://")
    dep = deploy_devnet(chain)
    monkeypatch.setattr(sdk_context, "connect", lambda *a, **k: chain)
    monkeypatch.setattr(sdk_context, "deploy_devnet", lambda *a, **k: dep)
    return Shared(chain, dep, agora_home)


@pytest.fixture(params=["embedded", pytest.param("anvil", marks=pytest.mark.anvil)])
def sdk_world(request: pytest.FixtureRequest, agora_home: Path) -> Shared:
    """The SDK's conformance: the same flow on the embedded chain and on anvil."""
    url = "embedded://" if request.param == "embedded" else request.getfixturevalue("fresh_anvil").url
    chain = connect(url)
    return Shared(chain, deploy_devnet(chain), agora_home)


# -- help and usage ----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("args", "words"),
    [
        (("--help",), ("data",)),
        (("data", "--help"), ("publish", "add-file", "show", "list", "price", "buy", "order", "download", "serve",
                              "earnings", "withdraw")),
        (("data", "publish", "--help"), ("--name", "--price", "--payment-token", "--dispenser-cap", "--split",
                                         "--timeout", "--initial-supply", "--schema", "--sample", "--license",
                                         "--add", "--home", "--json")),
        (("data", "serve", "--help"), ("--host", "--port", "--home", "--add", "--json")),
        (("data", "download", "--help"), ("--node", "--out", "--json")),
    ],
)
def test_help(capsys: pytest.CaptureFixture[str], args: tuple[str, ...], words: tuple[str, ...]) -> None:
    code, out, _ = agora(capsys, *args)
    assert code == 0
    for w in words:
        assert w in out


# -- bad inputs: one line, exit 1 ---------------------------------------------------------------------
@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (("--split", "owner:5000"), "a split's shares sum to 10000 basis points, not 5000"),
        (("--split", "owner:7000,0x12:3000"), "split entry '0x12:3000': '0x12' is not an address"),
        (("--split", "owner"), "split entry 'owner' must be ADDRESS:BPS (or owner:BPS)"),
        (("--split", f"owner:5000,{ACCOUNT_2}:half"), f"split entry '{ACCOUNT_2}:half': 'half' is not a whole number"),
        (("--payment-token", ACCOUNT_2), "a payment token needs a price above 0"),
        (("--price", "-1"), "error: "),
        (("--schema", "/nonexistent/schema.json"), "/nonexistent/schema.json does not exist"),
    ],
    ids=["sum", "address", "no-bps", "bps", "zero-price", "negative", "schema"],
)
def test_publish_with_bad_input(capsys: pytest.CaptureFixture[str], content: Path, extra: tuple[str, ...],
                                message: str) -> None:
    code, _, err = agora(capsys, "data", "publish", str(content), "--name", "d", *extra)
    assert code == 1 and message in one_line_error(err)


def test_publish_a_missing_file(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, _, err = agora(capsys, "data", "publish", str(tmp_path / "nope.bin"), "--name", "d")
    assert code == 1 and one_line_error(err) == f"error: {tmp_path / 'nope.bin'} is not a file"


def test_serve_refuses_the_embedded_chain_and_bad_arguments(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = agora(capsys, "data", "serve")
    assert code == 1 and "serving datasets needs a chain that outlives it" in one_line_error(err)
    code, _, err = agora(capsys, "data", "serve", "--add", "one=x")
    assert code == 1 and one_line_error(err) == "error: --add 'one=x' must be DATASET_ID=PATH"
    code, _, err = agora(capsys, "data", "order", "1", "--node", "127.0.0.1:8500")
    assert code == 1 and "--node must be an http:// or https:// URL" in one_line_error(err)


# -- the embedded chain: publish, read, buy, refusals --------------------------------------------------
def test_publish_show_list_price_buy(capsys: pytest.CaptureFixture[str], shared: Shared, content: Path,
                                     tmp_path: Path) -> None:
    schema = tmp_path / "schema.json"
    schema.write_text(json.dumps({"fields": [{"name": "x", "type": "bytes"}]}))
    sample = tmp_path / "sample.bin"
    sample.write_bytes(b"a sample")
    code, out, err = agora(capsys, "--account", "1", "data", "publish", str(content), "--name", "corpus",
                           "--license", "CC-BY-4.0", "--price", "2", "--split", f"owner:7000,{ACCOUNT_2}:3000",
                           "--schema", str(schema), "--sample", str(sample), "--timeout", "3600", "--json")
    assert code == 0, err
    pub = json.loads(out)
    digest = content_hash(content)
    assert pub["id"] == 1 and pub["content_hash"] == "0x" + digest.hex() and pub["price_wei"] == 2 * ONE
    assert pub["size"] == content.stat().st_size and pub["access_node_home"] is None

    code, out, _ = agora(capsys, "data", "show", "1", "--json")
    doc = json.loads(out)
    assert code == 0 and doc["owner"] == ACCOUNT_1 and doc["for_sale"] is True and doc["timeout_s"] == 3600
    assert doc["split"] == [{"recipient": "owner", "bps": 7000}, {"recipient": ACCOUNT_2, "bps": 3000}]
    card = DatasetCard.model_validate(doc["card"])
    assert card.name == "corpus" and card.license == "CC-BY-4.0" and card.content_hash_bytes == digest
    assert card.data_schema == {"fields": [{"name": "x", "type": "bytes"}]}
    assert card.sample_cid is not None and shared.storage.get(card.sample_cid) == b"a sample"
    assert doc["card_cid"] == pub["card_cid"]
    code, out, _ = agora(capsys, "data", "show", "1")
    assert code == 0 and "card.license" in out and "CC-BY-4.0" in out and "owner 70%" in out

    code, out, _ = agora(capsys, "data", "list", "--json")
    assert code == 0 and [r["id"] for r in json.loads(out)] == [1]
    code, out, _ = agora(capsys, "data", "price", "1", "--amount", "3", "--json")
    p = json.loads(out)
    assert code == 0 and p["cost_wei"] == 6 * ONE and p["order_cost_wei"] == 2 * ONE and p["for_sale"] is True

    code, out, err = agora(capsys, "--account", "5", "data", "buy", "1", "--amount", "2", "--json")
    assert code == 0, err
    assert json.loads(out)["balance_wei"] == 2 * ONE
    code, _, err = agora(capsys, "--account", "5", "data", "buy", "1", "--max-price", "1")
    assert code == 1 and "price 2000000000000000000 is above your limit 1000000000000000000" in one_line_error(err)
    code, _, err = agora(capsys, "--account", "5", "data", "buy", "1", "--amount", "0")
    assert code == 1 and one_line_error(err) == "error: the amount must be above 0"

    # a free dataset: not for sale, its dispenser gives datatokens away
    code, out, err = agora(capsys, "--account", "1", "data", "publish", str(content), "--name", "free",
                           "--dispenser-cap", "1", "--json")
    assert code == 0, err
    code, out, _ = agora(capsys, "data", "price", "2")
    assert code == 0 and "dataset 2 is not for sale; its dispenser gives up to 1 datatoken per address free" in out
    code, _, err = agora(capsys, "data", "buy", "2")
    assert code == 1 and "dataset 2 is not for sale (take datatokens from its dispenser)" in one_line_error(err)

    # a dataset derived from both: its sources on chain, shown by `show`
    evidence = tmp_path / "receipts.json"
    evidence.write_text("[]")
    chain_id = shared.chain.chain_id
    for extra, message in (
        (("--from-dataset", "9"), f"error: there is no dataset 9 on chain {chain_id}"),
        (("--from-model", "99"), f"error: there is no model 99 on chain {chain_id}"),
        (("--from-job", "99"), f"error: there is no job 99 on chain {chain_id}"),
        (("--evidence", str(evidence)), "error: --evidence goes with --from-model"),
    ):
        code, _, err = agora(capsys, "--account", "1", "data", "publish", str(content), "--name", "derived", *extra)
        assert code == 1 and one_line_error(err).startswith(message), (extra, err)
    code, out, err = agora(capsys, "data", "list", "--json")
    assert [r["id"] for r in json.loads(out)] == [1, 2]        # the refusals published nothing
    code, out, err = agora(capsys, "--account", "1", "data", "publish", str(content), "--name", "derived",
                           "--from-dataset", "1", "--from-dataset", "2")
    assert code == 0 and "made from" in out and "dataset 1, dataset 2" in out, err
    code, out, _ = agora(capsys, "data", "show", "3", "--json")
    doc = json.loads(out)
    assert [(s["kind"], s["id"], s["evidence"]) for s in doc["sources"]] == [("dataset", 1, None), ("dataset", 2, None)]
    code, out, _ = agora(capsys, "data", "show", "3")
    assert "made from" in out and "dataset 1, dataset 2" in out


def test_unknown_dataset_and_orders(capsys: pytest.CaptureFixture[str], shared: Shared, content: Path,
                                    tmp_path: Path) -> None:
    unknown = f"error: there is no dataset 9 on chain {shared.chain.chain_id}"
    for args in (("show", "9"), ("price", "9"), ("buy", "9"), ("download", "9", "1", "--node", "http://x",
                                                               "--out", str(tmp_path / "o"))):
        code, _, err = agora(capsys, "data", *args)
        assert code == 1 and one_line_error(err) == unknown, args
    shared.client(1).publish(content, name="corpus", price=ONE)
    code, _, err = agora(capsys, "data", "download", "1", "42", "--node", "http://x", "--out", str(tmp_path / "o"))
    assert code == 1 and one_line_error(err).startswith(f"error: there is no order 0x{42:064x}")
    code, _, err = agora(capsys, "data", "download", "1", "0xzz", "--node", "http://x", "--out", str(tmp_path / "o"))
    assert code == 1 and one_line_error(err).startswith("error: '0xzz' is not an order id")
    code, _, err = agora(capsys, "--account", "4", "data", "download", "1", "--node", "http://x", "--out",
                         str(tmp_path / "o"))
    hint = "has no order of dataset 1; order first: `agora data order 1 --node URL`"
    assert code == 1 and hint in one_line_error(err)
    assert not (tmp_path / "o").exists()
    dead = f"http://127.0.0.1:{free_port()}"
    code, _, err = agora(capsys, "--account", "5", "data", "order", "1", "--node", dead)
    assert code == 1 and one_line_error(err).startswith(f"error: cannot reach the access node at {dead}: ")
    code, _, err = agora(capsys, "data", "show", "0")  # a usage error: typer's own
    assert code == 2 and "Invalid value for 'dataset_id'" in err
    code, _, err = agora(capsys, "--account", "1", "data", "add-file", "1", str(tmp_path / "missing"))
    assert code == 1 and one_line_error(err) == f"error: {tmp_path / 'missing'} is not a file"
    other = tmp_path / "other.bin"
    other.write_bytes(b"not the content")
    code, _, err = agora(capsys, "--account", "1", "data", "add-file", "1", str(other))
    assert code == 1 and f"{other} is not dataset 1's content" in one_line_error(err)


def test_sdk_flow_with_an_access_node_in_process(sdk_world: Shared, content: Path, tmp_path: Path) -> None:
    """publish (the file handed to the node) -> order (buy and order in one transaction) ->
    download, checked -> a second order spends a held datatoken -> earnings -> withdraw."""
    seller = sdk_world.client(1)
    home = tmp_path / "node"
    pub = seller.publish(content, name="corpus", price=ONE, split=None, node_home=home)
    assert pub.node_home == home and pub.content_hash == content_hash(content)
    node = seller.open_node(home)
    try:
        http = TestClient(create_access_app(node))
        buyer = sdk_world.client(5, http=http)
        first = buyer.order(pub.dataset_id, node_url="http://testserver")
        # the node asks no fee: its quote is free (unsigned), so the order names no provider
        assert first.how == "bought" and first.consumer == ACCOUNT_5 and first.provider == ZERO_ADDRESS
        seen: list[tuple[int, int]] = []
        result = buyer.download(pub.dataset_id, first.order_id, tmp_path / "out.bin", node_url="http://testserver",
                                progress=lambda done, total: seen.append((done, total)))
        assert (tmp_path / "out.bin").read_bytes() == content.read_bytes() and result.resumes == 0
        assert seen[-1] == (content.stat().st_size,) * 2
        buyer.buy(pub.dataset_id, ONE)
        second = buyer.order(pub.dataset_id, node_url="http://testserver")
        assert second.how == "held" and second.order_id == first.order_id + 1 and buyer.balance(1) == 0
        # someone else's order is refused before a byte is asked for
        with pytest.raises(Exception, match=f"order {order_id_hex(first.order_id)} is {ACCOUNT_5}'s"):
            sdk_world.client(6, http=http).download(1, first.order_id, tmp_path / "x", node_url="http://testserver")

        # a free dataset: the datatoken comes from its dispenser; one neither for sale nor free is refused
        free = seller.publish(content, name="free", dispenser_cap=ONE)
        closed = seller.publish(content, name="closed")
        for dataset in (free, closed):
            seller.add_file(dataset.dataset_id, content, node=node)
        third = buyer.order(free.dataset_id, node_url="http://testserver")
        assert third.how == "dispensed"
        with pytest.raises(ConfigError, match=f"you hold no datatoken of dataset {closed.dataset_id}, and it is "
                                              "neither for sale nor free"):
            buyer.order(closed.dataset_id, node_url="http://testserver")
        with pytest.raises(ConfigError, match="the access node refused a quote for dataset 99: dataset 99 is not "
                                              "served here"):
            buyer.quote(99, node_url="http://testserver")
    finally:
        node.close()
    e = seller.earnings()
    assert e.balance == 0 and [(d.dataset_id, d.pot, d.share) for d in e.datasets] == [(1, 2 * ONE, 2 * ONE)]
    assert seller.withdraw() == (2 * ONE, [1])
    assert seller.withdraw() == (0, [])


# -- anvil: a real access node process ------------------------------------------------------------------
@pytest.mark.anvil
def test_publish_serve_order_download_earn_on_anvil(capsys: pytest.CaptureFixture[str], fresh_anvil: AnvilProcess,
                                                   agora_home: Path, content: Path, tmp_path: Path) -> None:
    url = fresh_anvil.url
    deploy_devnet(connect(url), book=AddressBook(agora_home / "addressbook.json"))

    def cli(*args: str) -> tuple[int, str, str]:
        return agora(capsys, "--chain", url, *args)

    code, out, err = cli("--account", "1", "data", "publish", str(content), "--name", "corpus", "--price", "1",
                         "--split", f"owner:7000,{ACCOUNT_2}:3000", "--json")
    assert code == 0, err
    assert json.loads(out)["id"] == 1

    port = free_port()
    log = tmp_path / "serve.log"
    env = {**os.environ, "AGORA_HOME": str(agora_home), "AGORA_CHAIN": url, "AGORA_ACCOUNT": "1"}
    home = Context(url).state_dir("data") / "node"
    proc = None
    try:
        with open(log, "wb") as sink:
            proc = subprocess.Popen([AGORA, "data", "serve", "--port", str(port), "--add", f"1={content}",
                                     "--fee", "0.001"],
                                    env=env, stdout=sink, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 60
        while "serving datasets at" not in log.read_text():
            assert proc.poll() is None, log.read_text()
            assert time.monotonic() < deadline, "the access node did not come up"
            time.sleep(0.1)
        assert (f"serving datasets at http://127.0.0.1:{port} (chain 31337, node {ACCOUNT_1}, home {home})"
                in log.read_text())
        assert f"dataset 1: {content} added" in log.read_text()

        # a second node on the same home is refused, and so is a taken port: one line each
        code, _, err = cli("--account", "1", "data", "serve", "--port", str(free_port()))
        assert code == 1 and f"another access node is already running on {home}" in one_line_error(err)
        code, _, err = cli("--account", "1", "data", "serve", "--port", str(port), "--home", str(tmp_path / "h2"))
        assert code == 1 and one_line_error(err).startswith(f"error: cannot listen on 127.0.0.1:{port}: ")

        code, _, err = cli("--account", "1", "data", "add-file", "1", str(content))
        assert code == 1 and f"another access node is already running on {home}" in one_line_error(err)

        node = f"http://127.0.0.1:{port}"
        code, out, err = cli("--account", "5", "data", "order", "1", "--node", node, "--json")
        assert code == 0, err
        order = json.loads(out)
        assert order["datatoken"] == "bought" and order["consumer"] == ACCOUNT_5 and order["provider"] == ACCOUNT_1
        assert order["provider_fee"] == str(10**15)
        assert order["order_id"].startswith("0x") and len(order["order_id"]) == 66
        assert "fee per order: 1,000,000,000,000,000 units of" in log.read_text()

        target = tmp_path / "corpus.out"
        code, out, err = cli("--account", "5", "data", "download", "1", str(order["order_id"]), "--node", node,
                             "--out", str(target), "--json")
        assert code == 0, err
        doc = json.loads(out)
        assert target.read_bytes() == content.read_bytes()
        assert doc["content_hash"] == "0x" + content_hash(content).hex() and doc["size"] == content.stat().st_size
        code, out, err = cli("--account", "5", "data", "download", "1", "--node", node,   # the order found on chain
                             "--out", str(tmp_path / "again.out"))
        assert code == 0 and f"{content.stat().st_size:,} of {content.stat().st_size:,} bytes" in err
        assert "content hash 0x" in out and "checked" in out

        # another account cannot use the order
        code, _, err = cli("--account", "6", "data", "download", "1", str(order["order_id"]), "--node", node,
                           "--out", str(tmp_path / "theirs.out"))
        assert code == 1 and f"is {ACCOUNT_5}'s, not" in one_line_error(err)
    finally:
        rc = terminate(proc, 30)
    text = log.read_text()
    assert rc == 0 and "stopped" in text and "Traceback" not in text, text

    code, out, _ = cli("data", "earnings", ACCOUNT_1, "--json")
    assert code == 0 and json.loads(out)["datasets"] == [
        {"dataset_id": 1, "bps": 7000, "pot_wei": ONE, "share_wei": 7 * ONE // 10}]
    code, out, _ = cli("--account", "1", "data", "withdraw")
    assert code == 0 and out.strip() == f"withdrew {format_amount(7 * ONE // 10, symbol='AGR')} (split dataset(s) 1)"
    code, out, _ = cli("data", "earnings", ACCOUNT_2, "--json")
    assert code == 0 and json.loads(out)["balance_wei"] == 3 * ONE // 10
    code, out, _ = cli("--account", "2", "data", "withdraw", "--json")
    assert code == 0 and json.loads(out) == {"withdrawn_wei": 3 * ONE // 10, "datasets": []}
    code, out, _ = cli("--account", "2", "data", "withdraw")
    assert code == 0 and out.strip() == "nothing to withdraw"
