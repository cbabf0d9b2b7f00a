from __future__ import annotations

import gzip
import re
import tracemalloc
import zlib
from pathlib import Path
from xml.sax.saxutils import escape

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scraper.discover import (
    MAX_SITEMAP_URLS,
    MAX_XML_BYTES,
    DiscoveryError,
    Link,
    Sitemap,
    looks_like_feed,
    looks_like_sitemap,
    parse_feed,
    parse_listing,
    parse_sitemap,
    sitemaps_from_robots,
)
from scraper.errors import ScraperError

DATA = Path(__file__).parent / "data" / "discover"
FEED_URL = "https://www.example.com/rss.xml"
SITEMAP_URL = "https://www.example.com/sitemap.xml"


def data(name: str) -> bytes:
    return (DATA / name).read_bytes()


# --- feeds -----------------------------------------------------------------------------------


def test_rss2() -> None:
    assert parse_feed(data("rss2.xml"), FEED_URL) == [
        Link(
            "https://www.example.com/news/nation/2024/01/05/parliament-passes-budget",  # tracking params gone
            "2024-01-05T10:30:00+08:00",
            "Parliament passes the budget",
        ),
        Link("https://www.example.com/news/world/relative-link-story", "2024-01-04T08:00:00+00:00", "Relative link story"),
        Link("https://www.example.com/news/guid-only-story", None, "Only a permalink guid"),  # bad date -> None
        Link("https://www.example.com/news/feedburner-original-story", None, "Through FeedBurner"),
        # a non-permalink guid, a duplicate and a mailto: link are skipped
    ]


def test_atom_relative_links_and_dates() -> None:
    assert parse_feed(data("atom.xml"), "https://blog.example.org/feed.atom") == [
        Link("https://blog.example.org/posts/first-post", "2024-02-01T12:00:00+00:00", "First & foremost"),
        # entry xml:base overrides the feed's; <published> wins over <updated>
        Link("https://blog.example.org/archive/2024/second-post", "2024-01-31T09:15:00+01:00", "Second post"),
    ]


def test_atom_relative_to_feed_url_without_xml_base() -> None:
    feed = b"""<feed xmlns="http://www.w3.org/2005/Atom"><entry><title>T</title>
        <link rel="self" href="/api/entries/1"/><link href="../stories/one"/><updated>2024-05-01</updated></entry></feed>"""
    assert parse_feed(feed, "https://ex.com/feeds/all/atom.xml") == [
        Link("https://ex.com/feeds/stories/one", "2024-05-01", "T"),
    ]


def test_rdf() -> None:
    assert parse_feed(data("rdf.xml"), "https://rdf.example.net/index.rdf") == [
        Link("https://rdf.example.net/stories/caf%C3%A9-story", "2023-12-24", "Café story"),
        Link("https://rdf.example.net/stories/about-only", None, "About only"),  # rdf:about as the link
    ]


def test_namespace_variants_match_on_local_names() -> None:
    feed = b"""<?xml version="1.0"?><a:feed xmlns:a="http://purl.org/atom/ns#"><a:entry>
        <a:link href="https://ex.com/one"/><a:issued>2004-01-01T00:00:00Z</a:issued></a:entry></a:feed>"""
    assert parse_feed(feed, FEED_URL) == [Link("https://ex.com/one", "2004-01-01T00:00:00+00:00")]


def test_rss_091_with_public_dtd_parses_without_fetching_it() -> None:
    feed = b"""<?xml version="1.0"?>
<!DOCTYPE rss PUBLIC "-//Netscape Communications//DTD RSS 0.91//EN" "http://my.netscape.com/publish/formats/rss-0.91.dtd">
<rss version="0.91"><channel><item><title>Old</title><link>https://ex.com/old-story</link></item></channel></rss>"""
    assert parse_feed(feed, FEED_URL) == [Link("https://ex.com/old-story", None, "Old")]


