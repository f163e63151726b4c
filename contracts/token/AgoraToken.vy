# pragma version ~=0.4.3
# pragma nonreentrancy off
"""
@title Agora payment and stake token
@custom:contract-name AgoraToken
@license AGPL-3.0-only
@notice An ERC-20 with EIP-2612 `permit`, built on snekmate's audited
        `erc20` module. Agora uses it for payment and stake on devnets;
        on a real network the protocol takes any ERC-20 address instead
        (a stablecoin, say), so nothing in the protocol depends on this
        contract beyond the ERC-20 interface.
@dev The deployer is the owner and the first minter. The devnet faucet
     mints through `mint`, which only minters may call; `set_minter`
     (owner only) adds or removes minters. Transfers, approvals, permit,
     burning and ownership come unchanged from snekmate.
"""


# @dev `erc20` uses `ownable` for its owner-only functions
# (`set_minter`, `transfer_ownership`), so we initialise it first.
from snekmate.auth import ownable
initializes: ownable


# @dev The token logic itself, wired to our `ownable` instance.
from snekmate.tokens import erc20
initializes: erc20[ownable := ownable]


# @dev Export the whole ERC-20 surface: ERC-20, EIP-2612 `permit`,
# EIP-5267 `eip712Domain`, mint/burn and the owner functions. Without
# this line the contract would compile with no external functions.
exports: erc20.__interface__


@deploy
@payable
def __init__(initial_supply: uint256):
    """
    @notice Creates the token and mints `initial_supply` to the deployer.
    @param initial_supply The 32-byte amount (18 decimals) minted to
           `msg.sender`.
    """
    ownable.__init__()
    erc20.__init__("Agora Token", "AGR", 18, "Agora Token", "1")
    erc20._mint(msg.sender, initial_supply)
