"""A validator of an inference subnet: challenge miners, set weights, settle epochs, get paid.

:class:`Validator` does one round per :meth:`Validator.step` (tests drive it that way) and
:meth:`Validator.run` loops over rounds. Each round, in the subnet's current epoch ``e``:

1. **Reveal** the weights committed in epoch ``e - 1`` (the salt was saved before the commit left
   this process, so a restarted validator reveals what its predecessor committed).
2. **Challenge** every miner once per epoch (a UID with an announced endpoint and no validator
   permit): each gets its own fresh random digits from scikit-learn's data set, whose true labels
   and whose reference answers (the ``onnx-classify`` workload on the digits model) are known;
   accuracy, agreement with the reference and latency are recorded.
3. **Commit** weights from those scores (:mod:`agora.subnet.weights`: capped, u16): a miner's
   score is ``agreement ** score_power`` times a mild latency factor, so a miner that copies or
   guesses is worth next to nothing. The ``dishonest`` mode reverses the ranking (for the demo).
4. **Settle** every started epoch it has not settled: compute it with
   :meth:`~agora.subnet.subnets.Subnets.compute_epoch` from the chain and the bonds carried from
   the previous epoch (kept here by epoch; the claim's ``state`` is the digest of the bonds it
   carries on), sign the claim, serve the signature (``GET /epoch/<e>/signature``) and the
   leaves (``GET /epoch/<e>/leaves``) to the other validators; then either post it with the
   signatures of the peers that signed the *same* claim once they hold a quorum of stake, or, if
   a result is already posted, check it: the same claim is agreed, another one is proven wrong
   with :func:`~agora.subnet.settlement.check_leaves` and disputed when the chain can prove it.
5. **Claim** its own leaf of every final result and ``finalize`` it (which hands the registry
   the epoch's prune candidate).

Every decision is in a SQLite file (:func:`agora.storage.state.open_state_db`), written before
the transaction it leads to, and every transaction is preceded by a look at the chain (is the
commit there, the reveal done, the result posted, the leaf claimed?), so a crash and restart
repeats nothing and loses nothing. The file is locked for the validator's lifetime.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import sqlite3
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, fields, replace
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import numpy as np
from eth_utils.address import to_checksum_address
from fastapi import FastAPI
from fastapi.responses import JSONResponse

from agora.chain import Backoff, Signer
from agora.chain.eip712 import keccak256, recover_hash
from agora.errors import ConfigError, Reverted
from agora.storage.state import immediate_transaction, lock_state, open_state_db
from agora.subnet.miner import fetch_endpoint, reference_labels, serve_app, stop_app
from agora.subnet.settlement import (
    QUORUM,
    EpochClaim,
    check_leaves,
    consensus_root,
    epoch_digest,
    epoch_key,
    leaves_proof,
    leaves_root,
)
from agora.subnet.subnets import SettledEpoch, Subnets, weights_commit_hash
from agora.subnet.weights import U16_MAX, normalize_max_weight, weights_to_u16
from agora.workloads.digits import load_digits_arrays

if TYPE_CHECKING:
    from numpy.typing import NDArray

__all__ = [
    "VALIDATOR_MODES",
    "MinerScore",
    "Validator",
    "bonds_digest",
    "claim_from_json",
    "claim_to_json",
    "compute_settled",
    "compute_with_history",
    "create_validator_app",
    "gather_signatures",
    "has_quorum",
    "quorum_stake",
    "validator_db_path",
]

log = logging.getLogger("agora.subnet.validator")

#: ``honest`` sets weights by score; ``dishonest`` reverses the ranking (away from consensus).
VALIDATOR_MODES = ("honest", "dishonest")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS scores (
    epoch INTEGER, uid INTEGER, hotkey TEXT, endpoint TEXT, accuracy REAL, agreement REAL,
    latency_ms REAL, score REAL, error TEXT, PRIMARY KEY (epoch, uid)
);
CREATE TABLE IF NOT EXISTS weights (
    epoch INTEGER PRIMARY KEY, uids TEXT NOT NULL, vals TEXT NOT NULL, salt BLOB NOT NULL,
    commit_hash BLOB NOT NULL, status TEXT NOT NULL, commit_tx TEXT, reveal_tx TEXT, updated REAL
);
CREATE TABLE IF NOT EXISTS bonds (epoch INTEGER PRIMARY KEY, n INTEGER, bonds BLOB, digest BLOB);
CREATE TABLE IF NOT EXISTS results (
    epoch INTEGER PRIMARY KEY, claim TEXT NOT NULL, signature BLOB, accounts TEXT NOT NULL,
    amounts TEXT NOT NULL, uid INTEGER, status TEXT NOT NULL, note TEXT, updated REAL
);
CREATE TABLE IF NOT EXISTS yuma (epoch INTEGER PRIMARY KEY, consensus TEXT NOT NULL, ranks TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS payouts (
    epoch INTEGER PRIMARY KEY, amount TEXT, claim_tx TEXT, finalized INTEGER DEFAULT 0
);
CREATE TABLE IF NOT EXISTS decisions (
    id INTEGER PRIMARY KEY AUTOINCREMENT, epoch INTEGER, event TEXT NOT NULL, detail TEXT, at REAL
);
"""
#: Result states: ``signed`` (computed and signed, not yet on chain), ``computed`` (no permit to
#: sign), ``posted`` (posted by us), ``agreed`` (someone posted the same claim), ``disputed`` (we
#: proved a posted one wrong; ours goes next), ``differs`` (a posted claim differs and the chain
#: cannot prove it wrong), ``failed`` (could not be computed).
_OPEN_RESULTS = ("signed", "computed", "disputed")


