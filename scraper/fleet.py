"""The fleet: worker processes on any number of machines sharing one PostgreSQL database, with the
work spread by procrastinate. The jobs are the pipeline of `scraper run` (scraper/run.py) cut up:

- `discover` (queue "discover"), per site on its interval: finds the site's new article URLs and
  defers one `fetch` job per URL; a queueing lock per URL keeps a URL in the queue once;
- `fetch` (queue "fetch"): fetches, extracts and saves one article. A failure that may pass
  (network, server error, a crash in extraction) is retried a bounded number of times with growing
  waits, then the job is left failed, its error in the store's failures; other jobs go on;
- `retry_stalled` (queue "discover"), every few seconds: the jobs of a worker that stopped sending
  heartbeats (killed, machine lost) go back to the queue for another worker.

A worker outlives its database: when PostgreSQL goes away (restarted, network cut) procrastinate's
worker stops once the jobs in hand are done; `Fleet.work` waits for the database and starts it again.

What must hold across workers is kept by the database: articles are unique by URL, key and content
hash (two workers racing on one article save it once), and each host's next turn is one row
updated atomically (`Store.reserve_turn`), so the per-host delay holds for the whole fleet.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import time
from contextlib import asynccontextmanager
from dataclasses import asdict
from typing import AsyncIterator

import psycopg
from procrastinate import App, BaseRetryStrategy, PsycopgConnector, RetryDecision, signals
from procrastinate.exceptions import AlreadyEnqueued, ConnectorException
from procrastinate.jobs import Job
from procrastinate.schema import SchemaManager
from psycopg_pool import PoolTimeout
from sqlalchemy import text
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception_type, wait_exponential

from . import memory
from .config import Config, Site, interval_cron
from .errors import ScraperError, StoreError, UsageError
from .extract_pool import ExtractionPool
from .fetcher import Fetcher
from .run import ROBOTS_TTL, ArticleFailed, Crawler, HostGate, Runner, SiteStats, Turn, fetcher_for
from .store import Store, _first_line

DISCOVER, FETCH = "discover", "fetch"  # queues
DONE_JOBS_KEPT_HOURS = 24
RECONNECT_WAIT_MAX = 30.0  # seconds between two attempts to reach a lost database, at most
# On a busy machine a request leaves a worker a little after its turn: turns are kept this much
# further apart than the delay, and a worker woken later than half of it takes a new turn, so the
# other half is left for the request to get onto the wire.
TURN_MARGIN = 0.1
log = logging.getLogger("scraper.fleet")


class ArticleRetry(BaseRetryStrategy):
    """Retry an article that may work later; a 404 or a page that is no article fails at once."""

    def __init__(self, attempts: int, wait: float):
        self.attempts = attempts
        self.wait = wait

    def get_retry_decision(self, *, exception: BaseException, job: Job) -> RetryDecision | None:
        if job.attempts >= self.attempts:
            return None
        if isinstance(exception, ArticleFailed) and exception.permanent:
            return None
        return RetryDecision(retry_in={"seconds": self.wait * 2**job.attempts})


def fleet_retry_waits(attempts: int, wait: float) -> tuple[float, ...]:
    """Seconds before an article job's 1st, 2nd, ... retry (`ArticleRetry`): `wait`, doubling. Its
    failures recorded in the store name these next tries."""
    return tuple(wait * 2**i for i in range(attempts))


class SharedHostGate(HostGate):
    """A host's gate whose turns live in the database: the delay holds across every worker."""

    def __init__(self, store: Store, host: str, delay: float, concurrency: int):
        super().__init__(delay, concurrency)
        self.store = store
        self.host = host

    @asynccontextmanager
    async def turn(self, run_slots: asyncio.Semaphore) -> AsyncIterator[Turn]:
        # The run slot first: a turn reserved is kept, not squeezed by a wait for a slot after it.
        # (A job waiting here holds its worker's job slot anyway.)
        async with self.slots, run_slots:
            while True:
                wait = self.store.reserve_turn(self.host, self.delay + TURN_MARGIN)
                due = time.monotonic() + max(wait, 0)
                await asyncio.sleep(max(wait, 0))
                if time.monotonic() - due <= TURN_MARGIN / 2:
                    break
                # Woken too late (a busy machine): the next turn may be near; take a new one.
            yield Turn(self, due)

    def back_off(self, seconds: float) -> None:
        super().back_off(seconds)
        self.store.hold_host(self.host, self.delay)


