"""EIP-3009 transfer authorizations without a chain (:mod:`agora.chain.permits`).

The fast digest is checked against eth-account's reference ``encode_typed_data`` and
against the x402 SDK's own hash, so what a wallet or the SDK signs is what the service
checks and the token (``tests/contracts/test_token.py``) accepts. The wire form is the
x402 one; every malformed field is a one-line ``ValueError``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from eth_account import Account
from eth_account.messages import _hash_eip191_message, encode_typed_data
from hypothesis import given, settings
from hypothesis import strategies as st
from x402.mechanisms.evm.eip712 import hash_eip3009_authorization
from x402.mechanisms.evm.types import AUTHORIZATION_TYPES, ExactEIP3009Authorization

from agora.chain import Chain, Contract, connect, signer_from_key
from agora.chain.compiler import compile_contract, compile_file
from agora.chain.contracts import deploy
from agora.chain.eip712 import SECP256K1_HALF_N, Domain
from agora.chain.permits import (
    TRANSFER_AUTHORIZATION_TYPES,
    TransferAuthorization,
    fetch_token_domain,
    new_authorization_nonce,
    recover_authorizer,
    sign_transfer_authorization,
)
from agora.errors import ConfigError

SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
PAYER = signer_from_key("0x" + "31" * 32)
OTHER = signer_from_key("0x" + "32" * 32)
PAYEE = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"
TOKEN = "0x5FbDB2315678afecb367f032d93F642f64180aa3"
DOMAIN = Domain("Agora Token", "1", 31337, TOKEN)
NONCE = bytes(range(32))


def _auth(**changes: Any) -> TransferAuthorization:
    fields: dict[str, Any] = {
        "from_": PAYER.address, "to": PAYEE, "value": 10**18, "valid_after": 0,
        "valid_before": 1_900_000_000, "nonce": NONCE,
    }
    fields.update(changes)
    return TransferAuthorization(**fields)


def _reference_digest(auth: TransferAuthorization, domain: Domain) -> bytes:
    return _hash_eip191_message(encode_typed_data(full_message=auth.typed_data(domain)))


# --------------------------------------------------------------------------- types and digest


def test_types_are_the_eips_and_the_x402_sdks() -> None:
    assert TRANSFER_AUTHORIZATION_TYPES["TransferWithAuthorization"] == AUTHORIZATION_TYPES["TransferWithAuthorization"]
    assert [f["name"] for f in TRANSFER_AUTHORIZATION_TYPES["EIP712Domain"]] == [
        "name", "version", "chainId", "verifyingContract",
    ]


def test_digest_equals_eth_accounts() -> None:
    auth = _auth()
    assert auth.digest(DOMAIN) == _reference_digest(auth, DOMAIN)


def test_digest_equals_the_x402_sdks() -> None:
    auth = _auth()
    wire = auth.to_json()
    sdk = ExactEIP3009Authorization(
        from_address=wire["from"], to=wire["to"], value=wire["value"], valid_after=wire["validAfter"],
        valid_before=wire["validBefore"], nonce=wire["nonce"],
    )
    assert auth.digest(DOMAIN) == hash_eip3009_authorization(sdk, DOMAIN.chain_id, TOKEN, "Agora Token", "1")


uint256 = st.integers(0, 2**256 - 1)


@settings(max_examples=60, deadline=None)
@given(
    value=uint256, after=uint256, before=uint256, nonce=st.binary(min_size=32, max_size=32),
    chain_id=st.integers(1, 2**64), name=st.text(max_size=20), version=st.text(max_size=5),
)
def test_digest_equals_eth_accounts_for_any_fields(
    value: int, after: int, before: int, nonce: bytes, chain_id: int, name: str, version: str
) -> None:
    domain = Domain(name, version, chain_id, TOKEN)
    auth = _auth(value=value, valid_after=after, valid_before=before, nonce=nonce)
    assert auth.digest(domain) == _reference_digest(auth, domain)


def test_digest_depends_on_every_field_and_the_domain() -> None:
    base = _auth()
    variants = [
        _auth(from_=OTHER.address), _auth(to=OTHER.address), _auth(value=1), _auth(valid_after=1),
        _auth(valid_before=1), _auth(nonce=bytes(32)),
    ]
    digests = {base.digest(DOMAIN), *(v.digest(DOMAIN) for v in variants)}
    assert len(digests) == 1 + len(variants)
    assert base.digest(Domain("Agora Token", "1", 1, TOKEN)) != base.digest(DOMAIN)
    assert base.digest(Domain("Agora Token", "2", 31337, TOKEN)) != base.digest(DOMAIN)


# --------------------------------------------------------------------------- signing and recovery


def test_signature_is_eth_accounts_and_recovers_the_payer() -> None:
    auth = _auth()
    sig = sign_transfer_authorization(PAYER, DOMAIN, auth)
    assert len(sig) == 65 and sig[64] in (27, 28)
    assert int.from_bytes(sig[32:64], "big") <= SECP256K1_HALF_N
    assert sig == PAYER.sign_typed_data(auth.typed_data(DOMAIN))  # RFC 6979: deterministic
    assert recover_authorizer(DOMAIN, auth, sig) == PAYER.address


def test_a_wallet_signature_recovers_the_payer() -> None:
    auth = _auth()
    signed = Account.sign_message(encode_typed_data(full_message=auth.typed_data(DOMAIN)), "0x" + "31" * 32)
    assert recover_authorizer(DOMAIN, auth, bytes(signed.signature)) == PAYER.address


def test_recover_another_authorization_or_domain_is_not_the_payer() -> None:
    sig = sign_transfer_authorization(PAYER, DOMAIN, _auth())
    assert recover_authorizer(DOMAIN, _auth(value=10**18 + 1), sig) != PAYER.address
    assert recover_authorizer(Domain("Agora Token", "1", 1, TOKEN), _auth(), sig) != PAYER.address


def test_recover_refuses_malformed_and_malleable_signatures() -> None:
    auth = _auth()
    sig = sign_transfer_authorization(PAYER, DOMAIN, auth)
    high_s = (SECP256K1_N - int.from_bytes(sig[32:64], "big")).to_bytes(32, "big")
    assert recover_authorizer(DOMAIN, auth, sig[:32] + high_s + bytes([55 - sig[64]])) is None
    assert recover_authorizer(DOMAIN, auth, sig[:64]) is None
    assert recover_authorizer(DOMAIN, auth, sig[:64] + b"\x05") is None
    assert recover_authorizer(DOMAIN, auth, bytes(65)) is None


def test_only_the_payer_may_sign() -> None:
    with pytest.raises(ValueError, match="cannot sign an authorization from"):
        sign_transfer_authorization(OTHER, DOMAIN, _auth())


def test_nonces_are_fresh_32_bytes() -> None:
    nonces = {new_authorization_nonce() for _ in range(64)}
    assert len(nonces) == 64
    assert all(isinstance(n, bytes) and len(n) == 32 for n in nonces)


# --------------------------------------------------------------------------- the x402 wire form


def test_json_is_the_x402_wire_form() -> None:
    auth = _auth(from_=PAYER.address.lower(), to=PAYEE.upper().replace("0X", "0x"), value=5, valid_after=7)
    assert auth.to_json() == {
        "from": PAYER.address, "to": PAYEE, "value": "5", "validAfter": "7", "validBefore": "1900000000",
        "nonce": "0x" + NONCE.hex(),
    }
    assert auth.from_ == PAYER.address and auth.to == PAYEE  # stored checksummed


@settings(max_examples=60, deadline=None)
@given(value=uint256, after=uint256, before=uint256, nonce=st.binary(min_size=32, max_size=32))
def test_json_round_trip(value: int, after: int, before: int, nonce: bytes) -> None:
    auth = _auth(value=value, valid_after=after, valid_before=before, nonce=nonce)
    assert TransferAuthorization.from_json(auth.to_json()) == auth


def test_from_json_takes_ints_and_ignores_other_keys() -> None:
    wire: dict[str, Any] = {**_auth().to_json(), "value": 10**18, "validAfter": 0, "extra": "x"}
    assert TransferAuthorization.from_json(wire) == _auth()


def test_from_json_matches_the_x402_sdks_payload() -> None:
    from x402.mechanisms.evm.types import ExactEIP3009Payload

    wire = _auth().to_json()
    sdk = ExactEIP3009Authorization(
        from_address=wire["from"], to=wire["to"], value=wire["value"], valid_after=wire["validAfter"],
        valid_before=wire["validBefore"], nonce=wire["nonce"],
    )
    payload = ExactEIP3009Payload(authorization=sdk, signature="0x").to_dict()
    assert payload["authorization"] == wire
    assert TransferAuthorization.from_json(payload["authorization"]) == _auth()


GOOD = _auth().to_json()
MALFORMED = [
    pytest.param([], "must be a JSON object", id="not-an-object"),
    pytest.param("{}", "must be a JSON object", id="a-string"),
    *(
        pytest.param({k: v for k, v in GOOD.items() if k != key}, f"no '{key}' field", id=f"missing-{key}")
        for key in GOOD
    ),
    pytest.param({**GOOD, "from": None}, "'from' must be an address", id="from-null"),
    pytest.param({**GOOD, "from": GOOD["from"][:-2]}, "'from' must be an address", id="from-19-bytes"),
    pytest.param({**GOOD, "to": GOOD["to"] + "00"}, "'to' must be an address", id="to-21-bytes"),
    pytest.param({**GOOD, "to": GOOD["to"][2:]}, "'to' must be an address", id="to-no-0x"),
    pytest.param({**GOOD, "to": "0x" + "zz" * 20}, "'to' must be an address", id="to-not-hex"),
    pytest.param({**GOOD, "from": "0x" + GOOD["from"][2:].swapcase()}, "EIP-55 checksum", id="from-bad-checksum"),
    pytest.param({**GOOD, "value": "-1"}, "'value' must be an integer", id="value-negative-string"),
    pytest.param({**GOOD, "value": -1}, "'value' is out of the uint256 range", id="value-negative"),
    pytest.param({**GOOD, "value": str(2**256)}, "'value' is out of the uint256 range", id="value-2-256"),
    pytest.param({**GOOD, "value": "0x10"}, "'value' must be an integer", id="value-hex"),
    pytest.param({**GOOD, "value": "1.5"}, "'value' must be an integer", id="value-fraction"),
    pytest.param({**GOOD, "value": 1.0}, "'value' must be an integer", id="value-float"),
    pytest.param({**GOOD, "value": True}, "'value' must be an integer", id="value-bool"),
    pytest.param({**GOOD, "value": ""}, "'value' must be an integer", id="value-empty"),
    pytest.param({**GOOD, "validAfter": None}, "'validAfter' must be an integer", id="after-null"),
    pytest.param({**GOOD, "validBefore": "9" * 79}, "'validBefore' must be an integer", id="before-79-digits"),
    pytest.param({**GOOD, "nonce": "0x" + "00" * 31}, "'nonce' must be 32 bytes", id="nonce-31-bytes"),
    pytest.param({**GOOD, "nonce": "0x" + "00" * 33}, "'nonce' must be 32 bytes", id="nonce-33-bytes"),
    pytest.param({**GOOD, "nonce": "00" * 32}, "'nonce' must be 32 bytes", id="nonce-no-0x"),
    pytest.param({**GOOD, "nonce": "0x" + "g0" * 32}, "'nonce' must be 32 bytes", id="nonce-not-hex"),
    pytest.param({**GOOD, "nonce": 7}, "'nonce' must be a hex string", id="nonce-int"),
]


@pytest.mark.parametrize(("obj", "reason"), MALFORMED)
def test_from_json_refuses_malformed_input(obj: object, reason: str) -> None:
    with pytest.raises(ValueError, match=reason) as info:
        TransferAuthorization.from_json(obj)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize(
    "changes",
    [
        {"from_": "0x1234"}, {"to": 5}, {"value": -1}, {"value": 2**256}, {"valid_after": "1"},
        {"valid_before": True}, {"nonce": b"\x00" * 31}, {"nonce": "0x" + "00" * 32},
    ],
    ids=repr,
)
def test_the_constructor_checks_every_field(changes: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="authorization field"):
        _auth(**changes)


def test_a_long_bad_value_is_cut_short_in_the_message() -> None:
    with pytest.raises(ValueError) as info:
        TransferAuthorization.from_json({**GOOD, "to": "x" * 10_000})
    assert len(str(info.value)) < 200


# --------------------------------------------------------------------------- the token's domain


class _Token:
    address = TOKEN

    def __init__(self, answer: Any) -> None:
        self.answer = answer

    def eip712Domain(self) -> Any:  # noqa: N802 - the EIP-5267 name
        if isinstance(self.answer, Exception):
            raise self.answer
        return self.answer


def test_fetch_token_domain_reads_eip5267() -> None:
    token = _Token((b"\x0f", "Agora Token", "1", 31337, TOKEN.lower(), bytes(32), []))
    assert fetch_token_domain(token) == DOMAIN  # type: ignore[arg-type]


MOCKS = Path(__file__).parents[1] / "contracts" / "mocks"


@pytest.fixture(scope="module")
def embedded() -> Chain:
    return connect("embedded://")


def _as_agora_token(chain: Chain, address: str) -> Contract:
    """``address`` seen through AgoraToken's ABI, as a deployment's token is (eip712Domain included)."""
    return Contract(chain, "token", address, compile_contract("AgoraToken").abi)


@pytest.mark.parametrize("honest", [True, False])
def test_fetch_token_domain_of_a_fiat_token(embedded: Chain, honest: bool) -> None:
    """USDC's FiatToken has no EIP-5267: its name(), version() and DOMAIN_SEPARATOR() say the domain."""
    mock = deploy(embedded, compile_file(MOCKS / "FiatDomainToken.vy"), "USD Coin", "2", honest)
    token = _as_agora_token(embedded, mock.address)
    if honest:
        assert fetch_token_domain(token) == Domain("USD Coin", "2", embedded.chain_id, mock.address)
    else:
        with pytest.raises(ConfigError, match="reports a DOMAIN_SEPARATOR that is not the standard domain"):
            fetch_token_domain(token)


def test_fetch_token_domain_refuses_a_token_that_says_no_domain(embedded: Chain) -> None:
    plain = deploy(embedded, compile_file(MOCKS / "SilentToken.vy"))
    with pytest.raises(ConfigError, match="cannot take EIP-3009 payments"):
        fetch_token_domain(_as_agora_token(embedded, plain.address))


def test_fetch_token_domain_refuses_another_domain_shape() -> None:
    token = _Token((b"\x1f", "Agora Token", "1", 31337, TOKEN, b"\x01" * 32, []))  # with a salt
    with pytest.raises(ConfigError, match="only name, version, chainId and verifyingContract"):
        fetch_token_domain(token)  # type: ignore[arg-type]
