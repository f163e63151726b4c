"""One chain conformance suite, run unchanged against every backend.

Each backend's test module subclasses :class:`ChainConformance` and provides
a ``chain`` fixture (web3.py's habit with ``module_testing``).
"""

from __future__ import annotations

import time

import pytest
from eth_account import Account

from agora.chain import Chain, Contract, compile_contract, deploy, dev_signers, signer_from_key
from agora.errors import ConfigError, InsufficientFunds, Reverted, WrongChain

SUPPLY = 10**24


class ChainConformance:
    """Behaviour every backend must show identically."""

    @pytest.fixture
    def token(self, chain: Chain) -> Contract:
        return deploy(chain, "AgoraToken", SUPPLY)

    # -- identity and accounts -------------------------------------------------------
    def test_chain_id_is_positive_and_stable(self, chain: Chain) -> None:
        assert chain.chain_id > 0
        assert chain.chain_id == int(chain.w3.eth.chain_id)

    def test_is_a_devnet_with_funded_standard_accounts(self, chain: Chain) -> None:
        assert chain.is_devnet
        signers = chain.dev_signers
        assert len(signers) == 10
        assert signers[0].address == "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"
        assert all(chain.get_balance(s.address) > 10**20 for s in signers)
        assert chain.default_signer == signers[0]

    def test_block_number_advances_with_a_transaction(self, chain: Chain) -> None:
        before = chain.block_number()
        chain.transfer_native(dev_signers(2)[1].address, 1)
        assert chain.block_number() > before

    # -- contracts and calls ---------------------------------------------------------
    def test_deploy_leaves_code_and_views_answer(self, chain: Chain, token: Contract) -> None:
        assert chain.get_code(token.address)
        assert token.name() == "Agora Token"
        assert token.symbol() == "AGR"
        assert token.decimals() == 18
        assert token.totalSupply() == SUPPLY
        assert token.balanceOf(chain.dev_signers[0].address) == SUPPLY

    def test_transfer_returns_receipt_with_events_and_gas(self, chain: Chain, token: Contract) -> None:
        a, b = chain.dev_signers[0], chain.dev_signers[1]
        receipt = token.transfer(b.address, 123, sender=a)
        assert receipt.status == 1 and receipt.gas_used > 21_000
        (ev,) = token.events_in(receipt, "Transfer")
        assert (ev["sender"], ev["receiver"], ev["value"]) == (a.address, b.address, 123)
        assert ev.block_number == receipt.block_number and ev.tx_hash == receipt.tx_hash
        assert token.balanceOf(b.address) == 123

    def test_gas_is_identical_on_every_backend(self, chain: Chain, token: Contract) -> None:
        # receipts' gas is the EVM's, not the backend's: a fresh holder costs the same everywhere
        fresh = Account.create().address
        assert token.transfer(fresh, 1).gas_used == 51_191 + _zero_byte_discount(fresh)

    def test_view_call_at_a_past_block(self, chain: Chain, token: Contract) -> None:
        b = chain.dev_signers[1].address
        block = chain.block_number()
        token.transfer(b, 5)
        assert token.balanceOf(b, block=block) == 0
        assert token.balanceOf(b) == 5

    def test_wrong_argument_types_are_a_config_error(self, token: Contract) -> None:
        with pytest.raises(ConfigError, match="address"):
            token.transfer("0x12", 1)
        with pytest.raises(AttributeError):
            token.no_such_function  # noqa: B018

    def test_shanghai_build_deploys_too(self, chain: Chain) -> None:
        art = compile_contract("AgoraToken", "shanghai")
        c = deploy(chain, art, SUPPLY)
        assert c.totalSupply() == SUPPLY

    # -- failures --------------------------------------------------------------------
    def test_revert_reason_when_gas_is_estimated(self, chain: Chain, token: Contract) -> None:
        poor = chain.dev_signers[3]
        with pytest.raises(Reverted) as exc:
            token.transfer(chain.dev_signers[0].address, 1, sender=poor)
        assert exc.value.reason == "erc20: transfer amount exceeds balance"

    def test_revert_reason_when_mined_with_explicit_gas(self, chain: Chain, token: Contract) -> None:
        poor = chain.dev_signers[3]
        before = chain.block_number()
        with pytest.raises(Reverted) as exc:
            token.transfer(chain.dev_signers[0].address, 1, sender=poor, gas=90_000)
        assert exc.value.reason == "erc20: transfer amount exceeds balance"
        assert token.balanceOf(poor.address) == 0
        assert chain.block_number() >= before

    def test_nonces_stay_right_after_a_revert(self, chain: Chain, token: Contract) -> None:
        poor = chain.dev_signers[4]
        with pytest.raises(Reverted):
            token.transfer(chain.dev_signers[0].address, 1, sender=poor, gas=90_000)
        chain.transfer_native(chain.dev_signers[0].address, 1, poor)  # the next nonce works

    def test_unfunded_account_is_insufficient_funds(self, chain: Chain, token: Contract) -> None:
        nobody = signer_from_key(Account.create().key)
        with pytest.raises(InsufficientFunds, match=nobody.address):
            chain.transfer_native(chain.dev_signers[0].address, 1, nobody)

    def test_expected_chain_id_mismatch_is_refused(self, chain: Chain) -> None:
        from agora.chain import connect

        if chain.embedded:
            with pytest.raises(WrongChain):
                connect("embedded://", expected_chain_id=chain.chain_id + 1)
        else:
            with pytest.raises(WrongChain, match=str(chain.chain_id)):
                connect(chain.uri, expected_chain_id=chain.chain_id + 1)

    # -- many transactions -----------------------------------------------------------
    def test_send_many_confirms_every_transaction_in_order(self, chain: Chain, token: Contract) -> None:
        a, b = chain.dev_signers[0], chain.dev_signers[5]
        txs = [token.transfer.build(b.address, i + 1) for i in range(40)]
        receipts = chain.sender(a).send_many(txs)
        assert len(receipts) == 40 and len({r.tx_hash for r in receipts}) == 40
        assert [r.block_number for r in receipts] == sorted(r.block_number for r in receipts)
        assert token.balanceOf(b.address) == sum(range(1, 41))
        assert chain.w3.eth.get_transaction_count(a.address) == chain.w3.eth.get_transaction_count(
            a.address, "pending"
        )

    def test_two_senders_interleave_without_nonce_clashes(self, chain: Chain, token: Contract) -> None:
        a, c = chain.dev_signers[0], chain.dev_signers[6]
        token.transfer(c.address, 1_000)
        for _ in range(5):
            token.transfer(chain.dev_signers[7].address, 1, sender=a)
            token.transfer(chain.dev_signers[7].address, 2, sender=c)
        assert token.balanceOf(chain.dev_signers[7].address) == 15

    # -- events ----------------------------------------------------------------------
    def test_get_events_by_block_range_and_chunks(self, chain: Chain, token: Contract) -> None:
        start = chain.block_number() + 1  # after the deploy (which minted)
        r1 = token.transfer(chain.dev_signers[1].address, 1)
        r2 = token.transfer(chain.dev_signers[1].address, 2)
        token.approve(chain.dev_signers[1].address, 3)
        evs = token.get_events("Transfer", start, chain.block_number(), chunk=1)
        assert [e["value"] for e in evs] == [1, 2]
        only_first = token.get_events("Transfer", r1.block_number, r1.block_number)
        assert [e.tx_hash for e in only_first] == [r1.tx_hash]
        both = token.get_events(["Transfer", "Approval"], r2.block_number)
        assert [e.name for e in both] == ["Transfer", "Approval"]
        with pytest.raises(ConfigError):
            token.get_events("NoSuchEvent")

    def test_get_events_filtered_on_indexed_arguments(self, chain: Chain, token: Contract) -> None:
        start = chain.block_number() + 1
        one, two = chain.dev_signers[1].address, chain.dev_signers[2].address
        token.transfer(one, 5)
        token.transfer(two, 6)
        token.transfer(one, 7)

        def topic(address: str) -> bytes:
            return bytes.fromhex(address[2:]).rjust(32, b"\0")

        to_one = token.get_events("Transfer", start, where=[None, topic(one)])
        assert [e["value"] for e in to_one] == [5, 7]
        mine_to_two = token.get_events("Transfer", start, where=[topic(chain.dev_signers[0].address), topic(two)])
        assert [e["value"] for e in mine_to_two] == [6]
        assert token.get_events("Transfer", start, where=[topic(two)]) == []

    def test_event_cursor_resumes_from_a_saved_block(self, chain: Chain, token: Contract) -> None:
        cursor = token.cursor("Transfer", from_block=chain.block_number() + 1)
        token.transfer(chain.dev_signers[1].address, 7)
        first = cursor.poll()
        assert [e["value"] for e in first] == [7]
        saved = cursor.next_block  # what a daemon persists
        token.transfer(chain.dev_signers[1].address, 8)
        resumed = token.cursor("Transfer", from_block=saved)  # as after a restart
        assert [e["value"] for e in resumed.poll()] == [8]
        assert resumed.poll() == []

    # -- signatures ------------------------------------------------------------------
    def test_eip712_permit_signed_locally_is_accepted(self, chain: Chain, token: Contract) -> None:
        owner, spender = chain.dev_signers[0], chain.dev_signers[8]
        deadline = chain.timestamp() + 3600
        typed = {
            "types": {
                "EIP712Domain": [
                    {"name": "name", "type": "string"}, {"name": "version", "type": "string"},
                    {"name": "chainId", "type": "uint256"},
                    {"name": "verifyingContract", "type": "address"},
                ],
                "Permit": [
                    {"name": "owner", "type": "address"}, {"name": "spender", "type": "address"},
                    {"name": "value", "type": "uint256"}, {"name": "nonce", "type": "uint256"},
                    {"name": "deadline", "type": "uint256"},
                ],
            },
            "primaryType": "Permit",
            "domain": {"name": "Agora Token", "version": "1", "chainId": chain.chain_id,
                       "verifyingContract": token.address},
            "message": {"owner": owner.address, "spender": spender.address, "value": 99,
                        "nonce": token.nonces(owner.address), "deadline": deadline},
        }
        sig = owner.sign_typed_data(typed)
        v, r, s = sig[64], sig[:32], sig[32:64]
        token.permit(owner.address, spender.address, 99, deadline, v, r, s, sender=spender)
        assert token.allowance(owner.address, spender.address) == 99
        with pytest.raises(Reverted):  # a replayed permit is refused
            token.permit(owner.address, spender.address, 99, deadline, v, r, s, sender=spender)

    # -- time ------------------------------------------------------------------------
    def test_advance_time_moves_the_clock(self, chain: Chain) -> None:
        now = chain.timestamp()
        assert chain.advance_time(1000) >= now + 1000
        assert chain.timestamp() <= int(time.time()) + 10**6


def _zero_byte_discount(address: str) -> int:
    # calldata costs 16 gas per non-zero byte and 4 per zero byte
    zeros = bytes.fromhex(address[2:]).count(0)
    return -12 * zeros
