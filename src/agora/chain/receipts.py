"""Receipts and events as small, plain values."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from eth_utils import to_checksum_address

__all__ = ["Receipt", "Event"]


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
class Receipt:
    """The mined outcome of a transaction (status 1: every receipt we hand out succeeded)."""

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
    def from_rpc(cls, r: dict[str, Any]) -> Receipt:
        """Build from a raw JSON-RPC receipt (hex strings), as a batch request returns it."""
        to_int = lambda v: int(v, 16) if isinstance(v, str) else int(v or 0)  # noqa: E731
        logs = []
        for log in r.get("logs") or []:
            logs.append({
                **log,
                "blockNumber": to_int(log.get("blockNumber")),
                "logIndex": to_int(log.get("logIndex")),
                "transactionIndex": to_int(log.get("transactionIndex")),
                "topics": [bytes.fromhex(t[2:]) for t in log.get("topics") or []],
                "data": bytes.fromhex((log.get("data") or "0x")[2:]),
                "transactionHash": bytes.fromhex(log["transactionHash"][2:]),
                "blockHash": bytes.fromhex(log["blockHash"][2:]),
            })
        contract = r.get("contractAddress")
        return cls(
            tx_hash=r["transactionHash"],
            block_number=to_int(r["blockNumber"]),
            gas_used=to_int(r["gasUsed"]),
            effective_gas_price=to_int(r.get("effectiveGasPrice")),
            status=to_int(r["status"]),
            contract_address=to_checksum_address(contract) if contract else None,
            logs=logs,
        )

    @classmethod
    def from_web3(cls, r: Any) -> Receipt:
        """Build from a web3 ``TxReceipt`` mapping."""
        return cls(
            tx_hash="0x" + bytes(r["transactionHash"]).hex(),
            block_number=int(r["blockNumber"]),
            gas_used=int(r["gasUsed"]),
            effective_gas_price=int(r.get("effectiveGasPrice") or 0),
            status=int(r["status"]),
            contract_address=r.get("contractAddress"),
            logs=[dict(log) for log in r["logs"]],
        )
