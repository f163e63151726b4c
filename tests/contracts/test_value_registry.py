"""Unit tests for ``contracts/value/ModelRegistry.vy`` on titanoboa.

Every external function and every revert reason: registration (record,
provenance, events, token URI), versions and lineage, split validation,
``payees`` resolving the owner's share to whoever holds the token now, the
service key (honoured only while the owner who set it still owns the token),
``set_card`` / ``set_active``, approved operators, dataset ids checked against the dataset
registry (a stand-in ERC-721 and the data layer's real ``DataRegistry``; none when it is the
zero address), the exported ERC-721 surface
(transfers, enumeration, ERC-165, ERC-4494 permit) and the functions that are
deliberately *not* exported (minting, burning, collection ownership).
"""

import boa
import data_fixtures
import pytest
from eth_account import Account
from eth_utils import keccak
from value_fixtures import (
    BPS,
    DATASETS_SOURCE,
    MAX_LINKS,
    MAX_SHARES,
    REGISTRY,
    REGISTRY_NAME,
    REGISTRY_PATH,
    ZERO,
    ZERO32,
    account,
    deploy_world,
    digest_of,
    domain,
    event_names,
    events,
    now,
    sign_nft_permit,
    untested_reverts,
)

CARD = digest_of("card")
CARD2 = digest_of("card v2")
WEIGHTS = digest_of("weights")

ERC165 = bytes.fromhex("01ffc9a7")
ERC721 = bytes.fromhex("80ac58cd")
ERC721_METADATA = bytes.fromhex("5b5e139f")
ERC721_ENUMERABLE = bytes.fromhex("780e9d63")
ERC4494 = bytes.fromhex("589c5ce2")
ERC4906 = bytes.fromhex("49064906")


@pytest.fixture(scope="module")
def base():
    with boa.env.anchor():
        w = deploy_world()
        w.alice = account("reg-alice")      # has a key: signs ERC-4494 permits
        w.bob = w.address("reg-bob")
        w.carol = w.address("reg-carol")
        w.data = w.address("reg-data-contributor")
        w.operator = w.address("reg-operator")
        w.service = w.address("reg-service")
        yield w


@pytest.fixture
def w(base):
    with boa.env.anchor():
        f = base.fork()
        for k in ("alice", "bob", "carol", "data", "operator", "service"):
            setattr(f, k, getattr(base, k))
        yield f


@pytest.fixture
def reg(w):
    return w.registry


def register(w, who=None, split=None, card=CARD, weights=WEIGHTS, uri="ipfs://card", datasets=(), jobs=(),
             parent=0):
    who = who or w.alice.address
    split = [(ZERO, BPS)] if split is None else split
    with boa.env.prank(str(who)):
        mid = w.registry.register(card, weights, uri, list(datasets), list(jobs),
                                  [(str(r), b) for r, b in split], parent)
    w.last_logs = w.registry.get_logs()
    return mid


def as_(who, fn, *args):
    with boa.env.prank(str(who)):
        out = fn(*args)
    return out


# --------------------------------------------------------------------------- deployment


def test_constructor_state(w, reg):
    assert reg.name() == "Agora Model"
    assert reg.symbol() == "MODEL"
    assert reg.next_id() == 1
    assert reg.totalSupply() == 0
    assert (reg.MAX_SHARES(), reg.MAX_LINKS(), reg.BPS()) == (MAX_SHARES, MAX_LINKS, BPS)
    assert reg.latest_version(1) == 0
    assert reg.dataset_registry() == ZERO


def test_eip712_domain_and_separator(w, reg):
    fields, name, version, cid, contract, salt, extensions = reg.eip712Domain()
    assert fields == b"\x0f"
    assert (name, version, cid, contract, salt, extensions) == (
        REGISTRY_NAME, "1", boa.env.evm.patch.chain_id, reg.address, ZERO32, [])
    d = domain(REGISTRY_NAME, reg.address)
    typehash = keccak(b"EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)")
    expected = keccak(typehash + keccak(text=d["name"]) + keccak(text=d["version"])
                      + d["chainId"].to_bytes(32, "big") + bytes.fromhex(reg.address[2:]).rjust(32, b"\0"))
    assert reg.DOMAIN_SEPARATOR() == expected


