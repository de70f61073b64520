"""HAProxy word splitting: the examples from real configs, and a round-trip property."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from stack.config.errors import Invalid
from stack.config.words import WordError, join_words, quote_word, split_words


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("", []),
        ("   \t ", []),
        ("roundrobin", ["roundrobin"]),
        ("  a   b\tc  ", ["a", "b", "c"]),
        (r"HAProxy\ Global\ stats", ["HAProxy Global stats"]),
        ('"two words" three', ["two words", "three"]),
        ("'two words' three", ["two words", "three"]),
        ('a"b c"d', ["ab cd"]),
        ("'a'\"b\"", ["ab"]),
        ('""', [""]),
        ("'' x", ["", "x"]),
        (r"\1 \. \d+", [r"\1", r"\.", r"\d+"]),
        (r"a\\b", [r"a\b"]),
        (r"\#not-a-comment", ["#not-a-comment"]),
        ("a #comment", ["a"]),
        ("a#comment", ["a"]),
        ('"a # b"', ["a # b"]),
        (r"\r\n\t", ["\r\n\t"]),
        (r"\x41\x7e", ["A~"]),
        (r'"say \"hi\""', ['say "hi"']),
        (r"'no \escapes in here'", [r"no \escapes in here"]),
        (r"\'", ["'"]),
        (r"\$HOME", ["$HOME"]),
        ('"$HOME"', ["$HOME"]),  # no environment expansion
        (
            r"^([^\ ]*)\ /app1/([^\ ]*)\ (.*)$       \1\ /\2\ \3",
            [r"^([^ ]*) /app1/([^ ]*) (.*)$", r"\1 /\2 \3"],
        ),
    ],
)
def test_split_words(text: str, words: list[str]) -> None:
    assert split_words(text) == words


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('"open', 'unterminated " quote'),
        ("'open", "unterminated ' quote"),
        ("trailing\\", "backslash at the end"),
        (r"\xZZ", "two hex digits"),
        (r"\x4", "two hex digits"),
    ],
)
def test_split_words_errors(text: str, message: str) -> None:
    with pytest.raises(WordError, match=message) as info:
        split_words(text)
    assert isinstance(info.value, Invalid)  # the loader reports it with a location


@pytest.mark.parametrize(
    ("word", "quoted"),
    [("plain", "plain"), ("", '""'), ("a b", r"a\ b"), ("a'b", r"a\'b"), ("#", r"\#")],
)
def test_quote_word(word: str, quoted: str) -> None:
    assert quote_word(word) == quoted


@given(st.lists(st.text()))
def test_join_then_split_round_trips(words: list[str]) -> None:
    assert split_words(join_words(words)) == words


@given(st.text(alphabet=st.characters(blacklist_characters="\\'\"# \t"), min_size=1))
def test_plain_words_are_kept(word: str) -> None:
    assert split_words(word) == [word]
