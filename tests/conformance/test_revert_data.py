"""Revert data → reason, and where each backend keeps the data (no chain needed).

The suite (suite.py) checks the same decoding end to end on every backend; this
module pins the decoder and the shapes of errors that nodes return.
"""

from __future__ import annotations

import pytest
from eth.exceptions import Revert
from eth_abi.abi import encode
from web3.exceptions import ContractCustomError, ContractLogicError, ContractPanicError, Web3RPCError

from agora.chain import ErrorABI, decode_revert, error_abis, revert_data
from agora.chain.reverts import ERROR_SELECTOR, PANIC_SELECTOR, rpc_error_data

HOLDER = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"
SHORTFALL = {
    "type": "error",
    "name": "Shortfall",
    "inputs": [{"name": "needed", "type": "uint256"}, {"name": "holder", "type": "address"}],
}
ODD = {
    "type": "error",
    "name": "Odd",
    "inputs": [
        {"name": "", "type": "bytes32"},
        {"name": "note", "type": "string"},
        {"name": "pair", "type": "tuple",
         "components": [{"name": "a", "type": "uint8"}, {"name": "b", "type": "bool"}]},
    ],
}


def error_string(reason: str) -> bytes:
    return ERROR_SELECTOR + encode(["string"], [reason])


def test_error_string() -> None:
    assert decode_revert(error_string("erc20: transfer amount exceeds balance")) == (
        "erc20: transfer amount exceeds balance"
    )
    assert decode_revert(error_string("")) == "no reason given"
    assert decode_revert(error_string("ünïcode ✓")) == "ünïcode ✓"


def test_no_data_and_short_data() -> None:
    assert decode_revert(b"") == "no reason given"
    assert decode_revert(b"\x01\x02") == "revert data 0x0102"


@pytest.mark.parametrize(
    ("code", "reason"),
    [
        (0x01, "panic 0x01 (assertion failed)"),
        (0x11, "panic 0x11 (arithmetic overflow or underflow)"),
        (0x12, "panic 0x12 (division or modulo by zero)"),
        (0x32, "panic 0x32 (array index out of bounds)"),
        (0x99, "panic 0x99 (unknown panic code)"),
    ],
)
def test_panic(code: int, reason: str) -> None:
    assert decode_revert(PANIC_SELECTOR + code.to_bytes(32, "big")) == reason


def test_malformed_data_falls_back_to_hex() -> None:
    truncated = error_string("hello")[:40]
    assert decode_revert(truncated) == "revert data 0x" + truncated.hex()
    assert decode_revert(PANIC_SELECTOR + b"\x01") == "revert data 0x4e487b7101"


def test_custom_errors_known_and_unknown() -> None:
    errors = error_abis([SHORTFALL, {"type": "function", "name": "f", "inputs": []}, ODD])
    assert [e.name for e in errors.values()] == ["Shortfall", "Odd"]
    shortfall = ErrorABI.from_abi(SHORTFALL)
    assert shortfall.selector.hex() == "844b8942" and shortfall.arg_types == ("uint256", "address")
    data = shortfall.selector + encode(["uint256", "address"], [5, HOLDER])
    assert decode_revert(data, errors) == f"Shortfall(needed=5, holder={HOLDER})"
    assert decode_revert(data) == "custom error 0x844b8942"
    odd = ErrorABI.from_abi(ODD)
    assert odd.arg_types == ("bytes32", "string", "(uint8,bool)")
    data = odd.selector + encode(["bytes32", "string", "(uint8,bool)"], [b"\xab" * 32, "hi", (7, True)])
    assert decode_revert(data, errors) == f"Odd(0x{'ab' * 32}, note='hi', pair=(7, True))"
    assert decode_revert(odd.selector + b"\x00" * 5, errors).startswith("revert data 0x")


def test_rpc_error_shapes() -> None:
    data = error_string("nope")
    hexed = "0x" + data.hex()
    assert rpc_error_data({"code": 3, "message": "execution reverted: nope", "data": hexed}) == data  # geth, anvil
    assert rpc_error_data({"code": -32603, "message": "…", "data": {"message": "…", "data": hexed}}) == data  # hardhat
    assert rpc_error_data({"code": -32015, "data": "Reverted " + hexed}) == data  # nethermind
    assert rpc_error_data({"code": 3, "data": "0x"}) == b""
    assert rpc_error_data({"code": -32000, "message": "execution reverted"}) is None
    assert rpc_error_data({"code": -32000, "data": "not hex at all"}) is None
    assert rpc_error_data({"code": -32000, "data": "0xabc"}) is None  # odd length
    assert rpc_error_data("a plain string") is None


def test_revert_data_on_every_exception_shape() -> None:
    data = PANIC_SELECTOR + (0x11).to_bytes(32, "big")
    hexed = "0x" + data.hex()
    assert revert_data(ContractPanicError("Panic error 0x11", data=hexed)) == data
    assert revert_data(ContractCustomError(hexed, data=hexed)) == data
    assert revert_data(ContractLogicError("reverted", data={"message": "m", "data": hexed})) == data
    assert revert_data(ContractLogicError("execution reverted", data=None)) is None
    response = {"jsonrpc": "2.0", "id": 1, "error": {"code": 3, "message": "x", "data": hexed}}
    assert revert_data(Web3RPCError("x", rpc_response=response)) == data  # type: ignore[arg-type]
    assert revert_data(Revert(data)) == data  # py-evm, the embedded chain
    assert revert_data(Revert()) == b""
    assert revert_data(ValueError("unrelated")) is None


def test_revert_data_follows_the_causes() -> None:
    data = error_string("deep")
    try:
        try:
            raise Revert(data)
        except Revert as inner:
            raise RuntimeError("execution reverted: deep") from inner
    except RuntimeError:
        try:
            raise KeyError("a formatter failed")  # raised while handling: the context
        except KeyError as exc:
            assert revert_data(exc) == data


def test_embedded_failures_without_revert_data() -> None:
    from eth.exceptions import InvalidInstruction, OutOfGas, StackDepthLimit
    from eth_tester.exceptions import TransactionFailed

    from agora.chain.embedded import failure_reason

    def failed(cause: BaseException) -> TransactionFailed:
        try:
            raise TransactionFailed(str(cause)) from cause
        except TransactionFailed as exc:
            return exc

    assert failure_reason(failed(OutOfGas("Out of gas: needed 100"))) == "out of gas"
    assert failure_reason(failed(InvalidInstruction("0xfe"))) == "invalid opcode"
    assert failure_reason(failed(StackDepthLimit())) == "execution failed (StackDepthLimit)"
    assert failure_reason(TransactionFailed("something")) == "no reason given"
    assert failure_reason(ValueError("unrelated")) is None