def test_minting_burning_and_collection_owner_functions_are_not_exposed(reg):
    names = {item.get("name") for item in reg.abi if item.get("type") == "function"}
    for hidden in ("safe_mint", "set_minter", "burn", "is_minter", "owner", "transfer_ownership",
                   "renounce_ownership", "_mint", "_burn"):
        assert hidden not in names, hidden
        assert not hasattr(reg, hidden), hidden
    exported = {
        "supportsInterface", "balanceOf", "ownerOf", "approve", "getApproved", "setApprovalForAll",
        "isApprovedForAll", "transferFrom", "safeTransferFrom", "tokenURI", "totalSupply", "tokenByIndex",
        "tokenOfOwnerByIndex", "name", "symbol", "nonces", "permit", "DOMAIN_SEPARATOR", "eip712Domain",
        "register", "set_card", "set_service", "set_active", "model", "provenance", "split_of", "payees",
        "service_of", "getAgentWallet", "getMetadata", "is_active", "latest_version", "next_id", "MAX_SHARES",
        "MAX_LINKS", "BPS",
        "dataset_registry",
    }
    assert names == exported


# --------------------------------------------------------------------------- register


def test_register_mints_and_stores_the_record(w, reg):
    split = [(w.data, 3000), (ZERO, 7000)]
    mid = register(w, split=split, datasets=[7, 8], jobs=[42])
    assert mid == 1
    assert reg.next_id() == 2
    assert reg.ownerOf(mid) == w.alice.address
    assert reg.balanceOf(w.alice.address) == 1
    assert reg.totalSupply() == 1
    m = reg.model(mid)
    assert (m.card, m.weights_hash, m.parent, m.root, m.version, m.registered_at, m.active) == (
        CARD, WEIGHTS, 0, mid, 1, now(), True)
    assert reg.provenance(mid) == ([7, 8], [42], 0)
    assert [(s.recipient, s.bps) for s in reg.split_of(mid)] == [(w.data, 3000), (ZERO, 7000)]
    assert reg.latest_version(mid) == mid
    assert reg.is_active(mid) is True
    assert reg.tokenURI(mid) == "ipfs://card"


def test_register_events(w, reg):
    split = [(w.data, 2500), (ZERO, 7500)]
    mid = register(w, split=split, datasets=[1], jobs=[2, 3])
    assert event_names(w.last_logs) == ["Transfer", "MetadataUpdate", "ModelRegistered"]
    t = events(w.last_logs, "Transfer")[0]
    assert (t.sender, t.receiver, t.token_id) == (ZERO, w.alice.address, mid)
    e = events(w.last_logs, "ModelRegistered")[0]
    assert (e.model_id, e.owner, e.parent, e.card, e.weights_hash) == (mid, w.alice.address, 0, CARD, WEIGHTS)
    assert (list(e.datasets), list(e.jobs)) == ([1], [2, 3])
    assert [(s.recipient, s.bps) for s in e.split] == [(w.data, 2500), (ZERO, 7500)]


def test_register_without_uri_sets_no_token_uri(w, reg):
    mid = register(w, uri="")
    assert "MetadataUpdate" not in event_names(w.last_logs)
    assert reg.tokenURI(mid) == ""


def test_register_returns_consecutive_ids_for_anyone(w, reg):
    assert register(w) == 1
    assert register(w, who=w.bob) == 2
    assert register(w, who=w.carol) == 3
    assert [reg.ownerOf(i) for i in (1, 2, 3)] == [w.alice.address, w.bob, w.carol]


def test_register_accepts_the_maximum_links(w, reg):
    links = list(range(1, MAX_LINKS + 1))
    mid = register(w, datasets=links, jobs=links[::-1])
    assert reg.provenance(mid) == (links, links[::-1], 0)


def test_register_rejects_too_many_links(w, reg):
    too_many = list(range(MAX_LINKS + 1))
    with boa.env.prank(w.alice.address), boa.reverts():
        reg.register(CARD, WEIGHTS, "", too_many, [], [(ZERO, BPS)], 0)
    with boa.env.prank(w.alice.address), boa.reverts():
        reg.register(CARD, WEIGHTS, "", [], too_many, [(ZERO, BPS)], 0)


