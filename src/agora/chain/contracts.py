"""Contract handles: calls and transactions by ABI, events by block range.

``token.balanceOf(addr)`` calls a view; ``token.transfer(to, 5, sender=s)``
sends a locally signed transaction and returns its :class:`Receipt`. Argument
types are checked against the ABI before anything is sent.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from eth_utils import event_abi_to_log_topic, to_checksum_address
from web3._utils.events import get_event_data

from agora.chain.accounts import Signer
from agora.chain.compiler import DEFAULT_EVM_VERSION, Artifact, compile_contract
from agora.chain.receipts import Event, Receipt
from agora.errors import ChainError, ConfigError

if TYPE_CHECKING:
    from agora.chain.connection import Chain

__all__ = ["Contract", "ContractFunction", "deploy", "EventCursor"]

_VIEW = ("view", "pure")


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
        return bytes.fromhex(self._fn(args)._encode_transaction_data().removeprefix("0x"))

    def build(self, *args: Any, value: int = 0) -> dict[str, Any]:
        """A transaction dict (to, data, value) for a call with ``args``, unsigned."""
        return {"to": self.contract.address, "data": self.encode(*args), "value": value}

    def call(self, *args: Any, block: int | str = "latest", sender: Signer | None = None) -> Any:
        """Run the function as a read-only call and return its decoded result."""
        fn = self._fn(args)
        opts: dict[str, Any] = {}
        if sender is not None:
            opts["from"] = sender.address
        chain = self.contract.chain
        try:
            return fn.call(opts, block_identifier=block)
        except Exception as exc:
            raise chain.translate(exc) from exc

    def transact(
        self, *args: Any, sender: Signer | None = None, value: int = 0, gas: int | None = None
    ) -> Receipt:
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
        self._events = {
            "0x" + event_abi_to_log_topic(e).hex(): e  # type: ignore[arg-type]
            for e in abi
            if e.get("type") == "event"
        }

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
    def _topics(self, names: list[str] | None) -> list[str]:
        if names is None:
            return list(self._events)
        topics = [t for t, e in self._events.items() if e["name"] in names]
        unknown = set(names) - {self._events[t]["name"] for t in topics}
        if unknown:
            raise ConfigError(f"{self.contract_name} has no event {sorted(unknown)[0]!r}")
        return topics

    def decode_log(self, log: dict[str, Any]) -> Event | None:
        """Decode one raw log of this contract; None if it is not one of its events."""
        topics = log.get("topics") or []
        if not topics or to_checksum_address(log["address"]) != self.address:
            return None
        topic0 = topics[0]
        key = topic0 if isinstance(topic0, str) else "0x" + bytes(topic0).hex()
        abi = self._events.get(key if key.startswith("0x") else "0x" + key)
        if abi is None:
            return None
        data = get_event_data(self.chain.w3.codec, abi, log)  # type: ignore[arg-type]
        tx_hash = data["transactionHash"]
        return Event(
            name=data["event"],
            args=dict(data["args"]),
            address=self.address,
            block_number=int(data["blockNumber"]),
            tx_hash=tx_hash if isinstance(tx_hash, str) else "0x" + bytes(tx_hash).hex(),
            log_index=int(data["logIndex"]),
        )

    def events_in(self, receipt: Receipt, name: str | None = None) -> list[Event]:
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
        if isinstance(names, str):
            names = [names]
        topics = self._topics(names)
        extra = ["0x" + t.hex() if t is not None else None for t in (where or [])]
        if to_block is None:
            to_block = self.chain.block_number()
        start = from_block
        while start <= to_block:
            end = min(start + chunk - 1, to_block)
            params = {
                "address": self.address,
                "fromBlock": start,
                "toBlock": end,
                "topics": [topics, *extra],
            }
            logs = self.chain._rpc(lambda p=params: self.chain.w3.eth.get_logs(p))  # type: ignore[arg-type]
            for log in logs:
                ev = self.decode_log(dict(log))
                if ev is not None:
                    yield ev
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
