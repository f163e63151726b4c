"""Requesters fund the market with an EIP-2612 permit: one transaction, no approval."""

from __future__ import annotations

import pytest

from agora.chain import connect
from agora.compute import Market
from agora.errors import ConfigError, Reverted
from agora.protocol import deploy_devnet


@pytest.fixture(scope="module")
def market() -> Market:
    return Market(deploy_devnet(connect("embedded://")))


def test_deposit_with_a_locally_signed_permit(market: Market) -> None:
    who = market.chain.dev_signers[4]
    before = market.token.balanceOf(who.address)
    receipt = market.deposit_with_permit(5 * 10**18, who)
    assert market.owed(who.address) == 5 * 10**18
    assert market.token.balanceOf(who.address) == before - 5 * 10**18
    assert market.token.allowance(who.address, market.contract.address) == 0  # used up by the deposit
    assert [e.name for e in market.contract.events_in(receipt)] == ["Deposited"]
    market.deposit_with_permit(10**18, who)  # the nonce moved on: a second permit works too
    assert market.owed(who.address) == 6 * 10**18


def test_a_permit_signed_by_someone_else_is_refused(market: Market) -> None:
    owner, thief = market.chain.dev_signers[5], market.chain.dev_signers[6]
    nonce = market.token.nonces(owner.address)
    # sign as the owner, send as the thief: the permit names the thief as owner, so it fails
    deadline = market.chain.timestamp() + 600
    with pytest.raises(Reverted):
        market.contract.deposit_with_permit(10**18, deadline, 27, b"\x01" * 32, b"\x02" * 32, sender=thief)
    assert market.token.nonces(owner.address) == nonce
    assert market.owed(thief.address) == 0


def test_a_token_without_permits_is_a_clear_error(market: Market) -> None:
    class NoPermit:
        address = "0x" + "11" * 20

        def eip712Domain(self) -> None:  # noqa: N802 - the ERC's spelling
            raise Reverted("no such function")

    m = Market.__new__(Market)
    m.__dict__.update(market.__dict__)
    m.token = NoPermit()  # type: ignore[assignment]
    with pytest.raises(ConfigError, match="does not support EIP-2612"):
        m.deposit_with_permit(1, market.chain.dev_signers[4])
