"""The HTTPS edge's TLS graded by sslyze against Mozilla's Server Side TLS configurations.

stack's edge (``twistd -n stack`` with an ``[edge]``, the balancer and a demo origin) runs as
a subprocess on loopback with a test PKI (a root, an intermediate sent in the chain, an ECDSA
and an RSA leaf). sslyze checks it with the guideline bundled in its release (5.7 in sslyze
6.x; stack follows 6.0, which only dropped suites stack never offers) and exits 0 only when the
server is compliant; the "modern" check against the intermediate server shows the check can
fail.
"""

from __future__ import annotations

import ipaddress
import subprocess
from collections.abc import Callable, Iterator

import pytest
from conftest import TWISTD, free_port, require_system, wait_port
from cryptography import x509
from pki import issue, make_ca
from sslyze_run import PYTHON, run_sslyze, sslyze_available

pytestmark = [pytest.mark.integration, pytest.mark.needs_system]


@pytest.fixture(autouse=True)
def _sslyze() -> None:
    if not sslyze_available():
        require_system(
            f"sslyze is not installed for {PYTHON} (scripts/test makes a venv for it; "
            "or set STACK_SSLYZE_PYTHON)"
        )


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    d = tmp_path_factory.mktemp("sslyze-pki")
    root = make_ca("sslyze Test Root")
    intermediate = make_ca("sslyze Test Intermediate", root)
    ecdsa = issue(
        intermediate,
        "edge.test",
        [x509.DNSName("edge.test"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))],
    )
    rsa = issue(intermediate, "rsa.test", [x509.DNSName("rsa.test")], rsa_bits=2048)
    files = {
        "ca": (root.cert_pem(),),
        "edge": (ecdsa.cert_pem(), ecdsa.key_pem(), intermediate.cert_pem()),
        "rsa": (rsa.cert_pem(), rsa.key_pem(), intermediate.cert_pem()),
    }
    paths = {}
    for name, parts in files.items():
        path = d / f"{name}.pem"
        path.write_bytes(b"".join(parts))
        paths[name] = str(path)
    return paths


EDGE = """\
[defaults]
mode = http
timeout connect = 2s
timeout client = 10s
timeout server = 10s

[edge www]
bind = 127.0.0.1:{port}
server-name = edge.test
server-alias = rsa.test
certificate =
    {edge}
    {rsa}
tls-profile = {profile}
hsts = on
proxy-pass = / web

[frontend web]
bind = 127.0.0.1:{balancer}
default_backend = site

[backend site]
server s1 = 127.0.0.1:{origin}

[demo s1]
app = site
bind = 127.0.0.1:{origin}
"""


@pytest.fixture(scope="module")
def tls_server(
    pki: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Callable[[str], int]]:
    """Start (once per profile) stack's edge, balancer and a demo origin in one ``twistd``;
    the edge's port."""
    started: dict[str, tuple[subprocess.Popen[str], int]] = {}

    def start(profile: str) -> int:
        if profile not in started:
            port = free_port()
            config = tmp_path_factory.mktemp(f"sslyze-{profile}") / "stack.ini"
            config.write_text(
                EDGE.format(
                    port=port,
                    balancer=free_port(),
                    origin=free_port(),
                    profile=profile,
                    edge=pki["edge"],
                    rsa=pki["rsa"],
                )
            )
            proc = subprocess.Popen(
                [TWISTD, "-n", "--pidfile=", "stack", "-c", str(config)],
                cwd=config.parent,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
            )
            started[profile] = (proc, port)
            wait_port(port, proc)
        return started[profile][1]

    yield start
    for proc, _ in started.values():
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def verdict(result: subprocess.CompletedProcess[str]) -> str:
    return result.stdout + result.stderr


@pytest.mark.parametrize(
    ("sni", "key"),
    [("edge.test", "ECPublicKey"), ("rsa.test", "RSAPublicKey"), (None, "ECPublicKey")],
)
def test_intermediate_is_compliant(
    pki: dict[str, str], tls_server: Callable[[str], int], sni: str | None, key: str
) -> None:
    result = run_sslyze("127.0.0.1", tls_server("intermediate"), pki["ca"], sni)
    assert result.returncode == 0, verdict(result)
    assert "OK - Compliant" in result.stdout
    assert f"Number of cert chains detected:    1 ({key}" in result.stdout
    # The whole chain was sent and verified up to the supplied root.
    assert "Supplied CA file CA Store (N/A):   OK - Certificate is trusted" in result.stdout
    assert "sslyze Test Intermediate --> sslyze Test Root" in result.stdout


def test_modern_profile_is_compliant_with_modern(
    pki: dict[str, str], tls_server: Callable[[str], int]
) -> None:
    result = run_sslyze("127.0.0.1", tls_server("modern"), pki["ca"], "edge.test", "modern")
    assert result.returncode == 0, verdict(result)
    assert "OK - Compliant" in result.stdout


def test_intermediate_server_fails_the_modern_check(
    pki: dict[str, str], tls_server: Callable[[str], int]
) -> None:
    result = run_sslyze("127.0.0.1", tls_server("intermediate"), pki["ca"], "edge.test", "modern")
    assert result.returncode != 0
    assert "FAILED - Not compliant" in result.stdout
    assert "TLS versions {'TLSv1.2'} are supported, but should be rejected" in result.stdout


def test_resumption_and_hsts(pki: dict[str, str], tls_server: Callable[[str], int]) -> None:
    result = run_sslyze(
        "127.0.0.1",
        tls_server("intermediate"),
        pki["ca"],
        "edge.test",
        options=["--resum", "--http_headers"],
    )
    assert result.returncode == 0, verdict(result)
    assert "With Session IDs: OK - Supported (5 successful" in result.stdout
    assert "With TLS Tickets: OK - Supported (5 successful" in result.stdout
    assert "Max Age:                           63072000" in result.stdout