class FleetCrawler(Crawler):
    """A worker's crawler: host turns and robots.txt shared through the database by the whole fleet."""

    def __init__(self, config: Config, fetcher: Fetcher, store: Store):
        per_host = config.settings.per_host_concurrency
        super().__init__(config, fetcher, store, make_gate=lambda host, delay: SharedHostGate(store, host, delay, per_host))


class Fleet:
    """The procrastinate app of one process (worker, scheduler or CLI command) and its tasks."""

    def __init__(self, config: Config, store: Store):
        if store.engine.dialect.name != "postgresql":
            raise UsageError("the fleet needs a PostgreSQL store: pass --db postgresql://… or set db in [settings]")
        self.config = config
        self.store = store
        settings = config.settings
        self.runner = Runner(config, store, retry_waits=fleet_retry_waits(settings.retry_attempts, settings.retry_wait))
        self.app = App(
            connector=PsycopgConnector(conninfo=conninfo(store.url)),
            worker_defaults={
                "update_heartbeat_interval": settings.stalled_after / 3,
                "stalled_worker_timeout": settings.stalled_after,
                "name": f"{socket.gethostname()}:{os.getpid()}",
            },
        )
        self.fetcher: Fetcher | None = None  # these two are set while working
        self.pool: ExtractionPool | None = None
        self._crawler: Crawler | None = None
        self._crawler_since = 0.0
        self._define_tasks()

    def _define_tasks(self) -> None:
        settings = self.config.settings

        @self.app.task(name="discover", queue=DISCOVER)
        async def discover(site: str, timestamp: int | None = None) -> None:
            await self.discover(self.site(site))

        @self.app.task(name="fetch", queue=FETCH, retry=ArticleRetry(settings.retry_attempts, settings.retry_wait))
        async def fetch(url: str, site: str) -> None:
            await self.fetch(url, self.site(site))

        @self.app.periodic(cron=interval_cron(_sweep_every(settings.stalled_after)))
        @self.app.task(name="retry_stalled", queue=DISCOVER, queueing_lock="retry_stalled")
        async def retry_stalled(timestamp: int) -> None:
            await self.retry_stalled()

        @self.app.periodic(cron="0 */1 * * *")
        @self.app.task(name="forget_done_jobs", queue=DISCOVER, queueing_lock="forget_done_jobs")
        async def forget_done_jobs(timestamp: int) -> None:
            # Finished jobs pile up otherwise (the sweep alone adds thousands a day); failed ones stay to be seen.
            await self.app.job_manager.delete_old_jobs(nb_hours=DONE_JOBS_KEPT_HOURS)

        self.discover_task, self.fetch_task = discover, fetch

    # the jobs -------------------------------------------------------------------------------

    async def discover(self, site: Site) -> SiteStats:
        """One site's discovery: a fetch job per new article URL; recorded as a run of that site."""
        stats = SiteStats()
        run_id = self.store.start_run()
        try:
            plan = await self.runner.plan(site, self.crawler(), stats)
            for url in plan.new:
                await self._defer_fetch(url, site.name)
            # The jobs are in the database now: the sources need only be asked for changes.
            if plan.complete:
                self.runner.remember_sources(plan)
        except ScraperError as exc:
            stats.fail(str(exc))
        self.store.finish_run(run_id, {site.name: asdict(stats)}, ok=not stats.failed)
        log.info("%s: discovered %d, queued %d, failed %d", site.name, stats.discovered, stats.new, stats.failed)
        return stats

    async def fetch(self, url: str, site: Site) -> None:
        """One article; raises `ArticleFailed` (recorded in the store) for the retry strategy."""
        assert self.pool is not None, "jobs run inside Fleet.work"
        await self.runner.article(url, site, self.crawler(), self.pool, self.runner.repeated(site), SiteStats())

    async def retry_stalled(self) -> None:
        manager = self.app.job_manager
        for job in await manager.get_stalled_jobs(seconds_since_heartbeat=self.config.settings.stalled_after):
            log.warning("job %s (%s) of a silent worker goes back to the queue", job.id, job.call_string)
            await manager.retry_job(job)

    def site(self, name: str) -> Site:
        return next((s for s in self.config.sites if s.name == name), None) or Site(name=name)

    def crawler(self) -> Crawler:
        """This worker's crawler; renewed now and then, so that robots.txt is read again."""
        if self._crawler is None or time.monotonic() - self._crawler_since > ROBOTS_TTL:
            assert self.fetcher is not None, "jobs run inside Fleet.work"
            self._crawler = FleetCrawler(self.config, self.fetcher, self.store)
            self._crawler_since = time.monotonic()
        return self._crawler

    # the commands ----------------------------------------------------------------------------

    async def work(self, *, concurrency: int, queues: list[str] | None = None, wait: bool = True) -> None:
        """Run a worker until stopped (SIGINT/SIGTERM finish the jobs in hand first), through database outages."""
        settings = self.config.settings
        memory.return_large_blocks()  # a worker handles pages for days
        with ExtractionPool(settings.extract_workers, settings.extract_timeout) as self.pool:
            async with fetcher_for(settings) as self.fetcher, self._open():
                working = asyncio.create_task(self._keep_working(concurrency=concurrency, queues=queues or None, wait=wait))
                # Cancelling procrastinate's worker stops it gracefully, as its own signal handlers would.
                with signals.on_stop(working.cancel):
                    await asyncio.wait([working])
                if not working.cancelled():
                    working.result()

    async def _keep_working(self, **options) -> None:
        """procrastinate's worker, started again whenever it stops on its own. It does so when it loses the
        database: a query fails, or a side task (heartbeat, LISTEN connection) does and the worker stops
        after its jobs in hand. A job whose end could not be recorded is found stalled and run again."""
        while True:
            try:
                await self.app.run_worker_async(**options, install_signal_handlers=False)
                if not options["wait"]:
                    return
                log.warning("worker stopped: it lost the database")
            except (ConnectorException, PoolTimeout) as exc:
                log.warning("worker stopped: it lost the database (%s)", _first_line(exc))
            await self._database_back()

    async def _database_back(self) -> None:
        """Wait until the job queue's database answers again, asking less and less often."""

        def still_away(state: RetryCallState) -> None:
            log.warning("database still away; asking again in %.0f s", state.upcoming_sleep)

        async for attempt in AsyncRetrying(wait=wait_exponential(multiplier=0.5, max=RECONNECT_WAIT_MAX),
                                           retry=retry_if_exception_type((ConnectorException, PoolTimeout)),
                                           before_sleep=still_away):
            with attempt:
                await self.app.check_connection_async()
        log.warning("database back: worker starting again")

    async def schedule(self, *, once: bool = False) -> int:
        """Discovery per site on its interval (and discovery jobs run here); `once`: queue one per site now."""
        async with self._open():
            if once:
                return sum([await self._defer_discover(site) for site in self.config.sites])
            for site in self.config.sites:
                every = site.interval or self.config.settings.interval
                self.app.periodic(cron=interval_cron(every), periodic_id=site.name, **_discover_options(site.name),
                                  task_kwargs={"site": site.name})(self.discover_task)
        await self.work(concurrency=min(16, max(1, len(self.config.sites))), queues=[DISCOVER])
        return 0

    async def enqueue(self, urls: list[str]) -> int:
        """Queue one-off fetches; returns how many were not queued already."""
        async with self._open():
            return sum([await self._defer_fetch(url, self.config.site_name(url)) for url in urls])

    async def _defer_fetch(self, url: str, site: str) -> bool:
        try:
            await self.fetch_task.configure(queueing_lock=f"fetch:{url}").defer_async(url=url, site=site)
            return True
        except AlreadyEnqueued:
            return False

    async def _defer_discover(self, site: Site) -> bool:
        try:
            await self.discover_task.configure(**_discover_options(site.name)).defer_async(site=site.name)
            return True
        except AlreadyEnqueued:
            return False

    @asynccontextmanager
    async def _open(self) -> AsyncIterator[None]:
        if not queue_ready(self.store):
            raise StoreError("no job queue in this database: run `scraper db upgrade` first")
        try:
            async with self.app.open_async():
                yield
        except (ConnectorException, psycopg.Error, PoolTimeout) as exc:
            raise StoreError(f"job queue at {self.store.url}: {_first_line(exc)}") from None


