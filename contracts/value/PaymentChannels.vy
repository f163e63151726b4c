# pragma version ~=0.4.3
# pragma nonreentrancy off
"""
@title Agora payment channels
@custom:contract-name PaymentChannels
@license AGPL-3.0-only
@notice One-way channels from a payer to a registered model. The payer
        escrows tokens once; every paid call is then paid off-chain with
        a cheque: EIP-712 typed data `Cheque(channelId, nonce, amount)`
        where `amount` is the running total the payer owes, signed by the
        channel's signer (any wallet's `eth_signTypedData_v4`). Anyone may
        submit the latest cheque (`claim`, or `claim_many` for many
        channels in one transaction); the money can only go one way: into
        the model's revenue pot, which `distribute` splits by the model's
        registered split into balances that recipients `withdraw`. After
        the expiry the payer takes back what was never claimed.
@dev Money: token balance = sum over open channels of (deposit - claimed)
     + sum(pot) + sum(balance_of). Claims are cheap because they do not
     split: a claim adds to the model's pot (one warm word per batch), and
     the split is applied once per distribution, exactly: every share but
     the first gets floor(amount x bps / 10,000), the first gets the rest,
     so the parts always add up to the wei.
     A channel is two words (Vyper gives every value its own slot, so we
     pack by hand):
       word A: signer(160) | model(64) | expiry(32)    (expiry 0: closed)
       word B: deposit(96) | claimed(96) | nonce(64)
     plus the payer's address only when it differs from the signer.
     A cheque is valid while its amount and nonce exceed the last claimed
     ones and its amount is within the deposit; so a claimed cheque can
     never be replayed, and cheques never need to be claimed in order.
@custom:security Claims are open to anyone: the funds go only to the
     model's split, so a third party can only settle what the payer
     signed. The service may claim even after the expiry until the payer
     has taken the remainder back; a service that waits past the expiry
     races the payer, so the serving node claims before it.
"""


from ethereum.ercs import IERC20


interface IERC20Permit:
    def permit(owner: address, spender: address, amount: uint256, deadline: uint256, v: uint8, r: bytes32, s: bytes32): nonpayable


struct Share:
    recipient: address
    bps: uint256


interface IModelRegistry:
    def is_active(model_id: uint256) -> bool: view
    def payees(model_id: uint256) -> DynArray[Share, 8]: view


# @dev The EIP-712 domain ("Agora PaymentChannels", "1", chain id, this
# contract), cached and rebuilt if the chain id changes (a fork).
from snekmate.utils import eip712_domain_separator
initializes: eip712_domain_separator

# @dev Expose EIP-5267 `eip712Domain()` so wallets can read the domain.
exports: eip712_domain_separator.eip712Domain


struct Cheque:
    channel_id: uint256
    nonce: uint256
    amount: uint256
    v: uint8
    r: bytes32
    s: bytes32


# --- constants ----------------------------------------------------------
CHEQUE_TYPEHASH: public(constant(bytes32)) = keccak256("Cheque(uint256 channelId,uint256 nonce,uint256 amount)")
MAX_BATCH: public(constant(uint256)) = 512
MAX_WITHDRAW_MODELS: public(constant(uint256)) = 32
BPS: constant(uint256) = 10_000
# secp256k1n / 2: signatures with a higher s are malleable copies (EIP-2)
_HALF_N: constant(uint256) = 57896044618658097711785492504343953926418782139537452191302581570759080747168
_MASK32: constant(uint256) = (1 << 32) - 1
_MASK64: constant(uint256) = (1 << 64) - 1
_MASK96: constant(uint256) = (1 << 96) - 1
_MASK160: constant(uint256) = (1 << 160) - 1

# --- storage --------------------------------------------------------------
token: public(immutable(IERC20))
registry: public(immutable(IModelRegistry))
#: The longest a channel may run (seconds from now at open or extend).
MAX_DURATION: public(constant(uint256)) = 366 * 86_400

_a: HashMap[uint256, uint256]        # word A
_b: HashMap[uint256, uint256]        # word B
_payer: HashMap[uint256, address]    # set only when payer != signer

#: Claimed revenue not yet split, by model.
pot: public(HashMap[uint256, uint256])
#: Split revenue a recipient may withdraw.
balance_of: public(HashMap[address, uint256])
#: The id the next channel gets (ids start at 1).
next_id: public(uint256)


# --- events ---------------------------------------------------------------
event ChannelOpened:
    channel_id: indexed(uint256)
    payer: indexed(address)
    model_id: indexed(uint256)
    signer: address
    deposit: uint256
    expiry: uint256


