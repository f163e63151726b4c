"""Unit tests for ``contracts/token/AgoraToken.vy`` on titanoboa.

Every external entry point and every revert path of the snekmate-based
ERC-20 (+ EIP-2612 permit, EIP-5267, minters, ownership) and of the token's
own EIP-3009 functions (transfer / receive with authorization, cancel) is
exercised, the EIP-3009 ones also with signatures made by the x402 SDK.
Revert reasons are the exact strings from snekmate 0.1.2 (and "AgoraToken: ...").
"""

from pathlib import Path

import boa
import pytest
from eth_abi import encode
from eth_account import Account
from eth_account.messages import encode_typed_data
from eth_utils import keccak

TOKEN_PATH = Path(__file__).resolve().parents[2] / "contracts/token/AgoraToken.vy"
TOKEN = boa.load_partial(str(TOKEN_PATH))

ZERO = "0x0000000000000000000000000000000000000000"
MAX_UINT256 = 2**256 - 1
INITIAL_SUPPLY = 1_000_000 * 10**18
NAME = "Agora Token"
SYMBOL = "AGR"
EIP712_VERSION = "1"
# secp256k1 group order, used to build a malleable (high-s) signature.
SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141

# Deterministic keys for permit signers.
OWNER_KEY = keccak(text="agora-test-permit-owner")
OTHER_KEY = keccak(text="agora-test-permit-other")
PERMIT_OWNER = Account.from_key(OWNER_KEY)
PERMIT_OTHER = Account.from_key(OTHER_KEY)

PERMIT_TYPES = {
    "Permit": [
        {"name": "owner", "type": "address"},
        {"name": "spender", "type": "address"},
        {"name": "value", "type": "uint256"},
        {"name": "nonce", "type": "uint256"},
        {"name": "deadline", "type": "uint256"},
    ]
}


# --------------------------------------------------------------------------- helpers


def chain_id() -> int:
    return boa.env.evm.patch.chain_id


def now() -> int:
    return boa.env.evm.patch.timestamp


def domain(token) -> dict:
    return {
        "name": NAME,
        "version": EIP712_VERSION,
        "chainId": chain_id(),
        "verifyingContract": token.address,
    }


def python_domain_separator(token) -> bytes:
    type_hash = keccak(
        text="EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)"
    )
    return keccak(
        encode(
            ["bytes32", "bytes32", "bytes32", "uint256", "address"],
            [
                type_hash,
                keccak(text=NAME),
                keccak(text=EIP712_VERSION),
                chain_id(),
                str(token.address),
            ],
        )
    )


def sign_permit(token, key, owner, spender, value, nonce, deadline):
    """Return ``(v, r, s)`` for an EIP-2612 permit, as the contract expects them."""
    message = {
        "owner": str(owner),
        "spender": str(spender),
        "value": value,
        "nonce": nonce,
        "deadline": deadline,
    }
    signed = Account.sign_typed_data(key, domain(token), PERMIT_TYPES, message)
    return signed.v, signed.r.to_bytes(32, "big"), signed.s.to_bytes(32, "big")


def event_names(logs) -> list[str]:
    return [type(log).__name__ for log in logs]


def only_event(token, name: str):
    """Assert the last call emitted exactly one event, named ``name``.

    ``get_logs`` reports the most recent call only, view calls included,
    so call this straight after the state-changing call.
    """
    logs = token.get_logs()
    assert event_names(logs) == [name]
    return logs[0]


# --------------------------------------------------------------------------- fixtures


@pytest.fixture
def deployer():
    return boa.env.eoa


@pytest.fixture
def alice():
    return boa.env.generate_address("alice")


@pytest.fixture
def bob():
    return boa.env.generate_address("bob")


@pytest.fixture
def carol():
    return boa.env.generate_address("carol")


@pytest.fixture
def token(deployer):
    with boa.env.prank(deployer):
        return TOKEN.deploy(INITIAL_SUPPLY)


@pytest.fixture
def funded(token, deployer, alice):
    """Alice holds 1,000 tokens."""
    with boa.env.prank(deployer):
        token.transfer(alice, 1_000)
    return token


@pytest.fixture
def restore_chain_id():
    original = boa.env.evm.patch.chain_id
    yield
    boa.env.evm.patch.chain_id = original


# --------------------------------------------------------------------------- deployment / metadata


def test_metadata_name_symbol_decimals(token):
    assert token.name() == NAME
    assert token.symbol() == SYMBOL
    assert token.decimals() == 18


def test_constructor_mints_initial_supply_to_deployer(token, deployer):
    assert token.totalSupply() == INITIAL_SUPPLY
    assert token.balanceOf(deployer) == INITIAL_SUPPLY


def test_constructor_sets_deployer_as_owner_and_minter(token, deployer):
    assert token.owner() == deployer
    assert token.is_minter(deployer) is True


def test_constructor_emits_ownership_minter_and_mint_events(deployer):
    with boa.env.prank(deployer):
        token = TOKEN.deploy(INITIAL_SUPPLY)
    logs = token.get_logs()
    assert event_names(logs) == ["OwnershipTransferred", "RoleMinterChanged", "Transfer"]
    ownership, role, mint = logs
    assert ownership.previous_owner == ZERO
    assert ownership.new_owner == deployer
    assert role.minter == deployer
    assert role.status is True
    assert mint.sender == ZERO
    assert mint.receiver == deployer
    assert mint.value == INITIAL_SUPPLY


def test_constructor_with_zero_initial_supply(deployer):
    with boa.env.prank(deployer):
        token = TOKEN.deploy(0)
    assert token.totalSupply() == 0
    assert token.balanceOf(deployer) == 0


def test_balance_of_unknown_account_is_zero(token, alice):
    assert token.balanceOf(alice) == 0


def test_allowance_defaults_to_zero(token, deployer, alice):
    assert token.allowance(deployer, alice) == 0


def test_is_minter_false_for_stranger(token, alice):
    assert token.is_minter(alice) is False


# --------------------------------------------------------------------------- transfer


def test_transfer_moves_balance_and_returns_true(token, deployer, alice):
    with boa.env.prank(deployer):
        assert token.transfer(alice, 250) is True
    assert token.balanceOf(alice) == 250
    assert token.balanceOf(deployer) == INITIAL_SUPPLY - 250
    assert token.totalSupply() == INITIAL_SUPPLY


def test_transfer_emits_transfer_event(token, deployer, alice):
    with boa.env.prank(deployer):
        token.transfer(alice, 250)
    log = only_event(token, "Transfer")
    assert log.sender == deployer
    assert log.receiver == alice
    assert log.value == 250


def test_transfer_zero_amount_is_allowed(token, alice, bob):
    with boa.env.prank(alice):
        assert token.transfer(bob, 0) is True
    log = only_event(token, "Transfer")
    assert (log.sender, log.receiver, log.value) == (alice, bob, 0)


