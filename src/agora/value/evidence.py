"""Who may sign a model's receipts, and when: the service key's history, read from the chain.

``ModelRegistry.service_of`` answers for now; a receipt is checked for the time it was
issued up to the time its batch was anchored. The history is rebuilt from the model's own
events (its registration, every ``ServiceSet`` and every ERC-721 ``Transfer`` of its
token): the key is the service that the current owner set, else the owner — the rule of
``service_of`` — so a key the owner replaced (revoked) signs nothing dated after that, and
a transfer revokes the previous owner's service key as the contract does.
"""

from __future__ import annotations

from dataclasses import dataclass

from agora.chain.eip712 import Domain
from agora.chain.evidence import CLOCK_SKEW_S, Receipt, ReceiptError
from agora.protocol import Deployment

__all__ = ["KeyPeriod", "entitled", "service_history"]

_ZERO = "0x" + "00" * 20


@dataclass(frozen=True)
class KeyPeriod:
    """One key's period as a model's service key: from ``start`` (a block time) until ``end``
    (exclusive; None: still)."""

    key: str
    start: int
    end: int | None


def service_history(dep: Deployment, model_id: int) -> list[KeyPeriod]:
    """Every service key of model ``model_id``, in order (empty for an unknown model)."""
    models = dep.contract("models")
    topic = model_id.to_bytes(32, "big")
    events = models.get_events(["ModelRegistered", "ServiceSet"], dep.block, where=[topic])
    events += models.get_events("Transfer", dep.block, where=[None, None, topic])
    events.sort(key=lambda e: (e.block_number, e.log_index))
    chain = dep.chain
    times: dict[int, int] = {}
    owner, service, setter = _ZERO, _ZERO, _ZERO
    out: list[KeyPeriod] = []
    for ev in events:
        if ev.name == "ModelRegistered":
            owner = ev.args["owner"]
        elif ev.name == "Transfer":
            owner = ev.args["receiver"]
        else:
            service, setter = ev.args["service"], owner
        key = service if service != _ZERO and setter.lower() == owner.lower() else owner
        if out and out[-1].end is None and out[-1].key.lower() == key.lower():
            continue
        if ev.block_number not in times:
            times[ev.block_number] = chain.get_block(ev.block_number).timestamp
        at = times[ev.block_number]
        if out and out[-1].end is None:
            out[-1] = KeyPeriod(out[-1].key, out[-1].start, at)
        if key != _ZERO:  # burnt: no key from here on
            out.append(KeyPeriod(key, at, None))
    return out


def entitled(dep: Deployment, receipt: Receipt, domain: Domain, until: int) -> str:
    """The ``receipts`` hook of kind ``model-call``: the receipt is in the model registry's domain,
    names the model's registered weights, and its runner was the model's service key from the
    receipt's time to ``until``. Returns who it signed as; :class:`ReceiptError` if not."""
    models = dep.contract("models")
    if domain.contract.lower() != models.address.lower():
        raise ReceiptError(f"a model call's receipt is signed in the model registry's domain ({models.address}), "
                           f"not {domain.contract}")
    model_id = receipt.subject
    try:
        _, weights, *_ = models.model(model_id)
    except Exception:
        raise ReceiptError(f"model {model_id} is not registered here") from None
    if bytes(weights) != receipt.weights_hash:
        raise ReceiptError(f"the receipt names other weights than model {model_id}'s registered ones")
    for p in service_history(dep, model_id):
        if p.key.lower() != receipt.runner.lower():
            continue
        # a service's clock may run a little behind the chain's (not past its revocation, though:
        # the anchor's block time bounds that end)
        begun = p.start - CLOCK_SKEW_S <= receipt.time
        if begun and (p.end is None or until < p.end):
            return f"the service key of model {model_id} since {p.start}"
        if begun and p.end is not None and receipt.time < p.end:
            raise ReceiptError(f"{receipt.runner} stopped being model {model_id}'s service key at {p.end}, "
                               f"before the receipt was anchored ({until})")
    raise ReceiptError(f"{receipt.runner} was not model {model_id}'s service key at the receipt's time "
                       f"{receipt.time} (revoked or never set)")
