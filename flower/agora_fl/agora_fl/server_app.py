"""The consumer's side: FedAvg over SecAgg+ (legacy workflow), evaluated on a held-out split.

Per round the server sees only the sum of the participants' masked, quantised weights (plus each
holder's example count and label); it evaluates the new global model on its held-out split and
appends one JSON line to ``rounds-log``::

    {"round": 1, "participants": [node ids], "holders": [labels], "num_examples": [..],
     "dropped": [node ids], "accuracy": 0.93, "loss": 0.31, "aggregate_hash": "<sha256 hex>",
     "epsilon": null, "epsilon_record": null, "delta": null}

``aggregate_hash`` is ``task.weights_hash`` of the global weights after the round (the arrays'
bytes as little-endian float64, in order), the same bytes saved to ``model-path`` at the end.
``epsilon`` is the update-level DP spent so far per holder (``dp-clip``: one holder's whole data
is the unit), ``epsilon_record`` the record-level DP spent so far per holder (``dp-record-clip``:
one record is the unit; ``config.record_epsilon`` of the round number, as if the holder had
taken part in every round so far), both at ``delta``; null when that DP is off.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import numpy as np
from flwr.common import Context, ndarrays_to_parameters
from flwr.server import Grid, LegacyContext, ServerApp, ServerConfig
from flwr.server.strategy import FedAvg
from flwr.server.workflow import DefaultWorkflow, SecAggPlusWorkflow

from agora_fl.config import dp_epsilon, merged, record_epsilon
from agora_fl.task import evaluate, initial_weights, load_digits_split, weights_hash


class RecordingFedAvg(FedAvg):
    """FedAvg that remembers who took part in each round and logs each round as a JSON line."""

    def __init__(self, cfg: dict[str, Any], **kwargs: Any) -> None:
        _, _, self.x_test, self.y_test = load_digits_split(int(cfg["seed"]))
        self.cfg = cfg
        self.log_path = Path(cfg["rounds-log"]) if cfg["rounds-log"] else None
        self.rounds: dict[int, dict[str, Any]] = {}
        self.sampled: dict[int, set[int]] = {}
        self.current_round = 0
        self.final: list[np.ndarray] | None = None
        self.t0 = time.monotonic()
        super().__init__(evaluate_fn=self._evaluate, **kwargs)

    def num_fit_clients(self, num_available_clients: int) -> tuple[int, int]:
        """Ask every connected holder, once at least this many are connected: before the first
        round ``min-available-clients`` (everyone), after it ``min-fit-clients`` (a holder gone
        for good does not stop training)."""
        wait = self.min_available_clients if self.current_round <= 1 else self.min_fit_clients
        # FedAvg would fix the sample size from the holders connected *before* waiting, and then
        # sample that many of those connected after: a late holder could be left out at random
        return max(num_available_clients, wait), wait

    def configure_fit(self, server_round: int, parameters: Any, client_manager: Any) -> Any:
        """FedAvg's sampling, remembering whom it sampled."""
        self.current_round = server_round
        instructions = super().configure_fit(server_round, parameters, client_manager)
        self.sampled[server_round] = {proxy.node_id for proxy, _ in instructions}
        return instructions

    def aggregate_fit(self, server_round: int, results: list[Any], failures: list[Any]) -> Any:
        """FedAvg's aggregation, remembering whose vectors are in the sum."""
        # With SecAgg+ every result carries the same (already summed) parameters; the proxies
        # say whose masked vectors went into the sum.
        info = sorted(
            ((proxy.node_id, str(res.metrics.get("holder", "")), int(res.num_examples)) for proxy, res in results)
        )
        self.rounds[server_round] = {
            "participants": [n for n, _, _ in info],
            "holders": [h for _, h, _ in info],
            "num_examples": [e for _, _, e in info],
            # sampled but whose masked vector is not in the sum (dropped in any SecAgg+ stage)
            "dropped": sorted(self.sampled.get(server_round, set()) - {n for n, _, _ in info}),
        }
        return super().aggregate_fit(server_round, results, failures)

    def _evaluate(
        self, server_round: int, weights: list[np.ndarray], config: dict[str, Any]
    ) -> tuple[float, dict[str, Any]]:
        loss, acc = evaluate(weights, self.x_test, self.y_test)
        self.final = [np.asarray(w, dtype=np.float64) for w in weights]
        if server_round > 0:
            # a round whose secure aggregation halted never reached aggregate_fit: nobody counted
            took_part = self.rounds.get(server_round) or {
                "participants": [],
                "holders": [],
                "num_examples": [],
                "dropped": sorted(self.sampled.get(server_round, set())),
            }
            noisy = float(self.cfg["dp-clip"]) > 0
            eps = (
                dp_epsilon(server_round, float(self.cfg["dp-noise-multiplier"]), float(self.cfg["dp-delta"]))
                if noisy
                else None
            )
            eps_record = (
                record_epsilon(
                    server_round,
                    int(self.cfg["local-epochs"]),
                    float(self.cfg["dp-record-noise"]),
                    float(self.cfg["dp-delta"]),
                )
                if float(self.cfg["dp-record-clip"]) > 0
                else None
            )
            line = {
                "round": server_round,
                **took_part,
                "accuracy": acc,
                "loss": loss,
                "aggregate_hash": weights_hash(weights),
                "epsilon": eps,
                "epsilon_record": eps_record,
                "delta": float(self.cfg["dp-delta"]) if eps is not None or eps_record is not None else None,
                "elapsed_s": round(time.monotonic() - self.t0, 3),
            }
            if self.log_path is not None:
                with self.log_path.open("a") as f:
                    f.write(json.dumps(line) + "\n")
        return loss, {"accuracy": acc}


def build_server_app(overrides: dict[str, Any] | None = None) -> ServerApp:
    """A ServerApp whose run config is the defaults, then ``overrides``, then the run's own."""
    app = ServerApp()

    @app.main()
    def main(grid: Grid, context: Context) -> None:
        cfg = merged(overrides or {}, dict(context.run_config))
        strategy = RecordingFedAvg(
            cfg,
            fraction_fit=1.0,
            fraction_evaluate=0.0,  # evaluation is the server's, on its held-out split
            min_fit_clients=int(cfg["min-fit-clients"]),
            min_evaluate_clients=0,
            min_available_clients=int(cfg["min-available-clients"]),
            on_fit_config_fn=lambda rnd: {"server-round": rnd},
            initial_parameters=ndarrays_to_parameters(initial_weights()),
        )
        legacy = LegacyContext(
            context=context, config=ServerConfig(num_rounds=int(cfg["num-server-rounds"])), strategy=strategy
        )
        shares, threshold = cfg["num-shares"], cfg["reconstruction-threshold"]
        secagg = SecAggPlusWorkflow(
            num_shares=shares,
            reconstruction_threshold=threshold,
            max_weight=float(cfg["max-weight"]),
            clipping_range=float(cfg["clipping-range"]),
            quantization_range=int(cfg["quantization-range"]),
            timeout=float(cfg["timeout"]),
        )
        DefaultWorkflow(fit_workflow=secagg)(grid, legacy)
        if cfg["model-path"] and strategy.final is not None:
            np.savez(cfg["model-path"], W=strategy.final[0], b=strategy.final[1])

    return app


app = build_server_app()
