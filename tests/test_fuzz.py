"""Hostile input by the thousands: every case ends in a clean result or one clear ScraperError line.

Categories: HTML pages (through `decode_html` and `extract`), feeds, sitemaps, config files, URLs
(through `canonicalize` and the fetcher). The number of generated cases per category is printed at
the end of the session ("fuzz cases: ..."). Examples are derandomized, so CI runs the same cases
every time; SCRAPER_FUZZ_SCALE=10 runs ten times as many for a longer hunt.
"""

from __future__ import annotations

import asyncio
import gzip
import json
import math
import os
import socket
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import httpx
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from scraper import extract
from scraper.config import Config, load_config
from scraper.discover import DiscoveryError, parse_feed, parse_listing, parse_sitemap
from scraper.errors import ConfigError, ScraperError
from scraper.fetcher import Fetcher, FetchSettings
from scraper.page import decode_html
from scraper.run import _addresses, refuse_private_address
from scraper.urls import MAX_URL_CHARS, canonicalize

from .conftest import fuzz_case
from .loopback_site import BILLION_LAUGHS

T = TypeVar("T")
SCALE = float(os.environ.get("SCRAPER_FUZZ_SCALE", "1"))


def fuzz(max_examples: int) -> settings:
    return settings(
        max_examples=max(1, int(max_examples * SCALE)),
        deadline=None,
        derandomize=True,  # the same cases on every run: a CI failure can be replayed
        database=None,
        suppress_health_check=list(HealthCheck),
    )


def clear_or_clean(category: str, call: Callable[[], T]) -> T | None:
    """Run one case: a result, or a ScraperError whose message is one non-empty line. Anything else fails."""
    fuzz_case(category)
    try:
        return call()
    except ScraperError as exc:
        assert str(exc) and "\n" not in str(exc), repr(str(exc))
        return None


# --- HTML ---------------------------------------------------------------------------------------

STORY = "".join(
    f"<p>Paragraph {n}: the harbour council met on Tuesday and voted on the bridge plan after months of debate.</p>"
    for n in range(6)
)
PAGE = (
    "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>Bridge vote - Daily Example</title>"
    "<meta property='og:title' content='Bridge vote'></head><body><nav><a href='/a'>Home</a></nav>"
    f"<article><h1>Bridge vote</h1>{STORY}</article><footer>© Daily Example</footer></body></html>"
)
_TAGS = ["div", "b", "span", "p", "li", "table", "td", "a", "article", "section", "svg", "math", "template", "font"]
_CHARSETS = [None, "utf-8", "windows-1252", "shift_jis", "utf-16", "utf-7", "base64", "x-bogus", "iso-8859-1", "gb2312"]


@st.composite
def hostile_pages(draw: st.DrawFn) -> tuple[bytes, str | None]:
    """(page bytes, Content-Type header): truncated, nested deep, giant attributes, NULs, mixed encodings, soup."""
    kind = draw(st.sampled_from(["truncated", "nested", "attribute", "nul", "mixed", "invalid-utf8", "soup", "text"]))
    page = PAGE
    if kind == "truncated":
        page = PAGE[: draw(st.integers(0, len(PAGE)))]
    elif kind == "nested":
        tag, depth = draw(st.sampled_from(_TAGS)), draw(st.sampled_from([10, 300, 3000, 10_000]))
        closed = draw(st.booleans())
        page = f"<html><body>{f'<{tag}>' * depth}{STORY}{f'</{tag}>' * depth if closed else ''}</body></html>"
    elif kind == "attribute":
        name, size = draw(st.sampled_from(["class", "id", "style", "href", "data-x", "lang"])), draw(st.sampled_from([10_000, 1_000_000]))
        page = PAGE.replace("<article>", f"<article {name}=\"{draw(st.sampled_from('x -<&'))* size}\">")
    elif kind == "soup":
        parts = st.sampled_from(["<", ">", "</", "<p>", "</p>", "<!--", "-->", "<script>", "<![CDATA[", "&amp;", "&#0;", "&#xD800;", "<meta charset=utf-16>", "\x00", "\ufeff"])
        page = "".join(draw(st.lists(parts | st.text(max_size=20), max_size=60))) + STORY
    elif kind == "text":
        page = draw(st.text(max_size=300))
    data = page.encode("utf-8")
    if kind == "nul":
        at = draw(st.lists(st.integers(0, len(data)), max_size=20))
        for i in sorted(at, reverse=True):
            data = data[:i] + b"\x00" + data[i:]
    elif kind == "mixed":
        codecs_ = draw(st.lists(st.sampled_from(["utf-8", "cp1252", "utf-16-le", "shift_jis", "koi8-r"]), min_size=2, max_size=4))
        step = len(STORY) // len(codecs_)
        pieces = [STORY[i * step : (i + 1) * step].replace("the", "thé ünd 日本") for i in range(len(codecs_))]
        data = b"<html><body><article>" + b"".join(p.encode(c, "replace") for p, c in zip(pieces, codecs_)) + b"</article></body></html>"
    elif kind == "invalid-utf8":
        junk = draw(st.lists(st.sampled_from([b"\xff", b"\xc3", b"\xe2\x82", b"\xed\xa0\x80", b"\xf4\x90\x80\x80", b"\x80"]), max_size=30))
        for piece in junk:
            i = draw(st.integers(0, len(data)))
            data = data[:i] + piece + data[i:]
    charset = draw(st.sampled_from(_CHARSETS))
    return data, (f"text/html; charset={charset}" if charset else draw(st.sampled_from([None, "text/html"])))