event ChannelFunded:
    channel_id: indexed(uint256)
    deposit: uint256
    expiry: uint256


event Claimed:
    channel_id: indexed(uint256)
    nonce: uint256
    amount: uint256


event ChannelClosed:
    channel_id: indexed(uint256)
    refund: uint256


event Distributed:
    model_id: indexed(uint256)
    amount: uint256


event Credited:
    recipient: indexed(address)
    model_id: indexed(uint256)
    amount: uint256


event Withdrawn:
    recipient: indexed(address)
    amount: uint256


@deploy
@payable
def __init__(token_: IERC20, registry_: IModelRegistry):
    """
    @notice Creates the channel contract for one token and one registry.
    @param token_ The 20-byte ERC-20 that channels are funded in.
    @param registry_ The 20-byte `ModelRegistry`.
    """
    eip712_domain_separator.__init__("Agora PaymentChannels", "1")
    token = token_
    registry = registry_
    self.next_id = 1


# --- payer side -------------------------------------------------------------
@external
def open(model_id: uint256, amount: uint256, expiry: uint256, signer: address) -> uint256:
    """
    @notice Opens a channel to `model_id`, escrowing `amount` (approve first).
    @param model_id The 32-byte id of an active model.
    @param amount The 32-byte deposit (> 0, < 2**96).
    @param expiry The 32-byte time after which the payer may take back the
           unclaimed rest (in the future, at most MAX_DURATION away).
    @param signer The 20-byte key that signs cheques (zero: the caller).
    @return uint256 The channel id.
    """
    channel_id: uint256 = self._open(model_id, amount, expiry, signer)
    extcall token.transferFrom(msg.sender, self, amount)
    return channel_id


@external
def open_with_permit(
    model_id: uint256, amount: uint256, expiry: uint256, signer: address,
    deadline: uint256, v: uint8, r: bytes32, s: bytes32,
) -> uint256:
    """
    @notice Like `open`, with an EIP-2612 permit instead of an approval
            (one transaction for a wallet that holds only tokens).
    @param model_id The 32-byte id of an active model.
    @param amount The 32-byte deposit.
    @param expiry The 32-byte expiry time.
    @param signer The 20-byte cheque signer (zero: the caller).
    @param deadline The 32-byte permit deadline.
    @param v The 1-byte secp256k1 v of the permit.
    @param r The 32-byte secp256k1 r.
    @param s The 32-byte secp256k1 s.
    @return uint256 The channel id.
    """
    extcall IERC20Permit(token.address).permit(msg.sender, self, amount, deadline, v, r, s)
    channel_id: uint256 = self._open(model_id, amount, expiry, signer)
    extcall token.transferFrom(msg.sender, self, amount)
    return channel_id


@external
def top_up(channel_id: uint256, amount: uint256):
    """
    @notice Adds `amount` to an open channel's deposit (anyone may; the
            unclaimed rest goes back to the payer).
    @param channel_id The 32-byte channel id.
    @param amount The 32-byte amount to add (approve first).
    """
    a: uint256 = self._a[channel_id]
    assert a & _MASK32 != 0, "PaymentChannels: channel not open"
    assert amount != 0, "PaymentChannels: zero amount"
    b: uint256 = self._b[channel_id]
    deposit: uint256 = (b >> 160) + amount
    assert deposit <= _MASK96, "PaymentChannels: deposit too large"
    self._b[channel_id] = (deposit << 160) | (b & ((1 << 160) - 1))
    extcall token.transferFrom(msg.sender, self, amount)
    log ChannelFunded(channel_id=channel_id, deposit=deposit, expiry=a & _MASK32)


@external
def extend(channel_id: uint256, expiry: uint256):
    """
    @notice Moves an open channel's expiry later (payer or signer only).
    @param channel_id The 32-byte channel id.
    @param expiry The 32-byte new expiry (later than the current one, at
           most MAX_DURATION from now).
    """
    a: uint256 = self._a[channel_id]
    old: uint256 = a & _MASK32
    assert old != 0, "PaymentChannels: channel not open"
    assert msg.sender == self._payer_of(channel_id, a) or msg.sender == convert(a >> 96, address), "PaymentChannels: not the payer"
    assert expiry > old, "PaymentChannels: expiry must move later"
    assert expiry <= block.timestamp + MAX_DURATION, "PaymentChannels: expiry too far"
    self._a[channel_id] = (a & ~_MASK32) | expiry
    log ChannelFunded(channel_id=channel_id, deposit=self._b[channel_id] >> 160, expiry=expiry)


