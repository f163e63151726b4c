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
        A model may also be paid by a plain token transfer (x402's `exact`
        scheme: an EIP-3009 `transferWithAuthorization` that anyone may
        submit) to its payee, a `ModelPayee` proxy that `create_payee`
        makes once per model; anyone may `sweep` what a payee holds into
        the model's pot.
@dev Money: token balance = sum over open channels of (deposit - claimed)
     + sum(pot) + sum(balance_of); the tokens a model's payee holds are
     owed to that model's pot and enter it (and this balance) on `sweep`.
     Claims are cheap because they do not
     split: a claim adds to the model's pot (one warm word per batch), and
     the split is applied once per distribution, exactly: every share but
     the first gets floor(amount x bps / 10,000), the first gets the rest,
     so the parts always add up to the wei.
     A claim must touch as little storage as possible, so the channel id
     itself carries what never changes, and one word what does:
       channel id: signer(160) | model(64) | sequence(32)
       word:       deposit(96) | claimed(96) | expiry(32) | nonce(32)
     (expiry 0: closed), plus the payer's address only when it differs
     from the signer. A claim reads and writes that one word.
     A cheque is valid while its amount and nonce exceed the last claimed
     ones and its amount is within the deposit; so a claimed cheque can
     never be replayed, and cheques never need to be claimed in order.
@custom:security Claims are open to anyone: the funds go only to the
     model's split, so a third party can only settle what the payer
     signed. The service may claim even after the expiry until the payer
     has taken the remainder back; a service that waits past the expiry
     races the payer, so the serving node claims before it.
     Sweeps are open to anyone too: a payee releases only to this
     contract, and a sweep only credits the payee's own model.
