"""Paid calls over the real HTTP stack on anvil (helper of ``bench/value.py``).

For each model (onnx-classify digits, embed-minilm) two uvicorn processes serve it on
loopback: the paid app (``create_app``, background sync and claims on) and a bare FastAPI
app with the same model and workload and no payment (``bench/_value_serve.py``). The same
load drives both, in alternating phases (bare, paid, bare, paid) of fixed length:
``CLIENTS`` threads of this process, each with its own keep-alive connection and its
own payer, send one input item per call and, per call, sign a cheque and put it in the
``PAYMENT-SIGNATURE`` header. Against the bare app the cheque is signed and sent all the
same (and ignored there), so both servers get byte-for-byte the same kind of request and
the client spends the same CPU on each. Calls/s is what the server answered, as seen by
the clients: it includes uvicorn, FastAPI, the model, and for the paid app the x402 parse,
the cheque check (ecrecover), the SQLite row per call, the signed receipt and the
background thread's syncs and claim transactions; it also includes the client's own CPU,
on the same 2 cores, the same for both (the client threads use ``http.client``, about the
lightest load generator Python has, so that the servers set the pace). Every paid answer's
receipt is checked after the phases, outside the timing.

The server's chain traffic is counted inside the paid server process (see
``_value_serve.py``): ``request`` are the requests sent from the threads that serve calls.

The paid server also offers x402 ``exact``; after the channel phases, one phase pays it that
way (:func:`_run_exact`): per call the client signs an EIP-3009 authorization and the server
checks it (two chain reads), runs the model, settles it on chain (one transaction, mined by
anvil, under the service's chain lock, so settlements are sequential) and only then answers.
"""

from __future__ import annotations

import http.client
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
from eth_hash.auto import keccak

from agora.chain import Signer, connect
from agora.chain.eip712 import Domain
from agora.chain.permits import (
    TransferAuthorization,
    fetch_token_domain,
    new_authorization_nonce,
    sign_transfer_authorization,
)
from agora.devnet.anvil import free_port, start_anvil
from agora.protocol import AddressBook, deploy_devnet
from agora.storage import LocalStore, Storage
from agora.value import Channels, ModelCard, ModelRegistry, ModelsClient, Receipt, Share, receipts_domain, sign_cheque
from agora.value.models import OWNER
from agora.value.x402 import (
    CHANNEL_SCHEME,
    EXACT_SCHEME,
    PAYMENT_REQUIRED,
    PAYMENT_RESPONSE,
    PAYMENT_SIGNATURE,
    X402_VERSION,
    decode_header,
    encode_header,
)
from agora.workloads import build_digits_model, digits_inputs, get_workload

PRICE = 10**12  # per input item
DEPOSIT = 10**18  # per channel: a million calls
CLIENTS = 4
SERVICE_ACCOUNT = 1  # dev account: model owner and serving key
PAYER_ACCOUNTS = (4, 5, 6, 7)
SDK_PAYER_ACCOUNT = 8
HERE = Path(__file__).resolve().parent
#: what a paid answer leaves to check: (input, PAYMENT-RESPONSE, keccak(output), channel, nonce)
Answer = tuple[bytes, str, bytes, int, int]


@dataclass
class Payer:
    """A minimal paying client: one channel, signs a cheque (running total) per call."""

    signer: Signer
    channels: Channels
    channel_id: int
    cost: int
    offer: dict[str, Any]  # the server's agora-channel offer for one call (its 402)
    nonce: int = 0
    total: int = 0
    accepted: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.accepted = {**self.offer, "amount": str(self.cost)}

    def header(self, commit: bool = True) -> str:
        """The ``PAYMENT-SIGNATURE`` of the next call; ``commit=False`` signs the same and forgets it."""
        nonce, total = self.nonce + 1, self.total + self.cost
        q = sign_cheque(self.signer, self.channels.domain, self.channel_id, nonce, total)
        h = encode_header({"x402Version": X402_VERSION, "accepted": self.accepted, "payload": q.to_json()})
        if commit:
            self.nonce, self.total = nonce, total
        return h


def fetch_offer(url: str, body: bytes, scheme: str = CHANNEL_SCHEME) -> dict[str, Any]:
    """The server's offer of ``scheme``, from the 402 answer to an unpaid request."""
    r = httpx.post(url, content=body, timeout=30, trust_env=False)
    assert r.status_code == 402, r.text
    req = decode_header(r.headers[PAYMENT_REQUIRED], PAYMENT_REQUIRED)
    return next(o for o in req["accepts"] if o["scheme"] == scheme)