@external
def close(channel_id: uint256):
    """
    @notice After the expiry, returns the unclaimed rest to the payer and
            closes the channel for good (payer or signer only).
    @param channel_id The 32-byte channel id.
    """
    a: uint256 = self._a[channel_id]
    expiry: uint256 = a & _MASK32
    assert expiry != 0, "PaymentChannels: channel not open"
    payer: address = self._payer_of(channel_id, a)
    assert msg.sender == payer or msg.sender == convert(a >> 96, address), "PaymentChannels: not the payer"
    assert block.timestamp > expiry, "PaymentChannels: channel not expired"
    b: uint256 = self._b[channel_id]
    claimed: uint256 = (b >> 64) & _MASK96
    refund: uint256 = (b >> 160) - claimed
    self._a[channel_id] = a & ~_MASK32
    self._b[channel_id] = (claimed << 160) | (b & ((1 << 160) - 1))
    if refund != 0:
        extcall token.transfer(payer, refund)
    log ChannelClosed(channel_id=channel_id, refund=refund)


# --- service side -------------------------------------------------------------
@external
def claim(channel_id: uint256, nonce: uint256, amount: uint256, v: uint8, r: bytes32, s: bytes32) -> uint256:
    """
    @notice Settles a cheque: what it adds over the last claimed cheque
            goes to the model's pot. Anyone may submit it.
    @param channel_id The 32-byte channel id.
    @param nonce The 32-byte cheque nonce (above the last claimed one).
    @param amount The 32-byte running total (above the last claimed one,
           within the deposit).
    @param v The 1-byte secp256k1 v of the signer's EIP-712 signature.
    @param r The 32-byte secp256k1 r.
    @param s The 32-byte secp256k1 s.
    @return uint256 The amount newly claimed.
    """
    model_id: uint256 = 0
    delta: uint256 = 0
    model_id, delta = self._claim(channel_id, nonce, amount, v, r, s, True)
    self.pot[model_id] += delta
    return delta


@external
def claim_many(cheques: DynArray[Cheque, MAX_BATCH]) -> uint256:
    """
    @notice Settles many channels' cheques in one transaction. Cheques that
            are already settled (amount or nonce not above the claimed one)
            or whose channel was closed are skipped, so a batch cannot be
            spoiled by a race; a bad signature or an amount above the
            deposit reverts the batch. Sorting cheques by model saves gas.
    @param cheques Up to 512 (channel id, nonce, amount, v, r, s).
    @return uint256 The total newly claimed.
    """
    total: uint256 = 0
    run_model: uint256 = 0
    run: uint256 = 0
    for c: Cheque in cheques:
        model_id: uint256 = 0
        delta: uint256 = 0
        model_id, delta = self._claim(c.channel_id, c.nonce, c.amount, c.v, c.r, c.s, False)
        if delta == 0:
            continue
        if model_id != run_model:
            if run != 0:
                self.pot[run_model] += run
            run_model = model_id
            run = 0
        run += delta
        total += delta
    if run != 0:
        self.pot[run_model] += run
    return total


# --- revenue ------------------------------------------------------------------
@external
def distribute(model_id: uint256) -> uint256:
    """
    @notice Splits the model's pot into its recipients' balances by the
            registered split (anyone may call).
    @param model_id The 32-byte model id.
    @return uint256 The amount distributed.
    """
    return self._distribute(model_id)


@external
def withdraw(model_ids: DynArray[uint256, MAX_WITHDRAW_MODELS]) -> uint256:
    """
    @notice Distributes the given models' pots, then pays the caller's
            whole balance.
    @param model_ids Up to 32 model ids to distribute first (may be empty).
    @return uint256 The amount paid.
    """
    for m: uint256 in model_ids:
        self._distribute(m)
    amount: uint256 = self.balance_of[msg.sender]
    assert amount != 0, "PaymentChannels: nothing to withdraw"
    self.balance_of[msg.sender] = 0
    extcall token.transfer(msg.sender, amount)
    log Withdrawn(recipient=msg.sender, amount=amount)
    return amount


# --- views ----------------------------------------------------------------------
@external
@view
def channel(channel_id: uint256) -> (address, address, uint256, uint256, uint256, uint256, uint256):
    """
    @notice A channel's state.
    @param channel_id The 32-byte channel id.
    @return payer, signer, model id, deposit, claimed, last claimed nonce,
            expiry (0 once closed). All zero for an unknown id.
    """
    a: uint256 = self._a[channel_id]
    b: uint256 = self._b[channel_id]
    return (
        self._payer_of(channel_id, a), convert(a >> 96, address), (a >> 32) & _MASK64,
        b >> 160, (b >> 64) & _MASK96, b & _MASK64, a & _MASK32,
    )


