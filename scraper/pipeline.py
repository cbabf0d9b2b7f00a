"""One page through the pipeline: fetch → extract → clean, as the library's `scraper.fetch` and `afetch`."""

from __future__ import annotations

from .article import Article
from .config import Rules, Site
from .extract import article_from_response
from .fetcher import FetchSettings, afetch_page, fetch_page


async def afetch(url: str, settings: FetchSettings = FetchSettings(), *, rules: Rules | None = None, site: Site | None = None) -> Article:
    """Download `url` and return its clean article (raises FetchError / NotArticleError)."""
    return article_from_response(await afetch_page(url, settings), rules=rules, site=site)


def fetch(url: str, settings: FetchSettings = FetchSettings(), *, rules: Rules | None = None, site: Site | None = None) -> Article:
    """Synchronous `afetch`."""
    return article_from_response(fetch_page(url, settings), rules=rules, site=site)
