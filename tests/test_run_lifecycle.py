"""A run's life: stopped by SIGTERM or SIGINT, seen running or died in `scraper status`, and what it
did not take (capped, disallowed, skipped, dropped) counted instead of lost in silence."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
from collections import Counter
from pathlib import Path

import pytest
from pytest_httpserver import HTTPServer
from sqlalchemy import text
from werkzeug import Request, Response

from scraper.run import STOP_GRACE
from scraper.store import Store

from .loopback_site import write_config
from .test_run import SETTINGS, make_httpserver  # noqa: F401 (the threaded server fixture)

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
def db(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'articles.db'}"


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
