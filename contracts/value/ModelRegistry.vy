# pragma version ~=0.4.3
# pragma nonreentrancy off
"""
@title Agora model registry
@custom:contract-name ModelRegistry
@license AGPL-3.0-only
@notice Every AI model is an ERC-721 token. Its record holds what a
        caller must be able to check and what its earners must be able
        to count on:
        - the model card (a content id: name, workload kind, endpoint,
          price, schemas) and the hash of its weights;
        - its provenance: the datasets and compute jobs it came from and
          the model it is a new version of (its lineage); each dataset id
          is checked to exist in the data layer's registry, so a model can
          be walked back to its datasets and their owners;
        - its revenue split: recipients and basis points summing to
          10,000, fixed for the version's life, so that a data
          contributor's share cannot be cut after the fact;
        - the service key that signs its receipts.
        A split entry with the zero address stands for "whoever owns the
        token": transferring the token moves the owner's share.
@dev Ids start at 1 (0 means "no parent"). The weights hash and the split
     never change; a new version is a new token that points to its
     parent, so lineage and old receipts stay checkable. The card may be
     updated (new endpoint, new price) by the owner.
     The service key follows ERC-8004's agent wallet: it is cleared when
     the token changes hands (here: it is only honoured while the owner
     who set it still owns the token; otherwise the owner is the service).
     Dataset ids refer to `dataset_registry`, any ERC-721 (the data
     layer's `DataRegistry`); the zero address leaves them unchecked, for
     a deployment without a data layer.
"""


# @dev The ERC-721 module needs an `ownable` instance; the collection's
# owner has no powers over models (no function here checks it).
from snekmate.auth import ownable
initializes: ownable


# @dev The token logic (ERC-721 + enumerable + metadata + ERC-4494
# permit), wired to our `ownable` instance.
from snekmate.tokens import erc721
initializes: erc721[ownable := ownable]


# @dev The ERC-721 surface, without minting, burning and the collection
# owner's functions: models are minted only by `register`.
exports: (
    erc721.supportsInterface,
    erc721.balanceOf,
    erc721.ownerOf,
    erc721.approve,
    erc721.getApproved,
    erc721.setApprovalForAll,
    erc721.isApprovedForAll,
    erc721.transferFrom,
    erc721.safeTransferFrom,
    erc721.tokenURI,
    erc721.totalSupply,
    erc721.tokenByIndex,
    erc721.tokenOfOwnerByIndex,
    erc721.name,
    erc721.symbol,
    erc721.nonces,
    erc721.permit,
    erc721.DOMAIN_SEPARATOR,
    erc721.eip712Domain,
)


# @dev BPS and MAX_SHARES (constants only: no state, nothing to initialise).
from ..common import constants

# @dev What `PaymentChannels` reads here, and the `Share` struct it shares;
# the compiler checks that this contract matches it.
from ..common import IModelRegistry
implements: IModelRegistry


# --- types and limits -----------------------------------------------------
MAX_SHARES: public(constant(uint256)) = constants.MAX_SHARES
MAX_LINKS: public(constant(uint256)) = 32
BPS: public(constant(uint256)) = constants.BPS


struct Model:
    card: bytes32           # sha-256 digest of the model card (CIDv1 raw)
    weights_hash: bytes32   # keccak256 of the weights file
    parent: uint256         # the model this is a new version of (0: none)
    root: uint256           # the first version of the lineage
    version: uint256        # 1 for a root, parent's version + 1 after
    registered_at: uint256
    active: bool


# --- storage ----------------------------------------------------------------
_models: HashMap[uint256, Model]
_datasets: HashMap[uint256, DynArray[uint256, MAX_LINKS]]
_jobs: HashMap[uint256, DynArray[uint256, MAX_LINKS]]
_split: HashMap[uint256, DynArray[IModelRegistry.Share, MAX_SHARES]]
# service key and the owner who set it (honoured while that owner holds the token)
_service: HashMap[uint256, address]
_service_setter: HashMap[uint256, address]

