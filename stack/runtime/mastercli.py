"""The runtime API of ``workers = N``: the master answers the ``stats socket`` for all workers.

Operators and their tools (socat scripts, hatop, haproxy_exporter) talk to one socket and
expect one process's answers, as HAProxy's threads give. So the master serves the configured
``stats socket`` lines and every worker a private one (level admin, in the master's run
directory), and each command is routed by what it does:

* ``show stat`` and ``show info``: every worker is asked for the ``typed`` form and the
  answers are merged by each field's nature (:mod:`stack.balancer.aggregate`: counters and
  gauges summed, maxima maxed ...), then printed in the format asked for;
* ``show sess``: every worker's streams, one after the other;
* any other ``show``, and ``help``: worker 1 (the tables are in sync, server states are set on
  all); ``help`` adds the master's own commands;
* everything else changes state (``set server``, ``disable server``, ``clear table`` ...): it
  goes to every worker, and the answer is worker 1's, followed by any worker's that differs;
* ``@N <command>`` sends a command to worker N alone, ``@!PID <command>`` to the worker of that
  pid, ``@master <command>`` to the master (HAProxy's master CLI prefixes); ``show proc`` lists
  the processes in HAProxy's layout.

A session's level travels with the command: below admin, the master prefixes it with
``operator;`` or ``user;``, which lower the level of the worker's session first, so the
workers enforce it as on a single process.

Sans IO: :class:`MasterCli` is given the live processes and a way to ask a worker
(``ask(index, text)`` returning a Deferred of what the worker wrote); :func:`ask_unix` is the
Twisted side.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from twisted.internet.defer import Deferred, FirstError, gatherResults, succeed
from twisted.internet.protocol import ClientFactory, Protocol
from twisted.python.failure import Failure

from stack.balancer.aggregate import merge_info, merge_rows, parse_typed_info, parse_typed_stat
from stack.balancer.stats import (
    PRODUCT_VERSION,
    format_csv,
    format_info,
    format_json,
    format_typed,
    parse_show_stat,
)
from stack.runtime.api import CommandError, RuntimeApi, Session, split_words

__all__ = ["MasterCli", "Process", "ask_unix"]

ASK_TIMEOUT = 10.0  # seconds a worker has to answer (HAProxy's CLI timeout)

# cli_gen_usage_msg() lines of HAProxy 2.6's master CLI for the prefixes
_PREFIX_USAGE = (
    "  @!<pid>                                 : send a command to the <pid> process\n",
    "  @<relative pid>                         : send a command to the <relative pid> process\n",
    "  @master                                 : send a command to the master process\n",
)
_ALWAYS_FIRST = "  help [<command>]"


@dataclass(frozen=True)
class Process:
    """One line of ``show proc``: the master (index 0) or a live worker."""

    index: int
    pid: int
    started: float  # time.time() when it started
    reloads: int
    failed_reloads: int = 0  # the master's only


Ask = Callable[[int, str], "Deferred[str]"]


class MasterCli:
    """Answers a master's ``stats socket`` commands by asking the workers."""

    def __init__(
        self,
        processes: Callable[[], Sequence[Process]],
        ask: Ask,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.processes = processes
        self.ask = ask
        self.clock = clock
        self.local = RuntimeApi()  # the master's own: show proc, and the session built-ins
        self.local.register(
            ("show", "proc"), self._show_proc, level="user", help="show processes status"
        )

    # -- routing ------------------------------------------------------------------------------

    def run(self, command: str, session: Session) -> str | Deferred[str]:
        words = split_words(command)
        first = words[0] if words else ""
        if first.startswith("@"):
            return self._prefixed(first[1:], _rest(command), session)
        if first in ("prompt", "quit", "operator", "user") or words[:2] in (
            ["show", "proc"],
            ["show", "cli"],
        ):
            return self.local.run(command, session)
        if first == "help":
            return self._help(command, session)
        if words[:2] == ["show", "stat"]:
            return self._show_stat(words[2:], session)
        if words[:2] == ["show", "info"]:
            return self._show_info(words[2:], session)
        if words[:2] == ["show", "sess"]:
            return self._all(command, session, _concatenated)
        if first == "show" or not first:
            return self._one(self._first_worker(), command, session)
        return self._all(command, session, _first_then_differences)

    def _prefixed(self, target: str, rest: str, session: Session) -> str | Deferred[str]:
        """``@N``, ``@!PID``, ``@master`` (src/cli.c pcli_prefix_to_pid)."""
        if target == "master":
            return self.local.run(rest, session) if rest.strip() else ""
        index = self._index_of(target)
        if index is None:
            session.closed = True  # HAProxy ends the session on a bad prefix
            return f"Can't find the target PID matching the prefix '@{target}'\n"
        if not rest.strip():
            return ""
        if split_words(rest)[:1] in (["prompt"], ["quit"]):
            return self.local.run(rest, session)  # the session's own, not the worker's
        return self._one(index, rest, session)

    def _index_of(self, target: str) -> int | None:
        workers = [p for p in self.processes() if p.index > 0]
        if target.startswith("!") and target[1:].isdigit():
            pid = int(target[1:])
            return next((p.index for p in workers if p.pid == pid), None)
        if target.isdigit():
            return next((p.index for p in workers if p.index == int(target)), None)
        return None

    def _workers(self) -> list[int]:
        return [p.index for p in self.processes() if p.index > 0]

    def _first_worker(self) -> int | None:
        workers = self._workers()
        return workers[0] if workers else None

    # -- asking -------------------------------------------------------------------------------

    def _asked(self, index: int, command: str, session: Session) -> Deferred[str]:
        """The answer body of worker ``index`` to ``command`` at the session's level (without
        the empty line ending it); a worker that fails to answer raises CommandError."""
        lower = "" if session.level == "admin" else f"{session.level};"
        d = self.ask(index, f"{lower}{command}\n")

        def body(raw: str) -> str:
            if lower and raw.startswith("\n"):  # the answer to 'operator' or 'user'
                raw = raw[1:]
            return raw[:-1] if raw.endswith("\n") else raw

        def failed(failure: Failure) -> str:
            reason = failure.getErrorMessage() or repr(failure.value)
            raise CommandError(f"worker {index} did not answer: {reason}\n")

        return d.addCallbacks(body, failed)

    def _one(self, index: int | None, command: str, session: Session) -> Deferred[str]:
        if index is None:
            return succeed(_framed(_NO_WORKER, session))
        d = self._asked(index, command, session)
        return d.addCallback(_framed, session).addErrback(_error, session)

    def _all(
        self,
        command: str,
        session: Session,
        combine: Callable[[list[tuple[int, str]]], str],
    ) -> Deferred[str]:
        workers = self._workers()
        if not workers:
            return succeed(_framed(_NO_WORKER, session))
        asked = [self._asked(i, command, session) for i in workers]
        d = gatherResults(asked, consumeErrors=True)
        combined = d.addCallback(lambda bodies: combine(list(zip(workers, bodies, strict=True))))
        return combined.addCallback(_framed, session).addErrback(_error, session)

    # -- the merged answers -------------------------------------------------------------------

    def _show_stat(self, args: list[str], session: Session) -> str | Deferred[str]:
        try:
            opts = parse_show_stat(args)
        except CommandError as exc:
            return _framed(exc.message, session)
        # Any three words are a filter in 2.6, so the workers get one always: the operator's
        # as written, or "-1 -1 -1" (everything); then the filtering options, then 'typed'
        # (the master prints the format asked for, with the descriptions).
        given = len(args) >= 3
        words = [*(args[:3] if given else ["-1", "-1", "-1"])]
        words += [w for w in args[3 if given else 0 :] if w in ("up", "no-maint")]
        command = "show stat " + " ".join(_escaped(w) for w in [*words, "typed"])

        def merged(answers: list[tuple[int, str]]) -> str:
            rows = merge_rows([_parsed(parse_typed_stat, i, text) for i, text in answers])
            if opts["format"] == "typed":
                return format_typed(rows, opts["desc"])
            if opts["format"] == "json":
                return format_json(rows)
            return format_csv(rows)

        return self._all(command, session, merged)

    def _show_info(self, args: list[str], session: Session) -> Deferred[str]:
        mode = "typed" if "typed" in args else "json" if "json" in args else ""

        def merged(answers: list[tuple[int, str]]) -> str:
            fields = merge_info([_parsed(parse_typed_info, i, text) for i, text in answers])
            return format_info(fields, mode, desc="desc" in args)

        return self._all("show info typed", session, merged)

    def _help(self, command: str, session: Session) -> str | Deferred[str]:
        index = self._first_worker()
        if index is None:
            return self.local.run(command, session)

        def with_master_lines(text: str) -> str:
            mine = [*_PREFIX_USAGE, *self._local_usage(session)]
            at = text.find(_ALWAYS_FIRST)
            if at < 0:
                return text
            lines = sorted([*text[:at].splitlines(keepends=True)[1:], *mine])
            return text[: text.find("\n") + 1] + "".join(lines) + text[at:]

        d = self._asked(index, command, session).addCallback(with_master_lines)
        return d.addCallback(_framed, session).addErrback(_error, session)

    def _local_usage(self, session: Session) -> list[str]:
        builtins = ("operator", "user", "show cli level")
        return [
            f"  {c.usage}\n"
            for c in self.local.commands(session.level)
            if " ".join(c.words) not in builtins
        ]

    def _show_proc(self, args: list[str]) -> str:
        now = self.clock()
        lines = ["#<PID>" + " " * 10 + "".join(f"{w:<15} " for w in _PROC_HEAD)[:-1]]
        workers = []
        for p in self.processes():
            uptime = _uptime(now - p.started)
            if p.index == 0:
                reloads = f"{p.reloads} [failed: {p.failed_reloads}]"
                lines.append(
                    f"{p.pid:<15} {'master':<15} {reloads:<15} {uptime:<15} {PRODUCT_VERSION:<15}"
                )
            else:
                workers.append(
                    f"{p.pid:<15} {'worker':<15} {p.reloads:<15} {uptime:<15} {PRODUCT_VERSION:<15}"
                )
        return "\n".join([*lines, "# workers", *workers, "# programs", ""])


_PROC_HEAD = ("<type>", "<reloads>", "<uptime>", "<version>")
_NO_WORKER = "No worker is running (they are being started again).\n"


def _rest(command: str) -> str:
    """``command`` without its first word (escapes kept: the worker parses it again)."""
    text = command.lstrip(" \t")
    end = 0
    while end < len(text) and text[end] not in " \t":
        end += 2 if text[end] == "\\" else 1
    return text[end:].lstrip(" \t")


def _escaped(word: str) -> str:
    return "".join("\\" + c if c in " \t;\\" else c for c in word)


def _parsed(parse: Callable[[str], Any], index: int, text: str) -> Any:
    try:
        return parse(text)
    except ValueError as exc:
        raise CommandError(f"worker {index} answered what cannot be merged: {exc}\n") from None


def _framed(body: str, session: Session) -> str:
    """As :meth:`RuntimeApi.run` ends an answer: a final line feed, then the empty line or the
    prompt; nothing once the session is closed."""
    if session.closed:
        return ""
    if body and not body.endswith("\n"):
        body += "\n"
    return body + ("\n> " if session.interactive else "\n")


def _error(failure: Failure, session: Session) -> str:
    failure.trap(CommandError, FirstError)
    exc = failure.value
    if isinstance(exc, FirstError):  # gatherResults wraps the first failure
        exc.subFailure.trap(CommandError)
        exc = exc.subFailure.value
    assert isinstance(exc, CommandError)
    return _framed(exc.message, session)


def _concatenated(answers: list[tuple[int, str]]) -> str:
    return "".join(text if text.endswith("\n") or not text else text + "\n" for _, text in answers)


def _first_then_differences(answers: list[tuple[int, str]]) -> str:
    """Worker 1's answer; another worker's only where it differs, marked with its number."""
    (_, first), *others = answers
    out = [first if first.endswith("\n") or not first else first + "\n"]
    for index, text in others:
        if text != first:
            out += [f"[worker {index}] {line}\n" for line in text.splitlines() or [""]]
    return "".join(out)


def _uptime(seconds: float) -> str:
    up = max(0, int(seconds))
    return f"{up // 86400}d{up % 86400 // 3600:02d}h{up % 3600 // 60:02d}m{up % 60:02d}s"


# -- the Twisted side ------------------------------------------------------------------------------


class _Collect(Protocol):
    def __init__(self, text: str, done: Deferred[str]) -> None:
        self.text = text
        self.done = done
        self.received: list[bytes] = []

    def connectionMade(self) -> None:
        assert self.transport is not None
        self.transport.write(self.text.encode("utf-8", "surrogateescape"))

    def dataReceived(self, data: bytes) -> None:
        self.received.append(data)

    def connectionLost(self, reason: Failure | None = None) -> None:
        if not self.done.called:
            self.done.callback(b"".join(self.received).decode("utf-8", "surrogateescape"))


class _AskFactory(ClientFactory):
    noisy = False

    def __init__(self, text: str) -> None:
        self.text = text
        self.done: Deferred[str] = Deferred()

    def buildProtocol(self, addr: Any) -> _Collect:
        return _Collect(self.text, self.done)

    def clientConnectionFailed(self, connector: Any, reason: Failure) -> None:
        if not self.done.called:
            self.done.errback(reason)


def ask_unix(reactor: Any, path: str, text: str, timeout: float = ASK_TIMEOUT) -> Deferred[str]:
    """Send ``text`` to the runtime API on ``path`` and collect what it writes until it
    closes (a non-interactive session closes once it has answered)."""
    factory = _AskFactory(text)
    connector = reactor.connectUNIX(path, factory, timeout=timeout)

    def give_up() -> None:
        if not factory.done.called:
            factory.done.errback(Failure(TimeoutError(f"no answer on {path} in {timeout:g} s")))
            connector.disconnect()

    call = reactor.callLater(timeout, give_up)

    def settled(result: Any) -> Any:
        if call.active():
            call.cancel()
        return result

    return factory.done.addBoth(settled)
