"""A loopback news site of H hosts (distinct ports on 127.0.0.1) for bench/crawl.py.

The site is served by a separate process, so that it does not compete with a crawler's event loop
or GIL: one ThreadingHTTPServer per host, every response held back by a set latency. Article n
lives on host n % H at /news/<n>.html; its body is a real scrapinghub benchmark page with its
canonical link removed and "Report n:" put at the start of every paragraph, list item, heading
and line break, so that each copy is a distinct article (its own URL, text, content hash and lines)
while the markup stays real (one page of the 181 keeps its text in bare divs: its copies are one).
Each host serves robots.txt (with a Sitemap line), an RSS feed of its latest FEED_ITEMS articles,
a sitemap of all of them (both answer If-None-Match with 304) and a home page linking the feed,
all with links under the host name the request used (127.0.0.1 or a *.localhost alias).
Requests are counted in shared memory, so the benchmark reads the site's log while a crawl runs.
"""

from __future__ import annotations

import gzip
import hashlib
import math
import multiprocessing as mp
import re
import socket
import struct
import threading
import time
from dataclasses import dataclass
from functools import lru_cache
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

FEED_ITEMS = 50  # a feed lists a host's latest articles, as real feeds do; the sitemap lists all
_CANONICAL = re.compile(rb"<link\b[^>]*\brel=[\"']?canonical[^>]*>|<meta\b[^>]*\bproperty=[\"']?og:url[^>]*>", re.I)
_PARAGRAPH = re.compile(rb"<(?:p|li|h[1-6])(?:\s[^>]*)?>|<br\s*/?>", re.I)
_ARTICLE_PATH = re.compile(r"/news/(\d+)\.html")
# The kernel stamps each packet's arrival (Linux): gaps between requests are read from those stamps,
# not from when a handler thread of this busy process got round to them.
_SO_TIMESTAMPNS = getattr(socket, "SO_TIMESTAMPNS", 35)

# Slots of the shared request log.
ARTICLES, NOT_MODIFIED, DOCUMENTS, ROBOTS, OTHER, FIRST, LAST, MIN_GAP = range(8)
_SLOTS = 8


@dataclass(frozen=True)
class Hits:
    """What the site has served since the last reset."""

    articles: int  # article pages (200)
    not_modified: int  # feeds and sitemaps answered 304
    documents: int  # feeds, sitemaps and home pages answered 200
    robots: int
    other: int  # 404s
    window: float  # seconds from the first to the last request other than robots.txt
    min_gap: float  # shortest time between two article requests to one host (inf: fewer than two)


def page_templates(data: Path) -> list[list[bytes]]:
    """The benchmark pages without canonical links, each cut at its paragraph openings."""
    templates = []
    for path in sorted((data / "html").glob("*.html.gz")):
        html = _CANONICAL.sub(b"", gzip.decompress(path.read_bytes()))
        cuts = [m.end() for m in _PARAGRAPH.finditer(html)]
        if cuts:  # a page without paragraphs, items, headings or line breaks could not be made distinct
            templates.append([html[a:b] for a, b in zip([0, *cuts], [*cuts, len(html)])])
    return templates


class LoopbackSite:
    """`with LoopbackSite(hosts, pages, latency, data) as site:` the site runs; `site.hits()`, `site.reset()`."""

    def __init__(self, hosts: int, pages: int, latency: float, data: Path):
        self.hosts, self.pages, self.latency, self.data = hosts, pages, latency, data
        self._log = mp.Array("d", _SLOTS)
        self._stop = mp.Event()
        self._process: mp.Process | None = None
        self.ports: list[int] = []

    def __enter__(self) -> "LoopbackSite":
        ready = mp.Queue()
        self._process = mp.Process(
            target=_serve, args=(self.hosts, self.pages, self.latency, self.data, self._log, self._stop, ready), daemon=True
        )
        self._process.start()
        self.ports = ready.get(timeout=60)
        self.reset()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._process is not None:
            self._process.join(timeout=10)
            if self._process.is_alive():
                self._process.kill()

    def base(self, host: int) -> str:
        return f"http://127.0.0.1:{self.ports[host]}"

    def feed(self, host: int) -> str:
        return self.base(host) + "/feed.xml"

    def sitemap(self, host: int) -> str:
        return self.base(host) + "/sitemap.xml"

    def reset(self) -> None:
        with self._log.get_lock():
            self._log[:] = [0.0] * _SLOTS
            self._log[MIN_GAP] = math.inf

    def articles(self) -> int:
        return int(self._log[ARTICLES])

    def hits(self) -> Hits:
        with self._log.get_lock():
            log = list(self._log)
        window = log[LAST] - log[FIRST] if log[FIRST] else 0.0
        return Hits(*(int(v) for v in log[:FIRST]), window=window, min_gap=log[MIN_GAP])


