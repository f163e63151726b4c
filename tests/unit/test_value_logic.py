"""The value layer's logic without a chain: the split's rounding, earnings and withdrawal plans,
the channel id's layout, the checks before serving or closing, the model's bytes and card, the
ledger's default path, the JSON views, and the deprecated ``get`` names."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from eth_account.messages import encode_typed_data
from hypothesis import given
from hypothesis import strategies as st

from agora.chain.eip712 import keccak256, word
from agora.errors import ConfigError
from agora.storage import LocalStore, Storage, cid_for
from agora.value import (
    OWNER,
    ChannelIdParts,
    ChannelInfo,
    ChannelView,
    ClosedChannel,
    Earnings,
    ModelCard,
    ModelDetails,
    ModelInfo,
    ModelShare,
    Registration,
    Share,
    Withdrawal,
    decode_channel_id,
    encode_channel_id,
    fetch_earnings,
    split_amount,
)
from agora.value.channels import Channels, channel_signer_bytes, parse_channel_id, validate_closable
from agora.value.cheques import CHEQUE_TYPEHASH, CHEQUE_TYPES, channels_domain, cheque_typed_data
from agora.value.messages import MessageType, build_domain
from agora.value.models import (
    CheckedReceipt,
    ModelRegistry,
    build_card,
    build_model_bytes,
    fetch_weights,
    validate_card,
    validate_service_key,
    validate_weights,
)
from agora.value.receipts import RECEIPT_TYPES, Receipt
from agora.value.revenue import MAX_WITHDRAW_MODELS, payee_share, plan_withdrawal
from agora.value.service import ClaimResult, default_ledger_path
from agora.value.views import (
    build_channel_view,
    build_claim_view,
    build_closed_channel_view,
    build_earnings_view,
    build_model_row,
    build_model_view,
    build_receipt_check_view,
    build_registration_view,
    build_withdrawal_view,
)

A = "0x" + "aa" * 20
B = "0x" + "bb" * 20
SIGNER = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"
HASH = "0x" + "11" * 32


@st.composite
def split_bps(draw: st.DrawFn) -> list[int]:
    """1 to 8 positive basis points summing to 10,000."""
    n = draw(st.integers(1, 8))
    cuts = sorted(draw(st.lists(st.integers(1, 9_999), min_size=n - 1, max_size=n - 1, unique=True)))
    edges = [0, *cuts, 10_000]
    return [b - a for a, b in zip(edges, edges[1:], strict=False)]


# --- the split ----------------------------------------------------------------------------------------
@given(amount=st.integers(0, 2**96 - 1), bps=split_bps())
def test_split_amount_adds_up_and_floors_every_share_but_the_first(amount: int, bps: list[int]) -> None:
    parts = split_amount(amount, bps)
    assert len(parts) == len(bps) and sum(parts) == amount and all(p >= 0 for p in parts)
    assert parts[1:] == [amount * b // 10_000 for b in bps[1:]]
    # the first share gets its exact part plus less than one wei per other share
    assert amount * bps[0] <= parts[0] * 10_000 < amount * bps[0] + 10_000 * len(bps)


@given(amount=st.integers(0, 2**96 - 1), bps=split_bps())
def test_payee_share_is_each_recipients_part(amount: int, bps: list[int]) -> None:
    shares = [Share(f"0x{i + 1:040x}", b) for i, b in enumerate(bps)]
    got = [payee_share(shares, s.recipient.upper().replace("0X", "0x"), amount) for s in shares]
    assert got == list(zip(bps, split_amount(amount, bps), strict=True))
    assert payee_share(shares, "0x" + "ff" * 20, amount) == (0, 0)


def test_split_amount_needs_a_share() -> None:
    assert split_amount(10, [10_000]) == [10]
    assert split_amount(7, [3333, 3334, 3333]) == [3, 2, 2]
    with pytest.raises(ValueError, match="at least one share"):
        split_amount(1, [])


# --- earnings and withdrawals -------------------------------------------------------------------------
@dataclass
class FakeRegistry:
    """A registry of splits (a test double: no chain)."""

    splits: dict[int, list[Share]]

    def fetch_ids(self) -> list[int]:
        return list(self.splits)

    def validate_exists(self, model_id: int) -> None:
        if model_id not in self.splits:
            raise ConfigError(f"there is no model {model_id} on chain 1")

    def split(self, model_id: int, *, resolved: bool = False) -> list[Share]:
        assert resolved
        return self.splits[model_id]


@dataclass
class FakeChannels:
    pots: dict[int, int]
    balances: dict[str, int] = field(default_factory=dict)

    def pot(self, model_id: int) -> int:
        return self.pots[model_id]

    def balance_of(self, who: str) -> int:
        return self.balances.get(who, 0)


def test_fetch_earnings_walks_the_registry_and_keeps_the_payees_models() -> None:
    reg = FakeRegistry({1: [Share(A, 7000), Share(B, 3000)], 2: [Share(B, 10_000)], 3: [Share(A, 10_000)]})
    chans = FakeChannels({1: 1001, 2: 5, 3: 0}, {A: 9})
    e = fetch_earnings(reg, chans, A.upper().replace("0X", "0x"))  # type: ignore[arg-type]
    assert e.balance == 0  # balances are keyed by the address as given
    e = fetch_earnings(reg, chans, A)  # type: ignore[arg-type]
    assert e == Earnings(A, 9, (ModelShare(1, 7000, 1001, 701), ModelShare(3, 10_000, 0, 0)))
    assert e.total == 9 + 701
    only = fetch_earnings(reg, chans, B, only=[2, 2, 1])  # type: ignore[arg-type]
    assert [m.model_id for m in only.models] == [2, 1] and only.total == 5 + 300
    with pytest.raises(ConfigError, match="there is no model 4"):
        fetch_earnings(reg, chans, B, only=[1, 4])  # type: ignore[arg-type]


def test_plan_withdrawal() -> None:
    e = Earnings(A, 0, tuple(ModelShare(i, 100, 10 * i, i) for i in range(40)))  # model 0: empty pot
    chosen, left = plan_withdrawal(e)
    assert chosen == list(range(1, MAX_WITHDRAW_MODELS + 1)) and left == 39 - MAX_WITHDRAW_MODELS
    assert plan_withdrawal(e, [3, 3, 5]) == ([3, 5], 0)
    with pytest.raises(ConfigError, match=f"at most {MAX_WITHDRAW_MODELS} models, got 33"):
        plan_withdrawal(e, list(range(33)))
    with pytest.raises(ConfigError, match=f"^{A} has nothing to withdraw; .*agora model claim"):
        plan_withdrawal(e, [0])
    assert plan_withdrawal(Earnings(A, 1, ()), None) == ([], 0)  # a balance alone is enough
    with pytest.raises(ConfigError, match="nothing to withdraw"):
        plan_withdrawal(Earnings(A, 0, (ModelShare(1, 1, 5, 0),)))  # a pot too small to pay this payee


# --- the channel id ---------------------------------------------------------------------------------------
@given(signer=st.binary(min_size=20, max_size=20), model=st.integers(0, 2**64 - 1), seq=st.integers(0, 2**32 - 1))
def test_channel_id_layout_round_trips(signer: bytes, model: int, seq: int) -> None:
    address = "0x" + signer.hex()
    cid = encode_channel_id(address, model, seq)
    assert cid >> 96 == int.from_bytes(signer, "big") and 0 <= cid < 2**256
    parts = decode_channel_id(cid)
    assert (parts.signer.lower(), parts.model_id, parts.sequence) == (address, model, seq)
    assert channel_signer_bytes(cid) == signer
    assert encode_channel_id(parts.signer, parts.model_id, parts.sequence) == cid


def test_channel_id_bounds_and_parsing() -> None:
    with pytest.raises(ValueError, match="64 bits"):
        encode_channel_id(A, 2**64, 1)
    with pytest.raises(ValueError, match="32 bits"):
        encode_channel_id(A, 1, 2**32)
    with pytest.raises(ValueError, match="256-bit"):
        decode_channel_id(-1)
    cid = encode_channel_id(SIGNER, 3, 9)
    assert decode_channel_id(cid) == ChannelIdParts(SIGNER, 3, 9)
    assert parse_channel_id(str(cid)) == parse_channel_id(hex(cid)) == cid
    for bad in ("nope", "-1", hex(2**256), ""):
        with pytest.raises(ConfigError, match="is not a channel id"):
            parse_channel_id(bad)


def _info(**kw: Any) -> ChannelInfo:
    base = {"id": encode_channel_id(SIGNER, 1, 1), "payer": SIGNER, "signer": SIGNER, "model_id": 1,
            "deposit": 100, "claimed": 40, "nonce": 2, "expiry": 1_000}
    return ChannelInfo(**(base | kw))


def test_validate_closable() -> None:
    validate_closable(_info(), 1_001, 31337)
    assert _info().sequence == 1 and _info().unclaimed == 60
    with pytest.raises(ConfigError, match=r"no open channel \d+ on chain 31337 \(never opened, or already closed"):
        validate_closable(_info(deposit=0, claimed=0, expiry=0), 1_001, 31337)
    with pytest.raises(ConfigError, match=r"channel \d+ is already closed"):
        validate_closable(_info(expiry=0), 1_001, 31337)
    with pytest.raises(ConfigError, match=r"runs until 1000 \(1 s from now\); the service may claim until then"):
        validate_closable(_info(), 999, 31337)
    with pytest.raises(ConfigError, match=r"\(0 s from now\)"):
        validate_closable(_info(), 1_000, 31337)
    # the CLI names the channel as it was typed (hex or decimal), as it did before 0.4
    with pytest.raises(ConfigError, match=r"^there is no open channel 0x10 on chain 31337 "):
        validate_closable(_info(deposit=0, claimed=0, expiry=0), 1_001, 31337, label="0x10")
    with pytest.raises(ConfigError, match=r"^channel 0xabc is already closed"):
        validate_closable(_info(expiry=0), 1_001, 31337, label="0xabc")


# --- checks before serving ----------------------------------------------------------------------------
def _card(**kw: Any) -> ModelCard:
    return ModelCard(**({"name": "m", "kind": "onnx-classify", "weights_cid": cid_for(b"w"), "weights_hash": HASH,
                         "price": 5} | kw))


def _model_info(**kw: Any) -> ModelInfo:
    base = {"id": 4, "owner": A, "card_cid": cid_for(b"card"), "weights_hash": bytes.fromhex(HASH[2:]), "parent": 0,
            "root": 4, "version": 1, "registered_at": 7, "active": True, "uri": "ipfs://x"}
    return ModelInfo(**(base | kw))


def test_validate_service_key_and_card() -> None:
    validate_service_key(4, SIGNER, SIGNER.lower())
    with pytest.raises(ConfigError) as exc:
        validate_service_key(4, SIGNER, A)
    assert str(exc.value) == (f"{A} is not model 4's service key ({SIGNER}); its owner can name this account "
                              f"with `agora model set-service 4 {A}`")
    validate_card(_card(), _model_info())
    with pytest.raises(ConfigError, match="^model 4's card names other weights than its registration$"):
        validate_card(_card(weights_hash="0x" + "22" * 32), _model_info())


def test_validate_weights() -> None:
    workload = SimpleNamespace(weights_hash=lambda b: b"\x01" * 32)
    validate_weights(4, workload, b"x", b"\x01" * 32)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match=f"^the weights at hand do not hash to model 4's registered weights hash "
                                          f"0x{'02' * 32}$"):
        validate_weights(4, workload, b"x", b"\x02" * 32)  # type: ignore[arg-type]


def test_fetch_weights(tmp_path: Path) -> None:
    storage = Storage(LocalStore(tmp_path), [])
    assert fetch_weights(storage, 1, _card(weights_cid=cid_for(b""))) == b""
    cid = storage.put(b"model bytes")
    assert fetch_weights(storage, 1, _card(weights_cid=cid)) == b"model bytes"
    with pytest.raises(ConfigError, match=r"^model 1's weights \S+ are neither in local storage nor at any peer; "
                                          "store the model file here"):
        fetch_weights(storage, 1, _card(weights_cid=cid_for(b"held by nobody")))


def test_default_ledger_path() -> None:
    assert default_ledger_path(Path("/h"), 31337, A, 3) == Path(f"/h/value/serve-31337-{A}-3.sqlite")


# --- a model's bytes and card ---------------------------------------------------------------------------
def test_build_model_bytes() -> None:
    assert build_model_bytes("onnx-classify", b"w") == b"w"
    assert build_model_bytes("embed-minilm") == b""  # its weights come with its package
    assert build_model_bytes("onnx-classify", digits_demo=True)[:4] != b""
    with pytest.raises(ConfigError, match="^an onnx-classify model needs its weights; pass --weights FILE|CID$"):
        build_model_bytes("onnx-classify")
    with pytest.raises(ConfigError, match="the digits demo model is an onnx-classify model, not embed-minilm"):
        build_model_bytes("embed-minilm", digits_demo=True)
    with pytest.raises(ConfigError, match="not both"):
        build_model_bytes("onnx-classify", b"w", digits_demo=True)


def test_build_card() -> None:
    assert build_card(name="m", kind="k", weights_cid="c", weights_hash=HASH, price=1).max_items == 64
    with pytest.raises(ConfigError, match="^bad model card: max_items: "):
        build_card(name="m", kind="k", weights_cid="c", weights_hash=HASH, price=1, max_items=0)
    with pytest.raises(ConfigError, match="^bad model card: weights_hash: "):
        build_card(name="m", kind="k", weights_cid="c", weights_hash="0x12", price=1)


# --- the EIP-712 message shape ---------------------------------------------------------------------------
def test_message_type_matches_eth_account() -> None:
    mt = MessageType("Thing", [{"name": "a", "type": "uint256"}, {"name": "b", "type": "address"}])
    domain = build_domain("Agora Thing", 31337, A)
    assert domain.version == "1" and mt.types["EIP712Domain"] == CHEQUE_TYPES["EIP712Domain"]
    data = mt.typed_data(domain, {"a": 3, "b": B})
    assert data["primaryType"] == "Thing" and data["domain"]["verifyingContract"] == domain.contract
    signable = encode_typed_data(full_message=data)
    assert signable.header == domain.separator
    assert signable.body == keccak256(mt.type_hash + word(3) + word(B))
    assert set(CHEQUE_TYPES) == {"EIP712Domain", "Cheque"} and set(RECEIPT_TYPES) == {"EIP712Domain", "Receipt"}
    assert len(CHEQUE_TYPEHASH) == 32
    assert cheque_typed_data(channels_domain(1, A), 1, 2, 3)["types"] is CHEQUE_TYPES


# --- views ---------------------------------------------------------------------------------------------------
def test_views_are_json_ready() -> None:
    info, card = _model_info(), _card()
    tx = SimpleNamespace(tx_hash="0xabc")
    reg = build_registration_view(Registration(4, card, info, tx))  # type: ignore[arg-type]
    assert reg == {"id": 4, "name": "m", "kind": "onnx-classify", "owner": A, "version": 1, "price_wei": 5,
                   "weights_cid": card.weights_cid, "weights_hash": HASH, "card_cid": info.card_cid,
                   "uri": "ipfs://x", "tx": "0xabc"}
    details = ModelDetails(info, SIGNER, [Share(A, 10_000)], [1], [2], 0, 77, None, "no card")
    view = build_model_view(details)
    assert view["card"] is None and view["pot_wei"] == 77 and view["split"] == [{"recipient": A, "bps": 10_000}]
    assert view["provenance"] == {"datasets": [1], "jobs": [2], "parent": 0} and view["weights_hash"] == HASH
    assert build_model_view(ModelDetails(info, SIGNER, [], [], [], 0, 0, card))["card"]["schema"] == card.schema_
    assert build_model_row(info) == {"id": 4, "owner": A, "version": 1, "parent": 0, "active": True, "uri": "ipfs://x"}
    assert build_claim_view(ClaimResult(4, 10, 2)) == {"model_id": 4, "claimed_wei": 10, "unclaimed_wei": 2}
    e = Earnings(A, 3, (ModelShare(4, 5000, 10, 5),))
    assert build_earnings_view(e) == {"address": A, "balance_wei": 3, "total_wei": 8,
                                      "models": [{"model_id": 4, "bps": 5000, "pot_wei": 10, "share_wei": 5}]}
    assert build_withdrawal_view(Withdrawal(A, 8, [4])) == {"address": A, "withdrawn_wei": 8, "models": [4]}
    ch = _info()
    assert build_channel_view(ChannelView(ch, None)) == {
        "id": str(ch.id), "model_id": 1, "deposit_wei": 100, "claimed_wei": 40, "charged_wei": None, "expiry": 1_000,
        "open": True}
    assert build_closed_channel_view(ClosedChannel(ch.id, SIGNER, 60, tx)) == {  # type: ignore[arg-type]
        "id": str(ch.id), "refund_wei": 60, "tx": "0xabc"}
    r = Receipt("model-call", 4, 2, b"\x01" * 32, b"\x02" * 32, b"\x03" * 32, SIGNER, SIGNER, 9, ch.id, 100)
    checked = build_receipt_check_view(CheckedReceipt(r, SIGNER), input_checked=True, output_checked=False)
    assert checked["channel_id"] == str(ch.id) and checked["leaf"] == "0x" + r.leaf().hex()
    assert checked["valid"] is True and checked["input_checked"] and not checked["output_checked"]
    json.dumps([reg, view, checked])


# --- deprecated names ---------------------------------------------------------------------------------------
def test_get_is_a_deprecated_alias_of_fetch() -> None:
    reg = ModelRegistry.__new__(ModelRegistry)
    reg.fetch = lambda model_id: ("model", model_id)  # type: ignore[method-assign,assignment,return-value]
    with pytest.warns(DeprecationWarning, match=r"ModelRegistry\.get is deprecated; use ModelRegistry\.fetch"):
        assert reg.get(3) == ("model", 3)  # type: ignore[comparison-overlap]
    chans = Channels.__new__(Channels)
    chans.fetch = lambda channel_id: ("channel", channel_id)  # type: ignore[method-assign,assignment,return-value]
    with pytest.warns(DeprecationWarning, match=r"Channels\.get is deprecated; use Channels\.fetch"):
        assert chans.get(5) == ("channel", 5)  # type: ignore[comparison-overlap]


def test_owner_share_is_the_zero_address() -> None:
    assert Share(OWNER, 1).to_chain() == (OWNER, 1)
