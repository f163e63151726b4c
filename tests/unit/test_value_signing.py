"""The value layer's messages without a chain: cheques, receipts, x402 headers, splits, cards.

The fast EIP-712 path (:mod:`agora.chain.eip712`, :func:`sign_cheque`,
:func:`sign_receipt`) is checked digest for digest and signature for signature
against eth-account's reference ``encode_typed_data`` / ``sign_typed_data``, so
a wallet that signs :func:`cheque_typed_data` produces exactly the cheque the
service checks and the contract claims.
"""

from __future__ import annotations

import base64
import json

import pytest
from eth_account import Account
from eth_account.messages import _hash_eip191_message, encode_typed_data
from eth_hash.auto import keccak
from hypothesis import given, settings
from hypothesis import strategies as st

from agora.chain import signer_from_key
from agora.chain.eip712 import SECP256K1_HALF_N, Domain, recover_hash, word
from agora.errors import ConfigError
from agora.value import (
    CHEQUE_TYPES,
    OWNER,
    Cheque,
    ModelCard,
    PaymentError,
    Receipt,
    ReceiptError,
    Share,
    channels_domain,
    cheque_typed_data,
    parse_split,
    receipts_domain,
    sign_cheque,
    sign_receipt,
    split_amount,
)
from agora.value.cheques import MAX_CHEQUE_NONCE
from agora.value.receipts import RECEIPT_TYPES, call_receipt, hash_payload
from agora.value.x402 import (
    CHANNEL_SCHEME,
    EXACT_SCHEME,
    PAYMENT_SIGNATURE,
    X402_VERSION,
    build_payment_required,
    build_payment_response,
    channel_offer,
    decode_header,
    encode_header,
    exact_offer,
    parse_cheque,
    parse_payment,
)

SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
KEY = "0x" + "11" * 32
OTHER_KEY = "0x" + "22" * 32
SIGNER = signer_from_key(KEY)
OTHER = signer_from_key(OTHER_KEY)
CHANNELS = "0x5FbDB2315678afecb367f032d93F642f64180aa3"
REGISTRY = "0xe7f1725E7734CE288F8367e1Bb143E90bb3F0512"
CHAIN_ID = 31337
DOMAIN = channels_domain(CHAIN_ID, CHANNELS)
RDOMAIN = receipts_domain(CHAIN_ID, REGISTRY)

uint256 = st.integers(0, 2**256 - 1)
uint32 = st.integers(0, 2**32 - 1)
uint96 = st.integers(0, 2**96 - 1)
b32 = st.binary(min_size=32, max_size=32)


def _checksum(raw: bytes) -> str:
    from eth_utils import to_checksum_address

    return to_checksum_address(raw)


def _reference_hash(typed: dict) -> bytes:
    return bytes(_hash_eip191_message(encode_typed_data(full_message=typed)))


# --- EIP-712 domain -------------------------------------------------------------------------
@given(chain_id=st.integers(1, 2**64), contract=st.binary(min_size=20, max_size=20), struct=b32,
       name=st.text(max_size=40), version=st.sampled_from(["1", "2", "0.4.3"]))
@settings(max_examples=60, deadline=None)
def test_domain_digest_equals_eth_account(chain_id: int, contract: bytes, struct: bytes, name: str,
                                          version: str) -> None:
    dom = Domain(name, version, chain_id, "0x" + contract.hex())
    signable = encode_typed_data(full_message={
        "types": {"EIP712Domain": CHEQUE_TYPES["EIP712Domain"], "Cheque": CHEQUE_TYPES["Cheque"]},
        "primaryType": "Cheque", "domain": dom.to_json(),
        "message": {"channelId": 1, "nonce": 2, "amount": 3},
    })
    assert dom.separator == bytes(signable.header)
    assert dom.digest(struct) == keccak(b"\x19\x01" + bytes(signable.header) + struct)
    assert dom.contract == _checksum(contract)  # stored checksummed
    assert dom.to_json()["verifyingContract"] == dom.contract


