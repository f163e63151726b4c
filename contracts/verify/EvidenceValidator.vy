# pragma version ~=0.4.3
# pragma nonreentrancy off
"""
@title Agora's on-chain evidence as ERC-8004 validation responses
@custom:contract-name EvidenceValidator
@license AGPL-3.0-only
@notice A validator whose answers are read from the chain, not given by
        anyone: an agent's (model's) owner asks it, in the
        `ValidationRegistry`, to validate one of the model's training jobs
        (`requestHash = training_job_request(agentId, job_id)`); then anyone
        may call `attest_training_job`, which reads the model's provenance in
        the `ModelRegistry` and the job in the `ComputeMarket` and answers:
        - 100: the job settled with its result checked by another provider
          (REPLICATE: k providers agreed; AUDIT: an auditor was drawn and agreed);
        - 50: it settled under AUDIT without an audit drawn (the provider
          risked its stake on the draw);
        - 25: it settled with no check (NONE, DIRECT);
        - 0: it was refunded (no result was delivered and accepted).
        The response hash is the job's agreed result digest; the tag
        "agora:training-job"; the URI "agora:job:<id>".
        Asked about one of the model's zero-knowledge jobs
        (`zk_job_request(agentId, job_id)`: a job under the market's ZK
        policy naming the model), `attest_zk_job` answers 100 if it settled
        (its result the digest `ZkChecker` recorded from a verified proof of
        the model's weights on the committed input), 0 if it was refused;
        tag "agora:zk-job".
@dev No roles and no funds; every answer is a function of chain state.
"""


interface IValidations:
    def getValidationStatus(requestHash: bytes32) -> (address, uint256, uint8, bytes32, String[64], uint256): view
    def validationResponse(requestHash: bytes32, response: uint8, responseURI: String[512], responseHash: bytes32,
                           tag: String[64]): nonpayable


interface IModels:
    def provenance(model_id: uint256) -> (DynArray[uint256, MAX_LINKS], DynArray[uint256, MAX_LINKS], uint256): view


struct JobView:
    requester: address
    pay: uint256
    kind: uint256
    policy: uint256
    param: uint256
    state: uint256
    deadline: uint256
    mark: uint256
    replacements: uint256
    escrow: uint256
    providers: DynArray[address, 7]
    result: bytes32


interface IMarket:
    def job(job_id: uint256) -> JobView: view


interface IZkChecker:
    def proven(job_id: uint256) -> bytes32: view


MAX_LINKS: constant(uint256) = 32
TRAINING_JOB: constant(bytes32) = keccak256("agora:training-job")
ZK_JOB: constant(bytes32) = keccak256("agora:zk-job")
POLICY_AUDIT: constant(uint256) = 1
POLICY_REPLICATE: constant(uint256) = 2
POLICY_ZK: constant(uint256) = 4
ST_SETTLED: constant(uint256) = 8
ST_REFUNDED: constant(uint256) = 9

validations: public(immutable(address))
models: public(immutable(address))
market: public(immutable(address))
zk_checker: public(immutable(address))


@deploy
def __init__(validations_: address, models_: address, market_: address, zk_checker_: address):
    """
    @param validations_ The ERC-8004 `ValidationRegistry`.
    @param models_ The `ModelRegistry` (its identity registry).
    @param market_ The `ComputeMarket`.
    @param zk_checker_ The `ZkChecker` of the market's ZK policy.
    """
    validations = validations_
    models = models_
    market = market_
    zk_checker = zk_checker_


@internal
@view
def _asked(request: bytes32):
    validator: address = empty(address)
    agent: uint256 = 0
    r: uint8 = 0
    h: bytes32 = empty(bytes32)
    t: String[64] = ""
    at: uint256 = 0
    validator, agent, r, h, t, at = staticcall IValidations(validations).getValidationStatus(request)
    assert validator == self, "EvidenceValidator: not asked"


@external
@pure
def training_job_request(agentId: uint256, job_id: uint256) -> bytes32:
    """
    @notice The request hash that asks this validator about model `agentId`'s training job `job_id`.
    @param agentId The 32-byte model id.
    @param job_id The 32-byte job id.
    @return bytes32 keccak256(abi_encode(keccak256("agora:training-job"), agentId, job_id)).
    """
    return keccak256(abi_encode(TRAINING_JOB, agentId, job_id))


@external
def attest_training_job(agentId: uint256, job_id: uint256) -> uint8:
    """
    @notice Answers the request about model `agentId`'s training job `job_id` from the chain.
    @param agentId The 32-byte model id.
    @param job_id The 32-byte job id (one of the model's registered training jobs).
    @return uint8 The response given (100, 50, 25 or 0; see the notice).
    """
    request: bytes32 = keccak256(abi_encode(TRAINING_JOB, agentId, job_id))
    self._asked(request)
    datasets: DynArray[uint256, MAX_LINKS] = []
    jobs: DynArray[uint256, MAX_LINKS] = []
    parent: uint256 = 0
    datasets, jobs, parent = staticcall IModels(models).provenance(agentId)
    assert job_id in jobs, "EvidenceValidator: not a training job of the model"
    j: JobView = staticcall IMarket(market).job(job_id)
    assert j.state == ST_SETTLED or j.state == ST_REFUNDED, "EvidenceValidator: job not closed"
    response: uint8 = 0
    if j.state == ST_SETTLED:
        if j.policy == POLICY_REPLICATE or (j.policy == POLICY_AUDIT and len(j.providers) >= 2):
            response = 100
        elif j.policy == POLICY_AUDIT:
            response = 50
        else:
            response = 25
    extcall IValidations(validations).validationResponse(
        request, response, concat("agora:job:", uint2str(job_id)), j.result, "agora:training-job"
    )
    return response


@external
@pure
def zk_job_request(agentId: uint256, job_id: uint256) -> bytes32:
    """
    @notice The request hash that asks this validator about model `agentId`'s ZK job `job_id`.
    @param agentId The 32-byte model id.
    @param job_id The 32-byte job id.
    @return bytes32 keccak256(abi_encode(keccak256("agora:zk-job"), agentId, job_id)).
    """
    return keccak256(abi_encode(ZK_JOB, agentId, job_id))


@external
def attest_zk_job(agentId: uint256, job_id: uint256) -> uint8:
    """
    @notice Answers the request about model `agentId`'s zero-knowledge job `job_id` from the chain:
            100 if the market settled it on the digest a verified proof gave, 0 if it was refunded.
    @param agentId The 32-byte model id.
    @param job_id The 32-byte job id (under the ZK policy, naming the model).
    @return uint8 The response given.
    """
    request: bytes32 = keccak256(abi_encode(ZK_JOB, agentId, job_id))
    self._asked(request)
    j: JobView = staticcall IMarket(market).job(job_id)
    assert j.policy == POLICY_ZK and j.param == agentId, "EvidenceValidator: not a ZK job of the model"
    assert j.state == ST_SETTLED or j.state == ST_REFUNDED, "EvidenceValidator: job not closed"
    response: uint8 = 0
    if j.state == ST_SETTLED and j.result == staticcall IZkChecker(zk_checker).proven(job_id):
        response = 100
    extcall IValidations(validations).validationResponse(
        request, response, concat("agora:job:", uint2str(job_id)), j.result, "agora:zk-job"
    )
    return response