@pytest.mark.parametrize(
    ("date", "expected"),
    [
        ("Tue, 05 Mar 2024 18:45:00 GMT", "2024-03-05T18:45:00+00:00"),
        ("5 Mar 2024 18:45 +0100", "2024-03-05T18:45:00+01:00"),
        ("2024-03-05T18:45:00.123Z", "2024-03-05T18:45:00.123000+00:00"),
        ("2024-03-05T18:45+08:00", "2024-03-05T18:45:00+08:00"),
        ("2024-03-05", "2024-03-05"),
        ("2024-03", "2024-03"),
        ("2024", "2024"),
        ("2024-13", None),
        ("2024-02-30", None),
        ("Fri, 99 Foo 2024", None),
        ("yesterday", None),
    ],
)
def test_dates(date: str, expected: str | None) -> None:
    feed = f"<rss><channel><item><link>https://ex.com/a</link><pubDate>{date}</pubDate></item></channel></rss>"
    assert parse_feed(feed.encode(), FEED_URL)[0].published == expected


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b'<?xml version="1.0"?>\n<rss><channel>\n<item><link>https://ex.com/a</item>', "mismatched tag (line 3)"),
        (b"<rss><channel><item><link>https://ex.com/a</link>", "no element found (line 1)"),
        (b"", "no element found"),
        (b"Service Unavailable", "syntax error (line 1)"),
        (b"<!DOCTYPE html><html><body><p>Error<br></body></html>", "mismatched tag"),
        (b"<rss>&nbsp;</rss>", "undefined entity"),
    ],
)
def test_malformed_feed(content: bytes, message: str) -> None:
    with pytest.raises(DiscoveryError) as caught:
        parse_feed(content, FEED_URL)
    assert str(caught.value).startswith(f"malformed feed {FEED_URL}: ")
    assert message in str(caught.value)
    assert "\n" not in str(caught.value)


def test_well_formed_non_feed_is_refused() -> None:
    with pytest.raises(DiscoveryError, match=r"^not a feed \(root element <html>\): https://ex.com/x$"):
        parse_feed(b"<html><body><p>Moved</p></body></html>", "https://ex.com/x")
    with pytest.raises(DiscoveryError, match="not a feed"):
        parse_feed(data("sitemap.xml"), FEED_URL)


def test_discovery_error_is_a_scraper_error() -> None:
    assert issubclass(DiscoveryError, ScraperError)
    assert DiscoveryError.exit_code == 3


# --- unsafe XML ------------------------------------------------------------------------------

_PARAMETER_ENTITY = b"""<?xml version="1.0"?>
<!DOCTYPE rss [<!ENTITY % remote SYSTEM "http://127.0.0.1:9/evil.dtd"> %remote;]><rss/>"""
_XXE_FEED = b"""<?xml version="1.0"?><!DOCTYPE rss [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<rss><channel><item><title>&xxe;</title><link>https://ex.com/a</link></item></channel></rss>"""


@pytest.mark.parametrize("payload", [data("billion_laughs.xml"), data("xxe.xml"), _XXE_FEED, _PARAMETER_ENTITY])
@pytest.mark.parametrize("parse", [parse_feed, parse_sitemap])
def test_entity_payloads_are_refused_unexpanded(payload: bytes, parse) -> None:
    tracemalloc.start()
    try:
        with pytest.raises(DiscoveryError) as caught:
            parse(payload, "https://x/feed")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert str(caught.value) == "refused XML with entity declarations: https://x/feed"
    assert peak < 2 * 1024 * 1024  # billion laughs expanded would be gigabytes


def test_gzipped_payload_is_refused_too() -> None:
    with pytest.raises(DiscoveryError, match="entity declarations"):
        parse_sitemap(gzip.compress(data("xxe.xml")), SITEMAP_URL)


# --- sitemaps --------------------------------------------------------------------------------


def test_urlset_with_lastmod_ignores_image_and_video_extensions() -> None:
    links, children, _ = parse_sitemap(data("sitemap.xml"), SITEMAP_URL)
    assert links == [
        Link("https://www.example.com/news/one", "2024-03-01"),
        Link("https://www.example.com/news/two", "2024-03-02T08:00:00+00:00"),
        Link("https://www.example.com/news/three", None),  # unparsable lastmod
        # the <url> without <loc> is skipped, not resolved to the sitemap's own URL
    ]
    assert children == []


def test_sitemapindex() -> None:
    assert parse_sitemap(data("sitemapindex.xml"), SITEMAP_URL) == Sitemap(
        [],
        ["https://www.example.com/sitemap-news.xml", "https://www.example.com/sitemap-2024-02.xml.gz"],
    )


def test_google_news_sitemap() -> None:
    links = parse_sitemap(data("news_sitemap.xml"), "https://www.example.com/news-sitemap.xml").links
    assert links == [
        Link(
            "https://www.example.com/news/2024/03/05/election-results",
            "2024-03-05T18:45:00+08:00",  # publication_date wins over lastmod
            "Election results are in",
        )
    ]


