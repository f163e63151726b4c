"""Models on chain: the model card, revenue splits, the ``ModelRegistry`` client and a model's
lineage (its versions back to the root, its datasets with their owners, its compute jobs)."""

from __future__ import annotations

import copy
import json
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import httpx
from eth_utils import to_checksum_address
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from agora.chain import Contract, Signer, TxReceipt
from agora.errors import ConfigError, Reverted, StorageError
from agora.protocol import Deployment
from agora.storage import Storage, bytes32_to_cid, cid_digest, cid_for
from agora.value.receipts import Receipt as CallReceipt
from agora.value.receipts import ReceiptError, receipts_domain

if TYPE_CHECKING:
    from agora.value.channels import Channels
    from agora.workloads import Workload

__all__ = [
    "CARD_SCHEMA",
    "ERC721_OWNER_ABI",
    "OWNER",
    "PACKAGED_WEIGHTS_KINDS",
    "CheckedReceipt",
    "DatasetLink",
    "Lineage",
    "ModelCard",
    "ModelDetails",
    "ModelInfo",
    "Registration",
    "Share",
    "ModelRegistry",
    "build_card",
    "build_model_bytes",
    "validate_model_source",
    "card_schemas",
    "fetch_model_details",
    "fetch_weights",
    "parse_split",
    "validate_card",
    "validate_service_key",
    "validate_split",
    "validate_weights",
]

CARD_SCHEMA = "agora-model-card/1"
#: The split recipient that stands for "whoever owns the model's token".
OWNER = "0x0000000000000000000000000000000000000000"
_MAX_CARD_BYTES = 64 * 1024
#: Workload kinds whose weights come with their package: such a model is registered with no model bytes.
PACKAGED_WEIGHTS_KINDS = frozenset({"embed-minilm"})
#: All a lineage read asks of the dataset registry (an ERC-721: the data layer's ``DataRegistry``).
#: Read through the chain seam with this ABI: a layer never imports another layer.
ERC721_OWNER_ABI: list[dict[str, Any]] = [{
    "type": "function", "name": "ownerOf", "stateMutability": "view",
    "inputs": [{"name": "token_id", "type": "uint256"}], "outputs": [{"name": "", "type": "address"}],
}]