def test_transfer_to_self_keeps_balance(funded, alice):
    with boa.env.prank(alice):
        funded.transfer(alice, 400)
    assert funded.balanceOf(alice) == 1_000


def test_transfer_entire_balance(funded, alice, bob):
    with boa.env.prank(alice):
        funded.transfer(bob, 1_000)
    assert funded.balanceOf(alice) == 0
    assert funded.balanceOf(bob) == 1_000


def test_transfer_to_zero_address_reverts(token, deployer):
    with boa.env.prank(deployer), boa.reverts("erc20: transfer to the zero address"):
        token.transfer(ZERO, 1)
    assert token.balanceOf(deployer) == INITIAL_SUPPLY


def test_transfer_exceeding_balance_reverts(funded, alice, bob):
    with boa.env.prank(alice), boa.reverts("erc20: transfer amount exceeds balance"):
        funded.transfer(bob, 1_001)
    assert funded.balanceOf(alice) == 1_000
    assert funded.balanceOf(bob) == 0


def test_transfer_from_empty_account_reverts(token, alice, bob):
    with boa.env.prank(alice), boa.reverts("erc20: transfer amount exceeds balance"):
        token.transfer(bob, 1)


def test_transfer_from_zero_address_sender_reverts(token, alice):
    # Unreachable on a real chain (no one signs as 0x0), but the guard exists.
    with boa.env.prank(ZERO), boa.reverts("erc20: transfer from the zero address"):
        token.transfer(alice, 0)


def test_transfer_rejects_ether(token, deployer, alice):
    boa.env.set_balance(deployer, 10**18)
    with boa.env.prank(deployer), boa.reverts():
        token.transfer(alice, 1, value=1)


# --------------------------------------------------------------------------- approve


def test_approve_sets_allowance_and_returns_true(token, deployer, alice):
    with boa.env.prank(deployer):
        assert token.approve(alice, 500) is True
    assert token.allowance(deployer, alice) == 500


def test_approve_emits_approval_event(token, deployer, alice):
    with boa.env.prank(deployer):
        token.approve(alice, 500)
    log = only_event(token, "Approval")
    assert (log.owner, log.spender, log.value) == (deployer, alice, 500)


def test_approve_overwrites_previous_allowance(token, deployer, alice):
    with boa.env.prank(deployer):
        token.approve(alice, 500)
        token.approve(alice, 7)
    assert token.allowance(deployer, alice) == 7
    with boa.env.prank(deployer):
        token.approve(alice, 0)
    assert token.allowance(deployer, alice) == 0


def test_approve_may_exceed_balance(token, alice, bob):
    with boa.env.prank(alice):
        token.approve(bob, MAX_UINT256)
    assert token.allowance(alice, bob) == MAX_UINT256


def test_approve_zero_spender_reverts(token, deployer):
    with boa.env.prank(deployer), boa.reverts("erc20: approve to the zero address"):
        token.approve(ZERO, 1)


def test_approve_from_zero_address_sender_reverts(token, alice):
    with boa.env.prank(ZERO), boa.reverts("erc20: approve from the zero address"):
        token.approve(alice, 1)


# --------------------------------------------------------------------------- transferFrom


def test_transfer_from_moves_tokens_and_spends_allowance(funded, alice, bob, carol):
    with boa.env.prank(alice):
        funded.approve(bob, 600)
    with boa.env.prank(bob):
        assert funded.transferFrom(alice, carol, 250) is True
    assert funded.balanceOf(alice) == 750
    assert funded.balanceOf(carol) == 250
    assert funded.balanceOf(bob) == 0
    assert funded.allowance(alice, bob) == 350


def test_transfer_from_emits_approval_then_transfer(funded, alice, bob, carol):
    with boa.env.prank(alice):
        funded.approve(bob, 600)
    with boa.env.prank(bob):
        funded.transferFrom(alice, carol, 250)
    logs = funded.get_logs()
    assert event_names(logs) == ["Approval", "Transfer"]
    approval, transfer = logs
    assert (approval.owner, approval.spender, approval.value) == (alice, bob, 350)
    assert (transfer.sender, transfer.receiver, transfer.value) == (alice, carol, 250)


def test_transfer_from_exact_allowance_leaves_zero(funded, alice, bob):
    with boa.env.prank(alice):
        funded.approve(bob, 300)
    with boa.env.prank(bob):
        funded.transferFrom(alice, bob, 300)
    assert funded.allowance(alice, bob) == 0
    assert funded.balanceOf(bob) == 300


def test_transfer_from_insufficient_allowance_reverts(funded, alice, bob, carol):
    with boa.env.prank(alice):
        funded.approve(bob, 99)
    with boa.env.prank(bob), boa.reverts("erc20: insufficient allowance"):
        funded.transferFrom(alice, carol, 100)
    assert funded.allowance(alice, bob) == 99
    assert funded.balanceOf(alice) == 1_000


def test_transfer_from_without_any_allowance_reverts(funded, alice, bob):
    with boa.env.prank(bob), boa.reverts("erc20: insufficient allowance"):
        funded.transferFrom(alice, bob, 1)


def test_transfer_from_exceeding_balance_reverts(funded, alice, bob, carol):
    with boa.env.prank(alice):
        funded.approve(bob, 5_000)
    with boa.env.prank(bob), boa.reverts("erc20: transfer amount exceeds balance"):
        funded.transferFrom(alice, carol, 1_001)
    assert funded.allowance(alice, bob) == 5_000


def test_transfer_from_to_zero_address_reverts(funded, alice, bob):
    with boa.env.prank(alice):
        funded.approve(bob, 10)
    with boa.env.prank(bob), boa.reverts("erc20: transfer to the zero address"):
        funded.transferFrom(alice, ZERO, 1)
    assert funded.allowance(alice, bob) == 10


def test_transfer_from_zero_address_owner_reverts(token, bob):
    # Allowance check passes for amount 0, then the allowance update rejects owner 0x0.
    with boa.env.prank(bob), boa.reverts("erc20: approve from the zero address"):
        token.transferFrom(ZERO, bob, 0)


def test_transfer_from_infinite_allowance_is_not_decreased(funded, alice, bob, carol):
    with boa.env.prank(alice):
        funded.approve(bob, MAX_UINT256)
    with boa.env.prank(bob):
        funded.transferFrom(alice, carol, 400)
    # No Approval event when the allowance is infinite.
    assert event_names(funded.get_logs()) == ["Transfer"]
    assert funded.allowance(alice, bob) == MAX_UINT256
    assert funded.balanceOf(carol) == 400


