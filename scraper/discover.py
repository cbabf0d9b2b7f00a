"""The discover stage's parsers: feeds, sitemaps, robots.txt and listing pages to article links.

Pure functions, bytes in and links out; the caller downloads. XML goes through defusedxml with
entity declarations and external references forbidden, so billion-laughs and XXE payloads are
refused, never expanded. Elements are matched on local names, so namespace variants still work.
A feed or sitemap cut off part-way (a dropped connection, the size cap) still gives the entries that
were complete before the cut: see `TruncatedXML`.
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from email.utils import parsedate_to_datetime
from typing import NamedTuple, TypeVar
from urllib.parse import urljoin
from xml.etree.ElementTree import Element, ParseError, TreeBuilder

import defusedxml.ElementTree as SafeET
from defusedxml import DefusedXmlException, EntitiesForbidden
from protego import Protego
from selectolax.lexbor import LexborHTMLParser

from .errors import ScraperError
from .urls import canonicalize, host_of, looks_like_article, same_site

MAX_SITEMAP_URLS = 50_000  # entries per sitemap file (the protocol's own limit); the rest are ignored
MAX_XML_BYTES = 50 * 1024 * 1024  # per feed or sitemap, after decompression

_XML_BASE = "{http://www.w3.org/XML/1998/namespace}base"
_RDF_ABOUT = "{http://www.w3.org/1999/02/22-rdf-syntax-ns#}about"
_GZIP_MAGIC = b"\x1f\x8b"
_UTF8_BOM = b"\xef\xbb\xbf"
_TEXT_SITEMAP = re.compile(rb"\s*https?://", re.I)
_FIRST_TAG = re.compile(rb"<([A-Za-z_][\w.-]*:)?([A-Za-z_][\w.-]*)")
_COMMENT = re.compile(rb"<!--.*?-->", re.S)
_SNIFF_BYTES = 4096
# Date child elements in order of preference: the first one that parses wins.
_DATE_TAGS = ("pubDate", "published", "date", "issued", "updated", "modified")
_YEAR_OR_MONTH = re.compile(r"\d{4}(-(0[1-9]|1[0-2]))?")


class DiscoveryError(ScraperError):
    """A feed or sitemap that cannot be read: malformed, unsafe or too large XML."""

    exit_code = 3


class TruncatedXML(DiscoveryError):
    """A feed or sitemap cut off part-way: `partial` is what parsing it gave, from the entries that were
    complete before the cut (a list of links, or a `Sitemap`)."""

    def __init__(self, message: str, partial: object):
        super().__init__(message)
        self.partial = partial


@dataclass(frozen=True)
class Link:
    url: str  # canonicalized
    published: str | None = None  # ISO 8601, when the feed or sitemap says
    title: str | None = None  # feed item title or news:title


class Sitemap(NamedTuple):
    links: list[Link]  # page links, from a <urlset> or a plain-text sitemap
    children: list[str]  # child sitemap URLs, from a <sitemapindex>
    dropped: int = 0  # entries over MAX_SITEMAP_URLS, ignored


def parse_feed(content: bytes, url: str) -> list[Link]:
    """Article links from an RSS 2.0, RSS 1.0 (RDF) or Atom feed; items without a usable link are skipped.
    Raises `TruncatedXML` with the links of the complete items when the feed is cut off."""
    document = _parse_xml(*_unpack(content, "feed", url), "feed", url)
    root = document.root
    kind = _local(root.tag)
    if kind == "feed":  # Atom: links may be relative to xml:base on the feed, entry or link
        base = _base(root, url)
        items = [(entry, _base(entry, base)) for entry in root if _local(entry.tag) == "entry"]
    elif kind in ("rss", "RDF"):
        items = [(item, url) for item in root.iter() if _local(item.tag) == "item"]
    else:
        raise DiscoveryError(f"not a feed (root element <{kind}>): {url}")
    links = []
    for item, base in items:
        if item in document.unfinished:
            continue
        link = next((u for href, b in _item_hrefs(item, base) if href and (u := canonicalize(href, b))), None)
        if link:
            dates = (_iso_date(_text(_child(item, tag))) for tag in _DATE_TAGS)
            links.append(Link(link, next((d for d in dates if d), None), _text(_child(item, "title"))))
    links = _dedup(links)
    return _whole(links, len(links), document.cut, "feed", url)


def parse_sitemap(content: bytes, url: str) -> Sitemap:
    """Page links and child sitemap URLs from a <urlset>, a <sitemapindex>, or a plain-text sitemap; gzip
    is unpacked. Raises `TruncatedXML` with what the complete entries gave when the sitemap is cut off."""
    content, cut = _unpack(content, "sitemap", url)
    content = content.removeprefix(_UTF8_BOM)
    if _TEXT_SITEMAP.match(content):  # one URL per line
        lines = [line for line in content.decode("utf-8", "replace").splitlines() if line.strip()]
        if cut:
            lines = lines[:-1]  # the last line may be a URL cut short
        links = _dedup([Link(u) for line in lines[:MAX_SITEMAP_URLS] if (u := canonicalize(line))])  # absolute URLs only
        return _whole(Sitemap(links, [], _over_cap(lines)), len(links), cut, "sitemap", url)
    document = _parse_xml(content, cut, "sitemap", url)
    kind = _local(document.root.tag)
    entry_tag = {"urlset": "url", "sitemapindex": "sitemap"}.get(kind)
    if entry_tag is None:
        raise DiscoveryError(f"not a sitemap (root element <{kind}>): {url}")
    entries = [child for child in document.root if _local(child.tag) == entry_tag and child not in document.unfinished]
    dropped, entries = _over_cap(entries), entries[:MAX_SITEMAP_URLS]
    if kind == "sitemapindex":
        children = list(dict.fromkeys(u for entry in entries if (u := canonicalize(_text(_child(entry, "loc")) or "", url))))
        return _whole(Sitemap([], children, dropped), len(children), document.cut, "sitemap", url)
    links = []
    for entry in entries:
        link = canonicalize(_text(_child(entry, "loc")) or "", url)
        if link:
            news = _child(entry, "news")  # Google News: <news:news><news:publication_date>, <news:title>
            published = _iso_date(_text(_child(news, "publication_date"))) or _iso_date(_text(_child(entry, "lastmod")))
            links.append(Link(link, published, _text(_child(news, "title"))))
    links = _dedup(links)
    return _whole(Sitemap(links, [], dropped), len(links), document.cut, "sitemap", url)


def sitemaps_from_robots(robots_txt: str, url: str) -> list[str]:
    """Sitemap URLs named by `Sitemap:` lines in robots.txt (fetched from `url`), canonicalized."""
    found = (canonicalize(s, url) for s in Protego.parse(robots_txt).sitemaps)
    return list(dict.fromkeys(u for u in found if u))


def parse_listing(html: str, url: str, pattern: re.Pattern[str] | None, domains: Sequence[str]) -> list[Link]:
    """Same-site article links (<a href>) on a section or listing page, in page order.

    With `pattern`, a link is kept when pattern.search(url) matches; without, when its path looks
    like an article's. No `domains` means the page's own site. The title is the anchor text.
    """
    tree = LexborHTMLParser(html)
    base_node = tree.css_first("base[href]")
    base = (canonicalize(base_node.attributes.get("href") or "", url) if base_node else None) or url
    domains = domains or [host_of(url)]
    page = canonicalize(url)
    titles: dict[str, str | None] = {}
    for anchor in tree.css("a[href]"):
        link = canonicalize(anchor.attributes.get("href") or "", base)
        if not link or link == page or not same_site(link, domains):
            continue
        if pattern.search(link) if pattern else looks_like_article(link):
            titles[link] = titles.get(link) or " ".join(anchor.text(deep=True).split()) or None
    return [Link(link, title=title) for link, title in titles.items()]


def looks_like_feed(content: bytes) -> bool:
    """Cheap sniff of the first bytes: is this an RSS, RDF or Atom document?"""
    return _first_tag(content) in ("rss", "rdf", "feed")


def looks_like_sitemap(content: bytes) -> bool:
    """Cheap sniff of the first bytes: an XML sitemap or index (gzipped or not), or a plain-text URL list?"""
    if content.startswith(_GZIP_MAGIC):
        try:
            content = zlib.decompressobj(wbits=zlib.MAX_WBITS | 16).decompress(content[:_SNIFF_BYTES], _SNIFF_BYTES)
        except zlib.error:
            return False
    content = content.removeprefix(_UTF8_BOM)
    return bool(_TEXT_SITEMAP.match(content)) or _first_tag(content) in ("urlset", "sitemapindex")


# --- helpers ---------------------------------------------------------------------------------


def _unpack(content: bytes, kind: str, url: str) -> tuple[bytes, str | None]:
    """The XML bytes, gunzipped if gzip, never more than MAX_XML_BYTES; and why they are cut short, if they are."""
    if content.startswith(_GZIP_MAGIC):
        inflater = zlib.decompressobj(wbits=zlib.MAX_WBITS | 16)
        try:
            content = inflater.decompress(content, MAX_XML_BYTES + 1)
        except zlib.error as exc:
            raise DiscoveryError(f"corrupt gzip {kind} {url}: {exc}") from None
        if len(content) > MAX_XML_BYTES:
            return content[:MAX_XML_BYTES], f"{kind} too large after decompression (over {MAX_XML_BYTES} bytes): {url}"
        if not inflater.eof:
            return content, f"truncated gzip {kind}: {url}"
    elif len(content) > MAX_XML_BYTES:
        return content[:MAX_XML_BYTES], f"{kind} too large (over {MAX_XML_BYTES} bytes): {url}"
    return content, None


class _Document(NamedTuple):
    """A parsed feed or sitemap. `cut` says why it is incomplete, None when it is whole; `unfinished` holds
    the elements the cut left open, whose content is partial (those that closed before it are whole)."""

    root: Element
    unfinished: set[Element]
    cut: str | None


class _TreeBuilder(TreeBuilder):
    """ElementTree's builder, which also knows the elements still open: where a document stops short, those."""

    def __init__(self) -> None:
        super().__init__()
        self.open: list[Element] = []

    def start(self, tag: str, attrs: dict[str, str]) -> Element:
        element = super().start(tag, attrs)
        self.open.append(element)
        return element

    def end(self, tag: str) -> Element:
        self.open.pop()
        return super().end(tag)