def test_domains_differ_by_chain_and_contract() -> None:
    assert channels_domain(1, CHANNELS).separator != channels_domain(2, CHANNELS).separator
    assert channels_domain(1, CHANNELS).separator != channels_domain(1, REGISTRY).separator
    assert channels_domain(1, CHANNELS).separator != receipts_domain(1, CHANNELS).separator
    # case of the address does not matter
    assert channels_domain(1, CHANNELS.lower()).separator == channels_domain(1, CHANNELS).separator


# --- cheques --------------------------------------------------------------------------------
@given(channel_id=uint256, nonce=uint256, amount=uint256)
@settings(max_examples=60, deadline=None)
def test_cheque_equals_eth_account_sign_typed_data(channel_id: int, nonce: int, amount: int) -> None:
    typed = cheque_typed_data(DOMAIN, channel_id, nonce, amount)
    ref = Account.sign_typed_data(KEY, full_message=typed)
    q = sign_cheque(SIGNER, DOMAIN, channel_id, nonce, amount)
    assert q.digest(DOMAIN) == bytes(ref.message_hash) == _reference_hash(typed)
    assert q.signature == bytes(ref.signature)
    assert q.signer(DOMAIN) == SIGNER.address
    # what any wallet signs from the JSON is a cheque the service accepts
    wallet = Cheque(channel_id, nonce, amount, bytes(ref.signature))
    assert wallet.signer(DOMAIN) == SIGNER.address


def test_cheque_typed_data_is_wallet_json() -> None:
    typed = cheque_typed_data(DOMAIN, 7, 1, 10**18)
    assert typed["primaryType"] == "Cheque"
    assert typed["types"]["Cheque"] == [
        {"name": "channelId", "type": "uint256"}, {"name": "nonce", "type": "uint256"},
        {"name": "amount", "type": "uint256"},
    ]
    assert typed["domain"] == {"name": "Agora PaymentChannels", "version": "1", "chainId": CHAIN_ID,
                               "verifyingContract": CHANNELS}
    json.dumps(typed)  # plain JSON


def test_cheque_in_another_domain_recovers_someone_else() -> None:
    q = sign_cheque(SIGNER, DOMAIN, 5, 1, 100)
    assert q.signer(channels_domain(CHAIN_ID + 1, CHANNELS)) != SIGNER.address
    assert q.signer(channels_domain(CHAIN_ID, REGISTRY)) != SIGNER.address


@given(channel_id=uint256, nonce=uint32, amount=uint96)
@settings(max_examples=30, deadline=None)
def test_cheque_vrs_and_packed_roundtrip(channel_id: int, nonce: int, amount: int) -> None:
    q = sign_cheque(SIGNER, DOMAIN, channel_id, nonce, amount)
    v, r, s = q.vrs()
    assert v in (27, 28) and r + s + bytes([v]) == q.signature
    cid, an, pr, vs = q.packed()
    assert cid == channel_id and an >> 32 == amount and an & (2**32 - 1) == nonce and pr == r
    vs_int = int.from_bytes(vs, "big")
    assert 27 + (vs_int >> 255) == v
    assert (vs_int & ((1 << 255) - 1)).to_bytes(32, "big") == s
    # v as 0/1 is read the same
    low_v = Cheque(channel_id, nonce, amount, q.signature[:64] + bytes([v - 27]))
    assert low_v.vrs() == q.vrs() and low_v.signer(DOMAIN) == SIGNER.address


def test_cheque_json_is_decimal_strings() -> None:
    q = sign_cheque(SIGNER, DOMAIN, 2**200, 3, 10**30)
    assert q.to_json() == {"channelId": str(2**200), "nonce": "3", "amount": str(10**30),
                           "signature": "0x" + q.signature.hex()}


