"""The cache's disk store: mod_cache_disk's files and htcacheclean's size limit, in process.

Layout. Each stored variant (a response for one primary key, the URL, and one secondary key
built from its Vary fields) is two files in one of 256 subdirectories picked by the hash of
key and variant::

    <directory>/ab/ab12….meta           the head and the facts below
    <directory>/ab/ab12…-<unique>.body  the body, exactly as it is sent

A meta file is::

    b"stack-cache 1\\n"          magic and format version
    >I payload length
    payload                     ASCII JSON, bytes as latin-1 strings (lossless)
    >I CRC32 of the payload

and the payload holds the key, variant, Vary field names, status, reason, headers, request and
response times, the body file's name, length and CRC32. The meta's name must be the hash of
the key and variant it holds and the body's name must start with it, so one body belongs to
one meta.

Atomicity. A body is written to ``….body.tmp`` as it streams in (one ``os.write`` per piece
received, on the reactor thread), renamed when complete, then the meta is written to a temp
name and ``os.replace``\\ d over the old one: publication is that last rename. A crash before
it leaves a ``.tmp`` or a body no meta names, both deleted at the next load. Nothing is
fsynced: the cache is disposable, a process crash cannot tear an entry (the kernel has the
data before the rename), and what power loss can tear is caught by the CRCs checked at load.
Skipping fsync spares a disk flush and a thread hop per stored response.

A freshened entry (after a 304) gets a new meta naming the same body. A replaced variant's
old body is deleted after the new meta is in place; a reader that already opened it keeps
reading the unlinked file.

Memory. The index of every variant lives in memory (``key -> variants``); bodies up to
``memory_object`` bytes are kept in memory too, least recently used dropped past
``memory_limit`` (only the memory copy goes; the entry is then read from disk).

The reactor is never blocked for long: loading (which reads and checks every file) runs in
a thread; bodies are read 64 KiB at a time, a few per reactor turn, pausing while the client
cannot take more; the size limit is enforced in batches; bodies are unlinked in a thread.
Meta files are unlinked on the reactor (small, and it orders withdrawal against a new
publication under the same name).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import struct
import zlib
from collections import OrderedDict
from collections.abc import Callable
from typing import Any, Protocol

from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IDelayedCall, IPushProducer
from twisted.internet.task import LoopingCall
from twisted.internet.threads import deferToThreadPool
from twisted.python.failure import Failure
from zope.interface import implementer

from stack.http.message import Headers

__all__ = [
    "MAGIC",
    "BodySender",
    "BodyTarget",
    "CacheStore",
    "EntryWriter",
    "StoredResponse",
    "entry_name",
]

MAGIC = b"stack-cache 1\n"
READ_CHUNK = 65536  # one disk read while sending a body
READS_PER_TURN = 4  # disk reads per reactor turn for one body
BATCH = 256  # entries dropped, or files unlinked, per reactor turn
MAX_META = 1 << 24  # a larger meta file is not one of ours
_LEN = struct.Struct(">I")
_META_RE = re.compile(r"[0-9a-f]{64}\.meta\Z")
_BODY_RE = re.compile(r"([0-9a-f]{64})-[0-9a-f]{16}\.body\Z")
_SUBDIR_RE = re.compile(r"[0-9a-f]{2}\Z")


def entry_name(key: bytes, variant: bytes) -> str:
    """The hex name of a variant's files: length-prefixed so no two (key, variant) pairs
    hash the same input."""
    return hashlib.sha256(b"%d:" % len(key) + key + variant).hexdigest()


class StoredResponse:
    """One stored variant: what the glue needs to choose and serve it, and where it lives.

    ``last_used`` orders both the size-limit cleaning and the in-memory bodies; after a
    restart it starts as ``response_time``. ``size`` is what it takes on disk (meta + body).
    """

    __slots__ = (
        "body",
        "body_name",
        "crc",
        "facts",
        "headers",
        "key",
        "last_used",
        "length",
        "name",
        "reason",
        "request_time",
        "response_time",
        "size",
        "status",
        "variant",
        "vary",
    )

    def __init__(
        self,
        key: bytes,
        variant: bytes,
        vary: tuple[bytes, ...],
        status: int,
        reason: bytes,
        headers: Headers,
        request_time: float,
        response_time: float,
        length: int,
        crc: int,
        body_name: str,
        size: int,
        body: bytes | None = None,
        last_used: float | None = None,
    ) -> None:
        self.key = key
        self.variant = variant
        self.vary = vary
        self.status = status
        self.reason = reason
        self.headers = headers
        self.request_time = request_time
        self.response_time = response_time
        self.length = length
        self.crc = crc
        self.body_name = body_name
        self.size = size
        self.body = body
        self.last_used = response_time if last_used is None else last_used
        self.name = entry_name(key, variant)
        self.facts: Any = None  # the glue's freshness facts, worked out once

    def __repr__(self) -> str:
        return f"<StoredResponse {self.key!r} {self.variant!r} {self.status} {self.length}B>"


# -- meta files ----------------------------------------------------------------------------------


class _Corrupt(Exception):
    """A file that fails a check; the message is the reason logged."""


def _s(data: bytes) -> str:
    return data.decode("latin-1")


def encode_meta(entry: StoredResponse) -> bytes:
    payload = json.dumps(
        {
            "key": _s(entry.key),
            "variant": _s(entry.variant),
            "vary": [_s(v) for v in entry.vary],
            "status": entry.status,
            "reason": _s(entry.reason),
            "headers": [[_s(n), _s(v)] for n, v in entry.headers],
            "request_time": entry.request_time,
            "response_time": entry.response_time,
            "body": entry.body_name,
            "length": entry.length,
            "crc": entry.crc,
        },
        separators=(",", ":"),
    ).encode("ascii")
    return b"".join((MAGIC, _LEN.pack(len(payload)), payload, _LEN.pack(zlib.crc32(payload))))


def _b(value: object) -> bytes:
    if not isinstance(value, str):
        raise _Corrupt("bad field type")
    try:
        return value.encode("latin-1")
    except UnicodeEncodeError:
        raise _Corrupt("bad field value") from None


def _num(value: object, kind: type | tuple[type, ...]) -> Any:
    if isinstance(value, bool) or not isinstance(value, kind):
        raise _Corrupt("bad field type")
    return value


def decode_meta(data: bytes, name: str) -> StoredResponse:
    """Parse and check a meta file's bytes (``name`` is its hex name); raises ``_Corrupt``."""
    if not data.startswith(MAGIC):
        if data.startswith(b"stack-cache "):
            raise _Corrupt("unknown format version")
        raise _Corrupt("bad magic")
    head = len(MAGIC) + 4
    if len(data) < head + 4:
        raise _Corrupt("truncated")
    (size,) = _LEN.unpack_from(data, len(MAGIC))
    if len(data) != head + size + 4:
        raise _Corrupt("truncated" if len(data) < head + size + 4 else "trailing data")
    payload = data[head : head + size]
    if zlib.crc32(payload) != _LEN.unpack_from(data, head + size)[0]:
        raise _Corrupt("meta CRC mismatch")
    try:
        fields = json.loads(payload)
        headers = [(_b(n), _b(v)) for n, v in fields["headers"]]
        entry = StoredResponse(
            key=_b(fields["key"]),
            variant=_b(fields["variant"]),
            vary=tuple(_b(v) for v in fields["vary"]),
            status=_num(fields["status"], int),
            reason=_b(fields["reason"]),
            headers=headers,
            request_time=float(_num(fields["request_time"], (int, float))),
            response_time=float(_num(fields["response_time"], (int, float))),
            length=_num(fields["length"], int),
            crc=_num(fields["crc"], int),
            body_name=fields["body"],
            size=len(data) + _num(fields["length"], int),
        )
    except _Corrupt:
        raise
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise _Corrupt(f"bad payload ({exc.__class__.__name__})") from None
    if entry.name != name:
        raise _Corrupt("name does not match key")
    match = _BODY_RE.match(entry.body_name) if isinstance(entry.body_name, str) else None
    if match is None or match.group(1) != name:
        raise _Corrupt("bad body name")
    if entry.length < 0:
        raise _Corrupt("bad length")
    return entry


