"""Limits and safety against hostile servers: compression bombs, private addresses, secrets, files, caps."""

from __future__ import annotations

import asyncio
import base64
import errno
import gzip
import os
import socket
import zlib
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from pytest_httpserver import HTTPServer

from scraper.article import Article
from scraper.errors import FetchError, StoreError, redact
from scraper.fetcher import Fetcher, FetchSettings
from scraper.output import write_article
from scraper.run import _addresses, refuse_private_address
from scraper.store import Store

from .conftest import fuzz_case
from .loopback_site import NewsSite
from .test_cli import run as cli
from .test_run import config, db, make_httpserver, site, stored_urls  # noqa: F401 (fixtures)

FAST = FetchSettings(retries=0, connect_timeout=2, read_timeout=2, total_timeout=10)
PAGE = b"<!DOCTYPE html><html><body><article><h1>Bridge vote</h1>" + b"<p>The harbour council voted on the bridge plan after months of debate and many meetings.</p>" * 5 + b"</article></body></html>"
# 256 MB of zeros in 421 bytes of brotli: httpx would inflate it in one piece if brotli is installed.
BROTLI_BOMB = base64.b64decode(
    "y///P/gnAOKxQCD3/o///3/wTwDEYRGA7v0f////4J8AiMMCAN37P/7//8E/ARCHBQC693/8//+DfwIgDgsAdO//+P//B/8EQBwWAOje"
    "//H//w/+CYA4LADQvf/j//8f/BMAcVgAoHv/x///P/gnAOKwAED3/o///3/wTwDEYQGA7v0f////4J8AiMMCAN37P/7//8E/ARCHBQC6"
    "93/8//+DfwIgDgsAdO//+P//B/8EQBwWAOje//H//w/+CYA4LADQvf/j//8f/BMAcVgAoHv/x///P/gnAOKwAED3/o///3/wTwDEYQGA"
    "7v0f////4J8AiMMCAN37P/7//8E/ARCHBQC693/8//+DfwIgDgsAdO//+P//B/8EQBwWAOje//H//w/+CYA4LADQvf/j//8f/BMAcVgA"
    "oHv/x///P/gnAOKwAED3/o///3/wTwDEYQGA7v0f////4J8AiMMCAN37P/7//8E/ARCHBQC693/8//+DfwIgDgsAdO//+P//B/8EQBwW"
    "AOje//H//w/+CYA4LADQvf/j//8f/BMAcVgAoHv/Nw=="
)


def get(url: str, settings: FetchSettings = FAST, **kwargs) -> httpx.Response:
    async def run():
        async with Fetcher(settings, **kwargs) as fetcher:
            return await fetcher.get(url)

    return asyncio.run(run())


# --- compression ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "encoding, body",
    [
        ("br", BROTLI_BOMB),
        ("gzip, gzip", gzip.compress(gzip.compress(b"\0" * (64 << 20)))),  # 64 MB in 66 KB... then in 200 bytes
        ("zstd", b"(\xb5/\xfd\x00X\x00\x00"),
        ("compress", b"\x1f\x9d"),
    ],
)
def test_codings_we_cannot_inflate_under_the_cap_are_refused(httpserver: HTTPServer, encoding: str, body: bytes):
    httpserver.expect_request("/bomb").respond_with_data(body, content_type="text/html", headers={"Content-Encoding": encoding})
    with pytest.raises(FetchError, match=f"unsupported Content-Encoding {encoding}: "):
        get(httpserver.url_for("/bomb"))
    request, _ = httpserver.log[0]
    assert request.headers["Accept-Encoding"] == "gzip, deflate"  # we never ask for them


@pytest.mark.parametrize("wrap", [lambda b: gzip.compress(b), zlib.compress], ids=["gzip", "deflate"])
def test_compressed_pages_are_inflated(httpserver: HTTPServer, wrap):
    encoding = "gzip" if wrap is not zlib.compress else "deflate"
    httpserver.expect_request("/page").respond_with_data(wrap(PAGE), content_type="text/html", headers={"Content-Encoding": encoding})
    assert get(httpserver.url_for("/page")).content == PAGE


