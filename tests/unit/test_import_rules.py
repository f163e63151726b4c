"""What may import what (DESIGN.md, Layout), read from the source of every module under ``src/agora``.

The rules, by the top-level unit a module belongs to (``agora.compute.market`` belongs to ``agora.compute``):

* a seam (``agora.chain``, ``agora.storage``, ``agora.workloads``, including ``agora.workloads.sandbox``) imports only
  seams and the core;
* the core (``agora.errors``, ``units``, ``config``, ``layers``, ``protocol``, ``context``) imports
  only seams and the core;
* a layer (every layer published under the ``agora.layers`` entry points, so a new one is covered
  as soon as it is declared) imports only seams, the core and itself: never another layer, nor
  what sits above the layers (``agora``, ``agora.client``, ``agora.demo``, ``agora.cli``,
  ``agora.devnet``, ``agora.gateway``);
* what sits above the layers imports anything;
* outside a seam, nothing uses a private name of that seam: no ``from agora.storage.cid import
  _PREFIX``, no ``agora.chain.connection._x``, and no ``x._rpc`` where ``_rpc`` is a private
  attribute of one of the seam's classes (or one of :data:`SEAM_INTERNALS`). The attribute check
  goes by name, since types are not known here: ``self._x`` and ``cls._x`` (a module's own
  objects) are allowed, anything else spelled like a seam's private attribute is not.

Every import counts: at the top, inside functions, under ``if TYPE_CHECKING:``. Imports made
from strings at run time (``importlib``, :func:`agora.layers.resolve`) are not seen; that is how
the house reaches the layers without naming them.
"""

from __future__ import annotations

import ast
import functools
from collections.abc import Collection, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import pytest

import agora

SRC = Path(agora.__file__).resolve().parent
SEAMS = ("agora.chain", "agora.storage", "agora.workloads")
CORE = (
    "agora.errors", "agora.units", "agora.config", "agora.layers", "agora.protocol", "agora.context",
    "agora.verification", "agora.trace",
)
#: What sits above every layer; ``agora`` itself re-exports the Client.
ABOVE = ("agora", "agora.client", "agora.demo", "agora.cli", "agora.devnet", "agora.gateway")
#: Seam attributes with a public spelling that only the seam itself may touch: ``Chain.w3`` is the
#: web3 object behind a connection; outside the chain seam, code goes through the seam's methods.
SEAM_INTERNALS: Mapping[str, tuple[str, ...]] = {"w3": ("agora.chain",)}


# --- the checker ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Violation:
    """One broken rule: where, and what."""

    module: str
    line: int
    message: str

    def __str__(self) -> str:
        return f"{self.module}:{self.line}: {self.message}"


def unit_of(module: str) -> str:
    """The top-level unit a module belongs to (``agora.chain.tx`` -> ``agora.chain``); ``""`` outside agora."""
    parts = module.split(".")
    if parts[0] != "agora":
        return ""
    return ".".join(parts[:2])


def is_private(name: str) -> bool:
    """``_x`` is private; ``__x__`` (a dunder) is not."""
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def allowed_units(unit: str, layers: Collection[str]) -> Collection[str] | None:
    """The units ``unit`` may import from, or None if it may import anything."""
    if unit in SEAMS or unit in CORE:
        return (*SEAMS, *CORE)
    if unit in layers:
        return (*SEAMS, *CORE, unit)
    return None


def _resolve_from(module: str, is_package: bool, level: int, target: str | None) -> str:
    """The absolute module a ``from … import`` reads from (relative imports resolved)."""
    if level == 0:
        return target or ""
    package = module.split(".") if is_package else module.split(".")[:-1]
    base = package[: len(package) - (level - 1)]
    return ".".join([*base, target] if target else base)


def _dotted(node: ast.Attribute) -> tuple[str, list[str]] | None:
    """``a.b.c`` -> ``("a", ["b", "c"])``; None when the chain does not start at a plain name."""
    attrs: list[str] = []
    value: ast.expr = node
    while isinstance(value, ast.Attribute):
        attrs.append(value.attr)
        value = value.value
    if not isinstance(value, ast.Name):
        return None
    return value.id, attrs[::-1]


