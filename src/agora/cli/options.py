"""What every command group shares: the global options' state, common options and arguments,
and the small helpers that turn a command-line value into what a layer function takes.

A command module is a module-level Typer ``app`` whose commands read their context with
:func:`get_state`, call one layer (or core) function and format its result.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

import typer

from agora.cli.output import note
from agora.errors import ConfigError

__all__ = [
    "JsonOpt",
    "State",
    "acting_signer",
    "address_arg",
    "amount_arg",
    "blob_arg",
    "describe_output",
    "get_state",
    "need_lasting_chain",
    "read_file",
    "readable_rows",
    "stop_on_signals",
    "sub_app",
    "validate_address",
    "warn_embedded",
]

#: ``--json``: print the result as JSON (for scripts).
JsonOpt = Annotated[bool, typer.Option("--json", help="Print the result as JSON.")]


def sub_app(help: str) -> typer.Typer:
    """A command group with the CLI's defaults (help when called bare)."""
    return typer.Typer(help=help, no_args_is_help=True)


@dataclass
class State:
    """What the global options set, and what commands build from them lazily."""

    overrides: dict[str, Any] = field(default_factory=dict)
    debug: bool = False
    _settings: Any = None
    _client: Any = None

    @property
    def settings(self) -> Any:
        """The settings, from flags, environment and config file."""
        if self._settings is None:
            from agora.config import load_settings

            self._settings = load_settings(**self.overrides)
            if self._settings.chain.strip() == "devnet":
                self._settings.chain = _devnet_url(self._settings)
        return self._settings

    def add_overrides(self, **values: Any) -> None:
        """Override settings from a command's own options (``--evm-version``…), as the global
        options do; the settings are read again on next use. Call before using ``client``."""
        self.overrides.update(values)
        self._settings = None

    @property
    def client(self) -> Any:
        """The SDK client for these settings (connects on first use)."""
        if self._client is None:
            from agora.client import Client

            self._client = Client(settings=self.settings, prompt=_prompt_password)
        return self._client


def _prompt_password(message: str) -> str:
    if not sys.stdin.isatty():
        raise ConfigError(f"{message} is needed and there is no terminal", hint="set AGORA_PASSWORD")
    return str(typer.prompt(message, hide_input=True))


def _devnet_url(settings: Any) -> str:
    # the devnet's record (<home>/devnet/devnet.json), read here rather than through
    # Devnet.status(), which connects to the node and loads web3: resolving the alias stays cheap
    # (agora.devnet would load it too, on import)
    import json
    import os

    try:
        record = json.loads((Path(settings.home) / "devnet" / "devnet.json").read_text())
        pid = int(record.get("pid", 0))
        if pid > 0:
            os.kill(pid, 0)  # raises if there is no such process
        running = pid > 0
    except PermissionError:  # alive, someone else's
        running = True
    except (OSError, ValueError, TypeError, AttributeError):  # no record, a dead process
        running = False
    if not running:
        raise ConfigError("no devnet is running for this home", hint="start one with `agora devnet up`")
    return f"http://127.0.0.1:{int(record['port'])}"


def get_state(ctx: typer.Context) -> State:
    """The root command's :class:`State` (what the global options set)."""
    obj = ctx.find_root().obj
    assert isinstance(obj, State)
    return obj


def warn_embedded(state: State) -> None:
    """Say (on stderr) that nothing outlives this command on the embedded chain."""
    if state.client.chain.embedded:
        note(
            "note: on the embedded chain nothing outlives this command; for a chain that "
            "keeps state run `agora devnet up` and pass --chain devnet"
        )


def amount_arg(text: str) -> int:
    """A token amount as typed (``1.5``, ``2e3``, ``10wei``…) in base units; one clear error if it
    is malformed or does not fit in the contracts' uint256."""
    from agora.units import UINT256_MAX, parse_amount

    return parse_amount(text, limit=UINT256_MAX)


def address_arg(client: Any, address: str | None) -> str:
    """``address`` (or the acting account's when none is given) in its EIP-55 checksummed
    form. All-lowercase and all-uppercase hex carry no checksum and are accepted; mixed case
    must match EIP-55. One clear error otherwise."""
    who = address or client.address
    if who is None:
        raise ConfigError("no address given and no account configured")
    return validate_address(str(who))


