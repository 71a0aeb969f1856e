"""Rows into a BigQuery table, for :class:`~d8a.warehouse.bigquery.BigQueryDriver`.

The write path once the table has every column of the batch: the rows whose
id the table does not hold yet (:func:`unwritten`, :func:`lookup_ids`), as
one Parquet load job (:func:`load_rows`) or as ``insertAll`` requests of
:data:`STREAMING_CHUNK` rows (:func:`stream_rows`). :mod:`d8a.warehouse.bigquery`
says why that makes a retried write idempotent.

google-cloud-bigquery is imported by these functions only, on first use.
"""

from __future__ import annotations

import datetime as dt
import io
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from d8a.errors import TerminalError
from d8a.warehouse.bigquery_types import arrow_type, insert_all_row, quote

if TYPE_CHECKING:
    from google.api_core.retry import Retry
    from google.cloud import bigquery

__all__ = ["STREAMING_CHUNK", "Run", "load_rows", "lookup_ids", "stream_rows", "unwritten"]

STREAMING_CHUNK = 500
"""Rows per ``insertAll`` request (BigQuery's recommendation)."""
_LOOKUP_CHUNK = 10_000

Run = Callable[[str, Sequence[Any]], Any]
"""``run(sql, parameters)``: run one query job to completion, return its row iterator."""


def unwritten(
    run: Run, table_name: str, columns: set[str], partition_field: str | None, data: pa.Table
) -> pa.Table:
    """``data`` less the rows whose id the table ``table_name`` already holds.

    ``columns`` are the table's column names in lower case. The lookup searches
    the partitions of the batch's dates only when ``partition_field`` is a DATE
    column of the batch that the table has too."""
    if "id" not in data.column_names or "id" not in columns:
        return data
    ids = [v for v in data.column("id").to_pylist() if v is not None]
    dates: list[dt.date] | None = None
    field = partition_field
    if (
        field
        and field in data.column_names
        and field.lower() in columns
        and pa.types.is_date(data.schema.field(field).type)
    ):
        dates = sorted({d for d in data.column(field).to_pylist() if d is not None})
    known = lookup_ids(run, table_name, ids, partition_field, dates)
    if not known:
        return data
    keep = [v is None or v not in known for v in data.column("id").to_pylist()]
    return data.filter(pa.array(keep, pa.bool_()))


def lookup_ids(
    run: Run,
    table_name: str,
    ids: Sequence[str],
    partition_field: str | None,
    dates: Sequence[dt.date] | None,
) -> set[str]:
    """The ids among ``ids`` in ``table_name`` (quoted ``project.dataset.table``),
    searched in the partitions of ``dates`` (and the NULL one) if given."""
    from google.cloud.bigquery import ArrayQueryParameter

    where = ""
    if dates is not None:
        column = quote(partition_field or "")
        where = f" AND ({column} IN UNNEST(@dates) OR {column} IS NULL)"
    found: set[str] = set()
    wanted = list(dict.fromkeys(str(i) for i in ids))
    for start in range(0, len(wanted), _LOOKUP_CHUNK):
        parameters = [ArrayQueryParameter("ids", "STRING", wanted[start : start + _LOOKUP_CHUNK])]
        if dates is not None:
            parameters.append(ArrayQueryParameter("dates", "DATE", list(dates)))
        rows = run(
            f"SELECT DISTINCT `id` FROM {table_name} WHERE `id` IN UNNEST(@ids){where}",
            parameters,
        )
        found.update(str(row[0]) for row in rows)
    return found


def load_rows(
    client: bigquery.Client,
    ref: str,
    schema: Sequence[bigquery.SchemaField],
    data: pa.Table,
    *,
    location: str | None,
    retry: Retry,
    timeout: float,
) -> None:
    """One Parquet load job into ``ref`` (``project.dataset.table``) with every
    column of ``schema``, the table's, in its order (NULLs where ``data`` lacks one)."""
    import pyarrow.parquet as pq
    from google.cloud import bigquery

    by_name = {name.lower(): name for name in data.column_names}
    columns = [
        data.column(by_name[f.name.lower()])
        if f.name.lower() in by_name
        else pa.nulls(data.num_rows, arrow_type(f))
        for f in schema
    ]
    full = pa.Table.from_arrays(columns, names=[f.name for f in schema])
    sink = io.BytesIO()
    pq.write_table(full, sink, coerce_timestamps="us", allow_truncated_timestamps=True)
    options = bigquery.ParquetOptions()  # type: ignore[no-untyped-call]  # untyped upstream
    options.enable_list_inference = True
    config = bigquery.LoadJobConfig(
        source_format=bigquery.SourceFormat.PARQUET,
        write_disposition=bigquery.WriteDisposition.WRITE_APPEND,
        create_disposition=bigquery.CreateDisposition.CREATE_NEVER,
        parquet_options=options,
    )
    job = client.load_table_from_file(
        sink,
        ref,
        rewind=True,
        num_retries=2,
        job_id_prefix="d8a_load_",
        location=location,
        job_config=config,
        timeout=timeout,
    )
    job.result(retry=retry, timeout=timeout)


def stream_rows(
    client: bigquery.Client,
    ref: str,
    table: str,
    data: pa.Table,
    *,
    retry: Retry,
    timeout: float,
) -> None:
    """``insertAll`` into ``ref`` in chunks, each row's ``id`` as its insertId.

    Rejected rows raise TerminalError naming ``table``."""
    from google.cloud.bigquery import AutoRowIDs

    rows = [insert_all_row(row) for row in data.to_pylist()]
    ids = data.column("id").to_pylist() if "id" in data.column_names else None
    for start in range(0, len(rows), STREAMING_CHUNK):
        chunk = slice(start, start + STREAMING_CHUNK)
        row_ids: Any = AutoRowIDs.DISABLED if ids is None else ids[chunk]
        errors = client.insert_rows_json(
            ref,
            rows[chunk],
            row_ids=row_ids,
            retry=retry,
            timeout=timeout,
        )
        if errors:
            raise TerminalError(f"BigQuery rejected rows of {table!r}: {errors[:3]}")
