"""Tokens of filter expressions, and the value of their string literals."""

from __future__ import annotations

import re
from typing import NamedTuple

from d8a.errors import ConfigurationError

__all__ = ["Token", "tokenize", "unescape"]


class Token(NamedTuple):
    """One token: ``kind`` is number, name, string, op or end; ``pos`` its offset."""

    kind: str
    text: str
    pos: int

    def describe(self) -> str:
        """The token as an error message names it."""
        return "end of expression" if self.kind == "end" else repr(self.text)


_TOKEN = re.compile(
    r"""(?P<space>\s+|//[^\n]*|/\*.*?\*/)
    |(?P<number>(?:\d+(?:\.\d+)?|\.\d+)(?:[eE][+-]?\d+)?)
    |(?P<name>[A-Za-z_$][A-Za-z0-9_$]*)
    |(?P<string>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`)
    |(?P<op>==|!=|<=|>=|&&|\|\||[<>!()\[\],+-])""",
    re.VERBOSE | re.DOTALL,
)


def tokenize(source: str) -> list[Token]:
    """The tokens of ``source``, ending with an ``end`` token; comments (``//``,
    ``/* */``) and white space are skipped. ConfigurationError on a character
    that starts no token."""
    tokens: list[Token] = []
    pos = 0
    while pos < len(source):
        match = _TOKEN.match(source, pos)
        if match is None:
            char = source[pos]
            what = "unterminated string" if char in "\"'`" else f"character {char!r}"
            what += " (compare with ==)" if char == "=" else ""
            raise ConfigurationError(f"unexpected {what} at position {pos}")
        kind = match.lastgroup or ""
        if kind != "space":
            tokens.append(Token(kind, match.group(), pos))
        pos = match.end()
    tokens.append(Token("end", "", len(source)))
    return tokens


_ESCAPE = re.compile(
    r"\\(?:([abfnrtv\\'\"])|x([0-9a-fA-F]{2})|u([0-9a-fA-F]{4})|U([0-9a-fA-F]{8})|([0-7]{3})|(.?))",
    re.DOTALL,
)
_SIMPLE = dict(zip("abfnrtv\\'\"", "\a\b\f\n\r\t\v\\'\"", strict=True))


def _escaped(match: re.Match[str]) -> str:
    simple, hex2, hex4, hex8, octal, other = match.groups()
    if simple:
        return _SIMPLE[simple]
    if other is not None:
        raise ValueError(f"unknown escape \\{other}")
    if hex2 or octal:
        code = int(hex2, 16) if hex2 else int(octal, 8)
        if code > 0x7F:  # Go reads these as bytes, which are not characters on their own
            raise ValueError(f"escape {match.group()} is a byte above 0x7f; use \\u{code:04x}")
        return chr(code)
    code = int(hex4 or hex8, 16)
    if code > 0x10FFFF or 0xD800 <= code <= 0xDFFF:
        raise ValueError(f"escape {match.group()} is not a character")
    return chr(code)


def unescape(token: str) -> str:
    """The value of a string literal token (quotes included): Go's escapes in
    ``"..."`` and ``'...'``, none in a `` `raw` `` string. ValueError for a bad escape."""
    body = token[1:-1]
    if token[0] == "`" or "\\" not in body:
        return body
    return _ESCAPE.sub(_escaped, body)