def _parse_xml(content: bytes, cut: str | None, kind: str, url: str) -> _Document:
    """The document, whole or cut short (`cut`: why the bytes stop short, if known; a document that does not
    close is cut short too). A syntax error, or a cut before the root element, raises (naming the cut if known)."""
    # Leading blank lines are common in the wild and make expat reject the XML declaration.
    content = content.removeprefix(_UTF8_BOM).lstrip(b" \t\r\n")
    builder = _TreeBuilder()
    parser = SafeET.XMLParser(target=builder)  # forbid_entities=True, forbid_external=True by default
    try:
        parser.feed(content)
        try:
            return _Document(parser.close(), set(), cut)
        except ParseError as exc:  # the bytes ended inside the document
            if not builder.open:
                raise
            return _Document(builder.open[0], set(builder.open), cut or _malformed(exc, kind, url))
    except ParseError as exc:
        raise DiscoveryError(cut or _malformed(exc, kind, url)) from None
    except EntitiesForbidden:
        raise DiscoveryError(f"refused XML with entity declarations: {url}") from None
    except DefusedXmlException as exc:
        raise DiscoveryError(f"refused unsafe XML ({type(exc).__name__}): {url}") from None
    except (LookupError, ValueError) as exc:  # an XML declaration naming an unknown or multi-byte encoding
        raise DiscoveryError(f"malformed {kind} {url}: {exc}") from None