def _discover_options(site: str) -> dict:
    # One discovery of a site waiting at most, and never two running at once.
    return {"queueing_lock": f"discover:{site}", "lock": f"discover:{site}"}


def _sweep_every(stalled_after: float) -> int:
    """How often to look for stalled jobs: the largest divisor of a minute within half the timeout."""
    return max(s for s in (1, 2, 3, 4, 5, 6, 10, 12, 15, 20, 30) if s <= max(1.0, stalled_after / 2))


def conninfo(db_url: str) -> str:
    """The libpq address of a SQLAlchemy PostgreSQL URL."""
    return "postgresql://" + db_url.split("://", 1)[1]


def queue_ready(store: Store) -> bool:
    with store.engine.connect() as conn:
        return conn.execute(text("SELECT to_regclass('procrastinate_jobs')")).scalar() is not None


def upgrade(store: Store) -> bool:
    """Create the job queue's tables in the store's PostgreSQL database unless there; True if created.
    (The store's own tables are created when it opens.) An advisory lock keeps concurrent upgrades apart."""
    with store.engine.begin() as conn:
        conn.execute(text("SELECT pg_advisory_xact_lock(hashtext('scraper db upgrade'))"))
        if conn.execute(text("SELECT to_regclass('procrastinate_jobs')")).scalar() is not None:
            return False
        conn.exec_driver_sql(SchemaManager.get_schema().replace("%", "%%"))
        return True


