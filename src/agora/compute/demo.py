"""The compute chapter of ``agora demo``: three providers, one dishonest, about twenty jobs.

Everything is real: the contracts on the embedded chain assign the jobs, draw
the audits and settle; the providers are daemons running the real ONNX
digits classifier (the dishonest one invents results without computing);
the requester checks every result against the digest agreed on chain. The
chapter asserts what it shows, ending with a reconciliation of every token
to the wei.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from agora.chain import Chain, Signer
from agora.compute.adversaries import WrongOutputProvider
from agora.compute.market import JobState, Market, Policy
from agora.compute.provider import ProviderDaemon
from agora.compute.requester import ComputeClient, Job
from agora.errors import AgoraError
from agora.layers import DemoContext
from agora.protocol import Deployment, fund_account
from agora.storage import LocalStore, Storage
from agora.workloads import build_digits_model, digits_inputs

__all__ = ["run_compute_chapter", "demo_chapter", "DEMO_POLICIES"]

#: The job stream: (policy, how many). Replicate and audit:1 always put the cheater
#: next to an honest provider; audit:0.3 and none show the everyday path.
DEMO_POLICIES: list[tuple[Policy, int]] = [
    (Policy.audit(1.0), 6),
    (Policy.replicate(3), 4),
    (Policy.audit(0.3), 5),
    (Policy.none(), 5),
]
STAKE = 1_000 * 10**18
PRICE = 10**15  # per unit (one image): 0.001 AGR


class ComputeDemoFailed(AgoraError):
    """A compute demo step did not show what it claims."""


def _check(cond: bool, what: str) -> None:
    if not cond:
        raise ComputeDemoFailed(f"demo check failed: {what}")


def run_compute_chapter(
    chain: Chain,
    dep: Deployment,
    providers: list[Signer],
    requester: Signer,
    workdir: Path | None = None,
    step: Callable[[str], None] = lambda _m: None,
) -> dict[str, Any]:
    """Run the chapter; return its summary. ``providers[-1]`` is the dishonest one."""
    market = Market(dep)
    token = dep.token
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(workdir or tmp)
        storage = Storage(LocalStore(root / "compute-blobs"))
        step("providers stake and register")
        for p in [*providers, requester]:
            fund_account(dep, p.address, tokens=10_000 * 10**18)
        for p in providers:
            market.register(p, kinds=[1, 2, 3], price=PRICE, stake=STAKE)
        names = {p.address: f"provider {chr(ord('A') + i)}" for i, p in enumerate(providers)}
        cheater = providers[-1]
        names[cheater.address] += " (dishonest)"
        daemons: list[ProviderDaemon] = [
            ProviderDaemon(market, p, storage, root / f"p{i}.db", concurrency=1) for i, p in enumerate(providers[:-1])
        ]
        daemons.append(WrongOutputProvider(market, cheater, storage, root / "cheat.db", concurrency=1, rate=1.0))
        balances0 = {a: token.balanceOf(a) for a in names}

        step("the requester posts jobs across the policies")
        client = ComputeClient(market, storage, requester)
        model = build_digits_model()
        jobs: list[Job] = []
        for policy, n in DEMO_POLICIES:
            for _ in range(n):
                jobs.append(client.submit("onnx-classify", model, digits_inputs(4, seed=len(jobs)), policy=policy,
                                          price_per_unit=PRICE))
        first_block = market.dep.block

        step(f"providers run {len(jobs)} jobs: commit, reveal, audits, tie-breaks")
        open_jobs = list(jobs)
        for _round in range(2_000):
            for d in daemons:
                d.step()
            open_jobs = [j for j in open_jobs if not j.status().closed]
            if not open_jobs:
                break
            chain.mine(1)  # the embedded chain mines on demand; keep its clock moving
        else:
            raise ComputeDemoFailed("demo check failed: the jobs did not all settle")
        for d in daemons:  # their worker threads and databases are not needed any more
            d.close(grace=5)

        step("checking every result against the chain")
        rows: list[dict[str, Any]] = []
        results_ok = 0
        for j in jobs:
            info = j.status()
            _check(info.state == JobState.SETTLED, f"job {j.id} settled")
            out = j.result()
            results_ok += 1
            rows.append({
                "id": j.id, "policy": str(info.policy),
                "providers": [names[p] for p in info.providers],
                "audited": info.policy.name == "audit" and len(info.providers) > 1,
                "tie_break": len(info.providers) == 3 and info.policy.name == "audit",
                "result_bytes": len(out) if isinstance(out, bytes) else sum(map(len, out)),
            })
        slashes = market.contract.get_events("Slashed", first_block)
        slashed_by_provider: dict[str, int] = {}
        for e in slashes:
            slashed_by_provider[e.args["provider"]] = slashed_by_provider.get(e.args["provider"], 0) + e.args["amount"]
        _check(set(slashed_by_provider) == {cheater.address}, "only the dishonest provider was slashed")

        step("everyone withdraws; reconciling every token to the wei")
        # what each provider must be owed, derived from the chain's own record: the pay of
        # every job whose agreed digest it revealed, less the protocol fee
        fee_bps = int(market.contract.fee_bps())
        expected = dict.fromkeys(names, 0)
        for e in market.contract.get_events("Revealed", first_block):
            info = market.job(e.args["job_id"])
            if bytes(e.args["digest"]) == info.result:
                expected[e.args["provider"]] += info.pay - info.pay * fee_bps // 10_000
        owed = {a: market.owed(a) for a in names}
        _check(owed == expected, "each provider is owed exactly the pay of the jobs it got right, less the fee")
        withdrawn = {a: market.withdraw(s) for s, a in [(p, p.address) for p in providers]}
        market.withdraw(requester)
        prov_rows: list[dict[str, Any]] = []
        for p in providers:
            record = market.provider(p.address)
            bal = token.balanceOf(p.address)
            _check(bal == balances0[p.address] + withdrawn[p.address], f"{names[p.address]} received what it was owed")
            prov_rows.append({
                "name": names[p.address], "address": p.address,
                "jobs": sum(1 for r in rows if names[p.address] in r["providers"]),
                "earned_wei": withdrawn[p.address], "slashed_wei": slashed_by_provider.get(p.address, 0),
                "stake_wei": record.stake, "reputation": record.reputation, "active": record.active,
            })
        honest_earned = [r["earned_wei"] for r in prov_rows[:-1]]
        _check(all(e > 0 for e in honest_earned), "every honest provider was paid")
        _check(prov_rows[-1]["stake_wei"] < STAKE, "the dishonest provider lost stake")

        # the money adds up: the market holds exactly open escrows + what it owes,
        # the registry exactly the stakes, and no token appeared or vanished
        everyone = {*names, requester.address, dep.chain.dev_signers[0].address}
        open_escrow = sum(market.job(i).escrow for i in range(1, market.job_count() + 1))
        market_owes = sum(market.owed(a) for a in everyone)
        market_bal = token.balanceOf(market.contract.address)
        _check(market_bal == open_escrow + market_owes, "market balance = escrows + owed, to the wei")
        stakes = sum(market.provider(a).stake + market.provider(a).unbonding for a in names)
        _check(token.balanceOf(market.registry.address) == stakes, "registry balance = stakes, to the wei")
        holders = everyone | {market.contract.address, market.registry.address}
        for s in chain.dev_signers:
            holders.add(s.address)
        supply = token.totalSupply()
        _check(sum(token.balanceOf(a) for a in holders) == supply, "all balances add up to the supply, to the wei")

    return {
        "jobs": rows,
        "providers": prov_rows,
        "results_verified": results_ok,
        "audits": sum(1 for r in rows if r["audited"]),
        "tie_breaks": sum(1 for r in rows if r["tie_break"]),
        "slashes": len(slashes),
        "reconciled": {
            "market_balance_wei": market_bal, "open_escrow_wei": open_escrow, "owed_wei": market_owes,
            "registry_balance_wei": stakes, "supply_wei": supply,
        },
    }


def demo_chapter(demo: DemoContext) -> dict[str, Any]:
    """The compute layer's chapter of ``agora demo``: dev accounts 3-5 provide (5 cheats), 6 requests."""
    s = demo.chain.dev_signers
    return run_compute_chapter(demo.chain, demo.deployment, providers=s[3:6], requester=s[6],
                               workdir=demo.workdir, step=demo.step)
