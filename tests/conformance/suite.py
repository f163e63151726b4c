"""One chain conformance suite, run unchanged against every backend.

Each backend's test module subclasses :class:`ChainConformance` and provides
a ``chain`` fixture (web3.py's habit with ``module_testing``).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from eth_account import Account

from agora.chain import (
    Block,
    Chain,
    Contract,
    Log,
    TxReceipt,
    compile_contract,
    compile_file,
    deploy,
    dev_signers,
    signer_from_key,
)
from agora.chain.reverts import ERROR_SELECTOR, PANIC_SELECTOR
from agora.errors import ChainError, ConfigError, InsufficientFunds, Reverted, WrongChain

SUPPLY = 10**24
REVERTS = Path(__file__).parent / "contracts" / "Reverts.vy"
#: The custom error that Reverts.fail_with_custom raises (Vyper 0.4 cannot declare one).
SHORTFALL = {
    "type": "error",
    "name": "Shortfall",
    "inputs": [{"name": "needed", "type": "uint256"}, {"name": "holder", "type": "address"}],
}


class ChainConformance:
    """Behaviour every backend must show identically."""

    @pytest.fixture
    def token(self, chain: Chain) -> Contract:
        return deploy(chain, "AgoraToken", SUPPLY)

    @pytest.fixture
    def reverts(self, chain: Chain) -> Contract:
        return deploy(chain, compile_file(REVERTS))

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

    def test_an_account_without_funds_can_call_views(self, chain: Chain, token: Contract) -> None:
        nobody = signer_from_key(Account.create().key)
        assert token.balanceOf(nobody.address, sender=nobody) == 0
        chain.default_signer = nobody  # calls come from the default account
        assert token.totalSupply() == SUPPLY
        assert chain.call_raw(token.address, token.decimals.encode()) == (18).to_bytes(32, "big")

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

    # -- revert reasons, decoded from the revert data ---------------------------------
    def test_error_string_is_decoded_from_the_data(self, chain: Chain, reverts: Contract) -> None:
        # a call, a transaction refused at gas estimation, and one mined with explicit gas
        for attempt in (
            lambda: reverts.fail_with_reason.call(),
            lambda: reverts.fail_with_reason(),
            lambda: reverts.fail_with_reason(gas=100_000),
        ):
            with pytest.raises(Reverted) as exc:
                attempt()
            assert exc.value.reason == "reverts: the reason"
            assert str(exc.value) == "transaction reverted: reverts: the reason"
        with pytest.raises(Reverted) as exc:
            reverts.fail_with_reason.call()
        assert exc.value.data is not None and exc.value.data.startswith(ERROR_SELECTOR)

    def test_panic_is_decoded_with_its_name(self, chain: Chain, reverts: Contract) -> None:
        cases = {
            0x11: "panic 0x11 (arithmetic overflow or underflow)",
            0x12: "panic 0x12 (division or modulo by zero)",
            0x99: "panic 0x99 (unknown panic code)",
        }
        for code, reason in cases.items():
            with pytest.raises(Reverted) as exc:
                reverts.fail_with_panic.call(code)
            assert exc.value.reason == reason
            assert exc.value.data == PANIC_SELECTOR + code.to_bytes(32, "big")
        with pytest.raises(Reverted, match=r"panic 0x11 \(arithmetic"):
            reverts.fail_with_panic(0x11)
        with pytest.raises(Reverted, match=r"panic 0x01 \(assertion failed\)"):
            reverts.fail_with_panic(0x01, gas=100_000)

    def test_custom_error_is_decoded_by_a_known_abi(self, chain: Chain, reverts: Contract) -> None:
        holder = chain.dev_signers[1].address
        with pytest.raises(Reverted) as exc:
            reverts.fail_with_custom.call(5, holder)
        assert exc.value.reason == "custom error 0x844b8942"  # unknown: its selector
        assert exc.value.data is not None and exc.value.data[:4].hex() == "844b8942"
        # a contract handle whose ABI declares the error teaches it to the chain
        Contract(chain, "Reverts", reverts.address, [*reverts.abi, SHORTFALL])
        named = f"Shortfall(needed=5, holder={holder})"
        for attempt in (
            lambda: reverts.fail_with_custom.call(5, holder),
            lambda: reverts.fail_with_custom(5, holder),
            lambda: reverts.fail_with_custom(5, holder, gas=100_000),
        ):
            with pytest.raises(Reverted) as exc:
                attempt()
            assert exc.value.reason == named

    def test_revert_without_data_has_no_reason(self, chain: Chain, reverts: Contract) -> None:
        # Vyper reverts with empty data on a bare raise and on checked-arithmetic failures
        for attempt in (
            lambda: reverts.fail_without_reason.call(),
            lambda: reverts.overflow.call(1),
            lambda: reverts.fail_without_reason(),
        ):
            with pytest.raises(Reverted) as exc:
                attempt()
            assert exc.value.reason == "no reason given"
            assert exc.value.data == b""
        with pytest.raises(Reverted, match="no reason given"):
            reverts.overflow(1, gas=100_000)
        assert reverts.overflow.call(0) == 2**256 - 1

    def test_raw_call_decodes_the_revert_data(self, chain: Chain, reverts: Contract) -> None:
        with pytest.raises(Reverted) as exc:
            chain.call_raw(reverts.address, reverts.fail_with_reason.encode())
        assert exc.value.reason == "reverts: the reason"
        with pytest.raises(Reverted, match=r"panic 0x12 "):
            chain.call_raw(reverts.address, reverts.fail_with_panic.encode(0x12))
        assert chain.call_raw(reverts.address, reverts.counter.encode()) == bytes(32)

    def test_failed_transaction_is_replayed_at_its_own_block(self, chain: Chain, reverts: Contract) -> None:
        # bump and the check share a block: the check fails only because bump ran first in
        # it, which the parent block's state does not show
        bumper, checker = chain.sender(chain.dev_signers[8]), chain.sender(chain.dev_signers[9])
        fees = chain.fee_params()
        first = {"maxFeePerGas": 2 * fees["maxFeePerGas"], "maxPriorityFeePerGas": 2 * fees["maxPriorityFeePerGas"]}
        with _one_block(chain):
            bumped = bumper.submit({**reverts.bump.build(), "gas": 100_000, **first})  # the higher tip goes first
            checked = checker.submit({**reverts.fail_unless_counter_is.build(0), "gas": 100_000})
        receipt = bumper.wait(bumped)
        with pytest.raises(Reverted) as exc:
            checker.wait(checked)
        assert exc.value.reason == "reverts: counter moved"
        (failed,) = chain.fetch_receipts([checked.tx_hash])
        assert failed is not None and failed.status == 0
        assert failed.block_number == receipt.block_number
        assert reverts.counter() == 1

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

    def test_logs_of_several_events_in_one_query(
        self, chain: Chain, token: Contract, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        start = chain.block_number() + 1
        to = chain.dev_signers[2].address
        token.transfer(to, 11)
        token.approve(to, 12)
        queries: list[dict[str, object]] = []
        real = chain.get_logs

        def counting(params: dict[str, object]) -> list[dict[str, object]]:
            queries.append(params)
            return real(params)

        monkeypatch.setattr(chain, "get_logs", counting)
        logs = token.get_logs(["Transfer", "Approval"], start)
        assert len(queries) == 1
        assert [log.name for log in logs] == ["Transfer", "Approval"]
        transfer = logs[0]
        assert isinstance(transfer, Log) and transfer.address == token.address
        assert transfer.topics[0] == token.event_topic("Transfer")
        assert transfer.topics[2][-20:] == bytes.fromhex(to[2:])  # indexed: read without decoding
        ev = token.decode_log(transfer)
        assert ev is not None and (ev.name, ev["receiver"], ev["value"]) == ("Transfer", to, 11)
        assert ev == token.get_events("Transfer", start)[0]
        assert [log.name for log in token.iter_logs(None, start)] == ["Transfer", "Approval"]
        assert set(token.event_names) >= {"Transfer", "Approval"}
        with pytest.raises(ConfigError):
            token.get_logs("NoSuchEvent")

    # -- blocks, accounts, receipts ------------------------------------------------------
    def test_get_block_and_the_genesis_hash(self, chain: Chain) -> None:
        chain.mine(1)
        genesis = chain.get_block(0)
        assert isinstance(genesis, Block) and genesis.number == 0
        assert genesis.hash.startswith("0x") and len(genesis.hash) == 66
        assert chain.get_block(0) == genesis  # the genesis hash names this chain
        latest = chain.get_block()
        assert latest.number == chain.block_number() > 0
        assert latest.parent_hash == chain.get_block(latest.number - 1).hash
        assert latest.timestamp == chain.timestamp() and latest.gas_limit > 0
        assert latest.base_fee_per_gas is not None
        with pytest.raises(ChainError):
            chain.get_block(latest.number + 1000)

    def test_require_signer(self, chain: Chain) -> None:
        assert chain.require_signer() == chain.dev_signers[0]
        chain.default_signer = None
        with pytest.raises(ConfigError, match="no account to send from"):
            chain.require_signer()
        with pytest.raises(ConfigError):
            chain.transfer_native(chain.dev_signers[1].address, 1)

    def test_receipts_are_tx_receipts(self, chain: Chain) -> None:
        from agora.chain import Receipt  # the deprecated name still imports

        receipt = chain.transfer_native(chain.dev_signers[1].address, 1)
        assert isinstance(receipt, TxReceipt) and Receipt is TxReceipt
        assert receipt.fee == receipt.gas_used * receipt.effective_gas_price > 0

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


@contextlib.contextmanager
def _one_block(chain: Chain) -> Iterator[None]:
    """Transactions sent inside go into one block, mined on leaving."""
    chain.set_automine(False)
    try:
        yield
        chain.mine(1)
    finally:
        chain.set_automine(True)


def _zero_byte_discount(address: str) -> int:
    # calldata costs 16 gas per non-zero byte and 4 per zero byte
    zeros = bytes.fromhex(address[2:]).count(0)
    return -12 * zeros
