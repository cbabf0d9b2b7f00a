"""Scale-out benchmark: the fleet with 1, 2 and 4 worker processes against `scraper run` on SQLite.

A loopback news site of H hosts (distinct ports on 127.0.0.1), each answering after a set latency,
serves the scrapinghub benchmark pages (each page once, so every article is distinct) with one RSS
feed per host; each host is a site in the config, with the same per-host delay for every mode.
Articles per second are counted on the server's clock, from the first request to the last response,
so process start-up is left out alike. Also printed: database round-trips per article (statements
and commits sent by every process of the mode, the scheduler included) and the smallest gap seen
between the starts of two requests to one host (never below the delay, or politeness failed).

    .venv/bin/python bench/fleet.py [--hosts 20] [--pages 120] [--latency 1.0] [--delay 0.25] [--concurrency 3]

Needs PostgreSQL on 127.0.0.1:5432 (a scratch database per mode is created and dropped).
"""

from __future__ import annotations

import argparse
import atexit
import gzip
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from xml.sax.saxutils import escape

ROOT = Path(__file__).resolve().parents[1]
BENCH = Path(os.environ.get("SCRAPER_SHARED", ROOT.parent / "shared")) / "bench" / "scrapinghub"
SERVER = "postgresql://postgres@127.0.0.1:5432"
DEADLINE = 600.0  # seconds one mode may take


class Host(ThreadingHTTPServer):
    """One host of the site: its pages and feed, answered after `latency`; every request logged."""

    daemon_threads = True

    def __init__(self, latency: float):
        super().__init__(("127.0.0.1", 0), Handler)
        self.latency = latency
        self.documents: dict[str, tuple[bytes, str]] = {}
        self.log: list[tuple[float, float, str]] = []  # (arrived, answered, path)
        self.lock = threading.Lock()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}{path}"

    def handle_error(self, request, client_address) -> None:
        if not isinstance(sys.exc_info()[1], ConnectionError):  # a worker stopped with a connection open
            super().handle_error(request, client_address)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: Host

    def do_GET(self) -> None:
        arrived = time.monotonic()
        time.sleep(self.server.latency)
        body, content_type = self.server.documents.get(self.path, (b"not found", "text/plain"))
        self.send_response(200 if self.path in self.server.documents else 404)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
        with self.server.lock:
            self.server.log.append((arrived, time.monotonic(), self.path))

    def log_message(self, *args) -> None:
        pass


def start_site(hosts: int, pages: int, latency: float) -> list[Host]:
    truth = json.loads((BENCH / "ground-truth.json").read_text())
    servers = [Host(latency) for _ in range(hosts)]
    for i, key in enumerate(sorted(truth)[:pages]):
        host = servers[i % hosts]
        host.documents[f"/news/{i}.html"] = (gzip.decompress((BENCH / "html" / f"{key}.html.gz").read_bytes()), "text/html; charset=utf-8")
    for host in servers:
        items = "".join(f"<item><title>{p}</title><link>{escape(host.url(p))}</link></item>" for p in host.documents)
        host.documents["/feed.xml"] = (f'<?xml version="1.0"?><rss version="2.0"><channel>{items}</channel></rss>'.encode(), "application/rss+xml")
        threading.Thread(target=host.serve_forever, daemon=True).start()
    return servers


def write_config(path: Path, servers: list[Host], db: str, args: argparse.Namespace) -> Path:
    settings = {"db": db, "delay": args.delay, "concurrency": args.concurrency, "allow_private_addresses": True,
                "max_pages_per_site": 10_000, "read_timeout": 30.0, "total_timeout": 60.0}
    lines = ["[settings]", *(f"{k} = {json.dumps(v) if not isinstance(v, bool) else 'true'}" for k, v in settings.items())]
    for i, host in enumerate(servers):
        lines += ["", "[[sites]]", f'name = "h{i}"', 'domains = ["127.0.0.1"]', f'feeds = ["{host.url("/feed.xml")}"]']
    path.write_text("\n".join(lines) + "\n")
    return path


