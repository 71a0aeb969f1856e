"""GA4 Measurement Protocol: ``POST /mp/collect?measurement_id=..&api_secret=..`` (JSON body).

The original has no such endpoint. Each event of the body becomes one hit whose
parameters are what gtag would have sent for it, so it gets the same columns:
``measurement_id`` -> ``tid``, ``client_id`` -> ``cid``, ``user_id`` -> ``uid``,
the event ``name`` -> ``en``; event params ``page_location``/``page_title``/
``page_referrer`` -> ``dl``/``dt``/``dr``, ``session_id`` -> ``sid``,
``engagement_time_msec`` -> ``_et``, ``currency`` -> ``cu``, ``items`` ->
``pr1..prN``; other text params -> ``ep.<name>``, numbers -> ``epn.<name>``,
booleans -> ``ep.<name>`` = ``1``/``0``. ``user_properties`` are kept in the raw
hit as ``up.<name>`` (no column reads them, as for gtag).

``timestamp_micros`` (of the request, or of an event, which wins) sets the event
time when it is at most 72 hours old; the receive time otherwise applies.
``api_secret`` must be present; d8a does not check its value. A request that
GA4's validation server would flag is answered 400 with the reason, and no hit
of it is kept.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from d8a.errors import ProtocolError
from d8a.hits import Hit, Request
from d8a.protocols.query import parse_query

__all__ = ["MAX_EVENTS", "MP_PATH", "parse_measurement_protocol"]

MP_PATH = "/mp/collect"
MAX_EVENTS = 25
"""Events per request, as GA4 allows."""
_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,39}\Z")
_RESERVED_PREFIXES = ("_", "firebase_", "ga_", "google_", "gtag.")
_MAX_AGE = 72 * 3600.0
_SPECIAL = {
    "page_location": "dl",
    "page_title": "dt",
    "page_referrer": "dr",
    "session_id": "sid",
    "engagement_time_msec": "_et",
    "currency": "cu",
}
_ITEM_KEYS = {
    "item_id": "id", "item_name": "nm", "affiliation": "af", "coupon": "cp", "discount": "ds",
    "index": "lp", "item_brand": "br", "item_category": "ca", "item_category2": "c2",
    "item_category3": "c3", "item_category4": "c4", "item_category5": "c5",
    "item_list_id": "li", "item_list_name": "ln", "item_variant": "va", "location_id": "lo",
    "price": "pr", "quantity": "qt", "creative_name": "cn", "creative_slot": "cs",
    "promotion_id": "pi", "promotion_name": "pn",
}  # fmt: skip


def _text(value: Any, where: str) -> str:
    """A scalar JSON value as gtag would send it."""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    if isinstance(value, str):
        return value
    raise ProtocolError(f"{where} must be a string or a number, not {type(value).__name__}")


def _item(item: Any, where: str) -> str:
    if not isinstance(item, Mapping):
        raise ProtocolError(f"{where} must be an object")
    if not item.get("item_id") and not item.get("item_name"):
        raise ProtocolError(f"{where} needs item_id or item_name")
    tokens = []
    for key, value in item.items():
        code = _ITEM_KEYS.get(key)
        if code is not None and value is not None:
            tokens.append(code + _text(value, f"{where}.{key}").replace("~", " "))
    return "~".join(tokens)


def _event_params(params: Any, where: str) -> dict[str, str]:
    if params is None:
        return {}
    if not isinstance(params, Mapping):
        raise ProtocolError(f"{where}.params must be an object")
    found: dict[str, str] = {}
    for key, value in params.items():
        if key == "items":
            if not isinstance(value, list):
                raise ProtocolError(f"{where}.params.items must be a list")
            for number, item in enumerate(value, 1):
                found[f"pr{number}"] = _item(item, f"{where}.params.items[{number - 1}]")
        elif value is None:
            continue
        elif key in _SPECIAL:
            found[_SPECIAL[key]] = _text(value, f"{where}.params.{key}")
        elif isinstance(value, int | float) and not isinstance(value, bool):
            found[f"epn.{key}"] = _text(value, f"{where}.params.{key}")
        else:
            found[f"ep.{key}"] = _text(value, f"{where}.params.{key}")
    return found


def _event_time(micros: Any, received_at: float, where: str) -> float | None:
    if micros is None:
        return None
    if isinstance(micros, bool) or not isinstance(micros, int | str):
        raise ProtocolError(f"{where}timestamp_micros must be an integer")
    try:
        seconds = int(micros) / 1_000_000
    except ValueError:
        raise ProtocolError(f"{where}timestamp_micros must be an integer") from None
    if seconds < received_at - _MAX_AGE or seconds > received_at + 60:
        raise ProtocolError(f"{where}timestamp_micros must be within the last 72 hours")
    return seconds


def _body(request: Request) -> dict[str, Any]:
    try:
        body = json.loads(request.body or b"")
    except (ValueError, UnicodeDecodeError):
        raise ProtocolError("Unable to parse Measurement Protocol JSON payload") from None
    if not isinstance(body, dict):
        raise ProtocolError("the Measurement Protocol payload must be a JSON object")
    return body


def parse_measurement_protocol(request: Request, property_id: str, protocol: str) -> list[Hit]:
    """The hits of one Measurement Protocol request; ProtocolError (400) with the
    reason when GA4's validation would flag it."""
    query = parse_query(request.query)
    measurement_id = query.get("measurement_id")
    if not measurement_id:
        raise ProtocolError("measurement_id is required in the query string")
    if not query.get("api_secret"):
        raise ProtocolError("api_secret is required in the query string")
    body = _body(request)
    client_id = body.get("client_id")
    if not isinstance(client_id, str) or not client_id:
        raise ProtocolError("client_id is required and must be a non-empty string")
    user_id = body.get("user_id")
    if user_id is not None and not isinstance(user_id, str):
        raise ProtocolError("user_id must be a string")
    events = body.get("events")
    if not isinstance(events, list) or not events:
        raise ProtocolError("events must be a non-empty list")
    if len(events) > MAX_EVENTS:
        raise ProtocolError(f"a request may hold at most {MAX_EVENTS} events, not {len(events)}")
    shared = {"v": "2", "tid": measurement_id, "cid": client_id}
    if user_id:
        shared["uid"] = user_id
    properties = body.get("user_properties") or {}
    if not isinstance(properties, Mapping):
        raise ProtocolError("user_properties must be an object")
    for key, prop in properties.items():
        value = prop.get("value") if isinstance(prop, Mapping) else None
        if value is not None:
            shared[f"up.{key}"] = _text(value, f"user_properties.{key}.value")
    default_time = _event_time(body.get("timestamp_micros"), request.received_at, "")
    hits = []
    for index, event in enumerate(events):
        where = f"events[{index}]"
        if not isinstance(event, Mapping):
            raise ProtocolError(f"{where} must be an object")
        name = event.get("name")
        if not isinstance(name, str) or not _NAME.match(name):
            raise ProtocolError(
                f"{where}.name {name!r} is invalid: start with a letter, then letters, "
                "digits or '_', at most 40 characters"
            )
        if name.startswith(_RESERVED_PREFIXES):
            raise ProtocolError(f"{where}.name {name!r} uses a reserved prefix")
        params = {**shared, "en": name, **_event_params(event.get("params"), where)}
        when = _event_time(event.get("timestamp_micros"), request.received_at, f"{where}.")
        hit_id = request.hit_id(None if len(events) == 1 else index)
        hits.append(
            Hit(
                hit_id,
                client_id,
                property_id,
                name,
                user_id or None,
                protocol,
                request.ip,
                request.headers.get("Host", ""),
                request.path,
                request.method,
                request.headers,
                params,
                when or default_time or request.received_at,
            )
        )
    return hits
