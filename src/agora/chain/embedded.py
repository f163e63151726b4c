"""The embedded backend: py-evm in this process, through web3's EthereumTesterProvider.

Two changes to eth-tester's ``eth_call``, both to behave as a node does:

* a failed call keeps the EVM's error (py-evm's ``Revert``, whose argument is the
  raw revert data) as the cause of the ``TransactionFailed`` it raises. eth-tester
  itself turns the data into text (the decoded ``Error(string)``, else the ``repr``
  of the bytes), from which a custom error or a panic cannot be told apart
  reliably; with the cause kept, :func:`agora.chain.reverts.revert_data` reads the
  same bytes a node returns;
* a call without a fee costs its sender nothing, so an account without funds can
  call views. eth-tester charges a default fee of 1 gwei a gas (up to the block's
  gas limit), which such an account cannot pay.
"""

from __future__ import annotations

import bisect
import threading
from typing import Any

from eth.exceptions import VMError
from eth_tester import EthereumTester, PyEVMBackend
from eth_tester.backends.pyevm.main import EVMSpoofTransaction, _get_vm_for_block_number
from eth_tester.exceptions import TransactionFailed
from web3 import EthereumTesterProvider, Web3

from agora.chain.accounts import DEV_MNEMONIC

__all__ = ["LogIndex", "failure_reason", "make_embedded_web3"]

#: The standard derivation path, so that the dev accounts are anvil's and Hardhat's too.
_HD_PATH = "m/44'/60'/0'/0"
#: py-evm's failures other than a revert, by class name
_VM_FAILURES = {"OutOfGas": "out of gas", "InvalidInstruction": "invalid opcode"}


class _Backend(PyEVMBackend):  # type: ignore[misc]  # eth-tester ships no type information
    """eth-tester's py-evm backend whose failed calls keep their raw revert data."""

    def call(self, transaction: dict[str, Any], block_number: Any = "latest") -> bytes:
        """Run ``transaction`` as a call at ``block_number``; raise on failure with the
        EVM's error (``Revert(data)``, ``OutOfGas``…) as the cause."""
        tx = dict(transaction)
        tx.setdefault("gas", self._max_available_gas())
        state = _get_vm_for_block_number(self.chain, block_number).state
        if not any(key in tx for key in ("gas_price", "max_fee_per_gas", "max_priority_fee_per_gas")):
            tx.update(max_fee_per_gas=state.base_fee, max_priority_fee_per_gas=0)
        unsigned = self._get_normalized_and_unsigned_evm_transaction(tx, block_number)
        spoofed = EVMSpoofTransaction(unsigned, from_=transaction["from"])
        snapshot = state.snapshot()
        try:
            # lend the sender the fee that py-evm takes up front: the call costs it nothing,
            # and the contract sees the sender's own balance, as on a node
            state.delta_balance(spoofed.sender, spoofed.gas * state.get_gas_price(spoofed))
            computation = state.apply_transaction(spoofed)
        finally:
            state.revert(snapshot)
        if computation.is_error:
            error = computation.error
            raise TransactionFailed(str(error)) from error
        return bytes(computation.output)


def make_embedded_web3(accounts: int = 10, balance: int = 10_000 * 10**18, gas_limit: int = 30_000_000) -> Web3:
    """A fresh in-process chain whose first ``accounts`` dev accounts hold ``balance`` wei."""
    backend = _Backend.from_mnemonic(
        DEV_MNEMONIC,
        num_accounts=accounts,
        hd_path=_HD_PATH,
        genesis_state_overrides={"balance": balance},
        genesis_parameters={"gas_limit": gas_limit},
    )
    return Web3(EthereumTesterProvider(EthereumTester(backend)))


def failure_reason(exc: BaseException) -> str | None:
    """The reason of a failed call or estimate on the embedded chain that has no revert
    data (py-evm's error behind eth-tester's, by its class), or None if ``exc`` is none."""
    e: BaseException | None = exc
    for _ in range(8):  # the causes behind an eth-tester failure
        if e is None:
            break
        if isinstance(e, VMError) and type(e).__name__ != "Revert":
            name = type(e).__name__
            return _VM_FAILURES.get(name, f"execution failed ({name})")
        e = e.__cause__ or e.__context__
    return "no reason given" if isinstance(exc, TransactionFailed) else None


class LogIndex:
    """Every log of an embedded chain, kept in memory and filtered here.

    eth-tester answers ``eth_getLogs`` by walking every block of the range and every log in it,
    whatever the filter: on a chain of thousands of blocks one topic-filtered read costs a
    second. The index reads each new range once (one unfiltered ``get_logs`` from the last block
    it saw to the head) and answers filters from memory. A chain that moved back (a different
    hash at the last block seen) is read again from the start.
    """

    def __init__(self) -> None:
        self.logs: list[Any] = []
        self.next_block = 0
        self.last_hash: bytes | None = None
        self._lock = threading.Lock()

    def query(self, w3: Web3, params: dict[str, Any]) -> list[Any]:
        """The logs matching ``params`` (address, fromBlock, toBlock, topics), in chain order."""
        with self._lock:
            head = int(w3.eth.block_number)
            if self.next_block and (self.next_block - 1 > head or
                                    bytes(w3.eth.get_block(self.next_block - 1)["hash"]) != self.last_hash):
                self.logs, self.next_block, self.last_hash = [], 0, None
            if head >= self.next_block:
                self.logs += w3.eth.get_logs({"fromBlock": self.next_block, "toBlock": head})
                self.next_block = head + 1
                self.last_hash = bytes(w3.eth.get_block(head)["hash"])
            logs = self.logs
        lo = _block(params.get("fromBlock"), 0, head)
        hi = _block(params.get("toBlock"), head, head)
        addresses = params.get("address")
        wanted = None if addresses is None else {
            a.lower() for a in ([addresses] if isinstance(addresses, str) else addresses)}
        topics = [None if t is None else {_hex(x) for x in ([t] if isinstance(t, str | bytes) else t)}
                  for t in params.get("topics") or []]
        start = bisect.bisect_left(logs, lo, key=lambda log: int(log["blockNumber"]))
        out = []
        for log in logs[start:]:
            if int(log["blockNumber"]) > hi:
                break
            if wanted is not None and str(log["address"]).lower() not in wanted:
                continue
            have = log["topics"]
            if any(t is not None and (i >= len(have) or _hex(have[i]) not in t) for i, t in enumerate(topics)):
                continue
            out.append(log)
        return out


def _block(value: Any, default: int, head: int) -> int:
    if value is None or value in ("latest", "pending", "safe", "finalized"):
        return default if value is None else head
    if value == "earliest":
        return 0
    return int(value, 16) if isinstance(value, str) else int(value)


def _hex(value: Any) -> str:
    return (value if isinstance(value, str) else "0x" + bytes(value).hex()).lower()