def validate_address(text: str) -> str:
    """``text`` as an EIP-55 checksummed address (see :func:`address_arg`); one clear error if
    it is not an address."""
    from eth_utils import is_checksum_address, is_hex_address, to_checksum_address

    who = text.strip()
    if not is_hex_address(who):
        raise ConfigError(f"{who!r} is not an address")
    digits = who[2:] if who[:2] in ("0x", "0X") else who
    if digits != digits.lower() and digits != digits.upper() and not is_checksum_address("0x" + digits):
        raise ConfigError(f"{who} has a wrong EIP-55 checksum (mixed case must match; "
                          "or write it all lowercase)")
    return str(to_checksum_address(who))


def acting_signer(client: Any) -> Any:
    """The account commands act as; one clear error if none is configured."""
    if client.signer is None:
        raise ConfigError("no account to act as", hint="set AGORA_KEYSTORE or AGORA_PRIVATE_KEY")
    return client.signer


def need_lasting_chain(client: Any, what: str) -> None:
    """Refuse the embedded chain for ``what`` (a daemon or server other processes must reach)."""
    if client.chain.embedded:
        raise ConfigError(f"{what} needs a chain that outlives it",
                          hint="start one with `agora devnet up` and pass --chain devnet")


def stop_on_signals(stop: Callable[[], None]) -> None:
    """Call ``stop`` on SIGINT or SIGTERM, so a long-running command ends cleanly (exit 0)."""
    import signal

    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop())


def blob_arg(client: Any, value: str) -> str:
    """A CID as given, or the CID of a file after storing it."""
    from agora.storage import is_cid

    if is_cid(value):
        return value
    path = Path(value)
    if not path.is_file():
        raise ConfigError(f"{value} is neither a CID nor a file")
    return str(client.storage.put(path.read_bytes()))


def describe_output(blob: bytes) -> Any:
    """A short, readable summary of one canonical output."""
    from agora.workloads import decode_output

    try:
        doc = decode_output(blob)
    except Exception:  # noqa: BLE001 - a third-party format: show its size only
        return {"bytes": len(blob)}
    tensors = {}
    for t in doc.tensors:
        flat = t.dequantize().reshape(-1)
        tensors[t.name] = {"shape": list(t.values.shape), "head": [round(float(x), 4) for x in flat[:8]]}
    return {"kind": doc.kind, "bytes": len(blob), "tensors": tensors}


def read_file(file: str | Path) -> bytes:
    """The bytes of ``file``; one clear error if it cannot be read."""
    try:
        return Path(file).read_bytes()
    except FileNotFoundError:
        raise ConfigError(f"{file} does not exist") from None
    except OSError as exc:
        raise ConfigError(f"cannot read {file}: {exc.strerror}") from None


def readable_rows(data: dict[str, Any], symbol: str = "AGR") -> list[tuple[str, str]]:
    """A layer's view (what ``--json`` prints) as rows a person reads: ``…_wei`` amounts in tokens
    (``stake_wei`` -> ``stake``, ``1,000 AGR``), ``…_at``/``expiry``/``time`` timestamps as ISO dates in
    UTC, lists joined, mappings as ``key: value``, yes/no, ``-`` for nothing; never a Python repr."""
    from agora.units import format_amount, format_time

    def show(key: str, value: Any) -> str:
        if value is None or value == [] or value == {}:
            return "-"
        if isinstance(value, bool):
            return "yes" if value else "no"
        if key.endswith("_wei") and isinstance(value, int | str) and str(value).isdigit():
            return format_amount(int(value), symbol=symbol)
        if (key.endswith("_at") or key in ("expiry", "time", "deadline")) and isinstance(value, int):
            return format_time(value)
        if isinstance(value, dict):
            return ", ".join(f"{k}: {show(str(k), v)}" for k, v in value.items())
        if isinstance(value, list | tuple):
            return ", ".join(show(key, v) for v in value)
        return str(value)

    return [(key.removesuffix("_wei").replace("_", " "), show(key, value)) for key, value in data.items()]
