"""The compute layer's answers to ``agora trace`` (:mod:`agora.trace`): who asked for a job, who ran
it, what it ran and what was paid, and which jobs an address asked for or ran.

``job:N`` → its requester (what it paid), each provider assigned (its role, what it was paid or
slashed, its stake and reputation from the registry), the workload, policy, price, state and
result digest, from the market's views and the job's own events (filtered at the node by the
indexed job id). ``address:0x…`` → the jobs it posted and the jobs it was assigned (one
``eth_getLogs`` on the indexed requester/provider topic, undecoded; the newest listed, the rest
counted), and its provider record.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from eth_utils.address import to_checksum_address

from agora.protocol import Deployment
from agora.storage import bytes32_to_cid
from agora.trace import (
    FANOUT,
    Edge,
    LineageAnswer,
    Node,
    address_ref,
    amount_text,
    fan_out,
    handle,
    newest_logs,
    ref_id,
    short_address,
    topic,
)

__all__ = ["lineage"]

_ROLES = {0: "worker", 1: "auditor", 2: "tie-breaker"}


def lineage(dep: Deployment, ref: str) -> LineageAnswer | None:
    """``agora trace``'s hook: a ``job:N`` with its requester, providers and payments, or an
    ``address:0x…``'s jobs as requester and as provider; None for other references."""
    if "market" not in dep.addresses or "registry" not in dep.addresses:
        return None
    job_id = ref_id(ref, "job")
    if job_id is not None:
        return _job(dep, job_id)
    if ref.startswith("address:"):
        return _address(dep, ref.partition(":")[2])
    return None


def _workload_name(kind: int) -> str:
    from agora.workloads import WorkloadError, get_workload

    try:
        return get_workload(kind).kind
    except WorkloadError:
        return f"kind {kind}"


def _provider_facts(market: Any, address: str) -> dict[str, Any]:
    p = market.provider(address)
    if not p.registered:
        return {"address": address}
    return {
        "address": address, "provider_stake_wei": p.stake, "reputation": p.reputation, "provider_active": p.active,
        "summary": f"provider · stake {amount_text(p.stake)} · rep {p.reputation}",
    }


def _market(dep: Deployment) -> Any:
    from agora.compute.market import Market

    return handle(dep, "compute.market", lambda: Market(dep))


def _job(dep: Deployment, job_id: int) -> LineageAnswer:
    market = _market(dep)
    info = market.job(job_id)  # ConfigError: there is no such job
    me = f"job:{job_id}"
    posted: dict[str, Any] = {}
    roles: dict[str, str] = {}
    revealed: dict[str, bytes] = {}
    settled: dict[str, Any] = {}
    refunded = 0
    for ev in market.contract.get_events(
        ["JobPosted", "Assigned", "Revealed", "Settled", "Refunded"], dep.block, where=[topic(job_id)],
    ):
        a = ev.args
        if ev.name == "JobPosted":
            posted = dict(a, block=ev.block_number)
        elif ev.name == "Assigned":
            roles.setdefault(to_checksum_address(a["provider"]), _ROLES.get(int(a["role"]), str(a["role"])))
        elif ev.name == "Revealed":
            revealed[to_checksum_address(a["provider"])] = bytes(a["digest"])
        elif ev.name == "Settled":
            settled = dict(a)
        else:
            refunded += int(a["amount"])
    digest = bytes(settled["digest"]) if settled else b""
    winners = [p for p, d in revealed.items() if settled and d == digest]
    slashed: dict[str, int] = defaultdict(int)
    if info.replacements or refunded or (settled and len(winners) < len(roles)):  # else nobody was slashed
        for ev in market.contract.get_events("Slashed", dep.block, where=[None, topic(job_id)]):
            slashed[to_checksum_address(ev.args["provider"])] += int(ev.args["amount"])
    paid = int(settled.get("paid", 0))
    fee = int(settled.get("fee", 0))
    nodes: list[Node] = []
    edges: list[Edge] = [Edge(me, address_ref(info.requester), "requested by",
                              {"amount_wei": paid + fee if settled else info.escrow + paid})]
    for provider in dict.fromkeys([*info.providers, *roles]):
        facts: dict[str, Any] = {"role": roles.get(provider, "worker")}
        if provider in winners:
            facts["amount_wei"] = paid // len(winners)
        if provider in slashed:
            facts["slashed_wei"] = slashed[provider]
        if provider in revealed:
            facts["result_agreed"] = provider in winners
        edges.append(Edge(me, address_ref(provider), "run by", facts))
        nodes.append(Node(address_ref(provider), "address", short_address(provider),
                          _provider_facts(market, provider)))

    workload = _workload_name(info.kind)
    facts = {
        "requester": info.requester, "state": info.state.label, "workload": workload, "kind_id": info.kind,
        "policy": str(info.policy), "pay_wei": info.pay, "escrow_wei": info.escrow, "deadline": info.deadline,
        "providers": list(info.providers), "result_digest": "0x" + info.result.hex() if any(info.result) else None,
    }
    if posted:
        facts.update({
            "posted_block": posted["block"], "units": int(posted["units"]), "items": int(posted["items"]),
            "model_cid": bytes32_to_cid(bytes(posted["model"])), "input_cid": bytes32_to_cid(bytes(posted["input"])),
        })
    if settled:
        facts.update({"paid_wei": paid, "fee_wei": fee, "refund_wei": int(settled["refund"])})
    if refunded:
        facts["refunded_wei"] = refunded
    if slashed:
        facts["slashed_wei"] = sum(slashed.values())
    spent = f" · paid {amount_text(paid)}" if settled else ""
    facts["summary"] = f"{info.state.label}{spent} · {info.policy}"
    nodes.insert(0, Node(me, "job", f"job {job_id} · {workload}", facts))
    return nodes, edges


def _address(dep: Deployment, address: str) -> LineageAnswer:
    market = _market(dep)
    me = address_ref(address)
    requested: dict[int, None] = {}
    ran: dict[int, None] = {}
    # the requester of JobPosted and the provider of Assigned are both the second topic: one read,
    # newest first, undecoded; past COUNT_CAP logs the counts are lower bounds
    logs, complete = newest_logs(market.contract, ["JobPosted", "Assigned"], dep.block, where=[None, topic(address)])
    for log in logs:
        job_id = int.from_bytes(log.topics[1], "big")
        (requested if log.name == "JobPosted" else ran)[job_id] = None
    nodes: list[Node] = []
    edges: list[Edge] = []
    for relation, jobs, noun in (("requested", requested, "jobs requested"), ("ran", ran, "jobs run")):
        part = fan_out(me, relation, [(f"job:{j}", {}) for j in list(jobs)[:FANOUT]], noun, total=len(jobs),
                       at_least=not complete)
        nodes += part[0]
        edges += part[1]
    facts = _provider_facts(market, to_checksum_address(address))
    facts.update({"jobs_requested": len(requested), "jobs_run": len(ran)})
    if not complete:
        facts["jobs_counted_from_newest"] = len(logs)
    if requested or ran:
        facts["compute_owed_wei"] = market.owed(address)
    nodes.insert(0, Node(me, "address", short_address(to_checksum_address(address)), facts))
    return nodes, edges
