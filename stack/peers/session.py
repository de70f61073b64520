"""Peer sessions and the replication state of a ``peers`` section, sans IO.

No sockets and no global reactor: a :class:`PeerSession` writes to the transport it is given
(anything with ``write`` and ``loseConnection``) and arms timers on the injected
``IReactorTime`` (a ``twisted.internet.task.Clock`` in the tests); the glue
(:mod:`stack.peers.service`) only moves bytes and opens connections. Read against HAProxy
2.6's ``src/peers.c``.

:class:`PeersSync` (HAProxy's ``struct peers`` and its sync task) owns, for one section:

* the :class:`SharedTable` of each attached stick table: a journal giving every entry the
  number of its last change (HAProxy's update tree): local changes are numbered as they
  happen, entries learnt from a peer get a number when first seen (so they can be taught) but
  are never pushed;
* one :class:`RemotePeer` per remote peer (``struct peer``): what survives its connections
  (the last update it acked per table, counters for ``show peers``) and its reconnect timer;
* the resync state: at start the process asks one connected peer for everything
  (``RESYNC_REQ``); it is synced once a peer answers ``RESYNC_FINISHED``, or when no peer was
  there to ask within 5 s. A peer answering ``RESYNC_PARTIAL`` (itself not synced) is marked
  and another one asked. A peer being asked gets no local updates until it finished, as in
  2.6.

:class:`PeerSession` is one connection in either direction: the hello (three lines) and
status, then messages: DEFINE before the first update of each table, UPDATE/INCUPDATE for
local changes from the last update the peer acked (so a reconnect resumes where the peer had
got), UPDATE_TIMED/INCUPDATE_TIMED with the remaining lifetime when teaching after a
``RESYNC_REQ``, acks for what it received, a heartbeat after 3 s without sending, and the
liveness check: a peer silent for a whole 5 s window after a window where it sent something
is disconnected and reconnected 50-2049 ms later.

Collisions: when a peer connects while a session with it exists, the new one wins and the
old one is closed ("last connected wins"); the random delay before reconnecting keeps two
nodes from replacing each other's sessions forever.
"""

from __future__ import annotations

import os
import random
from collections import OrderedDict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol

from twisted.logger import Logger

from stack.balancer.sticktable import Key, StickEntry, StickTable
from stack.config import model
from stack.peers import codec
from stack.peers.codec import Ack, Control, Ctrl, Define, Switch, Update

__all__ = [
    "HEARTBEAT_TIMEOUT",
    "RECONNECT_TIMEOUT",
    "RESYNC_TIMEOUT",
    "PeerSession",
    "PeersSync",
    "RemotePeer",
    "SharedTable",
]

HEARTBEAT_TIMEOUT = 3.0  # PEER_HEARTBEAT_TIMEOUT
RECONNECT_TIMEOUT = 5.0  # PEER_RECONNECT_TIMEOUT: liveness window, connect retry
RESYNC_TIMEOUT = 5.0  # PEER_RESYNC_TIMEOUT
_U32 = 0xFFFFFFFF

# struct peers flags (PEERS_F_*), kept as HAProxy keeps them so `show peers` prints the same
PEERS_F_RESYNC_LOCAL = 0x1
PEERS_F_RESYNC_REMOTE = 0x2
PEERS_F_RESYNC_ASSIGN = 0x4
PEERS_F_RESYNC_PROCESS = 0x8
PEERS_F_RESYNC_LOCALTIMEOUT = 0x10
PEERS_F_RESYNC_REMOTETIMEOUT = 0x20
PEERS_F_RESYNC_REMOTEABORT = 0x80
PEERS_F_RESYNC_REMOTEFINISHED = 0x200
PEERS_F_RESYNC_REMOTEPARTIAL = 0x800
PEERS_F_RESYNC_REMOTEASSIGN = 0x2000
PEERS_F_RESYNC_REQUESTED = 0x4000
# struct peer flags (PEER_F_*)
PEER_F_TEACH_PROCESS = 0x1
PEER_F_TEACH_FINISHED = 0x8
PEER_F_LEARN_ASSIGN = 0x100
PEER_F_LEARN_NOTUP2DATE = 0x200
PEER_F_ALIVE = 0x20000000
PEER_F_DWNGRD = 0x80000000

_KEY_TYPES = {
    model.StickTableType.STRING: codec.KeyType.STR,
    model.StickTableType.INTEGER: codec.KeyType.SINT,
    model.StickTableType.IP: codec.KeyType.IPV4,
    model.StickTableType.IPV6: codec.KeyType.IPV6,
}

