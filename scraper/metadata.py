"""Page metadata from the tree we already parsed: title, authors, dates, language, site.

Each field is read from its sources in order of trust and the first fit value wins: JSON-LD, then
meta tags, then the markup (`<time>`, `rel=author`, bylines), then the URL, then htmldate's fast
markup pass. Its search of the text (`date_from_text`) runs only when nothing else gave a date, on
the page the DOM stage has pruned. The sources check
each other: a `<time>` counts only beside the headline and where the URL's day agrees, a day such
as 4/6/2016 is read the way the page's other dates say, and a UTC time is given in the page's own
zone when another of its dates shows the same instant there. `sources` says where
each value came from (shown by `--explain`). Reading the tags with selectolax costs a fraction of
a millisecond; trafilatura's own metadata pass costs more than its text extraction, so we do not
ask it for metadata. The language declared is checked against py3langid on the article's text
(`check_language`, once the text is known).
"""

from __future__ import annotations

import json
import re
import warnings
from contextvars import ContextVar
from html import unescape
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from email.utils import parsedate_to_datetime
from functools import lru_cache
from itertools import islice
from typing import Any, Iterator
from urllib.parse import urljoin, urlsplit

from selectolax.lexbor import LexborHTMLParser

_ARTICLE_TYPES = {"article", "newsarticle", "reportagenewsarticle", "blogposting", "analysisnewsarticle", "opinionnewsarticle",
                  "webpage", "report", "scholarlyarticle", "techarticle", "liveblogposting", "socialmediaposting", "backgroundnewsarticle",
                  "reviewnewsarticle", "review", "recipe", "videoobject", "podcastepisode", "creativework", "itempage"}
_PERSON_TYPES = {"person"}

# Meta tags in order of trust (keys lower-cased; property, name and itemprop alike).
_PUBLISHED_TAGS = ("article:published_time", "og:article:published_time", "og:published_time", "datepublished", "published_time",
                   "article.published", "article:published", "publish-date", "publishdate", "publish_date", "pubdate", "publication_date",
                   "parsely-pub-date", "sailthru.date", "dc.date.issued", "dcterms.issued", "dcterms.created", "dc.date.created",
                   "citation_publication_date", "citation_date", "originalpublicationdate", "article_date_original", "date", "dc.date",
                   "dcterms.date", "og:pubdate", "rnews:datepublished", "displaydate", "datecreated")
_MODIFIED_TAGS = ("article:modified_time", "og:article:modified_time", "datemodified", "modified_time", "og:updated_time",
                  "article:modified", "dcterms.modified", "dc.date.modified", "last-modified", "lastmod", "revised")
_AUTHOR_TAGS = ("author", "article:author", "og:article:author", "byl", "parsely-author", "sailthru.author", "dc.creator",
                "dcterms.creator", "citation_author", "twitter:data1")
_LANGUAGE_TAGS = ("content-language", "og:locale", "dc.language", "language", "inlanguage")
_BYLINES = ('[itemprop="author"]', '[rel="author"]', '.byline', '[class*="byline"]', '[class*="Byline"]', '[class*="author-name"]',
            '[class*="authorname"]', '[class*="AuthorName"]', '.author', '[class*="author"]', '[id*="author"]', '[class*="writer"]')
BYLINE_LEVELS = 3  # bylines of one story share an ancestor this near: co-authors' spans, a byline shown twice
MAX_BYLINE_CHARS = 120  # an element holding more is a biography or a list of stories, not a byline

# The web is younger than this: an earlier date is a placeholder (0001-01-01, the epoch) or an error.
OLDEST = datetime(1995, 1, 1, tzinfo=timezone.utc)
CLOCK_SKEW = timedelta(days=1)
_URL_DATE = re.compile(r"/((?:19|20)\d\d)[/_-]?(0[1-9]|1[0-2])[/_-]?(0[1-9]|[12]\d|3[01])(?=[/_.-]|$)")
_DAY = re.compile(r"((?:19|20)\d\d)[-/.](\d\d?)[-/.](\d\d?)")

# What a byline holds besides names: words that mark a part as no person, lower-cased.
_NOT_A_NAME = re.compile(
    r"\b(staff|reporter|reporters|correspondent|editor|editors|editorial|columnist|contributor|contributing|writer|writers|"
    r"desk|team|newsroom|redaktion|rédaction|redacción|redazione|agency|agencies|press|news|media|service|wire|bureau|inc|ltd|"
    r"llc|gmbh|magazine|online|admin|administrator|guest|email|e-mail|follow|twitter|facebook|read|more|view|posts|articles|"
    r"profile|updated|published|photo|photos|photographer|video|associated|reuters|afp|dpa|ap|getty|images|senior|chief|"
    r"producer|analyst|author|anonymous|unknown|sponsored|by)\b", re.IGNORECASE)
