"""Server selection for a backend, reproducing HAProxy 2.6's ``balance`` algorithms exactly.

Sans-IO: a :class:`Balancer` holds the per-backend state of one algorithm (HAProxy's
``lbprm``) and answers "which server for this new request?". It never touches sockets or time.

Shared rules (``src/backend.c``, ``include/haproxy/backend.h``):

* A server takes load-balanced traffic when it is ``usable()`` **and** has a weight above 0
  (``srv_willbe_usable``: weight 0 = drain).
* Backup servers are used only when no active server is; then only the first usable backup
  (declaration order) unless ``allbackups``. Quirk kept on purpose: the map-based algorithms
  (static-rr, source, uri) size their map by that first backup's weight but fill it from *all*
  usable backups (``recalc_server_map``), so with unequal backup weights a second backup can
  receive traffic. HAProxy 2.6 and 3.x behave that way.
* "Full" means ``maxconn`` set and ``load >= maxconn``.

The caller tells the balancer about changes: :meth:`Balancer.recalc` after any change of a
server's usability or weight (HAProxy's ``set_server_status_up/down`` and
``update_server_eweight`` callbacks, applied in declaration order), and
:meth:`Balancer.taken` / :meth:`Balancer.release` right after a server's ``load`` went up or
down (HAProxy's ``server_take_conn``/``server_drop_conn``, only leastconn uses them; it also
resynchronises lazily at pick time). A picked server found unusable without a ``recalc()``
triggers one, so an unusable server is never returned.

Deviations, all on paths a single-threaded caller with its own queue does not need:
``srvtoavoid`` is :meth:`Balancer.pick_avoiding` rather than an argument of every pick; when
all actives are down and the first backup is full, roundrobin/leastconn/first return ``None``
(the caller queues in the backend) where HAProxy would queue on that backup; leastconn
ignores ``maxqueue`` in its fullness test; ``source`` without an address falls back to the
map round robin (HAProxy: internal error).

Left to the caller, as in HAProxy's ``assign_server``: with roundrobin, static-rr and first, a
new request joins the backend queue without calling ``pick`` while that queue is not empty
(and does not hold every request of the backend), so queued requests are not overtaken.

Every algorithm was diffed against HAProxy 2.6.12 on loopback (random weights, maintenance and
weight changes through the stats socket, backups, ``maxconn`` saturation); the recorded
sequences are the test vectors in ``tests/balancer/test_algorithms.py``.
"""

from __future__ import annotations

import itertools
import socket
import struct
from bisect import bisect_left, insort
from collections.abc import Iterable, Sequence
from typing import ClassVar, Protocol

from stack.config import model

__all__ = [
    "BE_WEIGHT_SCALE",
    "SRV_EWGHT_MAX",
    "Balancer",
    "FirstBalancer",
    "LbServer",
    "LeastConnBalancer",
    "RoundRobinBalancer",
    "SourceBalancer",
    "StaticRoundRobinBalancer",
    "UriBalancer",
    "make_balancer",
    "sdbm",
    "source_hash",
    "uri_hash_input",
]

BE_WEIGHT_SCALE = 16  # eweight = uweight * 16 for the tree algorithms (backend-t.h)
SRV_UWGHT_RANGE = 256
SRV_EWGHT_MAX = 256 * BE_WEIGHT_SCALE  # 4096
_M32 = 0xFFFFFFFF  # HAProxy's npos/lpos/rweight/keys are unsigned 32-bit
_SDBM_MUL = 65599  # c + (h << 6) + (h << 16) - h  ==  c + h * 65599


class LbServer(Protocol):
    """What a balancer needs from a server. Read-only members: plain attributes satisfy them."""

    @property
    def name(self) -> str: ...

    @property
    def weight(self) -> int:
        """Configured (user) weight 0..256; 0 = no load-balanced traffic."""
        ...

    @property
    def backup(self) -> bool: ...

    @property
    def maxconn(self) -> int:
        """0 = unlimited."""
        ...

    def usable(self) -> bool:
        """Up and neither disabled nor in maintenance/drain."""
        ...

    @property
    def load(self) -> int:
        """Requests being served plus queued on this server."""
        ...


# --- hashing ---------------------------------------------------------------------------------


