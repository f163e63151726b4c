# pragma version ~=0.4.3
# pragma nonreentrancy off
"""
@title Exposes contracts/common/settlement.vy and merkle.vy (tests only)
@custom:contract-name SettlementHarness
@license AGPL-3.0-only
@notice Calls the settlement module's internals directly (anyone may post,
        reject and claim), so that the module is tested once, apart from
        any market that uses it.
"""


# @dev The module under test; it owns the results' storage.
from ....contracts.common import settlement
initializes: settlement

# @dev The proof walk on its own (no state).
from ....contracts.common import merkle

# @dev The module's views, as a host exports them.
exports: (settlement.result, settlement.claimed, settlement.is_final)


@external
def post(key: bytes32, root: bytes32, total: uint256, window: uint256) -> uint256:
    """
    @notice `settlement._post`.
    @param key The 32-byte key.
    @param root The 32-byte root.
    @param total The 32-byte total.
    @param window The window in seconds.
    @return uint256 The time the result becomes final.
    """
    return settlement._post(key, root, total, window)


@external
def reject(key: bytes32):
    """
    @notice `settlement._reject`.
    @param key The 32-byte key.
    """
    settlement._reject(key)


@external
def claim(key: bytes32, index: uint256, account: address, amount: uint256, proof: DynArray[bytes32, merkle.MAX_PROOF]) -> uint256:
    """
    @notice `settlement._claim`.
    @param key The 32-byte key.
    @param index The 32-byte leaf index.
    @param account The 20-byte account.
    @param amount The 32-byte amount.
    @param proof The sibling hashes.
    @return uint256 The amount.
    """
    return settlement._claim(key, index, account, amount, proof)


@external
@view
def verify(root: bytes32, index: uint256, digest: bytes32, proof: DynArray[bytes32, merkle.MAX_PROOF]) -> bool:
    """
    @notice `merkle._verify`.
    @param root The 32-byte root.
    @param index The 32-byte item index.
    @param digest The 32-byte item digest.
    @param proof The sibling hashes.
    @return bool True if the proof leads to the root.
    """
    return merkle._verify(root, index, digest, proof)


@external
@view
def status(key: bytes32) -> uint256:
    """
    @notice `settlement._status` (0 none, 1 pending, 2 rejected).
    @param key The 32-byte key.
    @return uint256 The status.
    """
    return settlement._status(key)
