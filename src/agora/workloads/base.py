"""The workload interface every plug-in implements, and the error it raises."""

from __future__ import annotations

import copy
from abc import ABC, abstractmethod
from typing import TYPE_CHECKING, Any, ClassVar

from agora.errors import AgoraError

if TYPE_CHECKING:
    from agora.workloads.canonical import ResultTensor

__all__ = [
    "RESULT_FORMAT",
    "RESULT_LAYOUT",
    "RESULT_MEDIA_TYPE",
    "Workload",
    "WorkloadError",
    "build_output_schema",
    "one_line",
]

#: the media type of every workload's answer (the canonical output bytes)
RESULT_MEDIA_TYPE = "application/vnd.agora-result"
#: the format tag that opens the answer (the same as ``canonical.FORMAT_TAG``)
RESULT_FORMAT = "agora-result/1"
#: the answer's byte layout, for a client in any language (``canonical`` writes and reads it)
RESULT_LAYOUT = (
    "An ASCII header line 'agora-result/1 <kind> <count>' ended by a newline (0x0A); then <count> "
    "tensors, each an ASCII line '<name> <dtype> <shape> <step>' ended by a newline and immediately "
    "followed by its values. Fields are separated by one space. <kind>: the workload kind (1-64 "
    "characters of a-z 0-9 . _ -). <count>, and each dimension: decimal without leading zeros. "
    "<name>: 1-32 characters of a-z 0-9 _ -. <dtype>: 'i32' (4-byte values) if every value of the "
    "tensor fits a signed 32-bit integer, else 'i64' (8-byte values). <shape>: the dimensions "
    "joined by 'x' ('5x10'; a vector '5'; a scalar is a vector of one). <step>: the quantization "
    "step as Python's repr of a float ('0.0001', '1e-05'; '1.0' for exact integers such as "
    "labels). Values: product-of-shape signed two's-complement big-endian integers of the dtype's "
    "size, row-major (C order), no padding or alignment; the real value is about value * step. "
    "No header line is longer than 255 bytes before its newline, and nothing follows the last "
    "tensor. Each output has exactly one encoding; keccak256 of the whole body is the result "
    "digest committed on chain."
)


def build_output_schema(tensors: list[dict[str, Any]], description: str = "") -> dict[str, Any]:
    """The ``output_schema`` of a workload whose answer holds ``tensors`` (each a dict with
    ``name``, ``shape`` (``None`` for a size set by the input), ``step`` and ``description``):
    the ``agora-result/1`` media type, format and byte layout, and how to decode it in Python."""
    schema: dict[str, Any] = {
        "mediaType": RESULT_MEDIA_TYPE,
        "format": RESULT_FORMAT,
        "layout": RESULT_LAYOUT,
        "decode": "agora.workloads.decode_output",
    }
    if description:
        schema["description"] = description
    if tensors:
        schema["tensors"] = copy.deepcopy(tensors)
    return schema


class WorkloadError(AgoraError):
    """A workload's input is malformed, its model cannot run, or a plug-in is missing or broken."""


def one_line(text: object, limit: int = 200) -> str:
    """``text`` squeezed onto one line of at most ``limit`` characters (for messages from engines)."""
    squeezed = " ".join(str(text).split())
    return squeezed if len(squeezed) <= limit else squeezed[: limit - 1] + "…"


class Workload(ABC):
    """A kind of AI job that providers run off-chain and that verifiers can compare by digest.

    A plug-in subclasses this, declares the four class attributes, and implements
    :meth:`validate_input`, :meth:`compute` and :meth:`units`. :meth:`run` validates, computes,
    and returns the canonical encoding (:mod:`agora.workloads.canonical`), whose
    keccak256 is the result digest committed on chain. Two honest providers given the same
    ``model`` and ``data`` must return the same bytes; that is what ``tolerance`` is for.
    """

    #: the name, e.g. ``"onnx-classify"``; also the entry-point name in ``agora.workloads``
    kind: ClassVar[str]
    #: the small integer (0..15) that stands for the kind on chain
    kind_id: ClassVar[int]
    #: the quantization step for floating-point outputs: ``q = round(x / tolerance)``
    tolerance: ClassVar[float]
    #: one line saying what the workload does
    description: ClassVar[str]
    #: the media type of the input bytes (``data``): what a paid API's request body is
    input_media_type: ClassVar[str] = "application/octet-stream"
    #: a JSON-Schema-flavoured description of ``data`` that a person and a program can read:
    #: ``mediaType`` plus, as they apply, ``type``/``items``/``maxItems`` (JSON input) or
    #: ``dtype``/``shape`` (arrays; ``null`` for a dimension the caller chooses), ``description``
    #: (``mediaType``, if left out, is ``input_media_type``)
    input_schema: ClassVar[dict[str, Any]] = {
        "description": "the workload's input bytes (its plug-in does not describe them)",
    }
    #: the same for the answer: always ``agora-result/1`` bytes (see :func:`build_output_schema`)
    output_schema: ClassVar[dict[str, Any]] = build_output_schema([])

    def run(self, model: bytes, data: bytes) -> bytes:
        """Run the job and return its canonical output bytes (already quantized).

        Raises WorkloadError, with a one-line message, on bad input or a model that fails.
        """
        from agora.workloads.canonical import encode_output

        model, data = bytes(model), bytes(data)
        self.validate_input(model, data)
        return encode_output(self.kind, self.compute(model, data))

    def weights_hash(self, model: bytes) -> bytes:
        """keccak256 of the weights that ``model`` runs: what a model registry records and a
        receipt names. By default the model bytes themselves; a kind whose weights live
        elsewhere (an installed package) hashes those."""
        from eth_hash.auto import keccak

        return keccak(bytes(model))

    def build_schemas(self, model: bytes | None = None) -> tuple[dict[str, Any], dict[str, Any]]:
        """Copies of ``(input_schema, output_schema)``, made specific to ``model`` where the kind
        can read it (onnx-classify fills in the model's feature and class counts). A model the
        kind cannot read gives the general schemas; this never raises for a bad model."""
        inputs = copy.deepcopy(self.input_schema)
        inputs.setdefault("mediaType", self.input_media_type)
        return inputs, copy.deepcopy(self.output_schema)

    @abstractmethod
    def validate_input(self, model: bytes, data: bytes) -> None:
        """Check ``model`` and ``data`` without running the job; raise WorkloadError if they are bad."""

    @abstractmethod
    def compute(self, model: bytes, data: bytes) -> list[ResultTensor]:
        """Run validated input and return the output tensors, floats already quantized."""

    @abstractmethod
    def units(self, data: bytes) -> int:
        """The job's size for pricing (e.g. inputs, or samples x epochs); raises WorkloadError if bad."""

    def __repr__(self) -> str:
        return f"<{type(self).__name__} kind={self.kind!r} kind_id={self.kind_id} tolerance={self.tolerance!r}>"
