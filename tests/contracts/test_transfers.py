"""Unit tests for ``contracts/common/transfers.vy``, the one checked transfer helper.

Through ``mocks/TransfersHarness.vy``: a token that confirms moves the tokens; one that
returns ``false`` makes the call revert with nothing moved; one that returns nothing
(USDT) counts as success; a token's own revert comes through; an address without code
is refused. Each contract's use of the helper is tested with that contract.
"""

import re

import boa
import pytest
from compute_fixtures import TOKEN
from mock_tokens import FALSE_TOKEN, SILENT_TOKEN, TRANSFER_FAILED, TRANSFERS_HARNESS, TRANSFERS_PATH

AMOUNT = 1_000
MAX_UINT256 = 2**256 - 1


@pytest.fixture
def harness():
    return TRANSFERS_HARNESS.deploy()


@pytest.fixture
def payer():
    return boa.env.generate_address("transfers-payer")


@pytest.fixture
def payee():
    return boa.env.generate_address("transfers-payee")


def fund(token, harness, payer) -> None:
    """Give `payer` ten times AMOUNT, approved for the harness, and the harness AMOUNT."""
    token.mint(payer, 10 * AMOUNT)
    token.mint(harness.address, AMOUNT)
    with boa.env.prank(payer):
        token.approve(harness.address, MAX_UINT256)


def balances(token, *who) -> list[int]:
    return [token.balanceOf(str(a)) for a in who]


@pytest.mark.parametrize("factory", ["agora", "false", "silent"])
def test_a_confirmed_transfer_moves_the_tokens(harness, payer, payee, factory):
    if factory == "agora":
        token = TOKEN.deploy(0)        # the deployer is a minter
    else:
        token = FALSE_TOKEN.deploy(0) if factory == "false" else SILENT_TOKEN.deploy()
    fund(token, harness, payer)
    harness.transfer_in(token.address, payer, AMOUNT)
    harness.transfer_out(token.address, payee, 2 * AMOUNT)
    assert balances(token, payer, harness.address, payee) == [9 * AMOUNT, 0, 2 * AMOUNT]


def test_a_token_returning_false_reverts_and_moves_nothing(harness, payer, payee):
    token = FALSE_TOKEN.deploy(0)
    fund(token, harness, payer)
    token.set_fail(True)
    before = balances(token, payer, harness.address, payee)
    with boa.reverts(TRANSFER_FAILED):
        harness.transfer_in(token.address, payer, AMOUNT)
    with boa.reverts(TRANSFER_FAILED):
        harness.transfer_out(token.address, payee, AMOUNT)
    assert balances(token, payer, harness.address, payee) == before
    assert token.allowance(payer, harness.address) == MAX_UINT256


def test_a_silent_token_that_fails_reverts(harness, payer, payee):
    token = SILENT_TOKEN.deploy()
    fund(token, harness, payer)
    with boa.reverts():
        harness.transfer_in(token.address, payer, 11 * AMOUNT)     # more than the payer has
    with boa.reverts():
        harness.transfer_out(token.address, payee, 2 * AMOUNT)     # more than the harness has
    assert balances(token, payer, harness.address, payee) == [10 * AMOUNT, AMOUNT, 0]


def test_the_tokens_own_revert_comes_through(harness, payer):
    token = TOKEN.deploy(0)
    with boa.reverts("erc20: insufficient allowance"):
        harness.transfer_in(token.address, payer, AMOUNT)


def test_an_address_without_code_is_not_a_token(harness, payer, payee):
    """Empty return data counts as success only from a contract: an account without code
    would otherwise "pay" anything."""
    nobody = boa.env.generate_address("transfers-no-code")
    with boa.reverts():
        harness.transfer_in(nobody, payer, AMOUNT)
    with boa.reverts():
        harness.transfer_out(nobody, payee, AMOUNT)


def test_the_module_has_one_revert_reason():
    assert re.findall(r'"(transfers: [^"]+)"', TRANSFERS_PATH.read_text()) == [TRANSFER_FAILED] * 2
