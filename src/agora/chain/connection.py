"""``connect(uri)``: one Chain object in front of any EVM backend.

``embedded://`` runs py-evm in this process (through web3's
EthereumTesterProvider), with the standard dev accounts funded at genesis.
``http(s)://`` and ``ws(s)://`` reach any JSON-RPC node: anvil, geth, an L2.
The rest of Agora sees the same :class:`Chain` either way.
"""

from __future__ import annotations

import re
import threading
import time
from typing import Any
from urllib.parse import urlparse

from eth_utils import to_checksum_address
from web3 import EthereumTesterProvider, HTTPProvider, Web3
from web3.exceptions import ContractLogicError, TransactionNotFound, Web3RPCError
from web3.types import RPCEndpoint

from agora.chain.accounts import Signer, dev_signers
from agora.chain.receipts import Receipt
from agora.chain.tx import TxSender
from agora.errors import (
    AgoraError,
    ChainError,
    ConfigError,
    InsufficientFunds,
    NodeUnreachable,
    Reverted,
    WrongChain,
)

__all__ = ["Chain", "connect", "DEVNET_CHAIN_IDS", "EMBEDDED"]

EMBEDDED = "embedded://"
#: Chain ids that are devnets: anvil/hardhat (31337), geth --dev (1337),
#: and eth-tester's py-evm (131277322940537).
DEVNET_CHAIN_IDS = frozenset({31337, 1337, 131277322940537})

_SCHEMES = ("embedded", "http", "https", "ws", "wss")
_NEVER_CHANGE = {RPCEndpoint("eth_chainId"), RPCEndpoint("net_version"), RPCEndpoint("web3_clientVersion")}


def _short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text[:200]


_UNREACHABLE_WHY = (
    ("refused", "connection refused"),
    ("timed out", "timed out"),
    ("timeout", "timed out"),
    ("name or service not known", "unknown host"),
    ("nodename nor servname", "unknown host"),
    ("temporary failure in name resolution", "unknown host"),
    ("unreachable", "network unreachable"),
)


def _revert_reason(exc: BaseException) -> str | None:
    """The revert string of a failed call on any backend, or None if it is no revert."""
    try:
        from eth_tester.exceptions import TransactionFailed
    except ImportError:  # pragma: no cover - eth-tester ships with web3[tester]
        TransactionFailed = ()  # type: ignore[assignment]  # noqa: N806
    if isinstance(exc, ContractLogicError):
        msg = exc.message or str(exc)
    elif isinstance(exc, TransactionFailed):
        msg = str(exc.args[0]) if exc.args else str(exc)
    elif isinstance(exc, Web3RPCError) and "revert" in str(exc).lower():
        msg = exc.message or str(exc)
    else:
        return None
    msg = str(msg)
    msg = re.sub(r"^(execution reverted:?\s*)", "", msg.strip(), flags=re.I)
    msg = msg.strip().strip("'\"")
    return msg or "no reason given"


def _is_insufficient_funds(exc: BaseException) -> bool:
    text = str(exc).lower()
    return "insufficient funds" in text or "insufficientfunds" in type(exc).__name__.lower() or (
        "sender" in text and "balance" in text
    )


def _is_unreachable(exc: BaseException) -> bool:
    import requests

    return isinstance(exc, requests.ConnectionError | requests.Timeout | ConnectionError | OSError)


