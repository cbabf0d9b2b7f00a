"""What a new user hits first when fetching (#12): binary bodies called text/html, a total timeout
that bounds the whole fetch, names that do not resolve, UTF-8 labelled as a single-byte charset."""

from __future__ import annotations

import asyncio
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request
from werkzeug import Response as WerkzeugResponse

from scraper.errors import FetchError, NotArticleError
from scraper.fetcher import Fetcher, FetchSettings
from scraper.page import Response, decode_html

SCRAPER = Path(sys.executable).with_name("scraper")
FAST = FetchSettings(retries=3, backoff_initial=0.001, backoff_max=0.002, connect_timeout=2, read_timeout=2, total_timeout=5)
ARTICLE = (
    "<!DOCTYPE html><html><head><title>Caf\u00e9 opens</title></head><body><article><h1>Caf\u00e9 opens</h1>"
    + "".join(f"<p>The caf\u00e9 on the corner said on day {n} that its new terrace would open next spring.</p>" for n in range(8))
    + "</article></body></html>"
)


def fetch(url: str, settings: FetchSettings = FAST, *, page: bool = True, waits: list[float] | None = None) -> Response:
    """get_page (or get) `url` in a fresh event loop; backoff waits are recorded in `waits`, not slept."""

    async def record(seconds: float) -> None:
        if waits is not None:
            waits.append(float(seconds))

    async def run() -> Response:
        async with Fetcher(settings) as fetcher:
            fetcher._sleep = record
            return await (fetcher.get_page(url) if page else fetcher.get(url))

    return asyncio.run(run())


def scraper(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(SCRAPER), *args], capture_output=True, text=True, cwd=cwd, timeout=60)


# --- 1. A binary body is not an article, whatever its content type says ----------------------------

BINARIES = {
    "a PDF document": b"%PDF-1.4\n000000 000000 000000\n%%EOF",
    "a PNG image": b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR",
    "a GIF image": b"GIF89a\x01\x00\x01\x00",
    "a JPEG image": b"\xff\xd8\xff\xe0\x00\x10JFIF",
    "a ZIP archive": b"PK\x03\x04\x14\x00\x00\x00",
    "gzip data": b"\x1f\x8b\x08\x00\x00\x00\x00\x00",
    "RIFF media": b"RIFF\x24\x00\x00\x00WEBPVP8 ",
    "ISO media": b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00",
    "Ogg media": b"OggS\x00\x02\x00\x00",
    "an MP3 file": b"ID3\x04\x00\x00\x00\x00\x00\x00",
    "binary data": b"<html><body>\x00\x01\x02\x00\x00\x00 some stray text</body></html>",
}


@pytest.mark.parametrize("kind", BINARIES)
def test_binary_served_as_html_is_not_an_article(httpserver: HTTPServer, kind: str):
    httpserver.expect_request("/story").respond_with_data(BINARIES[kind], content_type="text/html; charset=utf-8")
    url = httpserver.url_for("/story")
    with pytest.raises(NotArticleError) as info:
        fetch(url)
    assert str(info.value).startswith(f"not an HTML page (looks like {kind}")
    assert str(info.value).endswith(f", served as text/html): {url}")


def test_binary_with_no_content_type_is_not_an_article(httpserver: HTTPServer):
    untyped = WerkzeugResponse(BINARIES["a PDF document"])
    del untyped.headers["Content-Type"]
    httpserver.expect_request("/story").respond_with_response(untyped)
    with pytest.raises(NotArticleError, match=r"^not an HTML page \(looks like a PDF document, no content type\): "):
        fetch(httpserver.url_for("/story"))


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (ARTICLE.encode(), "text/html; charset=utf-8"),
        (ARTICLE.encode(), None),  # no type, but it starts like HTML
        (("\ufeff" + ARTICLE).encode("utf-16-le"), "text/html"),  # NUL bytes, but text with a BOM
        (b"\n  <!DOCTYPE html><html><body><p>GIF89a is a format, PK\x03\x04 a header.</p></body></html>", "text/html"),
    ],
)
def test_real_html_still_passes(httpserver: HTTPServer, body: bytes, content_type: str | None):
    response = WerkzeugResponse(body)
    if content_type:
        response.headers["Content-Type"] = content_type
    else:
        del response.headers["Content-Type"]
    httpserver.expect_request("/story").respond_with_response(response)
    assert fetch(httpserver.url_for("/story")).content == body


def test_plain_get_still_takes_anything(httpserver: HTTPServer):
    httpserver.expect_request("/file").respond_with_data(BINARIES["a PDF document"], content_type="text/html")
    assert fetch(httpserver.url_for("/file"), page=False).content == BINARIES["a PDF document"]


def test_cli_fetch_of_a_pdf_served_as_html_exits_4(httpserver: HTTPServer, tmp_path: Path):
    httpserver.expect_request("/paper").respond_with_data(BINARIES["a PDF document"], content_type="text/html")
    url = httpserver.url_for("/paper")
    result = scraper("fetch", url, cwd=tmp_path)
    assert (result.returncode, result.stdout) == (4, "")
    assert result.stderr == f"scraper: error: not an HTML page (looks like a PDF document, served as text/html): {url}\n"


# --- 2. total_timeout bounds the whole fetch, retries and waits included ---------------------------


@pytest.fixture
def stalling_server():
    """A server of its own whose every request stalls until the test ends; `attempts` counts requests."""
    release = threading.Event()
    attempts: list[str] = []

    def stall(request: Request) -> WerkzeugResponse:
        attempts.append(request.path)
        release.wait(30)
        return WerkzeugResponse(ARTICLE, content_type="text/html")

    with HTTPServer(host="127.0.0.1", port=0, threaded=True) as server:
        server.expect_request("/slow").respond_with_handler(stall)
        server.attempts = attempts
        try:
            yield server
        finally:
            release.set()