def test_transfer_from_infinite_allowance_still_checks_balance(funded, alice, bob):
    with boa.env.prank(alice):
        funded.approve(bob, MAX_UINT256)
    with boa.env.prank(bob), boa.reverts("erc20: transfer amount exceeds balance"):
        funded.transferFrom(alice, bob, 1_001)


# --------------------------------------------------------------------------- burn / burn_from


def test_burn_reduces_balance_and_supply(funded, alice):
    with boa.env.prank(alice):
        funded.burn(300)
    log = only_event(funded, "Transfer")
    assert (log.sender, log.receiver, log.value) == (alice, ZERO, 300)
    assert funded.balanceOf(alice) == 700
    assert funded.totalSupply() == INITIAL_SUPPLY - 300


def test_burn_entire_balance(funded, alice):
    with boa.env.prank(alice):
        funded.burn(1_000)
    assert funded.balanceOf(alice) == 0
    assert funded.totalSupply() == INITIAL_SUPPLY - 1_000


def test_burn_exceeding_balance_reverts(funded, alice):
    with boa.env.prank(alice), boa.reverts("erc20: burn amount exceeds balance"):
        funded.burn(1_001)
    assert funded.balanceOf(alice) == 1_000
    assert funded.totalSupply() == INITIAL_SUPPLY


def test_burn_from_zero_address_sender_reverts(token):
    with boa.env.prank(ZERO), boa.reverts("erc20: burn from the zero address"):
        token.burn(0)


def test_burn_from_spends_allowance_and_burns(funded, alice, bob):
    with boa.env.prank(alice):
        funded.approve(bob, 500)
    with boa.env.prank(bob):
        funded.burn_from(alice, 200)
    logs = funded.get_logs()
    assert funded.balanceOf(alice) == 800
    assert funded.allowance(alice, bob) == 300
    assert funded.totalSupply() == INITIAL_SUPPLY - 200
    assert event_names(logs) == ["Approval", "Transfer"]
    assert (logs[0].owner, logs[0].spender, logs[0].value) == (alice, bob, 300)
    assert (logs[1].sender, logs[1].receiver, logs[1].value) == (alice, ZERO, 200)


def test_burn_from_infinite_allowance_not_decreased(funded, alice, bob):
    with boa.env.prank(alice):
        funded.approve(bob, MAX_UINT256)
    with boa.env.prank(bob):
        funded.burn_from(alice, 200)
    assert funded.allowance(alice, bob) == MAX_UINT256
    assert funded.balanceOf(alice) == 800


def test_burn_from_insufficient_allowance_reverts(funded, alice, bob):
    with boa.env.prank(alice):
        funded.approve(bob, 10)
    with boa.env.prank(bob), boa.reverts("erc20: insufficient allowance"):
        funded.burn_from(alice, 11)
    assert funded.balanceOf(alice) == 1_000
    assert funded.allowance(alice, bob) == 10


def test_burn_from_exceeding_balance_reverts(funded, alice, bob):
    with boa.env.prank(alice):
        funded.approve(bob, 5_000)
    with boa.env.prank(bob), boa.reverts("erc20: burn amount exceeds balance"):
        funded.burn_from(alice, 1_001)
    assert funded.allowance(alice, bob) == 5_000


def test_burn_from_zero_address_owner_reverts(token, bob):
    with boa.env.prank(bob), boa.reverts("erc20: approve from the zero address"):
        token.burn_from(ZERO, 0)


# --------------------------------------------------------------------------- mint


def test_mint_by_minter_increases_balance_and_supply(token, deployer, alice):
    with boa.env.prank(deployer):
        token.mint(alice, 42)
    log = only_event(token, "Transfer")
    assert (log.sender, log.receiver, log.value) == (ZERO, alice, 42)
    assert token.balanceOf(alice) == 42
    assert token.totalSupply() == INITIAL_SUPPLY + 42


def test_mint_by_non_minter_reverts(token, alice):
    with boa.env.prank(alice), boa.reverts("erc20: access is denied"):
        token.mint(alice, 1)
    assert token.balanceOf(alice) == 0
    assert token.totalSupply() == INITIAL_SUPPLY


def test_mint_to_zero_address_reverts(token, deployer):
    with boa.env.prank(deployer), boa.reverts("erc20: mint to the zero address"):
        token.mint(ZERO, 1)


def test_mint_total_supply_overflow_reverts(token, deployer, alice):
    with boa.env.prank(deployer), boa.reverts():
        token.mint(alice, MAX_UINT256 - INITIAL_SUPPLY + 1)
    assert token.totalSupply() == INITIAL_SUPPLY


def test_mint_up_to_max_supply(token, deployer, alice):
    with boa.env.prank(deployer):
        token.mint(alice, MAX_UINT256 - INITIAL_SUPPLY)
    assert token.totalSupply() == MAX_UINT256


def test_added_minter_can_mint(token, deployer, alice, bob):
    with boa.env.prank(deployer):
        token.set_minter(alice, True)
    with boa.env.prank(alice):
        token.mint(bob, 9)
    assert token.balanceOf(bob) == 9


# --------------------------------------------------------------------------- set_minter


def test_set_minter_grants_role_and_emits_event(token, deployer, alice):
    with boa.env.prank(deployer):
        token.set_minter(alice, True)
    log = only_event(token, "RoleMinterChanged")
    assert (log.minter, log.status) == (alice, True)
    assert token.is_minter(alice) is True


def test_set_minter_revokes_role(token, deployer, alice):
    with boa.env.prank(deployer):
        token.set_minter(alice, True)
        token.set_minter(alice, False)
    log = only_event(token, "RoleMinterChanged")
    assert (log.minter, log.status) == (alice, False)
    assert token.is_minter(alice) is False
    with boa.env.prank(alice), boa.reverts("erc20: access is denied"):
        token.mint(alice, 1)


def test_set_minter_by_non_owner_reverts(token, alice):
    with boa.env.prank(alice), boa.reverts("ownable: caller is not the owner"):
        token.set_minter(alice, True)
    assert token.is_minter(alice) is False


def test_set_minter_by_non_owner_minter_reverts(token, deployer, alice, bob):
    # Being a minter does not grant the right to manage minters.
    with boa.env.prank(deployer):
        token.set_minter(alice, True)
    with boa.env.prank(alice), boa.reverts("ownable: caller is not the owner"):
        token.set_minter(bob, True)


def test_set_minter_zero_address_reverts(token, deployer):
    with boa.env.prank(deployer), boa.reverts("erc20: minter is the zero address"):
        token.set_minter(ZERO, True)


def test_set_minter_owner_itself_reverts(token, deployer):
    with boa.env.prank(deployer), boa.reverts("erc20: minter is owner address"):
        token.set_minter(deployer, False)
    assert token.is_minter(deployer) is True


# --------------------------------------------------------------------------- EIP-712 / EIP-5267


