"""The article store: SQLAlchemy 2 Core, SQLite by default, the same schema on PostgreSQL.

Uniqueness lives in the database (url, canonical key, content hash), so racing writers save an
article once. Every save is one transaction: a killed process leaves no half-written article.
"""

from __future__ import annotations

import csv
import enum
import json
import os
import socket
import time
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterable, Iterator, Literal, TextIO

from sqlalchemy import (
    JSON, Boolean, Column, Float, Integer, MetaData, String, Table, Text, create_engine, event, func, inspect, select, text, update,
)
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from .article import Article
from .errors import StoreError, redact

DEFAULT_DB = "sqlite:///scraper-data/articles.db"  # relative to the working directory
MAX_LINES_PER_SITE = 20_000  # learned line hashes kept per site
MAX_ARTICLES_PER_SITE = 500  # article keys remembered per site for distinct counting
# Counting a site's rows costs more than recording an article's lines, so the bounds above are
# enforced every this many recorded articles of a site (per process), not after each one.
TRIM_EVERY = 50
_CHUNK = 500
_FIELDS = ("title", "final_url", "authors", "published", "modified", "language", "site_name",
           "description", "tags", "image", "text", "status")

metadata = MetaData()
articles = Table(
    "articles", metadata,
    Column("id", Integer, primary_key=True),
    Column("url", String(2048), nullable=False, unique=True),
    Column("key", String(2048), nullable=False, unique=True),  # canonical URL, else URL
    Column("canonical_url", String(2048)),
    Column("site", String(200), index=True),
    Column("title", Text), Column("final_url", String(2048)), Column("authors", JSON),
    Column("published", String(40)), Column("modified", String(40)), Column("language", String(20)),
    Column("site_name", Text), Column("description", Text), Column("tags", JSON), Column("image", Text),
    Column("text", Text, nullable=False), Column("word_count", Integer),
    Column("content_hash", String(64), nullable=False, unique=True),
    Column("fetched_at", String(40)), Column("status", Integer),
    Column("created_at", String(40), nullable=False), Column("updated_at", String(40), nullable=False),
)
site_lines = Table(
    "site_lines", metadata,
    Column("site", String(200), primary_key=True), Column("line_hash", String(32), primary_key=True),
    Column("articles", Integer, nullable=False), Column("last_seen", String(40), nullable=False),
)
site_line_articles = Table(
    "site_line_articles", metadata,
    Column("site", String(200), primary_key=True), Column("article_key", String(2048), primary_key=True),
    Column("seen_at", String(40), nullable=False),
)
http_validators = Table(
    "http_validators", metadata,
    Column("url", String(2048), primary_key=True), Column("etag", Text), Column("last_modified", Text),
)
failures = Table(
    "failures", metadata,
    Column("url", String(2048), primary_key=True), Column("reason", Text, nullable=False),
    Column("permanent", Boolean, nullable=False), Column("attempts", Integer, nullable=False),
    Column("last_at", String(40), nullable=False),
    Column("site", String(200), index=True),
    Column("next_at", String(40)),  # ISO 8601 UTC: not tried again before then; NULL when permanent
)
host_turns = Table(  # the fleet's per-host politeness: when the next request to a host may start
    "host_turns", metadata,
    Column("host", String(300), primary_key=True), Column("next_at", Float, nullable=False),  # epoch seconds, database clock
)
robots_files = Table(  # robots.txt files read, for later runs and other workers; body NULL: none or unreadable
    "robots_files", metadata,
    Column("origin", String(300), primary_key=True), Column("body", Text), Column("fetched_at", Float, nullable=False),
)
runs = Table(
    "runs", metadata,
    Column("id", Integer, primary_key=True), Column("started_at", String(40), nullable=False),
    Column("finished_at", String(40)), Column("ok", Boolean), Column("stats", JSON),
    Column("state", String(20)),  # running, finished, interrupted (NULL: made before states were kept)
    Column("pid", Integer), Column("host", String(255)),  # the run's process: a running run whose process is gone died
)


class SaveResult(enum.StrEnum):
    INSERTED = "inserted"
    UPDATED = "updated"
    UNCHANGED = "unchanged"
    DUPLICATE = "duplicate"  # the same text is stored under another URL


def resolve_db_url(url: str | None) -> str:
    url = url or os.environ.get("SCRAPER_DB") or DEFAULT_DB
    if url.startswith("postgresql://") or url.startswith("postgres://"):
        return "postgresql+psycopg://" + url.split("://", 1)[1]
    if "://" not in url:
        return f"sqlite:///{url}"
    return url


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


