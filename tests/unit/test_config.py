"""Settings: defaults < $AGORA_HOME/config.toml < AGORA_* environment < overrides."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from agora.config import SECRET_FIELDS, Settings, default_home, load_settings
from agora.errors import ConfigError

SECRET = "s3cr3t-do-not-print-0123456789"
KEY = "0x" + "ab" * 32


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """No AGORA_* from the host; AGORA_HOME points at an empty temporary home."""
    for name in list(os.environ):
        if name.startswith("AGORA_"):
            monkeypatch.delenv(name)
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("AGORA_HOME", str(home))
    return home


def _write_config(home: Path, text: str) -> None:
    (home / "config.toml").write_text(text)


def test_defaults(clean_env: Path) -> None:
    s = load_settings()
    assert s.home == clean_env
    assert s.chain == "embedded://"
    assert s.chain_id is None
    assert s.evm_version == "prague"
    assert s.account == 0
    assert s.password is None and s.private_key is None
    assert s.storage_peers == []
    assert s.max_blob_bytes == 64 * 1024 * 1024
    assert s.devnet_port == 8545
    assert s.config_file == clean_env / "config.toml"
    assert s.blob_dir == clean_env / "blobs"


def test_default_home_without_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("AGORA_HOME")
    monkeypatch.setenv("HOME", str(tmp_path))
    assert default_home() == tmp_path / ".agora"


def test_file_overrides_defaults(clean_env: Path) -> None:
    _write_config(clean_env, 'chain = "http://file:8545"\ndevnet_port = 9000\naccount = 3\n')
    s = load_settings()
    assert s.chain == "http://file:8545"
    assert s.devnet_port == 9000
    assert s.account == 3
    assert s.evm_version == "prague"  # untouched default


def test_env_overrides_file(clean_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _write_config(clean_env, 'chain = "http://file:8545"\ndevnet_port = 9000\n')
    monkeypatch.setenv("AGORA_CHAIN", "http://env:8545")
    s = load_settings()
    assert s.chain == "http://env:8545"
    assert s.devnet_port == 9000  # still from the file


def test_overrides_beat_env(clean_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _write_config(clean_env, 'chain = "http://file:8545"\nevm_version = "cancun"\n')
    monkeypatch.setenv("AGORA_CHAIN", "http://env:8545")
    monkeypatch.setenv("AGORA_EVM_VERSION", "shanghai")
    s = load_settings(chain="http://flag:8545")
    assert s.chain == "http://flag:8545"
    assert s.evm_version == "shanghai"  # env, since no flag was given for it


def test_none_override_means_not_given(clean_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AGORA_CHAIN", "http://env:8545")
    assert load_settings(chain=None).chain == "http://env:8545"


def test_full_precedence_chain(clean_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _write_config(clean_env, "devnet_port = 1001\naccount = 1\nchain_id = 7\n")
    monkeypatch.setenv("AGORA_ACCOUNT", "2")
    monkeypatch.setenv("AGORA_CHAIN_ID", "8")
    s = load_settings(chain_id=9)
    assert s.max_blob_bytes == 64 * 1024 * 1024  # default
    assert s.devnet_port == 1001  # file
    assert s.account == 2  # env over file
    assert s.chain_id == 9  # override over env over file


def test_env_list_and_paths(
    clean_env: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("AGORA_STORAGE_PEERS", json.dumps(["http://a", "http://b"]))
    monkeypatch.setenv("AGORA_STORAGE_DIR", str(tmp_path / "elsewhere"))
    s = load_settings()
    assert s.storage_peers == ["http://a", "http://b"]
    assert s.blob_dir == tmp_path / "elsewhere"


def test_home_override_selects_its_config(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, clean_env: Path
) -> None:
    _write_config(clean_env, 'chain = "http://first-home"\n')
    other = tmp_path / "other"
    other.mkdir()
    _write_config(other, 'chain = "http://other-home"\n')
    s = load_settings(home=other)
    assert s.home == other
    assert s.chain == "http://other-home"
    # load_settings publishes the chosen home (restored by monkeypatch afterwards)
    assert os.environ["AGORA_HOME"] == str(other)


def test_env_home_selects_its_config(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    other = tmp_path / "envhome"
    other.mkdir()
    _write_config(other, "devnet_port = 4242\n")
    monkeypatch.setenv("AGORA_HOME", str(other))
    s = load_settings()
    assert s.home == other
    assert s.devnet_port == 4242


def test_missing_home_folder_is_fine(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("AGORA_HOME", str(tmp_path / "does-not-exist"))
    assert load_settings().chain == "embedded://"


# --- refused config files -----------------------------------------------------------


@pytest.mark.parametrize("field", sorted(SECRET_FIELDS))
def test_secret_in_file_is_refused(clean_env: Path, field: str) -> None:
    _write_config(clean_env, f'{field} = "{SECRET}"\n')
    with pytest.raises(ConfigError) as info:
        load_settings()
    msg = str(info.value)
    assert field in msg
    assert SECRET not in msg
    assert "environment" in msg


def test_secret_in_file_refused_even_with_env_secret(
    clean_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _write_config(clean_env, f'password = "{SECRET}"\n')
    monkeypatch.setenv("AGORA_PASSWORD", "from-env")
    with pytest.raises(ConfigError):
        load_settings()


def test_unknown_key_is_refused(clean_env: Path) -> None:
    _write_config(clean_env, 'chian = "typo"\n')
    with pytest.raises(ConfigError, match="chian"):
        load_settings()


@pytest.mark.parametrize("text", ["chain = \n", "[[[", 'chain = "unterminated\n', "a = 1\na = 2\n"])
def test_invalid_toml_is_refused(clean_env: Path, text: str) -> None:
    _write_config(clean_env, text)
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_settings()


def test_invalid_evm_version_override() -> None:
    with pytest.raises(ConfigError) as info:
        load_settings(evm_version="frontier")
    msg = str(info.value)
    assert "\n" not in msg
    assert "evm_version" in msg
    assert "prague" in msg  # lists the choices


def test_invalid_evm_version_from_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AGORA_EVM_VERSION", "homestead")
    with pytest.raises(ConfigError) as info:
        load_settings()
    assert "\n" not in str(info.value)
    assert "evm_version" in str(info.value)


def test_invalid_evm_version_from_file(clean_env: Path) -> None:
    _write_config(clean_env, 'evm_version = "byzantium"\n')
    with pytest.raises(ConfigError) as info:
        load_settings()
    assert "\n" not in str(info.value)


@pytest.mark.parametrize(
    ("field", "value"), [("devnet_port", 0), ("max_blob_bytes", -1), ("devnet_port", "abc")]
)
def test_invalid_numbers(field: str, value: object) -> None:
    with pytest.raises(ConfigError) as info:
        load_settings(**{field: value})
    assert field in str(info.value)
    assert "\n" not in str(info.value)


# --- secrets never shown ------------------------------------------------------------


def test_public_hides_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AGORA_PASSWORD", SECRET)
    monkeypatch.setenv("AGORA_PRIVATE_KEY", KEY)
    s = load_settings()
    assert s.password is not None and s.password.get_secret_value() == SECRET
    assert s.private_key is not None and s.private_key.get_secret_value() == KEY
    pub = s.public()
    assert pub["password"] == "(set)"
    assert pub["private_key"] == "(set)"
    dumped = json.dumps(pub)  # JSON-able
    for secret in (SECRET, KEY, KEY[2:]):
        assert secret not in dumped
        assert secret not in repr(s)
        assert secret not in str(s)


def test_public_from_overrides_hides_secrets() -> None:
    s = load_settings(password=SECRET, private_key=KEY)
    dumped = json.dumps(s.public())
    assert SECRET not in dumped and KEY[2:] not in dumped


def test_public_unset_secrets_and_shape(clean_env: Path) -> None:
    pub = load_settings().public()
    assert pub["password"] is None
    assert pub["private_key"] is None
    assert set(pub) == set(Settings.model_fields)
    assert pub["home"] == str(clean_env)
    json.dumps(pub)
