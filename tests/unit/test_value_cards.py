"""Model cards say what the bytes of a call are: build_card fills the schemas, card_schemas reads them."""

from __future__ import annotations

from typing import Any

import pytest

from agora.value import models
from agora.value.models import ModelCard, build_card, card_schemas
from agora.workloads import RESULT_LAYOUT, build_digits_model, get_workload

HASH = "0x" + "11" * 32


def _fields(kind: str, **extra: Any) -> dict[str, Any]:
    return {"name": "m", "kind": kind, "weights_cid": "c", "weights_hash": HASH, "price": 1, **extra}


@pytest.fixture(scope="module")
def digits_model() -> bytes:
    return build_digits_model()


def test_card_schemas_is_public() -> None:
    assert "card_schemas" in models.__all__ and card_schemas.__doc__


def test_a_card_built_for_registration_says_what_its_bytes_are(digits_model: bytes) -> None:
    card = build_card(model_bytes=digits_model, **_fields("onnx-classify", max_items=16))
    assert card.input_schema["mediaType"] == "application/x-npy"
    assert card.input_schema["dtype"] == "float32"
    assert card.input_schema["shape"] == [None, 64]
    assert card.input_schema["maxItems"] == 16  # the card's limit, not the workload's
    assert card.output_schema["mediaType"] == "application/vnd.agora-result"
    assert card.output_schema["format"] == "agora-result/1"
    assert card.output_schema["layout"] == RESULT_LAYOUT
    assert card.output_schema["decode"] == "agora.workloads.decode_output"
    assert [(t["name"], t["shape"]) for t in card.output_schema["tensors"]] == [
        ("label", [None]),
        ("probabilities", [None, 10]),
    ]
    assert ModelCard.from_bytes(card.to_bytes()) == card
    assert len(card.to_bytes()) < models._MAX_CARD_BYTES


def test_without_the_model_the_card_gets_the_kinds_general_schemas() -> None:
    card = build_card(**_fields("onnx-classify"))
    assert card.input_schema["shape"] == [None, None]
    assert card.input_schema["maxItems"] == 64


def test_embed_card_caps_the_texts_at_its_max_items() -> None:
    card = build_card(**_fields("embed-minilm", max_items=100))
    assert card.input_schema["mediaType"] == "application/json"
    assert (card.input_schema["type"], card.input_schema["items"]["type"]) == ("array", "string")
    assert card.input_schema["maxItems"] == 100
    big = build_card(**_fields("embed-minilm", max_items=4096))
    assert big.input_schema["maxItems"] == 1024  # the workload's own limit is lower
    assert [t["name"] for t in card.output_schema["tensors"]] == ["embeddings"]


def test_schemas_the_caller_gives_are_kept() -> None:
    given_in, given_out = {"type": "array"}, {"labels": list(range(10))}
    card = build_card(**_fields("onnx-classify", input_schema=given_in, output_schema=given_out))
    assert (card.input_schema, card.output_schema) == (given_in, given_out)
    half = build_card(**_fields("onnx-classify", input_schema=given_in))
    assert half.input_schema == given_in
    assert half.output_schema == get_workload("onnx-classify").build_schemas()[1]


def test_a_kind_not_installed_leaves_the_schemas_empty() -> None:
    card = build_card(**_fields("k"))
    assert (card.input_schema, card.output_schema) == ({}, {})
    assert card_schemas(card) == ({}, {})


def test_card_schemas_of_a_card_registered_before_cards_carried_them(digits_model: bytes) -> None:
    old = ModelCard(**_fields("onnx-classify", max_items=8))  # as stored: empty schemas
    assert (old.input_schema, old.output_schema) == ({}, {})
    inputs, outputs = card_schemas(old)
    assert inputs["shape"] == [None, None] and inputs["maxItems"] == 8
    assert outputs["format"] == "agora-result/1"
    inputs, outputs = card_schemas(old, digits_model)
    assert inputs["shape"] == [None, 64]
    assert outputs["tensors"][1]["shape"] == [None, 10]


def test_card_schemas_prefers_the_cards_own_and_returns_copies(digits_model: bytes) -> None:
    card = build_card(model_bytes=digits_model, **_fields("onnx-classify"))
    inputs, outputs = card_schemas(card, b"ignored: the card already says")
    assert (inputs, outputs) == (card.input_schema, card.output_schema)
    inputs["shape"].append(1)
    outputs.clear()
    assert card.input_schema["shape"] == [None, 64] and card.output_schema
    assert get_workload("onnx-classify").input_schema["shape"] == [None, None]
