"""HAProxy's runtime API (the ``stats socket`` CLI) as a command language, without any I/O.

Tiers :meth:`RuntimeApi.register` their commands (``show cache``, later ``show stat``, ``set
server`` ...); :meth:`RuntimeApi.run` answers one command of a connection and
:meth:`RuntimeApi.execute` a whole line, with HAProxy 2.6's framing (src/cli.c): commands are
separated by ``;`` or a line feed, a backslash escapes the next character, every answer is
followed by an empty line (``"\\n"``), or by ``"\\n> "`` once ``prompt`` made the session
interactive. An unknown command is answered with HAProxy's "Unknown command" usage text, a
command above the session's level with ``Permission denied``.

Levels are HAProxy's: ``user`` < ``operator`` < ``admin``. One divergence: HAProxy 2.6's
``help`` lists every command whatever the level; stack lists only those the session may run.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from twisted.logger import Logger

LEVELS = ("user", "operator", "admin")

Handler = Callable[[list[str]], str]

# src/cli.c: at most 64 words per command (MAX_CLI_ARGS), commands of up to 5 keywords
# (CLI_PREFIX_KW_NB), at most 5 fuzzy suggestions (CLI_MAX_MATCHES).
MAX_ARGS = 64
MAX_KEYWORDS = 5
MAX_MATCHES = 5

PERMISSION_DENIED = "Permission denied\n"
INTERNAL_ERROR = "Internal error.\n"
_HELP_HEADER = "The following commands are valid at this level:\n"
_UNKNOWN_HEADER = "Unknown command. Please enter one of the following commands only:\n"
_FUZZY_HEADER = "Unknown command, but maybe one of the following ones is a better match:\n"
# cli_gen_usage_msg() always ends with these three, which have no usage line of their own
_ALWAYS = (
    "  help [<command>]                        : list matching or all commands\n"
    "  prompt                                  : toggle interactive mode with prompt\n"
    "  quit                                    : disconnect\n"
)
_RESERVED = ("help", "prompt", "quit")

_log = Logger()


class CommandError(Exception):
    """Raised by a handler to answer with ``message`` instead of a result."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class Command:
    """A registered command: ``words`` is its keyword prefix, ``usage`` its help line."""

    words: tuple[str, ...]
    handler: Handler | None  # None: a built-in the session itself carries out
    level: str
    usage: str


@dataclass
class Session:
    """The state of one CLI connection: its level (``operator`` and ``user`` lower it),
    whether ``prompt`` made it interactive, and whether ``quit`` ended it."""

    level: str
    interactive: bool = False
    closed: bool = False


def _usage(words: Sequence[str], args: str, help: str) -> str:
    syntax = " ".join([*words, args]) if args else " ".join(words)
    return f"{syntax:<40}: {help}"


_BUILTINS = (
    Command(
        ("operator",),
        None,
        "operator",
        _usage(("operator",), "", "lower the level of the current CLI session to operator"),
    ),
    Command(
        ("show", "cli", "level"),
        None,
        "user",
        _usage(("show", "cli", "level"), "", "display the level of the current CLI session"),
    ),
    Command(
        ("user",),
        None,
        "user",
        _usage(("user",), "", "lower the level of the current CLI session to user"),
    ),
)


