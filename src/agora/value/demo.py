"""The value chapter of ``agora demo``: a model that earns for everyone who made it.

A digits classifier is registered with its provenance (the dataset the data chapter
published, checked on chain to exist, and the compute job that trained it) and a
three-way revenue split: its owner, the data contributor and the compute provider. Its
lineage is read back: the dataset and its owner, from the dataset registry. It is served
as a paid HTTP API (x402 v2 over payment channels) on a loopback port; two clients make a
few hundred paid calls, each answer carrying a signed receipt that the client checks. One
batched claim settles both channels; the pot is split and every recipient withdraws
exactly its share, to the wei. Every step asserts what it shows.
"""

from __future__ import annotations

import socket
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from agora.chain import Chain, Signer
from agora.errors import AgoraError
from agora.layers import DemoContext
from agora.protocol import Deployment, fund_account
from agora.storage import LocalStore, Storage
from agora.value.channels import Channels
from agora.value.client import ModelsClient
from agora.value.exact import build_exact_payments
from agora.value.models import OWNER, ModelCard, ModelRegistry, Share
from agora.value.revenue import split_amount
from agora.value.server import create_app
from agora.value.service import PaidService
from agora.workloads import build_digits_model, digits_inputs, get_workload

__all__ = ["run_value_chapter", "demo_chapter", "DEMO_SPLIT_BPS", "DEMO_PRICE", "DEMO_CALLS"]

#: owner, data contributor, compute provider
DEMO_SPLIT_BPS = (6_000, 2_500, 1_500)
#: wei per call: not a round number, so the split's rounding rule shows
DEMO_PRICE = 1_000_000_000_000_007
#: paid calls per client
DEMO_CALLS = 150


class ValueDemoFailed(AgoraError):
    """A value demo step did not show what it claims."""


