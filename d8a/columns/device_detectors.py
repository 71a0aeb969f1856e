"""The two device detection implementations: ``"matomo"`` and ``"fast"``.

``matomo`` runs the Python port of Matomo's DeviceDetector (PyPI
``device-detector``), the library family the original uses: its names are
Matomo's by definition, including marketing model names (``Galaxy S24``). A
first sighting of an agent costs about 15 ms, and loading its rules about 2.5 s
(once per process, at the first ``build()`` that asks for it).

``fast`` combines the two libraries: bots are found with Matomo's own bot list
(the port's bot parser alone), everything else with ua-parser and its Rust
accelerator (``ua-parser[regex]``), mapped onto Matomo's vocabulary
(:mod:`d8a.columns.device_vocabulary`); about 30 us a first sighting, 0.5 s to
load. Bots, device categories, OS and browser names follow Matomo for the
common agents; model names are the codes the agent sends (``SM-S921B``), not
Matomo's marketing names, and brands are those ua-parser knows.
``docs/enrichment.md`` has the measured agreement between the two.

Both import their library when built, never when ``d8a`` is imported; a missing
library raises :class:`MissingDependencyError` naming the ``device`` extra.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from typing import Any

from typing_extensions import override

from d8a.columns.device import DeviceDetector, DeviceInfo
from d8a.columns.device_vocabulary import (
    DESKTOP_OS,
    MATOMO_BRANDS,
    MATOMO_BROWSERS,
    MATOMO_OSES,
    fast_category,
    hinted_browser_version,
    windows_version,
)
from d8a.errors import ConfigurationError, MissingDependencyError

__all__ = ["DETECTORS", "FastDetector", "MatomoDetector", "make_detector"]


_CHROME = re.compile(r"Chrome/[.0-9]*")


def _text(value: object) -> str | None:
    """Library values (str, StrEnum, None) as a plain non-empty str or None."""
    text = str(value) if value is not None else ""
    return text or None


class MatomoDetector(DeviceDetector):
    """Matomo's DeviceDetector, Python port (``device-detector`` on PyPI)."""

    name = "matomo"

    def __init__(self) -> None:
        try:
            from device_detector import DeviceDetector as Matomo
        except ImportError:
            raise MissingDependencyError("device-detector", "device") from None
        self._matomo: Any = Matomo
        self.detect("Mozilla/5.0 (Windows NT 10.0; Win64; x64)", {})  # load the rules now

    @override
    def detect(self, user_agent: str, hints: Mapping[str, str]) -> DeviceInfo:
        # check_cache=False: our cache is bounded and per pipeline; the library's is global.
        found = self._matomo(
            user_agent, headers=dict(hints) if hints else None, check_cache=False
        ).parse()
        details = found.all_details
        bot = details.get("bot")
        if bot:
            return DeviceInfo("bot", _text(bot.get("name")), _text(bot.get("url")))
        os_name = _text(found.os_name())
        category = _text(found.device_type())
        if category is None:
            # Two rules of Matomo (PHP) for devices its tables do not know, which
            # the port misses in some cases (Chrome on Linux; Chrome on Android
            # with Client Hints): Chrome on Android says "Mobile" on phones only,
            # and a device running a desktop OS is a desktop.
            family = details.get("os", {}).get("family") or os_name
            if family == "Android" and _CHROME.search(user_agent):
                mobile = "Mobile" in user_agent or "eliboM" in user_agent
                category = "smartphone" if mobile else "tablet"
            elif family in DESKTOP_OS and not found.uses_mobile_browser():
                category = "desktop"
        return DeviceInfo(
            category,
            _text(found.device_brand()),
            _text(found.device_model()),
            os_name,
            _text(found.os_version()),
            _text(found.client_name()),
            _text(found.client_version()),
        )


