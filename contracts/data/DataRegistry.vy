# pragma version ~=0.4.3
# pragma nonreentrancy off
"""
@title Agora data registry
@custom:contract-name DataRegistry
@license AGPL-3.0-only
@notice Every dataset is an ERC-721 token (its ownership) with its own
        ERC-20 datatoken (its usage rights). `publish` does it all in one
        transaction: mints the dataset token, records the card digest (the
        CIDv1 digest of the dataset card) and the content hash, fixes the
        revenue split, creates the datatoken, mints an initial supply and
        sets the pricing (a fixed price in any ERC-20, and/or a free
        dispenser with a per-address cap).
        Every use is paid and recorded: `order` burns exactly one datatoken
        (10**18 units) of the payer and records who may use which service
        until when (`order_valid`, readable on chain); it pays the access
        node's fee as quoted in an EIP-712 `Quote` the node signed, the
        dataset's market fee, and the protocol fee. `buy_and_order` buys
        and orders in one transaction with an EIP-2612 permit.
        Sales go into the dataset's pot; `distribute` splits a pot by the
        dataset's split into balances that recipients `withdraw` (pull).
        A split entry with the zero address stands for "whoever owns the
        dataset token": transferring the token first distributes the pot
        (what was earned stays with the old owner) and then moves the
        owner's future share, and it clears the manager and metadata
        updater roles.
@dev Ids start at 1. Datatokens are minted on `buy` and `dispense` (no
     stock held here). `buy_and_order` neither mints nor burns: the token
     it would mint is the one the order spends.
     Money: for every ERC-20 `t`, t.balanceOf(this) = sum(pot[*][t]) +
     sum(earnings[*][t]). The provider and market fees go straight from
     the payer to their recipients; the protocol fee is credited to the
     fee recipient's `earnings`.
     Storage is packed so that an order reads two words and writes two:
       _hot[id]:    datatoken(160) | timeout(32) | flags(8) | shares(8)
       _own[id]:    owner(160) | dispenser cap(96)
       _price[id]:  payment token(160) | price per datatoken(96)
       _market[id]: market(160) | market fee per order(96)
       _cfg:        fee recipient(160) | protocol fee bps(16) |
                    datasets(40)
       _orders[key]: consumer(160) | dataset(40) | orders(24) | expires(32)
     An order's record is keyed by (dataset, service, consumer): the
     top 224 bits of keccak256(abi_encode(dataset, service_id, consumer)).
     An order id is that key followed by the record's order count (32
     bits), so a consumer who orders the same service again rewrites one
     warm word instead of filling a new one; each new order extends the
     record's expiry, and every order id of the record is valid while the
     record is (a payment extends access, it never shortens it).
     A split of one share, all to the owner (the default), stores no
     share words at all.
@custom:security A quote binds the dataset, the service, the consumer, the
     provider, the fee and its expiry, so it cannot be used for another
     dataset, service or consumer; within its validity it may be used
     more than once, each use paying a datatoken and the quoted fee again
     (it is a price offer, not a one-time ticket: nothing is stored per
     quote, which keeps an order cheap). The provider (the fee recipient)
     must be the signer. Payment tokens are arbitrary ERC-20s: every
     movement is checked (`transfers.vy`) and state is written before
     tokens leave.
"""


from ethereum.ercs import IERC20

# @dev EIP-2612 `permit`, for `buy_and_order` (snekmate's interface).
from snekmate.tokens.interfaces import IERC20Permit

# @dev The contract owner (sets the protocol fee); nothing else is gated by it.
from snekmate.auth import ownable
initializes: ownable

# @dev Only `owner`, `transfer_ownership` and `renounce_ownership` of the
# contract owner (the protocol fee setter).
exports: (ownable.owner, ownable.transfer_ownership, ownable.renounce_ownership)

# @dev The EIP-712 domain of quotes ("Agora DataRegistry", "1", chain id,
# this contract), cached and rebuilt if the chain id changes (a fork).
from snekmate.utils import eip712_domain_separator
initializes: eip712_domain_separator

# @dev Expose EIP-5267 `eip712Domain()` so wallets can read the domain.
exports: eip712_domain_separator.eip712Domain

# @dev BPS and the masks of the packed words (constants only; no state).
from ..common import constants

# @dev Checked token movements (`_transfer_in`, `_transfer_out`); no state.
from ..common import transfers

# @dev Only for its interface (`initialize`, `mint`, `burn`): its state
# lives in each datatoken proxy.
from . import Datatoken


# --- types ------------------------------------------------------------------
struct Share:
    recipient: address  # empty(address) = the dataset token's current owner
    bps: uint256


# A provider's fee quote as `order` takes it (the dataset, service and
# consumer it binds are the order's own arguments).
struct Quote:
    provider: address   # the access node: signer and fee recipient
    fee_token: address  # any ERC-20 (ignored when fee is 0)
    fee: uint256
    valid_until: uint256
    nonce: uint256      # the node's quote id (makes equal quotes distinct)
    v: uint8
    r: bytes32
    s: bytes32


# Where a dataset came from (`set_sources`): an id in a contract, with
# evidence. By convention (docs/data.md): a model version is (ModelRegistry,
# model id), a compute job (ComputeMarket, job id), a parent dataset (this
# registry, dataset id); `evidence` is a digest of what the publisher can
# show (e.g. the CIDv1 digest of the paid calls' receipts), or zero.
struct Source:
    registry: address
    id: uint256
    evidence: bytes32


struct Pricing:
    payment_token: address
    price: uint256          # per datatoken (10**18 units)
    dispenser_cap: uint256  # units one address may dispense (0: no dispenser)


