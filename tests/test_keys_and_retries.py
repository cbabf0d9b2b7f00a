"""Issue #12, the store's part: which canonical URL keys an article, which failures are tried again
and when, one run at a time per store (SQLite or PostgreSQL), and what `scraper status` shows."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Response

from scraper.article import Article
from scraper.errors import FetchError, LockedError, NotArticleError, StoreError
from scraper.extract_pool import ExtractorFailed
from scraper.run import ArticleFailed, Disallowed
from scraper.store import SaveResult, Store

from .loopback_site import write_config

SCRAPER = Path(sys.executable).with_name("scraper")
T0 = datetime(2026, 1, 1, 12, 0, tzinfo=timezone.utc)
HOUR = timedelta(hours=1)


def scraper(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([SCRAPER, *args], cwd=cwd, capture_output=True, text=True, timeout=120,
                          env={**os.environ, "COLUMNS": "80"})


@pytest.fixture
def store(tmp_path):
    with Store(f"sqlite:///{tmp_path / 'store.db'}") as s:
        yield s


@pytest.fixture
def pg(pg_database: str) -> Iterator[Store]:
    """A PostgreSQL store in a database of its own."""
    with Store(pg_database) as store:
        yield store


def story(n: int, canonical: str | None, url: str | None = None) -> Article:
    return Article(url=url or f"https://example.com/news/2024/story-{n}", canonical_url=canonical,
                   title=f"Story {n}", text=f"The text of story {n}.\nIts second paragraph.")


def stored(store: Store) -> dict[str, str]:
    return {a.url: a.title for a in store.iter_articles()}


# --- 1. a canonical URL keys an article only when it can be that article's ------------------------

@pytest.mark.parametrize("canonical", [
    "https://example.com/",  # the home page, named by every page of a template
    "https://www.example.com/news/",  # a section page
    "https://example.com/tag/politics",  # a tag page
    "https://other.example.net/news/2024/some-story",  # another site's page
])
def test_a_canonical_that_cannot_be_the_article_does_not_merge_stories(store, canonical):
    results = [store.save(story(n, canonical)) for n in (1, 2, 3)]
    assert results == [SaveResult.INSERTED] * 3
    assert stored(store) == {f"https://example.com/news/2024/story-{n}": f"Story {n}" for n in (1, 2, 3)}


def test_an_article_like_canonical_shared_by_two_stories_keeps_both(store):
    shared = "https://example.com/news/2024/story-1"
    assert store.save(story(1, shared)) is SaveResult.INSERTED
    assert store.save(story(2, shared)) is SaveResult.INSERTED
    assert store.save(story(3, shared)) is SaveResult.INSERTED
    assert stored(store) == {f"https://example.com/news/2024/story-{n}": f"Story {n}" for n in (1, 2, 3)}
    assert store.get(shared).title == "Story 1"


def test_a_page_named_canonical_by_another_story_still_gets_its_own_row(store):
    real = "https://example.com/news/2024/real-story"
    assert store.save(story(1, real)) is SaveResult.INSERTED  # story 1 wrongly names the real story's address
    assert store.save(story(2, real, url=real)) is SaveResult.INSERTED  # then the real story arrives
    assert stored(store) == {"https://example.com/news/2024/story-1": "Story 1", real: "Story 2"}
    assert store.get(real).title == "Story 2"


def test_a_real_canonical_still_dedupes_one_story_under_two_urls(store):
    canonical = "https://example.com/news/2024/story-1"
    assert store.save(story(1, canonical, url=canonical + "?from=rss")) is SaveResult.INSERTED
    assert store.save(story(1, canonical)) is SaveResult.DUPLICATE
    assert store.save(story(1, canonical, url=canonical + "?from=home")) is SaveResult.DUPLICATE
    assert store.count() == 1 and store.known_urls([canonical]) == {canonical}


def test_a_site_canonical_on_another_of_its_domains_is_trusted(store):
    canonical = "https://example.org/news/2024/story-1"
    assert store.save(story(1, canonical), domains=("example.com", "example.org")) is SaveResult.INSERTED
    assert store.save(story(1, canonical, url="https://example.com/amp/story-1"),
                      domains=("example.com", "example.org")) is SaveResult.DUPLICATE
    assert store.count() == 1


def test_saving_the_same_page_again_changes_nothing_and_is_not_counted(store):
    assert store.save(story(1, None)) is SaveResult.INSERTED
    assert store.save(story(1, None)) is SaveResult.UNCHANGED


# --- end to end: `scraper run` against a site on 127.0.0.1 ---------------------------------------

def page(n: int, canonical: str) -> str:
    paragraphs = "".join(
        f"<p>Story {n}, paragraph {i}: the council of town number {n} met on Tuesday to discuss the new bridge,"
        " the budget for its schools and a long list of other matters that residents had raised in letters.</p>"
        for i in range(6))
    return (f"<html><head><title>Story {n}</title><link rel='canonical' href='{canonical}'></head>"
            f"<body><article><h1>Story {n}</h1>{paragraphs}</article></body></html>")


class Site:
    """Article pages and a feed listing them, on 127.0.0.1; `failing` paths answer with that status."""

    def __init__(self, server: HTTPServer):
        self.server = server
        self.pages: dict[str, str] = {}
        self.listed: list[str] = []  # feed links, query strings allowed
        self.failing: dict[str, int] = {}
        self.hits: list[str] = []
        server.expect_request("/feed.xml").respond_with_handler(lambda _: Response(self.feed(), content_type="application/rss+xml"))
        server.expect_request("/robots.txt").respond_with_data("", status=404)
        server.expect_request(re_any()).respond_with_handler(self.respond)

    def url(self, path: str) -> str:
        return self.server.url_for(path)

    def add(self, path: str, html: str, *, listed_as: tuple[str, ...] = ()) -> None:
        self.pages[path] = html
        self.listed.extend(listed_as or (path,))

    def feed(self) -> str:
        items = "".join(f"<item><title>{p}</title><link>{self.url(p).replace('&', '&amp;')}</link></item>" for p in self.listed)
        return f"<?xml version='1.0'?><rss version='2.0'><channel><title>T</title>{items}</channel></rss>"

    def respond(self, request) -> Response:
        self.hits.append(request.path)
        if request.path in self.failing:
            return Response("no", status=self.failing[request.path])
        if request.path in self.pages:
            return Response(self.pages[request.path], content_type="text/html; charset=utf-8")
        return Response("not found", status=404)


def re_any():
    import re

    return re.compile("/.*")


@pytest.fixture
def site(httpserver: HTTPServer) -> Site:
    return Site(httpserver)


def sites_toml(tmp_path: Path, site: Site, db: str, **settings) -> str:
    base = {"delay": 0.0, "allow_private_addresses": True, "connect_timeout": 2.0, "read_timeout": 2.0, "db": db}
    return str(write_config(tmp_path / "sites.toml", {**base, **settings}, [{"name": "loop", "feeds": [site.url("/feed.xml")]}]))


def test_a_run_keeps_stories_apart_that_name_a_canonical_not_theirs(tmp_path, site):
    home, one = site.url("/"), site.url("/news/story-one.html")
    site.add("/news/story-one.html", page(1, home))
    site.add("/news/story-two.html", page(2, home))
    site.add("/news/story-three.html", page(3, "https://other.example.net/news/2024/elsewhere"))
    site.add("/news/story-four.html", page(4, site.url("/news/")))
    site.add("/news/story-five.html", page(5, one))  # an article-like canonical shared by two other stories
    site.add("/news/story-six.html", page(6, one))
    seven = "/news/story-seven.html"
    site.add(seven, page(7, site.url(seven)), listed_as=(seven + "?from=rss", seven))  # one story, two URLs
    db = f"sqlite:///{tmp_path / 'articles.db'}"

    done = scraper("run", "--config", sites_toml(tmp_path, site, db))
    assert done.returncode == 0, done.stderr
    assert "loop: discovered 8, new 8, fetched 8, saved 7, failed 0" in done.stderr
    with Store(db) as store:
        rows = {a.url.split("?")[0].rsplit("/", 1)[1]: a for a in store.iter_articles()}
    assert sorted(rows) == sorted(f"story-{n}.html" for n in ("one", "two", "three", "four", "five", "six", "seven"))
    for name, article in rows.items():  # each row holds its own story's text
        assert article.title == f"Story {['one', 'two', 'three', 'four', 'five', 'six', 'seven'].index(name[6:-5]) + 1}"


# --- 2. transient failures are tried again, with growing waits; definite answers are final ----------

@pytest.mark.parametrize("cause, final", [
    (ExtractorFailed("extraction took longer than 30 s, cut off: u"), False),
    (FetchError("HTTP 503 after 4 attempts", status=503), False),
    (FetchError("connection refused after 4 attempts", status=None), False),
    (FetchError("HTTP 408", status=408), False),
    (FetchError("HTTP 429", status=429), False),
    (StoreError("cannot write out/a.txt: Permission denied"), False),
    (RuntimeError("a bug"), False),
    (FetchError("HTTP 404", status=404), True),
    (FetchError("HTTP 410", status=410), True),
    (FetchError("HTTP 403", status=403), True),
    (NotArticleError("not HTML: application/pdf"), True),
    (Disallowed("disallowed by robots.txt: u"), True),
])
def test_only_definite_answers_are_final(cause, final):
    assert ArticleFailed("https://example.com/a", cause).permanent is final


def test_a_failed_url_is_tried_again_after_growing_waits_then_left_failed(store):
    url = "https://example.com/news/2024/flaky"

    def fail(at: datetime) -> None:
        store.record_failure(url, "HTTP 503", permanent=False, site="ex", now=at)

    def waiting(at: datetime) -> bool:
        blocked = store.failed_urls([url], now=at) == {url}
        assert blocked is (url not in store.due_failures("ex", now=at))
        return blocked

    fail(T0)
    assert waiting(T0 + 59 * timedelta(minutes=1)) and not waiting(T0 + HOUR)
    fail(T0 + HOUR)
    assert waiting(T0 + 6 * HOUR) and not waiting(T0 + 7 * HOUR)
    fail(T0 + 7 * HOUR)
    assert waiting(T0 + 30 * HOUR) and not waiting(T0 + 31 * HOUR)
    fail(T0 + 31 * HOUR)  # the retries are used up
    assert waiting(T0 + 1000 * HOUR)
    total, rows = store.list_failures(10)
    assert total == 1 and rows[0]["attempts"] == 4 and rows[0]["next_at"] is None and rows[0]["site"] == "ex"

    assert store.retry_failures(site="other") == 0
    assert store.retry_failures(site="ex") == 1  # `scraper retry`
    assert not waiting(T0 + 31 * HOUR)
    store.save(Article(url=url, title="Flaky", text="It came back."))  # a stored article is failed no more
    assert store.list_failures(10) == (0, [])


def test_a_definite_answer_is_final_at_once(store):
    store.record_failure("https://example.com/gone", "HTTP 404", permanent=True, site="ex", now=T0)
    assert store.failed_urls(["https://example.com/gone"], now=T0 + 1000 * HOUR) == {"https://example.com/gone"}
    assert store.due_failures("ex", now=T0 + 1000 * HOUR) == []


def test_files_that_could_not_be_written_are_written_by_a_later_run_without_fetching_again(tmp_path, site):
    site.add("/news/story-one.html", page(1, site.url("/news/story-one.html")))
    site.add("/news/story-two.html", page(2, site.url("/news/story-two.html")))
    site.add("/news/gone-story.html", "")
    site.failing["/news/gone-story.html"] = 404
    out = tmp_path / "out"
    out.mkdir()
    (out / "loop").write_text("a file where the site's folder should be")
    db = f"sqlite:///{tmp_path / 'articles.db'}"
    cfg = sites_toml(tmp_path, site, db, out_dir=str(out))

    first = scraper("run", "--config", cfg)
    assert first.returncode == 1
    assert "loop: discovered 3, new 3, fetched 2, saved 0, failed 3" in first.stderr
    with Store(db) as store:
        assert store.count() == 2  # saved; only their files are missing
    listed = scraper("status", "--config", cfg, "--json")
    failures = {f["url"].rsplit("/", 1)[1]: f for f in json.loads(listed.stdout)["failures"]}
    assert failures["gone-story.html"]["next_at"] is None and "404" in failures["gone-story.html"]["reason"]
    assert failures["story-one.html"]["next_at"] > failures["story-one.html"]["last_at"]
    assert failures["story-one.html"]["reason"].startswith("cannot write ")

    (out / "loop").unlink()
    fetched = len(site.hits)
    assert scraper("run", "--config", cfg).returncode == 0  # their next try has not come
    assert not list(out.glob("loop/*.txt")) and len(site.hits) == fetched

    unknown = scraper("retry", "--config", cfg, "--site", "nope")
    assert unknown.returncode == 2 and unknown.stderr == f"scraper: error: unknown site 'nope' (not in {cfg})\n"
    again = scraper("retry", "--config", cfg, "--site", "loop", site.url("/news/story-one.html"), site.url("/news/story-two.html"))
    assert again.returncode == 0 and again.stderr == "2 failed URLs will be tried on the next run\n"
    done = scraper("run", "--config", cfg)
    assert done.returncode == 0, done.stderr
    assert "loop: discovered 3, new 2, fetched 0, saved 0, failed 0" in done.stderr
    assert len(list(out.glob("loop/*.txt"))) == 2 and len(site.hits) == fetched  # from the store, not fetched
    assert [f["url"] for f in json.loads(scraper("status", "--config", cfg, "--json").stdout)["failures"]] == [
        site.url("/news/gone-story.html")]


def test_a_run_tries_a_failed_article_again_once_its_wait_is_over(tmp_path, site, monkeypatch):
    from scraper.config import load_config
    from scraper.run import run

    clock = [T0]
    monkeypatch.setattr("scraper.store._utcnow", lambda: clock[0])
    site.add("/news/story-one.html", page(1, site.url("/news/story-one.html")))
    site.failing["/news/story-one.html"] = 403  # refused, then
    site.add("/news/story-two.html", page(2, site.url("/news/story-two.html")))
    site.failing["/news/story-two.html"] = 400
    db = f"sqlite:///{tmp_path / 'articles.db'}"
    config = load_config(Path(sites_toml(tmp_path, site, db, retry_attempts=2)))

    def run_at(moment: datetime) -> dict:
        clock[0] = moment
        with Store(db) as store:
            return vars(run(config, store, sites=config.sites, limit=None)[1]["loop"])

    with Store(db) as store:  # story one failed before for a passing reason (a time-out, say)
        store.record_failure(site.url("/news/story-one.html"), "timed out", permanent=False, site="loop", now=T0)
    assert run_at(T0)["failed"] == 1  # story two: a definite answer
    del site.failing["/news/story-one.html"], site.failing["/news/story-two.html"]
    assert run_at(T0 + 30 * timedelta(minutes=1))["fetched"] == 0  # story one waits, story two is final
    assert run_at(T0 + HOUR)["saved"] == 1
    with Store(db) as store:
        assert [a.title for a in store.iter_articles()] == ["Story 1"]


# --- 3. one run at a time per store, from any folder -------------------------------------------------

def test_the_run_lock_of_a_postgresql_store_holds_across_connections(pg_database):
    first, second = Store(pg_database), Store(pg_database)
    try:
        with first.run_lock():
            with pytest.raises(LockedError, match="another run holds the lock on postgresql"):
                with second.run_lock():
                    pass
        with second.run_lock():  # released with the first run
            pass
    finally:
        first.close()
        second.close()


def test_an_in_memory_store_needs_no_lock():
    with Store("sqlite:///:memory:") as store, store.run_lock(), store.run_lock():
        pass


def test_a_second_run_from_another_folder_on_the_same_postgresql_store_exits_75(tmp_path, site, pg, pg_database):
    site.add("/news/story-one.html", page(1, site.url("/news/story-one.html")))
    cfg = sites_toml(tmp_path, site, pg_database)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    with pg.run_lock():
        second = scraper("run", "--config", cfg, cwd=elsewhere)
    assert second.returncode == 75
    database = pg_database.rsplit("/", 1)[1]
    assert second.stderr == f"scraper: error: another run holds the lock on postgresql+psycopg://***@127.0.0.1:5432/{database}; exiting\n"
    assert site.hits == []


# --- 5. `scraper status`: whole when piped, and as JSON ---------------------------------------------

def test_status_prints_whole_rows_when_piped_and_everything_as_json(tmp_path, pg, pg_database):
    long_url = "https://example.com/news/2024/" + "a-rather-long-story-slug-" * 4 + "end"
    pg.record_failure(long_url, "HTTP 503 Service Unavailable after 4 attempts", permanent=False, site="ex")
    pg.record_failure("https://example.com/news/2024/gone", "HTTP 404 Not Found", permanent=True, site="ex")
    run = pg.start_run()
    pg.finish_run(run, {"ex": {"discovered": 2, "new": 2, "saved": 0, "failed": 2}}, ok=False)
    assert scraper("db", "upgrade", "--db", pg_database).returncode == 0

    table = scraper("status", "--db", pg_database)  # stdout is a pipe, COLUMNS=80
    assert table.returncode == 0, table.stderr
    assert any(long_url in line and "HTTP 503 Service Unavailable after 4 attempts" in line for line in table.stdout.splitlines())
    assert any("/news/2024/gone" in line and "never" in line for line in table.stdout.splitlines())

    report = json.loads(scraper("status", "--db", pg_database, "--json").stdout)
    assert report["runs"][0]["stats"]["ex"]["failed"] == 2 and report["runs"][0]["ok"] is False
    assert report["failures_total"] == 2
    assert {f["url"]: f["next_at"] is None for f in report["failures"]} == {long_url: False, "https://example.com/news/2024/gone": True}
    assert report["queue"] == {"sites": [], "failed_jobs": []}


def test_status_lists_failed_urls_on_sqlite_too(tmp_path):
    db = f"sqlite:///{tmp_path / 'articles.db'}"
    with Store(db) as store:
        store.record_failure("https://example.com/news/2024/slow", "timed out after 4 attempts", permanent=False, site="ex", now=T0)
    table = scraper("status", "--db", db)
    assert table.returncode == 0, table.stderr
    assert "failed URLs (latest 1 of 1)" in table.stdout
    row = next(line for line in table.stdout.splitlines() if "/news/2024/slow" in line)
    assert "timed out after 4 attempts" in row and "2026-01-01T13:00:00+00:00" in row
    assert "queue" not in json.loads(scraper("status", "--db", db, "--json").stdout)