def _submodule_exists(name: str) -> bool:
    return (SRC / f"{name}.py").is_file() or (SRC / name).is_dir()


def check_module(
    module: str,
    source: str,
    *,
    is_package: bool = False,
    layers: Collection[str],
    private_attrs: Mapping[str, Collection[str]],
) -> list[Violation]:
    """Every import rule ``source`` (the text of ``module``) breaks.

    ``layers``: the layer packages (``agora.compute``…); ``private_attrs``: attribute name -> the
    seams whose classes define it (see :func:`seam_private_attributes`).
    """
    unit = unit_of(module)
    allowed = allowed_units(unit, layers)
    found: list[Violation] = []
    bound: dict[str, str] = {}  # local name -> the agora module or member it stands for
    tree = ast.parse(source)

    def imported(target: str, line: int) -> None:
        target_unit = unit_of(target)
        if not target_unit or target_unit == unit:
            return
        if allowed is not None and target_unit not in allowed:
            kind = "a seam" if unit in SEAMS else "the core" if unit in CORE else "a layer"
            found.append(Violation(module, line, f"{kind} imports {target_unit} ({target})"))
        private_path(target, line)

    def private_path(path: str, line: int) -> None:
        seam = unit_of(path)
        if seam in SEAMS and seam != unit:
            private = [part for part in path.split(".")[2:] if is_private(part)]
            if private:
                found.append(Violation(module, line, f"uses {private[0]}, a private name of {seam} ({path})"))

    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                imported(alias.name, node.lineno)
                if alias.asname:
                    bound[alias.asname] = alias.name
                else:
                    root = alias.name.split(".")[0]
                    bound[root] = root
        elif isinstance(node, ast.ImportFrom):
            base = _resolve_from(module, is_package, node.level, node.module)
            for alias in node.names:
                if alias.name == "*":
                    imported(base, node.lineno)
                    continue
                full = f"{base}.{alias.name}"
                if base == "agora" and not _submodule_exists(alias.name):
                    imported("agora", node.lineno)  # a name of the root package, not a submodule
                else:
                    imported(full, node.lineno)
                bound[alias.asname or alias.name] = full
    for node in ast.walk(tree):
        if not isinstance(node, ast.Attribute):
            continue
        dotted = _dotted(node)
        path = ".".join([bound[dotted[0]], *dotted[1]]) if dotted and dotted[0] in bound else ""
        if unit_of(path) in SEAMS:
            # an attribute of something imported from a seam: ``cid._PREFIX``, ``agora.chain.x._y``
            if is_private(node.attr):
                private_path(path, node.lineno)
            continue
        owners = private_attrs.get(node.attr, ()) or SEAM_INTERNALS.get(node.attr, ())
        if not owners or unit in owners:
            continue
        if isinstance(node.value, ast.Name) and node.value.id in ("self", "cls"):
            continue  # the module's own object
        receiver = ast.unparse(node.value)
        found.append(Violation(
            module, node.lineno, f"{receiver}.{node.attr}: {node.attr} is internal to {' and '.join(owners)}"
        ))
    return sorted(set(found), key=lambda v: (v.line, v.message))


def seam_private_attributes(sources: Mapping[str, str]) -> dict[str, tuple[str, ...]]:
    """Attribute name -> the seams defining it, over every class of the seams' modules.

    Counts methods, class attributes and ``self._x = …`` assignments whose names are private.
    ``sources``: module name -> source, for the seams' modules.
    """
    owners: dict[str, set[str]] = {}
    for module, source in sources.items():
        seam = unit_of(module)
        for cls in ast.walk(ast.parse(source)):
            if not isinstance(cls, ast.ClassDef):
                continue
            names: set[str] = set()
            for stmt in cls.body:
                if isinstance(stmt, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                    names.add(stmt.name)
                elif isinstance(stmt, ast.Assign):
                    names.update(t.id for t in stmt.targets if isinstance(t, ast.Name))
                elif isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name):
                    names.add(stmt.target.id)
            for node in ast.walk(cls):
                if (
                    isinstance(node, ast.Attribute)
                    and isinstance(node.ctx, ast.Store)
                    and isinstance(node.value, ast.Name)
                    and node.value.id == "self"
                ):
                    names.add(node.attr)
            for name in filter(is_private, names):
                owners.setdefault(name, set()).add(seam)
    return {name: tuple(sorted(seams)) for name, seams in owners.items()}


