"""Local state is kept per chain *and* deployment: two anvils with one chain id (a devnet reset and
started again) get different state folders, so a provider daemon's cursor or a model client's channels
from one are never read on the other; and the quick balance read checks the same things."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from agora.chain import DEVNET_CHAIN_IDS, connect, dev_signers
from agora.chain.rpc import DEV_ADDRESSES, JsonRpc, devnet_chain_ids
from agora.compute import Market, ProviderDaemon
from agora.compute.provider import DaemonStore, daemon_db_path
from agora.config import load_settings
from agora.context import Context
from agora.devnet.anvil import AnvilProcess, start_anvil
from agora.errors import ConfigError, NodeUnreachable, WrongChain
from agora.protocol import AddressBook, deploy_devnet, fetch_token_balance
from agora.storage import LocalStore, Storage

pytestmark = [pytest.mark.anvil, pytest.mark.xdist_group("state-keys")]

E18 = 10**18


@pytest.fixture
def second_anvil(fresh_anvil: AnvilProcess) -> Iterator[AnvilProcess]:
    """Another anvil with the same chain id and another genesis (as after `devnet down --reset`)."""
    proc = start_anvil(extra=["--timestamp", str(int(time.time()) + 1_000)])
    try:
        yield proc
    finally:
        proc.stop()


def test_the_dev_addresses_are_the_dev_signers() -> None:
    assert DEV_ADDRESSES == tuple(s.address for s in dev_signers(10))
    assert devnet_chain_ids() == DEVNET_CHAIN_IDS


def test_two_chains_with_one_chain_id_keep_apart_state(
    fresh_anvil: AnvilProcess, second_anvil: AnvilProcess, agora_home: Path
) -> None:
    book = AddressBook(agora_home / "addressbook.json")
    old_chain = connect(fresh_anvil.url)
    dep = deploy_devnet(old_chain, book=book)
    market = Market(dep)
    provider = old_chain.dev_signers[1]
    market.register(provider, kinds=[1], price=10**15, stake=1_000 * E18)
    old = Context(fresh_anvil.url)
    assert old.chain_key == old.chain_key  # cached: one genesis read per Context
    old_dir = old.state_dir("compute")
    assert old_dir.parent == agora_home / "compute" and old_dir.name.startswith("31337-")
    assert old_dir.name.split("-")[1] == old.genesis_hash[2:10]
    daemon = ProviderDaemon(market, provider, Storage(LocalStore(agora_home / "blobs")),
                            daemon_db_path(old_dir, provider.address))
    for _ in range(3):
        old_chain.mine(1)
    daemon.sync()
    cursor = daemon.next_block
    daemon.close()
    assert cursor > dep.block

    # the devnet is reset: same chain id, a new chain, the protocol deployed again
    new_chain = connect(second_anvil.url)
    assert new_chain.chain_id == old_chain.chain_id
    new_dep = deploy_devnet(new_chain, book=book)
    new = Context(second_anvil.url)
    assert new.chain_key != old.chain_key
    new_dir = new.state_dir("compute")
    assert new_dir != old_dir and new_dir.parent == old_dir.parent
    assert not DaemonStore.for_provider(new_dir, provider.address).exists()
    Market(new_dep).register(new_chain.dev_signers[1], kinds=[1], price=10**15, stake=1_000 * E18)
    fresh = ProviderDaemon(Market(new_dep), provider, Storage(LocalStore(agora_home / "blobs")),
                           daemon_db_path(new_dir, provider.address))
    try:
        assert fresh.next_block == new_dep.block  # not the old chain's cursor
    finally:
        fresh.close()
    assert DaemonStore.for_provider(old_dir, provider.address).get_next_block() == cursor

    # the value layer's client state follows the same key
    assert new.state_dir("value").name == new.chain_key


def test_a_new_deployment_on_the_same_chain_gets_a_new_key(fresh_anvil: AnvilProcess, agora_home: Path) -> None:
    book = AddressBook(agora_home / "addressbook.json")
    chain = connect(fresh_anvil.url)
    deploy_devnet(chain, book=book)
    first = Context(fresh_anvil.url).chain_key
    deploy_devnet(chain, book=book)
    second = Context(fresh_anvil.url).chain_key
    assert first.split("-")[:2] == second.split("-")[:2] and first != second


def test_the_quick_balance_read(fresh_anvil: AnvilProcess, agora_home: Path,
                                monkeypatch: pytest.MonkeyPatch) -> None:
    url = fresh_anvil.url
    settings = load_settings(chain=url)
    with pytest.raises(ConfigError, match="not deployed on chain 31337"):
        fetch_token_balance(settings)
    chain = connect(url)
    dep = deploy_devnet(chain, book=AddressBook(agora_home / "addressbook.json"))
    assert fetch_token_balance(settings) == (DEV_ADDRESSES[0], dep.token.balanceOf(DEV_ADDRESSES[0]))
    assert fetch_token_balance(load_settings(chain=url, account=2)) == (DEV_ADDRESSES[2], 1_000_000 * E18)
    stranger = "0x000000000000000000000000000000000000dEaD"
    assert fetch_token_balance(settings, stranger) == (stranger, 0)
    monkeypatch.setenv("AGORA_PRIVATE_KEY", "0x" + "11" * 32)
    from agora.chain import signer_from_key

    assert fetch_token_balance(load_settings(chain=url)) == (signer_from_key("0x" + "11" * 32).address, 0)
    monkeypatch.delenv("AGORA_PRIVATE_KEY")
    with pytest.raises(ConfigError, match="out of range"):
        fetch_token_balance(load_settings(chain=url, account=11))
    with pytest.raises(WrongChain):
        fetch_token_balance(load_settings(chain=url, chain_id=1))
    assert fetch_token_balance(load_settings(chain="embedded://")) is None
    with pytest.raises(NodeUnreachable):
        JsonRpc("http://127.0.0.1:9").request("eth_chainId")
