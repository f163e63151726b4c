# pragma version ~=0.4.3
# pragma nonreentrancy off
"""
@title Agora datatoken
@custom:contract-name Datatoken
@license AGPL-3.0-only
@notice The usage right of one dataset: an ERC-20 of which one whole token
        (10**18 units) buys one order of the dataset (`DataRegistry.order`
        burns it). Only the `DataRegistry` that created it mints and burns.
@dev Deployed once as an implementation; `DataRegistry.publish` makes one
     EIP-1167 minimal proxy of it per dataset (45 bytes of code) and calls
     `initialize` in the same transaction, so no one can initialise a
     datatoken before its registry does. snekmate's ERC-20 keeps its name,
     symbol and EIP-712 domain in immutables, which a proxy cannot have:
     this is a small hand-written ERC-20 instead. Storage is packed so that
     `initialize` writes three words and a burn touches two:
       word 0: registry(160) | total supply(96)
       word 1: the name (up to 32 bytes, left-aligned)
       word 2: symbol (up to 16 bytes, left-aligned: the high 128 bits) |
               dataset id(64) | name length(8) | symbol length(8)
     The implementation initialises itself in its constructor (registry =
     itself), so it can never be initialised by anyone else.
@custom:security The total supply is kept in 96 bits (7.9e28 units, 79
     billion whole datatokens); a mint beyond it reverts.
"""


from ethereum.ercs import IERC20
implements: IERC20

# @dev The masks of the packed words (constants only; no state).
from ..common import constants


# --- constants ------------------------------------------------------------
decimals: public(constant(uint8)) = 18
MAX_NAME: public(constant(uint256)) = 32
MAX_SYMBOL: public(constant(uint256)) = 16


# --- storage --------------------------------------------------------------
_w0: uint256        # registry(160) | total supply(96)
_name: bytes32      # left-aligned
_w2: uint256        # symbol(128) | dataset(64) | name length(8) | symbol length(8)

#: Balances (ERC-20).
balanceOf: public(HashMap[address, uint256])
#: Allowances (ERC-20).
allowance: public(HashMap[address, HashMap[address, uint256]])


# --- events (ERC-20) --------------------------------------------------------
event Transfer:
    sender: indexed(address)
    receiver: indexed(address)
    value: uint256


event Approval:
    owner: indexed(address)
    spender: indexed(address)
    value: uint256


@deploy
@payable
def __init__():
    """
    @notice Deploys the implementation that datatokens are proxies of; it
            binds itself to itself, so it can never be initialised.
            Proxies do not run this constructor.
    """
    self._w0 = convert(self, uint256) << 96


@external
def initialize(name_: String[32], symbol_: String[16], registry_: address, dataset_id_: uint256):
    """
    @notice Names the datatoken and binds it to its registry and dataset,
            once (the registry calls it in the transaction that creates the
            proxy).
    @param name_ The token name (up to 32 bytes).
    @param symbol_ The token symbol (up to 16 bytes).
    @param registry_ The 20-byte `DataRegistry`, the only minter and burner.
    @param dataset_id_ The 32-byte dataset id (< 2**64).
    """
    assert self._w0 == 0, "Datatoken: already initialized"
    assert registry_ != empty(address), "Datatoken: zero registry"
    assert dataset_id_ <= constants.MASK64, "Datatoken: dataset id too large"
    self._w0 = convert(registry_, uint256) << 96
    if len(name_) != 0:
        self._name = convert(convert(name_, Bytes[32]), bytes32)
    sym: uint256 = 0
    if len(symbol_) != 0:
        sym = convert(convert(convert(symbol_, Bytes[32]), bytes32), uint256)
    self._w2 = sym | (dataset_id_ << 64) | (len(name_) << 8) | len(symbol_)


# --- ERC-20 ---------------------------------------------------------------------
@external
def transfer(to: address, amount: uint256) -> bool:
    """
    @notice Moves `amount` of the caller's tokens to `to`.
    @param to The 20-byte recipient (not zero).
    @param amount The 32-byte amount.
    @return bool True (failures revert).
    """
    self._transfer(msg.sender, to, amount)
    return True


