"""Page-URL handling shared by the page and UTM columns, cached per URL.

The same few hundred URLs make up most traffic, so each distinct URL is parsed
once: what the original URL's query holds (for UTM and click-id columns), the
URL with excluded parameters stripped (``page_location``), its host and path.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit, urlunsplit

from d8a.caches import remember
from d8a.columns.casts import to_string

__all__ = ["PageURL", "URLCache"]

_CACHE_LIMIT = 20_000


@dataclass(frozen=True, slots=True)
class PageURL:
    """A page URL taken apart. ``error`` is set when the URL does not parse."""

    original: str
    location: str
    hostname: str
    path: str
    query: dict[str, str]
    error: str | None = None
    fields: dict[str, str | None] | None = None
    """Cast values of the parameters the columns read (UTM, click ids); absent keys missing."""


class URLCache:
    """Parses page URLs, stripping ``excluded`` parameters, with a bounded cache."""

    def __init__(self, excluded: tuple[str, ...], fields: tuple[str, ...] = ()) -> None:
        self._excluded = frozenset(excluded)
        self._fields = fields
        self._cache: dict[str, PageURL] = {}

    def get(self, url: str) -> PageURL:
        """The parsed form of ``url`` (cached)."""
        found = self._cache.get(url)
        if found is None:
            found = remember(self._cache, url, self._parse(url), _CACHE_LIMIT)
        return found

    def _parse(self, url: str) -> PageURL:
        if not url:
            return PageURL(url, url, "", "", {})
        try:
            parts = urlsplit(url)
            hostname = parts.hostname or ""
        except ValueError as exc:
            return PageURL(url, url, "", "", {}, error=f"invalid page URL: {exc}")
        query: dict[str, str] = {}
        location = url
        if parts.query:
            pairs = parse_qsl(parts.query, keep_blank_values=True)
            for key, value in pairs:
                query.setdefault(key, value)
            if self._excluded and any(key in self._excluded for key, _ in pairs):
                kept = sorted(
                    ((k, v) for k, v in pairs if k not in self._excluded), key=lambda kv: kv[0]
                )
                location = urlunsplit(parts._replace(query=urlencode(kept)))
        fields = {key: to_string(query[key]) for key in self._fields if key in query}
        return PageURL(url, location, hostname, unquote(parts.path), query, fields=fields)
