"""The chain seam: ``connect(uri)``, accounts, transactions, contracts, events.

Nothing here knows about Agora's markets; every layer talks to the chain
through this package, so the same code runs on the embedded py-evm chain and
on any JSON-RPC node.
"""

from typing import TYPE_CHECKING, Any

from agora.chain.accounts import (
    DEV_MNEMONIC,
    Signer,
    create_keystore,
    dev_signer,
    dev_signers,
    load_keystore,
    signer_from_key,
)
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
from agora.chain.tx import PendingTx, TxSender

if TYPE_CHECKING:
    Receipt = TxReceipt  # the deprecated name, for type checkers (see __getattr__)

__all__ = [
    "Artifact",
    "Block",
    "Chain",
    "Contract",
    "ContractFunction",
    "DEFAULT_EVM_VERSION",
    "DEVNET_CHAIN_IDS",
    "DEV_MNEMONIC",
    "EMBEDDED",
    "EVM_VERSIONS",
    "PERMIT_TYPES",
    "ErrorABI",
    "Event",
    "EventCursor",
    "Log",
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
    "permit_typed_data",
    "load_keystore",
    "revert_data",
    "sign_permit",
    "signer_from_key",
]


def __getattr__(name: str) -> Any:
    # ``Receipt`` was this package's name for a transaction receipt until it was renamed
    # TxReceipt (``agora.value.Receipt`` is a signed receipt of a paid call); the old name
    # still imports, outside ``__all__``, and will go once no caller uses it.
    if name == "Receipt":
        return TxReceipt
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
