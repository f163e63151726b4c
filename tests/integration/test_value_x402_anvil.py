"""x402 over real HTTP on anvil: ``agora model serve`` as a process, paid by the official x402 SDK
(its ``requests`` adapter, scheme ``exact``) and by ``examples/x402_client.py`` (no Agora code:
``agora-channel`` for a few calls, then ``exact``), with refusals seen over the wire.

A second server of the same model settles its exact payments through an x402 facilitator
(``--facilitator``; a small one here, sending the transfers from its own key).

(The same flows in process, with every refusal code, are ``test_value_exact.py`` and
``test_value_embedded.py``.)
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from eth_account import Account
from eth_utils import keccak
from x402 import x402ClientSync
from x402.http.clients.requests import x402_requests
from x402.http.x402_http_client import x402HTTPClientSync
from x402.mechanisms.evm.exact import ExactEvmScheme

from agora.chain import Chain, Signer, connect
from agora.chain.accounts import DEV_MNEMONIC
from agora.chain.compiler import compile_file
from agora.chain.contracts import deploy
from agora.devnet.anvil import AnvilProcess, free_port
from agora.protocol import AddressBook, Deployment, deploy_devnet, deploy_protocol
from agora.storage import LocalStore, Storage
from agora.value import OWNER, Channels, ModelRegistry, Share
from agora.value.x402 import CHANNEL_SCHEME, EXACT_SCHEME, PAYMENT_REQUIRED, PAYMENT_RESPONSE, PAYMENT_SIGNATURE
from agora.workloads import digits_inputs
from tests.integration.proc_helpers import terminate
from tests.integration.test_value_anvil import AGORA, OWNER_ACCOUNT, Server

pytestmark = [pytest.mark.anvil, pytest.mark.xdist_group("value-x402-anvil")]

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "x402_client.py"
PRICE = 10**15 + 3  # per input item
SDK_PAYER, EXAMPLE_PAYER, FACILITATOR = 4, 5, 3
UNFUNDED_KEY = "0x" + "11" * 32  # holds no tokens on the devnet
TRANSFER = "0x" + keccak(text="Transfer(address,address,uint256)").hex()
Account.enable_unaudited_hdwallet_features()


def wait_for_line(log: Path, text: str, proc: subprocess.Popen[bytes] | None = None) -> str:
    """The log once ``text`` is in it (the serving line follows the first /health answer closely)."""
    deadline = time.monotonic() + 60
    while text not in (content := log.read_text()):
        assert (proc is None or proc.poll() is None) and time.monotonic() < deadline, content[-2000:]
        time.sleep(0.05)
    return content


def dev_key(index: int) -> str:
    return Account.from_mnemonic(DEV_MNEMONIC, account_path=f"m/44'/60'/0'/0/{index}").key.hex()


@dataclass
class Served:
    server: Server
    dep: Deployment
    channels: Channels
    model_id: int
    rpc: str
    chain: Chain

    @property
    def url(self) -> str:
        return f"{self.server.url}/call"

    def rpc_call(self, method: str, *params: Any) -> Any:
        return httpx.post(self.rpc, json={"jsonrpc": "2.0", "id": 1, "method": method, "params": list(params)},
                          trust_env=False).json()["result"]

    def transfers(self, tx_hash: str) -> list[tuple[str, str, int]]:
        """The token's Transfer events in a transaction: (from, to, value)."""
        receipt = self.rpc_call("eth_getTransactionReceipt", tx_hash)
        assert receipt is not None and int(receipt["status"], 16) == 1
        return [("0x" + log["topics"][1][-40:], "0x" + log["topics"][2][-40:], int(log["data"], 16))
                for log in receipt["logs"]
                if log["address"].lower() == self.dep.token.address.lower() and log["topics"][0] == TRANSFER]


