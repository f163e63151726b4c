"""Agora's ezkl worker (``worker.py``), run as a process inside ``.venv-zk`` by ``agora.workloads.zk``."""
