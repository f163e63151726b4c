"""Agora: an open AI economy. AI computes off-chain; an EVM chain coordinates,
verifies, settles and rewards."""

from agora.errors import AgoraError

__version__ = "0.1.0"

__all__ = ["AgoraError", "__version__"]