# --- recover_hash -----------------------------------------------------------------------------
def _high_s(sig: bytes) -> bytes:
    s = int.from_bytes(sig[32:64], "big")
    v = sig[64]
    return sig[:32] + (SECP256K1_N - s).to_bytes(32, "big") + bytes([55 - v])  # 27 <-> 28


def test_recover_hash_accepts_low_s_and_both_v_forms() -> None:
    digest = keccak(b"hello")
    sig = SIGNER.sign_hash(digest)
    assert int.from_bytes(sig[32:64], "big") <= SECP256K1_HALF_N
    assert recover_hash(digest, sig) == SIGNER.address
    assert recover_hash(digest, sig[:64] + bytes([sig[64] - 27])) == SIGNER.address


def test_recover_hash_rejects_high_s() -> None:
    digest = keccak(b"hello")
    sig = SIGNER.sign_hash(digest)
    malleable = _high_s(sig)
    # the flipped signature is mathematically valid for the same key ...
    from coincurve import PublicKey

    pub = PublicKey.from_signature_and_message(malleable[:64] + bytes([malleable[64] - 27]), digest, hasher=None)
    assert _checksum(keccak(pub.format(compressed=False)[1:])[-20:]) == SIGNER.address
    # ... but it is refused, as the contract refuses it
    assert recover_hash(digest, malleable) is None
    q = Cheque(1, 1, 1, _high_s(sign_cheque(SIGNER, DOMAIN, 1, 1, 1).signature))
    assert q.signer(DOMAIN) is None


@pytest.mark.parametrize("mangle", [
    lambda s: b"",
    lambda s: s[:64],
    lambda s: s + b"\x00",
    lambda s: s[:64] + b"\x02",
    lambda s: s[:64] + b"\x1d",  # 29
    lambda s: s[:64] + b"\xff",
    lambda s: b"\x00" * 65,
    lambda s: b"\x00" * 32 + s[32:],  # r = 0
    lambda s: (SECP256K1_N + 1).to_bytes(32, "big") + s[32:],  # r >= n
], ids=["empty", "64-bytes", "66-bytes", "v=2", "v=29", "v=255", "zeros", "r=0", "r>=n"])
def test_recover_hash_rejects_malformed(mangle) -> None:  # type: ignore[no-untyped-def]
    digest = keccak(b"x")
    assert recover_hash(digest, mangle(SIGNER.sign_hash(digest))) is None


# --- receipts ---------------------------------------------------------------------------------
def _receipt(**kw: object) -> Receipt:
    base = dict(model_id=3, weights_hash=keccak(b"w"), input_hash=keccak(b"in"), output_hash=keccak(b"out"),
                amount=10**15, channel_id=2**150 + 7, nonce=9, payer=OTHER.address, time=1_700_000_000)
    base.update(kw)
    return call_receipt(runner=SIGNER.address, **base)  # type: ignore[arg-type]


@given(model_id=uint256, wh=b32, ih=b32, oh=b32, amount=uint256, channel_id=uint256, nonce=uint256,
       payer=st.binary(min_size=20, max_size=20), t=st.integers(0, 2**64 - 1))
@settings(max_examples=40, deadline=None)
def test_receipt_equals_eth_account(model_id: int, wh: bytes, ih: bytes, oh: bytes, amount: int, channel_id: int,
                                    nonce: int, payer: bytes, t: int) -> None:
    r = call_receipt(model_id=model_id, weights_hash=wh, input_hash=ih, output_hash=oh, amount=amount,
                     channel_id=channel_id, nonce=nonce, payer=_checksum(payer), time=t, runner=SIGNER.address)
    typed = r.typed_data(RDOMAIN)
    signable = encode_typed_data(full_message=typed)
    assert bytes(signable.body) == r.leaf()
    assert bytes(signable.header) == RDOMAIN.separator
    assert _reference_hash(typed) == RDOMAIN.digest(r.leaf())
    signed = sign_receipt(SIGNER, RDOMAIN, r)
    assert signed.signature == bytes(Account.sign_typed_data(KEY, full_message=typed).signature)
    assert signed.signer(RDOMAIN) == SIGNER.address
    assert signed.leaf() == r.leaf()  # the signature is not part of the leaf


