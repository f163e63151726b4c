"""The compute market as plain data: what ``agora job`` / ``agora provider`` print and the
gateway will serve (JSON-ready dicts), and workload kinds as people write them.

These are the one definition of how a job or a provider looks outside Python, so every
front end (the CLI's tables and ``--json``, an HTTP API) shows the same fields.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from agora.compute.market import JobInfo, Market, ProviderInfo
from agora.compute.provider import DaemonStore
from agora.errors import ConfigError
from agora.workloads import get_workload, list_workloads

__all__ = [
    "build_job_view",
    "build_provider_view",
    "build_reveal_view",
    "fetch_provider_view",
    "get_kind_ids",
]


def get_kind_ids(kinds: str | Iterable[str | int]) -> list[int]:
    """The on-chain kind ids of workload kinds given by name or id.

    ``kinds`` is a comma-separated text (``"onnx-classify,3"``, blanks ignored) or a list of
    names and ids. WorkloadError, one line, for a kind no installed workload has.
    """
    items = kinds.split(",") if isinstance(kinds, str) else kinds
    ids = []
    for kind in items:
        if isinstance(kind, str):
            kind = kind.strip()
            if not kind:
                continue
            if kind.isdigit():
                kind = int(kind)
        ids.append(get_workload(kind).kind_id)
    return ids


def build_job_view(info: JobInfo) -> dict[str, Any]:
    """A job as plain data: its state and policy as words, amounts in wei, the agreed
    result digest as hex (None until there is one)."""
    return {
        "id": info.id, "state": info.state.label, "policy": str(info.policy), "kind": info.kind,
        "requester": info.requester, "pay_wei": info.pay, "escrow_wei": info.escrow,
        "providers": info.providers, "deadline": info.deadline, "replacements": info.replacements,
        "result_digest": "0x" + info.result.hex() if info.result != bytes(32) else None,
    }


def build_reveal_view(reveal: Mapping[str, Any]) -> dict[str, Any]:
    """One revealed result (as :meth:`agora.compute.Job.revealed` lists them) as plain data."""
    return {"provider": reveal["provider"], "digest": "0x" + bytes(reveal["digest"]).hex(),
            "result_cid": reveal["result_cid"]}


def build_provider_view(info: ProviderInfo) -> dict[str, Any]:
    """A provider's registry record as plain data: amounts in wei, reputation as a percentage,
    the workload kinds it serves by name (by id when no installed workload has it)."""
    names = {w.kind_id: w.kind for w in list_workloads()}
    return {
        "address": info.address, "stake_wei": info.stake, "unbonding_wei": info.unbonding,
        "price_per_unit_wei": info.price, "reputation": f"{info.reputation / 100:.2f}%",
        "kinds": [names.get(k, str(k)) for k in info.kind_ids], "active": info.active,
    }


def fetch_provider_view(market: Market, address: str, home: Path) -> dict[str, Any]:
    """A registered provider's record, what the market owes it, and, when its daemon keeps
    its state under ``home``, how many assignments are in each state (``"daemon"``).

    ConfigError if ``address`` is not a registered provider.
    """
    info = market.provider(address)
    if not info.registered:
        raise ConfigError(f"{address} is not a registered provider", hint="register with `agora provider register`")
    view = build_provider_view(info) | {"owed_wei": market.owed(address)}
    store = DaemonStore.for_provider(home, info.address)
    if store.exists():
        view["daemon"] = store.get_counts()
    return view
