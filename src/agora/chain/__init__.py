"""The chain seam: ``connect(uri)``, accounts, transactions, contracts, events.

Nothing here knows about Agora's markets; every layer talks to the chain
through this package, so the same code runs on the embedded py-evm chain and
on any JSON-RPC node.

The names below are imported on first use (PEP 562), so that what needs only a
light part of the seam (the compiler, :class:`Backoff`, the raw JSON-RPC reads of
:mod:`agora.chain.rpc`) does not load web3 and eth-account, which take about a
second to import.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from agora.chain.accounts import (
        DEV_MNEMONIC,
        Signer,
        create_keystore,
        dev_signer,
        dev_signers,
        load_keystore,
        signer_from_key,
    )
    from agora.chain.backoff import Backoff
    from agora.chain.compiler import (
        DEFAULT_EVM_VERSION,
        EVM_VERSIONS,
        Artifact,
        compile_contract,
        compile_file,
        list_contracts,
    )
    from agora.chain.connection import DEVNET_CHAIN_IDS, EMBEDDED, Chain, connect
    from agora.chain.contracts import Contract, ContractFunction, EventCursor, deploy
    from agora.chain.permits import PERMIT_TYPES, permit_typed_data, sign_permit
    from agora.chain.receipts import Block, Event, Log, TxReceipt
    from agora.chain.reverts import ErrorABI, decode_revert, error_abis, revert_data
    from agora.chain.rpc import JsonRpc
    from agora.chain.tx import PendingTx, TxSender

    Receipt = TxReceipt  # the deprecated name, for type checkers (see __getattr__)

#: Where each public name lives (imported on first use).
_EXPORTS: dict[str, str] = {
    "Artifact": "agora.chain.compiler",
    "Backoff": "agora.chain.backoff",
    "Block": "agora.chain.receipts",
    "Chain": "agora.chain.connection",
    "Contract": "agora.chain.contracts",
    "ContractFunction": "agora.chain.contracts",
    "DEFAULT_EVM_VERSION": "agora.chain.compiler",
    "DEVNET_CHAIN_IDS": "agora.chain.connection",
    "DEV_MNEMONIC": "agora.chain.accounts",
    "EMBEDDED": "agora.chain.connection",
    "EVM_VERSIONS": "agora.chain.compiler",
    "PERMIT_TYPES": "agora.chain.permits",
    "ErrorABI": "agora.chain.reverts",
    "Event": "agora.chain.receipts",
    "EventCursor": "agora.chain.contracts",
    "JsonRpc": "agora.chain.rpc",
    "Log": "agora.chain.receipts",
    "PendingTx": "agora.chain.tx",
    "Signer": "agora.chain.accounts",
    "TxReceipt": "agora.chain.receipts",
    "TxSender": "agora.chain.tx",
    "compile_contract": "agora.chain.compiler",
    "compile_file": "agora.chain.compiler",
    "connect": "agora.chain.connection",
    "create_keystore": "agora.chain.accounts",
    "decode_revert": "agora.chain.reverts",
    "deploy": "agora.chain.contracts",
    "dev_signer": "agora.chain.accounts",
    "dev_signers": "agora.chain.accounts",
    "error_abis": "agora.chain.reverts",
    "list_contracts": "agora.chain.compiler",
    "permit_typed_data": "agora.chain.permits",
    "load_keystore": "agora.chain.accounts",
    "revert_data": "agora.chain.reverts",
    "sign_permit": "agora.chain.permits",
    "signer_from_key": "agora.chain.accounts",
}

__all__ = [
    "Artifact",
    "Backoff",
    "Block",
    "Chain",
    "Contract",
    "ContractFunction",
    "DEFAULT_EVM_VERSION",
    "DEVNET_CHAIN_IDS",
    "DEV_MNEMONIC",
    "EMBEDDED",
    "EVM_VERSIONS",
    "ErrorABI",
    "Event",
    "EventCursor",
    "JsonRpc",
    "Log",
    "PERMIT_TYPES",
    "PendingTx",
    "Signer",
    "TxReceipt",
    "TxSender",
    "compile_contract",
    "compile_file",
    "connect",
    "create_keystore",
    "decode_revert",
    "deploy",
    "dev_signer",
    "dev_signers",
    "error_abis",
    "list_contracts",
    "load_keystore",
    "permit_typed_data",
    "revert_data",
    "sign_permit",
    "signer_from_key",
]


def __getattr__(name: str) -> Any:
    # ``Receipt`` was this package's name for a transaction receipt until it was renamed
    # TxReceipt (``agora.value.Receipt`` is a signed receipt of a paid call); the old name
    # still imports, outside ``__all__``, and will go once no caller uses it.
    module = _EXPORTS.get("TxReceipt" if name == "Receipt" else name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), "TxReceipt" if name == "Receipt" else name)
    if name != "Receipt":
        globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_EXPORTS})
