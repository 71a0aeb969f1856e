"""Deterministic synthetic GA4 traffic for tests, benchmarks and demos.

:func:`generate_traffic` plays a small web shop's visitors: each has a stable
client id, browser, language and IP, comes back for 1-4 sessions, and browses
1-15 pages per session with the events gtag's enhanced measurement and a shop
send. Output depends on the arguments only (never on the global RNG or the
wall clock), so the same seed gives byte-for-byte the same requests.
"""

from __future__ import annotations

import heapq
import random
from collections.abc import Generator, Iterable, Iterator, Mapping
from datetime import UTC, datetime
from itertools import accumulate
from operator import itemgetter
from typing import Any
from urllib.parse import quote_plus

from d8a.hits import to_epoch
from d8a.testing import _pools as pools
from d8a.testing._visitors import DAY, HOUR, MINUTE, Visitor, make_visitors
from d8a.testing.factories import encode_params

__all__ = ["count_hits", "generate_traffic"]

# Chance that a gtag-style visitor batches the next 2-4 queued events into one POST;
# tuned so that about 30% of all requests are batched.
_BATCH_CHANCE = 0.85
_SESSION_COUNTS = (1, 2, 3, 4)
_SESSION_COUNT_CUM = (55, 80, 92, 100)
_REFERRER_CUM = tuple(accumulate(row[0] for row in pools.REFERRERS))
_PAGE_COUNT_CUM = tuple(accumulate(pools.PAGE_COUNT_WEIGHTS))
_NEXT_PAGE_CUM = {
    kind: (kinds, tuple(accumulate(w))) for kind, (kinds, w) in pools.NEXT_PAGE.items()
}
_CLICK_ID_CHARS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_"

Event = tuple[int, str, dict[str, str]]
Timed = tuple[int, dict[str, Any]]


def generate_traffic(
    *,
    visitors: int = 100,
    seed: int = 0,
    start: str | float | datetime = "2026-11-02T08:00:00Z",
    days: int = 1,
    property_id: str = "G-DEMO",
    hostname: str = "shop.example",
) -> Iterator[dict[str, Any]]:
    """Yield GA4 request dicts in non-decreasing ``received_at`` order.

    First visits fall in ``[start, start + days)`` with a day-time curve; later
    sessions of a visitor may fall after that. Every request has an ISO
    ``received_at`` and an ``id`` of the form ``r<seed>-<n>``. Each visitor gets
    its own IP from the documentation ranges, so no two visitors share a session
    stamp. About 70% of requests are single hits with everything in the query
    (GET, or POST without a body as the d8a web tracker sends); about 30% are
    gtag-style batched POSTs with 2-4 body lines and one shared receive time.
    """
    start_ms = round(to_epoch(start) * 1000)
    people = make_visitors(random.Random(seed), visitors, start_ms, days, property_id, hostname)
    streams = [_visitor_requests(visitor) for visitor in people]
    for n, (_, request) in enumerate(heapq.merge(*streams, key=itemgetter(0))):
        request["id"] = f"r{seed}-{n}"
        yield request


def count_hits(requests: Iterable[Mapping[str, Any]]) -> int:
    """Hits the requests make: one per request without a body, else one per non-empty line."""
    total = 0
    for request in requests:
        body = request.get("body") or b""
        if isinstance(body, str):
            body = body.encode()
        total += sum(1 for line in body.split(b"\n") if line.strip()) or 1
    return total


def _iso(ms: int) -> str:
    seconds, millis = divmod(ms, 1000)
    return f"{datetime.fromtimestamp(seconds, UTC):%Y-%m-%dT%H:%M:%S}.{millis:03d}Z"


def _visitor_requests(v: Visitor) -> Iterator[Timed]:
    rng = v.rng
    t = v.first_ms
    count = 1 if v.bot else rng.choices(_SESSION_COUNTS, cum_weights=_SESSION_COUNT_CUM)[0]
    for k in range(count):
        if k:
            long_gap = rng.random() < 0.3
            t += rng.randint(DAY, 4 * DAY) if long_gap else rng.randint(31 * MINUTE, 6 * HOUR)
        t = yield from _session(v, t, v.sct_base + k + 1)