def test_gzip_sitemap() -> None:
    plain = parse_sitemap(data("sitemap.xml"), SITEMAP_URL)
    assert parse_sitemap(gzip.compress(data("sitemap.xml")), SITEMAP_URL + ".gz") == plain


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (gzip.compress(b"<urlset></urlset>", mtime=0)[:-12], "truncated gzip sitemap"),
        (b"\x1f\x8b" + b"not really gzip", "corrupt gzip sitemap"),
    ],
    ids=["truncated", "corrupt"],  # stable ids: xdist workers must collect the same names
)
def test_broken_gzip(content: bytes, message: str) -> None:
    with pytest.raises(DiscoveryError, match=message):
        parse_sitemap(content, SITEMAP_URL)


def test_plain_text_sitemap() -> None:
    links, children, _ = parse_sitemap(data("sitemap.txt"), "https://www.example.com/sitemap.txt")
    # BOM, CRLF and blank lines are fine; fragments dropped; non-URLs, ftp and relative lines skipped
    assert [link.url for link in links] == ["https://www.example.com/a", "https://www.example.com/b"]
    assert children == []


def _urlset(urls: list[str]) -> bytes:
    entries = "".join(f"<url><loc>{escape(u)}</loc></url>" for u in urls)
    return f'<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">{entries}</urlset>'.encode()


def test_sitemap_capped_at_max_urls() -> None:
    urls = [f"https://ex.com/story-{i}" for i in range(60_000)]
    links = parse_sitemap(_urlset(urls), SITEMAP_URL).links
    assert len(links) == MAX_SITEMAP_URLS
    assert links[-1].url == urls[MAX_SITEMAP_URLS - 1]
    text_links = parse_sitemap("\n".join(urls).encode(), "https://ex.com/sitemap.txt").links
    assert len(text_links) == MAX_SITEMAP_URLS


def test_gzip_bomb_is_refused() -> None:
    compressor = zlib.compressobj(1, zlib.DEFLATED, zlib.MAX_WBITS | 16)  # gzip framing
    zeros = bytes(1024 * 1024)
    bomb = compressor.compress(b"<urlset>") + b"".join(compressor.compress(zeros) for _ in range(200))
    bomb += compressor.flush()
    assert len(bomb) < 2 * 1024 * 1024  # 200 MB of zeros
    with pytest.raises(DiscoveryError, match=r"^sitemap too large after decompression .*: https://x/s.xml.gz$"):
        parse_sitemap(bomb, "https://x/s.xml.gz")


def test_oversized_plain_xml_is_refused() -> None:
    with pytest.raises(DiscoveryError, match="feed too large"):
        parse_feed(b" " * (MAX_XML_BYTES + 1), FEED_URL)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"<html><head><title>404</title></head></html>", r"^not a sitemap \(root element <html>\)"),
        (b"<urlset><url><loc>https://ex.com/a</loc>", "^malformed sitemap .*no element found"),  # no entry complete
        (b'{"error": "not found"}', r"^malformed sitemap .*: not well-formed \(invalid token\) \(line 1\)$"),
    ],
)
def test_not_a_sitemap(content: bytes, message: str) -> None:
    with pytest.raises(DiscoveryError, match=message):
        parse_sitemap(content, SITEMAP_URL)


_path = st.from_regex(r"/[a-z0-9-]{1,12}(/[a-z0-9-]{1,12}){0,2}", fullmatch=True)


@given(st.lists(_path, max_size=20))
def test_sitemap_round_trip(paths: list[str]) -> None:
    urls = [f"https://ex.com{p}" for p in paths]
    links = parse_sitemap(_urlset(urls), SITEMAP_URL).links
    assert [link.url for link in links] == list(dict.fromkeys(urls))


@given(st.lists(st.tuples(_path, st.text(st.characters(blacklist_categories=("Cs", "Cc")), max_size=30)), max_size=10))
def test_feed_round_trip(items: list[tuple[str, str]]) -> None:
    body = "".join(
        f"<item><title>{escape(t)}</title><link>https://ex.com{p}</link><pubDate>{escape(t)}</pubDate></item>"
        for p, t in items
    )
    links = parse_feed(f"<rss><channel>{body}</channel></rss>".encode(), FEED_URL)
    assert [link.url for link in links] == list(dict.fromkeys(f"https://ex.com{p}" for p, _ in items))
    first_titles = {}
    for p, t in items:
        first_titles.setdefault(f"https://ex.com{p}", " ".join(t.split()) or None)
    assert [link.title for link in links] == list(first_titles.values())


@settings(max_examples=300)
@given(st.binary(max_size=300) | st.sampled_from([data("rss2.xml")[:n] for n in range(0, 600, 37)]))
def test_arbitrary_bytes_only_ever_raise_discovery_error(content: bytes) -> None:
    for parse in (parse_feed, parse_sitemap):
        try:
            parse(content, FEED_URL)
        except DiscoveryError as exc:
            assert "\n" not in str(exc)
    looks_like_feed(content)
    looks_like_sitemap(content)


