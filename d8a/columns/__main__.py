"""``python -m d8a.columns > docs/columns-catalogue.md`` regenerates the catalogue page."""

from __future__ import annotations

from d8a.columns.catalogue import catalogue_markdown

__all__: list[str] = []

print(catalogue_markdown(), end="")