@external
@view
def DOMAIN_SEPARATOR() -> bytes32:
    """
    @notice The EIP-712 domain separator of cheques on this chain.
    @return bytes32 The 32-byte domain separator.
    """
    return eip712_domain_separator._domain_separator_v4()


@external
@view
def cheque_digest(channel_id: uint256, nonce: uint256, amount: uint256) -> bytes32:
    """
    @notice The EIP-712 digest a signer signs for this cheque.
    @param channel_id The 32-byte channel id.
    @param nonce The 32-byte nonce.
    @param amount The 32-byte running total.
    @return bytes32 The 32-byte digest.
    """
    return self._cheque_digest(channel_id, nonce, amount)


# --- internals ------------------------------------------------------------------
@internal
def _open(model_id: uint256, amount: uint256, expiry: uint256, signer: address) -> uint256:
    assert staticcall registry.is_active(model_id), "PaymentChannels: model not active"
    assert amount != 0, "PaymentChannels: zero amount"
    assert amount <= _MASK96, "PaymentChannels: deposit too large"
    assert model_id <= _MASK64, "PaymentChannels: model id too large"
    assert expiry > block.timestamp, "PaymentChannels: expiry in the past"
    assert expiry <= block.timestamp + MAX_DURATION, "PaymentChannels: expiry too far"
    key: address = signer
    if key == empty(address):
        key = msg.sender
    channel_id: uint256 = self.next_id
    self.next_id = channel_id + 1
    self._a[channel_id] = (convert(key, uint256) << 96) | (model_id << 32) | expiry
    self._b[channel_id] = amount << 160
    if key != msg.sender:
        self._payer[channel_id] = msg.sender
    log ChannelOpened(channel_id=channel_id, payer=msg.sender, model_id=model_id, signer=key, deposit=amount, expiry=expiry)
    return channel_id


@internal
@view
def _payer_of(channel_id: uint256, a: uint256) -> address:
    payer: address = self._payer[channel_id]
    if payer == empty(address):
        return convert(a >> 96, address)
    return payer


@internal
@view
def _cheque_digest(channel_id: uint256, nonce: uint256, amount: uint256) -> bytes32:
    return eip712_domain_separator._hash_typed_data_v4(
        keccak256(abi_encode(CHEQUE_TYPEHASH, channel_id, nonce, amount))
    )


@internal
def _claim(channel_id: uint256, nonce: uint256, amount: uint256, v: uint8, r: bytes32, s: bytes32, strict: bool) -> (uint256, uint256):
    a: uint256 = self._a[channel_id]
    b: uint256 = self._b[channel_id]
    claimed: uint256 = (b >> 64) & _MASK96
    if a & _MASK32 == 0:
        assert not strict, "PaymentChannels: channel not open"
        return 0, 0
    if amount <= claimed or nonce <= b & _MASK64:
        assert not strict, "PaymentChannels: cheque already claimed"
        return 0, 0
    assert amount <= b >> 160, "PaymentChannels: amount above deposit"
    assert nonce <= _MASK64, "PaymentChannels: nonce too large"
    assert convert(s, uint256) <= _HALF_N, "PaymentChannels: bad signature"
    signer: address = ecrecover(self._cheque_digest(channel_id, nonce, amount), v, r, s)
    assert signer != empty(address) and signer == convert(a >> 96, address), "PaymentChannels: bad signature"
    self._b[channel_id] = (b & ~((_MASK96 << 64) | _MASK64)) | (amount << 64) | nonce
    log Claimed(channel_id=channel_id, nonce=nonce, amount=amount)
    return (a >> 32) & _MASK64, amount - claimed


@internal
def _distribute(model_id: uint256) -> uint256:
    amount: uint256 = self.pot[model_id]
    if amount == 0:
        return 0
    self.pot[model_id] = 0
    shares: DynArray[Share, 8] = staticcall registry.payees(model_id)
    rest: uint256 = amount
    # every share but the first gets floor(amount * bps / BPS); the first gets the rest
    for i: uint256 in range(1, 8):
        if i >= len(shares):
            break
        part: uint256 = amount * shares[i].bps // BPS
        rest -= part
        if part != 0:
            self.balance_of[shares[i].recipient] += part
            log Credited(recipient=shares[i].recipient, model_id=model_id, amount=part)
    self.balance_of[shares[0].recipient] += rest
    log Credited(recipient=shares[0].recipient, model_id=model_id, amount=rest)
    log Distributed(model_id=model_id, amount=amount)
    return amount
