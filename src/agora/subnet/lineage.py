"""The subnet layer's answers to ``agora trace`` (:mod:`agora.trace`), the cheap part only: which
subnets an address created or is registered in (as a hotkey: a miner or validator's UID), and a
``subnet:N``'s owner and size. Epochs, weights and emissions are not walked (``agora subnet``
shows them). Read from ``SubnetRegistry`` events filtered at the node by the indexed owner or
hotkey, and its views.
"""

from __future__ import annotations

from typing import Any

from eth_utils.address import to_checksum_address

from agora.protocol import Deployment
from agora.trace import Edge, LineageAnswer, Node, address_ref, fan_out, handle, ref_id, short_address, topic

__all__ = ["lineage"]

_ZERO = "0x" + "00" * 20


def lineage(dep: Deployment, ref: str) -> LineageAnswer | None:
    """``agora trace``'s hook: a ``subnet:N`` with its owner and size, or an ``address:0x…``'s
    subnets (created, registered in); None for other references."""
    if "subnet_registry" not in dep.addresses:
        return None
    netuid = ref_id(ref, "subnet")
    if netuid is not None:
        return _subnet(dep, netuid)
    if ref.startswith("address:"):
        return _address(dep, ref.partition(":")[2])
    return None


def _subnet(dep: Deployment, netuid: int) -> LineageAnswer:
    from agora.errors import ConfigError

    c = handle(dep, "subnet.registry", lambda: dep.contract("subnet_registry"))
    owner = to_checksum_address(c.subnet_owner(netuid))
    if owner == to_checksum_address(_ZERO):
        raise ConfigError(f"there is no subnet {netuid} on chain {dep.chain.chain_id}")
    size = int(c.size(netuid))
    me = f"subnet:{netuid}"
    facts: dict[str, Any] = {"owner": owner, "uids": size, "summary": f"{size} UID{'s' if size != 1 else ''}"}
    return [Node(me, "subnet", f"subnet {netuid}", facts)], [Edge(me, address_ref(owner), "owned by", {})]


def _address(dep: Deployment, address: str) -> LineageAnswer:
    c = handle(dep, "subnet.registry", lambda: dep.contract("subnet_registry"))
    who = to_checksum_address(address)
    me = address_ref(who)
    created = [int.from_bytes(log.topics[1], "big")
               for log in c.get_logs("SubnetCreated", dep.block, where=[None, topic(who)])]
    registrations: dict[int, int] = {}  # netuid -> uid, the latest registration of the hotkey
    for log in c.get_logs("NeuronRegistered", dep.block, where=[None, None, topic(who)]):
        registrations[int.from_bytes(log.topics[1], "big")] = int.from_bytes(log.topics[2], "big")
    current = [(n, u) for n, u in sorted(registrations.items())[:64]
               if to_checksum_address(c.hotkey_of(n, u)) == who]
    nodes: list[Node] = []
    edges: list[Edge] = []
    for relation, targets, noun in (
        ("created", [(f"subnet:{n}", {}) for n in created], "subnets created"),
        ("registered in", [(f"subnet:{n}", {"uid": u}) for n, u in current], "subnets"),
    ):
        part = fan_out(me, relation, targets, noun)
        nodes += part[0]
        edges += part[1]
    facts: dict[str, Any] = {"address": who}
    if created:
        facts["subnets_created"] = len(created)
    if current:
        facts["subnet_uids"] = {str(n): u for n, u in current}
    nodes.insert(0, Node(me, "address", short_address(who), facts))
    return nodes, edges
