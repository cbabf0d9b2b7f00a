"""One page through the pipeline: fetch → extract → clean → (store). The CLI and runs call this."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from urllib.parse import urlsplit

from .article import Article
from .clean import line_key
from .config import Config, Rules, Site
from .extract import extract
from .fetch import Fetcher, FetchSettings, Response
from .store import SaveResult, Store

# A line on this many distinct articles of one site is that site's boilerplate.
REPEATED_LINE_ARTICLES = 5


def site_name(url: str, config: Config | None = None) -> str:
    site = config.site_for_url(url) if config else None
    return site.name if site else (urlsplit(url).hostname or "unknown").removeprefix("www.")


def article_from_response(
    response: Response,
    *,
    rules: Rules | None = None,
    site: Site | None = None,
    repeated: frozenset[str] | set[str] = frozenset(),
) -> Article:
    article = extract(response.text, response.final_url, rules=rules, site=site, repeated=repeated)
    article.url = response.url
    article.final_url = response.final_url
    article.fetched_at = response.fetched_at
    article.status = response.status
    return article


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


@dataclass(frozen=True)
class Learned:
    """A site's learned boilerplate, read from the store before extracting one of its pages."""

    site: str
    repeated: frozenset[str]

    @classmethod
    def load(cls, store: Store, site: str) -> "Learned":
        return cls(site, frozenset(store.repeated_lines(site, REPEATED_LINE_ARTICLES)))


def save(store: Store, article: Article, site: str, *, learn: bool = True) -> SaveResult:
    """Save an article and (if `learn`) let the store learn its lines as candidates for site boilerplate."""
    result = store.save(article, site=site)
    if learn and result is not SaveResult.DUPLICATE:
        store.record_lines(site, article.canonical_url or article.url, [line_key(line) for line in article.text.splitlines()])
    return result