@fuzz(300)
@given(hostile_pages())
def test_hostile_html_extracts_or_is_not_an_article(page: tuple[bytes, str | None]) -> None:
    data, content_type = page
    html = decode_html(data, content_type)
    assert isinstance(html, str)
    article = clear_or_clean("html", lambda: extract(html, "https://example.com/news/2024/bridge-vote"))
    if article is not None:
        assert article.text.strip()
        assert article.content_hash


@fuzz(600)
@given(st.binary(max_size=2000), st.sampled_from(_CHARSETS))
def test_decode_html_never_raises(data: bytes, charset: str | None) -> None:
    fuzz_case("html")
    assert isinstance(decode_html(data, f"text/html; charset={charset}" if charset else None), str)


@fuzz(200)
@given(hostile_pages())
def test_hostile_listing_pages_give_same_site_links_only(page: tuple[bytes, str | None]) -> None:
    html = decode_html(*page)
    links = clear_or_clean("html", lambda: parse_listing(html, "https://example.com/news/", None, ()))
    assert all(link.url.startswith("https://example.com/") for link in links or [])


# --- feeds and sitemaps -------------------------------------------------------------------------

RSS = (
    b'<?xml version="1.0" encoding="UTF-8"?><rss version="2.0"><channel><title>T</title>'
    b"<item><title>One</title><link>https://example.com/news/one</link><pubDate>Tue, 19 Nov 2019 10:00:00 GMT</pubDate></item>"
    b"<item><title>Two</title><link>/news/two</link></item></channel></rss>"
)
ATOM = (
    b'<feed xmlns="http://www.w3.org/2005/Atom" xml:base="https://example.com/"><entry><title>A</title>'
    b'<link href="news/a"/><updated>2024-01-01T00:00:00Z</updated></entry></feed>'
)
URLSET = (
    b'<?xml version="1.0"?><urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
    b"<url><loc>https://example.com/news/one</loc><lastmod>2024-01-01</lastmod></url>"
    b"<url><loc>https://example.com/news/two</loc></url></urlset>"
)
INDEX = (
    b'<sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
    b"<sitemap><loc>https://example.com/sitemap-1.xml</loc></sitemap><sitemap><loc>sitemap-1.xml</loc></sitemap></sitemapindex>"
)
BAD_ENCODINGS = [b'<?xml version="1.0" encoding="U-F-8"?><rss/>', b'<?xml version="1.0" encoding="shift_jis"?><urlset/>', b'<?xml version="1.0" encoding="base64"?><rss/>']
XXE_FILE = b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]><rss><channel><item><title>&x;</title><link>https://example.com/a</link></item></channel></rss>'
XXE_PARAMETER = b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY % p SYSTEM "http://127.0.0.1:9/evil.dtd"> %p;]><urlset><url><loc>https://example.com/a</loc></url></urlset>'
EXTERNAL_DTD = b'<?xml version="1.0"?><!DOCTYPE urlset SYSTEM "http://127.0.0.1:9/evil.dtd"><urlset><url><loc>https://example.com/a</loc></url></urlset>'
QUADRATIC = b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY a "' + b"x" * 50_000 + b'">]><rss><channel><title>' + b"&a;" * 5000 + b"</title></channel></rss>"
PAYLOADS = [BILLION_LAUGHS, XXE_FILE, XXE_PARAMETER, EXTERNAL_DTD, QUADRATIC]


