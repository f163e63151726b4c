"""Which workload kinds this process knows: the built-ins, plus plug-ins from entry points.

A third party adds a kind by declaring, in its own package::

    [project.entry-points."agora.workloads"]
    my-kind = "my_package.module:MyWorkload"

where the object is a :class:`Workload` subclass (instantiated with no arguments), an
instance, or a factory returning one. The entry point's name must equal the workload's
``kind``. The three built-ins are registered directly, so they work even when the installed
entry points are stale; an entry point cannot replace a built-in kind or reuse a kind id.
"""

from __future__ import annotations

import logging
import math
import re
import threading
from importlib.metadata import entry_points

from agora.workloads.base import Workload, WorkloadError, one_line
from agora.workloads.embed_minilm import EmbedMiniLM
from agora.workloads.onnx_classify import OnnxClassify
from agora.workloads.train_digits import TrainDigits

__all__ = ["ENTRY_POINT_GROUP", "BUILTIN_KINDS", "get_workload", "list_workloads", "register_workload"]

ENTRY_POINT_GROUP = "agora.workloads"
BUILTIN_KINDS = ("onnx-classify", "embed-minilm", "train-digits")
MAX_KIND_ID = 15
_KIND = re.compile(r"[a-z0-9][a-z0-9._-]{0,63}")

log = logging.getLogger(__name__)

_lock = threading.RLock()
_known: dict[str, Workload] | None = None
_broken: dict[str, str] = {}


def get_workload(kind: str | int) -> Workload:
    """The workload for a kind name (``"onnx-classify"``) or on-chain kind id (``1``).

    Raises WorkloadError, one line, if no installed workload has that kind or its plug-in failed to load.
    """
    known = _registry()
    if isinstance(kind, str):
        if kind in known:
            return known[kind]
        if kind in _broken:
            raise WorkloadError(f"workload plug-in {kind!r} failed to load: {_broken[kind]}")
    elif isinstance(kind, int) and not isinstance(kind, bool):
        for workload in known.values():
            if workload.kind_id == kind:
                return workload
    else:
        raise WorkloadError(f"a workload kind is a name or a kind id, got {type(kind).__name__}")
    names = ", ".join(f"{w.kind} ({w.kind_id})" for w in list_workloads())
    raise WorkloadError(f"unknown workload kind {kind!r}; known kinds: {names}")


def list_workloads() -> list[Workload]:
    """Every known workload, ordered by kind id."""
    return sorted(_registry().values(), key=lambda w: w.kind_id)


def register_workload(workload: Workload) -> None:
    """Add a workload in this process (as an entry point would); raises WorkloadError on a clash."""
    _validate_declaration(workload)
    with _lock:
        _add(_registry(), workload)


def _registry() -> dict[str, Workload]:
    global _known
    with _lock:
        if _known is None:
            _known = _discover()
        return _known


def _reset() -> None:
    """Forget what was discovered (tests use it after changing the entry points)."""
    global _known
    with _lock:
        _known = None
        _broken.clear()


def _discover() -> dict[str, Workload]:
    known: dict[str, Workload] = {}
    for builtin in (OnnxClassify(), EmbedMiniLM(), TrainDigits()):
        _add(known, builtin)
    for point in entry_points(group=ENTRY_POINT_GROUP):
        if point.name in BUILTIN_KINDS:
            continue  # declared for other tools' sake; the built-in object is already registered
        try:
            workload = _instantiate(point.load())
            if workload.kind != point.name:
                raise WorkloadError(f"entry point {point.name!r} gives a workload of kind {workload.kind!r}")
            _validate_declaration(workload)
            _add(known, workload)
        except Exception as exc:  # a broken plug-in must not take the others down
            _broken[point.name] = one_line(exc)
            log.warning("workload plug-in %r (%s) skipped: %s", point.name, point.value, _broken[point.name])
    return known


def _instantiate(target: object) -> Workload:
    if isinstance(target, type) and issubclass(target, Workload):
        return target()
    if isinstance(target, Workload):
        return target
    if callable(target):
        made = target()
        if isinstance(made, Workload):
            return made
    raise WorkloadError(f"{target!r} is not a Workload subclass, instance or factory")


def _validate_declaration(workload: Workload) -> None:
    if not isinstance(workload, Workload):
        raise WorkloadError(f"{workload!r} is not a Workload")
    kind = getattr(workload, "kind", None)
    kind_id = getattr(workload, "kind_id", None)
    tolerance = getattr(workload, "tolerance", None)
    if not isinstance(kind, str) or not _KIND.fullmatch(kind):
        raise WorkloadError(f"workload kind {kind!r} must be 1-64 characters of a-z 0-9 . _ -")
    if isinstance(kind_id, bool) or not isinstance(kind_id, int) or not 0 <= kind_id <= MAX_KIND_ID:
        raise WorkloadError(f"workload {kind!r} has kind_id {kind_id!r}; it must be an integer 0..{MAX_KIND_ID}")
    if isinstance(tolerance, bool) or not isinstance(tolerance, int | float) or not (
        math.isfinite(tolerance) and tolerance > 0
    ):
        raise WorkloadError(f"workload {kind!r} has tolerance {tolerance!r}; it must be a positive number")
    if not isinstance(getattr(workload, "description", None), str):
        raise WorkloadError(f"workload {kind!r} needs a description string")
    if not isinstance(getattr(workload, "input_media_type", None), str):
        raise WorkloadError(f"workload {kind!r} needs an input_media_type string")
    for name in ("input_schema", "output_schema"):
        if not isinstance(getattr(workload, name, None), dict):
            raise WorkloadError(f"workload {kind!r} needs {name} to be a dict (a JSON-Schema-flavoured description)")


def _add(known: dict[str, Workload], workload: Workload) -> None:
    if workload.kind in known:
        raise WorkloadError(f"workload kind {workload.kind!r} is already registered")
    for other in known.values():
        if other.kind_id == workload.kind_id:
            raise WorkloadError(f"workload {workload.kind!r} reuses kind_id {workload.kind_id} of {other.kind!r}")
    known[workload.kind] = workload