def sdbm(data: bytes) -> int:
    """HAProxy's default hash (``src/hash.c``), as uint32."""
    h = 0
    for c in data:
        h = (c + h * _SDBM_MUL) & _M32
    return h


def source_hash(src: bytes | str) -> int:
    """``get_server_sh``'s key: the address as big-endian 32-bit words XORed together.

    No sdbm is applied (HAProxy's "FIXME"). ``str`` is an address in text form; ``bytes`` of
    length 4 or 16 is a packed address (``sin_addr``/``sin6_addr``), other bytes are text.
    Raises ``OSError`` (from ``inet_pton``) or ``ValueError`` on a malformed address.
    """
    if isinstance(src, bytes):
        if len(src) == 4:
            return int.from_bytes(src, "big")
        if len(src) == 16:
            a, b, c, d = struct.unpack(">4I", src)
            return a ^ b ^ c ^ d
        src = src.decode("ascii")
    if ":" not in src:
        return int.from_bytes(socket.inet_pton(socket.AF_INET, src), "big")
    a, b, c, d = struct.unpack(">4I", socket.inet_pton(socket.AF_INET6, src))
    return a ^ b ^ c ^ d


def uri_hash_input(
    uri: bytes, *, whole: bool = False, length: int = 0, depth: int = 0, path_only: bool = False
) -> bytes:
    """The part of ``uri`` that ``balance uri`` hashes (``get_server_uh``).

    ``path_only`` first drops ``scheme://authority`` from an absolute URI (``http_parse_path``;
    an authority-form or ``*`` URI leaves nothing). Then ``length`` caps the characters looked
    at, and the scan stops at ``?`` (unless ``whole``) or at the ``depth+1``-th ``/``.
    """
    if path_only:
        uri = _parse_path(uri)
    if length:
        uri = uri[:length]
    end = len(uri)
    if not whole:
        q = uri.find(b"?")
        if q >= 0:
            end = q
    if depth:
        pos = -1
        for _ in range(depth + 1):
            pos = uri.find(b"/", pos + 1, end)
            if pos < 0:
                break
        else:
            end = pos
    return uri[:end]


def _parse_path(uri: bytes) -> bytes:
    """``http_parse_path``: the path of an origin-form or absolute URI, else ``b""``."""
    if not uri or uri[:1] == b"*":
        return b""
    if uri[:1] == b"/":
        return uri
    # absolute-form needs "alpha *(alnum / + - .) ://"; otherwise it is authority-form.
    if not uri[:1].isalpha():
        return b""
    i, n = 1, len(uri)
    while i < n and (uri[i : i + 1].isalnum() or uri[i] in b"+-."):
        i += 1
    if uri[i : i + 3] != b"://":
        return b""
    slash = uri.find(b"/", i + 3)
    return b"" if slash < 0 else uri[slash:]


# --- per-server state ------------------------------------------------------------------------


class _Slot:
    """One server plus the LB state HAProxy keeps in ``struct server``.

    ``cur_*`` is the committed state (``srv_currently_usable``), ``next_*`` the state being
    applied by ``recalc()`` (``srv_willbe_usable``).
    """

    __slots__ = (
        "backup",
        "cur_eweight",
        "cur_ok",
        "idx",
        "lb_tree",
        "lpos",
        "next_eweight",
        "next_ok",
        "node",
        "node_tree",
        "npos",
        "rweight",
        "srv",
        "wscore",
    )

    def __init__(self, srv: LbServer, idx: int) -> None:
        self.srv = srv
        self.idx = idx
        self.backup = bool(srv.backup)
        self.cur_ok = False
        self.cur_eweight = 0
        self.next_ok = False
        self.next_eweight = 0
        self.npos = 0
        self.lpos = 0
        self.rweight = 0
        self.wscore = 0
        self.lb_tree: _Tree | None = None  # logical tree (fwrr's init/next/curr)
        self.node: tuple[int, int, _Slot] | None = None
        self.node_tree: _Tree | None = None  # tree the node really sits in

    @property
    def currently_usable(self) -> bool:
        return self.cur_ok and self.cur_eweight > 0

    @property
    def willbe_usable(self) -> bool:
        return self.next_ok and self.next_eweight > 0

    @property
    def changed(self) -> bool:
        return self.cur_ok != self.next_ok or self.cur_eweight != self.next_eweight

    def commit(self) -> None:
        self.cur_ok = self.next_ok
        self.cur_eweight = self.next_eweight

    def full(self) -> bool:
        maxconn = self.srv.maxconn
        return bool(maxconn) and self.srv.load >= maxconn