_BY = re.compile(r"^\s*(?:(?:written|posted|story|words|reported|text|published)\s+)?(?:by|von|par|por|door|di|da|av|af|przez|от|автор)\s*[:\s]\s*",
                 re.IGNORECASE)
_NAME_SPLIT = re.compile(r"\s*(?:[,;|/·•\n]|\s&\s|\band\b|\bund\b|\bet\b|\by\b|\be\b|\bog\b|\boch\b|\ben\b|\bi\b|\bи\b)\s*", re.IGNORECASE)
_LINK = re.compile(r"\S*(?:https?://|www\.)\S*")
_HANDLE_OR_LINK = re.compile(r"@\w|https?://|www\.|\.com\b|\S+@\S+\.\w+")
_TITLE_SEPARATORS = re.compile(r"\s+(?:[|\-–—·•»«/]|::)\s+")
_WORD = re.compile(r"\w+")


@dataclass(slots=True)
class Metadata:
    title: str | None = None
    headlines: list[str] = field(default_factory=list)  # every form of the title the page shows
    authors: list[str] = field(default_factory=list)
    published: str | None = None  # ISO 8601: a day, or a time with its zone when the page gives one
    modified: str | None = None
    language: str | None = None  # ISO 639-1
    site_name: str | None = None
    publisher: str | None = None
    description: str | None = None
    tags: list[str] = field(default_factory=list)
    image: str | None = None
    canonical_url: str | None = None
    sources: dict[str, str] = field(default_factory=dict)  # field -> where its value came from


def read(tree: LexborHTMLParser, url: str | None = None) -> Metadata:
    meta = _meta_tags(tree)
    ld, people = _json_ld(tree)
    found = Metadata(sources={})
    _read_site(found, meta, ld)
    _read_title(found, tree, meta, ld, url)
    _read_authors(found, tree, meta, ld, people)
    _read_dates(found, tree, meta, ld, url)
    _read_declared_language(found, tree, meta, ld)
    canonical = tree.css_first('link[rel="canonical"]')
    image = ld.get("image")
    if isinstance(image, list):
        image = image[0] if image else None
    if isinstance(image, dict):
        image = image.get("url")
    found.description = _first(meta.get("og:description"), meta.get("description"), ld.get("description"))
    found.tags = _tags(meta, ld)
    found.image = urljoin(url or "", image) if (image := _first(meta.get("og:image"), image)) else None
    href = _first(canonical.attributes.get("href") if canonical else None, meta.get("og:url"))
    found.canonical_url = urljoin(url or "", href) if href else None
    return found


# --- the sources ---------------------------------------------------------------------------------

def _first(*values: Any) -> str | None:
    return next((v.strip() for v in values if isinstance(v, str) and v.strip()), None)


def _meta_tags(tree: LexborHTMLParser) -> dict[str, str]:
    """The first value of each meta tag; tags and authors that come one per element are joined."""
    found: dict[str, str] = {}
    for node in tree.css("meta"):
        attrs = node.attributes
        key = attrs.get("property") or attrs.get("name") or attrs.get("itemprop") or attrs.get("http-equiv")
        value = attrs.get("content") or attrs.get("value")  # some sites write value= for content=
        if key and value and value.strip():
            key = key.strip().lower()
            if key in ("article:tag", "article:author", "author", "citation_author") and key in found:
                found[key] = f"{found[key]}, {value}" if value not in found[key] else found[key]
            else:
                found.setdefault(key, value)
    return found


# A script's text wrapped for XHTML parsers (`<![CDATA[ ... ]]>`, or as `//` comments) is still its JSON.
_CDATA = re.compile(r"^\s*(?://\s*)?<!\[CDATA\[|(?://\s*)?\]\]>\s*$")


def _json_ld(tree: LexborHTMLParser) -> tuple[dict[str, Any], dict[str, dict]]:
    """The first article-like JSON-LD object (or an empty dict), and every object by its @id."""
    article: dict[str, Any] = {}
    by_id: dict[str, dict] = {}
    for node in tree.css('script[type="application/ld+json"]'):
        try:
            data = json.loads(_CDATA.sub("", node.text() or ""), strict=False)
        except (ValueError, RecursionError):
            continue
        for item in _ld_items(data):
            if isinstance(item.get("@id"), str):
                by_id.setdefault(item["@id"], item)
            if not _kinds(item) & _ARTICLE_TYPES:
                continue
            if not article and (item.get("headline") or item.get("datePublished") or item.get("author")):
                article = item
            elif article and not article.get("author") and item.get("author"):  # a WebPage first, the Article with its author after
                article = {**article, "author": item["author"]}
    return article, by_id


