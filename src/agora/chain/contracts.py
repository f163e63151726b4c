"""Contract handles: calls and transactions by ABI, events by block range.

``token.balanceOf(addr)`` calls a view; ``token.transfer(to, 5, sender=s)``
sends a locally signed transaction and returns its :class:`TxReceipt`. Argument
types are checked against the ABI before anything is sent.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any, cast

from eth_abi.exceptions import DecodingError
from eth_typing import ABIEvent
from eth_utils.abi import event_abi_to_log_topic, get_abi_output_types
from eth_utils.address import to_checksum_address
from web3._utils.abi import map_abi_data
from web3._utils.events import get_event_data
from web3._utils.normalizers import BASE_RETURN_NORMALIZERS
from web3.types import LogReceipt

from agora.chain.accounts import Signer
from agora.chain.compiler import DEFAULT_EVM_VERSION, Artifact, compile_contract
from agora.chain.receipts import Event, Log, TxReceipt
from agora.errors import ChainError, ConfigError

if TYPE_CHECKING:
    from agora.chain.connection import Chain

__all__ = ["Contract", "ContractFunction", "deploy", "EventCursor"]

_VIEW = ("view", "pure")


def _calldata(fn: Any) -> bytes:
    """The calldata of a web3 contract function bound to its arguments."""
    return bytes.fromhex(fn._encode_transaction_data().removeprefix("0x"))


class ContractFunction:
    """One ABI function bound to a contract."""

    def __init__(self, contract: Contract, name: str) -> None:
        self.contract = contract
        self.name = name
        entries = [e for e in contract.abi if e.get("type") == "function" and e["name"] == name]
        self.is_view = all(e.get("stateMutability") in _VIEW for e in entries)

    def __repr__(self) -> str:
        return f"<{self.contract.contract_name}.{self.name}>"

    def _fn(self, args: tuple[Any, ...]) -> Any:
        try:
            return self.contract.web3_contract.get_function_by_name(self.name)(*args)
        except ChainError:
            raise
        except Exception as exc:
            # web3 raises on a type mismatch or a wrong argument count: say so in one line
            if "Could not identify the intended function" in str(exc) or "ambiguous" in str(exc):
                raise ConfigError(
                    f"{self.contract.contract_name}.{self.name}: arguments {args!r} do not match its ABI"
                ) from None
            detail = [ln for ln in str(exc).splitlines() if "not compatible" in ln]
            why = detail[0].strip() if detail else (str(exc).strip().splitlines() or ["bad call"])[0]
            raise ConfigError(f"{self.contract.contract_name}.{self.name}: {why}") from None

    def encode(self, *args: Any) -> bytes:
        """The calldata for a call with ``args``."""
        return _calldata(self._fn(args))

    def build(self, *args: Any, value: int = 0) -> dict[str, Any]:
        """A transaction dict (to, data, value) for a call with ``args``, unsigned."""
        return {"to": self.contract.address, "data": self.encode(*args), "value": value}

    def call(self, *args: Any, block: int | str = "latest", sender: Signer | None = None) -> Any:
        """Run the function as a read-only call and return its decoded result.

        The call goes to the node as a plain ``eth_call`` (see :meth:`Chain.call_raw`),
        so a revert's reason is decoded from its data the same way on every backend.
        """
        fn = self._fn(args)
        chain = self.contract.chain
        out = chain.call_raw(self.contract.address, _calldata(fn), block, sender=sender.address if sender else None)
        types = get_abi_output_types(fn.abi)
        try:
            values = chain.w3.codec.decode(types, out)
        except DecodingError:
            if not out and not chain.get_code(self.contract.address):
                raise ChainError(f"{self.contract.contract_name}: no contract at {self.contract.address}") from None
            raise ChainError(f"{self!r}: cannot decode its answer 0x{out.hex()} as {types}") from None
        result = map_abi_data(BASE_RETURN_NORMALIZERS, types, values)  # checksummed addresses
        return result[0] if len(result) == 1 else result

    def transact(
        self, *args: Any, sender: Signer | None = None, value: int = 0, gas: int | None = None
    ) -> TxReceipt:
        """Send the function as a transaction from ``sender``; return the receipt."""
        tx = self.build(*args, value=value)
        if gas is not None:
            tx["gas"] = gas
        return self.contract.chain.send(tx, sender)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        """A view runs as a call; anything else is sent as a transaction."""
        if self.is_view:
            return self.call(*args, **{k: v for k, v in kwargs.items() if k in ("block", "sender")})
        return self.transact(*args, **kwargs)


class Contract:
    """A deployed contract on a chain, by name, address and ABI."""

    def __init__(self, chain: Chain, name: str, address: str, abi: list[dict[str, Any]]) -> None:
        self.chain = chain
        self.contract_name = name
        self.address = to_checksum_address(address)
        self.abi = abi
        self.web3_contract = chain.w3.eth.contract(address=self.address, abi=abi)
        self._functions = {e["name"] for e in abi if e.get("type") == "function"}
        # by first topic as 0x-hex, the form eth_getLogs takes
        self._events: dict[str, ABIEvent] = {
            "0x" + event_abi_to_log_topic(cast(ABIEvent, e)).hex(): cast(ABIEvent, e)
            for e in abi
            if e.get("type") == "event"
        }
        chain.register_errors(abi)  # its custom errors, decoded by name in any revert

    def __repr__(self) -> str:
        return f"Contract({self.contract_name} at {self.address} on chain {self.chain.chain_id})"

    def __getattr__(self, item: str) -> ContractFunction:
        if item.startswith("_") or item not in self._functions:
            raise AttributeError(f"{self.contract_name} has no function {item!r}")
        return ContractFunction(self, item)

    def fn(self, name: str) -> ContractFunction:
        """The function ``name`` (for names that clash with Python attributes)."""
        if name not in self._functions:
            raise ConfigError(f"{self.contract_name} has no function {name!r}")
        return ContractFunction(self, name)

    # -- events ---------------------------------------------------------
    @property
    def event_names(self) -> list[str]:
        """The names of this contract's events, in ABI order."""
        return [str(e["name"]) for e in self._events.values()]

    def event_topic(self, name: str) -> bytes:
        """The first topic (signature hash) of the event ``name``."""
        (topic,) = self._topics([name])
        return bytes.fromhex(topic[2:])

    def _topics(self, names: list[str] | None) -> list[str]:
        if names is None:
            return list(self._events)
        topics = [t for t, e in self._events.items() if e["name"] in names]
        unknown = set(names) - {self._events[t]["name"] for t in topics}
        if unknown:
            raise ConfigError(f"{self.contract_name} has no event {sorted(unknown)[0]!r}")
        return topics

    def _event_abi(self, topic0: Any) -> ABIEvent | None:
        key = topic0.lower() if isinstance(topic0, str) else "0x" + bytes(topic0).hex()
        return self._events.get(key if key.startswith("0x") else "0x" + key)

    def decode_log(self, log: Log | Mapping[str, Any]) -> Event | None:
        """Decode one log of this contract (a :class:`Log` from :meth:`iter_logs`, or a
        raw entry of a receipt); None if it is not one of its events."""
        raw = log.to_web3() if isinstance(log, Log) else log
        topics = raw.get("topics") or []
        if not topics or to_checksum_address(raw["address"]) != self.address:
            return None
        abi = self._event_abi(topics[0])
        if abi is None:
            return None
        data = get_event_data(self.chain.w3.codec, abi, cast(LogReceipt, raw))
        tx_hash: Any = data["transactionHash"]
        return Event(
            name=data["event"],
            args=dict(data["args"]),
            address=self.address,
            block_number=int(data["blockNumber"]),
            tx_hash=tx_hash if isinstance(tx_hash, str) else "0x" + bytes(tx_hash).hex(),
            log_index=int(data["logIndex"]),
        )

    def events_in(self, receipt: TxReceipt, name: str | None = None) -> list[Event]:
        """The events of this contract in ``receipt`` (optionally only ``name``)."""
        out = [e for e in map(self.decode_log, receipt.logs) if e is not None]
        return [e for e in out if name is None or e.name == name]

    def get_events(
        self,
        names: str | list[str] | None = None,
        from_block: int = 0,
        to_block: int | None = None,
        *,
        chunk: int = 5_000,
        where: list[bytes | None] | None = None,
    ) -> list[Event]:
        """Every event (of ``names``, or all) in ``[from_block, to_block]``, in chain order.

        Large ranges are read in chunks of ``chunk`` blocks, so a node's limit
        on ``eth_getLogs`` ranges is respected. ``where`` filters on the indexed
        arguments, in order, at the node: a 32-byte topic per argument, or None
        for any value.
        """
        return list(self.iter_events(names, from_block, to_block, chunk=chunk, where=where))

    def iter_events(
        self,
        names: str | list[str] | None = None,
        from_block: int = 0,
        to_block: int | None = None,
        *,
        chunk: int = 5_000,
        where: list[bytes | None] | None = None,
    ) -> Iterator[Event]:
        """Like :meth:`get_events`, but yields events chunk by chunk."""
        for log in self.iter_logs(names, from_block, to_block, chunk=chunk, where=where):
            ev = self.decode_log(log)
            if ev is not None:
                yield ev

    def get_logs(
        self,
        names: str | list[str] | None = None,
        from_block: int = 0,
        to_block: int | None = None,
        *,
        chunk: int = 5_000,
        where: list[bytes | None] | None = None,
    ) -> list[Log]:
        """Like :meth:`get_events`, but the logs are named and left undecoded.

        One ``eth_getLogs`` per chunk covers every name in ``names``. For a reader
        that needs most logs only by name and indexed arguments (``Log.topics``)
        and decodes the few it acts on (:meth:`decode_log`): decoding is the
        costly part of reading events.
        """
        return list(self.iter_logs(names, from_block, to_block, chunk=chunk, where=where))

    def iter_logs(
        self,
        names: str | list[str] | None = None,
        from_block: int = 0,
        to_block: int | None = None,
        *,
        chunk: int = 5_000,
        where: list[bytes | None] | None = None,
    ) -> Iterator[Log]:
        """Like :meth:`get_logs`, but yields logs chunk by chunk."""
        if isinstance(names, str):
            names = [names]
        topics = self._topics(names)
        extra = ["0x" + t.hex() if t is not None else None for t in (where or [])]
        if to_block is None:
            to_block = self.chain.block_number()
        start = from_block
        while start <= to_block:
            end = min(start + chunk - 1, to_block)
            params = {"address": self.address, "fromBlock": start, "toBlock": end, "topics": [topics, *extra]}
            for raw in self.chain.get_logs(params):
                abi = self._event_abi((raw.get("topics") or [b""])[0])
                if abi is not None and to_checksum_address(raw["address"]) == self.address:
                    yield Log.from_web3(str(abi["name"]), raw)
            start = end + 1

    def cursor(
        self, names: str | list[str] | None = None, from_block: int = 0, confirmations: int = 0
    ) -> EventCursor:
        """An :class:`EventCursor` over this contract's events, starting at ``from_block``."""
        return EventCursor(self, names, from_block, confirmations)


