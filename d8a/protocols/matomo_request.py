"""Matomo tracking requests as parameter sets: query string, form body, bulk JSON.

A request to ``/matomo.php`` carries its parameters in one of three ways
(reference §1.4, ``docs/matomo.md``):

* the URL query string alone (``GET``, or a ``POST`` without a body);
* a form-encoded ``POST`` body, merged with the query string the way Matomo
  merges ``$_GET + $_POST``: a key in both keeps the query string's value
  (the original ignores such bodies);
* a bulk JSON body ``{"requests": ["?idsite=1&...", ...]}``, one parameter set
  per element; the query string is not merged into the elements.

:func:`parameter_sets` returns the sets of a request and, for bulk requests,
the elements that failed, so that one bad element does not lose the others.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from d8a.errors import PartialRequestError, ProtocolError
from d8a.hits import Hit, Request
from d8a.protocols.query import decode_body, parse_query

__all__ = [
    "BULK_BODY_FACTOR",
    "BulkFailure",
    "ParameterSets",
    "PartialRequestError",
    "describe_failures",
    "parameter_sets",
]

BULK_BODY_FACTOR = 64
"""A bulk body may be this many times ``max_hit_bytes`` (8 MiB by default)."""
_FORM_TYPES = ("application/x-www-form-urlencoded", "")


@dataclass(frozen=True, slots=True)
class BulkFailure:
    """A bulk element that could not become a hit: its 0-based index and why."""

    index: int
    reason: str


def describe_failures(failures: list[BulkFailure], shown: int = 10) -> str:
    """The failing elements and their reasons, the first ``shown`` of them."""
    text = "; ".join(f"element {f.index}: {f.reason}" for f in failures[:shown])
    if len(failures) > shown:
        text += f"; and {len(failures) - shown} more"
    return text


class BulkRequestError(PartialRequestError):
    """Some elements of a bulk request failed; ``hits`` are the ones that did not.

    The receiver stores ``hits`` and answers 400 with ``reason``, which names
    each failing element.
    """

    def __init__(self, hits: list[Hit], failures: list[BulkFailure], total: int) -> None:
        super().__init__(
            f"bulk request: {len(failures)} of {total} element(s) rejected "
            f"({describe_failures(failures)}); "
            f"the other {len(hits)} were accepted",
            hits,
        )
        self.failures = failures


@dataclass(frozen=True, slots=True)
class ParameterSets:
    """The parameter sets of one request, by position; ``None`` where an element failed."""

    sets: list[dict[str, str] | None]
    failures: list[BulkFailure]
    bulk: bool


def _content_type(request: Request) -> str:
    return request.headers.get("Content-Type", "").split(";", 1)[0].strip().lower()


def parameter_sets(request: Request, max_hit_bytes: int) -> ParameterSets:
    """The parameter sets of ``request``; ProtocolError when the request as a
    whole is bad (malformed query or form body, invalid bulk JSON, oversized body)."""
    body = request.body.strip()
    if body[:1] == b"{":
        return _bulk(body, max_hit_bytes)
    query = parse_query(request.query)
    if not body or _content_type(request) not in _FORM_TYPES:
        return ParameterSets([query], [], bulk=False)
    if len(body) > max_hit_bytes:
        raise ProtocolError(
            f"form body of {len(body)} bytes is larger than the {max_hit_bytes}-byte hit limit"
        )
    form = parse_query(decode_body(body))
    return ParameterSets([{**form, **query}], [], bulk=False)


def _bulk(body: bytes, max_hit_bytes: int) -> ParameterSets:
    limit = max_hit_bytes * BULK_BODY_FACTOR
    if len(body) > limit:
        raise ProtocolError(f"bulk body of {len(body)} bytes is larger than the {limit}-byte limit")
    try:
        payload = json.loads(decode_body(body))
    except (json.JSONDecodeError, RecursionError) as exc:
        raise ProtocolError(f"invalid bulk JSON: {exc}") from None
    elements = payload.get("requests") if isinstance(payload, dict) else None
    if not isinstance(elements, list):
        raise ProtocolError('bulk JSON must be an object with a "requests" list')
    if not elements:
        raise ProtocolError('bulk JSON has an empty "requests" list')
    sets: list[dict[str, str] | None] = []
    failures: list[BulkFailure] = []
    for index, element in enumerate(elements):
        try:
            sets.append(_element(element, max_hit_bytes))
        except ProtocolError as exc:
            sets.append(None)
            failures.append(BulkFailure(index, exc.reason))
    return ParameterSets(sets, failures, bulk=True)


def _element(element: Any, max_hit_bytes: int) -> dict[str, str]:
    """One bulk element: a query string (an optional leading URL or ``?`` is
    dropped, as Matomo's ``parse_url`` does) or an object of parameters."""
    if isinstance(element, str):
        if len(element) > max_hit_bytes:
            raise ProtocolError(
                f"{len(element)} characters, larger than the {max_hit_bytes}-byte hit limit"
            )
        text = element.strip()
        if "?" in text:
            text = text.split("?", 1)[1]
        return parse_query(text)
    if isinstance(element, dict):
        params = {str(key): _param_text(value) for key, value in element.items()}
        size = sum(len(key) + len(value) for key, value in params.items())
        if size > max_hit_bytes:
            raise ProtocolError(f"{size} bytes, larger than the {max_hit_bytes}-byte hit limit")
        return params
    raise ProtocolError(
        f"must be a query string or an object of parameters, not {type(element).__name__}"
    )


def _param_text(value: Any) -> str:
    """A JSON value of an object element as the text a query string would carry."""
    if isinstance(value, str):
        return value
    if value is None:
        return ""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, int):
        return str(value)
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)
