"""The data layer's answers to ``agora trace`` (:mod:`agora.trace`): who owns a dataset, what it was
made from, who paid to use it and how much, who shares its revenue, which compute-to-data jobs ran
on it; and which datasets an address owns, ordered or earned from.

``dataset:N`` → its current owner (the ERC-721's ``ownerOf``), its sources (a model version, a
compute job or a parent dataset, by the contract each is recorded in), every payer with the
orders it started and what it paid for datatokens, each split recipient with its basis points and
what it was credited, and the compute-to-data jobs that spent its privacy budget. Read from the
registry's views and its events filtered at the node by the indexed dataset id.
``address:0x…`` → the datasets it owns now, has ordered and earned from.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from eth_utils.address import to_checksum_address

from agora.errors import Reverted
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

#: A source recorded in this contract role is this kind of node.
_SOURCE_KINDS = {"models": "model", "market": "job", "data_registry": "dataset"}
#: Privacy spends at or above this reference are federated runs, not compute jobs (``fl_reference``).
_FL_REFERENCE = 1 << 128
_ZERO = "0x" + "00" * 20


def lineage(dep: Deployment, ref: str) -> LineageAnswer | None:
    """``agora trace``'s hook: a ``dataset:N`` with its owner, sources, orders, revenue and C2D jobs,
    or an ``address:0x…``'s datasets; None for other references."""
    if "data_registry" not in dep.addresses:
        return None
    dataset = ref_id(ref, "dataset")
    if dataset is not None:
        return _dataset(dep, dataset)
    if ref.startswith("address:"):
        return _address(dep, ref.partition(":")[2])
    return None


#: Logs decoded for one object at most (decoding costs more than reading); sums past it are partial.
_DECODE_CAP = 500


def _registry(dep: Deployment) -> Any:
    from agora.data.registry import DataRegistry

    return handle(dep, "data.registry", lambda: DataRegistry(dep))


def _decoded(contract: Any, names: list[str], from_block: int, where: list[bytes | None]) -> tuple[list[Any], bool]:
    """The newest events (at most ``_DECODE_CAP``), decoded, and whether that was all of them."""
    logs, complete = newest_logs(contract, names, from_block, where=where, cap=_DECODE_CAP)
    return [ev for ev in map(contract.decode_log, logs) if ev is not None], complete


def _dataset(dep: Deployment, dataset: int) -> LineageAnswer:
    from agora.data.registry import OWNER

    registry = _registry(dep)
    info = registry.fetch(dataset)  # ConfigError: there is no such dataset
    sources = registry.sources(dataset)
    split = registry.split(dataset)
    c = registry.contract
    me = f"dataset:{dataset}"

    # what each buyer paid for datatokens, and what was distributed (the dataset id is the first topic)
    paid: dict[str, int] = defaultdict(int)
    distributed = 0
    sales, all_sales = _decoded(c, ["Bought", "Distributed"], dep.block, [topic(dataset)])
    for ev in sales:
        if ev.name == "Bought":
            paid[to_checksum_address(ev.args["buyer"])] += int(ev.args["cost"])
        elif to_checksum_address(ev.args["token"]) == to_checksum_address(info.payment_token):
            distributed += int(ev.args["amount"])
    # orders (who paid for them) and credits (the dataset id is the second topic of both)
    orders: dict[str, int] = defaultdict(int)
    credited: dict[str, int] = defaultdict(int)
    order_count = 0
    uses, all_uses = _decoded(c, ["OrderStarted", "Credited"], dep.block, [None, topic(dataset)])
    for ev in uses:
        if ev.name == "OrderStarted":
            orders[to_checksum_address(ev.args["payer"])] += 1
            order_count += 1
        else:
            credited[to_checksum_address(ev.args["recipient"])] += int(ev.args["amount"])

    nodes: list[Node] = []
    edges: list[Edge] = [Edge(me, address_ref(info.owner), "owned by", {})]
    roles = {addr.lower(): role for role, addr in dep.addresses.items()}
    for src in sources:
        kind = _SOURCE_KINDS.get(roles.get(src.registry.lower(), ""))
        target = f"{kind}:{src.id}" if kind else f"contract:{src.registry}:{src.id}"
        facts: dict[str, Any] = {}
        if any(src.evidence):
            facts["evidence"] = bytes32_to_cid(src.evidence)
        if kind is None:
            nodes.append(Node(target, "contract", f"{short_address(src.registry)} #{src.id}",
                              {"contract": src.registry, "id": src.id}))
        edges.append(Edge(me, target, "made from", facts))
    symbol = {} if info.payment_token == dep.addresses.get("token") else {"symbol": short_address(info.payment_token)}
    payers = sorted(set(paid) | set(orders), key=lambda a: (-paid.get(a, 0), -orders.get(a, 0)))
    part = fan_out(me, "ordered by", [
        (address_ref(a), {"orders": orders.get(a, 0), "amount_wei": paid.get(a, 0), **symbol}) for a in payers
    ], "payers", at_least=not (all_sales and all_uses))
    nodes += part[0]
    edges += part[1]
    for share in split:
        recipient = info.owner if share.recipient == OWNER else share.recipient
        edges.append(Edge(me, address_ref(recipient), "revenue share",
                          {"bps": share.bps, "amount_wei": credited.get(recipient, 0), **symbol}))

    jobs: dict[int, int] = {}
    if "data_services" in dep.addresses:
        services = handle(dep, "data.services", lambda: dep.contract("data_services"))
        for ev in services.get_events("PrivacySpent", dep.block, where=[topic(dataset)]):
            reference = int(ev.args["reference"])
            if reference < _FL_REFERENCE:
                jobs[reference] = jobs.get(reference, 0) + int(ev.args["amount"])
    part = fan_out(me, "computed on by", [(f"job:{j}", {"epsilon_micro": m}) for j, m in sorted(jobs.items(),
                                                                                              reverse=True)],
                   "compute-to-data jobs")
    nodes += part[0]
    edges += part[1]

    revenue = sum(paid.values())
    facts = {
        "owner": info.owner, "datatoken": info.datatoken, "card_cid": bytes32_to_cid(info.card),
        "content_hash": "0x" + info.content_hash.hex(), "payment_token": info.payment_token,
        "price_wei": info.price, "timeout": info.timeout, "orders": order_count, "payers": len(payers),
        "sales_wei": revenue, "distributed_wei": distributed,
        "split": [{"recipient": s.recipient, "bps": s.bps} for s in split],
        "sources": [s.to_json() for s in sources], "c2d_jobs": len(jobs), "counted_all": all_sales and all_uses,
        "summary": f"{order_count} order{'s' if order_count != 1 else ''} · sold {amount_text(revenue)}"
                   + (f" · price {amount_text(info.price)}" if info.price else " · not for sale"),
    }
    if info.manager != _ZERO:
        facts["manager"] = info.manager
    nodes.insert(0, Node(me, "dataset", f"dataset {dataset}", facts))
    return nodes, edges


