"""Data pools for the traffic generator: browsers, languages, referrers, a small shop.

Plain data only. Weights are relative; they are shaped like a small European web
shop's traffic, not measured from one.
"""

# ruff: noqa: E501
# (The two text tables hold whole User-Agent strings and URLs, one per line.)

from __future__ import annotations

__all__ = [
    "BLOG_POSTS",
    "DOWNLOADS",
    "HOURLY_WEIGHTS",
    "LANGUAGES",
    "NEXT_PAGE",
    "OUTBOUND_LINKS",
    "PAGE_COUNT_WEIGHTS",
    "PRODUCTS",
    "REFERRERS",
    "SCREENS",
    "SEARCH_TERMS",
    "USER_AGENTS",
]

# weight, device, platform ("_" for a space), browser family, User-Agent. The
# family picks the header set (Client Hints come from Chromium browsers only).
_USER_AGENT_TABLE = """
120 desktop Windows   chrome      Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36
 60 desktop Windows   chrome      Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0.0.0 Safari/537.36
 25 desktop Windows   chrome      Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/129.0.0.0 Safari/537.36
 10 desktop Windows   chrome      Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36
 45 desktop macOS     chrome      Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36
 20 desktop macOS     chrome      Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0.0.0 Safari/537.36
 12 desktop Linux     chrome      Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36
  4 desktop Linux     chrome      Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0.0.0 Safari/537.36
  4 desktop Chrome_OS chrome      Mozilla/5.0 (X11; CrOS x86_64 14541.0.0) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36
 40 desktop Windows   edge        Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36 Edg/131.0.0.0
 15 desktop Windows   edge        Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0.0.0 Safari/537.36 Edg/130.0.0.0
  4 desktop macOS     edge        Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36 Edg/131.0.0.0
  5 desktop Windows   opera       Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0.0.0 Safari/537.36 OPR/115.0.0.0
 22 desktop Windows   firefox     Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 Firefox/133.0
 10 desktop Windows   firefox     Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:132.0) Gecko/20100101 Firefox/132.0
  3 desktop Windows   firefox     Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:128.0) Gecko/20100101 Firefox/128.0
  8 desktop macOS     firefox     Mozilla/5.0 (Macintosh; Intel Mac OS X 10.15; rv:133.0) Gecko/20100101 Firefox/133.0
  8 desktop Linux     firefox     Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0
  6 desktop Linux     firefox     Mozilla/5.0 (X11; Ubuntu; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0
 35 desktop macOS     safari      Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Safari/605.1.15
 12 desktop macOS     safari      Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.6 Safari/605.1.15
110 mobile  iOS       safari      Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1
 45 mobile  iOS       safari      Mozilla/5.0 (iPhone; CPU iPhone OS 18_0_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.0.1 Mobile/15E148 Safari/604.1
 30 mobile  iOS       safari      Mozilla/5.0 (iPhone; CPU iPhone OS 17_6_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.6 Mobile/15E148 Safari/604.1
  8 mobile  iOS       safari      Mozilla/5.0 (iPhone; CPU iPhone OS 16_7_10 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/16.6 Mobile/15E148 Safari/604.1
 18 mobile  iOS       chrome-ios  Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) CriOS/131.0.6778.73 Mobile/15E148 Safari/604.1
  4 mobile  iOS       firefox-ios Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) FxiOS/133.0 Mobile/15E148 Safari/604.1
  6 mobile  iOS       safari      Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/22B83 [FBAN/FBIOS;FBAV/490.0.0.38.107;FBBV/672345120;FBDV/iPhone15,2;FBMD/iPhone;FBSN/iOS;FBSV/18.1;FBSS/3;FBLC/en_US;FBOP/5]
  4 mobile  iOS       safari      Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/22B83 Instagram 356.0.0.20.91 (iPhone15,2; iOS 18_1; en_US; en; scale=3.00; 1179x2556; 654321098)
120 mobile  Android   chrome      Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Mobile Safari/537.36
 45 mobile  Android   chrome      Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0.0.0 Mobile Safari/537.36
 12 mobile  Android   chrome      Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/128.0.0.0 Mobile Safari/537.36
 20 mobile  Android   samsung     Mozilla/5.0 (Linux; Android 14; SM-S921B) AppleWebKit/537.36 (KHTML, like Gecko) SamsungBrowser/26.0 Chrome/122.0.0.0 Mobile Safari/537.36
  8 mobile  Android   samsung     Mozilla/5.0 (Linux; Android 13; SM-A546B) AppleWebKit/537.36 (KHTML, like Gecko) SamsungBrowser/25.0 Chrome/121.0.0.0 Mobile Safari/537.36
  5 mobile  Android   chrome      Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.6778.81 Mobile Safari/537.36
  4 mobile  Android   firefox     Mozilla/5.0 (Android 14; Mobile; rv:133.0) Gecko/133.0 Firefox/133.0
  3 mobile  Android   opera       Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0.0.0 Mobile Safari/537.36 OPR/86.0.0.0
  3 mobile  Android   edge        Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Mobile Safari/537.36 EdgA/131.0.0.0
  5 mobile  Android   chrome      Mozilla/5.0 (Linux; Android 14; SM-S921B Build/UP1A.231005.007; wv) AppleWebKit/537.36 (KHTML, like Gecko) Version/4.0 Chrome/131.0.6778.39 Mobile Safari/537.36 [FB_IAB/FB4A;FBAV/490.0.0.50.109;]
  3 mobile  Android   chrome      Mozilla/5.0 (Linux; Android 13; moto g(84) 5G) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.6778.39 Mobile Safari/537.36
 25 tablet  iOS       safari      Mozilla/5.0 (iPad; CPU OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1
 10 tablet  iOS       safari      Mozilla/5.0 (iPad; CPU OS 17_7 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.7 Mobile/15E148 Safari/604.1
  4 tablet  iOS       chrome-ios  Mozilla/5.0 (iPad; CPU OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) CriOS/131.0.6778.73 Mobile/15E148 Safari/604.1
  8 tablet  Android   chrome      Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36
  4 tablet  Android   samsung     Mozilla/5.0 (Linux; Android 14; SM-X710) AppleWebKit/537.36 (KHTML, like Gecko) SamsungBrowser/26.0 Chrome/122.0.0.0 Safari/537.36
  2 tablet  Android   chrome      Mozilla/5.0 (Linux; Android 13; Lenovo TB-X606F) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0.0.0 Safari/537.36
  4 bot     Android   bot         Mozilla/5.0 (Linux; Android 6.0.1; Nexus 5X Build/MMB29P) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.6778.69 Mobile Safari/537.36 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)
  2 bot     Linux     bot         Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/131.0.0.0 Safari/537.36
"""

