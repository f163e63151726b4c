"""The sandbox's errors: one line each, saying what to do."""

from __future__ import annotations

from agora.errors import AgoraError

__all__ = ["SandboxError", "SandboxUnavailable"]


class SandboxError(AgoraError):
    """A sandboxed run could not be set up as asked (a bad bind, a missing scratch folder)."""


class SandboxUnavailable(SandboxError):
    """This machine cannot sandbox (no bubblewrap, no user namespaces, no way to cap processes).

    Code that runs untrusted algorithms catches nothing here: it refuses the job.
    """
