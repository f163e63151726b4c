"""The chain seam: ``connect(uri)``, accounts, transactions, contracts, events.

Nothing here knows about Agora's markets; every layer talks to the chain
through this package, so the same code runs on the embedded py-evm chain and
on any JSON-RPC node.
"""

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
    list_contracts,
)
from agora.chain.connection import DEVNET_CHAIN_IDS, EMBEDDED, Chain, connect
from agora.chain.contracts import Contract, ContractFunction, EventCursor, deploy
from agora.chain.permits import PERMIT_TYPES, permit_typed_data, sign_permit
from agora.chain.receipts import Event, Receipt
from agora.chain.tx import PendingTx, TxSender

__all__ = [
    "Artifact",
    "Chain",
    "Contract",
    "ContractFunction",
    "DEFAULT_EVM_VERSION",
    "DEVNET_CHAIN_IDS",
    "DEV_MNEMONIC",
    "EMBEDDED",
    "EVM_VERSIONS",
    "PERMIT_TYPES",
    "Event",
    "EventCursor",
    "PendingTx",
    "Receipt",
    "Signer",
    "TxSender",
    "compile_contract",
    "connect",
    "create_keystore",
    "deploy",
    "dev_signer",
    "dev_signers",
    "list_contracts",
    "permit_typed_data",
    "load_keystore",
    "sign_permit",
    "signer_from_key",
]
