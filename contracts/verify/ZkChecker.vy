# pragma version ~=0.4.3
# pragma nonreentrancy off
"""
@title Zero-knowledge proofs of model inference for the compute market's ZK policy
@custom:contract-name ZkChecker
@license AGPL-3.0-only
@notice A model registered for zero knowledge has a circuit here: the
        verifier contract generated for its architecture (ezkl, Halo2 + KZG),
        what binds a proof to its weights — their Poseidon hash (a public
        instance) or their KZG commitment (fixed bytes of every proof): the
        circuit keeps the weights private, so one verifier accepts proofs for
        any weights of the architecture and this is what tells them apart —, the layout of the public instances and the
        content hash of its artifacts (proving key, SRS, settings).
        A job posted to the `ComputeMarket` under the ZK policy names the
        model (`param`); its requester commits to the input
        (`expect_input`); its provider proves the inference (`prove`): the
        proof must verify, carry the model's weights hash and the committed
        input. The job's result digest is then recorded (keccak256 of the
        ABI-encoded output instances) and the market accepts only that digest
        as the job's reveal.
@dev No funds. The verifier is called with a static call; a proof it rejects
     (false or a revert) is refused here with a reason.
"""


interface IModels:
    def ownerOf(tokenId: uint256) -> address: view


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


struct Circuit:
    verifier: address
    params_hash: uint256        # hashed weights: their Poseidon hash (the public instance at params_index)
    params_commitment: bytes32  # committed weights: keccak256 of their KZG commitment (64 bytes at
    commitment_offset: uint256  #   commitment_offset in every proof); exactly one of the two is set
    count: uint256              # how many public instances a proof has
    params_index: uint256
    input_index: uint256        # the input's Poseidon hash, or the first public input
    input_count: uint256        # 0: the input is hashed (one instance at input_index)
    output_index: uint256
    output_count: uint256
    input_scale: uint256        # the fixed-point scale of public inputs (2**scale): requesters quantize with it
    artifacts: bytes32          # the circuit's id: sha-256 over its artifacts' hashes (pk, vk, SRS, settings…)


MAX_INSTANCES: constant(uint256) = 256
MAX_PROOF: constant(uint256) = 16384
POLICY_ZK: constant(uint256) = 4
ST_ASSIGNED: constant(uint256) = 1
ST_COMMITTED: constant(uint256) = 2

models: public(immutable(address))
market: public(immutable(address))

_circuits: HashMap[uint256, Circuit]
#: The input each ZK job must be proven on, as its requester committed to it.
expected_input: public(HashMap[uint256, bytes32])
#: The result digest each ZK job was proven to have (empty: not proven).
proven: public(HashMap[uint256, bytes32])


event CircuitRegistered:
    model_id: indexed(uint256)
    verifier: indexed(address)
    params_hash: uint256
    artifacts: bytes32


event InputExpected:
    job_id: indexed(uint256)
    commitment: bytes32


event Proven:
    job_id: indexed(uint256)
    model_id: indexed(uint256)
    prover: indexed(address)
    digest: bytes32


@deploy
def __init__(models_: address, market_: address):
    """
    @param models_ The `ModelRegistry` (owners register their models' circuits).
    @param market_ The `ComputeMarket` whose ZK jobs this checks.
    """
    assert models_ != empty(address) and market_ != empty(address), "ZkChecker: zero address"
    models = models_
    market = market_


@external
def register(model_id: uint256, c: Circuit):
    """
    @notice Registers model `model_id`'s circuit (its owner, once).
    @param model_id The 32-byte model id.
    @param c The circuit: verifier, weights hash, instance layout, artifacts.
    """
    assert msg.sender == staticcall IModels(models).ownerOf(model_id), "ZkChecker: not the model's owner"
    assert self._circuits[model_id].verifier == empty(address), "ZkChecker: circuit registered"
    assert c.verifier.is_contract, "ZkChecker: verifier has no code"
    assert c.count != 0 and c.count <= MAX_INSTANCES, "ZkChecker: bad instance count"
    assert (c.params_hash == 0) != (c.params_commitment == empty(bytes32)), "ZkChecker: hash or commitment"
    assert c.params_index < c.count and c.output_count != 0, "ZkChecker: bad layout"
    assert c.input_index + max(c.input_count, 1) <= c.count, "ZkChecker: bad layout"
    assert c.output_index + c.output_count <= c.count, "ZkChecker: bad layout"
    self._circuits[model_id] = c
    log CircuitRegistered(model_id=model_id, verifier=c.verifier, params_hash=c.params_hash, artifacts=c.artifacts)


