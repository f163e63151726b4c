"""The one family of errors Agora raises to its users.

Every error carries a one-line message that says what happened and, where
there is one, what to do about it. The CLI prints ``str(error)`` and nothing
else unless ``--debug`` is given.
"""

from __future__ import annotations

__all__ = [
    "AgoraError",
    "ConfigError",
    "ChainError",
    "NodeUnreachable",
    "WrongChain",
    "InsufficientFunds",
    "Reverted",
    "TransactionDropped",
    "StorageError",
    "BlobNotFound",
    "BlobMismatch",
    "BlobTooLarge",
]


class AgoraError(Exception):
    """Base class of every error Agora raises on purpose."""

    hint: str = ""

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        if hint is not None:
            self.hint = hint

    def __str__(self) -> str:
        msg = super().__str__()
        return f"{msg}; {self.hint}" if self.hint else msg


class ConfigError(AgoraError):
    """A setting, flag or file is malformed or missing."""


class ChainError(AgoraError):
    """Something went wrong talking to the chain."""


class NodeUnreachable(ChainError):
    """The node at the chain URI does not answer."""


class WrongChain(ChainError):
    """The node answers, but with another chain id than expected."""


class InsufficientFunds(ChainError):
    """The sending account cannot pay for the transaction (value + gas)."""


class Reverted(ChainError):
    """A call or transaction reverted.

    ``reason`` is decoded from the revert data (``Error(string)``'s text, a named
    ``Panic(uint256)`` code, a custom error of a known ABI, else its selector), never
    taken from a node's wording; ``data`` holds the raw revert data when the backend
    returned it (None when it did not, e.g. a transaction that ran out of gas).
    """

    def __init__(self, reason: str, *, data: bytes | None = None, hint: str | None = None) -> None:
        self.reason = reason
        self.data = data
        super().__init__(f"transaction reverted: {reason}", hint=hint)


class TransactionDropped(ChainError):
    """A sent transaction was never mined, even after it was re-broadcast."""


class StorageError(AgoraError):
    """Something went wrong storing or fetching a blob."""


class BlobNotFound(StorageError):
    """No store that was asked holds the blob."""


class BlobMismatch(StorageError):
    """A fetched blob does not hash to the CID it was asked for."""


class BlobTooLarge(StorageError):
    """A blob is larger than the store accepts."""
