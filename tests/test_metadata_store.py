"""The publisher is stored, and a store made before it had the column gains it."""

from __future__ import annotations

import sqlite3

from scraper import Article
from scraper.store import Store


def test_publisher_round_trips_and_sources_stay_out_of_the_store(tmp_path):
    with Store(f"sqlite:///{tmp_path / 'store.db'}") as store:
        article = Article(url="https://example.com/a", text="Some text of the article.", publisher="Daily Example",
                          sources={"published": "json-ld"})
        store.save(article, site="example")
        back = store.get("https://example.com/a")
    assert back.publisher == "Daily Example" and back.sources == {}


def test_a_store_without_the_publisher_column_gains_it(tmp_path):
    db = tmp_path / "old.db"
    with Store(f"sqlite:///{db}"):
        pass
    with sqlite3.connect(db) as conn:
        conn.execute("ALTER TABLE articles DROP COLUMN publisher")
    with Store(f"sqlite:///{db}") as store:
        store.save(Article(url="https://example.com/b", text="Another article text.", publisher="Daily Example"), site="example")
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT publisher FROM articles").fetchall() == [("Daily Example",)]
