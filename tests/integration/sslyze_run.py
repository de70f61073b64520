"""Run sslyze's Mozilla compliance check against a loopback TLS endpoint.

sslyze grades with the Mozilla guideline bundled in its release (5.7 for sslyze 6.x) and exits
0 when the server is compliant, 1 when it is not; the verdict and its reasons are on stdout.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Sequence

# sslyze pins an older cryptography than pyOpenSSL needs, so scripts/test installs it in a
# virtualenv of its own and names that interpreter here; without it, this interpreter.
PYTHON = os.environ.get("STACK_SSLYZE_PYTHON") or sys.executable


def sslyze_available() -> bool:
    try:
        result = subprocess.run(
            [PYTHON, "-c", "import sslyze"], capture_output=True, timeout=60, check=False
        )
    except OSError:
        return False
    return result.returncode == 0


def run_sslyze(
    host: str,
    port: int,
    ca_file: str,
    sni: str | None,
    config: str = "intermediate",
    *,
    options: Sequence[str] = (),
) -> subprocess.CompletedProcess[str]:
    """``python -m sslyze --mozilla_config=CONFIG --certinfo_ca_file=CA HOST:PORT [--sni=NAME]``
    with :data:`PYTHON`; the CA makes certificate path validation pass for a test PKI.
    ``options`` adds scans (``--resum``, ``--http_headers``)."""
    args = [
        PYTHON,
        "-m",
        "sslyze",
        f"--mozilla_config={config}",
        f"--certinfo_ca_file={ca_file}",
        f"{host}:{port}",
    ]
    if sni is not None:
        args.append(f"--sni={sni}")
    args += options
    return subprocess.run(args, capture_output=True, text=True, timeout=300, check=False)
