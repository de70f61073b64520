"""Peer sessions and section resync on a Clock, against HAProxy 2.6's observed behaviour
(haproxy.md §2, the capture file) and src/peers.c."""

from __future__ import annotations

import random

import pytest
from twisted.internet.task import Clock

from stack.balancer.sticktable import StickTable
from stack.config import model
from stack.peers import codec
from stack.peers.codec import Ack, Control, Ctrl, Define, FrameParser, TxDict, Update
from stack.peers.session import PeerSession, PeersSync, RemotePeer

DEFINE_1 = "0a8212010662655f73746b0621f1f1fe00f0e5ed05"
CAPTURE_UPDATES = [
    "0a801300000002086e65777365737331010401027331",
    "0a801300000003086e65777365737332020402027332",
    "0a801000000004086e65777365737331010101",
]
HB = bytes.fromhex("0004")


class Wire:
    """A transport recording what a session writes."""

    def __init__(self) -> None:
        self.data = bytearray()
        self.closed = False

    def write(self, data: bytes) -> None:
        assert not self.closed, "write after close"
        self.data += data

    def loseConnection(self) -> None:
        self.closed = True

    def take(self) -> bytes:
        out = bytes(self.data)
        self.data.clear()
        return out

    def messages(self) -> list[codec.Message]:
        return [codec.decode_message(f) for f in FrameParser().feed(self.take())]


def table(name: str = "be_stk", expire: float | None = 1800.0) -> StickTable:
    t = StickTable(
        name, model.StickTable(model.StickTableType.STRING, 1024, 32, expire, False, "LB")
    )
    t.enable_server_data()
    return t


class Node:
    """A section ``LB`` whose local peer is ``lbB``, with remote peers (lbA by default)."""

    def __init__(self, remotes: tuple[str, ...] = ("lbA",), tables: list | None = None) -> None:
        self.clock = Clock()
        self.tables = tables if tables is not None else [table()]
        self.dialed: list[RemotePeer] = []
        self.sync = PeersSync(
            "LB",
            "lbB",
            [(n, f"addr-{n}") for n in remotes],
            self.tables,
            self.clock,
            self.dialed.append,
            rng=random.Random(7),
            pid=4242,
        )

    def start(self) -> None:
        self.sync.start()
        self.clock.advance(0)

    def accept(
        self, hello: bytes = b"HAProxyS 2.1\nlbB\nlbA 12376 1\n"
    ) -> tuple[PeerSession, Wire]:
        wire = Wire()
        session = self.sync.accepted(wire)
        session.data_received(hello)
        return session, wire

    def connect(self, name: str = "lbA", status: bytes = b"200\n") -> tuple[PeerSession, Wire]:
        peer = self.sync.peers[name]
        wire = Wire()
        session = self.sync.connected(peer, wire)
        assert wire.take().startswith(b"HAProxyS 2.")
        session.data_received(status)
        return session, wire

    @property
    def t(self) -> StickTable:
        return self.tables[0]

    def store(self, key: bytes, server_id: int = 1, server_key: str = "s1") -> None:
        self.t.store(key, server_id, server_key, self.clock.seconds())


def hx(*hexes: str) -> bytes:
    return bytes.fromhex("".join(hexes))


# --- handshake -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("hello", "status"),
    [
        (b"HAProxyS 2.1\nlbB\nlbA 12376 1\n", b"200\n"),
        (b"HAProxyS 2.0\nlbB\nlbA 12376 1\n", b"200\n"),
        (b"HAProxyX 2.1\n", b"501\n"),
        (b"HAProxyS 3.0\n", b"502\n"),
        (b"HAProxyS 2.2\n", b"502\n"),
        (b"HAProxyS 2.1\nlbZ\n", b"503\n"),
        (b"HAProxyS 2.1\nlbB\nlbX 1 1\n", b"504\n"),
        (b"HAProxyS 2.1\nlbB\nlbB 1 1\n", b"504\n"),  # the local name: no reload peer here
        (b"HAProxyS 2.1\nlbB\nlbA\n", b"501\n"),
        (b"HAProxyS 2.1\r\nlbB\r\nlbA 1 1\r\n", b"200\n"),
    ],
)
def test_accepted_hello_status(hello: bytes, status: bytes) -> None:
    node = Node()
    node.start()
    session, wire = node.accept(hello)
    assert wire.take().startswith(status)
    assert wire.closed == (status != b"200\n")
    assert session.established == (status == b"200\n")


