"""Models on chain: the model card, revenue splits, and the ``ModelRegistry`` client."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import httpx
from eth_utils import to_checksum_address
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from agora.chain import Contract, Receipt, Signer
from agora.errors import ConfigError, Reverted, StorageError
from agora.protocol import Deployment
from agora.storage import Storage, bytes32_to_cid, cid_digest, cid_for

__all__ = [
    "CARD_SCHEMA",
    "OWNER",
    "ModelCard",
    "ModelInfo",
    "Share",
    "ModelRegistry",
    "parse_split",
]

CARD_SCHEMA = "agora-model-card/1"
#: The split recipient that stands for "whoever owns the model's token".
OWNER = "0x0000000000000000000000000000000000000000"
_MAX_CARD_BYTES = 64 * 1024


class ModelCard(BaseModel):
    """What a caller needs to know about a model; stored by content id, its digest on chain."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    schema_: str = Field(CARD_SCHEMA, alias="schema")
    name: str = Field(min_length=1, max_length=100)
    description: str = Field("", max_length=2000)
    kind: str = Field(min_length=1, description="the workload kind that runs it, e.g. onnx-classify")
    weights_cid: str = Field(description="CID of the model bytes the workload takes")
    weights_hash: str = Field(description="0x keccak256 of the weights (see Workload.weights_hash)")
    price: int = Field(ge=0, description="atomic token units per input item")
    max_items: int = Field(64, ge=1, le=4096, description="most input items per call")
    endpoint: str | None = Field(None, description="base URL of the paid API")
    input_schema: dict[str, Any] = Field(default_factory=dict)
    output_schema: dict[str, Any] = Field(default_factory=dict)

    @field_validator("weights_hash")
    @classmethod
    def _hex32(cls, v: str) -> str:
        raw = bytes.fromhex(v[2:] if v.startswith("0x") else v)
        if len(raw) != 32:
            raise ValueError("weights_hash must be 32 bytes of hex")
        return "0x" + raw.hex()

    def to_bytes(self) -> bytes:
        """The canonical bytes stored (sorted keys, compact): their CID is the card's id."""
        return json.dumps(self.model_dump(by_alias=True), sort_keys=True, separators=(",", ":")).encode()

    @classmethod
    def from_bytes(cls, data: bytes) -> ModelCard:
        """Parse a stored card; ConfigError if it is not one."""
        try:
            return cls.model_validate_json(data)
        except ValidationError as exc:
            first = exc.errors()[0]
            raise ConfigError(f"not a model card: {'.'.join(map(str, first['loc']))}: {first['msg']}") from None


@dataclass(frozen=True)
class Share:
    """One recipient of a model's revenue; :data:`OWNER` means the token's current owner."""

    recipient: str
    bps: int

    def to_chain(self) -> tuple[str, int]:
        """The ``(address, bps)`` tuple the contract takes."""
        return (to_checksum_address(self.recipient), self.bps)


def parse_split(text: str, owner_alias: str = "owner") -> list[Share]:
    """Parse ``"owner:7000,0xabc…:2000,0xdef…:1000"`` into shares (must sum to 10,000 bps)."""
    shares: list[Share] = []
    for part in filter(None, (p.strip() for p in text.split(","))):
        who, sep, bps = part.rpartition(":")
        if not sep:
            raise ConfigError(f"split entry {part!r} must be ADDRESS:BPS (or owner:BPS)")
        try:
            n = int(bps)
        except ValueError:
            raise ConfigError(f"split entry {part!r}: {bps!r} is not a whole number of basis points") from None
        if who == owner_alias:
            who = OWNER
        try:
            who = to_checksum_address(who)
        except ValueError:
            raise ConfigError(f"split entry {part!r}: {who!r} is not an address") from None
        shares.append(Share(who, n))
    validate_split(shares)
    return shares


def validate_split(shares: list[Share]) -> None:
    """ConfigError unless the shares are what the contract accepts."""
    if not 1 <= len(shares) <= 8:
        raise ConfigError(f"a split has 1 to 8 shares, got {len(shares)}")
    if any(s.bps <= 0 for s in shares):
        raise ConfigError("every share must be at least 1 basis point")
    if len({s.recipient.lower() for s in shares}) != len(shares):
        raise ConfigError("a recipient appears twice in the split")
    total = sum(s.bps for s in shares)
    if total != 10_000:
        raise ConfigError(f"the shares sum to {total} basis points, not 10000")


