"""The value layer as plain data: what ``agora model``, ``agora receipt`` and ``agora channel``
print with ``--json`` and a gateway will serve (JSON-ready dicts).

These are the one definition of how a model, an earning, a channel or a checked receipt
looks outside Python, so every front end shows the same fields. Amounts are integers in
wei (``…_wei``), hashes ``0x`` hex, channel ids decimal strings (they exceed 2**53).
"""

from __future__ import annotations

from typing import Any

from agora.value.channels import ClosedChannel
from agora.value.client import ChannelView
from agora.value.models import CheckedReceipt, DatasetLink, Lineage, ModelDetails, ModelInfo, Registration
from agora.value.revenue import Earnings, Withdrawal
from agora.value.service import ClaimResult

__all__ = [
    "build_channel_view",
    "build_claim_view",
    "build_closed_channel_view",
    "build_earnings_view",
    "build_lineage_view",
    "build_model_row",
    "build_model_view",
    "build_receipt_check_view",
    "build_registration_view",
    "build_withdrawal_view",
]


def build_registration_view(r: Registration) -> dict[str, Any]:
    """A model just registered: id, card essentials, record and transaction."""
    return {
        "id": r.model_id, "name": r.card.name, "kind": r.card.kind, "owner": r.info.owner, "version": r.info.version,
        "price_wei": r.card.price, "weights_cid": r.card.weights_cid, "weights_hash": r.card.weights_hash,
        "card_cid": r.info.card_cid, "uri": r.info.uri, "tx": r.tx.tx_hash,
    }


def build_model_view(d: ModelDetails) -> dict[str, Any]:
    """A model's record, service key, split, provenance (``datasets``: each with its current owner,
    None if the dataset registry cannot say), pot and card (None if unavailable)."""
    info = d.info
    return {
        "id": info.id, "owner": info.owner, "service": d.service, "active": info.active, "version": info.version,
        "parent": info.parent, "root": info.root, "registered_at": info.registered_at, "card_cid": info.card_cid,
        "weights_hash": "0x" + info.weights_hash.hex(), "uri": info.uri,
        "split": [{"recipient": s.recipient, "bps": s.bps} for s in d.split],
        "provenance": {"datasets": d.datasets, "jobs": d.jobs, "parent": d.parent},
        "dataset_registry": d.dataset_registry,
        "datasets": [_dataset_row(x) for x in d.dataset_links],
        "pot_wei": d.pot,
        "card": d.card.model_dump(by_alias=True) if d.card is not None else None,
    }


def _dataset_row(link: DatasetLink) -> dict[str, Any]:
    return {"id": link.id, "owner": link.owner}


def build_lineage_view(lin: Lineage) -> dict[str, Any]:
    """A model's lineage: its versions (the model first, back to the root), its datasets with their
    current owners, its compute jobs, and the dataset registry they belong to."""
    return {
        "model_id": lin.model_id, "root": lin.root, "dataset_registry": lin.dataset_registry,
        "versions": [{"id": v.id, "version": v.version, "parent": v.parent, "owner": v.owner} for v in lin.versions],
        "datasets": [_dataset_row(x) for x in lin.datasets],
        "jobs": lin.jobs,
    }


def build_model_row(info: ModelInfo) -> dict[str, Any]:
    """A model in a listing."""
    return {"id": info.id, "owner": info.owner, "version": info.version, "parent": info.parent,
            "active": info.active, "uri": info.uri}


def build_claim_view(r: ClaimResult) -> dict[str, Any]:
    """One claim by a model's service."""
    return {"model_id": r.model_id, "claimed_wei": r.claimed, "unclaimed_wei": r.unclaimed}


def build_earnings_view(e: Earnings) -> dict[str, Any]:
    """An address's withdrawable balance and its shares of undistributed pots."""
    return {
        "address": e.address, "balance_wei": e.balance,
        "models": [{"model_id": m.model_id, "bps": m.bps, "pot_wei": m.pot, "share_wei": m.share} for m in e.models],
        "total_wei": e.total,
    }


def build_withdrawal_view(w: Withdrawal) -> dict[str, Any]:
    """A withdrawal: who, how much, after distributing which models."""
    return {"address": w.address, "withdrawn_wei": w.amount, "models": w.models}


def build_channel_view(v: ChannelView) -> dict[str, Any]:
    """One of an account's channels (``charged_wei`` None when only the chain knows it)."""
    info = v.info
    return {
        "id": str(info.id), "model_id": info.model_id, "deposit_wei": info.deposit, "claimed_wei": info.claimed,
        "charged_wei": v.charged, "expiry": info.expiry, "open": info.open,
    }


def build_closed_channel_view(c: ClosedChannel) -> dict[str, Any]:
    """A channel closed after its expiry, and its refund."""
    return {"id": str(c.id), "refund_wei": c.refund, "tx": c.tx.tx_hash}


def build_receipt_check_view(c: CheckedReceipt, *, input_checked: bool, output_checked: bool) -> dict[str, Any]:
    """A receipt that checked out: what it says, who signed it, what was checked."""
    r = c.receipt
    return {
        "valid": True, "model_id": r.model_id, "signer": c.service, "amount_wei": r.amount,
        "channel_id": str(r.channel_id), "nonce": r.nonce, "payer": r.payer, "time": r.time,
        "weights_hash": "0x" + r.weights_hash.hex(), "input_checked": input_checked, "output_checked": output_checked,
        "leaf": "0x" + r.leaf().hex(),
    }
