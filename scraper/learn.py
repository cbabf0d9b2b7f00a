"""Learned boilerplate: a line found on many articles of one site is that site's junk.

Saving an article records its lines' keys (`article.line_key`) for its site; before extracting a
site's pages a run reads the keys seen on at least REPEATED_LINE_ARTICLES of its articles, and the
cleaner drops the lines with those keys.
"""

from __future__ import annotations

from collections.abc import Sequence

from .article import Article, line_key
from .store import SaveResult, Store

REPEATED_LINE_ARTICLES = 5


def repeated_lines(store: Store, site: str) -> frozenset[str]:
    """The keys of the site's learned boilerplate lines."""
    return frozenset(store.repeated_lines(site, REPEATED_LINE_ARTICLES))


def save(store: Store, article: Article, site: str, *, domains: Sequence[str] = (), learn: bool = True) -> SaveResult:
    """Save an article and (if `learn`) record its lines as candidates for the site's boilerplate.
    A page's canonical URL is not its identity here: a template may name one for many stories."""
    result = store.save(article, site=site, domains=domains)
    if learn and result is not SaveResult.DUPLICATE:
        store.record_lines(site, article.url, [line_key(line) for line in article.text.splitlines()])
    return result
