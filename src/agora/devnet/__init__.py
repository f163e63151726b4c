"""Local devnets: anvil from npm, with persistent state, contracts and funded accounts."""

from agora.devnet.anvil import AnvilProcess, find_anvil, free_port, start_anvil, wait_for_rpc
from agora.devnet.manager import DEVNET_CHAIN_ID, Devnet, DevnetInfo

__all__ = [
    "DEVNET_CHAIN_ID",
    "AnvilProcess",
    "Devnet",
    "DevnetInfo",
    "find_anvil",
    "free_port",
    "start_anvil",
    "wait_for_rpc",
]