def _address(dep: Deployment, address: str) -> LineageAnswer:
    registry = _registry(dep)
    c = registry.contract
    me = address_ref(address)
    who = to_checksum_address(address)
    # datasets received (ERC-721 Transfer to it), then kept only if it owns them still
    received: dict[int, None] = {}
    logs, _ = newest_logs(c, "Transfer", dep.block, where=[None, topic(who)])
    for log in logs:
        received[int.from_bytes(log.topics[3], "big")] = None
    owned: list[int] = []
    candidates = list(received)
    for dataset in candidates:
        try:
            if to_checksum_address(c.ownerOf(dataset)) == who:
                owned.append(dataset)
        except Reverted:
            continue
        if len(owned) > FANOUT:
            break
    total_owned = int(c.balanceOf(who))
    nodes: list[Node] = []
    edges: list[Edge] = []
    part = fan_out(me, "owns", [(f"dataset:{d}", {}) for d in owned], "datasets", total=total_owned)
    nodes += part[0]
    edges += part[1]

    ordered: dict[int, int] = defaultdict(int)
    logs, all_orders = newest_logs(c, "OrderStarted", dep.block, where=[None, None, topic(who)])
    for log in logs:
        ordered[int.from_bytes(log.topics[2], "big")] += 1
    part = fan_out(me, "ordered", [(f"dataset:{d}", {"orders": n}) for d, n in
                                   sorted(ordered.items(), key=lambda kv: -kv[1])], "datasets ordered",
                   at_least=not all_orders)
    nodes += part[0]
    edges += part[1]

    earned: dict[int, int] = defaultdict(int)
    credits, all_credits = _decoded(c, ["Credited"], dep.block, [topic(who)])
    for ev in credits:
        earned[int(ev.args["dataset"])] += int(ev.args["amount"])
    part = fan_out(me, "earned from", [(f"dataset:{d}", {"amount_wei": a}) for d, a in
                                       sorted(earned.items(), key=lambda kv: -kv[1])], "datasets earned from",
                   at_least=not all_credits)
    nodes += part[0]
    edges += part[1]
    facts: dict[str, Any] = {"address": who, "datasets_owned": total_owned}
    if ordered:
        facts["datasets_ordered"] = len(ordered)
    nodes.insert(0, Node(me, "address", short_address(who), facts))
    return nodes, edges