def test_total_timeout_bounds_all_attempts(stalling_server: HTTPServer):
    url = stalling_server.url_for("/slow")
    started = time.monotonic()
    with pytest.raises(FetchError, match=r"^timed out after 1 attempt: "):
        fetch(url, FetchSettings(total_timeout=1, read_timeout=20, backoff_initial=0.001))
    assert stalling_server.attempts == ["/slow"]  # not the four a per-attempt timeout allows
    assert time.monotonic() - started < 10  # loose: four full attempts would take 4 s and more


def test_a_retry_after_beyond_the_deadline_is_not_waited_for(httpserver: HTTPServer):
    httpserver.expect_request("/busy").respond_with_data("", status=503, headers={"Retry-After": "30"})
    waits: list[float] = []
    with pytest.raises(FetchError, match=r"^HTTP 503 Service Unavailable after 1 attempt: "):
        fetch(httpserver.url_for("/busy"), FAST, waits=waits)
    assert waits == [] and len(httpserver.log) == 1


def test_cli_timeout_is_the_whole_fetch(stalling_server: HTTPServer, tmp_path: Path):
    url = stalling_server.url_for("/slow")
    result = scraper("fetch", "--timeout", "1", url, cwd=tmp_path)
    assert (result.returncode, result.stderr) == (3, f"scraper: error: timed out after 1 attempt: {url}\n")
    assert stalling_server.attempts == ["/slow"]


# --- 3. A name that does not resolve is final at once ------------------------------------------------


@pytest.fixture
def lookups(monkeypatch) -> list[str]:
    """Names under .invalid fail to resolve the way the system resolver fails them; each lookup is counted."""
    real_getaddrinfo = socket.getaddrinfo
    names: list[str] = []

    def getaddrinfo(host, *args, **kwargs):
        name = host.decode() if isinstance(host, bytes) else str(host)
        if name.endswith(".invalid"):
            names.append(name)
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return real_getaddrinfo(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return names


def test_unresolvable_host_is_not_retried(lookups: list[str]):
    waits: list[float] = []
    with pytest.raises(FetchError) as info:
        fetch("http://news.example.invalid/story", waits=waits)
    assert str(info.value) == "cannot resolve host news.example.invalid: http://news.example.invalid/story"
    assert lookups == ["news.example.invalid"] and waits == []


def test_unresolvable_redirect_target_names_its_host(httpserver: HTTPServer, lookups: list[str]):
    httpserver.expect_request("/moved").respond_with_data("", status=301, headers={"Location": "http://gone.invalid/story"})
    url = httpserver.url_for("/moved")
    with pytest.raises(FetchError, match=rf"^cannot resolve host gone\.invalid: {url}$"):
        fetch(url)
    assert lookups == ["gone.invalid"]


def test_a_temporary_resolver_failure_is_still_retried(monkeypatch):
    def getaddrinfo(*args, **kwargs):
        raise socket.gaierror(socket.EAI_AGAIN, "Temporary failure in name resolution")

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    waits: list[float] = []
    with pytest.raises(FetchError, match=r"after 4 attempts: http://news\.example\.invalid/$"):
        fetch("http://news.example.invalid/", waits=waits)
    assert len(waits) == 3


# --- 4. UTF-8 labelled as a single-byte charset --------------------------------------------------------


def test_utf8_labelled_latin1_in_the_header_is_read_as_utf8():
    body = "<html><body><p>Caf\u00e9 cr\u00e8me \u2014 it\u2019s new</p></body></html>".encode()
    assert "Caf\u00e9 cr\u00e8me \u2014 it\u2019s new" in decode_html(body, "text/html; charset=iso-8859-1")


def test_utf8_labelled_latin1_in_a_meta_tag_is_read_as_utf8():
    body = "<html><head><meta charset=iso-8859-1></head><body><p>Caf\u00e9</p></body></html>".encode()
    assert "<p>Caf\u00e9</p>" in decode_html(body, "text/html")


def test_utf8_labelled_windows_1251_is_read_as_utf8():
    body = "<html><body><p>\u041d\u043e\u0432\u043e\u0441\u0442\u0438 \u0434\u043d\u044f</p></body></html>".encode()
    assert "\u041d\u043e\u0432\u043e\u0441\u0442\u0438 \u0434\u043d\u044f" in decode_html(body, "text/html; charset=windows-1251")


@pytest.mark.parametrize("label", ["iso-8859-1", "windows-1252"])
def test_real_latin1_labelled_latin1_stays_latin1(label: str):
    body = "<html><body><p>Caf\u00e9 cr\u00e8me, na\u00efve \u00bbr\u00e9sum\u00e9\u00ab \u00c3\u00a9</p></body></html>".encode("latin-1")
    assert "Caf\u00e9 cr\u00e8me, na\u00efve \u00bbr\u00e9sum\u00e9\u00ab \u00c3\u00a9" in decode_html(body, f"text/html; charset={label}")


def test_cli_fetch_of_utf8_labelled_latin1(httpserver: HTTPServer, tmp_path: Path):
    httpserver.expect_request("/story").respond_with_data(ARTICLE.encode(), content_type="text/html; charset=iso-8859-1")
    result = scraper("fetch", httpserver.url_for("/story"), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "The caf\u00e9 on the corner" in result.stdout and "\u00c3" not in result.stdout
