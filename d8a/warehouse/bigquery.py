"""``BigQueryDriver``: tables in a BigQuery dataset (``pip install 'd8a[bigquery]'``).

Tables are created with DDL (``CREATE TABLE IF NOT EXISTS … PARTITION BY
date_utc``: one partition per day of the event date) and the type mapping of
:mod:`d8a.warehouse.bigquery_types`: lists are ``REPEATED`` columns, structs
``RECORD`` ones. Unlike the original, no column is ``REQUIRED``: BigQuery
cannot add a REQUIRED column later, and a Parquet file's optional column does
not load into one.

Rows go in as one **load job** per write, from a Parquet file written in
memory from the Arrow table (free of charge, atomic: all rows or none), or,
with ``write="streaming"``, by ``insertAll`` requests of 500 rows carrying the
event ``id`` as ``insertId``. A write adds the columns the table lacks first
(``ALTER TABLE … ADD COLUMN``); what follows is in :mod:`d8a.warehouse.bigquery_writes`.

Idempotence: before writing, the driver asks which of the batch's ids the
table already holds and writes only the others; the query filters on the
partitions of the batch's dates (and the NULL one), because an event's ``id``
always comes with the same date. Load jobs are atomic, so a retried batch
writes exactly the rows the first attempt did not. Streamed rows are queryable
at once, so the same check covers streaming; BigQuery's ``insertId``
deduplication (best effort, about a minute) also covers a retry whose first
request did arrive. Duplicate ids inside one batch keep the first. Not
covered: a retry that starts while the first attempt's load job, whose result
timed out, is still running.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal

import pyarrow as pa
from typing_extensions import override

from d8a.errors import ConfigurationError, TableNotFoundError, TerminalError
from d8a.warehouse._arrow import first_occurrences, validate_field, validate_schema
from d8a.warehouse.base import Driver, validate_identifier
from d8a.warehouse.bigquery_client import (
    anonymous_credentials,
    check_project,
    make_client,
    translated_errors,
)
from d8a.warehouse.bigquery_types import column_ddl, ddl_type, quote, schema_field, sql_string
from d8a.warehouse.bigquery_writes import STREAMING_CHUNK as STREAMING_CHUNK
from d8a.warehouse.bigquery_writes import load_rows, lookup_ids, stream_rows, unwritten

if TYPE_CHECKING:
    from google.cloud import bigquery

__all__ = ["BigQueryDriver", "WriteMode", "anonymous_credentials"]

WriteMode = Literal["load", "streaming"]


class BigQueryDriver(Driver):
    """Writes Arrow tables to ``dataset`` in BigQuery.

    Pass ``client`` (a ``google.cloud.bigquery.Client``, not closed by
    :meth:`close`) or let the driver build one from ``project``,
    ``credentials`` (default: the environment's, as google-auth finds them),
    ``location`` and ``client_options`` (``{"api_endpoint": …}`` for an
    emulator). Every API call retries for at most ``timeout`` seconds, so an
    unreachable endpoint fails fast with TransientError. ``partition_field``
    names the DATE (or TIMESTAMP) column of the daily partitions; a table
    without it is not partitioned. A missing dataset is created in
    ``location``. Calls are serialised by a lock.
    """

    def __init__(
        self,
        client: bigquery.Client | None = None,
        *,
        dataset: str,
        project: str | None = None,
        location: str | None = None,
        credentials: Any = None,
        client_options: Mapping[str, Any] | Any = None,
        write: WriteMode = "load",
        partition_field: str | None = "date_utc",
        timeout: float = 60.0,
    ) -> None:
        if write not in ("load", "streaming"):
            raise ConfigurationError(f"write must be 'load' or 'streaming', not {write!r}")
        if not timeout > 0:
            raise ConfigurationError(f"timeout must be positive, not {timeout!r}")
        self.dataset = validate_identifier(dataset)
        self.partition_field = partition_field and validate_identifier(partition_field)
        self.write_mode: WriteMode = write
        self.timeout = float(timeout)
        self.location = location
        self._owned = client is None
        if client is None:
            if project is not None:
                check_project(project)
            if isinstance(client_options, Mapping):
                client_options = dict(client_options)
            client = make_client(project, credentials, location, client_options)
        self.project = check_project(project or str(client.project))
        self._client: bigquery.Client | None = client
        from google.cloud.bigquery.retry import DEFAULT_JOB_RETRY, DEFAULT_RETRY

        self._retry = DEFAULT_RETRY.with_deadline(self.timeout)
        self._job_retry = DEFAULT_JOB_RETRY.with_deadline(self.timeout)
        self._lock = threading.RLock()

    # -- names and plumbing ---------------------------------------------------

    def table_name(self, table: str) -> str:
        """The quoted ``project.dataset.table`` of ``table`` for SQL text."""
        return f"`{self._ref(table)}`"

    def _ref(self, table: str) -> str:
        return f"{self.project}.{self.dataset}.{validate_identifier(table)}"

    def _live(self) -> bigquery.Client:
        if self._client is None:
            raise TerminalError("BigQueryDriver is closed")
        return self._client

    def _get(self, table: str) -> bigquery.Table:
        """The table's metadata; TableNotFoundError when it does not exist."""
        return self._live().get_table(self._ref(table), retry=self._retry, timeout=self.timeout)

    def _run(self, sql: str, parameters: Sequence[Any] = ()) -> Any:
        """Run one query job to completion and return its row iterator."""
        from google.cloud import bigquery

        config = bigquery.QueryJobConfig(query_parameters=list(parameters))
        job = self._live().query(
            sql,
            job_config=config,
            location=self.location,
            retry=self._retry,
            job_retry=self._job_retry,
            timeout=self.timeout,
        )
        return job.result(retry=self._retry, timeout=self.timeout)

    @staticmethod
    def _names(table: bigquery.Table) -> set[str]:
        return {f.name.lower() for f in table.schema}

    # -- DDL ------------------------------------------------------------------

    @override
    def create_table_sql(self, table: str, schema: pa.Schema) -> list[str]:
        ref = self._ref(table)
        if not len(schema):
            raise ConfigurationError(f"cannot create table {table!r} without columns")
        columns = ", ".join(column_ddl(f) for f in validate_schema(schema))
        partition = ""
        field = self.partition_field
        if field and field in schema.names:
            kind = schema.field(field).type
            if pa.types.is_date(kind):
                partition = f" PARTITION BY {quote(field)}"
            elif pa.types.is_timestamp(kind):
                partition = f" PARTITION BY DATE({quote(field)})"
        statements = [f"CREATE TABLE IF NOT EXISTS `{ref}` ({columns}){partition}"]
        if not self._dataset_exists():
            where = f" OPTIONS(location={sql_string(self.location)})" if self.location else ""
            statements.insert(
                0, f"CREATE SCHEMA IF NOT EXISTS `{self.project}.{self.dataset}`{where}"
            )
        return statements

    def _dataset_exists(self) -> bool:
        try:
            with self._lock, translated_errors():
                self._live().get_dataset(
                    f"{self.project}.{self.dataset}", retry=self._retry, timeout=self.timeout
                )
        except TableNotFoundError:
            return False
        return True

    @override
    def add_column_sql(self, table: str, field: pa.Field) -> list[str]:
        return [
            f"ALTER TABLE {self.table_name(table)} ADD COLUMN IF NOT EXISTS {column_ddl(field)}"
        ]

    @override
    def create_table(self, table: str, schema: pa.Schema) -> None:
        statements = self.create_table_sql(table, schema)
        with self._lock, translated_errors():
            for sql in statements:
                self._run(sql)

    def _add(self, table: str, field: pa.Field) -> None:
        for sql in self.add_column_sql(table, field):
            self._run(sql)
        current = self._get(table)
        if field.name.lower() not in self._names(current):
            # bqemulator 1.4 applies ALTER TABLE to its storage but not to the
            # table's metadata; BigQuery itself never takes this branch.
            current.schema = [*current.schema, schema_field(field)]
            self._live().update_table(current, ["schema"], retry=self._retry, timeout=self.timeout)

    @override
    def add_column(self, table: str, field: pa.Field) -> None:
        column_ddl(validate_field(field))
        self._ref(table)
        with self._lock, translated_errors():
            if field.name.lower() not in self._names(self._get(table)):
                self._add(table, field)

    @override
    def missing_columns(self, table: str, schema: pa.Schema) -> list[pa.Field]:
        self._ref(table)
        with self._lock, translated_errors():
            have = self._names(self._get(table))
        return [f for f in schema if f.name.lower() not in have]

    # -- writes ---------------------------------------------------------------

    @override
    def write(self, table: str, data: pa.Table) -> None:
        self._ref(table)
        for field in validate_schema(data.schema):
            ddl_type(field.type)  # refuse unsupported types before any request
        data = first_occurrences(data)
        with self._lock, translated_errors():
            current = self._get(table)
            added = [f for f in data.schema if f.name.lower() not in self._names(current)]
            for field in added:
                self._add(table, field)
            if added:
                current = self._get(table)
            if not data.num_rows or not data.num_columns:
                return
            columns = self._names(current)
            data = unwritten(self._run, self.table_name(table), columns, self.partition_field, data)
            if not data.num_rows:
                return
            client, ref = self._live(), self._ref(table)
            if self.write_mode == "streaming":
                stream_rows(client, ref, table, data, retry=self._retry, timeout=self.timeout)
            else:
                load_rows(
                    client,
                    ref,
                    current.schema,
                    data,
                    location=self.location,
                    retry=self._retry,
                    timeout=self.timeout,
                )

    @override
    def existing_ids(self, table: str, ids: Sequence[str]) -> set[str]:
        self._ref(table)
        with self._lock, translated_errors():
            if not ids or "id" not in self._names(self._get(table)):
                return set()
            return lookup_ids(self._run, self.table_name(table), ids, self.partition_field, None)

    def query(self, sql: str) -> pa.Table:
        """Run ``sql`` (GoogleSQL, trusted text) and return its rows as Arrow.

        For reading back and for tests; name tables with :meth:`table_name`."""
        with self._lock, translated_errors():
            result: pa.Table = self._run(sql).to_arrow(create_bqstorage_client=False)
        return result

    @override
    def close(self) -> None:
        with self._lock:
            if self._client is not None and self._owned:
                self._client.close()  # type: ignore[no-untyped-call]  # untyped upstream
            self._client = None
