"""GA4 gtag (``/g/collect``) and the d8a web tracker (``/d/c``), which share a wire format.

GA4 also serves the Measurement Protocol at ``/mp/collect`` (:mod:`d8a.protocols.ga4_mp`).

A request is its URL query plus, for gtag's batched POSTs, one body line per
event: each non-empty line's parameters replace the URL's (reference §1.4).
``cid``, ``tid`` and ``en`` are required.
"""

from __future__ import annotations

from collections.abc import Sequence

from typing_extensions import override

from d8a.columns.base import EventColumn, SessionColumn
from d8a.columns.core import core_event_columns
from d8a.config import Settings
from d8a.errors import ProtocolError
from d8a.hits import Hit, Request
from d8a.protocols.base import Endpoint, Protocol
from d8a.protocols.ga4_columns import ga4_event_columns
from d8a.protocols.ga4_mp import MP_PATH, parse_measurement_protocol
from d8a.protocols.ga4_sessions import ga4_session_counters, ga4_session_flags
from d8a.protocols.query import decode_body, parse_query

__all__ = ["D8AProtocol", "GA4Protocol"]


class GA4Protocol(Protocol):
    """The GA4 gtag protocol at ``/g/collect``."""

    id = "ga4"
    tracking_protocol = "ga4_gtag"
    path = "/g/collect"
    interface_namespace = "ga4.protocols.d8a.tech"
    mp_path: str | None = MP_PATH
    """The Measurement Protocol endpoint (JSON body, see :mod:`d8a.protocols.ga4_mp`)."""

    @override
    def endpoints(self, settings: Settings) -> Sequence[Endpoint]:
        if self.mp_path is None:
            return (Endpoint(self.path),)
        return (Endpoint(self.path), Endpoint(self.mp_path, methods=("POST",), cors=False))

    @override
    def parse(self, request: Request, settings: Settings) -> list[Hit]:
        if request.path == self.mp_path:
            return parse_measurement_protocol(request, settings.property_id, self.id)
        url_params = parse_query(request.query)
        body = request.body.strip()
        if body:
            lines = [line.strip() for line in decode_body(body).split("\n")]
            param_sets = [{**url_params, **parse_query(line)} for line in lines if line]
        if not body or not param_sets:  # a body of blank lines is no body
            param_sets = [url_params]
        single = len(param_sets) == 1
        host = request.headers.get("Host", "")
        hits = []
        for index, params in enumerate(param_sets):
            client_id = params.get("cid")
            if not client_id:
                raise ProtocolError("`cid` is a required query parameter")
            if not params.get("tid"):
                raise ProtocolError("`tid` is a required query parameter")
            event_name = params.get("en")
            if not event_name:
                raise ProtocolError("`en` is a required query parameter")
            hit_id = request.hit_id(None if single else index)
            hits.append(
                Hit(
                    hit_id,
                    client_id,
                    settings.property_id,
                    event_name,
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
            )
        return hits

    @override
    def event_columns(self, settings: Settings) -> Sequence[EventColumn]:
        return [
            *core_event_columns(
                location_param="dl",
                title_param="dt",
                referrer_param="dr",
                tracking_protocol=self.tracking_protocol,
                excluded_url_params=settings.excluded_url_params,
                property_name=settings.property_name,
            ),
            *ga4_event_columns(
                self.interface_namespace, settings.currency_rates, settings.ga4_params
            ),
        ]

    @override
    def protocol_session_columns(
        self, settings: Settings
    ) -> tuple[Sequence[SessionColumn], Sequence[SessionColumn]]:
        return ga4_session_counters(), ga4_session_flags(self.interface_namespace)


class D8AProtocol(GA4Protocol):
    """The d8a web tracker at ``/d/c``: the GA4 wire format under its own name."""

    id = "d8a"
    tracking_protocol = "d8a"
    path = "/d/c"
    interface_namespace = "d8a.protocols.d8a.tech"
    mp_path: str | None = None
