"""The dataset card: what a buyer reads about a dataset before paying for it.

A card is stored by content (its CID; the chain holds the CID's 32-byte digest as the dataset's
``card``) and names the dataset's content hash (:func:`agora.data.files.content_hash`: the Merkle
root over the files' 1 MiB chunks, the same 32 bytes the chain holds as ``content_hash``), so a
card, the chain and the bytes an access node serves are checked against each other. Its bytes are
canonical JSON (sorted keys, compact): the same card always has the same CID.
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from agora.errors import ConfigError

__all__ = ["DATASET_CARD_SCHEMA", "MAX_CARD_BYTES", "DatasetCard", "build_dataset_card"]

DATASET_CARD_SCHEMA = "agora-dataset-card/1"
#: The largest card stored or read (a card describes; samples and files live elsewhere).
MAX_CARD_BYTES = 64 * 1024


class DatasetCard(BaseModel):
    """What a buyer needs to know about a dataset; stored by CID, its digest on chain."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    schema_: str = Field(default=DATASET_CARD_SCHEMA, alias="schema")
    name: str = Field(min_length=1, max_length=100)
    description: str = Field(default="", max_length=2000)
    license: str = Field(default="", max_length=200, description="an SPDX id or a URL")
    size: int = Field(ge=0, description="the content's size in bytes")
    content_hash: str = Field(description="0x Merkle root over the content's 1 MiB chunks (as on chain)")
    data_schema: dict[str, Any] = Field(default_factory=dict, description="what the content holds (free form)")
    sample_cid: str | None = Field(default=None, description="CID of a free sample of the content")

    @field_validator("content_hash")
    @classmethod
    def _hex32(cls, v: str) -> str:
        try:
            raw = bytes.fromhex(v[2:] if v.startswith("0x") else v)
        except ValueError:
            raise ValueError("content_hash must be 32 bytes of hex") from None
        if len(raw) != 32:
            raise ValueError("content_hash must be 32 bytes of hex")
        return "0x" + raw.hex()

    @property
    def content_hash_bytes(self) -> bytes:
        """The content hash as the chain holds it (32 bytes)."""
        return bytes.fromhex(self.content_hash[2:])

    def to_bytes(self) -> bytes:
        """The canonical bytes stored (sorted keys, compact): their CID is the card's id."""
        return json.dumps(self.model_dump(by_alias=True), sort_keys=True, separators=(",", ":")).encode()

    def to_json(self) -> dict[str, Any]:
        """The card as JSON (its stored field names)."""
        return self.model_dump(by_alias=True)

    @classmethod
    def from_bytes(cls, data: bytes) -> DatasetCard:
        """Parse a stored card; ConfigError if it is not one."""
        if len(data) > MAX_CARD_BYTES:
            raise ConfigError(
                f"not a dataset card: {len(data)} bytes is above the {MAX_CARD_BYTES} bytes a card may have")
        try:
            return cls.model_validate_json(data)
        except ValidationError as exc:
            raise ConfigError(f"not a dataset card: {_first_error(exc)}") from None


def _first_error(exc: ValidationError) -> str:
    first = exc.errors()[0]
    where = ".".join(map(str, first["loc"])) or "card"
    return f"{where}: {first['msg']}"


def build_dataset_card(**fields: Any) -> DatasetCard:
    """A :class:`DatasetCard` from its fields (``schema=`` is the content's schema, stored as
    ``data_schema``); ConfigError naming the first bad field."""
    if "schema" in fields:
        fields["data_schema"] = fields.pop("schema") or {}
    try:
        card = DatasetCard(**fields)
    except ValidationError as exc:
        raise ConfigError(f"bad dataset card: {_first_error(exc)}") from None
    if len(card.to_bytes()) > MAX_CARD_BYTES:
        raise ConfigError(f"bad dataset card: it is above the {MAX_CARD_BYTES} bytes a card may have")
    return card
