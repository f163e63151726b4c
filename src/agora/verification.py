"""Checking evidence across the layers: a receipt bundle, end to end.

The format, the offline checks and the anchor read are the chain seam's
(:mod:`agora.chain.evidence`); who may sign a receipt of a kind is the business of
the layer that declares that kind (its ``receipts`` hook in :class:`agora.layers.Layer`).
:func:`verify_bundle` puts them together in the order that makes each refusal name the
first thing wrong: the signature, the inclusion proof, the anchor (one chain read), the
receipt's time against its anchor's, and the runner's entitlement over that span.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from agora.chain.evidence import CLOCK_SKEW_S, Bundle, ReceiptError, anchored_at, check_offline
from agora.layers import load_layers, resolve
from agora.protocol import Deployment

__all__ = ["Verdict", "receipt_kinds", "verify_bundle"]


@dataclass(frozen=True)
class Verdict:
    """A receipt that checked out. ``final`` once its batch is anchored; an unanchored one is
    valid as signed but flagged (its runner has not committed to it on chain yet)."""

    bundle: Bundle
    digest: bytes
    anchored_at: int
    entitled_as: str

    @property
    def final(self) -> bool:
        """Whether its batch is anchored (a receipt not yet anchored is flagged)."""
        return self.anchored_at > 0

    def to_json(self) -> dict[str, Any]:
        """What ``agora receipt verify --json`` prints."""
        r = self.bundle.receipt
        return {
            "valid": True, "final": self.final, "status": "anchored" if self.final else "unanchored",
            "kind": r.kind, "subject": str(r.subject), "item": str(r.item), "runner": r.runner,
            "entitled_as": self.entitled_as, "payer": r.payer, "amount_wei": str(r.amount), "time": r.time,
            "anchored_at": self.anchored_at, "digest": "0x" + self.digest.hex(),
            "root": "0x" + self.bundle.anchor.root.hex() if self.bundle.anchor else None,
        }


def receipt_kinds() -> dict[str, str]:
    """Every receipt kind the installed layers declare, with its entitlement hook."""
    return {kind: hook for layer in load_layers() for kind, hook in layer.receipts.items()}


def verify_bundle(dep: Deployment, bundle: Bundle, *, now: int | None = None) -> Verdict:
    """Check ``bundle`` against the deployment: :class:`ReceiptError` naming the first check that
    fails, else its :class:`Verdict` (anchored or flagged as not yet anchored)."""
    r = bundle.receipt
    hooks = receipt_kinds()
    if r.kind not in hooks:
        raise ReceiptError(f"no installed layer issues {r.kind!r} receipts (known: {', '.join(sorted(hooks))})")
    if bundle.domain.chain_id != dep.chain.chain_id:
        raise ReceiptError(f"the receipt is for chain {bundle.domain.chain_id}, not this chain ({dep.chain.chain_id})")
    digest = check_offline(bundle)
    at = 0
    if bundle.anchor is not None:
        anchor = dep.contract("anchor")
        if bundle.anchor.contract.lower() != anchor.address.lower():
            raise ReceiptError(f"the receipt's batch names the anchor {bundle.anchor.contract}, not this "
                               f"deployment's ({anchor.address})")
        at = anchored_at(anchor, bundle, digest)
        if at == 0:
            raise ReceiptError(f"{bundle.anchor.poster} never anchored the root 0x{bundle.anchor.root.hex()} "
                               "with this receipt under it")
        if r.time > at + CLOCK_SKEW_S:
            raise ReceiptError(f"the receipt is dated {r.time}, after its batch was anchored ({at})")
    until = at or (now if now is not None else dep.chain.timestamp())
    entitled_as = str(resolve(hooks[r.kind])(dep, r, bundle.domain, max(until, r.time)))
    return Verdict(bundle, digest, at, entitled_as)
