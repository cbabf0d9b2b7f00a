"""A run's life: stopped by SIGTERM or SIGINT, seen running or died in `scraper status`, and what it
did not take (capped, disallowed, skipped, dropped) counted instead of lost in silence."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import zlib
from collections import Counter
from pathlib import Path

import pytest
from pytest_httpserver import HTTPServer
from sqlalchemy import text
from werkzeug import Request, Response

from scraper.discover import MAX_SITEMAP_URLS, DiscoveryError, TruncatedXML, parse_feed, parse_sitemap
from scraper.run import STOP_GRACE
from scraper.store import Store

from .loopback_site import BILLION_LAUGHS, write_config
from .test_cli import run as cli
from .test_run import SETTINGS, db, make_httpserver  # noqa: F401 (fixtures: the store, the threaded server)

SCRAPER = str(Path(sys.executable).with_name("scraper"))
ARTICLES = 6


def article_html(n: int) -> str:
    paragraphs = "".join(
        f"<p>Story {n}, part {j}: the council of Millbrook voted {n + j} to 3 on the bridge plan after weeks "
        "of debate, and residents said they would watch closely what happens next.</p>"
        for j in range(5)
    )
    return f"<!DOCTYPE html><html lang='en'><head><title>Story {n}</title></head><body><article><h1>Story {n}</h1>{paragraphs}</article></body></html>"


class BlockingSite:
    """A feed of ARTICLES stories whose pages are held until `release` is set; `arrived` is set by the first article request."""

    def __init__(self, server: HTTPServer):
        self.server = server
        self.arrived = threading.Event()
        self.release = threading.Event()
        self.article_requests: Counter[str] = Counter()
        self._lock = threading.Lock()
        server.expect_request(re.compile("/.*")).respond_with_handler(self._handle)

    def urls(self) -> set[str]:
        return {self.server.url_for(f"/news/story-{n}.html") for n in range(ARTICLES)}

    def _handle(self, request: Request) -> Response:
        if request.path == "/robots.txt":
            return Response("User-agent: *\nAllow: /\n", content_type="text/plain")
        if request.path == "/feed.xml":
            items = "".join(f"<item><link>{url}</link></item>" for url in sorted(self.urls()))
            return Response(f"<rss><channel>{items}</channel></rss>", content_type="application/rss+xml")
        if match := re.fullmatch(r"/news/story-(\d+)\.html", request.path):
            with self._lock:
                self.article_requests[request.path] += 1
            self.arrived.set()
            self.release.wait(timeout=30)  # bounded: a test that forgets to release still ends
            return Response(article_html(int(match[1])), content_type="text/html; charset=utf-8")
        return Response("not found", status=404)


@pytest.fixture
def site(httpserver: HTTPServer):
    blocking = BlockingSite(httpserver)
    yield blocking
    blocking.release.set()


@pytest.fixture
def config(tmp_path: Path, db: str, site: BlockingSite) -> str:
    entry = {"name": "blocking", "domains": ["127.0.0.1"], "feeds": [site.server.url_for("/feed.xml")]}
    settings = {**SETTINGS, "db": db, "read_timeout": 30.0, "total_timeout": 60.0, "extract_workers": 1}
    return str(write_config(tmp_path / "sites.toml", settings, [entry]))


def scraper(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([SCRAPER, *args], cwd=cwd, capture_output=True, text=True, timeout=120,
                          env={**os.environ, "COLUMNS": "200"})  # rich wraps tables to the terminal width


def start_run(config: str, cwd: Path) -> subprocess.Popen:
    return subprocess.Popen([SCRAPER, "run", "--config", config, "--quiet"], cwd=cwd, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)


def wait_until_taken(pid: int, signum: int) -> None:
    """Until the process has taken the signal: one sent before that would merge with it (signals do not queue)."""
    mask = 1 << (signum - 1)
    while True:
        status = dict(line.split(":\t", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines())
        if not (int(status["SigPnd"], 16) | int(status["ShdPnd"], 16)) & mask:
            return


def run_states(db: str, cwd: Path) -> list[str]:
    """The state column of `scraper status`, newest run first."""
    shown = scraper("status", "--db", db, cwd=cwd)
    assert shown.returncode == 0, shown.stderr
    rows = [line for line in shown.stdout.splitlines() if line.startswith("│")]
    return [state for row in rows for state in re.findall(r"\b(running|finished|interrupted|died)\b", row)]


def stored_urls(db: str) -> Counter[str]:
    with Store(db) as store:
        return Counter(article.url for article in store.iter_articles())


def failures(db: str) -> int:
    with Store(db) as store, store.engine.connect() as conn:
        return conn.execute(text("SELECT count(*) FROM failures")).scalar_one()


def assert_next_run_finishes_the_job(site: BlockingSite, config: str, db: str, cwd: Path) -> None:
    site.release.set()
    rerun = scraper("run", "--config", config, "--quiet", cwd=cwd)
    assert (rerun.returncode, rerun.stderr) == (0, "")
    urls = stored_urls(db)
    assert set(urls) == site.urls() and set(urls.values()) == {1}
    assert run_states(db, cwd)[0] == "finished"


def test_sigterm_finishes_the_pages_in_hand_and_records_the_run_interrupted(site, config, db, tmp_path):
    process = start_run(config, tmp_path)
    try:
        assert site.arrived.wait(timeout=60), "no article was requested"
        assert run_states(db, tmp_path) == ["running"]
        process.send_signal(signal.SIGTERM)
        site.release.set()  # the pages in hand come in after the signal: they are saved, no new ones taken
        _, err = process.communicate(timeout=60)
    finally:
        process.kill()
    assert process.returncode == 143, err
    saved = len(stored_urls(db))
    assert err == f"scraper: error: interrupted by SIGTERM: {saved} articles saved; the next run carries on\n"
    assert 0 < saved < ARTICLES
    assert run_states(db, tmp_path) == ["interrupted"]
    assert_next_run_finishes_the_job(site, config, db, tmp_path)


def test_ctrl_c_reaching_every_process_of_the_run_loses_no_page(site, config, db, tmp_path):
    """At a terminal, Ctrl-C signals the whole process group: the extraction workers and their
    forkserver too, which may still be loading what extraction needs."""
    process = subprocess.Popen([SCRAPER, "run", "--config", config, "--quiet"], cwd=tmp_path, stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        assert site.arrived.wait(timeout=60), "no article was requested"  # the workers are starting now
        os.killpg(process.pid, signal.SIGINT)
        site.release.set()
        _, err = process.communicate(timeout=60)
    finally:
        process.kill()
    assert process.returncode == 130, err
    assert re.fullmatch(r"scraper: error: interrupted by SIGINT: \d articles saved; the next run carries on\n", err), err
    assert failures(db) == 0
    assert_next_run_finishes_the_job(site, config, db, tmp_path)


def test_a_second_sigint_stops_at_once_and_leaves_the_pages_for_the_next_run(site, config, db, tmp_path):
    process = start_run(config, tmp_path)
    try:
        assert site.arrived.wait(timeout=60), "no article was requested"
        process.send_signal(signal.SIGINT)
        wait_until_taken(process.pid, signal.SIGINT)
        process.send_signal(signal.SIGINT)  # the pages in hand are still held by the site
        try:
            _, err = process.communicate(timeout=STOP_GRACE)
        except subprocess.TimeoutExpired:
            pytest.fail("the second SIGINT did not stop the run at once")
    finally:
        process.kill()
    assert process.returncode == 130, err
    assert err == "scraper: error: interrupted by SIGINT: 0 articles saved; the next run carries on\n"
    assert run_states(db, tmp_path) == ["interrupted"]
    assert failures(db) == 0  # the pages cut off are not failures: the next run fetches them
    assert_next_run_finishes_the_job(site, config, db, tmp_path)


def test_a_run_shows_running_while_its_process_lives_and_died_once_it_is_gone(tmp_path):
    gone = subprocess.Popen(["true"])
    gone.wait()  # its pid belongs to no process now (until reused, long after)
    with Store(f"sqlite:///{tmp_path / 'articles.db'}") as store:
        run_id = store.start_run()
        assert store.last_runs(1)[0]["state"] == "running"
        with store.engine.begin() as conn:
            conn.execute(text("UPDATE runs SET pid = :pid WHERE id = :id"), {"pid": gone.pid, "id": run_id})
        assert store.last_runs(1)[0]["state"] == "died"


# --- truncated feeds and sitemaps ------------------------------------------------------------------

RSS_ITEMS = "".join(f"<item><title>Story {n}</title><link>https://ex.com/news/{n}</link></item>" for n in range(3))
ATOM_ENTRIES = "".join(f'<entry><title>Story {n}</title><link href="https://ex.com/news/{n}"/></entry>' for n in range(3))
URLSET = "".join(f"<url><loc>https://ex.com/news/{n}</loc></url>" for n in range(3))


def cut_inside_last(document: str, closing: str) -> bytes:
    """The document cut off inside its last `closing`-ended entry, as a dropped connection leaves it."""
    return document[: document.rindex(closing) - 12].encode()


@pytest.mark.parametrize(
    "document",
    [f"<rss><channel><title>News</title>{RSS_ITEMS}</channel></rss>", f'<feed xmlns="http://www.w3.org/2005/Atom">{ATOM_ENTRIES}</feed>'],
    ids=["rss", "atom"],
)
def test_a_truncated_feed_keeps_the_items_that_closed(document: str):
    closing = "</item>" if "<rss>" in document else "</entry>"
    with pytest.raises(TruncatedXML) as cut:
        parse_feed(cut_inside_last(document, closing), "https://ex.com/feed.xml")
    assert str(cut.value) == "truncated feed, kept 2 items: https://ex.com/feed.xml"
    assert [link.url for link in cut.value.partial] == ["https://ex.com/news/0", "https://ex.com/news/1"]
    assert [link.title for link in cut.value.partial] == ["Story 0", "Story 1"]


@pytest.mark.parametrize("packing", ["plain", "gzip"])
def test_a_truncated_sitemap_keeps_the_entries_that_closed(packing: str):
    document = f'<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">{URLSET}</urlset>'
    content = cut_inside_last(document, "</url>")
    if packing == "gzip":  # the gzip stream cut short where the bytes it has given end mid-entry
        compressor = zlib.compressobj(wbits=zlib.MAX_WBITS | 16)
        content = compressor.compress(content) + compressor.flush(zlib.Z_SYNC_FLUSH)
    with pytest.raises(TruncatedXML) as cut:
        parse_sitemap(content, "https://ex.com/sitemap.xml")
    assert str(cut.value) == "truncated sitemap, kept 2 items: https://ex.com/sitemap.xml"
    assert [link.url for link in cut.value.partial.links] == ["https://ex.com/news/0", "https://ex.com/news/1"]


@pytest.mark.parametrize("payload", [BILLION_LAUGHS, b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]><rss><channel><item><title>&x;</title>'])
def test_a_truncated_document_with_entity_declarations_is_still_refused(payload: bytes):
    for parse in (parse_feed, parse_sitemap):
        with pytest.raises(DiscoveryError) as refused:
            parse(payload[:-20], "https://ex.com/x.xml")
        assert str(refused.value) == "refused XML with entity declarations: https://ex.com/x.xml"


def test_a_sitemap_over_the_cap_says_how_many_it_dropped():
    urls = [f"https://ex.com/news/{n}" for n in range(MAX_SITEMAP_URLS + 7)]
    document = "<urlset>" + "".join(f"<url><loc>{url}</loc></url>" for url in urls) + "</urlset>"
    for content in (document.encode(), "\n".join(urls).encode()):
        links, _, dropped = parse_sitemap(content, "https://ex.com/sitemap.xml")
        assert (len(links), dropped) == (MAX_SITEMAP_URLS, 7)


# --- what a run did not take, counted -------------------------------------------------------------


@pytest.fixture
def varied_site(httpserver: HTTPServer):
    """A site whose sources list articles to take and URLs not to: off-pattern, foreign, disallowed,
    over a sitemap's cap (patched to 3 by the test), and a second feed cut off after its first item."""
    article = lambda n: httpserver.url_for(f"/news/story-{n}.html")  # noqa: E731
    feed = [article(0), article(1), httpserver.url_for("/about.html"), "https://elsewhere.example/news/story-9.html",
            httpserver.url_for("/news/private/story-8.html")]
    routes = {
        "/robots.txt": ("User-agent: *\nDisallow: /news/private/\n", "text/plain"),
        "/feed.xml": ("<rss><channel>" + "".join(f"<item><link>{u}</link></item>" for u in feed) + "</channel></rss>", "application/rss+xml"),
        "/cut.xml": (f"<rss><channel><item><link>{article(2)}</link></item><item><link>{article(7)}", "application/rss+xml"),
        "/sitemap.xml": ("<urlset>" + "".join(f"<url><loc>{article(n)}</loc></url>" for n in (0, 3, 4, 6)) + "</urlset>", "application/xml"),
    }

    def handle(request: Request) -> Response:
        if match := re.fullmatch(r"/news/story-(\d+)\.html", request.path):
            return Response(article_html(int(match[1])), content_type="text/html; charset=utf-8")
        body, kind = routes.get(request.path, ("not found", "text/plain"))
        return Response(body, status=200 if request.path in routes else 404, content_type=kind)

    httpserver.expect_request(re.compile("/.*")).respond_with_handler(handle)
    return {"name": "varied", "domains": ["127.0.0.1"], "article_pattern": "/news/",
            "feeds": [httpserver.url_for("/feed.xml"), httpserver.url_for("/cut.xml")], "sitemaps": [httpserver.url_for("/sitemap.xml")]}


