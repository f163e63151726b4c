"""The protocol's contract set: deploy it, record it in an address book, load it back.

The protocol is the token plus the contracts every installed layer declares
(:class:`agora.layers.Layer`), deployed in the layers' order; a contract's
constructor arguments may use the addresses deployed before it, and each
layer's wiring runs once everything is deployed. This module names no layer.

The address book, ``$AGORA_HOME/addressbook.json``, is keyed by
chain id and remembers each chain's genesis hash, so a devnet that was reset
is noticed instead of being called at stale addresses.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from eth_utils import to_checksum_address
from filelock import FileLock

from agora.chain import Chain, Contract, Signer, compile_contract, deploy
from agora.chain.compiler import DEFAULT_EVM_VERSION
from agora.errors import ChainError, ConfigError
from agora.layers import ContractSpec, load_layers

__all__ = [
    "AddressBook",
    "Deployment",
    "INITIAL_SUPPLY",
    "TOKEN",
    "deploy_protocol",
    "fetch_live_deployment",
    "load_deployment",
    "fund_account",
    "deploy_devnet",
    "DEV_FUNDING_TOKENS",
    "protocol_contracts",
]

#: Tokens minted to the deployer of a devnet token (18 decimals).
INITIAL_SUPPLY = 1_000_000_000 * 10**18
#: Tokens each other dev account gets when a devnet's protocol is deployed.
DEV_FUNDING_TOKENS = 1_000_000 * 10**18


#: The contract every layer builds on: the payment and stake token (AgoraToken on devnets,
#: or any ERC-20 given to ``deploy_protocol(token=...)``).
TOKEN = ContractSpec("token", "AgoraToken", lambda addresses, deployer: (INITIAL_SUPPLY,))


def protocol_contracts() -> list[ContractSpec]:
    """Every contract of the protocol in deployment order: the token, then each installed
    layer's contracts (a layer after the layers it requires)."""
    return [TOKEN, *(spec for layer in load_layers() for spec in layer.contracts)]


@dataclass
class Deployment:
    """The protocol's contracts on one chain."""

    chain: Chain
    addresses: dict[str, str]
    artifacts: dict[str, str]
    block: int
    evm_version: str = DEFAULT_EVM_VERSION
    external_token: bool = False

    def contract(self, role: str) -> Contract:
        """The handle of the contract playing ``role`` (e.g. ``"token"``)."""
        if role not in self.addresses:
            raise ConfigError(
                f"the protocol on chain {self.chain.chain_id} has no {role!r} contract",
                hint="run `agora deploy` again to add the newer contracts",
            )
        art = compile_contract(self.artifacts[role], self.evm_version)
        return Contract(self.chain, art.name, self.addresses[role], art.abi)

    @property
    def token(self) -> Contract:
        """The payment and stake token."""
        return self.contract("token")

    def to_json(self) -> dict[str, Any]:
        """The address-book entry for this deployment."""
        return {
            "chain_id": self.chain.chain_id,
            "genesis": _genesis_hash(self.chain),
            "block": self.block,
            "evm_version": self.evm_version,
            "external_token": self.external_token,
            "contracts": {
                role: {"address": addr, "artifact": self.artifacts[role]}
                for role, addr in self.addresses.items()
            },
        }


def _genesis_hash(chain: Chain) -> str:
    return chain.get_block(0).hash


class AddressBook:
    """``addressbook.json``: one protocol deployment per chain id (file-locked, atomic)."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)

    def read(self) -> dict[str, Any]:
        """The whole book (empty if there is no file)."""
        if not self.path.exists():
            return {}
        try:
            return dict(json.loads(self.path.read_text()))
        except ValueError as exc:
            raise ConfigError(f"{self.path} is not valid JSON: {exc}") from None

    def get(self, chain_id: int) -> dict[str, Any] | None:
        """The entry for ``chain_id``, if any."""
        return self.read().get(str(chain_id))

    def put(self, entry: dict[str, Any]) -> None:
        """Record ``entry`` under its chain id."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with FileLock(str(self.path) + ".lock"):
            book = self.read()
            book[str(entry["chain_id"])] = entry
            fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=".addressbook-")
            with os.fdopen(fd, "w") as f:
                json.dump(book, f, indent=2, sort_keys=True)
            os.replace(tmp, self.path)

    def remove(self, chain_id: int) -> None:
        """Forget the entry for ``chain_id``."""
        if not self.path.exists():
            return
        with FileLock(str(self.path) + ".lock"):
            book = self.read()
            book.pop(str(chain_id), None)
            self.path.write_text(json.dumps(book, indent=2, sort_keys=True))