def test_receipt_types_and_leaf_words() -> None:
    assert RECEIPT_TYPES["Receipt"][-1] == {"name": "time", "type": "uint64"}
    r = _receipt()
    assert r.leaf() == keccak(
        keccak(b"Receipt(string kind,uint256 subject,uint256 item,bytes32 weightsHash,bytes32 inputHash,"
               b"bytes32 outputHash,address runner,address payer,uint256 amount,uint256 payment,uint64 time)")
        + keccak(b"model-call") + word(r.model_id) + word(r.nonce) + r.weights_hash + r.input_hash + r.output_hash
        + word(r.runner) + word(r.payer) + word(r.amount) + word(r.channel_id) + word(r.time)
    )


def test_receipt_verify() -> None:
    data_in, data_out = b"input bytes", b"output bytes"
    r = sign_receipt(SIGNER, RDOMAIN, _receipt(input_hash=keccak(data_in), output_hash=keccak(data_out)))
    r.verify(RDOMAIN, SIGNER.address, inputs=data_in, output=data_out, weights_hash=keccak(b"w"))
    r.verify(RDOMAIN, SIGNER.address.lower())
    with pytest.raises(ReceiptError, match="not the model's service"):
        r.verify(RDOMAIN, OTHER.address)
    with pytest.raises(ReceiptError, match="signed by"):
        r.verify(receipts_domain(CHAIN_ID + 1, REGISTRY), SIGNER.address)
    with pytest.raises(ReceiptError, match="another input"):
        r.verify(RDOMAIN, SIGNER.address, inputs=b"other")
    with pytest.raises(ReceiptError, match="another output"):
        r.verify(RDOMAIN, SIGNER.address, output=b"other")
    with pytest.raises(ReceiptError, match="other weights"):
        r.verify(RDOMAIN, SIGNER.address, weights_hash=keccak(b"v"))
    with pytest.raises(ReceiptError, match="malformed"):
        _receipt().verify(RDOMAIN, SIGNER.address)  # unsigned
    from dataclasses import replace

    with pytest.raises(ReceiptError):
        replace(r, amount=r.amount + 1).verify(RDOMAIN, SIGNER.address)  # tampered


def test_hash_payload_is_canonical_json_or_bytes() -> None:
    assert hash_payload(b"abc") == keccak(b"abc")
    assert hash_payload(bytearray(b"abc")) == keccak(b"abc")
    assert hash_payload({"b": 1, "a": "é"}) == keccak('{"a":"é","b":1}'.encode())


def test_receipt_json_roundtrip() -> None:
    r = sign_receipt(SIGNER, RDOMAIN, _receipt())
    j = r.to_json(RDOMAIN)
    assert j["domain"] == RDOMAIN.to_json() and j["amount"] == str(10**15)
    back = Receipt.from_json(json.loads(json.dumps(j)))
    assert back == r and back.signer(RDOMAIN) == SIGNER.address
    unsigned = Receipt.from_json({k: v for k, v in r.to_json().items() if k != "signature"})
    assert unsigned.signature == b""


@pytest.mark.parametrize("patch", [
    {"subject": None}, {"amount": "ten"}, {"weightsHash": "0x1234"}, {"inputHash": "zz"}, {"item": [1]},
    {"signature": "0xzz"}, {"kind": ""}, {"payer": "0x12"}, {"time": 2**64}, {"amount": -1},
], ids=["subject-none", "amount-text", "short-hash", "bad-hex", "item-list", "bad-signature-hex", "no-kind",
        "bad-payer", "time-overflow", "negative"])
def test_receipt_from_json_rejects_malformed(patch: dict) -> None:
    j = sign_receipt(SIGNER, RDOMAIN, _receipt()).to_json()
    j.update(patch)
    with pytest.raises(ReceiptError, match="malformed receipt"):
        Receipt.from_json(j)


