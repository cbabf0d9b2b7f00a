"""kill -9 at random moments of `scraper run`, 20 times over, then a clean run: every article once, store intact.

The moments are chosen by a seeded RNG and tied to progress: the run is killed a short random
delay after the n-th request the loopback site serves, so kills land in discovery, fetching,
extraction and saving alike. SQLite always; PostgreSQL when one answers on 127.0.0.1:5432.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import threading
from collections import Counter
from pathlib import Path

import pytest
from pytest_httpserver import HTTPServer
from sqlalchemy import create_engine, text
from werkzeug import Request, Response

from .conftest import ROOT
from .loopback_site import NewsSite, Page, write_config
from .test_run import SETTINGS, make_httpserver  # noqa: F401 (the threaded server fixture)

pytestmark = pytest.mark.usefixtures("bench_pages")  # needs ../shared: see conftest

KILLS = 20
SEED = 20261123
TOWNS = ["Harbourton", "Millbrook", "Eastwick", "Northfield", "Ravensford", "Kingsmere", "Ashdown", "Larkhill"]
TOPICS = ["the bridge plan", "school meals", "the night bus", "river flooding", "the library", "bin collections", "parking fees"]


def synthetic_pages(n: int, rng: random.Random) -> list[Page]:
    """Distinct articles (no line shared by two of them, so none is learned as boilerplate)."""
    pages = []
    for i in range(n):
        town, topic = rng.choice(TOWNS), rng.choice(TOPICS)
        paragraphs = "".join(
            f"<p>Story {i}, part {j}: councillors in {town} voted {rng.randint(5, 20)} to {rng.randint(0, 4)} on {topic} "
            f"after {rng.randint(2, 30)} weeks of debate, and residents said they would watch what happens next closely.</p>"
            for j in range(5)
        )
        title = f"{town} decides on {topic}, story {i}"
        html = (f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>{title}</title></head>"
                f"<body><article><h1>{title}</h1>{paragraphs}</article></body></html>").encode()
        pages.append(Page(f"/news/2024/05/story-{i}.html", title, html))
    return pages


class KillingSite(NewsSite):
    """The news site, which SIGKILLs `victim` a short delay after the `kill_at`-th request it serves."""

    def __init__(self, server: HTTPServer):
        super().__init__(server)
        self.victim: subprocess.Popen | None = None
        self.kill_at: int | None = None
        self.delay = 0.0
        self.served = 0

    def arm(self, victim: subprocess.Popen, kill_at: int, delay: float) -> None:
        with self._lock:
            self.victim, self.kill_at, self.delay, self.served = victim, kill_at, delay, 0

    def _handle(self, request: Request) -> Response:
        with self._lock:
            self.served += 1
            if self.victim is not None and self.served == self.kill_at:
                victim = self.victim
                threading.Timer(self.delay, lambda: victim.poll() is None and os.kill(victim.pid, signal.SIGKILL)).start()
        return super()._handle(request)


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_runs_killed_at_random_moments_lose_and_double_nothing(backend: str, httpserver: HTTPServer, tmp_path: Path, request):
    rng = random.Random(SEED)
    db = f"sqlite:///{tmp_path / 'articles.db'}" if backend == "sqlite" else request.getfixturevalue("pg_database")
    site = KillingSite(httpserver)
    site.publish(*synthetic_pages(30, rng))
    settings = {**SETTINGS, "db": db, "concurrency": 4, "read_timeout": 20.0, "total_timeout": 60.0}  # slow machines time out nothing
    cfg = write_config(tmp_path / "sites.toml", settings, [site.site_entry()])
    command = [str(ROOT / ".venv" / "bin" / "scraper"), "run", "--config", str(cfg), "--quiet"]

    killed = 0
    for _ in range(KILLS):
        process = subprocess.Popen(command, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        site.arm(process, kill_at=rng.randint(1, 8), delay=rng.uniform(0, 0.25))
        _, err = process.communicate(timeout=120)
        killed += process.returncode == -signal.SIGKILL
        assert process.returncode in (0, -signal.SIGKILL), err.decode()
    site.arm(None, kill_at=0, delay=0)
    assert killed >= KILLS // 2, f"only {killed} of {KILLS} runs were killed"  # later runs, with less left to do, finish first

    done = subprocess.run(command, cwd=tmp_path, capture_output=True, timeout=120)
    assert done.returncode == 0, done.stderr.decode()

    engine = create_engine(db.replace("postgresql://", "postgresql+psycopg://"))
    try:
        with engine.connect() as conn:
            urls = Counter(url for (url,) in conn.execute(text("SELECT url FROM articles")))
            rows, keys, hashes = conn.execute(text("SELECT count(*), count(DISTINCT key), count(DISTINCT content_hash) FROM articles")).one()
            empty = conn.execute(text("SELECT count(*) FROM articles WHERE word_count IS NULL OR word_count = 0")).scalar_one()
            died = conn.execute(text("SELECT count(*) FROM runs WHERE finished_at IS NULL")).scalar_one()
            if backend == "sqlite":
                assert conn.execute(text("PRAGMA integrity_check")).scalar_one() == "ok"
                assert conn.execute(text("PRAGMA foreign_key_check")).all() == []
    finally:
        engine.dispose()
    assert set(urls) == site.allowed_urls() and set(urls.values()) == {1}
    assert rows == keys == hashes == len(site.allowed_urls()) and empty == 0
    assert 0 < died <= killed  # a run killed while exiting has finished its record
