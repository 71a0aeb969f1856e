"""Columns: the machinery (:mod:`d8a.columns.base`) and the catalogue of them.

``d8a.columns.describe(protocol)`` lists every column a protocol writes.
"""

from __future__ import annotations

from d8a.columns.catalogue import describe

__all__ = ["describe"]
