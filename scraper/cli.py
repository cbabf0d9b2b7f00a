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
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Callable, Optional

import typer

from .article import Article
from .config import DEFAULT_SITES, Config, load_config
from .errors import NotArticleError, ScraperError, UsageError, redact

if TYPE_CHECKING:
    from .page import Response
    from .store import Store

app = typer.Typer(
    add_completion=False,
    invoke_without_command=True,
    pretty_exceptions_enable=False,
    help="Fetch news articles, strip the junk, keep clean text and metadata.",
)

JsonOpt = Annotated[bool, typer.Option("--json", help="Print each article as one line of JSON.")]
ExplainOpt = Annotated[bool, typer.Option("--explain", help="Report every removed line with its reason and rule.")]
DbOpt = Annotated[Optional[str], typer.Option("--db", help="Store URL (default: $SCRAPER_DB or sqlite:///scraper-data/articles.db).")]
ConfigOpt = Annotated[Path, typer.Option("--config", help="Site list and settings (TOML).")]


def main() -> None:
    """Entry point: run the app, turning our errors into one line on stderr and an exit code."""
    try:
        code = app(standalone_mode=False)  # click returns typer.Exit codes here instead of raising
    except ScraperError as exc:
        _fail(str(exc), exc.exit_code)
    except typer.TyperException as exc:  # click's usage errors (typer vendors click: no `click` module)
        _fail(_usage_message(exc), exc.exit_code)
    except (typer.Abort, KeyboardInterrupt):
        _fail("interrupted", 130)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except Exception as exc:  # a bug
        if os.environ.get("SCRAPER_DEBUG"):
            raise
        _fail(f"internal error: {type(exc).__name__}: {exc} (set SCRAPER_DEBUG=1 for a traceback)", 1)
    if isinstance(code, int) and code:
        sys.exit(code)


def _usage_message(exc: typer.TyperException) -> str:
    """Click's error with a pointer to the command's help, in place of its usage block."""
    ctx = getattr(exc, "ctx", None)
    hint = f" (see '{ctx.command_path} --help')" if ctx is not None else ""
    return exc.format_message() + hint


def _help_without_command(ctx: typer.Context) -> None:
    """A command group called alone prints its help: what a newcomer who types `scraper` wants."""
    if ctx.invoked_subcommand is None:
        typer.echo(ctx.get_help(), color=ctx.color)  # as --help does
        raise typer.Exit()


def _print_version(wanted: bool) -> None:
    if wanted:
        from importlib.metadata import version

        print(f"scraper {version('scraper')}")
        raise typer.Exit()


@app.callback()
def _root(
    ctx: typer.Context,
    version: Annotated[bool, typer.Option("--version", callback=_print_version, is_eager=True, help="Print the version and exit.")] = False,
) -> None:
    _help_without_command(ctx)


def _fail(message: str, code: int) -> None:
    _error_line(message)
    sys.exit(code)


def _error_line(message: str) -> None:
    print(f"scraper: error: {' '.join(redact(message).split())}", file=sys.stderr)


def _config(path: Path) -> Config:
    return load_config(path) if path.exists() or path != DEFAULT_SITES else Config()


def _emit(article: Article, *, as_json: bool, explain: bool) -> None:
    if as_json:
        print(json.dumps(article.to_dict(explain=explain), ensure_ascii=False))
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
    for name, source in article.sources.items():
        print(f"{name}: {getattr(article, name)!r} from {source}", file=err)


@app.command()
def fetch(
    urls: Annotated[Optional[list[str]], typer.Argument(help="Article URLs.", show_default=False)] = None,
    input_file: Annotated[Optional[str], typer.Option("--input-file", "-i", help="Also fetch the URLs in FILE, one a line ('-': stdin; blank lines and # comments skipped).")] = None,
    as_json: JsonOpt = False,
    explain: ExplainOpt = False,
    save: Annotated[bool, typer.Option("--save", help="Store the articles.")] = False,
    out: Annotated[Optional[Path], typer.Option("--out", help="Also write DIR/<site>/<date>-<slug>.txt and .json.")] = None,
    db: DbOpt = None,
    config: ConfigOpt = DEFAULT_SITES,
    user_agent: Annotated[Optional[str], typer.Option("--user-agent", help="User-Agent header to send (default: the config's).")] = None,
    timeout: Annotated[Optional[float], typer.Option("--timeout", help="Total seconds allowed per download (default: the config's, 60).")] = None,
) -> None:
    """Fetch articles and print their clean text; a URL that fails does not stop the others."""
    from .fetcher import FetchSettings
    from .pipeline import page_getter

    wanted = [*(urls or ()), *(_url_lines(_read_input(input_file)) if input_file else ())]
    if not wanted:
        raise UsageError("no URL given: pass URLs or -i FILE")
    cfg = _config(config)
    settings = FetchSettings.from_settings(cfg.settings, user_agent=user_agent, total_timeout=timeout)
    store = _open_store(db, cfg) if save else None
    failed: list[int] = []  # the exit code of each URL that failed
    printed = 0
    try:
        with page_getter(settings) as get_page:
            for url in wanted:
                try:
                    article = _fetch_one(url, get_page, cfg, store, out=out, explain=explain)
                except ScraperError as exc:
                    _error_line(str(exc) if url in str(exc) else f"{url}: {exc}")
                    failed.append(exc.exit_code)
                    continue
                if printed and not as_json:
                    print()  # a blank line between two articles' text
                _emit(article, as_json=as_json, explain=explain)
                printed += 1
    finally:
        if store:
            store.close()
    if failed:
        raise typer.Exit(failed[0] if len(set(failed)) == 1 else 1)