def test_receipt_from_json_rejects_missing_field() -> None:
    j = _receipt().to_json()
    del j["payer"]
    with pytest.raises(ReceiptError, match="malformed receipt"):
        Receipt.from_json(j)


# --- x402 -------------------------------------------------------------------------------------
@given(st.recursive(st.none() | st.booleans() | st.integers() | st.text(),
                    lambda kids: st.lists(kids, max_size=4) | st.dictionaries(st.text(max_size=8), kids, max_size=4),
                    max_leaves=20).map(lambda v: {"v": v}))
@settings(max_examples=50, deadline=None)
def test_header_roundtrip(obj: dict) -> None:
    enc = encode_header(obj)
    assert enc.isascii() and "\n" not in enc
    assert decode_header(enc) == obj


@pytest.mark.parametrize("value", [
    "not base64 !!", "%%%%", base64.b64encode(b"not json").decode(), base64.b64encode(b"[1, 2]").decode(),
    base64.b64encode(b'"text"').decode(), base64.b64encode(b"\xff\xfe").decode(), "eyJ4Ijox",  # truncated
    "A" * 9000,
], ids=["garbage", "symbols", "not-json", "json-list", "json-string", "not-utf8", "truncated", "too-long"])
def test_decode_header_rejects(value: str) -> None:
    with pytest.raises(PaymentError) as err:
        decode_header(value, PAYMENT_SIGNATURE)
    assert err.value.code == "malformed_header"


def _offers(amount: int = 1000) -> list[dict]:
    receipt = {"domain": RDOMAIN.to_json(), "signer": SIGNER.address}
    return [
        exact_offer(chain_id=CHAIN_ID, token=REGISTRY, pay_to=PAYEE, amount=amount, token_name="Agora Token",
                    token_version="1", receipt=receipt),
        channel_offer(chain_id=CHAIN_ID, token=REGISTRY, channels=CHANNELS, model_id=4, amount=amount,
                      domain=DOMAIN.to_json(), receipt=receipt, min_expiry_s=120),
    ]


def _payment(cheque: Cheque | None = None, **over: object) -> dict:
    q = cheque or sign_cheque(SIGNER, DOMAIN, 2**100 + 1, 4, 5 * 10**15)
    obj = {"x402Version": X402_VERSION, "accepted": json.loads(json.dumps(_offers()[1])), "payload": q.to_json()}
    for path, value in over.items():
        *parents, leaf = path.split("__")
        target = obj
        for p in parents:
            target = target[p]
        if value is _DELETE:
            del target[leaf]
        else:
            target[leaf] = value
    return obj


_DELETE = object()
PAYEE = "0x90F79bf6EB2c4f870365E785982E1f101E93b906"


def _parse(obj: object) -> Cheque:
    value = obj if isinstance(obj, str) else encode_header(obj)  # type: ignore[arg-type]
    payment = parse_payment(value, _offers())
    assert payment.scheme == CHANNEL_SCHEME and payment.offer == _offers()[1]
    return parse_cheque(payment.payload)


def test_parse_payment_roundtrip() -> None:
    q = sign_cheque(SIGNER, DOMAIN, 2**100 + 1, 4, 5 * 10**15)
    assert _parse(_payment(q)) == q
    # payTo and asset in any case, extra fields the offer lacks, the dynamic extra.channel; hex integers
    # and a signature without 0x are read too
    alt = _payment(q, accepted__payTo=CHANNELS.lower(), accepted__asset=REGISTRY.lower(), accepted__extra__more=1,
                   accepted__extra__channel={"id": "1"}, payload__amount=hex(q.amount), payload__nonce=4,
                   payload__signature=q.signature.hex())
    assert _parse(alt) == q