class ModelCard(BaseModel):
    """What a caller needs to know about a model; stored by content id, its digest on chain."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    schema_: str = Field(default=CARD_SCHEMA, alias="schema")
    name: str = Field(min_length=1, max_length=100)
    description: str = Field(default="", max_length=2000)
    kind: str = Field(min_length=1, description="the workload kind that runs it, e.g. onnx-classify")
    weights_cid: str = Field(description="CID of the model bytes the workload takes")
    weights_hash: str = Field(description="0x keccak256 of the weights (see Workload.weights_hash)")
    price: int = Field(ge=0, description="atomic token units per input item")
    max_items: int = Field(default=64, ge=1, le=4096, description="most input items per call")
    endpoint: str | None = Field(default=None, description="base URL of the paid API")
    input_schema: dict[str, Any] = Field(
        default_factory=dict, description="what a call's request body is (see Workload.input_schema)"
    )
    output_schema: dict[str, Any] = Field(
        default_factory=dict, description="what a call's answer is: agora-result/1 bytes (see Workload.output_schema)"
    )

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


def build_card(*, model_bytes: bytes | None = None, **fields: Any) -> ModelCard:
    """A :class:`ModelCard` from its fields; ConfigError naming the first bad field.

    A schema the fields leave out (or empty) is filled from the card's workload (see
    :func:`card_schemas`; ``model_bytes``, the model it runs, makes them specific, e.g. the
    feature count of an ``onnx-classify`` model). A kind not installed here leaves it empty.
    """
    try:
        card = ModelCard(**fields)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(map(str, first["loc"])) or "card"
        raise ConfigError(f"bad model card: {where}: {first['msg']}") from None
    if card.input_schema and card.output_schema:
        return card
    inputs, outputs = card_schemas(card, model_bytes)
    return card.model_copy(update={"input_schema": inputs, "output_schema": outputs})


def card_schemas(card: ModelCard, model_bytes: bytes | None = None) -> tuple[dict[str, Any], dict[str, Any]]:
    """``(input_schema, output_schema)``: what a call's request body and answer bytes are.

    The card's own, or for a schema it lacks (a card registered before cards carried them)
    its workload's, made specific to ``model_bytes`` when given and with ``maxItems`` capped
    at the card's ``max_items``; ``{}`` if the kind is not installed here. Never raises.
    """
    inputs, outputs = copy.deepcopy(card.input_schema), copy.deepcopy(card.output_schema)
    if inputs and outputs:
        return inputs, outputs
    from agora.workloads import WorkloadError, get_workload

    try:
        workload_inputs, workload_outputs = get_workload(card.kind).build_schemas(model_bytes)
    except WorkloadError:
        return inputs, outputs  # a kind this process does not know: nothing to say
    if isinstance(workload_inputs.get("maxItems"), int):
        workload_inputs["maxItems"] = min(workload_inputs["maxItems"], card.max_items)
    return inputs or workload_inputs, outputs or workload_outputs


def validate_model_source(kind: str, has_weights: bool, *, digits_demo: bool = False) -> None:
    """ConfigError unless a ``kind`` model can be built from what is given (weights, the digits
    demo model, or neither for a kind whose weights come with its package): the checks of
    :func:`build_model_bytes`, done at once and before any work."""
    from agora.workloads import get_workload

    get_workload(kind)  # an unknown kind says so here
    if digits_demo:
        if has_weights:
            raise ConfigError("give the weights or the digits demo model, not both")
        if kind != "onnx-classify":
            raise ConfigError(f"the digits demo model is an onnx-classify model, not {kind}")
    elif not has_weights and kind not in PACKAGED_WEIGHTS_KINDS:
        raise ConfigError(f"an {kind} model needs its weights", hint="pass --weights FILE|CID")


def build_model_bytes(kind: str, weights: bytes | None = None, *, digits_demo: bool = False) -> bytes:
    """The bytes a ``kind`` workload takes as the model: ``weights``, the built-in digits demo
    classifier (``digits_demo``), or none for a kind whose weights come with its package."""
    validate_model_source(kind, weights is not None, digits_demo=digits_demo)
    if digits_demo:
        from agora.workloads import build_digits_model

        return build_digits_model()
    return b"" if weights is None else weights  # none: the weights come with the workload's package


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


def validate_weights(model_id: int, workload: Workload, model_bytes: bytes, weights_hash: bytes) -> None:
    """ConfigError unless ``model_bytes`` are the weights registered for the model (by hash)."""
    if workload.weights_hash(model_bytes) != weights_hash:
        raise ConfigError(f"the weights at hand do not hash to model {model_id}'s registered weights hash "
                          f"0x{weights_hash.hex()}")


def validate_service_key(model_id: int, service: str, address: str) -> None:
    """ConfigError unless ``address`` is the model's service key ``service`` (the key that serves
    it, signs its receipts and claims its cheques)."""
    if service.lower() != address.lower():
        raise ConfigError(
            f"{address} is not model {model_id}'s service key ({service})",
            hint=f"its owner can name this account with `agora model set-service {model_id} {address}`",
        )


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


def validate_card(card: ModelCard, info: ModelInfo) -> None:
    """ConfigError unless the card names the weights the model was registered with."""
    if card.weights_hash != "0x" + info.weights_hash.hex():
        raise ConfigError(f"model {info.id}'s card names other weights than its registration")


def fetch_weights(storage: Storage, model_id: int, card: ModelCard) -> bytes:
    """The model bytes the card names, from storage (local, then peers); none for a model whose
    weights come with its workload's package."""
    if card.weights_cid == cid_for(b""):
        return b""
    try:
        return storage.get(card.weights_cid)
    except StorageError:
        raise ConfigError(
            f"model {model_id}'s weights {card.weights_cid} are neither in local storage nor at any peer",
            hint="store the model file here with `agora storage put FILE` (or add a peer that has it)",
        ) from None


