"""HAProxy's word splitting, shared by every value parser of the loader.

A value is "the rest of the HAProxy line", so it must be cut into words exactly as HAProxy's
``parse_line()`` does, or a pasted ``stats realm HAProxy\\ Global\\ stats`` or a quoted header
value would mean something else here than there:

* spaces and tabs separate words;
* a backslash escapes the next character: ``\\ ``, ``\\\\``, ``\\'``, ``\\"``, ``\\#`` and
  ``\\$`` give the character itself, ``\\r``, ``\\n``, ``\\t`` and ``\\xHH`` give the control
  character or byte, and any other pair (``\\1``, ``\\.``) is kept as written so regular
  expressions and back-references survive;
* ``"..."`` (weak quotes) groups words, escapes still apply inside;
* ``'...'`` (strong quotes) groups words, nothing is interpreted inside;
* quotes may start or end in the middle of a word (``a"b c"`` is ``ab c``), and ``""`` is an
  empty word;
* an unquoted, unescaped ``#`` ends the line (a comment).

Environment variables (``"${VAR}"``) are not expanded: stack reads its settings from the file.
"""

from __future__ import annotations

from .errors import Invalid

_SIMPLE_ESCAPES = {" ": " ", "\\": "\\", "'": "'", '"': '"', "#": "#", "$": "$"}
_CONTROL_ESCAPES = {"r": "\r", "n": "\n", "t": "\t"}
_HEX = "0123456789abcdefABCDEF"
_NEEDS_ESCAPE = {" ": "\\ ", "\\": "\\\\", "'": "\\'", '"': '\\"', "#": "\\#", "$": "\\$"}
_NEEDS_ESCAPE.update({"\r": "\\r", "\n": "\\n", "\t": "\\t"})


class WordError(Invalid):
    """A value that HAProxy could not cut into words (an unterminated quote, a bad escape)."""


def split_words(text: str) -> list[str]:
    """Cut ``text`` into words the way HAProxy cuts a configuration line."""
    words: list[str] = []
    current: list[str] = []
    in_word = False  # distinguishes the empty word ``""`` from no word at all
    quote = ""  # "", '"' or "'"
    i = 0
    n = len(text)
    while i < n:
        c = text[i]
        if quote == "'":
            if c == "'":
                quote = ""
            else:
                current.append(c)
            i += 1
            continue
        if c == "\\":
            if i + 1 >= n:
                raise WordError("a backslash at the end of the value escapes nothing")
            nxt = text[i + 1]
            if nxt in _SIMPLE_ESCAPES:
                current.append(_SIMPLE_ESCAPES[nxt])
                i += 2
            elif nxt in _CONTROL_ESCAPES:
                current.append(_CONTROL_ESCAPES[nxt])
                i += 2
            elif nxt == "x":
                digits = text[i + 2 : i + 4]
                if len(digits) != 2 or any(d not in _HEX for d in digits):
                    raise WordError(f"'\\x' must be followed by two hex digits, not {digits!r}")
                current.append(chr(int(digits, 16)))
                i += 4
            else:
                current.append(c)
                current.append(nxt)
                i += 2
            in_word = True
            continue
        if quote == '"':
            if c == '"':
                quote = ""
            else:
                current.append(c)
            i += 1
            continue
        if c in " \t":
            if in_word:
                words.append("".join(current))
                current = []
                in_word = False
            i += 1
            continue
        if c == "#":
            break
        if c in "'\"":
            quote = c
            in_word = True
            i += 1
            continue
        current.append(c)
        in_word = True
        i += 1
    if quote:
        raise WordError(f"unterminated {quote} quote")
    if in_word:
        words.append("".join(current))
    return words


def quote_word(word: str) -> str:
    """Write ``word`` so that :func:`split_words` gives it back unchanged (for messages/docs)."""
    if word == "":
        return '""'
    if not any(c in _NEEDS_ESCAPE for c in word):
        return word
    return "".join(_NEEDS_ESCAPE.get(c, c) for c in word)


def join_words(words: list[str]) -> str:
    """The inverse of :func:`split_words` for a list of words."""
    return " ".join(quote_word(w) for w in words)
