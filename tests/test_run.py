"""`scraper run` end to end against news sites served on 127.0.0.1 from real benchmark pages."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import threading
import time
from collections import Counter
from pathlib import Path

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from scraper.store import Store

from .conftest import ROOT
from .loopback_site import BILLION_LAUGHS, MALFORMED_FEED, RSS, NewsSite, write_config
from .test_cli import run as cli

pytestmark = pytest.mark.usefixtures("bench_pages")  # needs ../shared: see conftest

SETTINGS = {"delay": 0.01, "allow_private_addresses": True, "connect_timeout": 2.0, "read_timeout": 2.0, "total_timeout": 10.0}


@pytest.fixture(scope="module")
def make_httpserver():
    """The `httpserver` fixture on 127.0.0.1, threaded so that a held request does not stall the others."""
    server = HTTPServer(host="127.0.0.1", port=0, threaded=True)
    server.start()
    yield server
    server.clear()
    server.stop()


@pytest.fixture
def site(httpserver: HTTPServer):
    news = NewsSite(httpserver)
    yield news
    news.release.set()


@pytest.fixture
def db(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'articles.db'}"


@pytest.fixture
def config(tmp_path: Path, db: str):
    """config(*site entries, **settings) -> path of a sites.toml using the test's database."""
    return lambda *sites, **settings: str(write_config(tmp_path / "sites.toml", {**SETTINGS, "db": db, **settings}, list(sites)))


@pytest.fixture
def other_server():
    """other_server(handler) -> another running server on 127.0.0.1 (another host, as far as politeness goes)."""
    servers: list[HTTPServer] = []
    released = threading.Event()

    def start(handler) -> HTTPServer:
        server = HTTPServer(host="127.0.0.1", port=0, threaded=True)
        server.expect_request(re.compile("/.*")).respond_with_handler(lambda request: handler(request, released))
        server.start()
        servers.append(server)
        return server

    yield start
    released.set()
    for server in servers:
        server.stop()


def stored_urls(capsys, db: str) -> list[str]:
    code, out, err = cli(capsys, "export", "--format", "jsonl", "--db", db)
    assert code == 0, err
    return [json.loads(line)["url"] for line in out.splitlines()]


def status(capsys, monkeypatch, db: str) -> str:
    monkeypatch.setenv("COLUMNS", "200")  # rich wraps the table to the terminal width
    code, out, err = cli(capsys, "status", "--db", db)
    assert code == 0, err
    return out


def test_runs_save_each_allowed_article_once_then_only_new_ones(capsys, monkeypatch, site, config, db):
    cfg = config(site.site_entry())

    code, _, err = cli(capsys, "run", "--config", cfg)
    assert code == 0, err
    assert "loopback: discovered 9, new 8, fetched 8, saved 8, failed 0" in err
    assert sorted(stored_urls(capsys, db)) == sorted(site.allowed_urls())
    assert sorted(hit.path for hit in site.article_hits()) == sorted(p.path for p in site.published)
    assert site.hits[0].path == "/robots.txt"  # before anything else on the host
    assert not [hit for hit in site.hits if hit.path.startswith("/news/private/")]

    before = len(site.article_hits())
    code, _, err = cli(capsys, "run", "--config", cfg)
    assert code == 0, err
    assert len(site.article_hits()) == before, "a second run fetched article pages again"
    for path in ("/feed.xml", "/sitemaps/articles.xml.gz", "/sitemaps/news.xml"):
        assert site.status_of(path) == [200, 304], path
    assert "loopback: discovered 0, new 0, fetched 0, saved 0, failed 0" in err

    site.publish(*site.later)
    code, _, err = cli(capsys, "run", "--config", cfg)
    assert code == 0, err
    assert sorted(hit.path for hit in site.article_hits()[before:]) == sorted(p.path for p in site.later)
    assert "new 2, fetched 2, saved 2, failed 0" in err
    urls = stored_urls(capsys, db)
    assert len(urls) == 10 and set(urls) == site.allowed_urls()

    table = status(capsys, monkeypatch, db)
    assert "last runs (10 articles stored)" in table
    rows = [line for line in table.splitlines() if "loopback" in line]
    assert len(rows) == 3 and all(" yes " in row for row in rows)


