"""``connect(uri)``: one Chain object in front of any EVM backend.

``embedded://`` runs py-evm in this process (through web3's
EthereumTesterProvider), with the standard dev accounts funded at genesis.
``http(s)://`` and ``ws(s)://`` reach any JSON-RPC node: anvil, geth, an L2.
The rest of Agora sees the same :class:`Chain` either way.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any, TypeVar, cast
from urllib.parse import urlparse

from eth_typing import BlockIdentifier, HexStr
from eth_utils.address import to_checksum_address
from web3 import HTTPProvider, Web3
from web3.exceptions import BlockNotFound, ContractLogicError, TransactionNotFound, Web3RPCError
from web3.types import RPCEndpoint, RPCResponse

from agora.chain.accounts import Signer, dev_signers
from agora.chain.receipts import Block, TxReceipt
from agora.chain.reverts import ErrorABI, decode_revert, error_abis, revert_data
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


_T = TypeVar("_T")

def _failure_without_data(exc: BaseException, embedded: bool) -> str | None:
    """The reason of a failed execution that came back without revert data, or None if
    ``exc`` is no execution failure at all (then it is some other node error). Nodes
    say no more than that it reverted; Agora does not parse their wording."""
    if embedded:
        from agora.chain.embedded import failure_reason

        reason = failure_reason(exc)
        if reason is not None:
            return reason
    if isinstance(exc, ContractLogicError):
        return "no reason given"
    if isinstance(exc, Web3RPCError):
        error = exc.rpc_response.get("error") if isinstance(exc.rpc_response, Mapping) else None
        code = error.get("code") if isinstance(error, Mapping) else None
        if code == 3 or "revert" in exc.message.lower():  # 3: geth's "execution reverted"
            return "no reason given"
    return None


def _is_insufficient_funds(exc: BaseException) -> bool:
    text = str(exc).lower()
    return "insufficient funds" in text or "insufficientfunds" in type(exc).__name__.lower() or (
        "sender" in text and "balance" in text
    )


def _is_unreachable(exc: BaseException) -> bool:
    import requests

    return isinstance(exc, requests.ConnectionError | requests.Timeout | ConnectionError | OSError)


def _not_a_node(exc: BaseException) -> str | None:
    """Why the first answer of a server shows it is no JSON-RPC node (an HTTP error status,
    HTML, JSON that is no JSON-RPC response), or None if ``exc`` says nothing of the kind."""
    import json

    import requests
    from web3.exceptions import BadResponseFormat

    if isinstance(exc, requests.HTTPError) and exc.response is not None:
        return f"HTTP {exc.response.status_code} {exc.response.reason}".strip()
    if isinstance(exc, json.JSONDecodeError):
        return "its answer is not JSON"
    if isinstance(exc, BadResponseFormat):
        return "its answer is no JSON-RPC response"
    return None


class Chain:
    """A connection to one chain: reads, locally signed transactions, contracts, events."""

    def __init__(self, uri: str, w3: Web3, *, embedded: bool) -> None:
        self.uri = uri
        self.w3 = w3
        self.embedded = embedded
        self._senders: dict[str, TxSender] = {}
        self._lock = threading.Lock()
        self._fees: tuple[float, dict[str, int]] | None = None
        self._errors: dict[bytes, ErrorABI] = {}
        self._log_index: Any = None  # the embedded chain's log index (agora.chain.embedded.LogIndex)
        self.chain_id: int = 0
        try:
            self.chain_id = int(w3.eth.chain_id)
            self.block_gas_limit: int = int(w3.eth.get_block("latest")["gasLimit"])
        except Exception as exc:
            why = None if embedded else _not_a_node(exc)
            if why is not None:
                raise ChainError(f"the server at {uri} answered, but not as an Ethereum JSON-RPC node ({why})",
                                 hint="check the port and path of --chain or AGORA_CHAIN") from exc
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

    def get_block(self, block: int | str = "latest") -> Block:
        """One block's header: a number, or a tag (``latest``, ``earliest``, ``safe``,
        ``finalized``). ``get_block(0).hash`` is the genesis hash, which tells two chains
        with the same chain id apart (a restarted devnet)."""
        ident = cast(BlockIdentifier, block)
        try:
            raw = self._rpc(lambda: self.w3.eth.get_block(ident))
        except ChainError as exc:
            if isinstance(exc.__cause__, BlockNotFound):
                raise ChainError(f"the node at {self.uri} has no block {block!r}") from None
            raise
        return Block.from_web3(raw)

    def get_balance(self, address: str) -> int:
        """The native-coin balance of ``address`` in wei."""
        return int(self._rpc(lambda: self.w3.eth.get_balance(to_checksum_address(address))))

    def get_code(self, address: str) -> bytes:
        """The deployed code at ``address`` (empty if none)."""
        return bytes(self._rpc(lambda: self.w3.eth.get_code(to_checksum_address(address))))

    def timestamp(self) -> int:
        """The latest block's timestamp."""
        return int(self._rpc(lambda: self.w3.eth.get_block("latest")["timestamp"]))

    def get_logs(self, params: Mapping[str, Any]) -> list[dict[str, Any]]:
        """``eth_getLogs`` with ready-made filter ``params`` (address, fromBlock, toBlock,
        topics); the raw log entries. ``Contract.iter_logs`` and ``Contract.iter_events``
        build the filter from event names and read long ranges in chunks."""
        query = cast(Any, dict(params))
        if self.embedded:  # eth-tester walks every block of the range: filter an index instead
            if self._log_index is None:
                from agora.chain.embedded import LogIndex

                self._log_index = LogIndex()
            index = self._log_index
            return [dict(log) for log in self._rpc(lambda: index.query(self.w3, query))]
        return [dict(log) for log in self._rpc(lambda: self.w3.eth.get_logs(query))]

    def call_raw(
        self, to: str, data: bytes, block: int | str = "latest", *, sender: str | None = None
    ) -> bytes:
        """``eth_call`` with ready-made calldata, straight to the provider (no ABI machinery):
        for hot loops that encode and decode with eth_abi themselves. The call comes from
        ``sender``, else the default account, else the zero address. A revert raises
        :class:`Reverted` with the reason decoded from the revert data."""
        if sender is None:
            sender = self.default_signer.address if self.default_signer else "0x" + "00" * 20
        params = [{"from": sender, "to": to, "data": "0x" + data.hex()}, _block_param(block, self.embedded)]
        return _as_bytes(self._request("eth_call", params))

    def _request(self, method: str, params: list[Any], tx: dict[str, Any] | None = None) -> Any:
        """One JSON-RPC request straight to the provider; its raw ``result``.

        web3's formatting is skipped both ways, so an error object reaches
        :meth:`translate` whole, with the ``data`` field that holds any revert data
        (web3's own formatter fails on some, e.g. an unknown panic code). Params go as
        they are: nodes take hex quantities, eth-tester plain ints. ``tx``, if given,
        names the sender in an insufficient-funds error.
        """
        try:
            answer = self.w3.provider.make_request(RPCEndpoint(method), params)
        except Exception as exc:
            raise self.translate(exc, tx) from exc
        if answer.get("error") is not None:
            err = answer["error"]
            message = str(err.get("message", err)) if isinstance(err, Mapping) else str(err)
            raise self.translate(Web3RPCError(message, rpc_response=answer), tx)
        return answer.get("result")

    def _rpc(self, fn: Callable[[], _T]) -> _T:
        """Run one web3 call; any backend error leaves as an :class:`AgoraError`."""
        try:
            return fn()
        except AgoraError:
            raise
        except Exception as exc:
            raise self.translate(exc) from exc

    # -- transactions ---------------------------------------------------
    def sender(self, signer: Signer | None = None, **kwargs: Any) -> TxSender:
        """The :class:`TxSender` of ``signer`` (one per account, shared)."""
        signer = signer or self.require_signer()
        with self._lock:
            s = self._senders.get(signer.address)
            if s is None:
                if self.embedded:
                    # py-evm mines each transaction as it arrives, so pipelining buys
                    # nothing, and its receipt lookup slows with the receipt's age
                    kwargs["max_in_flight"] = 1
                s = self._senders[signer.address] = TxSender(self, signer, **kwargs)
            return s

    def require_signer(self) -> Signer:
        """The default account to send from; :class:`ConfigError` (saying how to set one)
        if there is none (a real network without a keystore or key configured)."""
        if self.default_signer is None:
            raise ConfigError(
                "no account to send from",
                hint="set AGORA_KEYSTORE (and AGORA_PASSWORD) or AGORA_PRIVATE_KEY",
            )
        return self.default_signer

    def send(self, tx: dict[str, Any], signer: Signer | None = None) -> TxReceipt:
        """Sign ``tx`` locally as ``signer``, send it and return its receipt."""
        return self.sender(signer).send(tx)

    def transfer_native(self, to: str, amount: int, signer: Signer | None = None) -> TxReceipt:
        """Send ``amount`` wei of the native coin to ``to``."""
        return self.send({"to": to_checksum_address(to), "value": amount, "gas": 21_000}, signer)

    def estimate_gas(self, tx: dict[str, Any]) -> int:
        """Estimate ``tx``'s gas; a revert raises :class:`Reverted` with its reason."""
        query = _rpc_tx(tx, ("from", "to", "data", "value"), self.embedded)
        return _as_int(self._request("eth_estimateGas", [query], tx))

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

    def fetch_receipts(self, tx_hashes: list[str]) -> list[TxReceipt | None]:
        """Receipts of many transactions, in one round trip where the node allows (a
        JSON-RPC batch over HTTP); None for those not mined yet."""
        provider = self.w3.provider
        if isinstance(provider, HTTPProvider) and len(tx_hashes) > 1:
            calls: list[tuple[RPCEndpoint, Any]] = [
                (RPCEndpoint("eth_getTransactionReceipt"), [h]) for h in tx_hashes
            ]
            try:
                answers: list[RPCResponse] | RPCResponse = provider.make_batch_request(calls)
            except Exception as exc:
                raise self.translate(exc) from exc
            if isinstance(answers, list) and len(answers) == len(tx_hashes):
                return [_mined(a.get("result")) for a in answers]
        out: list[TxReceipt | None] = []
        for h in tx_hashes:
            try:
                raw = self.w3.eth.get_transaction_receipt(HexStr(h))
            except TransactionNotFound:
                out.append(None)
                continue
            except Exception as exc:
                raise self.translate(exc) from exc
            out.append(TxReceipt.from_web3(raw) if raw.get("blockNumber") is not None else None)
        return out

    def knows_transaction(self, tx_hash: str) -> bool:
        """Whether the node has ``tx_hash`` (pending or mined); errors count as yes."""
        try:
            return self.w3.eth.get_transaction(HexStr(tx_hash)) is not None
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

    def explain_failure(self, tx: dict[str, Any], receipt: TxReceipt) -> ChainError:
        """Why the mined transaction ``tx`` failed (status 0), as :class:`Reverted`.

        A receipt carries no revert data, so the transaction is replayed as an
        ``eth_call`` to get it. The replay runs at the block the transaction was
        mined in, not at its parent: the state after that block includes every
        transaction ordered before it in the block (the parent's state lacks them,
        and they are what usually makes a transaction fail that passed gas
        estimation, e.g. a competitor's claim), and the call sees that block's
        number and timestamp, as the transaction did. The failed transaction itself
        changed only its sender's nonce and gas balance. A transaction later in the
        same block may have changed the state again; if the replay passes there,
        the parent block is tried as well. A transaction that used all its gas ran
        out of it (the receipt says so; a replay would too).
        """
        if receipt.gas_used >= int(tx.get("gas", 0)) > 0:
            return Reverted(f"out of gas (used all {receipt.gas_used} gas) in {receipt.tx_hash}")
        query = _rpc_tx(tx, ("from", "to", "data", "value", "gas"), self.embedded)
        for block in (receipt.block_number, receipt.block_number - 1):
            if block < 0:
                continue
            try:
                self._request("eth_call", [query, _block_param(block, self.embedded)], tx)
            except Reverted as exc:
                return exc
            except ChainError:
                continue
        return Reverted(f"no reason given (transaction {receipt.tx_hash})")

    # -- devnet helpers -------------------------------------------------
    def advance_time(self, seconds: int) -> int:
        """Move the chain's clock forward and mine a block (devnets only); return the new time."""
        if not self.is_devnet:
            raise ChainError("advance_time works only on a devnet")
        if self.embedded:
            tester = self._tester()
            target = self.timestamp() + seconds
            tester.time_travel(target)
            tester.mine_blocks(1)
        else:
            self._request("evm_increaseTime", [seconds])
            self._request("evm_mine", [])
        return self.timestamp()

    def mine(self, blocks: int = 1) -> None:
        """Mine blocks (devnets only); the first takes any pending transactions."""
        if self.embedded:
            self._tester().mine_blocks(blocks)
        else:
            for _ in range(blocks):
                self._request("evm_mine", [])

    def set_automine(self, enabled: bool) -> None:
        """Mine each transaction as it arrives (the devnets' default), or only on
        :meth:`mine` (devnets only): for several transactions in one block."""
        if not self.is_devnet:
            raise ChainError("set_automine works only on a devnet")
        if self.embedded:
            tester = self._tester()
            if enabled:
                tester.enable_auto_mine_transactions()
            else:
                tester.disable_auto_mine_transactions()
        else:
            self._request("evm_setAutomine", [enabled])

    def _tester(self) -> Any:
        """eth-tester behind the embedded chain (untyped)."""
        return cast(Any, self.w3.provider).ethereum_tester

    # -- revert reasons -------------------------------------------------
    def register_errors(self, abi: Iterable[Mapping[str, Any]]) -> None:
        """Learn the custom errors (``"type": "error"`` entries) of ``abi``, so that a
        revert with one of them is reported by name and arguments. Every
        :class:`~agora.chain.Contract` registers its ABI's errors itself."""
        found = error_abis(abi)
        if found:
            with self._lock:
                self._errors.update(found)

    def decode_revert(self, data: bytes) -> str:
        """The reason for revert ``data``, with the custom errors this chain knows."""
        return decode_revert(data, self._errors)

    # -- errors ---------------------------------------------------------
    def translate(self, exc: BaseException, tx: dict[str, Any] | None = None) -> AgoraError:
        """Turn a backend's exception into one Agora error with a one-line message."""
        if isinstance(exc, AgoraError):
            return exc
        data = revert_data(exc)
        if data is not None:
            return Reverted(self.decode_revert(data), data=data)
        reason = _failure_without_data(exc, self.embedded)
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


