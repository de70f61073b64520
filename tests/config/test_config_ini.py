"""The INI layer: configparser's reading, with the line number of every key and value line."""

from __future__ import annotations

import configparser

from hypothesis import given
from hypothesis import strategies as st

from stack.config import ini
from stack.config.errors import Problems


def scan(text: str) -> tuple[list[ini.Section] | None, list[str]]:
    problems = Problems("t.ini")
    sections = ini.read("t.ini", text, problems)
    return sections, problems.lines()


def test_lines_of_keys_and_continuations() -> None:
    text = (
        "# comment\n"  # 1
        "[frontend  web]\n"  # 2
        "bind = :80   # inline comment\n"  # 3
        "acl a =\n"  # 4
        "    path_beg /a\n"  # 5
        "\tpath_end .a  # why not\n"  # 6
        "option redispatch\n"  # 7
        "\n"  # 8
        "use_backend b = if a\n"  # 9
        "  if TRUE\n"  # 10
    )
    sections, problems = scan(text)
    assert problems == []
    assert sections is not None
    (section,) = sections
    assert (section.header, section.line) == ("frontend web", 2)
    entries = {e.key: e for e in section.entries}
    assert entries["bind"].line == 3
    assert entries["bind"].value == ":80"
    assert entries["acl a"].occurrences() == [(5, "path_beg /a"), (6, "path_end .a")]
    assert entries["acl a"].value_lines[0] == (4, "")
    assert entries["option redispatch"].value is None
    assert entries["option redispatch"].occurrences() == []
    assert entries["use_backend b"].occurrences() == [(9, "if a"), (10, "if TRUE")]


def test_a_comment_or_blank_line_ends_a_value() -> None:
    text = "[a]\nk = 1\n# c\n  indented = 2\n"
    sections, problems = scan(text)
    assert problems == []
    assert sections is not None
    entries = sections[0].entries
    assert [(e.key, e.line, e.value, e.indented) for e in entries] == [
        ("k", 2, "1", False),
        ("indented", 4, "2", True),
    ]


def test_missing_section_header() -> None:
    sections, problems = scan("\n# c\nmaxconn = 1\n[global]\n")
    assert sections is None
    assert problems == [
        "t.ini:3: 'maxconn = 1' comes before any section header: the file must start with a "
        "section such as [global]"
    ]


def test_every_duplicate_is_reported() -> None:
    text = (
        "[backend b]\n"  # 1
        "server s1 = h:1\n"  # 2
        "server  s1 = h:2\n"  # 3 (configparser would not see this one)
        "server s1 = h:3\n"  # 4
        "acl x = path /\n"  # 5
        "acl x = path /y\n"  # 6
        "retries = 1\n"  # 7
        "retries = 2\n"  # 8
        "[backend b]\n"  # 9
        "[backend  b]\n"  # 10
    )
    sections, problems = scan(text)
    assert sections is not None
    assert problems == [
        "t.ini:3: [backend b] server s1: duplicate server name 's1' (first at line 2)",
        "t.ini:4: [backend b] server s1: duplicate server name 's1' (first at line 2)",
        "t.ini:6: [backend b] acl x: 'acl x' is already written at line 5: put each further "
        "occurrence on an indented line below the first one",
        "t.ini:8: [backend b] retries: duplicate key (first at line 7)",
        "t.ini:9: [backend b] duplicate section [backend b] (first at line 1)",
        "t.ini:10: [backend b] duplicate section [backend b] (first at line 1)",
    ]


def test_continuation_of_a_key_without_equals_is_reported_not_a_crash() -> None:
    # configparser itself raises AttributeError on this input
    sections, problems = scan("[defaults]\noption redispatch\n  on\n")
    assert sections is not None
    assert problems == [
        "t.ini:3: [defaults] option redispatch: this indented line continues a key that has "
        "no '=': write 'option redispatch = ...' with the value on the following lines"
    ]


def test_empty_key() -> None:
    sections, problems = scan("[global]\n= 5\nmaxconn = 1\n")
    assert sections is not None
    assert problems == ["t.ini:2: [global] '= 5' has no key before '='"]
    assert [e.key for e in sections[0].entries] == ["maxconn"]


def test_trailing_text_after_header_is_kept_for_the_loader() -> None:
    sections, _problems = scan("[global] junk\n")
    assert sections is not None
    assert sections[0].trailing == "junk"


def test_configparser_DEFAULT_is_an_ordinary_section() -> None:
    sections, _problems = scan("[DEFAULT]\nx = 1\n[a]\n")
    assert sections is not None
    assert [s.header for s in sections] == ["DEFAULT", "a"]
    assert [e.key for e in sections[1].entries] == []


# --- the scanner reads exactly what configparser reads -------------------------------------------

_WORD = st.sampled_from(["a", "b", "key", "x y", "v=1", "#", ";", "[s]", "", "  "])
_LINE = st.one_of(
    st.builds(lambda w: f"[{w}]", st.sampled_from(["s", "t", "backend b", "DEFAULT"])),
    st.builds(lambda k, v: f"{k} = {v}", st.sampled_from(["k", "l", "m n"]), _WORD),
    st.builds(lambda k: k, st.sampled_from(["k", "bare", "opt x"])),
    st.builds(lambda ind, v: ind + v, st.sampled_from([" ", "  ", "\t"]), _WORD),
    st.builds(lambda c: c, st.sampled_from(["# c", "; c", "", "   ", "k = v # c", "k = v#c"])),
)


@given(st.lists(_LINE, max_size=12))
def test_scanner_matches_configparser(lines: list[str]) -> None:
    text = "[first]\n" + "\n".join(lines) + "\n"
    parser = ini.new_parser()
    try:
        parser.read_string(text)
    except (configparser.Error, AttributeError):
        return  # the loader reports these through the scanner; compared elsewhere
    problems = Problems("t.ini")
    sections = ini.scan(text, problems)
    assert sections is not None
    assert [s.raw_header for s in sections] == parser.sections()
    for section in sections:
        expected = {
            k: parser.get(section.raw_header, k) for k in parser.options(section.raw_header)
        }
        assert {e.raw_key: e.value for e in section.entries} == expected
        for entry in section.entries:
            if entry.value is not None:
                assert [t for _n, t in entry.value_lines] == entry.value.split("\n")
                numbers = [n for n, _t in entry.value_lines]
                assert numbers == list(range(entry.line, entry.line + len(numbers)))