def test_domain_separator_matches_python_computation(token):
    expected = python_domain_separator(token)
    assert token.DOMAIN_SEPARATOR() == expected
    # Cross-check against eth_account's EIP-712 implementation (header = domain hash).
    signable = encode_typed_data(
        domain(token),
        PERMIT_TYPES,
        {"owner": ZERO, "spender": ZERO, "value": 0, "nonce": 0, "deadline": 0},
    )
    assert signable.header == expected


def test_boa_default_chain_id_is_one():
    assert chain_id() == 1


def test_eip712_domain_fields(token):
    fields, name, version, cid, verifying_contract, salt, extensions = token.eip712Domain()
    assert fields == b"\x0f"
    assert name == NAME
    assert version == EIP712_VERSION
    assert cid == chain_id()
    assert verifying_contract == token.address
    assert salt == b"\x00" * 32
    assert extensions == []


def test_domain_separator_is_rebuilt_after_chain_id_change(token, restore_chain_id):
    cached = token.DOMAIN_SEPARATOR()
    boa.env.evm.patch.chain_id = 31337
    rebuilt = token.DOMAIN_SEPARATOR()
    assert rebuilt != cached
    assert rebuilt == python_domain_separator(token)
    assert token.eip712Domain()[3] == 31337


def test_domain_separator_differs_per_deployment(token, deployer):
    with boa.env.prank(deployer):
        other = TOKEN.deploy(0)
    assert other.DOMAIN_SEPARATOR() != token.DOMAIN_SEPARATOR()
    assert other.DOMAIN_SEPARATOR() == python_domain_separator(other)


# --------------------------------------------------------------------------- permit / nonces


def test_nonces_start_at_zero(token):
    assert token.nonces(PERMIT_OWNER.address) == 0


def test_permit_with_valid_signature_sets_allowance(token, alice):
    owner = PERMIT_OWNER.address
    deadline = now() + 3_600
    v, r, s = sign_permit(token, OWNER_KEY, owner, alice, 777, 0, deadline)
    token.permit(owner, alice, 777, deadline, v, r, s)
    log = only_event(token, "Approval")
    assert (log.owner, log.spender, log.value) == (owner, alice, 777)
    assert token.allowance(owner, alice) == 777
    assert token.nonces(owner) == 1


def test_permit_can_be_submitted_by_anyone(token, alice, bob):
    owner = PERMIT_OWNER.address
    deadline = now() + 60
    v, r, s = sign_permit(token, OWNER_KEY, owner, alice, 5, 0, deadline)
    with boa.env.prank(bob):
        token.permit(owner, alice, 5, deadline, v, r, s)
    assert token.allowance(owner, alice) == 5


def test_permit_deadline_equal_to_block_timestamp_is_accepted(token, alice):
    owner = PERMIT_OWNER.address
    deadline = now()
    v, r, s = sign_permit(token, OWNER_KEY, owner, alice, 1, 0, deadline)
    token.permit(owner, alice, 1, deadline, v, r, s)
    assert token.allowance(owner, alice) == 1


def test_permit_nonce_increments_per_permit(token, alice):
    owner = PERMIT_OWNER.address
    deadline = now() + 3_600
    for nonce, value in enumerate([10, 20, 30]):
        assert token.nonces(owner) == nonce
        v, r, s = sign_permit(token, OWNER_KEY, owner, alice, value, nonce, deadline)
        token.permit(owner, alice, value, deadline, v, r, s)
        assert token.allowance(owner, alice) == value
    assert token.nonces(owner) == 3


def test_permit_allowance_usable_by_spender(token, deployer, alice, bob):
    owner = PERMIT_OWNER.address
    with boa.env.prank(deployer):
        token.transfer(owner, 1_000)
    deadline = now() + 3_600
    v, r, s = sign_permit(token, OWNER_KEY, owner, alice, 400, 0, deadline)
    token.permit(owner, alice, 400, deadline, v, r, s)
    with boa.env.prank(alice):
        token.transferFrom(owner, bob, 150)
    assert token.balanceOf(bob) == 150
    assert token.allowance(owner, alice) == 250


def test_permit_expired_deadline_reverts(token, alice):
    owner = PERMIT_OWNER.address
    deadline = now() - 1
    v, r, s = sign_permit(token, OWNER_KEY, owner, alice, 1, 0, deadline)
    with boa.reverts("erc20: expired deadline"):
        token.permit(owner, alice, 1, deadline, v, r, s)
    assert token.nonces(owner) == 0


def test_permit_expires_after_time_travel(token, alice):
    owner = PERMIT_OWNER.address
    deadline = now() + 100
    v, r, s = sign_permit(token, OWNER_KEY, owner, alice, 1, 0, deadline)
    boa.env.time_travel(seconds=101)
    with boa.reverts("erc20: expired deadline"):
        token.permit(owner, alice, 1, deadline, v, r, s)


def test_permit_signed_by_wrong_key_reverts(token, alice):
    owner = PERMIT_OWNER.address
    deadline = now() + 3_600
    v, r, s = sign_permit(token, OTHER_KEY, owner, alice, 1, 0, deadline)
    with boa.reverts("erc20: invalid signature"):
        token.permit(owner, alice, 1, deadline, v, r, s)
    assert token.nonces(owner) == 0
    assert token.allowance(owner, alice) == 0


def test_permit_replay_reverts(token, alice):
    owner = PERMIT_OWNER.address
    deadline = now() + 3_600
    v, r, s = sign_permit(token, OWNER_KEY, owner, alice, 50, 0, deadline)
    token.permit(owner, alice, 50, deadline, v, r, s)
    with boa.reverts("erc20: invalid signature"):
        token.permit(owner, alice, 50, deadline, v, r, s)
    assert token.nonces(owner) == 1


def test_permit_with_tampered_value_reverts(token, alice):
    owner = PERMIT_OWNER.address
    deadline = now() + 3_600
    v, r, s = sign_permit(token, OWNER_KEY, owner, alice, 50, 0, deadline)
    with boa.reverts("erc20: invalid signature"):
        token.permit(owner, alice, 51, deadline, v, r, s)


def test_permit_with_wrong_nonce_reverts(token, alice):
    owner = PERMIT_OWNER.address
    deadline = now() + 3_600
    v, r, s = sign_permit(token, OWNER_KEY, owner, alice, 50, 1, deadline)
    with boa.reverts("erc20: invalid signature"):
        token.permit(owner, alice, 50, deadline, v, r, s)


def test_permit_for_other_chain_id_reverts(token, alice, restore_chain_id):
    owner = PERMIT_OWNER.address
    deadline = now() + 3_600
    v, r, s = sign_permit(token, OWNER_KEY, owner, alice, 50, 0, deadline)
    boa.env.evm.patch.chain_id = 5
    with boa.reverts("erc20: invalid signature"):
        token.permit(owner, alice, 50, deadline, v, r, s)


