"""Evidence of AI outputs: one signed receipt format, batches anchored on chain, bundles checked offline.

Every AI output Agora produces — a paid model call, each item of a compute job, a
compute-to-data result, a federated round — carries a :class:`Receipt`: what ran
(``kind``, ``subject``, the weights hash), on what (the input hash), what came out
(the output hash), who ran it (``runner``, who signs it), who paid, how much and by
what payment, and when. It is EIP-712 typed data ("Agora Receipt", version 2) in the
domain of the contract that says who may sign for the subject (the model registry
for a model's calls, the compute market for a job's items…), so any wallet library
can check it.

Runners keep their receipts in a :class:`ReceiptBook` and post the Merkle root of each
batch to the ``ReceiptAnchor`` contract: one storage word and one event per batch. A
:class:`Bundle` — the receipt, its domain, its batch's root and its inclusion proof —
is then checked offline (:func:`check_offline`: signature, proof) plus one chain read
(``ReceiptAnchor.verify``: the root was anchored by the signer, and when). Who was
entitled to sign for the subject at that time is the business of the layer that owns
the kind (its ``receipts`` hook, see :mod:`agora.layers`).

The book is durable: a batch is written with its root before its transaction is sent,
and on restart a batch whose root is already anchored is marked so, never sent twice;
a receipt is never lost between the call that signed it and its batch.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Self

from agora.chain.eip712 import DOMAIN_FIELDS, Domain, keccak256, recover_hash, type_hash, word
from agora.chain.merkle import merkle_proof, merkle_root, verify_proof
from agora.errors import AgoraError
from agora.storage.state import immediate_transaction, open_state_db

if TYPE_CHECKING:
    from agora.chain.accounts import Signer
    from agora.chain.contracts import Contract

__all__ = [
    "ANCHOR_ARTIFACT",
    "RECEIPT_FIELDS",
    "RECEIPT_TYPEHASH",
    "RECEIPT_TYPES",
    "Anchor",
    "Bundle",
    "Receipt",
    "ReceiptBook",
    "ReceiptError",
    "CLOCK_SKEW_S",
    "anchored_at",
    "check_offline",
    "receipt_domain",
    "sign_receipt",
]

#: The contract that anchors batch roots (``contracts/verify/ReceiptAnchor.vy``).
ANCHOR_ARTIFACT = "ReceiptAnchor"

RECEIPT_FIELDS: list[dict[str, str]] = [
    {"name": "kind", "type": "string"},
    {"name": "subject", "type": "uint256"},
    {"name": "item", "type": "uint256"},
    {"name": "weightsHash", "type": "bytes32"},
    {"name": "inputHash", "type": "bytes32"},
    {"name": "outputHash", "type": "bytes32"},
    {"name": "runner", "type": "address"},
    {"name": "payer", "type": "address"},
    {"name": "amount", "type": "uint256"},
    {"name": "payment", "type": "uint256"},
    {"name": "time", "type": "uint64"},
]
RECEIPT_TYPEHASH: bytes = type_hash(RECEIPT_FIELDS, "Receipt")
#: The EIP-712 ``types`` of a receipt (what ``eth_signTypedData_v4`` takes).
RECEIPT_TYPES: dict[str, list[dict[str, str]]] = {"EIP712Domain": DOMAIN_FIELDS, "Receipt": RECEIPT_FIELDS}
_NAME, _VERSION = "Agora Receipt", "2"
#: A receipt may be dated at most this far after the block that anchored it (clock skew).
CLOCK_SKEW_S = 120


class ReceiptError(AgoraError):
    """A receipt or a bundle that does not check out (the message says which check failed)."""


def receipt_domain(chain_id: int, contract: str) -> Domain:
    """The EIP-712 domain of receipts whose signers ``contract`` (on ``chain_id``) names."""
    return Domain(_NAME, _VERSION, chain_id, contract)


def _b32(value: Any) -> bytes:
    raw = bytes.fromhex(str(value).removeprefix("0x"))
    if len(raw) != 32:
        raise ValueError(f"{value!r} is not 32 bytes")
    return raw


def _hex(b: bytes) -> str:
    return "0x" + b.hex()


@dataclass(frozen=True)
class Receipt:
    """One AI output, as its runner signed it.

    ``kind`` names what ran and who answers for the subject: ``"model-call"`` (subject: the
    model id, item: the cheque's nonce, payment: the channel id), ``"compute-item"`` (subject:
    the job id, item: the item's index), ``"c2d-result"``, ``"fl-round"``… ``amount`` is what
    the payer paid for this output (0 if it was not paid per output).
    """

    kind: str
    subject: int
    item: int
    weights_hash: bytes
    input_hash: bytes
    output_hash: bytes
    runner: str
    payer: str
    amount: int
    payment: int
    time: int
    signature: bytes = b""

    def struct_hash(self) -> bytes:
        """The EIP-712 ``hashStruct``: the receipt's identity."""
        return keccak256(
            RECEIPT_TYPEHASH + keccak256(self.kind.encode()) + word(self.subject) + word(self.item)
            + word(self.weights_hash) + word(self.input_hash) + word(self.output_hash) + word(self.runner)
            + word(self.payer) + word(self.amount) + word(self.payment) + word(self.time)
        )

    def digest(self, domain: Domain) -> bytes:
        """What the runner signs, and the receipt's Merkle leaf digest in its batch."""
        return domain.digest(self.struct_hash())

    def signer(self, domain: Domain) -> str | None:
        """Who signed it in ``domain`` (None if unsigned or malformed)."""
        return recover_hash(self.digest(domain), self.signature)

    def check_signature(self, domain: Domain) -> None:
        """:class:`ReceiptError` unless its ``runner`` signed it in ``domain``."""
        who = self.signer(domain)
        if who is None:
            raise ReceiptError("the receipt's signature is malformed")
        if who.lower() != self.runner.lower():
            raise ReceiptError(f"the receipt was signed by {who}, not by its runner {self.runner} "
                               "(a changed field or another domain gives another signer)")

    def typed_data(self, domain: Domain) -> dict[str, Any]:
        """The receipt as EIP-712 JSON (``eth_signTypedData_v4``), for wallets and other languages."""
        message = self.to_json()
        message.pop("signature")
        for key in ("subject", "item", "amount", "payment"):
            message[key] = int(message[key])
        return {
            "types": RECEIPT_TYPES,
            "primaryType": "Receipt", "domain": domain.to_json(), "message": message,
        }

    def to_json(self) -> dict[str, Any]:
        """A JSON form (large integers as decimal strings, hashes as 0x-hex)."""
        return {
            "kind": self.kind, "subject": str(self.subject), "item": str(self.item),
            "weightsHash": _hex(self.weights_hash), "inputHash": _hex(self.input_hash),
            "outputHash": _hex(self.output_hash), "runner": self.runner, "payer": self.payer,
            "amount": str(self.amount), "payment": str(self.payment), "time": self.time,
            "signature": _hex(self.signature),
        }

    @classmethod
    def from_json(cls, data: Any) -> Self:
        """Parse :meth:`to_json`'s form; :class:`ReceiptError` if a field is missing or malformed."""
        try:
            kind = data["kind"]
            if not isinstance(kind, str) or not kind:
                raise ValueError("kind must be a non-empty string")
            return cls(
                kind=kind, subject=_uint(data["subject"]), item=_uint(data["item"]),
                weights_hash=_b32(data["weightsHash"]), input_hash=_b32(data["inputHash"]),
                output_hash=_b32(data["outputHash"]), runner=_address(data["runner"]),
                payer=_address(data["payer"]), amount=_uint(data["amount"]), payment=_uint(data["payment"]),
                time=_uint(data["time"], 64), signature=bytes.fromhex(str(data.get("signature", "0x"))[2:]),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ReceiptError(f"malformed receipt: {exc}") from None


def _uint(value: Any, bits: int = 256) -> int:
    n = int(value)
    if not 0 <= n < 2**bits:
        raise ValueError(f"{value!r} is not a uint{bits}")
    return n


def _address(value: Any) -> str:
    from eth_utils.address import is_address, to_checksum_address

    if not isinstance(value, str) or not is_address(value):
        raise ValueError(f"{value!r} is not an address")
    return to_checksum_address(value)


def sign_receipt(signer: Signer, domain: Domain, receipt: Receipt) -> Receipt:
    """``receipt`` signed by ``signer`` in ``domain`` (its ``runner`` must be the signer)."""
    if receipt.runner.lower() != signer.address.lower():
        raise ReceiptError(f"{signer.address} cannot sign a receipt whose runner is {receipt.runner}")
    r = receipt
    return Receipt(r.kind, r.subject, r.item, r.weights_hash, r.input_hash, r.output_hash, r.runner, r.payer,
                   r.amount, r.payment, r.time, signer.sign_hash(r.digest(domain)))


@dataclass(frozen=True)
class Anchor:
    """Where a receipt's batch is anchored: the contract, who anchored it, the root, the receipt's
    place in the batch and its inclusion proof."""

    contract: str
    poster: str
    root: bytes
    index: int
    count: int
    proof: tuple[bytes, ...]

    def to_json(self) -> dict[str, Any]:
        """The anchor as JSON (hashes as 0x-hex)."""
        return {"contract": self.contract, "poster": self.poster, "root": _hex(self.root), "index": self.index,
                "count": self.count, "proof": [_hex(p) for p in self.proof]}

    @classmethod
    def from_json(cls, data: Any) -> Anchor:
        """Parse :meth:`to_json`'s form; :class:`ReceiptError` if malformed."""
        try:
            proof = data["proof"]
            if not isinstance(proof, list):
                raise ValueError("proof must be a list")
            return cls(_address(data["contract"]), _address(data["poster"]), _b32(data["root"]),
                       _uint(data["index"], 64), _uint(data["count"], 64), tuple(_b32(p) for p in proof))
        except (KeyError, TypeError, ValueError) as exc:
            raise ReceiptError(f"malformed anchor: {exc}") from None


@dataclass(frozen=True)
class Bundle:
    """A receipt with everything needed to check it: its domain and, once its batch is
    anchored, where (``anchor`` is None before)."""

    receipt: Receipt
    domain: Domain
    anchor: Anchor | None = None

    def to_json(self) -> dict[str, Any]:
        """The bundle as JSON: ``{"receipt", "domain", "anchor"}`` (``anchor`` null before its batch's)."""
        return {"receipt": self.receipt.to_json(), "domain": self.domain.to_json(),
                "anchor": self.anchor.to_json() if self.anchor else None}

    @classmethod
    def from_json(cls, data: Any) -> Bundle:
        """Parse a bundle (or a bare receipt with its ``domain``); :class:`ReceiptError` if malformed."""
        if not isinstance(data, dict):
            raise ReceiptError("a receipt bundle is a JSON object")
        body = data.get("receipt", data)
        d = data.get("domain") or (body.get("domain") if isinstance(body, dict) else None)
        try:
            if not isinstance(d, dict):
                raise ValueError("no domain")
            if (d.get("name"), str(d.get("version"))) != (_NAME, _VERSION):
                raise ValueError(f"domain {d.get('name')!r} version {d.get('version')!r} is not {_NAME!r} {_VERSION}")
            domain = Domain(_NAME, _VERSION, _uint(d["chainId"]), _address(d["verifyingContract"]))
        except (KeyError, TypeError, ValueError) as exc:
            raise ReceiptError(f"malformed receipt domain: {exc}") from None
        raw_anchor = data.get("anchor")
        return cls(Receipt.from_json(body), domain, Anchor.from_json(raw_anchor) if raw_anchor else None)


def check_offline(bundle: Bundle) -> bytes:
    """The checks that need no chain: the runner's signature in the bundle's domain and, if the
    bundle names its anchor, the inclusion proof against the root. Returns the receipt's digest;
    :class:`ReceiptError` saying which check failed."""
    r = bundle.receipt
    r.check_signature(bundle.domain)
    digest = r.digest(bundle.domain)
    a = bundle.anchor
    if a is not None:
        if a.index >= a.count:
            raise ReceiptError(f"the receipt's index {a.index} is outside its batch of {a.count}")
        if not verify_proof(a.root, a.index, digest, list(a.proof)):
            raise ReceiptError(f"the inclusion proof does not lead from this receipt to the root {_hex(a.root)} "
                               "(a changed receipt, or another batch's proof)")
        if a.poster.lower() != r.runner.lower():
            raise ReceiptError(f"the batch root was anchored by {a.poster}, not by the receipt's runner {r.runner}")
    return digest


def anchored_at(anchor_contract: Contract, bundle: Bundle, digest: bytes) -> int:
    """The one chain read: when the bundle's root was anchored by its poster with the receipt
    under it (``ReceiptAnchor.verify``); 0 if it was not."""
    a = bundle.anchor
    if a is None:
        return 0
    return int(anchor_contract.verify(a.poster, a.root, a.index, digest, list(a.proof)))


_SCHEMA = """
CREATE TABLE IF NOT EXISTS receipts (
    seq INTEGER PRIMARY KEY, digest BLOB NOT NULL UNIQUE, body TEXT NOT NULL, domain TEXT NOT NULL,
    batch INTEGER, added REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS receipts_batch ON receipts (batch, seq);
CREATE TABLE IF NOT EXISTS batches (
    id INTEGER PRIMARY KEY, root BLOB NOT NULL, count INTEGER NOT NULL, anchored_at INTEGER NOT NULL DEFAULT 0,
    tx TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS batches_open ON batches (anchored_at);
"""


@dataclass
class ReceiptBook:
    """A runner's durable book of signed receipts, anchored in batches.

    ``add`` records a signed receipt (the caller signs; the book keeps it and its domain).
    ``anchor_pending`` closes a batch of the unbatched receipts (its root written first),
    posts the root, and marks it anchored; after a crash, a batch already anchored on chain
    is marked, not posted again, and one that is not is posted. ``bundle`` gives any kept
    receipt with its proof. Thread-safe.
    """

    path: Path
    anchor_contract: Contract
    poster: str
    max_batch: int = 4096
    #: fsync every receipt (else a process crash loses nothing, a power cut the last few)
    durable: bool = False
    #: :meth:`anchor_if_due` anchors once this many seconds have passed since its last anchor ...
    interval_s: float = 60.0
    #: ... or once this many receipts wait
    batch: int = 1000
    _db: sqlite3.Connection = field(init=False, repr=False)
    _lock: threading.RLock = field(init=False, repr=False, default_factory=threading.RLock)
    _posting: threading.Lock = field(init=False, repr=False, default_factory=threading.Lock)
    _last_anchor: float = field(init=False, repr=False, default_factory=time.monotonic)
    _buffer: list[tuple[bytes, Receipt, Domain, float]] = field(init=False, repr=False, default_factory=list)

    def __post_init__(self) -> None:
        self._db = open_state_db(self.path, durable=self.durable, schema=_SCHEMA)

    def close(self) -> None:
        """Write what is buffered and close the book's database."""
        self.flush()
        self._db.close()

    def add(self, receipt: Receipt, domain: Domain, *, digest: bytes | None = None, buffered: bool = False) -> bytes:
        """Keep a signed receipt until its batch is anchored; returns its digest (``digest``: its
        digest in ``domain`` when the caller has it). ``buffered``: kept in memory until the next
        :meth:`flush` (which every other method does first) — a hot path's choice: a process that
        dies before it loses those receipts (never a batch, never money); else written at once."""
        digest = receipt.digest(domain) if digest is None else digest
        row = (digest, receipt, domain, time.time())
        with self._lock:
            self._buffer.append(row)
        if not buffered:
            self.flush()
        return digest

    def flush(self) -> int:
        """Write the buffered receipts (one transaction); return how many."""
        import json

        with self._lock:
            rows, self._buffer = self._buffer, []
        if not rows:
            return 0
        domains: dict[Domain, str] = {}
        values = []
        for digest, receipt, domain, added in rows:
            if domain not in domains:
                domains[domain] = json.dumps(domain.to_json())
            values.append((digest, json.dumps(receipt.to_json()), domains[domain], added))
        with immediate_transaction(self._db, self._lock):
            self._db.executemany(
                "INSERT OR IGNORE INTO receipts (digest, body, domain, added) VALUES (?, ?, ?, ?)", values)
        return len(values)

    def pending(self) -> int:
        """How many receipts wait for a batch, or for their batch's anchor."""
        self.flush()
        with self._lock:  # both through indexes: a service asks every second
            (n,) = self._db.execute(
                "SELECT (SELECT count(*) FROM receipts WHERE batch IS NULL) + "
                "(SELECT coalesce(sum(count), 0) FROM batches WHERE anchored_at = 0)").fetchone()
        return int(n)

    def _close_batch(self) -> int | None:
        self.flush()
        with immediate_transaction(self._db, self._lock):
            rows = self._db.execute(
                "SELECT seq, digest FROM receipts WHERE batch IS NULL ORDER BY seq LIMIT ?", (self.max_batch,)
            ).fetchall()
            if not rows:
                return None
            root = merkle_root([bytes(d) for _, d in rows])
            cur = self._db.execute("INSERT INTO batches (root, count) VALUES (?, ?)", (root, len(rows)))
            batch = int(cur.lastrowid or 0)
            self._db.executemany("UPDATE receipts SET batch = ? WHERE seq = ?", [(batch, s) for s, _ in rows])
        return batch

    def anchor_if_due(self, signer: Signer, *, force: bool = False) -> int:
        """Anchor what waits once ``interval_s`` has passed since the last anchor or ``batch``
        receipts wait (or ``force``); return how many receipts were anchored now."""
        due = force or time.monotonic() - self._last_anchor >= self.interval_s
        if not due and self.pending() < self.batch:
            return 0
        self._last_anchor = time.monotonic()
        return sum(n for _, n in self.anchor_pending(signer))

    def anchor_pending(self, signer: Signer) -> list[tuple[int, int]]:
        """Anchor every unanchored batch (closing new ones from the unbatched receipts) with
        ``signer`` (the poster). Returns ``(batch, count)`` for each batch anchored now."""
        if signer.address.lower() != self.poster.lower():
            raise ReceiptError(f"the book's poster is {self.poster}, not {signer.address}")
        with self._posting:  # one poster at a time: two would send the same batch
            return self._anchor_pending(signer)

    def _anchor_pending(self, signer: Signer) -> list[tuple[int, int]]:
        while self._close_batch() is not None:
            pass
        with self._lock:
            todo = self._db.execute("SELECT id, root, count FROM batches WHERE anchored_at = 0 ORDER BY id").fetchall()
        done = []
        for batch, root, count in todo:
            at, _ = self.anchor_contract.anchored(self.poster, bytes(root))
            tx = ""
            if not at:  # not anchored yet (a restart finds the ones it had sent)
                receipt = self.anchor_contract.anchor(bytes(root), int(count), sender=signer)
                at, _ = self.anchor_contract.anchored(self.poster, bytes(root))
                tx = receipt.tx_hash
            with immediate_transaction(self._db, self._lock):
                self._db.execute("UPDATE batches SET anchored_at = ?, tx = ? WHERE id = ?", (int(at), tx, batch))
            done.append((int(batch), int(count)))
        return done

    def bundle(self, digest: bytes) -> Bundle:
        """The kept receipt with this digest, with its anchor and proof if its batch is anchored."""
        import json

        self.flush()
        with self._lock:
            row = self._db.execute("SELECT body, domain, batch FROM receipts WHERE digest = ?", (digest,)).fetchone()
            if row is None:
                raise ReceiptError(f"no receipt {_hex(digest)} is kept here")
            body, dom, batch = row
            members: list[bytes] = []
            b = None
            if batch is not None:
                b = self._db.execute("SELECT root, count, anchored_at FROM batches WHERE id = ?", (batch,)).fetchone()
                members = [bytes(d) for (d,) in self._db.execute(
                    "SELECT digest FROM receipts WHERE batch = ? ORDER BY seq", (batch,))]
        receipt = Receipt.from_json(json.loads(body))
        d = json.loads(dom)
        domain = Domain(_NAME, _VERSION, int(d["chainId"]), d["verifyingContract"])
        if b is None or not b[2]:
            return Bundle(receipt, domain)
        index = members.index(digest)
        anchor = Anchor(self.anchor_contract.address, self.poster, bytes(b[0]), index, int(b[1]),
                        tuple(merkle_proof(members, index)))
        return Bundle(receipt, domain, anchor)

    def kept(self, limit: int | None = None) -> list[tuple[bytes, Receipt]]:
        """The kept receipts with their digests, oldest first (the first ``limit``)."""
        import json

        self.flush()
        with self._lock:
            rows = self._db.execute("SELECT digest, body FROM receipts ORDER BY seq LIMIT ?",
                                    (-1 if limit is None else limit,)).fetchall()
        return [(bytes(d), Receipt.from_json(json.loads(b))) for d, b in rows]

    def stale(self, older_than_s: float) -> int:
        """How many receipts have waited longer than ``older_than_s`` for an anchor (flagged)."""
        self.flush()
        with self._lock:
            (n,) = self._db.execute(
                "SELECT count(*) FROM receipts r LEFT JOIN batches b ON r.batch = b.id "
                "WHERE (r.batch IS NULL OR b.anchored_at = 0) AND r.added < ?", (time.time() - older_than_s,)
            ).fetchone()
        return int(n)
