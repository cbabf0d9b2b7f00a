"""The `scraper` command: a thin shell over the pipeline.

Exit codes: 0 ok; 1 something failed (internal error, or a run with failures); 2 bad usage or
config; 3 fetch failed; 4 not an article; 5 store error (or job queue unreachable); 75 another run
holds the lock.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Optional

import typer

from .article import Article
from .config import DEFAULT_SITES, Config, load_config
from .errors import ScraperError, UsageError, redact

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    help="Fetch news articles, strip the junk, keep clean text and metadata.",
)

JsonOpt = Annotated[bool, typer.Option("--json", help="Print the article as one JSON object.")]
ExplainOpt = Annotated[bool, typer.Option("--explain", help="Report every removed line with its reason and rule.")]
DbOpt = Annotated[Optional[str], typer.Option("--db", help="Store URL (default: $SCRAPER_DB or sqlite:///scraper-data/articles.db).")]
ConfigOpt = Annotated[Path, typer.Option("--config", help="Site list and settings (TOML).")]


def main() -> None:
    """Entry point: run the app, turning our errors into one line on stderr and an exit code."""
    try:
        code = app(standalone_mode=False)  # click returns typer.Exit codes here instead of raising
    except ScraperError as exc:
        _fail(str(exc), exc.exit_code)
    except (typer.Abort, KeyboardInterrupt):
        _fail("interrupted", 130)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except Exception as exc:  # click usage errors and anything unexpected
        import click

        if isinstance(exc, click.ClickException):
            exc.show()
            sys.exit(exc.exit_code)
        if os.environ.get("SCRAPER_DEBUG"):
            raise
        _fail(f"internal error: {type(exc).__name__}: {exc} (set SCRAPER_DEBUG=1 for a traceback)", 1)
    if isinstance(code, int) and code:
        sys.exit(code)


def _fail(message: str, code: int) -> None:
    print(f"scraper: error: {' '.join(redact(message).split())}", file=sys.stderr)
    sys.exit(code)


def _config(path: Path) -> Config:
    return load_config(path) if path.exists() or path != DEFAULT_SITES else Config()


def _emit(article: Article, *, as_json: bool, explain: bool) -> None:
    if as_json:
        print(json.dumps(article.to_dict(explain=explain), ensure_ascii=False, indent=2))
        return
    print(article.text)
    if explain:
        _explain(article)


def _explain(article: Article) -> None:
    err = sys.stderr
    print(f"--- kept {len(article.text.splitlines())} lines, removed {len(article.removed)} ---", file=err)
    for removal in article.removed:
        print(f"[{removal.rule}] {removal.reason}:\n    {removal.text}", file=err)
    if article.tags:
        print(f"tags: {', '.join(article.tags)}", file=err)


@app.command()
def fetch(
    url: str,
    as_json: JsonOpt = False,
    explain: ExplainOpt = False,
    save: Annotated[bool, typer.Option("--save", help="Store the article.")] = False,
    out: Annotated[Optional[Path], typer.Option("--out", help="Also write DIR/<site>/<date>-<slug>.txt and .json.")] = None,
    db: DbOpt = None,
    config: ConfigOpt = DEFAULT_SITES,
    user_agent: Annotated[Optional[str], typer.Option("--user-agent", help="User-Agent header to send.")] = None,
    timeout: Annotated[float, typer.Option("--timeout", help="Total seconds allowed for the download.")] = 60.0,
) -> None:
    """Fetch one article and print its clean text."""
    from .extract import article_from_response
    from .fetcher import FetchSettings, fetch_page
    from .learn import repeated_lines, save as save_article

    cfg = _config(config)
    site = cfg.site_for_url(url)
    name = cfg.site_name(url)
    settings = FetchSettings(total_timeout=timeout, **({"user_agent": user_agent} if user_agent else {}))
    store = _open_store(db, cfg) if save else None
    try:
        learned = repeated_lines(store, name) if store else frozenset()
        response = fetch_page(url, settings)
        article = article_from_response(response, site=site, repeated=learned)
        if store:
            save_article(store, article, name)
    finally:
        if store:
            store.close()
    if out:
        from .output import write_article

        write_article(article, out, name, explain=explain)
    _emit(article, as_json=as_json, explain=explain)


def _open_store(db: str | None, cfg: Config):
    """The store named by --db, else $SCRAPER_DB, else the config's `db`, else the default."""
    from .store import Store

    return Store(db or os.environ.get("SCRAPER_DB") or cfg.settings.db)