def test_permit_for_other_token_reverts(token, deployer, alice):
    with boa.env.prank(deployer):
        other = TOKEN.deploy(0)
    owner = PERMIT_OWNER.address
    deadline = now() + 3_600
    v, r, s = sign_permit(other, OWNER_KEY, owner, alice, 50, 0, deadline)
    with boa.reverts("erc20: invalid signature"):
        token.permit(owner, alice, 50, deadline, v, r, s)


def test_permit_malleable_high_s_reverts(token, alice):
    owner = PERMIT_OWNER.address
    deadline = now() + 3_600
    v, r, s = sign_permit(token, OWNER_KEY, owner, alice, 50, 0, deadline)
    high_s = (SECP256K1_N - int.from_bytes(s, "big")).to_bytes(32, "big")
    flipped_v = 55 - v  # 27 <-> 28
    with boa.reverts("ecdsa: invalid signature `s` value"):
        token.permit(owner, alice, 50, deadline, flipped_v, r, high_s)


def test_permit_invalid_v_reverts(token, alice):
    owner = PERMIT_OWNER.address
    deadline = now() + 3_600
    _, r, s = sign_permit(token, OWNER_KEY, owner, alice, 50, 0, deadline)
    with boa.reverts("ecdsa: invalid signature"):
        token.permit(owner, alice, 50, deadline, 0, r, s)


def test_permit_zero_spender_reverts(token):
    owner = PERMIT_OWNER.address
    deadline = now() + 3_600
    v, r, s = sign_permit(token, OWNER_KEY, owner, ZERO, 50, 0, deadline)
    with boa.reverts("erc20: approve to the zero address"):
        token.permit(owner, ZERO, 50, deadline, v, r, s)
    assert token.nonces(owner) == 0


def test_permit_zero_owner_reverts(token, alice):
    deadline = now() + 3_600
    with boa.reverts("ecdsa: invalid signature"):
        token.permit(ZERO, alice, 1, deadline, 27, b"\x00" * 32, b"\x00" * 32)


# --------------------------------------------------------------------------- EIP-3009 transfer with authorization

AUTH_FIELDS = [
    {"name": "from", "type": "address"},
    {"name": "to", "type": "address"},
    {"name": "value", "type": "uint256"},
    {"name": "validAfter", "type": "uint256"},
    {"name": "validBefore", "type": "uint256"},
    {"name": "nonce", "type": "bytes32"},
]
CANCEL_FIELDS = [{"name": "authorizer", "type": "address"}, {"name": "nonce", "type": "bytes32"}]
NONCE_A = keccak(text="agora-test-authorization-a")
NONCE_B = keccak(text="agora-test-authorization-b")


def sign_authorization(token, key, to, value, valid_after, valid_before, nonce, primary="TransferWithAuthorization"):
    """``(v, r, s)`` of an EIP-3009 authorization from ``key``'s account, signed by eth-account."""
    message = {
        "from": Account.from_key(key).address,
        "to": str(to),
        "value": value,
        "validAfter": valid_after,
        "validBefore": valid_before,
        "nonce": nonce,
    }
    signed = Account.sign_typed_data(key, domain(token), {primary: AUTH_FIELDS}, message)
    return signed.v, signed.r.to_bytes(32, "big"), signed.s.to_bytes(32, "big")


def sign_cancel(token, key, nonce):
    message = {"authorizer": Account.from_key(key).address, "nonce": nonce}
    signed = Account.sign_typed_data(key, domain(token), {"CancelAuthorization": CANCEL_FIELDS}, message)
    return signed.v, signed.r.to_bytes(32, "big"), signed.s.to_bytes(32, "big")


@pytest.fixture
def payer_funded(token, deployer):
    """PERMIT_OWNER (the payer, who has a key) holds 1,000 tokens."""
    with boa.env.prank(deployer):
        token.transfer(PERMIT_OWNER.address, 1_000)
    return token


def window() -> tuple[int, int]:
    return now() - 1, now() + 3_600


def test_authorization_state_starts_unused(token):
    assert token.authorizationState(PERMIT_OWNER.address, NONCE_A) is False


def test_transfer_with_authorization_moves_tokens_and_uses_the_nonce(payer_funded, bob, carol):
    token, payer = payer_funded, PERMIT_OWNER.address
    after, before = window()
    v, r, s = sign_authorization(token, OWNER_KEY, bob, 300, after, before, NONCE_A)
    with boa.env.prank(carol):  # anyone may submit
        token.transferWithAuthorization(payer, bob, 300, after, before, NONCE_A, v, r, s)
    logs = token.get_logs()
    assert event_names(logs) == ["AuthorizationUsed", "Transfer"]
    assert (logs[0].authorizer, logs[0].nonce) == (payer, NONCE_A)
    assert (logs[1].sender, logs[1].receiver, logs[1].value) == (payer, bob, 300)
    assert token.balanceOf(payer) == 700
    assert token.balanceOf(bob) == 300
    assert token.balanceOf(carol) == 0
    assert token.totalSupply() == INITIAL_SUPPLY
    assert token.authorizationState(payer, NONCE_A) is True
    assert token.authorizationState(payer, NONCE_B) is False
    assert token.authorizationState(PERMIT_OTHER.address, NONCE_A) is False


def test_transfer_with_authorization_gas(payer_funded, bob):
    token, payer = payer_funded, PERMIT_OWNER.address
    after, before = window()
    v, r, s = sign_authorization(token, OWNER_KEY, bob, 300, after, before, NONCE_A)
    token.transferWithAuthorization(payer, bob, 300, after, before, NONCE_A, v, r, s)
    gas = token._computation.get_gas_used()  # execution only: no 21,000 base, no calldata
    print(f"transferWithAuthorization (to a new holder): {gas} gas of execution")
    assert gas < 100_000


def test_transfer_with_authorization_of_zero_and_to_self(payer_funded):
    token, payer = payer_funded, PERMIT_OWNER.address
    after, before = window()
    v, r, s = sign_authorization(token, OWNER_KEY, payer, 0, after, before, NONCE_A)
    token.transferWithAuthorization(payer, payer, 0, after, before, NONCE_A, v, r, s)
    assert token.balanceOf(payer) == 1_000
    assert token.authorizationState(payer, NONCE_A) is True


def test_several_authorizations_with_distinct_nonces(payer_funded, bob):
    token, payer = payer_funded, PERMIT_OWNER.address
    after, before = window()
    for nonce in (NONCE_A, NONCE_B):
        v, r, s = sign_authorization(token, OWNER_KEY, bob, 100, after, before, nonce)
        token.transferWithAuthorization(payer, bob, 100, after, before, nonce, v, r, s)
    assert token.balanceOf(bob) == 200