def test_parse_payment_exact() -> None:
    payload = {"signature": "0x" + "11" * 65, "authorization": {"from": SIGNER.address}}
    obj = {"x402Version": 2, "accepted": _offers(77)[0], "payload": payload}
    payment = parse_payment(encode_header(obj), _offers(77))
    assert payment.scheme == EXACT_SCHEME and payment.payload == payload and payment.raw == obj
    assert payment.offer["extra"]["name"] == "Agora Token" and payment.offer["extra"]["version"] == "1"
    with pytest.raises(PaymentError) as err:  # the price of another request
        parse_payment(encode_header(obj), _offers(78))
    assert err.value.code == "offer_mismatch" and "amount" in str(err.value)


@pytest.mark.parametrize(("over", "code"), [
    ({"x402Version": 1}, "unsupported_version"),
    ({"x402Version": "2"}, "unsupported_version"),
    ({"x402Version": _DELETE}, "unsupported_version"),
    ({"accepted": _DELETE}, "malformed_header"),
    ({"accepted": "agora-channel"}, "malformed_header"),
    ({"accepted__scheme": "batch-settlement"}, "unsupported_scheme"),
    ({"accepted__scheme": _DELETE}, "unsupported_scheme"),
    ({"accepted__network": "eip155:1"}, "wrong_network"),
    ({"accepted__network": str(CHAIN_ID)}, "wrong_network"),
    ({"accepted__network": _DELETE}, "wrong_network"),
    ({"accepted__payTo": REGISTRY}, "offer_mismatch"),
    ({"accepted__payTo": _DELETE}, "offer_mismatch"),
    ({"accepted__amount": "999"}, "offer_mismatch"),
    ({"accepted__amount": 1000}, "offer_mismatch"),
    ({"accepted__asset": CHANNELS}, "offer_mismatch"),
    ({"accepted__maxTimeoutSeconds": _DELETE}, "offer_mismatch"),
    ({"accepted__extra": _DELETE}, "offer_mismatch"),
    ({"accepted__extra__modelId": "5"}, "offer_mismatch"),
    ({"accepted__extra__domain": {}}, "offer_mismatch"),
    ({"payload": _DELETE}, "malformed_header"),
    ({"payload": []}, "malformed_header"),
    ({"payload__channelId": _DELETE}, "malformed_header"),
    ({"payload__nonce": _DELETE}, "malformed_header"),
    ({"payload__amount": _DELETE}, "malformed_header"),
    ({"payload__signature": _DELETE}, "malformed_header"),
    ({"payload__amount": "-1"}, "malformed_header"),
    ({"payload__amount": "1.5"}, "malformed_header"),
    ({"payload__amount": 1.5}, "malformed_header"),
    ({"payload__amount": True}, "malformed_header"),
    ({"payload__amount": None}, "malformed_header"),
    ({"payload__amount": str(2**256)}, "malformed_header"),
    ({"payload__channelId": "0xzz"}, "malformed_header"),
    ({"payload__nonce": [1]}, "malformed_header"),
    ({"payload__signature": "0xnothex"}, "malformed_header"),
    ({"payload__signature": "0x" + "ab" * 64}, "invalid_signature"),
    ({"payload__signature": "0x" + "ab" * 66}, "invalid_signature"),
    ({"payload__signature": ""}, "invalid_signature"),
    # the contract keeps a channel's nonce in 32 bits: a cheque above it could never be claimed
    ({"payload__nonce": "0"}, "nonce_out_of_range"),
    ({"payload__nonce": str(2**32)}, "nonce_out_of_range"),
    ({"payload__nonce": str(2**32 + 5)}, "nonce_out_of_range"),
])
def test_parse_payment_errors(over: dict, code: str) -> None:
    with pytest.raises(PaymentError) as err:
        _parse(_payment(**over))
    assert err.value.code == code, str(err.value)
    assert str(err.value) and "\n" not in str(err.value)


def test_the_highest_nonce_parses() -> None:
    q = sign_cheque(SIGNER, DOMAIN, 2**100 + 1, MAX_CHEQUE_NONCE, 5 * 10**15)
    assert _parse(_payment(q)) == q


