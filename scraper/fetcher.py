"""The download stage: polite, bounded HTTP GETs that return bytes plus what we need to decode them.

One `Fetcher` per run shares connections (HTTP/2 where offered). Every request has explicit
timeouts and a size cap, retries transient failures with jittered backoff (honouring Retry-After),
and follows redirects itself so that a `url_guard` can vet every address before it is requested.
Failures become a one-line `FetchError`; a page that is not HTML becomes `NotArticleError`.
"""

from __future__ import annotations

import asyncio
import socket
import zlib
from collections.abc import AsyncIterator, Callable, Mapping
from typing import TYPE_CHECKING, Protocol
from dataclasses import dataclass
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from urllib.parse import urljoin, urlsplit

import httpx
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception, stop_after_attempt, stop_before_delay, wait_random_exponential

from .errors import FetchError, NotArticleError, ScraperError
from .page import Response

if TYPE_CHECKING:
    from .config import Settings


@dataclass(frozen=True)
class FetchSettings:
    user_agent: str = "scraper/0.1 (+https://github.com/scraper-news/scraper)"
    connect_timeout: float = 10.0
    read_timeout: float = 20.0  # between two reads, not for the whole body
    total_timeout: float = 60.0  # wall clock for the whole get(): every attempt, redirect, body and wait between
    max_redirects: int = 5
    max_bytes: int = 10 * 1024 * 1024  # of the decoded body, so compression bombs are caught too
    retries: int = 3  # attempts after the first
    backoff_initial: float = 0.5
    backoff_max: float = 30.0
    max_retry_after: float = 120.0  # a server's Retry-After is honoured up to this
    http2: bool = True

    @classmethod
    def from_settings(cls, settings: Settings, **overrides: object) -> FetchSettings:
        """The fetch part of a config's `[settings]`; `overrides` (command-line flags) win unless None."""
        values = dict(
            user_agent=settings.user_agent,
            connect_timeout=settings.connect_timeout,
            read_timeout=settings.read_timeout,
            total_timeout=settings.total_timeout,
            max_bytes=settings.max_bytes,
        )
        values.update((name, value) for name, value in overrides.items() if value is not None)
        return cls(**{name: value for name, value in values.items() if value is not None})  # None: our default


_REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
_RETRY_STATUSES = frozenset({408, 429, 500, 502, 503, 504})
_ACCEPT = "text/html,application/xhtml+xml;q=0.9,*/*;q=0.8"
# The codings we inflate ourselves, chunk by chunk under the size cap: httpx inflates a whole network
# chunk at once (1.7 KB of brotli or of gzip-in-gzip is 1 GB), so br, zstd and stacked codings are refused.
_CODINGS = {"gzip": zlib.MAX_WBITS | 16, "x-gzip": zlib.MAX_WBITS | 16, "deflate": zlib.MAX_WBITS}
_ACCEPT_ENCODING = "gzip, deflate"
_CREDENTIAL_HEADERS = frozenset({"authorization", "proxy-authorization", "cookie"})
# Per-site politeness is the crawler's job, not the client's. Every open connection is kept alive
# (httpx keeps 20): a crawl of many hosts comes back to each within seconds, and a connection closed
# meanwhile costs a new TCP and TLS handshake on both ends.
_LIMITS = httpx.Limits(max_connections=100, max_keepalive_connections=100, keepalive_expiry=5.0)


class Pacer(Protocol):
    """Paces requests on the wire: awaited just before a request's headers are written, told just after."""

    async def before_send(self) -> None: ...

    def sent(self) -> None: ...


class _RetryableStatus(Exception):
    """A status worth another try (408, 429, 5xx), with the server's Retry-After in seconds, if any."""

    def __init__(self, status: int, url: str, retry_after: float | None):
        super().__init__(f"HTTP {status}: {url}")
        self.status = status
        self.url = url
        self.retry_after = retry_after


# Failures that may pass: network trouble, timeouts and retryable statuses.
_TRANSIENT = (httpx.TimeoutException, httpx.NetworkError, httpx.RemoteProtocolError, _RetryableStatus)


def _may_pass(exc: BaseException) -> bool:
    return isinstance(exc, _TRANSIENT) and not _no_such_host(exc)


def _no_such_host(exc: BaseException) -> bool:
    """Whether the resolver answered that the host's name does not exist (EAI_NONAME), which no retry
    changes; a temporary failure (EAI_AGAIN) may pass. httpx keeps the socket.gaierror in the chain."""
    cause: BaseException | None = exc
    while cause is not None:
        if isinstance(cause, socket.gaierror):
            return cause.errno == socket.EAI_NONAME
        cause = cause.__cause__ or cause.__context__
    return False