struct Dataset:
    owner: address
    card: bytes32
    content_hash: bytes32
    datatoken: address
    timeout: uint256
    payment_token: address
    price: uint256
    dispenser_cap: uint256
    market: address
    market_fee: uint256
    manager: address
    metadata_updater: address


struct Order:
    dataset: uint256
    consumer: address
    expires: uint256        # 0: never


# --- constants ----------------------------------------------------------------
MAX_SHARES: public(constant(uint256)) = constants.MAX_SHARES
BPS: public(constant(uint256)) = constants.BPS
#: One whole datatoken: what an order spends.
ONE: public(constant(uint256)) = 10**18
#: The highest protocol fee: 10 % of the datatoken's price.
MAX_PROTOCOL_FEE_BPS: public(constant(uint256)) = 1_000
QUOTE_TYPEHASH: public(constant(bytes32)) = keccak256(
    "Quote(uint256 dataset,uint256 serviceId,address consumer,address provider,address feeToken,uint256 fee,uint256 validUntil,uint256 nonce)"
)
# secp256k1n / 2: signatures with a higher s are malleable copies (EIP-2)
_HAS_MARKET: constant(uint256) = 1
_HAS_SOURCES: constant(uint256) = 2
#: The most sources a dataset may name.
MAX_SOURCES: public(constant(uint256)) = 8
_MASK40: constant(uint256) = (1 << 40) - 1
_MASK24: constant(uint256) = (1 << 24) - 1
_IERC165: constant(bytes4) = 0x01ffc9a7
_IERC721: constant(bytes4) = 0x80ac58cd
_IERC721_METADATA: constant(bytes4) = 0x5b5e139f


# --- storage --------------------------------------------------------------------
#: The `Datatoken` implementation every datatoken is a proxy of.
datatoken_impl: public(immutable(address))

_hot: HashMap[uint256, uint256]       # datatoken(160) | timeout(32) | flags(8) | shares(8)
_own: HashMap[uint256, uint256]       # owner(160) | dispenser cap(96)
_price: HashMap[uint256, uint256]     # payment token(160) | price(96)
_market: HashMap[uint256, uint256]    # market(160) | fee(96)
_card: HashMap[uint256, bytes32]
_content: HashMap[uint256, bytes32]
_shares: HashMap[uint256, HashMap[uint256, uint256]]   # recipient(160) | bps(16)
_cfg: uint256                         # fee recipient(160) | fee bps(16) | unused(40) | datasets(40)
_orders: HashMap[uint256, uint256]    # consumer(160) | dataset(40) | orders(24) | expires(32)
_manager: HashMap[uint256, address]
_sources: HashMap[uint256, DynArray[Source, MAX_SOURCES]]
_updater: HashMap[uint256, address]

# ERC-721
_balances: HashMap[address, uint256]
_approved: HashMap[uint256, address]
_operators: HashMap[address, HashMap[address, bool]]

#: Sales not yet split, by dataset and token.
pot: public(HashMap[uint256, HashMap[address, uint256]])
#: What a recipient may withdraw, by token (split shares and protocol fees).
earnings: public(HashMap[address, HashMap[address, uint256]])
#: Units each address took from a dataset's dispenser.
dispensed: public(HashMap[uint256, HashMap[address, uint256]])


# --- events -----------------------------------------------------------------------
event Transfer:
    sender: indexed(address)
    receiver: indexed(address)
    token_id: indexed(uint256)


event Approval:
    owner: indexed(address)
    approved: indexed(address)
    token_id: indexed(uint256)


event ApprovalForAll:
    owner: indexed(address)
    operator: indexed(address)
    approved: bool


event DatasetPublished:
    dataset: indexed(uint256)
    owner: indexed(address)
    datatoken: indexed(address)
    card: bytes32
    content_hash: bytes32
    timeout: uint256
    split: DynArray[Share, MAX_SHARES]


event SourcesSet:
    dataset: indexed(uint256)
    sources: DynArray[Source, MAX_SOURCES]


event MetadataUpdated:
    dataset: indexed(uint256)
    card: bytes32
    content_hash: bytes32


event RolesSet:
    dataset: indexed(uint256)
    manager: address
    metadata_updater: address


event PriceSet:
    dataset: indexed(uint256)
    payment_token: indexed(address)
    price: uint256
    dispenser_cap: uint256


event MarketFeeSet:
    dataset: indexed(uint256)
    market: indexed(address)
    fee: uint256


event Bought:
    dataset: indexed(uint256)
    buyer: indexed(address)
    amount: uint256
    cost: uint256


event Dispensed:
    dataset: indexed(uint256)
    receiver: indexed(address)
    amount: uint256


event OrderStarted:
    order_id: indexed(uint256)
    dataset: indexed(uint256)
    consumer: indexed(address)
    payer: address
    service_id: uint256
    amount: uint256
    provider: address
    provider_fee: uint256
    market: address
    market_fee: uint256
    protocol_fee: uint256
    expires: uint256


event Distributed:
    dataset: indexed(uint256)
    token: indexed(address)
    amount: uint256


event Credited:
    recipient: indexed(address)
    dataset: indexed(uint256)
    token: address
    amount: uint256


event Withdrawn:
    account: indexed(address)
    token: indexed(address)
    amount: uint256


event ProtocolFeeSet:
    recipient: indexed(address)
    bps: uint256


@deploy
@payable
def __init__(datatoken_impl_: address):
    """
    @notice Creates the registry (ERC-721 "Agora Dataset", symbol "DATA");
            the deployer owns it and receives protocol fees (0 % at first).
    @param datatoken_impl_ The 20-byte `Datatoken` implementation that
           `publish` clones.
    """
    ownable.__init__()
    eip712_domain_separator.__init__("Agora DataRegistry", "1")
    datatoken_impl = datatoken_impl_
    self._cfg = convert(msg.sender, uint256) << 96