# -- loading (in a thread) -----------------------------------------------------------------------


def _remove(path: str, reason: str, logs: list[str]) -> None:
    logs.append(f"cache: removing {path}: {reason}")
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
    except OSError as exc:
        logs.append(f"cache: cannot remove {path}: {exc.strerror}")


def _check_body(path: str, entry: StoredResponse) -> None:
    crc = 0
    try:
        with open(path, "rb", buffering=0) as f:
            if os.fstat(f.fileno()).st_size != entry.length:
                raise _Corrupt("body length mismatch")
            while chunk := f.read(1 << 20):
                crc = zlib.crc32(chunk, crc)
    except FileNotFoundError:
        raise _Corrupt("body file missing") from None
    if crc != entry.crc:
        raise _Corrupt("body CRC mismatch")


def load_directory(directory: str) -> tuple[list[StoredResponse], list[str]]:
    """Create the directory tree, read and check every entry, and delete what fails: temp
    files, entries failing a check, bodies no meta names. Returns the good entries and log
    lines (logged on the reactor: the log callable need not be thread-safe).

    Files that are not ours are left alone (and logged)."""
    logs: list[str] = []
    entries: list[StoredResponse] = []
    os.makedirs(directory, exist_ok=True)
    for i in range(256):
        os.makedirs(os.path.join(directory, f"{i:02x}"), exist_ok=True)
    for sub in sorted(os.listdir(directory)):
        if not _SUBDIR_RE.match(sub):
            continue
        subdir = os.path.join(directory, sub)
        metas: list[str] = []
        bodies: set[str] = set()
        for name in sorted(os.listdir(subdir)):
            path = os.path.join(subdir, name)
            if name.endswith(".tmp"):
                _remove(path, "unfinished write", logs)
            elif _META_RE.match(name) and name.startswith(sub):
                metas.append(name)
            elif _BODY_RE.match(name) and name.startswith(sub):
                bodies.add(name)
            else:
                logs.append(f"cache: ignoring unknown file {path}")
        used: set[str] = set()
        for name in metas:
            path = os.path.join(subdir, name)
            try:
                with open(path, "rb") as f:
                    data = f.read(MAX_META + 1)
                if len(data) > MAX_META:
                    raise _Corrupt("too large")
                entry = decode_meta(data, name[:-5])
                if entry.body_name not in bodies:
                    raise _Corrupt("body file missing")
                _check_body(os.path.join(subdir, entry.body_name), entry)
            except _Corrupt as exc:
                _remove(path, str(exc), logs)
                continue
            except OSError as exc:
                _remove(path, f"unreadable ({exc.strerror})", logs)
                continue
            used.add(entry.body_name)
            entries.append(entry)
        for name in sorted(bodies - used):
            _remove(os.path.join(subdir, name), "no meta file names it", logs)
    return entries, logs


