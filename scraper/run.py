"""Scheduled runs: for each configured site, discover article URLs, fetch only the new ones, save.

Safe to re-run at any moment: every article is saved in its own transaction, known URLs are
skipped, and a feed's or sitemap's HTTP validators (ETag / Last-Modified) are stored only after
every article it listed has been dealt with, so a killed run is simply picked up by the next one.
"""

from __future__ import annotations

import asyncio
import ipaddress
import math
import signal
import socket
import threading
import time
from contextlib import asynccontextmanager
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import AsyncIterator, Callable, Coroutine, Sequence
from urllib.parse import urlsplit

from protego import Protego

from . import memory
from .article import Article
from .config import Config, Settings, Site
from .discover import Link, Sitemap, TruncatedXML, parse_feed, parse_listing, parse_sitemap
from .errors import FetchError, NotArticleError, ScraperError, redact
from .extract_pool import ExtractionPool, ExtractorFailed
from .fetcher import Fetcher, FetchSettings
from .learn import repeated_lines, save
from .output import write_article
from .page import Response
from .report import Reporter
from .store import RETRY_WAITS, SaveResult, Store
from .urls import canonicalize

MAX_BACKOFF = 300.0  # seconds a host is slowed down to at most after repeated 429/503
TURN_LEAD = 0.1  # seconds before a host is due that its next turn begins (see HostGate)
ROBOTS_TTL = 3600.0  # seconds a robots.txt read by an earlier run (or another worker) is trusted
STOP_GRACE = 10.0  # seconds the pages in hand get to be saved once a run is asked to stop
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class Disallowed(FetchError):
    """robots.txt forbids the URL: a definite answer, not tried again."""


@dataclass
class SiteStats:
    """What a run did with one site's URLs; `report.LOSSES` lists those found and not taken."""

    discovered: int = 0  # the site's article URLs its sources list
    new: int = 0  # of those, to be fetched in this run
    fetched: int = 0
    saved: int = 0
    failed: int = 0
    capped: int = 0  # held for a later run by max_pages, max_pages_per_site or --limit
    disallowed: int = 0  # forbidden by robots.txt
    skipped: int = 0  # listed by the sources but off the article pattern or the site's domains
    dropped: int = 0  # over a sitemap's MAX_SITEMAP_URLS, never seen
    errors: list[str] = field(default_factory=list)

    def fail(self, message: str) -> None:
        self.failed += 1
        if len(self.errors) < 20:  # a summary, not a dump
            self.errors.append(" ".join(redact(message).split()))


class HostGate:
    """Politeness for one host: a cap on requests in flight and a minimum gap between requests on the wire.

    A turn is given a little before the host is due, so that its request is ready (a connection
    taken, headers built) when it is; the request's headers then wait for the due time
    (`Turn.before_send`, called by the fetcher), and the gap to the next request counts from when
    they went out (`Turn.sent`), however busy the event loop was in between.
    """

    def __init__(self, delay: float, concurrency: int):
        self.delay = delay
        self.slots = asyncio.Semaphore(concurrency)
        self.lock = asyncio.Lock()
        self.next_due = 0.0  # when the next turn's request may go out
        self.last_sent = -math.inf

    @asynccontextmanager
    async def turn(self, run_slots: asyncio.Semaphore) -> AsyncIterator[Turn]:
        """The host's next turn, holding one of `run_slots` (the global cap) for the request. The slot
        is taken once the host is (nearly) due, so a request waiting on a slow host holds none."""
        async with self.slots:
            async with self.lock:
                await _sleep_until(lambda: self.next_due - TURN_LEAD)
                await run_slots.acquire()
                due = max(self.next_due, time.monotonic())
                self.next_due = due + self.delay
            try:
                yield Turn(self, due)
            finally:
                run_slots.release()

    def back_off(self, seconds: float) -> None:
        """After a 429/503 for this host: slow this host only."""
        self.delay = min(max(self.delay * 2, seconds, 1.0), MAX_BACKOFF)
        self.next_due = max(self.next_due, time.monotonic() + self.delay)


