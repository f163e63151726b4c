"""``onnx-classify``: run an ONNX classifier on a batch with onnxruntime, on one CPU thread."""

from __future__ import annotations

import io
import threading
from collections import OrderedDict
from typing import Any, ClassVar

import numpy as np

from agora.workloads.base import Workload, WorkloadError, build_output_schema, one_line
from agora.workloads.canonical import ResultTensor, quantize, result_digest

__all__ = ["OnnxClassify", "MAX_MODEL_BYTES", "MAX_BATCH"]

MAX_MODEL_BYTES = 64 * 1024 * 1024
MAX_BATCH = 65_536
_SESSION_CACHE = 8
_FLOAT_TYPES: dict[str, type[np.floating[Any]]] = {"tensor(float)": np.float32, "tensor(double)": np.float64}


class OnnxClassify(Workload):
    """Classify a batch of feature vectors with an ONNX model; output labels and quantized probabilities.

    ``model``: ONNX bytes with one float or double input of shape ``(n, features)`` and a
    probabilities output of shape ``(n, classes)`` (the output named ``probabilities``, else
    the only rank-2 float output). External tensor data is refused. ``data``: a ``.npy``
    array, float32 or float64, shape ``(n, features)``, finite. Output tensors: ``label``
    (int, ``(n,)``, the first index of the largest *quantized* probability, so labels never
    disagree where probabilities agree) and ``probabilities`` (``(n, classes)``, step 1e-4).
    """

    kind = "onnx-classify"
    kind_id = 1
    tolerance = 1e-4
    description = "ONNX classification (onnxruntime, CPU, one thread): labels and probabilities to 1e-4"
    input_media_type = "application/x-npy"
    # the feature count is the model's: build_schemas(model) fills it in (64 for the digits model)
    input_schema: ClassVar[dict[str, Any]] = {
        "mediaType": "application/x-npy",
        "dtype": "float32",
        "shape": [None, None],
        "minItems": 1,
        "maxItems": MAX_BATCH,
        "description": (
            "A NumPy .npy file (as numpy.save writes it; no pickled objects) holding a 2-d float32 "
            "array of shape (n, features): one row per input, finite values, 1 <= n rows; "
            "features is the model's input width (64 for the digits model: an 8x8 image, pixels "
            "0..16, row by row). float64 is accepted too; the byte order is the one the .npy "
            "header declares (numpy writes '<f4', little-endian). Python: "
            "agora.workloads.encode_digits_input(images) or numpy.save."
        ),
    }
    output_schema: ClassVar[dict[str, Any]] = build_output_schema(
        [
            {
                "name": "label",
                "shape": [None],
                "step": 1.0,
                "description": "per row, the index of the largest quantized probability (the first on a tie)",
            },
            {
                "name": "probabilities",
                "shape": [None, None],
                "step": tolerance,
                "description": "per row and class, the model's probability quantized to 1e-4",
            },
        ],
        "tensors 'label' (n,) and 'probabilities' (n, classes), in that order",
    )

    def __init__(self) -> None:
        self._sessions: OrderedDict[bytes, _Session] = OrderedDict()
        self._lock = threading.Lock()
        self._last_key: tuple[bytes, bytes] | None = None

    def build_schemas(self, model: bytes | None = None) -> tuple[dict[str, Any], dict[str, Any]]:
        """The schemas with the model's feature count (input) and class count (probabilities)."""
        inputs, outputs = super().build_schemas(model)
        if not model:
            return inputs, outputs
        try:
            session = self._session(bytes(model))
        except WorkloadError:
            return inputs, outputs  # not a model this kind can run: the general schemas
        if session.features is not None:
            inputs["shape"] = [None, session.features]
        (scores,) = [o for o in session.session.get_outputs() if o.name == session.output]
        shape: list[Any] = list(scores.shape or [])
        if len(shape) == 2 and isinstance(shape[1], int):
            outputs["tensors"][1]["shape"] = [None, shape[1]]
        return inputs, outputs

    def validate_input(self, model: bytes, data: bytes) -> None:
        """Check that ``model`` is a runnable ONNX classifier and ``data`` a matching batch."""
        session = self._session(bytes(model))
        array = _read_npy(bytes(data))
        if session.features is not None and array.shape[1] != session.features:
            raise WorkloadError(
                f"data has {array.shape[1]} features per row but the model takes {session.features}"
            )

    def compute(self, model: bytes, data: bytes) -> list[ResultTensor]:
        """Run the batch through onnxruntime and quantize the probabilities."""
        session = self._session(model)
        array = _read_npy(data).astype(session.input_dtype)
        try:
            (scores,) = session.session.run([session.output], {session.input: array})
        except Exception as exc:  # onnxruntime raises its own exception types
            raise WorkloadError(f"the ONNX model failed to run: {one_line(exc)}") from None
        scores = np.asarray(scores)
        if scores.ndim != 2 or scores.shape[0] != array.shape[0] or scores.shape[1] < 1:
            raise WorkloadError(
                f"the model's output {session.output!r} has shape {scores.shape}, expected ({array.shape[0]}, classes)"
            )
        probabilities = quantize(scores, self.tolerance)
        labels = np.argmax(probabilities, axis=1)
        return [ResultTensor("label", labels), ResultTensor("probabilities", probabilities, self.tolerance)]

    def units(self, data: bytes) -> int:
        """The number of rows (inputs) in the batch."""
        return int(_read_npy(bytes(data)).shape[0])

    def _session(self, model: bytes) -> _Session:
        # a server passes the same bytes object on every call: hash it once, not twice a call
        last = self._last_key
        if last is not None and last[0] is model:
            key = last[1]
        else:
            key = result_digest(model)
            self._last_key = (model, key)
        with self._lock:
            cached = self._sessions.get(key)
            if cached is not None:
                self._sessions.move_to_end(key)
                return cached
        session = _Session.load(model)
        with self._lock:
            self._sessions[key] = session
            while len(self._sessions) > _SESSION_CACHE:
                self._sessions.popitem(last=False)
        return session