_log = Logger()


class Transport(Protocol):
    """What a session needs of its connection (a Twisted ``ITransport`` has both)."""

    def write(self, data: bytes) -> None: ...

    def loseConnection(self) -> None: ...


class DelayedCall(Protocol):
    def cancel(self) -> None: ...

    def active(self) -> bool: ...

    def getTime(self) -> float: ...


class Clock(Protocol):
    """The part of ``IReactorTime`` used here."""

    def seconds(self) -> float: ...

    def callLater(self, delay: float, f: Callable[..., Any], *a: Any) -> Any: ...


def _cancel(call: DelayedCall | None) -> None:
    if call is not None and call.active():
        call.cancel()


# --- tables ---------------------------------------------------------------------------------------


class SharedTable:
    """A stick table as a peers section shares it (HAProxy's ``shared_table`` + the table's
    update tree). ``local_id`` is the id this node announces in its DEFINE; ``seq`` counts
    changes (HAProxy's ``update``); ``journal`` maps each key to the number of its last change
    and whether that change was local, in number order."""

    def __init__(self, table: StickTable, local_id: int) -> None:
        self.table = table
        self.local_id = local_id
        self.name = table.name.encode()
        self.key_type = int(_KEY_TYPES[table.type])
        self.seq = 0
        self.local_seq = 0  # HAProxy's localupdate: the last local change
        self.journal: OrderedDict[Key, tuple[int, bool]] = OrderedDict()
        # this section's entry in ``table.listeners`` while it runs
        self.listener: Callable[[StickTable, StickEntry], None] | None = None

    def layout(self) -> codec.TableLayout:
        return codec.TableLayout(self.key_type, self.table.key_size, self.table.data_types)

    def define(self) -> Define:
        t = self.table
        return Define(
            self.local_id, self.name, self.key_type, t.key_size, t.data_types, t.expire_ms
        )

    def note_local(self, entry: StickEntry) -> None:
        """A local store or refresh: the entry gets the next number and will be pushed."""
        self.seq += 1
        self.local_seq = self.seq
        self.journal[entry.key] = (self.seq, True)
        self.journal.move_to_end(entry.key)
        self._prune()

    def note_remote(self, key: Key) -> None:
        """An entry learnt from a peer: numbered once (to be taught), never pushed."""
        if key not in self.journal:
            self.seq += 1
            self.journal[key] = (self.seq, False)
            self._prune()

    def pending(self, after: int, now: float) -> list[tuple[int, StickEntry]]:
        """The live entries whose last local change is numbered after ``after``, in order."""
        found: list[tuple[int, StickEntry]] = []
        for key, (seq, local) in reversed(self.journal.items()):
            if seq <= after:
                break
            if local:
                entry = self.table.lookup(key, now, touch=False)
                if entry is not None:
                    found.append((seq, entry))
        found.reverse()
        return found

    def everything(self, now: float) -> list[tuple[int, StickEntry]]:
        """Every live entry with its number, for a full resync (entries the journal never saw,
        e.g. set from the CLI, are numbered now)."""
        for entry in self.table.entries():
            self.note_remote(entry.key)
        found = []
        for key, (seq, _) in list(self.journal.items()):
            live = self.table.lookup(key, now, touch=False)
            if live is not None:
                found.append((seq, live))
        return found

    def seq_of_wire(self, wire: int) -> int:
        """The journal number a peer's 32-bit ack refers to (the latest one with those bits)."""
        return self.seq - ((self.seq - wire) & _U32)

    def values(self, entry: StickEntry) -> dict[int, Any]:
        return {codec.DT_SERVER_ID: entry.server_id, codec.DT_SERVER_KEY: entry.server_key}

    def _prune(self) -> None:
        if len(self.journal) <= 2 * len(self.table) + 64:
            return
        live = {e.key for e in self.table.entries()}
        for key in [k for k in self.journal if k not in live]:
            del self.journal[key]


@dataclass(eq=False)
class PeerTable:
    """Per peer and table (the rest of HAProxy's ``shared_table``): ``acked`` (``update``)
    outlives sessions; the others are reset when a session starts."""

    shared: SharedTable
    acked: int = 0  # journal number of the last update the peer acked
    last_pushed: int = 0
    last_get: int = 0  # the peer's id of the last update received (wire, 32 bits)
    last_acked: int = 0  # the last_get we acked
    remote_id: int = 0  # the id the peer announced for this table
    remote_data: int = 0
    remote_layout: codec.TableLayout | None = None
    teaching_origin: int = 0

    def reset(self) -> None:
        self.last_pushed = self.teaching_origin = self.acked
        self.last_get = self.last_acked = 0
        self.remote_id = self.remote_data = 0
        self.remote_layout = None


