"""The compute market: workloads, provider daemon, requester client, verification policies.

- :mod:`agora.compute.market` — typed access to ``ProviderRegistry`` and ``ComputeMarket``
- :mod:`agora.compute.execution` — running a job, checking a result (single or batch)
- :mod:`agora.compute.provider` — the provider daemon (durable, restartable)
- :mod:`agora.compute.requester` — ``Client.compute``: submit, wait, verified result

The names below are imported on first use, so that loading the layer's declaration (or
``agora --help``) does not pull in web3 and the models.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from agora.layers import export_lazily

if TYPE_CHECKING:
    # moved to the seams in 0.4 (Merkle to chain, CID <-> bytes32 to storage); still importable from here
    from agora.chain.merkle import merkle_proof, merkle_root, verify_proof
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
    from agora.storage import bytes32_to_cid, cid_to_bytes32

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

#: Where each public name lives (imported on first use).
_EXPORTS: dict[str, str] = {
    "ComputeClient": "agora.compute.requester",
    "Job": "agora.compute.requester",
    "JobFailed": "agora.compute.requester",
    "JobInfo": "agora.compute.market",
    "JobSpec": "agora.compute.market",
    "JobState": "agora.compute.market",
    "Market": "agora.compute.market",
    "Outcome": "agora.compute.execution",
    "Policy": "agora.compute.market",
    "ProviderDaemon": "agora.compute.provider",
    "ProviderInfo": "agora.compute.market",
    "ResultMismatch": "agora.compute.execution",
    "bytes32_to_cid": "agora.storage",
    "cid_to_bytes32": "agora.storage",
    "commitment": "agora.compute.market",
    "execute_job": "agora.compute.execution",
    "merkle_proof": "agora.chain.merkle",
    "merkle_root": "agora.chain.merkle",
    "verify_proof": "agora.chain.merkle",
    "verify_result": "agora.compute.execution",
}

__getattr__, __dir__ = export_lazily(globals(), _EXPORTS)
