"""One page through the pipeline: fetch → extract → clean. The library's `fetch` and the CLI call this."""

from __future__ import annotations

import asyncio

from .article import Article
from .config import Rules, Site
from .extract import article_from_response
from .fetcher import Fetcher, FetchSettings
from .page import Response


async def adownload(url: str, settings: FetchSettings = FetchSettings()) -> Response:
    async with Fetcher(settings) as fetcher:
        return await fetcher.get_page(url)


def download(url: str, settings: FetchSettings = FetchSettings()) -> Response:
    return asyncio.run(adownload(url, settings))


async def afetch(url: str, settings: FetchSettings = FetchSettings(), *, rules: Rules | None = None, site: Site | None = None) -> Article:
    """Download `url` and return its clean article (raises FetchError / NotArticleError)."""
    return article_from_response(await adownload(url, settings), rules=rules, site=site)


def fetch(url: str, settings: FetchSettings = FetchSettings(), *, rules: Rules | None = None, site: Site | None = None) -> Article:
    """Synchronous `afetch`."""
    return article_from_response(download(url, settings), rules=rules, site=site)
