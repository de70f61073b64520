"""Reading the INI file: ``configparser`` for the values, a line scanner for the line numbers.

``configparser`` does not say on which line a key or a continuation line was written, and it
stops at the first duplicate; ``haproxy -c`` reports every problem with its line. So the raw
lines are scanned with the very same rules ``configparser`` applies (comments, indentation,
its own regular expressions), which gives each key and each line of a multi-line value its line
number, and finds every duplicate. The values themselves come from ``configparser`` whenever it
could read the file; when it gave up (a duplicate, a continuation of a key without ``=``), the
scanner's identical reading is used so the rest of the file is still checked.
"""

from __future__ import annotations

import configparser
import io
import re
import sys
from dataclasses import dataclass, field

from .errors import Problems

# No "[...]" header can contain a newline, so no section becomes configparser's DEFAULT (whose
# keys would otherwise leak into every section).
_NO_DEFAULT_SECTION = "\n"
# Directives HAProxy allows several times: INI takes them one per continuation line.
REPEATABLE = frozenset(
    {
        "bind",
        "log",
        "acl",
        "use_backend",
        "http-request",
        "http-response",
        "redirect",
        "default-server",
        "stick",
    }
)


def new_parser(*, strict: bool = True) -> configparser.RawConfigParser:
    """The ``configparser`` set-up stack's format is defined by."""
    parser = configparser.RawConfigParser(
        delimiters=("=",),
        comment_prefixes=("#", ";"),
        inline_comment_prefixes=("#",),
        strict=strict,
        allow_no_value=True,
        interpolation=None,
        empty_lines_in_values=False,
        default_section=_NO_DEFAULT_SECTION,
    )
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    return parser


@dataclass
class Entry:
    """One key of a section with its value and the line of every physical line of it."""

    raw_key: str
    line: int
    value: str | None
    indented: bool = False  # the key line itself is indented (hint for misplaced lines)
    # (line number, text) of the first line's value and of each continuation line; the first
    # one may be empty ("bind =" followed by indented lines).
    value_lines: list[tuple[int, str]] = field(default_factory=list)

    @property
    def key(self) -> str:
        """The key with its words separated by single spaces (``timeout  connect``)."""
        return " ".join(self.raw_key.split())

    def occurrences(self) -> list[tuple[int, str]]:
        """The non-empty lines of the value: one occurrence each of a repeatable directive."""
        return [(line, text) for line, text in self.value_lines if text]


@dataclass
class Section:
    raw_header: str
    line: int
    entries: list[Entry] = field(default_factory=list)
    trailing: str = ""  # text after "]" on the header line, which configparser ignores

    @property
    def header(self) -> str:
        return " ".join(self.raw_header.split())


def _option_re(parser: configparser.RawConfigParser) -> re.Pattern[str]:
    """The key/value pattern configparser built for these settings (it has no public name)."""
    pattern: re.Pattern[str] = vars(parser)["_optcre"]
    return pattern


def _comment_start(line: str) -> int | None:
    """Where configparser considers the comment of ``line`` to begin (same algorithm)."""
    comment_start = sys.maxsize
    index = -1
    while comment_start == sys.maxsize:
        index = line.find("#", index + 1)
        if index == -1:
            break
        if index == 0 or line[index - 1].isspace():
            comment_start = index
    if line.strip().startswith(("#", ";")):
        comment_start = 0
    return None if comment_start == sys.maxsize else comment_start


