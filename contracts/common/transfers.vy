# pragma version ~=0.4.3
# pragma nonreentrancy off
"""
@title Checked ERC-20 transfers
@custom:contract-name transfers
@license AGPL-3.0-only
@notice Every token movement of the Agora contracts goes through these two
        helpers, which revert unless the token reports success. ERC-20
        lets a token signal failure by returning `false` instead of
        reverting; an unchecked call would then credit a deposit that was
        never paid. Some tokens (USDT) return nothing at all: empty return
        data counts as success, as in OpenZeppelin's `SafeERC20`.
@dev No state: `from ..common import transfers`, then
     `transfers._transfer_in(token, owner, amount)`; no `uses:` or
     `initializes:` needed. Vyper's `default_return_value=True` accepts
     empty return data, and the interface call checks that `token` has
     code first, so an address without code fails instead of "succeeding"
     silently. Not a deployable contract.
"""


from ethereum.ercs import IERC20


@internal
def _transfer_in(token: IERC20, owner: address, amount: uint256):
    """
    @dev Pulls `amount` of `token` from `owner` into this contract (the
         owner approved it, or signed a permit, beforehand).
    @param token The 20-byte ERC-20.
    @param owner The 20-byte account paying.
    @param amount The 32-byte amount.
    """
    assert extcall token.transferFrom(owner, self, amount, default_return_value=True), "transfers: transfer failed"


@internal
def _transfer_out(token: IERC20, to: address, amount: uint256):
    """
    @dev Pays `amount` of `token` from this contract to `to`.
    @param token The 20-byte ERC-20.
    @param to The 20-byte recipient.
    @param amount The 32-byte amount.
    """
    assert extcall token.transfer(to, amount, default_return_value=True), "transfers: transfer failed"
