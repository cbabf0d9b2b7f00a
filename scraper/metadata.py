"""Page metadata from the tree we already parsed: Open Graph and article meta tags, JSON-LD, <title>.

Reading these with selectolax costs a fraction of a millisecond; trafilatura's own metadata pass
costs more than its text extraction, so we do not ask it for metadata.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Iterator
from urllib.parse import urljoin

from selectolax.lexbor import LexborHTMLParser

_ARTICLE_TYPES = {"article", "newsarticle", "reportagenewsarticle", "blogposting", "analysisnewsarticle", "opinionnewsarticle", "webpage", "report"}


@dataclass(slots=True)
class Metadata:
    title: str | None = None
    headlines: list[str] = field(default_factory=list)  # every form of the title the page shows
    authors: list[str] = field(default_factory=list)
    published: str | None = None
    modified: str | None = None
    language: str | None = None
    site_name: str | None = None
    description: str | None = None
    tags: list[str] = field(default_factory=list)
    image: str | None = None
    canonical_url: str | None = None


def read(tree: LexborHTMLParser, url: str | None = None) -> Metadata:
    meta = _meta_tags(tree)
    ld = _json_ld(tree)
    first = lambda *values: next((v.strip() for v in values if isinstance(v, str) and v.strip()), None)  # noqa: E731
    title_node = tree.css_first("title")
    h1 = tree.css_first("h1")
    canonical = tree.css_first('link[rel="canonical"]')
    html = tree.css_first("html")
    image = ld.get("image")
    if isinstance(image, list):
        image = image[0] if image else None
    if isinstance(image, dict):
        image = image.get("url")
    publisher = ld.get("publisher")
    headlines = [meta.get("og:title"), meta.get("twitter:title"), ld.get("headline"),
                 h1.text(strip=True) if h1 else None, title_node.text(strip=True) if title_node else None]
    return Metadata(
        title=first(*headlines),
        headlines=list(dict.fromkeys(h.strip() for h in headlines if isinstance(h, str) and h.strip())),
        authors=_authors(ld.get("author")) or _split(first(meta.get("author"), meta.get("article:author"), meta.get("byl"), meta.get("parsely-author"))),
        published=_iso(first(meta.get("article:published_time"), ld.get("datePublished"), meta.get("date"), meta.get("pubdate"),
                             meta.get("publishdate"), meta.get("dc.date.issued"), meta.get("parsely-pub-date"), _time_datetime(tree))),
        modified=_iso(first(meta.get("article:modified_time"), ld.get("dateModified"), meta.get("og:updated_time"), meta.get("last-modified"))),
        language=_language(first(html.attributes.get("lang") if html else None, meta.get("og:locale"), meta.get("content-language"))),
        site_name=first(meta.get("og:site_name"), publisher.get("name") if isinstance(publisher, dict) else None, meta.get("application-name")),
        description=first(meta.get("og:description"), meta.get("description"), ld.get("description")),
        tags=_tags(meta, ld),
        image=urljoin(url or "", image) if (image := first(meta.get("og:image"), image)) else None,
        canonical_url=urljoin(url or "", href) if (href := first(canonical.attributes.get("href") if canonical else None, meta.get("og:url"))) else None,
    )


def _meta_tags(tree: LexborHTMLParser) -> dict[str, str]:
    found: dict[str, str] = {}
    for node in tree.css("meta"):
        attrs = node.attributes
        key = attrs.get("property") or attrs.get("name") or attrs.get("itemprop") or attrs.get("http-equiv")
        if key and attrs.get("content"):
            key = key.strip().lower()
            if key == "article:tag":  # one tag per element: keep them all
                found[key] = f"{found[key]}, {attrs['content']}" if key in found else attrs["content"]
            else:
                found.setdefault(key, attrs["content"])
    return found


def _json_ld(tree: LexborHTMLParser) -> dict[str, Any]:
    """The first article-like JSON-LD object on the page (or an empty dict)."""
    for node in tree.css('script[type="application/ld+json"]'):
        try:
            data = json.loads(node.text() or "")
        except (ValueError, RecursionError):
            continue
        for item in _ld_items(data):
            kind = item.get("@type")
            kinds = {k.lower() for k in (kind if isinstance(kind, list) else [kind]) if isinstance(k, str)}
            if kinds & _ARTICLE_TYPES:
                return item
    return {}


def _ld_items(data: Any) -> Iterator[dict]:
    if isinstance(data, list):
        for item in data:
            yield from _ld_items(item)
    elif isinstance(data, dict):
        yield data
        if isinstance(data.get("@graph"), list):
            yield from _ld_items(data["@graph"])


def _authors(value: Any) -> list[str]:
    items = value if isinstance(value, list) else [value]
    names = [item.get("name") if isinstance(item, dict) else item for item in items]
    return [n.strip() for n in names if isinstance(n, str) and n.strip()]


def _split(value: str | None) -> list[str]:
    if not value or value.startswith("http"):
        return []
    return [part.strip() for part in value.replace(" and ", ",").split(",") if part.strip()]


def _tags(meta: dict[str, str], ld: dict[str, Any]) -> list[str]:
    keywords = ld.get("keywords")
    if isinstance(keywords, list):
        keywords = ",".join(k for k in keywords if isinstance(k, str))
    raw = meta.get("article:tag") or meta.get("news_keywords") or meta.get("keywords") or keywords or ""
    return list(dict.fromkeys(t.strip() for t in raw.split(",") if t.strip()))


def _time_datetime(tree: LexborHTMLParser) -> str | None:
    node = tree.css_first("time[datetime]")
    return node.attributes.get("datetime") if node else None


def _iso(value: str | None) -> str | None:
    """ISO 8601 as given when it parses; None for anything we cannot read as a date."""
    if not value:
        return None
    text = value.strip().replace("Z", "+00:00")
    for candidate in (text, text[:10]):
        try:
            return datetime.fromisoformat(candidate).isoformat()
        except ValueError:
            continue
    return None


def _language(value: str | None) -> str | None:
    return value.replace("_", "-").split("-")[0].lower() if value else None
