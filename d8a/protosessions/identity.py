"""Identity stamps that let hits of different client ids join one protosession.

Reference §2.4 and §6.1: a *session stamp* fingerprints a device for a day
(ten request headers, the masked IP, the property and the UTC date, or the
client-sent ``fss``), a *user stamp* a signed-in user. The first protosession
to claim a stamp owns it while it is open; a later hit carrying the same stamp
from another client joins that protosession (its ``client_id`` column keeps its
own id). Stamps are computed by the receiver, which has the headers at hand,
and travel with the hit in the queue.
"""

from __future__ import annotations

import hashlib

from d8a.caches import remember
from d8a.config import Settings
from d8a.hits import Hit

__all__ = ["STAMP_HEADERS", "session_stamp", "stamps_of", "user_stamp"]

STAMP_HEADERS = (
    "Accept",
    "Accept-Encoding",
    "Accept-Language",
    "User-Agent",
    "Sec-Ch-Ua",
    "Sec-Ch-Ua-Mobile",
    "Sec-Ch-Ua-Platform",
    "Sec-Ch-Ua-Platform-Version",
    "Sec-Ch-Ua-Model",
    "Sec-Ch-Ua-Full-Version",
)
"""The headers of the session stamp, in the original's order (canonical spelling)."""


_DIGESTS: dict[str, str] = {}
_DIGESTS_LIMIT = 50_000


def _digest(text: str) -> str:
    # A visitor's hits share their stamp texts: hash each text once (bounded cache).
    found = _DIGESTS.get(text)
    if found is None:
        found = remember(_DIGESTS, text, hashlib.sha256(text.encode()).hexdigest(), _DIGESTS_LIMIT)
    return found


_NO_HEADERS = ("",) * len(STAMP_HEADERS)


def session_stamp(hit: Hit) -> str:
    """The hit's session stamp: from ``fss`` when sent, else headers, IP, property and UTC day.

    The day makes stamps change at UTC midnight, as in the original."""
    fss = hit.params.get("fss")
    if fss is not None:
        return _digest(f"fss={fss}|{hit.property_id}")
    headers = "|".join(map(hit.headers.get, STAMP_HEADERS, _NO_HEADERS))
    return _digest(f"{headers}|{hit.ip}|{hit.property_id}|{int(hit.received_at // 86400)}")


def user_stamp(property_id: str, user_id: str) -> str:
    """The stamp of a signed-in user within a property."""
    return _digest(f"{property_id}|{user_id}")


def stamps_of(hit: Hit, settings: Settings) -> tuple[str, ...]:
    """The stamps a hit claims or joins by, session stamp first (``s``/``u`` tagged)."""
    stamps: list[str] = []
    if settings.join_by_session_stamp:
        stamps.append("s" + session_stamp(hit))
    if settings.join_by_user_id and hit.user_id:
        stamps.append("u" + user_stamp(hit.property_id, hit.user_id))
    return tuple(stamps)
