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
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from eth_utils import to_checksum_address
from filelock import FileLock

from agora.chain.compiler import DEFAULT_EVM_VERSION, compile_contract
from agora.errors import ChainError, ConfigError
from agora.layers import ContractSpec, load_layers

if TYPE_CHECKING:
    # web3 and eth-account load with these: imported where used, so a quick read does without
    from agora.chain import Chain, Contract, Signer
    from agora.config import Settings

__all__ = [
    "AddressBook",
    "Deployment",
    "INITIAL_SUPPLY",
    "TOKEN",
    "ANCHOR",
    "deploy_protocol",
    "fetch_live_deployment",
    "fetch_token_balance",
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
#: Every layer's runners anchor the Merkle roots of their receipts here (``agora.chain.evidence``).
ANCHOR = ContractSpec("anchor", "ReceiptAnchor")


def protocol_contracts() -> list[ContractSpec]:
    """Every contract of the protocol in deployment order: the token, then each installed
    layer's contracts (a layer after the layers it requires)."""
    return [TOKEN, ANCHOR, *(spec for layer in load_layers() for spec in layer.contracts)]


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
        from agora.chain import Contract

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

    def get_entry_for(self, chain_id: int, genesis: str) -> dict[str, Any]:
        """The entry of the chain ``chain_id`` whose genesis block hash is ``genesis``; one clear
        error if there is none, or if it belongs to another chain with that id (a reset devnet)."""
        entry = self.get(chain_id)
        if entry is None:
            raise ConfigError(
                f"the protocol is not deployed on chain {chain_id} (no entry in {self.path})",
                hint="run `agora deploy` (or `agora devnet up` for a local chain)",
            )
        if entry.get("genesis") != genesis:
            raise ConfigError(
                f"the address book's entry for chain {chain_id} belongs to another chain "
                "with the same id (was the devnet reset?)",
                hint="run `agora deploy` again",
            )
        return entry

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
    progress: Callable[[str], None] | None = None,
) -> Deployment:
    """Deploy every protocol contract; record the result in ``book`` if given.

    ``token`` uses an existing ERC-20 (e.g. a stablecoin) instead of deploying
    AgoraToken. ``only_missing`` keeps that deployment's contracts and deploys
    only the roles it lacks (an upgrade that adds a layer). ``replace=False``
    keeps a chain's live deployment that ``book`` already records: it adds only
    the contracts of layers installed since (as ``only_missing``), and refuses
    when nothing is missing — replacing it would leave every command on the new
    contracts and running daemons on the old ones. ``progress`` is told each step
    (``"compiling ComputeMarket (3/5)"``…): a cold compile takes tens of seconds.
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
    from agora.chain import deploy

    deployer = signer or chain.require_signer()
    addresses: dict[str, str] = dict(only_missing.addresses) if only_missing else {}
    artifacts: dict[str, str] = dict(only_missing.artifacts) if only_missing else {}
    external = only_missing.external_token if only_missing else False
    if token is not None and "token" not in addresses:
        addr = _validate_erc20(chain, token)
        addresses["token"], artifacts["token"], external = addr, "AgoraToken", True
    say = progress or (lambda _: None)
    start = chain.block_number()
    todo = [spec for spec in protocol_contracts() if spec.role not in addresses]
    for i, spec in enumerate(todo, 1):
        say(f"compiling {spec.artifact} ({i}/{len(todo)})")
        compile_contract(spec.artifact, evm_version)  # cached on disk: instant after the first time
    for i, spec in enumerate(todo, 1):
        say(f"deploying {spec.artifact} ({i}/{len(todo)})")
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
        say(f"wiring the contracts ({len(wiring)} transaction{'s' * (len(wiring) != 1)})")
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
    from agora.chain import Contract

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
    entry = book.get_entry_for(chain.chain_id, _genesis_hash(chain))
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
    chain: Chain,
    *,
    book: AddressBook | None = None,
    evm_version: str = DEFAULT_EVM_VERSION,
    progress: Callable[[str], None] | None = None,
) -> Deployment:
    """Deploy the protocol as dev account 0 and give dev accounts 1-9 tokens each.

    The embedded chain and ``agora devnet up`` start from this same state, so
    what works on one works on the other.
    """
    deployer = chain.dev_signers[0]
    dep = deploy_protocol(chain, deployer, book=book, evm_version=evm_version, progress=progress)
    if progress is not None:
        progress("funding the dev accounts")
    sender = chain.sender(deployer)
    sender.send_many(
        [dep.token.mint.build(s.address, DEV_FUNDING_TOKENS) for s in chain.dev_signers[1:]]
    )
    return dep


def fetch_token_balance(settings: Settings, address: str | None = None) -> tuple[str, int] | None:
    """``(address, balance in base units)`` of the protocol's token, read with raw JSON-RPC (no
    web3, no eth-account: a command-line read starts in a few hundred milliseconds), checking
    what :func:`load_deployment` checks for the token (the chain id, the address book's entry for
    this genesis, code at the token's address). ``address``: a checksummed address, or None for
    the acting account (a raw key's, or dev account ``settings.account`` on a devnet).

    None when only the full client can tell: a chain that is not ``http(s)://``, or no
    ``address`` and an account in a keystore (its password unlocks it).
    """
    from agora.chain.rpc import DEV_ADDRESSES, JsonRpc, devnet_chain_ids

    if not settings.chain.startswith(("http://", "https://")):
        return None
    if address is None and settings.private_key is None and settings.keystore is not None:
        return None
    rpc = JsonRpc(settings.chain)
    chain_id, genesis = rpc.fetch_identity(settings.chain_id)
    if address is None:
        if settings.private_key is not None:
            address = _address_of_key(settings.private_key.get_secret_value())
        elif chain_id in devnet_chain_ids():
            if not 0 <= settings.account < len(DEV_ADDRESSES):
                raise ConfigError(f"dev account index {settings.account} is out of range 0..9")
            address = DEV_ADDRESSES[settings.account]
        else:
            raise ConfigError("no address given and no account configured")
    book = AddressBook(settings.home / "addressbook.json")
    token = book.get_entry_for(chain_id, genesis)["contracts"]["token"]["address"]
    has_code, balance = rpc.fetch_erc20_balance(token, address)
    if not has_code:
        raise ConfigError(f"no code at the token address {token} on chain {chain_id}",
                          hint="run `agora deploy` again")
    return address, balance


def _address_of_key(private_key: str) -> str:
    """The checksummed address of a hex private key (libsecp256k1, no eth-account)."""
    import coincurve
    from eth_utils import keccak

    try:
        key = coincurve.PrivateKey(bytes.fromhex(private_key.strip().removeprefix("0x")))
    except Exception:  # noqa: BLE001 - whatever the library says, never echo the key itself
        raise ConfigError("the private key is malformed (expected 32 bytes as hex)") from None
    return str(to_checksum_address(keccak(key.public_key.format(compressed=False)[1:])[-20:]))
