"""``Client.subnets``: subnets from one account's side — create, register, stake, set weights,
move and settle epochs, read a subnet's neurons, claim emissions, run a miner or a validator.

    >>> netuid = client.subnets.create(tempo=10, max_uids=16, emission=100 * 10**18, fund=10**21)
    >>> uid = client.subnets.register(netuid)                   # the account's own hotkey
    >>> client.subnets.stake(netuid, client.address, 1_000 * 10**18)
    >>> salt = client.subnets.commit_weights(netuid, {3: 1.0, 4: 0.5})
    >>> client.subnets.reveal_weights(netuid)                   # next epoch: the commit kept here
    >>> client.subnets.neurons(netuid)                          # UID, stake, permit, incentive, …

Every check of what a user typed happens here, so that the CLI (and a gateway) only parse and
format: an unknown subnet, a hotkey that is not registered, weights on UIDs the subnet does not
have, negative or all-zero weights, a reveal with nothing committed — each one clear line.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from eth_utils.address import to_checksum_address

from agora.chain import Signer
from agora.chain.evidence import ReceiptBook, receipt_domain
from agora.errors import ConfigError
from agora.storage.state import open_state_db
from agora.subnet.miner import Miner, MinerServer, announce, validate_mode
from agora.subnet.settlement import NO_PRUNE, epoch_key
from agora.subnet.subnets import SettledEpoch, Subnets, weights_commit_hash
from agora.subnet.validator import (
    Validator,
    compute_with_history,
    gather_signatures,
    has_quorum,
)
from agora.subnet.weights import U16_MAX, normalize_max_weight, weights_to_u16
from agora.units import format_amount

if TYPE_CHECKING:
    from agora.protocol import Deployment

__all__ = ["EpochView", "NeuronView", "SubnetsClient", "parse_weights"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS commits (
    netuid INTEGER, hotkey TEXT, epoch INTEGER, uids TEXT, vals TEXT, salt BLOB, revealed INTEGER DEFAULT 0,
    PRIMARY KEY (netuid, hotkey, epoch)
);
"""


@dataclass(frozen=True)
class NeuronView:
    """One UID of a subnet as ``agora subnet show`` lists it (emission of the latest epoch computed)."""

    uid: int
    hotkey: str
    coldkey: str
    stake: int
    permit: bool
    endpoint: str
    incentive: float
    dividends: float
    emission: int

    def to_json(self) -> dict[str, Any]:
        """As ``--json`` prints it (amounts in wei, ``…_wei``)."""
        return {
            "uid": self.uid,
            "hotkey": self.hotkey,
            "coldkey": self.coldkey,
            "stake_wei": self.stake,
            "permit": self.permit,
            "endpoint": self.endpoint,
            "incentive": round(self.incentive, 6),
            "dividends": round(self.dividends, 6),
            "emission_wei": self.emission,
        }


@dataclass(frozen=True)
class EpochView:
    """An epoch computed from the chain, and what the chain holds of it."""

    netuid: int
    epoch: int
    settled: SettledEpoch
    status: str  # "none", "pending", "final", "rejected"
    posted_root: str | None

    def to_json(self) -> dict[str, Any]:
        """As ``--json`` prints it."""
        r, c = self.settled.result, self.settled.claim
        n = len(r.incentive)
        return {
            "netuid": self.netuid,
            "epoch": self.epoch,
            "block": self.settled.inputs.block,
            "root": "0x" + c.root.hex(),
            "total_wei": c.total,
            "prune_uid": None if c.prune_uid == NO_PRUNE else c.prune_uid,
            "state": "0x" + c.state.hex(),
            "status": self.status,
            "posted_root": self.posted_root,
            "matches_posted": self.posted_root == "0x" + c.root.hex() if self.posted_root else None,
            "uids": [
                {
                    "uid": uid,
                    "account": self.settled.accounts[uid],
                    "incentive": round(float(r.incentive[uid]), 6),
                    "dividends": round(float(r.dividends[uid]), 6),
                    "consensus": round(float(r.consensus[uid]), 6),
                    "validator_trust": round(float(r.validator_trust[uid]), 6),
                    "emission_wei": self.settled.amounts[uid],
                }
                for uid in range(n)
            ],
            "owner_cut_wei": self.settled.amounts[n],
        }


