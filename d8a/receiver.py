"""The receiver: request dict -> hits -> validation -> Storage.

:meth:`Receiver.ingest` never raises for bad input: it answers 4xx with the
reason and counts the rejection (reference §1.5-1.6, with reasons instead of a
bare "Bad Request"). A whole request is accepted or rejected, except a bulk
request whose protocol raises :class:`PartialRequestError`: its valid hits are
stored and the answer is 400 with the failing elements' reasons. One request's
failure never touches another's hits.
"""

from __future__ import annotations

import ipaddress
import itertools
import threading
from collections import Counter, deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from d8a.batching import Storage
from d8a.client_ip import ClientIP
from d8a.clock import Clock
from d8a.config import Settings
from d8a.errors import PartialRequestError, ProtocolError, TransientError
from d8a.hits import Request, hit_size
from d8a.protocols.base import Endpoint, Protocol
from d8a.protosessions.identity import stamps_of

__all__ = ["Receiver", "ReceiverStats", "Rejection", "Response"]

_CORS_BASE = {
    "Access-Control-Allow-Methods": "POST, GET, OPTIONS",
    "Access-Control-Allow-Headers": "Content-Type, X-Requested-With",
    "Access-Control-Max-Age": "86400",
}
_MASK_V4 = {1: 24, 2: 16, 3: 8, 4: 0}
_MASK_V6 = {1: 48, 2: 32, 3: 16, 4: 0}


@dataclass(frozen=True, slots=True)
class Response:
    """What the host answers: status, headers, body."""

    status: int
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes = b""


@dataclass(frozen=True, slots=True)
class Rejection:
    """A rejected request: why, and enough of it to find it again."""

    status: int
    reason: str
    method: str
    path: str
    query: str


@dataclass
class ReceiverStats:
    """Counters of what the receiver accepted and rejected."""

    requests: int = 0
    hits: int = 0
    rejected: Counter[int] = field(default_factory=Counter)
    recent_rejections: deque[Rejection] = field(default_factory=lambda: deque(maxlen=100))


def cors_headers(request: Request, preflight: bool = False) -> dict[str, str]:
    """CORS headers as the original sends them on GA4/d8a collect endpoints."""
    origin = request.headers.get("Origin")
    headers = dict(_CORS_BASE)
    if origin:
        headers["Access-Control-Allow-Origin"] = origin
        headers["Access-Control-Allow-Credentials"] = "true"
        headers["Vary"] = "Origin"
    else:
        headers["Access-Control-Allow-Origin"] = "*"
    if preflight and request.headers.get("Access-Control-Request-Headers"):
        headers["Access-Control-Allow-Headers"] = request.headers["Access-Control-Request-Headers"]
    return headers


def mask_ip(ip: str, level: int) -> str:
    """Zero the low bits of ``ip`` per ``ip_masking_level``; unparsable IPs unchanged."""
    if not level:
        return ip
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return ip
    prefix = _MASK_V4[level] if address.version == 4 else _MASK_V6[level]
    return str(ipaddress.ip_network(f"{address}/{prefix}", strict=False).network_address)


class Receiver:
    """Routes request dicts to protocols and stores the hits they yield."""

    def __init__(
        self,
        protocols: Sequence[Protocol],
        settings: Settings,
        storage: Storage,
        clock: Clock,
    ) -> None:
        self._settings = settings
        self._client_ip = ClientIP(settings.trusted_proxies)
        self._joining = settings.join_by_session_stamp or settings.join_by_user_id
        self.storage = storage
        """Where accepted hits go; a wrapper may replace it before the first request."""
        self._clock = clock
        self._routes: dict[str, tuple[Protocol, Endpoint]] = {}
        for protocol in protocols:
            for endpoint in protocol.endpoints(settings):
                self._routes[endpoint.path] = (protocol, endpoint)
        self._seq = itertools.count()
        self._lock = threading.Lock()
        self.stats = ReceiverStats()

    @property
    def paths(self) -> tuple[str, ...]:
        """Every path that creates hits."""
        return tuple(self._routes)

    def ingest(self, data: Mapping[str, Any]) -> Response:
        """Handle one request dict; see the module docstring."""
        try:
            request = Request.from_dict(data, self._clock.now())
        except ProtocolError as exc:
            return self._reject(exc.status, exc.reason, data)
        if request.path == "/healthz" and request.method in ("GET", "HEAD", "OPTIONS"):
            return Response(200, {"Content-Type": "text/plain"}, b"OK")
        route = self._routes.get(request.path)
        if route is None:
            return self._reject(404, f"no endpoint at {request.path}", data)
        protocol, endpoint = route
        cors = cors_headers(request, request.method == "OPTIONS") if endpoint.cors else {}
        if request.method == "OPTIONS" and endpoint.cors:
            return Response(204, cors)
        if request.method not in endpoint.methods:
            allowed = ", ".join(endpoint.methods)
            return self._reject(
                405, f"method {request.method} not allowed", data, {**cors, "Allow": allowed}
            )
        partial: PartialRequestError | None = None
        try:
            hits = protocol.parse(request, self._settings)
        except PartialRequestError as exc:  # a bulk request: keep its valid hits
            hits, partial = exc.hits, exc
        except ProtocolError as exc:
            return self._reject(exc.status, exc.reason, data, cors)
        if self._client_ip.enabled:
            client = self._client_ip.resolve(request.ip, request.headers)
            for hit in hits:
                hit.ip = client
        level = self._settings.ip_masking_level
        limit = self._settings.max_hit_bytes
        check = request.size + 256 > limit  # a hit is never larger than its whole request
        for hit in hits:
            if level:
                hit.ip = mask_ip(hit.ip, level)
            if check and hit_size(hit) > limit:
                return self._reject(413, f"hit larger than the {limit}-byte limit", data, cors)
            hit.seq = next(self._seq)
            if self._joining:
                hit.stamps = stamps_of(hit, self._settings)
        try:
            self.storage.push(hits)
        except TransientError as exc:
            return self._reject(503, f"storage unavailable, retry: {exc}", data, cors)
        with self._lock:
            self.stats.requests += 1
            self.stats.hits += len(hits)
        if partial is not None:
            return self._reject(partial.status, partial.reason, data, cors)
        return Response(204, cors)

    def _reject(
        self,
        status: int,
        reason: str,
        data: Mapping[str, Any],
        headers: Mapping[str, str] | None = None,
    ) -> Response:
        query = data.get("query") if isinstance(data, Mapping) else None
        rejection = Rejection(
            status,
            reason,
            str(data.get("method", "")) if isinstance(data, Mapping) else "",
            str(data.get("path", "")) if isinstance(data, Mapping) else "",
            query[:500] if isinstance(query, str) else "",
        )
        with self._lock:
            self.stats.rejected[status] += 1
            self.stats.recent_rejections.append(rejection)
        return Response(
            status,
            {**(headers or {}), "Content-Type": "text/plain; charset=utf-8"},
            reason.encode(),
        )
