"""Device columns: both implementations on real agents, the cache, bots, settings."""

from __future__ import annotations

import logging
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
from typing_extensions import override

import d8a
from d8a.columns.base import Event, Session
from d8a.columns.device import (
    MAX_USER_AGENT_CHARS,
    UNKNOWN_DEVICE,
    DeviceCache,
    DeviceDetector,
    DeviceInfo,
)
from d8a.columns.device_detectors import DETECTORS, FastDetector, MatomoDetector, make_detector
from d8a.columns.session_dominant import dominant_event
from d8a.config import DEVICE_DETECTIONS, Settings
from d8a.hits import Hit, Request
from d8a.pipeline import Pipeline
from d8a.testing import generate_traffic
from tests.conftest import T0, ga4

WINDOWS_CHROME = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 "
    "(KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"
)
ANDROID_REDUCED = (
    "Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 "
    "(KHTML, like Gecko) Chrome/131.0.0.0 Mobile Safari/537.36"
)
GOOGLEBOT = (
    "Mozilla/5.0 (Linux; Android 6.0.1; Nexus 5X Build/MMB29P) AppleWebKit/537.36 (KHTML, "
    "like Gecko) Chrome/131.0.6778.69 Mobile Safari/537.36 (compatible; Googlebot/2.1; "
    "+http://www.google.com/bot.html)"
)
CHROME_HINTS = {
    "sec-ch-ua": '"Google Chrome";v="131", "Chromium";v="131", "Not_A Brand";v="24"',
    "sec-ch-ua-mobile": "?0",
    "sec-ch-ua-platform": '"Windows"',
}
WINDOWS_11 = {**CHROME_HINTS, "sec-ch-ua-platform-version": '"15.0.0"'}

# (User-Agent, hints, what both implementations say: category, brand, OS, OS version, browser)
AGREED: list[tuple[str, dict[str, str], tuple[str | None, ...]]] = [
    (WINDOWS_CHROME, {}, ("desktop", None, "Windows", "10", "Chrome")),
    (WINDOWS_CHROME, WINDOWS_11, ("desktop", None, "Windows", "11", "Chrome")),
    (
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like "
        "Gecko) Version/18.1 Safari/605.1.15",
        {},
        ("desktop", "Apple", "Mac", "10.15.7", "Safari"),
    ),
    (
        "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/131.0.0.0 Safari/537.36",
        {},
        ("desktop", None, "GNU/Linux", None, "Chrome"),
    ),
    (
        "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, "
        "like Gecko) Version/18.1 Mobile/15E148 Safari/604.1",
        {},
        ("smartphone", "Apple", "iOS", "18.1", "Mobile Safari"),
    ),
    (
        "Mozilla/5.0 (iPad; CPU OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like "
        "Gecko) Version/18.1 Mobile/15E148 Safari/604.1",
        {},
        ("tablet", "Apple", "iPadOS", "18.1", "Mobile Safari"),
    ),
    (
        "Mozilla/5.0 (Linux; Android 14; SM-S921B) AppleWebKit/537.36 (KHTML, like Gecko) "
        "SamsungBrowser/26.0 Chrome/122.0.0.0 Mobile Safari/537.36",
        {},
        ("smartphone", "Samsung", "Android", "14", "Samsung Browser"),
    ),
    (
        ANDROID_REDUCED,
        {"sec-ch-ua-mobile": "?1", "sec-ch-ua-platform": '"Android"'},
        ("smartphone", None, "Android", "10", "Chrome Mobile"),
    ),
    (
        ANDROID_REDUCED.replace(" Mobile ", " "),
        {},
        ("tablet", None, "Android", "10", "Chrome"),
    ),
    (
        WINDOWS_CHROME + " Edg/131.0.0.0",
        {},
        ("desktop", None, "Windows", "10", "Microsoft Edge"),
    ),
    (
        "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, "
        "like Gecko) FxiOS/133.0 Mobile/15E148 Safari/604.1",
        {},
        ("smartphone", "Apple", "iOS", "18.1", "Firefox Mobile iOS"),
    ),
    ("curl/8.5.0", {}, (None, None, None, None, "curl")),
    ("", {}, (None, None, None, None, None)),
]

# Real bot agents: (User-Agent, Matomo's bot name).
BOTS = [
    (GOOGLEBOT, "Googlebot"),
    ("Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)", "BingBot"),
    ("Mozilla/5.0 (compatible; AhrefsBot/7.0; +http://ahrefs.com/robot/)", "aHrefs Bot"),
    (
        "Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; GPTBot/1.2; "
        "+https://openai.com/gptbot)",
        "GPTBot",
    ),
]