def test_a_deflate_bomb_stops_at_the_decoded_size_cap(httpserver: HTTPServer):
    httpserver.expect_request("/bomb").respond_with_data(
        zlib.compress(b"<p>" + b"a" * (50 << 20), 9), content_type="text/html", headers={"Content-Encoding": "deflate"})
    with pytest.raises(FetchError, match="page larger than 1 MB limit"):
        get(httpserver.url_for("/bomb"), FetchSettings(retries=0, max_bytes=1 << 20))


def test_a_corrupt_compressed_body_is_a_fetch_error(httpserver: HTTPServer):
    httpserver.expect_request("/bad").respond_with_data(b"\x1f\x8bnot gzip at all", content_type="text/html", headers={"Content-Encoding": "gzip"})
    with pytest.raises(FetchError, match="undecodable compressed body"):
        get(httpserver.url_for("/bad"))


# --- private addresses --------------------------------------------------------------------------


@pytest.fixture
def dns(monkeypatch: pytest.MonkeyPatch) -> Callable[[dict[str, str]], None]:
    """dns({name: address}): those names resolve so, for the guard and for connections alike."""
    real = socket.getaddrinfo

    def use(table: dict[str, str]) -> None:
        def getaddrinfo(host, port, *args, **kwargs):
            host = host.decode() if isinstance(host, bytes) else host  # anyio passes the IDNA bytes
            if host in table:
                family = socket.AF_INET6 if ":" in table[host] else socket.AF_INET
                return [(family, socket.SOCK_STREAM, 6, "", (table[host], port or 0))]
            return real(host, port, *args, **kwargs)

        monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
        _addresses.cache_clear()

    yield use
    _addresses.cache_clear()


@pytest.mark.parametrize(
    "target",
    ["http://internal.example/admin", "http://169.254.169.254/latest/meta-data/", "http://[::1]/", "http://2130706433/",
     "http://0x7f.0.0.1/", "http://127.1/", "http://[::ffff:127.0.0.1]/", "http://0.0.0.0/", "http://10.0.0.1/", "http://localhost/"],
)
def test_a_redirect_to_a_private_address_is_refused_before_it_is_requested(dns, target: str):
    dns({"public.example": "93.184.216.34", "internal.example": "127.0.0.1", "localhost": "127.0.0.1"})
    requested: list[str] = []

    def answer(request: httpx.Request) -> httpx.Response:
        requested.append(str(request.url))
        return httpx.Response(302, headers={"Location": target})

    with pytest.raises(FetchError, match=r"refused private address \S+ \(set allow_private_addresses to allow\)"):
        get("https://public.example/story", url_guard=refuse_private_address, transport=httpx.MockTransport(answer))
    assert requested == ["https://public.example/story"]


def test_a_run_refuses_a_name_that_resolves_to_loopback_unless_allowed(capsys, dns, site, config):
    dns({"news.example": "127.0.0.1"})
    feed = site.feed.replace("127.0.0.1", "news.example")
    entry = site.site_entry(feeds=[feed], sitemaps=[], domains=["news.example", "127.0.0.1"])

    code, _, err = cli(capsys, "run", "--config", config(entry, allow_private_addresses=False))
    assert code == 1
    assert f"refused private address 127.0.0.1 (set allow_private_addresses to allow): {feed}" in err
    assert site.hits == []

    code, _, err = cli(capsys, "run", "--config", config(entry, allow_private_addresses=True))
    assert code == 0, err
    assert "/feed.xml" in [hit.path for hit in site.hits] and "saved 8" in err


def test_the_command_line_fetches_a_loopback_url_as_asked(capsys, httpserver: HTTPServer, tmp_path: Path):
    httpserver.expect_request("/moved").respond_with_data("", status=302, headers={"Location": "/story"})
    httpserver.expect_request("/story").respond_with_data(PAGE, content_type="text/html; charset=utf-8")
    code, out, err = cli(capsys, "fetch", httpserver.url_for("/moved"))
    assert code == 0, err
    assert "harbour council voted" in out


