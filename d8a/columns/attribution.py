"""Source / medium / term attribution of a session (reference §5).

:class:`Attribution` holds the compiled host lists and runs the original's
detector chain on a session's first event; ``session_source``,
``session_medium`` and ``session_term`` write its result. Detectors, first hit
wins:

1. click ids in the original page URL (``gclid``, ``gbraid``, ``wbraid`` ->
   google/cpc; ``msclkid`` -> bing/cpc; ``fbclid`` -> facebook/cpc;
   ``twclid`` -> twitter/cpc; ``li_fat_id`` -> linkedin/cpc; ``ttclid`` ->
   tiktok/cpc; ``ScCid`` -> snapchat/cpc; ``irclickid`` -> impact/affiliate;
   ``gclsrc=aw.ds`` -> google/cpc; ``gclsrc=3p.ds`` -> google/display);
2. video sites -> <name>/video; 3. email providers -> <name>/email;
4. referral apps -> <name>/referral; 5. a referrer containing ``mail.`` ->
   <referrer host without www.>/email; 6. social networks -> <name>/social;
7. AI assistants -> <name>/ai; 8. search engines -> <name>/organic, the term
   from the engine's query parameters in the referrer;
9. another site -> <referrer host without www.>/referral (not for a
   self-referral, nor without a page host); 10. direct/none.

Steps 2-9 need a referrer with a host; the referrer is ``page_referrer``,
ignored when ``ignore_referrer`` is true. Then ``utm_source``, ``utm_medium``
and ``utm_term`` of the original page URL replace source, medium and term
when non-empty, and all three are normalised: lower case, spaces to ``-``,
``/ \\ ? & = #`` removed, trimmed. Names are the list entries' names. How a
host matches a list, and which entry wins, is in
:mod:`d8a.columns.attribution_lists`; see also ``docs/attribution.md``.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any, NamedTuple
from urllib.parse import parse_qsl, urlsplit

import pyarrow as pa
from typing_extensions import override

from d8a.columns.attribution_lists import BUNDLED, HostList, bundled_list
from d8a.columns.base import Event, Interface, Session, SessionColumn, describe_field
from d8a.columns.core import PAGE_URL, event_id
from d8a.columns.session_columns import session_interface_id
from d8a.columns.urls import PageURL

__all__ = [
    "SOURCE_MEDIUM_TERM",
    "Attribution",
    "AttributionValue",
    "SourceMediumTerm",
    "attribution_columns",
    "normalise",
]

SOURCE_MEDIUM_TERM = "session_source_medium_term"
"""Session metadata key caching the session's :class:`SourceMediumTerm`."""

_CLICK_IDS = (
    ("gclid", "google", "cpc"),
    ("gbraid", "google", "cpc"),
    ("wbraid", "google", "cpc"),
    ("msclkid", "bing", "cpc"),
    ("fbclid", "facebook", "cpc"),
    ("twclid", "twitter", "cpc"),
    ("li_fat_id", "linkedin", "cpc"),
    ("ttclid", "tiktok", "cpc"),
    ("ScCid", "snapchat", "cpc"),
    ("irclickid", "impact", "affiliate"),
)
_GCLSRC = {"aw.ds": ("google", "cpc"), "3p.ds": ("google", "display")}
_REMOVED = str.maketrans("", "", "/\\?&=#")


class SourceMediumTerm(NamedTuple):
    """A session's attribution, normalised."""

    source: str
    medium: str
    term: str


def normalise(value: str) -> str:
    """Lower case, spaces to ``-``, ``/ \\ ? & = #`` removed, trimmed."""
    return value.lower().replace(" ", "-").translate(_REMOVED).strip()


