"""The compute market: workloads, provider daemon, requester client, verification policies.

- :mod:`agora.compute.market` — typed access to ``ProviderRegistry`` and ``ComputeMarket``
- :mod:`agora.compute.workloads` — AI workload plug-ins with canonical result digests
- :mod:`agora.compute.execution` — running a job, checking a result (single or batch)
- :mod:`agora.compute.provider` — the provider daemon (durable, restartable)
- :mod:`agora.compute.requester` — ``Client.compute``: submit, wait, verified result
"""

from agora.compute.execution import Outcome, ResultMismatch, execute_job, verify_result
from agora.compute.market import (
    JobInfo,
    JobSpec,
    JobState,
    Market,
    Policy,
    ProviderInfo,
    bytes32_to_cid,
    cid_to_bytes32,
    commitment,
)
from agora.compute.merkle import merkle_proof, merkle_root, verify_proof
from agora.compute.provider import ProviderDaemon
from agora.compute.requester import ComputeClient, Job, JobFailed

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