def test_register_empty_card_reverts(w, reg):
    with boa.env.prank(w.alice.address), boa.reverts("ModelRegistry: empty card"):
        reg.register(ZERO32, WEIGHTS, "", [], [], [(ZERO, BPS)], 0)


def test_register_empty_weights_hash_reverts(w, reg):
    with boa.env.prank(w.alice.address), boa.reverts("ModelRegistry: empty weights hash"):
        reg.register(CARD, ZERO32, "", [], [], [(ZERO, BPS)], 0)


def test_register_unknown_parent_reverts(w, reg):
    with boa.env.prank(w.alice.address), boa.reverts("ModelRegistry: unknown parent"):
        reg.register(CARD, WEIGHTS, "", [], [], [(ZERO, BPS)], 1)
    mid = register(w)
    with boa.env.prank(w.alice.address), boa.reverts("ModelRegistry: unknown parent"):
        reg.register(CARD, WEIGHTS, "", [], [], [(ZERO, BPS)], mid + 1)


def test_register_version_of_someone_elses_model_reverts(w, reg):
    mid = register(w)
    with boa.env.prank(w.bob), boa.reverts("ModelRegistry: not the parent's owner"):
        reg.register(CARD2, WEIGHTS, "", [], [], [(ZERO, BPS)], mid)
    assert reg.next_id() == mid + 1


# --------------------------------------------------------------------------- versions and lineage


def test_versions_form_a_lineage(w, reg):
    v1 = register(w)
    v2 = register(w, card=CARD2, weights=digest_of("weights v2"), parent=v1, datasets=[9])
    v3 = register(w, card=digest_of("card v3"), weights=digest_of("weights v3"), parent=v2)
    assert [(reg.model(v).parent, reg.model(v).root, reg.model(v).version) for v in (v1, v2, v3)] == [
        (0, v1, 1), (v1, v1, 2), (v2, v1, 3)]
    assert reg.latest_version(v1) == v3
    assert reg.latest_version(v2) == 0          # only roots key the latest version
    assert reg.provenance(v2) == ([9], [], v1)
    e = events(w.last_logs, "ModelRegistered")[0]
    assert (e.model_id, e.parent) == (v3, v2)
    # the old versions keep their record (receipts against them stay checkable)
    assert reg.model(v1).card == CARD
    assert reg.ownerOf(v1) == w.alice.address


def test_a_new_version_may_change_the_split(w, reg):
    v1 = register(w, split=[(w.data, 5000), (ZERO, 5000)])
    v2 = register(w, split=[(ZERO, BPS)], parent=v1)
    assert [(s.recipient, s.bps) for s in reg.split_of(v1)] == [(w.data, 5000), (ZERO, 5000)]
    assert [(s.recipient, s.bps) for s in reg.split_of(v2)] == [(ZERO, BPS)]


def test_branching_from_an_old_version_repeats_its_version_number(w, reg):
    """Documented behaviour: a version of v1 registered after v2 is again version 2, and
    ``latest_version`` names the most recently registered one."""
    v1 = register(w)
    v2 = register(w, parent=v1)
    v2b = register(w, parent=v1)
    assert (reg.model(v2).version, reg.model(v2b).version) == (2, 2)
    assert reg.latest_version(v1) == v2b


def test_new_owner_registers_versions_old_owner_cannot(w, reg):
    v1 = register(w)
    w.transfer_model(v1, w.bob)
    with boa.env.prank(w.alice.address), boa.reverts("ModelRegistry: not the parent's owner"):
        reg.register(CARD2, WEIGHTS, "", [], [], [(ZERO, BPS)], v1)
    v2 = register(w, who=w.bob, parent=v1)
    assert reg.ownerOf(v2) == w.bob
    assert reg.model(v2).root == v1


def test_approved_operators_may_register_versions(w, reg):
    v1 = register(w)
    as_(w.alice.address, reg.approve, w.operator, v1)
    v2 = register(w, who=w.operator, parent=v1)
    assert reg.ownerOf(v2) == w.operator            # minted to the caller
    as_(w.alice.address, reg.setApprovalForAll, w.carol, True)
    v3 = register(w, who=w.carol, parent=v1)
    assert reg.model(v3).root == v1


