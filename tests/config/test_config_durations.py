"""HAProxy time values: units, the bare-milliseconds rule, limits, and exact round trips."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from stack.config.durations import (
    MAX_US,
    DurationError,
    format_duration,
    parse_duration,
    parse_seconds,
)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("5000", 5.0),  # a bare number is milliseconds, as in "timeout connect 5000"
        ("0", 0.0),
        ("100us", 0.0001),
        ("250ms", 0.25),
        ("5s", 5.0),
        ("30m", 1800.0),
        ("2h", 7200.0),
        ("1d", 86400.0),
        ("15", 0.015),
        ("2147483647", 2147483.647),
    ],
)
def test_parse(text: str, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["5x", "", "s", "-1s", "1.5s", "5 s", "5S", "1e3", "ms5"])
def test_invalid(text: str) -> None:
    with pytest.raises(DurationError) as info:
        parse_duration(text)
    assert str(info.value) == (
        f"invalid duration {text!r} (use a number with us, ms, s, m, h or d; "
        "a bare number is milliseconds)"
    )


def test_too_large() -> None:
    assert parse_duration("24d") == 24 * 86400
    with pytest.raises(DurationError, match="too large"):
        parse_duration("25d")
    with pytest.raises(DurationError, match="too large"):
        parse_duration("2147483648")


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(0, "0"), (5, "5s"), (1.5, "1500ms"), (0.0001, "100us"), (1800, "30m"), (86400, "1d")],
)
def test_format(seconds: float, text: str) -> None:
    assert format_duration(seconds) == text


def test_format_negative() -> None:
    with pytest.raises(DurationError):
        format_duration(-1)


@given(st.integers(min_value=0, max_value=MAX_US))
def test_format_then_parse_round_trips(micros: int) -> None:
    seconds = micros / 1_000_000
    assert parse_duration(format_duration(seconds)) == seconds


@given(
    st.sampled_from(["us", "ms", "s", "m", "h", "d", ""]),
    st.integers(min_value=0, max_value=10**6),
)
def test_parse_then_format_then_parse(unit: str, number: int) -> None:
    text = f"{number}{unit}"
    try:
        seconds = parse_duration(text)
    except DurationError:
        return  # beyond the 24.8-day limit
    assert parse_duration(format_duration(seconds)) == seconds


# --- whole seconds (cookie maxidle / maxlife) ----------------------------------------------------


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("30", 30),  # a bare number is seconds here, as HAProxy reads maxidle/maxlife
        ("0", 0),
        ("30m", 1800),
        ("8h", 28800),
        ("1d", 86400),
        ("2000ms", 2),
        ("2147483647", 2147483647),
    ],
)
def test_parse_seconds(text: str, seconds: int) -> None:
    assert parse_seconds(text) == seconds


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("1500ms", "'1500ms' is not a whole number of seconds"),
        ("10us", "'10us' is not a whole number of seconds"),
        ("1.5h", "invalid duration '1.5h' (use a number with us, ms, s, m, h or d; a bare number "
         "is seconds here)"),
        ("2147483648", "duration '2147483648' is too large (at most 2147483647s, about 68 years)"),
        ("", "invalid duration ''"),
    ],
)  # fmt: skip
def test_parse_seconds_errors(text: str, message: str) -> None:
    with pytest.raises(DurationError) as info:
        parse_seconds(text)
    assert str(info.value) == message or str(info.value).startswith(message)
