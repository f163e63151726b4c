"""Token amounts: parse_amount / format_amount (18 decimals by default)."""

from __future__ import annotations

import decimal
import subprocess
import sys

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from agora.errors import ConfigError
from agora.units import UINT256_MAX, format_amount, parse_amount

E18 = 10**18


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1.5", 15 * 10**17),
        ("1", E18),
        ("0", 0),
        ("0.0", 0),
        ("-0", 0),
        ("1_000", 1000 * E18),
        ("0.000000000000000001", 1),
        ("1e-18", 1),
        ("1e3", 1000 * E18),
        (" 2.25 ", 225 * 10**16),
        (".5", 5 * 10**17),
        ("250wei", 250),
        ("0wei", 0),
        ("1_000wei", 1000),
    ],
)
def test_parse_examples(text: str, expected: int) -> None:
    assert parse_amount(text) == expected


def test_parse_int_is_whole_tokens() -> None:
    assert parse_amount(3) == 3 * E18
    assert parse_amount(0) == 0


def test_parse_other_decimals() -> None:
    assert parse_amount("1.5", decimals=6) == 1_500_000
    assert parse_amount("7", decimals=0) == 7
    with pytest.raises(ConfigError, match="decimal places"):
        parse_amount("0.1", decimals=0)


@pytest.mark.parametrize(
    "text",
    [
        "abc",
        "-1",
        "-0.5",
        "1e-19",
        "0.0000000000000000001",
        "nan",
        "NaN",
        "sNaN",
        "inf",
        "-Infinity",
        "1.2.3",
        "",
        "   ",
        "wei",
        "1.5wei",
        "-1wei",
        "0x10",
        "1,000",
        "1 000",
        "1 wei",
    ],
)
def test_parse_errors(text: str) -> None:
    with pytest.raises(ConfigError):
        parse_amount(text)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (0, "0"),
        (1, "0.000000000000000001"),
        (E18, "1"),
        (15 * 10**17, "1.5"),
        (1234567 * E18, "1,234,567"),
        (1234567 * E18 + 10**17, "1,234,567.1"),
        (-15 * 10**17, "-1.5"),
    ],
)
def test_format_examples(value: int, expected: str) -> None:
    assert format_amount(value) == expected


def test_format_symbol_and_decimals() -> None:
    assert format_amount(15 * 10**17, symbol="AGR") == "1.5 AGR"
    assert format_amount(1_500_000, decimals=6) == "1.5"
    assert format_amount(1234, decimals=0) == "1,234"


def _roundtrip(n: int) -> int:
    return parse_amount(format_amount(n).replace(",", ""))


# Below 10**28 every amount has at most 28 significant digits, which Decimal's default
# context (prec=28) multiplies exactly.
@given(st.integers(min_value=0, max_value=10**28 - 1))
@example(0)
@example(1)
@example(10**28 - 1)
def test_roundtrip_up_to_28_digits(n: int) -> None:
    assert _roundtrip(n) == n


@given(st.integers(min_value=0, max_value=10**28 - 1))
def test_roundtrip_wei(n: int) -> None:
    assert parse_amount(f"{n}wei") == n


# parse_amount must not depend on the ambient Decimal context: a fresh interpreter has
# prec=28, and importing vyper raises it process-wide to 78.


@given(st.integers(min_value=0))
@example(10**28 + 1)  # "10000000000.000000000000000001" -> 10**28 at prec 28
@example(10**78 + 1)  # fails at prec 78 too
def test_roundtrip_any_non_negative_int(n: int) -> None:
    assert _roundtrip(n) == n


def test_parse_29_significant_digits_in_a_fresh_process() -> None:
    # a fresh interpreter, as the CLI parses an amount before anything imports vyper
    code = (
        "from agora.units import parse_amount; "
        "print(parse_amount('10000000000.000000000000000001'))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert int(out) == 10**28 + 1


def test_parse_80_significant_digits() -> None:
    n = 10**79 + 1
    assert parse_amount(f"{n}wei") == n  # the wei path is exact ...
    assert parse_amount(format_amount(n).replace(",", "")) == n  # ... the decimal one is not


def test_parse_does_not_depend_on_callers_context_for_short_amounts() -> None:
    with decimal.localcontext() as ctx:
        ctx.prec = 28
        assert parse_amount("1.5") == 15 * 10**17
        assert _roundtrip(10**28 - 1) == 10**28 - 1


def test_parse_negative_int_is_refused() -> None:
    with pytest.raises(ConfigError):
        parse_amount(-1)


def test_parse_superscript_wei_is_a_config_error() -> None:
    with pytest.raises(ConfigError):
        parse_amount("\u00b2wei")


# -- limit: amounts that go on chain must fit in a uint256 -------------------------------------
@pytest.mark.parametrize("text", [str(UINT256_MAX) + "wei", "1.15e59", "1e59", "0", "0wei"])
def test_parse_within_the_uint256_limit(text: str) -> None:
    assert parse_amount(text, limit=UINT256_MAX) == parse_amount(text)


def test_parse_the_largest_uint256_as_a_decimal() -> None:
    text = "115792089237316195423570985008687907853269984665640564039457.584007913129639935"
    assert parse_amount(text, limit=UINT256_MAX) == UINT256_MAX


@pytest.mark.parametrize(
    "text",
    [
        "1" * 78,
        str(UINT256_MAX + 1) + "wei",
        "115792089237316195423570985008687907853269984665640564039457.584007913129639936",
        "1e60",
        "1e999999999",
        10**60,
    ],
)
def test_parse_beyond_the_uint256_limit_is_one_clear_error(text: str | int) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_amount(text, limit=UINT256_MAX)
    assert str(caught.value) == f"{text!r} is too large an amount (at most 2**256 - 1 base units)"


def test_parse_another_limit() -> None:
    assert parse_amount("1", limit=10**18) == 10**18
    with pytest.raises(ConfigError, match=r"at most 1,000,000,000,000,000,000 base units"):
        parse_amount("1.000000000000000001", limit=10**18)


def test_parse_without_a_limit_still_takes_any_size() -> None:
    assert parse_amount("1" * 100 + "wei") == int("1" * 100)


@pytest.mark.parametrize("text", ["1e999999999", "1e-999999999"])
def test_parse_extreme_exponents_are_config_errors(text: str) -> None:
    # decimal.Overflow, and a silent 0 after rounding, before
    with pytest.raises(ConfigError):
        parse_amount(text)