def test_status_is_sent_as_soon_as_a_line_is_wrong() -> None:
    node = Node()
    node.start()
    _session, wire = node.accept(b"HAProxyS 9.9\n")  # nothing more needed to refuse
    assert wire.take() == b"502\n" and wire.closed


def test_hello_in_pieces_then_messages_in_the_same_chunk() -> None:
    node = Node()
    node.start()
    wire = Wire()
    session = node.sync.accepted(wire)
    hello = b"HAProxyS 2.1\nlbB\nlbA 12376 1\n" + hx(DEFINE_1, CAPTURE_UPDATES[0])
    for i in range(0, len(hello), 5):
        session.data_received(hello[i : i + 5])
    out = wire.take()
    assert out.startswith(b"200\n")
    entry = node.t.lookup(b"newsess1", node.clock.seconds(), touch=False)
    assert entry is not None and (entry.server_id, entry.server_key) == (1, "s1")


def test_outgoing_hello_then_status() -> None:
    node = Node()
    node.start()
    assert [p.name for p in node.dialed] == ["lbA"]
    peer = node.sync.peers["lbA"]
    wire = Wire()
    session = node.sync.connected(peer, wire)
    assert wire.take() == b"HAProxyS 2.1\nlbA\nlbB 4242 1\n"
    session.data_received(b"200\n")
    assert session.established and peer.statuscode == 200
    # a fresh node asks its first peer for everything
    assert wire.messages() == [Control(Ctrl.RESYNC_REQ)]


def test_refused_status_closes_and_retries_5s_after_the_attempt() -> None:
    node = Node()
    node.start()
    _session, wire = node.connect(status=b"503\n")
    assert wire.closed and node.sync.peers["lbA"].statuscode == 503
    node.clock.advance(4.9)
    assert len(node.dialed) == 1
    node.clock.advance(0.1)
    assert len(node.dialed) == 2


def test_502_makes_the_next_hello_announce_2_0() -> None:
    node = Node()
    node.start()
    node.connect(status=b"502\n")
    node.clock.advance(5)
    wire = Wire()
    node.sync.connected(node.sync.peers["lbA"], wire)
    assert wire.take() == b"HAProxyS 2.0\nlbA\nlbB 4242 1\n"


def test_failed_connect_is_retried_every_5s() -> None:
    node = Node()
    node.start()
    node.sync.connect_failed(node.sync.peers["lbA"])
    node.clock.advance(4.99)
    assert len(node.dialed) == 1
    node.clock.advance(0.01)
    assert len(node.dialed) == 2


# --- receiving updates ---------------------------------------------------------------------------


def test_capture_updates_are_applied_and_acked_with_the_senders_table_id() -> None:
    node = Node()
    node.start()
    session, wire = node.accept()
    wire.take()
    session.data_received(hx(DEFINE_1, *CAPTURE_UPDATES))
    now = node.clock.seconds()
    e1 = node.t.lookup(b"newsess1", now, touch=False)
    e2 = node.t.lookup(b"newsess2", now, touch=False)
    assert e1 is not None and (e1.server_id, e1.server_key) == (1, "s1")
    assert e2 is not None and (e2.server_id, e2.server_key) == (2, "s2")
    assert e1.expires == pytest.approx(now + 1800)
    # one ack for the chunk: the table id lbA announced (1), the last update id (4)
    assert wire.messages() == [Ack(1, 4)]


def test_incremental_and_timed_updates() -> None:
    node = Node()
    node.start()
    session, wire = node.accept()
    wire.take()
    tx = TxDict()
    layout = codec.TableLayout(6, 33, 1 | 1 << 19)
    msgs = [
        Define(9, b"be_stk", 6, 33, 1 | 1 << 19, 1_800_000),
        Update(0x10, 60_000, codec.encode_entry(b"a", layout, {0: 2, 19: "s2"}, tx)),
        Update(None, 90_000, codec.encode_entry(b"b", layout, {0: 1, 19: "s1"}, tx)),
    ]
    session.data_received(b"".join(codec.encode_message(m) for m in msgs))
    now = node.clock.seconds()
    a = node.t.lookup(b"a", now, touch=False)
    b = node.t.lookup(b"b", now, touch=False)
    assert a is not None and a.expires == pytest.approx(now + 60)
    assert b is not None and b.expires == pytest.approx(now + 90)
    assert wire.messages() == [Ack(9, 0x11)]


