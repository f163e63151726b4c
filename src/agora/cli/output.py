"""How the CLI talks: rich tables for people, JSON for scripts, one-line errors."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from rich.console import Console
from rich.table import Table

__all__ = ["out", "err", "emit_json", "kv_table", "note", "progress", "tokens", "earnings_table"]

out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)


def emit_json(data: Any) -> None:
    """Print ``data`` as JSON on stdout (big integers stay exact)."""
    sys.stdout.write(json.dumps(data, indent=2, sort_keys=False, default=str) + "\n")
    sys.stdout.flush()


def kv_table(title: str, rows: list[tuple[str, Any]]) -> Table:
    """A two-column key/value table."""
    t = Table(title=title, show_header=False, title_justify="left", box=None, pad_edge=False)
    t.add_column(style="bold cyan", no_wrap=True)
    t.add_column()
    for k, v in rows:
        t.add_row(k, str(v))
    return t


def tokens(wei: int, places: int | None = None) -> str:
    """An amount of the protocol token for people (``0.05 AGR``); ``--json`` keeps wei. With
    ``places``, rounded to that many decimals for a table column (``3.2800 AGR``)."""
    from agora.units import format_amount

    if places is not None:
        from decimal import ROUND_HALF_EVEN, Decimal

        q = (Decimal(wei) / Decimal(10**18)).quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_EVEN)
        return f"{q:,} AGR"
    return format_amount(wei, symbol="AGR")


def earnings_table(address: str, balance: int, shares: list[tuple[str, int, int, int]], total: int) -> Table:
    """A payee's earnings: what it may withdraw now, each ``(what, bps, share, pot)`` of a pot not
    yet split (a model's, a dataset's), and the total."""
    rows: list[tuple[str, Any]] = [("withdrawable now", tokens(balance))]
    rows += [(f"{what} ({bps / 100:g}%)", f"{tokens(share)} of a {tokens(pot)} pot")
             for what, bps, share, pot in shares]
    rows.append(("total", tokens(total)))
    return kv_table(f"earnings of {address}", rows)


def note(message: str) -> None:
    """A side remark on stderr (so it never pollutes --json output)."""
    err.print(f"[dim]{message}[/dim]")


@contextmanager
def progress(first: str) -> Iterator[Callable[[str], None]]:
    """A long step's progress on stderr; yields ``update(message)`` for each next step.

    On a terminal: a spinner showing the current step. Off one (a log, a pipe, CI): one line
    per step once a second step begins, so a long wait is never silent while a command that
    fails at once still says one line (its error) and nothing else."""
    if err.is_terminal:
        with err.status(first) as status:
            yield status.update
        return
    said = False

    def update(message: str) -> None:
        nonlocal said
        if not said:
            err.print(first, markup=False)
            said = True
        err.print(message, markup=False)

    yield update