class Attribution:
    """The detector chain with its lists; shared by every session (thread-safe).

    Each keyword takes a list's raw content (:func:`~d8a.columns.attribution_lists.load_list`
    reads a JSON or Matomo YAML file into it); None keeps the bundled list.
    ``search_engines`` has the ``SearchEngines.yml`` shape, the others the
    ``Socials.yml`` one. Raises ConfigurationError for a malformed list."""

    def __init__(
        self,
        *,
        video: Any = None,
        email: Any = None,
        referral_apps: Any = None,
        socials: Any = None,
        ai: Any = None,
        search_engines: Any = None,
    ) -> None:
        given = {
            "video": video,
            "email": email,
            "referral_apps": referral_apps,
            "socials": socials,
            "ai": ai,
            "search_engines": search_engines,
        }
        defaults = _bundled()
        lists = {
            kind: HostList(kind, raw) if raw is not None else defaults[kind]
            for kind, raw in given.items()
        }
        self.lists: Mapping[str, HostList] = lists
        self._before_mail = (
            (lists["video"], "video"),
            (lists["email"], "email"),
            (lists["referral_apps"], "referral"),
        )
        self._after_mail = ((lists["socials"], "social"), (lists["ai"], "ai"))
        self._search = lists["search_engines"]

    @classmethod
    def bundled(cls) -> Attribution:
        """The bundled lists (compiled once per process)."""
        return _default()

    def detect(
        self, page: PageURL | None, referrer: str | None, ignore_referrer: bool = False
    ) -> SourceMediumTerm:
        """Source, medium and term for a first event with this page URL and referrer."""
        query = page.query if page is not None else {}
        found = _click_id(query) if query else None
        if found is None and referrer and not ignore_referrer:
            found = self._from_referrer(referrer, page)
        source, medium, term = found or ("direct", "none", "")
        if query:
            source = query.get("utm_source") or source
            medium = query.get("utm_medium") or medium
            term = query.get("utm_term") or term
        return SourceMediumTerm(normalise(source), normalise(medium), normalise(term))

    def _from_referrer(self, referrer: str, page: PageURL | None) -> tuple[str, str, str] | None:
        try:
            parts = urlsplit(referrer)
            host = (parts.hostname or "").replace(" ", "-")
        except ValueError:
            return None
        if not host:
            return None
        bare = host.removeprefix("www.")
        for hosts, medium in self._before_mail:
            entry = hosts.match(host)
            if entry is not None:
                return entry.name.lower(), medium, ""
        if "mail." in referrer:
            return bare, "email", ""
        for hosts, medium in self._after_mail:
            entry = hosts.match(host)
            if entry is not None:
                return entry.name.lower(), medium, ""
        engine = self._search.match(host)
        if engine is not None:
            term = ""
            if engine.params and parts.query:
                values: dict[str, str] = {}
                for key, value in parse_qsl(parts.query, keep_blank_values=True):
                    values.setdefault(key, value)
                term = next((values[p] for p in engine.params if values.get(p)), "")
            return engine.name.lower(), "organic", term
        page_host = page.hostname.lower().removeprefix("www.") if page is not None else ""
        if page_host and bare != page_host:
            return bare, "referral", ""
        return None


def _click_id(query: Mapping[str, str]) -> tuple[str, str, str] | None:
    for key, source, medium in _CLICK_IDS:
        if query.get(key):
            return source, medium, ""
    found = _GCLSRC.get(query.get("gclsrc", ""))
    return (*found, "") if found else None


@functools.cache
def _bundled() -> dict[str, HostList]:
    return {kind: HostList(kind, bundled_list(kind)) for kind in BUNDLED}


@functools.cache
def _default() -> Attribution:
    return Attribution()


def _first_event_attribution(session: Session, attribution: Attribution) -> SourceMediumTerm:
    found: SourceMediumTerm | None = session.metadata.get(SOURCE_MEDIUM_TERM)
    if found is None:
        if session.events:
            first: Event = session.events[0]
            values = first.values
            found = attribution.detect(
                first.metadata.get(PAGE_URL),
                values.get("page_referrer"),
                bool(values.get("ignore_referrer")),
            )
        else:
            found = SourceMediumTerm("direct", "none", "")
        session.metadata[SOURCE_MEDIUM_TERM] = found
    return found


class AttributionValue(SessionColumn):
    """``session_source`` / ``session_medium`` / ``session_term`` of the first event.

    The three share one detection per session, kept in the session metadata
    under :data:`SOURCE_MEDIUM_TERM`."""

    _FIELDS = {
        "source": ("Traffic source: click id, referrer list, referrer host, utm_source or direct."),
        "medium": ("Traffic medium: cpc, organic, social, email, referral, ..., none."),
        "term": ("Search term from the referrer or utm_term; '' when unknown."),
    }

    def __init__(self, part: str, attribution: Attribution) -> None:
        name = f"session_{part}"
        self.interface = Interface(
            session_interface_id(name),
            describe_field(
                name, pa.string(), nullable=part == "term", description=self._FIELDS[part]
            ),
        )
        if part == "source":
            self.depends_on = (
                event_id("page_location"),
                event_id("page_referrer"),
                event_id("ignore_referrer"),
            )
        else:
            self.depends_on = (session_interface_id("session_source"),)
        self._name = name
        self._index = ("source", "medium", "term").index(part)
        self._attribution = attribution

    @override
    def write(self, session: Session) -> None:
        self.write_all([session])

    @override
    def write_all(self, sessions: list[Session]) -> None:
        name, index, attribution = self._name, self._index, self._attribution
        for session in sessions:
            session.values[name] = _first_event_attribution(session, attribution)[index]


def attribution_columns(attribution: Attribution | None = None) -> list[SessionColumn]:
    """``session_source``, ``session_medium``, ``session_term`` (bundled lists by default)."""
    chosen = attribution if attribution is not None else _default()
    return [AttributionValue(part, chosen) for part in ("source", "medium", "term")]