class Store:
    def __init__(self, url: str | None = None):
        self.url = resolve_db_url(url)
        self._recorded: Counter[str] = Counter()  # articles whose lines this process recorded, per site
        try:
            if self.url.startswith("sqlite:///") and not self.url.endswith(":memory:"):
                Path(self.url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
            sqlite = self.url.startswith("sqlite")
            # A server's pooled connection is tested before use: after a database restart it is
            # replaced, not failed. An embedded SQLite file has no server to lose.
            self.engine = create_engine(self.url, future=True, pool_pre_ping=not sqlite)
            if sqlite:
                event.listen(self.engine, "connect", _sqlite_pragmas)
            metadata.create_all(self.engine)
            _add_missing_columns(self.engine)
        except (SQLAlchemyError, OSError) as exc:
            raise StoreError(f"cannot open store {self.url}: {_first_line(exc)}") from None

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> "Store":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # articles ----------------------------------------------------------------------------

    def save(self, article: Article, *, site: str | None = None) -> SaveResult:
        key = article.canonical_url or article.url
        row = {f: getattr(article, f) for f in _FIELDS}
        row.update(url=article.url, key=key, canonical_url=article.canonical_url, site=site,
                   word_count=article.word_count, content_hash=article.content_hash, fetched_at=article.fetched_at)
        try:
            with self.engine.begin() as conn:
                existing = conn.execute(
                    select(articles).where((articles.c.key == key) | (articles.c.url == article.url))
                ).mappings().first()
                if existing is None:
                    if conn.execute(select(articles.c.id).where(articles.c.content_hash == row["content_hash"])).first():
                        return SaveResult.DUPLICATE
                    now = _now()
                    conn.execute(articles.insert().values(**row, created_at=now, updated_at=now))
                    return SaveResult.INSERTED
                compared = [f for f in (*_FIELDS, "canonical_url", "content_hash") if f != "status"]
                if all(existing[f] == row[f] for f in compared):
                    return SaveResult.UNCHANGED
                row.pop("url")  # the row keeps the address it was first saved under
                conn.execute(update(articles).where(articles.c.id == existing["id"]).values(**row, updated_at=_now()))
                return SaveResult.UPDATED
        except IntegrityError:
            # Another writer saved the same key or text between our read and our write.
            return SaveResult.DUPLICATE
        except SQLAlchemyError as exc:
            raise StoreError(f"cannot save {article.url}: {_first_line(exc)}") from None

    def get(self, url: str) -> Article | None:
        with self.engine.connect() as conn:
            row = conn.execute(
                select(articles).where((articles.c.url == url) | (articles.c.key == url))
            ).mappings().first()
        return _article(row) if row else None

    def known_urls(self, urls: Iterable[str]) -> set[str]:
        wanted = list(dict.fromkeys(urls))
        found: set[str] = set()
        with self.engine.connect() as conn:
            for i in range(0, len(wanted), _CHUNK):
                chunk = wanted[i : i + _CHUNK]
                for url, key in conn.execute(select(articles.c.url, articles.c.key).where(articles.c.url.in_(chunk) | articles.c.key.in_(chunk))):
                    found.update({url, key})
        return found & set(wanted)

    def count(self) -> int:
        with self.engine.connect() as conn:
            return conn.execute(select(func.count()).select_from(articles)).scalar_one()

    def iter_articles(self, site: str | None = None) -> Iterator[Article]:
        query = select(articles).order_by(articles.c.id)
        if site:
            query = query.where(articles.c.site == site)
        with self.engine.connect() as conn:
            for row in conn.execution_options(yield_per=200).execute(query).mappings():
                yield _article(row)

    def export(self, fmt: Literal["jsonl", "csv"], out: TextIO, site: str | None = None) -> int:
        count = 0
        writer = None
        for article in self.iter_articles(site):
            data = article.to_dict()
            if fmt == "jsonl":
                out.write(json.dumps(data, ensure_ascii=False) + "\n")
            else:
                if writer is None:
                    writer = csv.DictWriter(out, fieldnames=list(data))
                    writer.writeheader()
                writer.writerow({k: "; ".join(v) if isinstance(v, list) else v for k, v in data.items()})
            count += 1
        return count

    # learned site boilerplate ------------------------------------------------------------

    def record_lines(self, site: str, article_key: str, line_hashes: Iterable[str]) -> None:
        """Count each line once per distinct article of the site; memory per site is bounded."""
        hashes = set(line_hashes)
        now = _now()
        try:
            with self.engine.begin() as conn:
                seen = conn.execute(select(site_line_articles.c.site).where(
                    (site_line_articles.c.site == site) & (site_line_articles.c.article_key == article_key))).first()
                if seen:
                    return
                conn.execute(site_line_articles.insert().values(site=site, article_key=article_key, seen_at=now))
                known = {h for (h,) in conn.execute(select(site_lines.c.line_hash).where(
                    (site_lines.c.site == site) & site_lines.c.line_hash.in_(list(hashes))))} if hashes else set()
                if known:
                    conn.execute(update(site_lines).where((site_lines.c.site == site) & site_lines.c.line_hash.in_(list(known)))
                                 .values(articles=site_lines.c.articles + 1, last_seen=now))
                if hashes - known:
                    conn.execute(site_lines.insert(), [{"site": site, "line_hash": h, "articles": 1, "last_seen": now} for h in hashes - known])
                self._recorded[site] += 1
                if self._recorded[site] % TRIM_EVERY == 1:
                    self._trim(conn, site)
        except IntegrityError:
            return  # another writer recorded this article at the same moment

    def _trim(self, conn, site: str) -> None:
        for table, limit, order in (
            (site_lines, MAX_LINES_PER_SITE, (site_lines.c.articles.desc(), site_lines.c.last_seen.desc())),
            (site_line_articles, MAX_ARTICLES_PER_SITE, (site_line_articles.c.seen_at.desc(),)),
        ):
            total = conn.execute(select(func.count()).select_from(table).where(table.c.site == site)).scalar_one()
            if total > limit:
                pk = table.c.line_hash if table is site_lines else table.c.article_key
                keep = select(pk).where(table.c.site == site).order_by(*order).limit(limit).scalar_subquery()
                conn.execute(table.delete().where((table.c.site == site) & pk.not_in(keep)))

    def repeated_lines(self, site: str, min_articles: int = 3) -> set[str]:
        with self.engine.connect() as conn:
            return {h for (h,) in conn.execute(select(site_lines.c.line_hash).where(
                (site_lines.c.site == site) & (site_lines.c.articles >= min_articles)))}

    # HTTP validators, failures, runs -----------------------------------------------------

    def get_validators(self, url: str) -> tuple[str | None, str | None]:
        with self.engine.connect() as conn:
            row = conn.execute(select(http_validators).where(http_validators.c.url == url)).mappings().first()
        return (row["etag"], row["last_modified"]) if row else (None, None)

    def set_validators(self, url: str, etag: str | None, last_modified: str | None) -> None:
        with self.engine.begin() as conn:
            conn.execute(http_validators.delete().where(http_validators.c.url == url))
            conn.execute(http_validators.insert().values(url=url, etag=etag, last_modified=last_modified))

    def record_failure(self, url: str, reason: str, *, permanent: bool) -> None:
        with self.engine.begin() as conn:
            row = conn.execute(select(failures.c.attempts).where(failures.c.url == url)).first()
            values = dict(reason=redact(reason)[:500], permanent=permanent, last_at=_now())
            if row:
                conn.execute(update(failures).where(failures.c.url == url).values(**values, attempts=row[0] + 1))
            else:
                conn.execute(failures.insert().values(url=url, attempts=1, **values))

    def failed_urls(self, urls: Iterable[str]) -> set[str]:
        wanted = list(dict.fromkeys(urls))
        found: set[str] = set()
        with self.engine.connect() as conn:
            for i in range(0, len(wanted), _CHUNK):
                found.update(u for (u,) in conn.execute(select(failures.c.url).where(
                    failures.c.url.in_(wanted[i : i + _CHUNK]) & failures.c.permanent)))
        return found

    def reserve_turn(self, host: str, gap: float) -> float:
        """Take the host's next turn and keep the following one `gap` seconds later; returns seconds to wait
        for this one. One atomic statement on the database clock, so turns hold across processes and
        machines (PostgreSQL: the fleet's store)."""
        now = func.extract("epoch", func.clock_timestamp())
        start = func.greatest(host_turns.c.next_at, now)
        statement = _pg_insert(host_turns).values(host=host, next_at=now + gap)
        statement = statement.on_conflict_do_update(index_elements=[host_turns.c.host], set_={"next_at": start + gap})
        return self._turn(statement.returning(host_turns.c.next_at - gap - now))

    def hold_host(self, host: str, seconds: float) -> None:
        """After a 429/503: no turn for the host starts within `seconds` from now (PostgreSQL)."""
        now = func.extract("epoch", func.clock_timestamp())
        statement = _pg_insert(host_turns).values(host=host, next_at=now + seconds)
        statement = statement.on_conflict_do_update(
            index_elements=[host_turns.c.host], set_={"next_at": func.greatest(host_turns.c.next_at, now + seconds)})
        self._turn(statement)

    def _turn(self, statement) -> float:
        try:
            with self.engine.begin() as conn:
                result = conn.execute(statement)
                return float(result.scalar()) if result.returns_rows else 0.0
        except SQLAlchemyError as exc:
            raise StoreError(f"cannot reserve a turn on a host: {_first_line(exc)}") from None

    def get_robots(self, origin: str, *, max_age: float) -> tuple[bool, str | None]:
        """(found, body) of the origin's robots.txt stored less than `max_age` seconds ago."""
        with self.engine.connect() as conn:
            row = conn.execute(select(robots_files.c.body).where(
                (robots_files.c.origin == origin) & (robots_files.c.fetched_at > time.time() - max_age))).first()
        return (True, row[0]) if row else (False, None)

    def set_robots(self, origin: str, body: str | None) -> None:
        try:
            with self.engine.begin() as conn:
                conn.execute(robots_files.delete().where(robots_files.c.origin == origin))
                conn.execute(robots_files.insert().values(origin=origin, body=body, fetched_at=time.time()))
        except IntegrityError:
            return  # another worker stored it at the same moment

    def start_run(self) -> int:
        values = dict(started_at=_now(), state="running", pid=os.getpid(), host=socket.gethostname())
        with self.engine.begin() as conn:
            return conn.execute(runs.insert().values(**values)).inserted_primary_key[0]

    def finish_run(self, run_id: int, stats: dict[str, dict[str, Any]], *, ok: bool, state: str = "finished") -> None:
        """Record the run's end: `finished`, or `interrupted` by a signal (with the stats so far)."""
        with self.engine.begin() as conn:
            conn.execute(update(runs).where(runs.c.id == run_id).values(finished_at=_now(), ok=ok, stats=stats, state=state))

    def last_runs(self, n: int = 10) -> list[dict]:
        """The last `n` runs, newest first; `state` is running, finished, interrupted, or died (its process
        ended without recording an end: killed, or the machine went down)."""
        with self.engine.connect() as conn:
            rows = [dict(row) for row in conn.execute(select(runs).order_by(runs.c.id.desc()).limit(n)).mappings()]
        for row in rows:
            if row["finished_at"] is None and not (row["state"] == "running" and _process_alive(row["pid"], row["host"])):
                row["state"] = "died"
            row["state"] = row["state"] or "finished"  # ended before states were kept
        return rows


def _process_alive(pid: int | None, host: str | None) -> bool:
    """Is the process still there? Another machine's processes cannot be seen: taken as alive."""
    if host != socket.gethostname():
        return True
    try:
        os.kill(pid, 0)  # signal 0: only asks whether the process exists
    except ProcessLookupError:
        return False
    except PermissionError:  # it exists, under another user
        pass
    return True


def _add_missing_columns(engine) -> None:
    """Bring a store made by an earlier version up to date: columns added since are nullable, so
    ALTER TABLE ... ADD COLUMN is all it takes (create_all makes missing tables, never columns)."""
    existing = inspect(engine)
    with engine.begin() as conn:
        for table in metadata.sorted_tables:
            have = {c["name"] for c in existing.get_columns(table.name)}
            for column in table.columns:
                if column.name not in have:
                    kind = column.type.compile(dialect=engine.dialect)
                    conn.execute(text(f'ALTER TABLE {table.name} ADD COLUMN "{column.name}" {kind}'))


def _article(row) -> Article:
    return Article.from_dict({k: row[k] for k in row.keys() if k in Article.__dataclass_fields__})


def _pg_insert(table: Table):
    """PostgreSQL's INSERT … ON CONFLICT, for the fleet's tables; its dialect loads slowly, so only when used."""
    from sqlalchemy.dialects.postgresql import insert

    return insert(table)


def _sqlite_pragmas(connection, _record) -> None:
    cursor = connection.cursor()
    for pragma in ("journal_mode=WAL", "busy_timeout=30000", "foreign_keys=ON", "synchronous=NORMAL"):
        cursor.execute(f"PRAGMA {pragma}")
    cursor.close()


def _first_line(exc: BaseException) -> str:
    return str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