# weight, landing page kind, referrer ("-": none), landing URL query ("-": none).
# "{click}" stands for a random click id.
_REFERRER_TABLE = """
28 home     - -
 3 list     - utm_source=flyer&utm_medium=print&utm_campaign=winter_qr
26 product  https://www.google.com/ -
 6 product  https://www.google.com/ gclid={click}
 2 home     https://www.google.com/ utm_source=google&utm_medium=cpc&utm_campaign=brand&gclid={click}
 4 product  https://www.bing.com/ -
 3 blog     https://duckduckgo.com/ -
 5 blog     https://www.facebook.com/ -
 3 product  https://m.facebook.com/ utm_source=facebook&utm_medium=paid_social&utm_campaign=black_friday&fbclid={click}
 2 product  https://l.instagram.com/ fbclid={click}
 2 blog     https://t.co/{click} -
 3 blog     https://www.reddit.com/r/Ultralight/comments/1gq2x7k/trail_shoe_recommendations/ -
 4 list     https://mail.google.com/ utm_source=newsletter&utm_medium=email&utm_campaign=nov_digest
 1 product  - utm_source=newsletter&utm_medium=email&utm_campaign=nov_digest&utm_content=hero
 3 product  https://chatgpt.com/ utm_source=chatgpt.com
 1 blog     https://www.perplexity.ai/ -
 3 product  https://exampleblog.com/best-trail-shoes-2026 -
 1 blog     https://news.ycombinator.com/item?id=42100001 -
"""


def _rows(table: str, columns: int) -> list[list[str]]:
    return [line.split(maxsplit=columns - 1) for line in table.strip().splitlines()]


USER_AGENTS: tuple[tuple[int, str, str, str, str], ...] = tuple(
    (int(w), device, platform.replace("_", " "), family, ua)
    for w, device, platform, family, ua in _rows(_USER_AGENT_TABLE, 5)
)

REFERRERS: tuple[tuple[int, str, str, str], ...] = tuple(
    (int(w), kind, "" if ref == "-" else ref, "" if query == "-" else query)
    for w, kind, ref, query in _rows(_REFERRER_TABLE, 4)
)

# (weight, language tag); the Accept-Language header is built per browser family.
LANGUAGES: tuple[tuple[int, str], ...] = (
    (40, "en-US"),
    (18, "en-GB"),
    (14, "de-DE"),
    (9, "fr-FR"),
    (6, "nl-NL"),
    (5, "pl-PL"),
    (4, "es-ES"),
    (3, "it-IT"),
    (2, "cs-CZ"),
    (2, "sv-SE"),
)

SCREENS: dict[str, tuple[str, ...]] = {
    "desktop": ("1920x1080", "1920x1080", "2560x1440", "1536x864", "1440x900", "1366x768"),
    "mobile": ("390x844", "393x852", "430x932", "412x915", "360x800", "384x854"),
    "tablet": ("820x1180", "810x1080", "1024x1366", "800x1280"),
    "bot": ("412x732", "800x600"),
}