def queue_status(store: Store) -> tuple[list[dict], list[dict]]:
    """Per site, jobs waiting, running, failed and done; and the latest failed article jobs with their error."""
    with store.engine.connect() as conn:
        counts = conn.execute(text(
            "SELECT args->>'site' AS site,"
            " count(*) FILTER (WHERE status = 'todo') AS queued,"
            " count(*) FILTER (WHERE status = 'doing') AS running,"
            " count(*) FILTER (WHERE status = 'failed') AS failed,"
            " count(*) FILTER (WHERE status = 'succeeded') AS done"
            " FROM procrastinate_jobs WHERE task_name IN ('discover', 'fetch') GROUP BY 1 ORDER BY 1"
        )).mappings().all()
        parked = conn.execute(text(
            "SELECT j.id, j.args->>'site' AS site, j.args->>'url' AS url, j.attempts, f.reason"
            " FROM procrastinate_jobs j LEFT JOIN failures f ON f.url = j.args->>'url'"
            " WHERE j.task_name = 'fetch' AND j.status = 'failed' ORDER BY j.id DESC LIMIT 10"
        )).mappings().all()
    return [dict(r) for r in counts], [dict(r) for r in parked]


class OneLineFormatter(logging.Formatter):
    """Worker logs: an exception is summarised on its line, not dumped as a traceback."""

    def formatException(self, ei) -> str:
        return f"({ei[0].__name__}: {ei[1]})" if ei[0] else ""

    def format(self, record: logging.LogRecord) -> str:
        return super().format(record).replace("\n", " ")

