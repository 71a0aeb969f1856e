"""Splitting a closed protosession into sessions (reference §6.3).

Rules run in the original's order for every event after the first; the first
that fires starts a new session *before* that event and is recorded as the new
session's ``session_split_cause``. Beyond the original, ``split_at_midnight``
adds a last rule, ``date_changed``: the day changed in the property's time zone.
"""

from __future__ import annotations

import zoneinfo
from collections.abc import Callable
from datetime import date, datetime

from d8a.columns.base import Event, Session
from d8a.config import Settings

__all__ = ["SPLIT_CAUSE", "split"]

SPLIT_CAUSE = "session_split_cause"
"""Session metadata key: why the session was split from the previous one."""


def split(events: list[Event], settings: Settings) -> list[Session]:
    """Cut ``events`` (in event order, event columns computed) into sessions."""
    if not events:
        return []
    day_of = _day_function(settings) if settings.split_at_midnight else None
    max_time = settings.split_by_time_since_first_event
    max_events = settings.split_by_max_events
    by_user = settings.split_by_user_id
    by_campaign = settings.split_by_campaign
    sessions: list[Session] = []
    current = [events[0]]
    first_time = events[0].hit.received_at
    user = events[0].values.get("user_id") if by_user else None
    campaign = events[0].values.get("utm_campaign") if by_campaign else None
    cause: str | None = None
    day = day_of(first_time) if day_of else None
    for event in events[1:]:
        reason: str | None = None
        if max_time is not None and event.hit.received_at - first_time >= max_time:
            reason = "max_time_since_first_event_reached"
        elif max_events is not None and len(current) >= max_events:
            reason = "max_events_reached"
        else:
            if by_user:
                uid = event.values.get("user_id")
                if uid:
                    if user and uid != user:
                        reason = "user_id_changed"
                    user = uid
            if reason is None and by_campaign:
                value = event.values.get("utm_campaign")
                if value is not None:
                    if campaign is not None and value != campaign:
                        reason = "utm_campaign_changed"
                    campaign = value
        if reason is None and day_of is not None and day_of(event.hit.received_at) != day:
            reason = "date_changed"
        if reason is not None:
            sessions.append(_session(current, cause))
            current, cause = [event], reason
            first_time = event.hit.received_at
            day = day_of(first_time) if day_of else None
            user = event.values.get("user_id") if by_user else None
            campaign = event.values.get("utm_campaign") if by_campaign else None
        else:
            current.append(event)
    sessions.append(_session(current, cause))
    return sessions


def _day_function(settings: Settings) -> Callable[[float], date]:
    """The local date of an epoch time in the property's time zone."""
    zone = zoneinfo.ZoneInfo(settings.timezone)

    def day(when: float) -> date:
        return datetime.fromtimestamp(when, zone).date()

    return day


def _session(events: list[Event], cause: str | None) -> Session:
    session = Session(events)
    session.metadata[SPLIT_CAUSE] = cause
    return session
