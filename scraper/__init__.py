"""scraper: fetch news articles, extract them, strip the junk, keep clean text and metadata.

    >>> import scraper
    >>> article = scraper.fetch("https://example.com/news/story")   # download + extract + clean
    >>> article = scraper.extract(html, url="https://example.com/news/story")
    >>> scraper.clean(text).text                                       # clean already-extracted text
"""

from .article import Article, Removal
from .clean import CleanResult, Cleaner, clean
from .errors import ConfigError, FetchError, LockedError, NotArticleError, ScraperError, StoreError, UsageError
from .extract import extract


def __getattr__(name: str):
    # fetch/afetch pull in the HTTP stack, which extraction workers never need; import it when asked.
    if name in ("fetch", "afetch"):
        from . import pipeline

        return getattr(pipeline, name)
    raise AttributeError(f"module 'scraper' has no attribute {name!r}")


__all__ = [
    "Article", "Removal", "CleanResult", "Cleaner", "clean", "extract", "fetch", "afetch",
    "ScraperError", "UsageError", "ConfigError", "FetchError", "NotArticleError", "StoreError", "LockedError",
]
