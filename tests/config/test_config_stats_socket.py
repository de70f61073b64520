"""``stats socket`` in ``[global]``: HAProxy's runtime API sockets (src/cli.c
``cli_parse_global``)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from stack.config.model import StackConfig, StatsSocket

Load = Callable[[str], StackConfig]
Problems = Callable[[str], list[str]]

DEMO = """
[demo d]
app = site
bind = 127.0.0.1:9101
"""


def test_no_stats_socket_by_default(load_ini: Load) -> None:
    assert load_ini(DEMO).global_.stats_sockets == ()


def test_debian_line_with_several_sockets(load_ini: Load, in_tmp: Path) -> None:
    cfg = load_ini(
        """
        [global]
        stats socket = /run/stack/admin.sock mode 660 level admin expose-fd listeners
                       run/user.sock level user
                       unix@/run/stack/oper.sock mode 0600
        """
        + DEMO
    )
    admin, user, oper = cfg.global_.stats_sockets
    assert (admin.path, admin.mode, admin.level) == ("/run/stack/admin.sock", 0o660, "admin")
    assert admin.origin is not None and admin.origin.line == 3
    # relative to the config file's directory, like the loader's other paths
    assert user == StatsSocket("run/user.sock", None, "user", user.origin)
    assert user.origin is not None and user.origin.line == 4
    assert (oper.path, oper.mode) == ("/run/stack/oper.sock", 0o600)


def test_relative_path_is_the_config_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from stack.config import load

    (tmp_path / "etc").mkdir()
    (tmp_path / "etc" / "s.ini").write_text("[global]\nstats socket = ../run/a.sock\n" + DEMO)
    monkeypatch.chdir(tmp_path)
    [sock] = load("etc/s.ini").global_.stats_sockets
    assert sock.path == "run/a.sock"


def test_default_level_is_operator_as_in_haproxy(load_ini: Load) -> None:
    # src/cli.c: "bind_conf->level |= ACCESS_LVL_OPER; /* default access level */";
    # haproxy 2.6.12 answers 'show cli level' with "operator" on such a socket
    [sock] = load_ini("[global]\nstats socket = /run/a.sock\n" + DEMO).global_.stats_sockets
    assert sock.level == "operator"
    assert sock.mode is None


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (
            "/run/a.sock levle admin",
            "unknown 'stats socket' option 'levle' (stack supports mode, level and expose-fd "
            "listeners); did you mean 'level'?",
        ),
        ("/run/a.sock level root", "'level' only supports 'user', 'operator', and 'admin' (got"),
        ("/run/a.sock level", "'level' on 'stats socket' expects a level"),
        ("/run/a.sock mode 999", "'mode' expects an octal file mode such as 660, not '999'"),
        ("/run/a.sock mode", "'mode' on 'stats socket' expects an octal mode"),
        ("/run/a.sock expose-fd all", "'expose-fd' only supports 'listeners' (got 'all')"),
        ("/run/a.sock user haproxy", "'user' on 'stats socket' is not supported yet: the socket"),
        ("/run/a.sock gid 0", "'gid' on 'stats socket' is not supported yet"),
        ("/run/a.sock severity-output string", "'severity-output' on 'stats socket' is not"),
        ("ipv4@127.0.0.1:9999", "'ipv4@' addresses are not supported yet"),
        ("abns@stack", "'abns@' addresses are not supported yet"),
        ("127.0.0.1:9999 level admin", "'stats socket' on TCP (127.0.0.1:9999) is not supported"),
        ("/" + "x" * 120, "a unix socket path has at most 107"),
    ],
)
def test_bad_lines_name_file_line_and_option(
    problems_of: Problems, value: str, message: str
) -> None:
    [problem] = problems_of("[global]\nstats socket = " + value + "\n" + DEMO)
    assert problem.startswith("t.ini:2: [global] stats socket: ")
    assert message in problem


def test_the_same_path_twice_is_an_error(problems_of: Problems) -> None:
    [problem] = problems_of(
        "[global]\nstats socket = /run/a.sock level admin\n    /run/a.sock level user\n" + DEMO
    )
    assert problem == (
        "t.ini:3: [global] stats socket: '/run/a.sock' is already a stats socket (line 2)"
    )


def test_only_in_global(problems_of: Problems) -> None:
    [problem] = problems_of("[frontend fe]\nbind = 127.0.0.1:9\nstats socket = /run/a.sock\n")
    assert problem == (
        "t.ini:3: [frontend fe] stats socket: 'stats socket' is not allowed in a frontend "
        "section (only in: global)"
    )


@pytest.mark.parametrize("key", ["stats timeout = 30s", "stats maxconn = 10"])
def test_other_global_stats_keywords_are_not_yet(problems_of: Problems, key: str) -> None:
    [problem] = problems_of("[global]\n" + key + "\n" + DEMO)
    name = key.split(" = ")[0]
    assert problem == f"t.ini:2: [global] {name}: '{name}' is not supported yet"


def test_needs_a_path(problems_of: Problems) -> None:
    [problem] = problems_of("[global]\nstats socket\n" + DEMO)
    assert "'stats socket' needs a value" in problem