@external
def transferFrom(owner: address, to: address, amount: uint256) -> bool:
    """
    @notice Moves `amount` of `owner`'s tokens to `to`, within the
            caller's allowance (an unlimited allowance is not reduced).
    @param owner The 20-byte holder.
    @param to The 20-byte recipient (not zero).
    @param amount The 32-byte amount.
    @return bool True (failures revert).
    """
    allowed: uint256 = self.allowance[owner][msg.sender]
    if allowed != max_value(uint256):
        assert allowed >= amount, "Datatoken: insufficient allowance"
        self.allowance[owner][msg.sender] = allowed - amount
    self._transfer(owner, to, amount)
    return True


@external
def approve(spender: address, amount: uint256) -> bool:
    """
    @notice Lets `spender` move up to `amount` of the caller's tokens.
    @param spender The 20-byte spender.
    @param amount The 32-byte allowance (max uint256: unlimited).
    @return bool True.
    """
    self.allowance[msg.sender][spender] = amount
    log Approval(owner=msg.sender, spender=spender, value=amount)
    return True


# --- registry only ----------------------------------------------------------------
@external
def mint(to: address, amount: uint256):
    """
    @notice Creates `amount` tokens for `to` (the registry only).
    @param to The 20-byte recipient (not zero).
    @param amount The 32-byte amount.
    """
    w: uint256 = self._w0
    assert msg.sender == convert(w >> 96, address), "Datatoken: not the registry"
    assert to != empty(address), "Datatoken: mint to the zero address"
    supply: uint256 = (w & constants.MASK96) + amount
    assert supply <= constants.MASK96, "Datatoken: supply too large"
    self._w0 = (w & ~constants.MASK96) | supply
    self.balanceOf[to] += amount
    log Transfer(sender=empty(address), receiver=to, value=amount)


@external
def burn(owner: address, amount: uint256):
    """
    @notice Destroys `amount` of `owner`'s tokens (the registry only: an
            order spends one datatoken of its payer).
    @param owner The 20-byte holder.
    @param amount The 32-byte amount.
    """
    w: uint256 = self._w0
    assert msg.sender == convert(w >> 96, address), "Datatoken: not the registry"
    balance: uint256 = self.balanceOf[owner]
    assert balance >= amount, "Datatoken: burn amount exceeds balance"
    self.balanceOf[owner] = balance - amount
    self._w0 = w - amount
    log Transfer(sender=owner, receiver=empty(address), value=amount)


# --- views ----------------------------------------------------------------------
@external
@view
def totalSupply() -> uint256:
    """
    @notice The tokens in existence.
    @return uint256 The 32-byte total supply.
    """
    return self._w0 & constants.MASK96


@external
@view
def name() -> String[32]:
    """
    @notice The token name.
    @return String The name.
    """
    n: uint256 = (self._w2 >> 8) & constants.MASK8
    return convert(slice(self._name, 0, n), String[32])


@external
@view
def symbol() -> String[16]:
    """
    @notice The token symbol.
    @return String The symbol.
    """
    w: uint256 = self._w2
    sym: bytes32 = convert(w & ~constants.MASK128, bytes32)
    return convert(slice(sym, 0, w & constants.MASK8), String[16])


@external
@view
def registry() -> address:
    """
    @notice The `DataRegistry` that mints and burns this token.
    @return address The 20-byte registry (this contract itself for the
            implementation; zero for a proxy not yet initialised).
    """
    return convert(self._w0 >> 96, address)


@external
@view
def dataset_id() -> uint256:
    """
    @notice The dataset this token is the usage right of.
    @return uint256 The 32-byte dataset id.
    """
    return (self._w2 >> 64) & constants.MASK64


# --- internals --------------------------------------------------------------------
@internal
def _transfer(owner: address, to: address, amount: uint256):
    assert to != empty(address), "Datatoken: transfer to the zero address"
    balance: uint256 = self.balanceOf[owner]
    assert balance >= amount, "Datatoken: transfer amount exceeds balance"
    self.balanceOf[owner] = balance - amount
    self.balanceOf[to] += amount
    log Transfer(sender=owner, receiver=to, value=amount)
