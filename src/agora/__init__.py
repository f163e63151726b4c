"""Agora: an open AI economy. AI computes off-chain; an EVM chain coordinates,
verifies, settles and rewards."""

from agora.errors import AgoraError

__version__ = "0.1.0"

__all__ = ["AgoraError", "Client", "__version__"]


def __getattr__(name: str) -> object:
    # Client pulls in web3 and the compiler; keep `import agora` light for the CLI
    if name == "Client":
        from agora.client import Client

        return Client
    raise AttributeError(f"module 'agora' has no attribute {name!r}")
