"""The value casts against Go's ``strconv`` rules, which the original uses."""

from __future__ import annotations

import math
import re

from hypothesis import given
from hypothesis import strategies as st

from d8a.columns.casts import to_float, to_int

_GO_INT = re.compile(r"[+-]?[0-9]+")
_GO_DECIMAL = re.compile(r"[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?")

number_like = st.one_of(
    st.text(alphabet="0123456789+-._eE \t\n٣²", max_size=12),
    st.integers().map(str),
    st.floats().map(repr),
    st.text(max_size=8),
)


def _go_int(text: str) -> int | None:
    """``strconv.ParseInt(text, 10, 64)``, None on error."""
    if not _GO_INT.fullmatch(text):
        return None
    number = int(text)
    return number if -(2**63) <= number < 2**63 else None


def _go_float(text: str) -> float | None:
    """``strconv.ParseFloat(text, 64)`` for decimal text, None on error or when not finite."""
    if not _GO_DECIMAL.fullmatch(text):
        return None
    number = float(text)
    return number if math.isfinite(number) else None


@given(number_like)
def test_to_int_reads_what_go_parseint_reads(text: str) -> None:
    assert to_int(text) == _go_int(text)


@given(number_like)
def test_to_float_reads_what_go_parsefloat_reads(text: str) -> None:
    assert to_float(text) == _go_float(text)


def test_python_only_spellings_are_null() -> None:
    """Python's int and float read these; Go's strconv, and so d8a, do not."""
    for text in ("1_000", " 12", "12 ", "\t7\n", "٣", "+ 1"):
        assert to_int(text) is None, text
        assert to_float(text) is None, text
    for text in ("1_0.5", " 1.5", "1.5\n"):
        assert to_float(text) is None, text
    assert to_int("-12") == -12 and to_int("+7") == 7 and to_int("007") == 7
    assert to_int(str(2**63)) is None and to_int(str(-(2**63))) == -(2**63)
    assert to_float("-.5") == -0.5 and to_float("1e3") == 1000.0 and to_float("5.") == 5.0
    assert to_float("inf") is None and to_float("nan") is None and to_float("1e999") is None