#: The ERC-721 whose token ids a model's dataset ids are (the data layer's
#: `DataRegistry`); the zero address: dataset ids are not checked.
dataset_registry: public(immutable(address))

#: The newest version of each lineage, keyed by its root.
latest_version: public(HashMap[uint256, uint256])
#: The id the next registration gets.
next_id: public(uint256)


# --- events -----------------------------------------------------------------
event ModelRegistered:
    model_id: indexed(uint256)
    owner: indexed(address)
    parent: indexed(uint256)
    card: bytes32
    weights_hash: bytes32
    datasets: DynArray[uint256, MAX_LINKS]
    jobs: DynArray[uint256, MAX_LINKS]
    split: DynArray[IModelRegistry.Share, MAX_SHARES]


event CardUpdated:
    model_id: indexed(uint256)
    card: bytes32
    uri: String[256]


event ServiceSet:
    model_id: indexed(uint256)
    service: indexed(address)


event ActiveSet:
    model_id: indexed(uint256)
    active: bool


@deploy
@payable
def __init__(dataset_registry_: address):
    """
    @notice Creates the registry (ERC-721 "Agora Model", symbol "MODEL").
    @dev Fixed for the contract's life: a registration's datasets are
         checked against one registry, so every stored id means one dataset.
    @param dataset_registry_ The 20-byte ERC-721 contract that holds the
           datasets (the data layer's `DataRegistry`), or the zero address
           to store dataset ids unchecked (a deployment without a data layer).
    """
    dataset_registry = dataset_registry_
    ownable.__init__()
    erc721.__init__("Agora Model", "MODEL", "", "Agora ModelRegistry", "1")
    self.next_id = 1


# --- registration -----------------------------------------------------------
@external
def register(
    card: bytes32,
    weights_hash: bytes32,
    uri: String[256],
    datasets: DynArray[uint256, MAX_LINKS],
    jobs: DynArray[uint256, MAX_LINKS],
    split: DynArray[IModelRegistry.Share, MAX_SHARES],
    parent: uint256,
) -> uint256:
    """
    @notice Registers a model (or, with `parent`, a new version of one)
            and mints its token to the caller.
    @param card The 32-byte sha-256 digest of the model card (its CIDv1).
    @param weights_hash The 32-byte keccak256 of the weights file.
    @param uri The token URI (e.g. "ipfs://<card cid>"); informational,
           `card` is authoritative.
    @param datasets Ids of the datasets the model was trained on (<= 32),
           each a token of `dataset_registry` (unchecked if that is the
           zero address).
    @param jobs Ids of the compute jobs that produced it (<= 32).
    @param split Revenue shares: 1..8 entries, distinct recipients (the
           zero address at most once: the current owner), each > 0 bps,
           summing to 10,000.
    @param parent 0, or the model this is a new version of (the caller
           must own it or be approved for it).
    @return uint256 The new model id.
    """
    assert card != empty(bytes32), "ModelRegistry: empty card"
    assert weights_hash != empty(bytes32), "ModelRegistry: empty weights hash"
    self._validate_split(split)
    self._validate_datasets(datasets)
    model_id: uint256 = self.next_id
    self.next_id = model_id + 1
    root: uint256 = model_id
    version: uint256 = 1
    if parent != 0:
        assert erc721._exists(parent), "ModelRegistry: unknown parent"
        assert erc721._is_approved_or_owner(msg.sender, parent), "ModelRegistry: not the parent's owner"
        root = self._models[parent].root
        version = self._models[parent].version + 1
    self._models[model_id] = Model(
        card=card, weights_hash=weights_hash, parent=parent, root=root, version=version,
        registered_at=block.timestamp, active=True,
    )
    self.latest_version[root] = model_id
    self._datasets[model_id] = datasets
    self._jobs[model_id] = jobs
    self._split[model_id] = split
    erc721._mint(msg.sender, model_id)
    if len(uri) != 0:
        erc721._set_token_uri(model_id, uri)
    log ModelRegistered(
        model_id=model_id, owner=msg.sender, parent=parent, card=card, weights_hash=weights_hash,
        datasets=datasets, jobs=jobs, split=split,
    )
    return model_id