@app.command()
def clean(
    path: Annotated[str, typer.Argument(help="A saved HTML page or extracted text; '-' for stdin.")],
    url: Annotated[Optional[str], typer.Option("--url", help="The page's address (for HTML).")] = None,
    as_json: JsonOpt = False,
    explain: ExplainOpt = False,
    config: ConfigOpt = DEFAULT_SITES,
) -> None:
    """Clean a saved page or already-extracted text and print the clean text."""
    from .clean import Cleaner, default_rules
    from .extract import extract
    from .page import decode_html

    try:
        raw = sys.stdin.buffer.read() if path == "-" else Path(path).read_bytes()
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror or exc}") from None
    text = decode_html(raw)
    cfg = _config(config)
    site = cfg.site_for_url(url) if url else None
    if _looks_like_html(text):
        article = extract(text, url, site=site)
    else:
        result = Cleaner(default_rules().for_site(site)).clean(text)
        article = Article(url=url or "", text=result.text, tags=result.tags, removed=result.removed)
    _emit(article, as_json=as_json, explain=explain)


def _looks_like_html(text: str) -> bool:
    head = text[:2048].lstrip().lower()
    return head.startswith(("<!doctype html", "<html", "<?xml")) or any(t in head for t in ("<body", "<head", "<div", "<p>", "<article"))


@app.command()
def export(
    format: Annotated[str, typer.Option("--format", help="jsonl or csv.")] = "jsonl",
    output: Annotated[Optional[Path], typer.Option("--output", "-o", help="File to write (default: stdout).")] = None,
    site: Annotated[Optional[str], typer.Option("--site", help="Only this site's articles.")] = None,
    db: DbOpt = None,
    config: ConfigOpt = DEFAULT_SITES,
) -> None:
    """Write the stored articles as JSON lines or CSV."""
    if format not in ("jsonl", "csv"):
        raise UsageError(f"--format must be jsonl or csv, not {format!r}")
    store = _open_store(db, _config(config))
    try:
        if output is None:
            count = store.export(format, sys.stdout, site=site)
        else:
            from .output import atomic_write
            import io

            buffer = io.StringIO()
            count = store.export(format, buffer, site=site)
            atomic_write(output, buffer.getvalue())
    finally:
        store.close()
    print(f"exported {count} articles", file=sys.stderr)


@app.command("run")
def run_sites(
    config: ConfigOpt = DEFAULT_SITES,
    db: DbOpt = None,
    site: Annotated[Optional[list[str]], typer.Option("--site", help="Run only this site (repeatable).")] = None,
    limit: Annotated[Optional[int], typer.Option("--limit", min=0, help="At most N new articles per site.")] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Print nothing but errors (for cron).")] = False,
    log_format: Annotated[str, typer.Option("--log-format", help="text or json.")] = "text",
) -> None:
    """Discover and save new articles for every configured site (the job to put in cron)."""
    from .report import LogReporter, ProgressReporter
    from .run import run

    if log_format not in ("text", "json"):
        raise UsageError(f"--log-format must be text or json, not {log_format!r}")
    cfg = load_config(config)
    sites = [s for s in cfg.sites if not site or s.name in site]
    unknown = set(site or ()) - {s.name for s in cfg.sites}
    if unknown:
        raise UsageError(f"unknown site {sorted(unknown)[0]!r} (not in {config})")
    if not quiet and log_format == "text" and sys.stderr.isatty():
        reporter = ProgressReporter()
    else:
        reporter = LogReporter(json_lines=log_format == "json", quiet=quiet)
    store = _open_store(db, cfg)
    try:
        ok, _ = run(cfg, store, sites=sites, limit=limit, lock=_lock_path(store.url), reporter=reporter)
    finally:
        reporter.close()
        store.close()
    if not ok:
        raise typer.Exit(1)


def _lock_path(db_url: str) -> Path:
    """The run lock lives beside a SQLite file, else in the working directory."""
    if db_url.startswith("sqlite:///") and db_url != "sqlite:///:memory:":
        return Path(db_url.removeprefix("sqlite:///") + ".lock")
    return Path("scraper-data/run.lock")


@app.command()
def status(db: DbOpt = None, config: ConfigOpt = DEFAULT_SITES, runs: int = 10) -> None:
    """Show the last runs and what they did per site; on PostgreSQL also the job queue per site."""
    from rich.console import Console
    from rich.table import Table

    from .report import losses

    store = _open_store(db, _config(config))
    try:
        last = store.last_runs(runs)
        total = store.count()
        queue = _queue_tables(store)
    finally:
        store.close()
    for table in queue:
        Console().print(table)
    table = Table(title=f"last runs ({total} articles stored)")
    for column in ("run", "started", "finished", "state", "ok", "site", "discovered", "new", "saved", "failed", "not taken"):
        table.add_column(column)
    for record in last:
        for name, s in (record["stats"] or {"-": {}}).items():
            table.add_row(
                str(record["id"]), str(record["started_at"])[:19], str(record["finished_at"] or "-")[:19], record["state"],
                {True: "yes", False: "no"}.get(record["ok"], "-"), name,
                *(str(s.get(k, "")) for k in ("discovered", "new", "saved", "failed")), losses(s),
            )
    Console().print(table)