def scan(text: str, problems: Problems) -> list[Section] | None:
    """Mirror ``configparser``'s reading of ``text`` line by line, keeping line numbers.

    Reports syntax problems (and every duplicate) to ``problems``; returns ``None`` when no
    section header precedes the first key, as nothing can be read then.
    """
    parser = new_parser()
    sections: list[Section] = []
    by_header: dict[str, Section] = {}
    current: Section | None = None
    entry: Entry | None = None
    indent_level = 0
    for lineno, line in enumerate(io.StringIO(text), start=1):
        value = line[: _comment_start(line)].strip()
        if not value:
            indent_level = sys.maxsize  # a blank or comment line ends a multi-line value
            continue
        first = parser.NONSPACECRE.search(line)
        cur_indent = first.start() if first else 0
        if current is not None and entry is not None and cur_indent > indent_level:
            if entry.value is None:
                problems.add(
                    "this indented line continues a key that has no '=': write "
                    f"'{entry.key} = ...' with the value on the following lines",
                    line=lineno,
                    section=current.header,
                    key=entry.key,
                )
                entry.value = ""
            entry.value_lines.append((lineno, value))
            entry.value += "\n" + value
            continue
        indent_level = cur_indent
        match = parser.SECTCRE.match(value)
        if match:
            raw_header = match.group("header")
            section = Section(raw_header, lineno, trailing=value[match.end() :].strip())
            header = section.header
            if header in by_header:
                first_line = by_header[header].line
                problems.add(
                    f"duplicate section [{header}] (first at line {first_line})",
                    line=lineno,
                    section=header,
                )
            else:
                by_header[header] = section
            sections.append(section)
            current = section
            entry = None
            continue
        if current is None:
            problems.add(
                f"{line.strip()!r} comes before any section header: "
                "the file must start with a section such as [global]",
                line=lineno,
            )
            return None
        match = _option_re(parser).match(value)
        assert match is not None  # with allow_no_value the pattern matches any text
        raw_key, optval = match.group("option").rstrip(), match.group("value")
        if not raw_key:
            problems.add(f"{value!r} has no key before '='", line=lineno, section=current.header)
            entry = None
            continue
        entry = Entry(raw_key, lineno, None if optval is None else optval.strip(), cur_indent > 0)
        if entry.value is not None:
            entry.value_lines.append((lineno, entry.value))
        current.entries.append(entry)
    for section in sections:
        _check_duplicate_keys(section, problems)
    for section in sections:
        for entry in section.entries:
            if entry.value is not None:
                entry.value = entry.value.rstrip()
    return sections


def _check_duplicate_keys(section: Section, problems: Problems) -> None:
    first_line: dict[str, int] = {}
    for entry in section.entries:
        key = entry.key
        if key not in first_line:
            first_line[key] = entry.line
            continue
        words = key.split()
        first = first_line[key]
        if words[0] == "server" and len(words) == 2:
            message = f"duplicate server name '{words[1]}' (first at line {first})"
        elif words[0] in REPEATABLE:
            message = (
                f"'{key}' is already written at line {first}: put each further occurrence "
                "on an indented line below the first one"
            )
        else:
            message = f"duplicate key (first at line {first})"
        problems.add(message, line=entry.line, section=section.header, key=key)


def read(path: str, text: str, problems: Problems) -> list[Section] | None:
    """Read ``text`` (the content of ``path``) with configparser; sections in file order.

    Every problem goes to ``problems``; the result is ``None`` only when nothing could be read.
    Sections repeated with the same header are returned once each as written (the duplicate is
    reported), so that the content of both is still checked.
    """
    sections = scan(text, problems)
    parser = new_parser()
    try:
        parser.read_string(text, source=path)
    except configparser.MissingSectionHeaderError as exc:
        if sections is not None:  # the scanner always finds it too; keep its message
            problems.add(f"missing section header before this line: {exc.line!r}", line=exc.lineno)
        return None
    except configparser.ParsingError as exc:
        for lineno, line in exc.errors:
            # the scanner already explained lines with an empty key; anything else is new
            if not problems.has_line(lineno):
                problems.add(f"cannot parse line {line}", line=lineno)
        return sections
    except (configparser.DuplicateSectionError, configparser.DuplicateOptionError):
        return sections  # the scanner reported every duplicate with both line numbers
    except Exception:  # configparser crashes on some inputs (see scan())
        return sections
    if sections is None:
        return None
    _take_values(parser, sections)
    return sections


def _take_values(parser: configparser.RawConfigParser, sections: list[Section]) -> None:
    """Use configparser's values, with the scanner's line numbers for each of their lines."""
    for section in sections:
        for entry in section.entries:
            value = parser.get(section.raw_header, entry.raw_key, fallback=None)
            if value is None:
                continue
            lines = value.split("\n")
            numbers = [line for line, _text in entry.value_lines]
            if len(lines) == len(numbers):
                entry.value = value
                entry.value_lines = list(zip(numbers, lines, strict=True))
