"""Table layouts: how column values are arranged into warehouse tables.

=============  ===============================================================
name           layout
=============  ===============================================================
``embedded``   :class:`EmbeddedLayout`: one ``events`` table, session values
               copied into every event row (the original's layout)
``split``      :class:`SplitLayout`: ``events`` and ``sessions`` tables joined
               by ``session_id``
``ga4_export`` :class:`Ga4ExportLayout`: one ``events`` table shaped like
               Google's GA4 BigQuery export (nested ``event_params``, ...)
=============  ===============================================================
"""

from __future__ import annotations

from d8a.errors import ConfigurationError
from d8a.layouts.base import Layout
from d8a.layouts.embedded import EmbeddedLayout
from d8a.layouts.ga4_export import Ga4ExportLayout
from d8a.layouts.split import SplitLayout

__all__ = [
    "LAYOUTS",
    "EmbeddedLayout",
    "Ga4ExportLayout",
    "Layout",
    "SplitLayout",
    "layout_from_name",
]

LAYOUTS: dict[str, type[Layout]] = {
    "embedded": EmbeddedLayout,
    "split": SplitLayout,
    "ga4_export": Ga4ExportLayout,
}
"""Layout names (as ``layout=`` takes them) and their classes, built with defaults."""


def layout_from_name(name: str | Layout) -> Layout:
    """The layout ``name`` names, built with its default table names; a Layout as is.

    Raises ConfigurationError for an unknown name, listing the known ones."""
    if isinstance(name, Layout):
        return name
    kind = LAYOUTS.get(name)
    if kind is None:
        raise ConfigurationError(f"unknown layout {name!r}; known: {', '.join(LAYOUTS)}")
    return kind()