@pytest.mark.parametrize("log_format", ["text", "json"])
def test_urls_a_run_does_not_take_are_counted_in_its_summary_and_status(capsys, monkeypatch, varied_site, db, tmp_path, log_format):
    monkeypatch.setattr("scraper.discover.MAX_SITEMAP_URLS", 3)
    config = str(write_config(tmp_path / "sites.toml", {**SETTINGS, "db": db}, [varied_site]))

    code, _, err = cli(capsys, "run", "--config", config, "--limit", "1", "--log-format", log_format)
    assert code == 1, err  # the cut feed is an error
    cut = f"truncated feed, kept 1 items: {varied_site['feeds'][1]}"
    # stories 0-4 and the private one; /about.html and the foreign story skipped; story 6 over the cap
    counts = {"discovered": 6, "new": 1, "fetched": 1, "saved": 1, "failed": 1, "capped": 4, "disallowed": 1, "skipped": 2, "dropped": 1}
    if log_format == "json":
        assert [json.loads(line) for line in err.splitlines()] == [{"event": "site", "site": "varied", **counts, "errors": [cut]}]
    else:
        assert err.splitlines() == [
            "varied: discovered 6, new 1, fetched 1, saved 1, failed 1, capped 4, disallowed 1, skipped 2, dropped 1",
            f"varied: error: {cut}",
        ]
    monkeypatch.setenv("COLUMNS", "250")
    code, out, err = cli(capsys, "status", "--db", db)
    assert code == 0, err
    assert "capped 4, disallowed 1, skipped 2, dropped 1" in out