# --- publishing -------------------------------------------------------------------
@external
def publish(
    card: bytes32,
    content_hash: bytes32,
    split: DynArray[Share, MAX_SHARES],
    timeout: uint256,
    name: String[32],
    symbol: String[16],
    initial_supply: uint256,
    pricing: Pricing,
) -> uint256:
    """
    @notice Publishes a dataset: mints its token to the caller, records its
            card and content hash, fixes its split, creates its datatoken,
            mints `initial_supply` datatoken units to the caller and sets
            its pricing. One transaction.
    @param card The 32-byte digest of the dataset card (its CIDv1 digest).
    @param content_hash The 32-byte hash of the dataset's content.
    @param split Revenue shares: 1..8 entries, distinct recipients (the
           zero address at most once: the current owner), each > 0 bps,
           summing to 10,000. Fixed for the dataset's life.
    @param timeout Seconds an order stays valid (0: forever; < 2**32).
    @param name The datatoken's name (up to 32 bytes).
    @param symbol The datatoken's symbol (up to 16 bytes).
    @param initial_supply Datatoken units minted to the caller (may be 0).
    @param pricing The payment token and the price per datatoken (zero
           token: not for sale; price < 2**96), and the per-address
           dispenser cap in units (0: no dispenser; < 2**96).
    @return uint256 The new dataset id.
    """
    assert card != empty(bytes32), "DataRegistry: empty card"
    assert content_hash != empty(bytes32), "DataRegistry: empty content hash"
    assert timeout <= constants.MASK32, "DataRegistry: timeout too large"
    self._validate_pricing(pricing)
    cfg: uint256 = self._cfg
    dataset: uint256 = (cfg & _MASK40) + 1
    assert dataset <= _MASK40, "DataRegistry: too many datasets"
    self._cfg = cfg + 1
    n: uint256 = self._store_split(dataset, split)
    datatoken: address = create_minimal_proxy_to(datatoken_impl)
    extcall Datatoken.__at__(datatoken).initialize(name, symbol, self, dataset)
    self._hot[dataset] = (convert(datatoken, uint256) << 96) | (timeout << 64) | n
    self._own[dataset] = (convert(msg.sender, uint256) << 96) | pricing.dispenser_cap
    if pricing.payment_token != empty(address):
        self._price[dataset] = (convert(pricing.payment_token, uint256) << 96) | pricing.price
    self._card[dataset] = card
    self._content[dataset] = content_hash
    self._balances[msg.sender] += 1
    log Transfer(sender=empty(address), receiver=msg.sender, token_id=dataset)
    log DatasetPublished(
        dataset=dataset, owner=msg.sender, datatoken=datatoken, card=card, content_hash=content_hash,
        timeout=timeout, split=split,
    )
    if pricing.payment_token != empty(address) or pricing.dispenser_cap != 0:
        log PriceSet(
            dataset=dataset, payment_token=pricing.payment_token, price=pricing.price,
            dispenser_cap=pricing.dispenser_cap,
        )
    if initial_supply != 0:
        extcall Datatoken.__at__(datatoken).mint(msg.sender, initial_supply)
    return dataset


@external
def update_metadata(dataset: uint256, card: bytes32, content_hash: bytes32):
    """
    @notice Points the dataset at a new card and content hash (the owner,
            an approved operator, or the metadata updater).
    @param dataset The 32-byte dataset id.
    @param card The 32-byte digest of the new card.
    @param content_hash The 32-byte hash of the new content.
    """
    owner: address = self._owner_of(dataset)
    if msg.sender != self._updater[dataset]:
        self._check_owner(dataset, owner)
    assert card != empty(bytes32), "DataRegistry: empty card"
    assert content_hash != empty(bytes32), "DataRegistry: empty content hash"
    self._card[dataset] = card
    self._content[dataset] = content_hash
    log MetadataUpdated(dataset=dataset, card=card, content_hash=content_hash)


@external
def set_roles(dataset: uint256, manager: address, metadata_updater: address):
    """
    @notice Names the dataset's manager (may set prices, market fees and
            mint datatokens) and metadata updater (may update the card).
            The owner (or an approved operator) only; both are cleared
            when the dataset token changes hands.
    @param dataset The 32-byte dataset id.
    @param manager The 20-byte manager (zero: none).
    @param metadata_updater The 20-byte metadata updater (zero: none).
    """
    self._check_owner(dataset, self._owner_of(dataset))
    self._manager[dataset] = manager
    self._updater[dataset] = metadata_updater
    log RolesSet(dataset=dataset, manager=manager, metadata_updater=metadata_updater)


@external
def set_sources(dataset: uint256, sources: DynArray[Source, MAX_SOURCES]):
    """
    @notice Records, once and for good, what the dataset was made from:
            e.g. the model version and the compute jobs or paid calls that
            produced it (a model's outputs published as a dataset). The
            owner (or an approved operator) only. A source in this registry
            must be another existing dataset; sources elsewhere are the
            publisher's claim, with `evidence` for whoever checks it.
    @param dataset The 32-byte dataset id.
    @param sources 1..8 sources: (contract, id, evidence digest).
    """
    self._check_owner(dataset, self._owner_of(dataset))
    hot: uint256 = self._hot[dataset]
    assert hot & (_HAS_SOURCES << 8) == 0, "DataRegistry: sources already set"
    assert len(sources) != 0, "DataRegistry: no sources"
    for src: Source in sources:
        assert src.registry != empty(address), "DataRegistry: zero source registry"
        if src.registry == self:
            assert src.id != dataset, "DataRegistry: a dataset cannot be its own source"
            self._owner_of(src.id)
    self._hot[dataset] = hot | (_HAS_SOURCES << 8)
    self._sources[dataset] = sources
    log SourcesSet(dataset=dataset, sources=sources)


