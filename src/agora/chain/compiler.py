"""The contract pipeline: Vyper sources -> ABI + bytecode, cached by source hash.

Sources live in the repository's ``contracts/`` folder; an installed wheel
carries them as ``agora/_contracts``. A contract is named by its file stem
(``AgoraToken`` for ``contracts/token/AgoraToken.vy``). Compiled artifacts are
cached on disk (:func:`cache_dir`: ``$AGORA_CACHE`` or ``$AGORA_HOME/cache``),
keyed by a hash of every source in the tree, the compiler and snekmate versions
and the EVM version, so an edit anywhere recompiles and nothing stale is ever
deployed.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import threading
import warnings
from dataclasses import dataclass
from functools import cache
from importlib import metadata
from pathlib import Path
from typing import Any

from agora.errors import ConfigError

__all__ = [
    "Artifact",
    "EVM_VERSIONS",
    "DEFAULT_EVM_VERSION",
    "contracts_dir",
    "list_contracts",
    "compile_contract",
    "compile_file",
    "cache_dir",
]

EVM_VERSIONS = ("london", "paris", "shanghai", "cancun", "prague")
DEFAULT_EVM_VERSION = "prague"
_memo: dict[tuple[str, str], Artifact] = {}
_memo_lock = threading.Lock()


@dataclass(frozen=True)
class Artifact:
    """A compiled contract: what deploying and calling it needs."""

    name: str
    abi: list[dict[str, Any]]
    bytecode: bytes
    runtime_size: int
    evm_version: str
    source_hash: str

    def to_json(self) -> dict[str, Any]:
        """A JSON-serialisable form (bytecode as hex)."""
        return {
            "name": self.name,
            "abi": self.abi,
            "bytecode": "0x" + self.bytecode.hex(),
            "runtime_size": self.runtime_size,
            "evm_version": self.evm_version,
            "source_hash": self.source_hash,
        }

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Artifact:
        """Inverse of :meth:`to_json`."""
        return cls(
            name=d["name"],
            abi=d["abi"],
            bytecode=bytes.fromhex(d["bytecode"].removeprefix("0x")),
            runtime_size=int(d["runtime_size"]),
            evm_version=d["evm_version"],
            source_hash=d["source_hash"],
        )


def contracts_dir() -> Path:
    """Where the Vyper sources are: the installed copy, or the repository's ``contracts/``."""
    override = os.environ.get("AGORA_CONTRACTS_DIR")
    if override:
        return Path(override)
    here = Path(__file__).resolve()
    shipped = here.parent.parent / "_contracts"
    if shipped.is_dir():
        return shipped
    repo = here.parents[3] / "contracts"  # src/agora/chain/compiler.py -> repo root
    if repo.is_dir():
        return repo
    raise ConfigError("the Vyper contract sources are missing from this installation")


def cache_dir() -> Path:
    """The compile cache: ``$AGORA_CACHE``, else ``$AGORA_HOME/cache`` (``~/.agora/cache``), plus
    ``/contracts``. Agora writes nothing outside its home unless told to."""
    base = os.environ.get("AGORA_CACHE") or Path(
        os.environ.get("AGORA_HOME") or Path.home() / ".agora"
    ).expanduser() / "cache"
    return Path(base).expanduser() / "contracts"


_MODULE_DIRS = frozenset({"common", "lib"})


def list_contracts() -> dict[str, Path]:
    """Every deployable contract by name (``*.vy`` files; ``*.vyi`` interfaces and the
    modules under a ``common`` or ``lib`` folder, which contracts import, are not
    deployable on their own)."""
    root = contracts_dir()
    found: dict[str, Path] = {}
    for path in sorted(root.rglob("*.vy")):
        if _MODULE_DIRS.intersection(path.relative_to(root).parts[:-1]):
            continue
        if path.stem in found:
            raise ConfigError(f"two contracts are named {path.stem}: {found[path.stem]} and {path}")
        found[path.stem] = path
    return found


@cache
def _tree_hash(root: Path, mtimes: tuple[tuple[str, float], ...]) -> str:
    h = hashlib.sha256()
    for rel, _ in mtimes:
        h.update(rel.encode() + b"\0" + (root / rel).read_bytes() + b"\0")
    return h.hexdigest()