# (sku, slug, name, brand, category, price): a few names are non-ASCII on purpose.
# fmt: off
PRODUCTS: tuple[tuple[str, str, str, str, str, str], ...] = (
    ("SKU-1001", "trail-runner-shoe", "Trail Runner Shoe", "Northpeak", "Shoes", "89.90"),
    ("SKU-1002", "city-sneaker", "City Sneaker", "Northpeak", "Shoes", "74.50"),
    ("SKU-1003", "merino-socks", "Merino Socks (3 pack)", "Woolly", "Accessories", "19.99"),
    ("SKU-1004", "rain-jacket", "Rain Jacket", "Stormline", "Jackets", "129.00"),
    ("SKU-1005", "down-vest", "Down Vest", "Stormline", "Jackets", "99.00"),
    ("SKU-1006", "cafe-creme-mug", "Café Crème Mug", "Atelier Nord", "Home", "14.90"),
    ("SKU-1007", "linen-tote", "Linen Tote Bag", "Atelier Nord", "Accessories", "24.00"),
    ("SKU-1008", "headlamp-300", "Headlamp 300 lm", "Lumo", "Outdoor", "39.95"),
    ("SKU-1009", "water-bottle", "Insulated Bottle 0.75 l", "Lumo", "Outdoor", "29.90"),
    ("SKU-1010", "yoga-mat", "Yoga Mat", "Flowform", "Fitness", "45.00"),
    ("SKU-1011", "zluty-kun-poster", "Žlutý kůň Poster", "Atelier Nord", "Home", "18.00"),
    ("SKU-1012", "wool-beanie", "Wool Beanie", "Woolly", "Accessories", "22.00"),
    ("SKU-1013", "hiking-pants", "Hiking Pants", "Northpeak", "Trousers", "79.00"),
    ("SKU-1014", "daypack-20", "Daypack 20 l", "Stormline", "Bags", "64.90"),
    ("SKU-1015", "gift-card-50", "Gift Card 50", "Shop Example", "Gift cards", "50.00"),
    ("SKU-1016", "smorrebrod-board", "Smørrebrød Board", "Atelier Nord", "Home", "34.00"),
)
# fmt: on

BLOG_POSTS: tuple[tuple[str, str], ...] = (
    ("how-to-choose-trail-shoes", "How to choose trail shoes"),
    ("layering-for-winter", "Layering for winter: a practical guide"),
    ("caring-for-merino", "Caring for merino wool"),
    ("packing-list-weekend-hike", "Packing list for a weekend hike"),
    ("our-factory-visit", "We visited our factory in Porto"),
    ("gift-guide-2026", "Gift guide 2026: 20 ideas under €50"),
    ("repair-dont-replace", "Repair, don't replace"),
    ("headlamp-buying-guide", "Headlamp buying guide"),
)

# fmt: off
SEARCH_TERMS: tuple[str, ...] = (
    "shoes", "rain jacket", "socks", "mug", "gift card", "vest", "yoga", "backpack", "beanie",
    "headlamp", "size guide", "returns", "café", "trail runner 44", "sale",
)
# fmt: on

OUTBOUND_LINKS: tuple[str, ...] = (
    "https://www.instagram.com/shopexample/",
    "https://www.youtube.com/watch?v=dQw4w9WgXcQ",
    "https://github.com/shop-example/size-charts",
    "https://www.trustpilot.com/review/shop.example",
    "https://maps.google.com/?q=Shop+Example+Store",
    "https://en.wikipedia.org/wiki/Merino",
)

DOWNLOADS: tuple[tuple[str, str], ...] = (
    ("size-chart.pdf", "Size chart"),
    ("care-instructions.pdf", "Care instructions"),
    ("catalogue-2026.pdf", "Catalogue 2026"),
    ("returns-form.docx", "Returns form"),
)

# Page count per session, for 1..15 pages.
PAGE_COUNT_WEIGHTS: tuple[int, ...] = (30, 18, 13, 9, 7, 5, 4, 3, 3, 2, 2, 1, 1, 1, 1)

# Visits by UTC hour of day.
# fmt: off
HOURLY_WEIGHTS: tuple[int, ...] = (
    2, 1, 1, 1, 1, 2, 4, 6, 8, 9, 9, 9, 10, 9, 9, 9, 9, 10, 11, 12, 12, 10, 7, 4,
)
# fmt: on

# Where a visitor goes next from a page of each kind: (kinds, weights).
NEXT_PAGE: dict[str, tuple[tuple[str, ...], tuple[int, ...]]] = {
    "home": (("list", "product", "blog", "search", "home"), (30, 30, 20, 15, 5)),
    "list": (("product", "search", "home", "list"), (60, 10, 10, 20)),
    "product": (("product", "list", "cart", "search", "home"), (30, 20, 20, 10, 5)),
    "cart": (("checkout", "product", "list"), (60, 25, 15)),
    "checkout": (("home", "product", "blog"), (50, 30, 20)),
    "blog": (("blog", "product", "home", "list"), (30, 35, 15, 20)),
    "search": (("product", "search", "list"), (70, 15, 15)),
}
