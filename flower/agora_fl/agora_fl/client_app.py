"""The holder's side: trains on its own part, returns weights through SecAgg+ (``secaggplus_mod``).

With ``dp-record-clip`` > 0 the training itself is record-level DP (``task.train_dp``: full-batch
DP gradient descent, ``local-epochs`` steps a round); with ``dp-clip`` > 0 the whole update is
then clipped and noised as well (update-level DP). Either, both or neither.

Only the (masked, quantised) weights leave the holder, plus the number of examples and its
``holder`` label (node config, default ``partition-<id>``) as metrics.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from flwr.client import ClientApp, NumPyClient
from flwr.client.mod import secaggplus_mod
from flwr.common import Context

from agora_fl.config import merged
from agora_fl.task import Arrays, evaluate, initial_weights, load_file, load_partition, train, train_dp


class HolderClient(NumPyClient):
    """One data holder: its data never leaves; ``fit`` returns the locally trained weights."""

    def __init__(self, x: np.ndarray, y: np.ndarray, cfg: dict[str, Any], partition_id: int, holder: str) -> None:
        self.x, self.y, self.cfg = x, y, cfg
        self.partition_id = partition_id
        self.holder = holder

    def get_parameters(self, config: dict[str, Any]) -> Arrays:
        """The initial weights (the server normally supplies its own)."""
        return initial_weights()

    def fit(self, parameters: Arrays, config: dict[str, Any]) -> tuple[Arrays, int, dict[str, Any]]:
        """Train locally from the global weights (DP-GD with record-level DP); with update-level
        DP, clip and noise the update."""
        rnd = int(config.get("server-round", 0))
        if self.partition_id == int(self.cfg["drop-partition"]) and rnd == int(self.cfg["drop-round"]):
            raise RuntimeError(f"holder {self.holder} drops out of round {rnd} (fault injection)")
        seed = int(self.cfg["seed"]) * 1_000_003 + rnd * 1009 + self.partition_id
        epochs, lr = int(self.cfg["local-epochs"]), float(self.cfg["lr"])
        record_clip = float(self.cfg["dp-record-clip"])
        if record_clip > 0:
            noise = float(self.cfg["dp-record-noise"])
            new = train_dp(parameters, self.x, self.y, steps=epochs, lr=lr, clip=record_clip, noise=noise, seed=seed)
        else:
            new = train(parameters, self.x, self.y, epochs=epochs, lr=lr, seed=seed)
        clip = float(self.cfg["dp-clip"])
        if clip > 0:
            new = _privatise(parameters, new, clip, float(self.cfg["dp-noise-multiplier"]), seed)
        return new, len(self.y), {"holder": self.holder}

    def evaluate(self, parameters: Arrays, config: dict[str, Any]) -> tuple[float, int, dict[str, Any]]:
        """Loss and accuracy on the holder's own data (unused: the server evaluates)."""
        loss, acc = evaluate(parameters, self.x, self.y)
        return loss, len(self.y), {"accuracy": acc}


def _privatise(old: Arrays, new: Arrays, clip: float, noise_multiplier: float, seed: int) -> Arrays:
    """Clip the update ``new - old`` to L2 norm ``clip``, add N(0, (σ·clip)²) to each coordinate."""
    update = [n - o for n, o in zip(new, old, strict=True)]
    norm = float(np.sqrt(sum(float((u**2).sum()) for u in update)))
    scale = min(1.0, clip / norm) if norm > 0 else 1.0
    rng = np.random.default_rng([seed, 0xD9])  # fresh per round and holder
    return [o + u * scale + rng.normal(0.0, noise_multiplier * clip, u.shape) for o, u in zip(old, update, strict=True)]


def build_client_app(overrides: dict[str, Any] | None = None) -> ClientApp:
    """A ClientApp whose run config is the defaults, then ``overrides``, then the run's own."""

    def client_fn(context: Context) -> Any:
        cfg = merged(overrides or {}, dict(context.run_config))
        node = context.node_config
        partition_id = int(node.get("partition-id", 0))
        if node.get("data-path"):
            x, y = load_file(str(node["data-path"]))
        else:
            x, y = load_partition(partition_id, int(node["num-partitions"]), int(cfg["seed"]))
        holder = str(node.get("holder", f"partition-{partition_id}"))
        return HolderClient(x, y, cfg, partition_id, holder).to_client()

    return ClientApp(client_fn=client_fn, mods=[secaggplus_mod])


app = build_client_app()
