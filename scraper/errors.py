"""The exception hierarchy. Each error carries the process exit code the CLI uses for it."""

from __future__ import annotations


class ScraperError(Exception):
    """Base class: a failure we can explain in one line."""

    exit_code = 1


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
    """The response is not an HTML article (a PDF, an image) or holds no article text."""

    exit_code = 4


class StoreError(ScraperError):
    """The article store could not be opened or written."""

    exit_code = 5


class LockedError(ScraperError):
    """Another run holds the lock (EX_TEMPFAIL, so cron wrappers can tell it apart)."""

    exit_code = 75