@st.composite
def hostile_xml(draw: st.DrawFn) -> bytes:
    """Valid feeds and sitemaps, cut, flipped, spliced with entity payloads, gzipped or gzip-bombed; or noise."""
    doc = draw(st.sampled_from([RSS, ATOM, URLSET, INDEX, *PAYLOADS, *BAD_ENCODINGS]))
    kind = draw(st.sampled_from(["as-is", "truncated", "flipped", "spliced", "gzip", "noise", "deep"]))
    if kind == "truncated":
        doc = doc[: draw(st.integers(0, len(doc)))]
    elif kind == "flipped":
        for i in draw(st.lists(st.integers(0, len(doc) - 1), max_size=8)):
            doc = doc[:i] + bytes([draw(st.integers(0, 255))]) + doc[i + 1 :]
    elif kind == "spliced":
        i = draw(st.integers(0, len(doc)))
        doc = doc[:i] + draw(st.sampled_from([b"<!DOCTYPE x [<!ENTITY e 'e'>]>", b"&e;", b"<![CDATA[", b"]]>", b"\x00", b"<?xml version='1.0'?>", b"</url>"])) + doc[i:]
    elif kind == "gzip":
        doc = gzip.compress(doc, mtime=0)
        doc = doc[: draw(st.integers(2, len(doc)))] if draw(st.booleans()) else doc
    elif kind == "noise":
        doc = draw(st.binary(max_size=500))
    elif kind == "deep":
        depth = draw(st.sampled_from([1000, 10_000]))
        doc = b"<urlset>" + b"<url>" * depth + b"<loc>https://example.com/x</loc>" + b"</url>" * depth + b"</urlset>"
    return doc


@fuzz(800)
@given(hostile_xml())
def test_hostile_feeds_give_links_or_a_discovery_error(doc: bytes) -> None:
    links = clear_or_clean("feeds", lambda: parse_feed(doc, "https://example.com/feed.xml"))
    for link in links or []:
        assert link.url.startswith(("http://", "https://")) and "root:" not in (link.title or "")


@fuzz(800)
@given(hostile_xml())
def test_hostile_sitemaps_give_links_or_a_discovery_error(doc: bytes) -> None:
    result = clear_or_clean("sitemaps", lambda: parse_sitemap(doc, "https://example.com/sitemap.xml"))
    links, children, _ = result or ([], [], 0)
    assert all(u.url.startswith(("http://", "https://")) for u in links)
    assert all(u.startswith(("http://", "https://")) for u in children)


@pytest.mark.parametrize("payload", PAYLOADS, ids=["billion-laughs", "xxe-file", "xxe-parameter", "external-dtd", "quadratic-blowup"])
@pytest.mark.parametrize("parse", [parse_feed, parse_sitemap], ids=["feed", "sitemap"])
def test_entity_payloads_are_refused_or_inert(payload: bytes, parse) -> None:
    fuzz_case("feeds" if parse is parse_feed else "sitemaps")
    try:
        result = parse(payload, "https://example.com/x.xml")
    except DiscoveryError as exc:
        assert "\n" not in str(exc)
        return
    assert "root:" not in repr(result)  # an external DTD without entities parses, and is not fetched


@pytest.mark.parametrize("text", [False, True], ids=["xml", "plain-text"])
def test_a_100000_url_sitemap_is_capped(text: bool) -> None:
    fuzz_case("sitemaps")
    urls = [f"https://example.com/news/{i}" for i in range(100_000)]
    if text:
        doc = "\n".join(urls).encode()
    else:
        doc = b'<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">' + b"".join(
            f"<url><loc>{u}</loc></url>".encode() for u in urls) + b"</urlset>"
    links = parse_sitemap(doc, "https://example.com/sitemap.xml").links
    assert len(links) == 50_000 and links[0].url == urls[0]


# --- config files -------------------------------------------------------------------------------

