"""Token amounts: parse what people type, print what people read (18 decimals)."""

from __future__ import annotations

import re
from datetime import UTC
from decimal import Decimal, InvalidOperation, Overflow, localcontext

from agora.errors import ConfigError

__all__ = ["UINT256_MAX", "parse_amount", "format_amount", "format_time"]

#: The largest amount a contract takes (a uint256), in base units: ``parse_amount``'s
#: ``limit`` for an amount that goes on chain.
UINT256_MAX = 2**256 - 1


def parse_amount(text: str | int, decimals: int = 18, *, limit: int | None = None) -> int:
    """``"1.5"`` -> 1.5 × 10**decimals base units; ``"250wei"`` is taken as base units.
    ``limit``: the most base units accepted (:data:`UINT256_MAX` for what a contract takes);
    more is one clear error."""
    if isinstance(text, int):
        if text < 0:
            raise ConfigError(f"{text!r} is not a non-negative amount")
        return _fitting(text * 10**decimals, text, limit)
    s = str(text).strip().replace("_", "")
    if s.endswith("wei"):
        raw = s[:-3]
        if not re.fullmatch(r"[0-9]+", raw):
            raise ConfigError(f"{text!r} is not an amount in wei")
        return _fitting(int(raw), text, limit)
    # exact arithmetic whatever the process-wide Decimal precision is (vyper changes it)
    with localcontext() as ctx:
        ctx.prec = len(s) + decimals + 10
        try:
            value = Decimal(s)
        except InvalidOperation:
            raise ConfigError(f"{text!r} is not an amount (examples: 10, 0.5, 250wei)") from None
        if not value.is_finite() or value < 0:
            raise ConfigError(f"{text!r} is not a non-negative amount")
        if limit is not None and value and value.adjusted() + decimals > len(str(limit)):
            _fitting(limit + 1, text, limit)  # before scaleb and int(): "1e999999999" overflows
        if value and value.adjusted() < -decimals:  # scaleb would round "1e-999999999" to 0
            raise ConfigError(f"{text!r} has more than {decimals} decimal places")
        try:
            base = value.scaleb(decimals)
        except Overflow:
            raise ConfigError(f"{text!r} is too large an amount") from None
        if base != base.to_integral_value():
            raise ConfigError(f"{text!r} has more than {decimals} decimal places")
        return _fitting(int(base), text, limit)


def _fitting(base_units: int, text: str | int, limit: int | None) -> int:
    """``base_units``, or one clear error if there are more than ``limit``."""
    if limit is not None and base_units > limit:
        most = "2**256 - 1" if limit == UINT256_MAX else f"{limit:,}"
        raise ConfigError(f"{text!r} is too large an amount (at most {most} base units)")
    return base_units


def format_amount(base_units: int, decimals: int = 18, symbol: str = "") -> str:
    """Base units as a decimal string without trailing zeros (``1.5 AGR``)."""
    sign = "-" if base_units < 0 else ""
    whole, frac = divmod(abs(base_units), 10**decimals)
    text = f"{whole:,}"
    if frac:
        text += "." + str(frac).rjust(decimals, "0").rstrip("0")
    return f"{sign}{text}{' ' + symbol if symbol else ''}"


def format_time(timestamp: int | float | None) -> str:
    """A Unix timestamp as people read it: ISO 8601 in UTC, to the second
    (``2026-12-04 19:00:31 UTC``); ``-`` for None or 0 (never set)."""
    if not timestamp:
        return "-"
    from datetime import datetime

    return datetime.fromtimestamp(int(timestamp), tz=UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