"""


from ethereum.ercs import IERC20

# @dev EIP-2612 `permit`, for `open_with_permit` (snekmate's interface).
from snekmate.tokens.interfaces import IERC20Permit

# @dev BPS and the masks of the channel word (constants only: no state,
# nothing to initialise).
from ..common import constants

# @dev Checked token movements (`_transfer_in`, `_transfer_out`); no state.
from ..common import transfers

# @dev The registry's `is_active` and `payees` (and its `Share`), as
# `ModelRegistry` implements them.
from ..common import IModelRegistry

# @dev Only for its interface (`setup`, `release`), to call the payees:
# its state lives in each payee proxy, so it is not initialised here.
from . import ModelPayee


# @dev The EIP-712 domain ("Agora PaymentChannels", "1", chain id, this
# contract), cached and rebuilt if the chain id changes (a fork).
from snekmate.utils import eip712_domain_separator
initializes: eip712_domain_separator

# @dev Expose EIP-5267 `eip712Domain()` so wallets can read the domain.
exports: eip712_domain_separator.eip712Domain


# A cheque as `claim_many` takes it: four words instead of six (the amount
# and nonce share a word; the signature is EIP-2098's compact (r, vs)).
struct PackedCheque:
    channel_id: uint256
    amount_nonce: uint256   # amount << 32 | nonce
    r: bytes32
    vs: bytes32             # (v - 27) << 255 | s


# --- constants ----------------------------------------------------------
CHEQUE_TYPEHASH: public(constant(bytes32)) = keccak256("Cheque(uint256 channelId,uint256 nonce,uint256 amount)")
MAX_BATCH: public(constant(uint256)) = 64
MAX_WITHDRAW_MODELS: public(constant(uint256)) = 32
# secp256k1n / 2: signatures with a higher s are malleable copies (EIP-2)
_LOW255: constant(uint256) = (1 << 255) - 1
# the word without its deposit / its claimed amount and nonce / its expiry
_NOT_DEPOSIT: constant(uint256) = constants.MASK160
_NOT_CLAIM: constant(uint256) = ~((constants.MASK96 << 64) | constants.MASK32)
_NOT_EXPIRY: constant(uint256) = ~(constants.MASK32 << 32)

# --- storage --------------------------------------------------------------
token: public(immutable(IERC20))
registry: public(immutable(IModelRegistry))
#: The `ModelPayee` implementation that every payee is a proxy of.
payee_impl: public(immutable(address))
#: The longest a channel may run (seconds from now at open or extend).
MAX_DURATION: public(constant(uint256)) = 366 * 86_400

_w: HashMap[uint256, uint256]        # the channel's word
_payer: HashMap[uint256, address]    # set only when payer != signer

#: Claimed revenue not yet split, by model.
pot: public(HashMap[uint256, uint256])
#: Split revenue a recipient may withdraw.
balance_of: public(HashMap[address, uint256])
#: How many channels were opened (the last sequence number).
channel_count: public(uint256)
#: The model's payee (its `payTo` for plain transfers), zero until created.
payee_of: public(HashMap[uint256, address])


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
    amount: uint256


# One per model per `claim_many` (a log per channel would cost 1.4k gas
# each; which channels moved is in the calldata and in their state).
event BatchClaimed:
    model_id: indexed(uint256)
    channels: uint256
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
    account: indexed(address)
    amount: uint256


event PayeeCreated:
    model_id: indexed(uint256)
    payee: address


event Swept:
    model_id: indexed(uint256)
    amount: uint256


@deploy
@payable
def __init__(token_: IERC20, registry_: IModelRegistry, payee_impl_: address):
    """
    @notice Creates the channel contract for one token and one registry.
    @param token_ The 20-byte ERC-20 that channels are funded in.
    @param registry_ The 20-byte `ModelRegistry`.
    @param payee_impl_ The 20-byte `ModelPayee` implementation that
           `create_payee` clones.
    """
    eip712_domain_separator.__init__("Agora PaymentChannels", "1")
    token = token_
    registry = registry_
    payee_impl = payee_impl_


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
    transfers._transfer_in(token, msg.sender, amount)
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
    transfers._transfer_in(token, msg.sender, amount)
    return channel_id


@external
def top_up(channel_id: uint256, amount: uint256):
    """
    @notice Adds `amount` to an open channel's deposit (anyone may; the
            unclaimed rest goes back to the payer).
    @param channel_id The 32-byte channel id.
    @param amount The 32-byte amount to add (approve first).
    """
    w: uint256 = self._w[channel_id]
    assert (w >> 32) & constants.MASK32 != 0, "PaymentChannels: channel not open"
    assert amount != 0, "PaymentChannels: zero amount"
    deposit: uint256 = (w >> 160) + amount
    assert deposit <= constants.MASK96, "PaymentChannels: deposit too large"
    self._w[channel_id] = (deposit << 160) | (w & _NOT_DEPOSIT)
    transfers._transfer_in(token, msg.sender, amount)
    log ChannelFunded(channel_id=channel_id, deposit=deposit, expiry=(w >> 32) & constants.MASK32)


@external
def extend(channel_id: uint256, expiry: uint256):
    """
    @notice Moves an open channel's expiry later (payer or signer only).
    @param channel_id The 32-byte channel id.
    @param expiry The 32-byte new expiry (later than the current one, at
           most MAX_DURATION from now).
    """
    w: uint256 = self._w[channel_id]
    old: uint256 = (w >> 32) & constants.MASK32
    assert old != 0, "PaymentChannels: channel not open"
    assert msg.sender == self._payer_of(channel_id) or msg.sender == convert(channel_id >> 96, address), "PaymentChannels: not the payer"
    assert expiry > old, "PaymentChannels: expiry must move later"
    # (and within its 32-bit field: unix time until 2106)
    assert expiry <= block.timestamp + MAX_DURATION and expiry <= constants.MASK32, "PaymentChannels: expiry too far"
    self._w[channel_id] = (w & _NOT_EXPIRY) | (expiry << 32)
    log ChannelFunded(channel_id=channel_id, deposit=w >> 160, expiry=expiry)


@external
def close(channel_id: uint256):
    """
    @notice After the expiry, returns the unclaimed rest to the payer and
            closes the channel for good (payer or signer only).
    @param channel_id The 32-byte channel id.
    """
    w: uint256 = self._w[channel_id]
    expiry: uint256 = (w >> 32) & constants.MASK32
    assert expiry != 0, "PaymentChannels: channel not open"
    payer: address = self._payer_of(channel_id)
    assert msg.sender == payer or msg.sender == convert(channel_id >> 96, address), "PaymentChannels: not the payer"
    assert block.timestamp > expiry, "PaymentChannels: channel not expired"
    claimed: uint256 = (w >> 64) & constants.MASK96
    refund: uint256 = (w >> 160) - claimed
    # deposit := claimed, expiry := 0: closed, and no cheque can ever be claimed again
    self._w[channel_id] = (claimed << 160) | (w & _NOT_DEPOSIT & _NOT_EXPIRY)
    if refund != 0:
        transfers._transfer_out(token, payer, refund)
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
def claim_many(cheques: DynArray[PackedCheque, MAX_BATCH]) -> uint256:
    """
    @notice Settles many channels' cheques in one transaction. Cheques that
            are already settled (amount or nonce not above the claimed one)
            or whose channel was closed are skipped, so a batch cannot be
            spoiled by a race; a bad signature or an amount above the
            deposit reverts the batch. Sorting cheques by model saves gas.
    @param cheques Up to 64 packed cheques: (channel id, amount << 32 |
           nonce, r, (v - 27) << 255 | s).
    @return uint256 The total newly claimed.
    """
    total: uint256 = 0
    run_model: uint256 = 0
    run: uint256 = 0
    count: uint256 = 0
    separator: bytes32 = eip712_domain_separator._domain_separator_v4()
    # The body is `_claim` inlined with the domain separator hoisted: a batch
    # is where gas per channel matters. Indexed, not `for c in cheques`,
    # which would copy the whole array into memory. The signature check is
    # `_claim`'s own (`_check_cheque`).
    for i: uint256 in range(len(cheques), bound=MAX_BATCH):
        channel_id: uint256 = cheques[i].channel_id
        an: uint256 = cheques[i].amount_nonce
        amount: uint256 = an >> 32
        nonce: uint256 = an & constants.MASK32
        w: uint256 = self._w[channel_id]
        claimed: uint256 = (w >> 64) & constants.MASK96
        # closed, or already settled: skip (a race must not spoil the batch)
        if (w >> 32) & constants.MASK32 == 0 or amount <= claimed or nonce <= w & constants.MASK32:
            continue
        assert amount <= w >> 160, "PaymentChannels: amount above deposit"
        vs: uint256 = convert(cheques[i].vs, uint256)
        self._check_cheque(separator, channel_id, nonce, amount, 27 + (vs >> 255), convert(cheques[i].r, uint256), vs & _LOW255)
        self._w[channel_id] = (w & _NOT_CLAIM) | (amount << 64) | nonce
        model_id: uint256 = (channel_id >> 32) & constants.MASK64
        if model_id != run_model:
            if run != 0:
                self.pot[run_model] += run
                log BatchClaimed(model_id=run_model, channels=count, amount=run)
            run_model = model_id
            run = 0
            count = 0
        delta: uint256 = amount - claimed
        run += delta
        count += 1
        total += delta
    if run != 0:
        self.pot[run_model] += run
        log BatchClaimed(model_id=run_model, channels=count, amount=run)
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
    transfers._transfer_out(token, msg.sender, amount)
    log Withdrawn(account=msg.sender, amount=amount)
    return amount


# --- plain transfers (x402 `exact`) ---------------------------------------------
@external
def create_payee(model_id: uint256) -> address:
    """
    @notice Creates the model's payee, the address that plain token
            transfers to the model go to (anyone may; the model must be
            active). Returns the existing payee if there is one.
    @dev An EIP-1167 proxy of `payee_impl`, created with CREATE2 and the
         model id as salt (its address is known before it exists; tokens
         sent there early are swept once it does), bound to this contract
         by `setup` in the same transaction.
    @param model_id The 32-byte id of an active model.
    @return address The 20-byte payee.
    """
    payee: address = self.payee_of[model_id]
    if payee != empty(address):
        return payee
    assert staticcall registry.is_active(model_id), "PaymentChannels: model not active"
    payee = create_minimal_proxy_to(payee_impl, salt=convert(model_id, bytes32))
    extcall ModelPayee.__at__(payee).setup()
    self.payee_of[model_id] = payee
    log PayeeCreated(model_id=model_id, payee=payee)
    return payee


@external
def sweep(model_ids: DynArray[uint256, MAX_WITHDRAW_MODELS]) -> uint256:
    """
    @notice Moves what the models' payees hold into the models' pots
            (anyone may). A model without a payee, or whose payee holds
            nothing, is skipped.
    @param model_ids Up to 32 model ids.
    @return uint256 The total swept.
    """
    total: uint256 = 0
    for m: uint256 in model_ids:
        payee: address = self.payee_of[m]
        if payee == empty(address):
            continue
        # the payee is our own code and sends with the checked transfer: its answer is what came in
        amount: uint256 = extcall ModelPayee.__at__(payee).release(token)
        if amount != 0:
            self.pot[m] += amount
            total += amount
            log Swept(model_id=m, amount=amount)
    return total


# --- views ----------------------------------------------------------------------
@external
@view
def channel(channel_id: uint256) -> (address, address, uint256, uint256, uint256, uint256, uint256):
    """
    @notice A channel's state.
    @param channel_id The 32-byte channel id.
    @return payer, signer, model id, deposit, claimed, last claimed nonce,
            expiry (0 once closed). All zero for an unknown id. (The
            signer and the model id are also bits of the id itself.)
    """
    w: uint256 = self._w[channel_id]
    if w == 0:
        return empty(address), empty(address), 0, 0, 0, 0, 0
    return (
        self._payer_of(channel_id), convert(channel_id >> 96, address), (channel_id >> 32) & constants.MASK64,
        w >> 160, (w >> 64) & constants.MASK96, w & constants.MASK32, (w >> 32) & constants.MASK32,
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
    return eip712_domain_separator._hash_typed_data_v4(
        keccak256(abi_encode(CHEQUE_TYPEHASH, channel_id, nonce, amount))
    )


# --- internals ------------------------------------------------------------------
@internal
def _open(model_id: uint256, amount: uint256, expiry: uint256, signer: address) -> uint256:
    assert staticcall registry.is_active(model_id), "PaymentChannels: model not active"
    assert amount != 0, "PaymentChannels: zero amount"
    assert amount <= constants.MASK96, "PaymentChannels: deposit too large"
    assert model_id <= constants.MASK64, "PaymentChannels: model id too large"
    assert expiry > block.timestamp, "PaymentChannels: expiry in the past"
    # (and within its 32-bit field: unix time until 2106)
    assert expiry <= block.timestamp + MAX_DURATION and expiry <= constants.MASK32, "PaymentChannels: expiry too far"
    key: address = signer
    if key == empty(address):
        key = msg.sender
    seq: uint256 = self.channel_count + 1
    assert seq <= constants.MASK32, "PaymentChannels: too many channels"
    self.channel_count = seq
    channel_id: uint256 = (convert(key, uint256) << 96) | (model_id << 32) | seq
    self._w[channel_id] = (amount << 160) | (expiry << 32)
    if key != msg.sender:
        self._payer[channel_id] = msg.sender
    log ChannelOpened(channel_id=channel_id, payer=msg.sender, model_id=model_id, signer=key, deposit=amount, expiry=expiry)
    return channel_id


@internal
@view
def _payer_of(channel_id: uint256) -> address:
    payer: address = self._payer[channel_id]
    if payer == empty(address):
        return convert(channel_id >> 96, address)
    return payer


@internal
@pure
def _check_cheque(separator: bytes32, channel_id: uint256, nonce: uint256, amount: uint256, v: uint256, r: uint256, s: uint256):
    """Reverts unless (v, r, s) is the channel signer's EIP-712 signature of the cheque (the
    signer is the id's top 160 bits); a high s (a malleable copy, EIP-2) is refused. `claim`
    and `claim_many` both check cheques here. (The digest is built in place, not by a helper:
    `claim_many` runs this per channel, and a nested call costs gas each time.)"""
    assert s <= constants.HALF_N, "PaymentChannels: bad signature"
    digest: bytes32 = keccak256(concat(x"1901", separator, keccak256(abi_encode(CHEQUE_TYPEHASH, channel_id, nonce, amount))))
    signer: address = ecrecover(digest, v, r, s)
    assert signer != empty(address) and signer == convert(channel_id >> 96, address), "PaymentChannels: bad signature"


@internal
def _claim(channel_id: uint256, nonce: uint256, amount: uint256, v: uint8, r: bytes32, s: bytes32, strict: bool) -> (uint256, uint256):
    w: uint256 = self._w[channel_id]
    claimed: uint256 = (w >> 64) & constants.MASK96
    if (w >> 32) & constants.MASK32 == 0:
        assert not strict, "PaymentChannels: channel not open"
        return 0, 0
    if amount <= claimed or nonce <= w & constants.MASK32:
        assert not strict, "PaymentChannels: cheque already claimed"
        return 0, 0
    assert amount <= w >> 160, "PaymentChannels: amount above deposit"
    assert nonce <= constants.MASK32, "PaymentChannels: nonce too large"
    self._check_cheque(
        eip712_domain_separator._domain_separator_v4(), channel_id, nonce, amount,
        convert(v, uint256), convert(r, uint256), convert(s, uint256),
    )
    self._w[channel_id] = (w & _NOT_CLAIM) | (amount << 64) | nonce
    log Claimed(channel_id=channel_id, amount=amount)
    return (channel_id >> 32) & constants.MASK64, amount - claimed


@internal
def _distribute(model_id: uint256) -> uint256:
    amount: uint256 = self.pot[model_id]
    if amount == 0:
        return 0
    self.pot[model_id] = 0
    shares: DynArray[IModelRegistry.Share, constants.MAX_SHARES] = staticcall registry.payees(model_id)
    rest: uint256 = amount
    # every share but the first gets floor(amount * bps / BPS); the first gets the rest
    for i: uint256 in range(1, constants.MAX_SHARES):
        if i >= len(shares):
            break
        part: uint256 = amount * shares[i].bps // constants.BPS
        rest -= part
        if part != 0:
            self.balance_of[shares[i].recipient] += part
            log Credited(recipient=shares[i].recipient, model_id=model_id, amount=part)
    self.balance_of[shares[0].recipient] += rest
    log Credited(recipient=shares[0].recipient, model_id=model_id, amount=rest)
    log Distributed(model_id=model_id, amount=amount)
    return amount
