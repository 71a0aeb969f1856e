"""Source / medium / term attribution (reference §5) and its host lists."""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

import d8a
from d8a.columns.attribution import Attribution, normalise
from d8a.columns.attribution_lists import BUNDLED, HostList, bundled_list, load_list
from d8a.columns.matomo_yaml import parse_matomo_yaml
from d8a.columns.urls import URLCache
from d8a.errors import ConfigurationError
from d8a.pipeline import Pipeline
from d8a.protocols import GA4Protocol
from d8a.warehouse.memory import MemoryDriver
from tests.conftest import T0, ga4

URLS = URLCache(())


def smt(page: str = "https://shop.example/", referrer: str = "", **kw: Any) -> tuple[str, ...]:
    return tuple(Attribution.bundled().detect(URLS.get(page), referrer, **kw))


def session_smt(**params: Any) -> tuple[str, str, str]:
    (row,) = d8a.replay([ga4(**params)])["events"].to_pylist()
    return row["session_source"], row["session_medium"], row["session_term"]


# -- the reference's examples (docs: traffic-attribution.md), through the whole pipeline


def test_search_engine_referrer() -> None:
    assert session_smt(dr="https://www.google.com/") == ("google", "organic", "")


def test_click_id_landing() -> None:
    assert session_smt(dl="https://shop.example/?gclid=abc") == ("google", "cpc", "")


def test_social_referrer() -> None:
    assert session_smt(dr="https://www.facebook.com/") == ("facebook", "social", "")


def test_utm_parameters_override_the_detected_email_provider() -> None:
    landing = "https://shop.example/?utm_source=mailchimp&utm_medium=email&utm_term=weekly_digest"
    assert smt(landing.split("?")[0], "https://mail.google.com/") == ("gmail", "email", "")
    assert session_smt(dl=landing, dr="https://mail.google.com/") == (
        "mailchimp",
        "email",
        "weekly_digest",
    )


def test_generic_referral_and_direct() -> None:
    assert session_smt(dr="https://exampleblog.com/article") == (
        "exampleblog.com",
        "referral",
        "",
    )
    assert session_smt() == ("direct", "none", "")


def test_ignore_referrer_skips_the_referrer() -> None:
    assert session_smt(dr="https://www.google.com/", ir="1") == ("direct", "none", "")
    assert session_smt(dr="https://www.google.com/", ir="0") == ("google", "organic", "")


def test_attribution_reads_the_first_event_only() -> None:
    requests = [ga4(id="a"), ga4(id="b", at=T0 + 1, dr="https://www.bing.com/")]
    rows = d8a.replay(requests)["events"].to_pylist()
    assert {(r["session_source"], r["session_medium"]) for r in rows} == {("direct", "none")}


# -- the detector chain, in order


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("gclid=1", ("google", "cpc")),
        ("gbraid=1", ("google", "cpc")),
        ("wbraid=1", ("google", "cpc")),
        ("msclkid=1", ("bing", "cpc")),
        ("fbclid=1", ("facebook", "cpc")),
        ("twclid=1", ("twitter", "cpc")),
        ("li_fat_id=1", ("linkedin", "cpc")),
        ("ttclid=1", ("tiktok", "cpc")),
        ("ScCid=1", ("snapchat", "cpc")),
        ("irclickid=1", ("impact", "affiliate")),
        ("gclsrc=aw.ds", ("google", "cpc")),
        ("gclsrc=3p.ds", ("google", "display")),
        ("gclsrc=other", ("direct", "none")),
        ("gclid=", ("direct", "none")),
        ("msclkid=1&gclid=1", ("google", "cpc")),  # the list's order, not the URL's
    ],
)
def test_click_ids(query: str, expected: tuple[str, str]) -> None:
    assert smt(f"https://shop.example/?{query}")[:2] == expected


