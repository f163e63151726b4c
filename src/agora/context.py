"""``Context``: the settings, chain, account, protocol deployment and storage that every
layer's facade, daemon and server is built from.

:class:`agora.Client` is a ``Context`` with the layers' facades on top; a layer's
process (a provider daemon, a paid model server) builds a plain ``Context`` so it
needs nothing above the layers.
"""

from __future__ import annotations

import hashlib
import tempfile
from collections.abc import Callable
from functools import cached_property
from pathlib import Path

from agora.chain import Chain, Contract, Signer, connect, load_keystore, signer_from_key
from agora.config import Settings, load_settings
from agora.errors import ConfigError
from agora.protocol import AddressBook, Deployment, deploy_devnet, load_deployment
from agora.storage import HttpStore, LocalStore, Storage

__all__ = ["Context", "resolve_signer"]


def resolve_signer(
    settings: Settings, chain: Chain, prompt: Callable[[str], str] | None = None
) -> Signer | None:
    """The account to act as: ``AGORA_PRIVATE_KEY``, else the keystore (password from
    ``AGORA_PASSWORD`` or ``prompt``), else dev account ``settings.account`` on a devnet."""
    if settings.private_key is not None:
        return signer_from_key(settings.private_key.get_secret_value())
    if settings.keystore is not None:
        if settings.password is not None:
            password = settings.password.get_secret_value()
        elif prompt is not None:
            password = prompt(f"password for {settings.keystore}")
        else:
            raise ConfigError(
                f"keystore {settings.keystore} needs a password", hint="set AGORA_PASSWORD"
            )
        return load_keystore(settings.keystore, password)
    if chain.is_devnet:
        if not 0 <= settings.account < len(chain.dev_signers):
            raise ConfigError(f"dev account index {settings.account} is out of range 0..9")
        return chain.dev_signers[settings.account]
    return None


class Context:
    """A chain connection with an account, the protocol's deployment and storage.

    ``chain`` is a URI (default: the settings' chain, ``embedded://`` unless
    configured) or an open :class:`~agora.chain.Chain`. On the embedded chain
    the protocol is deployed fresh in this process; on any other chain it is
    loaded from the address book (``$AGORA_HOME/addressbook.json``).
    """

    def __init__(
        self,
        chain: str | Chain | None = None,
        *,
        signer: Signer | None = None,
        settings: Settings | None = None,
        prompt: Callable[[str], str] | None = None,
    ) -> None:
        self.settings = settings or load_settings()
        if isinstance(chain, Chain):
            self.chain = chain
        else:
            self.chain = connect(
                chain or self.settings.chain, expected_chain_id=self.settings.chain_id
            )
        self.signer = signer or resolve_signer(self.settings, self.chain, prompt)
        if self.signer is not None:
            self.chain.default_signer = self.signer
        self.book = AddressBook(self.settings.home / "addressbook.json")

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.chain.uri!r}, account={self.address})"

    @property
    def address(self) -> str | None:
        """The acting account's address (None if there is none)."""
        return self.signer.address if self.signer else None

    def require_signer(self) -> Signer:
        """The acting account; one clear error if none is configured."""
        if self.signer is None:
            raise ConfigError("no account to act as", hint="set AGORA_KEYSTORE or AGORA_PRIVATE_KEY")
        return self.signer

    @cached_property
    def deployment(self) -> Deployment:
        """The protocol's contracts on this chain (deployed now on the embedded chain)."""
        if self.chain.embedded:
            return deploy_devnet(self.chain, evm_version=self.settings.evm_version)
        return load_deployment(self.chain, self.book)

    @property
    def token(self) -> Contract:
        """The payment and stake token."""
        return self.deployment.token

    @cached_property
    def storage(self) -> Storage:
        """Local blobs plus the configured peers."""
        local = LocalStore(self.settings.blob_dir, self.settings.max_blob_bytes)
        peers = [HttpStore(u, self.settings.max_blob_bytes) for u in self.settings.storage_peers]
        return Storage(local, peers)

    @cached_property
    def genesis_hash(self) -> str:
        """The hash of this chain's block 0 (read once): two chains with one chain id differ here."""
        return self.chain.get_block(0).hash

    @cached_property
    def chain_key(self) -> str:
        """This chain and protocol deployment, as a folder name: ``<chain id>-<genesis>-<deployment>``
        (``31337-1a2b3c4d-5e6f7a8b``), the genesis hash and a digest of the deployment (the token's
        address and the block it was deployed at) shortened to 8 hex digits.

        A devnet reset keeps its chain id but gets a new genesis; a new deployment on the same
        chain gets new contracts: either way, local state kept for the old one is not read back.
        """
        dep = self.deployment
        deployment = hashlib.sha256(f"{dep.addresses['token'].lower()}:{dep.block}".encode()).hexdigest()
        return f"{self.chain.chain_id}-{self.genesis_hash.removeprefix('0x')[:8]}-{deployment[:8]}"

    def state_dir(self, layer: str) -> Path:
        """Where ``layer`` keeps its local state for this chain and deployment, created on demand:
        ``$AGORA_HOME/<layer>/<chain key>/`` (see :attr:`chain_key`).

        On the embedded chain (a fresh chain per process) it is a new temporary
        folder, so nothing stale is ever read back.
        """
        if self.chain.embedded:
            return Path(tempfile.mkdtemp(prefix=f"agora-{layer}-"))
        path = self.settings.home / layer / self.chain_key
        path.mkdir(parents=True, exist_ok=True)
        return path
