"""Sample data for the driver conformance suite: the schema, rows covering every type."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

import pyarrow as pa

__all__ = ["BAD_NAMES", "COLUMN_TYPES", "EXTRA_FIELD", "SCHEMA", "TABLE", "sample_rows"]

PARAM = pa.struct(
    [("name", pa.string()), ("value_string", pa.string()), ("value_number", pa.float64())]
)
SCHEMA = pa.schema(
    [
        ("id", pa.string()),
        ("name", pa.string()),
        ("count", pa.int64()),
        ("ratio", pa.float64()),
        ("active", pa.bool_()),
        ("timestamp_utc", pa.timestamp("s", tz="UTC")),
        ("date_utc", pa.date32()),
        ("params", pa.list_(PARAM)),
    ]
)
"""The table the suite creates."""

EXTRA_FIELD = pa.field("extra", pa.string())
"""The column the suite adds to :data:`SCHEMA`."""

COLUMN_TYPES = SCHEMA.append(EXTRA_FIELD)
"""Every column the suite writes, with its Arrow type (for ``read_back``)."""

TABLE = "events"
BAD_NAMES = ["", "1st", "a b", 'x"; DROP TABLE y; --', "a-b", "zażółć", "t" * 129]


def sample_rows(ids: Sequence[str], *, extra: bool = False) -> pa.Table:
    """Rows with the given ids covering every type of :data:`SCHEMA` and nulls.

    Row ``i`` follows pattern ``i % 3``: all values set, all but ``id`` null, or
    a mix with an empty list. Dates span two days. ``extra`` adds :data:`EXTRA_FIELD`.
    """
    rows: list[dict[str, Any]] = []
    for i, row_id in enumerate(ids):
        day = dt.date(2024, 1, 1 + i % 2)
        when = dt.datetime(2024, 1, 1 + i % 2, 12, 30, 15 + i % 40, tzinfo=dt.UTC)
        if i % 3 == 0:
            rows.append(
                {
                    "id": row_id,
                    "name": f"zażółć '{i}' \"quoted\"",
                    "count": 2**53 + 1 + i,
                    "ratio": 0.1 + i,
                    "active": True,
                    "timestamp_utc": when,
                    "date_utc": day,
                    "params": [
                        {"name": "page", "value_string": "/a?b=c", "value_number": None},
                        {"name": "value", "value_string": None, "value_number": 1.5 + i},
                    ],
                }
            )
        elif i % 3 == 1:
            rows.append({"id": row_id})
        else:
            rows.append(
                {
                    "id": row_id,
                    "name": "",
                    "count": -i,
                    "active": False,
                    "timestamp_utc": when,
                    "date_utc": day,
                    "params": [],
                }
            )
        if extra:
            rows[-1]["extra"] = f"extra-{i}"
    return pa.Table.from_pylist(rows, schema=COLUMN_TYPES if extra else SCHEMA)