@pytest.fixture(scope="module", params=sorted(DETECTORS))
def detector(request: pytest.FixtureRequest) -> DeviceDetector:
    """Each implementation, built once per module (matomo loads its rules for seconds)."""
    return make_detector(request.param)


@pytest.mark.parametrize(("agent", "hints", "expected"), AGREED)
def test_both_implementations_speak_matomo(
    detector: DeviceDetector, agent: str, hints: dict[str, str], expected: tuple[str | None, ...]
) -> None:
    found = detector.detect(agent, hints)
    assert (found.category, found.brand, found.os, found.os_version, found.browser) == expected


@pytest.mark.parametrize(("agent", "name"), BOTS)
def test_bots_get_category_bot_and_their_name_as_brand(
    detector: DeviceDetector, agent: str, name: str
) -> None:
    found = detector.detect(agent, {})
    assert found.category == "bot" and found.brand == name
    assert found.model is not None and found.model.startswith("http")  # the bot's URL
    assert found.os is None and found.browser is None


def test_matomo_names_models_the_fast_one_keeps_codes() -> None:
    samsung = AGREED[6][0]
    assert make_detector("matomo").detect(samsung, {}).model == "Galaxy S24"
    assert make_detector("fast").detect(samsung, {}).model == "SM-S921B"


def test_the_implementations_agree_on_generated_traffic() -> None:
    """On realistic traffic (the generator's agents and hints) the fast one gives
    Matomo's answer for nearly every hit, models aside."""
    fast, matomo = DeviceCache(make_detector("fast")), DeviceCache(make_detector("matomo"))
    same = dict.fromkeys(DeviceInfo._fields, 0)
    requests = list(generate_traffic(visitors=300, seed=5))
    for request in requests:
        headers = Request.from_dict(request, 0.0).headers
        a, b = fast.lookup(headers), matomo.lookup(headers)
        for field in DeviceInfo._fields:
            same[field] += getattr(a, field) == getattr(b, field)
    share = {field: count / len(requests) for field, count in same.items()}
    for field in ("category", "brand", "os", "os_version", "browser"):
        assert share[field] >= 0.97, share
    assert share["browser_version"] >= 0.9, share


def _matomo_fixtures() -> list[dict[str, Any]]:
    """Matomo's own expectations, as shipped in the device-detector package."""
    import device_detector
    import yaml_rs

    folder = Path(device_detector.__file__).parent / "tests/fixtures/upstream"
    if not folder.is_dir():
        pytest.skip("this device-detector release ships no fixtures")
    rows = []
    for name in ("desktop.yml", "smartphone.yml", "tablet.yml", "bots.yml"):
        data = yaml_rs.loads((folder / name).read_text())
        rows.extend(row for row in data if isinstance(row, dict) and row.get("user_agent"))
    return rows


def _expected(row: dict[str, Any]) -> tuple[str | None, str | None, str | None]:
    if isinstance(row.get("bot"), dict):
        return ("bot", None, None)
    parts = [row.get("device"), row.get("os"), row.get("client")]
    keys = ("type", "name", "name")
    return tuple(  # type: ignore[return-value]  # three items
        (str(part.get(key)) or None) if isinstance(part, dict) and part.get(key) else None
        for part, key in zip(parts, keys, strict=True)
    )


def test_fast_against_matomos_own_fixtures() -> None:
    """Category, OS and browser name of the fast implementation on Matomo's test corpus
    (mostly exotic devices, so a floor rather than what real traffic gets)."""
    rows = _matomo_fixtures()[::7]
    fast = make_detector("fast")
    right = [0, 0, 0]
    for row in rows:
        found = fast.detect(row["user_agent"], {})
        for i, value in enumerate((found.category, found.os, found.browser)):
            right[i] += value == _expected(row)[i]
    category, os_name, browser = (count / len(rows) for count in right)
    assert category >= 0.8 and os_name >= 0.9 and browser >= 0.85, (category, os_name, browser)


class CountingDetector(DeviceDetector):
    name = "counting"

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, str]]] = []

    @override
    def detect(self, user_agent: str, hints: Mapping[str, str]) -> DeviceInfo:
        self.calls.append((user_agent, dict(hints)))
        if user_agent == "boom":
            raise RuntimeError("library bug")
        return DeviceInfo("desktop", browser=user_agent[:10])