# --- the modules of src/agora -----------------------------------------------------------------


def _iter_modules() -> Iterator[tuple[str, Path]]:
    for path in sorted(SRC.rglob("*.py")):
        parts = path.relative_to(SRC.parent).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        yield ".".join(parts), path


MODULES = dict(_iter_modules())


@functools.cache
def layer_packages() -> tuple[str, ...]:
    """The packages of the installed layers (``agora.<layer name>``)."""
    from agora.layers import load_layers

    return tuple(sorted(f"agora.{layer.name}" for layer in load_layers()))


@functools.cache
def private_attributes() -> dict[str, tuple[str, ...]]:
    """The private attributes of the seams' classes, read from their source."""
    return seam_private_attributes(
        {name: path.read_text() for name, path in MODULES.items() if unit_of(name) in SEAMS}
    )


# --- the rules on the real tree ---------------------------------------------------------------

# Known offenders being fixed in their owners' files; each is a strict xfail, so it fails as soon
# as the module is clean and must then be taken off this list.
KNOWN_OFFENDERS: dict[str, str] = {}


@pytest.mark.parametrize(
    "module",
    [
        pytest.param(
            name,
            marks=pytest.mark.xfail(reason=KNOWN_OFFENDERS[name], strict=True) if name in KNOWN_OFFENDERS else (),
        )
        for name in MODULES
    ],
)
def test_module_follows_the_import_rules(module: str) -> None:
    path = MODULES[module]
    violations = check_module(
        module,
        path.read_text(),
        is_package=path.name == "__init__.py",
        layers=layer_packages(),
        private_attrs=private_attributes(),
    )
    if violations:
        pytest.fail("\n".join(map(str, violations)) + "\n(use the seam's public API)", pytrace=False)


def test_every_unit_is_classified() -> None:
    """A new top-level module or package is a seam, core, a declared layer, or above the layers."""
    known = {*SEAMS, *CORE, *ABOVE, *layer_packages()}
    unknown = sorted({unit_of(name) for name in MODULES} - known)
    assert not unknown, (
        f"{unknown}: add them to SEAMS, CORE or ABOVE in this file, or declare the layer "
        "under the agora.layers entry points"
    )


def test_layers_are_packages_here() -> None:
    layers = layer_packages()
    assert layers, "no layer is installed (is the package installed with `pip install -e .`?)"
    for package in layers:
        assert (SRC / package.split(".")[1] / "__init__.py").is_file(), f"{package} is not a package in src/agora"
        assert package not in (*SEAMS, *CORE, *ABOVE)


def test_seams_have_private_attributes() -> None:
    assert private_attributes(), "no private attribute found in the seams' classes: the checker is blind"


# --- the checker on synthetic sources ---------------------------------------------------------

LAYERS = ("agora.compute", "agora.value")
PRIVATE = {"_rpc": ("agora.chain",), "_topics": ("agora.chain",), "_path": ("agora.storage",)}


def violations(module: str, source: str, *, is_package: bool = False) -> list[str]:
    return [
        v.message for v in check_module(module, source, is_package=is_package, layers=LAYERS, private_attrs=PRIVATE)
    ]


@pytest.mark.parametrize(
    "source",
    [
        "from agora.value.channels import Channels\n",
        "import agora.value\n",
        "import agora.value.channels as ch\n",
        "from agora import value\n",
        "def f():\n    from agora.value import channels\n    return channels\n",
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from agora.value import Channels\n",
        "from ..value import channels\n",
        "from ..value.channels import Channels\n",
    ],
)
def test_checker_catches_a_layer_importing_another_layer(source: str) -> None:
    found = violations("agora.compute.fake", source)
    assert len(found) == 1 and "agora.value" in found[0], found


@pytest.mark.parametrize(
    "source", ["import agora.client\n", "from agora import Client\n", "from agora.cli import main\n", "import agora\n"]
)
def test_checker_catches_a_layer_importing_what_sits_above(source: str) -> None:
    assert violations("agora.compute.fake", source), source