@dataclass
class ExactPayer:
    """A minimal x402 ``exact`` client: per call, one EIP-3009 authorization of the offer's amount
    to its ``payTo`` (a fresh random nonce), signed in the token's domain."""

    signer: Signer
    domain: Domain  # the token's EIP-712 domain
    offer: dict[str, Any]  # the server's exact offer for one call (its 402)
    valid_before: int
    channel_id: int = 0  # an exact payment's receipt names channel 0 and the authorization's nonce
    nonce: int = 0

    def header(self, commit: bool = True) -> str:
        """The ``PAYMENT-SIGNATURE`` of the next call."""
        auth = TransferAuthorization(self.signer.address, self.offer["payTo"], int(self.offer["amount"]), 0,
                                     self.valid_before, new_authorization_nonce())
        sig = sign_transfer_authorization(self.signer, self.domain, auth)
        payload = {"authorization": auth.to_json(), "signature": "0x" + sig.hex()}
        if commit:
            self.nonce = int.from_bytes(auth.nonce, "big")
        return encode_header({"x402Version": X402_VERSION, "accepted": self.offer, "payload": payload})


class Server:
    """One ``_value_serve.py`` process."""

    def __init__(self, mode: str, url: str, home: Path, blobs: Path, model_id: int, port: int, log: Path) -> None:
        self.mode, self.port = mode, port
        self.url = f"http://127.0.0.1:{port}"
        args = [
            sys.executable, str(HERE / "_value_serve.py"), mode, url, str(home), str(blobs), str(model_id),
            str(SERVICE_ACCOUNT), str(port), str(home / f"ledger-{model_id}-{mode}.sqlite"),
        ]
        self.log = log
        with log.open("wb") as err:
            self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=err)
        self.http = httpx.Client(base_url=self.url, timeout=30, trust_env=False)

    def wait_ready(self, timeout: float = 180.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"the {self.mode} server exited: {self.log.read_text()[-3000:]}")
            try:
                if self.http.get("/_bench/stats").status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"the {self.mode} server did not start in {timeout:.0f}s")

    def stats(self) -> dict[str, Any]:
        return self.http.get("/_bench/stats").json()

    def stop(self, timeout: float = 60.0) -> None:
        self.http.close()
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGINT)  # graceful: the paid app claims what it earned on exit
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait(5)


@dataclass
class Phase:
    mode: str
    calls: int
    seconds: float
    server_cpu_s: float
    client_cpu_s: float
    threads_cpu_s: dict[str, float]  # the server's CPU by kind of Python thread


def _threads_delta(before: dict[str, Any], after: dict[str, Any]) -> dict[str, float]:
    """CPU seconds each kind of server thread spent between two stats (a thread that started
    in between counts whole; one that exited, idle, is left out)."""
    was = {tid: cpu for tid, _, cpu in before["cpu_threads"]}
    out = {"main": 0.0, "request": 0.0, "sync": 0.0}
    for tid, kind, cpu in after["cpu_threads"]:
        out[kind] += cpu - was.get(tid, 0.0)
    return out


class _Conn:
    """One keep-alive HTTP/1.1 connection (``http.client``: a load generator as light as it gets,
    so that the two servers, not the clients, set the pace)."""

    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        self.path = parts.path
        self.conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=60)
        self.conn.connect()

    def post(self, body: bytes, header: str) -> tuple[int, bytes, str | None]:
        self.conn.request("POST", self.path, body, {PAYMENT_SIGNATURE: header})
        r = self.conn.getresponse()
        return r.status, r.read(), r.getheader(PAYMENT_RESPONSE)

    def close(self) -> None:
        self.conn.close()