@external
@view
def circuit(model_id: uint256) -> Circuit:
    """
    @notice Model `model_id`'s circuit (empty if it has none).
    @param model_id The 32-byte model id.
    @return Circuit The circuit.
    """
    return self._circuits[model_id]


@external
def expect_input(job_id: uint256, commitment: bytes32):
    """
    @notice The job's requester commits to its input (once): the input's
            Poseidon hash as a 32-byte word when the circuit hashes it, else
            keccak256 of the ABI-encoded public input instances (uint256[]).
    @param job_id The 32-byte ZK job id.
    @param commitment The 32-byte commitment (not zero).
    """
    j: JobView = staticcall IMarket(market).job(job_id)
    assert j.policy == POLICY_ZK, "ZkChecker: not a ZK job"
    assert msg.sender == j.requester, "ZkChecker: not the requester"
    assert commitment != empty(bytes32) and self.expected_input[job_id] == empty(bytes32), "ZkChecker: input set"
    self.expected_input[job_id] = commitment
    log InputExpected(job_id=job_id, commitment=commitment)


@external
def prove(job_id: uint256, proof: Bytes[MAX_PROOF], instances: DynArray[uint256, MAX_INSTANCES]) -> bytes32:
    """
    @notice Verifies the job's proof and records its result digest (its
            assigned provider, while the job is open).
    @param job_id The 32-byte ZK job id.
    @param proof The proof.
    @param instances Its public instances, in the circuit's layout.
    @return bytes32 The result digest the market will accept.
    """
    j: JobView = staticcall IMarket(market).job(job_id)
    assert j.policy == POLICY_ZK, "ZkChecker: not a ZK job"
    assert j.state == ST_ASSIGNED or j.state == ST_COMMITTED, "ZkChecker: job not open"
    assert msg.sender in j.providers, "ZkChecker: not the job's provider"
    c: Circuit = self._circuits[j.param]
    assert c.verifier != empty(address), "ZkChecker: model has no circuit"
    assert len(instances) == c.count, "ZkChecker: wrong instance count"
    if c.params_commitment == empty(bytes32):
        assert instances[c.params_index] == c.params_hash, "ZkChecker: proof for other weights"
    else:
        assert len(proof) >= c.commitment_offset + 64, "ZkChecker: proof rejected"
        assert keccak256(slice(proof, c.commitment_offset, 64)) == c.params_commitment, \
            "ZkChecker: proof for other weights"
    expected: bytes32 = self.expected_input[job_id]
    assert expected != empty(bytes32), "ZkChecker: input not committed"
    got: bytes32 = empty(bytes32)
    if c.input_count == 0:
        got = convert(instances[c.input_index], bytes32)
    else:
        got = keccak256(abi_encode(self._span(instances, c.input_index, c.input_count)))
    assert got == expected, "ZkChecker: proof for another input"
    ok: bool = False
    out: Bytes[32] = b""
    ok, out = raw_call(
        c.verifier, abi_encode(proof, instances, method_id=method_id("verifyProof(bytes,uint256[])")),
        max_outsize=32, is_static_call=True, revert_on_failure=False,
    )
    assert ok and len(out) == 32 and convert(out, uint256) == 1, "ZkChecker: proof rejected"
    digest: bytes32 = keccak256(abi_encode(self._span(instances, c.output_index, c.output_count)))
    self.proven[job_id] = digest
    log Proven(job_id=job_id, model_id=j.param, prover=msg.sender, digest=digest)
    return digest


@internal
@pure
def _span(xs: DynArray[uint256, MAX_INSTANCES], start: uint256, n: uint256) -> DynArray[uint256, MAX_INSTANCES]:
    out: DynArray[uint256, MAX_INSTANCES] = []
    for i: uint256 in range(n, bound=MAX_INSTANCES):
        out.append(xs[start + i])
    return out
