"""URL canonicalisation: one spelling per page, so that dedup and the seen-set work.

Pure string work, no network. Equivalent spellings (host case, default port, `%7e` vs `~`,
`/a/../b`, tracking parameters, fragments) collapse to one form; anything we could not fetch
(non-http schemes, bad hosts or ports, over-long, garbage) becomes None instead of an exception.
"""

from __future__ import annotations

import fnmatch
import ipaddress
import re
from collections.abc import Sequence
from urllib.parse import quote, urljoin, urlsplit

# Query parameters that only say where a click came from (shell-style patterns, matched without case).
TRACKING_PARAMS: tuple[str, ...] = (
    "utm_*", "fbclid", "gclid", "dclid", "msclkid", "mc_cid", "mc_eid", "igshid", "_ga", "yclid",
    "ref_src", "cmpid", "ocid", "ncid", "at_*",
)
_TRACKING = re.compile("|".join(fnmatch.translate(p) for p in TRACKING_PARAMS), re.I)
_DEFAULT_PORTS = {"http": 80, "https": 443}
MAX_URL_CHARS = 2048  # the store's column width; no article lives at a longer address
_HOST_NAME = re.compile(r"[a-z0-9_-]+(\.[a-z0-9_-]+)*")  # after IDNA encoding
_ABSOLUTE = re.compile(r"[a-z][a-z0-9+.-]*://", re.I)
_TAB_NEWLINE = re.compile(r"[\t\n\r]")  # browsers drop these anywhere in a URL
_STRAY_PERCENT = re.compile(r"%(?![0-9A-Fa-f]{2})")
_ESCAPE = re.compile(r"%[0-9A-Fa-f]{2}")
_UNRESERVED = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")
_PATH_SAFE = "/:@!$&'()*+,;=%"  # RFC 3986 pchar and "/" (quote() keeps unreserved itself)
_QUERY_SAFE = _PATH_SAFE + "?"
# Listing pages without an article pattern: what an article link looks like, and what it does not.
_ARTICLE_HINT = re.compile(r"(^|/)[^/]*-[^/]*-[^/]*-|\d{5,}|/(19|20)\d{2}[/-]\d{1,2}([/-]|$)")
_NOT_ARTICLE = re.compile(
    r"/(tags?|category|categories|authors?|topics?|search|login|logout|log-in|signin|sign-in|signup|sign-up"
    r"|register|subscribe|account|newsletters?|feeds?|rss)(/|$)|/page/\d+/?$"
    r"|\.(jpe?g|png|gif|webp|svg|ico|bmp|tiff?|pdf|zip|gz|mp3|mp4|m4a|wav|avi|mov|webm|css|js|json|xml|rss"
    r"|atom|docx?|xlsx?|pptx?|epub)$",
    re.I,
)
_LISTING_QUERY = re.compile(r"(^|&)(s|q|query|search|page)=", re.I)


def canonicalize(url: str, base: str | None = None) -> str | None:
    """The canonical form of `url` (resolved against `base`), or None if it is not a fetchable http(s) URL."""
    try:
        url = _TAB_NEWLINE.sub("", url).strip()
        if not url:  # an empty href means "this page", never a new link
            return None
        if base and not _ABSOLUTE.match(url):  # urljoin is the slow part of a 50,000-URL sitemap
            url = urljoin(_TAB_NEWLINE.sub("", base).strip(), url)
        parts = urlsplit(url)
        if parts.scheme not in _DEFAULT_PORTS:
            return None
        host, port = _host(parts.hostname or ""), parts.port
        if host is None or port == 0:
            return None
        netloc = f"[{host}]" if ":" in host else host
        if port is not None and port != _DEFAULT_PORTS[parts.scheme]:
            netloc += f":{port}"
        path = _remove_dot_segments(_normalise_escapes(parts.path, _PATH_SAFE)) or "/"
        query = "&".join(
            p for p in (_normalise_escapes(p, _QUERY_SAFE) for p in parts.query.split("&"))
            if p and not _TRACKING.match(p.split("=", 1)[0])
        )
    except ValueError:  # bad port or IPv6 brackets, text that cannot be encoded (UnicodeError is a ValueError)
        return None
    canonical = f"{parts.scheme}://{netloc}{path}" + (f"?{query}" if query else "")
    return canonical if len(canonical) <= MAX_URL_CHARS else None


def host_of(url: str) -> str:
    """The URL's host, lowercase, IDNA-encoded and without 'www.'; '' when there is none."""
    try:
        host = _host(urlsplit(url.strip()).hostname or "")
    except ValueError:
        return ""
    return (host or "").removeprefix("www.")


def same_site(url: str, domains: Sequence[str]) -> bool:
    """True if the URL's host is one of `domains` or a subdomain of one."""
    host = host_of(url)
    if not host:
        return False
    for domain in domains:
        domain = (_host(domain) or "").removeprefix("www.")
        if domain and (host == domain or host.endswith("." + domain)):
            return True
    return False


def looks_like_article(url: str) -> bool:
    """Whether the URL's path looks like an article's, not a home, section, tag or search page's."""
    parts = urlsplit(url)
    path = parts.path
    if _NOT_ARTICLE.search(path) or _LISTING_QUERY.search(parts.query):
        return False
    return len([s for s in path.split("/") if s]) >= 2 or bool(_ARTICLE_HINT.search(path))


def trusted_canonical(canonical: str, url: str, domains: Sequence[str] = ()) -> bool:
    """Whether a page's rel=canonical may stand for the page: an article's address on the site's own
    domains (no domains: the page's own host). Templates often name the home page, a section page
    or another site's page for every article; such a canonical would merge different stories."""
    return same_site(canonical, domains or [host_of(url)]) and looks_like_article(canonical)


def _host(host: str) -> str | None:
    """Lowercase ASCII form of a host name or IP literal, or None if it is not a usable host."""
    host = host.lower().rstrip(".")
    try:
        if ":" in host:  # urlsplit hands IPv6 literals over without their brackets
            return str(ipaddress.IPv6Address(host))
        host = host.encode("idna").decode("ascii")
    except ValueError:  # empty or over-long label, bad IPv6 (UnicodeError is a ValueError)
        return None
    return host if _HOST_NAME.fullmatch(host) else None


def _normalise_escapes(text: str, safe: str) -> str:
    """Percent-encode what may not appear raw, uppercase escapes, decode escaped unreserved characters."""
    text = quote(_STRAY_PERCENT.sub("%25", text), safe=safe)
    return _ESCAPE.sub(_normalise_escape, text)


def _normalise_escape(match: re.Match[str]) -> str:
    char = chr(int(match[0][1:], 16))
    return char if char in _UNRESERVED else match[0].upper()


def _remove_dot_segments(path: str) -> str:
    """RFC 3986 section 5.2.4 for absolute paths: '/a/./b/../c' -> '/a/c'."""
    segments = path.split("/")
    out: list[str] = []
    for i, segment in enumerate(segments):
        last = i == len(segments) - 1
        if segment == "..":
            if len(out) > 1:
                out.pop()
        elif segment != ".":
            out.append(segment)
            continue
        if last:  # '/a/b/..' and '/a/.' end in a directory
            out.append("")
    return "/".join(out)
