"""Extraction off the event loop: worker processes, one per core, with a time limit per page.

Extraction is CPU-bound (DOM pass, trafilatura, cleaner), so a run that extracts on its event
loop thread uses one core and stalls its downloads. pebble's process pool runs it on every core
and, unlike the standard library's pool, kills and replaces the one worker whose page runs past
the time limit. Workers are forked from a forkserver, not from the run: they share no locks,
sockets or threads with the run, and they exit when the run's process dies (their task pipe
closes), so a killed run leaves nothing behind that holds its lock. The forkserver loads what
extraction needs before it forks (scraper/extract_worker.py): the workers share that memory.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import signal
from collections.abc import Callable
from concurrent.futures import TimeoutError as FutureTimeout

from pebble import ProcessExpired, ProcessPool

from . import memory
from .article import Article
from .config import Settings, Site
from .errors import NotArticleError
from .extract import article_from_response
from .page import Response


BACKLOG_PER_WORKER = 4  # pages downloaded and waiting for a worker, per worker (see ExtractionPool.backlog)


class ExtractorFailed(NotArticleError):
    """Extraction was cut off or its process died: the page may be fine on another try (the fleet retries it)."""


class ExtractionPool:
    """`await pool.extract(response, site=..., repeated=...)` runs `extract_page` in a worker.

    `extract_page` is `article_from_response` unless a test swaps it; it must be importable by name.
    """

    def __init__(
        self,
        workers: int | None = None,
        timeout: float = Settings.extract_timeout,
        extract_page: Callable[..., Article] = article_from_response,
    ):
        workers = workers or os.cpu_count() or 1
        self.timeout = timeout
        self._extract_page = extract_page
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload(["scraper.extract_worker"])  # read when the forkserver starts, once per process
        self._pool = ProcessPool(max_workers=workers, context=context)
        # Pages handed to the pool at once: one at work and one ready per worker. The rest wait here:
        # a backlog queued in pebble goes through one shared pipe that its threads, contending with
        # the event loop for the GIL, fill and drain too slowly, and the workers starve.
        self._in_flight = asyncio.Semaphore(2 * workers)
        # Pages downloaded for the pool and not yet extracted, those in flight included: a run
        # takes a place before it downloads a page (Crawler.page), so memory stays flat however
        # many hosts are due at once, and a burst of pages waits at the hosts, not in memory.
        self.backlog = asyncio.Semaphore(BACKLOG_PER_WORKER * workers)
        self._started: asyncio.Future | None = None

    def __enter__(self) -> ExtractionPool:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        self._pool.stop()  # pages still queued belong to a run that is over
        self._pool.join()

    def start(self) -> asyncio.Future:
        """Start the workers now, off the event loop: pebble starts them on its first task and waits
        for the forkserver, which loads extraction first (about a second) — a second in which no
        request would leave. A run calls this as soon as it knows pages will come."""
        if self._started is None:
            self._started = asyncio.ensure_future(asyncio.to_thread(_first_task, self._pool))
        return self._started

    async def extract(self, response: Response, *, site: Site | None = None, repeated: frozenset[str] = frozenset()) -> Article:
        await self.start()
        try:
            async with self._in_flight:
                future = self._pool.schedule(
                    _in_worker, args=(self._extract_page, response), kwargs={"site": site, "repeated": repeated}, timeout=self.timeout
                )
                return await asyncio.wrap_future(future)
        except FutureTimeout:
            raise ExtractorFailed(f"extraction took longer than {self.timeout:g} s, cut off: {response.url}") from None
        except ProcessExpired as exc:  # the extractor died on this page (a crash in native code, out of memory)
            raise ExtractorFailed(f"extractor crashed ({exc}): {response.url}") from None


def _first_task(pool: ProcessPool):
    """Start the pool from a thread that blocks SIGINT: the threads and processes it starts inherit
    that. Ctrl-C signals the run's whole process group, and a forkserver (or resource tracker)
    whose interpreter is still starting would die of it with a "Fatal Python error" on the terminal,
    before extract_worker can ignore the signal. The run's main thread still gets it."""
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    return pool.schedule(os.getpid)


def _in_worker(extract_page: Callable[..., Article], response: Response, **options: object) -> Article:
    """One page's extraction in a worker; what the page took goes back to the system before the next."""
    try:
        return extract_page(response, **options)
    finally:
        memory.trim()