def test_updates_for_an_unknown_table_or_key_size_are_ignored_without_ack() -> None:
    node = Node()
    node.start()
    session, wire = node.accept()
    wire.take()
    other = codec.encode_message(Define(2, b"be_other", 6, 33, 0x80001, 1_800_000))
    wrong_len = codec.encode_message(Define(3, b"be_stk", 6, 32, 0x80001, 1_800_000))
    for define in (other, wrong_len):
        session.data_received(define + hx(CAPTURE_UPDATES[0][:4] + CAPTURE_UPDATES[0][4:]))
    assert len(node.t) == 0
    assert wire.take() == b""
    assert session.established


def test_a_malformed_update_is_answered_err_proto_and_closed() -> None:
    node = Node()
    node.start()
    session, wire = node.accept()
    wire.take()
    session.data_received(hx(DEFINE_1, "0a8005", "0000000203"))  # key length past the end
    assert wire.take().endswith(b"\x01\x00") and wire.closed
    assert node.sync.peers["lbA"].proto_err == 1


def test_an_oversized_message_is_answered_err_size() -> None:
    node = Node()
    node.start()
    session, wire = node.accept()
    wire.take()
    session.data_received(hx("0a80") + codec.encode_varint(codec.MAX_MESSAGE + 1))
    assert wire.take() == b"\x01\x01" and wire.closed


def test_reserved_class_is_a_protocol_error_and_unknown_messages_are_skipped() -> None:
    node = Node()
    node.start()
    session, wire = node.accept()
    wire.take()
    session.data_received(hx("0709", "0a8f0400000000", "0005"))
    assert session.established and wire.take() == b""
    session.data_received(hx("ff00"))
    assert wire.take() == b"\x01\x00" and wire.closed


# --- pushing local updates -----------------------------------------------------------------------


def synced_node() -> Node:
    node = Node()
    node.start()
    node.clock.advance(5)  # nobody to learn from: synced by the resync timeout
    assert node.sync.synced
    return node


def test_local_updates_are_pushed_after_a_define_as_haproxy_sends_them() -> None:
    node = synced_node()
    _session, wire = node.connect()
    assert wire.take() == b""  # already synced: no RESYNC_REQ
    node.store(b"newsess1", 1, "s1")
    node.store(b"newsess2", 2, "s2")
    node.store(b"newsess1", 1, "s1")
    out = wire.take().hex()
    assert out == (
        "0a8212010662655f73746b0621f1f1fe00f0e5ed05"
        "0a801300000001086e65777365737331010401027331"
        "0a801300000002086e65777365737332020402027332"
        "0a801000000003086e65777365737331010101"
    )


def test_a_new_session_resends_everything_after_the_last_ack() -> None:
    node = synced_node()
    session, wire = node.connect()
    for key in (b"k1", b"k2", b"k3"):
        node.store(key)
    wire.take()
    session.data_received(codec.encode_message(Ack(1, 2)))  # lbA got k1, k2
    session.connection_lost()
    node.clock.advance(5)
    _session2, wire2 = node.connect()
    msgs = wire2.messages()
    assert isinstance(msgs[0], Define)
    sent = [
        codec.decode_entry(m.data, node.sync.tables[0].layout(), codec.RxDict()).key
        for m in msgs[1:]
        if isinstance(m, Update)
    ]
    assert sent == [b"k3"]


def test_learning_peer_gets_no_updates_until_it_finished_teaching() -> None:
    node = Node()
    node.start()
    session, wire = node.connect()
    assert wire.messages() == [Control(Ctrl.RESYNC_REQ)]
    node.store(b"early")
    assert wire.take() == b""  # as 2.6: only heartbeats before the lesson ends
    session.data_received(hx("0001"))  # RESYNC_FINISHED
    msgs = wire.messages()
    assert msgs[0] == Control(Ctrl.RESYNC_CONFIRM)
    assert isinstance(msgs[1], Define) and isinstance(msgs[2], Update)
    assert node.sync.synced


def test_partial_marks_the_peer_and_asks_another() -> None:
    node = Node(remotes=("lbA", "lbC"))
    node.start()
    sa, wa = node.connect("lbA")
    sc, wc = node.connect("lbC")
    assert wa.messages() == [Control(Ctrl.RESYNC_REQ)]
    assert wc.take() == b""
    sa.data_received(hx("0002"))  # RESYNC_PARTIAL
    assert wa.messages() == [Control(Ctrl.RESYNC_CONFIRM)]
    assert wc.messages() == [Control(Ctrl.RESYNC_REQ)]
    assert not node.sync.synced
    sc.data_received(hx("0001"))
    assert node.sync.synced


