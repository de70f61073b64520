"""``scripts/bench`` stays runnable. No timings here: benchmarks are not pass/fail."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "scripts" / "bench"


def test_bench_help_exits_zero() -> None:
    done = subprocess.run(
        [sys.executable, str(BENCH), "--help"], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert "--quick" in done.stdout


def test_bench_is_executable() -> None:
    assert BENCH.stat().st_mode & 0o111
