"""The compute market: workloads, provider daemon, requester client, verification policies.

- :mod:`agora.compute.market` — typed access to ``ProviderRegistry`` and ``ComputeMarket``
- :mod:`agora.compute.execution` — running a job, checking a result (single or batch)
- :mod:`agora.compute.provider` — the provider daemon (durable, restartable)
- :mod:`agora.compute.requester` — ``Client.compute``: submit, wait, verified result
"""

# Moved to the seams in 0.4 (the Merkle helper to the chain, CIDs as bytes32 to storage);
# still importable from here for 0.3 code.
from agora.chain.merkle import merkle_proof, merkle_root, verify_proof  # noqa: E402
from agora.compute.execution import Outcome, ResultMismatch, execute_job, verify_result
from agora.compute.market import (
    JobInfo,
    JobSpec,
    JobState,
    Market,
    Policy,
    ProviderInfo,
    commitment,
)
from agora.compute.provider import ProviderDaemon
from agora.compute.requester import ComputeClient, Job, JobFailed
from agora.storage import bytes32_to_cid, cid_to_bytes32  # noqa: E402

__all__ = [
    "ComputeClient",
    "Job",
    "JobFailed",
    "JobInfo",
    "JobSpec",
    "JobState",
    "Market",
    "Outcome",
    "Policy",
    "ProviderDaemon",
    "ProviderInfo",
    "ResultMismatch",
    "bytes32_to_cid",
    "cid_to_bytes32",
    "commitment",
    "execute_job",
    "merkle_proof",
    "merkle_root",
    "verify_proof",
    "verify_result",
]