def test_the_cache_detects_each_agent_and_hint_set_once() -> None:
    inner = CountingDetector()
    cache = DeviceCache(inner)
    plain = {"User-Agent": "A", "Accept-Language": "en"}
    hinted = {"User-Agent": "A", "Sec-Ch-Ua-Platform": '"Windows"'}
    for _ in range(3):
        assert cache.lookup(plain).category == "desktop"
        cache.lookup({"User-Agent": "A", "Accept-Language": "de"})  # not part of the key
        cache.lookup(hinted)
    assert inner.calls == [("A", {}), ("A", {"sec-ch-ua-platform": '"Windows"'})]
    assert cache.misses == 2


def test_the_cache_is_bounded_and_cuts_long_agents() -> None:
    inner = CountingDetector()
    cache = DeviceCache(inner, max_entries=3)
    for n in range(10):
        cache.lookup({"User-Agent": f"agent {n}"})
    assert len(cache.entries) == 3
    long = "x" * (MAX_USER_AGENT_CHARS * 50)
    cache.lookup({"User-Agent": long})
    cache.lookup({"User-Agent": long + "y"})  # the same first MAX_USER_AGENT_CHARS
    assert [len(ua) for ua, _ in inner.calls[10:]] == [MAX_USER_AGENT_CHARS]


def test_a_failing_detection_gives_null_columns_not_lost_rows(
    caplog: pytest.LogCaptureFixture,
) -> None:
    cache = DeviceCache(CountingDetector())
    with caplog.at_level(logging.WARNING):
        assert cache.lookup({"User-Agent": "boom"}) is UNKNOWN_DEVICE
    assert "device detection failed" in caplog.text


def _request(agent: str, cid: str = "1.1", **params: str) -> dict[str, Any]:
    request = ga4(cid=cid, **params)
    request["headers"] = {"User-Agent": agent}
    return request


def test_off_by_default_language_and_screen_resolution_still_filled() -> None:
    requests = [
        _request(WINDOWS_CHROME, ul="de-de", sr="1920x1080"),
        {**ga4(cid="2.2", at=T0 + 1), "headers": {"Accept-Language": "fr-FR,fr;q=0.9"}},
        {**ga4(cid="3.3", at=T0 + 2), "headers": {}},
    ]
    rows = d8a.replay(requests)["events"].to_pylist()
    assert [r["device_language"] for r in rows] == ["de-de", "fr-FR,fr;q=0.9", None]
    assert [r["device_screen_resolution"] for r in rows] == ["1920x1080", None, None]
    assert {r["device_category"] for r in rows} == {None}
    assert [r["session_device_language"] for r in rows] == ["de-de", "fr-FR,fr;q=0.9", None]


@pytest.mark.parametrize("setting", [True, "fast", "matomo"])
def test_replay_fills_the_device_columns_and_their_session_twins(setting: object) -> None:
    table = d8a.replay([_request(WINDOWS_CHROME)], device_detection=setting)["events"]
    (row,) = table.to_pylist()
    assert row["device_category"] == row["session_device_category"] == "desktop"
    assert row["device_operating_system"] == "Windows"
    assert row["device_web_browser"] == row["session_device_web_browser"] == "Chrome"
    assert row["device_web_browser_version"] == "131.0.0.0"
    names = table.schema.names
    start = names.index("click_id_msclkid")
    assert names[start + 1 : names.index("tracking_protocol")] == [
        "geo_city",
        "geo_region",
        "geo_metro",
        "geo_country",
        "geo_continent",
        "geo_sub_continent",
        "device_category",
        "device_language",
        "device_screen_resolution",
        "device_mobile_brand_name",
        "device_mobile_model_name",
        "device_operating_system",
        "device_operating_system_version",
        "device_web_browser",
        "device_web_browser_version",
    ]


def test_client_hints_reach_detection_through_the_pipeline() -> None:
    request = _request(WINDOWS_CHROME)
    request["headers"].update(
        {"Sec-CH-UA-Platform": '"Windows"', "sec-ch-ua-platform-version": '"15.0.0"'}
    )
    (row,) = d8a.replay([request], device_detection="fast")["events"].to_pylist()
    assert row["device_operating_system_version"] == "11"