def scraper(count_file: Path, *args: str) -> list[str]:
    """A `scraper` command line run through this script, so that its database round-trips are counted."""
    return [sys.executable, str(Path(__file__).resolve()), "--count-into", str(count_file), "--", *args]


def counted_main(count_file: str, argv: list[str]) -> None:
    """Run the scraper CLI counting statements and commits sent to the database, written at exit."""
    import psycopg
    import sqlalchemy
    from sqlalchemy import event

    counts = {"n": 0}

    def counting(method):
        if getattr(method, "_counted", False):
            return method

        def wrapper(*a, **kw):
            counts["n"] += 1
            return method(*a, **kw)

        async def async_wrapper(*a, **kw):
            counts["n"] += 1
            return await method(*a, **kw)

        wrapped = async_wrapper if _is_coroutine(method) else wrapper
        wrapped._counted = True
        return wrapped

    for cls, names in ((psycopg.Cursor, ("execute", "executemany")), (psycopg.AsyncCursor, ("execute", "executemany")),
                       (psycopg.Connection, ("commit", "rollback")), (psycopg.AsyncConnection, ("commit", "rollback"))):
        for name in names:
            setattr(cls, name, counting(getattr(cls, name)))
    # SQLite (the `scraper run` mode) is not psycopg: count what SQLAlchemy sends it.
    event.listen(sqlalchemy.engine.Engine, "before_cursor_execute",
                 lambda conn, *_: counts.__setitem__("n", counts["n"] + (conn.dialect.name == "sqlite")))
    event.listen(sqlalchemy.engine.Engine, "commit", lambda conn: counts.__setitem__("n", counts["n"] + (conn.dialect.name == "sqlite")))
    atexit.register(lambda: Path(count_file).write_text(str(counts["n"])))
    sys.argv = ["scraper", *argv]
    from scraper.cli import main

    try:
        main()
    except SystemExit as exc:
        if exc.code:
            raise


def _is_coroutine(method) -> bool:
    import inspect

    return inspect.iscoroutinefunction(method)


def sql(db: str, query: str):
    import psycopg

    with psycopg.connect(db, autocommit=True) as conn:
        cursor = conn.execute(query)
        return cursor.fetchall() if cursor.description else []


def wait_for(condition, what: str) -> None:
    deadline = time.monotonic() + DEADLINE
    while not condition():
        if time.monotonic() > deadline:
            sys.exit(f"bench/fleet.py: not within {DEADLINE:.0f} s: {what}")
        time.sleep(0.05)