@external
@view
def sources(dataset: uint256) -> DynArray[Source, MAX_SOURCES]:
    """
    @notice What the dataset was made from (`set_sources`); empty if its
            owner named nothing.
    @param dataset The 32-byte dataset id.
    @return DynArray The sources: (contract, id, evidence digest).
    """
    self._owner_of(dataset)
    return self._sources[dataset]


@external
def set_price(dataset: uint256, pricing: Pricing):
    """
    @notice Changes the dataset's pricing (the owner or the manager). If
            the payment token changes, the pot in the old token is
            distributed first.
    @param dataset The 32-byte dataset id.
    @param pricing The payment token (zero: not for sale), the price per
           datatoken and the per-address dispenser cap in units (0: none).
    """
    self._check_manager(dataset)
    self._validate_pricing(pricing)
    old: address = convert(self._price[dataset] >> 96, address)
    if old != pricing.payment_token and old != empty(address):
        self._distribute(dataset, old)
    w: uint256 = 0
    if pricing.payment_token != empty(address):
        w = (convert(pricing.payment_token, uint256) << 96) | pricing.price
    self._price[dataset] = w
    self._own[dataset] = (self._own[dataset] & ~constants.MASK96) | pricing.dispenser_cap
    log PriceSet(
        dataset=dataset, payment_token=pricing.payment_token, price=pricing.price,
        dispenser_cap=pricing.dispenser_cap,
    )


@external
def set_market_fee(dataset: uint256, market: address, fee: uint256):
    """
    @notice Sets the fee each order pays to the dataset's market, in the
            payment token (the owner or the manager).
    @param dataset The 32-byte dataset id.
    @param market The 20-byte market (zero: no market fee).
    @param fee The 32-byte fee per order (< 2**96; ignored without a market).
    """
    self._check_manager(dataset)
    assert fee <= constants.MASK96, "DataRegistry: fee too large"
    hot: uint256 = self._hot[dataset]
    if market == empty(address) or fee == 0:
        self._market[dataset] = 0
        self._hot[dataset] = hot & ~(_HAS_MARKET << 8)
        log MarketFeeSet(dataset=dataset, market=empty(address), fee=0)
        return
    assert self._price[dataset] != 0, "DataRegistry: no payment token"
    self._market[dataset] = (convert(market, uint256) << 96) | fee
    self._hot[dataset] = hot | (_HAS_MARKET << 8)
    log MarketFeeSet(dataset=dataset, market=market, fee=fee)


@external
def mint_datatokens(dataset: uint256, to: address, amount: uint256):
    """
    @notice Mints datatokens of the dataset (the owner or the manager).
    @param dataset The 32-byte dataset id.
    @param to The 20-byte recipient.
    @param amount The 32-byte amount in units (10**18 = one datatoken).
    """
    self._check_manager(dataset)
    extcall Datatoken.__at__(self._datatoken(dataset)).mint(to, amount)


# --- sales ----------------------------------------------------------------------------
@external
def buy(dataset: uint256, amount: uint256, max_price: uint256) -> uint256:
    """
    @notice Buys `amount` datatoken units at the fixed price (approve the
            payment token first); the payment goes into the dataset's pot.
    @param dataset The 32-byte dataset id.
    @param amount The 32-byte amount in units (10**18 = one datatoken).
    @param max_price The highest price per datatoken the caller accepts
           (the price may change between reading it and buying).
    @return uint256 What was paid: ceil(price x amount / 10**18).
    """
    assert amount != 0, "DataRegistry: zero amount"
    token: address = empty(address)
    price: uint256 = 0
    token, price = self._pricing(dataset, max_price)
    cost: uint256 = (price * amount + ONE - 1) // ONE
    self.pot[dataset][token] += cost
    transfers._transfer_in(IERC20(token), msg.sender, cost)
    extcall Datatoken.__at__(self._datatoken(dataset)).mint(msg.sender, amount)
    log Bought(dataset=dataset, buyer=msg.sender, amount=amount, cost=cost)
    return cost


@external
def dispense(dataset: uint256, amount: uint256):
    """
    @notice Gives the caller free datatokens, up to the dataset's
            per-address dispenser cap in total.
    @param dataset The 32-byte dataset id.
    @param amount The 32-byte amount in units.
    """
    assert amount != 0, "DataRegistry: zero amount"
    cap: uint256 = self._own[dataset] & constants.MASK96
    assert cap != 0, "DataRegistry: no dispenser"
    total: uint256 = self.dispensed[dataset][msg.sender] + amount
    assert total <= cap, "DataRegistry: dispenser cap reached"
    self.dispensed[dataset][msg.sender] = total
    extcall Datatoken.__at__(self._datatoken(dataset)).mint(msg.sender, amount)
    log Dispensed(dataset=dataset, receiver=msg.sender, amount=amount)


# --- orders --------------------------------------------------------------------------
@external
def order(dataset: uint256, service_id: uint256, consumer: address, quote: Quote) -> uint256:
    """
    @notice Starts an order: burns one datatoken (10**18 units) of the
            caller (the payer) and records that `consumer` may use service
            `service_id` of the dataset for its timeout. Pays the quoted
            provider fee (to the provider), the dataset's market fee (to
            the market) and the protocol fee (a share of the datatoken's
            price, to the fee recipient), all pulled from the caller:
            approve them first.
    @param dataset The 32-byte dataset id.
    @param service_id The 32-byte service id (which of the dataset's
           services: download, compute...).
    @param consumer The 20-byte account that may use the service (not zero).
    @param quote The access node's signed fee quote for exactly this
           dataset, service and consumer.
    @return uint256 The order id.
    """
    hot: uint256 = self._hot[dataset]
    assert hot != 0, "DataRegistry: unknown dataset"
    order_id: uint256 = self._start_order(dataset, hot, service_id, consumer, quote, 0)
    extcall Datatoken.__at__(convert(hot >> 96, address)).burn(msg.sender, ONE)
    return order_id