@external
def set_card(model_id: uint256, card: bytes32, uri: String[256]):
    """
    @notice Points the model at a new card (new endpoint, price...). The
            weights hash and the split do not change: that takes a new version.
    @param model_id The 32-byte model id.
    @param card The 32-byte digest of the new card.
    @param uri The new token URI (may be empty).
    """
    self._check_owner(model_id)
    assert card != empty(bytes32), "ModelRegistry: empty card"
    self._models[model_id].card = card
    # (also logs ERC-4906 MetadataUpdate for marketplaces)
    erc721._set_token_uri(model_id, uri)
    log CardUpdated(model_id=model_id, card=card, uri=uri)


@external
def set_service(model_id: uint256, service: address):
    """
    @notice Names the key that serves the model and signs its receipts
            (so the owner's key can stay cold). Void once the token changes
            hands (it is honoured again if the token returns to the owner
            who named it; a new owner names its own).
    @param model_id The 32-byte model id.
    @param service The 20-byte service address (zero: the owner itself).
    """
    self._check_owner(model_id)
    self._service[model_id] = service
    # the owner at the time (an approved operator acts for it): the key is honoured while that
    # owner holds the token
    self._service_setter[model_id] = erc721._owner_of(model_id)
    log ServiceSet(model_id=model_id, service=service)


@external
def set_active(model_id: uint256, active: bool):
    """
    @notice Opens or closes the model to new payment channels (open
            channels can still be paid and claimed).
    @param model_id The 32-byte model id.
    @param active True to accept new channels.
    """
    self._check_owner(model_id)
    self._models[model_id].active = active
    log ActiveSet(model_id=model_id, active=active)


# --- views ------------------------------------------------------------------
@external
@view
def model(model_id: uint256) -> Model:
    """
    @notice The model's record (card, weights hash, lineage, state).
    @param model_id The 32-byte model id.
    @return Model The record; reverts for an unknown id.
    """
    self._check_exists(model_id)
    return self._models[model_id]


@external
@view
def provenance(model_id: uint256) -> (DynArray[uint256, MAX_LINKS], DynArray[uint256, MAX_LINKS], uint256):
    """
    @notice Where the model came from.
    @param model_id The 32-byte model id.
    @return The dataset ids, the compute job ids and the parent model id.
    """
    self._check_exists(model_id)
    return self._datasets[model_id], self._jobs[model_id], self._models[model_id].parent


@external
@view
def split_of(model_id: uint256) -> DynArray[IModelRegistry.Share, MAX_SHARES]:
    """
    @notice The revenue split as registered (zero address = the owner).
    @param model_id The 32-byte model id.
    @return DynArray The shares.
    """
    self._check_exists(model_id)
    return self._split[model_id]


@external
@view
def payees(model_id: uint256) -> DynArray[IModelRegistry.Share, MAX_SHARES]:
    """
    @notice The revenue split with the owner's share resolved to the
            current owner's address: what a distribution pays now.
    @param model_id The 32-byte model id.
    @return DynArray The shares, recipients resolved.
    """
    self._check_exists(model_id)
    shares: DynArray[IModelRegistry.Share, MAX_SHARES] = self._split[model_id]
    owner: address = erc721._owner_of(model_id)
    for i: uint256 in range(MAX_SHARES):
        if i >= len(shares):
            break
        if shares[i].recipient == empty(address):
            shares[i].recipient = owner
    return shares


@external
@view
def service_of(model_id: uint256) -> address:
    """
    @notice The key that serves the model and signs its receipts.
    @param model_id The 32-byte model id.
    @return address The service key (the owner unless the current owner set another).
    """
    self._check_exists(model_id)
    return self._service_of(model_id)


@internal
@view
def _service_of(model_id: uint256) -> address:
    owner: address = erc721._owner_of(model_id)
    service: address = self._service[model_id]
    if service != empty(address) and self._service_setter[model_id] == owner:
        return service
    return owner


