"""How the loader reports bad input: every problem in the file at once, like ``haproxy -c``.

Value parsers raise :class:`Invalid` (a ``ValueError``) with an operator-facing message and
know nothing about files; the loader catches it and adds the location, so a message reads
``FILE:LINE: [SECTION] KEY: message``.
"""

from __future__ import annotations

from .model import Origin


class ConfigError(Exception):
    """The configuration is not valid. ``problems`` holds one line per problem."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems

    def __str__(self) -> str:
        return "\n".join(self.problems)


class Invalid(ValueError):
    """A value is wrong; the message says why (the loader adds where)."""


class Problems:
    """Collects problems while the whole file is checked; sorted by line when reported."""

    def __init__(self, file: str) -> None:
        self.file = file
        self._items: list[tuple[int, int, str]] = []

    def add(
        self,
        message: str,
        *,
        line: int | None = None,
        section: str | None = None,
        key: str | None = None,
    ) -> None:
        """Record a problem; any of line, section and key may be unknown."""
        text = self.file
        if line is not None:
            text += f":{line}"
        text += ":"
        if section is not None:
            text += f" [{section}]"
        if key is not None:
            text += f" {key}:"
        text += f" {message}"
        self._items.append((line or 0, len(self._items), text))

    def at(self, origin: Origin, message: str) -> None:
        """Record a problem about the setting written at ``origin``."""
        self.add(message, line=origin.line, section=origin.section, key=origin.key)

    def has_line(self, line: int) -> bool:
        """Whether a problem was already reported on ``line``."""
        return any(item[0] == line for item in self._items)

    def __bool__(self) -> bool:
        return bool(self._items)

    def lines(self) -> list[str]:
        """The problems in file order, each once."""
        seen: set[str] = set()
        result = []
        for _line, _seq, text in sorted(self._items):
            if text not in seen:
                seen.add(text)
                result.append(text)
        return result

    def error(self) -> ConfigError:
        return ConfigError(self.lines())
