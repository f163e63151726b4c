"""The Vyper contract pipeline: listing, compiling, caching, EVM versions."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from agora.chain import compiler
from agora.chain.compiler import (
    DEFAULT_EVM_VERSION,
    EVM_VERSIONS,
    Artifact,
    compile_contract,
    compile_file,
    list_contracts,
)
from agora.errors import ConfigError

MCOPY = 0x5E
PUSH0 = 0x5F
PUSH1, PUSH32 = 0x60, 0x7F


def disassemble(code: bytes) -> list[tuple[int, int]]:
    """(offset, opcode) of every instruction, skipping PUSH1..PUSH32 immediates."""
    out: list[tuple[int, int]] = []
    pc = 0
    while pc < len(code):
        op = code[pc]
        out.append((pc, op))
        pc += 1 + (op - PUSH1 + 1 if PUSH1 <= op <= PUSH32 else 0)
    return out


def opcodes(code: bytes) -> set[int]:
    return {op for _, op in disassemble(code)}


CODECOPY, PUSH2 = 0x39, 0x61


def code_section(runtime: bytes) -> bytes:
    """The runtime without its trailing data section (Vyper's selector table).

    Vyper's dispatcher opens by copying the caller's bucket header out of that table:
    ``... PUSH2 <table> ADD PUSH1 <n> CODECOPY``, and the table runs to the end. Its bytes
    are data (a 0x5e among them is no MCOPY), so only what comes before is disassembled."""
    ops = disassemble(runtime)[:40]
    copy = next(i for i, (_, op) in enumerate(ops) if op == CODECOPY)
    pc = next(pc for pc, op in reversed(ops[:copy]) if op == PUSH2)
    start = int.from_bytes(runtime[pc + 1 : pc + 3], "big")
    assert 0 < start < len(runtime)
    return runtime[:start]


def split_deploy_code(art: Artifact) -> tuple[bytes, bytes]:
    """(initcode, runtime) of the deploy bytecode.

    Vyper 0.4 lays the deploy bytecode out as ``initcode | runtime | CBOR metadata``,
    the metadata ending with its own length as 2 big-endian bytes.
    """
    code = art.bytecode
    meta = int.from_bytes(code[-2:], "big")
    assert 2 < meta < len(code)
    assert code[-meta] & 0xE0 == 0x80  # a CBOR array opens the metadata
    end = len(code) - meta
    start = end - art.runtime_size
    assert start > 0
    return code[:start], code[start:end]


def runtime_of(art: Artifact) -> bytes:
    return split_deploy_code(art)[1]


# --- the disassembler itself ----------------------------------------------------


def test_disassembler_skips_push_data() -> None:
    # PUSH1 0x5e, PUSH2 0x5e5e, PUSH32 <32 x 0x5e>, MCOPY, PUSH0, STOP
    code = bytes([0x60, MCOPY, 0x61, MCOPY, MCOPY, 0x7F]) + bytes([MCOPY] * 32)
    code += bytes([MCOPY, PUSH0, 0x00])
    ops = disassemble(code)
    assert ops == [(0, 0x60), (2, 0x61), (5, 0x7F), (38, MCOPY), (39, PUSH0), (40, 0x00)]
    assert [op for _, op in ops].count(MCOPY) == 1


def test_disassembler_truncated_push() -> None:
    assert disassemble(bytes([0x61, 0x01])) == [(0, 0x61)]
    assert MCOPY not in opcodes(bytes([0x7F]) + bytes([MCOPY] * 10))


# --- fixtures -------------------------------------------------------------------


@pytest.fixture(scope="module")
def module_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """An empty compile cache and memo for this module (the user's cache stays untouched)."""
    cache = tmp_path_factory.mktemp("agora-cache")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("AGORA_CACHE", str(cache))
        mp.delenv("AGORA_CONTRACTS_DIR", raising=False)
        mp.setattr(compiler, "_memo", {})
        yield cache


@pytest.fixture(scope="module")
def prague(module_cache: Path) -> Artifact:
    return compile_contract("AgoraToken", "prague")


@pytest.fixture(scope="module")
def shanghai(module_cache: Path) -> Artifact:
    return compile_contract("AgoraToken", "shanghai")


# --- listing -----------------------------------------------------------------------


def test_list_contracts() -> None:
    found = list_contracts()
    assert "AgoraToken" in found
    assert found["AgoraToken"].suffix == ".vy"
    assert found["AgoraToken"].is_file()
    assert all(path.suffix == ".vy" for path in found.values())
    assert all("lib" not in path.parts for path in found.values())
    # the shared modules (checked transfers, constants, interfaces) are not deployable contracts
    assert all("common" not in path.parts for path in found.values())
    assert "transfers" not in found and "constants" not in found
    assert {"ComputeMarket", "ProviderRegistry", "ModelRegistry", "PaymentChannels"} <= set(found)


def test_versions() -> None:
    assert DEFAULT_EVM_VERSION == "prague"
    assert {"shanghai", "cancun", "prague"} <= set(EVM_VERSIONS)


# --- compiling ------------------------------------------------------------------


def test_artifact_shape(prague: Artifact) -> None:
    assert prague.name == "AgoraToken"
    assert prague.evm_version == "prague"
    assert len(prague.source_hash) == 64
    assert 0 < prague.runtime_size < len(prague.bytecode)
    assert prague.runtime_size <= 24576  # EIP-170


def test_abi_has_token_functions(prague: Artifact) -> None:
    functions = {item["name"] for item in prague.abi if item.get("type") == "function"}
    assert {"transfer", "permit", "mint", "approve", "transferFrom", "balanceOf"} <= functions
    inputs = {
        item["name"]: [arg["type"] for arg in item["inputs"]]
        for item in prague.abi
        if item.get("type") == "function"
    }
    assert inputs["transfer"] == ["address", "uint256"]
    assert inputs["mint"] == ["address", "uint256"]
    # EIP-2612: owner, spender, value, deadline, v, r, s
    assert inputs["permit"] == [
        "address",
        "address",
        "uint256",
        "uint256",
        "uint8",
        "bytes32",
        "bytes32",
    ]


def test_compile_twice_is_memoised(module_cache: Path, prague: Artifact) -> None:
    again = compile_contract("AgoraToken")  # default version
    assert again == prague
    assert again is prague


def test_default_is_prague(module_cache: Path, prague: Artifact) -> None:
    assert compile_contract("AgoraToken").evm_version == "prague"


def test_shanghai_differs_from_prague(prague: Artifact, shanghai: Artifact) -> None:
    assert shanghai.evm_version == "shanghai"
    assert shanghai != prague
    assert runtime_of(shanghai) != runtime_of(prague)
    assert shanghai.source_hash != prague.source_hash  # the EVM version is in the key
    assert shanghai.abi == prague.abi


def test_shanghai_has_no_mcopy(shanghai: Artifact) -> None:
    initcode, runtime = split_deploy_code(shanghai)
    # (0x5e bytes do occur in this runtime, inside PUSH data and the selector table: a byte
    # scan would be wrong)
    assert MCOPY not in opcodes(code_section(runtime))
    assert MCOPY not in opcodes(initcode)
    assert PUSH0 in opcodes(runtime)  # shanghai introduced PUSH0


def test_prague_uses_mcopy(prague: Artifact) -> None:
    # proves the check above can see MCOPY where it is (cancun+)
    assert MCOPY in opcodes(code_section(runtime_of(prague)))


def test_artifact_json_roundtrip(prague: Artifact) -> None:
    data = json.loads(json.dumps(prague.to_json()))
    assert data["bytecode"].startswith("0x")
    assert Artifact.from_json(data) == prague


# --- the on-disk cache -----------------------------------------------------------


def test_cache_file_is_written_and_reused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AGORA_CACHE", str(tmp_path))
    monkeypatch.setattr(compiler, "_memo", {})
    assert compiler.cache_dir() == tmp_path / "contracts"

    art = compile_contract("AgoraToken", "prague")
    files = list((tmp_path / "contracts").iterdir())
    assert len(files) == 1
    cached = files[0]
    assert cached.name.startswith("AgoraToken-prague-")
    assert cached.name.endswith(".json")
    assert Artifact.from_json(json.loads(cached.read_text())) == art
    assert not list(tmp_path.rglob("*.tmp"))

    # a fresh process (empty memo) reads the file instead of compiling
    monkeypatch.setattr(compiler, "_memo", {})

    def no_compile(*args: object, **kwargs: object) -> Artifact:
        raise AssertionError("compiled although the cache holds the artifact")

    monkeypatch.setattr(compiler, "_compile", no_compile)
    assert compile_contract("AgoraToken", "prague") == art


def test_torn_cache_file_is_recompiled(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AGORA_CACHE", str(tmp_path))
    monkeypatch.setattr(compiler, "_memo", {})
    art = compile_contract("AgoraToken", "prague")
    (cached,) = (tmp_path / "contracts").iterdir()
    cached.write_text('{"name": "AgoraToken", "abi": [')
    monkeypatch.setattr(compiler, "_memo", {})
    assert compile_contract("AgoraToken", "prague") == art
    assert Artifact.from_json(json.loads(cached.read_text())) == art


# --- a source outside the contract tree -------------------------------------------

STANDALONE = """# pragma version ~=0.4.3
from snekmate.auth import ownable
initializes: ownable
exports: ownable.owner

value: public(uint256)

@deploy
def __init__():
    ownable.__init__()

@external
def set_value(x: uint256):
    self.value = x
"""


def test_compile_file_outside_the_tree(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AGORA_CACHE", str(tmp_path / "cache"))
    source = tmp_path / "src" / "Standalone.vy"
    source.parent.mkdir()
    source.write_text(STANDALONE)
    art = compile_file(source)
    assert art.name == "Standalone" and art.evm_version == DEFAULT_EVM_VERSION
    assert {e["name"] for e in art.abi if e["type"] == "function"} == {"owner", "value", "set_value"}
    (cached,) = (tmp_path / "cache" / "contracts").iterdir()

    def no_compile(*args: object, **kwargs: object) -> Artifact:
        raise AssertionError("compiled again instead of reading the cache")

    monkeypatch.setattr(compiler, "_compile", no_compile)
    assert compile_file(str(source)) == art  # from the cache
    monkeypatch.undo()
    monkeypatch.setenv("AGORA_CACHE", str(tmp_path / "cache"))
    source.write_text(STANDALONE.replace("set_value", "put_value"))  # an edit recompiles
    edited = compile_file(source, "shanghai")
    assert "put_value" in {e.get("name") for e in edited.abi}
    assert edited.source_hash != art.source_hash and cached.exists()


def test_compile_file_errors(tmp_path: Path, module_cache: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        compile_file(tmp_path / "Missing.vy")
    bad = tmp_path / "Bad.vy"
    bad.write_text("# pragma version ~=0.4.3\n@external\ndef f( -> uint256:\n    return 1\n")
    with pytest.raises(ConfigError, match="compiling Bad.vy failed"):
        compile_file(bad)
    with pytest.raises(ConfigError, match="EVM version"):
        compile_file(bad, "frontier")


# --- errors ---------------------------------------------------------------------


def test_unknown_contract(module_cache: Path) -> None:
    with pytest.raises(ConfigError) as info:
        compile_contract("NoSuchContract")
    msg = str(info.value)
    assert "NoSuchContract" in msg
    assert "AgoraToken" in msg  # lists the known names
    assert "\n" not in msg


@pytest.mark.parametrize("version", ["frontier", "Prague", "", "osaka-ish"])
def test_unknown_evm_version(module_cache: Path, version: str) -> None:
    with pytest.raises(ConfigError) as info:
        compile_contract("AgoraToken", version)
    msg = str(info.value)
    assert "EVM version" in msg
    assert "prague" in msg  # lists the choices
