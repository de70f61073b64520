"""Server slots and queues (backend.py) on a task.Clock: maxconn, FIFO fairness, timeout queue."""

from __future__ import annotations

from twisted.internet.task import Clock

from stack.balancer.backend import BackendRuntime, QueuedRequest, ServerRuntime
from stack.config.model import Backend, Balance, Endpoint, Server, Timeouts
from stack.http.deadlines import Deadlines


class Waiter:
    def __init__(self) -> None:
        self.server: ServerRuntime | None = None
        self.timed_out = False

    def server_assigned(self, server: ServerRuntime) -> None:
        self.server = server

    def queue_timeout(self) -> None:
        self.timed_out = True


def backend(*servers: Server, queue: float = 2.0) -> tuple[BackendRuntime, Clock]:
    clock = Clock()
    config = Backend("be", servers, balance=Balance(), timeouts=Timeouts(queue=queue))
    return BackendRuntime(config, Deadlines(clock)), clock


def srv(name: str, maxconn: int = 0, **kw: object) -> Server:
    return Server(name, Endpoint("127.0.0.1", 1), maxconn=maxconn, **kw)  # type: ignore[arg-type]


def test_maxconn_queues_then_serves_in_order() -> None:
    be, _ = backend(srv("s1", maxconn=1))
    w1, w2, w3 = Waiter(), Waiter(), Waiter()
    first = be.assign(w1, "127.0.0.1", b"/")
    assert isinstance(first, ServerRuntime)
    assert isinstance(be.assign(w2, "127.0.0.1", b"/"), QueuedRequest)
    assert isinstance(be.assign(w3, "127.0.0.1", b"/"), QueuedRequest)
    assert be.queued == 2
    be.release(first)
    assert w2.server is first and w3.server is None
    be.release(first)
    assert w3.server is first
    assert be.queued == 0


def test_queue_timeout_gives_up_and_frees_the_place() -> None:
    be, clock = backend(srv("s1", maxconn=1), queue=1.0)
    w1, w2 = Waiter(), Waiter()
    held = be.assign(w1, "127.0.0.1", b"/")
    be.assign(w2, "127.0.0.1", b"/")
    clock.advance(0.5)
    assert not w2.timed_out
    for _ in range(6):
        clock.advance(0.1)
    assert w2.timed_out and be.queued == 0
    assert isinstance(held, ServerRuntime)
    be.release(held)
    assert w2.server is None  # a timed-out waiter is never served late


def test_newcomer_waits_behind_queued_requests() -> None:
    be, _ = backend(srv("s1", maxconn=1), srv("s2", maxconn=1))
    held = [be.assign(Waiter(), "127.0.0.1", b"/") for _ in range(2)]
    assert all(isinstance(h, ServerRuntime) for h in held)
    early, late = Waiter(), Waiter()
    be.assign(early, "127.0.0.1", b"/")
    be.assign(late, "127.0.0.1", b"/")
    assert isinstance(held[1], ServerRuntime)
    be.release(held[1])
    assert early.server is held[1] and late.server is None


def test_no_usable_server_is_none() -> None:
    be, _ = backend(srv("s1", disabled=True))
    assert be.assign(Waiter(), "127.0.0.1", b"/") is None
    assert be.nbsrv() == 0


def test_nbsrv_counts_backups_only_without_actives() -> None:
    be, _ = backend(srv("a"), srv("b", backup=True))
    assert be.nbsrv() == 1
    be.servers[0].up = False
    be.balancer.recalc()
    assert be.nbsrv() == 1
    picked = be.assign(Waiter(), "127.0.0.1", b"/")
    assert isinstance(picked, ServerRuntime) and picked.name == "b"


def test_redispatch_excludes_the_failed_server() -> None:
    be, _ = backend(srv("s1"), srv("s2"))
    first = be.assign(Waiter(), "127.0.0.1", b"/")
    assert isinstance(first, ServerRuntime)
    be.release(first)
    other = be.assign(Waiter(), "127.0.0.1", b"/", exclude=first)
    assert isinstance(other, ServerRuntime) and other is not first


def test_server_down_requeues_its_waiters_to_another_server() -> None:
    be, _ = backend(srv("s1", maxconn=1), srv("s2", maxconn=1))
    s1, s2 = be.servers
    held1 = be.assign(Waiter(), "127.0.0.1", b"/")
    held2 = be.assign(Waiter(), "127.0.0.1", b"/")
    assert {held1, held2} == {s1, s2}
    w = Waiter()
    entry = be.assign_server(w, s1)  # persistence: must wait for s1
    assert isinstance(entry, QueuedRequest) and entry.server is s1
    assert be.set_server_up(s1, False) == 1
    assert entry.server is None and list(be.queue) == [entry]
    assert be.nbsrv() == 1
    be.release(s2)  # s2 frees a slot: the requeued request takes it
    assert w.server is s2
    assert be.set_server_up(s1, False) == 0  # no change, nothing done


def test_server_up_again_takes_waiting_requests() -> None:
    be, _ = backend(srv("s1", maxconn=1))
    (s1,) = be.servers
    be.set_server_up(s1, False)
    w = Waiter()
    assert be.assign(w, "127.0.0.1", b"/") is None  # nothing usable: the caller answers 503
    be.set_server_up(s1, True)
    assert be.nbsrv() == 1
    assert isinstance(be.assign(w, "127.0.0.1", b"/"), ServerRuntime)


def test_persist_keeps_waiters_on_a_down_server() -> None:
    clock = Clock()
    config = Backend(
        "be", (srv("s1", maxconn=1), srv("s2")), timeouts=Timeouts(queue=2.0), persist=True
    )
    be = BackendRuntime(config, Deadlines(clock))
    s1 = be.servers[0]
    be.assign_server(Waiter(), s1)
    entry = be.assign_server(Waiter(), s1)
    assert isinstance(entry, QueuedRequest)
    assert be.set_server_up(s1, False) == 0
    assert entry.server is s1 and list(s1.queue) == [entry]
