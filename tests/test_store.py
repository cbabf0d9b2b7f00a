"""The store round-trips articles on SQLite and PostgreSQL; unchanged re-saves change nothing."""

from __future__ import annotations

import csv
import io
import json
import sqlite3

import pytest
from sqlalchemy import text

from scraper.article import Article
from scraper.store import SaveResult, Store, resolve_db_url

@pytest.fixture(params=["sqlite", "postgresql"])
def store(request, tmp_path):
    url = f"sqlite:///{tmp_path / 'store.db'}" if request.param == "sqlite" else request.getfixturevalue("pg_database")
    with Store(url) as s:
        yield s


def article(n: int = 1, text_: str | None = None, **kw) -> Article:
    return Article(url=f"https://example.com/news/{n}", title=f"Story {n}", text=text_ or f"Body of story {n}.\nSecond paragraph {n}.",
                   authors=["Ann"], tags=["x", "y"], published="2024-01-0%dT00:00:00+00:00" % n, **kw)


def dump(store: Store) -> list:
    with store.engine.connect() as conn:
        return [tuple(r) for r in conn.execute(text("SELECT * FROM articles ORDER BY id"))]


def test_round_trip_and_export(store):
    assert store.save(article(1), site="ex") is SaveResult.INSERTED
    assert store.save(article(2), site="ex") is SaveResult.INSERTED
    got = store.get("https://example.com/news/1")
    assert got.title == "Story 1" and got.authors == ["Ann"] and got.tags == ["x", "y"]
    assert [a.url for a in store.iter_articles("ex")] == ["https://example.com/news/1", "https://example.com/news/2"]
    out = io.StringIO()
    assert store.export("jsonl", out) == 2
    assert json.loads(out.getvalue().splitlines()[1])["title"] == "Story 2"
    out = io.StringIO()
    store.export("csv", out)
    rows = list(csv.DictReader(io.StringIO(out.getvalue())))
    assert rows[0]["tags"] == "x; y" and len(rows) == 2


def test_unchanged_resave_changes_nothing_and_changed_page_updates(store):
    store.save(article(1))
    before = dump(store)
    assert store.save(article(1)) is SaveResult.UNCHANGED
    assert dump(store) == before
    assert store.save(article(1, text_="A corrected body.")) is SaveResult.UPDATED
    assert store.get("https://example.com/news/1").text == "A corrected body."
    assert store.count() == 1


def test_canonical_key_and_duplicate_content(store):
    first = article(1, canonical_url="https://example.com/c/1")
    assert store.save(first) is SaveResult.INSERTED
    same_page_other_url = article(1, canonical_url="https://example.com/c/1")
    same_page_other_url.url = "https://example.com/news/1?amp=1"
    assert store.save(same_page_other_url) is SaveResult.DUPLICATE  # the row is the same story, saved under its first address
    copy = article(1)
    copy.url = "https://mirror.example.org/1"
    assert store.save(copy) is SaveResult.DUPLICATE
    assert store.count() == 1
    assert store.known_urls(["https://example.com/c/1", "https://example.com/news/1", "https://nope"]) == {
        "https://example.com/c/1", "https://example.com/news/1"}


def test_learned_lines_count_distinct_articles(store):
    for key in ("a", "b", "a", "c"):
        store.record_lines("ex", key, ["boiler", f"unique-{key}"])
    assert store.repeated_lines("ex", 3) == {"boiler"}
    assert store.repeated_lines("other", 1) == set()


def test_learned_lines_stay_bounded_per_site(store, monkeypatch):
    monkeypatch.setattr("scraper.store.MAX_LINES_PER_SITE", 30)
    monkeypatch.setattr("scraper.store.MAX_ARTICLES_PER_SITE", 10)
    monkeypatch.setattr("scraper.store.TRIM_EVERY", 5)
    for n in range(41):  # trimmed after the 1st, 6th, ... 41st article
        store.record_lines("ex", f"article-{n}", ["boiler", f"unique-{n}-a", f"unique-{n}-b"])
    assert "boiler" in store.repeated_lines("ex", 10)  # the most repeated line is kept
    assert len(store.repeated_lines("ex", 1)) == 30