@pytest.mark.parametrize("value", ["garbage!", base64.b64encode(b"{not json").decode(),
                                   base64.b64encode(b"[]").decode(), ""])
def test_parse_payment_malformed_envelope(value: str) -> None:
    with pytest.raises(PaymentError) as err:
        _parse(value)
    assert err.value.code == "malformed_header"


def test_payment_required() -> None:
    offers = _offers(3 * 10**15)
    offers[1]["extra"]["channel"] = {"id": "1"}
    req = build_payment_required(url="http://x/call", description="d", mime_type="application/vnd.agora-result",
                                 accepts=offers, error="cheque_replayed")
    back = decode_header(encode_header(req))
    assert back == json.loads(json.dumps(req))
    assert back["x402Version"] == 2 and back["error"] == "cheque_replayed"
    exact, acc = back["accepts"]
    assert [exact["scheme"], acc["scheme"]] == [EXACT_SCHEME, CHANNEL_SCHEME]
    assert exact["amount"] == acc["amount"] == str(3 * 10**15)  # the same price in both schemes
    assert exact["payTo"] == PAYEE and exact["extra"]["assetTransferMethod"] == "eip3009"
    assert acc["network"] == f"eip155:{CHAIN_ID}" and acc["maxTimeoutSeconds"] == 60
    assert acc["payTo"] == CHANNELS and acc["asset"] == REGISTRY
    extra = acc["extra"]
    assert extra["modelId"] == "4" and extra["primaryType"] == "Cheque" and extra["channel"] == {"id": "1"}
    assert extra["minExpirySeconds"] == 120 and extra["receipt"]["signer"] == SIGNER.address
    # the 402 alone is enough for a wallet to sign a cheque the service checks
    typed = {"types": extra["types"], "primaryType": extra["primaryType"], "domain": extra["domain"],
             "message": {"channelId": 9, "nonce": 1, "amount": 3 * 10**15}}
    sig = bytes(Account.sign_typed_data(KEY, full_message=typed).signature)
    assert Cheque(9, 1, 3 * 10**15, sig).signer(DOMAIN) == SIGNER.address
    no_err = build_payment_required(url="u", description="", mime_type="m", accepts=_offers())
    assert "error" not in no_err and "channel" not in no_err["accepts"][1]["extra"]


def test_payment_response_is_x402s_settle_response() -> None:
    from x402.schemas import SettleResponse

    resp = build_payment_response(network=f"eip155:{CHAIN_ID}", payer=SIGNER.address, amount=5, transaction="0xab",
                                  extra={"receipt": {"amount": "5"}})
    parsed = SettleResponse.model_validate(decode_header(encode_header(resp)))
    assert parsed.success and parsed.transaction == "0xab" and parsed.amount == "5"
    assert parsed.extra == {"receipt": {"amount": "5"}} and parsed.payer == SIGNER.address


# --- splits -----------------------------------------------------------------------------------
A = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"
B = "0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC"


def test_parse_split() -> None:
    shares = parse_split(f"owner:7000, {A.lower()}:2000 ,{B}:1000")
    assert shares == [Share(OWNER, 7000), Share(A, 2000), Share(B, 1000)]
    assert parse_split(f"me:5000,{A}:5000", owner_alias="me")[0] == Share(OWNER, 5000)
    assert parse_split("owner:10000,") == [Share(OWNER, 10000)]
    assert Share(A.lower(), 1).to_chain() == (A, 1)