@dataclass(frozen=True)
class Registration:
    """A model just registered: its id, its card, its record on chain and the transaction."""

    model_id: int
    card: ModelCard
    info: ModelInfo
    tx: TxReceipt


@dataclass(frozen=True)
class DatasetLink:
    """A dataset a model was trained on: its id in the dataset registry and its current owner
    (None when nobody can say: the registry is not set, or it does not know the id)."""

    id: int
    owner: str | None


@dataclass(frozen=True)
class Lineage:
    """Where a model came from: its versions back to the first (``versions[0]`` is the model,
    ``versions[-1]`` its root), the datasets it was trained on with their current owners, and the
    compute jobs that produced it. ``dataset_registry`` is the ERC-721 the dataset ids belong to
    (None: the registry was deployed without one, and the ids are unchecked)."""

    model_id: int
    versions: list[ModelInfo]
    datasets: list[DatasetLink]
    jobs: list[int]
    dataset_registry: str | None

    @property
    def root(self) -> int:
        """The first version's id."""
        return self.versions[-1].id


@dataclass(frozen=True)
class ModelDetails:
    """Everything known about a model: its record, service key, split (the owner's share named by
    address), provenance (``dataset_links``: the datasets with their current owners), undistributed
    revenue, and its card (None, with the reason, when the card cannot be fetched)."""

    info: ModelInfo
    service: str
    split: list[Share]
    datasets: list[int]
    jobs: list[int]
    parent: int
    pot: int
    card: ModelCard | None
    card_error: str | None = None
    dataset_links: list[DatasetLink] = field(default_factory=list)
    dataset_registry: str | None = None


@dataclass(frozen=True)
class CheckedReceipt:
    """A receipt that checked out, and the service key that signed it."""

    receipt: CallReceipt
    service: str