def test_an_article_only_a_child_sitemap_lists_is_found_though_the_index_is_unchanged(capsys, site, config, db):
    cfg = config(site.site_entry())
    assert cli(capsys, "run", "--config", cfg)[0] == 0
    site.publish(site.later[0], in_feed=False)  # the feed and the index stay as they were

    code, _, err = cli(capsys, "run", "--config", cfg)
    assert code == 0, err
    assert site.status_of("/feed.xml") == [200, 304]
    assert site.url(site.later[0].path) in stored_urls(capsys, db)


def test_robots_txt_is_read_before_any_source_on_its_host(capsys, site, config):
    site.extra["/news/private/feed.xml"] = (b"<rss><channel></channel></rss>", RSS)
    cfg = config(site.site_entry(feeds=[site.feed, site.url("/news/private/feed.xml")]))

    code, _, err = cli(capsys, "run", "--config", cfg)
    assert code == 1
    assert f"loopback: error: disallowed by robots.txt: {site.url('/news/private/feed.xml')}" in err.splitlines()
    assert site.hits[0].path == "/robots.txt"
    assert not [hit for hit in site.hits if hit.path.startswith("/news/private/")]
    assert "saved 8" in err


def test_a_throttled_site_and_a_stalled_site_do_not_stop_a_good_one(capsys, site, config, db, other_server):
    def throttled(request: Request, released: threading.Event) -> Response:
        if request.path == "/robots.txt":
            return Response("", status=404)
        return Response("slow down", status=429, headers={"Retry-After": "1"})

    def stalled(request: Request, released: threading.Event) -> Response:
        if request.path == "/feed.xml":
            link = request.host_url + "news/2019/11/stalled.html"
            return Response(f"<rss><channel><item><link>{link}</link></item></channel></rss>", content_type=RSS)
        if request.path.startswith("/news/"):
            released.wait(timeout=30)  # longer than the run's read timeout; set when the test ends
        return Response("", status=404)

    busy, slow = other_server(throttled), other_server(stalled)
    cfg = config(
        site.site_entry(),
        {"name": "throttled", "domains": ["127.0.0.1"], "feeds": [busy.url_for("/feed.xml")]},
        {"name": "stalled", "domains": ["127.0.0.1"], "feeds": [slow.url_for("/feed.xml")]},
        read_timeout=0.3,
    )

    code, _, err = cli(capsys, "run", "--config", cfg)
    assert code == 1
    assert len(stored_urls(capsys, db)) == 8
    lines = err.splitlines()
    assert "loopback: discovered 9, new 8, fetched 8, saved 8, failed 0, disallowed 1" in lines
    assert f"throttled: error: HTTP 429 Too Many Requests after 4 attempts: {busy.url_for('/feed.xml')}" in lines
    assert f"stalled: error: timed out after 4 attempts: {slow.url_for('/news/2019/11/stalled.html')}" in lines
    assert "Traceback" not in err


def test_a_malformed_feed_and_an_xml_bomb_fail_alone(capsys, site, config, db):
    site.extra["/feeds/broken.xml"] = (MALFORMED_FEED, RSS)
    site.extra["/feeds/bomb.xml"] = (BILLION_LAUGHS, RSS)
    cfg = config(site.site_entry(feeds=[site.feed, site.url("/feeds/broken.xml"), site.url("/feeds/bomb.xml")]))

    code, _, err = cli(capsys, "run", "--config", cfg)
    assert code == 1
    lines = err.splitlines()
    assert "loopback: discovered 9, new 8, fetched 8, saved 8, failed 2, disallowed 1" in lines
    assert any(line.startswith(f"loopback: error: malformed feed {site.url('/feeds/broken.xml')}: ") for line in lines), err
    assert f"loopback: error: refused XML with entity declarations: {site.url('/feeds/bomb.xml')}" in lines
    assert len(stored_urls(capsys, db)) == 8