def _ld_items(data: Any, depth: int = 0) -> Iterator[dict]:
    if depth > 4:
        return
    if isinstance(data, list):
        for item in data:
            yield from _ld_items(item, depth + 1)
    elif isinstance(data, dict):
        yield data
        for key in ("@graph", "mainEntity", "mainEntityOfPage"):
            if isinstance(data.get(key), (list, dict)):
                yield from _ld_items(data[key], depth + 1)


def _kinds(item: dict) -> set[str]:
    kind = item.get("@type")
    return {k.lower() for k in (kind if isinstance(kind, list) else [kind]) if isinstance(k, str)}


def _ld_name(item: Any) -> str | None:
    if isinstance(item, dict):
        return _first(item.get("name"), " ".join(n for n in (item.get("givenName"), item.get("familyName")) if isinstance(n, str)))
    return item if isinstance(item, str) else None


def _tags(meta: dict[str, str], ld: dict[str, Any]) -> list[str]:
    keywords = ld.get("keywords")
    if isinstance(keywords, list):
        keywords = ",".join(k for k in keywords if isinstance(k, str))
    raw = meta.get("article:tag") or meta.get("news_keywords") or meta.get("keywords") or keywords or ""
    return list(dict.fromkeys(t.strip() for t in raw.split(",") if t.strip())) if isinstance(raw, str) else []


# --- site, title ---------------------------------------------------------------------------------

def _read_site(found: Metadata, meta: dict[str, str], ld: dict[str, Any]) -> None:
    publisher = ld.get("publisher")
    publisher = publisher[0] if isinstance(publisher, list) and publisher else publisher
    authors = ld.get("author") if isinstance(ld.get("author"), list) else [ld.get("author")]
    organisation = next((a for a in authors if isinstance(a, dict) and "organization" in _kinds(a)), None)
    for name, value, source in (("site_name", meta.get("og:site_name"), "meta:og:site_name"),
                                ("site_name", _ld_name(publisher), "json-ld:publisher"),
                                ("site_name", meta.get("application-name"), "meta:application-name"),
                                ("publisher", _ld_name(publisher), "json-ld:publisher"),
                                ("publisher", _ld_name(organisation), "json-ld:author"),
                                ("publisher", meta.get("og:site_name"), "meta:og:site_name")):
        if getattr(found, name) is None and (value := _first(value)):
            setattr(found, name, value)
            found.sources[name] = source


_TITLE_TAGS = ("dc.title", "dcterms.title", "dc:title", "dcterm:title", "parsely-title", "sailthru.title")
HEADLINE_WORDS = 6  # an h1 this long is a headline; a shorter one may be a section's label


def _read_title(found: Metadata, tree: LexborHTMLParser, meta: dict[str, str], ld: dict[str, Any], url: str | None) -> None:
    h1s = tree.css("h1")
    h1 = " ".join(h1s[0].text().split()) if len(h1s) == 1 else None  # several: a list of headlines, or logos
    title_node = tree.css_first("title")
    title = title_node.text(strip=True) if title_node else None
    # The one h1 is the article's headline as shown, better than a <title> written for search engines,
    # unless it is the site's logo or a word such as "Menu": then it is short and not in the <title>.
    shown = h1 if h1 and (len(h1) >= 20 or _squash(h1) in _squash(title or "")) else None
    # It comes before the tags' titles, which are often the headline rewritten for search and social
    # media, when it reads as a headline, not a label ("Sleep Training"), or when the tags hold all its
    # words (it is their headline without the kicker or the site they add). Over the sets whose gold
    # titles people checked (postlight, wcxb-dev), 56 titles more are right and 20 fewer (bench/metadata.py);
    # on those that are another library's output (readability, metascraper), 3 fewer.
    tagged = set(_WORD.findall(f"{meta.get('og:title', '')} {title or ''}".casefold()))
    headline = shown if shown and (len(shown.split()) >= HEADLINE_WORDS or set(_WORD.findall(shown.casefold())) <= tagged) else None
    candidates = [("h1", headline), ("json-ld:headline", ld.get("headline")), ("meta:og:title", meta.get("og:title")),
                  ("meta:twitter:title", meta.get("twitter:title")),
                  *((f"meta:{key}", meta.get(key)) for key in _TITLE_TAGS), ("h1", shown), ("title", title)]
    # unescape: a tag's content escaped twice shows "&#8216;" and "&amp;" to the reader
    candidates = [(source, " ".join(unescape(value).split())) for source, value in candidates if _first(value)]
    found.headlines = list(dict.fromkeys(value for _, value in candidates))
    sites = [s for s in (found.site_name, found.publisher, urlsplit(url or "").hostname) if s]
    sites += _site_parts(title or "", [v for s, v in candidates if s != "title"])
    for source, value in candidates:
        if source == "h1" and strip_site_name(f"- | {value}", sites) == "-":
            continue  # the h1 is the site's name (a logo)
        if title := strip_site_name(value, sites):
            found.title, found.sources["title"] = title, source
            return
    if h1:  # nothing else names the page: its one h1, short as it is
        found.title, found.sources["title"] = h1, "h1"