def test_transfer_with_authorization_replay_reverts(payer_funded, bob):
    token, payer = payer_funded, PERMIT_OWNER.address
    after, before = window()
    v, r, s = sign_authorization(token, OWNER_KEY, bob, 300, after, before, NONCE_A)
    token.transferWithAuthorization(payer, bob, 300, after, before, NONCE_A, v, r, s)
    with boa.reverts("AgoraToken: authorization is used or canceled"):
        token.transferWithAuthorization(payer, bob, 300, after, before, NONCE_A, v, r, s)
    assert token.balanceOf(bob) == 300


def test_transfer_with_authorization_not_yet_valid_reverts(payer_funded, bob):
    token, payer = payer_funded, PERMIT_OWNER.address
    after, before = now(), now() + 3_600  # valid strictly after validAfter: not at it
    v, r, s = sign_authorization(token, OWNER_KEY, bob, 1, after, before, NONCE_A)
    with boa.reverts("AgoraToken: authorization is not yet valid"):
        token.transferWithAuthorization(payer, bob, 1, after, before, NONCE_A, v, r, s)
    assert token.authorizationState(payer, NONCE_A) is False
    boa.env.time_travel(seconds=1)
    token.transferWithAuthorization(payer, bob, 1, after, before, NONCE_A, v, r, s)
    assert token.balanceOf(bob) == 1


def test_transfer_with_authorization_expired_reverts(payer_funded, bob):
    token, payer = payer_funded, PERMIT_OWNER.address
    after, before = now() - 100, now()  # valid strictly before validBefore: not at it
    v, r, s = sign_authorization(token, OWNER_KEY, bob, 1, after, before, NONCE_A)
    with boa.reverts("AgoraToken: authorization is expired"):
        token.transferWithAuthorization(payer, bob, 1, after, before, NONCE_A, v, r, s)
    assert token.authorizationState(payer, NONCE_A) is False


def test_transfer_with_authorization_expires_after_time_travel(payer_funded, bob):
    token, payer = payer_funded, PERMIT_OWNER.address
    after, before = now() - 1, now() + 100
    v, r, s = sign_authorization(token, OWNER_KEY, bob, 1, after, before, NONCE_A)
    boa.env.time_travel(seconds=100)
    with boa.reverts("AgoraToken: authorization is expired"):
        token.transferWithAuthorization(payer, bob, 1, after, before, NONCE_A, v, r, s)


def test_transfer_with_authorization_signed_by_wrong_key_reverts(payer_funded, bob):
    token, payer = payer_funded, PERMIT_OWNER.address
    after, before = window()
    v, r, s = sign_authorization(token, OTHER_KEY, bob, 300, after, before, NONCE_A)
    with boa.reverts("AgoraToken: invalid signature"):
        token.transferWithAuthorization(payer, bob, 300, after, before, NONCE_A, v, r, s)
    assert token.balanceOf(payer) == 1_000
    assert token.authorizationState(payer, NONCE_A) is False


@pytest.mark.parametrize("field", ["to", "value", "validAfter", "validBefore", "nonce"])
def test_transfer_with_authorization_tampered_reverts(payer_funded, bob, carol, field):
    token, payer = payer_funded, PERMIT_OWNER.address
    after, before = window()
    v, r, s = sign_authorization(token, OWNER_KEY, bob, 300, after, before, NONCE_A)
    args = {"to": bob, "value": 300, "validAfter": after, "validBefore": before, "nonce": NONCE_A}
    tampered = {"to": carol, "value": 301, "validAfter": after - 1, "validBefore": before + 1, "nonce": NONCE_B}
    args[field] = tampered[field]
    with boa.reverts("AgoraToken: invalid signature"):
        token.transferWithAuthorization(payer, *args.values(), v, r, s)
    assert token.balanceOf(payer) == 1_000


def test_transfer_with_authorization_for_other_chain_or_token_reverts(payer_funded, deployer, bob, restore_chain_id):
    token, payer = payer_funded, PERMIT_OWNER.address
    after, before = window()
    with boa.env.prank(deployer):
        other = TOKEN.deploy(0)
    v, r, s = sign_authorization(other, OWNER_KEY, bob, 1, after, before, NONCE_A)
    with boa.reverts("AgoraToken: invalid signature"):
        token.transferWithAuthorization(payer, bob, 1, after, before, NONCE_A, v, r, s)
    v, r, s = sign_authorization(token, OWNER_KEY, bob, 1, after, before, NONCE_A)
    boa.env.evm.patch.chain_id = 5
    with boa.reverts("AgoraToken: invalid signature"):
        token.transferWithAuthorization(payer, bob, 1, after, before, NONCE_A, v, r, s)


def test_a_receive_authorization_cannot_be_used_as_a_transfer(payer_funded, bob):
    token, payer = payer_funded, PERMIT_OWNER.address
    after, before = window()
    v, r, s = sign_authorization(token, OWNER_KEY, bob, 1, after, before, NONCE_A, "ReceiveWithAuthorization")
    with boa.reverts("AgoraToken: invalid signature"):
        token.transferWithAuthorization(payer, bob, 1, after, before, NONCE_A, v, r, s)


def test_transfer_with_authorization_malleable_high_s_reverts(payer_funded, bob):
    token, payer = payer_funded, PERMIT_OWNER.address
    after, before = window()
    v, r, s = sign_authorization(token, OWNER_KEY, bob, 1, after, before, NONCE_A)
    high_s = (SECP256K1_N - int.from_bytes(s, "big")).to_bytes(32, "big")
    with boa.reverts("ecdsa: invalid signature `s` value"):
        token.transferWithAuthorization(payer, bob, 1, after, before, NONCE_A, 55 - v, r, high_s)


def test_transfer_with_authorization_invalid_v_reverts(payer_funded, bob):
    token, payer = payer_funded, PERMIT_OWNER.address
    after, before = window()
    _, r, s = sign_authorization(token, OWNER_KEY, bob, 1, after, before, NONCE_A)
    with boa.reverts("ecdsa: invalid signature"):
        token.transferWithAuthorization(payer, bob, 1, after, before, NONCE_A, 0, r, s)


def test_transfer_with_authorization_from_zero_address_reverts(token, bob):
    after, before = window()
    with boa.reverts("ecdsa: invalid signature"):
        token.transferWithAuthorization(ZERO, bob, 1, after, before, NONCE_A, 27, b"\x00" * 32, b"\x00" * 32)


