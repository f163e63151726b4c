"""Staked prediction tournaments (as Numerai's) on the ``Tournament`` contract: the typed client
and the whole flow of a round.

* the **creator** funds a round's reward pool and names its **resolver**
  (:meth:`Tournaments.create_round`);
* the resolver stores the targets (a ``.npy`` array or a JSON list of numbers) and commits
  ``keccak256(abi_encode(targets_cid, salt))`` before the close (:meth:`Tournaments.commit_targets`);
* a **model** stores its predictions and submits ``keccak256(abi_encode(round, submitter,
  predictions_cid, salt))`` with a stake before the close (:meth:`Tournaments.submit`), and reveals
  after it (:meth:`Tournaments.reveal`). Every salt is kept in a durable SQLite file
  (``agora.storage.state.open_state_db``) *before* its transaction is sent, keyed by the
  commitment, so a process that restarts (or crashes between the two) can still reveal;
* at resolution the resolver reveals the targets, **scores** the round (:meth:`Tournaments.score`:
  every revealed prediction and the targets fetched by CID, verified; CORR, MMC against the
  stake-weighted meta model and the payout of :mod:`agora.value.tournament`), and **posts** the
  settlement root with its bond (:meth:`Tournaments.post`; :meth:`Tournaments.resolve` does all
  three). The leaves (one per submission, in submission order: the account and what it gets back)
  are also stored, as a JSON document whose CID the resolver publishes;
* anyone may **check** a posted root leaf by leaf (:meth:`Tournaments.check_root`) and **dispute** a
  provably wrong leaf (:meth:`Tournaments.dispute`) before it is final;
* once final, each revealed model **claims** (:meth:`Tournaments.claim`: the leaves rebuilt from the
  public data, or the resolver's document), or exits at 95% when no leaf pays it
  (:meth:`Tournaments.exit_round`); a failed round **refunds** every revealed stake
  (:meth:`Tournaments.refund`); an unrevealed stake is burned (:meth:`Tournaments.burn_unrevealed`);
  the unused pool and the bond are **released** (:meth:`Tournaments.release`).

Amounts (the rule the leaves are built with, and what a disputer recomputes):

* a scored model's payout is :func:`payout_wei`: ``payout(stake, CORR, MMC, S, threshold)`` (tokens,
  with S the revealed stakes and ``threshold`` the round's stake threshold, 72,000 AGR when the
  round says 0) turned into a fraction of the stake in units of 1e-18, clipped to ±5%, times the
  stake in wei, rounded toward zero — so ``amount = stake + payout`` always lies in
  [0.95, 1.05] × stake exactly, as the contract checks it;
* if the gains add up to more than the pool, each is scaled by ``pool / Σ gains`` (rounded down);
* a revealed model whose predictions cannot be scored (blob missing, not a vector of finite numbers,
  another length than the targets, constant) gets the floor of the band, ``stake − ⌊5% · stake⌋``,
  and is left out of the meta model; an unrevealed one gets 0 (its stake is burned separately).
"""

from __future__ import annotations

import io
import json
import os
import sqlite3
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from eth_abi import encode
from eth_utils import keccak, to_checksum_address
from numpy.typing import ArrayLike, NDArray

from agora.chain import Contract, Signer, TxReceipt
from agora.chain.merkle import merkle_proof, merkle_root
from agora.errors import ConfigError, Reverted, StorageError
from agora.protocol import Deployment
from agora.storage import Storage, bytes32_to_cid, cid_digest, cid_for
from agora.storage.state import open_state_db
from agora.value.tournament import STAKE_THRESHOLD, payout, payout_factor, score_round

__all__ = [
    "BAND_BPS",
    "BPS",
    "SETTLEMENT_SCHEMA",
    "SUB_BURNED",
    "SUB_CLAIMED",
    "SUB_COMMITTED",
    "SUB_NONE",
    "SUB_REFUNDED",
    "SUB_REVEALED",
    "Claimed",
    "Disputed",
    "LeafCheck",
    "ModelScore",
    "PostedRoot",
    "RoundInfo",
    "RoundScores",
    "Settlement",
    "SubmissionInfo",
    "Tournaments",
    "build_settlement",
    "decode_vector",
    "encode_vector",
    "floor_amount",
    "is_within_band",
    "leaf_digest",
    "payout_wei",
    "prediction_commit",
    "targets_commit",
]

#: The most a model's return may differ from its stake, in basis points (the contract's ``BAND_BPS``).
BAND_BPS = 500
BPS = 10_000
_WAD = 10**18
#: The fraction of a stake a payout may reach, in units of 1e-18.
_BAND_WAD = BAND_BPS * _WAD // BPS

# submission states, as ``Tournament.submission`` reports them
SUB_NONE, SUB_COMMITTED, SUB_REVEALED, SUB_CLAIMED, SUB_REFUNDED, SUB_BURNED = range(6)
_STATE_NAMES = ("none", "committed", "revealed", "claimed", "refunded", "burned")
#: States of a submission that was revealed (its commitment slot holds the predictions CID).
_REVEALED_STATES = frozenset({SUB_REVEALED, SUB_CLAIMED, SUB_REFUNDED})

#: The schema of the leaves document a resolver stores next to a root.
SETTLEMENT_SCHEMA = "agora-tournament-settlement/1"

_STATUS_NONE, _STATUS_PENDING, _STATUS_REJECTED = 0, 1, 2

