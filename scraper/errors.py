"""The exception hierarchy. Each error carries the process exit code the CLI uses for it.

Messages end up in logs, the store and cron mail, so every one is passed through `redact`.
"""

from __future__ import annotations

import re

# Credentials that URLs, header dumps and library messages may carry: user:password@ in any URL
# (proxies and databases too), Authorization and Cookie header values, secret-looking query values.
_USERINFO = re.compile(r"\b([a-z][a-z0-9+.-]*://)[^/\s@]+@", re.I)
_HEADER = re.compile(r"\b((?:proxy-)?authorization|(?:set-)?cookie)([\"']?\s*[:=]\s*[\"']?)[^\"'\r\n]+", re.I)
_QUERY_SECRET = re.compile(
    r"([?&;](?:[\w.-]*token|api[_-]?key|apikey|key|password|passwd|pwd|secret|auth|sig|signature|session(?:id)?)=)[^&#\s\"']+",
    re.I,
)


def redact(text: str) -> str:
    """`text` with passwords, tokens and cookies replaced by ***."""
    text = _USERINFO.sub(r"\1***@", text)
    text = _HEADER.sub(r"\1\2***", text)
    return _QUERY_SECRET.sub(r"\1***", text)


class ScraperError(Exception):
    """Base class: a failure we can explain in one line (credentials redacted)."""

    exit_code = 1

    def __init__(self, message: str = ""):
        super().__init__(redact(message))


class UsageError(ScraperError):
    """Bad input from the user: an invalid URL, option or file."""

    exit_code = 2


class ConfigError(UsageError):
    """A config file that does not parse or validate; the message names file, line and key."""


class FetchError(ScraperError):
    """The page could not be downloaded: network error, HTTP error, too large, too many redirects."""

    exit_code = 3

    def __init__(self, message: str, *, url: str | None = None, status: int | None = None):
        super().__init__(message)
        self.url = url
        self.status = status


class NotArticleError(ScraperError):
    """The response is not an HTML article or holds no article text; `kind` says which:
    `not-html` (a PDF, an image), `empty` (a page with no real text: an app shell, links only),
    `consent` (a cookie or privacy consent wall), `paywall` (a subscription notice with no free
    lead), `no-text` (a page with text in which no article was found)."""

    exit_code = 4
    KINDS = ("not-html", "empty", "consent", "paywall", "no-text")

    def __init__(self, message: str = "", *, kind: str = "no-text"):
        super().__init__(message)
        self.kind = kind  # kept through pickling (a worker process's error): it is in __dict__


class StoreError(ScraperError):
    """The article store could not be opened or written."""

    exit_code = 5


class LockedError(ScraperError):
    """Another run holds the lock (EX_TEMPFAIL, so cron wrappers can tell it apart)."""

    exit_code = 75
