"""Stick-table replication between stack and the real HAProxy 2.6 on loopback, both ways,
and resync of a restarted node; and between two stack nodes (the glue on real sockets).
Stack runs as ``twistd -n stack`` with an INI ``[peers]`` section."""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from peers_lab import (
    HAPROXY,
    Lab,
    Node,
    peer_established,
    received_all,
    request,
    section_flags,
    table_lines,
    wait_for,
)
from system import require_system

pytestmark = pytest.mark.integration


@pytest.fixture
def lab(tmp_path: Path) -> Iterator[Lab]:
    lab = Lab(tmp_path)
    yield lab
    lab.close()


@pytest.fixture
def haproxy_lab(lab: Lab) -> Lab:
    if not shutil.which(HAPROXY) and not Path(HAPROXY).exists():
        require_system(f"{HAPROXY} (Debian package haproxy 2.6) is not installed")
    return lab


def connected(a: Node, b: Node, name_a: str = "lbA", name_b: str = "lbB") -> None:
    wait_for(
        lambda: peer_established(a, name_b) and peer_established(b, name_a),
        15,
        "the peer sessions",
    )


def sticky(port: int, key: str, server: str) -> None:
    """Three requests with the cookie all go to ``server`` (roundrobin alone would alternate)."""
    assert [request(port, cookie=key) for _ in range(3)] == [server] * 3


def test_an_entry_stored_by_stack_is_in_haproxys_table_and_routes_there(haproxy_lab: Lab) -> None:
    lab = haproxy_lab
    haproxy, stack = lab.start_haproxy(), lab.start_stack()
    connected(haproxy, stack)
    servers = {request(stack.port, setcookie=f"stk{i}") for i in range(4)}
    assert servers == {"s1", "s2"}
    stored = {f"stk{i}": request(stack.port, cookie=f"stk{i}") for i in range(4)}
    wait_for(lambda: len(table_lines(haproxy)) == 4, 10, "the entries in HAProxy")
    table = table_lines(haproxy)
    for key, server in stored.items():
        sid = server[1]
        assert f"server_id={sid} server_key={server}" in table[key], table[key]
        sticky(haproxy.port, key, server)


def test_an_entry_stored_by_haproxy_routes_through_stack(haproxy_lab: Lab) -> None:
    lab = haproxy_lab
    haproxy, stack = lab.start_haproxy(), lab.start_stack()
    connected(haproxy, stack)
    stored = {}
    for i in range(4):
        request(haproxy.port, setcookie=f"hap{i}")
        stored[f"hap{i}"] = request(haproxy.port, cookie=f"hap{i}")
    assert set(stored.values()) == {"s1", "s2"}
    wait_for(lambda: received_all(stack, haproxy, "lbA"), 10, "updates received by stack")
    for key, server in stored.items():
        sticky(stack.port, key, server)


def test_a_restarted_stack_node_is_taught_by_haproxy(haproxy_lab: Lab) -> None:
    lab = haproxy_lab
    haproxy, stack = lab.start_haproxy(), lab.start_stack()
    connected(haproxy, stack)
    stored = {}
    for i in range(4):
        request(stack.port, setcookie=f"old{i}")
        stored[f"old{i}"] = request(stack.port, cookie=f"old{i}")
    wait_for(lambda: len(table_lines(haproxy)) == 4, 10, "the entries in HAProxy")
    # a teacher that is itself synced ends with FINISHED (else PARTIAL, entries all the same)
    wait_for(lambda: section_flags(haproxy) & 0x2, 10, "HAProxy synced")
    stack.stop()
    stack = lab.start_stack()
    connected(haproxy, stack)
    wait_for(lambda: section_flags(stack) & 0x200, 10, "RESYNC_FINISHED from HAProxy")
    for key, server in stored.items():
        sticky(stack.port, key, server)


