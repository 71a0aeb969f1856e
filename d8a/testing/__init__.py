"""Test helpers for d8a and for code built on it.

``ManualClock`` drives time by hand; :func:`ga4_request` builds one request dict;
:func:`generate_traffic` plays a deterministic crowd of visitors; :func:`count_hits`
counts the hits a list of requests makes; :func:`write_city_database` writes a
small real MaxMind DB for geo tests (needs ``mmdb-writer``, in ``d8a[test]``).
"""

from __future__ import annotations

from d8a.clock import ManualClock
from d8a.testing.factories import ga4_request
from d8a.testing.mmdb import city_record, write_city_database
from d8a.testing.traffic import count_hits, generate_traffic

__all__ = [
    "ManualClock",
    "city_record",
    "count_hits",
    "ga4_request",
    "generate_traffic",
    "write_city_database",
]