@external
def buy_and_order(
    dataset: uint256, service_id: uint256, consumer: address, quote: Quote, max_price: uint256,
    deadline: uint256, v: uint8, r: bytes32, s: bytes32,
) -> uint256:
    """
    @notice Buys one datatoken and orders with it, in one transaction and
            without a prior approval: the caller signs an EIP-2612 permit
            of the payment token to this contract for the price plus the
            market and protocol fees (plus the provider fee if it is quoted
            in the same token). No datatoken is minted or burned: the one
            bought is the one spent.
    @param dataset The 32-byte dataset id.
    @param service_id The 32-byte service id.
    @param consumer The 20-byte account that may use the service.
    @param quote The access node's signed fee quote.
    @param max_price The highest price per datatoken the caller accepts.
    @param deadline The 32-byte permit deadline.
    @param v The 1-byte secp256k1 v of the permit.
    @param r The 32-byte secp256k1 r of the permit.
    @param s The 32-byte secp256k1 s of the permit.
    @return uint256 The order id.
    """
    hot: uint256 = self._hot[dataset]
    assert hot != 0, "DataRegistry: unknown dataset"
    token: address = empty(address)
    price: uint256 = 0
    token, price = self._pricing(dataset, max_price)
    value: uint256 = price + price * (self._cfg >> 80 & constants.MASK16) // BPS
    if hot & (_HAS_MARKET << 8) != 0:
        value += self._market[dataset] & constants.MASK96
    if quote.fee_token == token:
        value += quote.fee
    extcall IERC20Permit(token).permit(msg.sender, self, value, deadline, v, r, s)
    self.pot[dataset][token] += price
    return self._start_order(dataset, hot, service_id, consumer, quote, price)


@external
@view
def order_valid(order_id: uint256, consumer: address) -> bool:
    """
    @notice Whether the order exists, is for `consumer` and has not
            expired (an order of a dataset with timeout 0 never expires).
            The orders of one consumer for one service of one dataset
            share their expiry: the latest one's.
    @param order_id The 32-byte order id.
    @param consumer The 20-byte account asking to use the service.
    @return bool True while the order lets `consumer` use its service.
    """
    w: uint256 = self._order_record(order_id)
    if w == 0 or convert(w >> 96, address) != consumer:
        return False
    expires: uint256 = w & constants.MASK32
    return expires == 0 or block.timestamp < expires


@external
@view
def order_info(order_id: uint256) -> Order:
    """
    @notice What an order is for (the payer, service and fees are in its
            `OrderStarted` event).
    @param order_id The 32-byte order id.
    @return Order The dataset, the consumer and the expiry (0: never) of
            its record; reverts for an unknown id.
    """
    w: uint256 = self._order_record(order_id)
    assert w != 0, "DataRegistry: unknown order"
    return Order(dataset=(w >> 56) & _MASK40, consumer=convert(w >> 96, address), expires=w & constants.MASK32)


@external
@view
def order_id_of(dataset: uint256, service_id: uint256, consumer: address) -> uint256:
    """
    @notice The id of `consumer`'s latest order of service `service_id`
            of `dataset` (whether or not it has expired), or 0 if there is
            none. An access node can check that an order is for its
            service: its id, but for the last 32 bits, is this one's.
    @param dataset The 32-byte dataset id.
    @param service_id The 32-byte service id.
    @param consumer The 20-byte consumer.
    @return uint256 The 32-byte order id, or 0.
    """
    key: uint256 = self._order_key(dataset, service_id, consumer)
    n: uint256 = (self._orders[key] >> 32) & _MASK24
    if n == 0:
        return 0
    return (key << 32) | n


@external
@view
def quote_digest(dataset: uint256, service_id: uint256, consumer: address, provider: address, fee_token: address,
                 fee: uint256, valid_until: uint256, nonce: uint256) -> bytes32:
    """
    @notice The EIP-712 digest an access node signs for a quote.
    @param dataset The 32-byte dataset id.
    @param service_id The 32-byte service id.
    @param consumer The 20-byte consumer.
    @param provider The 20-byte provider (the signer).
    @param fee_token The 20-byte fee token.
    @param fee The 32-byte fee.
    @param valid_until The 32-byte last second the quote may be used.
    @param nonce The 32-byte quote id.
    @return bytes32 The 32-byte digest.
    """
    return eip712_domain_separator._hash_typed_data_v4(keccak256(abi_encode(
        QUOTE_TYPEHASH, dataset, service_id, consumer, provider, fee_token, fee, valid_until, nonce,
    )))


@external
@view
def DOMAIN_SEPARATOR() -> bytes32:
    """
    @notice The EIP-712 domain separator of quotes on this chain.
    @return bytes32 The 32-byte domain separator.
    """
    return eip712_domain_separator._domain_separator_v4()


# --- revenue -----------------------------------------------------------------------
@external
def distribute(dataset: uint256, token: address) -> uint256:
    """
    @notice Splits the dataset's pot in `token` into its recipients'
            earnings by the split, the owner's share to the current owner
            (anyone may call).
    @param dataset The 32-byte dataset id.
    @param token The 20-byte ERC-20.
    @return uint256 The amount distributed.
    """
    return self._distribute(dataset, token)