class RuntimeApi:
    """The commands the runtime API knows, and how one is answered."""

    def __init__(self) -> None:
        self._commands: list[Command] = list(_BUILTINS)

    # --- registration ---------------------------------------------------------------------------

    def register(
        self,
        words: tuple[str, ...],
        handler: Handler,
        *,
        level: str,
        help: str,
        args: str = "",
    ) -> None:
        """Make ``words`` (e.g. ``("show", "cache")``) a command of sessions of ``level`` and
        above. ``handler`` gets the words that follow and returns the answer text (a final
        line feed is added when missing); it may raise :class:`CommandError`. ``help`` is the
        description ``help`` prints, after ``words`` and the ``args`` synopsis
        (``"<table> [<filter>]*"``)."""
        if level not in LEVELS:
            raise ValueError(f"level must be one of {', '.join(LEVELS)}, not {level!r}")
        if not words or len(words) > MAX_KEYWORDS:
            raise ValueError(f"a command is 1 to {MAX_KEYWORDS} words, not {words!r}")
        for word in words:
            if not word or any(c in word for c in " \t\\;\n\r\0"):
                raise ValueError(f"bad command word {word!r}")
        if words[0] in _RESERVED:
            raise ValueError(f"'{words[0]}' is a built-in command")
        if any(c.words == words for c in self._commands):
            raise ValueError(f"'{' '.join(words)}' is already registered")
        self._commands.append(Command(tuple(words), handler, level, _usage(words, args, help)))

    def commands(self, level: str) -> list[Command]:
        """The commands a session of ``level`` may run, built-ins first."""
        rank = LEVELS.index(level)
        return [c for c in self._commands if LEVELS.index(c.level) <= rank]

    # --- answering ------------------------------------------------------------------------------

    def execute(self, line: str, level: str) -> str:
        """Answer ``line`` as a fresh non-interactive connection would: every ``;``- or
        line-feed-separated command in turn, until ``quit``."""
        session = Session(level)
        data = line.encode("utf-8", "surrogateescape")
        if not data.endswith(b"\n"):
            data += b"\n"
        out: list[str] = []
        while not session.closed:
            taken = take_command(data)
            if taken is None:
                break
            command, used = taken
            data = data[used:]
            out.append(self.run(command.decode("utf-8", "surrogateescape"), session))
        return "".join(out)

    def run(self, command: str, session: Session) -> str:
        """Answer one command (the text between separators, escapes still in) and update
        ``session``: the answer, then the prompt; nothing at all after ``quit``."""
        words = split_words(command)
        answer = self._answer(words, session)
        if session.closed:
            return ""
        if answer and not answer.endswith("\n"):
            answer += "\n"
        return answer + ("\n> " if session.interactive else "\n")

    def _answer(self, words: list[str], session: Session) -> str:
        first = words[0] if words else ""
        if first == "help":
            return self.usage(words, session.level)
        if first == "prompt":
            session.interactive = not session.interactive
            return ""
        if first == "quit":
            session.closed = True
            return ""
        command = self._find(words)
        if command is None:
            return self.usage(words, session.level)
        if LEVELS.index(command.level) > LEVELS.index(session.level):
            return PERMISSION_DENIED
        if command.handler is None:
            return self._builtin(command, session)
        try:
            return command.handler(words[len(command.words) :])
        except CommandError as exc:
            return exc.message
        except Exception:
            _log.failure("runtime API command {command!r} failed", command=" ".join(words))
            return INTERNAL_ERROR

    @staticmethod
    def _builtin(command: Command, session: Session) -> str:
        if command.words == ("show", "cli", "level"):
            return session.level + "\n"
        session.level = command.words[0]  # 'operator' or 'user'; both checked the level
        return ""

    def _find(self, words: list[str]) -> Command | None:
        """The command whose keywords start ``words`` (the longest, if several do)."""
        best: Command | None = None
        for command in self._commands:
            n = len(command.words)
            if tuple(words[:n]) == command.words and (best is None or n > len(best.words)):
                best = command
        return best

    def usage(self, words: Sequence[str], level: str) -> str:
        """HAProxy's ``cli_gen_usage_msg()``: ``help [<words>]``, or the answer to an unknown
        command, listing the commands that start with the words that matched, or the
        closest ones by HAProxy's word-fingerprint distance."""
        args = list(words)
        ishelp = bool(args) and args[0] == "help"
        if ishelp:
            args = args[1:]
        args = args[:MAX_KEYWORDS]
        visible = self.commands(level)
        keywords = [(w,) for w in _RESERVED] + [c.words for c in visible]
        length = max((_matching(kw, args) for kw in keywords), default=0)
        if ishelp:
            text = _HELP_HEADER
        elif not length and not (args and args[0]):
            text = _UNKNOWN_HEADER
        else:
            text = _FUZZY_HEADER
        candidates = [c for c in visible if _matching(c.words, args[:length]) == length]
        entries: list[Command] = []
        if length < len(args) and args[length]:
            entries = _closest(candidates, args, length)
        if not entries:
            entries = candidates
        lines = sorted(c.usage for c in entries)
        return text + "".join(f"  {u}\n" for u in lines) + _ALWAYS


