# pragma version ~=0.4.3
# pragma nonreentrancy off
"""
@title Exposes contracts/common/transfers.vy (tests only)
@custom:contract-name TransfersHarness
@license AGPL-3.0-only
@notice Calls the shared transfer helpers directly, so that their edge
        cases (a token returning false, returning nothing, reverting, an
        address without code) are tested once, apart from any contract.
"""


from ethereum.ercs import IERC20

# @dev The module under test (no state: nothing to initialise).
from ....contracts.common import transfers


@external
def transfer_in(token: IERC20, owner: address, amount: uint256):
    """
    @notice `transfers._transfer_in`.
    @param token The 20-byte token.
    @param owner The 20-byte payer (approved this harness).
    @param amount The 32-byte amount.
    """
    transfers._transfer_in(token, owner, amount)


@external
def transfer_out(token: IERC20, to: address, amount: uint256):
    """
    @notice `transfers._transfer_out`.
    @param token The 20-byte token.
    @param to The 20-byte receiver.
    @param amount The 32-byte amount.
    """
    transfers._transfer_out(token, to, amount)