def _fetch_one(url: str, get_page: Callable[[str], Response], cfg: Config, store: Store | None, *, out: Path | None, explain: bool) -> Article:
    """Download, extract and clean one article; save it when there is a store, write its files to `out`."""
    from .extract import article_from_response
    from .learn import repeated_lines, save as save_article
    from .output import write_article

    _http_url(url)
    name, site = cfg.site_name(url), cfg.site_for_url(url)
    learned = repeated_lines(store, name) if store else frozenset()
    article = article_from_response(get_page(url), site=site, repeated=learned)
    if store:
        save_article(store, article, name, domains=site.domains if site else ())
    if out:
        write_article(article, out, name, explain=explain)
    return article


def _http_url(url: str) -> str:
    """The canonical form of `url`; one we could not fetch is the user's mistake (exit 2)."""
    from .urls import canonicalize

    canonical = canonicalize(url)
    if canonical is None:
        raise UsageError(f"not an http(s) URL: {url!r}")
    return canonical


def _url_lines(data: bytes) -> list[str]:
    """The URLs of a list as trafilatura's -i reads it: one a line, blank lines and # comments skipped."""
    lines = (line.strip() for line in data.decode("utf-8", "replace").splitlines())
    return [line for line in lines if line and not line.startswith("#")]


def _read_input(path: str) -> bytes:
    """The bytes of a file named on the command line ('-': stdin); one we cannot read is a usage error."""
    try:
        return sys.stdin.buffer.read() if path == "-" else Path(path).read_bytes()
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror or exc}") from None


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

    text = decode_html(_read_input(path))
    name = "stdin" if path == "-" else path
    if not text.strip():
        raise NotArticleError(f"empty input: {name}", kind="empty")
    if _looks_binary(text):
        raise NotArticleError(f"not text (binary data): {name}", kind="not-html")
    cfg = _config(config)
    site = cfg.site_for_url(url) if url else None
    if _looks_like_html(text):
        article = extract(text, url, site=site)
    else:
        result = Cleaner(default_rules().for_site(site)).clean(text)
        if not result.text:
            raise NotArticleError(f"no article text left after cleaning: {name}")
        article = Article(url=url or "", text=result.text, tags=result.tags, removed=result.removed)
    _emit(article, as_json=as_json, explain=explain)


def _looks_binary(text: str, sample: int = 8192) -> bool:
    """Not text: a NUL, or one character in ten undecodable (U+FFFD) or a control code."""
    head = text[:sample]
    odd = sum(1 for c in head if c == "\ufffd" or (c < " " and c not in "\t\n\r\f"))
    return "\0" in head or odd * 10 > len(head)


def _looks_like_html(text: str) -> bool:
    head = text[:2048].lstrip().lower()
    return head.startswith(("<!doctype html", "<html", "<?xml")) or any(t in head for t in ("<body", "<head", "<div", "<p>", "<article"))


def _iso_time(value: str) -> datetime:
    """An ISO 8601 date or time; one without a zone is UTC (the store's clock)."""
    try:
        when = datetime.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(f"{value!r} is not an ISO date or time such as 2026-11-30 or 2026-11-30T12:00:00+00:00") from None
    return when if when.tzinfo else when.replace(tzinfo=timezone.utc)


@app.command()
def export(
    format: Annotated[str, typer.Option("--format", help="jsonl or csv.")] = "jsonl",
    output: Annotated[Optional[Path], typer.Option("--output", "-o", help="File to write (default: stdout).")] = None,
    site: Annotated[Optional[str], typer.Option("--site", help="Only this site's articles.")] = None,
    since: Annotated[Optional[datetime], typer.Option("--since", parser=_iso_time, metavar="WHEN", help="Only articles saved or updated at or after WHEN (ISO date or time, UTC unless it says).")] = None,
    db: DbOpt = None,
    config: ConfigOpt = DEFAULT_SITES,
) -> None:
    """Write the stored articles as JSON lines or CSV."""
    if format not in ("jsonl", "csv"):
        raise UsageError(f"--format must be jsonl or csv, not {format!r}")
    store = _open_store(db, _config(config))
    try:
        if output is None:
            count = store.export(format, sys.stdout, site=site, since=since)
        else:
            from .output import atomic_file

            with atomic_file(output) as handle:  # written as the rows are read: memory stays flat
                count = store.export(format, handle, site=site, since=since)
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
    if not cfg.sites:
        raise UsageError(f"no sites in {config}")
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
        ok, _ = run(cfg, store, sites=sites, limit=limit, reporter=reporter)
    finally:
        reporter.close()
        store.close()
    if not ok:
        raise typer.Exit(1)