class ModelRegistry:
    """Client of the ``ModelRegistry`` contract of one deployment."""

    def __init__(self, dep: Deployment, storage: Storage | None = None) -> None:
        self.dep = dep
        self.chain = dep.chain
        self.contract: Contract = dep.contract("models")
        self.storage = storage
        self._datasets: Contract | None = None  # the dataset registry, read once (immutable on chain)
        self._datasets_read = False

    def register(
        self, card: ModelCard, sender: Signer, *, split: list[Share], datasets: Sequence[int] = (),
        jobs: Sequence[int] = (), parent: int = 0, uri: str | None = None,
    ) -> tuple[int, TxReceipt]:
        """Store the card, register the model (or a new version of ``parent``); return its id.
        ConfigError, before any transaction, for a bad split or a dataset id the dataset registry
        does not know (the contract refuses both)."""
        validate_split(split)
        self.validate_datasets(datasets)
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

    def publish(
        self, sender: Signer, *, kind: str, name: str, price: int, weights: bytes | None = None,
        digits_demo: bool = False, description: str = "", max_items: int = 64, endpoint: str | None = None,
        split: list[Share], datasets: Sequence[int] = (), jobs: Sequence[int] = (), parent: int = 0,
    ) -> Registration:
        """Store the weights and the card, and register the model (see :func:`build_model_bytes`
        for ``weights`` and ``digits_demo``); needs storage."""
        from agora.workloads import get_workload

        if self.storage is None:
            raise ConfigError("publishing a model needs storage for its weights and card")
        workload = get_workload(kind)
        model_bytes = build_model_bytes(workload.kind, weights, digits_demo=digits_demo)
        card = build_card(
            name=name, description=description, kind=workload.kind, weights_cid=self.storage.put(model_bytes),
            weights_hash="0x" + workload.weights_hash(model_bytes).hex(), price=price, max_items=max_items,
            endpoint=endpoint.rstrip("/") if endpoint else None, model_bytes=model_bytes,
        )
        model_id, receipt = self.register(card, sender, split=split, datasets=datasets, jobs=jobs, parent=parent)
        return Registration(model_id, card, self.fetch(model_id), receipt)

    def fetch(self, model_id: int) -> ModelInfo:
        """The model's record; ConfigError if there is none."""
        try:
            card, weights, parent, root, version, at, active = self.contract.model(model_id)
        except Reverted:  # "unknown model"; an unreachable node raises its own error
            raise self._unknown(model_id) from None
        return ModelInfo(
            id=model_id, owner=self.contract.ownerOf(model_id), card_cid=bytes32_to_cid(bytes(card)),
            weights_hash=bytes(weights), parent=parent, root=root, version=version, registered_at=at,
            active=bool(active), uri=self.contract.tokenURI(model_id),
        )

    def get(self, model_id: int) -> ModelInfo:
        """Deprecated name of :meth:`fetch` (it reads the chain, so it is a ``fetch``); warns."""
        warnings.warn("ModelRegistry.get is deprecated; use ModelRegistry.fetch", DeprecationWarning, stacklevel=2)
        return self.fetch(model_id)

    def validate_exists(self, model_id: int) -> None:
        """ConfigError unless the model is registered (one ``eth_call``)."""
        try:
            self.contract.model(model_id)
        except Reverted:
            raise self._unknown(model_id) from None

    def _unknown(self, model_id: int) -> ConfigError:
        return ConfigError(f"there is no model {model_id} on chain {self.chain.chain_id}")

    def fetch_ids(self) -> list[int]:
        """Every registered model's id, in the registry's (minting) order."""
        return [int(self.contract.tokenByIndex(i)) for i in range(int(self.contract.totalSupply()))]

    def iter_models(self) -> Iterator[ModelInfo]:
        """Every registered model's record, in the registry's order (read one by one)."""
        for model_id in self.fetch_ids():
            yield self.fetch(model_id)

    def split(self, model_id: int, *, resolved: bool = False) -> list[Share]:
        """The revenue split (``resolved``: the owner's share named by address)."""
        raw = self.contract.payees(model_id) if resolved else self.contract.split_of(model_id)
        return [Share(to_checksum_address(r), int(b)) for r, b in raw]

    def provenance(self, model_id: int) -> tuple[list[int], list[int], int]:
        """(dataset ids, compute job ids, parent model id)."""
        datasets, jobs, parent = self.contract.provenance(model_id)
        return list(datasets), list(jobs), int(parent)

    def fetch_dataset_registry(self) -> str | None:
        """The ERC-721 whose tokens the models' dataset ids are (the data layer's registry), fixed
        when this registry was deployed; None if it has none (dataset ids are then unchecked)."""
        if not self._datasets_read:
            try:
                address = str(self.contract.dataset_registry())
            except Reverted:  # a registry deployed before models were linked to datasets
                address = OWNER
            if int(address, 16) != 0:
                self._datasets = Contract(self.chain, "DatasetRegistry", address, ERC721_OWNER_ABI)
            self._datasets_read = True
        return self._datasets.address if self._datasets is not None else None

    def fetch_dataset_owners(self, datasets: Sequence[int]) -> list[DatasetLink]:
        """Each dataset with its current owner from the dataset registry's ``ownerOf`` (None
        where there is no registry or it does not know the id)."""
        self.fetch_dataset_registry()
        links: list[DatasetLink] = []
        for dataset in datasets:
            owner: str | None = None
            if self._datasets is not None:
                try:
                    owner = to_checksum_address(self._datasets.ownerOf(dataset))
                except Reverted:  # "unknown dataset": checked at registration, so gone since
                    owner = None
            links.append(DatasetLink(int(dataset), owner))
        return links

    def validate_datasets(self, datasets: Sequence[int]) -> None:
        """ConfigError unless every id is a dataset of the dataset registry (what ``register``
        checks on chain; nothing to check when the registry has none)."""
        if self.fetch_dataset_registry() is None:
            return
        unknown = [link.id for link in self.fetch_dataset_owners(datasets) if link.owner is None]
        if unknown:
            raise ConfigError(
                f"dataset {', '.join(map(str, unknown))} {'is' if len(unknown) == 1 else 'are'} not in the dataset "
                f"registry {self.fetch_dataset_registry()} on chain {self.chain.chain_id}",
                hint="publish the dataset first (`agora data publish`), or check the id",
            )

    def fetch_lineage(self, model_id: int) -> Lineage:
        """The model's :class:`Lineage`: its versions back to the root, its datasets with their
        current owners, its compute jobs; ConfigError for an unknown model."""
        versions = [self.fetch(model_id)]
        while versions[-1].parent != 0:
            parent = versions[-1].parent
            if parent >= versions[-1].id:  # ids grow with every registration: a parent is older
                raise ConfigError(f"model {versions[-1].id}'s parent {parent} is not an older model")
            versions.append(self.fetch(parent))
        datasets, jobs, _ = self.provenance(model_id)
        return Lineage(
            model_id=model_id, versions=versions, datasets=self.fetch_dataset_owners(datasets), jobs=jobs,
            dataset_registry=self.fetch_dataset_registry(),
        )

    def service_of(self, model_id: int) -> str:
        """The key that serves the model and signs its receipts."""
        return to_checksum_address(self.contract.service_of(model_id))

    def set_service(self, model_id: int, service: str, sender: Signer) -> TxReceipt:
        """Name the serving key (the owner's key can then stay offline); ConfigError for an
        unknown model."""
        self.validate_exists(model_id)
        return self.contract.set_service(model_id, to_checksum_address(service), sender=sender)

    def verify_receipt(
        self, doc: dict[str, Any], *, inputs: Any = None, output: Any = None,
    ) -> CheckedReceipt:
        """Check a receipt in its JSON form (:meth:`agora.value.Receipt.to_json`): for this registry (if it
        names its domain), signed by the key that was the model's service key from the receipt's
        time until now (its anchor is not checked here: ``agora.verification.verify_bundle`` does
        both), for its registered weights, and for ``inputs`` and ``output`` when given.
        :class:`ReceiptError` if it does not check out."""
        receipt = CallReceipt.from_json(doc)
        domain = receipts_domain(self.chain.chain_id, self.contract.address)
        named = doc.get("domain")
        if isinstance(named, dict) and (
            str(named.get("chainId")) != str(domain.chain_id)
            or str(named.get("verifyingContract", "")).lower() != domain.contract.lower()
        ):
            raise ReceiptError(
                f"the receipt is for chain {named.get('chainId')}'s model registry {named.get('verifyingContract')}, "
                f"not this one (chain {domain.chain_id}, {domain.contract})"
            )
        from agora.value.evidence import entitled

        info = self.fetch(receipt.model_id)
        receipt.verify(domain, receipt.runner, weights_hash=info.weights_hash, inputs=inputs, output=output)
        entitled(self.dep, receipt, domain, max(self.chain.timestamp(), receipt.time))
        return CheckedReceipt(receipt, receipt.runner)

    def fetch_card(self, model_id: int, info: ModelInfo | None = None) -> ModelCard:
        """The model's card, checked against the digest on chain: from storage (local, then
        peers), else from the token URI if it is an http(s) URL."""
        info = info or self.fetch(model_id)
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


def fetch_model_details(registry: ModelRegistry, channels: Channels, model_id: int) -> ModelDetails:
    """A model's record, service key, resolved split, provenance (its datasets with their current
    owners), pot and card (a card that cannot be fetched is reported in ``card_error``, not raised)."""
    info = registry.fetch(model_id)
    card: ModelCard | None = None
    card_error: str | None = None
    try:
        card = registry.fetch_card(model_id, info)
    except ConfigError as exc:
        card_error = str(exc)
    datasets, jobs, parent = registry.provenance(model_id)
    return ModelDetails(
        info=info, service=registry.service_of(model_id), split=registry.split(model_id, resolved=True),
        datasets=datasets, jobs=jobs, parent=parent, pot=channels.pot(model_id), card=card, card_error=card_error,
        dataset_links=registry.fetch_dataset_owners(datasets), dataset_registry=registry.fetch_dataset_registry(),
    )
