"""The layer declarations: discovery, order, refusals, and what the house builds from them."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

import agora.layers as layers_mod
from agora.chain import connect
from agora.client import Client
from agora.errors import ConfigError
from agora.layers import ContractSpec, Layer, get_layer, load_layers, resolve
from agora.protocol import ANCHOR, TOKEN, deploy_protocol, protocol_contracts


@dataclass
class _EP:
    name: str
    value: Any

    def load(self) -> Any:
        return self.value


@pytest.fixture
def fake_layers(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """Replace the installed layers with the given ones for one test."""

    def install(*found: Any) -> None:
        eps = [_EP(getattr(x, "name", "x"), x) for x in found]
        monkeypatch.setattr(layers_mod, "entry_points", lambda group: eps if group == "agora.layers" else [])
        load_layers.cache_clear()

    yield install
    load_layers.cache_clear()


def test_the_shipped_layers_are_found_in_order() -> None:
    names = [layer.name for layer in load_layers()]
    assert names[:4] == ["compute", "data", "subnet", "value"]
    assert get_layer("value").facade == ("models", "agora.value.layer:build_facade")
    with pytest.raises(ConfigError, match="no layer named 'nope'"):
        get_layer("nope")


def test_a_layer_comes_after_the_layers_it_requires(fake_layers: Any) -> None:
    fake_layers(Layer("a", "", requires=("c",)), Layer("b", ""), Layer("c", "", requires=("b",)))
    assert [layer.name for layer in load_layers()] == ["b", "c", "a"]


@pytest.mark.parametrize(
    ("found", "message"),
    [
        ((Layer("a", "", requires=("zz",)),), "requires layer 'zz', which is not installed"),
        ((Layer("a", "", requires=("b",)), Layer("b", "", requires=("a",))), "cycle"),
        ((Layer("a", ""), Layer("a", "")), "two layers are named 'a'"),
        ((Layer("a", "", contracts=(ContractSpec("token", "X"),)),), "role 'token' is claimed"),
        ((Layer("a", "", contracts=(ContractSpec("r", "X"),)), Layer("b", "", contracts=(ContractSpec("r", "Y"),))),
         "role 'r' is claimed by a and b"),
        (("not a layer",), "is not an agora Layer"),
    ],
)
def test_bad_declarations_are_refused_in_one_line(fake_layers: Any, found: tuple[Any, ...], message: str) -> None:
    fake_layers(*found)
    with pytest.raises(ConfigError, match=message) as info:
        load_layers()
    assert "\n" not in str(info.value)


def test_resolve_names_objects_by_path() -> None:
    assert resolve("agora.layers:Layer") is Layer
    assert resolve("agora.layers:Layer.roles") is Layer.roles
    assert resolve("agora.protocol") is __import__("agora.protocol").protocol


def test_the_protocol_is_the_token_and_the_anchor_plus_every_layer_s_contracts() -> None:
    specs = protocol_contracts()
    assert specs[:2] == [TOKEN, ANCHOR]
    assert [s.role for s in specs[2:]] == [r for layer in load_layers() for r in layer.roles]
    chain = connect("embedded://")
    dep = deploy_protocol(chain, chain.dev_signers[0])
    assert set(dep.addresses) == {s.role for s in specs}
    # the compute layer's wiring ran: the market may slash in the registry
    assert dep.contract("registry").is_market(dep.addresses["market"])


def test_a_new_layer_is_deployed_wired_and_added_to_an_old_deployment(fake_layers: Any) -> None:
    chain = connect("embedded://")
    deployer = chain.dev_signers[0]
    old = deploy_protocol(chain, deployer)
    sent: list[str] = []

    def wiring(dep: Any) -> list[dict[str, Any]]:
        sent.append(dep.addresses["extra_token"])
        return []

    extra = Layer("extra", "", contracts=(ContractSpec("extra_token", "AgoraToken", lambda a, d: (7,)),),
                  wiring=wiring)
    fake_layers(*load_layers(), extra)
    new = deploy_protocol(chain, deployer, only_missing=old)
    assert {r: a for r, a in new.addresses.items() if r != "extra_token"} == old.addresses
    assert new.contract("extra_token").totalSupply() == 7
    assert sent == [new.addresses["extra_token"]]


def test_the_client_builds_each_layer_s_facade_once() -> None:
    client = Client()
    assert "compute" in dir(client) and "models" in dir(client)
    assert client.compute is client.compute
    assert type(client.models).__name__ == "ModelsClient"
    with pytest.raises(AttributeError, match="no attribute 'nothing_here'"):
        client.nothing_here  # noqa: B018
