"""Accounts: dev accounts from the standard mnemonic, encrypted keystores, env keys.

A :class:`Signer` holds a private key and signs locally; its ``repr`` and
``str`` show only the address, so a key never lands in a log or a traceback
by accident.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import coincurve
from eth_account import Account
from eth_account.messages import encode_typed_data
from eth_account.signers.local import LocalAccount
from eth_utils.address import to_checksum_address

from agora.errors import ConfigError

__all__ = [
    "DEV_MNEMONIC",
    "Signer",
    "dev_signer",
    "dev_signers",
    "create_keystore",
    "list_keystores",
    "load_keystore",
    "new_signer",
    "read_keystore_address",
    "signer_from_key",
]

#: The well-known development mnemonic (anvil, hardhat, eth-tester's
#: ``from_mnemonic``). Never use it on a real network: everyone knows it.
DEV_MNEMONIC = "test test test test test test test test test test test junk"

Account.enable_unaudited_hdwallet_features()


@dataclass(frozen=True)
class Signer:
    """A local account that signs transactions, messages and EIP-712 data."""

    address: str
    _account: LocalAccount = field(repr=False, compare=False)

    def __repr__(self) -> str:
        return f"Signer({self.address})"

    __str__ = __repr__

    def sign_transaction(self, tx: dict[str, Any]) -> bytes:
        """Sign a transaction dict; return the raw signed bytes."""
        return bytes(self._account.sign_transaction(tx).raw_transaction)

    def sign_typed_data(self, typed: dict[str, Any]) -> bytes:
        """Sign an EIP-712 message given as ``{types, primaryType, domain, message}``."""
        signed = self._account.sign_message(encode_typed_data(full_message=typed))
        return bytes(signed.signature)

    def sign_hash(self, digest: bytes) -> bytes:
        """Sign a 32-byte digest as is (no prefix); return the 65-byte ``r‖s‖v`` signature
        (v = 27/28, low s). Straight to libsecp256k1: ~35 µs, for per-call cheques."""
        key = self.__dict__.get("_curve_key")
        if key is None:
            key = coincurve.PrivateKey(bytes(self._account.key))
            object.__setattr__(self, "_curve_key", key)
        sig = key.sign_recoverable(digest, hasher=None)
        return sig[:64] + bytes([sig[64] + 27])

    def encrypt(self, password: str) -> dict[str, Any]:
        """Return this key as an encrypted keystore (scrypt) JSON object."""
        return Account.encrypt(self._account.key, password)


def signer_from_key(private_key: str | bytes) -> Signer:
    """Build a signer from a hex or raw private key (e.g. from an environment variable)."""
    try:
        acct = Account.from_key(private_key)
    except Exception:
        # never echo the key itself
        raise ConfigError("the private key is malformed (expected 32 bytes as hex)") from None
    return Signer(to_checksum_address(acct.address), acct)


@lru_cache(maxsize=64)
def dev_signer(index: int = 0, mnemonic: str = DEV_MNEMONIC) -> Signer:
    """The dev account at ``m/44'/60'/0'/0/index`` of ``mnemonic``."""
    acct = Account.from_mnemonic(mnemonic, account_path=f"m/44'/60'/0'/0/{index}")
    return Signer(to_checksum_address(acct.address), acct)


def dev_signers(count: int = 10, mnemonic: str = DEV_MNEMONIC) -> list[Signer]:
    """The first ``count`` dev accounts of ``mnemonic``."""
    return [dev_signer(i, mnemonic) for i in range(count)]


def new_signer() -> Signer:
    """A fresh random account (for :func:`create_keystore`)."""
    acct = Account.create()
    return Signer(to_checksum_address(acct.address), acct)


def create_keystore(path: Path, password: str, signer: Signer | None = None) -> Signer:
    """Write an encrypted keystore for ``signer`` (a fresh random key if None) to ``path``.

    Refuses to overwrite an existing file. The file is created with mode 0600.
    """
    if not password:
        raise ConfigError("a keystore needs a non-empty password")
    if path.exists():
        raise ConfigError(f"{path} already exists; choose another path or remove it first")
    if signer is None:
        signer = new_signer()
    path.parent.mkdir(parents=True, exist_ok=True)
    data = json.dumps(signer.encrypt(password))
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(data)
    return signer


def load_keystore(path: Path, password: str) -> Signer:
    """Decrypt the keystore at ``path`` with ``password``."""
    try:
        data = json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise ConfigError(f"keystore {path} does not exist") from None
    except (OSError, ValueError) as exc:
        raise ConfigError(f"keystore {path} is not a readable keystore file: {exc}") from None
    if not isinstance(data, dict) or not ({"crypto", "Crypto"} & set(data)):
        raise ConfigError(f"keystore {path} is malformed: it is not an encrypted keystore")
    try:
        key = Account.decrypt(data, password)
    except ValueError:
        raise ConfigError(f"wrong password for keystore {path}") from None
    except Exception as exc:
        raise ConfigError(f"keystore {path} is malformed: {exc}") from None
    return signer_from_key(key)


def read_keystore_address(path: Path) -> str | None:
    """The address a keystore file names (read without its password), checksummed; None if the
    file is not a keystore or names no address (the address field is optional in the format)."""
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or not ({"crypto", "Crypto"} & set(data)):
        return None
    raw = data.get("address")
    if not isinstance(raw, str):
        return None
    try:
        return to_checksum_address(raw if raw.startswith("0x") else "0x" + raw)
    except ValueError:
        return None


def list_keystores(folder: Path) -> list[tuple[Path, str | None]]:
    """``(path, address)`` of every ``*.json`` keystore in ``folder``, by file name (none if the
    folder does not exist); the address as :func:`read_keystore_address` reads it."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    return [(p, read_keystore_address(p)) for p in sorted(folder.glob("*.json")) if p.is_file()]
