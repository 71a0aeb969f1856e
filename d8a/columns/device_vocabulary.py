"""Matomo DeviceDetector's vocabulary for the ``fast`` (ua-parser) detector.

The name tables hold the renames measured by running ua-parser over Matomo's
own fixture corpus (38k agents with Matomo's expected answers, shipped with the
``device-detector`` package): where ua-parser says ``Samsung Internet`` Matomo
says ``Samsung Browser``, and so on. Only one-to-one renames are listed; an
agent ua-parser identifies differently keeps ua-parser's name.
:func:`fast_category` derives Matomo's device type, which ua-parser lacks,
with the rules Matomo applies to agents its model tables do not know.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

__all__ = [
    "DESKTOP_OS",
    "MATOMO_BRANDS",
    "MATOMO_BROWSERS",
    "MATOMO_OSES",
    "fast_category",
    "hinted_browser_version",
    "windows_version",
]

MATOMO_BROWSERS: dict[str, str] = {
    "Amazon Silk": "Mobile Silk",
    "Android": "Android Browser",
    "BlackBerry WebKit": "BlackBerry Browser",
    "Chrome Mobile WebView": "Chrome Webview",
    "Dolfin": "Dolphin",
    "Edge": "Microsoft Edge",
    "Edge Mobile": "Microsoft Edge",
    "Firefox iOS": "Firefox Mobile iOS",
    "Google": "Google Search App",
    "HeadlessChrome": "Headless Chrome",
    "HeyTap Browser": "HeyTapBrowser",
    "HiBrowser": "Hi Browser",
    "Huawei Browser": "Huawei Browser Mobile",
    "IE": "Internet Explorer",
    "LINE": "Line",
    "MiuiBrowser": "Mi Browser",
    "Mobile Safari UI/WKWebView": "Mobile Safari",
    "Puffin": "Puffin Web Browser",
    "QQ Browser Mobile": "QQ Browser",
    "Qt Web Engine": "QtWebEngine",
    "Samsung Internet": "Samsung Browser",
    "UP.Browser": "Openwave Mobile Browser",
    "VivoBrowser": "vivo Browser",
    "WeChat Browser": "WeChat",
}
"""ua-parser browser family -> Matomo client name."""

MATOMO_BRANDS: dict[str, str] = {
    "CobyKyros": "Coby Kyros",
    "Cubot": "CUBOT",
    "Gfive": "GFive",
    "GoClever": "GOCLEVER",
    "IMO": "IMO Mobile",
    "Itel": "iTel",
    "Ktouch": "K-Touch",
    "Micromax": "MicroMax",
    "Nextbook": "NextBook",
    "Oppo": "OPPO",
    "POV": "Point of View",
    "Proscan": "ProScan",
    "SonyEricsson": "Sony",
    "Tecno": "Tecno Mobile",
    "Texet": "teXet",
    "XiaoMi": "Xiaomi",
    "imobile": "i-mobile",
    "vivo": "Vivo",
}
"""ua-parser device brand -> Matomo brand (spelling differences only)."""

MATOMO_OSES: dict[str, str] = {
    "ATV OS X": "tvOS",
    "BREW": "Brew",
    "Brew MP": "Brew",
    "Chromecast Fuchsia": "Fuchsia",
    "GoogleTV": "Google TV",
    "Linux": "GNU/Linux",
    "Linux Mint": "Mint",
    "Mac OS": "Mac",
    "Mac OS X": "Mac",
    "WatchOS": "watchOS",
    "Web0S": "webOS",
}
"""ua-parser OS family -> Matomo OS name."""

DESKTOP_OS = frozenset(
    {
        "AmigaOS",
        "Arch Linux",
        "BeOS",
        "CentOS",
        "Chrome OS",
        "Chromium OS",
        "Debian",
        "Fedora",
        "FreeBSD",
        "Gentoo",
        "GNU/Linux",
        "IBM",
        "Kubuntu",
        "Mac",
        "Mageia",
        "Mandriva",
        "Mint",
        "NetBSD",
        "OpenBSD",
        "openSUSE",
        "Red Hat",
        "Slackware",
        "Solaris",
        "SUSE",
        "Ubuntu",
        "Unix",
        "Windows",
        "Xubuntu",
    }
)
"""Matomo's desktop OS families (Windows, Mac, GNU/Linux, Unix, Chrome OS, ...)
and the names of their members: a device running one of them is a desktop
unless something says otherwise."""

_TV_MARKERS = ("SmartTV", "SMART-TV", "Smart TV", "HbbTV", "Tizen TV", "Web0S", "CrKey", "GoogleTV")
_MOBILE_OSES = frozenset({"iOS", "Windows Phone", "BlackBerry OS", "Symbian OS", "Sailfish OS"})
_FEATURE_PHONE_OSES = frozenset({"KaiOS", "Java ME", "Brew"})


def fast_category(
    user_agent: str, os_name: str | None, device_family: str, hints: Mapping[str, str]
) -> str | None:
    """Matomo's device type from what ua-parser found, or None when nothing tells."""
    if "iPad" in device_family or "Tablet" in device_family or "Kindle" in device_family:
        return "tablet"
    if device_family == "iPod":
        return "portable media player"
    if device_family == "iPhone":
        return "smartphone"
    if any(marker in user_agent for marker in _TV_MARKERS) or os_name in ("Android TV", "tvOS"):
        return "tv"
    if os_name in _FEATURE_PHONE_OSES or device_family == "Generic Feature Phone":
        return "feature phone"
    mobile_hint = hints.get("sec-ch-ua-mobile")
    if os_name == "Android" or (os_name is None and "Android" in user_agent):
        # Matomo: Chrome-like browsers on Android say "Mobile" on phones only;
        # Firefox says "Mobile;" or "Tablet;".
        if mobile_hint == "?1" or "Mobile" in user_agent:
            return "smartphone"
        return "tablet"
    if os_name in _MOBILE_OSES or mobile_hint == "?1":
        return "smartphone"
    if os_name in DESKTOP_OS:
        return "desktop"
    if "Mobile" in user_agent or "Mobi" in user_agent:
        return "smartphone"
    return None


def windows_version(version: str | None, hints: Mapping[str, str]) -> str | None:
    """Matomo's Windows version: ``Sec-CH-UA-Platform-Version`` tells 11 from 10
    (the User-Agent of both says ``Windows NT 10.0``); else the UA's version."""
    platform_version = hints.get("sec-ch-ua-platform-version", "").strip('"')
    if not platform_version or hints.get("sec-ch-ua-platform", "").strip('"') != "Windows":
        return version
    major, _, rest = platform_version.partition(".")
    if not major.isdigit():
        return version
    if int(major) == 0:
        return {"1": "7", "2": "8", "3": "8.1"}.get(rest.partition(".")[0], version)
    return "10" if int(major) < 11 else "11"


_BRAND = re.compile(r'"([^"]*)"\s*;\s*v="([^"]*)"')


def hinted_browser_version(major: str | None, hints: Mapping[str, str]) -> str | None:
    """The browser version Client Hints give, as Matomo prefers it to the User-Agent's.

    The brand lists (``Sec-CH-UA-Full-Version-List``, else ``Sec-CH-UA``) name the
    browser, its engine and a made-up "Not A Brand"; the browser is the first
    brand whose major version is the User-Agent's. None when no brand fits."""
    brands = hints.get("sec-ch-ua-full-version-list") or hints.get("sec-ch-ua")
    if not brands or not major:
        return None
    for name, version in _BRAND.findall(brands):
        if version.partition(".")[0] == major and "brand" not in name.lower():
            return str(version)
    return None