def deploy_protocol(
    chain: Chain,
    signer: Signer | None = None,
    *,
    token: str | None = None,
    evm_version: str = DEFAULT_EVM_VERSION,
    book: AddressBook | None = None,
    only_missing: Deployment | None = None,
    replace: bool = True,
) -> Deployment:
    """Deploy every protocol contract; record the result in ``book`` if given.

    ``token`` uses an existing ERC-20 (e.g. a stablecoin) instead of deploying
    AgoraToken. ``only_missing`` keeps that deployment's contracts and deploys
    only the roles it lacks (an upgrade that adds a layer). ``replace=False``
    keeps a chain's live deployment that ``book`` already records: it adds only
    the contracts of layers installed since (as ``only_missing``), and refuses
    when nothing is missing — replacing it would leave every command on the new
    contracts and running daemons on the old ones.
    """
    if not replace and only_missing is None and book is not None:
        live = fetch_live_deployment(chain, book)
        if live is not None and all(spec.role in live.addresses for spec in protocol_contracts()):
            raise ConfigError(
                f"the protocol is already deployed on chain {chain.chain_id} "
                f"({len(live.addresses)} contracts recorded in {book.path}); deploying again "
                "would replace them while running daemons keep the old ones",
                hint="pass --force to replace them",
            )
        only_missing = live
    deployer = signer or chain.require_signer()
    addresses: dict[str, str] = dict(only_missing.addresses) if only_missing else {}
    artifacts: dict[str, str] = dict(only_missing.artifacts) if only_missing else {}
    external = only_missing.external_token if only_missing else False
    if token is not None and "token" not in addresses:
        addr = _validate_erc20(chain, token)
        addresses["token"], artifacts["token"], external = addr, "AgoraToken", True
    start = chain.block_number()
    for spec in protocol_contracts():
        if spec.role in addresses:
            continue
        c = deploy(
            chain, spec.artifact, *spec.args(addresses, deployer),
            sender=deployer, evm_version=evm_version,
        )
        addresses[spec.role], artifacts[spec.role] = c.address, spec.artifact
    dep = Deployment(
        chain, addresses, artifacts,
        block=only_missing.block if only_missing else start,
        evm_version=evm_version, external_token=external,
    )
    wiring = [tx for layer in load_layers() if layer.wiring for tx in layer.wiring(dep)]
    if wiring:
        chain.sender(deployer).send_many(wiring)
    if book is not None and not chain.embedded:
        book.put(dep.to_json())
    return dep


def _validate_erc20(chain: Chain, address: str) -> str:
    try:
        addr = to_checksum_address(address)
    except ValueError:
        raise ConfigError(f"{address!r} is not an address") from None
    if not chain.get_code(addr):
        raise ConfigError(f"there is no contract at {addr} on chain {chain.chain_id}")
    art = compile_contract("AgoraToken")
    probe = Contract(chain, "token", addr, art.abi)
    try:
        probe.totalSupply()
        probe.balanceOf(addr)
    except ChainError:
        raise ConfigError(f"the contract at {addr} does not answer as an ERC-20") from None
    return addr


def fetch_live_deployment(chain: Chain, book: AddressBook) -> Deployment | None:
    """The deployment ``book`` records for ``chain`` if it is live there (same genesis, code
    at every address); None if there is none, or only a stale record (a reset chain)."""
    if chain.embedded or book.get(chain.chain_id) is None:
        return None
    try:
        return load_deployment(chain, book)
    except ConfigError:
        return None


def load_deployment(chain: Chain, book: AddressBook) -> Deployment:
    """The deployment recorded for ``chain``; a clear error if none or if it is stale."""
    entry = book.get(chain.chain_id)
    if entry is None:
        raise ConfigError(
            f"the protocol is not deployed on chain {chain.chain_id} (no entry in {book.path})",
            hint="run `agora deploy` (or `agora devnet up` for a local chain)",
        )
    if entry.get("genesis") != _genesis_hash(chain):
        raise ConfigError(
            f"the address book's entry for chain {chain.chain_id} belongs to another chain "
            "with the same id (was the devnet reset?)",
            hint="run `agora deploy` again",
        )
    contracts = entry["contracts"]
    dep = Deployment(
        chain,
        {r: c["address"] for r, c in contracts.items()},
        {r: c["artifact"] for r, c in contracts.items()},
        block=int(entry.get("block", 0)),
        evm_version=entry.get("evm_version", DEFAULT_EVM_VERSION),
        external_token=bool(entry.get("external_token")),
    )
    for role, addr in dep.addresses.items():
        if not chain.get_code(addr):
            raise ConfigError(
                f"no code at the {role} address {addr} on chain {chain.chain_id}",
                hint="run `agora deploy` again",
            )
    return dep


def fund_account(
    dep: Deployment, address: str, *, tokens: int = 0, eth: int = 0, signer: Signer | None = None
) -> list[str]:
    """Devnet faucet: mint ``tokens`` and send ``eth`` wei to ``address``; return tx hashes."""
    chain = dep.chain
    if not chain.is_devnet:
        raise ConfigError(
            f"the faucet exists only on devnets; chain {chain.chain_id} is not one",
            hint="get tokens from the token's issuer on a real network",
        )
    if dep.external_token and tokens:
        raise ConfigError("this deployment uses an external token, which the faucet cannot mint")
    try:
        to = to_checksum_address(address)
    except ValueError:
        raise ConfigError(f"{address!r} is not an address") from None
    minter = signer or chain.dev_signers[0]
    hashes = []
    if eth:
        hashes.append(chain.transfer_native(to, eth, minter).tx_hash)
    if tokens:
        hashes.append(dep.token.mint(to, tokens, sender=minter).tx_hash)
    return hashes


def deploy_devnet(
    chain: Chain, *, book: AddressBook | None = None, evm_version: str = DEFAULT_EVM_VERSION
) -> Deployment:
    """Deploy the protocol as dev account 0 and give dev accounts 1-9 tokens each.

    The embedded chain and ``agora devnet up`` start from this same state, so
    what works on one works on the other.
    """
    deployer = chain.dev_signers[0]
    dep = deploy_protocol(chain, deployer, book=book, evm_version=evm_version)
    sender = chain.sender(deployer)
    sender.send_many(
        [dep.token.mint.build(s.address, DEV_FUNDING_TOKENS) for s in chain.dev_signers[1:]]
    )
    return dep
