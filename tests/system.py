"""Tests that need root, network namespaces or a Debian package: skipped with the reason on a
laptop, failed in CI, where ``.ci/run`` sets STACK_REQUIRE_SYSTEM=1 so no proof silently
vanishes."""

from __future__ import annotations

import os

import pytest


def require_system(reason: str) -> None:
    """Skip with ``reason`` on a laptop; fail in CI (STACK_REQUIRE_SYSTEM=1)."""
    if os.environ.get("STACK_REQUIRE_SYSTEM"):
        pytest.fail(f"required in CI: {reason}")
    pytest.skip(reason)
