"""``Closeable``: the lifecycle every extension point shares (httpx's transports do the same).

``close()`` releases resources and is a no-op by default; every backend is a
context manager that closes on exit.
"""

from __future__ import annotations

from types import TracebackType
from typing import Self

__all__ = ["Closeable"]


class Closeable:
    """Mixin: a default no-op ``close()`` and context-manager support."""

    def close(self) -> None:
        """Release resources. Idempotent; the default does nothing."""

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