class Fetcher:
    """Async HTTP client: one per run. `async with Fetcher(settings) as f: resp = await f.get(url)`

    `url_guard`, if given, is called with every URL (the first one and each redirect target)
    before it is requested; it refuses by raising. A `ScraperError` it raises passes through
    unchanged, anything else becomes a `FetchError`. `transport` replaces the network (tests).
    """

    def __init__(
        self,
        settings: FetchSettings = FetchSettings(),
        *,
        url_guard: Callable[[str], None] | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ):
        self.settings = settings
        self._url_guard = url_guard
        self._sleep = asyncio.sleep  # tests swap this to record the waits instead of sleeping
        self._backoff = wait_random_exponential(multiplier=settings.backoff_initial, max=settings.backoff_max)
        self._client = httpx.AsyncClient(
            http2=settings.http2,
            timeout=httpx.Timeout(
                connect=settings.connect_timeout,
                read=settings.read_timeout,
                write=settings.read_timeout,
                pool=settings.connect_timeout,
            ),
            limits=_LIMITS,
            headers={"User-Agent": settings.user_agent, "Accept": _ACCEPT, "Accept-Encoding": _ACCEPT_ENCODING},
            follow_redirects=False,  # we follow them ourselves, see _attempt
            transport=transport,
        )

    async def __aenter__(self) -> Fetcher:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._client.aclose()

    async def get(self, url: str, *, headers: Mapping[str, str] | None = None, pacer: Pacer | None = None) -> Response:
        """GET with retries; returns 2xx and 304 responses and raises FetchError for everything else.

        `pacer` (the crawler's politeness for the host) paces each request on the wire, retries and
        redirects included. `total_timeout` is the deadline of the whole call: a retry whose wait
        would end past it is not made.
        """
        _check_url(url, requested=url)
        retrying = AsyncRetrying(
            stop=stop_after_attempt(1 + self.settings.retries) | stop_before_delay(self.settings.total_timeout),
            wait=self._wait,
            retry=retry_if_exception(_may_pass),
            sleep=self._sleep,
            reraise=True,
        )
        try:
            async with asyncio.timeout(self.settings.total_timeout):
                return await retrying(self._attempt, url, dict(headers or {}), pacer)
        except _RetryableStatus as exc:
            message = f"{_status_line(exc.status)} after {_attempts(retrying)}: {exc.url}"
            raise FetchError(message, url=url, status=exc.status) from exc
        except (httpx.TimeoutException, TimeoutError) as exc:
            raise FetchError(f"timed out after {_attempts(retrying)}: {url}", url=url) from exc
        except httpx.HTTPError as exc:  # refused connections, broken protocol, undecodable body
            if _no_such_host(exc):
                raise FetchError(f"cannot resolve host {exc.request.url.host}: {url}", url=url) from exc
            raise FetchError(f"{_describe(exc)} after {_attempts(retrying)}: {url}", url=url) from exc

    async def get_page(self, url: str, *, pacer: Pacer | None = None) -> Response:
        """get() an HTML page; anything else (a PDF, an image, even one served as text/html) raises NotArticleError."""
        response = await self.get(url, pacer=pacer)
        if not response.is_html:
            raise NotArticleError(f"not an HTML page ({response.not_html_because}): {url}", kind="not-html")
        return response

    async def _attempt(self, url: str, headers: dict[str, str], pacer: Pacer | None) -> Response:
        """One try: follow redirects to the final response and read its body."""
        chain = [url]
        while True:
            self._guard(url, chain[-1])
            async with self._client.stream("GET", chain[-1], headers=headers, extensions=_trace(pacer)) as response:
                location = response.headers.get("location")
                if response.status_code not in _REDIRECT_STATUSES or not location:
                    return await self._read(url, response)
            target = self._redirect_target(url, chain, location)
            if urlsplit(target)[:2] != urlsplit(chain[-1])[:2]:  # like browsers: no credentials to another origin
                headers = {k: v for k, v in headers.items() if k.lower() not in _CREDENTIAL_HEADERS}
            chain.append(target)

    def _redirect_target(self, url: str, chain: list[str], location: str) -> str:
        target = urljoin(chain[-1], location)  # Location may be relative
        if target in chain:
            raise FetchError(f"redirect loop: {' -> '.join([*chain, target])}", url=url)
        if len(chain) > self.settings.max_redirects:
            raise FetchError(f"more than {self.settings.max_redirects} redirects: {url}", url=url)
        _check_url(target, requested=url)
        return target

    def _guard(self, url: str, target: str) -> None:
        if self._url_guard is None:
            return
        try:
            self._url_guard(target)
        except ScraperError:
            raise
        except Exception as exc:
            raise FetchError(f"refused ({_describe(exc)}): {target}", url=url) from exc

    async def _read(self, url: str, response: httpx.Response) -> Response:
        status, final_url = response.status_code, str(response.url)
        if status in _RETRY_STATUSES:
            raise _RetryableStatus(status, final_url, _retry_after(response.headers.get("retry-after")))
        if not (200 <= status < 300 or status == 304):
            raise FetchError(f"{_status_line(status)}: {final_url}", url=url, status=status)
        limit = self.settings.max_bytes
        too_large = FetchError(f"page larger than {_size(limit)} limit: {final_url}", url=url, status=status)
        declared = response.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > limit:
            raise too_large
        inflater = _inflater(url, response)
        body = bytearray()
        try:
            async for chunk in _raw_chunks(response):
                body += inflater.decompress(chunk, limit + 1 - len(body)) if inflater else chunk
                if len(body) > limit:
                    raise too_large  # leaving the stream closes the connection unread
            body += inflater.flush() if inflater else b""
        except zlib.error as exc:
            raise FetchError(f"undecodable compressed body ({exc}): {final_url}", url=url, status=status) from None
        return Response(
            url=url,
            final_url=final_url,
            status=status,
            headers=dict(response.headers),  # plain: a Response crosses to extraction processes
            content=bytes(body),
            fetched_at=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        )

    def _wait(self, state: RetryCallState) -> float:
        """Jittered exponential backoff, or the server's Retry-After (capped) when that is longer."""
        backoff = self._backoff(state)
        retry_after = getattr(state.outcome.exception(), "retry_after", None) if state.outcome else None
        if retry_after is None:
            return backoff
        return max(backoff, min(retry_after, self.settings.max_retry_after))