@pytest.mark.parametrize(
    ("referrer", "expected"),
    [
        ("https://www.youtube.com/watch?v=1", ("youtube", "video", "")),  # video before social
        ("https://m.youtube.com/", ("youtube", "video", "")),
        ("android-app://com.google.android.gm/", ("gmail", "email", "")),
        ("https://outlook.live.com/mail/0/", ("outlook", "email", "")),
        ("android-app://com.android.chrome/", ("chrome", "referral", "")),
        ("https://webmail.example.org/?via=mail.x", ("webmail.example.org", "email", "")),
        ("https://www.mail.example.net/", ("mail.example.net", "email", "")),
        ("https://mail.facebook.com/", ("mail.facebook.com", "email", "")),  # mail. before social
        ("https://l.facebook.com/l.php?u=x", ("facebook", "social", "")),
        ("https://t.co/abc", ("twitter", "social", "")),
        ("https://x.com/i/grok", ("twitter", "social", "")),  # "x.com/i/grok" is path-only
        ("https://chatgpt.com/", ("chatgpt", "ai", "")),
        ("https://gemini.google.com/app", ("gemini", "ai", "")),  # AI before search
        ("https://www.google.co.uk/search?q=Red+Shoes", ("google", "organic", "red-shoes")),
        ("https://news.google.de/", ("google-news", "organic", "")),
        ("https://www.bing.com/search?Q=a%2Fb", ("bing", "organic", "ab")),
        ("https://search.yahoo.com/search?p=x&q=y", ("yahoo!", "organic", "x")),
        ("https://yandex.com.tr/search/?text=kedi", ("yandex", "organic", "kedi")),
        ("https://duckduckgo.com/", ("duckduckgo", "organic", "")),
        ("https://www.Other-Site.example/page", ("other-site.example", "referral", "")),
        ("https://shop.example/cart", ("direct", "none", "")),  # self-referral
        ("https://www.shop.example/cart", ("direct", "none", "")),
        ("not a url", ("direct", "none", "")),
        ("https://[::1", ("direct", "none", "")),
    ],
)
def test_referrer_detectors(referrer: str, expected: tuple[str, str, str]) -> None:
    assert smt("https://shop.example/?a=1", referrer) == expected


def test_no_page_host_means_no_generic_referral() -> None:
    assert smt("", "https://exampleblog.com/") == ("direct", "none", "")


def test_utm_overrides_are_independent_and_normalised() -> None:
    page = "https://shop.example/?utm_medium=Paid%20Social&utm_term=A/B%3F%23"
    assert smt(page, "https://www.facebook.com/") == ("facebook", "paid-social", "ab")
    page = "https://shop.example/?gclid=1&utm_source=News+Letter"
    assert smt(page) == ("news-letter", "cpc", "")


@settings(max_examples=300, deadline=None)
@given(st.text())
def test_normalise_is_idempotent_and_removes_what_it_says(value: str) -> None:
    once = normalise(value)
    assert normalise(once) == once
    assert not set(once) & set("/\\?&=# ")
    assert once == once.lower()


# -- host lists: matching, precedence, files


def test_precedence_inside_a_list() -> None:
    hosts = HostList(
        "socials",
        {
            "Broad": ["example.com"],
            "Specific": ["news.example.com"],
            "Again": ["example.com"],  # listed twice: the first entry keeps it
            "Prefix": ["shop.{}"],
            "LongerPrefix": ["shop.example.{}"],
            "Suffix": ["{}.example.org"],
            "Middle": ["cdn.{}.example.net"],
            "Path": ["example.com/path"],
        },
    )
    match = hosts.match
    assert match("example.com").name == "Broad"  # type: ignore[union-attr]
    assert match("a.b.example.com").name == "Broad"  # type: ignore[union-attr]
    assert match("x.news.example.com").name == "Specific"  # type: ignore[union-attr]
    assert match("shop.example.de").name == "LongerPrefix"  # type: ignore[union-attr]
    assert match("www.shop.example.de").name == "LongerPrefix"  # type: ignore[union-attr]
    assert match("shop.other.de").name == "Prefix"  # type: ignore[union-attr]
    assert match("a.example.org").name == "Suffix"  # type: ignore[union-attr]
    assert match("example.org") is None
    assert match("cdn.eu.example.net").name == "Middle"  # type: ignore[union-attr]
    assert match("cdn.eu.example.net.evil") is None  # {} patterns are anchored
    assert match("notexample.com") is None
    assert match("com") is None


