"""The compute market's ZK policy with ``contracts/verify/ZkChecker.vy``: a ZK job's reveal is
accepted only as the digest the checker recorded after a proof verified on the committed input
with the model's registered weights hash; every refusal of both contracts. The verifier here is
a stand-in with ezkl's ABI (``verifyProof(bytes,uint256[])``); the real generated verifier is
exercised in ``tests/integration/test_zk_jobs.py``."""

from __future__ import annotations

import boa
import pytest
from compute_fixtures import GOOD, ROOT, ZERO, deploy_world, events, next_block
from eth_abi import encode
from eth_utils import keccak

CHECKER_PATH = ROOT / "contracts/verify/ZkChecker.vy"
CHECKER = boa.load_partial(str(CHECKER_PATH))
ZK = 4

VERIFIER = """
# pragma version ~=0.4.3
@external
@view
def verifyProof(proof: Bytes[16384], instances: DynArray[uint256, 256]) -> bool:
    assert proof != b"revert", "bad proof"
    return proof == b"valid proof"
"""

IDENTITY = """
# pragma version ~=0.4.3
owner_of: public(HashMap[uint256, address])
@external
def set_owner(token_id: uint256, owner: address):
    self.owner_of[token_id] = owner
@external
@view
def ownerOf(token_id: uint256) -> address:
    assert self.owner_of[token_id] != empty(address), "unknown token"
    return self.owner_of[token_id]
"""

PARAMS_HASH = 0x1234
MODEL_ID = 7
INPUTS = [11, 12, 13]
OUTPUTS = [5, 6]
# layout: [params hash, 3 public inputs, 2 public outputs]
INSTANCES = [PARAMS_HASH, *INPUTS, *OUTPUTS]


def circuit(verifier, **kw) -> tuple:
    c = {"verifier": verifier, "params_hash": PARAMS_HASH, "params_commitment": bytes(32), "commitment_offset": 0,
         "count": 6, "params_index": 0, "input_index": 1,
         "input_count": 3, "output_index": 4, "output_count": 2, "input_scale": 7,
         "artifacts": keccak(text="manifest")}
    c.update(kw)
    return tuple(c.values())


def words(xs: list[int]) -> bytes:
    return keccak(encode(["uint256[]"], [xs]))


@pytest.fixture(scope="module")
def base():
    with boa.env.anchor():
        w = deploy_world()
        w.verifier = boa.loads(VERIFIER)
        w.identity = boa.loads(IDENTITY)
        w.model_owner = w.new_account("zk-model-owner")
        w.identity.set_owner(MODEL_ID, w.model_owner)
        w.checker = CHECKER.deploy(w.identity.address, w.market.address)
        yield w


@pytest.fixture
def w(base):
    with boa.env.anchor():
        f = base.fork()
        f.verifier, f.identity, f.checker, f.model_owner = base.verifier, base.identity, base.checker, base.model_owner
        yield f


def _ready(w) -> None:
    with boa.env.prank(w.model_owner):
        w.checker.register(MODEL_ID, circuit(w.verifier.address))
    with boa.env.prank(w.owner):
        w.market.set_zk_checker(w.checker.address)


def test_a_zk_job_settles_only_on_the_proven_digest(w) -> None:
    with boa.reverts("ComputeMarket: no ZK model"):  # no checker named yet
        w.post(policy=ZK, param=MODEL_ID)
    _ready(w)
    assert w.market.zk_checker() == w.checker.address and w.checker.circuit(MODEL_ID)[1] == PARAMS_HASH
    with boa.reverts("ComputeMarket: no ZK model"):
        w.post(policy=ZK, param=0)
    j = w.post(policy=ZK, param=MODEL_ID)
    (provider,) = w.assignees(j)
    requester = w.requesters[0]
    digest = words(OUTPUTS)
    with boa.env.prank(provider), boa.reverts("ZkChecker: input not committed"):
        w.checker.prove(j, b"valid proof", INSTANCES)
    with boa.env.prank(provider), boa.reverts("ZkChecker: not the requester"):
        w.checker.expect_input(j, words(INPUTS))
    with boa.env.prank(requester), boa.reverts("ZkChecker: input set"):
        w.checker.expect_input(j, bytes(32))
    with boa.env.prank(requester):
        w.checker.expect_input(j, words(INPUTS))
    assert w.checker.expected_input(j) == words(INPUTS)
    with boa.env.prank(requester), boa.reverts("ZkChecker: input set"):
        w.checker.expect_input(j, words(INPUTS))
    w.commit(j, provider, digest)
    next_block()
    with boa.env.prank(provider), boa.reverts("ComputeMarket: not proven"):
        w.market.reveal(j, digest, digest, _salt(j, provider))
    # the refusals of a proof, each with its reason
    cases = [
        (b"valid proof", [PARAMS_HASH + 1, *INPUTS, *OUTPUTS], "ZkChecker: proof for other weights"),
        (b"valid proof", [PARAMS_HASH, 11, 12, 14, *OUTPUTS], "ZkChecker: proof for another input"),
        (b"valid proof", INSTANCES[:5], "ZkChecker: wrong instance count"),
        (b"valid pro", INSTANCES, "ZkChecker: proof rejected"),  # a truncated proof: false
        (b"revert", INSTANCES, "ZkChecker: proof rejected"),     # the verifier reverts
    ]
    for proof, instances, reason in cases:
        with boa.env.prank(provider), boa.reverts(reason):
            w.checker.prove(j, proof, instances)
    with boa.env.prank(w.requesters[1]), boa.reverts("ZkChecker: not the job's provider"):
        w.checker.prove(j, b"valid proof", INSTANCES)
    with boa.env.prank(provider):
        assert w.checker.prove(j, b"valid proof", INSTANCES) == digest
    (ev,) = events(w.checker.get_logs(), "Proven")
    assert (ev.job_id, ev.model_id, ev.prover, ev.digest) == (j, MODEL_ID, provider, digest)
    w.reveal(j, provider, digest)
    assert w.job(j).state == 8 and w.job(j).result == digest  # settled on the proven digest
    with boa.env.prank(provider), boa.reverts("ZkChecker: job not open"):
        w.checker.prove(j, b"valid proof", INSTANCES)
    w.check_books()


