"""Robustness: thousands of hostile inputs per category, each run in a worker process with a time limit.

    .venv/bin/python bench/robustness.py [--scale 1.0] [--limit 60]

Categories: HTML pages (decode_html + extract), feeds, sitemaps, config files (and the article
patterns they let through, run over attack strings), URLs (canonicalize + the private-address
guard), output file names, and HTTP responses (compression bombs, floods) through the Fetcher.
Each case ends as a clean result, a clear error (a ScraperError of one line), a crash (any other
exception, or the worker dying) or a hang (over the per-case limit). Peak RSS is the largest
resident size of a worker in the category. Where a peer parses the same input (trafilatura for
HTML and feeds, courlan for URLs) its crashes and hangs are shown beside ours.
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import random
import resource
import socket
import sys
import tempfile
import time
import zlib
from collections.abc import Callable, Iterator
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field
from pathlib import Path

from pebble import ProcessExpired, ProcessPool

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

SEED = 6
PARAGRAPH = "<p>The harbour council met on Tuesday and voted on the bridge plan after months of debate, residents said.</p>"
PAGE = (f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>Bridge vote</title></head><body><nav><a href='/'>Home</a>"
        f"</nav><article><h1>Bridge vote</h1>{PARAGRAPH * 6}</article><footer>(c) Daily Example</footer></body></html>")
BILLION_LAUGHS = (b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY a "lol">' + b"".join(
    f'<!ENTITY {chr(98 + i)} "{("&" + chr(97 + i) + ";") * 10}">'.encode() for i in range(9)) + b"]><rss><channel><title>&j;</title></channel></rss>")
XML_PAYLOADS = [
    BILLION_LAUGHS,
    b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]><rss><channel><item><title>&x;</title></item></channel></rss>',
    b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY % p SYSTEM "http://127.0.0.1:9/x.dtd"> %p;]><urlset/>',
    b'<?xml version="1.0"?><!DOCTYPE urlset SYSTEM "http://127.0.0.1:9/x.dtd"><urlset><url><loc>https://example.com/a</loc></url></urlset>',
]
FEED = (b'<?xml version="1.0"?><rss version="2.0"><channel><item><title>One</title><link>https://example.com/news/one</link>'
        b"<pubDate>Tue, 19 Nov 2019 10:00:00 GMT</pubDate></item><item><link>/news/two</link></item></channel></rss>")
ATOM = b'<feed xmlns="http://www.w3.org/2005/Atom" xml:base="https://example.com/"><entry><link href="news/a"/></entry></feed>'
URLSET = b'<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9"><url><loc>https://example.com/news/one</loc><lastmod>2024-01-01</lastmod></url></urlset>'
INDEX = b'<sitemapindex><sitemap><loc>https://example.com/s1.xml</loc></sitemap><sitemap><loc>s1.xml</loc></sitemap></sitemapindex>'
EVIL_PATTERNS = ["(a+)+$", "(a|aa)+$", "(.*a){20}", "(\\w+\\s?)*$", "(a|a)*$", "((ab)*)+$", "(x+x+)+y", "([^/]+/?)*z", "(\\d|\\w)+!"]
ATTACKS = ["a" * 40 + "!", "ab" * 30 + "!", "x" * 40, "https://example.com/" + "a/" * 40 + "!", "1" * 40 + "!", "a " * 40 + "!"]


# --- case generators: deterministic, by seed ------------------------------------------------------


def _splice(rng: random.Random, data: bytes, pieces: list[bytes], n: int) -> bytes:
    for _ in range(n):
        i = rng.randint(0, len(data))
        data = data[:i] + rng.choice(pieces) + data[i:]
    return data


def html_cases(rng: random.Random, n: int) -> Iterator[tuple[bytes, str | None]]:
    yield ("<html><body>" + "<div>" * 10_000 + PARAGRAPH + "</div>" * 10_000).encode(), None
    yield ("<html><body>" + "<span>" * 100_000 + PARAGRAPH).encode(), None
    yield PAGE.replace("<article>", '<article class="' + "x" * 5_000_000 + '">').encode(), None
    yield PAGE.replace("<article>", "<article " + " ".join(f"a{i}=1" for i in range(100_000)) + ">").encode(), None
    yield ("<html><body><article>" + PARAGRAPH * 20_000 + "</article></body></html>").encode(), None  # 2.5 MB of text
    yield b"<" * 1_000_000, None
    tags = ["div", "b", "span", "table", "td", "li", "a", "svg", "template", "font", "p", "article"]
    for _ in range(n - 6):
        kind = rng.choice(["truncated", "nested", "attribute", "nul", "mixed", "invalid", "soup", "bytes"])
        page = PAGE.encode()
        if kind == "truncated":
            page = page[: rng.randint(0, len(page))]
        elif kind == "nested":
            tag, depth = rng.choice(tags), rng.choice([50, 500, 5000])
            page = f"<html><body>{f'<{tag}>' * depth}{PARAGRAPH * 3}{f'</{tag}>' * depth * rng.randint(0, 1)}".encode()
        elif kind == "attribute":
            page = PAGE.replace("<h1>", f"<h1 {rng.choice(['class', 'id', 'style', 'href'])}='{'x' * rng.choice([1000, 100_000])}'>").encode()
        elif kind == "nul":
            page = _splice(rng, page, [b"\x00", b"\x01", b"\x1b", b"\x7f"], rng.randint(1, 30))
        elif kind == "mixed":
            page = b"<html><body><article>" + b"".join(
                (PARAGRAPH.replace("the", "th\u00e9 \u65e5\u672c")).encode(rng.choice(["utf-8", "cp1252", "utf-16-le", "shift_jis", "koi8-r"]), "replace")
                for _ in range(4)) + b"</article></body></html>"
        elif kind == "invalid":
            page = _splice(rng, page, [b"\xff", b"\xc3", b"\xe2\x82", b"\xed\xa0\x80", b"\x80"], rng.randint(1, 40))
        elif kind == "soup":
            parts = ["<", ">", "</", "<p>", "</p>", "<!--", "-->", "<script>", "<![CDATA[", "&#0;", "&#xD800;", "<meta charset=utf-16>", PARAGRAPH]
            page = "".join(rng.choice(parts) for _ in range(rng.randint(1, 80))).encode()
        else:
            page = rng.randbytes(rng.randint(0, 3000))
        charset = rng.choice([None, "utf-8", "windows-1252", "utf-16", "utf-7", "x-bogus", "base64", "shift_jis"])
        yield page, f"text/html; charset={charset}" if charset else None


def xml_cases(rng: random.Random, n: int, bases: list[bytes]) -> Iterator[bytes]:
    yield b"<urlset>" + b"".join(f"<url><loc>https://example.com/n/{i}</loc></url>".encode() for i in range(100_000)) + b"</urlset>"
    yield b"<urlset>" + b"<url>" * 100_000 + b"</urlset>"
    yield gzip.compress(b"<urlset>" + b" " * (200 << 20) + b"</urlset>")  # 200 MB inflated
    for _ in range(n - 3):
        doc = rng.choice(bases + XML_PAYLOADS)
        kind = rng.choice(["as-is", "truncated", "flipped", "spliced", "gzip", "noise"])
        if kind == "truncated":
            doc = doc[: rng.randint(0, len(doc))]
        elif kind == "flipped":
            doc = bytes(b if rng.random() > 0.02 else rng.randint(0, 255) for b in doc)
        elif kind == "spliced":
            doc = _splice(rng, doc, [b"<!DOCTYPE x [<!ENTITY e 'e'>]>", b"&e;", b"<![CDATA[", b"\x00", b"<?xml version='1.0'?>", b"</url>"], 2)
        elif kind == "gzip":
            doc = gzip.compress(doc)
            doc = doc[: rng.randint(2, len(doc))] if rng.random() < 0.5 else doc
        elif kind == "noise":
            doc = rng.randbytes(rng.randint(0, 600))
        yield doc


def config_cases(rng: random.Random, n: int) -> Iterator[str]:
    values = ['"x"', "0", "-1", "1e309", "nan", "true", "[]", '["a", 1]', "{a = 1}", '"https://example.com/feed"', '"ftp://x/y"',
              "1979-05-27T07:32:00Z", '"' + "a" * 5000 + '"', "9223372036854775807"]
    setting_keys = ["delay", "concurrency", "max_bytes", "allow_private_addresses", "db", "user_agent", "max_sitemap_depth", "nope"]
    site_keys = ["domains", "feeds", "sitemaps", "start_urls", "drop_selectors", "stop_headings", "max_pages", "unknown"]
    for _ in range(n):
        lines = ["[settings]"] + [f"{k} = {rng.choice(values)}" for k in rng.sample(setting_keys, rng.randint(0, 3))]
        for i in range(rng.randint(0, 2)):
            lines += ["[[sites]]", f'name = "s{i}"']
            lines += [f"{k} = {rng.choice(values)}" for k in rng.sample(site_keys, rng.randint(0, 3))]
            pattern = rng.choice([*EVIL_PATTERNS, "/news/\\d{4}/", "(news|sport)/", "(?:\\d{2}/){3}", "[", "(a|b)*c", "(\\w+)-(\\w+)+"])
            lines.append(f"article_pattern = '{pattern}'")
        text = "\n".join(lines)
        if rng.random() < 0.2:
            text = text[: rng.randint(0, len(text))]
        yield text


def url_cases(rng: random.Random, n: int) -> Iterator[str]:
    schemes = ["http", "https", "HTTP", "file", "ftp", "javascript", "data", "mailto", "ws", ""]
    users = ["", "user@", "user:pass@", ":@", "a@b@", "\u00fc:\u00df@"]
    hosts = ["example.com", "b\u00fccher.de", "\u043f\u0440\u0438\u043c\u0435\u0440.\u0440\u0444", "ex\u3002ample\uff0ecom", "127.0.0.1", "2130706433",
             "0x7f.1", "[::1]", "[::ffff:127.0.0.1]", "169.254.169.254", "localhost", "a" * 64 + ".com", "a." * 130 + "com", "", "exa mple.com",
             "\u202eexample.com", "[", "10.0.0.1", "[fe80::1%25eth0]"]
    ports = ["", ":80", ":0", ":65535", ":65536", ":-1", ":99999999999", ":x", ":"]
    paths = ["", "/", "/a/../../b", "/%2e%2e/x", "/" + "a" * 3000, "/a?utm_source=x&b=1#c", "/\u00e9t\u00e9", "/%zz"]
    for _ in range(n):
        if rng.random() < 0.1:
            yield "".join(rng.choice("htps:/.@[]%#?&=\u00e9\x00 ") for _ in range(rng.randint(0, 40)))
        else:
            yield f"{rng.choice(schemes)}://{rng.choice(users)}{rng.choice(hosts)}{rng.choice(ports)}{rng.choice(paths)}"


def name_cases(rng: random.Random, n: int) -> Iterator[str]:
    pieces = ["..", "/", "\\", "CON", "nul", "com\u00b9", "\u202e", "\uff0e", "\uff0f", "\u2215", "\ufb01", "\x00", "\u200b", "\u0301",
              "\U0001f600", "~", "$HOME", "%2e", "C:", " ", ".", "x" * 300, "\u0130", "\u00df"]
    for _ in range(n):
        yield "".join(rng.choice(pieces) for _ in range(rng.randint(1, 12)))


def http_cases(rng: random.Random, n: int) -> Iterator[tuple[dict[str, str], list[bytes]]]:
    """(headers, raw body chunks) as a hostile server would send them."""
    zeros = b"\0" * (1 << 20)
    gzip_bomb = gzip.compress(zeros * 1024, 9)  # 1 GB
    deflate_bomb = zlib.compress(zeros * 1024, 9)
    chunks = lambda data: [data[i : i + 65536] for i in range(0, len(data), 65536)]  # noqa: E731
    fixed = [
        ({"content-encoding": "gzip"}, chunks(gzip_bomb)),
        ({"content-encoding": "deflate"}, chunks(deflate_bomb)),
        ({"content-encoding": "gzip, gzip"}, chunks(gzip.compress(gzip_bomb))),
        ({"content-encoding": "br"}, [b"\x1b\xff\xff"]),
        ({"content-encoding": "gzip"}, [b"\x1f\x8b garbage"]),
        ({"content-length": "99999999999"}, [b"<p>"]),
        ({}, [zeros] * 64),  # 64 MB plain
        ({"content-type": "application/pdf"}, [b"%PDF-1.7"]),
    ]
    yield from fixed
    for _ in range(n - len(fixed)):
        headers = {"content-type": rng.choice(["text/html", "text/html; charset=utf-7", "", "text/plain", "application/xhtml+xml"])}
        if rng.random() < 0.3:
            headers["content-encoding"] = rng.choice(["gzip", "deflate", "identity", "x-gzip", "GZIP", ""])
        body = PAGE.encode()[: rng.randint(0, len(PAGE))]
        if headers.get("content-encoding", "").lower() in ("gzip", "x-gzip"):
            body = gzip.compress(body)[: rng.randint(0, 200)] if rng.random() < 0.3 else gzip.compress(body)
        elif headers.get("content-encoding") == "deflate":
            body = zlib.compress(body)
        yield headers, chunks(body) or [b""]


# --- the cases themselves, run in worker processes ------------------------------------------------


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _outcome(call: Callable[[], object]) -> tuple[str, float]:
    """'clean' or 'clear' (a one-line ScraperError); any other exception propagates and counts as a crash."""
    from scraper.errors import ScraperError

    try:
        call()
    except ScraperError as exc:
        if not str(exc) or "\n" in str(exc):
            raise AssertionError(f"unclear error message: {str(exc)!r}") from exc
        return "clear", _peak_mb()
    return "clean", _peak_mb()


def run_html(case: tuple[bytes, str | None]) -> tuple[str, float]:
    from scraper import extract
    from scraper.page import decode_html

    return _outcome(lambda: extract(decode_html(*case), "https://example.com/news/2024/bridge-vote"))


def peer_html(case: tuple[bytes, str | None]) -> tuple[str, float]:
    import trafilatura

    from scraper.page import decode_html

    html = decode_html(*case)
    return ("clean" if trafilatura.extract(html, url="https://example.com/news/2024/bridge-vote") else "clear"), _peak_mb()


def run_feed(doc: bytes) -> tuple[str, float]:
    from scraper.discover import parse_feed

    return _outcome(lambda: parse_feed(doc, "https://example.com/feed.xml"))


def peer_feed(doc: bytes) -> tuple[str, float]:
    from trafilatura.feeds import FeedParameters, extract_links

    params = FeedParameters("https://example.com", "example.com", "https://example.com/feed.xml")
    return ("clean" if extract_links(doc.decode("utf-8", "replace"), params) else "clear"), _peak_mb()


def run_sitemap(doc: bytes) -> tuple[str, float]:
    from scraper.discover import parse_sitemap

    return _outcome(lambda: parse_sitemap(doc, "https://example.com/sitemap.xml"))


def run_config(text: str) -> tuple[str, float]:
    from scraper.config import load_config

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "sites.toml"
        path.write_text(text, encoding="utf-8")

        def load_and_match() -> None:
            for site in load_config(path).sites:  # what the checker lets through meets its worst input
                for attack in ATTACKS if site.article_pattern else ():
                    site.article_pattern.search(attack)

        return _outcome(load_and_match)


def run_url(url: str) -> tuple[str, float]:
    from scraper.errors import FetchError
    from scraper.run import refuse_private_address
    from scraper.urls import MAX_URL_CHARS, canonicalize

    socket.getaddrinfo = _fake_getaddrinfo  # private for half the names, public for the rest; never real DNS

    def check() -> None:
        canonical = canonicalize(url)
        if canonical is None:
            raise FetchError(f"not a fetchable URL: {url!r}")
        if len(canonical) > MAX_URL_CHARS or canonicalize(canonical) != canonical:
            raise AssertionError(f"canonical form not stable or too long: {canonical!r}")
        refuse_private_address(canonical)

    return _outcome(check)


def _fake_getaddrinfo(host, port, *args, **kwargs):
    name = host if isinstance(host, bytes) else str(host).encode("utf-8", "surrogatepass")
    address = "127.0.0.1" if zlib.crc32(name) % 2 else "93.184.216.34"  # the same answer every run
    return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, port or 0))]


def peer_url(url: str) -> tuple[str, float]:
    import courlan

    result = courlan.check_url(url)
    if result:
        courlan.normalize_url(result[0])
    return ("clean" if result else "clear"), _peak_mb()


def run_name(name: str) -> tuple[str, float]:
    from scraper.article import Article
    from scraper.output import write_article

    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder) / "out"

        def write() -> None:
            article = Article(url=f"https://example.com/{name}", title=name, text="Body.", published=name)
            for path in write_article(article, out, name):
                if not path.resolve().is_relative_to(out.resolve()) or not path.name.isascii():
                    raise AssertionError(f"unsafe output path {path}")

        return _outcome(write)


def run_http(case: tuple[dict[str, str], list[bytes]]) -> tuple[str, float]:
    import httpx

    from scraper.fetcher import Fetcher, FetchSettings

    headers, chunks = case

    class Body(httpx.AsyncByteStream):
        async def __aiter__(self):
            for chunk in chunks:
                yield chunk

    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, headers={"content-type": "text/html", **headers}, stream=Body())

    async def fetch() -> None:
        async with Fetcher(FetchSettings(retries=0), transport=httpx.MockTransport(answer)) as fetcher:
            (await fetcher.get_page("https://example.com/page")).text

    return _outcome(lambda: asyncio.run(fetch()))


# --- driver ---------------------------------------------------------------------------------------


@dataclass
class Tally:
    cases: int = 0
    clean: int = 0
    clear: int = 0
    crashes: int = 0
    hangs: int = 0
    wall: float = 0.0
    peak_mb: float = 0.0
    examples: list[str] = field(default_factory=list)


def run_category(task: Callable, cases: list, limit: float) -> Tally:
    """Every case in a fresh-per-category pool of 2 worker processes, each with `limit` seconds."""
    tally = Tally()
    with ProcessPool(max_workers=2) as pool:
        started = time.monotonic()
        futures = [pool.schedule(task, args=(case,), timeout=limit) for case in cases]
        for case, future in zip(cases, futures):
            tally.cases += 1
            try:
                outcome, peak = future.result()
            except FutureTimeout:
                tally.hangs += 1
                tally.examples.append(f"hang: {_show(case)}")
                continue
            except ProcessExpired as exc:
                tally.crashes += 1
                tally.examples.append(f"worker died ({exc}): {_show(case)}")
                continue
            except Exception as exc:
                tally.crashes += 1
                tally.examples.append(f"{type(exc).__name__}: {str(exc)[:120]}: {_show(case)}")
                continue
            setattr(tally, outcome, getattr(tally, outcome) + 1)
            tally.peak_mb = max(tally.peak_mb, peak)
        tally.wall = time.monotonic() - started
    return tally


def _show(case: object) -> str:
    text = repr(case)
    return text if len(text) < 100 else f"{text[:80]}... ({len(text)} chars)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--scale", type=float, default=1.0, help="multiply the number of cases")
    parser.add_argument("--limit", type=float, default=60.0, help="seconds one case may take before it counts as a hang")
    args = parser.parse_args()
    rng = random.Random(SEED)
    count = lambda n: max(10, int(n * args.scale))  # noqa: E731
    categories = [
        ("html", run_html, peer_html, "trafilatura", list(html_cases(rng, count(1500)))),
        ("feeds", run_feed, peer_feed, "trafilatura.feeds", list(xml_cases(rng, count(1000), [FEED, ATOM]))),
        ("sitemaps", run_sitemap, None, "", list(xml_cases(rng, count(1000), [URLSET, INDEX]))),
        ("configs", run_config, None, "", list(config_cases(rng, count(500)))),
        ("urls", run_url, peer_url, "courlan", list(url_cases(rng, count(1500)))),
        ("names", run_name, None, "", list(name_cases(rng, count(500)))),
        ("http", run_http, None, "", list(http_cases(rng, count(100)))),
    ]
    header = f"{'category':<10}{'cases':>7}{'clean':>7}{'clear errors':>14}{'crashes':>9}{'hangs':>7}{'wall s':>8}{'peak RSS MB':>13}   peer: crashes / hangs / peak RSS MB"
    print(header)
    print("-" * len(header))
    totals = Tally()
    notes: list[str] = []
    for name, task, peer_task, peer_name, cases in categories:
        ours = run_category(task, cases, args.limit)
        peer = run_category(peer_task, cases, args.limit) if peer_task else None
        peer_text = f"{peer_name}: {peer.crashes} / {peer.hangs} / {peer.peak_mb:.0f}" if peer else "-"
        print(f"{name:<10}{ours.cases:>7}{ours.clean:>7}{ours.clear:>14}{ours.crashes:>9}{ours.hangs:>7}{ours.wall:>8.1f}{ours.peak_mb:>13.0f}   {peer_text}", flush=True)
        notes += [f"  {name}: {e}" for e in ours.examples[:5]]
        for key in ("cases", "clean", "clear", "crashes", "hangs"):
            setattr(totals, key, getattr(totals, key) + getattr(ours, key))
        totals.peak_mb = max(totals.peak_mb, ours.peak_mb)
    if notes:
        print("\nfirst crashes and hangs per category:")
        print("\n".join(notes))
    print(f"robustness: cases {totals.cases}, clear errors {totals.clear}, crashes {totals.crashes}, hangs {totals.hangs}, peak RSS {totals.peak_mb:.0f} MB")


if __name__ == "__main__":
    main()