def _drive(
    url: str, payers: Sequence[Payer | ExactPayer], bodies: list[bytes], *, seconds: float = 0.0, calls: int = 0,
    paid: bool, answers: list[Answer] | None = None,
) -> tuple[int, float]:
    """One client thread per payer calls ``url`` for ``seconds`` (or ``calls`` times each);
    return (calls answered, wall seconds from the common start to the last answer)."""
    counts = [0] * len(payers)
    errors: list[str] = []
    start = threading.Barrier(len(payers) + 1)
    stop_at = [0.0]

    def client(k: int) -> None:
        payer, conn = payers[k], _Conn(url)
        try:
            start.wait()
            n, i = 0, k
            while (n < calls) if calls else (time.perf_counter() < stop_at[0]):
                body = bodies[i % len(bodies)]
                i += len(payers)
                status, content, receipt = conn.post(body, payer.header(commit=paid))
                if status != 200:
                    errors.append(f"HTTP {status}: {content[:300]!r}")
                    return
                answer = (body, receipt or "", keccak(content), payer.channel_id, payer.nonce)  # same work for both
                if answers is not None:
                    answers.append(answer)
                n += 1
            counts[k] = n
        finally:
            conn.close()

    threads = [threading.Thread(target=client, args=(k,)) for k in range(len(payers))]
    for t in threads:
        t.start()
    t0 = time.perf_counter()
    stop_at[0] = t0 + seconds
    start.wait()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0
    if errors:
        raise RuntimeError(f"{len(errors)} calls failed, first: {errors[0]}")
    return sum(counts), wall


def _check_receipts(answers: list[Answer], domain: Any, service: str, model_id: int) -> int:
    """Check every paid answer's receipt (signer, input, output, charge, cheque); return how many."""
    for body, header, out_hash, channel_id, nonce in answers:
        receipt = Receipt.from_json(decode_header(header)["extra"]["receipt"])
        receipt.verify(domain, service)
        assert receipt.input_hash == keccak(body) and receipt.output_hash == out_hash, "receipt for another call"
        want = (model_id, channel_id, nonce, PRICE)
        assert (receipt.model_id, receipt.channel_id, receipt.nonce, receipt.amount) == want, "another charge"
    return len(answers)


def _rpc_request_path(stats: dict[str, Any]) -> int:
    """Requests the serving threads sent (the main thread's too, which should send none while serving)."""
    rpc = stats.get("rpc", {})
    return int(rpc.get("request", 0)) + int(rpc.get("main", 0))


def run_model(
    lab: Lab, name: str, *, phase_s: float, rounds: int, warmup: int, log: Any, sdk: bool = False,
    exact_s: float = 0.0,
) -> dict[str, Any]:
    """Drive model ``name``'s paid and bare servers alike; figures of the comparison. With
    ``exact_s``, then one phase of that length paying the paid server with x402 ``exact`` (see
    :func:`_run_exact`). Stops both servers at the end and checks on chain that the paid one
    claimed what it charged."""
    model_id, bodies = lab.ids[name], lab.bodies[name]
    paid, bare = lab.servers[name]
    chans, chain = lab.channels, lab.chain
    try:
        paid.wait_ready()
        bare.wait_ready()
        log(f"  {name}: servers up (paid on {paid.port}, bare on {bare.port})")
        time.sleep(1.2)  # let the start-up sync settle
        s_first = paid.stats()
        # fresh channels, opened just before their first call
        expiry = chain.timestamp() + 86_400
        payers = []
        offer = fetch_offer(paid.url + "/call", bodies[0])
        for acct in PAYER_ACCOUNTS[:CLIENTS]:
            signer = chain.dev_signers[acct]
            cid, _ = chans.open(model_id, DEPOSIT, expiry, signer)
            payers.append(Payer(signer, chans, cid, PRICE, offer))
        warm_answers: list[Answer] = []
        _drive(paid.url + "/call", payers, bodies, calls=warmup, paid=True, answers=warm_answers)
        _drive(bare.url + "/call", payers, bodies, calls=warmup, paid=False)
        s_warm = paid.stats()
        phases: list[Phase] = []
        answers: list[Answer] = []
        for rnd in range(rounds):
            for mode, server in (("bare", bare), ("paid", paid)):
                before, c0 = server.stats(), time.process_time()
                mine: list[Answer] = []
                calls, wall = _drive(server.url + "/call", payers, bodies, seconds=phase_s, paid=mode == "paid",
                                     answers=mine if mode == "paid" else None)
                after, c1 = server.stats(), time.process_time()
                answers += mine
                ph = Phase(mode, calls, wall, after["cpu_s"] - before["cpu_s"], c1 - c0, _threads_delta(before, after))
                phases.append(ph)
                per = {k: round(1e6 * v / calls) for k, v in ph.threads_cpu_s.items()}
                log(f"    {mode}: {calls} calls in {wall:.1f}s = {calls / wall:.0f}/s; CPU us/call: "
                    f"server {1e6 * ph.server_cpu_s / calls:.0f} (event loop {per['main']}, handlers "
                    f"{per['request']}, sync thread {per['sync']}), client {1e6 * ph.client_cpu_s / calls:.0f}")
            b, p = phases[-2], phases[-1]
            log(f"    round {rnd + 1}: paid/bare {(p.calls / p.seconds) / (b.calls / b.seconds):.1%}")
        s_end = paid.stats()
        checked = _check_receipts(warm_answers + answers, lab.receipt_domain, lab.service, model_id)
        out: dict[str, Any] = {
            "phases": phases, "receipts_checked": checked, "paid_calls": len(answers), "warm_calls": len(warm_answers),
            "rpc_steady": _rpc_request_path(s_end) - _rpc_request_path(s_warm),
            "rpc_incl_first": _rpc_request_path(s_end) - _rpc_request_path(s_first),
            "rpc_sync": int(s_end["rpc"].get("sync", 0)) - int(s_first["rpc"].get("sync", 0)),
            "serving_s": s_end["time"] - s_first["time"],
            "rpc_methods": s_end["rpc_methods"], "claims": s_end["claims"] - s_first["claims"],
            "earned": int(s_end["earned"]), "channels": [p.channel_id for p in payers],
        }
        if exact_s:
            out.update(_run_exact(lab, paid, bodies, model_id, exact_s, log))
        if sdk:  # the SDK client against the same server: finds it from the card, opens its channel
            mc = ModelsClient(lab.registry, chans, chain.dev_signers[SDK_PAYER_ACCOUNT], lab.home / "sdk.sqlite",
                              storage=lab.storage)
            for i in range(10):
                mc.call(model_id, bodies[i])
            out["sdk_calls"] = len(mc.receipts(model_id))
            out["earned"] = int(paid.stats()["earned"])
            out["channels"].append(mc.channel_of(model_id)["id"])  # type: ignore[index]
    finally:
        paid.stop()
        bare.stop()
    # the paid server claimed what it served when it shut down: check it on chain
    out["claimed_on_chain"] = sum(chans.fetch(c).claimed for c in out["channels"])
    return out


