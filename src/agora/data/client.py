"""``Client.data``: datasets as paid goods, from the buyer's and the seller's side.

    >>> pub = client.data.publish("corpus.jsonl", name="corpus", license="CC-BY-4.0", price=10**18)
    >>> order_id = client.data.order(pub.dataset_id, node_url="http://127.0.0.1:8500")
    >>> client.data.download(pub.dataset_id, order_id, "corpus.jsonl", node_url="http://127.0.0.1:8500")

Publishing stores the dataset card (:mod:`agora.data.cards`) by CID, computes the content hash
(:func:`agora.data.files.content_hash`) and publishes both in one transaction; with ``node_home=``
it also hands the file to a local access node's home (encrypted there; the location never leaves
it). Ordering asks the access node for a signed fee quote (``POST /quotes``), checks that the
quote is signed by its provider for this registry, dataset and consumer, and orders with a
datatoken the caller holds — or, holding none, buys one and orders in one transaction (an
EIP-2612 permit, no approval), or takes one from the dataset's dispenser. Downloading checks every
chunk against the content hash read from the chain, never against what the node says.
"""

from __future__ import annotations

import builtins
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
from eth_utils.address import to_checksum_address

from agora.chain import Signer
from agora.data.cards import DatasetCard, build_dataset_card
from agora.data.files import content_hash
from agora.data.registry import (
    MAX_SOURCES,
    ONE,
    OWNER,
    DataRegistry,
    DatasetInfo,
    Quote,
    Share,
    Source,
    order_id_hex,
    parse_order_id,
    validate_split,
)
from agora.errors import AgoraError, ConfigError, Reverted, StorageError
from agora.storage import Storage, bytes32_to_cid, cid_to_bytes32

if TYPE_CHECKING:
    from agora.data.access import AccessNode
    from agora.data.compute_client import ComputeToDataClient
    from agora.data.download import DownloadResult
    from agora.data.services import DataServices

__all__ = [
    "MAX_LISTED",
    "DatasetEarnings",
    "DatasetPrice",
    "DatasetView",
    "DatasetsClient",
    "Earnings",
    "OrderResult",
    "Publication",
    "parse_split",
    "quote_from_json",
]

#: The most datasets :meth:`DatasetsClient.list` and the earnings' scan read.
MAX_LISTED = 1_000
_BPS = 10_000
_MASK96 = 2**96 - 1


@dataclass(frozen=True)
class Publication:
    """A published dataset: its id, card (and the card's CID), content hash and datatoken."""

    dataset_id: int
    card: DatasetCard
    card_cid: str
    content_hash: bytes
    datatoken: str
    tx: str
    node_home: Path | None = None


@dataclass(frozen=True)
class DatasetView:
    """A dataset's record, revenue split and card (None, with why, if it cannot be read)."""

    info: DatasetInfo
    card_cid: str
    split: list[Share]
    card: DatasetCard | None
    card_error: str | None = None
    sources: list[tuple[str, Source]] = field(default_factory=list)  # (kind, source)
    compute: dict[str, Any] = field(default_factory=dict)   # compute-to-data: node, budget, policy

    def to_json(self) -> dict[str, Any]:
        """The view as JSON (wei amounts as integers, hashes as 0x-hex)."""
        i = self.info
        return {
            "id": i.id, "owner": i.owner, "card_cid": self.card_cid, "content_hash": "0x" + i.content_hash.hex(),
            "datatoken": i.datatoken, "timeout_s": i.timeout, "for_sale": i.payment_token != OWNER,
            "payment_token": i.payment_token, "price_wei": i.price, "dispenser_cap_wei": i.dispenser_cap,
            "market": i.market, "market_fee_wei": i.market_fee,
            "split": [{"recipient": "owner" if s.recipient == OWNER else s.recipient, "bps": s.bps}
                      for s in self.split],
            "card": self.card.to_json() if self.card is not None else None,
            "sources": [{"kind": kind, **src.to_json()} for kind, src in self.sources],
            "compute": self.compute,
        }


