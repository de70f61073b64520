"""``twistd stack``: plugin discovery, ``--check``, and the embedded default end to end."""

from __future__ import annotations

import http.client
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import ROOT, TWISTD

pytestmark = pytest.mark.integration


def twistd(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    return subprocess.run([TWISTD, *args], cwd=cwd, capture_output=True, text=True, timeout=60)


def test_plugin_listed() -> None:
    out = twistd("--help")
    assert out.returncode == 0
    assert "stack" in out.stdout


def test_check_valid_default() -> None:
    out = twistd("stack", "-c", "etc/stack.ini", "--check")
    assert out.returncode == 0, out.stderr
    lines = out.stdout.strip().splitlines()
    assert len(lines) == 1 and "valid" in lines[0]


def test_check_unknown_key_names_file_and_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.ini"
    bad.write_text(
        "[global]\nmaxconn = 10\n\n[frontend fe]\nbind = 127.0.0.1:1\nbalanse = roundrobin\n"
    )
    out = twistd("stack", "-c", str(bad), "--check")
    assert out.returncode != 0
    assert f"{bad}:6" in out.stderr
    assert "balanse" in out.stderr
    assert "Traceback" not in out.stderr + out.stdout


def test_bad_config_refuses_to_start(tmp_path: Path) -> None:
    bad = tmp_path / "bad.ini"
    bad.write_text("[frontend fe]\nbind = 127.0.0.1:1\nuse_backend nowhere = if TRUE\n")
    out = twistd("-n", "--pidfile=", "stack", "-c", str(bad))
    assert out.returncode != 0
    assert f"{bad}:3" in out.stderr
    assert "Traceback" not in out.stderr + out.stdout


def test_embedded_default_serves_site_and_films(tmp_path: Path) -> None:
    """etc/stack.ini as scripts/run starts it: site round robin, films sessions."""
    for port in (8081, 9101, 9102, 9103, 9104):
        try:
            __import__("socket").create_connection(("127.0.0.1", port), timeout=0.2).close()
            pytest.skip(f"port {port} is in use on this machine (is scripts/run up?)")
        except OSError:
            pass
    proc = subprocess.Popen(
        [
            TWISTD,
            "-n",
            "--pidfile=",
            "--logfile",
            str(tmp_path / "log"),
            "stack",
            "-c",
            str(ROOT / "etc/stack.ini"),
        ],
        cwd=tmp_path,
    )
    try:
        deadline = time.monotonic() + 15
        while True:
            try:
                c = http.client.HTTPConnection("127.0.0.1", 8081, timeout=2)
                c.request("GET", "/")
                c.getresponse().read()
                break
            except OSError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise
                time.sleep(0.1)
        servers = []
        for _ in range(4):
            c = http.client.HTTPConnection("127.0.0.1", 8081, timeout=5)
            c.request("GET", "/")
            r = c.getresponse()
            r.read()
            servers.append(r.getheader("X-Served-By"))
        assert set(servers) == {"site1", "site2"}
        assert servers[0] != servers[1]
        cookie = None
        body = b""
        for fav in ("avengers", "gold"):
            c = http.client.HTTPConnection("127.0.0.1", 8081, timeout=5)
            c.request("GET", f"/fun/films?fav={fav}", headers={"Cookie": cookie} if cookie else {})
            r = c.getresponse()
            body = r.read()
            assert r.getheader("X-Served-By") in ("films1", "films2")
            set_cookie = r.getheader("Set-Cookie")
            if set_cookie:
                cookie = set_cookie.split(";")[0]
        assert b"avengers , gold" in body
    finally:
        proc.terminate()
        proc.wait(10)


@pytest.mark.parametrize("editable", [False, True], ids=["install", "editable"])
def test_plugin_found_after_pip_install(tmp_path: Path, editable: bool) -> None:
    """A fresh virtualenv (seeing this one's dependencies) finds the plugin either way."""
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    site = subprocess.run(
        [
            str(venv / "bin/python"),
            "-c",
            "import sysconfig; print(sysconfig.get_paths()['purelib'])",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    ours = subprocess.run(
        [sys.executable, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    # Dependencies come from the test environment; stack itself is installed fresh.
    Path(site, "deps.pth").write_text(ours + "\n")
    # A copy of the project, so this install cannot collide with the developer's own.
    src = tmp_path / "src"
    shutil.copytree(
        ROOT,
        src,
        ignore=shutil.ignore_patterns(
            ".git", ".venv", "__pycache__", "*.egg-info", "build", ".*_cache"
        ),
    )
    args = [str(venv / "bin/python"), "-m", "pip", "install", "-q", "--no-deps"]
    args += ["-e", str(src)] if editable else [str(src)]
    subprocess.run(args, check=True, cwd=tmp_path)
    code = (
        "from twisted.plugin import getPlugins;"
        "from twisted.application.service import IServiceMaker;"
        "names = {p.tapname for p in getPlugins(IServiceMaker)}; print('stack' in names);"
        "import stack; print(stack.__file__)"
    )
    out = subprocess.run(
        [str(venv / "bin/python"), "-c", code], capture_output=True, text=True, cwd=tmp_path
    )
    assert out.returncode == 0, out.stderr
    found, where = out.stdout.split()
    assert found == "True"
    if editable:
        assert where.startswith(str(src))
    else:
        assert "site-packages" in where