def _run_exact(lab: Lab, paid: Server, bodies: list[bytes], model_id: int, seconds: float, log: Any) -> dict[str, Any]:
    """One phase of ``exact`` payments against the paid server: the same client threads and inputs,
    each call signing an EIP-3009 authorization that the server settles on chain (a transaction,
    mined by anvil) before it answers. After the channel phases, so the channel figures (chain
    traffic per call included) do not see it. Checks every receipt and that the payers paid
    exactly the calls answered."""
    chain, token = lab.chain, lab.channels.token
    url = paid.url + "/call"
    offer = fetch_offer(url, bodies[0], EXACT_SCHEME)
    domain = fetch_token_domain(token)
    valid_before = max(int(time.time()), chain.timestamp()) + 3_600
    signers = [chain.dev_signers[a] for a in PAYER_ACCOUNTS[:CLIENTS]]
    payers = [ExactPayer(s, domain, offer, valid_before) for s in signers]
    held = sum(token.balanceOf(s.address) for s in signers)
    warm: list[Answer] = []
    _drive(url, payers, bodies, calls=3, paid=True, answers=warm)
    before, c0 = paid.stats(), time.process_time()
    answers: list[Answer] = []
    calls, wall = _drive(url, payers, bodies, seconds=seconds, paid=True, answers=answers)
    after, c1 = paid.stats(), time.process_time()
    threads = _threads_delta(before, after)
    out = {
        "exact_calls_per_s": calls / wall,
        "exact_server_cpu_us_per_call": 1e6 * (after["cpu_s"] - before["cpu_s"]) / calls,
        "exact_server_cpu_us_per_call_handlers": 1e6 * threads["request"] / calls,
        "exact_client_cpu_us_per_call": 1e6 * (c1 - c0) / calls,
        "exact_settled": after["exact_calls"] - before["exact_calls"],
        "exact_calls": calls,
        "exact_receipts_checked": _check_receipts(warm + answers, lab.receipt_domain, lab.service, model_id),
        "exact_paid_wei": held - sum(token.balanceOf(s.address) for s in signers),
        "exact_answered": len(warm) + len(answers),
    }
    log(f"    exact: {calls} calls in {wall:.1f}s = {calls / wall:.0f}/s; CPU us/call: server "
        f"{out['exact_server_cpu_us_per_call']:.0f} (handlers {out['exact_server_cpu_us_per_call_handlers']:.0f}), "
        f"client {out['exact_client_cpu_us_per_call']:.0f}")
    return out


