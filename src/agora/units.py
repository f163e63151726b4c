"""Token amounts: parse what people type, print what people read (18 decimals)."""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation, localcontext

from agora.errors import ConfigError

__all__ = ["parse_amount", "format_amount"]


def parse_amount(text: str | int, decimals: int = 18) -> int:
    """``"1.5"`` -> 1.5 × 10**decimals base units; ``"250wei"`` is taken as base units."""
    if isinstance(text, int):
        if text < 0:
            raise ConfigError(f"{text!r} is not a non-negative amount")
        return text * 10**decimals
    s = str(text).strip().replace("_", "")
    if s.endswith("wei"):
        raw = s[:-3]
        if not re.fullmatch(r"[0-9]+", raw):
            raise ConfigError(f"{text!r} is not an amount in wei")
        return int(raw)
    # exact arithmetic whatever the process-wide Decimal precision is (vyper changes it)
    with localcontext() as ctx:
        ctx.prec = len(s) + decimals + 10
        try:
            value = Decimal(s)
        except InvalidOperation:
            raise ConfigError(f"{text!r} is not an amount (examples: 10, 0.5, 250wei)") from None
        if not value.is_finite() or value < 0:
            raise ConfigError(f"{text!r} is not a non-negative amount")
        base = value.scaleb(decimals)
        if base != base.to_integral_value():
            raise ConfigError(f"{text!r} has more than {decimals} decimal places")
        return int(base)


def format_amount(base_units: int, decimals: int = 18, symbol: str = "") -> str:
    """Base units as a decimal string without trailing zeros (``1.5 AGR``)."""
    sign = "-" if base_units < 0 else ""
    whole, frac = divmod(abs(base_units), 10**decimals)
    text = f"{whole:,}"
    if frac:
        text += "." + str(frac).rjust(decimals, "0").rstrip("0")
    return f"{sign}{text}{' ' + symbol if symbol else ''}"