def _site_parts(title: str, headlines: list[str]) -> list[str]:
    """The ends of the <title> that no headline holds: the site's name."""
    pieces = _TITLE_SEPARATORS.split(title)
    if len(pieces) < 2 or not headlines:
        return []
    return [p for p in (pieces[0], pieces[-1]) if len(p.split()) <= 5 and all(_squash(p) not in _squash(h) for h in headlines)]


def _squash(text: str) -> str:
    return "".join(_WORD.findall(text.casefold()))


def strip_site_name(title: str, sites: list[str]) -> str:
    """`title` without a site name at its start or end (" | Site", " - Site", "Site: ")."""
    names = {_squash(s) for s in sites if _squash(s)}
    names |= {h.removeprefix("www.").split(".")[0] for h in sites if "." in h and " " not in h}

    def is_site(piece: str) -> bool:  # the name, a part of it, or the name with a word or two ("BBC News" for "BBC")
        squashed = _squash(piece)
        return bool(squashed) and len(piece.split()) <= 6 and any(
            squashed == n or (len(n) >= 4 and ((n in squashed and len(squashed) < 2 * len(n)) or (len(squashed) >= 4 and squashed in n)))
            for n in names if n)

    parts = _TITLE_SEPARATORS.split(title)
    separators = _TITLE_SEPARATORS.findall(title)
    while len(parts) > 1 and is_site(parts[-1]):
        parts.pop()
        separators.pop()
    while len(parts) > 1 and is_site(parts[0]):
        parts.pop(0)
        separators.pop(0)
    prefix = re.match(r"([^:]{2,40}):\s+(?=\S)", parts[0])
    if prefix and len(parts) >= 1 and is_site(prefix.group(1)):
        parts[0] = parts[0][prefix.end():]
    return "".join(part + sep for part, sep in zip(parts, [*separators, ""])).strip()


# --- authors -------------------------------------------------------------------------------------

def _read_authors(found: Metadata, tree: LexborHTMLParser, meta: dict[str, str], ld: dict[str, Any], people: dict[str, dict]) -> None:
    organisations = {_squash(n) for n in (found.site_name, found.publisher) if n}
    ld_authors = ld.get("author") or ld.get("creator")
    ld_authors = ld_authors if isinstance(ld_authors, list) else [ld_authors]
    ld_names, declared_people = [], set()
    for item in ld_authors:
        if isinstance(item, dict) and set(item) <= {"@id", "@type"} and isinstance(item.get("@id"), str):
            item = people.get(item["@id"], item)
        if isinstance(item, dict) and _kinds(item) and not _kinds(item) & _PERSON_TYPES:
            continue  # an organisation: the publisher, read above
        if name := _ld_name(item):
            ld_names.append(name)
            if isinstance(item, dict) and _kinds(item) & _PERSON_TYPES:
                declared_people.add(_squash(name))
    sources: list[tuple[str, list[str], bool]] = [("json-ld", ld_names, True)]
    sources += [(f"meta:{key}", [meta[key]], True) for key in _AUTHOR_TAGS if key in meta and _is_author_tag(key, meta)]
    for selector in _BYLINES:
        # a name in lower case ("doumae") is a user name where the markup says it is the author's
        lower_case = selector in ('[itemprop="author"]', '[rel="author"]')
        texts, first = [], None
        for node in tree.css(selector)[:4]:
            if node.tag in ("meta", "link", "body", "html", "article") or _in_comments(node):
                continue
            text = _byline_text(node, organisations, lower_case)
            if len(text) > MAX_BYLINE_CHARS or not person_names([text], organisations, lower_case=lower_case):
                continue
            # A byline with no ancestor near the first one's is a teaser's, for another story.
            near = {above.mem_id for above in islice(_ancestors(node), BYLINE_LEVELS)}
            if first is None:
                first = near
            elif first.isdisjoint(near):
                continue
            texts.append(text)
        sources.append((f"byline:{selector}", texts, lower_case))
    for source, raw, lower_case in sources:
        if names := person_names(raw, organisations, lower_case=lower_case):
            found.authors, found.sources["authors"] = names, source
            return
    # Nobody else named: a Person the site is named after is its author (a personal site, "Russell Miller")
    if names := person_names(ld_names, organisations - declared_people, lower_case=True):
        found.authors, found.sources["authors"] = names, "json-ld (a person named as the site)"