def summarise(r: dict[str, Any]) -> dict[str, float]:
    """Mean calls/s of each mode over its phases, CPU per call, the ratio (and its spread over
    the rounds: each round is a bare phase and the paid phase right after it)."""
    out: dict[str, float] = {}
    for mode in ("paid", "bare"):
        ps = [p for p in r["phases"] if p.mode == mode]
        out[f"{mode}_calls_per_s"] = sum(p.calls / p.seconds for p in ps) / len(ps)
        calls = sum(p.calls for p in ps)
        out[f"{mode}_server_cpu_us_per_call"] = 1e6 * sum(p.server_cpu_s for p in ps) / calls
        out[f"{mode}_client_cpu_us_per_call"] = 1e6 * sum(p.client_cpu_s for p in ps) / calls
        for kind in ("main", "request", "sync"):
            out[f"{mode}_server_{kind}_cpu_us_per_call"] = 1e6 * sum(p.threads_cpu_s[kind] for p in ps) / calls
    out["ratio"] = out["paid_calls_per_s"] / out["bare_calls_per_s"]
    rounds = [
        (p.calls / p.seconds) / (b.calls / b.seconds) for b, p in zip(r["phases"][::2], r["phases"][1::2], strict=True)
    ]
    out["ratio_round_min"], out["ratio_round_max"] = min(rounds), max(rounds)
    return out


class Lab:
    """Anvil, the protocol, the two models registered, and their four servers started (they load
    their models while the caller does other work: ``with Lab(log) as lab: ...``)."""

    def __init__(self, log: Any = print) -> None:
        self.log = log
        self.tmp = tempfile.TemporaryDirectory(prefix="agora-bench-value-")
        self.home, self.blobs = Path(self.tmp.name) / "home", Path(self.tmp.name) / "blobs"
        self.home.mkdir(parents=True)
        self.servers: dict[str, tuple[Server, Server]] = {}
        self.node: Any = None

    def __enter__(self) -> Lab:
        try:
            self._start()
        except BaseException:
            self.__exit__()
            raise
        return self

    def _start(self) -> None:
        self.node = start_anvil()
        self.chain = connect(self.node.url)
        dep = deploy_devnet(self.chain, book=AddressBook(self.home / "addressbook.json"))
        self.storage = Storage(LocalStore(self.blobs))
        self.registry, self.channels = ModelRegistry(dep, self.storage), Channels(dep)
        dev = self.chain.dev_signers
        owner = dev[SERVICE_ACCOUNT]
        self.service = owner.address
        self.receipt_domain = receipts_domain(self.chain.chain_id, self.registry.contract.address)
        split = [Share(OWNER, 7000), Share(dev[2].address, 2000), Share(dev[3].address, 1000)]
        sentence = "call {}: a cat sits on the mat while the dog sleeps by the door"
        self.bodies = {
            "onnx": [digits_inputs(1, seed=i) for i in range(256)],  # one digit per call
            "minilm": [json.dumps([sentence.format(i)]).encode() for i in range(256)],  # one sentence per call
        }
        self.ids: dict[str, int] = {}
        for name, kind, model in (
            ("onnx", "onnx-classify", build_digits_model()),
            ("minilm", "embed-minilm", json.dumps({"model": "all-MiniLM-L6-v2"}).encode()),
        ):
            port = free_port()
            wl = get_workload(kind)
            card = ModelCard(
                name=f"bench-{name}", kind=kind, weights_cid=self.storage.put(model),
                weights_hash="0x" + wl.weights_hash(model).hex(), price=PRICE, endpoint=f"http://127.0.0.1:{port}",
            )
            mid, _ = self.registry.register(card, owner, split=split)
            self.ids[name] = mid
            self.servers[name] = tuple(  # type: ignore[assignment]
                Server(mode, self.node.url, self.home, self.blobs, mid, p, self.home / f"{name}-{mode}.log")
                for mode, p in (("paid", port), ("bare", free_port()))
            )
        self.log(f"  anvil, protocol, 2 models registered; {2 * len(self.servers)} servers starting")

    def wait_ready(self) -> None:
        for pair in self.servers.values():
            for server in pair:
                server.wait_ready()

    def __exit__(self, *exc: object) -> None:
        for pair in self.servers.values():
            for server in pair:
                server.stop()
        if self.node is not None:
            self.node.stop()
        self.tmp.cleanup()


if __name__ == "__main__":  # `make bench` runs every bench/*.py; this one only as part of value.py
    pass
