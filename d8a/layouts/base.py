"""The ``Layout``: which tables the columns make and how sessions become their rows."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence

import pyarrow as pa

from d8a.columns.base import Session
from d8a.columns.columnset import ColumnSet

__all__ = ["Layout"]


class Layout(ABC):
    """Decides table names and schemas, and arranges session values into Arrow tables.

    Stateless and thread-safe."""

    @abstractmethod
    def tables(self, columns: ColumnSet) -> dict[str, pa.Schema]:
        """Every table this layout writes, with its schema, in creation order."""

    @abstractmethod
    def to_tables(self, columns: ColumnSet, sessions: Sequence[Session]) -> dict[str, pa.Table]:
        """The rows of ``sessions`` (broken events already removed) per table."""
