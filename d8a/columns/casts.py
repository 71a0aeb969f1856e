"""Value casts shared by columns, with the original's rules.

String casts turn ``""`` into None and truncate at :data:`MAX_STRING_BYTES`
UTF-8 bytes on a character boundary (the original cut bytes and could split a
character). Number and bool casts return None when the text does not parse;
numbers parse as Go's ``strconv`` does, which is stricter than Python.
"""

from __future__ import annotations

import math

__all__ = ["MAX_STRING_BYTES", "to_bool", "to_float", "to_int", "to_string"]

MAX_STRING_BYTES = 8096
_TRUE = frozenset({"true", "yes", "y", "on", "1", "t"})
_FALSE = frozenset({"false", "no", "n", "off", "0", "f"})


def to_string(value: str | None) -> str | None:
    """``""`` -> None; otherwise truncated to MAX_STRING_BYTES bytes of UTF-8."""
    if not value:
        return None
    if len(value) * 4 <= MAX_STRING_BYTES:  # cannot be too long: skip the encode
        return value
    encoded = value.encode()
    if len(encoded) <= MAX_STRING_BYTES:
        return value
    return encoded[:MAX_STRING_BYTES].decode(errors="ignore")


def to_int(value: str | None) -> int | None:
    """Base-10 integer as Go's ``strconv.ParseInt`` reads it: an optional sign and
    ASCII digits, within 64 bits; else None (``"12.0"`` -> None, as in the original).
    Python's ``int`` also reads blanks around the digits, ``_`` between them and
    non-ASCII digits: those are None here."""
    if not value:
        return None
    digits = value[1:] if value[0] in "+-" else value
    if not (digits.isascii() and digits.isdigit()):
        return None
    number = int(value, 10)
    return number if -(2**63) <= number < 2**63 else None


def to_float(value: str | None) -> float | None:
    """A finite float as Go's ``strconv.ParseFloat`` reads decimal text, else None.
    Python's ``float`` also reads blanks around the number, ``_`` between digits and
    non-ASCII digits: those are None here, and so are infinities, NaN and the
    hexadecimal floats Go also reads (``"0x1p-2"``)."""
    if not value or not value.isascii() or "_" in value:
        return None
    if value[0].isspace() or value[-1].isspace():
        return None
    try:
        number = float(value)
    except ValueError:
        return None
    return number if math.isfinite(number) else None


def to_bool(value: str | None) -> bool | None:
    """``true/yes/y/on/1/t`` -> True, ``false/no/n/off/0/f`` -> False (any case), else None."""
    if not value:
        return None
    lowered = value.strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    return None
