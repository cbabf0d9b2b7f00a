"""The article store: SQLAlchemy 2 Core, SQLite by default, the same schema on PostgreSQL.

Uniqueness lives in the database (url, canonical key, content hash), so racing writers save an
article once. Every save is one transaction: a killed process leaves no half-written article.
"""

from __future__ import annotations

import csv
import enum
import fcntl
import json
import os
import socket
import time
from collections import Counter
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Iterable, Iterator, Literal, Sequence, TextIO

from sqlalchemy import (
    JSON, Boolean, Column, Float, Integer, MetaData, String, Table, Text, create_engine, event, func, inspect, select, text, update,
)
from sqlalchemy.engine import RowMapping
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from .article import Article
from .errors import LockedError, StoreError, UsageError, redact
from .urls import trusted_canonical

DEFAULT_DB = "sqlite:///scraper-data/articles.db"  # relative to the working directory
MAX_LINES_PER_SITE = 20_000  # learned line hashes kept per site
MAX_ARTICLES_PER_SITE = 500  # article keys remembered per site for distinct counting
# Counting a site's rows costs more than recording an article's lines, so the bounds above are
# enforced every this many recorded articles of a site (per process), not after each one.
TRIM_EVERY = 50
RUN_LOCK_KEY = 0x5C4A9E12  # PostgreSQL advisory lock id of `scraper run`
RETRY_WAITS = (3600.0, 6 * 3600.0, 24 * 3600.0)  # seconds before a failed URL's 1st, 2nd, 3rd retry
_CHUNK = 500
_FIELDS = ("title", "final_url", "authors", "published", "modified", "language", "site_name", "publisher",
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
    Column("site_name", Text), Column("publisher", Text), Column("description", Text), Column("tags", JSON), Column("image", Text),
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


def _utcnow() -> datetime:
    return datetime.now(timezone.utc)


def _iso(moment: datetime) -> str:
    """ISO 8601 UTC to the second: such strings sort as the moments do."""
    return moment.astimezone(timezone.utc).isoformat(timespec="seconds")


def _now() -> str:
    return _iso(_utcnow())


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
        except ImportError as exc:  # psycopg, which SQLAlchemy imports for a PostgreSQL URL
            if not self.url.startswith("postgresql"):
                raise
            raise UsageError(f"a PostgreSQL store needs the postgres extra: pip install 'scraper[postgres]' ({exc})") from None

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> "Store":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def run_lock(self) -> Iterator[None]:
        """One run at a time on this store, from whatever folder or machine: a second run raises
        LockedError at once instead of doubling the work. PostgreSQL: a session advisory lock on a
        connection held for the run; SQLite: a lock file beside the database (in memory: none).
        Both go with the process, however it ends."""
        if self.engine.dialect.name == "postgresql":
            with self.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                if not conn.execute(select(func.pg_try_advisory_lock(RUN_LOCK_KEY))).scalar():
                    raise LockedError(f"another run holds the lock on {self.url}; exiting")
                try:
                    yield
                finally:
                    conn.execute(select(func.pg_advisory_unlock(RUN_LOCK_KEY)))
            return
        database = self.engine.url.database
        if not database or database == ":memory:":
            yield
            return
        path = Path(database + ".lock")
        with open(path, "a+") as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise LockedError(f"another run holds the lock {path}; exiting") from None
            yield

    # articles ----------------------------------------------------------------------------

    def save(self, article: Article, *, site: str | None = None, domains: Sequence[str] = ()) -> SaveResult:
        """Insert or update the article's row; its URL is no longer failed. The row is keyed by the
        page's canonical URL when that is trusted (`trusted_canonical`, `domains`: the site's) and
        not held by a stored article with other text; else by the page's own URL."""
        canonical = article.canonical_url
        claimed = canonical if canonical and trusted_canonical(canonical, article.url, domains) else None
        row = {f: getattr(article, f) for f in _FIELDS}
        row.update(url=article.url, canonical_url=canonical, site=site,
                   word_count=article.word_count, content_hash=article.content_hash, fetched_at=article.fetched_at)
        try:
            with self.engine.begin() as conn:
                conn.execute(failures.delete().where(failures.c.url == article.url))
                existing = _row(conn, articles.c.url == article.url)
                holder = _row(conn, articles.c.key == claimed) if claimed else None
                if holder is not None and holder["id"] != (existing or {}).get("id"):
                    if holder["content_hash"] == article.content_hash:
                        return SaveResult.DUPLICATE  # the same story under another address
                    claimed = None  # another story's canonical: never overwrite it
                row["key"] = claimed or article.url
                if existing is None:
                    # A story that wrongly named this page as its canonical gives the key back to it.
                    conn.execute(update(articles).where((articles.c.key == article.url) & (articles.c.url != article.url))
                                 .values(key=articles.c.url))
                    if _row(conn, articles.c.content_hash == article.content_hash) is not None:
                        return SaveResult.DUPLICATE
                    now = _now()
                    conn.execute(articles.insert().values(**row, created_at=now, updated_at=now))
                    return SaveResult.INSERTED
                compared = [f for f in (*_FIELDS, "key", "canonical_url", "content_hash") if f != "status"]
                if all(existing[f] == row[f] for f in compared):
                    return SaveResult.UNCHANGED
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
        for row in self._article_rows(site):
            yield _article(row)

    def _article_rows(self, site: str | None = None, since: datetime | None = None) -> Iterator[RowMapping]:
        """Rows in the order they were first saved, fetched in batches: memory does not grow with the store."""
        query = select(articles).order_by(articles.c.id)
        if site:
            query = query.where(articles.c.site == site)
        if since:  # updated_at is ISO 8601 UTC, to the second: as strings, they sort as times
            query = query.where(articles.c.updated_at >= since.astimezone(timezone.utc).isoformat(timespec="seconds"))
        with self.engine.connect() as conn:
            yield from conn.execution_options(yield_per=200).execute(query).mappings()

    def export(self, fmt: Literal["jsonl", "csv"], out: TextIO, site: str | None = None, since: datetime | None = None) -> int:
        """Write the articles (of `site`, saved or updated at or after `since`) to `out` as they are read."""
        count = 0
        writer = None
        for row in self._article_rows(site, since):
            data = {**_article(row).to_dict(), "site": row["site"]}
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

    def record_failure(self, url: str, reason: str, *, permanent: bool, site: str | None = None,
                       waits: Sequence[float] = RETRY_WAITS, now: datetime | None = None) -> None:
        """Note a failed try of `url`. After its n-th failed try a URL may be tried again `waits[n-1]`
        seconds later; a definite answer (`permanent`), or a failure once the waits are used up, is final."""
        now = now or _utcnow()
        with self.engine.begin() as conn:
            row = conn.execute(select(failures.c.attempts).where(failures.c.url == url)).first()
            attempts = (row[0] if row else 0) + 1
            final = permanent or attempts > len(waits)
            values = dict(reason=redact(reason)[:500], permanent=final, attempts=attempts, last_at=_iso(now), site=site,
                          next_at=None if final else _iso(now + timedelta(seconds=waits[attempts - 1])))
            if row:
                conn.execute(update(failures).where(failures.c.url == url).values(**values))
            else:
                conn.execute(failures.insert().values(url=url, **values))

    def failed_urls(self, urls: Iterable[str], *, now: datetime | None = None) -> set[str]:
        """Those of `urls` not to be tried now: failed for good, or waiting for their next try."""
        wanted = list(dict.fromkeys(urls))
        waiting = failures.c.permanent | (failures.c.next_at > _iso(now or _utcnow()))
        found: set[str] = set()
        with self.engine.connect() as conn:
            for i in range(0, len(wanted), _CHUNK):
                found.update(u for (u,) in conn.execute(select(failures.c.url).where(
                    failures.c.url.in_(wanted[i : i + _CHUNK]) & waiting)))
        return found

    def due_failures(self, site: str, *, now: datetime | None = None) -> list[str]:
        """The site's failed URLs whose next try has come, oldest first."""
        due = failures.c.next_at.is_(None) | (failures.c.next_at <= _iso(now or _utcnow()))
        with self.engine.connect() as conn:
            return list(conn.execute(select(failures.c.url).where((failures.c.site == site) & ~failures.c.permanent & due)
                                     .order_by(failures.c.last_at)).scalars())

    def list_failures(self, limit: int) -> tuple[int, list[dict]]:
        """How many URLs are failed, and the `limit` latest: url, site, reason, attempts, last_at,
        next_at (None: never tried again)."""
        with self.engine.connect() as conn:
            total = conn.execute(select(func.count()).select_from(failures)).scalar_one()
            rows = conn.execute(select(failures).order_by(failures.c.last_at.desc(), failures.c.url).limit(limit)).mappings()
            return total, [{k: v for k, v in row.items() if k != "permanent"} for row in rows]

    def retry_failures(self, *, site: str | None = None, urls: Sequence[str] = ()) -> int:
        """Make failed URLs (the site's, or these, or all) due on the next run, with their tries counted
        afresh; returns how many. (Rows stay: a stored article's missing files are written from them.)"""
        query = update(failures).values(permanent=False, next_at=None, attempts=0)
        if site is not None:
            query = query.where(failures.c.site == site)
        if urls:
            query = query.where(failures.c.url.in_(list(urls)))
        with self.engine.begin() as conn:
            return conn.execute(query).rowcount

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


def _row(conn, where) -> dict | None:
    """The article row matching `where`, or None."""
    return conn.execute(select(articles).where(where)).mappings().first()


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
