# pragma version ~=0.4.3
# pragma nonreentrancy off
"""
@title A token whose transfers return nothing (tests only)
@custom:contract-name SilentToken
@license AGPL-3.0-only
@notice Like USDT: `transfer` and `transferFrom` revert on failure and
        return no data on success. The contracts must take empty return
        data as success (as OpenZeppelin's `SafeERC20` does).
"""


balanceOf: public(HashMap[address, uint256])
allowance: public(HashMap[address, HashMap[address, uint256]])


@external
def mint(to: address, amount: uint256):
    """
    @notice Mints `amount` to `to` (anyone may: a test token).
    @param to The 20-byte receiver.
    @param amount The 32-byte amount.
    """
    self.balanceOf[to] += amount


@external
def approve(spender: address, amount: uint256) -> bool:
    """
    @notice Lets `spender` move `amount` of the caller's tokens.
    @param spender The 20-byte spender.
    @param amount The 32-byte allowance.
    @return bool True.
    """
    self.allowance[msg.sender][spender] = amount
    return True


@external
def transfer(to: address, amount: uint256):
    """
    @notice Moves `amount` to `to`; reverts on failure, returns nothing.
    @param to The 20-byte receiver.
    @param amount The 32-byte amount.
    """
    self.balanceOf[msg.sender] -= amount
    self.balanceOf[to] += amount


@external
def transferFrom(owner: address, to: address, amount: uint256):
    """
    @notice Moves `amount` from `owner` to `to` under the caller's
            allowance; reverts on failure, returns nothing.
    @param owner The 20-byte owner.
    @param to The 20-byte receiver.
    @param amount The 32-byte amount.
    """
    self.allowance[owner][msg.sender] -= amount
    self.balanceOf[owner] -= amount
    self.balanceOf[to] += amount
