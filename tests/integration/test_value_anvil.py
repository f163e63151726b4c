"""The paid model API across real processes on anvil, with a crash in the middle.

One ``agora model serve`` process sells the digits classifier; three clients (threads here,
each its own :class:`ModelsClient`, key, chain connection and state file) make 1,000 paid
calls between them over HTTP. Halfway, the server is killed with SIGKILL while calls are in
flight and started again on the same ledger. Afterwards the server is stopped (it claims on
exit), a final ``agora model claim`` forces out anything left, and the recipients withdraw.

Checked: every wei the server earned was claimed (the claims on chain add up to the price of
every answered call); each client was charged on chain exactly the calls it was answered,
except at most the one call that was in flight at the kill, which the server may have
committed before dying without its answer reaching the client: that call is visible as a
ledger row without a client receipt, and the client learns of it from the server's latest
cheque (signed by the client) on its next call; the recipients got the exact split; and the
contract holds exactly the deposits not claimed.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from agora.chain import connect
from agora.devnet.anvil import free_port
from agora.errors import ConfigError
from agora.protocol import AddressBook, deploy_devnet, load_deployment
from agora.storage import LocalStore, Storage
from agora.value import OWNER, Channels, ModelCard, ModelRegistry, ModelsClient, Share, split_amount
from agora.value.ledger import Ledger
from agora.workloads import build_digits_model, digits_inputs, get_workload
from tests.integration.proc_helpers import terminate

pytestmark = [pytest.mark.anvil, pytest.mark.slow, pytest.mark.xdist_group("value-anvil")]

AGORA = str(Path(sys.executable).with_name("agora"))
PRICE = 10**15 + 7  # odd, so the split has rounding to do
BPS = (3333, 3334, 3333)
CALLS = (334, 333, 333)  # 1,000 in all
KILL_AFTER = 450  # answered calls before the SIGKILL
OWNER_ACCOUNT, PAYEES, PAYERS = 1, (2, 3), (4, 5, 6)


class Server:
    """``agora model serve`` as a process, stopped by pid."""

    def __init__(self, root: Path, chain_uri: str, model_id: int, port: int) -> None:
        self.root, self.port, self.model_id = root, port, model_id
        self.ledger = root / "serve-ledger.sqlite"
        self.log = root / "serve.log"
        self.env = {
            **os.environ, "AGORA_HOME": str(root / "home"), "AGORA_CHAIN": chain_uri,
            "AGORA_ACCOUNT": str(OWNER_ACCOUNT), "AGORA_STORAGE_DIR": str(root / "blobs"),
        }
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(
                [AGORA, "model", "serve", str(self.model_id), "--port", str(self.port), "--ledger", str(self.ledger),
                 "--sync-interval", "0.5"],
                env=self.env, stdout=log, stderr=log,
            )
        deadline = time.monotonic() + 60
        while True:
            assert self.proc.poll() is None, f"the server exited: {self.log.read_text()[-2000:]}"
            try:
                if httpx.get(f"{self.url}/health", timeout=1, trust_env=False).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "the server did not come up"
            time.sleep(0.1)

    def kill(self) -> None:
        assert self.proc is not None
        os.kill(self.proc.pid, signal.SIGKILL)
        assert self.proc.wait(30) == -signal.SIGKILL

    def stop(self) -> int | None:
        return terminate(self.proc, 60)

    def cli(self, *args: str) -> str:
        done = subprocess.run([AGORA, *args], env=self.env, capture_output=True, timeout=120, check=False)
        assert done.returncode == 0, done.stderr.decode()
        return done.stdout.decode()


class Payer(threading.Thread):
    """One client: its own key, chain connection, state file and HTTP client; retries a call
    the server could not answer (it was down)."""

    def __init__(self, index: int, url: str, root: Path, model_id: int, calls: int, counter: Counter) -> None:
        super().__init__(name=f"payer-{index}", daemon=True)
        self.chain = connect(url)
        self.signer = self.chain.dev_signers[index]
        dep = load_deployment(self.chain, AddressBook(root / "home" / "addressbook.json"))
        storage = Storage(LocalStore(root / "blobs"), [])
        self.mc = ModelsClient(ModelRegistry(dep, storage), Channels(dep), self.signer, root / f"client-{index}.sqlite",
                               storage=storage)
        self.model_id, self.calls, self.counter, self.index = model_id, calls, counter, index
        self.ok = 0
        self.unreachable = 0
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            for i in range(self.calls):
                deadline = time.monotonic() + 90
                while True:
                    try:
                        res = self.mc.call(self.model_id, digits_inputs(1, seed=self.index * 1000 + i))
                    except ConfigError as exc:
                        if "unreachable" not in str(exc) or time.monotonic() > deadline:
                            raise
                        self.unreachable += 1
                        time.sleep(0.05)
                        continue
                    assert res.receipt.amount == PRICE
                    self.ok += 1
                    self.counter.add()
                    break
        except BaseException as exc:  # noqa: BLE001
            self.error = exc


class Counter:
    def __init__(self) -> None:
        self.n = 0
        self._lock = threading.Lock()
        self.reached = threading.Event()

    def add(self) -> None:
        with self._lock:
            self.n += 1
            if self.n >= KILL_AFTER:
                self.reached.set()


def test_thousand_paid_calls_three_clients_one_crash(anvil: Any, tmp_path: Path) -> None:
    started = time.monotonic()
    root = tmp_path
    chain = connect(anvil.url)
    dep = deploy_devnet(chain, book=AddressBook(root / "home" / "addressbook.json"))
    storage = Storage(LocalStore(root / "blobs"), [])
    registry, channels = ModelRegistry(dep, storage), Channels(dep)
    signers = chain.dev_signers
    owner = signers[OWNER_ACCOUNT]
    model = build_digits_model()
    workload = get_workload("onnx-classify")
    port = free_port()
    card = ModelCard(
        name="digits", kind="onnx-classify", weights_cid=storage.put(model),
        weights_hash="0x" + workload.weights_hash(model).hex(), price=PRICE, endpoint=f"http://127.0.0.1:{port}",
    )
    split = [Share(OWNER, BPS[0]), *(Share(signers[a].address, b) for a, b in zip(PAYEES, BPS[1:], strict=True))]
    mid, _ = registry.register(card, owner, split=split, datasets=[], jobs=[])
    recipients = [owner, *(signers[a] for a in PAYEES)]

    server = Server(root, chain.uri, mid, port)
    counter = Counter()
    payers = [Payer(a, anvil.url, root, mid, n, counter) for a, n in zip(PAYERS, CALLS, strict=True)]
    marks = {"setup": time.monotonic() - started}
    try:
        server.start()
        marks["up"] = time.monotonic() - started
        for p in payers:
            p.start()
        assert counter.reached.wait(120), "the clients stalled before the crash"
        marks["kill"] = time.monotonic() - started
        server.kill()  # mid-flight: the clients are calling right now
        killed_at = counter.n
        time.sleep(0.5)  # the clients find it down
        server.start()
        marks["restarted"] = time.monotonic() - started
        for p in payers:
            p.join(240)
            assert not p.is_alive(), f"{p.name} did not finish"
        marks["calls done"] = time.monotonic() - started
        errors = [(p.name, p.error) for p in payers if p.error is not None]
        assert not errors, errors
        assert sum(p.ok for p in payers) == sum(CALLS) == 1_000
        assert KILL_AFTER <= killed_at < sum(CALLS), "the kill came in the middle"
        assert any(p.unreachable for p in payers), "some call met the dead server"
        health = httpx.get(f"{server.url}/health", timeout=5, trust_env=False).json()
        assert 0 < health["calls"] <= sum(CALLS) - killed_at + len(PAYERS), "calls since the restart"
        # stop it (it claims on exit), then force a final claim from the same ledger
        assert server.stop() == 0, server.log.read_text()[-2000:]
        final = json.loads(server.cli("model", "claim", str(mid), "--ledger", str(server.ledger), "--json"))
        assert final["unclaimed_wei"] == 0
        marks["claimed"] = time.monotonic() - started
    finally:
        server.stop()
        for p in payers:
            p.mc.http.close()

    # the server's books: one row per answered call, every one at the price
    ledger = Ledger(server.ledger)
    try:
        rows = {p.index: ledger.cheques(p.mc.channel_of(mid)["id"]) for p in payers}  # type: ignore[index]
        answered = ledger.calls()
    finally:
        ledger.close()
    assert all(charge == PRICE for chan in rows.values() for _, charge in chan)
    assert answered == sum(len(r) for r in rows.values())
    earned = answered * PRICE
    assert health["earned"] == str(earned), "the restarted server restored what it earned before the kill"

    # every earned wei was claimed, in batches, and nothing more
    batches = [e for e in channels.contract.get_events("BatchClaimed", dep.block) if e.args["model_id"] == mid]
    claimed_total = sum(int(e.args["amount"]) for e in batches)
    assert claimed_total == earned
    assert len(batches) >= 2, "claims were made as the server went, not only at the end"
    lost_total = 0
    for p in payers:
        chan = p.mc.channel_of(mid)
        assert chan is not None
        opened = [e for e in channels.contract.get_events("ChannelOpened", dep.block)
                  if e.args["payer"] == p.signer.address]
        assert len(opened) == 1, f"{p.name} used one channel"
        info = channels.fetch(chan["id"])
        receipts = p.mc.receipts(mid)
        assert len(receipts) == p.ok == p.calls
        charged = {q.nonce for q, _ in rows[p.index]}
        got = {r.nonce for r in receipts}
        assert got <= charged, "every answered call is in the server's books"
        lost = charged - got  # committed by the server, answer lost in the kill
        assert len(lost) <= 1, f"{p.name}: only the call in flight at the kill may be lost, got {sorted(lost)}"
        lost_total += len(lost)
        assert info.claimed == PRICE * (p.ok + len(lost))
        assert info.claimed <= PRICE * len(charged)
        assert chan["total"] == info.claimed, "the client knows what it was charged"
        if not lost:
            assert info.claimed == PRICE * p.ok
    assert claimed_total == PRICE * (sum(CALLS) + lost_total)

    # the recipients withdraw: the exact split of everything claimed (the owner's key sent the
    # server's claims from another process, so this process reads its nonce afresh)
    chain.sender(owner).resync()
    assert channels.pot(mid) == claimed_total
    got_parts = [channels.withdraw(r, [mid]) for r in recipients]
    assert got_parts == split_amount(claimed_total, BPS)
    assert channels.pot(mid) == 0 and all(channels.balance_of(r.address) == 0 for r in recipients)

    # the contract holds exactly the deposits not yet claimed
    unclaimed = 0
    for p in payers:
        info = channels.fetch(p.mc.channel_of(mid)["id"])  # type: ignore[index]
        assert info.open
        unclaimed += info.deposit - info.claimed
    assert dep.token.balanceOf(channels.address) == unclaimed
    print(f"1,000 paid calls, 1 crash, {lost_total} answer(s) lost in the crash; "
          f"{time.monotonic() - started:.1f} s; " + ", ".join(f"{k} {v:.1f}" for k, v in marks.items()))