# --------------------------------------------------------------------------- split validation


def _addr(i):
    return boa.env.generate_address(f"split-recipient-{i}")


@pytest.mark.parametrize("split_fn, reason", [
    (lambda w: [], "ModelRegistry: empty split"),
    (lambda w: [(w.data, 0), (ZERO, BPS)], "ModelRegistry: zero share"),
    (lambda w: [(ZERO, BPS), (w.data, 0)], "ModelRegistry: zero share"),
    (lambda w: [(w.data, 5000), (w.data, 5000)], "ModelRegistry: duplicate recipient"),
    (lambda w: [(w.data, 4000), (ZERO, 2000), (w.data, 4000)], "ModelRegistry: duplicate recipient"),
    (lambda w: [(ZERO, 5000), (ZERO, 5000)], "ModelRegistry: duplicate recipient"),
    (lambda w: [(ZERO, 3000), (w.data, 4000), (ZERO, 3000)], "ModelRegistry: duplicate recipient"),
    (lambda w: [(w.data, 9999)], "ModelRegistry: shares must sum to 10000"),
    (lambda w: [(w.data, 5000), (ZERO, 5001)], "ModelRegistry: shares must sum to 10000"),
    (lambda w: [(ZERO, 2**255), (w.data, 2**255)], None),     # a wrapping sum is caught by checked maths
], ids=["empty", "zero-first", "zero-last", "dup", "dup-apart", "zero-address-twice", "zero-address-apart",
        "sum-9999", "sum-10001", "sum-overflow"])
def test_invalid_split_reverts(w, reg, split_fn, reason):
    split = [(str(r), b) for r, b in split_fn(w)]
    with boa.env.prank(w.alice.address):
        with boa.reverts(reason) if reason else boa.reverts():
            reg.register(CARD, WEIGHTS, "", [], [], split, 0)
    assert reg.next_id() == 1


def test_more_than_eight_shares_reverts(w, reg):
    split = [(str(_addr(i)), 1000) for i in range(MAX_SHARES + 1)]
    with boa.env.prank(w.alice.address), boa.reverts("DynArray[Share, 8] bounds check"):
        reg.register(CARD, WEIGHTS, "", [], [], split, 0)


def test_eight_shares_summing_to_10000_are_accepted(w, reg):
    split = [(ZERO, 10_000 - 7 * 1250)] + [(_addr(i), 1250) for i in range(7)]
    mid = register(w, split=split)
    assert [(s.recipient, s.bps) for s in reg.split_of(mid)] == [(str(r), b) for r, b in split]


@pytest.mark.parametrize("split_fn", [
    lambda w: [(ZERO, BPS)],
    lambda w: [(w.data, BPS)],                      # the owner gets nothing
    lambda w: [(w.data, 1), (ZERO, 9999)],
    lambda w: [(w.alice.address, 5000), (ZERO, 5000)],   # the owner named and as "the owner"
])
def test_valid_splits(w, reg, split_fn):
    split = split_fn(w)
    mid = register(w, split=split)
    assert [(s.recipient, s.bps) for s in reg.split_of(mid)] == [(str(r), b) for r, b in split]


# --------------------------------------------------------------------------- payees


def test_payees_resolve_the_owner_share_and_follow_transfers(w, reg):
    mid = register(w, split=[(w.data, 2000), (ZERO, 8000)])
    assert [(s.recipient, s.bps) for s in reg.payees(mid)] == [(w.data, 2000), (w.alice.address, 8000)]
    w.transfer_model(mid, w.bob)
    assert [(s.recipient, s.bps) for s in reg.payees(mid)] == [(w.data, 2000), (w.bob, 8000)]
    # the registered split itself never changes
    assert [(s.recipient, s.bps) for s in reg.split_of(mid)] == [(w.data, 2000), (ZERO, 8000)]


def test_payees_without_an_owner_share_ignore_transfers(w, reg):
    mid = register(w, split=[(w.data, 6000), (w.carol, 4000)])
    w.transfer_model(mid, w.bob)
    assert [(s.recipient, s.bps) for s in reg.payees(mid)] == [(w.data, 6000), (w.carol, 4000)]


