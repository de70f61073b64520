"""Fixtures shared by the loader tests: a config written to 't.ini' in a temporary directory,
so the problems name the file as an operator would see it."""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

from stack.config import ConfigError, load
from stack.config.model import StackConfig


@pytest.fixture
def in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Work in tmp_path so messages name the file 't.ini'."""
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.fixture
def load_ini(in_tmp: Path) -> Callable[[str], StackConfig]:
    """Load ``text`` (dedented) as t.ini."""

    def load_text(text: str) -> StackConfig:
        Path("t.ini").write_text(textwrap.dedent(text))
        return load("t.ini")

    return load_text


@pytest.fixture
def problems_of(in_tmp: Path) -> Callable[[str], list[str]]:
    """The problem lines of ``text`` (dedented) loaded as t.ini; it must not load."""

    def problems(text: str) -> list[str]:
        Path("t.ini").write_text(textwrap.dedent(text))
        with pytest.raises(ConfigError) as info:
            load("t.ini")
        return info.value.problems

    return problems
