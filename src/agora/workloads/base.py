"""The workload interface every plug-in implements, and the error it raises."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import TYPE_CHECKING, ClassVar

from agora.errors import AgoraError

if TYPE_CHECKING:
    from agora.workloads.canonical import ResultTensor

__all__ = ["Workload", "WorkloadError", "one_line"]


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
