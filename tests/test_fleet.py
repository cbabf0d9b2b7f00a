"""The fleet against the real PostgreSQL on 127.0.0.1:5432 and the loopback news site: worker
processes, one killed with SIGKILL mid-job, or all cut off from a restarting database, every article
stored once; failing jobs parked."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import text
from pytest_httpserver import HTTPServer

from scraper.run import ArticleFailed
from scraper.store import Store

from .conftest import ROOT, pg_admin
from .loopback_site import NewsSite, write_config
from .test_cli import run as cli
from .test_run import SETTINGS, make_httpserver  # noqa: F401  (the threaded server fixture)

pytest.importorskip("procrastinate", reason="the postgres extra is not installed")
from scraper.fleet import ArticleRetry  # noqa: E402

pytestmark = pytest.mark.usefixtures("bench_pages")  # needs ../shared: see conftest

FLEET = {"stalled_after": 2.0, "retry_attempts": 2, "retry_wait": 0.0}  # a killed worker is noticed within ~3 s
DEADLINE = 60.0  # seconds any condition is polled for



@pytest.fixture
def db(pg_database: str) -> str:
    return pg_database


@pytest.fixture
def site(httpserver):
    news = NewsSite(httpserver)
    yield news
    news.release.set()


@pytest.fixture
def config(tmp_path: Path, db: str, capsys) -> Callable[..., str]:
    def make(*sites: dict, **settings) -> str:
        path = str(write_config(tmp_path / "sites.toml", {**SETTINGS, **FLEET, "db": db, **settings}, list(sites)))
        code, _, err = cli(capsys, "db", "upgrade", "--config", path)
        assert code == 0, err
        return path

    return make


@pytest.fixture
def workers(tmp_path: Path) -> Iterator[Callable[[str, int], list[subprocess.Popen]]]:
    started: list[subprocess.Popen] = []

    def start(config: str, n: int) -> list[subprocess.Popen]:
        for i in range(n):
            log = open(tmp_path / f"worker{len(started)}.log", "wb")
            started.append(subprocess.Popen([ROOT / ".venv" / "bin" / "scraper", "worker", "--config", config, "--concurrency", "2"],
                                            cwd=tmp_path, stdout=log, stderr=subprocess.STDOUT))
            log.close()
        return started[-n:]

    yield start
    for process in started:
        if process.poll() is None:
            process.terminate()
    for process in started:
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def jobs(db: str, where: str = "TRUE") -> list[dict]:
    store = Store(db)
    try:
        with store.engine.connect() as conn:
            return [dict(r) for r in conn.execute(text(
                f"SELECT id, task_name, status::text AS status, attempts, args FROM procrastinate_jobs WHERE {where} ORDER BY id"
            )).mappings()]
    finally:
        store.close()


def stored(db: str) -> list[str]:
    store = Store(db)
    try:
        return [a.url for a in store.iter_articles()]
    finally:
        store.close()


@contextmanager
def database_restarting(db: str) -> Iterator[None]:
    """What a PostgreSQL restart does to the clients of one database, without restarting the server the
    other tests share: every connection cut, and new ones refused until the block ends."""
    name = db.rsplit("/", 1)[1]
    admin = pg_admin()
    try:
        with admin.connect() as conn:
            conn.execute(text(f"ALTER DATABASE {name} ALLOW_CONNECTIONS false"))
            conn.execute(text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :name AND pid <> pg_backend_pid()"),
                         {"name": name})
        yield
    finally:
        with admin.connect() as conn:
            conn.execute(text(f"ALTER DATABASE {name} ALLOW_CONNECTIONS true"))
        admin.dispose()


def listening_workers(db: str) -> int:
    """Connections of the database waiting for procrastinate's job notifications: one per working worker."""
    store = Store(db)
    try:
        with store.engine.connect() as conn:
            return conn.execute(text("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND query LIKE 'LISTEN %'")).scalar_one()
    finally:
        store.close()


def poll(condition: Callable[[], object], what: str, processes: list[subprocess.Popen] = ()) -> None:
    """Wait for `condition` within the deadline; the workers must stay up meanwhile."""
    deadline = time.monotonic() + DEADLINE
    while not condition():
        assert time.monotonic() < deadline, f"not within {DEADLINE:.0f} s: {what}"
        assert all(p.poll() is None for p in processes), "a worker ended on its own"
        time.sleep(0.1)  # the polling interval, not a timing assumption


def test_a_worker_killed_mid_job_leaves_every_article_stored_once(capsys, monkeypatch, site, config, db, workers):
    site.hold_after = 3  # article requests after the third hang until released: jobs are mid-way when the kill comes
    cfg = config(site.site_entry(), read_timeout=30.0, total_timeout=60.0)
    fleet = workers(cfg, 3)  # 6 job slots for the 5 held articles: each worker holds at least one
    code, _, err = cli(capsys, "schedule", "--once", "--config", cfg)
    assert code == 0 and "queued 1 discoveries" in err, err

    poll(lambda: len(stored(db)) == 3 and len(jobs(db, "task_name = 'fetch' AND status = 'doing'")) == 5,
         "3 articles saved and 5 fetch jobs held", fleet)
    os.kill(fleet[0].pid, signal.SIGKILL)
    fleet[0].wait(timeout=10)
    site.release.set()

    poll(lambda: len(stored(db)) == 8 and not jobs(db, "status IN ('todo', 'doing')"), "every article saved", fleet[1:])
    urls = stored(db)
    assert sorted(urls) == sorted(site.allowed_urls()) and len(set(urls)) == len(urls)
    fetches = jobs(db, "task_name = 'fetch'")
    assert len(fetches) == 8 and {j["status"] for j in fetches} == {"succeeded"}
    assert any(j["attempts"] > 0 for j in fetches), "no job of the killed worker was run again"
    assert not [hit for hit in site.hits if hit.path.startswith("/news/private/")]

    monkeypatch.setenv("COLUMNS", "200")
    code, out, err = cli(capsys, "status", "--config", cfg)
    assert code == 0, err
    assert [line.split() for line in out.splitlines() if "loopback" in line][0] == ["│", "loopback", "│", "0", "│", "0", "│", "0", "│", "9", "│"]