def test_a_wrong_reveal_cannot_settle_a_zk_job(w) -> None:
    _ready(w)
    j = w.post(policy=ZK, param=MODEL_ID)
    (provider,) = w.assignees(j)
    with boa.env.prank(w.requesters[0]):
        w.checker.expect_input(j, words(INPUTS))
    with boa.env.prank(provider):
        w.checker.prove(j, b"valid proof", INSTANCES)
    w.commit(j, provider, GOOD)  # committed to another digest than the proven one
    next_block()
    with boa.env.prank(provider), boa.reverts("ComputeMarket: not proven"):
        w.market.reveal(j, GOOD, GOOD, _salt(j, provider))


def test_circuit_registration_and_setup_refusals(w) -> None:
    c = w.checker
    with boa.env.prank(w.requesters[0]), boa.reverts("ZkChecker: not the model's owner"):
        c.register(MODEL_ID, circuit(w.verifier.address))
    with boa.env.prank(w.model_owner):
        with boa.reverts("ZkChecker: verifier has no code"):
            c.register(MODEL_ID, circuit(w.requesters[0]))
        with boa.reverts("ZkChecker: hash or commitment"):
            c.register(MODEL_ID, circuit(w.verifier.address, params_commitment=keccak(b"c")))
        with boa.reverts("ZkChecker: hash or commitment"):
            c.register(MODEL_ID, circuit(w.verifier.address, params_hash=0))
        with boa.reverts("ZkChecker: bad instance count"):
            c.register(MODEL_ID, circuit(w.verifier.address, count=0))
        with boa.reverts("ZkChecker: bad layout"):
            c.register(MODEL_ID, circuit(w.verifier.address, params_index=6))
        with boa.reverts("ZkChecker: bad layout"):
            c.register(MODEL_ID, circuit(w.verifier.address, input_index=4))
        with boa.reverts("ZkChecker: bad layout"):
            c.register(MODEL_ID, circuit(w.verifier.address, output_index=5))
        c.register(MODEL_ID, circuit(w.verifier.address))
        with boa.reverts("ZkChecker: circuit registered"):
            c.register(MODEL_ID, circuit(w.verifier.address))
    with boa.reverts("ZkChecker: zero address"):
        CHECKER.deploy(ZERO, w.market.address)
    with boa.env.prank(w.requesters[0]), boa.reverts("ownable: caller is not the owner"):
        w.market.set_zk_checker(c.address)
    with boa.env.prank(w.owner):
        w.market.set_zk_checker(c.address)
        with boa.reverts("ComputeMarket: checker set"):
            w.market.set_zk_checker(c.address)
    j = w.post()  # a NONE job: not the checker's
    with boa.env.prank(w.requesters[0]), boa.reverts("ZkChecker: not a ZK job"):
        c.expect_input(j, words(INPUTS))
    with boa.env.prank(w.assignees(j)[0]), boa.reverts("ZkChecker: not a ZK job"):
        c.prove(j, b"valid proof", INSTANCES)
    # a ZK job for a model with no circuit
    w.identity.set_owner(MODEL_ID + 1, w.model_owner)
    j2 = w.post(policy=ZK, param=MODEL_ID + 1)
    with boa.env.prank(w.requesters[0]):
        c.expect_input(j2, words(INPUTS))
    with boa.env.prank(w.assignees(j2)[0]), boa.reverts("ZkChecker: model has no circuit"):
        c.prove(j2, b"valid proof", INSTANCES)


def test_committed_weights_are_read_from_the_proof(w) -> None:
    """A polycommit circuit: the weights' commitment is 64 bytes of every proof; another commitment is
    other weights, a proof too short to hold one is refused."""
    commitment = b"C" * 64
    with boa.env.prank(w.model_owner):
        w.checker.register(MODEL_ID, circuit(w.verifier.address, params_hash=0, params_commitment=keccak(commitment),
                                             commitment_offset=0))
    with boa.env.prank(w.owner):
        w.market.set_zk_checker(w.checker.address)
    j = w.post(policy=ZK, param=MODEL_ID)
    (provider,) = w.assignees(j)
    with boa.env.prank(w.requesters[0]):
        w.checker.expect_input(j, words(INPUTS))
    with boa.env.prank(provider):
        with boa.reverts("ZkChecker: proof for other weights"):
            w.checker.prove(j, b"D" * 64 + b"valid proof", INSTANCES)
        with boa.reverts("ZkChecker: proof rejected"):
            w.checker.prove(j, b"C" * 10, INSTANCES)
        with boa.reverts("ZkChecker: proof rejected"):  # the right commitment, but the verifier says no
            w.checker.prove(j, commitment + b"valid proof", INSTANCES)


def test_every_checker_revert_is_tested() -> None:
    import re

    reasons = set(re.findall(r'"(ZkChecker: [^"]+)"', CHECKER_PATH.read_text()))
    text = open(__file__).read()
    assert reasons and sorted(r for r in reasons if f'"{r}"' not in text) == []


def _salt(job_id: int, who) -> bytes:
    from compute_fixtures import salt_for

    return salt_for(job_id, who)
