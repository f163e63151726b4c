"""The ``agora`` command."""

from __future__ import annotations

import os
import sys
import traceback
from pathlib import Path
from typing import Annotated

import click
import typer
from typer import exceptions as typer_exceptions

from agora import __version__
from agora.cli.options import State
from agora.cli.output import emit_json, err, kv_table, out
from agora.errors import AgoraError, ConfigError
from agora.layers import load_layers, resolve

app = typer.Typer(
    name="agora",
    help="Agora: an open AI economy. AI computes off-chain; an EVM chain coordinates, "
    "verifies, settles and rewards.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    rich_markup_mode="rich",
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        out.print(f"agora {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    ctx: typer.Context,
    chain: Annotated[
        str | None,
        typer.Option(
            "--chain", "-c", help="Chain URI: embedded://, http(s)://…, ws(s)://…, or 'devnet'. "
            "[env: AGORA_CHAIN]", show_default=False,
        ),
    ] = None,
    home: Annotated[
        Path | None,
        typer.Option("--home", help="Agora's folder (default ~/.agora). [env: AGORA_HOME]",
                     show_default=False),
    ] = None,
    account: Annotated[
        int | None,
        typer.Option("--account", help="Dev account index 0-9 on devnets. [env: AGORA_ACCOUNT]",
                     show_default=False),
    ] = None,
    keystore: Annotated[
        Path | None,
        typer.Option("--keystore", help="Encrypted keystore to act as; password from "
                     "AGORA_PASSWORD or a prompt. [env: AGORA_KEYSTORE]", show_default=False),
    ] = None,
    chain_id: Annotated[
        int | None,
        typer.Option("--chain-id", help="Refuse a node with another chain id. [env: AGORA_CHAIN_ID]",
                     show_default=False),
    ] = None,
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks on errors.")] = False,
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version.")
    ] = False,
) -> None:
    """Agora: an open AI economy on an EVM chain."""
    ctx.obj = State(
        overrides={"chain": chain, "home": home, "account": account, "keystore": keystore,
                   "chain_id": chain_id},
        debug=debug,
    )


# -- command groups ------------------------------------------------------------------
#: The core's commands: group name -> "module:app"; None mounts the app's commands on `agora` itself.
CORE_GROUPS: tuple[tuple[str | None, str], ...] = (
    (None, "agora.cli.demo:app"),  # agora demo
    (None, "agora.cli.samples:app"),  # agora samples
    (None, "agora.cli.protocol:app"),  # agora deploy, agora faucet
    ("devnet", "agora.cli.devnet:app"),
    ("chain", "agora.cli.chain:app"),
    ("account", "agora.cli.account:app"),
    ("token", "agora.cli.token:app"),
    ("storage", "agora.cli.storage:app"),
    ("contracts", "agora.cli.contracts:app"),
    ("config", "agora.cli.config:app"),
    ("receipt", "agora.cli.receipt:app"),
    (None, "agora.cli.trace:app"),  # agora trace
)


def _mount_groups(root: typer.Typer) -> None:
    """Mount the core's groups, then each installed layer's (``Layer.cli``), in the layers' order."""
    groups = [*CORE_GROUPS, *((name, target) for layer in load_layers() for name, target in layer.cli.items())]
    named = [name for name, _ in groups if name is not None]
    clashes = sorted({name for name in named if named.count(name) > 1})
    if clashes:
        raise ConfigError(f"more than one command group is named {', '.join(clashes)}",
                          hint="each layer's Layer.cli must use names no other group uses")
    for name, target in groups:
        root.add_typer(resolve(target), name=name)


_mount_groups(app)


def run(argv: list[str] | None = None) -> int:
    """Entry point: run the CLI, turn errors into one line (tracebacks with --debug)."""
    args = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in args or os.environ.get("AGORA_DEBUG", "") not in ("", "0")
    # typer may bring its own copy of click (typer._click): catch both families
    exits = (click.exceptions.Exit, typer_exceptions.Exit)
    aborts = (click.exceptions.Abort, typer_exceptions.Abort)
    usage = (click.ClickException, typer_exceptions.TyperException)
    try:
        rv = app(args=args, prog_name="agora", standalone_mode=False)
    except exits as exc:
        return int(exc.exit_code)
    except aborts:
        err.print("aborted")
        return 130
    except usage as exc:
        show = getattr(exc, "show", None)
        if callable(show):
            show()
        else:
            err.print(f"error: {exc}")
        return int(getattr(exc, "exit_code", 2))
    except AgoraError as exc:
        if debug:
            traceback.print_exc()
        err.print(f"[bold red]error:[/bold red] {exc}", markup=True)
        return 1
    except KeyboardInterrupt:
        err.print("interrupted")
        return 130
    except Exception as exc:  # noqa: BLE001 - the last line of defence
        if debug:
            traceback.print_exc()
        first = (str(exc).strip().splitlines() or [""])[0][:300]
        err.print(
            f"[bold red]error:[/bold red] unexpected {type(exc).__name__}: {first} "
            "(run again with --debug for the traceback)"
        )
        return 1
    return rv if isinstance(rv, int) else 0


def entry() -> None:  # pragma: no cover - console script
    """Console-script entry (``agora``)."""
    sys.exit(run())


__all__ = ["app", "run", "entry", "State", "emit_json", "kv_table"]
