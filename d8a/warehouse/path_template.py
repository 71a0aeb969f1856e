"""The original's file path template (``warehouse.files.path_template``, reference §9.4).

Go-template placeholders ``{{.Name}}`` are kept, so a template from the
original's configuration works unchanged. Variables:

==============  =============================================================
``Table``       the table name, characters outside ``[A-Za-z0-9_-]`` as ``_``
``Schema``      the schema fingerprint: 16 hex digits of a SHA-256
``SegmentID``   the batch id: a hash of the rows' ids (same rows, same name)
``Extension``   ``parquet``, ``csv`` or ``csv.gz``
``Year``        the **event** date's year (the original used the seal time)
``Month``, ``MonthPadded``, ``Day``, ``DayPadded``   of the event date
==============  =============================================================

Rows without a usable ``date_utc`` get :data:`NO_DATE` for every date
variable. A template that is absolute, has an empty or ``.``/``..`` path
segment, or could name a file outside the root is rejected when the driver
is built, and every rendered path is checked again before a write.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import PurePosixPath

from d8a.errors import ConfigurationError

__all__ = ["DEFAULT_TEMPLATE", "NO_DATE", "PathTemplate"]

DEFAULT_TEMPLATE = (
    "table={{.Table}}/schema={{.Schema}}/y={{.Year}}/m={{.MonthPadded}}/d={{.DayPadded}}/"
    "{{.SegmentID}}.{{.Extension}}"
)
"""The original's default template."""

NO_DATE = "__HIVE_DEFAULT_PARTITION__"
"""The value of every date variable for rows without a usable date."""

VARIABLES = (
    "Table",
    "Schema",
    "SegmentID",
    "Extension",
    "Year",
    "Month",
    "MonthPadded",
    "Day",
    "DayPadded",
)
_PLACEHOLDER = re.compile(r"\{\{\s*\.(\w+)\s*\}\}")
_UNSAFE = re.compile(r"[^A-Za-z0-9_-]")
_DATE = re.compile(r"([0-9]{4})-([0-9]{2})-([0-9]{2})")


def escape(value: str) -> str:
    """``value`` with every character outside ``[A-Za-z0-9_-]`` replaced by ``_``."""
    return _UNSAFE.sub("_", value)


def date_variables(date: str | None) -> dict[str, str]:
    """The date variables for a ``YYYY-MM-DD`` string, or :data:`NO_DATE` ones."""
    match = _DATE.fullmatch(date or "")
    if match is None:
        return dict.fromkeys(("Year", "Month", "MonthPadded", "Day", "DayPadded"), NO_DATE)
    year, month, day = match.groups()
    return {
        "Year": year,
        "Month": str(int(month)),
        "MonthPadded": month,
        "Day": str(int(day)),
        "DayPadded": day,
    }


class PathTemplate:
    """A validated template; :meth:`render` gives the relative path of one file."""

    def __init__(self, template: str = DEFAULT_TEMPLATE) -> None:
        unknown = sorted(set(_PLACEHOLDER.findall(template)) - set(VARIABLES))
        if unknown:
            raise ConfigurationError(
                f"path template {template!r} uses unknown variable(s) {', '.join(unknown)}; "
                f"known: {', '.join(VARIABLES)}"
            )
        if "{{" in _PLACEHOLDER.sub("", template) or "}}" in _PLACEHOLDER.sub("", template):
            raise ConfigurationError(f"path template {template!r}: only {{{{.Name}}}} is supported")
        used = set(_PLACEHOLDER.findall(template))
        if not {"SegmentID", "Table"} <= used:
            raise ConfigurationError(
                f"path template {template!r} must contain {{{{.Table}}}} and {{{{.SegmentID}}}}, "
                "or tables and batches would overwrite each other's files"
            )
        self.template = template
        # Variables are escaped or digits, so only the literal text can escape the root.
        self._check(_PLACEHOLDER.sub("x", template), template)

    @staticmethod
    def _check(path: str, template: str) -> PurePosixPath:
        pure = PurePosixPath(path)
        parts = path.split("/")
        if pure.is_absolute() or "\\" in path or any(p in ("", ".", "..") for p in parts):
            raise ConfigurationError(
                f"path template {template!r} gives {path!r}, which is absolute, has an empty, "
                "'.' or '..' segment, or could leave the root directory"
            )
        return pure

    def render(self, variables: Mapping[str, str]) -> PurePosixPath:
        """The relative path for ``variables``; ConfigurationError if it escapes."""
        values = {name: str(value) for name, value in variables.items()}
        values["Table"] = escape(values.get("Table", ""))
        path = _PLACEHOLDER.sub(lambda m: values[m.group(1)], self.template)
        return self._check(path, self.template)

    def glob(self, table: str) -> str:
        """A glob pattern matching every file of ``table``."""
        return _PLACEHOLDER.sub(
            lambda m: escape(table) if m.group(1) == "Table" else "*", self.template
        )
