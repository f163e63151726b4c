"""Settings: defaults < ``$AGORA_HOME/config.toml`` < ``AGORA_*`` environment < flags.

Every setting has an environment variable named ``AGORA_<NAME>`` and a key
``<name>`` in the config file. Secrets (``password``, ``private_key``) are
taken from the environment only, never from the file, and never printed.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from agora.errors import ConfigError

__all__ = ["Settings", "load_settings", "default_home", "SECRET_FIELDS"]

SECRET_FIELDS = frozenset({"password", "private_key"})


def default_home() -> Path:
    """``$AGORA_HOME`` or ``~/.agora``."""
    return Path(os.environ.get("AGORA_HOME") or Path.home() / ".agora").expanduser()


class _TomlFile(PydanticBaseSettingsSource):
    """Reads ``config.toml`` in the home folder (secrets in it are refused)."""

    def __init__(self, settings_cls: type[BaseSettings], path: Path) -> None:
        super().__init__(settings_cls)
        self.path = path

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False  # unused: __call__ returns everything at once

    def __call__(self) -> dict[str, Any]:
        if not self.path.exists():
            return {}
        try:
            data = tomllib.loads(self.path.read_text())
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise ConfigError(f"{self.path} is not valid TOML: {exc}") from None
        secrets = SECRET_FIELDS & set(data)
        if secrets:
            raise ConfigError(
                f"{self.path} holds {sorted(secrets)[0]!r}",
                hint="secrets come from the environment only (AGORA_PASSWORD, AGORA_PRIVATE_KEY)",
            )
        unknown = set(data) - set(self.settings_cls.model_fields)
        if unknown:
            raise ConfigError(f"{self.path}: unknown setting {sorted(unknown)[0]!r}")
        return data


class Settings(BaseSettings):
    """Agora's settings; see :func:`load_settings`."""

    model_config = SettingsConfigDict(env_prefix="AGORA_", extra="ignore", validate_default=True)

    home: Path = Field(default_factory=default_home, description="where Agora keeps its files")
    chain: str = Field("embedded://", description="chain URI: embedded://, http(s)://, ws(s)://")
    chain_id: int | None = Field(None, description="refuse a node that reports another chain id")
    evm_version: str = Field("prague", description="EVM version contracts are compiled for")
    keystore: Path | None = Field(None, description="encrypted keystore file of the account")
    account: int = Field(0, description="dev account index on devnets (standard mnemonic)")
    password: SecretStr | None = Field(None, description="keystore password (env only)")
    private_key: SecretStr | None = Field(None, description="raw private key (env only)")
    storage_dir: Path | None = Field(None, description="blob folder (default: <home>/blobs)")
    storage_peers: list[str] = Field(default_factory=list, description="peer blob endpoints")
    max_blob_bytes: int = Field(64 * 1024 * 1024, description="largest blob accepted")
    devnet_port: int = Field(8545, description="port of `agora devnet up`")
    cache: Path | None = Field(None, description="compiled contracts (default: <home>/cache)")

    @field_validator("evm_version")
    @classmethod
    def _known_evm(cls, v: str) -> str:
        from agora.chain.compiler import EVM_VERSIONS

        if v not in EVM_VERSIONS:
            raise ValueError(f"choose one of {', '.join(EVM_VERSIONS)}")
        return v

    @field_validator("max_blob_bytes", "devnet_port")
    @classmethod
    def _positive(cls, v: int) -> int:
        if v <= 0:
            raise ValueError("must be positive")
        return v

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Flags beat the environment, which beats the config file."""
        home = Path(os.environ.get("AGORA_HOME") or default_home())
        return (init_settings, env_settings, _TomlFile(settings_cls, home / "config.toml"))

    @property
    def config_file(self) -> Path:
        """The config file this home reads."""
        return self.home / "config.toml"

    @property
    def cache_dir(self) -> Path:
        """The compile cache's folder (the compiler adds ``contracts/``)."""
        return self.cache or self.home / "cache"

    @property
    def blob_dir(self) -> Path:
        """The local blob folder."""
        return self.storage_dir or self.home / "blobs"

    def public(self) -> dict[str, Any]:
        """Every setting as JSON-able values, secrets shown only as set/unset."""
        out: dict[str, Any] = {}
        for name in type(self).model_fields:
            value = getattr(self, name)
            if name in SECRET_FIELDS:
                out[name] = "(set)" if value is not None else None
            elif isinstance(value, Path):
                out[name] = str(value)
            else:
                out[name] = value
        return out


def load_settings(**overrides: Any) -> Settings:
    """Settings from defaults, config file, environment and ``overrides`` (None = not given)."""
    given = {k: v for k, v in overrides.items() if v is not None}
    if "home" in given:
        os.environ["AGORA_HOME"] = str(given["home"])
    try:
        settings = Settings(**given)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"]) or "settings"
        raise ConfigError(f"invalid setting {where}: {err['msg']}") from None
    if settings.cache is not None:
        # the compiler (a seam, which reads no settings) finds its cache in the environment
        os.environ["AGORA_CACHE"] = str(settings.cache)
    return settings
