"""A `DataServices` next to the data registry of `data_fixtures`, for the unit and the stateful tests."""

from __future__ import annotations

from dataclasses import dataclass

import boa
from data_fixtures import ROOT, deploy_world

SERVICES_PATH = ROOT / "contracts/data/DataServices.vy"
SERVICES = boa.load_partial(str(SERVICES_PATH))


@dataclass(repr=False)
class ServicesWorld:
    """The data world (token, registry) and its `DataServices`."""

    data: object
    services: object

    def act(self, who, fn, *args, **kwargs):
        with boa.env.prank(str(who)):
            out = fn(*args, **kwargs)
        self.data.last_logs = self.services.get_logs()
        return out

    def approve(self, who, token=None) -> None:
        token = token or self.data.token
        with boa.env.prank(str(who)):
            token.approve(self.services.address, 2**256 - 1)

    def open_escrows(self, token) -> int:
        s = self.services
        return sum(s.run(i).escrow for i in range(1, s.run_count() + 1) if s.run(i).token == token.address)

    def check_books(self, accounts) -> None:
        """The contract holds, in every token, exactly the open escrows and what it owes."""
        s = self.services
        for t in self.data.tokens:
            owed = sum(s.owed(a, t.address) for a in accounts)
            assert t.balanceOf(s.address) == self.open_escrows(t) + owed


def deploy_services() -> ServicesWorld:
    data = deploy_world()
    with boa.env.prank(data.owner):
        services = SERVICES.deploy(data.registry.address)
    return ServicesWorld(data, services)