def validator_db_path(folder: Path, netuid: int, address: str) -> Path:
    """Where the validator of ``address`` in subnet ``netuid`` keeps its state in ``folder``."""
    return Path(folder) / f"validator-{netuid}-{address.lower()}.db"


def bonds_digest(bonds: NDArray[Any]) -> bytes:
    """The ``state`` a claim carries: ``keccak256(n ‖ bonds as big-endian u16, row by row)``."""
    b = np.asarray(bonds)
    return keccak256(len(b).to_bytes(32, "big") + b.astype(">u2").tobytes())


def claim_to_json(claim: EpochClaim) -> dict[str, Any]:
    """An :class:`EpochClaim` as JSON (bytes as 0x-hex, integers as numbers)."""
    return {f.name: ("0x" + v.hex() if isinstance(v := getattr(claim, f.name), bytes) else v) for f in fields(claim)}


def claim_from_json(data: dict[str, Any]) -> EpochClaim:
    """The :class:`EpochClaim` that :func:`claim_to_json` wrote."""
    names = {f.name for f in fields(EpochClaim)}
    values: dict[str, Any] = {
        k: bytes.fromhex(v[2:]) if isinstance(v, str) and v.startswith("0x") else int(v)
        for k, v in data.items()
        if k in names
    }
    return EpochClaim(**values)


def _jlog(event: str, **kw: Any) -> None:
    log.info(json.dumps({"event": event, **kw}, default=str, separators=(",", ":")))


def compute_settled(subnets: Subnets, netuid: int, e: int, carried: NDArray[Any] | None) -> SettledEpoch:
    """Epoch ``e`` as every honest validator computes it: :meth:`Subnets.compute_epoch` with the
    bonds ``carried`` from epoch ``e - 1``, its claim's ``state`` the digest of the bonds it carries
    on (:func:`bonds_digest`)."""
    bonds = None if carried is None else np.asarray(carried, dtype=np.int64)
    settled = subnets.compute_epoch(netuid, e, bonds)
    return replace(settled, claim=replace(settled.claim, state=bonds_digest(np.asarray(settled.result.bonds))))


def compute_with_history(subnets: Subnets, netuid: int, e: int) -> SettledEpoch:
    """Epoch ``e`` computed with the bonds carried from epoch 1 on (what a validator without kept
    bonds does: one computation per epoch)."""
    if e < 1:
        raise ConfigError(f"epochs count from 1, not {e}")
    carried: NDArray[Any] | None = None
    for k in range(1, e + 1):
        settled = compute_settled(subnets, netuid, k, carried)
        carried = np.asarray(settled.result.bonds)
    return settled


def quorum_stake(subnets: Subnets, netuid: int, e: int) -> dict[int, int]:
    """Epoch ``e``'s permitted UIDs and their stakes at its block (what the quorum counts)."""
    reg = subnets.registry
    permits = int(reg.permits_at(netuid, e))
    blk = int(reg.epoch_block(netuid, e)) - 1
    return {uid: int(reg.stake_at(netuid, uid, blk)) for uid in range(permits.bit_length()) if permits >> uid & 1}


def has_quorum(signed: int, permitted: int) -> bool:
    """Whether ``signed`` of ``permitted`` stake is a quorum (at least 2/3), as the contract counts."""
    return permitted > 0 and signed * QUORUM[1] >= permitted * QUORUM[0]


def gather_signatures(
    subnets: Subnets,
    netuid: int,
    e: int,
    claim: EpochClaim,
    fetch: Callable[[int], bytes | None],
    own: dict[str, bytes] | None = None,
) -> tuple[dict[str, bytes], int, int]:
    """The signatures of ``claim`` by epoch ``e``'s permitted validators: ``own`` ones (hotkey ->
    signature) and what ``fetch(uid)`` returns for the others, kept only where the signature
    recovers to that UID's hotkey for this very claim. ``(signatures, signed stake, permitted stake)``."""
    stakes = quorum_stake(subnets, netuid, e)
    digest = epoch_digest(subnets.domain, netuid, e, claim)
    sigs: dict[str, bytes] = {}
    signed = 0
    for uid, stake in stakes.items():
        hotkey = str(to_checksum_address(subnets.registry.hotkey_of(netuid, uid)))
        sig = (own or {}).get(hotkey)
        if sig is None:
            sig = fetch(uid)
        if sig is not None and recover_hash(digest, sig) == hotkey:
            sigs[hotkey] = sig
            signed += stake
    return sigs, signed, sum(stakes.values())


@dataclass(frozen=True)
class MinerScore:
    """How one miner answered one epoch's challenge."""

    uid: int
    hotkey: str
    endpoint: str
    accuracy: float  # against the true labels
    agreement: float  # against the reference model's answers
    latency_ms: float
    score: float
    error: str = ""