def _check(cond: bool, what: str) -> None:
    if not cond:
        raise ValueDemoFailed(f"demo check failed: {what}")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def run_value_chapter(
    chain: Chain,
    dep: Deployment,
    *,
    owner: Signer,
    data_owner: Signer,
    compute_provider: Signer,
    clients: list[Signer],
    compute_job: int = 0,
    datasets: Sequence[int] = (),
    workdir: Path | None = None,
    step: Callable[[str], None] = lambda _m: None,
) -> dict[str, Any]:
    """Run the chapter; return its summary. ``datasets``: the dataset ids the model was trained on
    (each must exist in the deployment's dataset registry), ``compute_job``: the job that trained
    it (0: none)."""
    import uvicorn

    token = dep.token
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(workdir or tmp)
        storage = Storage(LocalStore(root / "value-blobs"))
        registry, channels = ModelRegistry(dep, storage), Channels(dep)
        for who in [owner, *clients]:
            fund_account(dep, who.address, tokens=1_000 * 10**18)

        step("registering a model with a three-way revenue split")
        model = build_digits_model()
        workload = get_workload("onnx-classify")
        port = _free_port()
        card = ModelCard(
            name="digits-mlp", description="handwritten digit classifier (8x8), one row per input",
            kind="onnx-classify", weights_cid=storage.put(model),
            weights_hash="0x" + workload.weights_hash(model).hex(),
            price=DEMO_PRICE, endpoint=f"http://127.0.0.1:{port}",
        )
        split = [Share(OWNER, DEMO_SPLIT_BPS[0]), Share(data_owner.address, DEMO_SPLIT_BPS[1]),
                 Share(compute_provider.address, DEMO_SPLIT_BPS[2])]
        jobs = [compute_job] if compute_job else []
        model_id, reg_receipt = registry.register(card, owner, split=split, datasets=list(datasets), jobs=jobs)
        info = registry.fetch(model_id)
        _check(
            info.owner == owner.address and info.weights_hash == workload.weights_hash(model), "the model is registered"
        )
        lineage = registry.fetch_lineage(model_id)
        _check(
            [d.id for d in lineage.datasets] == list(datasets) and lineage.jobs == jobs
            and all(d.owner is not None for d in lineage.datasets) and [v.id for v in lineage.versions] == [model_id],
            "the model's lineage leads to its datasets, each with an owner in the dataset registry",
        )

        step("serving it as a paid API (x402: exact, and agora-channel over payment channels)")
        service = PaidService(
            chain=chain, registry=registry, channels=channels, model_id=model_id, card=card, workload=workload,
            model_bytes=model, signer=owner, ledger_path=root / "serve.sqlite",
        )
        exact = build_exact_payments(service, strict=True)  # creates the model's payee (exact's payTo)
        assert exact is not None
        server = uvicorn.Server(uvicorn.Config(
            create_app(service, exact=exact, claim_on_exit=False), host="127.0.0.1", port=port, log_level="warning",
            lifespan="on",
        ))
        thread = threading.Thread(target=server.run, name="agora-demo-serve", daemon=True)
        thread.start()
        deadline = time.monotonic() + 20
        while not server.started and time.monotonic() < deadline:
            time.sleep(0.02)
        _check(server.started, "the paid API is listening")
        try:
            step(f"two clients make {2 * DEMO_CALLS} paid calls")
            balances0 = {c.address: int(token.balanceOf(c.address)) for c in clients}
            sdks = [
                ModelsClient(registry, channels, c, root / f"client{i}.sqlite", storage=storage)
                for i, c in enumerate(clients)
            ]
            t0 = time.perf_counter()
            for i in range(DEMO_CALLS):
                if i == 1:  # both channels are open: from here on, calls touch no chain
                    t0 = time.perf_counter()
                for sdk in sdks:
                    result = sdk.call(model_id, digits_inputs(1, seed=i), budget=DEMO_PRICE * 1_000)
                    _check(result.receipt.amount == DEMO_PRICE, "each answer carries a checked receipt for its price")
            seconds = time.perf_counter() - t0

            step("one more call paid with x402's exact: an EIP-3009 transfer settled before the answer")
            paid_before = int(token.balanceOf(clients[0].address))
            result = sdks[0].call(model_id, digits_inputs(1, seed=DEMO_CALLS), scheme="exact")
            _check(result.receipt.amount == DEMO_PRICE and result.receipt.channel_id == 0,
                   "the exact call's receipt names the authorization, checked")
            _check(paid_before - int(token.balanceOf(clients[0].address)) == DEMO_PRICE
                   and int(token.balanceOf(exact.pay_to)) == DEMO_PRICE, "the payer paid the model's payee the price")
        finally:
            server.should_exit = True
            thread.join(timeout=20)

        calls = 2 * DEMO_CALLS
        earned = service.earned()
        _check(service.stats.calls == calls + 1 and earned == DEMO_PRICE * calls,
               "the service answered every call and charged the channels price x their calls")
        receipts = sum(len(sdk.receipts(model_id)) for sdk in sdks)
        _check(receipts == calls + 1, "every call left a receipt with its client")

        step("the service anchors its receipts: one Merkle root for every call")
        assert service.book is not None
        anchored = service.anchor(force=True)
        _check(anchored == calls + 1 and service.book.pending() == 0, "every call's receipt is under one anchored root")
        from agora.verification import verify_bundle

        bundle = service.book.bundle(result.receipt.digest(service.receipt_domain))
        _check(verify_bundle(dep, bundle).final, "the exact call's receipt checks out against its anchor: final")

        step("one batched claim settles both channels; the payee is swept into the same pot")
        service.claim(force=True)
        _check(service.stats.claims == 1 and service.unclaimed() == 0, "one claim_many transaction claimed everything")
        _check(exact.sweep(force=True) == DEMO_PRICE, "the exact payment moved from the payee to the pot")
        revenue = earned + DEMO_PRICE
        _check(channels.pot(model_id) == revenue, "the model's pot holds every claimed and swept wei")
        for c in clients:
            cid = sdks[clients.index(c)].channel_of(model_id)
            assert cid is not None
            _check(channels.fetch(cid["id"]).claimed == DEMO_PRICE * DEMO_CALLS, "each client paid price x its calls")

        step("the revenue is split and withdrawn")
        expected = split_amount(revenue, list(DEMO_SPLIT_BPS))
        recipients = [("owner", owner), ("data contributor", data_owner), ("compute provider", compute_provider)]
        got: list[int] = []
        for i, (_, who) in enumerate(recipients):
            before = int(token.balanceOf(who.address))
            paid = channels.withdraw(who, [model_id] if i == 0 else [])
            _check(int(token.balanceOf(who.address)) - before == paid, "the withdrawal arrived")
            got.append(paid)
        _check(got == expected and sum(got) == revenue, "the split adds up to the wei")

        step("reconciling the channels")
        deposits = {c.address: balances0[c.address] - int(token.balanceOf(c.address)) for c in clients}
        deposits[clients[0].address] -= DEMO_PRICE  # the exact payment, not a deposit
        unclaimed = 0
        for sdk in sdks:
            chan = sdk.channel_of(model_id)
            assert chan is not None
            unclaimed += channels.fetch(chan["id"]).unclaimed
        _check(sum(deposits.values()) == earned + unclaimed, "deposits = claimed + still in the channels")
        _check(int(token.balanceOf(channels.address)) >= unclaimed, "the contract holds every unclaimed wei")
        service.close()

    return {
        "model_id": model_id,
        "register_gas": reg_receipt.gas_used,
        "datasets": [{"id": d.id, "owner": d.owner} for d in lineage.datasets],
        "jobs": jobs,
        "price_wei": DEMO_PRICE,
        "calls": calls,
        "calls_per_s": round((calls - len(clients)) / seconds, 1),  # after the channels were opened
        "chain_reads_while_serving": service.stats.chain_reads,
        "receipts_checked": receipts,
        "receipts_anchored": anchored,
        "receipt_bundle": bundle.to_json(),
        "owner": owner.address,
        "claim_transactions": service.stats.claims,
        "earned_wei": earned,
        "exact_calls": 1,
        "exact_paid_wei": DEMO_PRICE,
        "revenue_wei": revenue,
        "split": [
            {"recipient": name, "address": who.address, "bps": bps, "withdrawn_wei": amount}
            for (name, who), bps, amount in zip(recipients, DEMO_SPLIT_BPS, got, strict=True)
        ],
        "reconciled": True,
    }


def demo_chapter(demo: DemoContext) -> dict[str, Any]:
    """The value layer's chapter of ``agora demo``: dev account 7 owns the model, 8 contributed its
    data, 3 computed it (compute job 1, when the compute chapter ran first); 9 and 2 call it. The
    model is trained on the data chapter's dataset (its summary's ``dataset_id``) when that
    chapter ran first, else on no dataset."""
    s = demo.chain.dev_signers
    data = demo.chapters.get("data", {})
    datasets = [int(data["dataset_id"])] if "dataset_id" in data else []
    summary = run_value_chapter(
        demo.chain, demo.deployment, owner=s[7], data_owner=s[8], compute_provider=s[3], clients=[s[9], s[2]],
        compute_job=1 if "compute" in demo.chapters else 0, datasets=datasets, workdir=demo.workdir, step=demo.step,
    )
    # then a staked prediction round, as Numerai's (agora.value.demo_tournament)
    from agora.value.demo_tournament import tournament_story

    with tempfile.TemporaryDirectory() as tmp:
        storage = Storage(LocalStore(Path(demo.workdir or tmp) / "tournament-blobs"))
        summary["tournament"] = tournament_story(demo.chain, demo.deployment, storage, demo.step)
    return summary
