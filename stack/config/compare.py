"""Comparing two versions of a setting across a reload, ignoring where it was written."""

from __future__ import annotations

import dataclasses


def differs(before: object, after: object) -> bool:
    """Whether two config values differ other than by their origins (file lines move
    between two versions of a file without the setting changing)."""
    return _strip(before) != _strip(after)


def _strip(value: object) -> object:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return (
            type(value).__name__,
            tuple(
                (f.name, _strip(getattr(value, f.name)))
                for f in dataclasses.fields(value)
                if f.name != "origin"
            ),
        )
    if isinstance(value, tuple | list):
        return tuple(_strip(v) for v in value)
    return value