def measure(servers: list[Host], mode: str, workers: int, args: argparse.Namespace, scratch: Path) -> dict:
    for host in servers:
        host.log.clear()
    counts = scratch / mode
    counts.mkdir()
    if workers == 0:
        db = f"sqlite:///{scratch / 'run.db'}"
        cfg = write_config(scratch / f"{mode}.toml", servers, db, args)
        subprocess.run(scraper(counts / "run", "run", "--quiet", "--config", str(cfg)), check=False, cwd=scratch)
        articles = int(sql_sqlite(scratch / "run.db"))
    else:
        name = f"scraper_bench_{uuid.uuid4().hex[:10]}"
        sql(f"{SERVER}/test", f"CREATE DATABASE {name}")
        db = f"{SERVER}/{name}"
        try:
            cfg = write_config(scratch / f"{mode}.toml", servers, db, args)
            subprocess.run([ROOT / ".venv" / "bin" / "scraper", "db", "upgrade", "--config", str(cfg)], check=True, capture_output=True)
            fleet = [subprocess.Popen(scraper(counts / f"worker{i}", "worker", "--quiet", "--config", str(cfg), "--concurrency", str(args.concurrency)),
                                      cwd=scratch) for i in range(workers)]
            wait_for(lambda: sql(db, "SELECT count(*) FROM procrastinate_workers")[0][0] == workers, "workers up")
            subprocess.run(scraper(counts / "schedule", "schedule", "--once", "--config", str(cfg)), check=True, capture_output=True)
            wait_for(lambda: sql(db, "SELECT count(*) FROM procrastinate_jobs WHERE task_name IN ('discover', 'fetch') AND status IN ('todo', 'doing')")[0][0] == 0
                     and sql(db, "SELECT count(*) FROM procrastinate_jobs WHERE task_name = 'discover' AND status = 'succeeded'")[0][0] == len(servers),
                     "every job done")
            for process in fleet:
                process.send_signal(signal.SIGTERM)
            for process in fleet:
                process.wait(timeout=60)
            articles = sql(db, "SELECT count(*) FROM articles")[0][0]
        finally:
            sql(f"{SERVER}/test", f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    log = [entry for host in servers for entry in host.log]
    window = max(answered for _, answered, _ in log) - min(arrived for arrived, _, _ in log)
    gaps = [b - a for host in servers for a, b in zip(sorted(e[0] for e in host.log), sorted(e[0] for e in host.log)[1:])]
    trips = sum(int(f.read_text()) for f in counts.iterdir())
    return {"mode": mode, "articles": articles, "seconds": window, "rate": articles / window,
            "trips": trips / max(articles, 1), "min_gap": min(gaps), "short_gaps": f"{sum(g < args.delay for g in gaps)} of {len(gaps)}"}


def sql_sqlite(path: Path) -> int:
    import sqlite3

    with sqlite3.connect(path) as conn:
        return conn.execute("SELECT count(*) FROM articles").fetchone()[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hosts", type=int, default=20)
    parser.add_argument("--pages", type=int, default=120, help="benchmark pages served (at most 181)")
    parser.add_argument("--latency", type=float, default=1.0, help="seconds each response takes")
    parser.add_argument("--delay", type=float, default=0.25, help="per-host delay in the config")
    parser.add_argument("--concurrency", type=int, default=3, help="jobs (and requests) in flight per worker, and for `scraper run`")
    args = parser.parse_args()
    try:
        sql(f"{SERVER}/test", "SELECT 1")
    except Exception as exc:
        sys.exit(f"bench/fleet.py: PostgreSQL not reachable at {SERVER}/test: {exc}")
    servers = start_site(args.hosts, args.pages, args.latency)
    pages = sum(len(h.documents) - 1 for h in servers)
    print(f"{args.hosts} hosts, {pages} pages, latency {args.latency} s, delay {args.delay} s, "
          f"concurrency {args.concurrency} per process; politeness limit {args.hosts / args.delay:.0f} pages/s\n")
    with tempfile.TemporaryDirectory() as scratch:
        rows = [measure(servers, "scraper run (SQLite)", 0, args, Path(scratch))]
        rows += [measure(servers, f"fleet, {n} worker{'s' * (n > 1)}", n, args, Path(scratch)) for n in (1, 2, 4)]
    one = rows[1]["rate"]
    print(f"{'mode':<22} {'articles':>8} {'seconds':>8} {'articles/s':>10} {'vs 1 worker':>11} {'vs run':>7} {'db trips/article':>16} {'min gap/host s':>14} {'gaps < delay':>12}")
    for row in rows:
        print(f"{row['mode']:<22} {row['articles']:>8} {row['seconds']:>8.2f} {row['rate']:>10.2f} {row['rate'] / one:>10.2f}x "
              f"{row['rate'] / rows[0]['rate']:>6.2f}x {row['trips']:>16.1f} {row['min_gap']:>14.3f} {row['short_gaps']:>12}")
    two = rows[2]["rate"] / one
    print(f"\ngoal: 2 workers >= 1.8x one worker: {two:.2f}x {'met' if two >= 1.8 else 'NOT met'}; "
          f"per-host delay {args.delay} s {'held' if min(r['min_gap'] for r in rows) >= args.delay else 'VIOLATED'}")


if __name__ == "__main__":
    if len(sys.argv) > 3 and sys.argv[1] == "--count-into" and sys.argv[3] == "--":
        counted_main(sys.argv[2], sys.argv[4:])
    else:
        main()