def _malformed(exc: ParseError, kind: str, url: str) -> str:
    reason = str(exc).split(": line")[0]
    return f"malformed {kind} {url}: {reason} (line {exc.position[0]})"


Found = TypeVar("Found")


def _whole(found: Found, kept: int, cut: str | None, kind: str, url: str) -> Found:
    """`found`, from a whole document. From one cut short, `TruncatedXML` with it; or, when not one entry
    was kept, the error that says why the document is incomplete."""
    if cut is None:
        return found
    if not kept:
        raise DiscoveryError(cut)
    raise TruncatedXML(f"truncated {kind}, kept {kept} items: {url}", found)


def _over_cap(entries: list) -> int:
    return max(0, len(entries) - MAX_SITEMAP_URLS)


def _local(tag: object) -> str:
    """'{namespace}name' -> 'name'; comments and processing instructions have no name."""
    return tag.rpartition("}")[2] if isinstance(tag, str) else ""


def _child(element: Element | None, name: str) -> Element | None:
    """The first direct child with this local name (nested image:loc or media:title do not count)."""
    return next((c for c in element if _local(c.tag) == name), None) if element is not None else None


def _text(element: Element | None) -> str | None:
    text = " ".join("".join(element.itertext()).split()) if element is not None else ""
    return text or None


def _base(element: Element, parent_base: str) -> str:
    return urljoin(parent_base, element.get(_XML_BASE) or "")


def _item_hrefs(item: Element, base: str) -> Iterator[tuple[str | None, str]]:
    """Candidate (href, base) pairs for an item's article link, best first."""
    links = [c for c in item if _local(c.tag) == "link"]
    yield _text(_child(item, "origLink")), base  # FeedBurner's original, not its redirect
    for link in links:  # RSS: <link>url</link>
        yield _text(link), base
    for link in sorted(links, key=lambda link: link.get("rel", "alternate") != "alternate"):  # Atom
        yield link.get("href"), _base(link, base)
    guid = _child(item, "guid")
    if guid is not None and guid.get("isPermaLink", "true") == "true":
        yield _text(guid), base
    yield item.get(_RDF_ABOUT), base


def _iso_date(text: str | None) -> str | None:
    """RFC 822 or W3C/ISO 8601 date as ISO 8601; None when it does not parse."""
    if not text:
        return None
    if _YEAR_OR_MONTH.fullmatch(text):  # W3C dates may stop there
        return text
    try:
        parsed = datetime.fromisoformat(text)
        return parsed.isoformat() if ":" in text else parsed.date().isoformat()  # keep a date a date
    except ValueError:
        pass
    try:
        return parsedate_to_datetime(text).isoformat()
    except (TypeError, ValueError, IndexError, OverflowError):
        return None


def _dedup(links: list[Link]) -> list[Link]:
    """First occurrence of each URL, in order."""
    first: dict[str, Link] = {}
    for link in links:
        first.setdefault(link.url, link)
    return list(first.values())


def _first_tag(content: bytes) -> str:
    """Lowercase local name of the first element in the first bytes, '' if none."""
    match = _FIRST_TAG.search(_COMMENT.sub(b"", content[:_SNIFF_BYTES]))
    return match[2].decode("ascii").lower() if match else ""