def test_private_addresses_are_refused_unless_allowed(capsys, site, config):
    cfg = config(site.site_entry(), allow_private_addresses=False)

    code, _, err = cli(capsys, "run", "--config", cfg)
    assert code == 1
    assert f"loopback: error: refused private address 127.0.0.1 (set allow_private_addresses to allow): {site.feed}" in err
    assert site.hits == []


def test_a_second_concurrent_run_exits_75(capsys, site, config, tmp_path, db):
    cfg = config(site.site_entry())
    with Store(db) as store, store.run_lock():
        code, _, err = cli(capsys, "run", "--config", cfg)
    assert code == 75
    assert err == f"scraper: error: another run holds the lock {tmp_path / 'articles.db.lock'}; exiting\n"
    assert site.hits == []


def test_a_run_killed_mid_way_is_finished_by_the_next_without_duplicates(capsys, monkeypatch, site, config, db, tmp_path):
    site.hold_after = 3  # later article requests hang until released: the run is mid-way when killed
    cfg = config(site.site_entry(), read_timeout=30.0, total_timeout=60.0)
    process = subprocess.Popen([ROOT / ".venv" / "bin" / "scraper", "run", "--config", cfg], cwd=tmp_path,
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 30
        while saved_count(db) == 0:
            try:
                process.wait(timeout=0.05)  # the polling interval; a run that ends here has gone wrong
            except subprocess.TimeoutExpired:
                assert time.monotonic() < deadline, "the run saved nothing in 30 s"
            else:
                pytest.fail(f"the run ended before it could be killed: {process.stderr.read().decode()}")
        os.kill(process.pid, signal.SIGKILL)
    finally:
        process.kill()
        process.wait(timeout=10)
        process.stderr.close()
    assert process.returncode == -signal.SIGKILL
    assert 0 < saved_count(db) < 8
    site.release.set()

    code, _, err = cli(capsys, "run", "--config", cfg)
    assert code == 0, err
    urls = Counter(stored_urls(capsys, db))
    assert set(urls) == site.allowed_urls() and set(urls.values()) == {1}
    assert [line for line in status(capsys, monkeypatch, db).splitlines() if " died " in line]  # never finished


def saved_count(db: str) -> int:
    store = Store(db)
    try:
        return store.count()
    finally:
        store.close()


def test_out_dir_setting_writes_each_saved_article_as_files(capsys, site, config, tmp_path):
    out = tmp_path / "articles"
    code, _, err = cli(capsys, "run", "--config", config(site.site_entry(), out_dir=str(out)))
    assert code == 0, err
    texts = sorted((out / "loopback").glob("*.txt"))
    assert len(texts) == 8 and len(list((out / "loopback").glob("*.json"))) == 8
    assert all(path.read_text().strip() for path in texts)


def test_requests_to_one_host_leave_a_full_delay_apart_even_from_a_busy_event_loop(httpserver: HTTPServer, monkeypatch, tmp_path):
    """Gaps are measured where they are made: when each request's headers were written."""
    import asyncio

    from scraper.config import Config, Settings
    from scraper.run import Crawler, Turn, fetcher_for

    httpserver.expect_request(re.compile("/page/.*")).respond_with_data("<html><body>x</body></html>", content_type="text/html")
    httpserver.expect_request("/robots.txt").respond_with_data("User-agent: *\nAllow: /\n")
    delay, sent = 0.1, []
    real_sent = Turn.sent
    monkeypatch.setattr(Turn, "sent", lambda turn: (sent.append(time.monotonic()), real_sent(turn)))
    config = Config(settings=Settings(delay=delay, per_host_concurrency=2, allow_private_addresses=True), sites=[])

    store = Store(f"sqlite:///{tmp_path / 'robots.db'}")

    async def crawl() -> None:
        async def hog() -> None:  # a loop kept busy: requests cannot leave the moment their turn comes
            while True:
                time.sleep(0.03)
                await asyncio.sleep(0.001)

        busy = asyncio.create_task(hog())
        async with fetcher_for(config.settings) as fetcher:
            crawler = Crawler(config, fetcher, store)
            await asyncio.gather(*(crawler.get(httpserver.url_for(f"/page/{n}"), page=True) for n in range(8)))
        busy.cancel()

    asyncio.run(crawl())
    assert len(sent) == 9  # robots.txt and eight pages
    gaps = [b - a for a, b in zip(sent, sent[1:])]
    assert min(gaps) >= delay - 0.001, gaps


def test_pages_waiting_for_extraction_are_bounded(httpserver: HTTPServer, tmp_path):
    """Crawler.page holds a place from the host's turn until the page is dealt with: however many
    pages are due, no more are downloaded than there are places."""
    import asyncio

    from scraper.config import Config, Settings
    from scraper.run import Crawler, fetcher_for

    places, pages = 2, 8
    served, done, overflow = [], [], []

    def serve(request: Request) -> Response:
        served.append(request.path)
        if len(served) - len(done) > places:
            overflow.append(request.path)
        return Response("<html><body>x</body></html>", content_type="text/html")

    httpserver.expect_request(re.compile("/page/.*")).respond_with_handler(serve)
    httpserver.expect_request("/robots.txt").respond_with_data("User-agent: *\nAllow: /\n")
    config = Config(settings=Settings(delay=0.001, per_host_concurrency=4, allow_private_addresses=True), sites=[])
    store = Store(f"sqlite:///{tmp_path / 'robots.db'}")

    async def crawl() -> None:
        hold = asyncio.Semaphore(places)
        async with fetcher_for(config.settings) as fetcher:
            crawler = Crawler(config, fetcher, store)

            async def take(n: int) -> None:
                async with crawler.page(httpserver.url_for(f"/page/{n}"), hold):
                    await asyncio.sleep(0.01)  # extraction, while the other takers' turns come
                    done.append(n)  # before the place is given back: a request after it may count it

            await asyncio.gather(*(take(n) for n in range(pages)))
        for _ in range(places):  # every place was given back
            assert not hold.locked()
            await hold.acquire()

    asyncio.run(crawl())
    assert (len(served), len(done), overflow) == (pages, pages, [])


def test_a_page_is_let_go_before_its_article_waits_to_be_written(monkeypatch):
    """Articles are written one at a time and may wait their turn: their downloaded pages must not
    wait in memory with them."""
    import asyncio
    import weakref
    from contextlib import asynccontextmanager

    from scraper.article import Article
    from scraper.config import Config, Settings, Site
    from scraper.page import Response as Page
    from scraper.run import Runner, SiteStats

    pages: list[weakref.ref] = []

    class Crawler:
        @asynccontextmanager
        async def page(self, url: str, hold: object):
            page = Page(url, url, 200, {}, b"<html><body><p>Text</p></body></html>", "2026-11-29T00:00:00Z")
            pages.append(weakref.ref(page))
            yield page

    class Pool:
        backlog = None

        async def extract(self, response: Page, **options: object) -> Article:
            return Article(url=response.url, text="Text")

    page_alive_at_write = []
    monkeypatch.setattr(Runner, "_keep", lambda self, article, site: page_alive_at_write.append(pages[0]() is not None))
    runner = Runner(Config(settings=Settings(), sites=[]), store=None)
    asyncio.run(runner.article("https://example.com/a", Site("a"), Crawler(), Pool(), frozenset(), SiteStats()))
    assert page_alive_at_write == [False]
