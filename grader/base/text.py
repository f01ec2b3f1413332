"""Text someone else wrote, made safe to show: one sanitiser for terminals, CSV, HTML and Markdown.

File and folder names, quoted values and the reasons built from them reach an instructor's terminal and
spreadsheet. There a control character can rewrite what is shown (ANSI escape sequences, a carriage return),
a bidirectional override can make a name read backwards, a zero-width character can hide inside one, and a
name that is not UTF-8 (Python keeps its bytes as lone surrogates) cannot even be written. `printable`
writes each of these as a visible escape (`\\x1b`, `\\r`, `\\u202e`, `\\xff` for the byte of a name that is
not UTF-8); a backslash stays as it is, so escaping twice changes nothing. `csv_cell` also keeps a
spreadsheet from reading a cell as a formula, `html` and `markdown` escape their markup.
"""

from __future__ import annotations

import re
from html import escape

# C0 and C1 controls and DEL; bidi marks, embeddings, overrides and isolates; zero-width characters; the
# line and paragraph separators; lone surrogates (a name's undecodable bytes, or a broken escape in JSON)
_UNSAFE = re.compile(
    "[\x00-\x1f\x7f-\x9f\u061c\u200b-\u200f\u202a-\u202e\u2028\u2029\u2060\u2066-\u2069\ufeff\ud800-\udfff]"
)
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}
_SURROGATE_ESCAPES = range(0xDC80, 0xDD00)  # os.fsdecode's stand-ins for the bytes 0x80..0xff
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")  # a spreadsheet reads a cell starting so as a formula
_MARKDOWN = re.compile(r"([\\`*_\[\]<>|~!#])")


def _escaped(match: re.Match[str]) -> str:
    char = match.group()
    code = ord(char)
    if char in _NAMED:
        return _NAMED[char]
    if code in _SURROGATE_ESCAPES:
        return f"\\x{code - 0xDC00:02x}"
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def printable(text: str, *, lines: bool = False) -> str:
    """text with every character that could change what a reader sees escaped visibly; lines=True keeps \\n."""
    if lines:
        return "\n".join(_UNSAFE.sub(_escaped, line) for line in text.split("\n"))
    return _UNSAFE.sub(_escaped, text)


def is_printable(text: str) -> bool:
    """True when printable(text) is text: valid Unicode with nothing hidden or controlling in it."""
    return _UNSAFE.search(text) is None


def csv_cell(text: str) -> str:
    """One line of printable text that a spreadsheet shows as text, never runs as a formula."""
    shown = printable(" ".join(text.split()))
    return "'" + shown if shown.startswith(FORMULA_STARTS) else shown


def html(text: str) -> str:
    """Printable text with its markup escaped, line breaks kept (for a <pre> or a table cell)."""
    return escape(printable(text, lines=True))


def markdown(text: str) -> str:
    """Printable text on one line whose Markdown and HTML characters show as themselves."""
    return _MARKDOWN.sub(r"\\\1", printable(" ".join(text.split())))


def utf8(text: str) -> bytes:
    """text as bytes, whatever it holds: a name's undecodable bytes and lone surrogates included."""
    return text.encode("utf-8", "surrogatepass")
