"""The Matomo tracking API (``/matomo.php``) as a protocol (reference §1.4, §2.2, §3.3).

Requests come as a query string, a form-encoded POST body or bulk JSON
(:mod:`d8a.protocols.matomo_request`). Each parameter set becomes one hit:
``idsite`` is required, the client id is ``_id``, else ``cid``, else the hit's
own id (a new random UUID, or derived from the request's ``id``), ``uid`` is
the user id and the event name is derived from the parameters
(:func:`event_name`). The event time is the request's ``received_at``; the
client-side ``cdt``, ``h``/``m``/``s`` are kept on the hit but not used.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from typing_extensions import override

from d8a.columns.base import EventColumn, SessionColumn, SessionScopedEventColumn
from d8a.config import Settings
from d8a.errors import ProtocolError
from d8a.hits import Hit, Request, hit_size
from d8a.protocols.base import Endpoint, Protocol
from d8a.protocols.matomo_columns import matomo_event_columns
from d8a.protocols.matomo_request import (
    BulkFailure,
    BulkRequestError,
    describe_failures,
    parameter_sets,
)

__all__ = ["MATOMO_PATH", "MatomoProtocol", "event_name"]

MATOMO_PATH = "/matomo.php"
_SIZE_MARGIN = 64
"""Bytes kept free under ``max_hit_bytes`` for what the receiver changes later (the IP)."""


def event_name(params: Mapping[str, str]) -> str:
    """The event name of a Matomo hit: the first rule that matches (reference §3.3)."""
    get = params.get
    goal = get("idgoal")
    if goal == "0" and get("ec_id"):
        return "ecommerce_order"
    if goal:
        return "goal_conversion"
    if get("ma_id") and get("ma_mt") == "video":
        return "video_play"
    if get("download"):
        return "download"
    if get("link"):
        return "outlink"
    if "search" in params:  # a site search with an empty keyword is still one
        return "site_search"
    if get("c_i"):
        return "content_interaction"
    if get("c_n"):
        return "content_impression"
    if get("e_c") and get("e_a"):
        return "custom_event"
    return "page_view"


class MatomoProtocol(Protocol):
    """Matomo's tracking API at ``/matomo.php`` and the ``matomo_tracking_endpoints``."""

    id = "matomo"
    tracking_protocol = "matomo"
    interface_namespace = "matomo.protocols.d8a.tech"

    @override
    def endpoints(self, settings: Settings) -> Sequence[Endpoint]:
        paths = dict.fromkeys((MATOMO_PATH, *settings.matomo_tracking_endpoints))
        return tuple(Endpoint(path, cors=False) for path in paths)

    @override
    def parse(self, request: Request, settings: Settings) -> list[Hit]:
        found = parameter_sets(request, settings.max_hit_bytes)
        hits: list[Hit] = []
        failures = list(found.failures)
        host = request.headers.get("Host", "")
        for index, params in enumerate(found.sets):
            if params is None:
                continue
            try:
                hit = self._hit(request, params, settings, host, index if found.bulk else None)
            except ProtocolError as exc:
                if not found.bulk:
                    raise
                failures.append(BulkFailure(index, exc.reason))
                continue
            hits.append(hit)
        if failures:
            failures.sort(key=lambda failure: failure.index)
            if not hits:
                raise ProtocolError(
                    f"bulk request: every element was rejected ({describe_failures(failures)})"
                )
            raise BulkRequestError(hits, failures, len(found.sets))
        return hits

    def _hit(
        self,
        request: Request,
        params: dict[str, str],
        settings: Settings,
        host: str,
        index: int | None,
    ) -> Hit:
        if not params.get("idsite"):
            raise ProtocolError("missing idsite")
        hit_id = request.hit_id(index)
        hit = Hit(
            hit_id,
            params.get("_id") or params.get("cid") or hit_id,
            settings.property_id,
            event_name(params),
            params.get("uid") or None,
            self.id,
            request.ip,
            host,
            request.path,
            request.method,
            request.headers,
            params,
            request.received_at,
        )
        limit = settings.max_hit_bytes
        if index is not None and hit_size(hit) + _SIZE_MARGIN > limit:
            raise ProtocolError(f"hit larger than the {limit}-byte limit")
        return hit

    @override
    def event_columns(self, settings: Settings) -> Sequence[EventColumn]:
        from d8a.protocols.matomo_custom import matomo_custom_event_columns

        return [
            *matomo_event_columns(settings, self.interface_namespace, self.tracking_protocol),
            *matomo_custom_event_columns(settings),
        ]

    @override
    def session_scoped_columns(self, settings: Settings) -> Sequence[SessionScopedEventColumn]:
        from d8a.columns.session_core import core_session_scoped_columns
        from d8a.protocols.matomo_custom import matomo_custom_session_scoped_columns
        from d8a.protocols.matomo_sessions import matomo_session_scoped_columns

        return [
            *core_session_scoped_columns(),
            *matomo_session_scoped_columns(settings),
            *matomo_custom_session_scoped_columns(settings),
        ]

    @override
    def protocol_session_columns(
        self, settings: Settings
    ) -> tuple[Sequence[SessionColumn], Sequence[SessionColumn]]:
        from d8a.protocols.matomo_sessions import matomo_session_columns

        return matomo_session_columns(settings)