def test_learning_peer_lost_means_asking_another_or_the_timeout() -> None:
    node = Node()
    node.start()
    session, _wire = node.connect()
    session.connection_lost()
    node.clock.advance(4.9)
    assert not node.sync.synced
    node.clock.advance(0.2)
    assert node.sync.synced


# --- teaching ------------------------------------------------------------------------------------


def test_resync_request_is_taught_every_entry_with_its_remaining_life() -> None:
    node = synced_node()
    node.store(b"reloadme", 1, "s1")
    node.clock.advance(4.952)
    node.store(b"injected-sess", 2, "s2")
    node.clock.advance(0.449)
    session, wire = node.accept()
    pushed = wire.take()  # the status, then the entries as plain updates
    assert pushed.startswith(b"200\n")
    layout = node.sync.tables[0].layout()
    rx = codec.RxDict()  # the session's dictionary: s1 and s2 were sent in full already
    for f in FrameParser().feed(pushed[4:]):
        m = codec.decode_message(f)
        if isinstance(m, Update):
            codec.decode_entry(m.data, layout, rx)
    session.data_received(hx("0000"))
    msgs = wire.messages()  # no DEFINE: the last one sent was for this table already
    t1, t2 = msgs[0], msgs[1]
    assert isinstance(t1, Update) and t1.type == codec.UPDATE_TIMED
    assert isinstance(t2, Update) and t2.type == codec.INCUPDATE_TIMED
    assert t1.expire_ms == 1_800_000 - 5401 and t2.expire_ms == 1_800_000 - 449
    assert t2.data.endswith(bytes.fromhex("020102"))  # server_id 2, dictionary reference 2
    assert codec.decode_entry(t1.data, layout, rx).key == b"reloadme"
    e2 = codec.decode_entry(t2.data, layout, rx)
    assert (e2.key, e2.server_id, e2.server_key) == (b"injected-sess", 2, "s2")
    assert msgs[2] == Control(Ctrl.RESYNC_FINISHED)


def test_teaching_while_not_synced_ends_partial_and_acks_are_ignored_until_confirm() -> None:
    node = Node(remotes=("lbA", "lbC"))
    node.start()
    node.connect("lbC")  # this node learns from lbC
    node.store(b"k1")
    session, wire = node.accept()
    wire.take()
    session.data_received(hx("0000"))
    assert wire.messages()[-1] == Control(Ctrl.RESYNC_PARTIAL)
    peer = node.sync.peers["lbA"]
    session.data_received(codec.encode_message(Ack(1, 1)))
    assert peer.tables[0].acked == 0  # ignored while teaching
    node.store(b"k2")
    assert wire.take() == b""  # held until CONFIRM
    session.data_received(hx("0003"))
    msgs = wire.messages()
    assert [
        codec.decode_entry(m.data, node.sync.tables[0].layout(), codec.RxDict()).key
        for m in msgs
        if isinstance(m, Update)
    ] == [b"k2"]


def test_a_2_0_peer_is_taught_without_timed_updates() -> None:
    node = synced_node()
    node.store(b"k1")
    session, wire = node.accept(b"HAProxyS 2.0\nlbB\nlbA 1 1\n")
    wire.take()
    session.data_received(hx("0000"))
    types = [m.type for m in wire.messages() if isinstance(m, Update)]
    assert types == [codec.UPDATE]


def test_entries_learnt_from_a_peer_are_taught_but_not_pushed() -> None:
    node = Node(remotes=("lbA", "lbC"))
    node.start()
    node.clock.advance(5)
    sa, _wa = node.accept()
    sc, wc = node.connect("lbC")
    sa.data_received(hx(DEFINE_1, CAPTURE_UPDATES[0]))
    assert wc.take() == b""  # HAProxy does not relay what it learnt
    sc.data_received(hx("0000"))
    keys = [
        codec.decode_entry(m.data, node.sync.tables[0].layout(), codec.RxDict()).key
        for m in wc.messages()
        if isinstance(m, Update)
    ]
    assert keys == [b"newsess1"]


