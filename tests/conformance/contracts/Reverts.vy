# pragma version ~=0.4.3
"""
@title Reverts
@custom:contract-name Reverts
@license AGPL-3.0-only
@notice A test contract for the chain conformance suite: one function per
        kind of revert data (`Error(string)`, `Panic(uint256)`, a custom
        error, none at all), so that every backend is checked to decode
        the same data the same way.
@dev Vyper 0.4 has no custom errors and reverts with empty data on safe-math
     failures; `raw_revert` produces what Solidity contracts (an external
     ERC-20, say) revert with.
"""


# @dev How often `bump` ran: state that a transaction earlier in the same
# block changes, for the replay of a failed transaction.
counter: public(uint256)


@external
def fail_with_reason():
    """
    @notice Reverts with `Error(string)`.
    """
    raise "reverts: the reason"


@external
def fail_without_reason():
    """
    @notice Reverts with empty data.
    """
    raise


@external
def fail_with_panic(code: uint256):
    """
    @notice Reverts with `Panic(uint256)`, as Solidity's checked arithmetic does.
    @param code The 32-byte panic code (0x11: arithmetic overflow).
    """
    raw_revert(concat(method_id("Panic(uint256)"), convert(code, bytes32)))


@external
def fail_with_custom(needed: uint256, holder: address):
    """
    @notice Reverts with the custom error `Shortfall(uint256,address)`.
    @param needed The 32-byte amount reported in the error.
    @param holder The 20-byte address reported in the error.
    """
    raw_revert(concat(method_id("Shortfall(uint256,address)"), abi_encode(needed, holder)))


@external
def overflow(x: uint256) -> uint256:
    """
    @notice Vyper's checked arithmetic: reverts with empty data if `x` > 0.
    @param x The 32-byte addend.
    @return uint256 The sum (never, for `x` > 0).
    """
    return max_value(uint256) + x


@external
def bump():
    """
    @notice Increments `counter`.
    """
    self.counter += 1


@external
def fail_unless_counter_is(expected: uint256):
    """
    @notice Reverts with a reason if `counter` moved away from `expected`.
    @param expected The 32-byte value `counter` must still have.
    """
    assert self.counter == expected, "reverts: counter moved"