# --- robots.txt ------------------------------------------------------------------------------


def test_sitemaps_from_robots() -> None:
    robots = """User-agent: *
Disallow: /private/
# Sitemap: https://www.example.com/commented-out.xml
Sitemap: https://www.example.com/sitemap.xml
sitemap:/relative-sitemap.xml   # trailing comment
SITEMAP: https://www.example.com/sitemap.xml#dup
Sitemap: ftp://www.example.com/not-http.xml
"""
    assert sitemaps_from_robots(robots, "https://www.example.com/robots.txt") == [
        "https://www.example.com/sitemap.xml",
        "https://www.example.com/relative-sitemap.xml",
    ]
    assert sitemaps_from_robots("User-agent: *\nDisallow:\n", "https://ex.com/robots.txt") == []
    assert sitemaps_from_robots("", "https://ex.com/robots.txt") == []


# --- listing pages ---------------------------------------------------------------------------

LISTING_URL = "https://www.example.com/news/world"


def test_listing_without_pattern_keeps_article_like_links() -> None:
    links = parse_listing(data("listing.html").decode(), LISTING_URL, None, ["example.com"])
    assert links == [
        # the image link came first with no text: the headline's text is the title
        Link("https://www.example.com/news/world/2024/03/05/summit-ends-without-deal", title="Summit ends without deal"),
        Link("https://edition.example.com/business/markets-rally-on-rate-cut-hopes", title="Markets rally"),
        Link("https://www.example.com/storms-batter-the-coast-again", title="Storms batter the coast"),
        Link("https://www.example.com/123456", title="Short id story"),
        # skipped: home, the page itself, tag/author/category/page-N/search/login, PDF, other sites,
        # javascript:/mailto:, and the look-alike host example.com.evil.test
    ]


def test_listing_with_pattern() -> None:
    pattern = re.compile(r"/\d{4}/\d{2}/\d{2}/|/about$")
    links = parse_listing(data("listing.html").decode(), LISTING_URL, pattern, ["example.com"])
    # the pattern decides alone: /about is no article by the heuristics, but the pattern asks for it
    assert [link.url for link in links] == [
        "https://www.example.com/news/world/2024/03/05/summit-ends-without-deal",
        "https://www.example.com/about",
    ]


def test_listing_defaults_to_the_pages_site_and_honours_base_href() -> None:
    html = """<html><head><base href="https://www.ex.com/archive/"></head><body>
        <a href="2024/some-story-slug-here">Relative to base</a>
        <a href="https://other.org/news/story/elsewhere">Other site</a></body></html>"""
    assert parse_listing(html, "https://ex.com/list", None, []) == [
        Link("https://www.ex.com/archive/2024/some-story-slug-here", title="Relative to base"),
    ]


def test_listing_of_garbage_is_empty() -> None:
    assert parse_listing("", LISTING_URL, None, ["example.com"]) == []
    assert parse_listing("<a href='http://[bad'>x</a><a>no href</a>", LISTING_URL, None, ["example.com"]) == []
    broken_base = "<base href='http://[bad'><a href='/news/world/a-long-story-slug'>x</a>"
    assert [link.url for link in parse_listing(broken_base, LISTING_URL, None, ["example.com"])] == [
        "https://www.example.com/news/world/a-long-story-slug"
    ]


# --- sniffing --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "feed", "sitemap"),
    [
        ("rss2.xml", True, False),
        ("atom.xml", True, False),
        ("rdf.xml", True, False),
        ("sitemap.xml", False, True),
        ("sitemapindex.xml", False, True),
        ("news_sitemap.xml", False, True),
        ("sitemap.txt", False, True),
        ("listing.html", False, False),
    ],
)
def test_sniffing(name: str, feed: bool, sitemap: bool) -> None:
    assert looks_like_feed(data(name)) is feed
    assert looks_like_sitemap(data(name)) is sitemap


def test_sniffing_edge_cases() -> None:
    assert looks_like_sitemap(gzip.compress(data("sitemap.xml")))
    assert not looks_like_sitemap(b"\x1f\x8bgarbage")
    assert looks_like_feed(b"<?xml version='1.0'?><!-- <urlset> in a comment --><rss version='2.0'>")
    assert not looks_like_sitemap(b"<?xml version='1.0'?><!-- <urlset> in a comment --><rss version='2.0'>")
    assert not looks_like_feed(b'<html><head><link rel="alternate" type="application/rss+xml" href="/rss"></head>')
    assert not looks_like_feed(b"") and not looks_like_sitemap(b"")