def _source_hash(evm_version: str) -> str:
    root = contracts_dir()
    files = sorted(p for p in root.rglob("*") if p.suffix in (".vy", ".vyi"))
    stamp = tuple((str(p.relative_to(root)), p.stat().st_mtime) for p in files)
    h = hashlib.sha256(_tree_hash(root, stamp).encode())
    for dist in ("vyper", "snekmate"):
        h.update(f"{dist}={metadata.version(dist)};".encode())
    h.update(evm_version.encode())
    return h.hexdigest()


def compile_contract(name: str, evm_version: str = DEFAULT_EVM_VERSION) -> Artifact:
    """Compile the contract ``name`` for ``evm_version`` (or return it from the cache)."""
    if evm_version not in EVM_VERSIONS:
        raise ConfigError(
            f"unknown EVM version {evm_version!r}", hint=f"choose one of {', '.join(EVM_VERSIONS)}"
        )
    with _memo_lock:
        if (name, evm_version) in _memo:
            return _memo[(name, evm_version)]
    sources = list_contracts()
    if name not in sources:
        raise ConfigError(
            f"no contract named {name!r}", hint=f"known contracts: {', '.join(sorted(sources))}"
        )
    art = _compile_cached(name, sources[name], evm_version, _source_hash(evm_version))
    with _memo_lock:
        _memo[(name, evm_version)] = art
    return art


def compile_file(path: str | Path, evm_version: str = DEFAULT_EVM_VERSION) -> Artifact:
    """Compile one Vyper source that lives outside the contract tree (a test's helper
    contract, say), named by its file stem; cached like :func:`compile_contract`.

    Its imports resolve against its own folder, the contract tree and installed
    packages (snekmate). The cache key adds the file's own content to the tree's hash.
    """
    if evm_version not in EVM_VERSIONS:
        raise ConfigError(
            f"unknown EVM version {evm_version!r}", hint=f"choose one of {', '.join(EVM_VERSIONS)}"
        )
    path = Path(path).resolve()
    try:
        source = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot read the contract source {path}: {exc.strerror or exc}") from None
    h = hashlib.sha256(_source_hash(evm_version).encode() + b"\0" + source)
    return _compile_cached(path.stem, path, evm_version, h.hexdigest())


def _compile_cached(name: str, path: Path, evm_version: str, source_hash: str) -> Artifact:
    """The artifact of ``path`` from the on-disk cache, or compiled and stored there."""
    cached = cache_dir() / f"{name}-{evm_version}-{source_hash[:24]}.json"
    if cached.exists():
        try:
            return Artifact.from_json(json.loads(cached.read_text()))
        except (ValueError, KeyError):
            pass  # a torn write: compile again
    art = _compile(name, path, evm_version, source_hash)
    cached.parent.mkdir(parents=True, exist_ok=True)
    tmp = cached.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_text(json.dumps(art.to_json()))
    os.replace(tmp, cached)
    return art


def _compile(name: str, path: Path, evm_version: str, source_hash: str) -> Artifact:
    import vyper
    from vyper.compiler.input_bundle import FilesystemInputBundle
    from vyper.compiler.settings import Settings

    root = contracts_dir()
    inside = path.is_relative_to(root)
    search = [*(() if inside else (path.parent,)), root, *(Path(p) for p in sys.path if p and Path(p).is_dir())]
    bundle = FilesystemInputBundle(search)
    from vyper.warnings import ContractSizeLimit

    try:
        # a contract over EIP-170's limit still compiles: its size is reported (``runtime_size``,
        # ``agora contracts build``), and deploying it fails where the limit applies
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ContractSizeLimit)
            out = vyper.compile_code(
                path.read_text(),
                contract_path=path.relative_to(root) if inside else Path(path.name),
                resolved_path=path,
                input_bundle=bundle,
                settings=Settings(evm_version=evm_version),
                output_formats=["abi", "bytecode", "bytecode_runtime"],
            )
    except Exception as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ConfigError(f"compiling {path.name} failed: {first}") from exc
    return Artifact(
        name=name,
        abi=out["abi"],
        bytecode=bytes.fromhex(out["bytecode"].removeprefix("0x")),
        runtime_size=len(out["bytecode_runtime"].removeprefix("0x")) // 2,
        evm_version=evm_version,
        source_hash=source_hash,
    )
