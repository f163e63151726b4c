"""The sandbox seam: run untrusted algorithms (compute-to-data, federated learning) under bubblewrap.

``run(argv, ro_binds=…, scratch=…, limits=Limits(…))`` runs a program with every namespace
unshared, no network, read-only inputs, one writable scratch folder and kernel-enforced limits;
``run_python(source, …)`` runs a Python file with the project's interpreter. Where this machine
cannot sandbox, both raise :class:`SandboxUnavailable` rather than run anything unsandboxed;
``sandbox_available()`` says whether it can, and why not. ``spawn(argv, …, network="none"|"host")``
starts a long-running program (a federated-learning SuperNode) in the same sandbox and returns a
:class:`SandboxProcess` handle at once.
"""

from agora.workloads.sandbox.errors import SandboxError, SandboxUnavailable
from agora.workloads.sandbox.limits import Killed, Limits, SandboxResult
from agora.workloads.sandbox.process import SandboxProcess, spawn
from agora.workloads.sandbox.runner import (
    SANDBOX_UID,
    SCRATCH,
    Network,
    build_command,
    run,
    run_python,
    sandbox_available,
)

__all__ = [
    "SANDBOX_UID",
    "SCRATCH",
    "Killed",
    "Limits",
    "Network",
    "SandboxError",
    "SandboxProcess",
    "SandboxResult",
    "SandboxUnavailable",
    "build_command",
    "run",
    "run_python",
    "sandbox_available",
    "spawn",
]
