"""docs/config.md documents every directive the loader knows, so the two cannot drift apart."""

from __future__ import annotations

from pathlib import Path

import pytest

from stack.config import directives

DOC = (Path(__file__).resolve().parents[2] / "docs" / "config.md").read_text()


@pytest.mark.parametrize("name", sorted(directives.DIRECTIVES))
def test_every_directive_is_in_the_table(name: str) -> None:
    assert f"| `{name}" in DOC


@pytest.mark.parametrize("name", sorted(directives.LEGACY))
def test_every_legacy_directive_is_listed(name: str) -> None:
    assert f"`{name}`" in DOC


@pytest.mark.parametrize("name", sorted(directives.TWISTD))
def test_every_twistd_directive_is_listed(name: str) -> None:
    assert f"`{name}`" in DOC


@pytest.mark.parametrize("kind", directives.SECTION_KINDS + directives.SECTIONS_NOT_YET)
def test_every_section_type_is_listed(kind: str) -> None:
    assert f"[{kind}" in DOC or f"`{kind}`" in DOC


def test_the_legacy_messages_are_quoted_exactly() -> None:
    for name in ("contimeout", "clitimeout", "srvtimeout", "reqrep", "reqirep"):
        assert f"| `{name}` | {directives.LEGACY[name]} |" in DOC