def test_payees_may_name_the_owner_twice(w, reg):
    mid = register(w, split=[(w.alice.address, 5000), (ZERO, 5000)])
    assert [s.recipient for s in reg.payees(mid)] == [w.alice.address, w.alice.address]
    w.transfer_model(mid, w.bob)
    assert [s.recipient for s in reg.payees(mid)] == [w.alice.address, w.bob]


# --------------------------------------------------------------------------- service key


def test_service_defaults_to_the_owner(w, reg):
    mid = register(w)
    assert reg.service_of(mid) == w.alice.address


def test_set_service_is_honoured_and_logged(w, reg):
    mid = register(w)
    as_(w.alice.address, reg.set_service, mid, w.service)
    logs = reg.get_logs()
    assert event_names(logs) == ["ServiceSet"]
    assert (logs[0].model_id, logs[0].service) == (mid, w.service)
    assert reg.service_of(mid) == w.service
    as_(w.alice.address, reg.set_service, mid, ZERO)     # zero: the owner itself
    assert reg.service_of(mid) == w.alice.address


def test_service_is_ignored_after_a_transfer(w, reg):
    mid = register(w)
    as_(w.alice.address, reg.set_service, mid, w.service)
    w.transfer_model(mid, w.bob)
    assert reg.service_of(mid) == w.bob
    as_(w.bob, reg.set_service, mid, w.carol)
    assert reg.service_of(mid) == w.carol
    w.transfer_model(mid, w.data)
    assert reg.service_of(mid) == w.data


def test_service_set_by_an_owner_returns_if_the_token_comes_back(w, reg):
    """Documented behaviour (``@dev``: honoured while the owner who set it still owns the token):
    the key is not erased by a transfer, so a round trip A -> B -> A revives A's old service key."""
    mid = register(w)
    as_(w.alice.address, reg.set_service, mid, w.service)
    w.transfer_model(mid, w.bob)
    assert reg.service_of(mid) == w.bob
    w.transfer_model(mid, w.alice.address)
    assert reg.service_of(mid) == w.service


def test_service_set_by_an_approved_operator_is_honoured(w, reg):
    mid = register(w)
    as_(w.alice.address, reg.approve, w.operator, mid)
    as_(w.operator, reg.set_service, mid, w.service)     # accepted, logged ...
    assert events(reg.get_logs(), "ServiceSet")[0].service == w.service
    assert reg.service_of(mid) == w.service              # ... and honoured


def test_set_service_by_a_stranger_reverts(w, reg):
    mid = register(w)
    with boa.env.prank(w.bob), boa.reverts("ModelRegistry: not the model's owner"):
        reg.set_service(mid, w.service)


def test_set_service_on_an_unknown_model_reverts(w, reg):
    with boa.env.prank(w.alice.address), boa.reverts("ModelRegistry: unknown model"):
        reg.set_service(1, w.service)


# --------------------------------------------------------------------------- set_card


def test_set_card_updates_card_and_uri(w, reg):
    mid = register(w, split=[(w.data, 1000), (ZERO, 9000)])
    as_(w.alice.address, reg.set_card, mid, CARD2, "ipfs://card-v2")
    logs = reg.get_logs()
    assert event_names(logs) == ["MetadataUpdate", "CardUpdated"]
    e = events(logs, "CardUpdated")[0]
    assert (e.model_id, e.card, e.uri) == (mid, CARD2, "ipfs://card-v2")
    m = reg.model(mid)
    assert (m.card, m.weights_hash, m.version) == (CARD2, WEIGHTS, 1)
    assert reg.tokenURI(mid) == "ipfs://card-v2"
    assert [(s.recipient, s.bps) for s in reg.split_of(mid)] == [(w.data, 1000), (ZERO, 9000)]


def test_set_card_with_an_empty_uri_clears_the_token_uri(w, reg):
    mid = register(w)
    as_(w.alice.address, reg.set_card, mid, CARD2, "")
    assert reg.tokenURI(mid) == ""
    assert reg.model(mid).card == CARD2


def test_set_card_empty_card_reverts(w, reg):
    mid = register(w)
    with boa.env.prank(w.alice.address), boa.reverts("ModelRegistry: empty card"):
        reg.set_card(mid, ZERO32, "ipfs://x")


