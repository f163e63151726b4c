"""The value layer's answers to ``agora trace`` (:mod:`agora.trace`): what a model version is made
of and who it paid, and what an address owns, serves, paid and earned here.

``model:N`` → its parent version, the datasets it was trained on (``dataset:N``: only the id; the
data layer describes a dataset), the compute jobs that trained it (``job:N``), its owner and
service key, each revenue-split recipient with its basis points and what it was credited, and
every payer with what it deposited and what the model claimed from it. ``address:0x…`` → the
models it owns (the registry is an enumerable ERC-721), serves, paid over channels, and earned
revenue from. Payments are read from ``PaymentChannels`` events filtered at the node by their
indexed model id, payer or recipient — never by reading every event of the chain.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from eth_utils.address import to_checksum_address

from agora.protocol import Deployment
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

#: Channels read one by one (``channel(id)``) for the payers listed, at most.
_CHANNEL_READS = 3 * FANOUT


def lineage(dep: Deployment, ref: str) -> LineageAnswer | None:
    """``agora trace``'s hook: a ``model:N``'s lineage and payments, or an ``address:0x…``'s models
    and payments; None for other references (or a deployment without the value layer)."""
    if "models" not in dep.addresses or "channels" not in dep.addresses:
        return None
    model_id = ref_id(ref, "model")
    if model_id is not None:
        return _model(dep, model_id)
    if ref.startswith("address:"):
        return _address(dep, ref.partition(":")[2])
    return None


#: Logs decoded for one object at most (decoding costs more than reading).
_DECODE_CAP = 500


def _clients(dep: Deployment) -> tuple[Any, Any]:
    from agora.value.channels import Channels
    from agora.value.models import ModelRegistry

    registry = handle(dep, "value.models", lambda: ModelRegistry(dep))
    return registry, handle(dep, "value.channels", lambda: Channels(dep))


def _model(dep: Deployment, model_id: int) -> LineageAnswer:
    from agora.value.models import OWNER

    registry, channels = _clients(dep)
    info = registry.fetch(model_id)  # ConfigError: there is no such model
    datasets, jobs, parent = registry.provenance(model_id)
    service = registry.service_of(model_id)
    raw_split = registry.split(model_id)
    payees = registry.split(model_id, resolved=True)
    c = channels.contract
    me = f"model:{model_id}"

    distributed = swept = batch_claimed = 0
    payee: str | None = None
    for ev in c.get_events(["Distributed", "Swept", "BatchClaimed", "PayeeCreated"], dep.block,
                           where=[topic(model_id)]):
        if ev.name == "Distributed":
            distributed += int(ev.args["amount"])
        elif ev.name == "Swept":
            swept += int(ev.args["amount"])
        elif ev.name == "BatchClaimed":
            batch_claimed += int(ev.args["amount"])
        else:
            payee = to_checksum_address(ev.args["payee"])
    credited: dict[str, int] = defaultdict(int)
    for ev in c.get_events("Credited", dep.block, where=[None, topic(model_id)]):
        credited[to_checksum_address(ev.args["recipient"])] += int(ev.args["amount"])
    # the channels opened to the model, newest first, by payer (from the indexed topics: no decoding)
    by_payer: dict[str, list[int]] = defaultdict(list)  # payer -> channel ids
    opened_logs, complete = newest_logs(c, "ChannelOpened", dep.block, where=[None, None, topic(model_id)])
    for log in opened_logs:
        by_payer[to_checksum_address(log.topics[2][12:])].append(int.from_bytes(log.topics[1], "big"))
    pot = channels.pot(model_id)
    claimed = pot + distributed - swept  # the pot holds what was claimed or swept and not yet split

    nodes: list[Node] = []
    edges: list[Edge] = []
    owner = info.owner
    edges.append(Edge(me, address_ref(owner), "owned by", {"service_key": service == owner}))
    if service != owner:
        edges.append(Edge(me, address_ref(service), "served by", {}))
    if parent:
        edges.append(Edge(me, f"model:{parent}", "new version of", {}))
    for part in (fan_out(me, "trained on", [(f"dataset:{d}", {}) for d in datasets], "datasets"),
                 fan_out(me, "trained by", [(f"job:{j}", {}) for j in jobs], "jobs")):
        nodes += part[0]
        edges += part[1]
    owner_share = {s.bps for s in raw_split if s.recipient == OWNER}
    for share in payees:
        share_facts: dict[str, Any] = {"bps": share.bps, "amount_wei": credited.get(share.recipient, 0)}
        if share.recipient == owner and owner_share:
            share_facts["owner_share"] = True
        edges.append(Edge(me, address_ref(share.recipient), "revenue share", share_facts))
        nodes.append(_recipient_node(channels, share.recipient))

    # payers, the most channels (then the newest) first; what each deposited and the model claimed
    ranked = sorted(by_payer.items(), key=lambda kv: -len(kv[1]))
    reads = 0
    targets: list[tuple[str, dict[str, Any]]] = []
    for payer, opened in ranked[:FANOUT]:
        facts: dict[str, Any] = {"channels": len(opened), "deposit_wei": 0, "amount_wei": 0}
        for channel_id in opened[:3]:
            if reads >= _CHANNEL_READS:
                break
            state = channels.fetch(channel_id)
            reads += 1
            facts["amount_wei"] += state.claimed
            facts["deposit_wei"] += state.deposit
        targets.append((address_ref(payer), facts))
    more, payer_edges = fan_out(me, "paid by", targets, "payers", total=len(ranked), at_least=not complete)
    nodes += more
    edges += payer_edges

    model_facts: dict[str, Any] = {
        "owner": owner, "service": service, "version": info.version, "root": info.root, "parent": parent,
        "active": info.active, "registered_at": info.registered_at, "card_cid": info.card_cid,
        "weights_hash": "0x" + info.weights_hash.hex(), "uri": info.uri, "datasets": datasets, "jobs": jobs,
        "split": [{"recipient": s.recipient, "bps": s.bps} for s in raw_split],
        "payers": len(by_payer), "channels": len(opened_logs), "counted_all_channels": complete,
        "claimed_wei": claimed, "distributed_wei": distributed, "pot_wei": pot,
        "summary": f"v{info.version}{'' if info.active else ' (inactive)'} · earned {amount_text(claimed)} "
                   f"from {len(by_payer)} payer{'s' if len(by_payer) != 1 else ''}",
    }
    if swept:
        model_facts["swept_wei"] = swept
    if payee:
        model_facts["payee"] = payee
    nodes.insert(0, Node(me, "model", f"model {model_id} · v{info.version}", model_facts))
    return nodes, edges


def _recipient_node(channels: Any, recipient: str) -> Node:
    """A revenue recipient with what it may withdraw now (one view; what it withdrew is read when the
    address itself is traced)."""
    return Node(address_ref(recipient), "address", short_address(recipient), {
        "address": recipient, "revenue_withdrawable_wei": channels.balance_of(recipient),
    })


def _address(dep: Deployment, address: str) -> LineageAnswer:
    registry, channels = _clients(dep)
    me = address_ref(address)
    nodes: list[Node] = []
    edges: list[Edge] = []
    mc = registry.contract
    owned = int(mc.balanceOf(address))
    owned_ids = [int(mc.tokenOfOwnerByIndex(address, i)) for i in range(min(owned, FANOUT))]
    part = fan_out(me, "owns", [(f"model:{m}", {}) for m in owned_ids], "models", total=owned)
    nodes += part[0]
    edges += part[1]

    served: list[int] = []
    logs, _ = newest_logs(mc, "ServiceSet", dep.block, where=[None, topic(address)], cap=FANOUT)
    for log in logs:
        model_id = int.from_bytes(log.topics[1], "big")
        if model_id not in served and model_id not in owned_ids:
            served.append(model_id)
    served = [m for m in served[:FANOUT] if registry.service_of(m) == address]
    edges += [Edge(me, f"model:{m}", "serves", {}) for m in served]

    # channels it opened, by model (indexed topics, newest first); the newest channel of each listed model read
    paid: dict[int, list[int]] = defaultdict(list)
    logs, complete = newest_logs(channels.contract, "ChannelOpened", dep.block, where=[None, topic(address)])
    for log in logs:
        paid[int.from_bytes(log.topics[3], "big")].append(int.from_bytes(log.topics[1], "big"))
    targets: list[tuple[str, dict[str, Any]]] = []
    for model_id, opened in list(paid.items())[:FANOUT]:
        state = channels.fetch(opened[0])
        targets.append((f"model:{model_id}", {"channels": len(opened), "deposit_wei": state.deposit,
                                              "amount_wei": state.claimed}))
    part = fan_out(me, "paid", targets, "models paid", total=len(paid), at_least=not complete)
    nodes += part[0]
    edges += part[1]

    earned: dict[int, int] = defaultdict(int)
    logs, all_credits = newest_logs(channels.contract, "Credited", dep.block, where=[topic(address)], cap=_DECODE_CAP)
    for log in logs:
        ev = channels.contract.decode_log(log)
        if ev is not None:
            earned[int(ev.args["model_id"])] += int(ev.args["amount"])
    ranked_earned = sorted(earned.items(), key=lambda kv: -kv[1])
    part = fan_out(me, "earned from", [(f"model:{m}", {"amount_wei": a}) for m, a in ranked_earned],
                   "models earned from", at_least=not all_credits)
    nodes += part[0]
    edges += part[1]

    facts: dict[str, Any] = {"address": to_checksum_address(address), "models_owned": owned}
    if earned:
        facts["revenue_credited_wei"] = sum(earned.values())
        if not all_credits:
            facts["revenue_credited_is_newest_only"] = True
        facts["revenue_withdrawn_wei"] = sum(int(ev.args["amount"]) for ev in channels.contract.get_events(
            "Withdrawn", dep.block, where=[topic(address)]))
        facts["revenue_withdrawable_wei"] = channels.balance_of(address)
    if paid:
        facts["models_paid"] = len(paid)
    nodes.insert(0, Node(me, "address", short_address(to_checksum_address(address)), facts))
    return nodes, edges