@dataclass(frozen=True)
class DatasetPrice:
    """What buying ``amount`` datatoken units and one order of a dataset cost, in its payment token."""

    dataset_id: int
    for_sale: bool
    payment_token: str
    price: int  # per whole datatoken (10**18 units)
    amount: int
    cost: int  # of ``amount`` units at ``price``, rounded up as the contract does
    protocol_fee_bps: int
    protocol_fee: int  # per order
    market_fee: int  # per order
    order_cost: int  # buy one datatoken and order with it (price + fees, before a provider fee)
    dispenser_cap: int

    def to_json(self) -> dict[str, Any]:
        """The price as JSON (``…_wei`` in the payment token's base units)."""
        return {
            "dataset_id": self.dataset_id, "for_sale": self.for_sale, "payment_token": self.payment_token,
            "price_wei": self.price, "amount_wei": self.amount, "cost_wei": self.cost,
            "protocol_fee_bps": self.protocol_fee_bps, "protocol_fee_wei": self.protocol_fee,
            "market_fee_wei": self.market_fee, "order_cost_wei": self.order_cost,
            "dispenser_cap_wei": self.dispenser_cap,
        }


@dataclass(frozen=True)
class OrderResult:
    """An order placed: its id, how the datatoken was had (``held``, ``bought``, ``dispensed``)."""

    order_id: int
    dataset_id: int
    consumer: str
    provider: str   # the zero address when the node asked no fee (a free quote, nothing signed)
    how: str
    tx: str
    provider_fee: int = 0
    fee_token: str = OWNER

    def to_json(self) -> dict[str, Any]:
        """The order as JSON (the id as ``0x``-hex: 256 bits do not fit a JSON number)."""
        return {"order_id": order_id_hex(self.order_id), "dataset_id": self.dataset_id, "consumer": self.consumer,
                "provider": self.provider, "provider_fee": str(self.provider_fee), "fee_token": self.fee_token,
                "datatoken": self.how, "tx": self.tx}


@dataclass(frozen=True)
class DatasetEarnings:
    """An address's share of one dataset's pot (not yet split)."""

    dataset_id: int
    bps: int
    pot: int
    share: int


@dataclass(frozen=True)
class Earnings:
    """What an address may withdraw now, and its shares of the datasets' undistributed pots."""

    address: str
    token: str
    balance: int
    datasets: list[DatasetEarnings] = field(default_factory=list)
    federated: int = 0      # owed for federated-learning rounds this account's node took part in

    @property
    def total(self) -> int:
        """The balance plus every share, plus what federated runs owe."""
        return self.balance + sum(d.share for d in self.datasets) + self.federated

    def to_json(self) -> dict[str, Any]:
        """The earnings as JSON (``…_wei`` in the token's base units)."""
        return {
            "address": self.address, "token": self.token, "balance_wei": self.balance,
            "datasets": [{"dataset_id": d.dataset_id, "bps": d.bps, "pot_wei": d.pot, "share_wei": d.share}
                         for d in self.datasets],
            "federated_wei": self.federated,
            "total_wei": self.total,
        }


def parse_split(text: str, owner_alias: str = "owner") -> list[Share]:
    """``"owner:7000,0xabc…:3000"`` as shares (basis points summing to 10,000); one clear
    ConfigError naming the bad entry otherwise."""
    shares: list[Share] = []
    for part in filter(None, (p.strip() for p in text.split(","))):
        who, sep, bps = part.rpartition(":")
        if not sep or not who:
            raise ConfigError(f"split entry {part!r} must be ADDRESS:BPS (or owner:BPS)")
        try:
            n = int(bps)
        except ValueError:
            raise ConfigError(f"split entry {part!r}: {bps!r} is not a whole number of basis points") from None
        if who.strip().lower() == owner_alias:
            who = OWNER
        try:
            who = to_checksum_address(who.strip())
        except ValueError:
            raise ConfigError(f"split entry {part!r}: {who!r} is not an address") from None
        shares.append(Share(who, n))
    validate_split(shares)
    return shares


#: The kinds of source a dataset may name, by the address-book role of their contract.
_SOURCE_ROLES = {"model": "models", "job": "market", "dataset": "data_registry"}


def quote_from_json(data: Any) -> Quote:
    """A fee quote as an access node hands it out (``POST /quotes``: ``{"quote": {...}}`` or the
    quote itself); ConfigError when it is not one, or is neither signed nor free."""
    body = data.get("quote", data) if isinstance(data, dict) else data
    try:
        quote = Quote.from_json(body)
    except ConfigError:
        raise ConfigError("the access node's answer is not a fee quote") from None
    if not quote.is_free and len(quote.signature) != 65:
        raise ConfigError("the access node's quote carries no valid signature")
    return quote


