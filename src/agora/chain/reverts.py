"""Revert reasons decoded from revert data, the same on every backend.

A node's error *message* is its own wording (anvil says ``execution reverted:
…``, Hardhat ``VM Exception while processing transaction: reverted with reason
string '…'``, eth-tester something else again); the revert *data* is the EVM's
and identical everywhere. So a reason is always decoded from the data:

* ``Error(string)`` (selector ``0x08c379a0``, Solidity's ``require``/``revert``
  and Vyper's ``assert``/``raise``) → the string itself;
* ``Panic(uint256)`` (``0x4e487b71``, Solidity's checked arithmetic, asserts,
  array bounds) → ``panic 0x11 (arithmetic overflow or underflow)``;
* a custom error whose ABI entry (``"type": "error"``) is known →
  ``Shortfall(needed=5, holder=0x…)``; an unknown one → ``custom error 0x<selector>``;
* no data at all (Vyper's safe-math failures, a bare ``raise``) → ``no reason given``.

:func:`revert_data` finds the data in whatever a backend raised: web3's
``ContractLogicError`` family (``.data``, a hex string or Hardhat's nested
``{"message", "data"}``), a raw JSON-RPC error object, or py-evm's ``Revert``
behind eth-tester's ``TransactionFailed``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from eth_abi.abi import decode as abi_decode
from eth_utils.abi import abi_to_signature, function_signature_to_4byte_selector, get_abi_input_types
from eth_utils.address import to_checksum_address
from web3.exceptions import ContractLogicError, Web3RPCError

__all__ = [
    "ERROR_SELECTOR",
    "PANIC_SELECTOR",
    "PANIC_CODES",
    "ErrorABI",
    "decode_revert",
    "error_abis",
    "revert_data",
    "rpc_error_data",
]

#: ``Error(string)``: the revert string of ``require``/``revert``/``assert``/``raise``.
ERROR_SELECTOR = bytes.fromhex("08c379a0")
#: ``Panic(uint256)``: Solidity's built-in failures, by code.
PANIC_SELECTOR = bytes.fromhex("4e487b71")
#: Solidity's panic codes (docs: "Panic via assert and Error via require").
PANIC_CODES: dict[int, str] = {
    0x00: "generic compiler panic",
    0x01: "assertion failed",
    0x11: "arithmetic overflow or underflow",
    0x12: "division or modulo by zero",
    0x21: "invalid enum value",
    0x22: "corrupt storage byte array",
    0x31: "pop on an empty array",
    0x32: "array index out of bounds",
    0x41: "out of memory",
    0x51: "call to an uninitialised internal function",
}


@dataclass(frozen=True)
class ErrorABI:
    """One custom error of an ABI: its selector, name, argument names and types."""

    selector: bytes
    name: str
    arg_names: tuple[str, ...]
    arg_types: tuple[str, ...]

    @classmethod
    def from_abi(cls, entry: Mapping[str, Any]) -> ErrorABI:
        """Build from an ABI entry of ``"type": "error"``."""
        signature = abi_to_signature(entry)  # type: ignore[arg-type]  # a plain dict is an ABI entry
        return cls(
            selector=function_signature_to_4byte_selector(signature),
            name=str(entry["name"]),
            arg_names=tuple(str(i.get("name") or "") for i in entry.get("inputs") or []),
            arg_types=tuple(get_abi_input_types(entry)),  # type: ignore[arg-type]
        )

    def decode(self, data: bytes) -> str:
        """``Name(arg=value, …)`` for revert ``data`` that starts with this selector."""
        values = abi_decode(list(self.arg_types), data[4:])
        args = [
            f"{name}={_show(value, kind)}" if name else _show(value, kind)
            for name, kind, value in zip(self.arg_names, self.arg_types, values, strict=True)
        ]
        return f"{self.name}({', '.join(args)})"


def error_abis(abi: Iterable[Mapping[str, Any]]) -> dict[bytes, ErrorABI]:
    """The custom errors of ``abi`` by selector (entries of other types are skipped)."""
    out: dict[bytes, ErrorABI] = {}
    for entry in abi:
        if entry.get("type") == "error":
            err = ErrorABI.from_abi(entry)
            out[err.selector] = err
    return out


def decode_revert(data: bytes, errors: Mapping[bytes, ErrorABI] | None = None) -> str:
    """The reason a call reverted, from its revert ``data`` (see the module's docstring).

    ``errors`` are the custom errors to recognise, by selector (:func:`error_abis`).
    Data that does not decode as its selector says falls back to its hex.
    """
    if not data:
        return "no reason given"
    if len(data) < 4:
        return f"revert data 0x{data.hex()}"
    selector = data[:4]
    try:
        if selector == ERROR_SELECTOR:
            (reason,) = abi_decode(["string"], data[4:])
            return str(reason) or "no reason given"
        if selector == PANIC_SELECTOR:
            (code,) = abi_decode(["uint256"], data[4:])
            return f"panic 0x{code:02x} ({PANIC_CODES.get(code, 'unknown panic code')})"
        known = (errors or {}).get(selector)
        if known is not None:
            return known.decode(data)
    except Exception:  # noqa: BLE001 - malformed arguments: show the data as it is
        return f"revert data 0x{data.hex()}"
    return f"custom error 0x{selector.hex()}"


def _show(value: Any, kind: str) -> str:
    if kind == "address":
        return to_checksum_address(value)
    if isinstance(value, bytes):
        return "0x" + value.hex()
    if isinstance(value, str):
        return repr(value)
    if isinstance(value, tuple | list):
        return "(" + ", ".join(_show(v, "") for v in value) + ")"
    return str(value)


def _hex_bytes(value: Any) -> bytes | None:
    """``0x…`` hex (optionally after Nethermind's ``Reverted `` prefix) as bytes, else None."""
    if isinstance(value, bytes | bytearray):
        return bytes(value)
    if not isinstance(value, str):
        return None
    text = value.strip().removeprefix("Reverted ").strip()
    if not text.startswith(("0x", "0X")) or len(text) % 2:
        return None
    try:
        return bytes.fromhex(text[2:])
    except ValueError:
        return None


def rpc_error_data(error: Any) -> bytes | None:
    """The revert data in a JSON-RPC error object's ``data`` field, or None.

    Nodes put it there as hex (geth, anvil: ``{"code": 3, "data": "0x…"}``) or one
    level down (Hardhat: ``{"data": {"message": …, "data": "0x…"}}``).
    """
    if not isinstance(error, Mapping):
        return None
    data = error.get("data")
    for _ in range(3):
        if isinstance(data, Mapping):
            data = data.get("data", data.get("result"))
            continue
        return _hex_bytes(data)
    return None


def revert_data(exc: BaseException) -> bytes | None:
    """The revert data carried by a backend's exception (or one it was raised from), or None."""
    seen: set[int] = set()
    e: BaseException | None = exc
    while e is not None and id(e) not in seen:
        seen.add(id(e))
        if isinstance(e, ContractLogicError):
            data = e.data
            found = rpc_error_data({"data": data}) if data is not None else None
            if found is not None:
                return found
        elif isinstance(e, Web3RPCError) and isinstance(e.rpc_response, Mapping):
            found = rpc_error_data(e.rpc_response.get("error"))
            if found is not None:
                return found
        elif _is_evm_revert(e):
            return _hex_bytes(e.args[0]) if e.args else b""
        e = e.__cause__ or e.__context__
    return None


def _is_evm_revert(exc: BaseException) -> bool:
    """py-evm's ``Revert`` (the embedded chain), whose first argument is the raw data."""
    try:
        from eth.exceptions import Revert
    except ImportError:  # pragma: no cover - py-evm ships with web3[tester]
        return False
    return isinstance(exc, Revert)
