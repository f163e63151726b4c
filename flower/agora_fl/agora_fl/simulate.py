"""Run the app on Flower's simulation engine (ray), in this process.

    python -m agora_fl.simulate --num-supernodes 3 --config '{"rounds-log": "/tmp/r.jsonl"}'

``run_simulation`` reads no pyproject, so the run config comes from ``--config`` (JSON, merged
over the defaults). Each virtual SuperNode gets ``partition-id``/``num-partitions``.
"""

from __future__ import annotations

import argparse
import json
import logging
import warnings


def main() -> None:
    """Parse the arguments and run the simulation."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--num-supernodes", type=int, default=3)
    parser.add_argument("--config", default="{}", help="run config overrides, JSON")
    parser.add_argument("--num-cpus", type=int, default=2, help="CPUs ray may use")
    args = parser.parse_args()
    overrides = json.loads(args.config)

    warnings.filterwarnings("ignore", category=FutureWarning)  # ray's accelerator env notice
    from flwr.simulation import run_simulation

    from agora_fl.client_app import build_client_app
    from agora_fl.config import merged
    from agora_fl.server_app import build_server_app

    merged(overrides)  # refuse unknown keys before ray starts
    logging.getLogger("ray").setLevel(logging.ERROR)
    run_simulation(
        server_app=build_server_app(overrides),
        client_app=build_client_app(overrides),
        num_supernodes=args.num_supernodes,
        backend_config={
            "client_resources": {"num_cpus": 1, "num_gpus": 0.0},
            "init_args": {"num_cpus": args.num_cpus, "num_gpus": 0, "include_dashboard": False, "log_to_driver": False},
        },
    )


if __name__ == "__main__":
    main()
