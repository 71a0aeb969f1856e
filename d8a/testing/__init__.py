"""Test helpers for d8a and for code built on it.

``ManualClock`` drives time by hand; :func:`ga4_request` builds one request dict;
:func:`generate_traffic` plays a deterministic crowd of visitors; :func:`count_hits`
counts the hits a list of requests makes.
"""

from __future__ import annotations

from d8a.clock import ManualClock
from d8a.testing.factories import ga4_request
from d8a.testing.traffic import count_hits, generate_traffic

__all__ = ["ManualClock", "count_hits", "ga4_request", "generate_traffic"]