class EventCursor:
    """Reads a contract's events forward, resumable from a block number.

    ``poll()`` returns the events since the last poll; ``next_block`` is the
    first block not yet read. A daemon persists ``next_block`` with whatever it
    did with the events, and on restart builds a cursor from it: nothing is
    missed and nothing is read twice.
    """

    def __init__(
        self,
        contract: Contract,
        names: str | list[str] | None = None,
        from_block: int = 0,
        confirmations: int = 0,
    ) -> None:
        self.contract = contract
        self.names = [names] if isinstance(names, str) else names
        self.next_block = from_block
        self.confirmations = confirmations

    def poll(self, max_blocks: int = 10_000) -> list[Event]:
        """The events in blocks ``next_block`` .. head − confirmations (at most ``max_blocks``)."""
        head = self.contract.chain.block_number() - self.confirmations
        if head < self.next_block:
            return []
        end = min(head, self.next_block + max_blocks - 1)
        events = self.contract.get_events(self.names, self.next_block, end)
        self.next_block = end + 1
        return events


def deploy(
    chain: Chain,
    name_or_artifact: str | Artifact,
    *args: Any,
    sender: Signer | None = None,
    evm_version: str = DEFAULT_EVM_VERSION,
) -> Contract:
    """Compile (cached) and deploy a contract; return its handle."""
    art = (
        name_or_artifact
        if isinstance(name_or_artifact, Artifact)
        else compile_contract(name_or_artifact, evm_version)
    )
    factory = chain.w3.eth.contract(abi=art.abi, bytecode=art.bytecode)
    try:
        data = factory.constructor(*args).data_in_transaction
    except Exception as exc:
        raise ConfigError(f"{art.name}: bad constructor arguments {args!r}: {exc}") from None
    receipt = chain.send({"data": data}, sender)
    if not receipt.contract_address:
        raise ChainError(f"deploying {art.name} produced no contract (tx {receipt.tx_hash})")
    if not chain.get_code(receipt.contract_address):
        raise ChainError(
            f"deploying {art.name} left no code at {receipt.contract_address}",
            hint="the chain may not support this EVM version; try --evm-version shanghai",
        )
    return Contract(chain, art.name, receipt.contract_address, art.abi)
