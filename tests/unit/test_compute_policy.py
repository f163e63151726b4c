"""Encodings of the compute market: policies, job specs, CIDs as 32-byte digests, commitments."""

from __future__ import annotations

import os
from pathlib import Path

import boa
import pytest
from eth_utils import keccak, to_checksum_address
from hypothesis import given, settings
from hypothesis import strategies as st

from agora.compute import JobSpec, Policy, commitment
from agora.errors import AgoraError, ConfigError, StorageError
from agora.storage import bytes32_to_cid, cid_digest, cid_for, cid_to_bytes32, is_cid

ROOT = Path(__file__).resolve().parents[2]
CID_A = cid_for(b"model")
CID_B = cid_for(b"input")

digests = st.binary(min_size=32, max_size=32)
addresses = st.binary(min_size=20, max_size=20).map(lambda b: to_checksum_address(b))
job_ids = st.integers(min_value=0, max_value=2**256 - 1)


def one_line(exc: BaseException) -> str:
    text = str(exc)
    assert text and "\n" not in text
    return text


# -- Policy ---------------------------------------------------------------------------------
def test_constructors() -> None:
    assert Policy.none() == Policy("none", 0)
    assert Policy.audit(0.1) == Policy("audit", 1_000)
    assert Policy.audit(0) == Policy("audit", 0)
    assert Policy.audit(1.0) == Policy("audit", 10_000)
    assert Policy.replicate(3) == Policy("replicate", 3)
    assert [Policy.replicate(k).param for k in range(2, 8)] == list(range(2, 8))


def test_codes_match_the_contract() -> None:
    assert (Policy.none().code, Policy.audit(0.5).code, Policy.replicate(2).code) == (
        Policy.NONE, Policy.AUDIT, Policy.REPLICATE,
    ) == (0, 1, 2)


@pytest.mark.parametrize(
    ("text", "policy"),
    [
        ("none", Policy.none()),
        ("NONE", Policy.none()),
        ("  none  ", Policy.none()),
        ("audit:0.1", Policy.audit(0.1)),
        ("audit:1", Policy.audit(1.0)),
        ("audit:0", Policy.audit(0)),
        ("Audit: 0.25", Policy.audit(0.25)),
        ("audit", Policy.audit(0.1)),  # the default probability
        ("replicate:3", Policy.replicate(3)),
        ("replicate:7", Policy.replicate(7)),
        ("replicate", Policy.replicate(3)),  # the default k
    ],
)
def test_parse(text: str, policy: Policy) -> None:
    assert Policy.parse(text) == policy


@pytest.mark.parametrize("text", ["none", "audit:0.1", "audit:1", "audit:0", "audit:0.0001", "replicate:3",
                                  "replicate:2", "replicate:7"])
def test_str_round_trip(text: str) -> None:
    assert str(Policy.parse(text)) == text
    assert Policy.parse(str(Policy.parse(text))) == Policy.parse(text)


@given(st.integers(min_value=0, max_value=10_000))
def test_every_audit_rate_round_trips_through_text_and_chain(bps: int) -> None:
    p = Policy("audit", bps)
    assert Policy.parse(str(p)) == p
    assert Policy.from_chain(p.code, p.param) == p


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("audit:2", "audit probability 2.0 is not between 0 and 1"),
        ("audit:-0.1", "audit probability -0.1 is not between 0 and 1"),
        ("audit:nan", "is not between 0 and 1"),
        ("audit:lots", "unknown policy 'audit:lots'"),
        ("replicate:1", "replicate needs 2..7 providers, not 1"),
        ("replicate:8", "replicate needs 2..7 providers, not 8"),
        ("replicate:3.0", "unknown policy 'replicate:3.0'"),
        ("replicate:x", "unknown policy"),
        ("none:1", "unknown policy 'none:1'"),
        ("majority", "unknown policy 'majority'"),
        ("", "unknown policy ''"),
    ],
)
def test_bad_policies_are_one_line_config_errors(text: str, fragment: str) -> None:
    with pytest.raises(ConfigError) as info:
        Policy.parse(text)
    assert fragment in one_line(info.value)


def test_unknown_policy_hint_says_what_is_accepted() -> None:
    with pytest.raises(ConfigError, match=r"use none, audit:<p> \(e.g. audit:0.1\), replicate:<k> or zk:<model id>"):
        Policy.parse("sometimes")


@pytest.mark.parametrize(("p", "k"), [(-0.01, None), (1.01, None), (None, 1), (None, 0), (None, 8)])
def test_bad_constructor_arguments(p: float | None, k: int | None) -> None:
    with pytest.raises(ConfigError):
        Policy.audit(p) if p is not None else Policy.replicate(k)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("policy", "n"),
    [(Policy.none(), 1), (Policy.audit(0), 3), (Policy.audit(0.1), 3), (Policy.audit(1.0), 3)]
    + [(Policy.replicate(k), k) for k in range(2, 8)],
)
def test_executions(policy: Policy, n: int) -> None:
    assert policy.executions == n


