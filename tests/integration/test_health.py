"""Health checks end to end: ``twistd -n stack`` checks real origins on loopback."""

from __future__ import annotations

import time

import pytest
from conftest import free_port
from test_balancer import get, ini

pytestmark = pytest.mark.integration


def wait_for(condition, timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return condition()


def test_dead_server_goes_down_and_traffic_stays_on_the_live_one(origins, run_stack) -> None:
    a, b = origins("s1"), origins("s2")
    port = free_port()
    stack = run_stack(
        ini(
            port,
            f"""[backend be]
balance = roundrobin
option httpchk = GET /health HTTP/1.1\\r\\nHost:\\ lb.test
http-check expect = status 200
server s1 = 127.0.0.1:{a.port} check inter 200ms fastinter 100ms downinter 200ms rise 2 fall 1
server s2 = 127.0.0.1:{b.port} check inter 200ms fastinter 100ms downinter 200ms rise 2 fall 1
""",
            "default_backend = be",
        ),
        port,
    )
    # The checks reach the origins with the configured request.
    assert wait_for(lambda: any(r["target"] == "/health" for r in a.requests))
    check = next(r for r in a.requests if r["target"] == "/health")
    assert check["method"] == "GET" and ("host", "lb.test") in [
        (k.lower(), v) for k, v in check["headers"]
    ]
    served = {get(port, f"/r{i}")[0].getheader("X-Served-By") for i in range(4)}
    assert served == {"s1", "s2"}
    a.close()  # s1 stops accepting connections: its checks fail
    assert wait_for(lambda: "Server be/s1 is DOWN" in stack.log_text())
    results = [get(port, f"/after{i}", headers={"Connection": "close"}) for i in range(6)]
    assert [r.status for r, _ in results] == [200] * 6
    assert {r.getheader("X-Served-By") for r, _ in results} == {"s2"}
    assert "1 active and 0 backup servers left" in stack.log_text()