@dataclass
class Turn:
    """One request's turn at a host: the fetcher's `Pacer` for it."""

    gate: HostGate
    due: float

    async def before_send(self) -> None:
        gate = self.gate
        await _sleep_until(lambda: max(self.due, gate.last_sent + gate.delay))
        gate.last_sent = time.monotonic()  # claimed at once: a request waiting beside this one waits a gap more

    def sent(self) -> None:
        gate = self.gate
        gate.last_sent = time.monotonic()
        gate.next_due = max(gate.next_due, gate.last_sent + gate.delay)


async def _sleep_until(deadline: Callable[[], float]) -> None:
    """Sleep until `deadline()`, read again after each sleep: another request may have moved it."""
    while (wait := deadline() - time.monotonic()) > 0:
        await asyncio.sleep(wait)


class Crawler:
    """Fetching for one run: global concurrency, per-host gates and robots.txt, kept in the store for
    ROBOTS_TTL (a run from cron every 15 minutes reads each robots.txt once an hour).

    `make_gate(host, delay)` builds a host's gate: by default a `HostGate` in this process; a fleet of
    workers passes one whose turns are kept in the shared database.
    """

    def __init__(
        self, config: Config, fetcher: Fetcher, store: Store, make_gate: Callable[[str, float], HostGate] | None = None
    ):
        self.settings = config.settings
        self.fetcher = fetcher
        self.store = store
        self.user_agent = fetcher.settings.user_agent
        self.slots = asyncio.Semaphore(self.settings.concurrency)
        self.gates: dict[str, HostGate] = {}
        self.make_gate = make_gate or (lambda _host, delay: HostGate(delay, self.settings.per_host_concurrency))
        # One task per origin: requests that start together all wait for the same robots.txt.
        self.robots: dict[str, asyncio.Task[Protego | None]] = {}

    async def allowed(self, url: str) -> bool:
        robots = await self._robots(url)
        return robots is None or robots.can_fetch(url, self.user_agent)

    async def get(self, url: str, headers: dict[str, str] | None = None, *, page: bool = False) -> Response:
        async with self._turn(url) as turn:
            return await (self.fetcher.get_page(url, pacer=turn) if page else self.fetcher.get(url, headers=headers, pacer=turn))

    @asynccontextmanager
    async def page(self, url: str, hold: asyncio.Semaphore) -> AsyncIterator[Response]:
        """An HTML page, holding a place in `hold` until the block ends: pages in memory stay bounded
        however many hosts are due. The place is taken at the host's turn, not before, so a request
        waiting for a slow host holds none."""
        async with self._turn(url) as turn:
            await hold.acquire()
            try:
                response = await self.fetcher.get_page(url, pacer=turn)
            except BaseException:
                hold.release()
                raise
        try:
            yield response
        finally:
            hold.release()

    @asynccontextmanager
    async def _turn(self, url: str) -> AsyncIterator[Turn]:
        """A turn at the URL's host, if robots.txt allows the URL; a 429 or 503 slows that host down."""
        if not await self.allowed(url):
            raise Disallowed(f"disallowed by robots.txt: {url}", url=url)
        gate = await self._gate(url)
        async with gate.turn(self.slots) as turn:
            try:
                yield turn
            except FetchError as exc:
                if exc.status in (429, 503):
                    gate.back_off(self.settings.delay * 4)
                raise

    async def _gate(self, url: str) -> HostGate:
        robots = await self._robots(url)
        gate = self._host_gate(url)
        crawl_delay = robots.crawl_delay(self.user_agent) if robots is not None else None
        gate.delay = max(gate.delay, crawl_delay or 0)
        return gate

    def _host_gate(self, url: str) -> HostGate:
        """The host's gate, made for its first request (robots.txt) with the configured delay."""
        host = urlsplit(url).netloc.lower()
        if host not in self.gates:
            self.gates[host] = self.make_gate(host, self.settings.delay)
        return self.gates[host]

    def _robots(self, url: str) -> asyncio.Task[Protego | None]:
        origin = _origin(url)
        if origin not in self.robots:
            self.robots[origin] = asyncio.create_task(self._read_robots(origin))
        return self.robots[origin]

    async def _read_robots(self, origin: str) -> Protego | None:
        text = await self.robots_txt(origin)
        return None if text is None else Protego.parse(text)

    async def robots_txt(self, origin: str) -> str | None:
        """The origin's robots.txt; None when there is none or it cannot be read (then all is allowed, as crawlers agree)."""
        found, text = self.store.get_robots(origin, max_age=ROBOTS_TTL)
        if not found:
            text = await self._download_robots(origin)
            self.store.set_robots(origin, text)
        return text

    async def _download_robots(self, origin: str) -> str | None:
        try:
            async with self._host_gate(origin).turn(self.slots) as turn:  # robots.txt is a request to the host too
                response = await self.fetcher.get(origin + "/robots.txt", pacer=turn)
        except FetchError:
            return None
        return response.content.decode("utf-8", "replace")

    async def robots_sitemaps(self, site: Site) -> list[str]:
        """Sitemaps named in robots.txt of the origins the site's own feeds, sitemaps and pages live on."""
        origins = {_origin(u) for u in (*site.feeds, *site.sitemaps, *site.start_urls)}
        found = []
        for origin in sorted(origins):
            robots = await self._robots(origin)
            if robots is not None:
                found.extend(u for s in robots.sitemaps if (u := canonicalize(s, origin)))
        return found