def test_validators_failures_runs(store):
    assert store.get_validators("https://example.com/feed") == (None, None)
    store.set_validators("https://example.com/feed", '"v1"', "Mon, 01 Jan 2024 00:00:00 GMT")
    store.set_validators("https://example.com/feed", '"v2"', None)
    assert store.get_validators("https://example.com/feed") == ('"v2"', None)
    store.record_failure("https://example.com/gone", "HTTP 404", permanent=True)
    store.record_failure("https://example.com/slow", "timed out", permanent=False, waits=())  # no retry left
    store.record_failure("https://example.com/later", "timed out", permanent=False, site="ex", waits=(0,))
    assert store.failed_urls(["https://example.com/gone", "https://example.com/slow", "https://example.com/later"]) == {
        "https://example.com/gone", "https://example.com/slow"}
    assert store.due_failures("ex") == ["https://example.com/later"]
    run = store.start_run()
    assert store.last_runs(1)[0]["finished_at"] is None
    store.finish_run(run, {"ex": {"saved": 2}}, ok=True)
    last = store.last_runs(1)[0]
    assert last["ok"] and last["stats"] == {"ex": {"saved": 2}}


def test_concurrent_writers_save_once(tmp_path):
    url = f"sqlite:///{tmp_path / 'race.db'}"
    a, b = Store(url), Store(url)
    results = {a.save(article(1)), b.save(article(1))}
    assert results == {SaveResult.INSERTED, SaveResult.UNCHANGED} and a.count() == 1


def test_resolve_db_url(monkeypatch):
    monkeypatch.delenv("SCRAPER_DB", raising=False)
    assert resolve_db_url(None) == "sqlite:///scraper-data/articles.db"
    assert resolve_db_url("x.db") == "sqlite:///x.db"
    assert resolve_db_url("postgresql://u@h/d") == "postgresql+psycopg://u@h/d"
    monkeypatch.setenv("SCRAPER_DB", "sqlite:///env.db")
    assert resolve_db_url(None) == "sqlite:///env.db"


def test_unopenable_store_is_a_store_error(tmp_path):
    from scraper.errors import StoreError

    (tmp_path / "file").write_text("x")
    with pytest.raises(StoreError):
        Store(f"sqlite:///{tmp_path / 'file' / 'sub' / 'db.sqlite'}")


def test_a_store_made_before_newer_columns_opens_and_gains_them(tmp_path):
    db = tmp_path / "old.db"
    with sqlite3.connect(db) as conn:  # the failures and runs tables as an earlier version made them
        conn.execute("CREATE TABLE failures (url VARCHAR(2048) PRIMARY KEY, reason TEXT NOT NULL, permanent BOOLEAN NOT NULL,"
                     " attempts INTEGER NOT NULL, last_at VARCHAR(40) NOT NULL)")
        conn.execute("INSERT INTO failures VALUES ('https://example.com/a', 'HTTP 404', 1, 1, '2026-01-01T00:00:00+00:00')")
        conn.execute("CREATE TABLE runs (id INTEGER PRIMARY KEY, started_at VARCHAR(40) NOT NULL, finished_at VARCHAR(40), ok BOOLEAN, stats JSON)")
    with Store(f"sqlite:///{db}") as store:
        assert store.failed_urls(["https://example.com/a"]) == {"https://example.com/a"}
        store.record_failure("https://example.com/b", "HTTP 500", permanent=False)
        assert store.start_run() == 1
    with sqlite3.connect(db) as conn:
        assert {"site", "next_at"} <= {row[1] for row in conn.execute("PRAGMA table_info(failures)")}
        assert "state" in {row[1] for row in conn.execute("PRAGMA table_info(runs)")}
