"""The canonical result encoding: what a provider stores, and what the chain's digest commits to.

A workload's output is a list of named integer tensors. Floating-point results are first
quantized, ``q = round(x / step)`` (round half to even), so that honest providers whose
floating-point arithmetic differs in the last bits still produce the same integers. The
encoding is then a short ASCII header plus big-endian integers::

    agora-result/1 <kind> <number of tensors>\\n
    then, for each tensor in order:
    <name> <dtype> <shape> <step>\\n<values>

* ``name``: 1-32 characters of ``a-z 0-9 _ -``.
* ``dtype``: ``i32`` if every value fits a signed 32-bit integer, else ``i64`` (chosen by the
  values, so equal values always pick the same dtype).
* ``shape``: the dimensions joined by ``x`` (``5x10``; a vector is ``5``; a scalar is stored
  as a vector of one), each a decimal integer without leading zeros.
* ``step``: the quantization step as Python's ``repr(float(step))`` writes it (``0.0001``,
  ``1.0`` for exact integers such as labels): the real value is about ``q * step``.
* ``values``: the product of the shape of big-endian two's-complement integers, row-major.

Every output has exactly one encoding: :func:`decode_output` re-encodes what it read and
refuses anything that does not come back byte for byte. The result digest is
``keccak256(blob)`` (:func:`result_digest`).
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from eth_utils import keccak

from agora.workloads.base import RESULT_FORMAT, WorkloadError

__all__ = [
    "FORMAT_TAG",
    "ResultTensor",
    "WorkloadOutput",
    "quantize",
    "encode_output",
    "decode_output",
    "result_digest",
]

FORMAT_TAG = RESULT_FORMAT

_NAME = re.compile(r"[a-z0-9_-]{1,32}")
_KIND = re.compile(r"[a-z0-9][a-z0-9._-]{0,63}")
_DIM = re.compile(r"0|[1-9][0-9]{0,9}")
_DTYPES: dict[str, np.dtype[Any]] = {"i32": np.dtype(">i4"), "i64": np.dtype(">i8")}
_I32 = np.iinfo(np.int32)
# round(x / step) must stay exact in float64 and fit in int64: |q| < 2**53.
_MAX_QUANTUM = 2.0**53
_MAX_HEADER = 256


def result_digest(output: bytes) -> bytes:
    """The 32-byte result digest of a canonical output blob: ``keccak256(output)``."""
    return keccak(bytes(output))


def quantize(values: object, step: float) -> np.ndarray:
    """Quantize real values to integers: ``round(x / step)``, round half to even, as int64.

    Raises WorkloadError on NaN or infinity, or on a value too large for the step
    (``|x / step| >= 2**53``).
    """
    _check_step(step)
    x = np.asarray(values, dtype=np.float64)
    if not np.all(np.isfinite(x)):
        raise WorkloadError("output holds NaN or infinity; it cannot be quantized")
    q = np.rint(x / step)
    if q.size and float(np.max(np.abs(q))) >= _MAX_QUANTUM:
        raise WorkloadError(f"output value too large to quantize at step {step!r}")
    # + 0 turns -0.0 into 0.0 so that the integer is the same either way
    return (q + 0.0).astype(np.int64)


@dataclass(frozen=True, eq=False)
class ResultTensor:
    """One named integer tensor of an output; ``values * step`` approximates the real values."""

    name: str
    values: np.ndarray
    step: float = 1.0

    def __post_init__(self) -> None:
        values = np.atleast_1d(np.asarray(self.values))
        if values.dtype.kind not in "iu":
            raise WorkloadError(f"tensor {self.name!r} must hold integers (quantize floats first)")
        if values.dtype.kind == "u" and values.size and int(values.max()) > np.iinfo(np.int64).max:
            raise WorkloadError(f"tensor {self.name!r} has a value out of the int64 range")
        object.__setattr__(self, "values", values.astype(np.int64))
        object.__setattr__(self, "step", float(self.step))
        if not isinstance(self.name, str) or not _NAME.fullmatch(self.name):
            raise WorkloadError(f"tensor name {self.name!r} must be 1-32 characters of a-z 0-9 _ -")
        _check_step(self.step)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ResultTensor):
            return NotImplemented
        return (
            self.name == other.name
            and self.step == other.step
            and self.values.shape == other.values.shape
            and bool(np.array_equal(self.values, other.values))
        )

    __hash__ = None  # type: ignore[assignment]  # mutable array inside

    def dequantize(self) -> np.ndarray:
        """The approximate real values, ``values * step``, as float64."""
        return self.values.astype(np.float64) * self.step


@dataclass(frozen=True)
class WorkloadOutput:
    """A decoded canonical output: the workload kind and its tensors in order."""

    kind: str
    tensors: tuple[ResultTensor, ...]

    def tensor(self, name: str) -> ResultTensor:
        """The tensor called ``name``; raises WorkloadError if there is none."""
        for tensor in self.tensors:
            if tensor.name == name:
                return tensor
        raise WorkloadError(f"output of {self.kind!r} has no tensor {name!r}")


def encode_output(kind: str, tensors: Sequence[ResultTensor]) -> bytes:
    """The canonical bytes of an output (see the module docstring for the format)."""
    if not isinstance(kind, str) or not _KIND.fullmatch(kind):
        raise WorkloadError(f"workload kind {kind!r} must be 1-64 characters of a-z 0-9 . _ -")
    names = [t.name for t in tensors]
    if len(set(names)) != len(names):
        raise WorkloadError(f"output tensor names must be unique, got {names}")
    parts = [f"{FORMAT_TAG} {kind} {len(tensors)}\n".encode("ascii")]
    for tensor in tensors:
        values = tensor.values
        fits_i32 = values.size == 0 or (int(values.min()) >= _I32.min and int(values.max()) <= _I32.max)
        dtype = "i32" if fits_i32 else "i64"
        shape = "x".join(str(d) for d in values.shape)
        parts.append(f"{tensor.name} {dtype} {shape} {_format_step(tensor.step)}\n".encode("ascii"))
        parts.append(np.ascontiguousarray(values.reshape(-1), dtype=_DTYPES[dtype]).tobytes())
    return b"".join(parts)


def decode_output(blob: bytes) -> WorkloadOutput:
    """Read a canonical output back; raises WorkloadError if ``blob`` is not canonical."""
    blob = bytes(blob)
    line, pos = _read_line(blob, 0)
    head = line.split(" ")
    if len(head) != 3 or head[0] != FORMAT_TAG or not _KIND.fullmatch(head[1]) or not _DIM.fullmatch(head[2]):
        raise WorkloadError(f"not a canonical output: header must be '{FORMAT_TAG} <kind> <count>'")
    kind, count = head[1], int(head[2])
    tensors = []
    for _ in range(count):
        line, pos = _read_line(blob, pos)
        fields = line.split(" ")
        if len(fields) != 4 or fields[1] not in _DTYPES:
            raise WorkloadError(f"not a canonical output: bad tensor line {line[:60]!r}")
        name, dtype, shape_text, step_text = fields
        dims = shape_text.split("x")
        if not all(_DIM.fullmatch(d) for d in dims):
            raise WorkloadError(f"not a canonical output: bad shape {shape_text[:40]!r}")
        shape = tuple(int(d) for d in dims)
        try:
            step = float(step_text)
        except ValueError:
            raise WorkloadError(f"not a canonical output: bad step {step_text[:40]!r}") from None
        size = math.prod(shape) * _DTYPES[dtype].itemsize
        if pos + size > len(blob):
            raise WorkloadError(f"not a canonical output: tensor {name[:32]!r} is cut short")
        values = np.frombuffer(blob, dtype=_DTYPES[dtype], count=math.prod(shape), offset=pos).reshape(shape)
        pos += size
        tensors.append(ResultTensor(name, values.astype(np.int64), step))
    if pos != len(blob):
        raise WorkloadError("not a canonical output: trailing bytes after the last tensor")
    output = WorkloadOutput(kind, tuple(tensors))
    if encode_output(kind, output.tensors) != blob:
        raise WorkloadError("not a canonical output: it does not re-encode to the same bytes")
    return output


def _read_line(blob: bytes, pos: int) -> tuple[str, int]:
    end = blob.find(b"\n", pos, pos + _MAX_HEADER)
    if end < 0:
        raise WorkloadError("not a canonical output: missing or over-long header line")
    try:
        return blob[pos:end].decode("ascii"), end + 1
    except UnicodeDecodeError:
        raise WorkloadError("not a canonical output: header is not ASCII") from None


def _check_step(step: float) -> None:
    if isinstance(step, bool) or not isinstance(step, int | float) or not (math.isfinite(step) and step > 0):
        raise WorkloadError(f"quantization step must be a positive finite number, got {step!r}")


def _format_step(step: float) -> str:
    return repr(float(step))
