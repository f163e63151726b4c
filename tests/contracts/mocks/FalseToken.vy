# pragma version ~=0.4.3
# pragma nonreentrancy off
"""
@title A token that returns `false` on demand (tests only)
@custom:contract-name FalseToken
@license AGPL-3.0-only
@notice snekmate's ERC-20 (with EIP-2612 permit, under AgoraToken's
        EIP-712 domain), except that while `fail` is set, `transfer` and
        `transferFrom` move nothing and return `false` instead of
        reverting, as ERC-20 allows. The contracts must treat that as a
        failed payment: the only way to reach their transfer checks.
"""


# @dev `erc20` needs an `ownable` instance (it has owner-only functions).
from snekmate.auth import ownable
initializes: ownable

# @dev The token logic; `transfer` and `transferFrom` are wrapped below.
from snekmate.tokens import erc20
initializes: erc20[ownable := ownable]

# @dev The ERC-20 surface but `transfer` / `transferFrom` (defined here)
# and the minter machinery (anyone may `mint` a test token).
exports: (
    erc20.totalSupply,
    erc20.balanceOf,
    erc20.allowance,
    erc20.approve,
    erc20.name,
    erc20.symbol,
    erc20.decimals,
    erc20.nonces,
    erc20.permit,
    erc20.DOMAIN_SEPARATOR,
    erc20.eip712Domain,
)


#: While true, transfers fail by returning false.
fail: public(bool)


@deploy
def __init__(initial_supply: uint256):
    """
    @notice Mints `initial_supply` to the deployer.
    @param initial_supply The 32-byte amount.
    """
    ownable.__init__()
    erc20.__init__("Agora Token", "AGR", 18, "Agora Token", "1")
    erc20._mint(msg.sender, initial_supply)


@external
def set_fail(fail_: bool):
    """
    @notice Makes transfers fail (return false) or work again.
    @param fail_ True to fail.
    """
    self.fail = fail_


@external
def mint(to: address, amount: uint256):
    """
    @notice Mints `amount` to `to` (anyone may: a test token).
    @param to The 20-byte receiver.
    @param amount The 32-byte amount.
    """
    erc20._mint(to, amount)


@external
def transfer(to: address, amount: uint256) -> bool:
    """
    @notice ERC-20 `transfer`, or `false` (and nothing moved) while `fail` is set.
    @param to The 20-byte receiver.
    @param amount The 32-byte amount.
    @return bool Whether the tokens moved.
    """
    if self.fail:
        return False
    erc20._transfer(msg.sender, to, amount)
    return True


@external
def transferFrom(owner: address, to: address, amount: uint256) -> bool:
    """
    @notice ERC-20 `transferFrom`, or `false` (and nothing moved) while `fail` is set.
    @param owner The 20-byte owner.
    @param to The 20-byte receiver.
    @param amount The 32-byte amount.
    @return bool Whether the tokens moved.
    """
    if self.fail:
        return False
    erc20._spend_allowance(owner, msg.sender, amount)
    erc20._transfer(owner, to, amount)
    return True