@app.command()
def status(
    db: DbOpt = None,
    config: ConfigOpt = DEFAULT_SITES,
    runs: Annotated[int, typer.Option("--runs", min=0, help="How many of the last runs to show.")] = 10,
    failed: Annotated[int, typer.Option("--failed", min=0, help="How many of the latest failed URLs to show.")] = 20,
    as_json: Annotated[bool, typer.Option("--json", help="Print everything as one JSON object.")] = False,
) -> None:
    """Show the last runs and what they did per site, the failed URLs and when they are tried again;
    on PostgreSQL also the job queue per site."""
    store = _open_store(db, _config(config))
    try:
        report = {"articles": store.count(), "runs": store.last_runs(runs)}
        report["failures_total"], report["failures"] = store.list_failures(failed)
        queue = _queue(store)
    finally:
        store.close()
    if queue is not None:
        report["queue"] = queue
    if as_json:
        print(json.dumps(report, ensure_ascii=False, default=str))
    else:
        _print_status(report)


def _queue(store) -> dict | None:
    """The fleet's job queue per site and its latest failed jobs, when the store holds one."""
    if store.engine.dialect.name != "postgresql":
        return None
    from .fleet import queue_ready, queue_status

    if not queue_ready(store):
        return None
    sites, failed_jobs = queue_status(store)
    return {"sites": sites, "failed_jobs": failed_jobs}


def _print_status(report: dict) -> None:
    from rich.console import Console

    # On a terminal, tables fit its width; piped or redirected, they are printed whole, never cut.
    console = Console()
    if not console.is_terminal:
        console = Console(width=100_000)
    if "queue" in report:
        console.print(_table("job queue", ("site", "queued", "running", "failed", "done"), report["queue"]["sites"]))
        if report["queue"]["failed_jobs"]:
            console.print(_table("failed jobs (latest 10)", ("job", "site", "attempts", "url", "error"),
                                 [[j["id"], j["site"], j["attempts"], j["url"], j["reason"] or ""] for j in report["queue"]["failed_jobs"]]))
    from .report import losses

    rows = [
        [record["id"], str(record["started_at"])[:19], str(record["finished_at"] or "-")[:19], record["state"],
         {True: "yes", False: "no"}.get(record["ok"], "-"), name,
         *(s.get(k, "") for k in ("discovered", "new", "saved", "failed")), losses(s)]
        for record in report["runs"] for name, s in (record["stats"] or {"-": {}}).items()
    ]
    console.print(_table(f"last runs ({report['articles']} articles stored)",
                         ("run", "started", "finished", "state", "ok", "site", "discovered", "new", "saved", "failed", "not taken"), rows))
    if report["failures"]:
        console.print(_table(f"failed URLs (latest {len(report['failures'])} of {report['failures_total']})",
                             ("url", "site", "reason", "attempts", "last try", "next try"),
                             [[f["url"], f["site"] or "-", f["reason"], f["attempts"], f["last_at"], f["next_at"] or "never"]
                              for f in report["failures"]]))


def _table(title: str, columns: tuple[str, ...], rows: list):
    """A rich table; `rows` are lists of cells, or dicts keyed by column."""
    from rich.table import Table

    table = Table(title=title)
    for column in columns:
        table.add_column(column)
    for row in rows:
        table.add_row(*(str(cell) for cell in (row.values() if isinstance(row, dict) else row)))
    return table


@app.command()
def retry(
    urls: Annotated[Optional[list[str]], typer.Argument(help="Failed URLs to try again (default: all).")] = None,
    site: Annotated[Optional[str], typer.Option("--site", help="Only this site's failed URLs.")] = None,
    db: DbOpt = None,
    config: ConfigOpt = DEFAULT_SITES,
) -> None:
    """Make failed URLs due again: the next run (or discovery) tries them, whatever they failed with."""
    cfg = _config(config)
    if site is not None and site not in {s.name for s in cfg.sites}:
        raise UsageError(f"unknown site {site!r} (not in {config})")
    from .urls import canonicalize

    store = _open_store(db, cfg)
    try:
        count = store.retry_failures(site=site, urls=[canonicalize(u) or u for u in urls or ()])
    finally:
        store.close()
    print(f"{count} failed URLs will be tried on the next run", file=sys.stderr)


# The fleet: PostgreSQL store, workers on procrastinate (scraper/fleet.py) -------------------------

db_app = typer.Typer(invoke_without_command=True, callback=_help_without_command, help="The store's database.")
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
    wanted = [_http_url(u) for u in urls]
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