@pytest.mark.parametrize(("text", "match"), [
    ("", "1 to 8 shares"),
    ("owner", "must be ADDRESS:BPS"),
    ("owner:ten", "not a whole number"),
    ("owner:70.5", "not a whole number"),
    ("0x1234:10000", "not an address"),
    ("alice:10000", "not an address"),
    ("owner:9000", "not 10000"),
    (f"owner:9000,{A}:2000", "not 10000"),
    (f"owner:10000,{A}:0", "at least 1 basis point"),
    (f"owner:11000,{A}:-1000", "at least 1 basis point"),
    (f"{A}:5000,{A.lower()}:5000", "twice"),
    (f"owner:5000,{OWNER}:5000", "twice"),
    (",".join(f"0x{i:040x}:1000" for i in range(1, 10)) + ",owner:1000", "1 to 8 shares"),
])
def test_parse_split_rejects(text: str, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        parse_split(text)


@st.composite
def splits(draw: st.DrawFn) -> list[int]:
    n = draw(st.integers(1, 8))
    cuts = sorted(draw(st.lists(st.integers(1, 9_999), min_size=n - 1, max_size=n - 1, unique=True)))
    edges = [0, *cuts, 10_000]
    return [b - a for a, b in zip(edges, edges[1:], strict=False)]


@given(amount=st.integers(0, 2**96 - 1), bps=splits())
def test_split_rounding_rule(amount: int, bps: list[int]) -> None:
    parts = split_amount(amount, bps)
    assert sum(parts) == amount  # to the wei
    assert all(p >= 0 for p in parts)
    for p, b in zip(parts[1:], bps[1:], strict=True):
        assert p * 10_000 <= amount * b < (p + 1) * 10_000  # floor
    # the first share gets its exact part plus less than one wei per other share of rounding
    # (integers only: a float model of "exact" is off by more than that for large amounts)
    assert amount * bps[0] <= parts[0] * 10_000 < amount * bps[0] + 10_000 * len(bps)
    parse_split(",".join(["owner:" + str(bps[0]), *(f"0x{i + 1:040x}:{b}" for i, b in enumerate(bps[1:]))]))


# --- model cards ------------------------------------------------------------------------------
def _card(**kw: object) -> ModelCard:
    base: dict = dict(name="digits", kind="onnx-classify", weights_cid="bafkexample", weights_hash="0x" + "ab" * 32,
                      price=10**15)
    base.update(kw)
    return ModelCard(**base)


def test_model_card_roundtrip() -> None:
    card = _card(description="a small MLP", endpoint="http://127.0.0.1:9000", max_items=8,
                 input_schema={"type": "array"}, output_schema={"labels": list(range(10))})
    data = card.to_bytes()
    assert ModelCard.from_bytes(data) == card
    assert ModelCard.from_bytes(data).to_bytes() == data  # canonical: one card, one CID
    obj = json.loads(data)
    assert obj["schema"] == "agora-model-card/1" and list(obj) == sorted(obj)
    assert b" " not in data.replace(b"a small MLP", b"")
    assert _card(weights_hash="AB" * 32).weights_hash == "0x" + "ab" * 32
    assert _card().max_items == 64 and _card().endpoint is None


@pytest.mark.parametrize("patch", [
    {"extra_field": 1}, {"name": ""}, {"name": "x" * 101}, {"kind": ""}, {"price": -1}, {"price": "cheap"},
    {"weights_hash": "0x1234"}, {"weights_hash": "0x" + "zz" * 32}, {"max_items": 0}, {"max_items": 5000},
    {"weights_cid": None}, {"description": "d" * 2001},
], ids=lambda p: next(iter(p)))
def test_model_card_rejects(patch: dict) -> None:
    obj = json.loads(_card().to_bytes())
    obj.update(patch)
    with pytest.raises(ConfigError, match="not a model card"):
        ModelCard.from_bytes(json.dumps(obj).encode())


@pytest.mark.parametrize("data", [b"", b"not json", b"[]", b'{"name": "x"}', b"\xff"])
def test_model_card_rejects_non_cards(data: bytes) -> None:
    with pytest.raises(ConfigError, match="not a model card"):
        ModelCard.from_bytes(data)


def test_model_card_is_frozen() -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError):
        _card().price = 0  # type: ignore[misc]