@external
def withdraw(token: address) -> uint256:
    """
    @notice Pays the caller all its earnings in `token` (split shares and
            protocol fees).
    @param token The 20-byte ERC-20.
    @return uint256 The amount paid.
    """
    amount: uint256 = self.earnings[msg.sender][token]
    assert amount != 0, "DataRegistry: nothing to withdraw"
    self.earnings[msg.sender][token] = 0
    transfers._transfer_out(IERC20(token), msg.sender, amount)
    log Withdrawn(account=msg.sender, token=token, amount=amount)
    return amount


@external
def set_protocol_fee(recipient: address, bps: uint256):
    """
    @notice Sets who receives the protocol fee and how much each order
            pays: `bps` of the datatoken's price (the contract owner only;
            at most MAX_PROTOCOL_FEE_BPS). Fees already earned stay with
            the old recipient.
    @param recipient The 20-byte fee recipient (not zero).
    @param bps The fee in basis points of the price.
    """
    ownable._check_owner()
    assert recipient != empty(address), "DataRegistry: zero fee recipient"
    assert bps <= MAX_PROTOCOL_FEE_BPS, "DataRegistry: protocol fee too high"
    self._cfg = (convert(recipient, uint256) << 96) | (bps << 80) | (self._cfg & ((1 << 80) - 1))
    log ProtocolFeeSet(recipient=recipient, bps=bps)


@external
@view
def protocol_fee() -> (address, uint256):
    """
    @notice The protocol fee's recipient and rate.
    @return (address, uint256) The recipient and the basis points.
    """
    cfg: uint256 = self._cfg
    return convert(cfg >> 96, address), (cfg >> 80) & constants.MASK16


# --- dataset views ------------------------------------------------------------------
@external
@view
def dataset_info(dataset: uint256) -> Dataset:
    """
    @notice The dataset's record.
    @param dataset The 32-byte dataset id.
    @return Dataset Owner, card, content hash, datatoken, timeout, pricing,
            market fee and roles; reverts for an unknown id.
    """
    hot: uint256 = self._hot[dataset]
    assert hot != 0, "DataRegistry: unknown dataset"
    own: uint256 = self._own[dataset]
    p: uint256 = self._price[dataset]
    m: uint256 = self._market[dataset]
    return Dataset(
        owner=convert(own >> 96, address), card=self._card[dataset], content_hash=self._content[dataset],
        datatoken=convert(hot >> 96, address), timeout=(hot >> 64) & constants.MASK32,
        payment_token=convert(p >> 96, address), price=p & constants.MASK96, dispenser_cap=own & constants.MASK96,
        market=convert(m >> 96, address), market_fee=m & constants.MASK96,
        manager=self._manager[dataset], metadata_updater=self._updater[dataset],
    )


@external
@view
def datatoken_of(dataset: uint256) -> address:
    """
    @notice The dataset's datatoken.
    @param dataset The 32-byte dataset id.
    @return address The 20-byte datatoken; reverts for an unknown id.
    """
    return self._datatoken(dataset)


@external
@view
def split_of(dataset: uint256) -> DynArray[Share, MAX_SHARES]:
    """
    @notice The revenue split as published (zero address = the owner).
    @param dataset The 32-byte dataset id.
    @return DynArray The shares.
    """
    hot: uint256 = self._hot[dataset]
    assert hot != 0, "DataRegistry: unknown dataset"
    return self._load_split(dataset, hot & constants.MASK8)


@external
@view
def dataset_count() -> uint256:
    """
    @notice How many datasets were published (the last dataset id).
    @return uint256 The count.
    """
    return self._cfg & _MASK40


# --- ERC-721 ------------------------------------------------------------------------
@external
@view
def supportsInterface(interface_id: bytes4) -> bool:
    """
    @notice ERC-165: ERC-165, ERC-721 and ERC-721 metadata.
    @param interface_id The 4-byte interface id.
    @return bool Whether it is supported.
    """
    return interface_id in [_IERC165, _IERC721, _IERC721_METADATA]


@external
@view
def name() -> String[25]:
    """
    @notice The collection's name.
    @return String "Agora Dataset".
    """
    return "Agora Dataset"


@external
@view
def symbol() -> String[5]:
    """
    @notice The collection's symbol.
    @return String "DATA".
    """
    return "DATA"


@external
@view
def tokenURI(token_id: uint256) -> String[1]:
    """
    @notice Empty: a dataset's card is its `card` digest (`dataset_info`).
    @param token_id The 32-byte dataset id.
    @return String "".
    """
    self._owner_of(token_id)
    return ""


@external
@view
def balanceOf(owner: address) -> uint256:
    """
    @notice How many datasets `owner` owns.
    @param owner The 20-byte account (not zero).
    @return uint256 The count.
    """
    assert owner != empty(address), "DataRegistry: zero address"
    return self._balances[owner]


@external
@view
def ownerOf(token_id: uint256) -> address:
    """
    @notice The dataset's owner.
    @param token_id The 32-byte dataset id.
    @return address The 20-byte owner; reverts for an unknown id.
    """
    return self._owner_of(token_id)


@external
def approve(approved: address, token_id: uint256):
    """
    @notice Lets `approved` transfer the dataset token (the owner or an
            operator).
    @param approved The 20-byte account (zero: none).
    @param token_id The 32-byte dataset id.
    """
    owner: address = self._owner_of(token_id)
    assert approved != owner, "DataRegistry: approval to the owner"
    assert msg.sender == owner or self._operators[owner][msg.sender], "DataRegistry: not the owner"
    self._approved[token_id] = approved
    log Approval(owner=owner, approved=approved, token_id=token_id)


