"""``train-digits``: a small, seeded training job (softmax regression on the digits, numpy only)."""

from __future__ import annotations

import json
import math
from typing import Any, ClassVar

import numpy as np

from agora.workloads.base import Workload, WorkloadError, build_output_schema
from agora.workloads.canonical import ResultTensor, quantize
from agora.workloads.digits import DIGITS_COUNT, DIGITS_FEATURES, load_digits_arrays

__all__ = ["TrainDigits", "MAX_EPOCHS", "build_train_request"]

MAX_EPOCHS = 10_000
_CLASSES = 10
_KEYS = {"seed", "epochs", "lr", "samples"}


def build_train_request(
    seed: int = 0, epochs: int = 50, lr: float = 0.5, samples: tuple[int, int] = (0, 1000)
) -> bytes:
    """The ``train-digits`` data bytes for a job (canonical JSON: sorted keys, no spaces)."""
    request = {"seed": seed, "epochs": epochs, "lr": lr, "samples": [samples[0], samples[1]]}
    return json.dumps(request, sort_keys=True, separators=(",", ":")).encode()


class TrainDigits(Workload):
    """Train softmax regression on a slice of the digits by full-batch gradient descent; output the weights.

    ``model`` must be empty (the architecture is fixed: 64 inputs scaled to 0..1, 10 classes).
    ``data``: JSON ``{"seed": s, "epochs": e, "lr": r, "samples": [start, end]}`` with
    ``0 <= s < 2**32``, ``1 <= e <= 10000``, ``0 < r <= 10``, ``0 <= start < end <= 1797``.
    Initial weights are ``(u - 0.5) / 100`` with ``u`` uniform from numpy's PCG64 seeded with
    ``s`` (bit-exact on every platform); the bias starts at zero. Everything runs in float64.
    Output tensors: ``weights`` ``(64, 10)`` and ``bias`` ``(10,)``, step 1e-4.
    """

    kind = "train-digits"
    kind_id = 3
    tolerance = 1e-4
    description = "softmax regression on scikit-learn's digits by seeded full-batch gradient descent (numpy)"
    input_media_type = "application/json"
    input_schema: ClassVar[dict[str, Any]] = {
        "mediaType": "application/json",
        "type": "object",
        "properties": {
            "seed": {"type": "integer", "minimum": 0, "maximum": 2**32 - 1},
            "epochs": {"type": "integer", "minimum": 1, "maximum": MAX_EPOCHS},
            "lr": {"type": "number", "exclusiveMinimum": 0, "maximum": 10},
            "samples": {
                "type": "array",
                "items": {"type": "integer", "minimum": 0, "maximum": DIGITS_COUNT},
                "minItems": 2,
                "maxItems": 2,
                "description": f"[start, end): the digits used, 0 <= start < end <= {DIGITS_COUNT}",
            },
        },
        "required": sorted(_KEYS),
        "additionalProperties": False,
        "description": (
            'A UTF-8 JSON object such as {"epochs":50,"lr":0.5,"samples":[0,1000],"seed":0} '
            "(agora.workloads.build_train_request writes it); the model bytes are empty."
        ),
    }
    output_schema: ClassVar[dict[str, Any]] = build_output_schema(
        [
            {
                "name": "weights",
                "shape": [DIGITS_FEATURES, _CLASSES],
                "step": tolerance,
                "description": "the trained weights (inputs scaled to 0..1) quantized to 1e-4",
            },
            {"name": "bias", "shape": [_CLASSES], "step": tolerance, "description": "the trained bias, to 1e-4"},
        ],
        "tensors 'weights' (64, 10) and 'bias' (10,), in that order",
    )

    def validate_input(self, model: bytes, data: bytes) -> None:
        """Check that ``model`` is empty and ``data`` a well-formed training request."""
        if model:
            raise WorkloadError("train-digits takes no model bytes (its architecture is fixed); send an empty model")
        _parse(bytes(data))

    def compute(self, model: bytes, data: bytes) -> list[ResultTensor]:
        """Train and quantize the final weights and bias."""
        seed, epochs, lr, (start, end) = _parse(data)
        images, labels = load_digits_arrays()
        x = images[start:end] / 16.0
        targets = np.eye(_CLASSES)[labels[start:end]]
        count = end - start
        uniform = np.random.default_rng(seed).random((DIGITS_FEATURES, _CLASSES))
        weights = (uniform - 0.5) / 100.0
        bias = np.zeros(_CLASSES)
        for _ in range(epochs):
            logits = x @ weights + bias
            logits -= logits.max(axis=1, keepdims=True)
            probabilities = np.exp(logits)
            probabilities /= probabilities.sum(axis=1, keepdims=True)
            gradient = (probabilities - targets) / count
            weights -= lr * (x.T @ gradient)
            bias -= lr * gradient.sum(axis=0)
        return [
            ResultTensor("weights", quantize(weights, self.tolerance), self.tolerance),
            ResultTensor("bias", quantize(bias, self.tolerance), self.tolerance),
        ]

    def units(self, data: bytes) -> int:
        """Samples x epochs: the number of example gradients the job computes."""
        _, epochs, _, (start, end) = _parse(bytes(data))
        return (end - start) * epochs


def _parse(data: bytes) -> tuple[int, int, float, tuple[int, int]]:
    try:
        request: Any = json.loads(data)
    except (UnicodeDecodeError, ValueError):
        raise WorkloadError('data must be JSON like {"seed":0,"epochs":50,"lr":0.5,"samples":[0,1000]}') from None
    if not isinstance(request, dict) or set(request) != _KEYS:
        raise WorkloadError(f"data must be a JSON object with exactly the keys {sorted(_KEYS)}")
    seed, epochs, lr, samples = request["seed"], request["epochs"], request["lr"], request["samples"]
    if not _is_int(seed) or not 0 <= seed < 2**32:
        raise WorkloadError(f"seed must be an integer in [0, 2**32), got {seed!r}")
    if not _is_int(epochs) or not 1 <= epochs <= MAX_EPOCHS:
        raise WorkloadError(f"epochs must be an integer in [1, {MAX_EPOCHS}], got {epochs!r}")
    if isinstance(lr, bool) or not isinstance(lr, int | float) or not (math.isfinite(lr) and 0 < lr <= 10):
        raise WorkloadError(f"lr must be a number in (0, 10], got {lr!r}")
    if not (isinstance(samples, list) and len(samples) == 2 and all(_is_int(s) for s in samples)):
        raise WorkloadError(f"samples must be [start, end] integers, got {samples!r}")
    start, end = samples
    if not 0 <= start < end <= DIGITS_COUNT:
        raise WorkloadError(f"samples must satisfy 0 <= start < end <= {DIGITS_COUNT}, got {samples!r}")
    return seed, epochs, float(lr), (start, end)


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)