_SCHEMA = """
CREATE TABLE IF NOT EXISTS commitments (
    contract TEXT NOT NULL,
    round INTEGER NOT NULL,
    account TEXT NOT NULL,
    kind TEXT NOT NULL,            -- 'predictions' or 'targets'
    commit_hash TEXT NOT NULL,     -- 0x… as sent on chain
    cid TEXT NOT NULL,
    salt TEXT NOT NULL,            -- 0x…
    created_at INTEGER NOT NULL,
    PRIMARY KEY (contract, round, account, kind, commit_hash)
);
CREATE TABLE IF NOT EXISTS settlements (
    contract TEXT NOT NULL,
    round INTEGER NOT NULL,
    root TEXT NOT NULL,
    cid TEXT NOT NULL,
    PRIMARY KEY (contract, round, root)
);
"""


# --- pure helpers ---------------------------------------------------------------------------------


def prediction_commit(round_id: int, account: str, predictions_cid: str, salt: bytes) -> bytes:
    """A model's commitment: ``keccak256(abi_encode(round, submitter, predictions_cid, salt))``."""
    return bytes(
        keccak(
            encode(
                ["uint256", "address", "bytes32", "bytes32"],
                [round_id, to_checksum_address(account), cid_digest(predictions_cid), salt],
            )
        )
    )


def targets_commit(targets_cid: str, salt: bytes) -> bytes:
    """The resolver's commitment: ``keccak256(abi_encode(targets_cid, salt))``."""
    return bytes(keccak(encode(["bytes32", "bytes32"], [cid_digest(targets_cid), salt])))


def leaf_digest(account: str, amount: int) -> bytes:
    """A settlement leaf's item digest: ``keccak256(abi_encode(account, amount))``."""
    return bytes(keccak(encode(["address", "uint256"], [to_checksum_address(account), amount])))


def encode_vector(values: ArrayLike) -> bytes:
    """One value per row as the bytes stored: a float64 ``.npy`` array (no pickle)."""
    arr = np.asarray(values, dtype=np.float64).reshape(-1)
    buf = io.BytesIO()
    np.save(buf, arr, allow_pickle=False)
    return buf.getvalue()


def decode_vector(data: bytes, what: str = "predictions") -> NDArray[np.float64]:
    """A vector of finite numbers from ``.npy`` bytes or a JSON list (or ``{"values": [...]}``);
    ConfigError naming ``what`` otherwise."""
    bad = ConfigError(f"{what}: not a .npy array or a JSON list of numbers")
    try:
        if data[:6] == b"\x93NUMPY":
            raw: Any = np.load(io.BytesIO(data), allow_pickle=False)
        else:
            doc = json.loads(data)
            raw = doc.get("values", doc.get(what)) if isinstance(doc, dict) else doc
        arr = np.asarray(raw, dtype=np.float64)
    except (ValueError, TypeError, UnicodeDecodeError, OSError):
        raise bad from None
    if arr.ndim == 2 and 1 in arr.shape:
        arr = arr.reshape(-1)
    if arr.ndim != 1 or arr.shape[0] < 2:
        raise ConfigError(f"{what}: expected one value per row (at least 2 rows), got shape {tuple(arr.shape)}")
    if not np.isfinite(arr).all():
        raise ConfigError(f"{what}: every value must be a finite number")
    return arr


def is_within_band(amount: int, stake: int) -> bool:
    """Whether ``amount`` lies in [0.95, 1.05] × ``stake``, exactly as the contract checks it."""
    return (
        0 <= amount < 2**128 and amount * BPS >= stake * (BPS - BAND_BPS) and amount * BPS <= stake * (BPS + BAND_BPS)
    )


def floor_amount(stake: int) -> int:
    """The least a revealed stake can get back: ``stake − ⌊5% · stake⌋`` (what ``exit_round`` pays)."""
    return stake - stake * BAND_BPS // BPS


def payout_wei(stake: int, corr: float, mmc: float, total_at_risk: int, stake_threshold: int = 0) -> int:
    """A stake's payout in wei (negative: burned): :func:`agora.value.tournament.payout` in tokens
    as a fraction of the stake in units of 1e-18, clipped to ±5%, applied to the stake in wei and
    rounded toward zero, so ``stake + payout_wei(...)`` is always inside the contract's band.

    ``stake``, ``total_at_risk`` and ``stake_threshold`` are wei; a threshold of 0 is Numerai's
    72,000 tokens.
    """
    if stake <= 0:
        raise ValueError(f"a stake must be positive, got {stake}")
    threshold = stake_threshold / _WAD if stake_threshold else STAKE_THRESHOLD
    tokens = stake / _WAD
    fraction = payout(tokens, corr, mmc, total_at_risk / _WAD, threshold) / tokens
    wad = max(-_BAND_WAD, min(_BAND_WAD, round(fraction * _WAD)))
    delta = stake * abs(wad) // _WAD
    return delta if wad >= 0 else -delta


# --- records ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RoundInfo:
    """A round's record on chain, with its settlement result."""

    id: int
    creator: str
    resolver: str
    close_time: int
    reveal_deadline: int
    resolution_time: int
    settle_deadline: int
    stake_threshold: int
    targets_commit: bytes
    targets_cid: str | None
    submissions: int
    revealed_stake: int
    pool: int
    gain_left: int
    burn_left: int
    bond: int
    released: bool
    root: bytes
    total: int
    paid: int
    posted_at: int
    final_at: int
    status: int
    failed: bool

    def phase(self, now: int) -> str:
        """Where the round stands at time ``now``: ``open``, ``revealing``, ``awaiting resolution``,
        ``settling``, ``disputable``, ``final`` or ``failed``."""
        if self.failed:
            return "failed"
        if self.status == _STATUS_PENDING:
            return "final" if now >= self.final_at else "disputable"
        if now < self.close_time:
            return "open"
        if now < self.reveal_deadline:
            return "revealing"
        if now < self.resolution_time:
            return "awaiting resolution"
        return "settling"