@external
@view
def getApproved(token_id: uint256) -> address:
    """
    @notice Who may transfer the dataset token besides its owner and operators.
    @param token_id The 32-byte dataset id.
    @return address The 20-byte approved account (zero: none).
    """
    self._owner_of(token_id)
    return self._approved[token_id]


@external
def setApprovalForAll(operator: address, approved: bool):
    """
    @notice Lets `operator` manage all of the caller's datasets.
    @param operator The 20-byte operator.
    @param approved True to approve, False to revoke.
    """
    assert operator != msg.sender, "DataRegistry: approval to the caller"
    self._operators[msg.sender][operator] = approved
    log ApprovalForAll(owner=msg.sender, operator=operator, approved=approved)


@external
@view
def isApprovedForAll(owner: address, operator: address) -> bool:
    """
    @notice Whether `operator` manages all of `owner`'s datasets.
    @param owner The 20-byte owner.
    @param operator The 20-byte operator.
    @return bool The approval.
    """
    return self._operators[owner][operator]


@external
def transferFrom(owner: address, to: address, token_id: uint256):
    """
    @notice Transfers the dataset token. The pot in the payment token is
            distributed first (what was earned stays earned), the roles and
            the approval are cleared, and the owner's future share moves.
    @param owner The 20-byte current owner.
    @param to The 20-byte new owner (not zero).
    @param token_id The 32-byte dataset id.
    """
    self._transfer(owner, to, token_id)


@external
def safeTransferFrom(owner: address, to: address, token_id: uint256, data: Bytes[1024] = b""):
    """
    @notice Like `transferFrom`, and if `to` is a contract it must accept
            the token (ERC-721 `onERC721Received`).
    @param owner The 20-byte current owner.
    @param to The 20-byte new owner.
    @param token_id The 32-byte dataset id.
    @param data Passed to `onERC721Received`.
    """
    self._transfer(owner, to, token_id)
    if to.is_contract:
        ret: Bytes[32] = raw_call(
            to,
            abi_encode(msg.sender, owner, token_id, data, method_id=method_id("onERC721Received(address,address,uint256,bytes)")),
            max_outsize=32,
        )
        assert len(ret) == 32 and convert(slice(ret, 0, 4), bytes4) == 0x150b7a02, "DataRegistry: transfer to non-ERC721Receiver"


# --- internals ----------------------------------------------------------------------
@internal
@view
def _owner_of(dataset: uint256) -> address:
    owner: address = convert(self._own[dataset] >> 96, address)
    assert owner != empty(address), "DataRegistry: unknown dataset"
    return owner


@internal
@view
def _datatoken(dataset: uint256) -> address:
    hot: uint256 = self._hot[dataset]
    assert hot != 0, "DataRegistry: unknown dataset"
    return convert(hot >> 96, address)


@internal
@view
def _check_owner(dataset: uint256, owner: address):
    assert (
        msg.sender == owner or self._operators[owner][msg.sender] or self._approved[dataset] == msg.sender
    ), "DataRegistry: not the owner"


@internal
@view
def _check_manager(dataset: uint256):
    owner: address = self._owner_of(dataset)
    if msg.sender != self._manager[dataset]:
        self._check_owner(dataset, owner)


@internal
@pure
def _validate_pricing(pricing: Pricing):
    assert pricing.price <= constants.MASK96, "DataRegistry: price too large"
    assert pricing.dispenser_cap <= constants.MASK96, "DataRegistry: cap too large"
    assert pricing.payment_token != empty(address) or pricing.price == 0, "DataRegistry: price without token"


@internal
@view
def _pricing(dataset: uint256, max_price: uint256) -> (address, uint256):
    p: uint256 = self._price[dataset]
    assert p != 0, "DataRegistry: not for sale"
    price: uint256 = p & constants.MASK96
    assert price <= max_price, "DataRegistry: price above max"
    return convert(p >> 96, address), price


@internal
def _store_split(dataset: uint256, split: DynArray[Share, MAX_SHARES]) -> uint256:
    """Validates the split and stores it; returns the number of share words (0 for the
    default, everything to the owner, which stores nothing)."""
    n: uint256 = len(split)
    assert n != 0, "DataRegistry: empty split"
    total: uint256 = 0
    for i: uint256 in range(n, bound=MAX_SHARES):
        assert split[i].bps != 0, "DataRegistry: zero share"
        total += split[i].bps
        for j: uint256 in range(i, bound=MAX_SHARES):
            assert split[j].recipient != split[i].recipient, "DataRegistry: duplicate recipient"
    assert total == BPS, "DataRegistry: shares must sum to 10000"
    if n == 1 and split[0].recipient == empty(address):
        return 0
    for i: uint256 in range(n, bound=MAX_SHARES):
        self._shares[dataset][i] = (convert(split[i].recipient, uint256) << 96) | split[i].bps
    return n


@internal
@view
def _load_split(dataset: uint256, n: uint256) -> DynArray[Share, MAX_SHARES]:
    if n == 0:
        return [Share(recipient=empty(address), bps=BPS)]
    shares: DynArray[Share, MAX_SHARES] = []
    for i: uint256 in range(n, bound=MAX_SHARES):
        w: uint256 = self._shares[dataset][i]
        shares.append(Share(recipient=convert(w >> 96, address), bps=w & constants.MASK16))
    return shares


