"""HAProxy time values: ``5000`` (milliseconds), ``5s``, ``30m``, ``250ms``, ``100us``, ``1d``.

The model stores float seconds; parsing goes through whole microseconds so that formatting a
parsed value and parsing it again gives exactly the same float (the property the tests check).
Like HAProxy, only whole numbers are accepted and the largest value is 2147483647 ms (about
24.8 days, HAProxy's "timer overflow" limit).
"""

from __future__ import annotations

import re

from .errors import Invalid

# Longest suffixes first so "ms" is not read as "m" followed by garbage.
_UNITS_US = {"us": 1, "ms": 1_000, "s": 1_000_000, "m": 60_000_000, "h": 3_600_000_000}
_UNITS_US["d"] = 86_400_000_000
_SYNTAX = re.compile(r"(\d+)(us|ms|s|m|h|d)?")
MAX_US = 2_147_483_647 * 1_000
MAX_SECONDS = 2_147_483_647
UNITS_HELP = "use a number with us, ms, s, m, h or d; a bare number is milliseconds"


class DurationError(Invalid):
    """A time value HAProxy would reject."""


def parse_duration(text: str) -> float:
    """Seconds for an HAProxy time value; a bare number is milliseconds."""
    match = _SYNTAX.fullmatch(text)
    if match is None:
        raise DurationError(f"invalid duration {text!r} ({UNITS_HELP})")
    number, unit = match.groups()
    micros = int(number) * _UNITS_US[unit or "ms"]
    if micros > MAX_US:
        raise DurationError(
            f"duration {text!r} is too large (at most 2147483647ms, about 24.8 days)"
        )
    return micros / 1_000_000


def parse_seconds(text: str) -> int:
    """Whole seconds for an HAProxy time value counted in seconds (``cookie ... maxidle``):
    there, as in HAProxy, **a bare number is seconds**; the largest value is 2147483647 s."""
    match = _SYNTAX.fullmatch(text)
    if match is None:
        raise DurationError(
            f"invalid duration {text!r} (use a number with us, ms, s, m, h or d; a bare number "
            "is seconds here)"
        )
    number, unit = match.groups()
    micros = int(number) * _UNITS_US[unit or "s"]
    if micros % 1_000_000:
        raise DurationError(f"{text!r} is not a whole number of seconds")
    seconds = micros // 1_000_000
    if seconds > MAX_SECONDS:
        raise DurationError(f"duration {text!r} is too large (at most 2147483647s, about 68 years)")
    return seconds


def format_duration(seconds: float) -> str:
    """The shortest exact HAProxy spelling of ``seconds`` (``1.5`` gives ``1500ms``)."""
    micros = round(seconds * 1_000_000)
    if micros < 0:
        raise DurationError("a duration cannot be negative")
    if micros == 0:
        return "0"
    for unit in ("d", "h", "m", "s", "ms"):
        if micros % _UNITS_US[unit] == 0:
            return f"{micros // _UNITS_US[unit]}{unit}"
    return f"{micros}us"
