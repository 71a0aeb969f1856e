"""A small reader for the YAML of Matomo's ``searchengine-and-social-list``.

``SearchEngines.yml``, ``Socials.yml`` and ``AIAssistants.yml`` use a small,
regular part of YAML: block mappings and block sequences nested by
indentation, ``- key: value`` items, plain, single- and double-quoted
scalars, empty flow sequences (``[]``) and simple flow sequences of scalars,
blank lines and ``#`` comments. :func:`parse_matomo_yaml` reads exactly that
(every scalar comes back as ``str``) so the core package needs no YAML
library; anything else (anchors, tags, multi-line or block scalars, flow
mappings, tabs) raises :class:`~d8a.errors.ConfigurationError` naming the
line, rather than being read wrongly.
"""

from __future__ import annotations

import re
from typing import Any

from d8a.errors import ConfigurationError

__all__ = ["parse_matomo_yaml"]

_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "0": "\0", "\\": "\\", '"': '"', "/": "/", " ": " "}
_UNSUPPORTED = ("&", "*", "!", "|", ">", "{", "%", "@", "`")


class _Line:
    __slots__ = ("indent", "number", "text")

    def __init__(self, number: int, indent: int, text: str) -> None:
        self.number = number
        self.indent = indent
        self.text = text


def _error(line: _Line | int, message: str) -> ConfigurationError:
    number = line.number if isinstance(line, _Line) else line
    return ConfigurationError(f"line {number}: {message}")


def _quoted(text: str, number: int) -> tuple[str, str]:
    """A quoted scalar at the start of ``text``: (value, rest of the text)."""
    quote = text[0]
    out: list[str] = []
    i = 1
    while i < len(text):
        char = text[i]
        if quote == "'" and char == "'":
            if text[i + 1 : i + 2] == "'":
                out.append("'")
                i += 2
                continue
            return "".join(out), text[i + 1 :]
        if quote == '"' and char == '"':
            return "".join(out), text[i + 1 :]
        if quote == '"' and char == "\\":
            code = text[i + 1 : i + 2]
            if code == "u" and re.fullmatch(r"[0-9a-fA-F]{4}", text[i + 2 : i + 6]):
                out.append(chr(int(text[i + 2 : i + 6], 16)))
                i += 6
                continue
            if code not in _ESCAPES:
                raise _error(number, f"unsupported escape \\{code} in a double-quoted scalar")
            out.append(_ESCAPES[code])
            i += 2
            continue
        out.append(char)
        i += 1
    raise _error(number, "unterminated quoted scalar (multi-line scalars are not supported)")


def _plain(text: str, number: int) -> str:
    """A plain scalar: up to a ``" #"`` comment, stripped."""
    cut = text.find(" #")
    value = (text if cut < 0 else text[:cut]).strip(" \t")
    if value[:1] in _UNSUPPORTED:
        raise _error(number, f"unsupported YAML syntax {value[:1]!r}")
    return value


def _scalar(text: str, number: int) -> Any:
    """The value after ``key:`` or ``-`` on one line: a scalar or a flow sequence."""
    text = text.strip(" \t")
    if text[:1] in ("'", '"'):
        value, rest = _quoted(text, number)
        rest = rest.strip()
        if rest and not rest.startswith("#"):
            raise _error(number, f"unexpected text after a quoted scalar: {rest!r}")
        return value
    if text.startswith("["):
        end = text.rfind("]")
        if end < 0:
            raise _error(number, "unterminated flow sequence")
        inner = text[1:end].strip()
        items: list[str] = []
        while inner:
            if inner[0] in ("'", '"'):
                value, inner = _quoted(inner, number)
                items.append(value)
                inner = inner.strip()
            else:
                value, _, inner = inner.partition(",")
                items.append(_plain(value, number))
                inner = inner.strip()
                continue
            if inner.startswith(","):
                inner = inner[1:].strip()
            elif inner:
                raise _error(number, f"unexpected text in a flow sequence: {inner!r}")
        return items
    return _plain(text, number)


def _split_key(line: _Line) -> tuple[str, str] | None:
    """``(key, rest)`` when the line is ``key: ...``, else None."""
    text = line.text
    if text[:1] in ("'", '"'):
        key, rest = _quoted(text, line.number)
        rest = rest.lstrip()
        if not rest.startswith(":"):
            return None
        return key, rest[1:]
    match = re.match(r"(.*?):(?:[ \t]|$)", text)
    if match is None:
        return None
    return match.group(1).strip(" \t"), text[match.end() :]


class _Parser:
    def __init__(self, text: str) -> None:
        self.lines: list[_Line] = []
        # YAML breaks lines at \n (and \r\n) only, not at every Unicode separator.
        for number, raw in enumerate(text.split("\n"), 1):
            body = raw.rstrip(" \t\r")
            stripped = body.lstrip(" \t")
            if not stripped or stripped.startswith("#") or stripped in ("---", "..."):
                continue
            indent = len(body) - len(body.lstrip(" "))
            if body[indent : indent + 1] == "\t":
                raise _error(number, "tabs are not allowed for indentation")
            self.lines.append(_Line(number, indent, body[indent:]))
        self.position = 0

    def parse(self) -> Any:
        if not self.lines:
            return {}
        value = self.block(self.lines[0].indent)
        if self.position < len(self.lines):
            raise _error(self.lines[self.position], "unexpected indentation")
        return value

    def peek(self) -> _Line | None:
        return self.lines[self.position] if self.position < len(self.lines) else None

    def block(self, indent: int) -> Any:
        line = self.peek()
        assert line is not None
        if line.text == "-" or line.text.startswith("- "):
            return self.sequence(indent)
        return self.mapping(indent)

    def sequence(self, indent: int) -> list[Any]:
        items: list[Any] = []
        while (line := self.peek()) is not None and line.indent == indent:
            if not (line.text == "-" or line.text.startswith("- ")):
                break
            self.position += 1
            rest = line.text[1:]
            content = rest.lstrip(" ")
            if not content:
                following = self.peek()
                if following is None or following.indent <= indent:
                    items.append(None)
                else:
                    items.append(self.block(following.indent))
                continue
            inner = _Line(line.number, indent + 1 + len(rest) - len(content), content)
            if _split_key(inner) is not None:  # "- key: value" opens a mapping
                self.lines.insert(self.position, inner)
                items.append(self.mapping(inner.indent))
            elif content == "-" or content.startswith("- "):
                raise _error(line, "nested '- -' sequences are not supported")
            else:
                items.append(_scalar(content, line.number))
        return items

    def mapping(self, indent: int) -> dict[str, Any]:
        result: dict[str, Any] = {}
        while (line := self.peek()) is not None and line.indent == indent:
            if line.text == "-" or line.text.startswith("- "):
                break
            split = _split_key(line)
            if split is None:
                raise _error(line, f"expected 'key: value', got {line.text!r}")
            key, rest = split
            if key in result:
                raise _error(line, f"duplicate key {key!r}")
            self.position += 1
            rest = rest.strip(" \t")
            if rest and not rest.startswith("#"):
                result[key] = _scalar(rest, line.number)
                continue
            following = self.peek()
            if following is not None and (
                following.indent > indent
                or (
                    following.indent == indent
                    and (following.text == "-" or following.text.startswith("- "))
                )
            ):
                result[key] = self.block(following.indent)
            else:
                result[key] = None
        return result


def parse_matomo_yaml(text: str) -> Any:
    """The value of a Matomo list YAML document (nested dicts/lists of ``str``).

    Raises ConfigurationError naming the line for YAML outside the supported part."""
    return _Parser(text).parse()