def _unlink_all(paths: list[str]) -> list[str]:
    """Unlink files (in a thread); returns log lines for the failures that matter."""
    logs = []
    for path in paths:
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass
        except OSError as exc:
            logs.append(f"cache: cannot remove {path}: {exc.strerror}")
    return logs


# -- writing -------------------------------------------------------------------------------------


class EntryWriter:
    """A response being stored as it streams to the client.

    ``write`` each piece as it arrives (it goes to the temp body file at once, so memory
    stays bounded); ``finish`` publishes, ``abort`` gives up. A writer that was discarded
    (body over ``max_object``, a disk error, a purge of its key while it was being written,
    the store not ready or stopped) ignores everything and publishes nothing.
    """

    def __init__(
        self,
        store: CacheStore,
        entry: StoredResponse,
        fd: int | None,
        tmp: str,
    ) -> None:
        self._store = store
        self.entry = entry
        self._fd = fd
        self._tmp = tmp
        self._crc = 0
        self._length = 0
        # The body kept for memory while it is small enough; None past memory_object.
        self._pieces: list[bytes] | None = [] if fd is not None else None
        self.discarded = fd is None

    @property
    def key(self) -> bytes:
        return self.entry.key

    def write(self, data: bytes) -> bool:
        """Store the next piece of the body; ``False`` once the writer has been discarded."""
        if self.discarded:
            return False
        store = self._store
        length = self._length + len(data)
        if length > store.max_object:
            self._discard(None)
            return False
        fd = self._fd
        assert fd is not None
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
        except OSError as exc:
            self._discard(f"cache: cannot write {self._tmp}: {exc.strerror}")
            return False
        self._crc = zlib.crc32(data, self._crc)
        self._length = length
        pieces = self._pieces
        if pieces is not None:
            if length <= store.memory_object:
                pieces.append(data)
            else:
                self._pieces = None
        return True

    def finish(self) -> StoredResponse | None:
        """Publish the entry atomically, replacing the stored variant with the same key and
        variant; ``None`` when discarded (or on a disk error, which is logged)."""
        if self.discarded:
            return None
        store = self._store
        fd = self._fd
        assert fd is not None
        self._fd = None
        self.discarded = True
        store._writers.discard(self)
        entry = self.entry
        entry.length = self._length
        entry.crc = self._crc
        body_path = store._path(entry, entry.body_name)
        try:
            os.close(fd)
            os.rename(self._tmp, body_path)
        except OSError as exc:
            store.log(f"cache: cannot store {body_path}: {exc.strerror}")
            store._doom_body(self._tmp)
            store._reap()
            return None
        if not store._publish(entry, body_path):
            return None
        pieces = self._pieces
        if pieces is not None and entry.length <= store.memory_object:
            store._remember(entry, b"".join(pieces))
        return entry

    def abort(self) -> None:
        """The response broke off: forget it and delete the temp file."""
        if not self.discarded:
            self._discard(None)

    def _discard(self, message: str | None) -> None:
        self.discarded = True
        self._pieces = None
        self._store._writers.discard(self)
        if message:
            self._store.log(message)
        fd, self._fd = self._fd, None
        if fd is not None:
            with contextlib.suppress(OSError):
                os.close(fd)
            self._store._doom_body(self._tmp)
            self._store._reap()


