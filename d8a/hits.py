"""Hits and requests: plain data, no I/O.

A :class:`Request` is the host's request dict after validation; a protocol turns
it into one or more :class:`Hit` objects. A hit is what travels through the
queue and the protosession state, and what columns read.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from d8a.caches import LONGEST_KEY
from d8a.errors import ProtocolError

__all__ = ["Hit", "Request", "canonical_header", "hit_size", "partition_key", "to_epoch"]


_CANONICAL: dict[str, str] = {}


def canonical_header(name: str) -> str:
    """Canonical HTTP header spelling, as Go's net/http does: ``user-agent`` -> ``User-Agent``."""
    found = _CANONICAL.get(name)
    if found is None:
        found = "-".join(part[:1].upper() + part[1:].lower() for part in name.split("-"))
        # Header names repeat; bound the cache all the same (see d8a.caches).
        if len(_CANONICAL) < 4096 and len(name) <= LONGEST_KEY:
            _CANONICAL[name] = found
    return found


def to_epoch(value: object) -> float:
    """Turn an ISO-8601 string, a datetime or epoch seconds into epoch seconds.

    A naive datetime or an ISO string without an offset is taken as UTC.
    """
    if isinstance(value, bool):
        raise TypeError("received_at must be a datetime, an ISO-8601 string or epoch seconds")
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        text = value
        try:
            value = datetime.fromisoformat(text)  # Python 3.11 reads a final "Z" itself
        except ValueError:  # blanks around it, a lower-case "z"
            text = text.strip()
            if text.endswith(("Z", "z")):
                text = text[:-1] + "+00:00"
            value = datetime.fromisoformat(text)
    if isinstance(value, datetime):
        if value.tzinfo is None:
            return (value - datetime(1970, 1, 1)).total_seconds()
        return value.timestamp()
    raise TypeError("received_at must be a datetime, an ISO-8601 string or epoch seconds")


def partition_key(property_id: str, client_id: str) -> int:
    """A stable 63-bit hash of (property id, client id); never the built-in hash function.

    All hits of one visitor share it, so a queue partitioned by it keeps a visitor
    on one worker.
    """
    digest = hashlib.blake2b(
        f"{len(property_id)}:{property_id}{client_id}".encode(), digest_size=8
    ).digest()
    return int.from_bytes(digest, "big") >> 1


@dataclass(slots=True)
class Request:
    """A validated host request (see DESIGN.md, "The request dict")."""

    method: str
    path: str
    query: str
    headers: dict[str, str]
    body: bytes
    ip: str
    received_at: float
    id: str | None = None
    size: int = 0
    """Bytes of query, body, headers and IP: an upper bound of any of its hits' size."""

    def hit_id(self, index: int | None) -> str:
        """The id of this request's hit number ``index`` (None when it yields one
        hit): the request's ``id``, ``"<id>:<index>"`` with several, a new UUID
        when the request has no ``id``."""
        if self.id is None:
            return str(uuid.uuid4())
        return self.id if index is None else f"{self.id}:{index}"

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], default_time: float) -> Request:
        """Validate a request dict; raise :class:`ProtocolError` when it is malformed."""
        if type(data) is not dict and not isinstance(data, Mapping):  # dict: skip the ABC check
            raise ProtocolError("a request must be a mapping")
        method = data.get("method")
        path = data.get("path")
        if not isinstance(method, str) or not method:
            raise ProtocolError("request 'method' is required")
        if not isinstance(path, str) or not path:
            raise ProtocolError("request 'path' is required")
        query = data.get("query") or ""
        if not isinstance(query, str):
            raise ProtocolError("request 'query' must be a string")
        raw_headers = data.get("headers") or {}
        if type(raw_headers) is not dict and not isinstance(raw_headers, Mapping):
            raise ProtocolError("request 'headers' must be a mapping")
        headers = {}
        size = 0
        known = _CANONICAL
        for key, value in raw_headers.items():
            try:
                name = known.get(key)  # most names were seen before: no call
            except TypeError:  # a mapping may hold names that cannot be hashed
                name = None
            if name is None:
                name = canonical_header(key if type(key) is str else str(key))
            text = value if type(value) is str else str(value)
            headers[name] = text
            size += len(name) + len(text)
        body = data.get("body") or b""
        if isinstance(body, str):
            body = body.encode()
        if not isinstance(body, bytes | bytearray | memoryview):
            raise ProtocolError("request 'body' must be bytes or str")
        ip = data.get("ip") or ""
        if not isinstance(ip, str):
            raise ProtocolError("request 'ip' must be a string")
        received = data.get("received_at")
        try:
            received_at = default_time if received is None else to_epoch(received)
        except (TypeError, ValueError) as exc:
            raise ProtocolError(f"invalid 'received_at': {exc}") from None
        request_id = data.get("id")
        if request_id is not None and not isinstance(request_id, str):
            raise ProtocolError("request 'id' must be a string")
        body = bytes(body)
        size += len(query) + len(body) + len(ip) + len(path)
        return cls(method.upper(), path, query, headers, body, ip, received_at, request_id, size)


@dataclass(slots=True)
class Hit:
    """One tracked event as received, before any column is computed.

    ``seq`` is the arrival order given by the receiver; hits are ordered by
    ``(received_at, seq)`` so equal timestamps keep request and line order.
    """

    id: str
    client_id: str
    property_id: str
    event_name: str
    user_id: str | None
    protocol: str
    ip: str
    host: str
    path: str
    method: str
    headers: dict[str, str]
    params: dict[str, str]
    received_at: float
    seq: int = 0
    authoritative_client_id: str = ""
    metadata: dict[str, str] = field(default_factory=dict)
    stamps: tuple[str, ...] = ()
    """Identity stamps set by the receiver; they travel beside the hit, not in it."""

    def __post_init__(self) -> None:
        if not self.authoritative_client_id:
            self.authoritative_client_id = self.client_id

    @property
    def sort_key(self) -> tuple[float, int]:
        """Event order: receive time, then arrival order."""
        return (self.received_at, self.seq)

    def to_list(self) -> list[Any]:
        """A compact positional form for CBOR encoding."""
        return [
            self.id,
            self.client_id,
            self.property_id,
            self.event_name,
            self.user_id,
            self.protocol,
            self.ip,
            self.host,
            self.path,
            self.method,
            self.headers,
            self.params,
            self.received_at,
            self.seq,
            self.authoritative_client_id,
            self.metadata,
        ]

    @classmethod
    def from_list(cls, data: list[Any]) -> Hit:
        """Inverse of :meth:`to_list`."""
        return cls(*data)


def hit_size(hit: Hit) -> int:
    """Approximate bytes of a hit (params, headers and identity strings), what the
    receiver checks against ``max_hit_bytes``."""
    size = len(hit.id) + len(hit.client_id) + len(hit.ip) + len(hit.path) + len(hit.event_name)
    for key, value in hit.params.items():
        size += len(key) + len(value)
    for key, value in hit.headers.items():
        size += len(key) + len(value)
    return size