# --- secrets ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, secret",
    [
        ("HTTP 404 Not Found: https://alice:s3cret@example.com/feed", "s3cret"),
        ("cannot open store postgresql://bob:hunter2@db.internal:5432/news: timeout", "hunter2"),
        ("ProxyError: http://proxyuser:pr0xy@10.0.0.1:3128 refused", "pr0xy"),
        ("headers {'Authorization': 'Bearer eyJhbGciOi.abc', 'Accept': '*/*'}", "eyJhbGciOi"),
        ("Cookie: session=abc123; theme=dark", "abc123"),
        ("set-cookie: sid=zzz999", "zzz999"),
        ("Proxy-Authorization: Basic dXNlcjpwYXNz", "dXNlcjpwYXNz"),
        ("timed out: https://example.com/feed?api_key=K3Y&page=2", "K3Y"),
        ("HTTP 403: https://example.com/x?access_token=T0K3N", "T0K3N"),
    ],
)
def test_redact_hides_credentials(text: str, secret: str):
    fuzz_case("secrets")
    assert secret not in redact(text) and "***" in redact(text)
    assert redact(redact(text)) == redact(text)


def test_redact_leaves_ordinary_text_alone():
    for text in ("HTTP 404 Not Found: https://example.com/news/a@b", "mail me at a@b.com", "no article text found"):
        assert redact(text) == text


def test_credentials_in_urls_do_not_reach_errors_or_the_store(capsys, httpserver: HTTPServer, tmp_path: Path, monkeypatch):
    httpserver.expect_request("/private").respond_with_data("no", status=401)
    url = httpserver.url_for("/private").replace("http://", "http://alice:s3cret@")
    with pytest.raises(FetchError) as info:
        get(url)
    assert "s3cret" not in str(info.value) and "alice" not in str(info.value)

    code, _, err = cli(capsys, "fetch", url)
    assert code == 3 and "s3cret" not in err and "***@" in err

    monkeypatch.setenv("HTTP_PROXY", "http://proxyuser:pr0xy@127.0.0.1:9")  # nothing listens on port 9
    monkeypatch.setenv("NO_PROXY", "")
    code, _, err = cli(capsys, "fetch", httpserver.url_for("/private"))
    assert code == 3 and "pr0xy" not in err, err

    with Store(f"sqlite:///{tmp_path / 'a.db'}") as store:
        store.record_failure("https://example.com/a", "HTTP 500: https://u:hunter2@example.com/a?token=abc", permanent=False)
        with store.engine.connect() as conn:
            reason = conn.exec_driver_sql("select reason from failures").scalar_one()
    assert "hunter2" not in reason and "abc" not in reason


def test_a_database_password_is_not_printed(capsys):
    with pytest.raises(StoreError) as info:
        Store("postgresql://bob:hunter2@127.0.0.1:9/news")
    assert "hunter2" not in str(info.value) and "***@127.0.0.1:9" in str(info.value)


# --- files --------------------------------------------------------------------------------------

TRICKY_NAMES = [
    "../../etc/passwd", "..\\..\\windows\\system32", "/etc/passwd", "C:\\Windows\\win.ini", "CON", "nul.txt", "com\u00b9",
    "LPT9", "\u202etxt.exe", "\uff0e\uff0e\uff0fescape", "\u2024\u2024/x", "\ufb01le", "a\x00b", "x" * 10_000,
    "\u200b\u200d", "\u0301\u0301", "\U0001f600" * 50, ".", "..", "~", "$HOME", "%2e%2e%2f", "\u2215etc\u2215passwd",
]


@pytest.mark.parametrize("name", TRICKY_NAMES)
def test_output_names_from_titles_urls_and_sites_stay_inside(tmp_path: Path, name: str):
    fuzz_case("names")
    out = tmp_path / "out"
    article = Article(url=f"https://example.com/{name}", title=name, text="Body.", published=name)
    for site in (name, None):
        for path in write_article(article, out, site):
            assert path.resolve().is_relative_to(out.resolve()) and path.exists()
            assert path.name.isascii() and len(path.name) <= 100
            assert path.parent.parent == out
            assert path.stem.split(".")[0].lower() not in {"con", "nul", "aux", "prn", "com1", "lpt9"}