def _session(v: Visitor, start: int, sct: int) -> Generator[Timed, None, int]:
    """Yield one session's requests; return the time its last page was left."""
    rng = v.rng
    _, kind, referrer, landing = rng.choices(pools.REFERRERS, cum_weights=_REFERRER_CUM)[0]
    if v.bot:
        kind, referrer, landing = rng.choice(("home", "product", "blog")), "", ""
    click = "".join(rng.choices(_CLICK_ID_CHARS, k=24))
    referrer, landing = referrer.replace("{click}", click[:10]), landing.replace("{click}", click)
    pages = rng.choices(range(1, 16), cum_weights=_PAGE_COUNT_CUM)[0]
    pages = min(pages, 6) if v.bot else pages
    campaign_at = rng.randrange(1, pages) if pages >= 3 and rng.random() < 0.05 else -1
    session = {"sid": str(start // 1000), "sct": str(sct)}
    cart: list[tuple[tuple[str, ...], int]] = []
    t = start
    previous = ""
    for index in range(pages):
        path, title, product, term = _page(rng, kind)
        dl = f"https://{v.hostname}{path}"
        dr = previous
        if index == 0:
            dr = referrer
            if landing:
                dl += ("&" if "?" in dl else "?") + landing
        elif index == campaign_at:
            dr = "https://mail.google.com/"
            dl += "&" if "?" in dl else "?"
            dl += "utm_source=newsletter&utm_medium=email&utm_campaign=cyber_monday"
        dwell = (
            rng.randint(2000, 10_000) if v.bot else rng.randint(2000, rng.choice((30, 120)) * 1000)
        )
        events: list[Event] = [(t, "page_view", {"_ss": "1"} if index == 0 else {})]
        if index == 0 and sct == 1:
            events[0][2]["_fv"] = "1"
        left = False if v.bot else _page_events(v, events, kind, product, term, cart, dwell)
        shared = {"v": "2", "tid": v.property_id, "_p": str(t - rng.randint(80, 2500))}
        shared.update(cid=v.cid, ul=v.ul, sr=v.sr)
        if v.uid:
            shared["uid"] = v.uid
        shared.update(session, dl=dl, dr=dr, dt=title)
        if not v.gtag:
            shared.update(_dtn="wt", _dtv="0.1.0")
        elif not dr:
            del shared["dr"]
        engaged_at = start + 10_000 if index == 0 else t
        yield from _send(v, encode_params(shared), events, engaged_at)
        previous = dl
        t += dwell + rng.randint(50, 1500)
        if left:
            break
        kinds, cum = _NEXT_PAGE_CUM[kind]
        kind = rng.choices(kinds, cum_weights=cum)[0]
        if kind in ("cart", "checkout") and not cart:
            kind = "product"
    return t


def _page(rng: random.Random, kind: str) -> tuple[str, str, tuple[str, ...], str]:
    """Path, title, product (or ``()``) and search term (or ``""``) of a page of ``kind``."""
    if kind == "product":
        product = rng.choice(pools.PRODUCTS)
        return f"/products/{product[1]}", f"{product[2]} | Shop Example", product, ""
    if kind == "blog":
        slug, title = rng.choice(pools.BLOG_POSTS)
        return f"/blog/{slug}", f"{title} | Shop Example Blog", (), ""
    if kind == "search":
        term = rng.choice(pools.SEARCH_TERMS)
        return f"/search?q={quote_plus(term)}", f"Search: {term} | Shop Example", (), term
    path, title = {
        "home": ("/", "Shop Example | Outdoor gear"),
        "list": ("/products", "All products | Shop Example"),
        "cart": ("/cart", "Your cart | Shop Example"),
        "checkout": ("/checkout", "Checkout | Shop Example"),
    }[kind]
    return path, title, (), ""


def _item(product: tuple[str, ...], qty: int) -> str:
    sku, _, name, brand, category, price = product
    return f"id{sku}~nm{name}~pr{price}~qt{qty}~br{brand}~ca{category}"


def _page_events(
    v: Visitor,
    events: list[Event],
    kind: str,
    product: tuple[str, ...],
    term: str,
    cart: list[tuple[tuple[str, ...], int]],
    dwell: int,
) -> bool:
    """Add the page's events after its page_view; return whether the visitor left the site."""
    rng = v.rng
    t = events[0][0]
    if term:
        delay = 0 if rng.random() < 0.3 else rng.randint(1, 800)
        events.append((t + delay, "view_search_results", {"ep.search_term": term}))
    if product and rng.random() < 0.3:
        qty = rng.choice((1, 1, 1, 2))
        cart.append((product, qty))
        value = f"{float(product[5]) * qty:.2f}"
        params = {"cu": v.currency, "epn.value": value, "pr1": _item(product, qty)}
        events.append((t + dwell // 2, "add_to_cart", params))
    if kind == "checkout":
        form = {"ep.form_id": "checkout", "ep.form_destination": "/checkout/complete"}
        events.append((t + dwell // 5, "form_start", form))
        if rng.random() < 0.75:
            events.append((t + dwell * 7 // 10, "form_submit", form))
            events.append((t + dwell * 7 // 10 + 300, "purchase", _purchase(v, cart, t)))
            cart.clear()
    if kind == "blog" and rng.random() < 0.08:
        name, text = rng.choice(pools.DOWNLOADS)
        params = {"ep.file_extension": name.rsplit(".", 1)[1], "ep.file_name": f"/files/{name}"}
        params.update({"ep.link_text": text, "ep.link_url": f"https://{v.hostname}/files/{name}"})
        events.append((t + dwell * 3 // 5, "file_download", params))
    if rng.random() < 0.45:
        scrolled = t + int(dwell * rng.uniform(0.3, 0.9))
        events.append((scrolled, "scroll", {"epn.percent_scrolled": "90"}))
    left = kind != "checkout" and rng.random() < 0.05
    if left:
        url = rng.choice(pools.OUTBOUND_LINKS)
        domain = url.split("/")[2]
        params = {"ep.link_url": url, "ep.link_domain": domain, "ep.outbound": "true"}
        events.append((t + dwell * 19 // 20, "click", params))
    if rng.random() < 0.85:
        engaged = int(dwell * rng.uniform(0.4, 1.0))
        events.append((t + dwell, "user_engagement", {"_et": str(engaged)}))
    events.sort(key=itemgetter(0))
    return left


def _purchase(v: Visitor, cart: list[tuple[tuple[str, ...], int]], t: int) -> dict[str, str]:
    value = sum(float(product[5]) * qty for product, qty in cart)
    params = {"cu": v.currency, "ep.transaction_id": f"T{v.index:05d}-{t // 1000}"}
    params["epn.value"] = f"{value:.2f}"
    params["epn.tax"] = f"{value - value / 1.2:.2f}"
    params["epn.shipping"] = "4.95" if value < 50 else "0"
    if v.rng.random() < 0.15:
        params["ep.coupon"] = "WELCOME10"
    for n, (product, qty) in enumerate(cart, 1):
        params[f"pr{n}"] = _item(product, qty)
    return params


def _send(v: Visitor, shared: str, events: list[Event], engaged_at: int) -> Iterator[Timed]:
    """Turn one page's events into requests: single hits, or gtag batches of 2-4."""
    rng = v.rng
    i = sent = 0
    while i < len(events):
        size = 1
        if v.gtag and len(events) - i >= 2 and rng.random() < _BATCH_CHANCE:
            size = rng.randint(2, min(4, len(events) - i))
        chunk = events[i : i + size]
        # gtag flushes its queue within seconds: later events of a batch leave early.
        ms = min(chunk[-1][0], chunk[0][0] + rng.randint(500, 5000)) if size > 1 else chunk[0][0]
        sent += 1
        query = f"{shared}&_s={sent}&seg={int(ms >= engaged_at)}"
        lines = [encode_params({"en": en, **params}) for _, en, params in chunk]
        if size == 1:
            query += "&" + lines[0]
            body = b""
            method = "GET" if v.gtag and rng.random() < 0.35 else "POST"
        else:
            body = "\n".join(lines).encode()
            method = "POST"
        headers = dict(v.headers)
        if method == "POST":
            headers["Content-Type"] = "text/plain;charset=UTF-8"
        yield (
            ms,
            {
                "method": method,
                "path": "/g/collect",
                "query": query,
                "headers": headers,
                "body": body,
                "ip": v.ip,
                "received_at": _iso(ms),
            },
        )
        i += size