def _serve(hosts: int, pages: int, latency: float, data: Path, log, stop, ready) -> None:
    templates = page_templates(data)
    # Last article request per host; kept across resets, where a gap spans the pause between two crawls.
    last_article = [0.0] * hosts
    guard = threading.Lock()

    def count(slot: int, host: int, now: float) -> None:
        with log.get_lock():
            log[slot] += 1
            if slot != ROBOTS:
                log[FIRST] = log[FIRST] or now
                log[LAST] = now
        if slot == ARTICLES:
            with guard:
                if last_article[host]:
                    gap = now - last_article[host]
                    with log.get_lock():
                        log[MIN_GAP] = min(log[MIN_GAP], gap)
                last_article[host] = now

    servers = []
    for host in range(hosts):
        server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(host, hosts, pages, latency, templates, count))
        server.socket.setsockopt(socket.SOL_SOCKET, _SO_TIMESTAMPNS, 1)  # accepted connections inherit it
        server.daemon_threads = True
        servers.append(server)
    ports = [s.server_address[1] for s in servers]
    for server in servers:
        threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True).start()
    ready.put(ports)
    stop.wait()
    for server in servers:
        server.shutdown()


@lru_cache(maxsize=1024)
def _documents(base: str, host: int, hosts: int, pages: int) -> dict[str, tuple[bytes, str]]:
    """The host's robots.txt, feed, sitemap and home page under the name it was asked by: path -> (body, content type)."""
    mine = list(range(host, pages, hosts))
    items = "".join(
        f"<item><title>Report {n}</title><link>{base}/news/{n}.html</link><pubDate>Mon, 23 Nov 2026 10:00:00 GMT</pubDate></item>"
        for n in reversed(mine[-FEED_ITEMS:])
    )
    feed = f'<?xml version="1.0" encoding="UTF-8"?><rss version="2.0"><channel><title>Host {host}</title><link>{base}/</link>{items}</channel></rss>'
    urls = "".join(f"<url><loc>{base}/news/{n}.html</loc><lastmod>2026-11-23</lastmod></url>" for n in mine)
    sitemap = f'<?xml version="1.0" encoding="UTF-8"?><urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">{urls}</urlset>'
    home = (
        f'<!doctype html><html><head><title>Host {host}</title><link rel="alternate" type="application/rss+xml" href="{base}/feed.xml">'
        f'</head><body><h1>Host {host}</h1><a href="{base}/feed.xml">feed</a></body></html>'
    )
    return {
        "/robots.txt": (f"User-agent: *\nAllow: /\nSitemap: {base}/sitemap.xml\n".encode(), "text/plain"),
        "/feed.xml": (feed.encode(), "application/rss+xml"),
        "/sitemap.xml": (sitemap.encode(), "application/xml"),
        "/": (home.encode(), "text/html; charset=utf-8"),
    }


def _handler(host: int, hosts: int, pages: int, latency: float, templates: list[list[bytes]], count):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as real servers do
        arrived = 0.0

        def handle_one_request(self) -> None:
            self.arrived = _arrival(self.connection)
            super().handle_one_request()

        def do_HEAD(self) -> None:
            self.do_GET(head=True)

        def do_GET(self, head: bool = False) -> None:
            arrived = self.arrived
            time.sleep(latency)
            path = self.path.split("?", 1)[0]
            article = _ARTICLE_PATH.fullmatch(path)
            if article and int(article[1]) < pages and int(article[1]) % hosts == host:
                n = int(article[1])
                count(ARTICLES, host, arrived)
                return self._send(200, _page(templates[n % len(templates)], n), "text/html; charset=utf-8", head)
            documents = _documents("http://" + (self.headers.get("Host") or "127.0.0.1:%d" % self.server.server_address[1]), host, hosts, pages)
            if path not in documents:
                count(OTHER, host, arrived)
                return self._send(404, b"not found", "text/plain", head)
            body, content_type = documents[path]
            if path == "/robots.txt":
                count(ROBOTS, host, arrived)
                return self._send(200, body, content_type, head)
            etag = '"' + hashlib.sha256(body).hexdigest()[:16] + '"'
            if self.headers.get("If-None-Match") == etag:
                count(NOT_MODIFIED, host, arrived)
                return self._send(304, b"", content_type, head, etag)
            count(DOCUMENTS, host, arrived)
            self._send(200, body, content_type, head, etag)

        def _send(self, status: int, body: bytes, content_type: str, head: bool, etag: str | None = None) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(0 if status == 304 else len(body)))
            if etag:
                self.send_header("ETag", etag)
            self.end_headers()
            if not head and status != 304:
                self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    return Handler


def _arrival(connection: socket.socket) -> float:
    """When the next request's first packet reached this host (wall clock), waiting for it; clients
    here send a request only after the last response, so none is left in the handler's buffer."""
    try:
        _data, ancillary, _flags, _address = connection.recvmsg(1, socket.CMSG_SPACE(16), socket.MSG_PEEK)
    except OSError:
        return time.time()
    for level, kind, data in ancillary:
        if level == socket.SOL_SOCKET and kind == _SO_TIMESTAMPNS and len(data) >= 16:
            seconds, nanoseconds = struct.unpack("qq", data[:16])
            return seconds + nanoseconds / 1e9
    return time.time()


def _page(template: list[bytes], n: int) -> bytes:
    return f"Report {n}: ".encode().join(template)