def _block_param(block: int | str, embedded: bool) -> int | str:
    """A block number or tag as JSON-RPC takes it (eth-tester: a plain int)."""
    return hex(block) if isinstance(block, int) and not embedded else block


def _as_bytes(result: Any) -> bytes:
    """A JSON-RPC data result (``0x…``; eth-tester answers with bytes) as bytes."""
    return bytes.fromhex(result[2:]) if isinstance(result, str) else bytes(result or b"")


def _as_int(result: Any) -> int:
    """A JSON-RPC quantity result (``0x…``; eth-tester answers with ints) as an int."""
    return int(result, 16) if isinstance(result, str) else int(result)


def _rpc_tx(tx: Mapping[str, Any], keys: tuple[str, ...], embedded: bool) -> dict[str, Any]:
    """The ``keys`` of a transaction dict in JSON-RPC form: hex data, and hex quantities
    (eth-tester, which skips web3's request formatting here, takes plain ints)."""
    out: dict[str, Any] = {}
    for key in keys:
        value = tx.get(key)
        if value is None:
            continue
        if isinstance(value, int):
            out[key] = value if embedded else hex(value)
        elif isinstance(value, bytes | bytearray):
            out[key] = "0x" + bytes(value).hex()
        else:
            out[key] = str(value)
    return out


def _mined(raw: Any) -> TxReceipt | None:
    """A raw JSON-RPC receipt as a :class:`TxReceipt`; None if not mined (yet)."""
    if not isinstance(raw, Mapping) or raw.get("blockNumber") is None:
        return None
    return TxReceipt.from_rpc(raw)


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
        from agora.chain.embedded import make_embedded_web3

        w3 = make_embedded_web3()
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
