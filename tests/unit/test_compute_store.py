"""Reading the compute market and a provider daemon's state from outside the daemon:
DaemonStore, fetch_provider_view and ComputeClient.fetch_jobs, on the embedded chain."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from agora.chain import Chain, connect
from agora.compute import ComputeClient, Market, Policy, ProviderDaemon
from agora.compute.provider import DaemonStore, daemon_db_path
from agora.compute.views import fetch_provider_view
from agora.errors import ConfigError
from agora.protocol import deploy_devnet
from agora.storage import LocalStore, Storage
from agora.workloads import build_digits_model, digits_inputs

STAKE = 1_000 * 10**18
PRICE = 10**15


@dataclass
class World:
    chain: Chain
    market: Market
    storage: Storage
    home: Path


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    """A market with one provider (account 1) and two jobs of account 9 and one of account 8."""
    home = tmp_path_factory.mktemp("compute-store")
    chain = connect("embedded://")
    market = Market(deploy_devnet(chain))
    storage = Storage(LocalStore(home / "blobs"))
    market.register(chain.dev_signers[1], kinds=[1], price=PRICE, stake=STAKE)
    model = build_digits_model()
    for account, seed in ((9, 1), (8, 2), (9, 3)):
        requester = ComputeClient(market, storage, chain.dev_signers[account])
        requester.submit("onnx-classify", model, digits_inputs(1, seed=seed), policy=Policy.none(),
                         price_per_unit=PRICE)
    yield World(chain, market, storage, home)


def test_a_store_where_no_daemon_ran(tmp_path: Path) -> None:
    store = DaemonStore.for_provider(tmp_path, "0x70997970C51812dc3A010C7d01b50e0d17dc79C8")
    assert store.path == daemon_db_path(tmp_path, "0x70997970C51812dc3A010C7d01b50e0d17dc79C8")
    assert not store.exists() and store.get_counts() == {} and store.get_next_block() is None
    assert not store.path.exists(), "reading never creates the file"


def test_the_store_reads_what_the_daemon_keeps_while_it_runs_and_after(world: World, tmp_path: Path) -> None:
    signer = world.chain.dev_signers[1]
    path = daemon_db_path(tmp_path, signer.address)
    daemon = ProviderDaemon(world.market, signer, world.storage, path)
    store = DaemonStore.for_provider(tmp_path, signer.address.lower())
    try:
        assert store.exists() and store.get_counts() == {}
        assert daemon.sync() == 3
        assert store.get_counts() == daemon.status() == {"assigned": 3}
        assert store.get_next_block() == daemon.next_block
    finally:
        daemon.close()
    assert store.get_counts() == {"assigned": 3}


def test_fetch_provider_view(world: World, tmp_path: Path) -> None:
    provider = world.chain.dev_signers[1].address
    view = fetch_provider_view(world.market, provider.lower(), tmp_path)
    assert view["address"] == provider and view["stake_wei"] == STAKE and view["kinds"] == ["onnx-classify"]
    assert view["owed_wei"] == 0 and "daemon" not in view
    daemon = ProviderDaemon(world.market, world.chain.dev_signers[1], world.storage,
                            daemon_db_path(tmp_path, provider))
    daemon.sync()
    daemon.close()
    assert fetch_provider_view(world.market, provider, tmp_path)["daemon"] == {"assigned": 3}


def test_fetch_provider_view_of_a_non_provider(world: World, tmp_path: Path) -> None:
    who = world.chain.dev_signers[4].address
    with pytest.raises(ConfigError, match=f"{who} is not a registered provider") as info:
        fetch_provider_view(world.market, who, tmp_path)
    assert "agora provider register" in str(info.value)


def test_fetch_jobs_newest_first_with_a_limit(world: World) -> None:
    client = ComputeClient(world.market, world.storage, world.chain.dev_signers[9])
    assert [j.id for j in client.fetch_jobs()] == [3, 2, 1]
    assert [j.id for j in client.fetch_jobs(limit=2)] == [3, 2]
    assert client.fetch_jobs(limit=0) == []


def test_fetch_jobs_mine(world: World) -> None:
    nine = ComputeClient(world.market, world.storage, world.chain.dev_signers[9])
    assert [j.id for j in nine.fetch_jobs(mine=True)] == [3, 1]
    assert [j.id for j in nine.fetch_jobs(limit=1, mine=True)] == [3]
    eight = ComputeClient(world.market, world.storage, world.chain.dev_signers[8])
    assert [(j.id, j.requester) for j in eight.fetch_jobs(mine=True)] == [(2, eight.signer.address)]
    anonymous = ComputeClient(world.market, world.storage, None)
    assert anonymous.fetch_jobs(mine=True) == [] and len(anonymous.fetch_jobs()) == 3
