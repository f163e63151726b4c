"""Accounts: dev signers, keystores, raw keys and signatures."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest
from eth_account import Account
from eth_account.messages import encode_typed_data

from agora.chain.accounts import (
    DEV_MNEMONIC,
    Signer,
    create_keystore,
    dev_signer,
    dev_signers,
    load_keystore,
    signer_from_key,
)
from agora.errors import ConfigError

DEV0 = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"
DEV1 = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"
DEV0_KEY = "ac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"
PASSWORD = "correct horse battery staple"


def test_dev_signers_are_the_well_known_accounts() -> None:
    assert DEV_MNEMONIC == "test test test test test test test test test test test junk"
    assert dev_signer(0).address == DEV0
    assert dev_signer(1).address == DEV1
    assert dev_signer().address == DEV0
    assert [s.address for s in dev_signers(2)] == [DEV0, DEV1]
    assert len({s.address for s in dev_signers(10)}) == 10


def test_dev_signer_matches_its_key() -> None:
    assert signer_from_key(DEV0_KEY).address == DEV0
    assert signer_from_key("0x" + DEV0_KEY).address == DEV0
    assert signer_from_key(bytes.fromhex(DEV0_KEY)).address == DEV0
    assert signer_from_key(DEV0_KEY) == dev_signer(0)  # equality is by address


def test_other_mnemonic_gives_other_accounts() -> None:
    other = " ".join(["abandon"] * 11 + ["about"])
    assert dev_signer(0, other).address != DEV0


@pytest.mark.parametrize("signer", [dev_signer(0), signer_from_key(DEV0_KEY)], ids=["dev", "key"])
def test_repr_and_str_hide_the_key(signer: Signer) -> None:
    for text in (repr(signer), str(signer), f"{signer}", f"{signer!r}", repr([signer])):
        assert DEV0 in text
        assert DEV0_KEY not in text.lower()
        assert "private" not in text.lower()


def test_signer_is_frozen() -> None:
    with pytest.raises(AttributeError):
        dev_signer(0).address = DEV1  # type: ignore[misc]


# --- keystores -----------------------------------------------------------------


@pytest.fixture(scope="module")
def keystore(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("ks") / "sub" / "dev0.json"
    create_keystore(path, PASSWORD, dev_signer(0))
    return path


def test_keystore_roundtrip(keystore: Path) -> None:
    loaded = load_keystore(keystore, PASSWORD)
    assert loaded.address == DEV0
    assert loaded == dev_signer(0)


def test_keystore_file_is_private_and_encrypted(keystore: Path) -> None:
    assert stat.S_IMODE(keystore.stat().st_mode) == 0o600
    text = keystore.read_text()
    assert DEV0_KEY not in text.lower()
    assert PASSWORD not in text
    data = json.loads(text)
    assert data["version"] == 3
    assert data["address"].lower() == DEV0[2:].lower()


def test_keystore_random_key(tmp_path: Path) -> None:
    path = tmp_path / "fresh.json"
    signer = create_keystore(path, PASSWORD)
    assert signer.address not in {s.address for s in dev_signers(10)}
    assert load_keystore(path, PASSWORD).address == signer.address


def test_keystore_refuses_to_overwrite(keystore: Path) -> None:
    before = keystore.read_bytes()
    with pytest.raises(ConfigError, match="already exists"):
        create_keystore(keystore, PASSWORD, dev_signer(1))
    assert keystore.read_bytes() == before
    assert load_keystore(keystore, PASSWORD).address == DEV0


def test_keystore_refuses_empty_password(tmp_path: Path) -> None:
    path = tmp_path / "k.json"
    with pytest.raises(ConfigError, match="password"):
        create_keystore(path, "", dev_signer(0))
    assert not path.exists()


def test_keystore_wrong_password(keystore: Path) -> None:
    with pytest.raises(ConfigError, match=r"^wrong password") as info:
        load_keystore(keystore, "not the password")
    assert "not the password" not in str(info.value)


def test_keystore_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_keystore(tmp_path / "nope.json", PASSWORD)


@pytest.mark.parametrize(
    "content",
    ["", "not json", "{", "[]", "{}", '{"version": 3, "crypto": {}}', "null", "42"],
)
def test_keystore_malformed_file(tmp_path: Path, content: str) -> None:
    path = tmp_path / "bad.json"
    path.write_text(content)
    with pytest.raises(ConfigError):
        load_keystore(path, PASSWORD)


def test_keystore_that_is_a_folder(tmp_path: Path) -> None:
    with pytest.raises(ConfigError):
        load_keystore(tmp_path, PASSWORD)


# --- raw keys ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "0x",
        "zz" * 32,
        DEV0_KEY[:-2],  # 31 bytes
        DEV0_KEY + "00",  # 33 bytes
        "0x" + "00" * 32,  # zero is not a valid secp256k1 key
        "0x" + "ff" * 32,  # above the curve order
        "deadbeef-not-a-key",
        b"\x01" * 31,
    ],
)
def test_malformed_key_is_not_echoed(bad: str | bytes) -> None:
    with pytest.raises(ConfigError, match="malformed") as info:
        signer_from_key(bad)
    msg = str(info.value)
    shown = bad.hex() if isinstance(bad, bytes) else bad.removeprefix("0x")
    if len(shown) >= 4:
        assert shown not in msg
    assert info.value.__cause__ is None
    assert info.value.__suppress_context__


# --- signatures -------------------------------------------------------------------


def _permit(owner: str) -> dict:
    return {
        "types": {
            "EIP712Domain": [
                {"name": "name", "type": "string"},
                {"name": "version", "type": "string"},
                {"name": "chainId", "type": "uint256"},
                {"name": "verifyingContract", "type": "address"},
            ],
            "Permit": [
                {"name": "owner", "type": "address"},
                {"name": "spender", "type": "address"},
                {"name": "value", "type": "uint256"},
                {"name": "nonce", "type": "uint256"},
                {"name": "deadline", "type": "uint256"},
            ],
        },
        "primaryType": "Permit",
        "domain": {
            "name": "Agora Token",
            "version": "1",
            "chainId": 31337,
            "verifyingContract": "0x5FbDB2315678afecb367f032d93F642f64180aa3",
        },
        "message": {
            "owner": owner,
            "spender": DEV1,
            "value": 10**18,
            "nonce": 0,
            "deadline": 2**256 - 1,
        },
    }


@pytest.mark.parametrize("index", [0, 1, 5])
def test_sign_typed_data_recovers(index: int) -> None:
    signer = dev_signer(index)
    typed = _permit(signer.address)
    sig = signer.sign_typed_data(typed)
    assert isinstance(sig, bytes) and len(sig) == 65
    recovered = Account.recover_message(encode_typed_data(full_message=typed), signature=sig)
    assert recovered == signer.address


def test_sign_typed_data_depends_on_the_message() -> None:
    signer = dev_signer(0)
    a = _permit(signer.address)
    b = _permit(signer.address)
    b["message"]["value"] += 1
    sig = signer.sign_typed_data(a)
    assert sig != signer.sign_typed_data(b)
    assert Account.recover_message(encode_typed_data(full_message=b), signature=sig) != DEV0


def test_sign_hash_recovers() -> None:
    digest = bytes(range(32))
    sig = dev_signer(1).sign_hash(digest)
    assert len(sig) == 65
    assert Account._recover_hash(digest, signature=sig) == DEV1


def test_sign_transaction_recovers() -> None:
    tx = {
        "to": DEV1,
        "value": 1,
        "gas": 21000,
        "maxFeePerGas": 10**9,
        "maxPriorityFeePerGas": 1,
        "nonce": 0,
        "chainId": 31337,
        "type": 2,
    }
    raw = dev_signer(0).sign_transaction(tx)
    assert isinstance(raw, bytes)
    assert Account.recover_transaction(raw) == DEV0
