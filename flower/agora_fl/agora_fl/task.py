"""The model and the data: numpy softmax regression on scikit-learn's digits.

Everything here is plain numpy + scikit-learn (no Flower), so the same code trains a holder's
part, evaluates on the server's held-out split, and is mirrored by Agora's centralised baseline.

* Features are the 64 pixel intensities scaled to [0, 1]; 10 classes.
* The held-out split (25 %, stratified, seeded) stays with the server; the rest is shuffled
  (seeded) and cut into ``num-partitions`` nearly equal parts, one per holder
  (``partition-id``). A real holder instead trains on its own file (``data-path``): an ``.npz``
  with ``X`` (n x 64 floats in [0, 1]) and ``y`` (n ints in 0..9).
* Local training is mini-batch SGD on the cross-entropy (batch 32, ``lr``), ``local-epochs``
  passes per round, batches shuffled with a per-round seed.
* With record-level DP (:func:`train_dp`) it is DP gradient descent instead: ``steps`` full-batch
  steps, each on the sum of the per-example gradients clipped to L2 norm ``clip`` plus
  N(0, (noise·clip)²) per coordinate, divided by the record count.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

N_FEATURES = 64
N_CLASSES = 10
BATCH = 32

Arrays = list[NDArray[np.float64]]


def load_digits_split(
    seed: int = 0,
) -> tuple[NDArray[np.float64], NDArray[np.int64], NDArray[np.float64], NDArray[np.int64]]:
    """``(X_train, y_train, X_test, y_test)``: digits scaled to [0, 1], a seeded stratified 75/25 split."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    data = load_digits()
    x = np.asarray(data.data, dtype=np.float64) / 16.0
    y = np.asarray(data.target, dtype=np.int64)
    x_tr, x_te, y_tr, y_te = train_test_split(x, y, test_size=0.25, stratify=y, random_state=seed)
    return x_tr, y_tr, x_te, y_te


def load_partition(
    partition_id: int, num_partitions: int, seed: int = 0
) -> tuple[NDArray[np.float64], NDArray[np.int64]]:
    """Holder ``partition_id``'s part of the training split (IID: a seeded shuffle, cut in order)."""
    if not 0 <= partition_id < num_partitions:
        raise ValueError(f"partition-id {partition_id} outside 0..{num_partitions - 1}")
    x, y, _, _ = load_digits_split(seed)
    order = np.random.default_rng(seed).permutation(len(y))
    part = np.array_split(order, num_partitions)[partition_id]
    return x[part], y[part]


def load_file(path: str | Path) -> tuple[NDArray[np.float64], NDArray[np.int64]]:
    """A holder's own data: an ``.npz`` with ``X`` (n x 64) and ``y`` (n labels in 0..9)."""
    with np.load(path) as f:
        x = np.asarray(f["X"], dtype=np.float64)
        y = np.asarray(f["y"], dtype=np.int64)
    if x.ndim != 2 or x.shape[1] != N_FEATURES or len(x) != len(y):
        raise ValueError(f"{path}: expected X of shape (n, {N_FEATURES}) and y of shape (n,)")
    return x, y


def initial_weights() -> Arrays:
    """Zero weights ``[W (64 x 10), b (10)]`` (a deterministic start every run)."""
    return [np.zeros((N_FEATURES, N_CLASSES)), np.zeros(N_CLASSES)]


def _softmax(z: NDArray[np.float64]) -> NDArray[np.float64]:
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def train(
    weights: Arrays, x: NDArray[np.float64], y: NDArray[np.int64], *, epochs: int, lr: float, seed: int
) -> Arrays:
    """``epochs`` passes of mini-batch SGD from ``weights``; returns new arrays."""
    w, b = weights[0].copy(), weights[1].copy()
    rng = np.random.default_rng(seed)
    onehot = np.eye(N_CLASSES)[y]
    for _ in range(epochs):
        order = rng.permutation(len(y))
        for start in range(0, len(y), BATCH):
            idx = order[start : start + BATCH]
            grad = _softmax(x[idx] @ w + b) - onehot[idx]
            w -= lr * x[idx].T @ grad / len(idx)
            b -= lr * grad.mean(axis=0)
    return [w, b]


def clipped_gradient_sum(
    weights: Arrays, x: NDArray[np.float64], y: NDArray[np.int64], clip: float
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """The sum over the records of each one's cross-entropy gradient clipped to L2 norm ``clip``.

    Record i's gradient is ``g_i ⊗ [x_i, 1]`` with ``g_i = softmax(x_i W + b) - onehot(y_i)``
    (the ``W`` part ``x_i g_iᵀ``, the ``b`` part ``g_i``), so its norm over (W, b) together is
    ``‖g_i‖ · √(‖x_i‖² + 1)`` in closed form: no per-example tensor is built. Returns
    ``(sum for W (64 x 10), sum for b (10))``; one record moves it by at most ``clip``.
    """
    g = _softmax(x @ weights[0] + weights[1]) - np.eye(N_CLASSES)[y]
    norms = np.linalg.norm(g, axis=1) * np.sqrt((x * x).sum(axis=1) + 1.0)
    g = g * np.minimum(1.0, clip / np.maximum(norms, 1e-12))[:, None]
    return x.T @ g, g.sum(axis=0)


def train_dp(
    weights: Arrays,
    x: NDArray[np.float64],
    y: NDArray[np.int64],
    *,
    steps: int,
    lr: float,
    clip: float,
    noise: float,
    seed: int,
) -> Arrays:
    """``steps`` full-batch DP gradient-descent steps from ``weights`` (record-level DP).

    Each step: :func:`clipped_gradient_sum`, plus N(0, (noise·clip)²) on every coordinate, divided
    by the record count n, times ``lr``. Every step is a Gaussian mechanism with sensitivity
    ``clip``, hence ρ = 1/(2·noise²) zCDP per record (``config.dp_epsilon`` turns the total into ε).
    """
    if clip <= 0 or noise <= 0:
        raise ValueError("record-level DP needs clip > 0 and noise > 0")
    w, b = weights[0].copy(), weights[1].copy()
    rng = np.random.default_rng([seed, 0x5EC])  # fresh per round and holder
    n = len(y)
    for _ in range(steps):
        gw, gb = clipped_gradient_sum([w, b], x, y, clip)
        gw = gw + rng.normal(0.0, noise * clip, gw.shape)
        gb = gb + rng.normal(0.0, noise * clip, gb.shape)
        w -= lr * gw / n
        b -= lr * gb / n
    return [w, b]


def evaluate(weights: Arrays, x: NDArray[np.float64], y: NDArray[np.int64]) -> tuple[float, float]:
    """``(loss, accuracy)`` of ``weights`` on ``(x, y)``."""
    p = _softmax(x @ weights[0] + weights[1])
    loss = float(-np.log(np.clip(p[np.arange(len(y)), y], 1e-12, None)).mean())
    return loss, float((p.argmax(axis=1) == y).mean())


def weights_hash(weights: Arrays) -> str:
    """sha256 (hex) of the arrays' bytes, in order, each as little-endian float64, C order."""
    h = hashlib.sha256()
    for a in weights:
        h.update(np.ascontiguousarray(a, dtype="<f8").tobytes())
    return h.hexdigest()