@dataclass(frozen=True)
class ModelInfo:
    """A model's on-chain record."""

    id: int
    owner: str
    card_cid: str
    weights_hash: bytes
    parent: int
    root: int
    version: int
    registered_at: int
    active: bool
    uri: str


class ModelRegistry:
    """Client of the ``ModelRegistry`` contract of one deployment."""

    def __init__(self, dep: Deployment, storage: Storage | None = None) -> None:
        self.dep = dep
        self.chain = dep.chain
        self.contract: Contract = dep.contract("models")
        self.storage = storage

    def register(
        self, card: ModelCard, sender: Signer, *, split: list[Share], datasets: list[int] = (),  # type: ignore[assignment]
        jobs: list[int] = (), parent: int = 0, uri: str | None = None,  # type: ignore[assignment]
    ) -> tuple[int, Receipt]:
        """Store the card, register the model (or a new version of ``parent``); return its id."""
        validate_split(split)
        data = card.to_bytes()
        cid = self.storage.put(data) if self.storage is not None else cid_for(data)
        if uri is None:
            uri = f"{card.endpoint.rstrip('/')}/card" if card.endpoint else f"ipfs://{cid}"
        receipt = self.contract.register(
            cid_digest(cid), bytes.fromhex(card.weights_hash[2:]), uri, list(datasets), list(jobs),
            [s.to_chain() for s in split], parent, sender=sender,
        )
        (event,) = self.contract.events_in(receipt, "ModelRegistered")
        return int(event.args["model_id"]), receipt

    def get(self, model_id: int) -> ModelInfo:
        """The model's record; ConfigError if there is none."""
        try:
            card, weights, parent, root, version, at, active = self.contract.model(model_id)
        except Reverted:  # "unknown model"; an unreachable node raises its own error
            raise ConfigError(f"there is no model {model_id} on chain {self.chain.chain_id}") from None
        return ModelInfo(
            id=model_id, owner=self.contract.ownerOf(model_id), card_cid=bytes32_to_cid(bytes(card)),
            weights_hash=bytes(weights), parent=parent, root=root, version=version, registered_at=at,
            active=bool(active), uri=self.contract.tokenURI(model_id),
        )

    def split(self, model_id: int, *, resolved: bool = False) -> list[Share]:
        """The revenue split (``resolved``: the owner's share named by address)."""
        raw = self.contract.payees(model_id) if resolved else self.contract.split_of(model_id)
        return [Share(to_checksum_address(r), int(b)) for r, b in raw]

    def provenance(self, model_id: int) -> tuple[list[int], list[int], int]:
        """(dataset ids, compute job ids, parent model id)."""
        datasets, jobs, parent = self.contract.provenance(model_id)
        return list(datasets), list(jobs), int(parent)

    def service_of(self, model_id: int) -> str:
        """The key that serves the model and signs its receipts."""
        return to_checksum_address(self.contract.service_of(model_id))

    def set_service(self, model_id: int, service: str, sender: Signer) -> Receipt:
        """Name the serving key (the owner's key can then stay offline)."""
        return self.contract.set_service(model_id, to_checksum_address(service), sender=sender)

    def fetch_card(self, model_id: int, info: ModelInfo | None = None) -> ModelCard:
        """The model's card, checked against the digest on chain: from storage (local, then
        peers), else from the token URI if it is an http(s) URL."""
        info = info or self.get(model_id)
        data: bytes | None = None
        if self.storage is not None:
            try:
                data = self.storage.get(info.card_cid)
            except StorageError:
                data = None
        if data is None and info.uri.startswith(("http://", "https://")):
            try:
                resp = httpx.get(info.uri, timeout=10, trust_env=False)
            except httpx.HTTPError as exc:
                raise ConfigError(f"cannot fetch model {model_id}'s card from {info.uri}: {exc}") from None
            if resp.status_code != 200 or len(resp.content) > _MAX_CARD_BYTES:
                raise ConfigError(f"cannot fetch model {model_id}'s card from {info.uri}: HTTP {resp.status_code}")
            if cid_for(resp.content) != info.card_cid:
                raise ConfigError(f"the card served at {info.uri} does not match model {model_id}'s card on chain")
            data = resp.content
        if data is None:
            raise ConfigError(
                f"model {model_id}'s card {info.card_cid} is not in local storage or at its URI {info.uri!r}",
                hint="add a storage peer that has it (AGORA_STORAGE_PEERS)",
            )
        return ModelCard.from_bytes(data)