class _Tree:
    """An ebtree stand-in: ordered by unsigned key, equal keys in insertion order (FIFO),
    which is what HAProxy's ``eb32_insert`` does and what makes its round robins turn."""

    __slots__ = ("items", "seq")

    def __init__(self, seq: itertools.count[int]) -> None:
        self.items: list[tuple[int, int, _Slot]] = []
        self.seq = seq

    def insert(self, slot: _Slot, key: int) -> None:
        node = (key & _M32, next(self.seq), slot)
        insort(self.items, node)  # (key, seq) is unique: slots are never compared
        slot.node = node
        slot.node_tree = self

    def first(self) -> _Slot | None:
        return self.items[0][2] if self.items else None


def _dequeue(slot: _Slot) -> None:
    """``eb32_delete``: detach the node wherever it is; no-op when detached."""
    tree = slot.node_tree
    if tree is not None and slot.node is not None:
        items = tree.items
        del items[bisect_left(items, slot.node)]
    slot.node_tree = None


# --- common base -----------------------------------------------------------------------------


class Balancer:
    """Common state and interface: counts of usable servers, weights, first backup.

    ``pick(src, uri)`` returns the server for a new non-persistent request or ``None``.
    """

    algorithm: ClassVar[model.Algorithm]

    def __init__(self, servers: Sequence[LbServer], *, allbackups: bool = False) -> None:
        self.allbackups = allbackups
        self._slots = [_Slot(s, i) for i, s in enumerate(servers)]
        self._by_id = {id(s.srv): s for s in self._slots}
        self.srv_act = 0
        self.srv_bck = 0
        self.tot_wact = 0
        self.tot_wbck = 0
        self.tot_weight = 0
        self.tot_used = 0
        self.fbck: _Slot | None = None

    @property
    def servers(self) -> tuple[LbServer, ...]:
        return tuple(s.srv for s in self._slots)

    def _eweight(self, weight: int) -> int:
        return max(weight, 0) * BE_WEIGHT_SCALE

    def _read_next(self) -> None:
        for s in self._slots:
            s.next_ok = bool(s.srv.usable())
            s.next_eweight = self._eweight(s.srv.weight)

    def _recount(self) -> None:
        """``recount_servers`` + ``update_backend_weight`` on the committed state."""
        act = bck = wact = wbck = 0
        fbck = None
        for s in self._slots:
            if not s.currently_usable:
                continue
            if s.backup:
                if not bck and not self.allbackups:
                    fbck = s
                bck += 1
                wbck += s.cur_eweight
            else:
                act += 1
                wact += s.cur_eweight
        self.srv_act, self.srv_bck, self.tot_wact, self.tot_wbck, self.fbck = (
            act,
            bck,
            wact,
            wbck,
            fbck,
        )
        if act:
            self.tot_weight, self.tot_used = wact, act
        elif fbck is not None:
            self.tot_weight, self.tot_used = fbck.cur_eweight, 1
        else:
            self.tot_weight, self.tot_used = wbck, bck

    def has_usable(self) -> bool:
        """True when some server (active or backup) can take load-balanced traffic."""
        return self.tot_weight > 0

    def recalc(self) -> None:
        """Apply usability/weight changes read from the servers."""
        raise NotImplementedError

    def pick(self, src: bytes | str | None = None, uri: bytes = b"") -> LbServer | None:
        slot = self._pick(src, uri)
        if slot is None:
            return None
        srv = slot.srv
        if srv.usable():
            return srv
        for _ in range(len(self._slots)):
            self.recalc()  # state changed behind our back: apply it, then choose again
            slot = self._pick(src, uri)
            if slot is None:
                return None
            if slot.srv.usable():
                return slot.srv
        return None

    def _pick(self, src: bytes | str | None, uri: bytes) -> _Slot | None:
        raise NotImplementedError

    def pick_avoiding(
        self, avoid: LbServer, src: bytes | str | None, uri: bytes
    ) -> LbServer | None:
        """A redispatch's pick: HAProxy's ``srvtoavoid``, the server whose connection just
        failed, is taken only when nothing else can be. The hash algorithms ignore it, as
        HAProxy's map-based hashing does."""
        return self.pick(src, uri)

    def _next_other(self, avoid: LbServer, src: bytes | str | None, uri: bytes) -> LbServer | None:
        """``pick_avoiding`` for the algorithms whose pick is a scan (first, leastconn): the
        usual pick, or when that is ``avoid``, the next usable, non-full server of the scan;
        ``avoid`` only when there is no other."""
        first = self.pick(src, uri)
        if first is not avoid:
            return first
        for s in self._candidates():
            if s.srv is not avoid and not s.full() and s.srv.usable():
                return s.srv
        return avoid

    def _candidates(self) -> Iterable[_Slot]:
        raise NotImplementedError

    def taken(self, server: LbServer) -> None:
        """``server``'s load just went up (request assigned or queued on it)."""

    def release(self, server: LbServer) -> None:
        """``server``'s load just went down (request finished or left its queue)."""