# -- reading -------------------------------------------------------------------------------------


class BodyTarget(Protocol):
    """What a body is streamed into; :class:`stack.http.server.Exchange` is one."""

    def write(self, data: bytes) -> None: ...

    def flush(self) -> None: ...

    def register_producer(self, producer: IPushProducer) -> None: ...

    def unregister_producer(self) -> None: ...


@implementer(IPushProducer)
class BodySender:
    """One body being sent from disk: a push producer the target pauses and resumes.

    ``stop()`` (the glue, when the client went away) and ``stopProducing`` (the transport,
    when the connection is lost) end it quietly: the file is closed and ``done`` is not
    called, whoever stopped it knows. The last chunk is written only once the whole body's
    CRC has matched, so a corrupt body never reaches a client complete: the glue has sent
    the head already, and on ``done(False)`` it must abort the connection, which the client
    sees as a truncated response.
    """

    def __init__(
        self,
        store: CacheStore | None,
        entry: StoredResponse | None,
        target: BodyTarget | None,
        done: Callable[[bool], None] | None,
        fd: int | None,
    ) -> None:
        self._store = store
        self._entry = entry
        self._target = target
        self._done = done
        self._fd = fd
        self._sent = 0
        self._crc = 0
        self._paused = False
        self._call: IDelayedCall | None = None
        self._keep: list[bytes] | None = None
        if store is not None and entry is not None and entry.length <= store.memory_object:
            self._keep = []
        self.finished = fd is None

    def _start(self) -> None:
        assert self._target is not None
        self._target.register_producer(self)
        self._pump()

    def pauseProducing(self) -> None:
        self._paused = True
        call, self._call = self._call, None
        if call is not None and call.active():
            call.cancel()

    def resumeProducing(self) -> None:
        self._paused = False
        if not self.finished and self._call is None:
            assert self._store is not None
            self._call = self._store.reactor.callLater(0, self._pump)

    def stopProducing(self) -> None:
        # The consumer is dropping us (its connection is gone): no unregistering from it.
        if not self.finished:
            self._target = None
            self._end(None)

    def stop(self) -> None:
        """Stop sending (the client went away); ``done`` is not called."""
        if not self.finished:
            self._end(None)

    def _pump(self) -> None:
        self._call = None
        store = self._store
        entry = self._entry
        target = self._target
        assert store is not None and entry is not None and target is not None
        fd = self._fd
        assert fd is not None
        for _ in range(READS_PER_TURN):
            if self.finished or self._paused:
                return
            want = min(READ_CHUNK, entry.length - self._sent)
            try:
                chunk = os.read(fd, want)
            except OSError as exc:
                self._fail(f"read error ({exc.strerror})")
                return
            if len(chunk) != want:
                self._fail("body file shorter than its meta says")
                return
            self._sent += want
            self._crc = zlib.crc32(chunk, self._crc)
            if self._keep is not None:
                self._keep.append(chunk)
            if self._sent == entry.length:
                # Withhold the last chunk until the whole body is known to be right.
                if self._crc != entry.crc:
                    self._fail("body CRC mismatch")
                    return
                target.write(chunk)
                target.flush()
                if self._keep is not None and entry.body is None:
                    store._remember(entry, b"".join(self._keep))
                self._end(True)
                return
            target.write(chunk)
        target.flush()
        if not self.finished and not self._paused:
            self._call = store.reactor.callLater(0, self._pump)

    def _fail(self, reason: str) -> None:
        store = self._store
        entry = self._entry
        assert store is not None and entry is not None
        store.log(f"cache: dropping {store._path(entry, entry.body_name)}: {reason}")
        store.remove_entry(entry)
        self._end(False)

    def _end(self, ok: bool | None) -> None:
        self.finished = True
        self._keep = None
        call, self._call = self._call, None
        if call is not None and call.active():
            call.cancel()
        fd, self._fd = self._fd, None
        if fd is not None:
            with contextlib.suppress(OSError):
                os.close(fd)
        target, self._target = self._target, None
        if target is not None:
            target.unregister_producer()
        done, self._done = self._done, None
        if ok is not None and done is not None:
            done(ok)