def test_set_card_by_a_stranger_or_unknown_model_reverts(w, reg):
    mid = register(w)
    with boa.env.prank(w.bob), boa.reverts("ModelRegistry: not the model's owner"):
        reg.set_card(mid, CARD2, "")
    with boa.env.prank(w.alice.address), boa.reverts("ModelRegistry: unknown model"):
        reg.set_card(mid + 1, CARD2, "")


# --------------------------------------------------------------------------- set_active


def test_set_active_toggles_and_logs(w, reg):
    mid = register(w)
    as_(w.alice.address, reg.set_active, mid, False)
    logs = reg.get_logs()
    assert event_names(logs) == ["ActiveSet"]
    assert (logs[0].model_id, logs[0].active) == (mid, False)
    assert reg.is_active(mid) is False
    assert reg.model(mid).active is False
    as_(w.alice.address, reg.set_active, mid, True)
    assert reg.is_active(mid) is True


def test_set_active_by_a_stranger_or_unknown_model_reverts(w, reg):
    mid = register(w)
    with boa.env.prank(w.bob), boa.reverts("ModelRegistry: not the model's owner"):
        reg.set_active(mid, False)
    with boa.env.prank(w.alice.address), boa.reverts("ModelRegistry: unknown model"):
        reg.set_active(0, False)


def test_is_active_is_false_for_unknown_models(reg):
    assert reg.is_active(0) is False
    assert reg.is_active(1) is False
    assert reg.is_active(2**256 - 1) is False


# --------------------------------------------------------------------------- operators


def test_an_approved_operator_may_act(w, reg):
    mid = register(w)
    as_(w.alice.address, reg.approve, w.operator, mid)
    assert reg.getApproved(mid) == w.operator
    as_(w.operator, reg.set_card, mid, CARD2, "ipfs://op")
    as_(w.operator, reg.set_active, mid, False)
    as_(w.operator, reg.set_service, mid, w.service)
    assert reg.model(mid).card == CARD2
    assert reg.is_active(mid) is False
    # the approval is cleared by a transfer
    w.transfer_model(mid, w.bob)
    assert reg.getApproved(mid) == ZERO
    with boa.env.prank(w.operator), boa.reverts("ModelRegistry: not the model's owner"):
        reg.set_active(mid, True)


def test_an_operator_for_all_may_act(w, reg):
    mid = register(w)
    as_(w.alice.address, reg.setApprovalForAll, w.operator, True)
    assert reg.isApprovedForAll(w.alice.address, w.operator) is True
    as_(w.operator, reg.set_active, mid, False)
    assert reg.is_active(mid) is False
    as_(w.alice.address, reg.setApprovalForAll, w.operator, False)
    with boa.env.prank(w.operator), boa.reverts("ModelRegistry: not the model's owner"):
        reg.set_active(mid, True)


# --------------------------------------------------------------------------- views of unknown models


@pytest.mark.parametrize("view", ["model", "provenance", "split_of", "payees", "service_of"])
def test_views_of_unknown_models_revert(w, reg, view):
    with boa.reverts("ModelRegistry: unknown model"):
        getattr(reg, view)(0)
    mid = register(w)
    getattr(reg, view)(mid)
    with boa.reverts("ModelRegistry: unknown model"):
        getattr(reg, view)(mid + 1)


# --------------------------------------------------------------------------- ERC-721 basics


def test_supports_interface(reg):
    for iid in (ERC165, ERC721, ERC721_METADATA, ERC721_ENUMERABLE, ERC4494, ERC4906):
        assert reg.supportsInterface(iid) is True, iid.hex()
    assert reg.supportsInterface(bytes.fromhex("ffffffff")) is False
    assert reg.supportsInterface(bytes.fromhex("36372b07")) is False   # ERC-20