def test_a_restarted_haproxy_is_taught_by_stack(haproxy_lab: Lab) -> None:
    lab = haproxy_lab
    haproxy, stack = lab.start_haproxy(), lab.start_stack()
    connected(haproxy, stack)
    wait_for(lambda: section_flags(stack) & 0x2, 10, "stack synced")
    stored = {}
    for i in range(4):
        request(haproxy.port, setcookie=f"hx{i}")
        stored[f"hx{i}"] = request(haproxy.port, cookie=f"hx{i}")
    request(stack.port, setcookie="from-stack")
    stored["from-stack"] = request(stack.port, cookie="from-stack")
    wait_for(lambda: "from-stack" in table_lines(haproxy), 10, "stack's entry in HAProxy")
    for key, server in stored.items():
        if key != "from-stack":
            sticky(stack.port, key, server)
    haproxy.stop()
    haproxy = lab.start_haproxy()
    wait_for(lambda: len(table_lines(haproxy)) == 5, 20, "HAProxy taught by stack")
    table = table_lines(haproxy)
    for key, server in stored.items():
        assert f"server_key={server}" in table[key]
        sticky(haproxy.port, key, server)


def test_two_stack_nodes_replicate_and_resync(lab: Lab) -> None:
    a, b = lab.start_stack("lbA"), lab.start_stack("lbB")
    connected(a, b)
    stored = {}
    for i in range(4):
        request(a.port, setcookie=f"ab{i}")
        stored[f"ab{i}"] = request(a.port, cookie=f"ab{i}")
    assert set(stored.values()) == {"s1", "s2"}
    wait_for(lambda: received_all(b, a, "lbA"), 10, "updates received by lbB")
    for key, server in stored.items():
        sticky(b.port, key, server)
    wait_for(lambda: section_flags(a) & 0x2, 10, "lbA synced")
    b.stop()
    b = lab.start_stack("lbB")
    connected(a, b)
    wait_for(lambda: section_flags(b) & 0x200, 10, "RESYNC_FINISHED from lbA")
    for key, server in stored.items():
        sticky(b.port, key, server)


def _shape(text: str) -> list[str]:
    """``show peers`` reduced to its layout: pointers, numbers, times, dates and names
    replaced."""
    text = re.sub(r"0x[0-9a-f]+", "P", text)
    text = re.sub(r"\[\d\d/\w+/\d{4}:\d\d:\d\d:\d\d\]", "[DATE]", text)
    text = re.sub(r"=(\d+[dhms])+", "=T", text)
    text = re.sub(r"<(NEVER|PAST)>", "T", text)
    text = re.sub(r"\d+(\.\d+){3}:\d+", "ADDR", text)
    text = re.sub(r"\b\d+\b", "N", text)
    return [
        line for line in text.replace("lbA", "NAME").replace("lbB", "NAME").splitlines() if line
    ]


def test_show_peers_has_haproxys_layout(haproxy_lab: Lab) -> None:
    lab = haproxy_lab
    haproxy, stack = lab.start_haproxy(), lab.start_stack()
    connected(haproxy, stack)
    request(stack.port, setcookie="shape")
    wait_for(lambda: received_all(haproxy, stack, "lbB"), 10, "the update in HAProxy")
    ours, theirs = stack.cli("show peers"), haproxy.cli("show peers")
    # the head line and the local peer's block are the same line for line
    ours_local = ours.split("(local,")[1].split("\n  0x")[0]
    theirs_local = theirs.split("(local,")[1].split("\n  0x")[0]
    assert _shape(ours.splitlines()[0]) == _shape(theirs.splitlines()[0])
    assert _shape(ours_local) == _shape(theirs_local)
    # the remote peer's block has the same lines (HAProxy's xprt line is on its accepted side)
    remote_ours = {line for line in _shape(ours) if "xprt=" not in line}
    remote_theirs = {line for line in _shape(theirs) if "xprt=" not in line}
    assert remote_ours == remote_theirs
    assert stack.cli("show peers nosuch") == "No such peers\n\n"
    assert "RX dictionary cache:" in stack.cli("show peers dict LB")
