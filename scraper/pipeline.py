"""One page through the pipeline: fetch → extract → clean, as the library's `scraper.fetch` and `afetch`."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from .article import Article
from .config import Rules, Site
from .extract import article_from_response
from .fetcher import Fetcher, FetchSettings, afetch_page, fetch_page
from .page import Response


async def afetch(url: str, settings: FetchSettings = FetchSettings(), *, rules: Rules | None = None, site: Site | None = None) -> Article:
    """Download `url` and return its clean article (raises FetchError / NotArticleError)."""
    return article_from_response(await afetch_page(url, settings), rules=rules, site=site)


def fetch(url: str, settings: FetchSettings = FetchSettings(), *, rules: Rules | None = None, site: Site | None = None) -> Article:
    """Synchronous `afetch`."""
    return article_from_response(fetch_page(url, settings), rules=rules, site=site)


@contextmanager
def page_getter(settings: FetchSettings = FetchSettings()) -> Iterator[Callable[[str], Response]]:
    """A synchronous `get_page(url)` for many pages in turn, all through one client and its connections."""
    with asyncio.Runner() as runner:
        fetcher = Fetcher(settings)
        try:
            yield lambda url: runner.run(fetcher.get_page(url))
        finally:
            runner.run(fetcher.aclose())
