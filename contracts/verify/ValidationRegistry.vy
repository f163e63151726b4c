# pragma version ~=0.4.3
# pragma nonreentrancy off
"""
@title ERC-8004 validation registry over Agora's model registry
@custom:contract-name ValidationRegistry
@license AGPL-3.0-only
@notice The validation registry of ERC-8004 ("Trustless Agents"), with its
        ABI (`validationRequest`, `validationResponse`, `getValidationStatus`,
        `getSummary`, `getAgentValidations`, `getValidatorRequests`,
        `getIdentityRegistry`) and events, so that agents and tools that speak
        ERC-8004 read Agora's evidence. The identity registry is Agora's
        `ModelRegistry`: an agentId is a model id, its owner the model's owner.
        - The agent's owner (or an operator it approved) asks a validator to
          validate something (`requestHash`: a commitment to what).
        - Only that validator answers: a response 0..100, a URI, a hash of
          its evidence and a tag; it may answer again (the last counts).
        Agora's own evidence answers through validator contracts that read the
        chain (`EvidenceValidator`: a model's training job verified by
        replication or audit), so a response is as trustworthy as the code
        that gave it.
@dev Lists are kept as index maps with counts (no bound on how many are
     kept); the list getters return the first `MAX_LIST` (the `…Page`
     getters page through the rest), and `getSummary` reads an agent's first
     `MAX_LIST` validations.
"""


interface IIdentity:
    def ownerOf(tokenId: uint256) -> address: view
    def getApproved(tokenId: uint256) -> address: view
    def isApprovedForAll(owner: address, operator: address) -> bool: view


struct ValidationStatus:
    validatorAddress: address
    response: uint8
    hasResponse: bool
    agentId: uint256
    responseHash: bytes32
    tag: String[64]
    lastUpdate: uint256


#: The largest response.
MAX_RESPONSE: public(constant(uint8)) = 100
#: How many hashes a list getter returns (pages beyond).
MAX_LIST: public(constant(uint256)) = 1024

_identity: immutable(address)
_validations: HashMap[bytes32, ValidationStatus]
_agent_list: HashMap[uint256, HashMap[uint256, bytes32]]
_agent_count: HashMap[uint256, uint256]
_validator_list: HashMap[address, HashMap[uint256, bytes32]]
_validator_count: HashMap[address, uint256]


event ValidationRequest:
    validatorAddress: indexed(address)
    agentId: indexed(uint256)
    requestURI: String[512]
    requestHash: indexed(bytes32)


event ValidationResponse:
    validatorAddress: indexed(address)
    agentId: indexed(uint256)
    requestHash: indexed(bytes32)
    response: uint8
    responseURI: String[512]
    responseHash: bytes32
    tag: String[64]


@deploy
def __init__(identity_registry: address):
    """
    @param identity_registry The ERC-721 whose tokens are the agents (Agora's `ModelRegistry`).
    """
    assert identity_registry != empty(address), "ValidationRegistry: bad identity"
    _identity = identity_registry


@external
@view
def getIdentityRegistry() -> address:
    """
    @notice The identity registry whose token ids are the agentIds.
    @return address Agora's model registry.
    """
    return _identity


@external
def validationRequest(validatorAddress: address, agentId: uint256, requestURI: String[512], requestHash: bytes32):
    """
    @notice Asks `validatorAddress` to validate what `requestHash` commits
            to, for agent `agentId` (its owner or an approved operator only).
    @param validatorAddress The 20-byte validator (an account or a contract).
    @param agentId The 32-byte model id.
    @param requestURI Where the request's details are (may be empty).
    @param requestHash The 32-byte commitment to what is to be validated (new).
    """
    assert validatorAddress != empty(address), "ValidationRegistry: bad validator"
    assert self._validations[requestHash].validatorAddress == empty(address), "ValidationRegistry: exists"
    owner: address = staticcall IIdentity(_identity).ownerOf(agentId)
    assert (msg.sender == owner or staticcall IIdentity(_identity).isApprovedForAll(owner, msg.sender)
            or staticcall IIdentity(_identity).getApproved(agentId) == msg.sender), "ValidationRegistry: not authorized"
    self._validations[requestHash] = ValidationStatus(
        validatorAddress=validatorAddress, response=0, hasResponse=False, agentId=agentId,
        responseHash=empty(bytes32), tag="", lastUpdate=block.timestamp,
    )
    n: uint256 = self._agent_count[agentId]
    self._agent_list[agentId][n] = requestHash
    self._agent_count[agentId] = n + 1
    n = self._validator_count[validatorAddress]
    self._validator_list[validatorAddress][n] = requestHash
    self._validator_count[validatorAddress] = n + 1
    log ValidationRequest(validatorAddress=validatorAddress, agentId=agentId, requestURI=requestURI,
                          requestHash=requestHash)


