"""Every public module's ``__all__`` names real members; the seams and the core export all they define.

The modules are found by walking the ``agora`` package (no list to keep up to date): a new
module is checked the day it is added.
"""

from __future__ import annotations

import ast
import importlib
import importlib.util
import pkgutil
from collections.abc import Iterator
from pathlib import Path

import pytest

import agora

SRC = Path(agora.__file__).resolve().parent
#: Modules that must export every public name they define (a package: also every name it
#: imports from its own submodules).
COMPLETE = [
    "agora.chain",
    "agora.storage",
    "agora.workloads",
    "agora.workloads.sandbox",
    "agora.errors",
    "agora.units",
    "agora.config",
    "agora.layers",
    "agora.context",
    "agora.protocol",
]


def _walk(path: list[str], prefix: str) -> Iterator[str]:
    for info in pkgutil.walk_packages(path, prefix):
        yield info.name
    # pkgutil skips folders without an __init__.py (namespace packages); their modules count too
    for folder in map(Path, path):
        for sub in sorted(p for p in folder.iterdir() if p.is_dir() and not (p / "__init__.py").exists()):
            if sub.name.isidentifier() and any(sub.glob("*.py")):
                yield from _walk([str(sub)], f"{prefix}{sub.name}.")


def _public(name: str) -> bool:
    return not any(part.startswith("_") for part in name.split("."))


DISCOVERED = ["agora", *_walk(list(agora.__path__), "agora.")]
MODULES = [name for name in DISCOVERED if _public(name)]


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def defined_names(name: str) -> set[str]:
    """The public names a module defines at its top level, read from its source.

    Functions, classes and assignments (also under ``if``/``try``, but not under ``if
    TYPE_CHECKING:``, which never runs); for a package, also what it imports from its own
    submodules (that is its API). Names it imports from elsewhere are not its own.
    """
    spec = importlib.util.find_spec(name)
    assert spec is not None and spec.origin is not None, name
    is_package = spec.submodule_search_locations is not None
    found: set[str] = set()

    def visit(body: list[ast.stmt]) -> None:
        for stmt in body:
            if isinstance(stmt, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                found.add(stmt.name)
            elif isinstance(stmt, ast.Assign):
                found.update(n.id for t in stmt.targets for n in ast.walk(t) if isinstance(n, ast.Name))
            elif isinstance(stmt, ast.AnnAssign | ast.AugAssign) and isinstance(stmt.target, ast.Name):
                found.add(stmt.target.id)
                # a package that exports lazily (PEP 562) names its API in ``_EXPORTS = {name: module}``
                if is_package and stmt.target.id == "_EXPORTS" and isinstance(stmt.value, ast.Dict):
                    found.update(k.value for k in stmt.value.keys if isinstance(k, ast.Constant))
            elif isinstance(stmt, ast.ImportFrom) and is_package:
                if stmt.level > 0 or (stmt.module or "").startswith(name + "."):
                    found.update(alias.asname or alias.name for alias in stmt.names)
            elif isinstance(stmt, ast.If) and not _is_type_checking(stmt.test):
                visit(stmt.body)
                visit(stmt.orelse)
            elif isinstance(stmt, ast.Try):
                for block in (stmt.body, *(h.body for h in stmt.handlers), stmt.orelse, stmt.finalbody):
                    visit(block)

    visit(ast.parse(Path(spec.origin).read_text()).body)
    return {member for member in found if not member.startswith("_") and member != "*"}


def test_the_walk_finds_every_module() -> None:
    files = {
        ".".join(p.relative_to(SRC.parent).with_suffix("").parts).removesuffix(".__init__")
        for p in SRC.rglob("*.py")
    }
    assert files - set(DISCOVERED) == set()
    assert set(COMPLETE) <= set(MODULES)


@pytest.mark.parametrize("name", MODULES)
def test_all_names_exist(name: str) -> None:
    module = importlib.import_module(name)
    assert hasattr(module, "__all__"), f"{name} has no __all__"
    exported = module.__all__
    assert isinstance(exported, list | tuple)
    assert all(isinstance(member, str) for member in exported)
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
    assert defined_names(name) - set(module.__all__) == set()


def test_defined_names_reads_the_source() -> None:
    assert {"Chain", "connect", "TxReceipt"} <= defined_names("agora.chain")
    assert "TYPE_CHECKING" not in defined_names("agora.chain")
    assert {"Layer", "load_layers", "ENTRY_POINT_GROUP"} <= defined_names("agora.layers")
    assert "entry_points" not in defined_names("agora.layers")


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