@dataclass(frozen=True)
class SubmissionInfo:
    """One submission of a round: its leaf index, account, stake, state and commitment (or, once
    revealed, its predictions CID)."""

    round_id: int
    index: int
    account: str
    stake: int
    state: int
    commit: bytes

    @property
    def revealed(self) -> bool:
        """Whether it was revealed (and then maybe claimed or refunded)."""
        return self.state in _REVEALED_STATES

    @property
    def state_name(self) -> str:
        """The state in words."""
        return _STATE_NAMES[self.state] if 0 <= self.state < len(_STATE_NAMES) else str(self.state)

    @property
    def predictions_cid(self) -> str | None:
        """The revealed predictions' CID (None before the reveal)."""
        return bytes32_to_cid(self.commit) if self.revealed else None


@dataclass(frozen=True)
class ModelScore:
    """One submission's score and settlement: CORR and MMC (None when not scored), its payout in
    wei (negative: burned) and the amount its leaf returns."""

    index: int
    account: str
    stake: int
    revealed: bool
    corr: float | None
    mmc: float | None
    payout: int
    amount: int
    note: str = ""

    @property
    def gain(self) -> int:
        """What the pool pays it."""
        return max(0, self.amount - self.stake) if self.revealed else 0

    @property
    def burned(self) -> int:
        """What of its stake is burned (all of it when not revealed)."""
        return max(0, self.stake - self.amount) if self.revealed else self.stake


@dataclass(frozen=True)
class Settlement:
    """A round's settlement: one leaf ``(account, amount)`` per submission in index order, the pool
    used and the burn (as ``post_root`` takes them)."""

    round_id: int
    leaves: tuple[tuple[str, int], ...]
    pool_used: int
    burn: int

    @property
    def digests(self) -> list[bytes]:
        """The leaves' item digests."""
        return [leaf_digest(a, amt) for a, amt in self.leaves]

    @property
    def root(self) -> bytes:
        """The Merkle root (house convention, :mod:`agora.chain.merkle`)."""
        return merkle_root(self.digests)

    @property
    def total(self) -> int:
        """The sum of the leaves' amounts."""
        return sum(amt for _, amt in self.leaves)

    def proof(self, index: int) -> list[bytes]:
        """Leaf ``index``'s proof."""
        return merkle_proof(self.digests, index)

    def index_of(self, account: str) -> int:
        """The leaf index of ``account``; ConfigError if it has none."""
        who = account.lower()
        for i, (a, _) in enumerate(self.leaves):
            if a.lower() == who:
                return i
        raise ConfigError(f"{account} has no leaf in round {self.round_id}'s settlement")

    def to_bytes(self, contract: str, chain_id: int) -> bytes:
        """The JSON document stored next to the root (amounts as decimal strings)."""
        doc = {
            "schema": SETTLEMENT_SCHEMA,
            "chain_id": chain_id,
            "contract": contract,
            "round": self.round_id,
            "root": "0x" + self.root.hex(),
            "pool_used": str(self.pool_used),
            "burn": str(self.burn),
            "leaves": [[a, str(amt)] for a, amt in self.leaves],
        }
        return json.dumps(doc, sort_keys=True, separators=(",", ":")).encode()

    @classmethod
    def from_bytes(cls, data: bytes) -> Settlement:
        """Parse a stored settlement document; ConfigError if it is not one."""
        try:
            doc = json.loads(data)
            if doc.get("schema") != SETTLEMENT_SCHEMA:
                raise ValueError
            leaves = tuple((to_checksum_address(a), int(amt)) for a, amt in doc["leaves"])
            out = cls(int(doc["round"]), leaves, int(doc["pool_used"]), int(doc["burn"]))
        except (ValueError, TypeError, KeyError, AttributeError):
            raise ConfigError(f"not a tournament settlement ({SETTLEMENT_SCHEMA})") from None
        if "root" in doc and doc["root"] != "0x" + out.root.hex():
            raise ConfigError("the settlement document's root does not match its leaves")
        return out


@dataclass(frozen=True)
class RoundScores:
    """A round scored: each submission's scores and amount, the settlement they give, and the
    inputs of the payout (the revealed stake at risk, the threshold, the payout factor)."""

    round_id: int
    rows: tuple[ModelScore, ...]
    settlement: Settlement
    total_at_risk: int
    stake_threshold: int
    payout_factor: float
    pool: int
    targets_cid: str


@dataclass(frozen=True)
class PostedRoot:
    """A root posted: its settlement, the CID of its leaves document, the bond and the receipt."""

    settlement: Settlement
    leaves_cid: str
    bond: int
    final_at: int
    receipt: TxReceipt


@dataclass(frozen=True)
class LeafCheck:
    """One leaf of a posted root checked: ``provable`` when the contract would reject it in a
    dispute; ``expected`` is what the public scores give (None when they could not be computed)."""

    index: int
    account: str
    amount: int
    provable: bool
    expected: int | None
    reason: str


@dataclass(frozen=True)
class Disputed:
    """A root rejected by a dispute: the leaf, the bond won and the receipt."""

    round_id: int
    index: int
    account: str
    amount: int
    bond: int
    reason: str
    receipt: TxReceipt


@dataclass(frozen=True)
class Claimed:
    """A stake settled (``claim``, ``exit_round`` or ``refund``): what was paid and burned."""

    round_id: int
    account: str
    paid: int
    burned: int
    receipt: TxReceipt