EVIL_PATTERNS = [
    "(a+)+$", "(a*)*b", "(\\w+\\s?)*$", "(.*a){20}", "^(a|a)*$", "(a|aa)+$", "(ab|a)*c", "(x+x+)+y", "(?:[a-z]+)*@",
    "(\\d+|\\d+\\.)*x", "((ab)*)+$", "(.*)*x", "([^/]+/?)*z", "(\\S+\\s*)+$", "(a|b|ab)*c", "(\\w|\\d)+!", "(a?b+)+$",
    "(\\ba*b+)+$",
]
_toml_scalars = (
    st.integers(-(2**63), 2**63 - 1) | st.floats() | st.booleans() | st.text(max_size=30)
    | st.sampled_from(["https://example.com/feed", "ftp://x/y", "javascript:alert(1)", "", "[[[", *EVIL_PATTERNS])
)
_toml_values = st.recursive(_toml_scalars, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=3), max_leaves=8)
_SETTING_KEYS = ["db", "delay", "concurrency", "per_host_concurrency", "allow_private_addresses", "user_agent",
                 "connect_timeout", "max_bytes", "max_pages_per_site", "max_sitemap_depth", "out_dir", "bogus"]
_SITE_KEYS = ["name", "domains", "feeds", "sitemaps", "start_urls", "article_pattern", "drop_selectors",
              "stop_headings", "max_pages", "line_patterns", "unknown"]