def test_bots_are_flagged_and_drop_bots_leaves_them_out() -> None:
    requests = [_request(agent, cid=f"b{n}") for n, (agent, _) in enumerate(BOTS)]
    requests.append(_request(WINDOWS_CHROME, cid="human"))
    rows = d8a.replay(requests, device_detection=True)["events"].to_pylist()
    assert [(r["device_category"], r["device_mobile_brand_name"]) for r in rows] == [
        *(("bot", name) for _, name in BOTS),
        ("desktop", None),
    ]
    pipeline = Pipeline.builder(device_detection=True, drop_bots=True).pings(False).build()
    for request in requests:
        assert pipeline.ingest(request).status == 204
    pipeline.flush()
    assert pipeline.driver.table("events").column("client_id").to_pylist() == ["human"]  # type: ignore[attr-defined]
    assert pipeline.closer.stats.dropped_events == {"drop_bots": len(BOTS)}


def test_settings_validation() -> None:
    assert Settings(device_detection=True).device_detection == "fast"
    assert Settings(device_detection=False).device_detection is None
    assert Settings(device_detection="matomo").device_detection == "matomo"
    assert set(DEVICE_DETECTIONS) == set(DETECTORS)
    for bad in ("dd2", "Matomo", 1, ["fast"]):
        with pytest.raises(d8a.ConfigurationError, match="device_detection must be"):
            Settings.from_kwargs(device_detection=bad)
    with pytest.raises(d8a.ConfigurationError, match="drop_bots needs device_detection"):
        Settings(drop_bots=True)
    with pytest.raises(d8a.ConfigurationError, match="drop_bots must be"):
        Settings(device_detection=True, drop_bots="yes")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("setting", "module"), [("matomo", "device_detector"), ("fast", "ua_parser")]
)
def test_a_missing_extra_raises_at_build(
    monkeypatch: pytest.MonkeyPatch, setting: str, module: str
) -> None:
    from d8a.columns import device_detectors

    monkeypatch.setitem(sys.modules, module, None)  # makes the import fail
    device_detectors._ua_parser_resolver.cache_clear()
    try:
        with pytest.raises(d8a.MissingDependencyError, match=r"pip install 'd8a\[device\]'"):
            Pipeline.builder(device_detection=setting).build()
    finally:
        device_detectors._ua_parser_resolver.cache_clear()


def test_importing_and_replaying_without_enrichment_loads_no_extra() -> None:
    code = (
        "import sys, d8a\n"
        "from tests.conftest import ga4\n"
        "d8a.replay([ga4()])\n"
        "extras = {'device_detector', 'ua_parser', 'ua_parser_rs', 'maxminddb', 'mmdb_writer'}\n"
        "print(sorted(extras & {m.split('.')[0] for m in sys.modules}))\n"
    )
    root = Path(__file__).parent.parent
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=root
    )
    assert out.stdout.strip() == "[]"


def _event(client_id: str, n: int, category: str) -> Event:
    hit = Hit(f"h{n}", client_id, "p", "page_view", None, "ga4", "", "", "", "", {}, {}, T0 + n)
    return Event(hit, values={"device_category": category})


def test_the_dominant_client_gives_the_session_values() -> None:
    # b has the most events; its first event (the third of the session) wins.
    events = [
        _event("a", 0, "desktop"),
        _event("a", 1, "desktop"),
        _event("b", 2, "smartphone"),
        _event("b", 3, "tablet"),
        _event("b", 4, "tablet"),
    ]
    assert dominant_event(Session(events)) is events[2]
    # A tie goes to the client seen first.
    tie = [
        _event("x", 0, "tablet"),
        _event("y", 1, "desktop"),
        _event("y", 2, "desktop"),
        _event("x", 3, "tablet"),
    ]
    assert dominant_event(Session(tie)) is tie[0]
    single = [_event("z", 0, "tv"), _event("z", 1, "desktop")]
    assert dominant_event(Session(single)) is single[0]


def test_detectors_are_thread_safe_and_deterministic() -> None:
    from concurrent.futures import ThreadPoolExecutor

    cache = DeviceCache(FastDetector())
    agents = [agent for agent, _, _ in AGREED] * 20
    with ThreadPoolExecutor(4) as pool:
        found = list(pool.map(lambda ua: cache.lookup({"User-Agent": ua}), agents))
    assert found == [cache.lookup({"User-Agent": ua}) for ua in agents]
    assert cache.misses == len(set(agents))
    assert isinstance(make_detector("matomo"), MatomoDetector)