@dataclass
class _Salts:
    """The durable store of commitments' salts (and the settlements a resolver posted)."""

    path: Path | None
    _db: sqlite3.Connection = field(init=False)
    _lock: threading.Lock = field(init=False, default_factory=threading.Lock)

    def __post_init__(self) -> None:
        if self.path is None:
            self._db = sqlite3.connect(":memory:", check_same_thread=False, isolation_level=None)
            self._db.executescript(_SCHEMA)
        else:
            self._db = open_state_db(self.path, schema=_SCHEMA)

    def keep(self, contract: str, round_id: int, account: str, kind: str, commit: bytes, cid: str, salt: bytes) -> None:
        with self._lock:
            self._db.execute(
                "INSERT OR REPLACE INTO commitments VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    contract.lower(),
                    round_id,
                    account.lower(),
                    kind,
                    "0x" + commit.hex(),
                    cid,
                    "0x" + salt.hex(),
                    int(time.time()),
                ),
            )

    def find(self, contract: str, round_id: int, account: str, kind: str, commit: bytes) -> tuple[str, bytes] | None:
        with self._lock:
            row = self._db.execute(
                "SELECT cid, salt FROM commitments WHERE contract=? AND round=? AND account=? AND kind=? "
                "AND commit_hash=?",
                (contract.lower(), round_id, account.lower(), kind, "0x" + commit.hex()),
            ).fetchone()
        return None if row is None else (str(row[0]), bytes.fromhex(str(row[1])[2:]))

    def keep_settlement(self, contract: str, round_id: int, root: bytes, cid: str) -> None:
        with self._lock:
            self._db.execute(
                "INSERT OR REPLACE INTO settlements VALUES (?, ?, ?, ?)",
                (contract.lower(), round_id, "0x" + root.hex(), cid),
            )

    def find_settlement(self, contract: str, round_id: int, root: bytes) -> str | None:
        with self._lock:
            row = self._db.execute(
                "SELECT cid FROM settlements WHERE contract=? AND round=? AND root=?",
                (contract.lower(), round_id, "0x" + root.hex()),
            ).fetchone()
        return None if row is None else str(row[0])

    def close(self) -> None:
        with self._lock:
            self._db.close()