@functools.cache
def _ua_parser_resolver() -> Any:
    """ua-parser's Rust resolver over its bundled rules; built once per process
    (about 0.3 s) because the rules are immutable and the resolver thread-safe."""
    try:
        import ua_parser
        import ua_parser_rs  # noqa: F401  (checked here: ua_parser.regex needs it)
    except ImportError:
        raise MissingDependencyError("ua-parser[regex]", "device") from None
    from ua_parser.regex import Resolver

    return Resolver(ua_parser.load_builtins())


def _matomo_bot_parser() -> tuple[Any, Any]:
    """The port's bot parser class and its User-Agent clean-up function."""
    try:
        from device_detector.parser import Bot
        from device_detector.utils import clean_ua
    except ImportError:
        raise MissingDependencyError("device-detector", "device") from None
    return Bot, clean_ua


def _version(*parts: str | None) -> str | None:
    """``"131.0.6778"`` from the parts ua-parser found, up to the first missing one."""
    found = []
    for part in parts:
        if not part:
            break
        found.append(part)
    return ".".join(found) or None


class FastDetector(DeviceDetector):
    """ua-parser with the Rust accelerator, mapped onto Matomo's vocabulary."""

    name = "fast"

    def __init__(self) -> None:
        self._bot, self._clean = _matomo_bot_parser()
        resolver = _ua_parser_resolver()
        self._agent = resolver.ua.extract
        self._os = resolver.os.extract
        self._device = resolver.de.extract
        self.detect("Mozilla/5.0 (Windows NT 10.0; Win64; x64)", {})  # compile the bot rules now

    @override
    def detect(self, user_agent: str, hints: Mapping[str, str]) -> DeviceInfo:
        bot = self._bot(self._clean(user_agent, user_agent.lower()), None).parse().ua_data
        if bot:
            return DeviceInfo("bot", _text(bot.get("name")), _text(bot.get("url")))
        agent = self._agent(user_agent)
        device = self._device(user_agent)
        os = self._os(user_agent)
        os_name = MATOMO_OSES.get(os.family, os.family) if os else None
        os_version = _version(os.major, os.minor, os.patch) if os else None
        brand = device.brand if device else None
        model = device.model if device else None
        if brand is not None and brand.startswith("Generic"):
            brand = model = None
        else:
            brand = MATOMO_BRANDS.get(brand, brand) if brand else None
            if model in ("Mac", "Smartphone", "Tablet"):
                model = None  # family words, not models
        category = fast_category(user_agent, os_name, device.family if device else "", hints)
        if os_name == "iOS" and category == "tablet":
            os_name = "iPadOS"  # Matomo's name for iOS on an iPad
        if os_name == "Windows":
            os_version = windows_version(os_version, hints)
        elif os_name == "Android" and hints.get("sec-ch-ua-platform") == '"Android"':
            # Chrome's reduced User-Agent says "Android 10"; the hint has the real one.
            os_version = hints.get("sec-ch-ua-platform-version", "").strip('"') or os_version
        model = hints.get("sec-ch-ua-model", "").strip('"') or model
        browser = browser_version = None
        if agent is not None and agent.family != "Other":
            browser = MATOMO_BROWSERS.get(agent.family, agent.family)
            # ua-parser gives the stock Android browser the OS version; Matomo none.
            if browser != "Android Browser":
                browser_version = hinted_browser_version(agent.major, hints) or _version(
                    agent.major, agent.minor, agent.patch, agent.patch_minor
                )
        return DeviceInfo(category, brand, model, os_name, os_version, browser, browser_version)


DETECTORS: dict[str, type[DeviceDetector]] = {"matomo": MatomoDetector, "fast": FastDetector}
"""``device_detection`` setting value -> implementation (the names are
:data:`d8a.config.DEVICE_DETECTIONS`)."""


def make_detector(name: str) -> DeviceDetector:
    """The detector ``name`` selects; raises MissingDependencyError without its library."""
    try:
        kind = DETECTORS[name]
    except KeyError:
        raise ConfigurationError(
            f"device_detection must be one of {', '.join(sorted(DETECTORS))}, True or False; "
            f"not {name!r}"
        ) from None
    return kind()