@pytest.mark.parametrize("module", ["agora.storage.fake", "agora.chain", "agora.protocol", "agora.context"])
def test_checker_catches_a_seam_or_the_core_importing_a_layer(module: str) -> None:
    source = "from agora.compute.market import Market\n"
    assert violations(module, source, is_package=module == "agora.chain"), module


@pytest.mark.parametrize(
    ("module", "source"),
    [
        ("agora.compute.fake", "from agora.chain import Chain\nfrom agora.errors import AgoraError\n"),
        ("agora.compute.fake", "from . import market\nfrom .market import Market\nimport agora.compute.requester\n"),
        ("agora.compute", "from agora.compute.market import Market\n"),
        ("agora.storage.fake", "from agora.chain import Chain\nfrom agora.errors import StorageError\n"),
        ("agora.protocol", "from agora.layers import load_layers\nfrom agora.chain import Chain\n"),
        ("agora.client", "from agora.compute import ComputeClient\nfrom agora.value import ModelsClient\n"),
        ("agora.cli.fake", "from agora.value.channels import Channels\nimport agora.devnet\n"),
        ("agora.chain.fake", "def f(chain):\n    return chain._rpc(chain.w3.eth.get_block)\n"),
        ("agora.storage.fake", "from agora.storage.cid import _PREFIX\n"),
        ("agora.value.fake", "class A:\n    def f(self):\n        return self._rpc(), cls._topics\n"),
        ("agora.value.fake", "import numpy as np\nnp._private = 1\n"),
    ],
)
def test_checker_allows(module: str, source: str) -> None:
    assert violations(module, source, is_package=module in ("agora.compute",)) == []


@pytest.mark.parametrize(
    ("module", "source"),
    [
        ("agora.value.fake", "from agora.storage.cid import _PREFIX\n"),
        ("agora.value.fake", "from agora.chain import _helper\n"),
        ("agora.value.fake", "import agora.chain._internal\n"),
        ("agora.cli.fake", "from agora.storage import cid\nprint(cid._PREFIX)\n"),
        ("agora.cli.fake", "import agora.chain.connection\nagora.chain.connection._rpc_errors()\n"),
        ("agora.cli.fake", "import agora.chain.connection as c\nc._x\n"),
        ("agora.compute.fake", "def f(chain):\n    return chain._rpc(lambda: 1)\n"),
        ("agora.compute.fake", "class D:\n    def f(self):\n        return self.chain._rpc(lambda: 1)\n"),
        ("agora.compute.fake", "def f(market):\n    return market.contract._topics(['X'])\n"),
        ("agora.protocol", "def f(chain):\n    return chain.w3.eth.get_block(0)\n"),
        ("agora.storage.fake", "def f(chain):\n    return chain._rpc(1)\n"),
        ("agora.chain.fake", "def f(store):\n    return store._path\n"),
    ],
)
def test_checker_catches_a_private_name_of_a_seam(module: str, source: str) -> None:
    found = violations(module, source)
    assert len(found) == 1, found


def test_checker_reports_where() -> None:
    source = "import json\n\n\ndef f(chain):\n    from agora.value import x\n    return chain._rpc(x)\n"
    found = check_module("agora.compute.fake", source, layers=LAYERS, private_attrs=PRIVATE)
    assert [(v.line, v.module) for v in found] == [(5, "agora.compute.fake"), (6, "agora.compute.fake")]
    assert str(found[0]).startswith("agora.compute.fake:5: a layer imports agora.value")


def test_private_attributes_are_read_from_the_seams_classes() -> None:
    source = (
        "class Chain:\n"
        "    _cache: dict = {}\n"
        "    def __init__(self):\n"
        "        self._rpc_lock = 1\n"
        "        self.public = 2\n"
        "    def _rpc(self): ...\n"
        "    def call(self): ...\n"
        "def _module_helper(): ...\n"
    )
    found = seam_private_attributes({"agora.chain.fake": source, "agora.storage.x": "class S:\n    _rpc = 1\n"})
    assert found == {
        "_cache": ("agora.chain",),
        "_rpc_lock": ("agora.chain",),
        "_rpc": ("agora.chain", "agora.storage"),
    }
