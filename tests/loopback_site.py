"""A news site on 127.0.0.1 for end-to-end runs, built from real pages of the scrapinghub benchmark.

`NewsSite` serves articles under /news/2019/11/<slug>.html, an RSS feed, a sitemap index pointing
to a gzipped sitemap and a Google News sitemap, and a robots.txt with a Crawl-delay, a Sitemap line
and a disallowed /news/private/ where one listed article lives. The feed and the sitemaps answer
If-None-Match with 304. Every request is logged, so a test can say which pages were fetched.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import re
import threading
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit
from xml.sax.saxutils import escape

from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from .conftest import BENCH

# Benchmark pages (ground-truth keys, abbreviated) that extract cleanly into distinct articles.
FIRST = ("06e5123e", "06ee193d", "0d461229", "14cc2a0c", "156770d6", "264dc3ae", "359fee22", "3c5bf8db")
LATER = ("3cb22bfa", "42aad16b")  # published between runs
PRIVATE = "360c732d"  # listed in the feed and sitemaps, but robots.txt disallows it
CRAWL_DELAY = 0.05
RSS = "application/rss+xml"
XML = "application/xml"


@dataclass(frozen=True)
class Page:
    path: str
    title: str
    html: bytes


@dataclass(frozen=True)
class Hit:
    path: str
    status: int


def load_page(key_prefix: str, folder: str = "2019/11") -> Page:
    """A benchmark page, served under a path made from the slug of its original URL."""
    ground_truth = json.loads((BENCH / "ground-truth.json").read_text())
    key = next(k for k in ground_truth if k.startswith(key_prefix))
    original = urlsplit(ground_truth[key]["url"]).path
    slug = re.sub(r"\.\w+$", "", [s for s in original.split("/") if s][-1])[:60].strip("-")
    html = gzip.decompress((BENCH / "html" / f"{key}.html.gz").read_bytes())
    return Page(f"/news/{folder}/{slug}.html", slug.replace("-", " "), html)


class NewsSite:
    """The site, served by `server`; `hold_after` makes every article request after the first n wait for `release`."""

    def __init__(self, server: HTTPServer, *, hold_after: int | None = None):
        self.server = server
        self.published = [load_page(key) for key in FIRST]
        self.later = [load_page(key) for key in LATER]
        self.private = load_page(PRIVATE, folder="private")
        self.news_only: list[Page] = []  # listed by the Google News sitemap alone
        self.extra: dict[str, tuple[bytes, str]] = {}  # path -> (body, content type)
        self.hits: list[Hit] = []
        self.hold_after = hold_after
        self.release = threading.Event()
        self._lock = threading.Lock()
        self._article_requests = 0  # counted on arrival, so that concurrent requests cannot slip past hold_after
        server.expect_request(re.compile("/.*")).respond_with_handler(self._handle)

    # --- what tests use ------------------------------------------------------------------------

    def url(self, path: str) -> str:
        return self.server.url_for(path)

    @property
    def feed(self) -> str:
        return self.url("/feed.xml")

    @property
    def sitemap_index(self) -> str:
        return self.url("/sitemap_index.xml")

    def publish(self, *pages: Page, in_feed: bool = True) -> None:
        if in_feed:
            self.published.extend(pages)
        else:
            self.news_only.extend(pages)

    def allowed_urls(self) -> set[str]:
        return {self.url(p.path) for p in self.published + self.news_only}

    def article_hits(self) -> list[Hit]:
        return [hit for hit in self.hits if hit.path.startswith("/news/")]

    def status_of(self, path: str) -> list[int]:
        return [hit.status for hit in self.hits if hit.path == path]

    def site_entry(self, name: str = "loopback", **overrides) -> dict:
        """A [[sites]] entry that finds articles through the feed, the sitemap index and robots.txt."""
        return {"name": name, "domains": ["127.0.0.1"], "feeds": [self.feed], "sitemaps": [self.sitemap_index], **overrides}

    # --- serving -------------------------------------------------------------------------------

    def _handle(self, request: Request) -> Response:
        response = self._respond(request)
        with self._lock:
            self.hits.append(Hit(request.path, response.status_code))
        return response

    def _respond(self, request: Request) -> Response:
        path = request.path
        pages = {p.path: p for p in (*self.published, *self.news_only, self.private)}
        if path in pages:
            with self._lock:
                self._article_requests += 1
                arrived = self._article_requests
            if self.hold_after is not None and arrived > self.hold_after:
                self.release.wait(timeout=30)  # bounded: a test that forgets to release still ends
            return Response(pages[path].html, content_type="text/html; charset=utf-8")
        documents = {
            "/robots.txt": (self._robots(), "text/plain"),
            "/feed.xml": (self._feed(), RSS),
            "/sitemap_index.xml": (self._index(), XML),
            "/sitemaps/articles.xml.gz": (gzip.compress(self._urlset(self._listed()), mtime=0), "application/x-gzip"),
            "/sitemaps/news.xml": (self._news_sitemap(), XML),
            **self.extra,
        }
        if path not in documents:
            return Response("not found", status=404)
        body, content_type = documents[path]
        if path == "/robots.txt":
            return Response(body, content_type=content_type)
        etag = '"' + hashlib.sha256(body).hexdigest()[:16] + '"'
        if request.headers.get("If-None-Match") == etag:
            return Response(status=304, headers={"ETag": etag})
        return Response(body, content_type=content_type, headers={"ETag": etag})

    def _listed(self) -> list[Page]:
        return [*self.published, self.private]

    def _robots(self) -> bytes:
        return (
            f"User-agent: *\nDisallow: /news/private/\nCrawl-delay: {CRAWL_DELAY}\n\n"
            f"Sitemap: {self.sitemap_index}\n"
        ).encode()

    def _feed(self) -> bytes:
        items = "".join(
            f"<item><title>{escape(p.title)}</title><link>{escape(self.url(p.path))}</link>"
            f"<pubDate>Tue, 19 Nov 2019 10:00:00 GMT</pubDate></item>"
            for p in self._listed()
        )
        return (
            '<?xml version="1.0" encoding="UTF-8"?><rss version="2.0"><channel><title>Loopback News</title>'
            f"<link>{escape(self.url('/'))}</link>{items}</channel></rss>"
        ).encode()

    def _index(self) -> bytes:
        entries = "".join(
            f"<sitemap><loc>{escape(self.url(path))}</loc></sitemap>"
            for path in ("/sitemaps/articles.xml.gz", "/sitemaps/news.xml")
        )
        return f'<?xml version="1.0"?><sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">{entries}</sitemapindex>'.encode()

    def _urlset(self, pages: list[Page]) -> bytes:
        entries = "".join(f"<url><loc>{escape(self.url(p.path))}</loc><lastmod>2019-11-19</lastmod></url>" for p in pages)
        return f'<?xml version="1.0"?><urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">{entries}</urlset>'.encode()

    def _news_sitemap(self) -> bytes:
        entries = "".join(
            f"<url><loc>{escape(self.url(p.path))}</loc><news:news><news:publication>"
            "<news:name>Loopback News</news:name><news:language>en</news:language></news:publication>"
            f"<news:publication_date>2019-11-19T10:00:00Z</news:publication_date><news:title>{escape(p.title)}</news:title>"
            "</news:news></url>"
            for p in [*self._listed(), *self.news_only]
        )
        return (
            '<?xml version="1.0"?><urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9" '
            f'xmlns:news="http://www.google.com/schemas/sitemap-news/0.9">{entries}</urlset>'
        ).encode()


def write_config(path: Path, settings: dict, sites: list[dict]) -> Path:
    """A sites.toml with [settings] and [[sites]]; values are strings, numbers, booleans or lists of strings."""

    def value(v: object) -> str:
        return ("true" if v else "false") if isinstance(v, bool) else json.dumps(v)

    lines = ["[settings]", *(f"{k} = {value(v)}" for k, v in settings.items())]
    for site in sites:
        lines += ["", "[[sites]]", *(f"{k} = {value(v)}" for k, v in site.items())]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
 <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
 <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
 <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
 <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<rss version="2.0"><channel><title>&lol9;</title></channel></rss>
"""

MALFORMED_FEED = b'<?xml version="1.0"?><rss version="2.0"><channel><item><title>Cut off</title><link>http://127.0.0.1/a'