class Validator:
    """One validator's daemon for subnet ``netuid``, acting as ``hotkey``.

    ``state_dir`` holds its SQLite file (locked while it lives: a second validator on the same
    state raises :class:`~agora.storage.state.StateLocked`). ``peers`` maps UIDs to the URLs of
    other validators (default: what they announced on chain); ``endpoint`` is announced on
    chain for this validator if given. With ``serve=True`` the signature server runs on
    ``host:port`` (0: a free port) and its URL is announced.
    """

    def __init__(
        self,
        subnets: Subnets,
        netuid: int,
        hotkey: Signer,
        state_dir: Path,
        *,
        mode: str = "honest",
        challenge_size: int = 16,
        score_power: float = 8.0,
        latency_scale_s: float = 2.0,
        timeout_s: float = 5.0,
        peers: dict[int, str] | None = None,
        serve: bool = False,
        host: str = "127.0.0.1",
        port: int = 0,
        advance: bool = False,
        poll_interval: float = 1.0,
        seed: int | None = None,
    ) -> None:
        if mode not in VALIDATOR_MODES:
            raise ConfigError(f"unknown validator mode {mode!r} (one of {', '.join(VALIDATOR_MODES)})")
        if challenge_size < 1:
            raise ConfigError("a challenge has at least one input")
        self.subnets = subnets
        self.chain = subnets.chain
        self.netuid = netuid
        self.hotkey = hotkey
        self.address: str = str(to_checksum_address(hotkey.address))
        self.mode = mode
        self.challenge_size = challenge_size
        self.score_power = score_power
        self.latency_scale_s = latency_scale_s
        self.timeout_s = timeout_s
        self.peers = dict(peers or {})
        self.advance = advance
        self.poll_interval = poll_interval
        self._rng = np.random.default_rng(seed if seed is not None else int.from_bytes(os.urandom(8), "big"))
        if not bool(subnets.registry.is_registered(netuid, self.address)):
            raise ConfigError(
                f"{self.address} is not registered in subnet {netuid}",
                hint="register it first with `agora subnet register`",
            )
        path = validator_db_path(state_dir, netuid, self.address)
        self._lock = lock_state(path, f"another validator is already running for {self.address}")
        try:
            self.db = open_state_db(path, schema=_SCHEMA)
        except BaseException:
            self._lock.release()
            raise
        self._db_lock = threading.RLock()
        self._stop = threading.Event()
        self.backoff = Backoff(log=log, sleep=self._stop.wait)
        self._http = httpx.Client(timeout=timeout_s)
        self._server: Any = None
        self._posted_yuma: dict[int, tuple[list[int], list[int]]] = {}
        self._thread: threading.Thread | None = None
        self.url = ""
        # the reference model is loaded now: the first epoch's challenge is no slower than the next
        reference_labels(np.zeros((1, 64), dtype=np.float32))
        if self._meta("first_epoch") is None:
            self._set_meta("first_epoch", str(max(1, subnets.current_epoch(netuid))))
        if serve:
            try:
                self.start_server(host, port)
            except BaseException:
                self.close()
                raise

    # -- durable state ---------------------------------------------------------------
    def _meta(self, key: str) -> str | None:
        with self._db_lock:
            row = self.db.execute("SELECT value FROM meta WHERE key=?", (key,)).fetchone()
        return row[0] if row else None

    def _set_meta(self, key: str, value: str) -> None:
        with self._db_lock:
            self.db.execute("INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)", (key, value))

    def _tx(self) -> contextlib.AbstractContextManager[sqlite3.Connection]:
        """Several writes in one transaction (all or none)."""
        return immediate_transaction(self.db, self._db_lock)

    def _decide(self, epoch: int, event: str, *, once: bool = False, **detail: Any) -> None:
        """Record a decision (and log it); with ``once``, only if none of that kind was recorded for
        that epoch yet (a refusal met again each round is recorded once)."""
        if once and self._decided(epoch, event):
            return
        with self._db_lock:
            self.db.execute(
                "INSERT INTO decisions(epoch, event, detail, at) VALUES (?,?,?,?)",
                (epoch, event, json.dumps(detail, default=str), time.time()),
            )
        _jlog(event, validator=self.address, epoch=epoch, **detail)

    def decisions(self, event: str | None = None) -> list[tuple[int, str, dict[str, Any]]]:
        """Every recorded decision ``(epoch, event, detail)``, oldest first (optionally one kind)."""
        with self._db_lock:
            rows = self.db.execute("SELECT epoch, event, detail FROM decisions ORDER BY id").fetchall()
        return [(int(e), ev, json.loads(d)) for e, ev, d in rows if event is None or ev == event]

    def scores(self, epoch: int) -> list[MinerScore]:
        """The miners' scores recorded in ``epoch``."""
        with self._db_lock:
            rows = self.db.execute(
                "SELECT uid, hotkey, endpoint, accuracy, agreement, latency_ms, score, error "
                "FROM scores WHERE epoch=? ORDER BY uid",
                (epoch,),
            ).fetchall()
        return [MinerScore(*r) for r in rows]

    def weights(self, epoch: int) -> tuple[list[int], list[int], str] | None:
        """The weights committed in ``epoch`` ``(uids, values, status)``, if any."""
        with self._db_lock:
            row = self.db.execute("SELECT uids, vals, status FROM weights WHERE epoch=?", (epoch,)).fetchone()
        return (json.loads(row[0]), json.loads(row[1]), row[2]) if row else None

    def result(self, epoch: int) -> dict[str, Any] | None:
        """This validator's result of ``epoch``: its claim, signature, leaves and status."""
        with self._db_lock:
            row = self.db.execute(
                "SELECT claim, signature, accounts, amounts, uid, status, note FROM results WHERE epoch=?", (epoch,)
            ).fetchone()
        if row is None:
            return None
        return {
            "epoch": epoch,
            "claim": json.loads(row[0]),
            "signature": "0x" + row[1].hex() if row[1] else None,
            "accounts": json.loads(row[2]),
            "amounts": [int(a) for a in json.loads(row[3])],
            "uid": row[4],
            "status": row[5],
            "note": row[6],
            "hotkey": self.address,
        }

    # -- the round ---------------------------------------------------------------------
    def step(self) -> None:
        """One round (see the module's docstring): reveal, challenge, commit, settle, claim."""
        if self.advance:
            self._maybe_advance()
        e = self.subnets.current_epoch(self.netuid)
        if e == 0:
            return
        uid = self._my_uid()
        if uid is None:
            return
        permit = self._has_permit(e, uid)
        self._reveal(e)
        if permit:
            if not self._scored(e):
                self._challenge(e, uid)
            self._commit(e)
        first = int(self._meta("first_epoch") or e)
        for ep in range(first, e + 1):
            self._settle(ep)
        self._claim_and_finalize()

    def run(self, until: Callable[[], bool] | None = None) -> None:
        """Run rounds until :meth:`stop` (or ``until()``), backing off while the node is away."""
        _jlog("started", validator=self.address, netuid=self.netuid, url=self.url)
        self.backoff.run(self.step, self._stop, lambda: self.poll_interval, until)
        self.close()

    def stop(self) -> None:
        """Ask :meth:`run` to finish its round and exit."""
        self._stop.set()

    def close(self) -> None:
        """Stop the server and release the state (idempotent)."""
        stop_app(self._server, self._thread)
        self._server = self._thread = None
        self._http.close()
        with self._db_lock:
            with contextlib.suppress(Exception):
                self.db.close()
        self._lock.release()

    # -- chain views -----------------------------------------------------------------------
    def _my_uid(self) -> int | None:
        reg = self.subnets.registry
        if not bool(reg.is_registered(self.netuid, self.address)):
            return None
        return int(reg.uid_of(self.netuid, self.address))

    def _has_permit(self, e: int, uid: int) -> bool:
        return bool(int(self.subnets.registry.permits_at(self.netuid, e)) >> uid & 1)

    def _maybe_advance(self) -> None:
        reg = self.subnets.registry
        e = self.subnets.current_epoch(self.netuid)
        due = int(reg.epoch_block(self.netuid, e)) + int(self.subnets.hyperparams(self.netuid)["tempo"])
        if self.chain.block_number() + 1 >= due:
            try:
                self.subnets.advance_epoch(self.netuid, self.hotkey)
            except Reverted:
                pass  # another validator advanced it first, or it is not due yet

    def endpoint(self, uid: int) -> str:
        """The URL of UID ``uid``: a configured peer's, else the one it announced on chain."""
        if uid in self.peers:
            return self.peers[uid].rstrip("/")
        try:
            return fetch_endpoint(self.subnets, self.netuid, uid)
        except ConfigError:  # a registry without endpoints
            return ""

    # -- 1. reveal -------------------------------------------------------------------------
    def _reveal(self, e: int) -> None:
        with self._db_lock:
            rows = self.db.execute(
                "SELECT epoch, uids, vals, salt, commit_hash FROM weights "
                "WHERE status IN ('pending', 'committed') AND epoch < ?",
                (e,),
            ).fetchall()
        uid = self._my_uid()
        if uid is None:
            return
        for ce, uids_s, vals_s, salt, commit_hash in rows:
            onchain, onchain_epoch, pending = self.subnets.registry.pending_commit(self.netuid, uid)
            if not (pending and bytes(onchain) == bytes(commit_hash) and int(onchain_epoch) == ce):
                # not ours on chain any more: revealed before a crash, never sent, or replaced
                status = "revealed" if bytes(onchain) == bytes(commit_hash) else "lost"
                self._set_weights_status(ce, status)
                self._decide(ce, f"weights_{status}", reason="found so on chain")
                continue
            if e != ce + 1:
                self._set_weights_status(ce, "expired")
                self._decide(ce, "weights_expired", reason="the reveal epoch is over")
                continue
            uids, vals = json.loads(uids_s), json.loads(vals_s)
            try:
                receipt = self.subnets.reveal_weights(self.netuid, self.hotkey, uids, vals, bytes(salt))
            except Reverted as exc:
                self._decide(ce, "reveal_refused", once=True, reason=exc.reason)
                continue
            self._set_weights_status(ce, "revealed", reveal_tx=receipt.tx_hash)
            self._decide(ce, "weights_revealed", uids=uids, values=vals, tx=receipt.tx_hash)

    def _set_weights_status(self, epoch: int, status: str, **cols: Any) -> None:
        sets = ", ".join(f"{k}=?" for k in ("status", *cols, "updated"))
        with self._db_lock:
            self.db.execute(f"UPDATE weights SET {sets} WHERE epoch=?", (status, *cols.values(), time.time(), epoch))

    # -- 2. challenge ----------------------------------------------------------------------
    def _scored(self, e: int) -> bool:
        with self._db_lock:
            return (
                self.db.execute("SELECT 1 FROM decisions WHERE epoch=? AND event='scored'", (e,)).fetchone() is not None
            )

    def miners(self, e: int, me: int) -> list[tuple[int, str, str]]:
        """The UIDs to challenge in epoch ``e``: ``(uid, hotkey, endpoint)`` of every other UID
        without a validator permit that announced an endpoint."""
        permits = int(self.subnets.registry.permits_at(self.netuid, e))
        out: list[tuple[int, str, str]] = []
        for uid in range(self.subnets.size(self.netuid)):
            if uid == me or permits >> uid & 1:
                continue
            url = self.endpoint(uid)
            if url:
                out.append((uid, str(to_checksum_address(self.subnets.registry.hotkey_of(self.netuid, uid))), url))
        return out

    def _challenge(self, e: int, me: int) -> None:
        miners = self.miners(e, me)
        images, labels = load_digits_arrays()
        k = self.challenge_size
        # distinct inputs for every miner (a copier cannot reuse another miner's answers)
        picks = self._rng.choice(len(images), size=k * len(miners), replace=k * len(miners) > len(images))
        x = images[picks].astype(np.float32)
        truth = labels[picks]
        reference = reference_labels(x) if len(x) else np.zeros(0, dtype=np.int64)

        def ask(i: int) -> MinerScore:
            uid, hotkey, url = miners[i]
            part = slice(i * k, (i + 1) * k)
            t = time.perf_counter()
            try:
                r = self._http.post(f"{url}/infer", json={"inputs": x[part].tolist()})
                r.raise_for_status()
                answer = np.asarray(r.json()["labels"], dtype=np.int64)
                if answer.shape != (k,):
                    raise ValueError(f"{len(answer)} labels for {k} inputs")
            except (httpx.HTTPError, ValueError, KeyError, TypeError) as exc:
                return MinerScore(uid, hotkey, url, 0.0, 0.0, (time.perf_counter() - t) * 1e3, 0.0, str(exc)[:200])
            latency = time.perf_counter() - t
            accuracy = float((answer == truth[part]).mean())
            agreement = float((answer == reference[part]).mean())
            score = agreement**self.score_power / (1.0 + latency / self.latency_scale_s)
            return MinerScore(uid, hotkey, url, accuracy, agreement, latency * 1e3, score)

        with ThreadPoolExecutor(max_workers=max(1, min(8, len(miners)))) as pool:
            results = list(pool.map(ask, range(len(miners))))
        with self._tx() as db:
            for s in results:
                db.execute(
                    "INSERT OR REPLACE INTO scores VALUES (?,?,?,?,?,?,?,?,?)",
                    (e, s.uid, s.hotkey, s.endpoint, s.accuracy, s.agreement, s.latency_ms, s.score, s.error),
                )
            db.execute(
                "INSERT INTO decisions(epoch, event, detail, at) VALUES (?,?,?,?)",
                (e, "scored", json.dumps({s.uid: round(s.score, 6) for s in results}), time.time()),
            )
        _jlog("scored", validator=self.address, epoch=e, scores={s.uid: round(s.score, 4) for s in results})

    def weights_for(self, scores: list[MinerScore]) -> tuple[list[int], list[int]]:
        """The (uids, u16 values) to commit for ``scores``, by this validator's mode."""
        if not scores:
            return [], []
        uids = [s.uid for s in scores]
        w = np.array([s.score for s in scores], dtype=np.float64)
        if self.mode == "dishonest":
            # the ranking reversed, and steep: the worst miner gets 2**(k-1) times what the best gets
            order = np.argsort(-w, kind="stable")
            w = np.empty(len(w))
            w[order] = 2.0 ** np.arange(len(w))
        limit = int(self.subnets.hyperparams(self.netuid)["max_weight_limit"]) / U16_MAX
        if limit < 1 and w.sum() > 0:
            w = normalize_max_weight(w, limit)
        order = np.argsort(uids)
        return weights_to_u16(np.asarray(uids)[order], w[order])

    # -- 3. commit ---------------------------------------------------------------------------
    def _commit(self, e: int) -> None:
        uid = self._my_uid()
        with self._db_lock:
            row = self.db.execute(
                "SELECT uids, vals, salt, commit_hash, status FROM weights WHERE epoch=?", (e,)
            ).fetchone()
        if row is None:
            uids, vals = self.weights_for(self.scores(e))
            if not uids:
                self._decide(e, "no_weights", once=True, reason="no miner scored above 0")
                return
            salt = os.urandom(32)
            commit_hash = weights_commit_hash(self.netuid, self.address, uids, vals, salt)
            # saved before the commit leaves this process: a restart can still reveal it
            with self._db_lock:
                self.db.execute(
                    "INSERT INTO weights(epoch, uids, vals, salt, commit_hash, status, updated) VALUES (?,?,?,?,?,?,?)",
                    (e, json.dumps(uids), json.dumps(vals), salt, commit_hash, "pending", time.time()),
                )
        else:
            uids, vals, salt, commit_hash, status = json.loads(row[0]), json.loads(row[1]), row[2], row[3], row[4]
            if status != "pending":
                return
            onchain, onchain_epoch, pending = self.subnets.registry.pending_commit(self.netuid, uid)
            if pending and bytes(onchain) == bytes(commit_hash) and int(onchain_epoch) == e:
                self._set_weights_status(e, "committed")  # sent before a crash: already there
                self._decide(e, "weights_committed", uids=uids, values=vals, reason="found on chain")
                return
        try:
            receipt = self.subnets.registry.commit_weights(self.netuid, bytes(commit_hash), sender=self.hotkey)
        except Reverted as exc:
            self._decide(e, "commit_refused", once=True, reason=exc.reason)
            return
        self._set_weights_status(e, "committed", commit_tx=receipt.tx_hash)
        self._decide(e, "weights_committed", uids=uids, values=vals, tx=receipt.tx_hash)

    def _decided(self, e: int, event: str) -> bool:
        with self._db_lock:
            return (
                self.db.execute("SELECT 1 FROM decisions WHERE epoch=? AND event=?", (e, event)).fetchone() is not None
            )

    # -- 4. settle -----------------------------------------------------------------------------
    def bonds_after(self, e: int) -> NDArray[np.int64] | None:
        """The bonds epoch ``e`` carries to the next one (None for none: before epoch 1), computed
        forward from the latest epoch whose bonds are kept here (or from epoch 1)."""
        if e < 1:
            return None
        with self._db_lock:
            row = self.db.execute(
                "SELECT epoch, n, bonds FROM bonds WHERE epoch<=? ORDER BY epoch DESC LIMIT 1", (e,)
            ).fetchone()
        if row is not None and int(row[0]) == e:
            n = int(row[1])
            return np.frombuffer(row[2], dtype=">u2").reshape(n, n).astype(np.int64)
        start = int(row[0]) + 1 if row is not None else 1
        for k in range(start, e + 1):  # each one kept by _compute, so the next reads it back
            settled = self._compute(k)
        return np.asarray(settled.result.bonds, dtype=np.int64)

    def _compute(self, e: int) -> SettledEpoch:
        """Epoch ``e`` computed from the chain and the bonds carried from ``e - 1``; its bonds kept."""
        settled = compute_settled(self.subnets, self.netuid, e, self.bonds_after(e - 1))
        bonds = np.asarray(settled.result.bonds)
        with self._tx() as db:
            db.execute(
                "INSERT OR REPLACE INTO bonds VALUES (?,?,?,?)",
                (e, len(bonds), bonds.astype(">u2").tobytes(), settled.claim.state),
            )
            db.execute(
                "INSERT OR REPLACE INTO yuma VALUES (?,?,?)",
                (e, json.dumps([str(c) for c in settled.consensus]), json.dumps([str(r) for r in settled.ranks])),
            )
        return settled

    def yuma(self, epoch: int) -> tuple[list[int], list[int]] | None:
        """This validator's (consensus, ranks) of ``epoch`` (1e18 fixed point), what its claim's
        consensus root commits to; None before it computed the epoch."""
        with self._db_lock:
            row = self.db.execute("SELECT consensus, ranks FROM yuma WHERE epoch=?", (epoch,)).fetchone()
        if row is None:
            return None
        return [int(c) for c in json.loads(row[0])], [int(r) for r in json.loads(row[1])]

    def _settle(self, e: int) -> None:
        res = self.result(e)
        if res is None:
            uid = self._my_uid()
            try:
                settled = self._compute(e)
            except (ValueError, ConfigError) as exc:
                self._decide(e, "compute_failed", once=True, reason=str(exc)[:200])
                return
            permit = uid is not None and self._has_permit(e, uid)
            sig = self.subnets.sign(self.netuid, e, settled.claim, self.hotkey)[1] if permit else None
            with self._db_lock:
                self.db.execute(
                    "INSERT INTO results VALUES (?,?,?,?,?,?,?,?,?)",
                    (
                        e,
                        json.dumps(claim_to_json(settled.claim)),
                        sig,
                        json.dumps(settled.accounts),
                        json.dumps([str(a) for a in settled.amounts]),
                        uid,
                        "signed" if permit else "computed",
                        None,
                        time.time(),
                    ),
                )
            self._decide(
                e,
                "computed",
                root="0x" + settled.claim.root.hex(),
                total=settled.claim.total,
                prune_uid=settled.claim.prune_uid,
                signed=permit,
            )
            res = self.result(e)
            assert res is not None
        if res["status"] not in _OPEN_RESULTS:
            return
        claim = claim_from_json(res["claim"])
        posted = self._posted(e)
        if posted is None:
            if res["status"] != "computed":
                self._try_post(e, claim, res)
            return
        mine = (claim.root, claim.total, claim.prune_uid, claim.state)
        if posted["claim"] == mine:
            self._set_result(e, "agreed")
            self._decide(e, "agreed", root="0x" + claim.root.hex())
            return
        self._check_posted(e, res, posted)

    def _set_result(self, e: int, status: str, note: str | None = None) -> None:
        with self._db_lock:
            self.db.execute(
                "UPDATE results SET status=?, note=?, updated=? WHERE epoch=?", (status, note, time.time(), e)
            )

    def _posted(self, e: int) -> dict[str, Any] | None:
        """Epoch ``e``'s pending or final result on chain (None if none, or rejected): read from
        the views (not the logs, which a long chain makes slow to search)."""
        s = self.subnets.settlement
        result = s.result(epoch_key(self.netuid, e))
        if int(result[-1]) != 1:
            return None
        posted = s.posted(self.netuid, e)
        return {"claim": (bytes(result[0]), int(result[1]), int(posted[1]), bytes(posted[2]))}

    def _try_post(self, e: int, claim: EpochClaim, res: dict[str, Any]) -> None:
        own = {self.address: bytes.fromhex(res["signature"][2:])}
        sigs, signed, permitted = gather_signatures(
            self.subnets, self.netuid, e, claim, lambda uid: self._fetch_signature(uid, e), own
        )
        if not has_quorum(signed, permitted):
            return  # not yet: the others have not computed it (next round asks again)
        try:
            receipt = self.subnets.post_epoch(self.netuid, e, claim, list(sigs.items()), self.hotkey)
        except Reverted as exc:
            self._decide(e, "post_refused", once=True, reason=exc.reason)
            return
        self._set_result(e, "posted", note=receipt.tx_hash)
        self._decide(
            e,
            "posted",
            root="0x" + claim.root.hex(),
            signers=sorted(sigs),
            tx=receipt.tx_hash,
            signed_stake=signed,
            permitted_stake=permitted,
        )

    def _fetch_signature(self, uid: int, e: int) -> bytes | None:
        url = self.endpoint(uid)
        if not url:
            return None
        try:
            r = self._http.get(f"{url}/epoch/{e}/signature")
            if r.status_code != 200:
                return None
            return bytes.fromhex(str(r.json()["signature"]).removeprefix("0x"))
        except (httpx.HTTPError, ValueError, KeyError, TypeError):
            return None

    def _check_posted(self, e: int, res: dict[str, Any], posted: dict[str, Any]) -> None:
        """A posted result that differs from ours: prove it wrong if the chain can."""
        root, total, prune_uid, _state = posted["claim"]
        leaves = self._fetch_posted_leaves(e, self.subnets.signers(self.netuid, e), root)
        if leaves is None:
            self._set_result(e, "differs", note="the posted leaves are nowhere to be had")
            self._decide(e, "differs", reason="no signer serves the posted leaves", root="0x" + root.hex())
            return
        accounts, amounts = leaves
        x = self.subnets.epoch_inputs(self.netuid, e)
        n = self.subnets.size(self.netuid)
        reg = self.subnets.registry
        coldkeys: list[str | None] = []
        for uid in range(n):
            same = (
                uid < len(x.coldkeys)
                and x.coldkeys[uid]
                and int(reg.registered_at(self.netuid, uid)) == int(x.registered_at[uid])
            )
            coldkeys.append(x.coldkeys[uid] if same else None)
        registered = [int(reg.registered_at(self.netuid, uid)) for uid in range(n)]
        reason = check_leaves(
            accounts,
            amounts,
            total=total,
            size=n,
            subnet_owner=to_checksum_address(reg.subnet_owner(self.netuid)),
            coldkeys=coldkeys,
            registered_at=registered,
            epoch_block=x.block,
            immunity=x.immunity_period,
            prune_uid=prune_uid,
        )
        if not reason:
            self._dispute_yuma(e, root, accounts, amounts)
            return
        try:
            receipt = self.subnets.dispute_leaves(self.netuid, e, accounts, amounts, self.hotkey)
        except Reverted as exc:
            self._decide(e, "dispute_refused", once=True, reason=exc.reason)
            return
        self._set_result(e, "disputed", note=reason)
        self._decide(e, "disputed", reason=reason, tx=receipt.tx_hash)

    def _dispute_yuma(self, e: int, root: bytes, accounts: list[str], amounts: list[int]) -> None:
        """Leaves that check out but differ from ours: prove the Yuma arithmetic wrong through the
        verifier — the first UID whose committed consensus or rank differs from ours
        (``dispute_consensus``), else the payments against the incentives (``dispute_incentive``).
        Needs the posted consensus lists (served by a signer); without them, or when every proof
        checks out, the result is marked ``differs``."""
        posted = self._posted_yuma.get(e)
        mine = self.yuma(e)
        attempts: list[tuple[str, Callable[[], Any]]] = []
        if posted is not None and mine is not None:
            cs, rs = posted
            tol = 10**9 + len(cs)  # the verifier's tolerance, and a unit per voter
            differs = [u for u in range(min(len(cs), len(mine[0])))
                       if abs(cs[u] - mine[0][u]) > tol or abs(rs[u] - mine[1][u]) > tol]
            for uid in differs[:3]:
                attempts.append((f"consensus of UID {uid}", partial(
                    self.subnets.dispute_consensus, self.netuid, e, None, uid, self.hotkey, consensus=cs, ranks=rs)))
            attempts.append(("incentive", partial(
                self.subnets.dispute_incentive, self.netuid, e, cs, rs, accounts, amounts, self.hotkey)))
        for what, attempt in attempts:
            try:
                receipt = attempt()
            except Reverted as exc:
                self._decide(e, "dispute_refused", reason=f"{what}: {exc.reason}")
                continue
            (ev,) = self.subnets.settlement.events_in(receipt, "EpochDisputed")
            self._set_result(e, "disputed", note=str(ev.args["reason"]))
            self._decide(e, "disputed", reason=str(ev.args["reason"]), tx=receipt.tx_hash)
            return
        why = "unprovable" if posted is not None else "the posted consensus lists are nowhere to be had"
        self._set_result(e, "differs", note="differs from ours; the chain cannot prove it wrong")
        self._decide(e, "differs", reason=why, root="0x" + root.hex())

    def _fetch_posted_leaves(self, e: int, signers: list[str], root: bytes) -> tuple[list[str], list[int]] | None:
        """The posted result's leaves, from the first signer that serves ones rebuilding ``root``
        (and, kept in ``self._posted_yuma[e]``, its consensus lists if they rebuild the posted
        consensus root)."""
        reg = self.subnets.registry
        croot = bytes(self.subnets.settlement.posted(self.netuid, e)[5])
        for hotkey in signers:
            if not bool(reg.is_registered(self.netuid, hotkey)):
                continue
            url = self.endpoint(int(reg.uid_of(self.netuid, hotkey)))
            if not url:
                continue
            try:
                r = self._http.get(f"{url}/epoch/{e}/leaves")
                data = r.json()
                accounts = [str(to_checksum_address(a)) for a in data["accounts"]]
                amounts = [int(a) for a in data["amounts"]]
            except (httpx.HTTPError, ValueError, KeyError, TypeError):
                continue
            if leaves_root(accounts, amounts) == root:
                try:
                    cs, rs = [int(c) for c in data["consensus"]], [int(r) for r in data["ranks"]]
                    if len(cs) == len(rs) and consensus_root(cs, rs) == croot:
                        self._posted_yuma[e] = (cs, rs)
                except (KeyError, ValueError, TypeError):
                    pass
                return accounts, amounts
        return None

    # -- 5. claim and finalize ---------------------------------------------------------------
    def _claim_and_finalize(self) -> None:
        with self._db_lock:
            rows = self.db.execute(
                "SELECT r.epoch FROM results r LEFT JOIN payouts p ON p.epoch = r.epoch "
                "WHERE r.status IN ('posted', 'agreed') AND (p.epoch IS NULL OR p.finalized = 0) "
                "ORDER BY r.epoch"
            ).fetchall()
        for (e,) in rows:
            if not self.subnets.is_final(self.netuid, e):
                continue
            res = self.result(e)
            assert res is not None
            self._claim(e, res)
            try:
                receipt = self.subnets.finalize(self.netuid, e, self.hotkey)
                self._decide(e, "finalized", prune_uid=res["claim"].get("prune_uid"), tx=receipt.tx_hash)
            except Reverted as exc:
                self._decide(e, "finalized", reason=exc.reason)
            with self._db_lock:
                self.db.execute("UPDATE payouts SET finalized=1 WHERE epoch=?", (e,))

    def _claim(self, e: int, res: dict[str, Any]) -> None:
        with self._db_lock:
            if self.db.execute("SELECT 1 FROM payouts WHERE epoch=?", (e,)).fetchone():
                return
        uid, accounts, amounts = res["uid"], res["accounts"], res["amounts"]
        s = self.subnets.settlement
        amount, tx = 0, None
        if uid is not None and uid < len(accounts) - 1 and amounts[uid] > 0:
            if not bool(s.claimed(epoch_key(self.netuid, e), uid)):
                try:
                    receipt = s.claim(
                        self.netuid,
                        e,
                        uid,
                        accounts[uid],
                        amounts[uid],
                        leaves_proof(accounts, amounts, uid),
                        sender=self.hotkey,
                    )
                    amount, tx = amounts[uid], receipt.tx_hash
                except Reverted as exc:
                    self._decide(e, "claim_refused", once=True, reason=exc.reason)
                    return
        with self._db_lock:
            self.db.execute(
                "INSERT OR REPLACE INTO payouts(epoch, amount, claim_tx, finalized) VALUES (?,?,?,0)",
                (e, str(amount), tx),
            )
        self._decide(e, "claimed", uid=uid, amount=amount, tx=tx)

    # -- the signature server ------------------------------------------------------------------
    def start_server(self, host: str = "127.0.0.1", port: int = 0, announce: bool = True) -> str:
        """Serve ``GET /epoch/<e>/signature`` and ``/leaves`` on ``host:port``; announce the URL on
        chain (``SubnetRegistry.serve``) unless ``announce`` is false; the URL."""
        self._server, self._thread, bound = serve_app(create_validator_app(self), host, port, "agora-validator")
        where = f"[{host}]" if ":" in host else host
        self.url = f"http://{where}:{bound}"
        if announce:
            from agora.subnet.miner import announce as announce_endpoint

            announce_endpoint(self.subnets, self.netuid, self.hotkey, self.url)
        return self.url