@pytest.mark.parametrize(
    "policy", [Policy.none(), Policy.audit(0.1), Policy.audit(1.0), Policy.replicate(2), Policy.replicate(7)]
)
def test_from_chain_round_trip(policy: Policy) -> None:
    assert Policy.from_chain(policy.code, policy.param) == policy
    assert str(Policy.from_chain(policy.code, policy.param)) == str(policy)


# -- JobSpec --------------------------------------------------------------------------------
def test_jobspec_to_chain() -> None:
    spec = JobSpec(kind=1, model=CID_A, input=CID_B, units=10, price_per_unit=10**15,
                   policy=Policy.replicate(3), items=4, duration=1_200)
    assert spec.to_chain() == (
        1, cid_digest(CID_A), cid_digest(CID_B), 10, 4, 10**15, Policy.REPLICATE, 3, 1_200,
    )
    assert JobSpec(1, CID_A, CID_B, 1, 1, Policy.audit(0.1)).to_chain()[6:8] == (1, 1_000)


def test_jobspec_defaults() -> None:
    spec = JobSpec(kind=1, model=CID_A, input=CID_B, units=2, price_per_unit=5)
    assert spec.policy == Policy.audit(0.1)
    assert (spec.items, spec.duration) == (1, 3_600)


@pytest.mark.parametrize(
    ("policy", "escrow"),
    [(Policy.none(), 30), (Policy.audit(0.1), 90), (Policy.replicate(2), 60), (Policy.replicate(5), 150)],
)
def test_jobspec_pay_and_escrow(policy: Policy, escrow: int) -> None:
    spec = JobSpec(kind=1, model=CID_A, input=CID_B, units=3, price_per_unit=10, policy=policy)
    assert spec.pay == 30
    assert spec.escrow == escrow


def test_jobspec_with_a_bad_cid_cannot_go_on_chain() -> None:
    spec = JobSpec(kind=1, model="not-a-cid", input=CID_B, units=1, price_per_unit=1)
    with pytest.raises(StorageError) as info:
        spec.to_chain()
    assert "is not a CIDv1" in one_line(info.value)


# -- CIDs as 32 bytes -------------------------------------------------------------------------
@given(digests)
def test_cid_bytes32_round_trip(digest: bytes) -> None:
    cid = bytes32_to_cid(digest)
    assert is_cid(cid) and cid.startswith("bafkrei")
    assert cid_to_bytes32(cid) == digest
    assert bytes32_to_cid(cid_to_bytes32(cid)) == cid


@given(st.binary(max_size=256))
def test_cid_of_a_blob_survives_the_chain(data: bytes) -> None:
    cid = cid_for(data)
    assert bytes32_to_cid(cid_to_bytes32(cid)) == cid


def test_bytes32_to_cid_takes_bytearray() -> None:
    d = os.urandom(32)
    assert bytes32_to_cid(bytearray(d)) == bytes32_to_cid(d)


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "bafkrei",
        "Qm" + "a" * 44,                    # CIDv0
        CID_A.upper(),                      # not canonical
        CID_A[:-1] + "1",                   # not base32
        CID_A[:-1],                         # too short
        "b" + "a" * 58,                     # right length, wrong prefix
    ],
)
def test_bad_cid_is_a_storage_error(bad: str) -> None:
    with pytest.raises(StorageError) as info:
        cid_to_bytes32(bad)
    assert isinstance(info.value, AgoraError)
    one_line(info.value)


# -- commitments match the contract ------------------------------------------------------------
@pytest.fixture(scope="module")
def market() -> object:
    """A ComputeMarket on titanoboa; only its pure views are used, so the token and registry
    are stand-in addresses (the constructor only checks they are not zero)."""
    with boa.env.anchor():
        token, registry, treasury = (boa.env.generate_address(n) for n in ("token", "registry", "treasury"))
        yield boa.load(str(ROOT / "contracts/compute/ComputeMarket.vy"), token, registry, treasury,
                       10**16, 250, 2000, 5000, 600, 600)


@settings(max_examples=60, deadline=None)
@given(job_ids, addresses, digests, digests)
def test_commitment_equals_commitment_of(market: object, job_id: int, provider: str, digest: bytes,
                                         salt: bytes) -> None:
    assert commitment(job_id, provider, digest, salt) == market.commitment_of(job_id, provider, digest, salt)  # type: ignore[attr-defined]


def test_commitment_accepts_lowercase_addresses(market: object) -> None:
    who = "0x" + "ab" * 20
    d, s = keccak(b"d"), keccak(b"s")
    assert commitment(7, who, d, s) == commitment(7, to_checksum_address(who), d, s)
    assert commitment(7, who, d, s) == market.commitment_of(7, to_checksum_address(who), d, s)  # type: ignore[attr-defined]


def test_commitment_binds_every_field() -> None:
    who, d, s = "0x" + "11" * 20, keccak(b"d"), keccak(b"s")
    base = commitment(1, who, d, s)
    assert len(base) == 32
    assert base != commitment(2, who, d, s)
    assert base != commitment(1, "0x" + "12" * 20, d, s)
    assert base != commitment(1, who, keccak(b"e"), s)
    assert base != commitment(1, who, d, keccak(b"t"))
