"""Every package's ``__all__`` names real members; the seams export all they define."""

from __future__ import annotations

import importlib
import types

import pytest

MODULES = [
    "agora",
    "agora.chain",
    "agora.storage",
    "agora.errors",
    "agora.config",
    "agora.client",
    "agora.protocol",
    "agora.layers",
    "agora.context",
    "agora.compute",
    *(f"agora.compute.{m}" for m in ("market", "execution", "requester", "provider", "adversaries", "demo", "layer")),
    "agora.value",
    *(f"agora.value.{m}" for m in (
        "models", "channels", "cheques", "receipts", "x402", "ledger", "service", "server", "client", "demo", "layer",
    )),
    "agora.chain.eip712",
    "agora.chain.merkle",
    "agora.workloads",
]
COMPLETE = ["agora.chain", "agora.storage"]


@pytest.mark.parametrize("name", MODULES)
def test_all_names_exist(name: str) -> None:
    module = importlib.import_module(name)
    exported = module.__all__
    assert isinstance(exported, list | tuple)
    assert len(exported) == len(set(exported)), "duplicates in __all__"
    missing = [member for member in exported if not hasattr(module, member)]
    assert missing == []


@pytest.mark.parametrize("name", MODULES)
def test_star_import(name: str) -> None:
    namespace: dict[str, object] = {}
    exec(f"from {name} import *", namespace)  # noqa: S102
    assert set(importlib.import_module(name).__all__) <= set(namespace)


@pytest.mark.parametrize("name", COMPLETE)
def test_no_public_name_is_left_out(name: str) -> None:
    module = importlib.import_module(name)
    public = {
        member
        for member, value in vars(module).items()
        if not member.startswith("_") and not isinstance(value, types.ModuleType)
    }
    assert public - set(module.__all__) == set()


def test_lazy_client_export() -> None:
    import agora
    from agora.client import Client

    assert agora.Client is Client
    with pytest.raises(AttributeError):
        agora.NoSuchThing  # noqa: B018


def test_errors_all_are_agora_errors() -> None:
    from agora import errors

    for member in errors.__all__:
        assert issubclass(getattr(errors, member), errors.AgoraError)