def _matching(keywords: Sequence[str], args: Sequence[str]) -> int:
    """How many leading words of ``args`` equal ``keywords``'."""
    n = 0
    for kw, arg in zip(keywords, args, strict=False):
        if not arg or kw != arg:
            break
        n += 1
    return n


def _closest(candidates: Iterable[Command], args: Sequence[str], length: int) -> list[Command]:
    """The fuzzy part of ``cli_gen_usage_msg()``: compare the words after the ``length``
    matching ones, keep the best five, drop those much worse than the best."""
    matches: list[tuple[int, Command]] = []
    rest: list[str] = []
    for arg in args[length:]:  # up to the first empty word, as HAProxy's loop
        if not arg:
            break
        rest.append(arg)
    for command in candidates:
        theirs = command.words[length:]
        total = sum(len(w) for w in rest) + sum(len(w) for w in theirs)
        dist = _distance(_fingerprint(rest), _fingerprint(theirs))
        worst = matches[-1][0] if len(matches) == MAX_MATCHES else None
        if dist < 5 * total // 2 and (worst is None or dist < worst):
            if worst is not None:
                matches.pop()
            at = len(matches)
            while at > 0 and matches[at - 1][0] > dist:
                at -= 1
            matches.insert(at, (dist, command))
    if not matches:
        return []
    best = matches[0][0]
    return [c for d, c in matches if d <= 5 * best // 2]


def _fingerprint(words: Iterable[str]) -> dict[int, int]:
    """``update_word_fingerprint()`` (src/tools.c) over ``words``: letters 1..26, digits 27,
    anything else, start and end 28; row 0 marks presence, ``32*from+to`` counts pairs."""
    fp: dict[int, int] = {}
    for word in words:
        prev = 28
        for ch in word:
            c = ch.lower()
            if "a" <= c <= "z":
                to = ord(c) - ord("a") + 1
            elif "0" <= c <= "9":
                to = 27
            else:
                to = 28
            fp[to] = 1
            fp[32 * prev + to] = (fp.get(32 * prev + to, 0) + 1) & 0xFF
            prev = to
        fp[32 * prev + 28] = (fp.get(32 * prev + 28, 0) + 1) & 0xFF
    return fp


def _distance(a: dict[int, int], b: dict[int, int]) -> int:
    return sum(abs(a.get(k, 0) - b.get(k, 0)) for k in a.keys() | b.keys())


def take_command(data: bytes) -> tuple[bytes, int] | None:
    """The first command of ``data``: the bytes before the first ``;`` or line feed that no
    backslash escapes, without a trailing carriage return, and how many bytes it used
    (delimiter included); ``None`` while there is no delimiter yet."""
    escaped = False
    for i, byte in enumerate(data):
        if escaped:
            escaped = False
        elif byte == 0x5C:  # backslash
            escaped = True
        elif byte in (0x0A, 0x3B):  # line feed, ';'
            command = data[:i]
            if command.endswith(b"\r"):
                command = command[:-1]
            return command, i + 1
    return None


def split_words(command: str) -> list[str]:
    """``cli_parse_request()``'s words: separated by spaces and tabs; a backslash keeps the
    next character (space, tab, ``;``, backslash) in the word. Like the C code, the
    command ends at a NUL character, and words past the 64th are dropped."""
    command = command.split("\0", 1)[0]
    words: list[str] = []
    i, n = 0, len(command)
    while i < n and len(words) < MAX_ARGS:
        while i < n and command[i] in " \t":
            i += 1
        if i == n:
            break
        word: list[str] = []
        while i < n and command[i] not in " \t":
            if command[i] == "\\":
                i += 1
                if i == n:
                    break
            word.append(command[i])
            i += 1
        words.append("".join(word))
    return words