def test_transfer_from_moves_the_token(w, reg):
    m1, m2 = register(w), register(w)
    as_(w.alice.address, reg.transferFrom, w.alice.address, w.bob, m1)
    logs = reg.get_logs()
    assert event_names(logs) == ["Transfer"]
    assert (logs[0].sender, logs[0].receiver, logs[0].token_id) == (w.alice.address, w.bob, m1)
    assert reg.ownerOf(m1) == w.bob
    assert (reg.balanceOf(w.alice.address), reg.balanceOf(w.bob)) == (1, 1)
    assert reg.tokenOfOwnerByIndex(w.bob, 0) == m1
    assert reg.tokenOfOwnerByIndex(w.alice.address, 0) == m2
    assert [reg.tokenByIndex(i) for i in range(2)] == [m1, m2]
    assert reg.totalSupply() == 2


def test_transfer_from_by_a_stranger_reverts(w, reg):
    mid = register(w)
    with boa.env.prank(w.bob), boa.reverts("erc721: caller is not token owner or approved"):
        reg.transferFrom(w.alice.address, w.bob, mid)


def test_approved_spender_transfers_and_safe_transfer_to_an_eoa(w, reg):
    mid = register(w)
    as_(w.alice.address, reg.approve, w.operator, mid)
    as_(w.operator, reg.safeTransferFrom, w.alice.address, w.carol, mid)
    assert reg.ownerOf(mid) == w.carol
    as_(w.carol, reg.safeTransferFrom, w.carol, w.bob, mid, b"hello")
    assert reg.ownerOf(mid) == w.bob


def test_safe_transfer_to_a_non_receiver_contract_reverts(w, reg):
    mid = register(w)
    with boa.env.prank(w.alice.address), boa.reverts():   # the token has no onERC721Received
        reg.safeTransferFrom(w.alice.address, w.token.address, mid)
    assert reg.ownerOf(mid) == w.alice.address


def test_owner_of_unknown_token_reverts(reg):
    with boa.reverts("erc721: invalid token ID"):
        reg.ownerOf(1)
    with boa.reverts("erc721: the zero address is not a valid owner"):
        reg.balanceOf(ZERO)


def test_erc4494_permit_approves_by_signature(w, reg):
    mid = register(w)
    deadline = now() + 3600
    assert reg.nonces(mid) == 0
    v, r, s = sign_nft_permit(w.alice.key, reg, w.operator, mid, deadline)
    as_(w.bob, reg.permit, w.operator, mid, deadline, v, r, s)     # anyone may submit it
    assert reg.getApproved(mid) == w.operator
    assert reg.nonces(mid) == 1
    with boa.env.prank(w.bob), boa.reverts("erc721: invalid signature"):       # no replay
        reg.permit(w.operator, mid, deadline, v, r, s)
    stranger = Account.from_key(keccak(text="not the owner"))
    v, r, s = sign_nft_permit(stranger.key, reg, w.operator, mid, deadline)
    with boa.env.prank(w.bob), boa.reverts("erc721: invalid signature"):
        reg.permit(w.operator, mid, deadline, v, r, s)
    v, r, s = sign_nft_permit(w.alice.key, reg, w.operator, mid, now() - 1)
    with boa.env.prank(w.bob), boa.reverts("erc721: expired deadline"):
        reg.permit(w.operator, mid, now() - 1, v, r, s)


# --------------------------------------------------------------------------- dataset links


@pytest.fixture(scope="module")
def linked_base():
    """A world whose registry checks dataset ids against a stand-in ERC-721 (datasets 1 and 2 exist)."""
    with boa.env.anchor():
        datasets = boa.loads(DATASETS_SOURCE)
        w = deploy_world(dataset_registry=datasets.address)
        w.datasets = datasets
        w.alice = account("reg-alice")
        w.bob = w.address("reg-bob")
        w.data = w.address("reg-data-contributor")
        datasets.set_owner(1, w.data)
        datasets.set_owner(2, w.bob)
        yield w


@pytest.fixture
def lw(linked_base):
    with boa.env.anchor():
        f = linked_base.fork()
        for k in ("datasets", "alice", "bob", "data"):
            setattr(f, k, getattr(linked_base, k))
        yield f


def test_the_dataset_registry_is_fixed_at_deployment(lw):
    assert lw.registry.dataset_registry() == lw.datasets.address


def test_register_with_existing_datasets_passes(lw):
    mid = register(lw, datasets=[1, 2], jobs=[5])
    assert lw.registry.provenance(mid) == ([1, 2], [5], 0)
    assert [e.datasets for e in events(lw.last_logs, "ModelRegistered")] == [[1, 2]]
    assert register(lw, datasets=[]) == mid + 1       # no datasets: nothing to check


