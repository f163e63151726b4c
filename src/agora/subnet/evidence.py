"""Receipts of a subnet's answers (kind ``subnet-answer``), and who may sign them.

A miner that serves a subnet signs a receipt for every answer it gives a validator's challenge:
the subnet as ``subject``, a running count as ``item``, the model's keccak256, the request's and
the answer's keccak256, its hotkey as ``runner``; nothing is paid per answer (the emission pays the
miner), so ``amount`` and ``payment`` are 0 and the payer is the zero address. It signs in the
``SubnetRegistry``'s receipt domain; it was entitled while its hotkey held a UID of the subnet —
from its ``NeuronRegistered`` event until another hotkey's registration took that UID.
"""

from __future__ import annotations

from agora.chain.eip712 import Domain
from agora.chain.evidence import CLOCK_SKEW_S, Receipt, ReceiptError
from agora.protocol import Deployment

__all__ = ["KIND", "entitled"]

#: The kind of a subnet answer's receipt.
KIND = "subnet-answer"


def entitled(dep: Deployment, receipt: Receipt, domain: Domain, until: int) -> str:
    """The ``receipts`` hook of kind ``subnet-answer``: in the subnet registry's domain, signed by a
    hotkey that held a UID of subnet ``subject`` from the receipt's time to ``until``."""
    registry = dep.contract("subnet_registry")
    if domain.contract.lower() != registry.address.lower():
        raise ReceiptError(f"a subnet answer's receipt is signed in the subnet registry's domain "
                           f"({registry.address}), not {domain.contract}")
    netuid = receipt.subject
    topic = netuid.to_bytes(32, "big")
    mine = registry.get_events("NeuronRegistered", dep.block,
                               where=[topic, None, bytes(12) + bytes.fromhex(receipt.runner[2:])])
    chain = dep.chain
    for ev in mine:
        uid = int(ev.args["uid"])
        start = chain.get_block(ev.block_number).timestamp
        later = [e for e in registry.get_events("NeuronRegistered", ev.block_number + 1,
                                                where=[topic, uid.to_bytes(32, "big")])]
        end = chain.get_block(later[0].block_number).timestamp if later else None
        if start - CLOCK_SKEW_S <= receipt.time and (end is None or until < end):
            return f"UID {uid} of subnet {netuid} since {start}"
    raise ReceiptError(f"{receipt.runner} did not hold a UID of subnet {netuid} from the receipt's time "
                       f"{receipt.time} until {until}")
