"""The HTTP cache test suite (cache-tests.fyi) against stack's edge cache, via scripts/cache-tests.

SLOW: about 1-2 minutes (one run of the whole suite through the edge; the first run also installs
``http-cache-tests`` from the npm registry into ~/.cache/stack). Needs node and npm: skipped
without them or without the registry for that first install, failed instead in CI
(``STACK_REQUIRE_SYSTEM``).

The target (issue 5): more required and more optimal tests passed than every reverse proxy and CDN
in the suite's published results, and than Apache/nginx when they ran beside it. The comparison is
computed from the script's JSON, not written down here, except for a floor: the best published
results of http-cache-tests 0.4.5 (required: Squid 4.13, 122/165; optimal: httpd 2.4.46, 59/95).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from conftest import ROOT, TWISTD, require_system

sys.path.insert(0, str(ROOT / "scripts"))
import cache_tests  # scripts/ is not a package: found through sys.path

pytestmark = [pytest.mark.integration, pytest.mark.needs_system]

# The best published results in http-cache-tests 0.4.5, as a floor should the package's results
# ever fail to load: stack must pass more than these whatever the JSON says.
PUBLISHED_FLOOR = {"required": 122, "optimal": 59}
RIVALS_AT_LEAST = 7  # published reverse proxies and CDNs in 0.4.5 (browsers left out)


def install_suite_or_skip() -> None:
    try:
        cache_tests.install_suite()
    except cache_tests.SuiteUnavailable as error:
        require_system(f"cache-tests suite unavailable: {error}")


def misses(stack: dict[str, Any], tests: list[dict[str, Any]]) -> str:
    """Stack's required and optimal tests that did not pass, one per line (for the report)."""
    outcomes = stack["runs"][-1]["outcomes"]
    return "\n".join(
        f"  {outcomes[t['id']]:16} {t['kind']:8} {t['id']}"
        for t in tests
        if t["kind"] != "check" and outcomes[t["id"]] != "pass"
    )


def test_stack_passes_more_than_every_other_cache_slow(tmp_path: Path) -> None:
    """SLOW (~1-2 min): the whole suite through stack's edge cache, compared with every rival."""
    install_suite_or_skip()
    out = tmp_path / "cache-tests.json"
    argv = [sys.executable, str(ROOT / "scripts" / "cache-tests"), "--only", "stack"]
    argv += ["--json", str(out), "--twistd", TWISTD, "--keep", str(tmp_path / "work")]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, f"scripts/cache-tests failed:\n{done.stdout}\n{done.stderr}"

    report = json.loads(out.read_text())
    rows = report["implementations"]
    stack = next(row for row in rows if row["key"] == "stack")
    assert stack["status"] == "ran", stack["error"]
    rivals = [row for row in rows if row["key"] not in ("stack", "origin") and row["runs"]]
    published = [row for row in rivals if row["published"]]
    assert len(published) >= RIVALS_AT_LEAST, "the package's published results did not load"

    detail = f"{done.stdout}\nnot passed:\n{misses(stack, report['tests'])}"
    for kind in ("required", "optimal"):
        mine = stack["worst"][kind]
        assert mine > PUBLISHED_FLOOR[kind], f"{kind}: {mine} <= floor\n{detail}"
        for rival in rivals:
            theirs = rival["best"][kind]
            assert mine > theirs, f"{kind}: stack {mine} <= {rival['label']} {theirs}\n{detail}"