# --- ERC-8004 identity registry (read side): a model is an agent, its id the agentId ---------------
@external
@view
def getAgentWallet(agentId: uint256) -> address:
    """
    @notice ERC-8004: the agent's wallet: the model's service key, which
            signs its receipts (`service_of`).
    @param agentId The 32-byte model id.
    @return address The service key.
    """
    self._check_exists(agentId)
    return self._service_of(agentId)


@external
@view
def getMetadata(agentId: uint256, metadataKey: String[32]) -> Bytes[96]:
    """
    @notice ERC-8004: one on-chain metadata entry of the agent, ABI-encoded:
            "weightsHash", "card" (bytes32 each), "parent", "root", "version"
            (uint256 each), "agentWallet" (address); empty for another key.
    @param agentId The 32-byte model id.
    @param metadataKey The key.
    @return Bytes The value's ABI encoding.
    """
    self._check_exists(agentId)
    m: Model = self._models[agentId]
    key: bytes32 = keccak256(metadataKey)
    if key == keccak256("weightsHash"):
        return abi_encode(m.weights_hash)
    if key == keccak256("card"):
        return abi_encode(m.card)
    if key == keccak256("parent"):
        return abi_encode(m.parent)
    if key == keccak256("root"):
        return abi_encode(m.root)
    if key == keccak256("version"):
        return abi_encode(m.version)
    if key == keccak256("agentWallet"):
        return abi_encode(self._service_of(agentId))
    return b""


@external
@view
def is_active(model_id: uint256) -> bool:
    """
    @notice True if the model exists and accepts new channels.
    @param model_id The 32-byte model id.
    @return bool Whether new channels may be opened to it.
    """
    return self._models[model_id].active


# --- internals --------------------------------------------------------------
@internal
@view
def _check_exists(model_id: uint256):
    assert self._models[model_id].card != empty(bytes32), "ModelRegistry: unknown model"


@internal
def _check_owner(model_id: uint256):
    self._check_exists(model_id)
    assert erc721._is_approved_or_owner(msg.sender, model_id), "ModelRegistry: not the model's owner"


@internal
@view
def _validate_datasets(datasets: DynArray[uint256, MAX_LINKS]):
    """
    @dev Reverts unless every id is a token of `dataset_registry`: its
         `ownerOf` answers a nonzero address (ERC-721 reverts for an unknown
         id). No check when the registry is the zero address.
    @custom:security A read-only call (STATICCALL), so the dataset registry
         cannot re-enter or change state; its failure, an empty or short
         answer (an account without code) or the zero address all count as
         "unknown". The registry is fixed at deployment, so a model's
         datasets mean what they meant when it was registered; a dataset
         that changes hands keeps its id (lineage readers ask `ownerOf` for
         the current owner).
    @param datasets The dataset ids (<= 32).
    """
    if dataset_registry == empty(address):
        return
    for dataset: uint256 in datasets:
        success: bool = False
        response: Bytes[32] = b""
        success, response = raw_call(
            dataset_registry,
            abi_encode(dataset, method_id=method_id("ownerOf(uint256)")),
            max_outsize=32,
            is_static_call=True,
            revert_on_failure=False,
        )
        assert success and len(response) == 32, "ModelRegistry: unknown dataset"
        assert convert(response, uint256) != 0, "ModelRegistry: unknown dataset"


@internal
@pure
def _validate_split(split: DynArray[IModelRegistry.Share, MAX_SHARES]):
    assert len(split) != 0, "ModelRegistry: empty split"
    total: uint256 = 0
    for i: uint256 in range(MAX_SHARES):
        if i >= len(split):
            break
        assert split[i].bps != 0, "ModelRegistry: zero share"
        total += split[i].bps
        for j: uint256 in range(MAX_SHARES):
            if j >= i:
                break
            assert split[j].recipient != split[i].recipient, "ModelRegistry: duplicate recipient"
    assert total == BPS, "ModelRegistry: shares must sum to 10000"
