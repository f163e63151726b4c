"""The holder's side: trains on its own part, returns weights through SecAgg+ (``secaggplus_mod``).

With ``dp-record-clip`` > 0 the training itself is record-level DP (``task.train_dp``: full-batch
DP gradient descent, ``local-epochs`` steps a round); with ``dp-clip`` > 0 the whole update is
then clipped and noised as well (update-level DP). Either, both or neither.

Only the (masked, quantised) weights leave the holder, plus the number of examples and its
``holder`` label (node config, default ``partition-<id>``) as metrics.

**The round gate** (``round-gate-dir``): a holder is paid per round recorded on chain with it
among the participants, by the consumer, after the round. So that a consumer cannot keep taking
a holder's work without recording it, the holder remembers the rounds it trained in (its node
state) and, before training round r, waits until every earlier one is recorded with it on chain
— as its chain watcher (``agora.data.fl_market.RoundGate``) writes them to
``<round-gate-dir>/<holder>.json`` — and refuses round r if one is still missing after
``round-gate-timeout`` seconds. Its loss is then at most one round's work. The same file holds
what is left of the dataset's privacy budget on chain (``epsilon_left``, null when it has none):
with a budget, the holder trains only with record-level DP, and refuses a round after which its
ε for the run would exceed what is left.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import numpy as np
from flwr.app import ConfigRecord
from flwr.client import ClientApp, NumPyClient
from flwr.client.mod import secaggplus_mod
from flwr.common import Context

from agora_fl.config import merged, record_epsilon
from agora_fl.task import Arrays, evaluate, initial_weights, load_file, load_partition, train, train_dp


class HolderClient(NumPyClient):
    """One data holder: its data never leaves; ``fit`` returns the locally trained weights."""

    def __init__(
        self, x: np.ndarray, y: np.ndarray, cfg: dict[str, Any], partition_id: int, holder: str, context: Context
    ) -> None:
        self.x, self.y, self.cfg = x, y, cfg
        self.partition_id = partition_id
        self.holder = holder
        self.node = context

    def _trained(self) -> list[int]:
        record = self.node.state.get(_GATE_STATE)
        return [int(r) for r in record["rounds"]] if isinstance(record, ConfigRecord) else []

    def _remember(self, rnd: int) -> None:
        self.node.state[_GATE_STATE] = ConfigRecord({"rounds": [*self._trained(), rnd]})

    def _check_gate(self, rnd: int) -> None:
        """Refuse round ``rnd`` while a round this holder trained in is not recorded with it on chain."""
        gate_dir = str(self.cfg["round-gate-dir"])
        if not gate_dir:
            return
        owed = {r for r in self._trained() if r < rnd}
        deadline = time.monotonic() + float(self.cfg["round-gate-timeout"])
        while True:
            gate = _gate(Path(gate_dir) / f"{self.holder}.json")
            missing = sorted(owed - gate[0]) if gate is not None else sorted(owed)
            if gate is not None and not missing:
                self._check_budget(rnd, gate[1])
                return
            if time.monotonic() > deadline:
                why = f"round(s) {missing} it trained in are not recorded with it on chain" if gate is not None \
                    else "its chain watcher wrote nothing"
                raise RuntimeError(f"holder {self.holder} refuses round {rnd}: {why}")
            time.sleep(0.1)

    def get_parameters(self, config: dict[str, Any]) -> Arrays:
        """The initial weights (the server normally supplies its own)."""
        return initial_weights()

    def _check_budget(self, rnd: int, left: float | None) -> None:
        """Refuse round ``rnd`` if the dataset's privacy budget cannot pay for it."""
        if left is None:
            return
        if float(self.cfg["dp-record-clip"]) <= 0:
            raise RuntimeError(f"holder {self.holder} refuses round {rnd}: its data has a privacy budget and this "
                               "run is not record-level DP")
        after = record_epsilon(len(self._trained()) + 1, int(self.cfg["local-epochs"]),
                               float(self.cfg["dp-record-noise"]), float(self.cfg["dp-delta"]))
        if after is not None and after > left:
            raise RuntimeError(f"holder {self.holder} refuses round {rnd}: epsilon {after:.3f} would exceed the "
                               f"{left:g} left of its privacy budget")

    def fit(self, parameters: Arrays, config: dict[str, Any]) -> tuple[Arrays, int, dict[str, Any]]:
        """Train locally from the global weights (DP-GD with record-level DP); with update-level
        DP, clip and noise the update."""
        rnd = int(config.get("server-round", 0))
        if self.partition_id == int(self.cfg["drop-partition"]) and rnd == int(self.cfg["drop-round"]):
            raise RuntimeError(f"holder {self.holder} drops out of round {rnd} (fault injection)")
        self._check_gate(rnd)
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
        self._remember(rnd)
        return new, len(self.y), {"holder": self.holder}

    def evaluate(self, parameters: Arrays, config: dict[str, Any]) -> tuple[float, int, dict[str, Any]]:
        """Loss and accuracy on the holder's own data (unused: the server evaluates)."""
        loss, acc = evaluate(parameters, self.x, self.y)
        return loss, len(self.y), {"accuracy": acc}


_GATE_STATE = "agora-round-gate"


def _gate(path: Path) -> tuple[set[int], float | None] | None:
    """What the holder's chain watcher wrote: the rounds recorded with it and what is left of its
    privacy budget (None: no budget); None while there is nothing readable."""
    try:
        data = json.loads(path.read_text())
        left = data.get("epsilon_left")
        return {int(r) for r in data["paid"]}, None if left is None else float(left)
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None


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
        return HolderClient(x, y, cfg, partition_id, holder, context).to_client()

    return ClientApp(client_fn=client_fn, mods=[secaggplus_mod])


app = build_client_app()