def test_a_failing_job_is_retried_a_bounded_number_of_times_then_parked_without_blocking_its_site(capsys, monkeypatch, site, config, db, workers):
    broken_host = HTTPServer(host="127.0.0.1", port=0)
    broken_host.expect_request(re.compile("/.*")).respond_with_data("boom", status=500)
    broken_host.start()
    try:
        broken = broken_host.url_for("/news/2019/11/broken.html")
        cfg = config(site.site_entry())
        fleet = workers(cfg, 1)

        code, _, err = cli(capsys, "enqueue", broken, site.url(site.published[0].path), "--config", cfg)
        assert code == 0 and "queued 2" in err, err
        poll(lambda: jobs(db, "status = 'failed'") and len(stored(db)) == 1, "the broken page's job failed", fleet)
    finally:
        broken_host.stop()

    [failed] = jobs(db, "status = 'failed'")
    assert failed["args"] == {"url": broken, "site": "loopback"}
    assert failed["attempts"] == 1 + FLEET["retry_attempts"]
    assert len([line for line in broken_host.log if line[0].path != "/robots.txt"]) == 4 * (1 + FLEET["retry_attempts"])
    monkeypatch.setenv("COLUMNS", "400")
    code, out, err = cli(capsys, "status", "--config", cfg)
    assert code == 0, err
    flat = " ".join(out.split())
    assert "failed jobs (latest 10)" in flat
    assert f"HTTP 500 Internal Server Error after 4 attempts: {broken}" in flat, out


def test_article_retries_are_bounded_and_skip_pages_that_cannot_change():
    from procrastinate.jobs import Job

    from scraper.errors import FetchError, NotArticleError
    from scraper.extract_pool import ExtractorFailed

    retry = ArticleRetry(attempts=2, wait=10)

    def decision(cause: Exception, attempts: int):
        job = Job(queue="fetch", lock=None, queueing_lock=None, task_name="fetch", attempts=attempts)
        return retry.get_retry_decision(exception=ArticleFailed("https://x.test/a", cause), job=job)

    assert decision(FetchError("timed out", status=None), 0) is not None
    assert decision(ExtractorFailed("extractor crashed"), 1) is not None  # a crash may be the machine's, not the page's
    assert decision(ExtractorFailed("extractor crashed"), 2) is None  # then the job is parked
    assert decision(RuntimeError("a bug"), 0) is not None
    assert decision(FetchError("HTTP 404", status=404), 0) is None
    assert decision(NotArticleError("a PDF"), 0) is None


def test_host_turns_are_shared_through_the_database_and_a_back_off_holds_the_host(db):
    from scraper.fleet import SharedHostGate

    store = Store(db)
    try:
        one, other = (SharedHostGate(store, "127.0.0.1:8000", 0.5, 2) for _ in range(2))  # two workers' gates
        waits = [store.reserve_turn(gate.host, gate.delay) for gate in (one, other, one)]
        assert waits[0] < 0.1 and 0.4 < waits[1] - waits[0] < 0.6 and 0.4 < waits[2] - waits[1] < 0.6
        other.back_off(10.0)  # a 429 seen by one worker holds the host for all
        assert store.reserve_turn(one.host, one.delay) > 9.0
        assert store.reserve_turn("127.0.0.1:8001", 0.5) < 0.1  # other hosts go on
    finally:
        store.close()


def test_workers_carry_on_through_a_database_restart_and_every_article_is_stored_once(capsys, tmp_path, site, config, db, workers):
    site.hold_after = 3  # as above: five article jobs are mid-way, waiting for the site, when the database goes
    cfg = config(site.site_entry(), read_timeout=30.0, total_timeout=60.0)
    fleet = workers(cfg, 3)
    code, _, err = cli(capsys, "schedule", "--once", "--config", cfg)
    assert code == 0 and "queued 1 discoveries" in err, err
    poll(lambda: len(stored(db)) == 3 and len(jobs(db, "task_name = 'fetch' AND status = 'doing'")) == 5 and listening_workers(db) == 3,
         "3 articles saved, 5 fetch jobs held, every worker listening", fleet)

    logs = sorted(tmp_path.glob("worker*.log"))
    for restart in (1, 2):  # the first with jobs in hand, the second with none
        with database_restarting(db):
            # procrastinate's words: a worker's LISTEN connection failed; it stops once its jobs in hand are done
            poll(lambda: all(log.read_text().count("stopping worker") >= restart for log in logs), "every worker saw the database go", fleet)
        site.release.set()
        poll(lambda: all(log.read_text().count("worker starting again") >= restart for log in logs) and listening_workers(db) == 3,
             "every worker working again", fleet)

    poll(lambda: len(stored(db)) == 8 and not jobs(db, "status IN ('todo', 'doing')"), "every article saved", fleet)
    urls = stored(db)
    assert sorted(urls) == sorted(site.allowed_urls()) and len(set(urls)) == len(urls)
    assert {j["status"] for j in jobs(db, "task_name = 'fetch'")} == {"succeeded"}