def test_transfer_with_authorization_to_zero_address_reverts(payer_funded):
    token, payer = payer_funded, PERMIT_OWNER.address
    after, before = window()
    v, r, s = sign_authorization(token, OWNER_KEY, ZERO, 1, after, before, NONCE_A)
    with boa.reverts("erc20: transfer to the zero address"):
        token.transferWithAuthorization(payer, ZERO, 1, after, before, NONCE_A, v, r, s)
    assert token.authorizationState(payer, NONCE_A) is False


def test_transfer_with_authorization_exceeding_balance_reverts(payer_funded, bob):
    token, payer = payer_funded, PERMIT_OWNER.address
    after, before = window()
    v, r, s = sign_authorization(token, OWNER_KEY, bob, 1_001, after, before, NONCE_A)
    with boa.reverts("erc20: transfer amount exceeds balance"):
        token.transferWithAuthorization(payer, bob, 1_001, after, before, NONCE_A, v, r, s)
    assert token.authorizationState(payer, NONCE_A) is False  # the whole call rolled back


def test_receive_with_authorization_by_the_payee(payer_funded, bob):
    token, payer = payer_funded, PERMIT_OWNER.address
    after, before = window()
    v, r, s = sign_authorization(token, OWNER_KEY, bob, 250, after, before, NONCE_A, "ReceiveWithAuthorization")
    with boa.env.prank(bob):
        token.receiveWithAuthorization(payer, bob, 250, after, before, NONCE_A, v, r, s)
    logs = token.get_logs()
    assert event_names(logs) == ["AuthorizationUsed", "Transfer"]
    assert (logs[0].authorizer, logs[0].nonce) == (payer, NONCE_A)
    assert (logs[1].sender, logs[1].receiver, logs[1].value) == (payer, bob, 250)
    assert token.balanceOf(bob) == 250
    assert token.authorizationState(payer, NONCE_A) is True
    with boa.env.prank(bob), boa.reverts("AgoraToken: authorization is used or canceled"):
        token.receiveWithAuthorization(payer, bob, 250, after, before, NONCE_A, v, r, s)


def test_receive_with_authorization_by_another_caller_reverts(payer_funded, bob, carol):
    token, payer = payer_funded, PERMIT_OWNER.address
    after, before = window()
    v, r, s = sign_authorization(token, OWNER_KEY, bob, 250, after, before, NONCE_A, "ReceiveWithAuthorization")
    with boa.env.prank(carol), boa.reverts("AgoraToken: caller must be the payee"):
        token.receiveWithAuthorization(payer, bob, 250, after, before, NONCE_A, v, r, s)
    assert token.authorizationState(payer, NONCE_A) is False


def test_receive_with_authorization_checks_window_and_signature(payer_funded, bob):
    token, payer = payer_funded, PERMIT_OWNER.address
    after, before = window()
    v, r, s = sign_authorization(token, OWNER_KEY, bob, 1, after, before, NONCE_A)  # a transfer one
    with boa.env.prank(bob):
        with boa.reverts("AgoraToken: invalid signature"):
            token.receiveWithAuthorization(payer, bob, 1, after, before, NONCE_A, v, r, s)
        with boa.reverts("AgoraToken: authorization is not yet valid"):
            token.receiveWithAuthorization(payer, bob, 1, now(), before, NONCE_A, v, r, s)
        with boa.reverts("AgoraToken: authorization is expired"):
            token.receiveWithAuthorization(payer, bob, 1, after, now(), NONCE_A, v, r, s)


def test_cancel_authorization_then_its_use_reverts(payer_funded, bob, carol):
    token, payer = payer_funded, PERMIT_OWNER.address
    after, before = window()
    v, r, s = sign_cancel(token, OWNER_KEY, NONCE_A)
    with boa.env.prank(carol):  # anyone may submit
        token.cancelAuthorization(payer, NONCE_A, v, r, s)
    log = only_event(token, "AuthorizationCanceled")
    assert (log.authorizer, log.nonce) == (payer, NONCE_A)
    assert token.authorizationState(payer, NONCE_A) is True
    tv, tr, ts = sign_authorization(token, OWNER_KEY, bob, 1, after, before, NONCE_A)
    with boa.reverts("AgoraToken: authorization is used or canceled"):
        token.transferWithAuthorization(payer, bob, 1, after, before, NONCE_A, tv, tr, ts)
    rv, rr, rs = sign_authorization(token, OWNER_KEY, bob, 1, after, before, NONCE_A, "ReceiveWithAuthorization")
    with boa.env.prank(bob), boa.reverts("AgoraToken: authorization is used or canceled"):
        token.receiveWithAuthorization(payer, bob, 1, after, before, NONCE_A, rv, rr, rs)
    with boa.reverts("AgoraToken: authorization is used or canceled"):
        token.cancelAuthorization(payer, NONCE_A, v, r, s)
    assert token.balanceOf(payer) == 1_000


def test_cancel_of_a_used_authorization_reverts(payer_funded, bob):
    token, payer = payer_funded, PERMIT_OWNER.address
    after, before = window()
    v, r, s = sign_authorization(token, OWNER_KEY, bob, 1, after, before, NONCE_A)
    token.transferWithAuthorization(payer, bob, 1, after, before, NONCE_A, v, r, s)
    cv, cr, cs = sign_cancel(token, OWNER_KEY, NONCE_A)
    with boa.reverts("AgoraToken: authorization is used or canceled"):
        token.cancelAuthorization(payer, NONCE_A, cv, cr, cs)


def test_cancel_authorization_signed_by_wrong_key_reverts(token):
    payer = PERMIT_OWNER.address
    v, r, s = sign_cancel(token, OTHER_KEY, NONCE_A)
    with boa.reverts("AgoraToken: invalid signature"):
        token.cancelAuthorization(payer, NONCE_A, v, r, s)
    v, r, s = sign_cancel(token, OWNER_KEY, NONCE_B)  # another nonce
    with boa.reverts("AgoraToken: invalid signature"):
        token.cancelAuthorization(payer, NONCE_A, v, r, s)
    assert token.authorizationState(payer, NONCE_A) is False


def test_cancel_authorization_malleable_high_s_reverts(token):
    v, r, s = sign_cancel(token, OWNER_KEY, NONCE_A)
    high_s = (SECP256K1_N - int.from_bytes(s, "big")).to_bytes(32, "big")
    with boa.reverts("ecdsa: invalid signature `s` value"):
        token.cancelAuthorization(PERMIT_OWNER.address, NONCE_A, 55 - v, r, high_s)