def _byline_text(node, organisations: set[str], lower_case: bool) -> str:
    """The names a byline element shows: its itemprop="name", else its text, else (for "Written by A B
    in Linux on 1 June 2019", a sentence that is no name) its links of full names."""
    named = next((n for n in node.css('[itemprop="name"]') if _inside(n, node)), node)
    text = (named.attributes.get("content") or named.attributes.get("value") or named.text(separator=" ", strip=True)
            or node.text(separator=" ", strip=True))
    words = text.split()
    if len(words) >= 2 and words[: len(words) // 2] * 2 == words:  # the name shown twice, for small and large screens
        return " ".join(words[: len(words) // 2])
    if len(text) <= MAX_BYLINE_CHARS and not person_names([text], organisations, lower_case=lower_case):
        # "Andrew Gerrand<br>4 August 2010": the name is a line of its own
        named_lines = [line for line in _lines(node) if person_names([line], organisations, lower_case=lower_case)]
        if named_lines:
            return ", ".join(named_lines)
        return ", ".join(t for link in node.css("a") if _inside(link, node) and len((t := " ".join(link.text().split())).split()) >= 2)
    return text


def _lines(node) -> list[str]:
    """The text of `node`'s children, cut into lines where it has a <br>."""
    lines, line = [], []
    for child in node.iter(include_text=True):
        if child.tag == "br":
            lines.append(" ".join(line))
            line = []
        else:
            line.append(child.text(separator=" ", strip=True))
    lines.append(" ".join(line))
    return [" ".join(text.split()) for text in lines if text.strip()]


def _ancestors(node) -> Iterator:
    """`node`'s parent, its parent's parent and so on up to the root."""
    while (node := node.parent) is not None:
        yield node


def _in_comments(node, levels: int = 12) -> bool:
    """Whether `node` is in the readers' comments, whose authors are not the article's."""
    for above in islice(_ancestors(node), levels):
        if above.tag == "body":
            return False
        if "comment" in f"{above.attributes.get('class') or ''} {above.attributes.get('id') or ''}".lower():
            return True
    return False


def _is_author_tag(key: str, meta: dict[str, str]) -> bool:
    """twitter:data1 holds what twitter:label1 says: an author only under "Written by" (not "Reading time")."""
    return key != "twitter:data1" or bool(re.search(r"writ|author|by", meta.get("twitter:label1", ""), re.IGNORECASE))


def _inside(node, ancestor) -> bool:
    """Whether `node` is under `ancestor` (lexbor's css() on a node may also match beyond it).
    Nodes are told apart by `mem_id`: selectolax's `==` compares their serialized HTML."""
    return any(above.mem_id == ancestor.mem_id for above in islice(_ancestors(node), 8))


def person_names(raw: list[str], organisations: set[str] = frozenset(), *, lower_case: bool = False) -> list[str]:
    """The people named in bylines: "By A and B" -> [A, B]; organisations, roles, handles, links dropped.
    A name in lower case ("doumae") is taken only with `lower_case`, from a field that holds names."""
    names: dict[str, str] = {}
    for text in raw:
        if not isinstance(text, str) or len(text) > 300:
            continue
        text = _BY.sub("", _LINK.sub(" ", " ".join(unescape(text).split())))  # a profile's address is no name, nor are its pieces
        for part in _NAME_SPLIT.split(text):
            part = _BY.sub("", part).strip(" .:-–—()[]\"'")
            if _is_person(part) and (lower_case or not part[0].islower()) and _squash(part) not in organisations:
                names.setdefault(part.casefold(), part)
    return list(names.values())


def _is_person(part: str) -> bool:
    words = part.split()
    return (0 < len(words) <= 5 and len(part) <= 60 and not _HANDLE_OR_LINK.search(part) and not any(c.isdigit() for c in part)
            and not _NOT_A_NAME.search(part) and all(_WORD.search(w) for w in words))


# --- dates ---------------------------------------------------------------------------------------

def _read_dates(found: Metadata, tree: LexborHTMLParser, meta: dict[str, str], ld: dict[str, Any], url: str | None) -> None:
    now = datetime.now(timezone.utc)
    in_url = _url_date(url)
    published = [("json-ld", ld.get("datePublished")), ("json-ld", ld.get("dateCreated"))]
    published += [(f"meta:{key}", meta.get(key)) for key in _PUBLISHED_TAGS]
    published += [("time", _time_attribute(tree.css_first('[itemprop="datePublished"]'))),
                  ("time", _time_attribute(tree.css_first("time[pubdate]")))]
    # A <time> elsewhere on the page dates an embedded post, a comment or a teaser of another story:
    # only the one beside the headline is the article's, and only if the URL's day does not say otherwise.
    published += [("time", value) for value in _times_by_headline(tree) if _agrees(value, in_url)]
    published.append(("url", in_url))
    modified = [("json-ld", ld.get("dateModified"))] + [(f"meta:{key}", meta.get(key)) for key in _MODIFIED_TAGS]
    modified.append(("time", _time_attribute(tree.css_first('[itemprop="dateModified"]'))))
    others = [value for _, value in published + modified if isinstance(value, str)]
    # any <time> of the page may show our instant in its own zone: to the second, it is no other story's
    zoned = [value for node in tree.css("time[datetime]") if (value := node.attributes.get("datetime"))]
    found.published, source = _first_date(published, now, others)
    if found.published is None:
        found.published, source = _htmldate(tree, url, now, extensive=False)
    found.modified, modified_source = _first_date(modified, now, others)
    if _updated_before_published(found):
        found.modified = None  # one of the two is wrong, and published is the better read
    found.published, found.modified = (_in_local_time(v, others + zoned) for v in (found.published, found.modified))
    for name, where, value in (("published", source, found.published), ("modified", modified_source, found.modified)):
        if value:
            found.sources[name] = where if "T" not in value or value[-6] in "+-" else f"{where} (no time zone given)"


def _time_attribute(node) -> str | None:
    if node is None:
        return None
    attrs = node.attributes
    return attrs.get("datetime") or attrs.get("content") or attrs.get("value") or (node.text(strip=True) if node.tag == "time" else None)


_NOT_THE_ARTICLES = {"blockquote", "aside", "li", "figure", "footer", "nav"}  # where a <time> dates something else


def _times_by_headline(tree: LexborHTMLParser, levels: int = 4) -> list[str]:
    """The dates of the <time> elements in the nearest box around the h1 that holds any."""
    node = tree.css_first("h1")
    for _ in range(levels):
        node = node.parent if node is not None else None
        if node is None or node.tag in ("body", "html", "main"):
            return []
        times = [t for t in node.css("time") if _inside(t, node) and not _under(t, node, _NOT_THE_ARTICLES)]
        if values := [v for t in times if (v := _time_attribute(t))]:
            return values
    return []


def _under(node, ancestor, tags: set[str]) -> bool:
    """Whether `node` sits in one of `tags` below `ancestor`."""
    for above in _ancestors(node):
        if above.mem_id == ancestor.mem_id:
            return False
        if above.tag in tags:
            return True
    return False


def _agrees(value: str, day: str | None) -> bool:
    """Whether `value` is within a day (time zones) of `day`, or there is no day to check it by."""
    when = _parse_date(value) if day else None
    return when is None or abs(_as_utc(when) - _as_utc(datetime.fromisoformat(day).date())) <= timedelta(days=1, hours=14)


def _in_local_time(value: str | None, others: list[str]) -> str | None:
    """A UTC time given in the page's own zone when another of its dates shows the same instant there
    (a US page's 01:09Z is the evening before: the day its readers saw)."""
    when = _parse_date(value) if value and "T" in value else None
    if not isinstance(when, datetime) or when.utcoffset() != timedelta(0):
        return value
    for other in others:
        local = _parse_date(other.strip())
        if not isinstance(local, datetime):
            continue
        if local.tzinfo is not None:
            offset = local.utcoffset() if local == when else None
        else:  # a time without its zone, hours away from ours to the second: the same instant, local
            offset = local - when.replace(tzinfo=None)
            offset = offset if not offset % timedelta(minutes=15) and abs(offset) <= timedelta(hours=14) else None
        if offset:
            return when.astimezone(timezone(offset)).isoformat()
    return value


def _url_date(url: str | None) -> str | None:
    match = _URL_DATE.search(urlsplit(url or "").path)
    return "-".join(match.groups()) if match else None


def _first_date(candidates: list[tuple[str, Any]], now: datetime, others: list[str]) -> tuple[str | None, str]:
    for source, value in candidates:
        if isinstance(value, list):
            value = value[0] if value else None
        if isinstance(value, str) and (iso := iso_date(value, now)):
            month_first = _month_first(value)
            if month_first and (day := iso_date(month_first, now)) and any(o != value and o.startswith(day[:10]) for o in others):
                return day, source  # "4/6/2016" is 6 April where the page's other dates say so
            return iso, source
    return None, ""


_NUMERIC_DAY = re.compile(r"(\d\d?)([/.])(\d\d?)\2((?:19|20)\d\d)\b")


def _month_first(value: str) -> str | None:
    """4/6/2016 read month first (6 April, the US way) as ISO, when it could be read either way."""
    match = _NUMERIC_DAY.search(value)
    if not match or int(match[1]) > 12 or int(match[3]) > 12 or match[1] == match[3]:
        return None
    return f"{match[4]}-{int(match[1]):02d}-{int(match[3]):02d}"


def iso_date(value: str, now: datetime | None = None) -> str | None:
    """`value` as ISO 8601 (a day, or a time to the second with its zone if it has one), or None
    when it is no date, a placeholder, older than the web or later than now plus a day's skew."""
    when = _parse_date(value.strip())
    if when is None:
        return None
    now = now or datetime.now(timezone.utc)
    if not OLDEST <= _as_utc(when) <= now + CLOCK_SKEW:
        return None
    if isinstance(when, datetime):
        return when.replace(microsecond=0).isoformat()
    return when.isoformat()


def _parse_date(text: str) -> datetime | Any | None:
    """A datetime, a date for a day alone, or None."""
    if not text or len(text) > 80:
        return None
    if text.isdigit() and len(text) in (10, 13):  # seconds or milliseconds since the epoch
        return datetime.fromtimestamp(int(text[:10]), timezone.utc)
    if re.fullmatch(r"\d{4}-\d\d-\d\d", text):
        try:
            return datetime.fromisoformat(text).date()
        except ValueError:
            return None
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00").replace(" ", "T", 1) if len(text) > 10 else text)
    except ValueError:
        pass
    try:
        return parsedate_to_datetime(text)  # RFC 2822: "Mon, 18 Nov 2019 10:00:00 GMT"
    except (TypeError, ValueError, IndexError):
        pass
    from htmldate.extractors import try_date_expr  # day names and month names of many languages

    # It hands "2012-10-29T14:00EDT" to dateutil, which warns on stderr of a zone name it cannot
    # place (and says a later version will raise): the day is what we take from it either way.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            day = try_date_expr(text, "%Y-%m-%d", False, OLDEST.replace(tzinfo=None), datetime.now() + CLOCK_SKEW)
        except Exception:  # a date we cannot read is no date, never a reason to lose the article
            return None
    return datetime.fromisoformat(day).date() if day else None


def _as_utc(when: Any) -> datetime:
    if isinstance(when, str):
        when = _parse_date(when)
    if not isinstance(when, datetime):
        return datetime(when.year, when.month, when.day, tzinfo=timezone.utc)
    return when if when.tzinfo else when.replace(tzinfo=timezone.utc)


def date_from_text(found: Metadata, tree: LexborHTMLParser, url: str | None = None) -> None:
    """htmldate's search of the page's text for a date, when the markup gave none. `tree` is the page
    after the DOM stage: without its comments and link lists, whose timestamps date the comments,
    and each of which the search would try (2 s on a page of 50 reader comments)."""
    if found.published is None:
        language = found.language or _detected_language(tree)
        found.published, source = _htmldate(tree, url, datetime.now(timezone.utc), extensive=True, language=language)
        if found.published:
            found.sources["published"] = source
        if _updated_before_published(found):
            found.modified = None  # as in _read_dates
            found.sources.pop("modified", None)


def _updated_before_published(found: Metadata) -> bool:
    return bool(found.published and found.modified and _as_utc(found.modified) < _as_utc(found.published))


def _htmldate(tree: LexborHTMLParser, url: str | None, now: datetime, *, extensive: bool,
              language: str | None = None) -> tuple[str | None, str]:
    """htmldate's fast markup pass, or its search of the text (dates in `language` or English), on `tree`."""
    import htmldate
    import htmldate.extractors
    import lxml.html

    try:
        document = lxml.html.fromstring(tree.html or "<html></html>")
    except (ValueError, lxml.etree.ParserError):
        return None, ""
    htmldate.extractors.get_external_parser = _page_date_parser  # dateparser in the page's language: see below
    page_language = _PAGE_LANGUAGE.set(language)
    # Its text search for the *oldest* date reads every text node (70 ms a page against 10 for the
    # newest): where the markup has no date, the text's first one will do.
    try:
        day = htmldate.find_date(document, url=url, extensive_search=extensive, original_date=not extensive,
                                 min_date=OLDEST.replace(tzinfo=None), max_date=(now + CLOCK_SKEW).replace(tzinfo=None))
    except Exception:  # htmldate is no reason to lose the article
        day = None
    finally:
        _PAGE_LANGUAGE.reset(page_language)
    iso = iso_date(day, now) if day else None
    return (iso, "htmldate:text" if extensive else "htmldate") if iso else (None, "")


# htmldate's search of the text hands what its own patterns cannot read to dateparser, which tries
# each string in all of its 205 languages: 10 ms a string, and 2 s to load them all the first time
# (on 800 bench pages, 2.5 s of our 27 s, for 3 dates in 28 strings). The page's language (declared,
# else detected) and English read the same dates (bench/metadata.py: not one lost). htmldate asks
# `get_external_parser` for its parser, which _htmldate points at this one; the language is in a
# context variable, as extraction may run in threads.
_PAGE_LANGUAGE: ContextVar[str | None] = ContextVar("page_language", default=None)
# htmldate's own settings for dateparser.
_DATEPARSER_SETTINGS = {"NORMALIZE": True, "PARSERS": ["custom-formats", "absolute-time"], "PREFER_DATES_FROM": "past",
                        "PREFER_LOCALE_DATE_ORDER": True, "RETURN_AS_TIMEZONE_AWARE": False, "STRICT_PARSING": True}


def _page_date_parser():
    return _date_parser(_PAGE_LANGUAGE.get())


@lru_cache(maxsize=None)
def _date_parser(language: str | None):
    """dateparser for `language` and English; for all it knows when it does not know `language`
    (Norwegian is "nb" there, not "no") or the text gave none."""
    from dateparser import DateDataParser
    from dateparser.data.languages_info import language_order

    languages = list(dict.fromkeys([language, "en"])) if language in language_order else None
    return DateDataParser(languages=languages, settings=_DATEPARSER_SETTINGS)


def _detected_language(tree: LexborHTMLParser) -> str | None:
    """The language of the page's text, for a page that declares none."""
    detected = _detect(tree.body.text(separator=" ", strip=True)[:1000] if tree.body is not None else "")
    return detected[0] if detected else None


# --- language ------------------------------------------------------------------------------------

_THREE_LETTER = {"eng": "en", "deu": "de", "ger": "de", "fra": "fr", "fre": "fr", "spa": "es", "ita": "it", "por": "pt", "rus": "ru",
                 "jpn": "ja", "zho": "zh", "chi": "zh", "ara": "ar", "heb": "he", "ces": "cs", "cze": "cs", "nld": "nl", "dut": "nl",
                 "pol": "pl", "tur": "tr", "kor": "ko", "swe": "sv", "dan": "da", "nor": "no", "fin": "fi", "ell": "el", "gre": "el"}
# Detection overrules a declared language only on this much text and this sure a call.
MIN_TEXT_TO_OVERRULE, MIN_CONFIDENCE = 200, 0.99


def language_code(value: str | None) -> str | None:
    """ISO 639-1 from a tag such as en-US, en_GB, eng or English; None when it is none."""
    if not value:
        return None
    primary = re.split(r"[-_\s,;]", value.strip().lower())[0]
    if primary in _THREE_LETTER:
        return _THREE_LETTER[primary]
    return primary if re.fullmatch(r"[a-z]{2}", primary) else None


def _read_declared_language(found: Metadata, tree: LexborHTMLParser, meta: dict[str, str], ld: dict[str, Any]) -> None:
    html = tree.css_first("html")
    for source, value in (("html:lang", html.attributes.get("lang") if html else None), ("json-ld", ld.get("inLanguage")),
                          *((f"meta:{key}", meta.get(key)) for key in _LANGUAGE_TAGS)):
        if isinstance(value, str) and (code := language_code(value)):
            found.language, found.sources["language"] = code, source
            return


@lru_cache(maxsize=1)
def _identifier():
    from py3langid.langid import MODEL_FILE, LanguageIdentifier

    return LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)


def _detect(sample: str) -> tuple[str, float] | None:
    """py3langid's language and confidence for `sample`; None for too little text to tell."""
    return _identifier().classify(sample) if len(sample.strip()) >= 20 else None


def check_language(found: Metadata, text: str) -> None:
    """Check the declared language against the article's text: detection decides when nothing is
    declared, or when it is sure and the declaration says otherwise (a template's lang="en")."""
    # Enough for a sure call: over the bench, 500 characters and 1,000 give the same language on all but
    # 1 of 1,977 texts; detection costs in proportion to its input.
    sample = text[:500]
    if (found_in_text := _detect(sample)) is None:
        return
    detected, confidence = found_in_text
    if detected == "la":  # Latin on the web is lorem ipsum, the filler of a template, not the article's language
        return
    declared = found.language
    if declared == detected:
        found.sources["language"] = f"{found.sources['language']}, checked by detection"
    elif declared is None:
        found.language, found.sources["language"] = detected, "detected"
    elif len(sample) >= MIN_TEXT_TO_OVERRULE and confidence >= MIN_CONFIDENCE:
        found.language, found.sources["language"] = detected, f"detected (the page declares {declared})"