async def afetch_page(url: str, settings: FetchSettings = FetchSettings()) -> Response:
    """Download one HTML page with a client of its own."""
    async with Fetcher(settings) as fetcher:
        return await fetcher.get_page(url)


def fetch_page(url: str, settings: FetchSettings = FetchSettings()) -> Response:
    """Synchronous `afetch_page`."""
    return asyncio.run(afetch_page(url, settings))


def _check_url(target: str, *, requested: str) -> None:
    """Refuse anything but an absolute http(s) URL; `requested` is the URL the caller asked for."""
    try:
        parsed = httpx.URL(target)
    except httpx.InvalidURL as exc:
        raise FetchError(f"invalid URL ({exc}): {target!r}", url=requested) from exc
    if parsed.scheme not in ("http", "https") or not parsed.host:
        raise FetchError(f"not an http(s) URL: {target!r}", url=requested)


def _inflater(url: str, response: httpx.Response) -> zlib._Decompress | None:
    """A decompressor for the response's Content-Encoding; None when it is not compressed."""
    codings = [c.strip().lower() for c in response.headers.get("content-encoding", "").split(",")]
    codings = [c for c in codings if c not in ("", "identity")]
    if not codings:
        return None
    if len(codings) > 1 or codings[0] not in _CODINGS:
        raise FetchError(f"unsupported Content-Encoding {', '.join(codings)}: {response.url}", url=url, status=response.status_code)
    return zlib.decompressobj(_CODINGS[codings[0]])


async def _raw_chunks(response: httpx.Response) -> AsyncIterator[bytes]:
    if response.is_stream_consumed:  # a test transport's Response(content=...) arrives already read
        yield response.content
        return
    async for chunk in response.aiter_raw():
        yield chunk


def _retry_after(value: str | None) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or HTTP-date); None if absent or garbled."""
    value = (value or "").strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:  # HTTP dates are GMT
        when = when.replace(tzinfo=timezone.utc)
    return max(0.0, (when - datetime.now(timezone.utc)).total_seconds())



def _trace(pacer: Pacer | None) -> dict:
    """httpcore's trace extension: the pacer is told just before and just after the headers are written."""
    if pacer is None:
        return {}

    async def trace(event: str, _info: dict) -> None:
        if event.endswith("send_request_headers.started"):
            await pacer.before_send()
        elif event.endswith("send_request_headers.complete"):
            pacer.sent()

    return {"trace": trace}


def _attempts(retrying: AsyncRetrying) -> str:
    n = retrying.statistics.get("attempt_number", 1)
    return f"{n} attempt" + ("s" if n > 1 else "")


def _status_line(status: int) -> str:
    reason = httpx.codes.get_reason_phrase(status)
    return f"HTTP {status} {reason}" if reason else f"HTTP {status}"


def _describe(exc: BaseException) -> str:
    detail = " ".join(str(exc).split())  # one line, whatever the library put in its message
    return f"{type(exc).__name__}: {detail}" if detail else type(exc).__name__


def _size(n: int) -> str:
    for unit, scale in (("MB", 1 << 20), ("KB", 1 << 10)):
        if n >= scale:
            return f"{n / scale:g} {unit}"
    return f"{n} bytes"