@pytest.mark.parametrize("datasets", [[3], [1, 3], [0], [2, 1, 99]])
def test_register_unknown_dataset_reverts(lw, datasets):
    with boa.env.prank(lw.alice.address), boa.reverts("ModelRegistry: unknown dataset"):
        lw.registry.register(CARD, WEIGHTS, "", datasets, [], [(ZERO, BPS)], 0)
    assert lw.registry.next_id() == 1 and lw.registry.totalSupply() == 0


def test_a_new_version_s_datasets_are_checked_too(lw):
    mid = register(lw, datasets=[1])
    with boa.env.prank(lw.alice.address), boa.reverts("ModelRegistry: unknown dataset"):
        lw.registry.register(CARD2, WEIGHTS, "", [1, 4], [], [(ZERO, BPS)], mid)
    lw.datasets.set_owner(4, lw.bob)                 # dataset 4 published since
    v2 = register(lw, card=CARD2, datasets=[1, 4], parent=mid)
    assert lw.registry.provenance(v2) == ([1, 4], [], mid)


def test_a_dataset_that_changed_hands_still_counts(lw):
    lw.datasets.set_owner(1, lw.alice.address)
    assert lw.registry.provenance(register(lw, datasets=[1])) == ([1], [], 0)


def test_the_maximum_of_checked_datasets_is_accepted(lw):
    links = list(range(1, MAX_LINKS + 1))
    for d in links:
        lw.datasets.set_owner(d, lw.data)
    assert lw.registry.provenance(register(lw, datasets=links)) == (links, [], 0)


def test_a_registry_that_is_not_an_erc721_makes_every_dataset_unknown(lw):
    # an account without code answers nothing; a contract without `ownerOf` reverts
    for not_a_registry in (lw.bob, lw.token.address):
        reg = REGISTRY.deploy(not_a_registry)
        with boa.env.prank(lw.alice.address), boa.reverts("ModelRegistry: unknown dataset"):
            reg.register(CARD, WEIGHTS, "", [1], [], [(ZERO, BPS)], 0)
        with boa.env.prank(lw.alice.address):
            assert reg.register(CARD, WEIGHTS, "", [], [], [(ZERO, BPS)], 0) == 1


def test_the_zero_registry_leaves_dataset_ids_unchecked(w, reg):
    assert reg.dataset_registry() == ZERO
    mid = register(w, datasets=[0, 12345, 2**256 - 1])
    assert reg.provenance(mid) == ([0, 12345, 2**256 - 1], [], 0)


# the data registry publishes each dataset's datatoken as an EIP-1167 proxy, whose runtime code is
# not the implementation's: boa warns when it casts it
@pytest.mark.filterwarnings("ignore:casted bytecode does not match compiled bytecode:UserWarning")
def test_dataset_ids_are_the_data_layer_s_datasets():
    """Against the real ``DataRegistry``: a published dataset passes, the next id does not."""
    with boa.env.anchor():
        data = data_fixtures.deploy_world()
        owner = data_fixtures.account("lineage-data-owner").address
        dataset = data.publish(owner)
        w = deploy_world(dataset_registry=data.registry.address)
        alice = account("reg-alice").address
        with boa.env.prank(alice):
            mid = w.registry.register(CARD, WEIGHTS, "", [dataset], [], [(ZERO, BPS)], 0)
        assert w.registry.provenance(mid) == ([dataset], [], 0)
        assert data.registry.ownerOf(dataset) == owner          # what a lineage reader asks next
        with boa.env.prank(alice), boa.reverts("ModelRegistry: unknown dataset"):
            w.registry.register(CARD, WEIGHTS, "", [dataset + 1], [], [(ZERO, BPS)], 0)


# --------------------------------------------------------------------------- coverage guard


def test_every_revert_reason_has_a_test():
    """Every literal ``"ModelRegistry: ..."`` in the source appears, quoted, in this file."""
    missing = untested_reverts(REGISTRY_PATH, "ModelRegistry", __file__, at_least=10)
    assert missing == [], f"revert reasons of ModelRegistry without a test: {missing}"

