"""``agora samples DIR``: the sample files the README's tour uses, written deterministically.

The model is the built-in digits classifier (the bytes ``agora model register --digits-demo-model``
registers); the inputs are real held-out digits from scikit-learn's data set, drawn with fixed
seeds, so every run writes the same bytes and the tour's CIDs never change.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from agora.cli.options import JsonOpt
from agora.cli.output import emit_json, out
from agora.errors import ConfigError

__all__ = ["SAMPLE_ALGORITHM", "SAMPLE_TEXTS", "app", "samples"]

#: Commands of ``agora`` itself (mounted without a group name).
app = typer.Typer()

#: The texts of ``texts.json`` (an ``embed-minilm`` input).
SAMPLE_TEXTS = ("a provider sells compute", "a model is paid per call", "the chain settles and rewards")

#: ``count.py``: a compute-to-data algorithm (it runs in the sandbox next to a dataset and returns
#: only how many items a JSON list holds).
SAMPLE_ALGORITHM = b'''"""Counts the items of a JSON list: a compute-to-data algorithm (agora data compute submit).

It reads the dataset at $AGORA_DATA (read-only) and writes only its result to /scratch/out.
"""
import json
import os

items = json.load(open(os.environ["AGORA_DATA"]))
with open(os.path.join(os.environ["AGORA_OUT"], "result.json"), "w") as out:
    json.dump({"count": len(items)}, out)
'''

_BATCH = 8  # digits in batch.npy
_BATCH_SEED = 1
_DIGIT_SEED = 2


def _build_samples() -> list[tuple[str, bytes, str, dict[str, Any]]]:
    """(file name, bytes, what it is, extra JSON fields) of every sample file."""
    from agora.workloads import build_digits_model, digits_samples, encode_digits_input

    batch, batch_labels = digits_samples(_BATCH, seed=_BATCH_SEED)
    digit, digit_labels = digits_samples(1, seed=_DIGIT_SEED)
    labels = [int(x) for x in batch_labels]
    return [
        ("digits.onnx", build_digits_model(), "the digits classifier (ONNX; as --digits-demo-model)", {}),
        ("batch.npy", encode_digits_input(batch), f"{_BATCH} digits, float32 (8, 64), for onnx-classify",
         {"labels": labels}),
        ("digit.npy", encode_digits_input(digit), "one digit, float32 (1, 64), for onnx-classify",
         {"labels": [int(digit_labels[0])]}),
        ("texts.json", json.dumps(list(SAMPLE_TEXTS)).encode(), f"{len(SAMPLE_TEXTS)} texts for embed-minilm", {}),
        ("count.py", SAMPLE_ALGORITHM, "a compute-to-data algorithm: counts a JSON list's items", {}),
        *_tournament_samples(),
    ]


_ROUND_ROWS = 2_000  # rows of the tournament samples (as the demo's round)


def _tournament_samples() -> list[tuple[str, bytes, str, dict[str, Any]]]:
    """A tournament round's targets and two models' predictions (the demo's seeded generator)."""
    from agora.value.demo_tournament import build_story_data
    from agora.value.tournaments import encode_vector

    targets, (good, noise, *_) = build_story_data(rows=_ROUND_ROWS)
    rows = f"{_ROUND_ROWS} rows"
    return [
        ("targets.npy", encode_vector(targets), f"a tournament round's targets, {rows}", {}),
        ("good.npy", encode_vector(good), f"a model's predictions with signal, {rows}", {}),
        ("noise.npy", encode_vector(noise), f"a model's predictions without signal, {rows}", {}),
    ]


@app.command("samples")
def samples(
    directory: Annotated[Path, typer.Argument(help="Folder to write them to (created if missing).")] = Path("."),
    force: Annotated[bool, typer.Option("--force", help="Overwrite files that differ.")] = False,
    json_: JsonOpt = False,
) -> None:
    """Write the tour's sample files: digits.onnx, batch.npy, digit.npy, texts.json, count.py, targets.npy,
    good.npy, noise.npy (the same bytes always)."""
    from agora.storage import cid_for

    files = _build_samples()
    clashes = [directory / name for name, data, _, _ in files
               if (directory / name).exists() and (directory / name).read_bytes() != data]
    if clashes and not force:
        raise ConfigError(f"{clashes[0]} exists with other contents", hint="pass --force to overwrite it")
    try:
        directory.mkdir(parents=True, exist_ok=True)
        for name, data, _, _ in files:
            (directory / name).write_bytes(data)
    except OSError as exc:
        raise ConfigError(f"cannot write the samples to {directory}: {exc.strerror}") from None
    rows = [{"path": str(directory / name), "bytes": len(data), "cid": cid_for(data), "what": what, **extra}
            for name, data, what, extra in files]
    if json_:
        emit_json(rows)
        return
    for r in rows:
        labels = f" (labels {' '.join(map(str, r['labels']))})" if "labels" in r else ""
        out.print(f"wrote {r['path']}: {r['bytes']} bytes, {r['what']}{labels}")