@dataclass
class Plan:
    """What discovery found for one site: the article URLs to fetch now and the sources' validators."""

    new: list[str]
    complete: bool  # every candidate is in `new` (none held back by the cap)
    validators: dict[str, tuple[str | None, str | None]]


class ArticleFailed(ScraperError):
    """One article failed; the failure is already recorded in the store and the site's stats.
    `permanent`: a definite answer, not worth fetching again (everything else may pass).
    A page that is no article names its kind first ("paywall: ..."), for `scraper status`."""

    def __init__(self, url: str, cause: Exception):
        self.permanent = _definite(cause)
        if isinstance(cause, NotArticleError) and self.permanent:
            message = f"{cause.kind}: {cause}"
        elif isinstance(cause, ScraperError):
            message = str(cause)
        else:  # a page that crashes the extractor must not end the run for every site
            message = f"internal error on {url}: {type(cause).__name__}: {cause}"
        super().__init__(message)


def _definite(cause: Exception) -> bool:
    """Whether a failure is the page's answer, not a passing trouble: robots.txt forbids it, it is
    gone or refused (4xx but 408/429), or it is no article (extraction cut off or crashed is ours)."""
    if isinstance(cause, FetchError):
        return isinstance(cause, Disallowed) or _permanent_status(cause.status)
    return isinstance(cause, NotArticleError) and not isinstance(cause, ExtractorFailed)


def fetcher_for(settings: Settings) -> Fetcher:
    """The HTTP client a run (or a worker) fetches with, built from the global settings."""
    return Fetcher(FetchSettings.from_settings(settings), url_guard=None if settings.allow_private_addresses else refuse_private_address)


class Interrupted(ScraperError):
    """The run was stopped by SIGINT or SIGTERM; what it saved is kept and the next run does the rest.
    Exit code 128 + the signal's number, as a shell reports a process the signal ended."""

    def __init__(self, signum: signal.Signals, saved: int):
        super().__init__(f"interrupted by {signum.name}: {saved} articles saved; the next run carries on")
        self.exit_code = 128 + signum


class Stop:
    """How a run stops on SIGINT or SIGTERM. At the first signal it takes no new pages and gives those in
    hand STOP_GRACE seconds to be saved; then, or at a second signal, it cancels what is left. A page
    cancelled is not a failure: it is not recorded, and the next run fetches it."""

    def __init__(self) -> None:
        self.signal: signal.Signals | None = None  # the first signal received
        self._work: asyncio.Task | None = None
        self._cut_off = False  # the work was cancelled here, at the second signal or after the grace

    async def run(self, work: Coroutine[object, object, None]) -> None:
        """Run `work`, listening for the signals meanwhile; returns early if they cancel it."""
        loop = asyncio.get_running_loop()
        self._work = asyncio.create_task(work)
        for signum in STOP_SIGNALS:
            loop.add_signal_handler(signum, self._received, signum)
        try:
            await self._work
        except asyncio.CancelledError:
            if not self._cut_off or asyncio.current_task().cancelling():
                raise  # not cancelled here
        finally:
            for signum in STOP_SIGNALS:
                loop.remove_signal_handler(signum)

    def _received(self, signum: signal.Signals) -> None:
        if self.signal is None:
            self.signal = signum
            asyncio.get_running_loop().call_later(STOP_GRACE, self._cut)
        else:
            self._cut()

    def _cut(self) -> None:
        self._cut_off = True
        self._work.cancel()


