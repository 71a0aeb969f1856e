"""Visitors for the traffic generator: who they are, where from, and when they first come.

Everything a visitor keeps across sessions is drawn here, from the visitor's own
RNG, so one visitor's draws never shift another's.
"""

from __future__ import annotations

import random
import re
from collections.abc import Iterator
from dataclasses import dataclass
from itertools import accumulate

from d8a.testing import _pools as pools

__all__ = ["DAY", "HOUR", "MINUTE", "Visitor", "make_visitors"]

MINUTE = 60_000
HOUR = 60 * MINUTE
DAY = 24 * HOUR

_UA_CUM = tuple(accumulate(row[0] for row in pools.USER_AGENTS))
_LANGUAGE_CUM = tuple(accumulate(row[0] for row in pools.LANGUAGES))
_HOUR_MAX = max(pools.HOURLY_WEIGHTS)
_IPV4 = tuple(f"{net}.{i}" for net in ("203.0.113", "198.51.100", "192.0.2") for i in range(1, 255))
_CHROMIUM_BRANDS = {
    "chrome": "Google Chrome",
    "edge": "Microsoft Edge",
    "opera": "Opera",
    "samsung": "Samsung Internet",
}


@dataclass(frozen=True, slots=True)
class Visitor:
    """What stays the same for one visitor across all their requests (times in epoch ms)."""

    index: int
    rng: random.Random
    first_ms: int
    ip: str
    property_id: str
    hostname: str
    cid: str
    uid: str
    bot: bool
    gtag: bool
    """Batches events as gtag does; otherwise one POST per event as the d8a web tracker."""
    ul: str
    sr: str
    currency: str
    sct_base: int
    """Sessions the visitor had before the generated window."""
    headers: dict[str, str]


def make_visitors(
    master: random.Random, count: int, start_ms: int, days: int, property_id: str, hostname: str
) -> Iterator[Visitor]:
    """Yield ``count`` visitors, each with its own IP and first visit in the window."""
    free_ipv4 = list(_IPV4)
    master.shuffle(free_ipv4)
    used_ipv6: set[str] = set()
    for index in range(count):
        rng = random.Random(master.getrandbits(64))
        ip = free_ipv4.pop() if free_ipv4 and master.random() < 0.7 else _ipv6(master, used_ipv6)
        first_ms = _first_visit(master, start_ms, days)
        yield _visitor(index, rng, first_ms, ip, property_id, hostname)


def _ipv6(rng: random.Random, used: set[str]) -> str:
    while True:
        ip = "2001:db8:{:x}:{:x}::{:x}".format(*(rng.randrange(1, 0x10000) for _ in range(3)))
        if ip not in used:
            used.add(ip)
            return ip


def _first_visit(rng: random.Random, start_ms: int, days: int) -> int:
    """A time in the window, drawn along the hourly curve (rejection sampling)."""
    while True:
        ms = start_ms + rng.randrange(max(days, 1) * DAY)
        if rng.random() * _HOUR_MAX < pools.HOURLY_WEIGHTS[ms // HOUR % 24]:
            return ms


def _visitor(
    index: int, rng: random.Random, first_ms: int, ip: str, property_id: str, hostname: str
) -> Visitor:
    """Draw a visitor's browser, language, ids and tracker from its own RNG."""
    _, device, platform, family, ua = rng.choices(pools.USER_AGENTS, cum_weights=_UA_CUM)[0]
    tag = rng.choices(pools.LANGUAGES, cum_weights=_LANGUAGE_CUM)[0][1]
    bot = device == "bot"
    currency = {"en-GB": "GBP", "en-US": "USD"}.get(tag, "EUR")
    if rng.random() < 0.1:
        currency = rng.choice(("EUR", "USD", "GBP"))
    sct_base = 0 if bot or rng.random() < 0.75 else rng.randint(1, 12)
    # gtag's cid is "<random>.<first visit>"; a returning visitor was first seen earlier.
    first_seen = first_ms // 1000 - (rng.randrange(86_400, 90 * 86_400) if sct_base else 0)
    return Visitor(
        index=index,
        rng=rng,
        first_ms=first_ms,
        ip=ip,
        property_id=property_id,
        hostname=hostname,
        cid=f"{rng.randrange(1, 2**31)}.{first_seen}",
        uid=f"U{index:05d}{rng.randrange(10**6):06d}" if not bot and rng.random() < 0.1 else "",
        bot=bot,
        gtag=rng.random() < 0.65,
        ul=tag.lower(),
        sr=rng.choice(pools.SCREENS[device]),
        currency=currency,
        sct_base=sct_base,
        headers=_headers(ua, device, platform, family, tag, hostname),
    )


def _headers(
    ua: str, device: str, platform: str, family: str, tag: str, host: str
) -> dict[str, str]:
    """The headers this browser sends with a cross-site beacon from ``host``."""
    lang = tag.split("-")[0]
    if family.startswith("firefox"):
        accept_language = f"{tag},{lang};q=0.5" if lang == "en" else f"{lang},en-US;q=0.7,en;q=0.3"
    elif lang == "en":
        accept_language = f"{tag},en;q=0.9"
    else:
        accept_language = f"{tag},{lang};q=0.9,en-US;q=0.8,en;q=0.7"
    encodings = "gzip, deflate, br" if family == "safari" else "gzip, deflate, br, zstd"
    headers = {
        "User-Agent": ua,
        "Accept": "*/*",
        "Accept-Language": accept_language,
        "Accept-Encoding": encodings,
        "Origin": f"https://{host}",
        "Referer": f"https://{host}/",
    }
    brand = _CHROMIUM_BRANDS.get(family)
    major = re.search(r"Chrome/(\d+)", ua)
    if brand and major:  # Client Hints: Chromium browsers only
        version = major.group(1)
        brands = f'"{brand}";v="{version}", "Chromium";v="{version}", "Not_A Brand";v="24"'
        headers["Sec-CH-UA"] = brands
        headers["Sec-CH-UA-Mobile"] = "?1" if device == "mobile" else "?0"
        headers["Sec-CH-UA-Platform"] = f'"{platform}"'
    return headers