class Chain:
    """A connection to one chain: reads, locally signed transactions, contracts, events."""

    def __init__(self, uri: str, w3: Web3, *, embedded: bool) -> None:
        self.uri = uri
        self.w3 = w3
        self.embedded = embedded
        self._senders: dict[str, TxSender] = {}
        self._lock = threading.Lock()
        self._fees: tuple[float, dict[str, int]] | None = None
        self.chain_id = 0
        try:
            self.chain_id: int = int(w3.eth.chain_id)
            self.block_gas_limit: int = int(w3.eth.get_block("latest")["gasLimit"])
        except Exception as exc:
            raise self.translate(exc) from exc
        self.default_signer: Signer | None = self.dev_signers[0] if self.is_devnet else None

    def __repr__(self) -> str:
        return f"Chain({self.uri!r}, chain_id={self.chain_id})"

    # -- identity -------------------------------------------------------
    @property
    def is_devnet(self) -> bool:
        """True on a local development chain, where dev accounts and the faucet exist."""
        return self.embedded or self.chain_id in DEVNET_CHAIN_IDS

    @property
    def dev_signers(self) -> list[Signer]:
        """The ten funded dev accounts (standard mnemonic); empty on a real network."""
        return dev_signers(10) if self.is_devnet else []

    # -- reads ----------------------------------------------------------
    def block_number(self) -> int:
        """The latest block number."""
        return int(self._rpc(lambda: self.w3.eth.block_number))

    def get_balance(self, address: str) -> int:
        """The native-coin balance of ``address`` in wei."""
        return int(self._rpc(lambda: self.w3.eth.get_balance(to_checksum_address(address))))

    def get_code(self, address: str) -> bytes:
        """The deployed code at ``address`` (empty if none)."""
        return bytes(self._rpc(lambda: self.w3.eth.get_code(to_checksum_address(address))))

    def timestamp(self) -> int:
        """The latest block's timestamp."""
        return int(self._rpc(lambda: self.w3.eth.get_block("latest")["timestamp"]))

    def call_raw(self, to: str, data: bytes, block: str = "latest") -> bytes:
        """``eth_call`` with ready-made calldata, straight to the provider (no ABI machinery):
        for hot loops that encode and decode with eth_abi themselves."""
        sender = self.default_signer.address if self.default_signer else "0x" + "00" * 20
        params = [{"from": sender, "to": to, "data": "0x" + data.hex()}, block]
        try:
            answer = self.w3.provider.make_request("eth_call", params)  # type: ignore[arg-type]
        except Exception as exc:
            raise self.translate(exc) from exc
        if "error" in answer:
            err = answer["error"]
            raise self.translate(Web3RPCError(str(err.get("message", err)) if isinstance(err, dict) else str(err)))
        result = answer["result"]
        return bytes.fromhex(result[2:]) if isinstance(result, str) else bytes(result)

    def _rpc(self, fn: Any) -> Any:
        try:
            return fn()
        except AgoraError:
            raise
        except Exception as exc:
            raise self.translate(exc) from exc

    # -- transactions ---------------------------------------------------
    def sender(self, signer: Signer | None = None, **kwargs: Any) -> TxSender:
        """The :class:`TxSender` of ``signer`` (one per account, shared)."""
        signer = signer or self._require_signer()
        with self._lock:
            s = self._senders.get(signer.address)
            if s is None:
                if self.embedded:
                    # py-evm mines each transaction as it arrives, so pipelining buys
                    # nothing, and its receipt lookup slows with the receipt's age
                    kwargs["max_in_flight"] = 1
                s = self._senders[signer.address] = TxSender(self, signer, **kwargs)
            return s

    def _require_signer(self) -> Signer:
        if self.default_signer is None:
            raise ConfigError(
                "no account to send from",
                hint="set AGORA_KEYSTORE (and AGORA_PASSWORD) or AGORA_PRIVATE_KEY",
            )
        return self.default_signer

    def send(self, tx: dict[str, Any], signer: Signer | None = None) -> Receipt:
        """Sign ``tx`` locally as ``signer``, send it and return its receipt."""
        return self.sender(signer).send(tx)

    def transfer_native(self, to: str, amount: int, signer: Signer | None = None) -> Receipt:
        """Send ``amount`` wei of the native coin to ``to``."""
        return self.send({"to": to_checksum_address(to), "value": amount, "gas": 21_000}, signer)

    def estimate_gas(self, tx: dict[str, Any]) -> int:
        """Estimate ``tx``'s gas; a revert raises :class:`Reverted` with its reason."""
        query = {k: v for k, v in tx.items() if k in ("from", "to", "data", "value")}
        try:
            return int(self.w3.eth.estimate_gas(query))  # type: ignore[arg-type]
        except Exception as exc:
            raise self.translate(exc, tx) from exc

    def fee_params(self) -> dict[str, int]:
        """EIP-1559 fee fields for a new transaction (cached for one second)."""
        now = time.monotonic()
        if self._fees is not None and now - self._fees[0] < 1.0:
            return self._fees[1]
        block = self._rpc(lambda: self.w3.eth.get_block("latest"))
        base = int(block.get("baseFeePerGas") or 0)
        tip = 10**9 if self.is_devnet else int(self._rpc(lambda: self.w3.eth.max_priority_fee))
        fees = {"maxFeePerGas": 2 * base + tip, "maxPriorityFeePerGas": tip}
        self._fees = (now, fees)
        return fees

    def send_raw(self, raw: bytes, tx: dict[str, Any]) -> str:
        """Broadcast a signed transaction; return its hash."""
        try:
            return "0x" + bytes(self.w3.eth.send_raw_transaction(raw)).hex()
        except Exception as exc:
            raise self.translate(exc, tx) from exc

    def fetch_receipts(self, tx_hashes: list[str]) -> list[Receipt | None]:
        """Receipts of many transactions, in one round trip where the node allows (a
        JSON-RPC batch over HTTP); None for those not mined yet."""
        provider = self.w3.provider
        if isinstance(provider, HTTPProvider) and len(tx_hashes) > 1:
            calls = [("eth_getTransactionReceipt", [h]) for h in tx_hashes]
            try:
                answers = provider.make_batch_request(calls)  # type: ignore[arg-type]
            except Exception as exc:
                raise self.translate(exc) from exc
            if isinstance(answers, list) and len(answers) == len(tx_hashes):
                return [
                    Receipt.from_rpc(a["result"])
                    if a.get("result") and a["result"].get("blockNumber") is not None
                    else None
                    for a in answers
                ]
        out: list[Receipt | None] = []
        for h in tx_hashes:
            try:
                raw = self.w3.eth.get_transaction_receipt(h)  # type: ignore[arg-type]
            except TransactionNotFound:
                raw = None
            except Exception as exc:
                raise self.translate(exc) from exc
            ok = raw is not None and raw.get("blockNumber") is not None
            out.append(Receipt.from_web3(raw) if ok else None)
        return out

    def knows_transaction(self, tx_hash: str) -> bool:
        """Whether the node has ``tx_hash`` (pending or mined); errors count as yes."""
        try:
            return self.w3.eth.get_transaction(tx_hash) is not None  # type: ignore[arg-type]
        except TransactionNotFound:
            return False
        except Exception:  # noqa: BLE001 - unsure: do not replace on a flaky answer
            return True

    def rebroadcast(self, raw: bytes) -> None:
        """Send a signed transaction again; errors such as "already known" are ignored."""
        try:
            self.w3.eth.send_raw_transaction(raw)
        except Exception:  # noqa: BLE001 - a duplicate is the expected answer
            pass

    def explain_failure(self, tx: dict[str, Any], receipt: Receipt) -> ChainError:
        """Replay a failed transaction as a call to recover its revert reason."""
        query = {k: v for k, v in tx.items() if k in ("from", "to", "data", "value", "gas")}
        try:
            self.w3.eth.call(query, block_identifier=max(receipt.block_number - 1, 0))  # type: ignore[arg-type]
        except Exception as exc:
            err = self.translate(exc, tx)
            if isinstance(err, Reverted):
                return err
        if receipt.gas_used >= int(tx.get("gas", 0)) > 0:
            return Reverted(f"out of gas (used all {receipt.gas_used} gas) in {receipt.tx_hash}")
        return Reverted(f"no reason given (transaction {receipt.tx_hash})")

    # -- devnet helpers -------------------------------------------------
    def advance_time(self, seconds: int) -> int:
        """Move the chain's clock forward and mine a block (devnets only); return the new time."""
        if not self.is_devnet:
            raise ChainError("advance_time works only on a devnet")
        if self.embedded:
            tester = self.w3.provider.ethereum_tester  # type: ignore[attr-defined]
            target = self.timestamp() + seconds
            tester.time_travel(target)
            tester.mine_blocks(1)
        else:
            self.w3.provider.make_request("evm_increaseTime", [seconds])  # type: ignore[arg-type]
            self.w3.provider.make_request("evm_mine", [])  # type: ignore[arg-type]
        return self.timestamp()

    def mine(self, blocks: int = 1) -> None:
        """Mine empty blocks (devnets only)."""
        if self.embedded:
            self.w3.provider.ethereum_tester.mine_blocks(blocks)  # type: ignore[attr-defined]
        else:
            for _ in range(blocks):
                self.w3.provider.make_request("evm_mine", [])  # type: ignore[arg-type]

    # -- errors ---------------------------------------------------------
    def translate(self, exc: BaseException, tx: dict[str, Any] | None = None) -> AgoraError:
        """Turn a backend's exception into one Agora error with a one-line message."""
        if isinstance(exc, AgoraError):
            return exc
        reason = _revert_reason(exc)
        if reason is not None:
            return Reverted(reason)
        if _is_insufficient_funds(exc):
            who = (tx or {}).get("from", "the sending account")
            hint = (
                "fund it with `agora faucet` on a devnet"
                if self.is_devnet
                else "send it some of the chain's native coin for gas"
            )
            return InsufficientFunds(f"account {who} cannot pay for gas and value", hint=hint)
        if _is_unreachable(exc):
            text = str(exc).lower()
            why = next(
                (w for k, w in _UNREACHABLE_WHY if k in text), type(exc).__name__.lower()
            )
            return NodeUnreachable(
                f"cannot reach the node at {self.uri} ({why})",
                hint="is it running? start one with `agora devnet up` or set AGORA_CHAIN",
            )
        return ChainError(f"the node at {self.uri} answered with an error: {_short(exc)}")

    def close(self) -> None:
        """Release the connection (WebSocket providers hold a socket)."""
        close = getattr(self.w3.provider, "close", None)
        if callable(close):
            close()