def _read_source(source: Path | str | bytes) -> tuple[Path, Path | None]:
    """A path to the content (bytes are written to a temporary file, returned second to remove)."""
    if isinstance(source, bytes):
        tmp = tempfile.NamedTemporaryFile(prefix="agora-dataset-", delete=False)  # noqa: SIM115
        with tmp:
            tmp.write(source)
        return Path(tmp.name), Path(tmp.name)
    path = Path(source)
    if not path.is_file():
        raise ConfigError(f"{source} is not a file")
    return path, None


class DatasetsClient:
    """The data layer's facade (``Client.data``): publish, price, buy, order, download, get paid.

    ``registry`` is the deployment's :class:`DataRegistry`, ``storage`` holds the cards and
    samples, ``signer`` acts (publishing, buying, ordering, downloading need it), ``state_dir`` is
    where a local access node keeps its home by default (``<state_dir>/node``).
    """

    def __init__(self, registry: DataRegistry, storage: Storage, signer: Signer | None, *,
                 state_dir: Path | None = None, http: httpx.Client | None = None) -> None:
        self.registry = registry
        self.storage = storage
        self.signer = signer
        self.state_dir = state_dir
        self.http = http

    def __repr__(self) -> str:
        return f"DatasetsClient({self.registry.address}, account={self.signer.address if self.signer else None})"

    def _require_signer(self) -> Signer:
        if self.signer is None:
            raise ConfigError("no account to act as", hint="set AGORA_KEYSTORE or AGORA_PRIVATE_KEY")
        return self.signer

    @property
    def token(self) -> str:
        """The protocol token's address (the default payment token)."""
        return str(self.registry.dep.token.address)

    @property
    def compute(self) -> ComputeToDataClient:
        """Compute-to-data: allow algorithms, enable a compute node, submit jobs, fetch results."""
        from agora.data.compute_client import ComputeToDataClient

        return ComputeToDataClient(self)

    # -- publishing -------------------------------------------------------------------------
    def publish(
        self, source: Path | str | bytes, *, name: str, description: str = "", license: str = "", price: int = 0,
        payment_token: str | None = None, dispenser_cap: int = 0, split: Sequence[Share] | None = None,
        timeout: int = 0, initial_supply: int = 0, schema: dict[str, Any] | None = None,
        sample: Path | str | bytes | None = None, symbol: str = "", node_home: Path | str | None = None,
        sources: Sequence[Source] = (), progress: Callable[[str], None] | None = None,
    ) -> Publication:
        """Build and store the dataset's card, then publish the dataset in one transaction.

        ``price`` is per whole datatoken (10**18 units) in ``payment_token`` (default: the
        protocol token); 0 with no token: not for sale (``dispenser_cap`` lets anyone take that
        many units free, ``initial_supply`` mints to the publisher). ``timeout`` is how long an
        order lasts (0: forever). ``node_home`` registers the file with the local access node
        kept there (which must not be running). ``sources`` (see :meth:`source`) records what the
        dataset was made from, in a second transaction (e.g. a model's outputs: the model version
        and the jobs or paid calls that produced them)."""
        say = progress or (lambda _m: None)
        signer = self._require_signer()
        shares = list(split) if split is not None else [Share(OWNER, _BPS)]
        validate_split(shares)
        _check_pricing(price, payment_token, dispenser_cap)
        if timeout < 0 or timeout >= 2**32:
            raise ConfigError(f"an order's timeout is 0 to {2**32 - 1} seconds, not {timeout}")
        if initial_supply < 0:
            raise ConfigError("the initial supply cannot be negative")
        if len(symbol.encode()) > 16:
            raise ConfigError(f"a datatoken's symbol is at most 16 bytes, not {len(symbol.encode())}")
        if len(sources) > MAX_SOURCES:
            raise ConfigError(f"a dataset names at most {MAX_SOURCES} sources, not {len(sources)}")
        for src in sources:  # what the contract would refuse after the dataset exists
            if src.registry.lower() == self.registry.address.lower():
                self.registry.fetch(src.id)
        path, remove = _read_source(source)
        try:
            say("hashing the content (1 MiB chunks, Merkle root)")
            digest = content_hash(path)
            size = path.stat().st_size
            sample_cid = None
            if sample is not None:
                sample_bytes = sample if isinstance(sample, bytes) else _read_bytes(sample)
                sample_cid = self.storage.put(sample_bytes)
            card = build_dataset_card(name=name, description=description, license=license, size=size,
                                      content_hash="0x" + digest.hex(), schema=schema or {}, sample_cid=sample_cid)
            say("storing the card")
            card_cid = self.storage.put(card.to_bytes())
            say("publishing the dataset (one transaction)")
            dataset_id, receipt = self.registry.publish(
                signer, card=cid_to_bytes32(card_cid), content_hash=digest, split=shares, timeout=timeout,
                name=_clip(name, 32), symbol=symbol, initial_supply=initial_supply,
                payment_token=payment_token if payment_token is not None else (self.token if price else OWNER),
                price=price, dispenser_cap=dispenser_cap,
            )
            if sources:
                say("recording what the dataset was made from")
                self.registry.set_sources(dataset_id, sources, signer)
            home = None
            if node_home is not None:
                say("adding the file to the access node")
                home = Path(node_home)
                self.add_file(dataset_id, path, home=home)
        finally:
            if remove is not None:
                remove.unlink(missing_ok=True)
        return Publication(dataset_id, card, card_cid, digest, self.registry.datatoken_of(dataset_id),
                           receipt.tx_hash, home)

    # -- a local access node ----------------------------------------------------------------
    def node_home(self) -> Path:
        """The default home of this account's local access node (``<state dir>/node``)."""
        if self.state_dir is None:
            raise ConfigError("no state folder for the access node", hint="give its home")
        return self.state_dir / "node"

    def open_node(self, home: Path | str | None = None, **options: Any) -> AccessNode:
        """The access node kept in ``home`` (default :meth:`node_home`), checking orders on this
        chain, signing quotes as this account; refused while another process holds that home."""
        from agora.data.access import AccessNode
        from agora.data.orders import ChainOrders

        reg = self.registry
        return AccessNode(home if home is not None else self.node_home(), self._require_signer(),
                               ChainOrders(reg), chain_id=reg.chain.chain_id, registry=reg.address, **options)

    def add_file(self, dataset_id: int, path: Path | str, *, home: Path | str | None = None,
                 node: AccessNode | None = None) -> bytes:
        """Hand ``path`` to the access node (``node``, or the one kept in ``home``) as dataset
        ``dataset_id``'s file, after checking that its content hash is the one on chain."""
        info = self.registry.fetch(dataset_id)
        source = Path(path)
        if not source.is_file():
            raise ConfigError(f"{path} is not a file")
        digest = content_hash(source)
        if digest != info.content_hash:
            raise ConfigError(f"{path} is not dataset {dataset_id}'s content: its hash is 0x{digest.hex()}, the "
                              f"chain's 0x{info.content_hash.hex()}")
        own = node is None
        target = node if node is not None else self.open_node(home)
        try:
            return target.add_file(dataset_id, source)
        finally:
            if own:
                target.close()

    # -- reading ----------------------------------------------------------------------------
    def show(self, dataset_id: int) -> DatasetView:
        """A dataset's record, split and card (the card checked against its CID)."""
        info = self.registry.fetch(dataset_id)
        cid = bytes32_to_cid(info.card)
        card: DatasetCard | None = None
        error = None
        try:
            card = DatasetCard.from_bytes(bytes(self.storage.get(cid)))
        except (StorageError, ConfigError) as exc:
            error = f"dataset {dataset_id}'s card {cid} cannot be read: {exc}"
        if card is not None and card.content_hash_bytes != info.content_hash:
            error = f"dataset {dataset_id}'s card names another content hash than the chain's"
        sources = [(self.source_kind(src), src) for src in self.registry.sources(dataset_id)]
        return DatasetView(info, cid, self.registry.split(dataset_id), card, error, sources,
                           self._compute_view(dataset_id))

    def _compute_view(self, dataset_id: int) -> dict[str, Any]:
        """The dataset's compute-to-data settings on chain (empty where the deployment has none)."""
        if "data_services" not in self.registry.dep.addresses:
            return {}
        from agora.data.services import DataServices, micro_to_epsilon

        services = DataServices(self.registry.dep)
        node = services.compute_node(dataset_id)
        budget, spent = services.privacy(dataset_id)
        policy = services.output_policy(dataset_id)
        return {"node": node, "epsilon_budget": micro_to_epsilon(budget), "epsilon_spent": micro_to_epsilon(spent),
                "output_policy": bytes32_to_cid(policy) if any(policy) else None}

    # -- provenance -------------------------------------------------------------------------
    def source(self, kind: str, ident: int, *, evidence: Path | str | bytes | None = None) -> Source:
        """A source to name at publishing: ``kind`` is ``model`` (a model version in the
        protocol's model registry), ``job`` (a compute job of its market) or ``dataset`` (another
        dataset here); ``evidence`` (a file or bytes, e.g. the paid calls' receipts as
        ``agora model call --json`` printed them) is put in storage and its CID's digest recorded."""
        role = _SOURCE_ROLES.get(kind)
        if role is None:
            raise ConfigError(f"a source is a model, a job or a dataset, not {kind!r}")
        addresses = self.registry.dep.addresses
        if role not in addresses:
            raise ConfigError(f"this deployment has no {role!r} contract, so no {kind} can be a source")
        if ident <= 0:
            raise ConfigError(f"a {kind} id is a positive integer, not {ident}")
        self._check_source_exists(kind, role, ident)
        digest = bytes(32)
        if evidence is not None:
            blob = evidence if isinstance(evidence, bytes) else _read_bytes(evidence)
            digest = cid_to_bytes32(self.storage.put(blob))
        return Source(addresses[role], ident, digest)

    def _check_source_exists(self, kind: str, role: str, ident: int) -> None:
        """ConfigError unless the model, job or dataset exists (read through the other
        contracts' own views: an ERC-721's ``ownerOf``, the market's ``job_count``)."""
        dep = self.registry.dep
        if kind == "dataset":
            self.registry.fetch(ident)
            return
        contract = dep.contract(role)
        try:
            exists = (contract.job_count() >= ident) if kind == "job" else bool(contract.ownerOf(ident))
        except Reverted:
            exists = False
        if not exists:
            raise ConfigError(f"there is no {kind} {ident} on chain {self.registry.chain.chain_id}")

    def source_kind(self, src: Source) -> str:
        """``model``, ``job`` or ``dataset`` for a source in one of the protocol's contracts, else
        ``contract``."""
        by_address = {a.lower(): role for role, a in self.registry.dep.addresses.items()}
        role = by_address.get(src.registry.lower())
        return next((k for k, r in _SOURCE_ROLES.items() if r == role), "contract")

    def count(self) -> int:
        """How many datasets were published."""
        return int(self.registry.contract.dataset_count())

    def list(self, limit: int = MAX_LISTED) -> list[DatasetInfo]:
        """The datasets' records, oldest first (at most ``limit``)."""
        return [self.registry.fetch(i) for i in range(1, min(self.count(), limit) + 1)]

    def price(self, dataset_id: int, amount: int = ONE) -> DatasetPrice:
        """What ``amount`` datatoken units and one order cost now."""
        if amount <= 0:
            raise ConfigError("the amount must be above 0")
        info = self.registry.fetch(dataset_id)
        for_sale = info.payment_token != OWNER
        _, bps = self.registry.protocol_fee()
        cost = (info.price * amount + ONE - 1) // ONE
        protocol = info.price * bps // _BPS
        return DatasetPrice(dataset_id, for_sale, info.payment_token, info.price, amount, cost, bps, protocol,
                            info.market_fee, info.price + protocol + info.market_fee if for_sale else 0,
                            info.dispenser_cap)

    def balance(self, dataset_id: int, holder: str | None = None) -> int:
        """How many datatoken units of the dataset ``holder`` (default: this account) has."""
        return self.registry.datatoken_balance(dataset_id, holder or self._require_signer().address)

    # -- buying and ordering ------------------------------------------------------------------
    def buy(self, dataset_id: int, amount: int = ONE, *, max_price: int | None = None) -> str:
        """Buy ``amount`` datatoken units at the fixed price; return the transaction hash."""
        signer = self._require_signer()
        if amount <= 0:
            raise ConfigError("the amount must be above 0")
        info = self.registry.fetch(dataset_id)
        if info.payment_token == OWNER:
            raise ConfigError(f"dataset {dataset_id} is not for sale"
                              + (" (take datatokens from its dispenser)" if info.dispenser_cap else ""))
        if max_price is not None and info.price > max_price:
            raise ConfigError(f"dataset {dataset_id}'s price {info.price} is above your limit {max_price}")
        return self.registry.buy(dataset_id, amount, signer, max_price=max_price).tx_hash

    def dispense(self, dataset_id: int, amount: int = ONE) -> str:
        """Take ``amount`` free datatoken units from the dataset's dispenser."""
        signer = self._require_signer()
        if amount <= 0:
            raise ConfigError("the amount must be above 0")
        info = self.registry.fetch(dataset_id)
        if info.dispenser_cap == 0:
            raise ConfigError(f"dataset {dataset_id} has no dispenser")
        return self.registry.dispense(dataset_id, amount, signer).tx_hash

    def quote(self, dataset_id: int, *, node_url: str, consumer: str | None = None, service_id: int = 0) -> Quote:
        """A fee quote from the access node at ``node_url``, checked: for this dataset, service and
        consumer, signed by its provider in this registry's EIP-712 domain."""
        who = to_checksum_address(consumer or self._require_signer().address)
        url = node_url.rstrip("/") + "/quotes"
        http = self.http or httpx.Client(timeout=30.0)
        try:
            resp = http.post(url, json={"datasetId": str(dataset_id), "consumer": who, "serviceId": str(service_id)})
        except httpx.HTTPError as exc:
            raise AgoraError(f"cannot reach the access node at {node_url}: {exc}",
                             hint="check its URL and that it runs (`agora data serve`)") from None
        finally:
            if self.http is None:
                http.close()
        if resp.status_code != 200:
            raise ConfigError(f"the access node refused a quote for dataset {dataset_id}: {_reason(resp)}")
        try:
            quote = quote_from_json(resp.json())
        except ValueError:
            raise ConfigError("the access node's answer is not a fee quote") from None
        if (quote.dataset, quote.service_id, quote.consumer) != (dataset_id, service_id, who):
            raise ConfigError("the access node's quote is for another dataset, service or consumer")
        if not quote.is_free and quote.signer(self.registry.domain) != quote.provider:
            raise ConfigError("the access node's quote is not signed by its provider for this registry "
                              "(the contract would refuse it)")
        return quote

    def order(self, dataset_id: int, *, node_url: str, consumer: str | None = None, service_id: int = 0,
              max_price: int | None = None) -> OrderResult:
        """Order the dataset's service from the access node at ``node_url`` for ``consumer``
        (default: this account), spending one datatoken: one held, else bought in the same
        transaction (a permit), else taken from the dispenser."""
        signer = self._require_signer()
        who = to_checksum_address(consumer or signer.address)
        info = self.registry.fetch(dataset_id)
        quote = self.quote(dataset_id, node_url=node_url, consumer=who, service_id=service_id)
        reg = self.registry
        if reg.datatoken_balance(dataset_id, signer.address) >= ONE:
            how = "held"
            order_id = reg.order(dataset_id, service_id, who, quote, signer)
        elif info.payment_token != OWNER:
            if max_price is not None and info.price > max_price:
                raise ConfigError(f"dataset {dataset_id}'s price {info.price} is above your limit {max_price}")
            how = "bought"
            order_id = reg.buy_and_order(dataset_id, service_id, who, quote, signer, max_price=max_price)
        elif info.dispenser_cap >= ONE:
            how = "dispensed"
            reg.dispense(dataset_id, ONE, signer)
            order_id = reg.order(dataset_id, service_id, who, quote, signer)
        else:
            raise ConfigError(f"you hold no datatoken of dataset {dataset_id}, and it is neither for sale nor free")
        tx = reg.last_receipt.tx_hash if reg.last_receipt is not None else ""
        return OrderResult(order_id, dataset_id, who, quote.provider, how, tx, quote.fee, quote.fee_token)

    def download(self, dataset_id: int, order_id: int | str | None, out: Path | str, *, node_url: str,
                 progress: Callable[[int, int], None] | None = None) -> DownloadResult:
        """Download the dataset under ``order_id`` (None: this account's latest order of the
        dataset's download service, found on chain) from the access node at ``node_url`` into
        ``out``, every chunk checked against the content hash on chain (resumes a ``.part`` left
        by an earlier try)."""
        from agora.data.download import download

        signer = self._require_signer()
        info = self.registry.fetch(dataset_id)
        if order_id is None:
            order_id = self.registry.order_id_of(dataset_id, 0, signer.address)
            if order_id == 0:
                raise ConfigError(f"{signer.address} has no order of dataset {dataset_id}",
                                  hint=f"order first: `agora data order {dataset_id} --node URL`")
        order_id = parse_order_id(order_id)
        try:
            order = self.registry.order_info(order_id)
        except ConfigError:
            raise ConfigError(f"there is no order {order_id_hex(order_id)}",
                              hint="order first: `agora data order`") from None
        if order.dataset != dataset_id:
            raise ConfigError(f"order {order_id_hex(order_id)} is for dataset {order.dataset}, not {dataset_id}")
        if order.consumer != signer.address:
            raise ConfigError(f"order {order_id_hex(order_id)} is {order.consumer}'s, not {signer.address}'s")
        if not self.registry.order_valid(order_id, signer.address):
            raise ConfigError(f"order {order_id_hex(order_id)} has expired", hint="order again")
        return download(node_url, dataset_id, order_id, signer, out, expected_hash=info.content_hash,
                        chain_id=self.registry.chain.chain_id, registry=self.registry.address, progress=progress,
                        client=self.http)

    # -- revenue -----------------------------------------------------------------------------
    def earnings(self, address: str | None = None, token: str | None = None) -> Earnings:
        """What ``address`` (default: this account) may withdraw in ``token`` (default: the
        protocol token) now, and its share of each dataset's pot not yet split."""
        who = to_checksum_address(address or self._require_signer().address)
        tok = to_checksum_address(token or self.token)
        shares: list[DatasetEarnings] = []
        for dataset_id in range(1, min(self.count(), MAX_LISTED) + 1):
            pot = self.registry.pot(dataset_id, tok)
            if pot == 0:
                continue
            split = self.registry.split(dataset_id)
            owner = self.registry.owner_of(dataset_id) if any(s.recipient == OWNER for s in split) else None
            for s in split:
                if s.recipient == who or (s.recipient == OWNER and owner == who):
                    shares.append(DatasetEarnings(dataset_id, s.bps, pot, pot * s.bps // _BPS))
        return Earnings(who, tok, self.registry.earnings(who, tok), shares, self._services().owed(who, tok))

    def _services(self) -> DataServices:
        from agora.data.services import DataServices

        return DataServices(self.registry.dep)

    def withdraw(self, token: str | None = None) -> tuple[int, builtins.list[int]]:
        """Split every dataset pot this account shares in, then withdraw its balance in ``token``
        (default: the protocol token), and what federated runs owe its node; return the amount (0:
        nothing, no transaction) and the datasets split."""
        signer = self._require_signer()
        tok = to_checksum_address(token or self.token)
        earned = self.earnings(signer.address, tok)
        datasets = [d.dataset_id for d in earned.datasets]
        amount = self.registry.withdraw(tok, signer, datasets=datasets)
        if earned.federated:
            amount += self._services().withdraw(signer, tok)
        return amount, datasets


def _check_pricing(price: int, payment_token: str | None, dispenser_cap: int) -> None:
    if price < 0 or dispenser_cap < 0:
        raise ConfigError("a price or a dispenser cap cannot be negative")
    if price > _MASK96 or dispenser_cap > _MASK96:
        raise ConfigError("a price or a dispenser cap is at most 2**96 - 1 base units")
    if payment_token is not None and price == 0:
        raise ConfigError("a payment token needs a price above 0 (for a free dataset give a dispenser cap)")


def _clip(text: str, limit: int) -> str:
    raw = text.encode()[:limit]
    return raw.decode(errors="ignore")


def _read_bytes(path: Path | str) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror}") from None


def _reason(resp: httpx.Response) -> str:
    try:
        body = resp.json()
        return f"{body['error']} ({body['code']})"
    except (ValueError, KeyError, TypeError):
        return f"HTTP {resp.status_code}"