def test_an_entry_learnt_in_one_section_is_pushed_by_the_others_sharing_the_table() -> None:
    """workers = N: the workers' own section and the remote load balancer's relay each
    other's updates, so what the remote peer sends reaches every worker, and the reverse;
    nothing goes back to where it came from."""
    node = Node(remotes=("lbA",))
    workers = PeersSync(
        "workers",
        "worker1",
        [("worker2", "addr-worker2")],
        node.tables,
        node.clock,
        lambda peer: None,
        rng=random.Random(7),
        pid=4242,
    )
    node.start()
    workers.start()
    node.clock.advance(5)
    assert len(node.t.listeners) == 2
    sa, wa = node.accept()
    wire = Wire()
    session = workers.connected(workers.peers["worker2"], wire)
    wire.take()
    session.data_received(b"200\n")
    wire.take()
    sa.data_received(hx(DEFINE_1, CAPTURE_UPDATES[0]))
    layout = workers.tables[0].layout()

    def keys(w: Wire) -> list[bytes | int]:
        return [
            codec.decode_entry(m.data, layout, codec.RxDict()).key
            for m in w.messages()
            if isinstance(m, Update)
        ]

    assert keys(wire) == [b"newsess1"]  # relayed to the other worker
    assert keys(wa) == []  # not back to lbA
    # and what a worker sends goes out to lbA, not back to the worker
    session.data_received(hx(DEFINE_1, CAPTURE_UPDATES[1]))
    assert keys(wa) == [b"newsess2"]
    assert keys(wire) == []
    workers.stop()
    assert len(node.t.listeners) == 1


# --- timers --------------------------------------------------------------------------------------


def test_heartbeat_after_3s_without_sending() -> None:
    node = synced_node()
    _session, wire = node.connect()
    node.clock.advance(2.9)
    assert wire.take() == b""
    node.clock.advance(0.1)
    assert wire.take() == HB
    node.clock.advance(2)
    node.store(b"k")  # sending pushes the next heartbeat back
    wire.take()
    node.clock.advance(2.5)
    assert wire.take() == b""
    node.clock.advance(0.5)
    assert wire.take() == HB
    assert node.sync.peers["lbA"].tx_hbt == 2


def test_a_silent_peer_is_dropped_after_a_silent_window_and_reconnected_soon() -> None:
    node = synced_node()
    _session, wire = node.connect()
    peer = node.sync.peers["lbA"]
    node.clock.advance(5)  # first window: alive (the handshake)
    assert not wire.closed
    node.clock.advance(5)  # second window: nothing received
    assert wire.closed and peer.no_hbt == 1
    dials = len(node.dialed)
    node.clock.advance(2.049)
    assert len(node.dialed) == dials + 1


def test_heartbeats_keep_the_session() -> None:
    node = synced_node()
    session, wire = node.connect()
    for _ in range(10):
        node.clock.advance(3)
        session.data_received(HB)
    assert not wire.closed
    assert node.sync.peers["lbA"].rx_hbt == 10


# --- collisions ----------------------------------------------------------------------------------


def test_last_connected_wins() -> None:
    node = synced_node()
    _first, w1 = node.connect()
    second, w2 = node.accept()
    assert w1.closed and not w2.closed
    peer = node.sync.peers["lbA"]
    assert peer.session is second and peer.coll == 1
    # a connection that completes after the peer connected to us is dropped at once
    late = Wire()
    node.sync.connected(peer, late)
    assert late.closed and late.take() == b""
    assert peer.session is second


def test_both_sides_replaced_reconnects_after_the_random_delay() -> None:
    node = synced_node()
    node.connect()
    second, _wire = node.accept()
    dials = len(node.dialed)
    second.connection_lost()  # the peer closed it: it replaced its side too
    node.clock.advance(2.049)
    assert len(node.dialed) == dials + 1


def test_stop_closes_sessions_and_stops_reconnecting() -> None:
    node = synced_node()
    _session, wire = node.connect()
    node.sync.stop()
    assert wire.closed
    node.clock.advance(60)
    assert len(node.dialed) == 1
    assert node.t.listeners == []


def test_attach_after_a_reload_keeps_journals_and_acks_of_the_same_tables() -> None:
    kept, other = table(), table("be_new")
    node = Node(tables=[kept])
    node.start()
    node.clock.advance(5)
    session, wire = node.connect()
    node.store(b"k1")
    session.data_received(codec.encode_message(Ack(1, 1)))
    wire.take()
    node.sync.attach([other, kept])
    pts = node.sync.peers["lbA"].tables
    assert [pt.shared.table for pt in pts] == [other, kept]
    assert pts[1].acked == 1 and pts[1].shared.local_id == 2
    other.store(b"n1", 1, "s1", node.clock.seconds())
    msgs = wire.messages()
    assert isinstance(msgs[0], Define) and msgs[0].name == b"be_new" and msgs[0].table_id == 1
    node.sync.attach([other])
    assert kept.listeners == [] and len(other.listeners) == 1