def test_bundled_lists_are_package_data_and_cover_the_major_entries() -> None:
    folder = resources.files("d8a") / "data" / "attribution"
    for kind in BUNDLED:
        assert (folder / f"{kind}.json").is_file(), kind
        assert json.loads((folder / f"{kind}.json").read_text(encoding="utf-8"))
    names = {kind: {n.lower() for n in bundled_list(kind)} for kind in BUNDLED}
    assert {"google", "bing", "yahoo!", "duckduckgo", "baidu", "yandex"} <= names["search_engines"]
    assert {"facebook", "instagram", "linkedin", "reddit", "tiktok", "bluesky"} <= names["socials"]
    assert {"mastodon", "threads", "twitter", "pinterest"} <= names["socials"]
    assert {"chatgpt", "claude", "perplexity", "gemini", "copilot", "deepseek"} <= names["ai"]
    assert {"youtube", "vimeo", "twitch", "dailymotion"} <= names["video"]
    assert {"gmail", "outlook", "yahoo mail", "protonmail"} <= names["email"]
    assert {"chrome", "firefox"} <= names["referral_apps"]


MATOMO_SEARCH = """\
# A search engine list in the shape of Matomo's SearchEngines.yml
Example Search:
  -
    urls:
      - search.example
      - 'search.example.{}'
      - '{}.search.example'
    params:
      - '/s\\/([^\\/]+)/'
      - query
      - q
    backlink: 'search?q={k}'
    charsets:
      - utf-8
  - urls:
      - find.example
    params: []
    hiddenkeyword:
      - '/^$/'
"Quoted: Engine":
  -
    urls:
      - yabs.quoted.{}
    params: [ 'k', kw ]
Ünïcödé (Beta):
  -
    urls:
      - ünï.example   # a comment
    params:
      - ' '
"""

MATOMO_SOCIALS = "\n".join(
    [
        "Example%2BNetwork:",
        "  - social.example",
        "  - android-app://org.example.app",
        "",
        "\"Friends ''Network''\":",  # double quotes keep '' as is
        "   - friends.example   ",
        "  ",
        "Vkontakte:",
        "  - vk.example",
    ]
)


def test_matomo_yaml_shapes() -> None:
    engines = parse_matomo_yaml(MATOMO_SEARCH)
    assert engines["Example Search"][0]["urls"][1] == "search.example.{}"
    assert engines["Example Search"][0]["params"] == ["/s\\/([^\\/]+)/", "query", "q"]
    assert engines["Example Search"][1] == {
        "urls": ["find.example"],
        "params": [],
        "hiddenkeyword": ["/^$/"],
    }
    assert engines["Quoted: Engine"] == [{"urls": ["yabs.quoted.{}"], "params": ["k", "kw"]}]
    assert engines["Ünïcödé (Beta)"] == [{"urls": ["ünï.example"], "params": [" "]}]
    socials = parse_matomo_yaml(MATOMO_SOCIALS)
    assert socials == {
        "Example%2BNetwork": ["social.example", "android-app://org.example.app"],
        "Friends ''Network''": ["friends.example"],
        "Vkontakte": ["vk.example"],
    }


@pytest.mark.parametrize(
    ("text", "line"),
    [
        ("a:\n  - &anchor x\n", 2),
        ("a:\n\t- x\n", 2),
        ("a:\n  - 'open\n", 2),
        ("a: |\n  text\n", 1),
        ("a:\n  - x\n b: y\n", 3),
        ("a: 1\na: 2\n", 2),
        ("just text\n", 1),
    ],
)
def test_matomo_yaml_outside_the_supported_part_names_the_line(text: str, line: int) -> None:
    with pytest.raises(ConfigurationError, match=f"line {line}"):
        parse_matomo_yaml(text)