@dataclass(eq=False)
class RemotePeer:
    """A remote ``peer`` line and what survives its sessions (HAProxy's ``struct peer``)."""

    name: str
    address: Any  # model.Endpoint, or whatever the glue connects to
    tables: list[PeerTable]
    session: PeerSession | None = None
    connecting: bool = False
    statuscode: int = 0
    last_hdshk: float | None = None
    reconnect_at: float | None = None  # next connect attempt, or end of the liveness window
    flags: int = 0
    confirm: int = 0
    tx_hbt: int = 0
    rx_hbt: int = 0
    no_hbt: int = 0
    new_conn: int = 0
    proto_err: int = 0
    coll: int = 0
    connect_call: Any = field(default=None, repr=False)

    def table_by_local_id(self, ident: int) -> PeerTable | None:
        for pt in self.tables:
            if pt.shared.local_id == ident:
                return pt
        return None


# --- the section ----------------------------------------------------------------------------------


class PeersSync:
    """The replication state of one ``peers`` section on this node.

    ``connect(peer)`` is the glue's: open a connection to ``peer.address`` and then call
    :meth:`connected` (or :meth:`connect_failed`). ``rng`` picks the collision delays."""

    def __init__(
        self,
        name: str,
        local: str,
        remotes: list[tuple[str, Any]],
        tables: list[StickTable],
        clock: Clock,
        connect: Callable[[RemotePeer], None],
        *,
        rng: random.Random | None = None,
        pid: int | None = None,
    ) -> None:
        self.name = name
        self.local = local
        self.clock = clock
        self.connect = connect
        self.rng = rng or random.Random()
        self.pid = os.getpid() if pid is None else pid
        self.tables = [SharedTable(t, i) for i, t in enumerate(tables, 1)]
        self.peers: dict[str, RemotePeer] = {
            n: RemotePeer(n, addr, [PeerTable(st) for st in self.tables]) for n, addr in remotes
        }
        # no older local process to learn from: straight to asking a remote peer
        self.flags = PEERS_F_RESYNC_LOCAL | PEERS_F_RESYNC_LOCALTIMEOUT
        self.resync_at: float | None = None
        self._resync_call: DelayedCall | None = None
        self.running = False
        self.last_change = clock.seconds()
        self.sessions: set[PeerSession] = set()  # including those still in their hello
        self.calls = 0  # events handled (`show peers` task_calls)

    # --- life ------------------------------------------------------------------------------------

    def start(self) -> None:
        """Attach to the tables, connect to every remote peer, start the resync timer."""
        self.running = True
        for st in self.tables:
            self._listen(st)
        self._arm_resync(RESYNC_TIMEOUT)
        for peer in self.peers.values():
            self._schedule_connect(peer, 0.0)

    def stop(self) -> None:
        self.running = False
        for st in self.tables:
            self._unlisten(st)
        _cancel(self._resync_call)
        for peer in self.peers.values():
            _cancel(peer.connect_call)
        for session in list(self.sessions):
            session.close()

    def attach(self, tables: list[StickTable]) -> None:
        """Replicate ``tables`` from now on (a reload that kept this section): a table with
        a known name keeps its journal and the peers' acks when the object is the same, and
        starts afresh otherwise; tables no longer listed stop being replicated."""
        old = {st.name: st for st in self.tables}
        shared: list[SharedTable] = []
        for i, table in enumerate(tables, 1):
            st = old.pop(table.name.encode(), None)
            if st is None or st.table is not table:
                st = SharedTable(table, i)
            st.local_id = i
            shared.append(st)
        for gone in old.values():
            self._unlisten(gone)
        self.tables = shared
        for peer in self.peers.values():
            have = {pt.shared: pt for pt in peer.tables}
            peer.tables = [have.get(st) or PeerTable(st) for st in shared]
            if peer.session is not None:
                peer.session.last_local_table = None  # re-announce with the new ids
                if peer.session.remote_table not in peer.tables:
                    peer.session.remote_table = None
        if self.running:
            for st in shared:
                self._listen(st)
            for peer in self.peers.values():
                if peer.session is not None:
                    peer.session.push()

    @property
    def synced(self) -> bool:
        return self.flags & PEERS_F_RESYNC_REMOTE != 0

    def _listen(self, st: SharedTable) -> None:
        if st.listener is not None:
            return

        def changed(table: StickTable, entry: StickEntry) -> None:
            self.local_update(st, entry)

        st.listener = changed
        st.table.listeners.append(changed)

    def _unlisten(self, st: SharedTable) -> None:
        if st.listener is not None:
            if st.listener in st.table.listeners:
                st.table.listeners.remove(st.listener)
            st.listener = None

    def local_update(self, st: SharedTable, entry: StickEntry) -> None:
        self.calls += 1
        st.note_local(entry)
        for peer in self.peers.values():
            if peer.session is not None and peer.session.established:
                peer.session.push()

    # --- connections -----------------------------------------------------------------------------

    def _schedule_connect(self, peer: RemotePeer, delay: float) -> None:
        _cancel(peer.connect_call)
        if not self.running:
            return
        peer.reconnect_at = self.clock.seconds() + delay
        peer.connect_call = self.clock.callLater(max(delay, 0.0), self._connect, peer)

    def _connect(self, peer: RemotePeer) -> None:
        peer.connect_call = None
        if not self.running or peer.session is not None or peer.connecting:
            return
        now = self.clock.seconds()
        self.calls += 1
        peer.connecting = True
        peer.new_conn += 1
        peer.statuscode = codec.STATUS_CONNECT
        peer.last_hdshk = now
        peer.reconnect_at = now + RECONNECT_TIMEOUT
        self.connect(peer)

    def connect_failed(self, peer: RemotePeer) -> None:
        """The connection to ``peer`` could not be made: retry 5 s after the attempt."""
        peer.connecting = False
        if peer.session is None:
            self._retry(peer)

    def _retry(self, peer: RemotePeer) -> None:
        at = peer.reconnect_at if peer.reconnect_at is not None else self.clock.seconds()
        self._schedule_connect(peer, at - self.clock.seconds())

    def connected(self, peer: RemotePeer, transport: Transport) -> PeerSession:
        """The connection to ``peer`` is up: a session that sends the hello (or closes at once
        when the peer connected to us meanwhile and that session won)."""
        peer.connecting = False
        session = PeerSession(self, transport, peer)
        self.sessions.add(session)
        if peer.session is not None or not self.running:
            session.close()
        else:
            peer.session = session
            peer.statuscode = codec.STATUS_CONNECTED
            session.send_hello()
        return session

    def accepted(self, transport: Transport) -> PeerSession:
        """A connection from a peer: a session waiting for its hello."""
        session = PeerSession(self, transport, None)
        self.sessions.add(session)
        return session

    def identified(self, session: PeerSession, peer: RemotePeer) -> float:
        """``session`` (accepted) says it is ``peer``: it replaces any session with it. The
        length of its first liveness window: after a collision, a random 50-2049 ms, which is
        also when this node reconnects if the peer closes this session because it replaced
        it too (both connected at once)."""
        old = peer.session
        window = RECONNECT_TIMEOUT
        if old is not None and old is not session:
            peer.coll += 1
            old.close(replaced=True)
            window = self.random_delay()
        _cancel(peer.connect_call)
        peer.connect_call = None
        peer.session = session
        return window

    def established(self, peer: RemotePeer) -> None:
        """A session with ``peer`` completed its handshake."""
        self.calls += 1
        peer.statuscode = codec.STATUS_SUCCESS
        peer.last_hdshk = self.clock.seconds()
        peer.flags &= ~(PEER_F_TEACH_PROCESS | PEER_F_TEACH_FINISHED)
        peer.flags &= ~(PEER_F_LEARN_ASSIGN | PEER_F_LEARN_NOTUP2DATE)
        peer.confirm = 0
        for pt in peer.tables:
            pt.reset()
        if not self.synced and not self.flags & PEERS_F_RESYNC_ASSIGN:
            self._assign(peer)

    def closed(self, session: PeerSession, *, replaced: bool, dead: bool) -> None:
        """``session`` ended. Unless another session replaced it, reconnect: 50-2049 ms after a
        dead peer, else when the liveness window ends (5 s after a failed attempt)."""
        self.sessions.discard(session)
        self.calls += 1
        peer = session.peer
        if peer is None or peer.session is not session:
            return
        peer.session = None
        peer.flags &= ~PEER_F_ALIVE
        if peer.flags & PEER_F_LEARN_ASSIGN:
            peer.flags &= ~PEER_F_LEARN_ASSIGN
            self.flags &= ~(PEERS_F_RESYNC_ASSIGN | PEERS_F_RESYNC_PROCESS)
            self.flags |= PEERS_F_RESYNC_REMOTEABORT
            self._arm_resync(RESYNC_TIMEOUT)
            self._assign_any()
        peer.flags &= ~(PEER_F_TEACH_PROCESS | PEER_F_TEACH_FINISHED)
        if not self.running or replaced:
            return
        if dead:
            self._schedule_connect(peer, self.random_delay())
        else:
            self._retry(peer)

    def random_delay(self) -> float:
        """``50 + ha_random() % 2000`` ms."""
        return (50 + self.rng.randrange(2000)) / 1000

    # --- resync (learning) -----------------------------------------------------------------------

    def _arm_resync(self, delay: float) -> None:
        _cancel(self._resync_call)
        self.resync_at = self.clock.seconds() + delay
        self._resync_call = self.clock.callLater(delay, self._resync_timeout)

    def _resync_timeout(self) -> None:
        self._resync_call = None
        self.calls += 1
        if not self.synced and not self.flags & PEERS_F_RESYNC_ASSIGN:
            self.flags |= PEERS_F_RESYNC_REMOTE | PEERS_F_RESYNC_REMOTETIMEOUT
            self._now_synced()

    def _assign(self, peer: RemotePeer) -> None:
        peer.flags |= PEER_F_LEARN_ASSIGN
        self.flags |= PEERS_F_RESYNC_ASSIGN | PEERS_F_RESYNC_REMOTEASSIGN

    def _assign_any(self) -> None:
        """Ask the first established peer not known to be behind (the sync task's loop)."""
        if self.synced or self.flags & PEERS_F_RESYNC_ASSIGN:
            return
        for peer in self.peers.values():
            s = peer.session
            if s is not None and s.established and not peer.flags & PEER_F_LEARN_NOTUP2DATE:
                self._assign(peer)
                s.request_resync()
                return

    def resync_finished(self, peer: RemotePeer) -> None:
        if peer.flags & PEER_F_LEARN_ASSIGN:
            peer.flags &= ~PEER_F_LEARN_ASSIGN
            self.flags &= ~(PEERS_F_RESYNC_ASSIGN | PEERS_F_RESYNC_PROCESS)
            self.flags |= PEERS_F_RESYNC_LOCAL | PEERS_F_RESYNC_REMOTE
            self.flags |= PEERS_F_RESYNC_REMOTEFINISHED
            self._now_synced()

    def resync_partial(self, peer: RemotePeer) -> None:
        if peer.flags & PEER_F_LEARN_ASSIGN:
            peer.flags &= ~PEER_F_LEARN_ASSIGN
            self.flags &= ~(PEERS_F_RESYNC_ASSIGN | PEERS_F_RESYNC_PROCESS)
            self.flags |= PEERS_F_RESYNC_REMOTEPARTIAL
            peer.flags |= PEER_F_LEARN_NOTUP2DATE
            self._arm_resync(RESYNC_TIMEOUT)
            self._assign_any()

    def _now_synced(self) -> None:
        _cancel(self._resync_call)
        self._resync_call = None
        for peer in self.peers.values():
            if peer.session is not None and peer.session.established:
                peer.session.push()

    # --- lookups ---------------------------------------------------------------------------------

    def remote(self, name: str) -> RemotePeer | None:
        return self.peers.get(name)

    def iter_sessions(self) -> Iterator[PeerSession]:
        return iter(list(self.sessions))