@external
def validationResponse(requestHash: bytes32, response: uint8, responseURI: String[512], responseHash: bytes32,
                       tag: String[64]):
    """
    @notice The requested validator's answer (it may answer again: the last counts).
    @param requestHash The 32-byte request.
    @param response 0 (failed) .. 100 (passed).
    @param responseURI Where the evidence is (may be empty).
    @param responseHash The 32-byte hash of the evidence.
    @param tag A label for filtering ("agora:training-job", …).
    """
    assert response <= MAX_RESPONSE, "ValidationRegistry: response > 100"
    s: ValidationStatus = self._validations[requestHash]
    assert s.validatorAddress != empty(address), "ValidationRegistry: unknown request"
    assert msg.sender == s.validatorAddress, "ValidationRegistry: not the validator"
    self._validations[requestHash] = ValidationStatus(
        validatorAddress=s.validatorAddress, response=response, hasResponse=True, agentId=s.agentId,
        responseHash=responseHash, tag=tag, lastUpdate=block.timestamp,
    )
    log ValidationResponse(validatorAddress=s.validatorAddress, agentId=s.agentId, requestHash=requestHash,
                           response=response, responseURI=responseURI, responseHash=responseHash, tag=tag)


@external
@view
def getValidationStatus(requestHash: bytes32) -> (address, uint256, uint8, bytes32, String[64], uint256):
    """
    @notice A request and its latest answer.
    @param requestHash The 32-byte request.
    @return The validator, the agentId, the response, the response hash, the tag, the last update's time.
    """
    s: ValidationStatus = self._validations[requestHash]
    assert s.validatorAddress != empty(address), "ValidationRegistry: unknown request"
    return s.validatorAddress, s.agentId, s.response, s.responseHash, s.tag, s.lastUpdate


@external
@view
def hasResponse(requestHash: bytes32) -> bool:
    """
    @notice Whether the validator has answered the request.
    @param requestHash The 32-byte request.
    @return bool True once answered.
    """
    return self._validations[requestHash].hasResponse


@external
@view
def getSummary(agentId: uint256, validatorAddresses: DynArray[address, 64], tag: String[64]) -> (uint64, uint8):
    """
    @notice How many answered validations the agent has (of these validators,
            all if none; with this tag, any if empty) and their mean response.
    @param agentId The 32-byte model id.
    @param validatorAddresses The validators to count (empty: all).
    @param tag The tag to count (empty: any).
    @return (uint64, uint8) The count and the mean response (rounded down; 0 if none).
    """
    count: uint64 = 0
    total: uint256 = 0
    tag_hash: bytes32 = keccak256(tag)
    n: uint256 = min(self._agent_count[agentId], MAX_LIST)
    for i: uint256 in range(n, bound=MAX_LIST):
        s: ValidationStatus = self._validations[self._agent_list[agentId][i]]
        if not s.hasResponse:
            continue
        if len(validatorAddresses) != 0 and s.validatorAddress not in validatorAddresses:
            continue
        if len(tag) != 0 and keccak256(s.tag) != tag_hash:
            continue
        total += convert(s.response, uint256)
        count += 1
    if count == 0:
        return 0, 0
    return count, convert(total // convert(count, uint256), uint8)


@internal
@view
def _page(which: uint256, key_id: uint256, key_addr: address, offset: uint256) -> DynArray[bytes32, MAX_LIST]:
    out: DynArray[bytes32, MAX_LIST] = []
    n: uint256 = self._agent_count[key_id] if which == 0 else self._validator_count[key_addr]
    for i: uint256 in range(MAX_LIST):
        if offset + i >= n:
            break
        out.append(self._agent_list[key_id][offset + i] if which == 0 else self._validator_list[key_addr][offset + i])
    return out


@external
@view
def getAgentValidations(agentId: uint256) -> DynArray[bytes32, MAX_LIST]:
    """
    @notice The agent's requests, oldest first (the first `MAX_LIST`).
    @param agentId The 32-byte model id.
    @return DynArray The request hashes.
    """
    return self._page(0, agentId, empty(address), 0)


@external
@view
def getAgentValidationsPage(agentId: uint256, offset: uint256) -> DynArray[bytes32, MAX_LIST]:
    """
    @notice The agent's requests from `offset` (up to `MAX_LIST`).
    @param agentId The 32-byte model id.
    @param offset The first index.
    @return DynArray The request hashes.
    """
    return self._page(0, agentId, empty(address), offset)


@external
@view
def getValidatorRequests(validatorAddress: address) -> DynArray[bytes32, MAX_LIST]:
    """
    @notice The requests naming the validator, oldest first (the first `MAX_LIST`).
    @param validatorAddress The 20-byte validator.
    @return DynArray The request hashes.
    """
    return self._page(1, 0, validatorAddress, 0)


@external
@view
def getValidatorRequestsPage(validatorAddress: address, offset: uint256) -> DynArray[bytes32, MAX_LIST]:
    """
    @notice The requests naming the validator from `offset` (up to `MAX_LIST`).
    @param validatorAddress The 20-byte validator.
    @param offset The first index.
    @return DynArray The request hashes.
    """
    return self._page(1, 0, validatorAddress, offset)