def test_a_full_disk_is_one_clear_error_and_earlier_files_stay(capsys, httpserver: HTTPServer, tmp_path: Path, monkeypatch):
    httpserver.expect_request("/a").respond_with_data(PAGE, content_type="text/html; charset=utf-8")
    httpserver.expect_request("/b").respond_with_data(PAGE.replace(b"bridge", b"tunnel"), content_type="text/html; charset=utf-8")
    out = tmp_path / "out"
    assert cli(capsys, "fetch", httpserver.url_for("/a"), "--out", str(out))[0] == 0
    before = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    assert len(before) == 2

    real_fdopen = os.fdopen

    def full_disk(fd, *args, **kwargs):
        handle = real_fdopen(fd, *args, **kwargs)

        def write(data):
            raise OSError(errno.ENOSPC, "No space left on device")

        handle.write = write
        return handle

    monkeypatch.setattr(os, "fdopen", full_disk)
    code, out_text, err = cli(capsys, "fetch", httpserver.url_for("/b"), "--out", str(out))
    assert code == 5
    url = httpserver.url_for("/b")
    assert err.startswith(f"scraper: error: {url}: cannot write ") and err.endswith(": No space left on device\n") and err.count("\n") == 1
    assert {p: p.read_bytes() for p in out.rglob("*") if p.is_file()} == before  # nothing half-written, no temp files


def test_a_folder_in_the_way_is_a_clear_error(tmp_path: Path):
    article = Article(url="https://example.com/a", title="Same", text="Body.", published="2024-01-01")
    txt, _ = write_article(article, tmp_path)
    txt.unlink()
    txt.mkdir()
    paths = write_article(article, tmp_path)  # the name is taken by a folder: the article goes beside it
    assert all(p.is_file() for p in paths)


# --- caps on what a site can make a run do ------------------------------------------------------


@pytest.mark.usefixtures("bench_pages")
def test_a_sitemap_index_loop_and_fan_out_end(capsys, site: NewsSite, config):
    children = "".join(f"<sitemap><loc>{site.url(f'/fan/{i}.xml')}</loc></sitemap>" for i in range(50))
    site.extra["/loop/a.xml"] = (f"<sitemapindex><sitemap><loc>{site.url('/loop/b.xml')}</loc></sitemap>"
                                 f"<sitemap><loc>{site.url('/loop/a.xml')}</loc></sitemap>{children}</sitemapindex>".encode(), "application/xml")
    site.extra["/loop/b.xml"] = (f"<sitemapindex><sitemap><loc>{site.url('/loop/a.xml')}</loc></sitemap></sitemapindex>".encode(), "application/xml")
    for i in range(50):
        site.extra[f"/fan/{i}.xml"] = (f"<sitemapindex><sitemap><loc>{site.url('/loop/a.xml')}</loc></sitemap></sitemapindex>".encode(), "application/xml")

    code, _, err = cli(capsys, "run", "--config", config(site.site_entry(sitemaps=[site.url("/loop/a.xml")]), max_sitemaps_per_site=10))
    assert code == 0, err
    sitemap_hits = [hit.path for hit in site.hits if hit.path.startswith(("/loop/", "/fan/", "/sitemap"))]
    assert sitemap_hits.count("/loop/a.xml") == 1 and sitemap_hits.count("/loop/b.xml") == 1
    assert len(sitemap_hits) == 10  # robots.txt's sitemap index is not read: the cap is reached first
    assert "saved 8" in err


@pytest.mark.usefixtures("bench_pages")
def test_pages_per_run_are_capped(capsys, site: NewsSite, config, db):
    code, _, err = cli(capsys, "run", "--config", config(site.site_entry(), max_pages_per_site=3))
    assert code == 0, err
    assert len(site.article_hits()) == 3 and len(stored_urls(capsys, db)) == 3
    assert "new 3," in err and "saved 3," in err