def _queue_tables(store) -> list:
    """The fleet's job queue per site and its parked jobs, when the store holds one."""
    if store.engine.dialect.name != "postgresql":
        return []
    from rich.table import Table

    from .fleet import queue_ready, queue_status

    if not queue_ready(store):
        return []
    counts, parked = queue_status(store)
    sites = Table(title="job queue")
    for column in ("site", "queued", "running", "failed", "done"):
        sites.add_column(column)
    for row in counts:
        sites.add_row(*(str(row[k]) for k in ("site", "queued", "running", "failed", "done")))
    failed = Table(title="failed jobs (latest 10)")
    for column in ("job", "site", "attempts", "url", "error"):
        failed.add_column(column)
    for row in parked:
        failed.add_row(str(row["id"]), row["site"], str(row["attempts"]), row["url"], row["reason"] or "")
    return [sites, failed] if parked else [sites]


# The fleet: PostgreSQL store, workers on procrastinate (scraper/fleet.py) -------------------------

db_app = typer.Typer(no_args_is_help=True, help="The store's database.")
app.add_typer(db_app, name="db")


@db_app.command("upgrade")
def db_upgrade(db: DbOpt = None, config: ConfigOpt = DEFAULT_SITES) -> None:
    """Create the store's tables, and on PostgreSQL the job queue's; safe to run again."""
    store = _open_store(db, _config(config))  # opening creates the store's tables
    try:
        if store.engine.dialect.name == "postgresql":
            from .fleet import upgrade

            created = upgrade(store)
            print(f"store and job queue ready{' (job queue created)' if created else ''}", file=sys.stderr)
        else:
            print("store ready (no job queue: the fleet needs PostgreSQL)", file=sys.stderr)
    finally:
        store.close()


QuietOpt = Annotated[bool, typer.Option("--quiet", "-q", help="Log only warnings and errors.")]


@app.command()
def worker(
    config: ConfigOpt = DEFAULT_SITES,
    db: DbOpt = None,
    concurrency: Annotated[int, typer.Option("--concurrency", min=1, help="Jobs run at once by this worker.")] = 8,
    queues: Annotated[Optional[list[str]], typer.Option("--queues", help="Take jobs from this queue only: discover or fetch (repeatable; default: all).")] = None,
    quiet: QuietOpt = False,
) -> None:
    """Run a worker of the fleet (PostgreSQL store); start as many as you like, on any machine."""
    with _fleet(config, db, quiet) as fleet:
        asyncio.run(fleet.work(concurrency=concurrency, queues=queues))


@app.command()
def schedule(
    config: ConfigOpt = DEFAULT_SITES,
    db: DbOpt = None,
    once: Annotated[bool, typer.Option("--once", help="Queue one discovery per site now, then exit.")] = False,
    quiet: QuietOpt = False,
) -> None:
    """Discover every site on its interval (the fleet's cron); discovery jobs queue the new articles."""
    with _fleet(config, db, quiet or once) as fleet:
        queued = asyncio.run(fleet.schedule(once=once))
    if once:
        print(f"queued {queued} discoveries ({len(fleet.config.sites) - queued} already waiting)", file=sys.stderr)


@app.command()
def enqueue(
    urls: Annotated[list[str], typer.Argument(help="Article URLs to fetch.")],
    config: ConfigOpt = DEFAULT_SITES,
    db: DbOpt = None,
) -> None:
    """Queue one-off article fetches for the fleet's workers."""
    from .urls import canonicalize

    wanted = [canonicalize(u) for u in urls]
    bad = [u for u, c in zip(urls, wanted) if not c]
    if bad:
        raise UsageError(f"not an http(s) URL: {bad[0]!r}")
    with _fleet(config, db, quiet=True) as fleet:
        queued = asyncio.run(fleet.enqueue(wanted))
    print(f"queued {queued} ({len(wanted) - queued} already waiting)", file=sys.stderr)


@contextmanager
def _fleet(config: Path, db: str | None, quiet: bool):
    import logging

    from .fleet import Fleet, OneLineFormatter

    handler = logging.StreamHandler()
    handler.setFormatter(OneLineFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logging.basicConfig(level=logging.WARNING if quiet else logging.INFO, handlers=[handler])
    logging.getLogger("httpx").setLevel(logging.WARNING)  # a line per request is too much
    cfg = _config(config)
    store = _open_store(db, cfg)
    try:
        yield Fleet(cfg, store)
    finally:
        store.close()