@internal
def _start_order(
    dataset: uint256, hot: uint256, service_id: uint256, consumer: address, quote: Quote, paid: uint256,
) -> uint256:
    """Checks the quote, pulls the fees (and `paid`, the price in `buy_and_order`), records the
    order and logs it. The caller spends the datatoken."""
    assert consumer != empty(address), "DataRegistry: zero consumer"
    if quote.provider != empty(address):
        assert block.timestamp <= quote.valid_until, "DataRegistry: quote expired"
        s: uint256 = convert(quote.s, uint256)
        assert s <= constants.HALF_N, "DataRegistry: bad quote signature"
        digest: bytes32 = eip712_domain_separator._hash_typed_data_v4(keccak256(abi_encode(
            QUOTE_TYPEHASH, dataset, service_id, consumer, quote.provider, quote.fee_token, quote.fee,
            quote.valid_until, quote.nonce,
        )))
        signer: address = ecrecover(digest, quote.v, quote.r, quote.s)
        assert signer != empty(address) and signer == quote.provider, "DataRegistry: bad quote signature"
    else:
        # no provider fee: nothing to check (a zero-fee quote need not be signed)
        assert quote.fee == 0, "DataRegistry: a provider fee needs a signed quote"

    key: uint256 = self._order_key(dataset, service_id, consumer)
    w: uint256 = self._orders[key]
    n: uint256 = ((w >> 32) & _MASK24) + 1
    assert n <= _MASK24, "DataRegistry: too many orders"
    expires: uint256 = 0
    timeout: uint256 = (hot >> 64) & constants.MASK32
    if timeout != 0:
        expires = block.timestamp + timeout
        assert expires <= constants.MASK32, "DataRegistry: expiry too large"
    self._orders[key] = (convert(consumer, uint256) << 96) | (dataset << 56) | (n << 32) | expires
    order_id: uint256 = (key << 32) | n
    cfg: uint256 = self._cfg

    # the protocol fee: bps of the datatoken's price, in the payment token
    protocol_fee: uint256 = 0
    bps: uint256 = (cfg >> 80) & constants.MASK16
    token: address = empty(address)
    if bps != 0 or paid != 0:
        p: uint256 = self._price[dataset]
        token = convert(p >> 96, address)
        protocol_fee = (p & constants.MASK96) * bps // BPS
        if protocol_fee != 0:
            self.earnings[convert(cfg >> 96, address)][token] += protocol_fee
        if protocol_fee + paid != 0:
            transfers._transfer_in(IERC20(token), msg.sender, protocol_fee + paid)
    market: address = empty(address)
    market_fee: uint256 = 0
    if hot & (_HAS_MARKET << 8) != 0:
        m: uint256 = self._market[dataset]
        market = convert(m >> 96, address)
        market_fee = m & constants.MASK96
        token = convert(self._price[dataset] >> 96, address)
        assert extcall IERC20(token).transferFrom(msg.sender, market, market_fee, default_return_value=True), "transfers: transfer failed"
    if quote.fee != 0:
        assert extcall IERC20(quote.fee_token).transferFrom(msg.sender, quote.provider, quote.fee, default_return_value=True), "transfers: transfer failed"
    log OrderStarted(
        order_id=order_id, dataset=dataset, consumer=consumer, payer=msg.sender, service_id=service_id,
        amount=ONE, provider=quote.provider, provider_fee=quote.fee, market=market, market_fee=market_fee,
        protocol_fee=protocol_fee, expires=expires,
    )
    return order_id


@internal
@pure
def _order_key(dataset: uint256, service_id: uint256, consumer: address) -> uint256:
    """The record key of (dataset, service, consumer): the top 224 bits of their hash."""
    return convert(keccak256(abi_encode(dataset, service_id, consumer)), uint256) >> 32


@internal
@view
def _order_record(order_id: uint256) -> uint256:
    """The record order `order_id` belongs to, or 0 if there is no such order."""
    w: uint256 = self._orders[order_id >> 32]
    n: uint256 = order_id & constants.MASK32
    if n == 0 or n > (w >> 32) & _MASK24:
        return 0
    return w


@internal
def _distribute(dataset: uint256, token: address) -> uint256:
    amount: uint256 = self.pot[dataset][token]
    if amount == 0:
        return 0
    self.pot[dataset][token] = 0
    owner: address = self._owner_of(dataset)
    shares: DynArray[Share, MAX_SHARES] = self._load_split(dataset, self._hot[dataset] & constants.MASK8)
    rest: uint256 = amount
    # every share but the first gets floor(amount * bps / BPS); the first gets the rest
    for i: uint256 in range(1, MAX_SHARES):
        if i >= len(shares):
            break
        part: uint256 = amount * shares[i].bps // BPS
        if part != 0:
            rest -= part
            self._credit(shares[i].recipient, owner, dataset, token, part)
    self._credit(shares[0].recipient, owner, dataset, token, rest)
    log Distributed(dataset=dataset, token=token, amount=amount)
    return amount


@internal
def _credit(recipient: address, owner: address, dataset: uint256, token: address, amount: uint256):
    who: address = recipient
    if who == empty(address):
        who = owner
    self.earnings[who][token] += amount
    log Credited(recipient=who, dataset=dataset, token=token, amount=amount)


@internal
def _transfer(owner: address, to: address, token_id: uint256):
    current: address = self._owner_of(token_id)
    assert current == owner, "DataRegistry: transfer from incorrect owner"
    assert to != empty(address), "DataRegistry: transfer to the zero address"
    self._check_owner(token_id, owner)
    # what was earned under the old owner stays earned: split the pot before the owner changes
    token: address = convert(self._price[token_id] >> 96, address)
    if token != empty(address):
        self._distribute(token_id, token)
    self._approved[token_id] = empty(address)
    self._manager[token_id] = empty(address)
    self._updater[token_id] = empty(address)
    self._balances[owner] -= 1
    self._balances[to] += 1
    self._own[token_id] = (convert(to, uint256) << 96) | (self._own[token_id] & constants.MASK96)
    log Transfer(sender=owner, receiver=to, token_id=token_id)