class Runner:
    """The pipeline for sites: `plan` discovers one site, `article` handles one article. `run` runs
    whole sites in this process; the fleet's tasks (scraper/fleet.py) call `plan` and `article` alone."""

    def __init__(self, config: Config, store: Store, *, limit: int | None = None, reporter: Reporter = Reporter(),
                 retry_waits: Sequence[float] | None = None):
        self.config = config
        self.store = store
        self.limit = limit
        self.reporter = reporter
        # Seconds before a failed article's 1st, 2nd, ... retry: a run retries on later runs, after
        # 1 h, 6 h, then every 24 h, `retry_attempts` times (the fleet passes its jobs' waits).
        self.retry_waits = tuple(RETRY_WAITS[min(i, len(RETRY_WAITS) - 1)] for i in range(config.settings.retry_attempts)) \
            if retry_waits is None else tuple(retry_waits)
        self._files_due: set[str] = set()  # stored articles whose files could not be written: not fetched again
        self._writing = threading.Lock()
        self.stop = Stop()

    async def run(self, sites: list[Site]) -> dict[str, SiteStats]:
        """Every site, at once; stopped early by SIGINT or SIGTERM (then `self.stop.signal` says which)."""
        stats = {site.name: SiteStats() for site in sites}
        await self.stop.run(self._sites(sites, stats))  # pool included: signals stay handled until its workers are gone
        return stats

    async def _sites(self, sites: list[Site], stats: dict[str, SiteStats]) -> None:
        settings = self.config.settings
        with ExtractionPool(settings.extract_workers, settings.extract_timeout) as pool:
            async with fetcher_for(settings) as fetcher:
                crawler = Crawler(self.config, fetcher, self.store)
                await asyncio.gather(*(self._site(site, crawler, pool, stats[site.name]) for site in sites))

    async def _site(self, site: Site, crawler: Crawler, pool: ExtractionPool, stats: SiteStats) -> None:
        try:
            plan = await self.plan(site, crawler, stats)
            if plan.new:
                pool.start()  # while the first pages download
            self.reporter.site_found(site.name, len(plan.new))
            repeated = self.repeated(site)
            done: list[bool] = []
            pending = iter(plan.new)

            async def take_pages() -> None:
                for url in pending:
                    if self.stop.signal:
                        return  # asked to stop: what is left is the next run's
                    done.append(await self._attempt(url, site, crawler, pool, repeated, stats))
                    self.reporter.article_done(site.name)

            # A few takers per site, not a task per URL: as many as the site's host lets fetch at once,
            # and one more to hand a page to extraction meanwhile. Pages in memory stay bounded however
            # many a sitemap lists, and a slow site holds up only its own takers.
            takers = min(len(plan.new), self.config.settings.per_host_concurrency + 1)
            await asyncio.gather(*(take_pages() for _ in range(takers)))
            # Everything listed was dealt with: next time, ask for changes only. Otherwise the
            # sources must list the rest again (articles over the cap, or that failed for now).
            if plan.complete and not self.stop.signal and all(done):
                self.remember_sources(plan)
        except ScraperError as exc:
            stats.fail(str(exc))
        self.reporter.site_done(site.name, stats)

    async def plan(self, site: Site, crawler: Crawler, stats: SiteStats) -> Plan:
        """Discover the site's article URLs and keep those not stored and not failed (for good or for
        now), then add the site's failed URLs due again; those robots.txt allows, up to the cap."""
        links, validators = await self._discover(site, crawler, stats)
        stats.discovered = len(links)
        skipped = self.store.known_urls(links) | self.store.failed_urls(links)
        # Retries come from the store, not discovery: a source asked for changes only lists them no more.
        due = self.store.due_failures(site.name)
        self._files_due.update(self.store.known_urls(due))
        wanted = list(dict.fromkeys([*(u for u in links if u not in skipped), *due]))
        # Pages robots.txt forbids are neither fetched nor failures: they are not ours to take.
        candidates = [u for u in wanted if await crawler.allowed(u)]
        stats.disallowed = len(wanted) - len(candidates)
        cap = self.limit if self.limit is not None else (site.max_pages or self.config.settings.max_pages_per_site)
        stats.new = min(len(candidates), cap)
        stats.capped = len(candidates) - stats.new
        return Plan(candidates[:cap], len(candidates) <= cap, validators)

    def remember_sources(self, plan: Plan) -> None:
        """Store the sources' HTTP validators: the next discovery asks them for changes only."""
        for url, (etag, modified) in plan.validators.items():
            self.store.set_validators(url, etag, modified)

    def repeated(self, site: Site) -> frozenset[str]:
        """The site's learned boilerplate lines, read before extracting its pages."""
        if not self.config.settings.learn_boilerplate:
            return frozenset()
        return repeated_lines(self.store, site.name)

    async def _discover(self, site: Site, crawler: Crawler, stats: SiteStats) -> tuple[list[str], dict]:
        """Article URLs from the site's feeds, sitemaps (and those in robots.txt) and listing pages."""
        links: list[Link] = []
        validators: dict[str, tuple[str | None, str | None]] = {}

        async def source(url: str) -> Response | None:
            """A feed's or sitemap's new content; None when unchanged since the last run, or failed (noted)."""
            etag, modified = self.store.get_validators(url)
            headers = {k: v for k, v in (("If-None-Match", etag), ("If-Modified-Since", modified)) if v}
            try:
                response = await crawler.get(url, headers)
            except ScraperError as exc:
                stats.fail(str(exc))
                return None
            if response.status == 304:
                return None
            validators[url] = (response.headers.get("etag"), response.headers.get("last-modified"))
            return response

        def parsed(parse: Callable[[], object], url: str) -> object | None:
            """What `parse` gives for the source `url`; a failure is noted, and the source read whole next time."""
            try:
                return parse()
            except ScraperError as exc:  # malformed, unsafe or truncated XML: this source fails, the others go on
                stats.fail(str(exc))
                validators.pop(url, None)
                return exc.partial if isinstance(exc, TruncatedXML) else None  # what came before a cut is good

        async def feed(url: str) -> None:
            if response := await source(url):
                links.extend(parsed(lambda: parse_feed(response.content, url), url) or [])

        async def sitemap(url: str, depth: int, seen: set[str]) -> None:
            settings = self.config.settings
            if url in seen or depth > settings.max_sitemap_depth or len(seen) >= settings.max_sitemaps_per_site:
                return
            seen.add(url)
            if response := await source(url):
                found = parsed(lambda: parse_sitemap(response.content, url), url) or Sitemap([], [])
                links.extend(found.links)
                stats.dropped += found.dropped
                if found.children:
                    validators.pop(url, None)  # an index's children change without it: always read it whole
                for child in found.children:
                    await sitemap(child, depth + 1, seen)

        async def listing(url: str) -> None:
            try:
                response = await crawler.get(url, page=True)
            except ScraperError as exc:
                stats.fail(str(exc))
                return
            links.extend(parsed(lambda: parse_listing(response.text, url, site.article_pattern, site.domains), url) or [])

        await asyncio.gather(*(feed(u) for u in site.feeds), *(listing(u) for u in site.start_urls))
        seen: set[str] = set()
        for url in (*site.sitemaps, *await crawler.robots_sitemaps(site)):
            await sitemap(canonicalize(url) or url, 0, seen)
        found = list(dict.fromkeys(link.url for link in links))
        urls = [url for url in found if _wanted(url, site)]
        stats.skipped = len(found) - len(urls)
        return urls, validators

    async def _attempt(self, url: str, site: Site, crawler: Crawler, pool: ExtractionPool, repeated: frozenset[str], stats: SiteStats) -> bool:
        """`article`, for a run: False if it failed for now and is worth another try."""
        try:
            await self.article(url, site, crawler, pool, repeated, stats)
            return True
        except ArticleFailed as failed:
            return failed.permanent

    async def article(
        self, url: str, site: Site, crawler: Crawler, pool: ExtractionPool, repeated: frozenset[str], stats: SiteStats
    ) -> None:
        """Fetch, extract and save one article; on failure record it and raise `ArticleFailed`. An
        article stored before whose files could not be written is taken from the store instead."""
        try:
            if url in self._files_due:
                article = await asyncio.to_thread(self.store.get, url)
            else:
                async with crawler.page(url, hold=pool.backlog) as response:
                    stats.fetched += 1
                    article = await pool.extract(response, site=site, repeated=repeated)
                    del response  # not kept while the article waits its turn to be written
            # Off the event loop, which must keep requests leaving on time; one writer at a time,
            # as SQLite wants.
            if await asyncio.to_thread(self._keep, article, site):
                stats.saved += 1
        except Exception as exc:
            failed = ArticleFailed(url, exc)
            # A run being stopped records definite answers only: what passing trouble met (its workers
            # going down with the run, a cut-off download) is left for the next run, not for later.
            if failed.permanent or not self.stop.signal:
                self.store.record_failure(url, str(failed), permanent=failed.permanent, site=site.name, waits=self.retry_waits)
                stats.fail(str(failed))
            raise failed from exc
        finally:
            self._files_due.discard(url)

    def _keep(self, article: Article, site: Site) -> bool:
        """Save the article (and write its files if `out_dir` is set); True if its row is new or changed."""
        settings = self.config.settings
        with self._writing:
            result = save(self.store, article, site.name, domains=site.domains, learn=settings.learn_boilerplate)
            if result is SaveResult.DUPLICATE:
                return False
            if settings.out_dir:  # an unchanged article too: its files may be the ones missing
                write_article(article, Path(settings.out_dir), site.name)
            return result in (SaveResult.INSERTED, SaveResult.UPDATED)