def _toml(value: object) -> str:
    """A TOML literal for generated values (JSON strings are TOML strings, but for a few escapes)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf") if math.isinf(value) else repr(value)
    if isinstance(value, list):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{json.dumps(k)} = {_toml(v)}" for k, v in value.items()) + "}"
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


@st.composite
def hostile_configs(draw: st.DrawFn) -> bytes:
    kind = draw(st.sampled_from(["structured", "structured", "structured", "text", "bytes"]))
    if kind == "text":
        return draw(st.text(max_size=300)).encode("utf-8", "surrogatepass")
    if kind == "bytes":
        return draw(st.binary(max_size=300))
    lines = ["[settings]"]
    for key in draw(st.lists(st.sampled_from(_SETTING_KEYS), unique=True, max_size=4)):
        lines.append(f"{key} = {_toml(draw(_toml_values))}")
    for i in range(draw(st.integers(0, 3))):
        lines += ["", "[[sites]]", f'name = "site{i}"']
        for key in draw(st.lists(st.sampled_from(_SITE_KEYS[1:]), unique=True, max_size=4)):
            good = {"article_pattern": st.sampled_from(EVIL_PATTERNS), "feeds": st.just(["https://example.com/feed"])}
            lines.append(f"{key} = {_toml(draw(good.get(key, _toml_values) | _toml_values))}")
    return "\n".join(lines).encode("utf-8", "surrogatepass")


@fuzz(300)
@given(hostile_configs())
def test_hostile_configs_load_or_name_file_and_key(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "sites.toml"
    path.write_bytes(content)
    config = clear_or_clean("configs", lambda: load_config(path))
    if config is None:
        return
    assert isinstance(config, Config)
    s = config.settings
    assert isinstance(s.delay, float) and s.delay >= 0 and s.concurrency >= 1 and isinstance(s.allow_private_addresses, bool)
    for site in config.sites:
        assert site.article_pattern is None or site.article_pattern.pattern not in EVIL_PATTERNS


@pytest.mark.parametrize("pattern", EVIL_PATTERNS)
def test_catastrophic_regexes_are_refused(tmp_path: Path, pattern: str) -> None:
    fuzz_case("configs")
    path = tmp_path / "sites.toml"
    path.write_text(f'[[sites]]\nname = "a"\narticle_pattern = {json.dumps(pattern)}\n')
    with pytest.raises(ConfigError, match=r"sites\[0\]\.article_pattern: .*backtrack"):
        load_config(path)


@pytest.mark.parametrize("pattern", [
    r"/news/[a-z-]+/\d{4}/\d{2}/\d{2}/", r"(news|sport)+/", r"(?:\d{2}/){3}", r"(?>a+)+", r"(a++)+", r"[(]a+[)]+", r"\(a+\)+",
    r"(?:(?:share|tweet|e-mail|email|x)\b[\s|/,:.]*){1,12}$",  # each round begins where the last one's repeat cannot reach
])
def test_patterns_that_cannot_backtrack_catastrophically_load(tmp_path: Path, pattern: str) -> None:
    fuzz_case("configs")
    path = tmp_path / "sites.toml"
    path.write_text(f'[[sites]]\nname = "a"\nfeeds = ["https://a.example/feed"]\narticle_pattern = {json.dumps(pattern)}\n')
    assert load_config(path).sites[0].article_pattern.pattern == pattern


# --- URLs ---------------------------------------------------------------------------------------

_hosts = st.sampled_from([
    "example.com", "EXAMPLE.com.", "bücher.de", "xn--bcher-kva.de", "пример.рф", "例え.jp", "ex\u3002ample\uff0ecom",
    "127.0.0.1", "2130706433", "0x7f.1", "127.1", "[::1]", "[::ffff:127.0.0.1]", "[fe80::1%25eth0]", "169.254.169.254",
    "localhost", "a" * 64 + ".com", "a." * 130 + "com", "", " ", "exa mple.com", "ex%41mple.com", "[", "]", "@", ":",
    "\u202eexample.com", "ex\u200bample.com",
]) | st.text(max_size=12)
_userinfo = st.sampled_from(["", "user@", "user:pass@", ":@", "a@b@", "%40@", "ü:ß@"])
_ports = st.sampled_from(["", ":80", ":443", ":0", ":65535", ":65536", ":-1", ":99999999999", ":x", ":", ":８０"])
_schemes = st.sampled_from(["http", "https", "HTTPS", "file", "ftp", "javascript", "data", "mailto", "ws", "gopher", ""])


@st.composite
def hostile_urls(draw: st.DrawFn) -> str:
    if draw(st.integers(0, 9)) == 0:
        return draw(st.text(max_size=60) | st.sampled_from(["javascript:alert(1)", "file:///etc/passwd", "data:text/html,<p>x", "//example.com/a", "http:/x", "http://"]))
    path = draw(st.text(max_size=20) | st.sampled_from(["", "/a/../../b", "/%2e%2e/x", "/" + "a" * 3000, "/a?b#c"]))
    return f"{draw(_schemes)}://{draw(_userinfo)}{draw(_hosts)}{draw(_ports)}{path}"


@fuzz(1000)
@given(hostile_urls(), st.sampled_from([None, "https://example.com/a/b", "file:///etc/", "javascript:x"]))
def test_canonicalize_gives_a_bounded_http_url_or_none(url: str, base: str | None) -> None:
    fuzz_case("urls")
    canonical = canonicalize(url, base)
    if canonical is not None:
        assert canonical.startswith(("http://", "https://")) and len(canonical) <= MAX_URL_CHARS
        assert "@" not in canonical.split("/")[2]  # userinfo never survives
        assert canonicalize(canonical) == canonical


@pytest.fixture
def resolver(monkeypatch: pytest.MonkeyPatch) -> Callable[[str], None]:
    """resolver(address): every host name now resolves to that address, and nothing asks real DNS."""

    def use(address: str) -> None:
        family = socket.AF_INET6 if ":" in address else socket.AF_INET
        monkeypatch.setattr(socket, "getaddrinfo", lambda host, *a, **k: [(family, socket.SOCK_STREAM, 6, "", (address, 0))])
        _addresses.cache_clear()

    yield use
    _addresses.cache_clear()


def _fetch_all(urls: list[str], guard) -> list[str]:
    """Fetch each URL through a transport that answers every request with a small page; return what was requested."""
    requested: list[str] = []

    def answer(request: httpx.Request) -> httpx.Response:
        requested.append(str(request.url))
        return httpx.Response(200, html="<html><body><p>Hello</p></body></html>")

    async def run() -> None:
        async with Fetcher(FetchSettings(retries=0), url_guard=guard, transport=httpx.MockTransport(answer)) as fetcher:
            for url in urls:
                fuzz_case("urls")
                try:
                    await fetcher.get(url)
                except ScraperError as exc:
                    assert str(exc) and "\n" not in str(exc)

    asyncio.run(run())
    return requested


@fuzz(60)
@given(st.lists(hostile_urls(), min_size=1, max_size=15), st.sampled_from(["127.0.0.1", "10.1.2.3", "::1", "93.184.216.34"]))
def test_fetching_hostile_urls_is_http_only_and_guarded(resolver, urls: list[str], address: str) -> None:
    resolver(address)
    requested = _fetch_all(urls, refuse_private_address)
    assert all(u.startswith(("http://", "https://")) for u in requested)
    if address != "93.184.216.34":  # every name resolves to a private address: nothing may be requested
        assert requested == []