# -- the store -----------------------------------------------------------------------------------


class CacheStore:
    """Stored responses on disk under ``directory``, indexed in memory.

    Nothing is served until the index is loaded (``start``): meanwhile ``variants`` finds
    nothing, writers are discarded, and purges are remembered and applied to what loads.
    """

    def __init__(
        self,
        directory: str,
        reactor: Any,
        *,
        size_limit: int,
        memory_limit: int,
        max_object: int,
        clean_interval: float,
        log: Callable[[str], None],
        run_in_thread: Callable[..., Deferred[Any]] | None = None,
        memory_object: int | None = None,
    ) -> None:
        self.directory = directory
        self.reactor = reactor
        self.size_limit = size_limit
        self.memory_limit = memory_limit
        self.max_object = max_object
        # Bodies up to this size are also kept in memory (default: an eighth of the budget,
        # so a few large objects cannot flush every small one).
        self.memory_object = min(
            max_object, memory_limit, memory_limit // 8 if memory_object is None else memory_object
        )
        self.clean_interval = clean_interval
        self.log = log
        if run_in_thread is None:

            def run_in_thread(f: Callable[..., Any], *args: Any) -> Deferred[Any]:
                return deferToThreadPool(reactor, reactor.getThreadPool(), f, *args)

        self._run = run_in_thread
        self._index: dict[bytes, list[StoredResponse]] = {}
        self._lru: OrderedDict[StoredResponse, None] = OrderedDict()  # oldest use first
        self._memory: OrderedDict[StoredResponse, None] = OrderedDict()
        self._memory_bytes = 0
        self._bytes = 0
        self._ready = False
        self._stopped = False
        self._writers: set[EntryWriter] = set()
        self._pending_purges: list[tuple[bool, bytes]] = []  # (prefix?, key) before ready
        # Files to delete, in reactor-turn batches: metas here (ordered against publication),
        # bodies in a thread.
        self._doomed_metas: dict[str, None] = {}
        self._doomed_bodies: list[str] = []
        self._reaping: IDelayedCall | None = None
        self._unlinking = False
        self._cleaner: LoopingCall | None = None
        self._cleaning: list[Deferred[None]] | None = None
        self._clean_call: IDelayedCall | None = None
        self._unique = 0

    # -- lifecycle ---------------------------------------------------------------------------------

    def start(self) -> Deferred[None]:
        """Create the directory, load the index in a thread, then start cleaning."""
        d = self._run(load_directory, self.directory)
        d.addCallback(self._loaded)
        d.addErrback(self._load_failed)
        return d

    def _loaded(self, result: tuple[list[StoredResponse], list[str]]) -> None:
        entries, logs = result
        for line in logs:
            self.log(line)
        if self._stopped:
            return
        entries.sort(key=lambda e: e.response_time)
        for entry in entries:
            self._insert(entry)
        self._ready = True
        purges, self._pending_purges = self._pending_purges, []
        for prefix, key in purges:
            if prefix:
                self.purge_prefix(key)
            else:
                self.remove(key)
        cleaner = self._cleaner = LoopingCall(self._tick)
        cleaner.clock = self.reactor
        cleaner.start(self.clean_interval, now=False).addErrback(self._tick_failed)
        if self._bytes > self.size_limit:
            self.clean()

    def _load_failed(self, failure: Failure) -> Failure:
        self.log(f"cache: cannot load {self.directory}: {failure.getErrorMessage()}")
        return failure

    def stop(self) -> None:
        """Stop cleaning and storing: writers in progress are aborted, ``variants`` finds
        nothing. Bodies being sent carry on (they hold their file open)."""
        self._stopped = True
        self._ready = False
        cleaner, self._cleaner = self._cleaner, None
        if cleaner is not None and cleaner.running:
            cleaner.stop()
        call, self._clean_call = self._clean_call, None
        if call is not None and call.active():
            call.cancel()
        waiters, self._cleaning = self._cleaning or [], None
        for d in waiters:
            d.callback(None)
        for writer in list(self._writers):
            writer.abort()

    @property
    def ready(self) -> bool:
        return self._ready

    @property
    def entries(self) -> int:
        return len(self._lru)

    @property
    def memory_bytes(self) -> int:
        return self._memory_bytes

    # -- lookup ------------------------------------------------------------------------------------

    def variants(self, key: bytes) -> list[StoredResponse]:
        """The stored variants of ``key``, newest ``response_time`` first (a copy)."""
        if not self._ready:
            return []
        return list(self._index.get(key, ()))

    def current(self, entry: StoredResponse) -> bool:
        """Whether ``entry`` is still stored (not replaced, freshened or removed since)."""
        return entry in self._lru

    # -- storing -----------------------------------------------------------------------------------

    def writer(
        self,
        key: bytes,
        variant: bytes,
        vary: tuple[bytes, ...],
        status: int,
        reason: bytes,
        headers: Headers,
        request_time: float,
        response_time: float,
    ) -> EntryWriter:
        """A writer for a response being received; see :class:`EntryWriter`."""
        name = entry_name(key, variant)
        body_name = f"{name}-{os.urandom(8).hex()}.body"
        entry = StoredResponse(
            key,
            variant,
            tuple(vary),
            status,
            reason,
            list(headers),
            request_time,
            response_time,
            0,
            0,
            body_name,
            0,
        )
        tmp = self._path(entry, body_name + ".tmp")
        fd: int | None = None
        if self._ready:
            try:
                fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o644)
            except OSError as exc:
                self.log(f"cache: cannot create {tmp}: {exc.strerror}")
        writer = EntryWriter(self, entry, fd, tmp)
        if fd is not None:
            self._writers.add(writer)
        return writer

    def freshen(
        self,
        entry: StoredResponse,
        headers: Headers,
        request_time: float,
        response_time: float,
    ) -> StoredResponse:
        """Store ``entry`` with the headers and times of a revalidation (304), keeping its
        body file: only a new meta is written.

        If ``entry`` is no longer stored (replaced or purged meanwhile) nothing is written
        and the returned entry is not in the index; its body may be gone, in which case
        ``send_body`` reports ``False`` before writing anything.
        """
        fresh = StoredResponse(
            entry.key,
            entry.variant,
            entry.vary,
            entry.status,
            entry.reason,
            list(headers),
            request_time,
            response_time,
            entry.length,
            entry.crc,
            entry.body_name,
            0,
            body=entry.body,
            last_used=self.reactor.seconds(),
        )
        if not self._ready or not self.current(entry):
            fresh.size = entry.size
            return fresh
        body = entry.body
        if self._publish(fresh, None) and body is not None:
            fresh.body = None  # _remember sets it and accounts for it
            self._remember(fresh, body)
        return fresh

    def _publish(self, entry: StoredResponse, body_path: str | None) -> bool:
        """Write ``entry``'s meta and put it in the index in place of the same variant.
        ``body_path`` is a body just written (deleted if publishing fails)."""
        meta = encode_meta(entry)
        path = self._path(entry, entry.name + ".meta")
        self._unique += 1
        tmp = f"{path}.{os.getpid()}-{self._unique}.tmp"
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o644)
            try:
                view = memoryview(meta)
                while view:
                    view = view[os.write(fd, view) :]
            finally:
                os.close(fd)
            os.replace(tmp, path)
        except OSError as exc:
            self.log(f"cache: cannot store {path}: {exc.strerror}")
            self._doom_body(tmp)
            if body_path is not None:
                self._doom_body(body_path)
            self._reap()
            return False
        self._doomed_metas.pop(path, None)  # this name is live again
        entry.size = len(meta) + entry.length
        entry.last_used = self.reactor.seconds()
        old = None
        for candidate in self._index.get(entry.key, ()):
            if candidate.variant == entry.variant:
                old = candidate
                break
        if old is not None:
            self._unindex(old)
            if old.body_name != entry.body_name:
                self._doom_body(self._path(old, old.body_name))
        self._insert(entry)
        if self._bytes > self.size_limit * 1.1:
            self.clean()
        self._reap()
        return True

    # -- sending -----------------------------------------------------------------------------------

    def send_body(
        self, entry: StoredResponse, target: BodyTarget, done: Callable[[bool], None]
    ) -> BodySender:
        """Write ``entry``'s body into ``target``, then call ``done(True)``; ``done(False)``
        when the body file is missing, unreadable, short or fails its CRC (the entry is
        dropped). From memory it all happens before this returns; from disk, 64 KiB reads,
        a few per reactor turn, paused while ``target`` says so. ``done`` may be called
        before this returns. The returned handle's ``stop()`` ends it without calling
        ``done`` (the client went away). Marks the entry used."""
        now = self.reactor.seconds()
        entry.last_used = now
        if entry in self._lru:
            self._lru.move_to_end(entry)
        body = entry.body
        if body is not None or entry.length == 0:
            if entry in self._memory:
                self._memory.move_to_end(entry)
            if body:
                target.write(body)
                target.flush()
            done(True)
            return BodySender(None, None, None, None, None)
        path = self._path(entry, entry.body_name)
        try:
            fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        except OSError as exc:
            self.log(f"cache: dropping {path}: cannot open ({exc.strerror})")
            self.remove_entry(entry)
            done(False)
            return BodySender(None, None, None, None, None)
        sender = BodySender(self, entry, target, done, fd)
        sender._start()
        return sender

    # -- removing ----------------------------------------------------------------------------------

    def remove(self, key: bytes) -> int:
        """Remove every variant of ``key`` (and stop storing the ones being written);
        returns how many were stored."""
        if not self._ready:
            if not self._stopped:
                self._pending_purges.append((False, key))
            return 0
        for writer in [w for w in self._writers if w.key == key]:
            writer.abort()
        variants = self._index.get(key, [])
        count = len(variants)
        for entry in list(variants):
            self._drop(entry)
        self._reap()
        return count

    def remove_entry(self, entry: StoredResponse) -> None:
        """Remove one variant, if it is still stored."""
        if entry in self._lru:
            self._drop(entry)
            self._reap()

    def purge_prefix(self, prefix: bytes) -> int:
        """Remove every variant of every key starting with ``prefix``; returns how many."""
        if not self._ready:
            if not self._stopped:
                self._pending_purges.append((True, prefix))
            return 0
        for writer in [w for w in self._writers if w.key.startswith(prefix)]:
            writer.abort()
        count = 0
        for key in [k for k in self._index if k.startswith(prefix)]:
            for entry in list(self._index[key]):
                self._drop(entry)
                count += 1
        self._reap()
        return count

    # -- size limit --------------------------------------------------------------------------------

    def clean(self) -> Deferred[None] | None:
        """Start a cleaning pass now: least recently used variants are removed, ``BATCH``
        per reactor turn, until the store is within ``size_limit``. Returns a Deferred
        fired when it is (``None`` when there is nothing to do)."""
        if not self._ready or self._bytes <= self.size_limit:
            return None
        d: Deferred[None] = Deferred()
        if self._cleaning is not None:
            self._cleaning.append(d)
            return d
        self._cleaning = [d]
        self._clean_batch()
        return d

    def _clean_batch(self) -> None:
        self._clean_call = None
        lru = self._lru
        for _ in range(BATCH):
            if self._bytes <= self.size_limit or not lru or not self._ready:
                break
            self._drop(next(iter(lru)))
        self._reap()
        if self._bytes > self.size_limit and lru and self._ready:
            self._clean_call = self.reactor.callLater(0, self._clean_batch)
            return
        waiters, self._cleaning = self._cleaning or [], None
        for d in waiters:
            d.callback(None)

    def _tick(self) -> None:
        self.clean()

    def _tick_failed(self, failure: Failure) -> None:
        self.log(f"cache: cleaning failed: {failure.getErrorMessage()}")

    # -- internals ---------------------------------------------------------------------------------

    def _path(self, entry: StoredResponse, filename: str) -> str:
        return os.path.join(self.directory, entry.name[:2], filename)

    def _insert(self, entry: StoredResponse) -> None:
        variants = self._index.setdefault(entry.key, [])
        i = 0
        while i < len(variants) and variants[i].response_time >= entry.response_time:
            i += 1
        variants.insert(i, entry)
        self._lru[entry] = None
        self._bytes += entry.size

    def _unindex(self, entry: StoredResponse) -> None:
        """Take ``entry`` out of the index and memory; its files are the caller's business."""
        variants = self._index.get(entry.key)
        if variants is not None:
            for i, candidate in enumerate(variants):
                if candidate is entry:
                    del variants[i]
                    break
            if not variants:
                del self._index[entry.key]
        if entry in self._lru:
            del self._lru[entry]
            self._bytes -= entry.size
        if entry in self._memory:
            # Out of the memory budget; the body stays on the object for whoever holds it.
            del self._memory[entry]
            self._memory_bytes -= entry.length

    def _drop(self, entry: StoredResponse) -> None:
        """Remove ``entry`` and doom its files."""
        self._unindex(entry)
        self._doomed_metas[self._path(entry, entry.name + ".meta")] = None
        self._doom_body(self._path(entry, entry.body_name))

    def _doom_body(self, path: str) -> None:
        self._doomed_bodies.append(path)

    def _reap_later(self) -> None:
        self._reaping = None
        self._reap()

    def _schedule_reap(self) -> None:
        if self._reaping is None and (
            self._doomed_metas or (self._doomed_bodies and not self._unlinking)
        ):
            self._reaping = self.reactor.callLater(0, self._reap_later)

    def _reap(self) -> None:
        """Delete one batch of doomed files now and schedule the rest."""
        metas = self._doomed_metas
        for _ in range(min(BATCH, len(metas))):
            path = next(iter(metas))
            del metas[path]
            try:
                os.unlink(path)
            except FileNotFoundError:
                pass
            except OSError as exc:
                self.log(f"cache: cannot remove {path}: {exc.strerror}")
        if self._doomed_bodies and not self._unlinking:
            batch = self._doomed_bodies[:BATCH]
            del self._doomed_bodies[:BATCH]
            self._unlinking = True
            d = self._run(_unlink_all, batch)
            d.addBoth(self._unlinked)
        self._schedule_reap()

    def _unlinked(self, result: list[str] | Failure) -> None:
        self._unlinking = False
        if isinstance(result, Failure):
            self.log(f"cache: unlinking failed: {result.getErrorMessage()}")
        else:
            for line in result:
                self.log(line)
        self._schedule_reap()

    def _remember(self, entry: StoredResponse, body: bytes) -> None:
        """Keep ``entry``'s body in memory (if it is stored), dropping the least recently
        used bodies past ``memory_limit``."""
        if entry not in self._lru or len(body) > self.memory_object:
            return
        if entry in self._memory:
            self._memory.move_to_end(entry)
            return
        entry.body = body
        self._memory[entry] = None
        self._memory_bytes += len(body)
        memory = self._memory
        while self._memory_bytes > self.memory_limit and memory:
            evicted = next(iter(memory))
            del memory[evicted]
            self._memory_bytes -= evicted.length
            evicted.body = None

    # Last: inside the class body, ``bytes`` is this property from here on.
    @property
    def bytes(self) -> int:
        """Bytes on disk (meta and body files of every stored variant)."""
        return self._bytes
