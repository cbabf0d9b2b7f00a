"""Issue #12, the store's part: which canonical URL keys an article, which failures are tried again
and when, one run at a time per store (SQLite or PostgreSQL), and what `scraper status` shows."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from pytest_httpserver import HTTPServer
from sqlalchemy import text
from werkzeug import Response

from scraper.article import Article
from scraper.errors import FetchError, LockedError, NotArticleError, StoreError
from scraper.extract_pool import ExtractorFailed
from scraper.run import ArticleFailed, Disallowed
from scraper.store import SaveResult, Store

from .loopback_site import write_config

SCRAPER = Path(sys.executable).with_name("scraper")
PG = "postgresql://postgres@127.0.0.1:5432/wt_store"
T0 = datetime(2026, 1, 1, 12, 0, tzinfo=timezone.utc)
HOUR = timedelta(hours=1)


def scraper(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([SCRAPER, *args], cwd=cwd, capture_output=True, text=True, timeout=120,
                          env={**os.environ, "COLUMNS": "80"})


@pytest.fixture
def store(tmp_path):
    with Store(f"sqlite:///{tmp_path / 'store.db'}") as s:
        yield s


def pg_store() -> Store:
    try:
        return Store(PG)
    except StoreError:
        pytest.skip("PostgreSQL not reachable on 127.0.0.1:5432 (database wt_store)")


@pytest.fixture
def pg():
    """A PostgreSQL store with empty tables."""
    s = pg_store()
    with s.engine.begin() as conn:
        for table in ("articles", "site_lines", "site_line_articles", "http_validators", "failures", "runs"):
            conn.execute(text(f"DELETE FROM {table}"))
    yield s
    s.close()


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