class _Session:
    """An onnxruntime session set up for reproducible results, and the names it is run with."""

    def __init__(
        self, session: Any, input_name: str, input_dtype: type[np.floating[Any]], features: int | None, output: str
    ) -> None:
        self.session = session
        self.input = input_name
        self.input_dtype = input_dtype
        self.features = features
        self.output = output

    @classmethod
    def load(cls, model: bytes) -> _Session:
        if not model:
            raise WorkloadError("model is empty; onnx-classify needs ONNX model bytes")
        if len(model) > MAX_MODEL_BYTES:
            raise WorkloadError(f"model is {len(model)} bytes; onnx-classify accepts at most {MAX_MODEL_BYTES}")
        _refuse_external_data(model)
        import onnxruntime as ort

        options = ort.SessionOptions()
        # One thread, sequential, deterministic kernels, and only the graph rewrites that do not
        # depend on the CPU: the same model gives the same numbers run after run.
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_BASIC
        options.use_deterministic_compute = True
        options.log_severity_level = 3
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        try:
            session = ort.InferenceSession(model, sess_options=options, providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime raises its own exception types
            raise WorkloadError(f"onnxruntime cannot load the model: {one_line(exc)}") from None
        inputs = session.get_inputs()
        if len(inputs) != 1:
            raise WorkloadError(f"the model has {len(inputs)} inputs; onnx-classify needs exactly one")
        (feed,) = inputs
        if feed.type not in _FLOAT_TYPES or len(feed.shape) != 2:
            raise WorkloadError(f"the model's input must be a float or double matrix, got {feed.type} {feed.shape}")
        features = feed.shape[1] if isinstance(feed.shape[1], int) else None
        return cls(session, feed.name, _FLOAT_TYPES[feed.type], features, _pick_output(session.get_outputs()))


def _pick_output(outputs: list[Any]) -> str:
    named = [o for o in outputs if o.name == "probabilities"]
    if named:
        return str(named[0].name)
    matrices = [o for o in outputs if o.type in _FLOAT_TYPES and len(o.shape or ()) == 2]
    if len(matrices) != 1:
        raise WorkloadError(
            "the model needs an output named 'probabilities' or exactly one float output of shape (n, classes)"
        )
    return str(matrices[0].name)


def _refuse_external_data(model: bytes) -> None:
    """Refuse models whose tensors point at files: a job must not read the provider's disk."""
    import onnx

    try:
        proto = onnx.ModelProto.FromString(model)  # a plain parse: nothing is read from disk
    except Exception as exc:  # protobuf raises DecodeError and others
        raise WorkloadError(f"model is not an ONNX model: {one_line(exc)}") from None
    for tensor in _all_tensors(proto.graph):
        if tensor.data_location == onnx.TensorProto.EXTERNAL or tensor.external_data:
            raise WorkloadError(f"the model's tensor {tensor.name[:40]!r} uses external data; embed all weights")


def _all_tensors(graph: Any) -> Any:
    yield from graph.initializer
    yield from (sparse.values for sparse in graph.sparse_initializer)
    for node in graph.node:
        for attribute in node.attribute:
            if attribute.HasField("t"):
                yield attribute.t
            yield from attribute.tensors
            if attribute.HasField("g"):
                yield from _all_tensors(attribute.g)
            for subgraph in attribute.graphs:
                yield from _all_tensors(subgraph)


_PARSED: OrderedDict[bytes, np.ndarray] = OrderedDict()
_PARSED_LOCK = threading.Lock()
_PARSED_MAX_BYTES = 64 * 1024


def _read_npy(data: bytes) -> np.ndarray:
    """Parse and check a batch. ``units``, ``validate_input`` and ``compute`` each need it, so
    small inputs (a served call's) are parsed once: the last few are kept, read-only."""
    if len(data) > _PARSED_MAX_BYTES:
        return _parse_npy(data)
    with _PARSED_LOCK:
        cached = _PARSED.get(data)
    if cached is not None:
        return cached
    array = _parse_npy(data)
    array.flags.writeable = False
    with _PARSED_LOCK:
        _PARSED[data] = array
        while len(_PARSED) > 32:
            _PARSED.popitem(last=False)
    return array


def _parse_npy(data: bytes) -> np.ndarray:
    if not data.startswith(b"\x93NUMPY"):
        raise WorkloadError("data must be a .npy array of float32 (n, features); see encode_digits_input")
    try:
        array: np.ndarray = np.load(io.BytesIO(data), allow_pickle=False)
    except Exception as exc:  # numpy raises ValueError and others on a malformed file
        raise WorkloadError(f"data is not a readable .npy array: {one_line(exc)}") from None
    if array.dtype.kind != "f" or array.dtype.itemsize not in (4, 8):
        raise WorkloadError(f"data must hold float32 or float64 values, got {array.dtype}")
    if array.ndim != 2 or not 1 <= array.shape[0] <= MAX_BATCH or array.shape[1] < 1:
        raise WorkloadError(f"data must have shape (n, features) with 1 <= n <= {MAX_BATCH}, got {array.shape}")
    if not np.all(np.isfinite(array)):
        raise WorkloadError("data holds NaN or infinity")
    return array