def test_user_lists_from_matomo_files(tmp_path: Path) -> None:
    (tmp_path / "SearchEngines.yml").write_text(MATOMO_SEARCH, encoding="utf-8")
    (tmp_path / "Socials.yml").write_text(MATOMO_SOCIALS, encoding="utf-8")
    attribution = Attribution(
        search_engines=load_list(tmp_path / "SearchEngines.yml"),
        socials=load_list(tmp_path / "Socials.yml"),
    )
    page = URLS.get("https://shop.example/")
    detect = attribution.detect
    assert detect(page, "https://www.search.example/?s=x&q=&query=Blue") == (
        "example-search",
        "organic",
        "blue",
    )
    assert detect(page, "https://find.example/?q=x") == ("example-search", "organic", "")
    assert detect(page, "https://search.example.co.uk/?q=x") == ("example-search", "organic", "x")
    assert detect(page, "https://yabs.quoted.de/?kw=x") == ("quoted:-engine", "organic", "x")
    assert detect(page, "https://vk.example/") == ("vkontakte", "social", "")
    assert detect(page, "https://www.google.com/") == ("google.com", "referral", "")  # replaced
    assert detect(page, "https://www.youtube.com/") == ("youtube", "video", "")  # still bundled


def test_a_pipeline_uses_the_protocols_lists(tmp_path: Path) -> None:
    path = tmp_path / "socials.json"
    path.write_text(json.dumps({"Intranet": ["intranet.example"]}), encoding="utf-8")
    protocol = GA4Protocol(attribution=Attribution(socials=load_list(path)))
    driver = MemoryDriver()
    pipeline = Pipeline.builder().protocols(protocol).warehouse(driver).pings(False).build()
    assert pipeline.ingest(ga4(dr="https://intranet.example/home")).status == 204
    pipeline.flush()
    table = driver.table("events")
    assert table.column("session_source").to_pylist() == ["intranet"]
    assert table.column("session_medium").to_pylist() == ["social"]
    pipeline.close()


@pytest.mark.parametrize(
    "raw",
    [
        ["not", "a", "mapping"],
        {"Name": "host.example"},
        {"Name": [1, 2]},
    ],
)
def test_malformed_lists_are_configuration_errors(raw: Any) -> None:
    with pytest.raises(ConfigurationError, match="socials"):
        Attribution(socials=raw)


def test_a_search_engine_entry_needs_urls() -> None:
    with pytest.raises(ConfigurationError, match="'urls'"):
        Attribution(search_engines={"Engine": [{"params": ["q"]}]})


def test_unreadable_list_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="cannot read"):
        load_list(tmp_path / "missing.yml")
    (tmp_path / "bad.json").write_text("{", encoding="utf-8")
    with pytest.raises(ConfigurationError, match=r"bad\.json"):
        load_list(tmp_path / "bad.json")


def _emit(value: Any, indent: int, quote: str) -> list[str]:
    """Block YAML of nested dicts/lists of str, quoting scalars with ``quote``."""

    def scalar(text: str) -> str:
        if quote == "'":
            return "'" + text.replace("'", "''") + "'"
        return json.dumps(text, ensure_ascii=False)

    pad = " " * indent
    lines: list[str] = []
    if isinstance(value, dict):
        for key, item in value.items():
            if isinstance(item, str):
                lines.append(f"{pad}{scalar(key)}: {scalar(item)}")
            else:
                lines.append(f"{pad}{scalar(key)}:")
                lines.extend(_emit(item, indent + 2, quote))
    else:
        for item in value:
            if isinstance(item, str):
                lines.append(f"{pad}- {scalar(item)}")
            else:
                lines.append(f"{pad}-")
                lines.extend(_emit(item, indent + 4, quote))
    return lines


texts = st.text(st.characters(blacklist_categories=("Cs", "Cc")), max_size=12)
documents = st.dictionaries(
    texts,
    st.one_of(
        st.lists(texts, min_size=1, max_size=4),
        st.lists(
            st.dictionaries(
                st.sampled_from(["urls", "params", "backlink"]),
                st.lists(texts, min_size=1, max_size=3),
                min_size=1,
            ),
            min_size=1,
            max_size=3,
        ),
    ),
    min_size=1,
    max_size=5,
)


@settings(max_examples=150, deadline=None)
@given(documents, st.sampled_from(["'", '"']))
@example({"a\u2028b: c": ["x\u2029 # y", ""], " ": [{"urls": ["- z"]}]}, "'")
def test_matomo_yaml_reads_back_what_block_yaml_writes(document: Any, quote: str) -> None:
    text = "\n".join(_emit(document, 0, quote)) + "\n"
    assert parse_matomo_yaml(text) == document
