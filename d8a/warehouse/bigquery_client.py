"""The google-cloud-bigquery client for :mod:`d8a.warehouse.bigquery`: import, errors.

google-cloud-bigquery (the ``bigquery`` extra) is imported by these functions
only, on first use.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from d8a.errors import (
    ConfigurationError,
    MissingDependencyError,
    TableNotFoundError,
    TransientError,
)

if TYPE_CHECKING:
    from google.cloud import bigquery

__all__ = ["anonymous_credentials", "check_project", "make_client", "translated_errors"]

_PROJECT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9.:_-]{0,127}$")


def check_project(project: str) -> str:
    """Return ``project`` if it is a plausible project id (no quotes, no spaces)."""
    if not isinstance(project, str) or not _PROJECT.match(project):
        raise ConfigurationError(f"invalid BigQuery project id {project!r}")
    return project


@contextmanager
def translated_errors() -> Iterator[None]:
    """NotFound becomes TableNotFoundError; server, network and deadline errors TransientError."""
    import concurrent.futures

    import requests
    from google.api_core import exceptions

    try:
        yield
    except exceptions.NotFound as exc:
        raise TableNotFoundError(f"BigQuery: {exc}") from exc
    except (
        exceptions.RetryError,
        exceptions.ServerError,
        exceptions.TooManyRequests,
        requests.exceptions.ConnectionError,
        requests.exceptions.Timeout,
        concurrent.futures.TimeoutError,
    ) as exc:
        raise TransientError(f"BigQuery: {exc}") from exc


def anonymous_credentials() -> Any:
    """google-auth's anonymous credentials, for an emulator's endpoint."""
    try:
        from google.auth.credentials import AnonymousCredentials
    except ImportError as exc:
        raise MissingDependencyError("google-cloud-bigquery", "bigquery") from exc
    return AnonymousCredentials()  # type: ignore[no-untyped-call]  # untyped upstream


def make_client(
    project: str | None, credentials: Any, location: str | None, client_options: Any
) -> bigquery.Client:
    try:
        from google.cloud import bigquery
    except ImportError as exc:
        raise MissingDependencyError("google-cloud-bigquery", "bigquery") from exc
    from google.auth.exceptions import DefaultCredentialsError

    try:
        return bigquery.Client(
            project=project,
            credentials=credentials,
            location=location,
            client_options=client_options,
        )
    except DefaultCredentialsError as exc:
        raise ConfigurationError(
            f"no Google credentials: set GOOGLE_APPLICATION_CREDENTIALS or pass credentials ({exc})"
        ) from exc