def parse_weights(text: str) -> dict[int, float]:
    """``"3:1,4:0.5"`` as ``{3: 1.0, 4: 0.5}``; one clear error for anything else."""
    out: dict[int, float] = {}
    for part in (p.strip() for p in text.split(",")):
        uid_s, sep, w_s = part.partition(":")
        if not sep or not uid_s.strip().isdigit():
            raise ConfigError(f"weights are UID:WEIGHT pairs separated by commas (3:1,4:0.5), not {part!r}")
        try:
            w = float(w_s)
        except ValueError:
            raise ConfigError(f"weight {w_s.strip()!r} of UID {uid_s.strip()} is not a number") from None
        uid = int(uid_s)
        if uid in out:
            raise ConfigError(f"UID {uid} has two weights")
        out[uid] = w
    return out


class SubnetsClient:
    """The subnet layer's facade for one account (``client.subnets``).

    ``signer`` acts (creates, registers as coldkey, stakes, sets weights as hotkey, claims);
    ``state_dir`` keeps the salts of weight commits (so ``reveal_weights`` needs nothing but the
    subnet) and the state of validators started from here.
    """

    def __init__(self, dep: Deployment, signer: Signer | None, state_dir: Path) -> None:
        self.subnets = Subnets(dep)
        self.chain = dep.chain
        self.signer = signer
        self.state_dir = Path(state_dir)

    # -- checks -----------------------------------------------------------------------------
    def _me(self) -> Signer:
        if self.signer is None:
            raise ConfigError("no account to act as", hint="set AGORA_KEYSTORE or AGORA_PRIVATE_KEY")
        return self.signer

    def validate_subnet(self, netuid: int) -> int:
        """``netuid`` if that subnet exists; one clear error otherwise."""
        count = int(self.subnets.registry.subnet_count())
        if not 1 <= netuid <= count:
            known = f"1..{count}" if count else "none yet"
            raise ConfigError(
                f"subnet {netuid} does not exist (subnets: {known})", hint="create one with `agora subnet create`"
            )
        return netuid

    def uid_of(self, netuid: int, hotkey: str) -> int:
        """``hotkey``'s UID in the subnet; one clear error if it is not registered."""
        self.validate_subnet(netuid)
        key = to_checksum_address(hotkey)
        if not bool(self.subnets.registry.is_registered(netuid, key)):
            raise ConfigError(
                f"{key} is not registered in subnet {netuid}", hint="register it with `agora subnet register`"
            )
        return int(self.subnets.registry.uid_of(netuid, key))

    def validate_epoch(self, netuid: int, e: int) -> int:
        """``e`` if the subnet's epoch ``e`` has started; one clear error otherwise."""
        current = self.subnets.current_epoch(self.validate_subnet(netuid))
        if not 1 <= e <= current:
            raise ConfigError(
                f"subnet {netuid} has no epoch {e} yet (current: {current})",
                hint="start the next one with `agora subnet epoch advance`",
            )
        return e

    # -- subnets and neurons --------------------------------------------------------------------
    def create(
        self,
        *,
        tempo: int = 100,
        max_uids: int = 64,
        immunity_period: int = 200,
        min_burn: int = 10**18,
        max_burn: int = 100 * 10**18,
        emission: int = 0,
        fund: int = 0,
        **hyperparams: Any,
    ) -> int:
        """Create a subnet owned by this account (its emission per epoch and a first funding
        optional, other hyper-parameters by name); its netuid."""
        me = self._me()
        if not 1 <= max_uids <= 256:
            raise ConfigError(f"max_uids is 1..256, not {max_uids}")
        if not 1 <= tempo <= 50_400:
            raise ConfigError(f"the tempo is 1..50400 blocks, not {tempo}")
        if min_burn > max_burn:
            raise ConfigError("the minimum burn is above the maximum")
        netuid = self.subnets.create(
            me, tempo=tempo, max_uids=max_uids, immunity_period=immunity_period, min_burn=min_burn, max_burn=max_burn
        )
        if hyperparams:
            self.subnets.set_hyperparams(netuid, me, **hyperparams)
        if emission:
            self.subnets.set_emission(netuid, emission, me)
        if fund:
            self.subnets.fund(netuid, fund, me)
        return netuid

    def register(self, netuid: int, hotkey: str | None = None, max_burn: int | None = None) -> int:
        """Register ``hotkey`` (default: this account) with this account as its coldkey; its UID."""
        me = self._me()
        self.validate_subnet(netuid)
        key = to_checksum_address(hotkey or me.address)
        if bool(self.subnets.registry.is_registered(netuid, key)):
            raise ConfigError(
                f"{key} is already registered in subnet {netuid} (UID {int(self.subnets.registry.uid_of(netuid, key))})"
            )
        return self.subnets.register(netuid, key, me, max_burn)

    def stake(self, netuid: int, hotkey: str, amount: int) -> int:
        """Stake ``amount`` to a registered ``hotkey``; its stake afterwards."""
        if amount <= 0:
            raise ConfigError("the amount must be above 0")
        uid = self.uid_of(netuid, hotkey)
        self.subnets.add_stake(netuid, to_checksum_address(hotkey), amount, self._me())
        return int(self.subnets.registry.stake_of(netuid, uid))

    def unstake(self, netuid: int, hotkey: str, amount: int | None = None) -> dict[str, Any]:
        """Take back ``amount`` (None: everything) of what this account staked to ``hotkey``
        (registered or pruned since); what was paid and what stays staked."""
        me = self._me()
        self.validate_subnet(netuid)
        key = to_checksum_address(hotkey)
        shares, value = self.subnets.staked(netuid, key, me.address)
        if shares == 0:
            raise ConfigError(f"{me.address} has nothing staked to {key} in subnet {netuid}")
        if amount is not None:
            if amount <= 0:
                raise ConfigError("the amount must be above 0")
            if amount > value:
                raise ConfigError(
                    f"you have {format_amount(value, symbol='AGR')} staked to {key} in subnet {netuid}, "
                    f"not {format_amount(amount, symbol='AGR')}",
                    hint="give a smaller amount, or --all",
                )
            stake, total = (int(x) for x in self.subnets.registry.hotkey_stake(netuid, key))
            burn = shares if amount == value else -(-amount * total // stake)   # enough shares, never more than held
            burn = min(burn, shares)
        else:
            burn = shares
        receipt = self.subnets.remove_stake(netuid, key, burn, me)
        (ev,) = self.subnets.registry.events_in(receipt, "StakeRemoved")
        left_shares, left = self.subnets.staked(netuid, key, me.address)
        return {"netuid": netuid, "hotkey": key, "withdrawn_wei": int(ev.args["amount"]), "shares_burned": burn,
                "staked_wei": left, "shares_left": left_shares, "tx": receipt.tx_hash}

    # -- weights ----------------------------------------------------------------------------------
    def _db(self) -> Any:
        return open_state_db(self.state_dir / "weights.db", schema=_SCHEMA)

    def build_weights(self, netuid: int, weights: dict[int, float]) -> tuple[list[int], list[int]]:
        """The (uids, u16 values) for ``weights`` (UID -> relative weight), capped at the subnet's
        max-weight limit; one clear error for UIDs it does not have or weights that cannot be set."""
        self.validate_subnet(netuid)
        n = self.subnets.size(netuid)
        if not weights:
            raise ConfigError("give at least one weight")
        for uid, value in weights.items():
            if uid >= n:
                raise ConfigError(f"UID {uid} does not exist in subnet {netuid} (UIDs 0..{n - 1})")
            if not np.isfinite(value) or value < 0:
                raise ConfigError(f"the weight of UID {uid} must be a number >= 0, not {value}")
        uids = sorted(weights)
        w = np.array([weights[u] for u in uids], dtype=np.float64)
        if w.sum() == 0:
            raise ConfigError("the weights are all 0: give at least one above 0")
        limit = int(self.subnets.hyperparams(netuid)["max_weight_limit"]) / U16_MAX
        if limit < 1:
            w = normalize_max_weight(w, limit)
        return weights_to_u16(uids, w)

    def commit_weights(self, netuid: int, weights: dict[int, float]) -> dict[str, Any]:
        """Commit weights as this account's hotkey (a validator with a permit); the commit, its
        salt and the values, kept here for :meth:`reveal_weights` in the next epoch."""
        me = self._me()
        uid = self.uid_of(netuid, me.address)
        uids, vals = self.build_weights(netuid, weights)
        e = self.subnets.current_epoch(netuid)
        if not int(self.subnets.registry.permits_at(netuid, e)) >> uid & 1:
            raise ConfigError(
                f"UID {uid} has no validator permit in epoch {e} of subnet {netuid}",
                hint="stake to it; permits go to the top stakes at each epoch",
            )
        salt = os.urandom(32)
        db = self._db()
        try:
            # kept before the commit is sent: the reveal never lacks its salt
            db.execute(
                "INSERT OR REPLACE INTO commits VALUES (?,?,?,?,?,?,0)",
                (netuid, me.address, e, json.dumps(uids), json.dumps(vals), salt),
            )
            self.subnets.commit_weights(netuid, me, uids, vals, salt)
        finally:
            db.close()
        return {
            "netuid": netuid,
            "uid": uid,
            "epoch": e,
            "uids": uids,
            "values": vals,
            "salt": "0x" + salt.hex(),
            "commit_hash": "0x" + weights_commit_hash(netuid, me.address, uids, vals, salt).hex(),
        }

    def reveal_weights(
        self, netuid: int, weights: dict[int, float] | None = None, salt: bytes | None = None
    ) -> dict[str, Any]:
        """Reveal the weights committed in the previous epoch: those kept here, or ``weights``
        with ``salt`` as committed elsewhere."""
        me = self._me()
        uid = self.uid_of(netuid, me.address)
        e = self.subnets.current_epoch(netuid)
        onchain, ce, pending = self.subnets.registry.pending_commit(netuid, uid)
        if not pending:
            raise ConfigError(
                f"UID {uid} has no commit waiting to be revealed in subnet {netuid}",
                hint="commit first with `agora subnet weights --set …`",
            )
        if int(ce) == e:
            raise ConfigError(
                f"the commit of epoch {e} is revealed in epoch {e + 1}, not now",
                hint="wait for `agora subnet epoch advance`",
            )
        if weights is not None and salt is not None:
            uids, vals = self.build_weights(netuid, weights)
        else:
            db = self._db()
            try:
                row = db.execute(
                    "SELECT uids, vals, salt FROM commits WHERE netuid=? AND hotkey=? AND epoch=?",
                    (netuid, me.address, int(ce)),
                ).fetchone()
            finally:
                db.close()
            if row is None:
                raise ConfigError(
                    f"no commit of epoch {int(ce)} is kept here",
                    hint="pass the weights and --salt it was committed with",
                )
            uids, vals, salt = json.loads(row[0]), json.loads(row[1]), bytes(row[2])
        if weights_commit_hash(netuid, me.address, uids, vals, salt) != bytes(onchain):
            raise ConfigError("these weights and salt do not match the commit on chain")
        receipt = self.subnets.reveal_weights(netuid, me, uids, vals, salt)
        return {"netuid": netuid, "uid": uid, "epoch": int(ce), "uids": uids, "values": vals, "tx": receipt.tx_hash}

    # -- epochs -----------------------------------------------------------------------------------
    def advance_epoch(self, netuid: int) -> int:
        """Start the subnet's next epoch (anyone, once a tempo has passed); its number."""
        self.validate_subnet(netuid)
        reg = self.subnets.registry
        e = self.subnets.current_epoch(netuid)
        due = int(reg.epoch_block(netuid, e)) + int(self.subnets.hyperparams(netuid)["tempo"])
        if self.chain.block_number() + 1 < due:
            raise ConfigError(
                f"epoch {e + 1} of subnet {netuid} starts at block {due} (now {self.chain.block_number()})"
            )
        return self.subnets.advance_epoch(netuid, self._me())

    def compute_epoch(self, netuid: int, e: int | None = None) -> EpochView:
        """Epoch ``e`` (default: the current one) computed from the chain (bonds carried from
        epoch 1 on), with what the chain holds of it."""
        e = self.subnets.current_epoch(self.validate_subnet(netuid)) if e is None else e
        self.validate_epoch(netuid, e)
        settled = compute_with_history(self.subnets, netuid, e)
        s = self.subnets.settlement
        result = s.result(epoch_key(netuid, e))
        status_code, root = int(result[-1]), bytes(result[0])
        status = {0: "none", 2: "rejected"}.get(status_code) or (
            "final" if self.subnets.is_final(netuid, e) else "pending"
        )
        return EpochView(netuid, e, settled, status, "0x" + root.hex() if status_code else None)

    def post_epoch(self, netuid: int, e: int, peers: dict[int, str] | None = None) -> dict[str, Any]:
        """Compute epoch ``e``, sign it (if this account is a validator then) and post it with the
        signatures its validators serve (``peers``, default: their announced endpoints) once they
        hold a quorum of stake."""
        import httpx

        from agora.subnet.miner import fetch_endpoint

        me = self._me()
        view = self.compute_epoch(netuid, e)
        if view.status in ("pending", "final"):
            raise ConfigError(f"epoch {e} of subnet {netuid} is already posted ({view.status})")
        claim = view.settled.claim
        own = {str(to_checksum_address(me.address)): self.subnets.sign(netuid, e, claim, me)[1]}

        def fetch(uid: int) -> bytes | None:
            url = (peers or {}).get(uid) or fetch_endpoint(self.subnets, netuid, uid)
            if not url:
                return None
            try:
                r = httpx.get(f"{url.rstrip('/')}/epoch/{e}/signature", timeout=10)
                return bytes.fromhex(str(r.json()["signature"]).removeprefix("0x")) if r.status_code == 200 else None
            except (httpx.HTTPError, ValueError, KeyError, TypeError):
                return None

        sigs, signed, permitted = gather_signatures(self.subnets, netuid, e, claim, fetch, own)
        if not has_quorum(signed, permitted):
            raise ConfigError(
                f"only {signed} of {permitted} permitted stake signed this result "
                f"({len(sigs)} validator(s)); a quorum is 2/3",
                hint="start the validators (`agora subnet validator`) so they serve their signatures",
            )
        receipt = self.subnets.post_epoch(netuid, e, claim, list(sigs.items()), me)
        return {
            "netuid": netuid,
            "epoch": e,
            "root": "0x" + claim.root.hex(),
            "total_wei": claim.total,
            "signers": sorted(sigs),
            "signed_stake_wei": signed,
            "permitted_stake_wei": permitted,
            "tx": receipt.tx_hash,
        }

    # -- views ------------------------------------------------------------------------------------
    def neurons(self, netuid: int) -> list[NeuronView]:
        """Every UID of the subnet: hotkey, coldkey, stake, permit now, endpoint, and its
        incentive, dividends and emission in the current epoch (computed from the chain)."""
        from agora.subnet.miner import fetch_endpoint

        self.validate_subnet(netuid)
        e = self.subnets.current_epoch(netuid)
        permits = int(self.subnets.registry.permits_at(netuid, e)) if e else 0
        view = self.compute_epoch(netuid, e) if e else None
        out = []
        for n in self.subnets.neurons(netuid):
            r = view.settled.result if view else None
            inside = r is not None and n.uid < len(r.incentive)
            try:
                endpoint = fetch_endpoint(self.subnets, netuid, n.uid)
            except ConfigError:
                endpoint = ""
            out.append(
                NeuronView(
                    n.uid,
                    n.hotkey,
                    n.coldkey,
                    n.stake,
                    bool(permits >> n.uid & 1),
                    endpoint,
                    float(r.incentive[n.uid]) if inside and r is not None else 0.0,
                    float(r.dividends[n.uid]) if inside and r is not None else 0.0,
                    view.settled.amounts[n.uid] if inside and view is not None else 0,
                )
            )
        return out

    def claim(self, netuid: int, e: int) -> dict[str, Any]:
        """Claim every leaf of epoch ``e``'s final result paying this account (anyone could send
        them; the leaves are recomputed here and must rebuild the posted root)."""
        me = self._me()
        view = self.compute_epoch(netuid, e)
        if view.status != "final":
            raise ConfigError(
                f"epoch {e} of subnet {netuid} is not final ({view.status})",
                hint="claims open once a posted result's challenge window is over",
            )
        if view.posted_root != "0x" + view.settled.claim.root.hex():
            raise ConfigError(
                f"the posted result of epoch {e} is not what the chain's data gives; "
                "its leaves cannot be proven from here"
            )
        settled = view.settled
        mine = [i for i, a in enumerate(settled.accounts) if a == to_checksum_address(me.address)]
        paid = {i: self.subnets.claim(netuid, e, settled, i, me) for i in mine}
        return {
            "netuid": netuid,
            "epoch": e,
            "leaves": mine,
            "claimed_wei": sum(paid.values()),
            "already_claimed": [i for i, x in paid.items() if x == 0 and settled.amounts[i] > 0],
        }

    # -- daemons ----------------------------------------------------------------------------------
    def start_miner(
        self,
        netuid: int,
        *,
        mode: str = "honest",
        noise: float = 0.5,
        host: str = "127.0.0.1",
        port: int = 0,
        endpoint: str | None = None,
    ) -> MinerServer:
        """Serve the digits classifier as this account's (registered) hotkey and announce it on
        chain; the running server (``.stop()`` it)."""
        me = self._me()
        self.uid_of(netuid, me.address)
        # every answer's receipt, signed by the hotkey and anchored by it (kind subnet-answer)
        registry = self.subnets.registry
        book = ReceiptBook(self.state_dir / f"miner-{netuid}-{me.address}-receipts.sqlite",
                           self.subnets.dep.contract("anchor"), me.address, interval_s=30.0) \
            if "anchor" in self.subnets.dep.addresses else None
        chain = registry.chain
        miner = Miner(validate_mode(mode), noise=noise, hotkey=me, book=book, netuid=netuid,
                      domain=receipt_domain(chain.chain_id, registry.address),
                      clock_offset=chain.timestamp() - int(time.time()))
        server = MinerServer(miner, host, port).start()
        try:
            announce(self.subnets, netuid, me, endpoint or server.url)
        except BaseException:
            server.stop()
            raise
        return server

    def validator(
        self,
        netuid: int,
        *,
        mode: str = "honest",
        host: str = "127.0.0.1",
        port: int = 0,
        serve: bool = True,
        **options: Any,
    ) -> Validator:
        """A :class:`Validator` acting as this account's (registered) hotkey, its state here;
        ``serve``: its signature server started and announced."""
        me = self._me()
        self.uid_of(netuid, me.address)
        return Validator(
            self.subnets, netuid, me, self.state_dir, mode=mode, serve=serve, host=host, port=port, **options
        )
