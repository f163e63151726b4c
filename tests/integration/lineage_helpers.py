"""Datasets for the value tests: a model's dataset ids must exist in the deployment's dataset
registry, so a test that registers a model on datasets publishes them first (as the data layer's
users do). The value layer itself never imports the data layer; a test, above the layers, may."""

from __future__ import annotations

import os

from eth_hash.auto import keccak

from agora.chain import Signer
from agora.protocol import Deployment
from agora.storage import cid_for


def publish_datasets(dep: Deployment, owner: Signer, count: int = 1) -> list[int]:
    """Publish ``count`` datasets owned by ``owner`` (not for sale); return their ids."""
    from agora.data import DataRegistry

    registry = DataRegistry(dep)
    ids: list[int] = []
    for _ in range(count):
        tag = b"lineage-dataset-" + os.urandom(8)
        dataset, _receipt = registry.publish(owner, card=cid_for(tag), content_hash=keccak(tag))
        ids.append(dataset)
    return ids
