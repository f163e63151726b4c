# pragma version ~=0.4.3
# pragma nonreentrancy off
"""
@title Agora model payee
@custom:contract-name ModelPayee
@license AGPL-3.0-only
@notice One model's `payTo` address for payments that arrive as plain
        token transfers: x402's `exact` scheme, where the payer signs an
        EIP-3009 `transferWithAuthorization` to this address and anyone
        (the server, a facilitator, a front-runner) submits it to the
        token. Whoever submits it, the tokens land here, and only the
        `PaymentChannels` contract that created this payee can take them
        out: its `sweep` (open to anyone) moves them into the model's pot,
        which `distribute` splits by the model's registered split.
@dev Deployed once as an implementation; `PaymentChannels.create_payee`
     makes one EIP-1167 minimal proxy of it per model (45 bytes of
     code; ~116k gas with its setup) and calls `setup` in the same transaction, so no one
     can set a payee up before its creator does. The implementation sets
     `channels` to itself in its constructor: it can never be set up, and
     never releases anything. Storage (the proxy's own): `channels`, the
     one account allowed to `release`.
@custom:security `release` sends the whole balance to `channels` and
     nowhere else, so anyone may trigger it through `sweep`; tokens sent
     here by mistake can only end up in the model's pot.
"""


from ethereum.ercs import IERC20

# @dev Checked token movements (`_transfer_out`); no state.
from ..common import transfers


#: The `PaymentChannels` contract that created this payee, the only
#: account allowed to `release` (zero until `setup`).
channels: public(address)


@deploy
@payable
def __init__():
    """
    @notice Deploys the implementation that payees are proxies of; it
            locks itself (its own `channels` is itself), so it can never
            be set up. Proxies do not run this constructor.
    """
    self.channels = self


@external
def setup():
    """
    @notice Binds this payee to the caller, its `PaymentChannels`, once.
            The creator calls it in the transaction that creates the proxy.
    """
    assert self.channels == empty(address), "ModelPayee: already set up"
    self.channels = msg.sender


@external
def release(token: IERC20) -> uint256:
    """
    @notice Sends this payee's whole balance of `token` to `channels`
            (`channels` only; `PaymentChannels.sweep` calls it and credits
            the model's pot).
    @param token The 20-byte ERC-20 to release.
    @return uint256 The amount sent (0 if there was none: no transfer, no
            revert).
    """
    assert msg.sender == self.channels, "ModelPayee: not the channels"
    amount: uint256 = staticcall token.balanceOf(self)
    if amount != 0:
        transfers._transfer_out(token, msg.sender, amount)
    return amount