# --- one connection -------------------------------------------------------------------------------

_HELLO, _STATUS, _MESSAGES, _CLOSED = "hello", "status", "messages", "closed"


class PeerSession:
    """One connection with a peer, in either direction (HAProxy's peer applet).

    Accepted sessions start reading the hello; outgoing ones (:meth:`send_hello`) wait for the
    status line. Then every received chunk goes through :meth:`data_received`, and acks for
    what it carried are sent at its end."""

    def __init__(self, sync: PeersSync, transport: Transport, peer: RemotePeer | None) -> None:
        self.sync = sync
        self.transport = transport
        self.peer = peer
        self.outgoing = peer is not None
        self.state = _HELLO if peer is None else _STATUS
        self.lines = codec.LineReader()
        self._hello_index = 0
        self._minor = codec.MINOR
        self.frames = codec.FrameParser()
        self.tx = codec.TxDict()
        self.rx = codec.RxDict()
        self.remote_table: PeerTable | None = None
        self.last_local_table: PeerTable | None = None
        self.alive = False
        self.heartbeat_at: float | None = None
        self._heartbeat_call: DelayedCall | None = None
        self._window_call: DelayedCall | None = None
        self.info: dict[str, str] = {}  # the glue's addresses for `show peers`
        self.calls = 0  # events handled (`show peers` task_calls)

    @property
    def established(self) -> bool:
        return self.state == _MESSAGES

    # --- output ----------------------------------------------------------------------------------

    def _write(self, data: bytes) -> None:
        self.transport.write(data)

    def _send(self, msg: codec.Message) -> None:
        self._write(codec.encode_message(msg))
        if self.state == _MESSAGES:
            self._arm_heartbeat()

    def close(self, *, replaced: bool = False, dead: bool = False) -> None:
        """End the session (idempotent); the section decides about reconnecting."""
        if self.state == _CLOSED:
            return
        self.state = _CLOSED
        _cancel(self._heartbeat_call)
        _cancel(self._window_call)
        self.transport.loseConnection()
        self.sync.closed(self, replaced=replaced, dead=dead)

    def connection_lost(self) -> None:
        self.close()

    def _fail(self, error: int) -> None:
        if self.peer is not None and error == codec.ERR_PROTO:
            self.peer.proto_err += 1
        self._write(codec.encode_message(codec.Error(error)))
        self.close()

    # --- handshake -------------------------------------------------------------------------------

    def send_hello(self) -> None:
        assert self.peer is not None
        minor = codec.MINOR_DOWNGRADED if self.peer.flags & PEER_F_DWNGRD else codec.MINOR
        hello = codec.Hello(self.peer.name, self.sync.local, self.sync.pid, minor)
        self._write(hello.encode())

    def data_received(self, data: bytes) -> None:
        if self.state == _CLOSED:
            return
        self.calls += 1
        if self.state in (_HELLO, _STATUS):
            self.lines.feed(data)
            if self.state == _HELLO:
                self._read_hello()
            else:
                self._read_status()
            if self.state != _MESSAGES:
                if self.lines.overflow:
                    self.close()
                return
            data = self.lines.rest()
        self._read_messages(data)

    def _read_hello(self) -> None:
        sync = self.sync
        while self._hello_index < 3:
            line = self.lines.line()
            if line is None:
                return
            status, value = codec.parse_hello_line(self._hello_index, line, sync.local)
            if status is None and self._hello_index == 2:
                peer = sync.remote(value)
                if peer is None:
                    status = codec.STATUS_ERR_PEER
                else:
                    self.peer = peer
            if status is not None:
                self._write(codec.encode_status(status))
                self.close()
                return
            if self._hello_index == 0:
                self._minor = value
            self._hello_index += 1
        peer = self.peer
        assert peer is not None
        window = sync.identified(self, peer)
        if self._minor == codec.MINOR_DOWNGRADED:
            peer.flags |= PEER_F_DWNGRD
        else:
            peer.flags &= ~PEER_F_DWNGRD
        self._write(codec.encode_status(codec.STATUS_SUCCESS))
        self._establish(window)

    def _read_status(self) -> None:
        peer = self.peer
        assert peer is not None
        line = self.lines.line()
        if line is None:
            return
        digits = ""
        for ch in line.strip():
            if not ch.isdigit():
                break
            digits += ch
        code = int(digits) if digits.isascii() and digits else 0  # atoi
        peer.statuscode = code
        peer.last_hdshk = self.sync.clock.seconds()
        if code != codec.STATUS_SUCCESS:
            if code == codec.STATUS_ERR_VERSION:
                peer.flags |= PEER_F_DWNGRD
            self.close()
            return
        self._establish()

    def _establish(self, window: float = RECONNECT_TIMEOUT) -> None:
        peer = self.peer
        assert peer is not None
        self.state = _MESSAGES
        self.sync.established(peer)
        peer.flags |= PEER_F_ALIVE
        self.alive = True
        self._arm_heartbeat()
        self._arm_window(window)
        if peer.flags & PEER_F_LEARN_ASSIGN:
            self.request_resync()
        self.push()

    # --- timers ----------------------------------------------------------------------------------

    def _arm_heartbeat(self) -> None:
        clock = self.sync.clock
        self.heartbeat_at = clock.seconds() + HEARTBEAT_TIMEOUT
        call = self._heartbeat_call
        if call is not None and call.active():
            call.reset(HEARTBEAT_TIMEOUT)  # type: ignore[attr-defined]
        else:
            self._heartbeat_call = clock.callLater(HEARTBEAT_TIMEOUT, self._heartbeat)

    def _heartbeat(self) -> None:
        self._heartbeat_call = None
        if self.state != _MESSAGES:
            return
        assert self.peer is not None
        self.peer.tx_hbt += 1
        self._send(Control(Ctrl.HEARTBEAT))

    def _arm_window(self, delay: float) -> None:
        assert self.peer is not None
        _cancel(self._window_call)
        self.peer.reconnect_at = self.sync.clock.seconds() + delay
        self._window_call = self.sync.clock.callLater(delay, self._window_end)

    def _window_end(self) -> None:
        """End of a 5 s liveness window: a peer that sent nothing in it is dead."""
        self._window_call = None
        peer = self.peer
        if self.state != _MESSAGES or peer is None:
            return
        if peer.flags & PEER_F_ALIVE:
            peer.flags &= ~PEER_F_ALIVE
            self._arm_window(RECONNECT_TIMEOUT)
        else:
            peer.no_hbt += 1
            _log.info(
                "peers {section}: peer {peer} silent for 5 s, reconnecting",
                section=self.sync.name,
                peer=peer.name,
            )
            self.close(dead=True)

    # --- messages --------------------------------------------------------------------------------

    def _read_messages(self, data: bytes) -> None:
        try:
            frames = self.frames.feed(data)
        except codec.TooBig as exc:
            self._handle(exc.frames)  # type: ignore[attr-defined]
            if self.state == _MESSAGES:
                self._fail(codec.ERR_SIZE)
            return
        except codec.Malformed as exc:
            self._handle(exc.frames)  # type: ignore[attr-defined]
            if self.state == _MESSAGES:
                self._fail(codec.ERR_PROTO)
            return
        self._handle(frames)

    def _handle(self, frames: list[codec.Frame]) -> None:
        peer = self.peer
        assert peer is not None
        for frame in frames:
            if self.state != _MESSAGES:
                return
            try:
                msg = codec.decode_message(frame)
                self._treat(msg)
            except codec.Malformed:
                self._fail(codec.ERR_PROTO)
                return
            if self.state == _MESSAGES:
                peer.flags |= PEER_F_ALIVE
        if self.state == _MESSAGES:
            self._send_acks()

    def _treat(self, msg: codec.Message) -> None:
        peer = self.peer
        assert peer is not None
        sync = self.sync
        if isinstance(msg, Update):
            self._apply(msg)
        elif isinstance(msg, Control):
            if msg.type == Ctrl.HEARTBEAT:
                peer.rx_hbt += 1
                self._arm_window(RECONNECT_TIMEOUT)
            elif msg.type == Ctrl.RESYNC_REQ:
                sync.flags |= PEERS_F_RESYNC_REQUESTED
                self.teach()
            elif msg.type == Ctrl.RESYNC_FINISHED:
                self._send(Control(Ctrl.RESYNC_CONFIRM))
                sync.resync_finished(peer)
            elif msg.type == Ctrl.RESYNC_PARTIAL:
                self._send(Control(Ctrl.RESYNC_CONFIRM))
                sync.resync_partial(peer)
            elif msg.type == Ctrl.RESYNC_CONFIRM:
                peer.flags &= ~(PEER_F_TEACH_PROCESS | PEER_F_TEACH_FINISHED)
                self.push()
        elif isinstance(msg, Define):
            self._define(msg)
        elif isinstance(msg, Switch):
            self.remote_table = next(
                (pt for pt in peer.tables if pt.remote_id == msg.table_id), None
            )
        elif isinstance(msg, Ack):
            if peer.flags & PEER_F_TEACH_PROCESS:
                return  # acks are ignored while teaching
            pt = peer.table_by_local_id(msg.table_id)
            if pt is not None:
                pt.acked = pt.shared.seq_of_wire(msg.update_id)
        # errors: the peer closes after them; unknown messages: ignored

    def _define(self, msg: Define) -> None:
        """``peer_treat_definemsg``: updates that follow are for the table of that name, if
        its key type and size match ours; otherwise they are ignored."""
        peer = self.peer
        assert peer is not None
        self.remote_table = None
        for other in peer.tables:
            if other.remote_id == msg.table_id:
                other.remote_id = 0
        pt = next((p for p in peer.tables if p.shared.name == msg.name), None)
        if pt is None or msg.params is None:
            return
        st = pt.shared
        if msg.key_type != st.key_type or msg.key_len != st.table.key_size:
            return
        layout = msg.layout()
        pt.remote_id = msg.table_id
        pt.remote_data = msg.data_types
        pt.remote_layout = layout
        self.remote_table = pt

    def _apply(self, msg: Update) -> None:
        pt = self.remote_table
        if pt is None or pt.remote_layout is None:
            return  # a table we do not share: skipped
        if msg.update_id is not None:
            pt.last_get = msg.update_id
        else:
            pt.last_get = (pt.last_get + 1) & _U32
        data = codec.decode_entry(msg.data, pt.remote_layout, self.rx)
        st = pt.shared
        table = st.table
        now = self.sync.clock.seconds()
        expire = None if msg.expire_ms is None else msg.expire_ms / 1000
        server_id = server_key = None
        if table.server_data:
            server_id, server_key = data.server_id, data.server_key
        try:
            entry = table.apply_remote(data.key, server_id, server_key, now, expire)
        except (TypeError, ValueError):
            return
        if entry is not None:
            st.note_remote(entry.key)
            # Learnt here, it is a local change for the other sections replicating the
            # table: with workers, the local workers' section and the remote load
            # balancer's relay each other's updates (never back to where they came from).
            for listener in table.listeners:
                if listener is not st.listener:
                    listener(table, entry)

    def _send_acks(self) -> None:
        assert self.peer is not None
        for pt in self.peer.tables:
            if pt.last_get != pt.last_acked:
                self._send(Ack(pt.remote_id, pt.last_get))
                pt.last_acked = pt.last_get

    # --- resync ----------------------------------------------------------------------------------

    def request_resync(self) -> None:
        self.sync.flags |= PEERS_F_RESYNC_PROCESS
        self._send(Control(Ctrl.RESYNC_REQ))

    def teach(self) -> None:
        """Answer ``RESYNC_REQ``: every live entry of every table, with its remaining lifetime,
        then FINISHED (this node is synced) or PARTIAL (it is still learning). Local updates
        wait for the peer's CONFIRM."""
        peer = self.peer
        assert peer is not None
        peer.flags &= ~(PEER_F_TEACH_PROCESS | PEER_F_TEACH_FINISHED)
        peer.flags |= PEER_F_TEACH_PROCESS
        now = self.sync.clock.seconds()
        timed = not peer.flags & PEER_F_DWNGRD
        for pt in peer.tables:
            pt.teaching_origin = pt.acked
            self._send_updates(pt, pt.shared.everything(now), now, timed)
            pt.last_pushed = max(pt.last_pushed, pt.shared.seq)
        done = Ctrl.RESYNC_FINISHED if self.sync.synced else Ctrl.RESYNC_PARTIAL
        self._send(Control(done))
        peer.flags |= PEER_F_TEACH_FINISHED

    def push(self) -> None:
        """Send the local changes the peer has not got, unless it is being taught (until its
        CONFIRM) or asked to teach us (until it finished)."""
        peer = self.peer
        if self.state != _MESSAGES or peer is None:
            return
        if peer.flags & (PEER_F_TEACH_PROCESS | PEER_F_LEARN_ASSIGN):
            return
        now = self.sync.clock.seconds()
        for pt in peer.tables:
            if pt.last_pushed >= pt.shared.local_seq:
                continue
            pending = pt.shared.pending(pt.last_pushed, now)
            pt.last_pushed = pt.shared.local_seq
            if pending:
                self._send_updates(pt, pending, now, timed=False)

    def _send_updates(
        self, pt: PeerTable, items: list[tuple[int, StickEntry]], now: float, timed: bool
    ) -> None:
        if not items:
            return
        st = pt.shared
        if self.last_local_table is not pt:
            self._send(st.define())
            self.last_local_table = pt
        layout = st.layout()
        previous: int | None = None
        chunks = []
        for seq, entry in items:
            wire = seq & _U32
            update_id = None if previous is not None and seq == previous + 1 else wire
            previous = seq
            expire = None
            if timed:
                expire = 0
                if entry.expires is not None:
                    expire = max(0, round((entry.expires - now) * 1000))
            data = codec.encode_entry(entry.key, layout, st.values(entry), self.tx)
            chunks.append(codec.encode_message(Update(update_id, expire, data)))
        self._write(b"".join(chunks))
        self._arm_heartbeat()
