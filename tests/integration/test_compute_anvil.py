"""The compute market across real processes on anvil.

Provider daemons run as their own processes (``agora provider run`` and the
adversaries' entry point), each with its own blob folder, serving results over
HTTP; the requester is this test. It shows: the honest are paid, the dishonest
slashed; a provider killed after committing resumes on restart without a second
commit; a provider killed before committing is replaced and the job completed;
every token is accounted for.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import uvicorn

from agora.chain import connect
from agora.compute import ComputeClient, JobState, Market, Policy
from agora.devnet.anvil import free_port
from agora.protocol import AddressBook, deploy_devnet
from agora.storage import HttpStore, LocalStore, Storage
from agora.storage.server import create_app
from agora.workloads import build_digits_model, build_train_request, digits_inputs
from tests.integration.proc_helpers import terminate

pytestmark = [pytest.mark.anvil, pytest.mark.slow, pytest.mark.xdist_group("compute-anvil")]

AGORA = str(Path(sys.executable).with_name("agora"))
STAKE = 1_000 * 10**18
PRICE = 10**15


class Node:
    """One provider process: its env, its log, its blob server port."""

    def __init__(self, world: World, account: int, argv: list[str]) -> None:
        self.world, self.account, self.argv = world, account, argv
        self.port = free_port()
        self.home = world.root / f"p{account}"
        self.log = world.root / f"p{account}.log"
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, argv: list[str] | None = None) -> Node:
        env = {
            **os.environ, "AGORA_HOME": str(self.world.home), "AGORA_CHAIN": self.world.chain.uri,
            "AGORA_ACCOUNT": str(self.account), "AGORA_STORAGE_DIR": str(self.home / "blobs"),
            "AGORA_STORAGE_PEERS": json.dumps(self.world.peers),
        }
        cmd = argv or self.argv
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen([*cmd, "--serve", f"127.0.0.1:{self.port}"] if cmd[0] == AGORA
                                         else cmd, env=env, stdout=log, stderr=log)
        return self

    def stop(self) -> int | None:
        return terminate(self.proc, 30)

    def events(self) -> list[dict[str, object]]:
        out = []
        for line in self.log.read_text().splitlines():
            if line.startswith("{"):
                try:
                    out.append(json.loads(line))
                except ValueError:
                    pass
        return out


class World:
    """Anvil, the protocol, a requester with its own blob server, and provider processes."""

    def __init__(self, url: str, root: Path) -> None:
        self.root = root
        self.home = root / "home"
        self.chain = connect(url)
        self.dep = deploy_devnet(self.chain, book=AddressBook(self.home / "addressbook.json"))
        self.market = Market(self.dep)
        self.requester = self.chain.dev_signers[9]
        self.req_port = free_port()
        self.peers: list[str] = [f"http://127.0.0.1:{self.req_port}"]
        self.nodes: dict[int, Node] = {}
        local = LocalStore(root / "requester-blobs")
        self._server = uvicorn.Server(uvicorn.Config(create_app(local), host="127.0.0.1", port=self.req_port,
                                                     log_level="warning"))
        self._server.install_signal_handlers = lambda: None  # type: ignore[method-assign]
        threading.Thread(target=self._server.run, daemon=True).start()
        self.storage = Storage(local, [])
        self.client = ComputeClient(self.market, self.storage, self.requester)

    def add(self, account: int, argv: list[str], kinds: list[int]) -> Node:
        """Register a provider; one run by `agora provider run` serves its blobs and is a peer."""
        node = Node(self, account, argv)
        self.nodes[account] = node
        self.peers.append(node.url)
        self.storage.peers.append(HttpStore(node.url))
        self.market.register(self.chain.dev_signers[account], kinds=kinds, price=PRICE, stake=STAKE)
        return node

    def wait_ready(self, nodes: list[Node]) -> None:
        deadline = time.monotonic() + 60
        for u in [self.peers[0], *(n.url for n in nodes)]:
            while True:
                try:
                    if httpx.get(f"{u}/health", timeout=1).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                assert time.monotonic() < deadline, f"{u} did not come up"
                time.sleep(0.1)

    def close(self) -> None:
        for n in self.nodes.values():
            n.stop()
        self._server.should_exit = True


@pytest.fixture(scope="module")
def world(anvil: object, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    w = World(anvil.url, tmp_path_factory.mktemp("compute-anvil"))  # type: ignore[attr-defined]
    try:
        yield w
    finally:
        w.close()


def _money_adds_up(w: World) -> None:
    m, token = w.market, w.dep.token
    accounts = [s.address for s in w.chain.dev_signers]
    escrow = sum(m.job(i).escrow for i in range(1, m.job_count() + 1))
    assert token.balanceOf(m.contract.address) == escrow + sum(m.owed(a) for a in accounts)
    stakes = sum(m.provider(a).stake + m.provider(a).unbonding for a in accounts)
    assert token.balanceOf(m.registry.address) == stakes


def test_honest_paid_dishonest_slashed(world: World) -> None:
    w = world
    honest = [w.add(a, [AGORA, "provider", "run", "--poll", "0.05"], kinds=[1]) for a in (1, 2)]
    cheat = w.add(3, [sys.executable, "-m", "agora.compute.adversaries", "--behavior", "wrong", "--rate", "1"],
                  kinds=[1])
    for n in (*honest, cheat):
        n.start()
    w.wait_ready(honest)  # the adversary serves no blobs: its peer entry simply never answers

    model = build_digits_model()
    jobs = [w.client.submit("onnx-classify", model, digits_inputs(3, seed=i), policy=pol, price_per_unit=PRICE)
            for i, pol in enumerate([Policy.replicate(3)] * 3 + [Policy.audit(1.0)] * 3)]
    for j in jobs:
        info = j.wait(timeout=240)
        assert info.state == JobState.SETTLED
        out = j.result()  # fetched from a provider's blob server, checked against the chain
        assert isinstance(out, bytes) and out.startswith(b"agora-result/1 onnx-classify")
    slashed = {e.args["provider"] for e in w.market.contract.get_events("Slashed", w.dep.block)}
    addr = {n: w.chain.dev_signers[n].address for n in (1, 2, 3)}
    assert slashed == {addr[3]}, "only the dishonest provider is slashed"
    assert w.market.provider(addr[3]).stake < STAKE
    for a in (1, 2):
        assert w.market.owed(addr[a]) > 0, "the honest are paid"
        assert w.market.provider(addr[a]).stake == STAKE
    _money_adds_up(w)
    for n in (*honest, cheat):
        assert n.stop() == 0


def test_crash_recovery(world: World) -> None:
    """One provider, two crashes: after committing (it resumes on restart without a second
    commit), then before committing (its job is reassigned and completed)."""
    _crash_after_commit_resumes_without_a_second_commit(world)
    _crash_before_commit_job_is_reassigned_and_completed(world)


def _crash_after_commit_resumes_without_a_second_commit(world: World) -> None:
    w = world
    node = w.add(4, [sys.executable, "-m", "agora.compute.adversaries", "--behavior", "crash",
                     "--crash-after", "committed"], kinds=[3])
    node.start()
    job = w.client.submit("train-digits", b"", build_train_request(epochs=3, samples=(0, 120)),
                          policy=Policy.none(), price_per_unit=PRICE)
    assert node.proc is not None and node.proc.wait(120) == 3, "the provider died after committing"
    assert job.status().state == JobState.COMMITTED
    # the same provider comes back as an honest daemon with the same state file
    node.start([AGORA, "provider", "run", "--poll", "0.05"])
    info = job.wait(timeout=120)
    assert info.state == JobState.SETTLED
    commits = [e for e in w.market.contract.get_events("Committed", w.dep.block) if e.args["job_id"] == job.id]
    assert len(commits) == 1, "no duplicate commit after the restart"
    after = [e for e in node.events() if e.get("event") == "commit"]
    assert after == [], "the restarted daemon found its commitment on chain and did not send it again"
    assert job.result().startswith(b"agora-result/1 train-digits")
    assert node.stop() == 0
    _money_adds_up(w)


def _crash_before_commit_job_is_reassigned_and_completed(world: World) -> None:
    w = world
    crasher = w.nodes[4]
    crasher.start([sys.executable, "-m", "agora.compute.adversaries", "--behavior", "crash",
                   "--crash-after", "computed"])
    job = w.client.submit("train-digits", b"", build_train_request(epochs=2, samples=(0, 100)),
                          policy=Policy.none(), price_per_unit=PRICE)
    assert crasher.proc is not None and crasher.proc.wait(120) == 3, "the provider died before committing"
    assert job.status().providers == [w.chain.dev_signers[4].address]
    rep_before = w.market.provider(w.chain.dev_signers[4].address).reputation
    # a second provider of this kind joins; the commit window passes; the requester pushes
    backup = w.add(5, [AGORA, "provider", "run", "--poll", "0.05"], kinds=[3])
    backup.start()
    w.chain.advance_time(int(w.market.contract.commit_window()) + 1)
    info = job.wait(timeout=180)
    assert info.state == JobState.SETTLED and info.providers == [w.chain.dev_signers[5].address]
    assert info.replacements == 1
    assert w.market.provider(w.chain.dev_signers[4].address).reputation < rep_before
    assert job.result().startswith(b"agora-result/1 train-digits")
    assert backup.stop() == 0
    _money_adds_up(w)
