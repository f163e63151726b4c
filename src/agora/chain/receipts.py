"""Transaction receipts, logs, events and blocks as small, plain values."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from eth_utils.address import to_checksum_address

__all__ = ["Block", "Event", "Log", "TxReceipt"]


def _int(value: Any) -> int:
    """A JSON-RPC quantity (``0x…`` hex) or an int as an int; None as 0."""
    return int(value, 16) if isinstance(value, str) else int(value or 0)


def _hex(value: Any) -> str:
    """A hash as ``0x…`` hex, whether the backend gave bytes or a hex string."""
    return value if isinstance(value, str) else "0x" + bytes(value).hex()


def _bytes(value: Any) -> bytes:
    """Data or a topic as bytes, whether the backend gave bytes or a hex string."""
    return bytes.fromhex(value[2:]) if isinstance(value, str) else bytes(value)


@dataclass(frozen=True)
class Event:
    """One decoded contract event."""

    name: str
    args: dict[str, Any]
    address: str
    block_number: int
    tx_hash: str
    log_index: int

    def __getitem__(self, key: str) -> Any:
        return self.args[key]


@dataclass(frozen=True)
class Log:
    """One raw log of a known event: named by its first topic, not decoded.

    Reading many logs and decoding only those that matter is much cheaper than
    decoding all of them (``Contract.decode_log`` decodes one when needed).
    ``topics[0]`` is the event's signature hash; the others are its indexed
    arguments, 32 bytes each (an address right-aligned, an integer big-endian).
    """

    name: str
    address: str
    topics: tuple[bytes, ...]
    data: bytes
    block_number: int
    tx_hash: str
    log_index: int
    block_hash: str = ""
    tx_index: int = 0

    @classmethod
    def from_web3(cls, name: str, log: Mapping[str, Any]) -> Log:
        """Build from a web3 log entry (or a raw JSON-RPC one, with hex strings)."""
        return cls(
            name=name,
            address=to_checksum_address(log["address"]),
            topics=tuple(_bytes(t) for t in log.get("topics") or ()),
            data=_bytes(log.get("data") or b""),
            block_number=_int(log["blockNumber"]),
            tx_hash=_hex(log["transactionHash"]),
            log_index=_int(log["logIndex"]),
            block_hash=_hex(log.get("blockHash") or b""),
            tx_index=_int(log.get("transactionIndex")),
        )

    def to_web3(self) -> dict[str, Any]:
        """The log entry in web3's form (what its event decoder reads)."""
        return {
            "address": self.address,
            "topics": list(self.topics),
            "data": self.data,
            "blockNumber": self.block_number,
            "transactionHash": bytes.fromhex(self.tx_hash[2:]),
            "logIndex": self.log_index,
            "blockHash": bytes.fromhex(self.block_hash[2:]),
            "transactionIndex": self.tx_index,
        }


@dataclass(frozen=True)
class TxReceipt:
    """The mined outcome of a transaction (status 1: every receipt we hand out succeeded).

    Named apart from ``agora.value.Receipt``, the signed receipt of a paid call.
    """

    tx_hash: str
    block_number: int
    gas_used: int
    effective_gas_price: int
    status: int
    contract_address: str | None
    logs: list[dict[str, Any]] = field(repr=False, default_factory=list)

    @property
    def fee(self) -> int:
        """What the sender paid for gas, in wei."""
        return self.gas_used * self.effective_gas_price

    @classmethod
    def from_rpc(cls, r: Mapping[str, Any]) -> TxReceipt:
        """Build from a raw JSON-RPC receipt (hex strings), as a batch request returns it."""
        logs = []
        for log in r.get("logs") or []:
            logs.append({
                **log,
                "blockNumber": _int(log.get("blockNumber")),
                "logIndex": _int(log.get("logIndex")),
                "transactionIndex": _int(log.get("transactionIndex")),
                "topics": [_bytes(t) for t in log.get("topics") or []],
                "data": _bytes(log.get("data") or "0x"),
                "transactionHash": _bytes(log["transactionHash"]),
                "blockHash": _bytes(log["blockHash"]),
            })
        contract = r.get("contractAddress")
        return cls(
            tx_hash=_hex(r["transactionHash"]),
            block_number=_int(r["blockNumber"]),
            gas_used=_int(r["gasUsed"]),
            effective_gas_price=_int(r.get("effectiveGasPrice")),
            status=_int(r["status"]),
            contract_address=to_checksum_address(contract) if contract else None,
            logs=logs,
        )

    @classmethod
    def from_web3(cls, r: Mapping[str, Any]) -> TxReceipt:
        """Build from a web3 ``TxReceipt`` mapping."""
        return cls(
            tx_hash=_hex(r["transactionHash"]),
            block_number=int(r["blockNumber"]),
            gas_used=int(r["gasUsed"]),
            effective_gas_price=int(r.get("effectiveGasPrice") or 0),
            status=int(r["status"]),
            contract_address=r.get("contractAddress"),
            logs=[dict(log) for log in r["logs"]],
        )


@dataclass(frozen=True)
class Block:
    """The header fields of one block that Agora reads."""

    number: int
    hash: str
    parent_hash: str
    timestamp: int
    gas_limit: int
    base_fee_per_gas: int | None

    @classmethod
    def from_web3(cls, b: Mapping[str, Any]) -> Block:
        """Build from a web3 block mapping (or a raw JSON-RPC one)."""
        base_fee = b.get("baseFeePerGas")
        return cls(
            number=_int(b["number"]),
            hash=_hex(b["hash"]),
            parent_hash=_hex(b["parentHash"]),
            timestamp=_int(b["timestamp"]),
            gas_limit=_int(b["gasLimit"]),
            base_fee_per_gas=None if base_fee is None else _int(base_fee),
        )
