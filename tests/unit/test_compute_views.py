"""The compute market as plain data (agora.compute.views): jobs, reveals, providers, kinds."""

from __future__ import annotations

import json

import pytest

from agora.compute.market import JobInfo, JobState, Policy, ProviderInfo
from agora.compute.views import build_job_view, build_provider_view, build_reveal_view, get_kind_ids
from agora.errors import AgoraError
from agora.workloads import get_workload

A = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"
B = "0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC"


def _job(result: bytes = bytes(32)) -> JobInfo:
    return JobInfo(id=7, requester=A, pay=10**15, kind=1, policy=Policy.audit(0.1), state=JobState.ASSIGNED,
                   deadline=1_700_000_000, mark=0, replacements=1, escrow=2 * 10**15, providers=[B], result=result)


def _provider(kinds: int, reputation: int = 5_000) -> ProviderInfo:
    return ProviderInfo(address=B, stake=150 * 10**18, unbonding=0, unbond_at=0, price=2 * 10**15,
                        reputation=reputation, kinds=kinds, active=True, registered=True, metadata=b"")


def test_job_view_names_state_and_policy_and_has_no_digest_until_agreed() -> None:
    view = build_job_view(_job())
    assert view == {
        "id": 7, "state": JobState.ASSIGNED.label, "policy": str(Policy.audit(0.1)), "kind": 1, "requester": A,
        "pay_wei": 10**15, "escrow_wei": 2 * 10**15, "providers": [B], "deadline": 1_700_000_000,
        "replacements": 1, "result_digest": None,
    }
    assert json.loads(json.dumps(view)) == view  # JSON-ready as it is


def test_job_view_shows_the_agreed_digest_as_hex() -> None:
    assert build_job_view(_job(b"\xab" * 32))["result_digest"] == "0x" + "ab" * 32


def test_reveal_view() -> None:
    reveal = {"provider": B, "digest": b"\x01" * 32, "result_cid": "bafk…", "tx": "0x99"}
    assert build_reveal_view(reveal) == {"provider": B, "digest": "0x" + "01" * 32, "result_cid": "bafk…"}


def test_provider_view_names_kinds_and_shows_reputation_as_a_percentage() -> None:
    onnx, digits = get_workload("onnx-classify").kind_id, get_workload("train-digits").kind_id
    view = build_provider_view(_provider(1 << onnx | 1 << digits | 1 << 15, reputation=6_690))
    assert view == {
        "address": B, "stake_wei": 150 * 10**18, "unbonding_wei": 0, "price_per_unit_wei": 2 * 10**15,
        "reputation": "66.90%", "kinds": ["onnx-classify", "train-digits", "15"], "active": True,
    }


@pytest.mark.parametrize(
    ("kinds", "names"),
    [
        ("onnx-classify", ["onnx-classify"]),
        ("1,train-digits", ["onnx-classify", "train-digits"]),
        (" onnx-classify , embed-minilm ,", ["onnx-classify", "embed-minilm"]),
        (["embed-minilm", 1], ["embed-minilm", "onnx-classify"]),
        ("", []),
    ],
)
def test_kind_ids_by_name_or_id(kinds: str | list[str | int], names: list[str]) -> None:
    assert get_kind_ids(kinds) == [get_workload(n).kind_id for n in names]


def test_an_unknown_kind_is_one_line() -> None:
    with pytest.raises(AgoraError, match="unknown workload kind 'teleport'"):
        get_kind_ids("onnx-classify,teleport")