@pytest.fixture(scope="module")
def served(anvil: AnvilProcess, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    root = tmp_path_factory.mktemp("x402-anvil")
    chain = connect(anvil.url)
    dep = deploy_devnet(chain, book=AddressBook(root / "home" / "addressbook.json"))
    port = free_port()
    registry = ModelRegistry(dep, Storage(LocalStore(root / "blobs"), []))
    reg = registry.publish(chain.dev_signers[OWNER_ACCOUNT], kind="onnx-classify", name="digits", price=PRICE,
                           digits_demo=True, endpoint=f"http://127.0.0.1:{port}", split=[Share(OWNER, 10_000)])
    server = Server(root, chain.uri, reg.model_id, port)
    try:
        server.start()  # offers exact by default: creates the model's payee first
        yield Served(server, dep, Channels(dep), reg.model_id, anvil.url, chain)
    finally:
        rc = server.stop()
    log = server.log.read_text()
    assert rc == 0 and "Traceback" not in log, log[-2000:]
    assert "exact, " in log.splitlines()[-1] and "swept into the model's pot" in log, log[-2000:]


def _required(resp: httpx.Response | Any) -> dict[str, Any]:
    return json.loads(base64.b64decode(resp.headers[PAYMENT_REQUIRED]))


def test_the_sdk_pays_with_exact_over_http_and_a_replay_is_refused(served: Served) -> None:
    s = served
    log = wait_for_line(s.server.log, "serving model")
    assert f"x402 schemes: {EXACT_SCHEME}, {CHANNEL_SCHEME}" in log and "created model" in log
    payee = s.channels.payee_of(s.model_id)
    assert payee is not None
    body = digits_inputs(2, seed=3)
    unpaid = httpx.post(s.url, content=body, trust_env=False)
    assert unpaid.status_code == 402
    assert [(o["scheme"], o["payTo"], o["amount"]) for o in _required(unpaid)["accepts"]] == [
        (EXACT_SCHEME, payee, str(2 * PRICE)), (CHANNEL_SCHEME, s.channels.address, str(2 * PRICE))]

    # the SDK's own HTTP client: it reads the 402, signs an EIP-3009 authorization and retries
    key = dev_key(SDK_PAYER)
    payer = Account.from_key(key).address
    client = x402ClientSync()
    client.register("eip155:*", ExactEvmScheme(Account.from_key(key)))
    client.set_spend_controls({"allowed_assets": [  # the Agora token is not one of the SDK's default assets
        {"network": _required(unpaid)["accepts"][0]["network"], "asset": s.dep.token.address,
         "max_amount_per_payment": str(10**18)},
    ]})
    before = s.dep.token.balanceOf(payer)
    with x402_requests(client) as session:
        session.trust_env = False
        paid = session.post(s.url, data=body, timeout=60)
    assert paid.status_code == 200, paid.text
    settle = x402HTTPClientSync(client).get_payment_settle_response(paid.headers.get)
    assert settle.success and settle.payer == payer and settle.amount == str(2 * PRICE)
    assert settle.transaction.startswith("0x") and len(settle.transaction) == 66
    assert settle.extra is not None and settle.extra["receipt"]["payer"] == payer
    # the money moved in that transaction, from the payer to the model's payee
    assert s.transfers(settle.transaction) == [(payer.lower(), payee.lower(), 2 * PRICE)]
    assert s.dep.token.balanceOf(payer) == before - 2 * PRICE

    # the same payment again buys nothing: 402, the code in the header and in the body
    header = str(paid.request.headers[PAYMENT_SIGNATURE])
    again = httpx.post(s.url, content=body, headers={PAYMENT_SIGNATURE: header}, trust_env=False)
    assert again.status_code == 402 and PAYMENT_RESPONSE not in again.headers
    assert again.json()["code"] == _required(again)["error"] == "authorization_replayed"
    assert s.dep.token.balanceOf(payer) == before - 2 * PRICE


def _example(served: Served, tmp_path: Path, key: str, *args: str, url: str | None = None
             ) -> subprocess.CompletedProcess[str]:
    body = tmp_path / "digits.npy"
    body.write_bytes(digits_inputs(1, seed=7))
    env = {**os.environ, "PAYER_KEY": key}
    return subprocess.run([sys.executable, str(EXAMPLE), url or served.url, "--key-env", "PAYER_KEY", "--input",
                           str(body), *args], env=env, capture_output=True, text=True, timeout=120, check=False)


def test_the_example_client_pays_with_both_schemes(served: Served, tmp_path: Path) -> None:
    s = served
    key = dev_key(EXAMPLE_PAYER)
    payer = Account.from_key(key).address
    before = s.dep.token.balanceOf(payer)

    done = _example(s, tmp_path, key, "--scheme", "agora-channel", "--calls", "3", "--rpc", s.rpc)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert len(lines) == 5 and lines[0].startswith("opened channel 0x") and lines[-1].startswith("done: 3 call(s)")
    assert [ln.split(":")[0] for ln in lines[1:4]] == ["call 1", "call 2", "call 3"]
    assert all(ln.endswith(" checked") and "receipt signed by 0x" in ln for ln in lines[1:4]) and done.stderr == ""
    channel_id = int(lines[0].split()[2], 16)
    # the server holds the third cheque: the running total of three calls
    state = httpx.get(f"{s.server.url}/channels/{channel_id}", trust_env=False).json()
    info = s.channels.fetch(channel_id)
    assert info.payer == payer and info.deposit == 3 * PRICE and info.model_id == s.model_id
    assert state["spent"] == str(3 * PRICE)
    assert (state["latestCheque"]["nonce"], state["latestCheque"]["amount"]) == ("3", str(3 * PRICE))
    assert s.dep.token.balanceOf(payer) == before - 3 * PRICE  # escrowed in the channel

    done = _example(s, tmp_path, key, "--scheme", "exact", "--rpc", s.rpc)
    assert done.returncode == 0, done.stderr
    call, summary = done.stdout.splitlines()
    assert call.startswith(f"call 1: exact, paid {PRICE} wei to ") and summary.startswith("done: 1 call(s)")
    assert "(confirmed on chain)" in call and "checked" in call
    tx = call.split(", tx ")[1].split()[0]
    payee = s.channels.payee_of(s.model_id)
    assert payee is not None and s.transfers(tx) == [(payer.lower(), payee.lower(), PRICE)]
    assert s.dep.token.balanceOf(payer) == before - 4 * PRICE

    # a refusal is one line with the 402's code, and a non-zero exit
    poor = _example(s, tmp_path, UNFUNDED_KEY, "--scheme", "exact")
    assert poor.returncode == 1 and poor.stdout == ""
    assert poor.stderr.startswith("refused: insufficient_funds: ") and poor.stderr.count("\n") == 1


def test_serve_flags_are_checked_before_anything_starts(served: Served) -> None:
    argv = [AGORA, "model", "serve", str(served.model_id), "--no-exact", "--facilitator", "http://127.0.0.1:1"]
    done = subprocess.run(argv, env=served.server.env, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 1 and done.stderr.strip().splitlines() == [
        "error: give --facilitator or --no-exact, not both (the facilitator settles exact payments)"]


@dataclass
class Facilitator:
    """An x402 facilitator's ``/settle`` in a thread: it sends ``transferWithAuthorization`` from its
    own key (or refuses, when ``refuse``), and keeps what it was asked."""

    served: Served
    signer: Signer
    refuse: bool = False
    asked: list[dict[str, Any]] = field(default_factory=list)

    def settle(self, request: dict[str, Any]) -> dict[str, Any]:
        self.asked.append(request)
        if self.refuse:
            return {"success": False, "errorReason": "insufficient_gas", "transaction": "", "network": ""}
        auth = request["paymentPayload"]["payload"]["authorization"]
        sig = bytes.fromhex(request["paymentPayload"]["payload"]["signature"][2:])
        receipt = self.served.dep.token.transferWithAuthorization(
            auth["from"], auth["to"], int(auth["value"]), int(auth["validAfter"]), int(auth["validBefore"]),
            bytes.fromhex(auth["nonce"][2:]), sig[64], sig[:32], sig[32:64], sender=self.signer)
        return {"success": True, "transaction": receipt.tx_hash, "payer": auth["from"],
                "network": request["paymentRequirements"]["network"]}

    def serve(self) -> tuple[ThreadingHTTPServer, str]:
        facilitator = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's name)
                assert self.path == "/settle"
                request = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                answer = json.dumps(facilitator.settle(request))
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(answer.encode())

            def log_message(self, *args: Any) -> None:
                pass

        httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=httpd.serve_forever, daemon=True).start()
        return httpd, f"http://127.0.0.1:{httpd.server_address[1]}"


def test_a_facilitator_settles_exact_payments(served: Served, tmp_path: Path) -> None:
    s = served
    facilitator = Facilitator(s, s.chain.dev_signers[FACILITATOR])
    httpd, facilitator_url = facilitator.serve()
    port = free_port()
    log = tmp_path / "serve.log"
    with open(log, "wb") as sink:  # a second server of the model, on its own ledger
        proc = subprocess.Popen(
            [AGORA, "model", "serve", str(s.model_id), "--port", str(port), "--ledger", str(tmp_path / "ledger.sqlite"),
             "--facilitator", facilitator_url], env=s.server.env, stdout=sink, stderr=subprocess.STDOUT)
    try:
        text = wait_for_line(log, "serving model", proc)
        assert f"x402 schemes: exact (settled by {facilitator_url}), agora-channel" in text
        key = dev_key(EXAMPLE_PAYER)
        payer = Account.from_key(key).address
        before = s.dep.token.balanceOf(payer)
        url = f"http://127.0.0.1:{port}/call"
        done = _example(s, tmp_path, key, "--scheme", "exact", "--rpc", s.rpc, url=url)
        assert done.returncode == 0, done.stderr
        tx = done.stdout.split(", tx ")[1].split()[0]
        # the facilitator was sent the payment and the offer it pays, and its key sent the transfer
        (asked,) = facilitator.asked
        assert asked["x402Version"] == 2 and asked["paymentRequirements"]["scheme"] == EXACT_SCHEME
        assert asked["paymentPayload"]["accepted"] == asked["paymentRequirements"]
        assert s.rpc_call("eth_getTransactionByHash", tx)["from"].lower() == facilitator.signer.address.lower()
        assert s.dep.token.balanceOf(payer) == before - PRICE

        # a facilitator that does not settle: no answer, a 402 with settlement_failed, nothing moved
        facilitator.refuse = True
        refused = _example(s, tmp_path, key, "--scheme", "exact", url=url)
        assert refused.returncode == 1 and refused.stderr.startswith("refused: settlement_failed: "), refused.stderr
        assert "insufficient_gas" in refused.stderr and s.dep.token.balanceOf(payer) == before - PRICE
    finally:
        rc = terminate(proc, 60)
        httpd.shutdown()
        httpd.server_close()
    assert rc == 0 and "stopped: 1 paid call(s)" in log.read_text() and "; 1 exact, " in log.read_text()


# an ERC-20 as far as the protocol's deployment checks, with no EIP-712 domain: no EIP-3009 payments
PLAIN_TOKEN = """# pragma version ~=0.4.3
totalSupply: public(uint256)
balanceOf: public(HashMap[address, uint256])
"""


def test_exact_is_off_with_one_line_where_the_token_takes_no_eip3009(served: Served, tmp_path: Path) -> None:
    s = served
    source = tmp_path / "PlainToken.vy"
    source.write_text(PLAIN_TOKEN)
    deployer = s.chain.dev_signers[0]
    token = deploy(s.chain, compile_file(source), sender=deployer)
    home = tmp_path / "home"
    dep = deploy_protocol(s.chain, deployer, token=token.address, book=AddressBook(home / "addressbook.json"))
    registry = ModelRegistry(dep, Storage(LocalStore(tmp_path / "blobs"), []))
    owner = s.chain.dev_signers[OWNER_ACCOUNT]
    s.chain.sender(owner).resync()  # the server sent transactions from this key in another process
    reg = registry.publish(owner, kind="onnx-classify", name="digits", price=PRICE, digits_demo=True,
                           split=[Share(OWNER, 10_000)])
    env = {**s.server.env, "AGORA_HOME": str(home), "AGORA_STORAGE_DIR": str(tmp_path / "blobs")}
    port, out, err = free_port(), tmp_path / "serve.out", tmp_path / "serve.err"
    with open(out, "wb") as stdout, open(err, "wb") as stderr:
        proc = subprocess.Popen([AGORA, "model", "serve", str(reg.model_id), "--port", str(port)], env=env,
                                stdout=stdout, stderr=stderr)
    try:
        assert "x402 schemes: agora-channel\n" in wait_for_line(out, "serving model", proc)
        (line,) = err.read_text().splitlines()  # one line says why, and the server goes on
        assert line.startswith(f"the exact scheme is off: the token at {token.address} ") and "EIP-3009" in line
        unpaid = httpx.post(f"http://127.0.0.1:{port}/call", content=digits_inputs(1), trust_env=False)
        assert [o["scheme"] for o in _required(unpaid)["accepts"]] == [CHANNEL_SCHEME]
        assert Channels(dep).payee_of(reg.model_id) is None, "no payee: it would take no payments"
    finally:
        assert terminate(proc, 60) == 0, err.read_text()
