"""Agora's Flower app: federated softmax regression on digits with SecAgg+ (see docs/federated.md)."""