def _permanent_status(status: int | None) -> bool:
    return status is not None and 400 <= status < 500 and status not in (408, 429)


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower()


def _wanted(url: str, site: Site) -> bool:
    host = urlsplit(url).hostname or ""
    if site.domains and not site.owns(host):
        return False
    return site.article_pattern is None or bool(site.article_pattern.search(url))


def refuse_private_address(url: str) -> None:
    """Fetcher url_guard: feeds and redirects must not steer a run to loopback, private or link-local addresses."""
    host = urlsplit(url).hostname or ""
    for address in _addresses(host):
        if not address.is_global:
            raise FetchError(f"refused private address {address} (set allow_private_addresses to allow): {url}", url=url)


@lru_cache(maxsize=1024)
def _addresses(host: str) -> tuple[ipaddress.IPv4Address | ipaddress.IPv6Address, ...]:
    """The host's addresses (resolved once per process; this does not stop DNS rebinding)."""
    try:
        found = [host]
        ipaddress.ip_address(host)
    except ValueError:
        try:
            found = [info[4][0] for info in socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)]
        except OSError:
            return ()  # the fetch itself will report that the name does not resolve
    addresses = [ipaddress.ip_address(a.partition("%")[0]) for a in found]
    return tuple(getattr(a, "ipv4_mapped", None) or a for a in addresses)


def run(config: Config, store: Store, *, sites: list[Site], limit: int | None, reporter: Reporter = Reporter()) -> tuple[bool, dict]:
    """A whole scheduled run with the store's lock and its record in the store. Returns (ok, stats)."""
    memory.return_large_blocks()  # pages come and go for the whole run
    with store.run_lock():
        run_id = store.start_run()
        runner = Runner(config, store, limit=limit, reporter=reporter)
        stats = asyncio.run(runner.run(sites))
        ok = not any(s.failed for s in stats.values())
        stopped_by = runner.stop.signal
        state = "interrupted" if stopped_by else "finished"
        store.finish_run(run_id, {name: asdict(s) for name, s in stats.items()}, ok=ok, state=state)
    if stopped_by:
        raise Interrupted(stopped_by, saved=sum(s.saved for s in stats.values()))
    return ok, stats