# --- roundrobin: lb_fwrr.c -------------------------------------------------------------------


class _FwrrGroup:
    """``struct fwrr_group``: the ``curr`` tree plus ``init``/``next`` (swapped t0/t1)."""

    __slots__ = ("curr", "curr_pos", "curr_weight", "init", "next", "next_weight", "t0", "t1")

    def __init__(self, weight: int, seq: itertools.count[int]) -> None:
        self.curr = _Tree(seq)
        self.t0 = _Tree(seq)
        self.t1 = _Tree(seq)
        self.init = self.t0
        self.next = self.t1
        self.curr_pos = self.curr_weight = self.next_weight = weight


class RoundRobinBalancer(Balancer):
    """``balance roundrobin``: HAProxy's fast weighted round robin (``src/lb_fwrr.c``).

    Why a faithful port rather than a smooth-WRR look-alike: the order (which server gets the
    first requests, how heavy servers are interleaved, what happens after a server comes back
    or was full) is visible to operators and to tests comparing with HAProxy.

    The model: each group (active, backup) has a window of ``curr_weight`` = sum of effective
    weights (``weight * 16``) and a cursor ``curr_pos`` that advances by one per pick. A server
    placed in the window has a next position ``npos``; the ``curr`` tree orders servers by
    ``npos * 256 + (4096 + rweight - eweight) / 16`` (position, then heavier first). A pick takes
    the head of ``curr`` if its ``npos <= curr_pos``; otherwise (a "hole") it takes the head of
    the ``init`` tree (servers not yet placed, heaviest first, then declaration order), whose
    first position is the cursor. The picked server moves on by ``next_weight / eweight``
    positions, the remainder accumulating in ``rweight`` until it buys one more position. A
    server whose next position falls beyond the window goes to the ``next`` tree; when ``curr``
    and ``init`` are both empty the trees switch and a new window starts. Full servers are taken
    out during a pick and put back afterwards as if they had been served, so they keep their
    turn (or, if the window switched meanwhile, they are re-placed by weight). Unsigned 32-bit
    arithmetic is reproduced where HAProxy's C relies on it.
    """

    algorithm = model.Algorithm.ROUNDROBIN

    def pick_avoiding(
        self, avoid: LbServer, src: bytes | str | None, uri: bytes
    ) -> LbServer | None:
        """``fwrr_get_next_server(px, srvtoavoid)``: the avoided server uses up its turn, as a
        full one does, and the next pick stands even if it is ``avoid`` again."""
        first = self.pick(src, uri)
        if first is not avoid:
            return first
        second = self.pick(src, uri)
        return avoid if second is None else second

    def __init__(self, servers: Sequence[LbServer], *, allbackups: bool = False) -> None:
        super().__init__(servers, allbackups=allbackups)
        self._seq = itertools.count()
        self._read_next()
        for s in self._slots:
            s.commit()
        self._recount()
        self.act = _FwrrGroup(self.tot_wact, self._seq)
        self.bck = _FwrrGroup(self.tot_wbck, self._seq)
        for s in self._slots:
            if s.currently_usable:
                self._queue_by_weight(self._grp(s).init, s)

    def _grp(self, s: _Slot) -> _FwrrGroup:
        return self.bck if s.backup else self.act

    # tree helpers (fwrr_queue_by_weight, fwrr_queue_srv, fwrr_get_srv, ...)

    @staticmethod
    def _queue_by_weight(tree: _Tree, s: _Slot) -> None:
        tree.insert(s, SRV_EWGHT_MAX - s.next_eweight)
        s.lb_tree = tree

    def _queue_srv(self, s: _Slot) -> None:
        grp = self.bck if s.backup else self.act
        if not (s.next_ok and s.next_eweight > 0):
            s.lb_tree = None
        elif (
            s.next_eweight == 0
            or s.npos >= (2 * grp.curr_weight) & _M32
            or s.npos >= (grp.curr_weight + grp.next_weight) & _M32
        ):
            s.npos = (s.npos - grp.curr_weight) & _M32
            self._queue_by_weight(grp.next, s)
        else:
            key = SRV_UWGHT_RANGE * s.npos + (
                ((SRV_EWGHT_MAX + s.rweight - s.next_eweight) & _M32) // BE_WEIGHT_SCALE
            )
            grp.curr.insert(s, key)
            s.lb_tree = grp.curr

    def _get_srv(self, s: _Slot) -> None:
        grp = self._grp(s)
        if s.lb_tree is grp.init:
            s.npos = s.rweight = 0
        elif s.lb_tree is grp.next:
            s.npos = (s.npos + grp.curr_weight) & _M32
        elif s.lb_tree is None:
            s.npos = grp.curr_pos & _M32

    @staticmethod
    def _switch_trees(grp: _FwrrGroup) -> None:
        grp.init, grp.next = grp.next, grp.init
        grp.curr_weight = grp.next_weight
        grp.curr_pos = grp.curr_weight

    # state changes

    def recalc(self) -> None:
        self._read_next()
        for s in self._slots:
            if s.changed:
                self._update_server_weight(s)
        self._recount()

    def _update_server_weight(self, s: _Slot) -> None:
        old, new = s.currently_usable, s.willbe_usable
        if not old and not new:
            s.commit()
            return
        if not old:
            self._set_status_up(s)
            return
        if not new:
            self._set_status_down(s)
            return
        grp = self._grp(s)
        grp.next_weight = grp.next_weight - s.cur_eweight + s.next_eweight
        if s.lb_tree is grp.init:
            _dequeue(s)
            self._queue_by_weight(grp.init, s)
        elif s.lb_tree is None:
            _dequeue(s)
            self._get_srv(s)
            self._place_new(grp, s)
            self._queue_srv(s)
        else:
            self._get_srv(s)
            if s.next_eweight > 0:
                prev_next = s.npos
                step = (grp.next_weight & _M32) // s.next_eweight
                s.npos = (s.lpos + step) & _M32
                s.rweight = 0
                if s.npos > prev_next:
                    s.npos = prev_next
                if s.npos < (grp.curr_pos + 2) & _M32:
                    s.npos = (grp.curr_pos + step) & _M32
            else:
                s.npos = (grp.curr_pos + grp.curr_weight) & _M32
            _dequeue(s)
            self._queue_srv(s)
        s.commit()

    @staticmethod
    def _place_new(grp: _FwrrGroup, s: _Slot) -> None:
        span = (grp.next_weight + grp.curr_weight - grp.curr_pos) & _M32
        s.npos = (grp.curr_pos + span // s.next_eweight) & _M32

    def _set_status_up(self, s: _Slot) -> None:
        grp = self._grp(s)
        grp.next_weight += s.next_eweight
        self._get_srv(s)
        self._place_new(grp, s)
        self._queue_srv(s)
        s.commit()

    def _set_status_down(self, s: _Slot) -> None:
        grp = self._grp(s)
        grp.next_weight -= s.cur_eweight
        _dequeue(s)
        s.lb_tree = None
        s.commit()

    # selection (fwrr_get_next_server)

    def _pick(self, src: bytes | str | None, uri: bytes) -> _Slot | None:
        # The tree helpers above are inlined here: this runs once per request.
        if self.srv_act:
            grp = self.act
        elif self.fbck is not None:
            return None if self.fbck.full() else self.fbck
        elif self.srv_bck:
            grp = self.bck
        else:
            return None
        switched = False
        full: list[_Slot] | None = None
        srv: _Slot | None = None
        while True:
            if not grp.curr_weight:
                grp.curr_pos = grp.curr_weight = grp.next_weight
            while True:  # fwrr_get_server_from_group, switching trees once if both are empty
                items = grp.curr.items
                srv = items[0][2] if items else None
                if srv is None or not srv.cur_eweight or srv.npos > (grp.curr_pos & _M32):
                    items = grp.init.items
                    first = items[0][2] if items else None
                    if first is not None and first.cur_eweight:
                        first.npos = first.rweight = 0
                        srv = first
                if srv is not None or switched:
                    break
                switched = True
                self._switch_trees(grp)
            if srv is None:
                break
            # fwrr_update_position
            ew = srv.cur_eweight
            if ew:
                if not srv.npos:
                    srv.npos = grp.curr_pos & _M32
                srv.lpos = srv.npos
                nw = grp.next_weight & _M32
                srv.npos = (srv.npos + nw // ew) & _M32
                srv.rweight = (srv.rweight + nw % ew) & _M32
                if srv.rweight >= ew:
                    srv.rweight -= ew
                    srv.npos = (srv.npos + 1) & _M32
            # eb32_delete: the node is the head of the tree it was just taken from
            tree = srv.node_tree
            node = srv.node
            if tree is not None and node is not None:
                items = tree.items
                if items[0] is node:
                    del items[0]
                else:
                    del items[bisect_left(items, node)]
            srv.node_tree = None
            grp.curr_pos += 1
            lb = srv.srv
            maxconn = lb.maxconn
            if not maxconn or lb.load < maxconn:
                self._queue_srv(srv)
                break
            if full is None:
                full = []
            full.append(srv)
        if full is not None:
            # HAProxy chains saturated servers head-first, so they are requeued last-in first.
            for f in reversed(full):
                if switched:
                    self._queue_by_weight(grp.init, f)
                else:
                    self._queue_srv(f)
        return srv


# --- map-based: lb_map.c (static-rr, source, uri) -------------------------------------------


class _MapBalancer(Balancer):
    """The server map of ``lb_map.c``: ``tot_weight`` slots filled by ``recalc_server_map``.

    Effective weights are ``weight / gcd`` with the GCD taken once over the configured weights
    (``init_server_map``), so a later weight change does not resize the hash space the way a
    fresh GCD would.
    """

    def __init__(self, servers: Sequence[LbServer], *, allbackups: bool = False) -> None:
        super().__init__(servers, allbackups=allbackups)
        self.wmult = _initial_gcd([s.srv.weight for s in self._slots])
        self.map: list[_Slot] = []
        self.rr_idx = 0
        self.recalc()

    def _eweight(self, weight: int) -> int:
        return (max(weight, 0) + self.wmult - 1) // self.wmult

    def recalc(self) -> None:
        self._read_next()
        for s in self._slots:
            s.commit()
        self._recount()
        self._build_map()

    def _build_map(self) -> None:
        """``recalc_server_map``: smooth weighted interleave, earliest declared wins ties."""
        tot = self.tot_weight
        if not self.tot_used:
            return
        backup = not self.srv_act
        cands = [s for s in self._slots if s.backup == backup and s.currently_usable]
        for s in self._slots:
            s.wscore = 0
        out: list[_Slot] = []
        for _ in range(tot):
            if tot == 1:
                out.append(cands[0])
                break
            best: _Slot | None = None
            vmax = 0
            for s in cands:
                s.wscore += s.cur_eweight
                v = (s.wscore + tot) // tot
                if best is None or v > vmax:
                    vmax, best = v, s
            assert best is not None
            best.wscore -= tot
            out.append(best)
        self.map = out

    def _map_rr(self) -> _Slot | None:
        """``map_get_server_rr``: walk the map from the last index, skipping full servers."""
        tot = self.tot_weight
        if not tot:
            return None
        if self.rr_idx < 0 or self.rr_idx >= tot:
            self.rr_idx = 0
        start = newidx = self.rr_idx
        smap = self.map
        while True:
            srv = smap[newidx]
            newidx += 1
            if not srv.full():
                self.rr_idx = newidx
                return srv
            if newidx == tot:
                newidx = 0
            if newidx == start:
                return None

    def _map_hash(self, h: int) -> _Slot | None:
        tot = self.tot_weight
        return self.map[h % tot] if tot else None


def _initial_gcd(weights: Sequence[int]) -> int:
    """``init_server_map``'s GCD: start at the first non-zero weight, zeros are neutral."""
    pgcd = 1
    it = iter(weights)
    for w in it:
        if w:
            pgcd = w
            break
    for w in it:
        if pgcd <= 1:
            break
        while w:
            pgcd, w = w, pgcd % w
    return max(pgcd, 1)


class StaticRoundRobinBalancer(_MapBalancer):
    """``balance static-rr``: walk the precomputed map."""

    algorithm = model.Algorithm.STATIC_RR

    def _pick(self, src: bytes | str | None, uri: bytes) -> _Slot | None:
        return self._map_rr()

    def pick_avoiding(
        self, avoid: LbServer, src: bytes | str | None, uri: bytes
    ) -> LbServer | None:
        """``map_get_server_rr``: walk on past ``avoid`` to the next other entry of the map."""
        for _ in range(max(self.tot_weight, 1)):
            server = self.pick(src, uri)
            if server is None or server is not avoid:
                return server
        return avoid


class SourceBalancer(_MapBalancer):
    """``balance source``: ``map[addr_xor % tot_weight]``; one usable server means no hash."""

    algorithm = model.Algorithm.SOURCE

    def _pick(self, src: bytes | str | None, uri: bytes) -> _Slot | None:
        if not self.tot_weight:
            return None
        if self.tot_used == 1:
            return self.map[0]
        if src is None:
            return self._map_rr()
        try:
            h = source_hash(src)
        except (OSError, ValueError):  # not an address: no key, as for a missing parameter
            return self._map_rr()
        return self.map[h % self.tot_weight]


class UriBalancer(_MapBalancer):
    """``balance uri [whole] [len N] [depth N] [path-only]``: sdbm of the URI, map lookup.

    ``uri`` passed to :meth:`pick` is the request target as received (HAProxy hashes the
    start line's URI, absolute form included unless ``path-only``).
    """

    algorithm = model.Algorithm.URI

    def __init__(
        self,
        servers: Sequence[LbServer],
        *,
        whole: bool = False,
        length: int = 0,
        depth: int = 0,
        path_only: bool = False,
        allbackups: bool = False,
    ) -> None:
        self.whole, self.length, self.depth, self.path_only = whole, length, depth, path_only
        super().__init__(servers, allbackups=allbackups)

    def _pick(self, src: bytes | str | None, uri: bytes) -> _Slot | None:
        if not self.tot_weight:
            return None
        if self.tot_used == 1:
            return self.map[0]
        key = uri_hash_input(
            uri, whole=self.whole, length=self.length, depth=self.depth, path_only=self.path_only
        )
        return self.map[sdbm(key) % self.tot_weight]


# --- leastconn: lb_fwlc.c --------------------------------------------------------------------


class LeastConnBalancer(Balancer):
    """``balance leastconn`` (``src/lb_fwlc.c`` as of 2.6).

    Servers sit in a tree keyed ``(load + 1) * 4096 / eweight`` (0 when idle), equal keys in
    insertion order. A server is re-inserted only when its key changes, at the end of its
    equals: that is what turns ties into a round robin. The first non-full server in tree order
    wins. Keys follow ``taken()``/``release()``; ``pick`` also re-syncs any key that no longer
    matches ``load`` (in declaration order) so a forgotten hook cannot freeze the order.
    """

    algorithm = model.Algorithm.LEASTCONN

    def __init__(self, servers: Sequence[LbServer], *, allbackups: bool = False) -> None:
        super().__init__(servers, allbackups=allbackups)
        seq = itertools.count()
        self.act = _Tree(seq)
        self.bck = _Tree(seq)
        self._read_next()
        for s in self._slots:
            s.commit()
        self._recount()
        for s in self._slots:
            if s.currently_usable:
                s.lb_tree = self.bck if s.backup else self.act
                s.lb_tree.insert(s, self._key(s, s.next_eweight))

    @staticmethod
    def _key(s: _Slot, eweight: int) -> int:
        inflight = s.srv.load
        return (inflight + 1) * SRV_EWGHT_MAX // (eweight or 1) if inflight > 0 else 0

    def recalc(self) -> None:
        self._read_next()
        for s in self._slots:
            if not s.changed:
                continue
            old, new = s.currently_usable, s.willbe_usable
            if old or new:
                _dequeue(s)
                s.lb_tree = None
            if new:
                s.lb_tree = self.bck if s.backup else self.act
                s.lb_tree.insert(s, self._key(s, s.next_eweight))
            s.commit()
        self._recount()

    def _reposition(self, s: _Slot) -> None:
        """``fwlc_srv_reposition``: move only when the key changed."""
        tree = s.lb_tree
        if tree is None:
            return
        key = self._key(s, s.cur_eweight)
        if s.node_tree is not None and s.node is not None and s.node[0] == key:
            return
        _dequeue(s)
        tree.insert(s, key)

    def taken(self, server: LbServer) -> None:
        slot = self._by_id.get(id(server))
        if slot is not None:
            self._reposition(slot)

    release = taken

    def _pick(self, src: bytes | str | None, uri: bytes) -> _Slot | None:
        if self.srv_act:
            tree = self.act
        elif self.fbck is not None:
            return None if self.fbck.full() else self.fbck
        elif self.srv_bck:
            tree = self.bck
        else:
            return None
        for s in self._slots:
            if (
                s.lb_tree is tree
                and s.node is not None
                and s.node[0] != self._key(s, s.cur_eweight)
            ):
                self._reposition(s)
        for _key, _seq, s in tree.items:
            if not s.full():
                return s
        return None

    def _candidates(self) -> Iterable[_Slot]:
        """``fwlc_get_next_server`` with ``srvtoavoid``: tree order."""
        tree = self.bck if not self.srv_act and self.fbck is None else self.act
        return (s for _key, _seq, s in tree.items)

    pick_avoiding = Balancer._next_other


# --- first: lb_fas.c -------------------------------------------------------------------------


class FirstBalancer(Balancer):
    """``balance first``: the first usable server (declaration order) that is not full."""

    algorithm = model.Algorithm.FIRST

    def __init__(self, servers: Sequence[LbServer], *, allbackups: bool = False) -> None:
        super().__init__(servers, allbackups=allbackups)
        self._act: tuple[_Slot, ...] = ()
        self._bck: tuple[_Slot, ...] = ()
        self.recalc()

    def recalc(self) -> None:
        self._read_next()
        for s in self._slots:
            s.commit()
        self._recount()
        self._act = tuple(s for s in self._slots if s.currently_usable and not s.backup)
        self._bck = tuple(s for s in self._slots if s.currently_usable and s.backup)

    def _pick(self, src: bytes | str | None, uri: bytes) -> _Slot | None:
        if self.srv_act:
            group = self._act
        elif self.fbck is not None:
            return None if self.fbck.full() else self.fbck
        else:
            group = self._bck
        for s in group:
            if not s.full():
                return s
        return None

    def _candidates(self) -> Iterable[_Slot]:
        """``fas_get_next_server`` with ``srvtoavoid``: declaration order."""
        return self._act if self.srv_act else self._bck

    pick_avoiding = Balancer._next_other


# --- factory ---------------------------------------------------------------------------------


def make_balancer(
    balance: model.Balance, servers: Sequence[LbServer], *, allbackups: bool = False
) -> Balancer:
    """The balancer for a backend's ``balance`` line."""
    algo = balance.algorithm
    if algo is model.Algorithm.ROUNDROBIN:
        return RoundRobinBalancer(servers, allbackups=allbackups)
    if algo is model.Algorithm.STATIC_RR:
        return StaticRoundRobinBalancer(servers, allbackups=allbackups)
    if algo is model.Algorithm.LEASTCONN:
        return LeastConnBalancer(servers, allbackups=allbackups)
    if algo is model.Algorithm.FIRST:
        return FirstBalancer(servers, allbackups=allbackups)
    if algo is model.Algorithm.SOURCE:
        return SourceBalancer(servers, allbackups=allbackups)
    if algo is model.Algorithm.URI:
        return UriBalancer(
            servers,
            whole=balance.uri_whole,
            length=balance.uri_len,
            depth=balance.uri_depth,
            path_only=balance.uri_path_only,
            allbackups=allbackups,
        )
    raise ValueError(f"unsupported balance algorithm {algo!r}")
