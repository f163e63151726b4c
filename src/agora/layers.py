"""How a layer describes itself, and how the protocol finds the layers.

A layer (``compute``, ``value``, later ``data``, ``subnet``…) is a package that
imports only the seams (``chain``, ``storage``, ``workloads``) and the core
(``errors``, ``config``, ``units``, ``protocol``, ``layers``, ``context``). It
declares itself with one :class:`Layer` value, published under the
``agora.layers`` entry-point group of its distribution::

    [project.entry-points."agora.layers"]
    compute = "agora.compute.layer:LAYER"

Everything that sits above the layers reads these declarations and never names
a layer: :mod:`agora.protocol` deploys each layer's contracts and sends its
wiring, :class:`agora.Client` exposes each layer's SDK facade as an attribute,
``agora`` mounts each layer's command groups, ``agora demo`` runs each layer's
chapter, and ``make bench`` runs each layer's benchmark. The things above the
layers are named here by import path (``"module:attribute"``), so a layer never
imports them. ``docs/architecture.md`` has the recipe for a new layer.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from importlib.metadata import entry_points
from pathlib import Path
from typing import TYPE_CHECKING, Any

from agora.errors import ConfigError

if TYPE_CHECKING:
    from agora.chain import Chain, Signer
    from agora.protocol import Deployment

__all__ = [
    "ENTRY_POINT_GROUP",
    "ArgsFn",
    "WiringFn",
    "ContractSpec",
    "DemoContext",
    "Layer",
    "export_lazily",
    "get_layer",
    "load_layers",
    "resolve",
]

#: The entry-point group layers are published under.
ENTRY_POINT_GROUP = "agora.layers"

#: Constructor arguments of a contract, given the addresses deployed so far (by role) and the deployer.
ArgsFn = Callable[[dict[str, str], "Signer"], tuple[Any, ...]]
#: Wiring after deployment: the transactions the deployer sends, given the whole deployment.
WiringFn = Callable[["Deployment"], list[dict[str, Any]]]


def _no_args(addresses: dict[str, str], deployer: Signer) -> tuple[Any, ...]:
    return ()


@dataclass(frozen=True)
class ContractSpec:
    """One contract of the protocol: its role in the address book, its source, its constructor arguments.

    ``args`` may use the addresses of every contract deployed before it (the
    token and the roles of the layers this one ``requires``).
    """

    role: str
    artifact: str
    args: ArgsFn = _no_args


@dataclass(frozen=True)
class DemoContext:
    """What a layer's demo chapter gets: the chain, the fresh deployment, where to keep files,
    how to report progress, and the summaries of the chapters that ran before it (by layer name)."""

    chain: Chain
    deployment: Deployment
    workdir: Path | None
    step: Callable[[str], None]
    chapters: Mapping[str, Mapping[str, Any]]


@dataclass(frozen=True)
class Layer:
    """A layer's declaration: everything the house needs to deploy, expose, show and measure it.

    Attributes:
        name: the layer's name (``"compute"``); also the key of its demo chapter's summary.
        summary: one line for people (docs, help texts).
        contracts: its contracts in deployment order.
        requires: the layers whose contracts must be deployed before this one's.
        wiring: transactions to send as the deployer once everything is deployed (idempotent:
            it reads the chain and returns only what is still missing).
        params: its default contract parameters (documented in its docs page).
        facade: ``(attribute, "module:factory")``: ``Client.<attribute>`` is
            ``factory(client)``, where ``client`` is an :class:`agora.context.Context`.
        cli: command group name -> ``"module:typer_app"``, mounted on ``agora``.
        demo: ``"module:function"``: ``function(DemoContext) -> dict``, its chapter of ``agora demo``.
        demo_view: ``"module:function"``: ``function(summary, symbol, number)`` prints the chapter.
        bench: the benchmark script (relative to the repository) that ``make bench`` runs.
        docs: the layer's page in ``docs/``.
        receipts: receipt kind -> ``"module:function"``: ``function(deployment, receipt, domain,
            until)`` checks that the receipt's runner was entitled to sign it for its subject from
            the receipt's time to ``until`` (its anchor's time, or now), in that domain; returns who
            it was entitled as (``"the service key of model 3"``) or raises ``ReceiptError``.
        lineage: ``"module:function"``: ``function(deployment, ref) -> list of lineage facts`` for
            ``agora trace`` (see :mod:`agora.verification`).
    """

    name: str
    summary: str
    contracts: tuple[ContractSpec, ...] = ()
    requires: tuple[str, ...] = ()
    wiring: WiringFn | None = None
    params: Mapping[str, int] = field(default_factory=dict)
    facade: tuple[str, str] | None = None
    cli: Mapping[str, str] = field(default_factory=dict)
    demo: str | None = None
    demo_view: str | None = None
    bench: str | None = None
    docs: str | None = None
    receipts: Mapping[str, str] = field(default_factory=dict)
    lineage: str | None = None

    @property
    def roles(self) -> tuple[str, ...]:
        """The address-book roles of its contracts."""
        return tuple(c.role for c in self.contracts)


def resolve(target: str) -> Any:
    """The object a ``"module:attribute"`` path names (imported on first use)."""
    module, _, attr = target.partition(":")
    obj: Any = importlib.import_module(module)
    for part in filter(None, attr.split(".")):
        obj = getattr(obj, part)
    return obj


@lru_cache(maxsize=1)
def load_layers() -> tuple[Layer, ...]:
    """Every installed layer, ordered so that each comes after the layers it requires
    (ties by name, so the order is the same on every machine)."""
    found: dict[str, Layer] = {}
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        layer = ep.load()
        if not isinstance(layer, Layer):
            raise ConfigError(f"entry point {ep.name!r} in {ENTRY_POINT_GROUP} is not an agora Layer")
        if layer.name in found:
            raise ConfigError(f"two layers are named {layer.name!r}")
        found[layer.name] = layer
    roles: dict[str, str] = {"token": "protocol", "anchor": "protocol"}
    for layer in found.values():
        for role in layer.roles:
            if role in roles:
                raise ConfigError(f"the contract role {role!r} is claimed by {roles[role]} and {layer.name}")
            roles[role] = layer.name
    ordered: list[Layer] = []
    visiting: set[str] = set()

    def visit(name: str, needed_by: str) -> None:
        if any(layer.name == name for layer in ordered):
            return
        if name not in found:
            raise ConfigError(f"layer {needed_by!r} requires layer {name!r}, which is not installed")
        if name in visiting:
            raise ConfigError(f"layers require each other in a cycle through {name!r}")
        visiting.add(name)
        for dep in sorted(found[name].requires):
            visit(dep, name)
        visiting.discard(name)
        ordered.append(found[name])

    for name in sorted(found):
        visit(name, name)
    return tuple(ordered)


def get_layer(name: str) -> Layer:
    """The installed layer called ``name``; ConfigError if there is none."""
    for layer in load_layers():
        if layer.name == name:
            return layer
    raise ConfigError(f"no layer named {name!r} is installed",
                      hint="installed: " + ", ".join(lay.name for lay in load_layers()))


def export_lazily(
    namespace: dict[str, Any], exports: Mapping[str, str]
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """A package's ``__getattr__`` and ``__dir__`` (PEP 562) that import each name of ``exports``
    (name -> module) on first use and keep it, so that loading a layer's declaration, or
    ``agora --help``, does not load the whole layer::

        __getattr__, __dir__ = export_lazily(globals(), {"Market": "agora.compute.market", ...})
    """

    def __getattr__(name: str) -> Any:
        module = exports.get(name)
        if module is None:
            raise AttributeError(f"module {namespace['__name__']!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(module), name)
        namespace[name] = value
        return value

    def __dir__() -> list[str]:
        return sorted({*namespace, *exports})

    return __getattr__, __dir__
