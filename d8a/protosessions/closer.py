"""The ``Closer``: what happens to a protosession once it is idle."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from types import TracebackType
from typing import Self

from d8a.hits import Hit

__all__ = ["Closer"]


class Closer(ABC):
    """Turns closed protosessions into written rows (or hands them on).

    ``close`` receives several protosessions at once so that a closer can write
    them in one warehouse transaction. Each protosession's hits are in event
    order. When ``close`` returns, the result is durable; it may be called again
    with the same protosessions after a crash, so it must be idempotent (the
    warehouse writes are, on event ``id``). Raise ``TransientError`` to retry.
    """

    @abstractmethod
    def close(self, protosessions: Sequence[Sequence[Hit]]) -> None:
        """Process closed protosessions."""

    def shutdown(self) -> None:  # noqa: B027  # a default no-op by design
        """Release resources; the default does nothing."""

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.shutdown()