def build_settlement(
    round_id: int,
    subs: Sequence[SubmissionInfo],
    corr: dict[int, float],
    mmc: dict[int, float],
    *,
    pool: int,
    stake_threshold: int = 0,
    notes: dict[int, str] | None = None,
) -> tuple[tuple[ModelScore, ...], Settlement]:
    """The rows and the settlement of a round from its submissions (index order) and the scores of
    the scored ones (by index): the rule of this module's docstring. Pure: what a resolver posts
    and what a disputer recomputes."""
    notes = notes or {}
    at_risk = sum(s.stake for s in subs if s.revealed)
    payouts: dict[int, int] = {}
    for s in subs:
        if s.revealed and s.index in corr:
            payouts[s.index] = payout_wei(s.stake, corr[s.index], mmc[s.index], at_risk, stake_threshold)
        elif s.revealed:
            payouts[s.index] = floor_amount(s.stake) - s.stake
    gains = sum(p for p in payouts.values() if p > 0)
    if gains > pool:  # the pool pays at most what it holds: every gain shrinks alike
        payouts = {i: (p * pool // gains if p > 0 else p) for i, p in payouts.items()}
    rows: list[ModelScore] = []
    for s in subs:
        p = payouts.get(s.index, 0)
        rows.append(
            ModelScore(
                index=s.index,
                account=s.account,
                stake=s.stake,
                revealed=s.revealed,
                corr=corr.get(s.index),
                mmc=mmc.get(s.index),
                payout=p if s.revealed else -s.stake,
                amount=s.stake + p if s.revealed else 0,
                note=notes.get(s.index, "" if s.revealed else "not revealed: the whole stake is burned"),
            )
        )
    pool_used = sum(r.gain for r in rows)
    burn = sum(max(0, r.stake - r.amount) for r in rows if r.revealed)
    settlement = Settlement(round_id, tuple((r.account, r.amount) for r in rows), pool_used, burn)
    return tuple(rows), settlement


# --- the client --------------------------------------------------------------------------------------


class Tournaments:
    """Client of the ``Tournament`` contract of one deployment (role ``tournament``).

    ``storage`` holds predictions, targets and settlement documents (needed to commit, score,
    post, check or claim by rebuilt leaves); ``state`` is the SQLite file where salts are kept
    until their reveal (None: in memory, lost with this object).
    """

    def __init__(self, dep: Deployment, storage: Storage | None = None, *, state: Path | str | None = None) -> None:
        self.dep = dep
        self.chain = dep.chain
        self.contract: Contract = dep.contract("tournament")
        self.token: Contract = dep.token
        self.storage = storage
        self.salts = _Salts(Path(state) if state is not None else None)
        #: The receipt of the last transaction this client sent (for gas figures).
        self.last_receipt: TxReceipt | None = None
        # what the chain's events say and never changes: each round's creation (block, pool) and its
        # submissions' accounts by index, with the next block to read them from
        self._created: dict[int, tuple[int, int]] = {}
        self._accounts: dict[int, dict[int, str]] = {}
        self._scanned: dict[int, int] = {}

    @property
    def address(self) -> str:
        """The contract's address."""
        return self.contract.address

    def close(self) -> None:
        """Close the salts' file."""
        self.salts.close()

    # -- reads ----------------------------------------------------------------------------------
    def fetch_round(self, round_id: int) -> RoundInfo:
        """The round's record and settlement result; ConfigError if there is no such round."""
        try:
            r = self.contract.round(round_id)
            failed = bool(self.contract.is_failed(round_id))
        except Reverted:
            raise ConfigError(f"there is no round {round_id} in the tournament at {self.address}") from None
        res = self.contract.result(round_id.to_bytes(32, "big"))
        targets_cid = bytes(r[8])
        return RoundInfo(
            id=round_id,
            creator=r[0],
            resolver=r[1],
            close_time=int(r[2]),
            reveal_deadline=int(r[3]),
            resolution_time=int(r[4]),
            settle_deadline=int(r[5]),
            stake_threshold=int(r[6]),
            targets_commit=bytes(r[7]),
            targets_cid=bytes32_to_cid(targets_cid) if any(targets_cid) else None,
            submissions=int(r[9]),
            revealed_stake=int(r[10]),
            pool=int(r[11]),
            gain_left=int(r[12]),
            burn_left=int(r[13]),
            bond=int(r[14]),
            released=bool(r[15]),
            root=bytes(res[0]),
            total=int(res[1]),
            paid=int(res[2]),
            posted_at=int(res[3]),
            final_at=int(res[4]),
            status=int(res[5]),
            failed=failed,
        )

    def fetch_submission(self, round_id: int, account: str) -> SubmissionInfo:
        """``account``'s submission to the round (state 0 if it made none)."""
        who = to_checksum_address(account)
        stake, index, state, commit = self.contract.submission(round_id, who)
        return SubmissionInfo(round_id, int(index), who, int(stake), int(state), bytes(commit))

    def fetch_submissions(self, round_id: int, info: RoundInfo | None = None) -> list[SubmissionInfo]:
        """Every submission of the round, in leaf-index order (from its ``Submitted`` events, read
        from the round's creation on and kept: a submission's index and account never change)."""
        info = info or self.fetch_round(round_id)
        accounts = self._accounts.setdefault(round_id, {})
        if len(accounts) < info.submissions:
            start = self._scanned.get(round_id) or self._fetch_creation(round_id)[0]
            head = self.chain.block_number()
            for e in self.contract.get_events(
                "Submitted", from_block=start, to_block=head, where=[round_id.to_bytes(32, "big")]
            ):
                accounts.setdefault(int(e.args["index"]), to_checksum_address(e.args["account"]))
            self._scanned[round_id] = head + 1
        if sorted(accounts)[: info.submissions] != list(range(info.submissions)):
            raise ConfigError(
                f"round {round_id} has {info.submissions} submissions but the chain's events show {len(accounts)}",
                hint="the node may prune old logs",
            )
        return [self.fetch_submission(round_id, accounts[i]) for i in range(info.submissions)]

    def fetch_reward_pool(self, round_id: int) -> int:
        """The pool the round was funded with (its ``RoundCreated`` event): what its gains may use,
        whatever claims and releases took out of the contract's pool since."""
        return self._fetch_creation(round_id)[1]

    def _fetch_creation(self, round_id: int) -> tuple[int, int]:
        """The block a round was created in and its reward pool (read once: neither changes)."""
        if round_id not in self._created:
            events = self.contract.get_events(
                "RoundCreated", from_block=self.dep.block, where=[round_id.to_bytes(32, "big")]
            )
            if not events:
                raise ConfigError(f"there is no round {round_id} in the tournament at {self.address}")
            self._created[round_id] = (events[0].block_number, int(events[0].args["reward_pool"]))
        return self._created[round_id]

    def fetch_leaves(self, cid: str) -> Settlement:
        """A settlement document from storage (verified by its CID)."""
        return Settlement.from_bytes(self._storage().get(cid))

    def required_bond(self, pool_used: int, burn: int) -> int:
        """The bond a root moving ``pool_used`` and ``burn`` is posted with."""
        return int(self.contract.required_bond(pool_used, burn))

    # -- rounds ---------------------------------------------------------------------------------
    def create_round(
        self,
        sender: Signer,
        *,
        pool: int,
        close_time: int,
        reveal_deadline: int,
        resolution_time: int,
        settle_deadline: int,
        resolver: str | None = None,
        stake_threshold: int = int(STAKE_THRESHOLD) * _WAD,
    ) -> tuple[int, TxReceipt]:
        """Create a round funded with ``pool`` AGR (approved here); ``resolver`` defaults to the sender.
        ConfigError, before any transaction, for times out of order or a pool the sender lacks."""
        now = self.chain.timestamp()
        if not now < close_time < reveal_deadline <= resolution_time < settle_deadline:
            raise ConfigError("a round needs now < close < reveal deadline <= resolution < settle deadline")
        if pool < 0 or stake_threshold < 0:
            raise ConfigError("the pool and the stake threshold must not be negative")
        self._ensure_funds(sender, pool, "the reward pool")
        receipt = self._tx(
            "create_round",
            close_time,
            reveal_deadline,
            resolution_time,
            settle_deadline,
            to_checksum_address(resolver or sender.address),
            pool,
            stake_threshold,
            sender=sender,
        )
        (event,) = self.contract.events_in(receipt, "RoundCreated")
        return int(event.args["round"]), receipt

    def commit_targets(self, round_id: int, targets: ArrayLike | bytes, sender: Signer) -> str:
        """Store the targets, keep a fresh salt and commit to them (the resolver, before the close);
        return the targets' CID."""
        data = self._vector_bytes(targets, "targets")
        info = self.fetch_round(round_id)
        self._check_is_resolver(info, sender)
        if any(info.targets_commit):
            raise ConfigError(f"round {round_id}'s targets are already committed")
        if self.chain.timestamp() >= info.close_time:
            raise ConfigError(f"round {round_id} is closed: targets are committed before the close")
        cid = self._storage().put(data)
        salt = os.urandom(32)
        commit = targets_commit(cid, salt)
        self.salts.keep(self.address, round_id, sender.address, "targets", commit, cid, salt)  # before sending
        self._tx("commit_targets", round_id, commit, sender=sender)
        return cid

    def reveal_targets(self, round_id: int, sender: Signer) -> str:
        """Reveal the committed targets with their kept salt (the resolver, from the resolution
        time); return their CID."""
        info = self.fetch_round(round_id)
        self._check_is_resolver(info, sender)
        if info.targets_cid is not None:
            return info.targets_cid
        kept = self.salts.find(self.address, round_id, sender.address, "targets", info.targets_commit)
        if kept is None:
            raise ConfigError(
                f"no salt is kept here for round {round_id}'s targets commitment",
                hint="reveal from the state file the targets were committed with (--state)",
            )
        now = self.chain.timestamp()
        if now < info.resolution_time:
            raise ConfigError(
                f"round {round_id}'s targets may be revealed from its resolution time "
                f"({info.resolution_time - now} s from now)"
            )
        if now >= info.settle_deadline:
            raise ConfigError(f"round {round_id} is past its settle deadline: it failed, stakes are refundable")
        cid, salt = kept
        self._tx("reveal_targets", round_id, cid_digest(cid), salt, sender=sender)
        return cid

    # -- models ---------------------------------------------------------------------------------
    def submit(self, round_id: int, predictions: ArrayLike | bytes, stake: int, sender: Signer) -> SubmissionInfo:
        """Store the predictions and submit a commitment to them with ``stake`` AGR (approved here;
        0 to replace an earlier commitment without topping up), keeping the salt first."""
        data = self._vector_bytes(predictions, "predictions")
        info = self.fetch_round(round_id)
        if not any(info.targets_commit):
            raise ConfigError(f"round {round_id} takes no submission before its resolver commits the targets")
        if self.chain.timestamp() >= info.close_time:
            raise ConfigError(f"round {round_id} is closed: submissions are taken before its close time")
        if stake < 0 or stake >= 2**128:
            raise ConfigError("the stake must be between 0 and 2**128 wei")
        if stake == 0 and self.fetch_submission(round_id, sender.address).state == SUB_NONE:
            raise ConfigError("a first submission needs a stake")
        self._ensure_funds(sender, stake, "the stake")
        cid = self._storage().put(data)
        salt = os.urandom(32)
        commit = prediction_commit(round_id, sender.address, cid, salt)
        self.salts.keep(self.address, round_id, sender.address, "predictions", commit, cid, salt)  # before sending
        self._tx("submit", round_id, commit, stake, sender=sender)
        return self.fetch_submission(round_id, sender.address)

    def reveal(self, round_id: int, sender: Signer, *, cid: str | None = None, salt: bytes | None = None) -> TxReceipt:
        """Reveal the sender's predictions with the salt kept for its commitment on chain (or the
        ``cid`` and ``salt`` given), after the close and before the reveal deadline."""
        sub = self.fetch_submission(round_id, sender.address)
        if sub.state == SUB_NONE:
            raise ConfigError(f"{sender.address} made no submission to round {round_id}")
        if sub.state != SUB_COMMITTED:
            raise ConfigError(f"{sender.address}'s submission to round {round_id} is already {sub.state_name}")
        if cid is None or salt is None:
            kept = self.salts.find(self.address, round_id, sender.address, "predictions", sub.commit)
            if kept is None:
                raise ConfigError(
                    f"no salt is kept here for {sender.address}'s commitment in round {round_id}",
                    hint="reveal from the state file it was submitted with (--state)",
                )
            cid, salt = kept
        info = self.fetch_round(round_id)
        now = self.chain.timestamp()
        if now < info.close_time:
            raise ConfigError(f"round {round_id}'s reveals open at its close ({info.close_time - now} s from now)")
        if now >= info.reveal_deadline:
            raise ConfigError(f"round {round_id}'s reveals closed: the stake will be burned")
        return self._tx("reveal", round_id, cid_digest(cid), salt, sender=sender)

    def burn_unrevealed(self, round_id: int, account: str, sender: Signer) -> int:
        """Burn the stake of ``account``'s unrevealed submission (anyone, after the reveal deadline)."""
        receipt = self._tx("burn_unrevealed", round_id, to_checksum_address(account), sender=sender)
        (event,) = self.contract.events_in(receipt, "Burned")
        return int(event.args["amount"])

    # -- scoring and settlement -------------------------------------------------------------------
    def score(self, round_id: int, *, targets_cid: str | None = None) -> RoundScores:
        """Score the round from public data: its revealed predictions and its targets, fetched by
        CID (verified), CORR and MMC against the stake-weighted meta model, the payouts and the
        settlement (see the module's docstring). ``targets_cid``: the targets before they are
        revealed on chain (the resolver's own)."""
        info = self.fetch_round(round_id)
        cid = info.targets_cid or targets_cid
        if cid is None:
            raise ConfigError(f"round {round_id}'s targets are not revealed yet")
        storage = self._storage()
        targets = decode_vector(storage.get(cid), "targets")
        subs = self.fetch_submissions(round_id, info)
        vectors: dict[int, NDArray[np.float64]] = {}
        notes: dict[int, str] = {}
        for s in subs:
            if not s.revealed:
                continue
            why = ""
            try:
                vec = decode_vector(storage.get(bytes32_to_cid(s.commit)), "predictions")
            except StorageError:
                why = "its predictions cannot be fetched"
            except ConfigError as exc:
                why = str(exc)
            else:
                if vec.shape != targets.shape:
                    why = f"{vec.shape[0]} predictions for {targets.shape[0]} targets"
                elif np.ptp(vec) == 0:
                    why = "constant predictions (CORR undefined)"
                else:
                    vectors[s.index] = vec
            if why:
                notes[s.index] = f"not scored ({why}): the band's floor"
        corr: dict[int, float] = {}
        mmc: dict[int, float] = {}
        if vectors:
            order = sorted(vectors)
            stake_of = {s.index: s.stake for s in subs}
            try:
                c, m = score_round(
                    np.stack([vectors[i] for i in order]), np.array([stake_of[i] / _WAD for i in order]), targets
                )
            except ValueError as exc:
                raise ConfigError(f"round {round_id} cannot be scored: {exc}") from None
            corr = {i: float(x) for i, x in zip(order, c, strict=True)}
            mmc = {i: float(x) for i, x in zip(order, m, strict=True)}
        rows, settlement = build_settlement(
            round_id,
            subs,
            corr,
            mmc,
            pool=self.fetch_reward_pool(round_id),
            stake_threshold=info.stake_threshold,
            notes=notes,
        )
        at_risk = sum(s.stake for s in subs if s.revealed)
        threshold = info.stake_threshold or int(STAKE_THRESHOLD) * _WAD
        factor = payout_factor(at_risk / _WAD, threshold / _WAD) if at_risk else 1.0
        return RoundScores(
            round_id, rows, settlement, at_risk, threshold, factor, self.fetch_reward_pool(round_id), cid
        )

    def post(self, round_id: int, sender: Signer, settlement: Settlement | None = None) -> PostedRoot:
        """Post the round's settlement root with its bond (approved here): the honest one from
        :meth:`score` unless ``settlement`` is given. Its leaves document is stored first."""
        if settlement is None:
            settlement = self.score(round_id).settlement
        info = self.fetch_round(round_id)
        self._check_is_resolver(info, sender)
        if info.targets_cid is None:
            raise ConfigError(f"round {round_id}'s targets must be revealed before a root is posted")
        if info.status == _STATUS_PENDING:
            raise ConfigError(f"round {round_id} already has a root standing")
        if len(settlement.leaves) != info.submissions:
            raise ConfigError(
                f"a settlement of round {round_id} has {info.submissions} leaves, not {len(settlement.leaves)}"
            )
        bond = self.required_bond(settlement.pool_used, settlement.burn)
        self._ensure_funds(sender, bond, "the bond")
        doc = settlement.to_bytes(self.address, self.chain.chain_id)
        cid = self.storage.put(doc) if self.storage is not None else cid_for(doc)
        self.salts.keep_settlement(self.address, round_id, settlement.root, cid)
        receipt = self._tx(
            "post_root",
            round_id,
            settlement.root,
            settlement.total,
            settlement.pool_used,
            settlement.burn,
            sender=sender,
        )
        final_at = self.fetch_round(round_id).final_at
        return PostedRoot(settlement, cid, bond, final_at, receipt)

    def resolve(self, round_id: int, sender: Signer) -> PostedRoot:
        """The resolver's whole resolution: reveal the targets (if not yet), score the round and
        post its root with the bond."""
        self.reveal_targets(round_id, sender)
        return self.post(round_id, sender)

    def check_root(self, round_id: int, settlement: Settlement) -> list[LeafCheck]:
        """Check a posted root's leaves (``settlement``, e.g. the resolver's document) against the
        chain, leaf by leaf: ``provable`` marks a leaf the contract rejects in a dispute (no
        submission behind it, another index, an unrevealed one not 0, a revealed one out of the
        band); ``expected`` is what the public scores give (a difference there is visible to all
        but not provable on chain). ConfigError if these leaves are not the posted root's."""
        info = self.fetch_round(round_id)
        if info.status != _STATUS_PENDING:
            raise ConfigError(f"round {round_id} has no root standing")
        if settlement.root != info.root:
            raise ConfigError(f"these leaves do not make round {round_id}'s posted root 0x{info.root.hex()}")
        try:
            honest: dict[int, int] | None = dict(enumerate(amt for _, amt in self.score(round_id).settlement.leaves))
        except (ConfigError, StorageError):
            honest = None
        checks: list[LeafCheck] = []
        for i, (account, amount) in enumerate(settlement.leaves):
            sub = self.fetch_submission(round_id, account)
            expected = None if honest is None else honest.get(i)
            if sub.state == SUB_NONE:
                provable, reason = True, "no submission behind it"
            elif sub.index != i:
                provable, reason = True, f"the account's submission is leaf {sub.index}"
            elif sub.state == SUB_REVEALED:
                provable = not is_within_band(amount, sub.stake)
                reason = "outside [0.95, 1.05] x the stake" if provable else "within the band"
            else:
                provable = amount != 0
                reason = "not revealed, yet not 0" if provable else "not revealed: 0"
            if not provable and expected is not None and expected != amount:
                reason = f"{reason}, but the public scores give {expected} (not provable on chain)"
            checks.append(LeafCheck(i, account, amount, provable, expected, reason))
        return checks

    def dispute(self, round_id: int, sender: Signer, settlement: Settlement, index: int | None = None) -> Disputed:
        """Dispute leaf ``index`` of the posted root (default: the first provably wrong leaf found by
        :meth:`check_root`), rejecting the root and winning its bond. ConfigError, before any
        transaction, when no leaf is provably wrong or the root is final."""
        info = self.fetch_round(round_id)
        if info.status == _STATUS_PENDING and self.chain.timestamp() >= info.final_at:
            raise ConfigError(f"round {round_id}'s root is final: disputes are over")
        checks = self.check_root(round_id, settlement)
        wrong = [c for c in checks if c.provable]
        if index is not None:
            wrong = [c for c in checks if c.index == index]
            if not wrong:
                raise ConfigError(f"round {round_id}'s root has no leaf {index}")
            if not wrong[0].provable:
                raise ConfigError(f"leaf {index} of round {round_id}'s root is valid on chain ({wrong[0].reason})")
        if not wrong:
            raise ConfigError(f"no leaf of round {round_id}'s root is provably wrong")
        leaf = wrong[0]
        receipt = self._tx(
            "dispute", round_id, leaf.index, leaf.account, leaf.amount, settlement.proof(leaf.index), sender=sender
        )
        (event,) = self.contract.events_in(receipt, "Disputed")
        return Disputed(round_id, leaf.index, leaf.account, leaf.amount, int(event.args["bond"]), leaf.reason, receipt)

    # -- getting paid ---------------------------------------------------------------------------------
    def claim(self, round_id: int, sender: Signer, settlement: Settlement | None = None) -> Claimed:
        """Claim the sender's leaf of the round's final root: the leaves rebuilt from the public
        scores, else the settlement the resolver stored (kept here, or ``settlement``)."""
        info = self.fetch_round(round_id)
        if not (info.status == _STATUS_PENDING and self.chain.timestamp() >= info.final_at):
            raise ConfigError(
                f"round {round_id} has no final root yet"
                + (f" (final in {info.final_at - self.chain.timestamp()} s)" if info.status == _STATUS_PENDING else "")
            )
        sub = self.fetch_submission(round_id, sender.address)
        if not sub.revealed:
            raise ConfigError(f"{sender.address} has no revealed submission in round {round_id}")
        if sub.state != SUB_REVEALED:
            raise ConfigError(f"{sender.address}'s stake in round {round_id} is already {sub.state_name}")
        settlement = settlement or self._posted_settlement(round_id, info)
        if settlement.root != info.root:
            raise ConfigError(f"these leaves do not make round {round_id}'s posted root")
        index = settlement.index_of(sender.address)
        amount = settlement.leaves[index][1]
        receipt = self._tx("claim", round_id, index, amount, settlement.proof(index), sender=sender)
        return self._settled(round_id, sender.address, receipt)

    def exit_round(self, round_id: int, sender: Signer) -> Claimed:
        """Take 95% of a revealed stake that no leaf of the final root pays (5% burned)."""
        return self._settled(round_id, sender.address, self._tx("exit_round", round_id, sender=sender))

    def refund(self, round_id: int, sender: Signer) -> Claimed:
        """Take back a revealed stake in full from a failed round."""
        info = self.fetch_round(round_id)
        if not info.failed:
            raise ConfigError(
                f"round {round_id} has not failed: stakes are refunded only when no root stands at its settle deadline"
            )
        receipt = self._tx("refund", round_id, sender=sender)
        (event,) = self.contract.events_in(receipt, "Refunded")
        return Claimed(round_id, sender.address, int(event.args["amount"]), 0, receipt)

    def release(self, round_id: int, sender: Signer) -> tuple[int, int]:
        """Return the unused pool to the creator and the bond to the resolver (final or failed
        round, once); return ``(to creator, to resolver)``."""
        receipt = self._tx("release", round_id, sender=sender)
        (event,) = self.contract.events_in(receipt, "Released")
        return int(event.args["creator_amount"]), int(event.args["resolver_amount"])

    # -- internals -----------------------------------------------------------------------------------
    def _tx(self, name: str, *args: Any, sender: Signer) -> TxReceipt:
        receipt = self.contract.fn(name).transact(*args, sender=sender)
        self.last_receipt = receipt
        return receipt

    def _storage(self) -> Storage:
        if self.storage is None:
            raise ConfigError("tournaments need storage for predictions, targets and settlements")
        return self.storage

    def _vector_bytes(self, values: ArrayLike | bytes, what: str) -> bytes:
        # stored as given when it parses (a file's bytes), else as .npy
        if isinstance(values, bytes | bytearray):
            decode_vector(bytes(values), what)
            return bytes(values)
        try:
            arr = np.asarray(values, dtype=np.float64)
        except (ValueError, TypeError):
            raise ConfigError(f"{what}: not a vector of numbers") from None
        data = encode_vector(arr)
        decode_vector(data, what)
        return data

    def _check_is_resolver(self, info: RoundInfo, sender: Signer) -> None:
        if sender.address.lower() != info.resolver.lower():
            raise ConfigError(f"{sender.address} is not round {info.id}'s resolver ({info.resolver})")

    def _ensure_funds(self, owner: Signer, amount: int, what: str) -> None:
        if amount == 0:
            return
        balance = int(self.token.balanceOf(owner.address))
        if balance < amount:
            raise ConfigError(f"{owner.address} holds {balance} wei of AGR, less than {what} ({amount} wei)")
        if int(self.token.allowance(owner.address, self.address)) < amount:
            self.token.approve(self.address, amount, sender=owner)  # exactly what this call pulls, never more

    def _posted_settlement(self, round_id: int, info: RoundInfo) -> Settlement:
        rebuilt = self.score(round_id).settlement if self.storage is not None else None
        if rebuilt is not None and rebuilt.root == info.root:
            return rebuilt
        cid = self.salts.find_settlement(self.address, round_id, info.root)
        if cid is not None and self.storage is not None:
            return self.fetch_leaves(cid)
        raise ConfigError(
            f"round {round_id}'s posted root is not the one its public scores give",
            hint="claim with the resolver's leaves document (--leaves CID), or take 95% with exit_round",
        )

    def _settled(self, round_id: int, account: str, receipt: TxReceipt) -> Claimed:
        (event,) = self.contract.events_in(receipt, "StakeSettled")
        return Claimed(round_id, account, int(event.args["paid"]), int(event.args["burned"]), receipt)