def create_validator_app(validator: Validator) -> FastAPI:
    """A validator's ASGI app: its signed claims and their leaves, for the other validators."""
    app = FastAPI(title=f"Agora subnet validator {validator.address}")

    def signed(e: int) -> dict[str, Any] | JSONResponse:
        res = validator.result(e)
        if res is None or res["signature"] is None:
            return JSONResponse({"error": f"no signed result for epoch {e} yet", "code": "not_found"}, status_code=404)
        return res

    @app.get("/epoch/{e}/signature")
    def signature(e: int) -> Any:
        res = signed(e)
        if isinstance(res, JSONResponse):
            return res
        return {"epoch": e, "hotkey": res["hotkey"], "signature": res["signature"], "claim": res["claim"]}

    @app.get("/epoch/{e}/leaves")
    def leaves(e: int) -> Any:
        res = validator.result(e)
        if res is None:
            return JSONResponse({"error": f"no result for epoch {e} yet", "code": "not_found"}, status_code=404)
        body: dict[str, Any] = {"epoch": e, "accounts": res["accounts"], "amounts": [str(a) for a in res["amounts"]]}
        yuma = validator.yuma(e)
        if yuma is not None:  # what the claim's consensus root commits to: a dispute needs it whole
            body["consensus"], body["ranks"] = [str(c) for c in yuma[0]], [str(r) for r in yuma[1]]
        return body

    @app.get("/health")
    def health() -> dict[str, Any]:
        return {"validator": validator.address, "netuid": validator.netuid, "mode": validator.mode}

    return app
