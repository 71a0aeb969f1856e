"""Table layouts: how column values are arranged into warehouse tables."""

from __future__ import annotations

from d8a.layouts.base import Layout
from d8a.layouts.embedded import EmbeddedLayout

__all__ = ["EmbeddedLayout", "Layout"]
