"""Running a job and checking a result: one definition for providers and requesters alike,
exercised with the real ``onnx-classify`` workload on local blob storage."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from eth_utils import keccak

from agora.compute import ComputeClient, Outcome, ResultMismatch, execute_job, merkle_root, verify_result
from agora.compute.execution import (
    BATCH_MANIFEST,
    BATCH_RESULT,
    build_batch_manifest,
    read_batch_manifest,
)
from agora.errors import AgoraError, StorageError
from agora.storage import LocalStore, Storage, cid_for
from agora.workloads import (
    Workload,
    WorkloadError,
    build_digits_model,
    digits_inputs,
    get_workload,
    result_digest,
)

KIND = "onnx-classify"


@pytest.fixture
def storage(tmp_path: Path) -> Storage:
    return Storage(LocalStore(tmp_path / "blobs"))


@pytest.fixture(scope="module")
def model() -> bytes:
    return build_digits_model()


def _run(model: bytes, data: bytes) -> bytes:
    return get_workload(KIND).run(model, data)


def _batch(storage: Storage, model: bytes, n: int = 3) -> tuple[Outcome, list[bytes]]:
    inputs = [digits_inputs(2, seed=i) for i in range(n)]
    manifest = build_batch_manifest([storage.put(x) for x in inputs])
    out = execute_job(storage, KIND, storage.put(model), storage.put(manifest), items=n)
    return out, inputs


def _manifest(entries: object) -> bytes:
    return json.dumps({"agora": BATCH_RESULT, "items": entries}).encode()


# -- a single job ---------------------------------------------------------------------------------
def test_single_job_runs_stores_and_verifies(storage: Storage, model: bytes) -> None:
    data = digits_inputs(2)
    out = execute_job(storage, KIND, storage.put(model), storage.put(data))
    expected = _run(model, data)
    assert out.outputs == [expected]
    assert out.digest == result_digest(expected) == keccak(expected)
    assert out.result_cid == cid_for(expected) and storage.get(out.result_cid) == expected
    assert expected.startswith(b"agora-result/1 onnx-classify")
    assert verify_result(storage, out.result_cid, out.digest) == [expected]


def test_kind_by_id_and_by_name_agree(storage: Storage, model: bytes) -> None:
    m, d = storage.put(model), storage.put(digits_inputs(3, seed=4))
    assert execute_job(storage, 1, m, d) == execute_job(storage, KIND, m, d)


def test_two_providers_get_the_same_digest(tmp_path: Path, model: bytes) -> None:
    outs = []
    for name in ("a", "b"):
        s = Storage(LocalStore(tmp_path / name))
        outs.append(execute_job(s, KIND, s.put(model), s.put(digits_inputs(4, seed=1))))
    assert outs[0].digest == outs[1].digest and outs[0].result_cid == outs[1].result_cid


def test_a_runner_replaces_the_workload(storage: Storage, model: bytes) -> None:
    seen: list[tuple[str, bytes, bytes]] = []

    def runner(workload: Workload, m: bytes, d: bytes) -> bytes:
        seen.append((workload.kind, m, d))
        return b"made up"

    data = digits_inputs(1)
    out = execute_job(storage, KIND, storage.put(model), storage.put(data), runner=runner)
    assert seen == [(KIND, model, data)]
    assert out.digest == keccak(b"made up") and storage.get(out.result_cid) == b"made up"


def test_missing_blobs_and_unknown_kinds_are_agora_errors(storage: Storage, model: bytes) -> None:
    with pytest.raises(StorageError, match="was found neither locally nor at any peer"):
        execute_job(storage, KIND, storage.put(model), cid_for(b"nobody stored this"))
    with pytest.raises(WorkloadError):
        execute_job(storage, "no-such-kind", storage.put(model), storage.put(digits_inputs(1)))
    with pytest.raises(WorkloadError):  # the input is not a digits batch
        execute_job(storage, KIND, storage.put(model), storage.put(b"not numpy"))


def test_single_result_checks(storage: Storage, model: bytes) -> None:
    out = execute_job(storage, KIND, storage.put(model), storage.put(digits_inputs(2)))
    other = storage.put(out.outputs[0] + b" ")  # a tampered copy, stored under its own CID
    with pytest.raises(ResultMismatch, match="does not hash to the agreed digest"):
        verify_result(storage, other, out.digest)
    with pytest.raises(ResultMismatch, match="does not hash to the agreed digest"):
        verify_result(storage, out.result_cid, keccak(b"some other digest"))
    assert issubclass(ResultMismatch, AgoraError)


def test_a_corrupt_local_copy_is_not_returned(storage: Storage, model: bytes) -> None:
    out = execute_job(storage, KIND, storage.put(model), storage.put(digits_inputs(2)))
    path = storage.local._path(out.result_cid)
    path.write_bytes(b"flipped bits")
    with pytest.raises(StorageError):
        verify_result(storage, out.result_cid, out.digest)
    assert not path.exists(), "the corrupt copy is removed"


# -- a batch ----------------------------------------------------------------------------------------
def test_batch_runs_each_item_and_commits_the_merkle_root(storage: Storage, model: bytes) -> None:
    out, inputs = _batch(storage, model, 3)
    expected = [_run(model, x) for x in inputs]
    assert out.outputs == expected
    assert out.digest == merkle_root([result_digest(o) for o in expected])
    doc = json.loads(storage.get(out.result_cid))
    assert doc["agora"] == BATCH_RESULT
    assert [e["cid"] for e in doc["items"]] == [cid_for(o) for o in expected]
    assert [e["digest"] for e in doc["items"]] == ["0x" + result_digest(o).hex() for o in expected]
    assert verify_result(storage, out.result_cid, out.digest, 3) == expected


def test_batch_result_checks(storage: Storage, model: bytes) -> None:
    out, _ = _batch(storage, model, 3)
    doc = json.loads(storage.get(out.result_cid))
    items = doc["items"]
    with pytest.raises(ResultMismatch, match="do not add up to the agreed root"):
        verify_result(storage, out.result_cid, keccak(b"wrong root"), 3)
    # wrong item count, either way
    for n in (2, 4):
        with pytest.raises(ResultMismatch, match=f"is not a manifest of {n} items"):
            verify_result(storage, out.result_cid, out.digest, n)
    # the items in another order do not make the agreed root
    swapped = storage.put(_manifest([items[1], items[0], items[2]]))
    with pytest.raises(ResultMismatch, match="do not add up"):
        verify_result(storage, swapped, out.digest, 3)
    # an item that does not hash to the digest its manifest lists
    lying = storage.put(_manifest([{"cid": items[1]["cid"], "digest": items[0]["digest"]}, *items[1:]]))
    with pytest.raises(ResultMismatch, match="does not hash to the digest its manifest lists"):
        verify_result(storage, lying, out.digest, 3)
    # an item swapped for a forged output, with its own honest digest: the root catches it
    fake = storage.put(b"forged")
    forged = storage.put(_manifest([{"cid": fake, "digest": "0x" + keccak(b"forged").hex()}, *items[1:]]))
    with pytest.raises(ResultMismatch, match="do not add up"):
        verify_result(storage, forged, out.digest, 3)
    # a digest listed without its 0x prefix is not what the manifest format says
    bare = storage.put(_manifest([{"cid": e["cid"], "digest": e["digest"][2:]} for e in items]))
    with pytest.raises(ResultMismatch):
        verify_result(storage, bare, out.digest, 3)


@pytest.mark.parametrize(
    "blob",
    [
        b"not json",
        b"[]",
        b'"a string"',
        json.dumps({"agora": BATCH_MANIFEST, "items": []}).encode(),  # an input manifest, not a result
        json.dumps({"agora": BATCH_RESULT}).encode(),
        json.dumps({"agora": BATCH_RESULT, "items": {"0": "x"}}).encode(),
    ],
)
def test_a_result_that_is_not_a_manifest(storage: Storage, blob: bytes) -> None:
    with pytest.raises(ResultMismatch, match="is not a manifest of 2 items"):
        verify_result(storage, storage.put(blob), keccak(b"root"), 2)


@pytest.mark.parametrize("entries", [["bafkreia", "bafkreib"], [1, 2], [{"digest": "0x00"}, {"digest": "0x00"}]])
def test_malformed_manifest_entries_are_a_mismatch(storage: Storage, entries: list[object]) -> None:
    with pytest.raises(ResultMismatch):
        verify_result(storage, storage.put(_manifest(entries)), keccak(b"root"), 2)


def test_a_missing_item_blob_is_a_storage_error(storage: Storage, model: bytes) -> None:
    out, _ = _batch(storage, model, 2)
    items = json.loads(storage.get(out.result_cid))["items"]
    gone = storage.put(_manifest([{"cid": cid_for(b"never stored"), "digest": items[0]["digest"]}, items[1]]))
    with pytest.raises(StorageError):
        verify_result(storage, gone, out.digest, 2)


# -- batch manifests ---------------------------------------------------------------------------------
def test_build_and_read_batch_manifest() -> None:
    cids = [cid_for(b"%d" % i) for i in range(4)]
    blob = build_batch_manifest(cids)
    assert json.loads(blob) == {"agora": BATCH_MANIFEST, "items": cids}
    assert read_batch_manifest(blob, 4) == cids


@pytest.mark.parametrize("bad", ["", "not-a-cid", cid_for(b"x").upper(), "Qm" + "1" * 44])
def test_build_batch_manifest_rejects_bad_cids(bad: str) -> None:
    with pytest.raises(StorageError):
        build_batch_manifest([cid_for(b"fine"), bad])


@pytest.mark.parametrize(
    "blob",
    [
        b"",
        b"not json",
        b"[1, 2]",
        b"null",
        json.dumps({"items": [cid_for(b"a"), cid_for(b"b")]}).encode(),  # no tag
        json.dumps({"agora": BATCH_RESULT, "items": [cid_for(b"a"), cid_for(b"b")]}).encode(),
        json.dumps({"agora": BATCH_MANIFEST, "items": [cid_for(b"a")]}).encode(),  # too few
        json.dumps({"agora": BATCH_MANIFEST, "items": [cid_for(b"a")] * 3}).encode(),  # too many
        json.dumps({"agora": BATCH_MANIFEST, "items": [cid_for(b"a"), 7]}).encode(),
        json.dumps({"agora": BATCH_MANIFEST, "items": "ab"}).encode(),
    ],
)
def test_read_batch_manifest_refuses(blob: bytes) -> None:
    with pytest.raises(WorkloadError, match="the batch input is not a manifest of 2 items"):
        read_batch_manifest(blob, 2)


def test_a_manifest_with_a_malformed_cid_is_refused() -> None:
    blob = json.dumps({"agora": BATCH_MANIFEST, "items": [cid_for(b"a"), "bogus"]}).encode()
    with pytest.raises(AgoraError, match="'bogus' is not a CIDv1"):
        read_batch_manifest(blob, 2)


def test_execute_a_bad_batch(storage: Storage, model: bytes) -> None:
    m = storage.put(model)
    single = storage.put(digits_inputs(2))
    with pytest.raises(WorkloadError, match="not a manifest of 3 items"):
        execute_job(storage, KIND, m, single, items=3)
    two = storage.put(build_batch_manifest([single, single]))
    with pytest.raises(WorkloadError, match="not a manifest of 3 items"):
        execute_job(storage, KIND, m, two, items=3)
    bad_item = storage.put(build_batch_manifest([single, storage.put(b"not numpy")]))
    with pytest.raises(WorkloadError):
        execute_job(storage, KIND, m, bad_item, items=2)


# -- what the requester builds, the provider can run ---------------------------------------------------
def test_a_batch_spec_runs_as_built(storage: Storage, model: bytes) -> None:
    client = ComputeClient(None, storage, None)  # type: ignore[arg-type]  # build_spec needs no chain
    inputs = [digits_inputs(2, seed=s) for s in (1, 2)]
    spec = client.build_spec(KIND, model, inputs)
    assert (spec.items, spec.units) == (2, 4)
    out = execute_job(storage, spec.kind, spec.model, spec.input, spec.items)
    assert out.outputs == [_run(model, x) for x in inputs]


def test_a_batch_of_one_runs(storage: Storage, model: bytes) -> None:
    client = ComputeClient(None, storage, None)  # type: ignore[arg-type]
    data = digits_inputs(2)
    spec = client.build_spec(KIND, model, [data])
    out = execute_job(storage, spec.kind, spec.model, spec.input, spec.items)
    assert out.outputs == [_run(model, data)]