def _make_embedded() -> Web3:
    from eth_tester import EthereumTester, PyEVMBackend

    from agora.chain.accounts import DEV_MNEMONIC

    backend = PyEVMBackend.from_mnemonic(
        DEV_MNEMONIC,
        num_accounts=10,
        hd_path="m/44'/60'/0'/0",  # the standard path, so these are anvil's accounts too
        genesis_state_overrides={"balance": 10_000 * 10**18},
        genesis_parameters={"gas_limit": 30_000_000},
    )
    return Web3(EthereumTesterProvider(EthereumTester(backend)))


def connect(
    uri: str | None = None,
    *,
    expected_chain_id: int | None = None,
    timeout: float = 10.0,
    signer: Signer | None = None,
) -> Chain:
    """Connect to a chain.

    ``uri`` is ``embedded://`` (the default: an in-process py-evm chain with
    the ten standard dev accounts funded), ``http(s)://host:port`` or
    ``ws(s)://host:port``. If ``expected_chain_id`` is given and the node
    reports another, :class:`~agora.errors.WrongChain` is raised. ``signer``
    becomes the default account for sending (on devnets the first dev
    account is the default otherwise).
    """
    uri = (uri or EMBEDDED).strip()
    parsed = urlparse(uri)
    if parsed.scheme not in _SCHEMES or (parsed.scheme != "embedded" and not parsed.netloc):
        raise ConfigError(
            f"invalid chain URI {uri!r}",
            hint="use embedded://, http(s)://host:port or ws(s)://host:port",
        )
    if parsed.scheme == "embedded":
        w3 = _make_embedded()
        chain = Chain(EMBEDDED, w3, embedded=True)
    else:
        if parsed.scheme in ("http", "https"):
            # web3's validation asks for the chain id before nearly every call: cache
            # it (and only what never changes for a node) so a call is one round trip
            session = None
            if parsed.hostname in ("127.0.0.1", "localhost", "::1"):
                # a loopback node needs no proxy: skip requests' scan of the environment
                # for proxy settings on every call (a third of a call's CPU)
                import requests

                session = requests.Session()
                session.trust_env = False
            provider: Any = HTTPProvider(
                uri, request_kwargs={"timeout": timeout}, session=session, exception_retry_configuration=None,
                cache_allowed_requests=True, cacheable_requests=_NEVER_CHANGE,
            )
        else:
            from agora.chain.ws import SyncWebSocketProvider

            provider = SyncWebSocketProvider(uri, timeout=timeout)
        w3 = Web3(provider)
        try:
            chain = Chain(uri, w3, embedded=False)
        except AgoraError:
            raise
        except Exception as exc:  # pragma: no cover - Chain() translates already
            raise ChainError(f"cannot use the node at {uri}: {_short(exc)}") from exc
    if expected_chain_id is not None and chain.chain_id != expected_chain_id:
        chain.close()
        raise WrongChain(
            f"the node at {uri} is chain {chain.chain_id}, not the expected {expected_chain_id}",
            hint="point AGORA_CHAIN at the right node or change AGORA_CHAIN_ID",
        )
    if signer is not None:
        chain.default_signer = signer
    return chain
