"""``contracts/verify/ValidationRegistry.vy``: ERC-8004's validation registry over the model registry
(the reference ABI and events), and ``ModelRegistry``'s ERC-8004 identity reads; every refusal."""

from __future__ import annotations

import boa
import pytest
from eth_abi import decode
from value_fixtures import (
    BPS,
    REGISTRY_PATH,
    ROOT,
    ZERO,
    account,
    deploy_world,
    digest_of,
    events,
    now,
    untested_reverts,
)

VALIDATIONS_PATH = ROOT / "contracts/verify/ValidationRegistry.vy"
VALIDATIONS = boa.load_partial(str(VALIDATIONS_PATH))


@pytest.fixture(scope="module")
def world():
    with boa.env.anchor():
        w = deploy_world()
        w.owner = account("val-owner").address
        w.validator = account("val-validator").address
        w.other = account("val-other").address
        w.operator = account("val-operator").address
        w.validations = VALIDATIONS.deploy(w.registry.address)
        with boa.env.prank(w.owner):
            w.models = [w.registry.register(digest_of(f"card {i}"), digest_of(f"w {i}"), f"ipfs://card-{i}", [], [],
                                            [(ZERO, BPS)], 0) for i in range(2)]
        yield w


@pytest.fixture
def w(world):
    with boa.env.anchor():
        yield world


def _request(w, h: bytes, agent=None, who=None, validator=None, uri="ipfs://req"):
    with boa.env.prank(who or w.owner):
        w.validations.validationRequest(validator or w.validator, w.models[0] if agent is None else agent, uri, h)


def test_the_owner_asks_the_validator_answers_and_tools_read_it(w) -> None:
    h = digest_of("request 1")
    v = w.validations
    assert v.getIdentityRegistry() == w.registry.address
    _request(w, h)
    (req,) = events(v.get_logs(), "ValidationRequest")
    assert (req.validatorAddress, req.agentId, req.requestURI, req.requestHash) == (w.validator, w.models[0],
                                                                                    "ipfs://req", h)
    assert v.getValidationStatus(h) == (w.validator, w.models[0], 0, bytes(32), "", now())
    assert not v.hasResponse(h)
    assert v.getSummary(w.models[0], [], "") == (0, 0)  # asked, not answered: not counted
    with boa.env.prank(w.validator):
        v.validationResponse(h, 80, "ipfs://resp", digest_of("evidence"), "zkml")
    (resp,) = events(v.get_logs(), "ValidationResponse")
    assert (resp.validatorAddress, resp.agentId, resp.requestHash, resp.response, resp.responseURI, resp.tag) == (
        w.validator, w.models[0], h, 80, "ipfs://resp", "zkml")
    assert v.getValidationStatus(h)[2:5] == (80, digest_of("evidence"), "zkml") and v.hasResponse(h)
    with boa.env.prank(w.validator):  # answered again: the last answer counts
        v.validationResponse(h, 100, "", digest_of("evidence 2"), "zkml")
    assert v.getValidationStatus(h)[2] == 100
    # a second request, another validator, another tag
    h2 = digest_of("request 2")
    _request(w, h2, validator=w.other)
    with boa.env.prank(w.other):
        v.validationResponse(h2, 40, "", bytes(32), "audit")
    assert v.getSummary(w.models[0], [], "") == (2, 70)
    assert v.getSummary(w.models[0], [w.other], "") == (1, 40)
    assert v.getSummary(w.models[0], [], "zkml") == (1, 100)
    assert v.getSummary(w.models[0], [w.validator], "audit") == (0, 0)
    assert v.getSummary(w.models[1], [], "") == (0, 0)
    assert v.getAgentValidations(w.models[0]) == [h, h2] and v.getAgentValidations(w.models[1]) == []
    assert v.getValidatorRequests(w.validator) == [h] and v.getValidatorRequests(w.other) == [h2]
    assert v.getAgentValidationsPage(w.models[0], 1) == [h2] and v.getValidatorRequestsPage(w.other, 5) == []


def test_an_approved_operator_may_ask_for_the_owner(w) -> None:
    with boa.env.prank(w.owner):
        w.registry.setApprovalForAll(w.operator, True)
        w.registry.approve(w.other, w.models[1])
    _request(w, digest_of("by operator"), who=w.operator)
    _request(w, digest_of("by approved"), agent=w.models[1], who=w.other)
    assert len(w.validations.getAgentValidations(w.models[0])) == 1


def test_refusals(w) -> None:
    v, h = w.validations, digest_of("r")
    with boa.reverts("ValidationRegistry: not authorized"):
        _request(w, h, who=w.other)
    with boa.reverts("ValidationRegistry: bad validator"):
        _request(w, h, validator=ZERO)
    with boa.reverts():  # an agent that does not exist: the identity registry's ownerOf reverts
        _request(w, h, agent=999)
    _request(w, h)
    with boa.reverts("ValidationRegistry: exists"):
        _request(w, h)
    with boa.env.prank(w.other), boa.reverts("ValidationRegistry: not the validator"):
        v.validationResponse(h, 1, "", bytes(32), "")
    with boa.env.prank(w.validator), boa.reverts("ValidationRegistry: response > 100"):
        v.validationResponse(h, 101, "", bytes(32), "")
    with boa.env.prank(w.validator), boa.reverts("ValidationRegistry: unknown request"):
        v.validationResponse(digest_of("never"), 1, "", bytes(32), "")
    with boa.reverts("ValidationRegistry: unknown request"):
        v.getValidationStatus(digest_of("never"))
    with boa.reverts("ValidationRegistry: bad identity"):
        VALIDATIONS.deploy(ZERO)


def test_every_revert_is_tested() -> None:
    assert untested_reverts(VALIDATIONS_PATH, "ValidationRegistry", __file__, at_least=6) == []


def test_the_model_registry_answers_erc_8004_identity_reads(w) -> None:
    reg, mid = w.registry, w.models[0]
    assert reg.getAgentWallet(mid) == w.owner == reg.ownerOf(mid)
    with boa.env.prank(w.owner):
        reg.set_service(mid, w.validator)
    assert reg.getAgentWallet(mid) == w.validator == reg.service_of(mid)
    assert decode(["bytes32"], reg.getMetadata(mid, "weightsHash")) == (digest_of("w 0"),)
    assert decode(["bytes32"], reg.getMetadata(mid, "card")) == (digest_of("card 0"),)
    assert decode(["uint256"], reg.getMetadata(mid, "version")) == (1,)
    assert decode(["uint256"], reg.getMetadata(mid, "root")) == (mid,)
    assert decode(["uint256"], reg.getMetadata(mid, "parent")) == (0,)
    assert decode(["address"], reg.getMetadata(mid, "agentWallet"))[0].lower() == w.validator.lower()
    assert reg.getMetadata(mid, "no such key") == b""
    assert reg.tokenURI(mid) == "ipfs://card-0"
    with boa.reverts("ModelRegistry: unknown model"):
        reg.getAgentWallet(999)
    assert REGISTRY_PATH.exists()
