"""The host lists of source/medium/term attribution, compiled for look-ups.

A list maps a name (``Google``, ``Facebook``) to host patterns. Two shapes are
read, the ones of Matomo's ``searchengine-and-social-list``:

- search engines (``SearchEngines.yml``): ``{name: [{"urls": [...],
  "params": [...]}, ...]}``; ``params`` are the query parameters holding the
  search term (entries between ``/`` are Matomo's path regexes, ignored as
  the original ignores them);
- every other kind (``Socials.yml``, ``AIAssistants.yml`` and d8a's video,
  email and referral-app lists): ``{name: [pattern, ...]}``.

The bundled lists are JSON files of the same shapes under
``d8a/data/attribution/``; :func:`load_list` reads such a JSON file or a
Matomo YAML file.

Matching a referrer host (lower-cased, spaces as ``-``), in this precedence,
first hit wins:

1. a plain pattern equal to the host or to one of its dot-suffixes, the
   longest first: ``news.google.com`` is tried, then ``google.com``, then
   ``com`` (so a ``www.``-less host is covered, and the most specific entry
   wins). A pattern listed twice belongs to the first entry. Patterns with
   a ``/`` never equal a host, so they never match (as in the original);
2. ``{}`` patterns: ``{}x`` is "ends with x", ``x{}`` "starts with x", any
   other use of ``{}`` matches any text there (anchored). They are tried
   longest literal text first, then in list order, each on the host and
   then on the host without ``www.``.

Results are cached per host (bounded), so attributing a session costs a dict
look-up per list once a host has been seen.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from typing import Any

from d8a.caches import remember
from d8a.columns.matomo_yaml import parse_matomo_yaml
from d8a.errors import ConfigurationError

__all__ = ["BUNDLED", "HostList", "ListEntry", "bundled_list", "load_list"]

BUNDLED = ("video", "email", "referral_apps", "socials", "ai", "search_engines")
"""The bundled list kinds, in detector order; file ``<kind>.json`` of the data package."""

_CACHE_LIMIT = 10_000


@dataclass(frozen=True, slots=True)
class ListEntry:
    """What a matching pattern names: the entry's name and its term parameters."""

    name: str
    params: tuple[str, ...] = ()
    """Query parameters of the referrer holding the search term, in order."""


def load_list(path: str | os.PathLike[str]) -> Any:
    """The raw content of a list file: JSON (``.json``) or Matomo YAML (else)."""
    name = os.fspath(path)
    try:
        with open(name, encoding="utf-8") as file:
            text = file.read()
    except OSError as exc:
        raise ConfigurationError(f"cannot read attribution list {name!r}: {exc}") from None
    try:
        if name.endswith(".json"):
            return json.loads(text)
        return parse_matomo_yaml(text)
    except (ValueError, ConfigurationError) as exc:
        raise ConfigurationError(f"attribution list {name!r}: {exc}") from None


def bundled_list(kind: str) -> Any:
    """The raw content of bundled list ``kind`` (one of :data:`BUNDLED`)."""
    if kind not in BUNDLED:
        raise ConfigurationError(f"no bundled attribution list {kind!r}; known: {BUNDLED}")
    data = resources.files("d8a") / "data" / "attribution" / f"{kind}.json"
    return json.loads(data.read_text(encoding="utf-8"))


def _entries(kind: str, raw: Any) -> list[tuple[ListEntry, list[str]]]:
    """Validate ``raw`` of the given kind into (entry, patterns) pairs, in order."""
    if not isinstance(raw, Mapping):
        raise ConfigurationError(f"attribution list {kind!r} must map names to patterns")
    pairs: list[tuple[ListEntry, list[str]]] = []
    for name, value in raw.items():
        if not isinstance(name, str) or not isinstance(value, list):
            raise ConfigurationError(
                f"attribution list {kind!r}: {name!r} must map to a list, not {value!r}"
            )
        if kind != "search_engines":
            if not all(isinstance(p, str) for p in value):
                raise ConfigurationError(
                    f"attribution list {kind!r}: {name!r} must list host patterns"
                )
            pairs.append((ListEntry(name), list(value)))
            continue
        for config in value:
            urls = config.get("urls") if isinstance(config, Mapping) else None
            params = (config.get("params") or []) if isinstance(config, Mapping) else None
            if (
                not isinstance(urls, list)
                or not isinstance(params, list)
                or not all(isinstance(u, str) for u in urls)
                or not all(isinstance(p, str) for p in params)
            ):
                raise ConfigurationError(
                    f"attribution list {kind!r}: each entry of {name!r} needs "
                    "'urls' (a list of hosts) and 'params' (a list of parameter names)"
                )
            plain = tuple(p for p in params if not (len(p) > 1 and p[0] == p[-1] == "/"))
            pairs.append((ListEntry(name, plain), urls))
    return pairs


class HostList:
    """One compiled list: host -> :class:`ListEntry` (module docstring: precedence).

    Safe to share between threads: the cache is a plain dict (atomic single
    operations) that is only ever added to or cleared."""

    def __init__(self, kind: str, raw: Any) -> None:
        self.kind = kind
        self._exact: dict[str, ListEntry] = {}
        wild: list[tuple[int, int, str, Any, ListEntry]] = []
        for entry, patterns in _entries(kind, raw):
            for pattern in patterns:
                pattern = pattern.strip().lower().replace(" ", "-")
                if not pattern:
                    continue
                if "{}" not in pattern:
                    self._exact.setdefault(pattern, entry)
                    continue
                parts = pattern.split("{}")
                literal = sum(len(p) for p in parts)
                if len(parts) == 2 and not parts[0]:
                    wild.append((-literal, len(wild), "suffix", parts[1], entry))
                elif len(parts) == 2 and not parts[1]:
                    wild.append((-literal, len(wild), "prefix", parts[0], entry))
                else:
                    regex = re.compile(".*".join(re.escape(p) for p in parts))
                    wild.append((-literal, len(wild), "regex", regex, entry))
        wild.sort(key=lambda w: (w[0], w[1]))
        self._wild = [(how, what, entry) for _, _, how, what, entry in wild]
        self._cache: dict[str, ListEntry | None] = {}

    def __len__(self) -> int:
        return len(self._exact) + len(self._wild)

    def match(self, host: str) -> ListEntry | None:
        """The entry ``host`` (already lower-cased, spaces as ``-``) matches, or None."""
        try:
            return self._cache[host]
        except KeyError:
            pass
        return remember(self._cache, host, self._find(host), _CACHE_LIMIT)

    def _find(self, host: str) -> ListEntry | None:
        exact = self._exact
        name = host
        while True:
            found = exact.get(name)
            if found is not None:
                return found
            dot = name.find(".")
            if dot < 0:
                break
            name = name[dot + 1 :]
        names = (host, host[4:]) if host.startswith("www.") else (host,)
        for how, what, entry in self._wild:
            for candidate in names:
                if how == "suffix":
                    hit = candidate.endswith(what)
                elif how == "prefix":
                    hit = candidate.startswith(what)
                else:
                    hit = what.fullmatch(candidate) is not None
                if hit:
                    return entry
        return None
