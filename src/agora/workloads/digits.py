"""scikit-learn's bundled handwritten digits (8x8 images, 1,797 of them): data for the built-ins.

The data set ships inside scikit-learn (``load_digits``), so nothing is downloaded. Pixels are
integers 0..16. A fixed 20 % of the images (chosen once by a seeded permutation) is held out:
:func:`build_digits_model` never trains on it and :func:`digits_inputs` draws from it.
"""

from __future__ import annotations

import functools
import io
import warnings

import numpy as np

from agora.workloads.base import WorkloadError

__all__ = [
    "DIGITS_COUNT",
    "DIGITS_FEATURES",
    "build_digits_model",
    "encode_digits_input",
    "digits_inputs",
    "digits_samples",
    "load_digits_arrays",
]

DIGITS_COUNT = 1797
DIGITS_FEATURES = 64
_SPLIT_SEED = 0
_HELD_OUT = 360
_HIDDEN = 32
# Weights are rounded to this grid before export so that the model's bytes do not depend on
# the last bits of the training arithmetic (they are exact binary fractions in float64).
_WEIGHT_GRID = 2.0**-16
_OPSET = 17
_IR_VERSION = 8


@functools.cache
def load_digits_arrays() -> tuple[np.ndarray, np.ndarray]:
    """All digits as ``(images float64 (1797, 64) with pixels 0..16, labels int64 (1797,))``; read-only."""
    from sklearn.datasets import load_digits

    bunch = load_digits()
    images = np.ascontiguousarray(bunch.data, dtype=np.float64)
    labels = np.ascontiguousarray(bunch.target, dtype=np.int64)
    if images.shape != (DIGITS_COUNT, DIGITS_FEATURES):  # pragma: no cover - a changed scikit-learn
        raise WorkloadError(f"scikit-learn's digits data set has an unexpected shape {images.shape}")
    images.flags.writeable = False
    labels.flags.writeable = False
    return images, labels


@functools.cache
def _split() -> tuple[np.ndarray, np.ndarray]:
    order = np.random.default_rng(_SPLIT_SEED).permutation(DIGITS_COUNT)
    return np.sort(order[_HELD_OUT:]), np.sort(order[:_HELD_OUT])


def digits_samples(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``n`` real held-out digits as ``(images float32 (n, 64), labels int64 (n,))``.

    Drawn by a seeded generator from the 360 held-out images, without replacement when
    ``n <= 360`` and with replacement beyond.
    """
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"n must be a positive integer, got {n!r}")
    images, labels = load_digits_arrays()
    held_out = _split()[1]
    picks = np.random.default_rng(seed).choice(held_out, size=n, replace=n > len(held_out))
    return images[picks].astype(np.float32), labels[picks].copy()


def encode_digits_input(images: object) -> bytes:
    """The ``onnx-classify`` input bytes for a batch of 8x8 images: ``.npy`` of float32 ``(n, 64)``.

    Accepts anything array-like of shape ``(n, 64)`` or ``(n, 8, 8)``; pixel values are kept as
    they are (the digits model expects 0..16, as scikit-learn gives them).
    """
    array = np.asarray(images, dtype=np.float32)
    if array.ndim == 3 and array.shape[1:] == (8, 8):
        array = array.reshape(len(array), DIGITS_FEATURES)
    if array.ndim != 2 or array.shape[1] != DIGITS_FEATURES or array.shape[0] < 1:
        raise ValueError(f"images must have shape (n, 64) or (n, 8, 8) with n >= 1, got {array.shape}")
    buffer = io.BytesIO()
    np.save(buffer, np.ascontiguousarray(array, dtype="<f4"), allow_pickle=False)
    return buffer.getvalue()


def digits_inputs(n: int, seed: int = 0) -> bytes:
    """``onnx-classify`` input bytes for ``n`` real held-out digits (see :func:`digits_samples`)."""
    return encode_digits_input(digits_samples(n, seed)[0])


@functools.cache
def build_digits_model(seed: int = 0) -> bytes:
    """A small digits classifier as ONNX bytes; the same bytes on every call with the same seed.

    A multi-layer perceptron (64 -> 32 ReLU -> 10 softmax) is trained with scikit-learn
    (L-BFGS, fixed iterations, ``random_state=seed``, one BLAS thread) on the digits that are not
    held out, its weights are rounded to multiples of 2**-16, and the graph is written by hand
    with the ``onnx`` helpers in double precision: input ``images`` float32 ``(n, 64)`` with raw
    pixels 0..16, output ``probabilities`` float64 ``(n, 10)``. Double precision keeps the
    difference between two machines near 1e-15, far below the workload's 1e-4 step.
    """
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPClassifier
    from threadpoolctl import threadpool_limits

    images, labels = load_digits_arrays()
    train = _split()[0]
    scaled = images[train] / 16.0
    classifier = MLPClassifier(
        hidden_layer_sizes=(_HIDDEN,), solver="lbfgs", alpha=0.1, max_iter=300, random_state=seed
    )
    with threadpool_limits(limits=1), warnings.catch_warnings():
        # the iteration budget is part of the recipe: stopping at it is expected, not a fault
        warnings.simplefilter("ignore", ConvergenceWarning)
        classifier.fit(scaled, labels[train])
    w1, w2 = (np.round(np.asarray(w, dtype=np.float64) / _WEIGHT_GRID) * _WEIGHT_GRID for w in classifier.coefs_)
    b1, b2 = (np.round(np.asarray(b, dtype=np.float64) / _WEIGHT_GRID) * _WEIGHT_GRID for b in classifier.intercepts_)
    return _mlp_onnx(w1, b1, w2, b2, input_scale=1.0 / 16.0)


def _mlp_onnx(w1: np.ndarray, b1: np.ndarray, w2: np.ndarray, b2: np.ndarray, input_scale: float) -> bytes:
    from onnx import TensorProto, helper, numpy_helper

    def const(name: str, value: np.ndarray) -> TensorProto:
        return numpy_helper.from_array(np.ascontiguousarray(value, dtype="<f8"), name)

    nodes = [
        helper.make_node("Cast", ["images"], ["x64"], to=TensorProto.DOUBLE),
        helper.make_node("Mul", ["x64", "scale"], ["x"]),
        helper.make_node("MatMul", ["x", "w1"], ["h_mm"]),
        helper.make_node("Add", ["h_mm", "b1"], ["h_pre"]),
        helper.make_node("Relu", ["h_pre"], ["h"]),
        helper.make_node("MatMul", ["h", "w2"], ["z_mm"]),
        helper.make_node("Add", ["z_mm", "b2"], ["logits"]),
        helper.make_node("Softmax", ["logits"], ["probabilities"], axis=-1),
    ]
    graph = helper.make_graph(
        nodes,
        "agora-digits-mlp",
        inputs=[helper.make_tensor_value_info("images", TensorProto.FLOAT, ["n", DIGITS_FEATURES])],
        outputs=[helper.make_tensor_value_info("probabilities", TensorProto.DOUBLE, ["n", w2.shape[1]])],
        initializer=[
            const("scale", np.array(input_scale)),
            const("w1", w1),
            const("b1", b1),
            const("w2", w2),
            const("b2", b2),
        ],
    )
    # pinned opset, IR version and producer: the bytes do not change with the onnx library's version
    model = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", _OPSET)],
        ir_version=_IR_VERSION,
        producer_name="agora",
        producer_version="1",
    )
    blob: bytes = model.SerializeToString()
    return blob