def test_agora_signing_helper_is_accepted(payer_funded, bob):
    """``agora.chain.permits``: the fast path's signature, and the domain read from the token."""
    from agora.chain import signer_from_key
    from agora.chain.eip712 import Domain
    from agora.chain.permits import TransferAuthorization, recover_authorizer, sign_transfer_authorization

    token, signer = payer_funded, signer_from_key(OWNER_KEY)
    _, name, version, cid, verifying, _, _ = token.eip712Domain()
    dom = Domain(name, version, cid, verifying)
    after, before = window()
    auth = TransferAuthorization(signer.address, str(bob), 42, after, before, NONCE_A)
    sig = sign_transfer_authorization(signer, dom, auth)
    assert recover_authorizer(dom, auth, sig) == signer.address
    token.transferWithAuthorization(
        auth.from_, auth.to, auth.value, auth.valid_after, auth.valid_before, auth.nonce, sig[64], sig[:32], sig[32:64]
    )
    assert token.balanceOf(bob) == 42


def test_x402_sdk_signature_is_accepted(payer_funded, bob):
    """The interop that matters: what the official x402 SDK signs, the token takes."""
    from x402.mechanisms.evm.eip712 import build_typed_data_for_signing
    from x402.mechanisms.evm.types import ExactEIP3009Authorization

    token, payer = payer_funded, PERMIT_OWNER.address
    after, before = window()
    authorization = ExactEIP3009Authorization(
        from_address=payer, to=str(bob), value="123", valid_after=str(after), valid_before=str(before),
        nonce="0x" + NONCE_A.hex(),
    )
    sdk_domain, types, primary, message = build_typed_data_for_signing(
        authorization, chain_id(), str(token.address), NAME, EIP712_VERSION
    )
    typed = {
        "types": {
            "EIP712Domain": [
                {"name": "name", "type": "string"},
                {"name": "version", "type": "string"},
                {"name": "chainId", "type": "uint256"},
                {"name": "verifyingContract", "type": "address"},
            ],
            **types,
        },
        "primaryType": primary,
        "domain": {
            "name": sdk_domain.name,
            "version": sdk_domain.version,
            "chainId": sdk_domain.chain_id,
            "verifyingContract": sdk_domain.verifying_contract,
        },
        "message": message,
    }
    signed = PERMIT_OWNER.sign_message(encode_typed_data(full_message=typed))
    sig = bytes(signed.signature)
    token.transferWithAuthorization(payer, bob, 123, after, before, NONCE_A, sig[64], sig[:32], sig[32:64])
    assert token.balanceOf(bob) == 123
    assert token.authorizationState(payer, NONCE_A) is True


def test_x402_client_payload_is_accepted(payer_funded, bob):
    """The x402 client's whole ``exact`` payload (its own nonce, window and wire form),
    parsed by ``TransferAuthorization.from_json`` and submitted as a facilitator would."""
    from x402.mechanisms.evm.exact.client import ExactEvmScheme
    from x402.schemas.payments import PaymentRequirements

    from agora.chain.permits import TransferAuthorization

    token = payer_funded
    requirements = PaymentRequirements(
        scheme="exact", network=f"eip155:{chain_id()}", asset=str(token.address), amount="77", pay_to=str(bob),
        max_timeout_seconds=10**9, extra={"name": NAME, "version": EIP712_VERSION},
    )
    payload = ExactEvmScheme(PERMIT_OWNER).create_payment_payload(requirements)
    auth = TransferAuthorization.from_json(payload["authorization"])
    sig = bytes.fromhex(payload["signature"].removeprefix("0x"))
    assert auth.valid_after < now() < auth.valid_before
    token.transferWithAuthorization(
        auth.from_, auth.to, auth.value, auth.valid_after, auth.valid_before, auth.nonce, sig[64], sig[:32], sig[32:64]
    )
    assert token.balanceOf(bob) == 77
    assert token.authorizationState(auth.from_, auth.nonce) is True


# --------------------------------------------------------------------------- ownership


def test_transfer_ownership_moves_owner_and_minter_role(token, deployer, alice):
    with boa.env.prank(deployer):
        token.transfer_ownership(alice)
    logs = token.get_logs()
    assert token.owner() == alice
    assert token.is_minter(alice) is True
    assert token.is_minter(deployer) is False
    assert event_names(logs) == ["RoleMinterChanged", "OwnershipTransferred", "RoleMinterChanged"]
    assert (logs[0].minter, logs[0].status) == (deployer, False)
    assert (logs[1].previous_owner, logs[1].new_owner) == (deployer, alice)
    assert (logs[2].minter, logs[2].status) == (alice, True)


def test_new_owner_can_manage_minters_and_old_owner_cannot(token, deployer, alice, bob):
    with boa.env.prank(deployer):
        token.transfer_ownership(alice)
    with boa.env.prank(alice):
        token.set_minter(bob, True)
    assert token.is_minter(bob) is True
    with boa.env.prank(deployer), boa.reverts("ownable: caller is not the owner"):
        token.set_minter(bob, False)
    with boa.env.prank(deployer), boa.reverts("erc20: access is denied"):
        token.mint(deployer, 1)


def test_transfer_ownership_by_non_owner_reverts(token, deployer, alice):
    with boa.env.prank(alice), boa.reverts("ownable: caller is not the owner"):
        token.transfer_ownership(alice)
    assert token.owner() == deployer


def test_transfer_ownership_to_zero_address_reverts(token, deployer):
    with boa.env.prank(deployer), boa.reverts("erc20: new owner is the zero address"):
        token.transfer_ownership(ZERO)
    assert token.owner() == deployer
    assert token.is_minter(deployer) is True


def test_renounce_ownership_clears_owner_and_minter_role(token, deployer):
    with boa.env.prank(deployer):
        token.renounce_ownership()
    logs = token.get_logs()
    assert token.owner() == ZERO
    assert token.is_minter(deployer) is False
    assert event_names(logs) == ["RoleMinterChanged", "OwnershipTransferred"]
    assert (logs[0].minter, logs[0].status) == (deployer, False)
    assert (logs[1].previous_owner, logs[1].new_owner) == (deployer, ZERO)


def test_after_renounce_owner_functions_are_locked(token, deployer, alice):
    with boa.env.prank(deployer):
        token.renounce_ownership()
    with boa.env.prank(deployer):
        with boa.reverts("ownable: caller is not the owner"):
            token.set_minter(alice, True)
        with boa.reverts("ownable: caller is not the owner"):
            token.transfer_ownership(alice)
        with boa.reverts("ownable: caller is not the owner"):
            token.renounce_ownership()
        with boa.reverts("erc20: access is denied"):
            token.mint(deployer, 1)


def test_renounce_ownership_keeps_other_minters(token, deployer, alice):
    with boa.env.prank(deployer):
        token.set_minter(alice, True)
        token.renounce_ownership()
    with boa.env.prank(alice):
        token.mint(alice, 3)
    assert token.balanceOf(alice) == 3


def test_renounce_ownership_by_non_owner_reverts(token, deployer, alice):
    with boa.env.prank(alice), boa.reverts("ownable: caller is not the owner"):
        token.renounce_ownership()
    assert token.owner() == deployer
