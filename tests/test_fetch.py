"""The download stage against real HTTP servers on 127.0.0.1: retries, limits, redirects, decoding."""

from __future__ import annotations

import asyncio
import gzip
import socket
import threading
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request
from werkzeug import Response as WerkzeugResponse

from scraper.errors import FetchError, NotArticleError
from scraper.fetcher import Fetcher, FetchSettings, fetch_page
from scraper.page import Response, decode_html

# Retries without real waiting: backoff is tiny and `get` records the requested waits instead. The
# total timeout leaves room for the Retry-After waits recorded (a wait past it is not made).
FAST = FetchSettings(retries=2, backoff_initial=0.001, backoff_max=0.002, connect_timeout=2, read_timeout=2, total_timeout=60)
HTML = "text/html; charset=utf-8"
PAGE = "<!DOCTYPE html><html><head><title>T</title></head><body><p>Story</p></body></html>"


def get(url: str, settings: FetchSettings = FAST, *, waits: list[float] | None = None, page: bool = False, **kwargs) -> Response:
    """Fetch `url` in a fresh event loop; the backoff waits the fetcher asks for are appended to `waits`."""

    async def record(seconds: float) -> None:
        if waits is not None:
            waits.append(float(seconds))

    async def run() -> Response:
        async with Fetcher(settings, **kwargs) as fetcher:
            fetcher._sleep = record
            return await (fetcher.get_page(url) if page else fetcher.get(url))

    return asyncio.run(run())


def paths(server: HTTPServer) -> list[str]:
    return [request.path for request, _ in server.log]


# --- Retries ------------------------------------------------------------------------------------


def test_429_waits_for_retry_after_then_succeeds(httpserver: HTTPServer):
    httpserver.expect_oneshot_request("/busy").respond_with_data("slow down", status=429, headers={"Retry-After": "7"})
    httpserver.expect_request("/busy").respond_with_data(PAGE, content_type=HTML)
    waits: list[float] = []
    response = get(httpserver.url_for("/busy"), waits=waits)
    assert response.status == 200 and "Story" in response.text
    assert waits == [7.0]
    assert len(httpserver.log) == 2


def test_retry_after_http_date_is_honoured(httpserver: HTTPServer):
    later = format_datetime(datetime.now(timezone.utc) + timedelta(seconds=30), usegmt=True)
    httpserver.expect_oneshot_request("/busy").respond_with_data("", status=503, headers={"Retry-After": later})
    httpserver.expect_request("/busy").respond_with_data(PAGE, content_type=HTML)
    waits: list[float] = []
    get(httpserver.url_for("/busy"), waits=waits)
    assert len(waits) == 1 and 27 < waits[0] <= 30


def test_huge_retry_after_is_capped(httpserver: HTTPServer):
    httpserver.expect_oneshot_request("/busy").respond_with_data("", status=429, headers={"Retry-After": "86400"})
    httpserver.expect_request("/busy").respond_with_data(PAGE, content_type=HTML)
    waits: list[float] = []
    get(httpserver.url_for("/busy"), FetchSettings(backoff_initial=0.001, max_retry_after=42), waits=waits)
    assert waits == [42.0]


def test_503_then_200_succeeds_after_a_backoff(httpserver: HTTPServer):
    httpserver.expect_oneshot_request("/flaky").respond_with_data("", status=503)
    httpserver.expect_request("/flaky").respond_with_data(PAGE, content_type=HTML)
    waits: list[float] = []
    response = get(httpserver.url_for("/flaky"), waits=waits)
    assert response.status == 200
    assert len(waits) == 1 and 0 <= waits[0] <= FAST.backoff_max


def test_503_forever_gives_up_after_all_retries(httpserver: HTTPServer):
    httpserver.expect_request("/down").respond_with_data("", status=503)
    waits: list[float] = []
    with pytest.raises(FetchError) as info:
        get(httpserver.url_for("/down"), waits=waits)
    assert len(httpserver.log) == 1 + FAST.retries
    assert len(waits) == FAST.retries
    assert info.value.status == 503 and info.value.url == httpserver.url_for("/down")
    assert str(info.value) == f"HTTP 503 Service Unavailable after 3 attempts: {httpserver.url_for('/down')}"


def test_404_fails_at_once_without_retry(httpserver: HTTPServer):
    httpserver.expect_request("/missing").respond_with_data("no", status=404)
    with pytest.raises(FetchError) as info:
        get(httpserver.url_for("/missing"))
    assert info.value.status == 404
    assert str(info.value) == f"HTTP 404 Not Found: {httpserver.url_for('/missing')}"
    assert len(httpserver.log) == 1


def test_read_timeout_is_retried_then_reported():
    release = threading.Event()

    def stall(request: Request) -> WerkzeugResponse:
        release.wait(2)  # the server is slow; the client gives up long before
        return WerkzeugResponse(PAGE, content_type=HTML)

    # Its own server: the stalled handlers must not hold up the shared one for later tests.
    with HTTPServer(host="127.0.0.1", port=0, threaded=True) as server:
        server.expect_request("/slow").respond_with_handler(stall)
        waits: list[float] = []
        try:
            with pytest.raises(FetchError, match=r"^timed out after 2 attempts: http://127\.0\.0\.1:\d+/slow$"):
                get(server.url_for("/slow"), FetchSettings(read_timeout=0.2, retries=1, backoff_initial=0.001), waits=waits)
        finally:
            release.set()
    assert len(waits) == 1


def test_refused_connection_is_retried_then_reported():
    with socket.socket() as sock:  # a port that was free a moment ago: nothing listens there
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    waits: list[float] = []
    with pytest.raises(FetchError, match=r"^ConnectError.* after 3 attempts: http://127\.0\.0\.1:\d+/$") as info:
        get(f"http://127.0.0.1:{port}/", waits=waits)
    assert len(waits) == FAST.retries and info.value.status is None


# --- Redirects ----------------------------------------------------------------------------------


def test_relative_redirect_is_followed_and_sets_final_url(httpserver: HTTPServer):
    httpserver.expect_request("/old/story").respond_with_data("", status=301, headers={"Location": "../new/story?id=1"})
    httpserver.expect_request("/new/story").respond_with_data(PAGE, content_type=HTML)
    response = get(httpserver.url_for("/old/story"))
    assert response.url == httpserver.url_for("/old/story")
    assert response.final_url == httpserver.url_for("/new/story?id=1")
    assert response.status == 200


def test_redirect_loop_is_an_error(httpserver: HTTPServer):
    httpserver.expect_request("/a").respond_with_data("", status=302, headers={"Location": "/b"})
    httpserver.expect_request("/b").respond_with_data("", status=302, headers={"Location": "/a"})
    with pytest.raises(FetchError, match="^redirect loop: .*/a -> .*/b -> .*/a$"):
        get(httpserver.url_for("/a"))
    assert paths(httpserver) == ["/a", "/b"]


def test_too_many_redirects_is_an_error(httpserver: HTTPServer):
    for n in range(10):
        httpserver.expect_request(f"/r{n}").respond_with_data("", status=307, headers={"Location": f"/r{n + 1}"})
    with pytest.raises(FetchError, match="^more than 3 redirects: "):
        get(httpserver.url_for("/r0"), FetchSettings(max_redirects=3))
    assert paths(httpserver) == ["/r0", "/r1", "/r2", "/r3"]


def test_url_guard_sees_every_url_and_can_refuse(httpserver: HTTPServer):
    httpserver.expect_request("/start").respond_with_data("", status=302, headers={"Location": "/public"})
    httpserver.expect_request("/public").respond_with_data("", status=302, headers={"Location": "/private"})
    httpserver.expect_request("/private").respond_with_data(PAGE, content_type=HTML)
    seen: list[str] = []

    def guard(url: str) -> None:
        seen.append(url)
        if url.endswith("/private"):
            raise ValueError("internal address")

    with pytest.raises(FetchError, match=r"^refused \(ValueError: internal address\): .*/private$"):
        get(httpserver.url_for("/start"), url_guard=guard)
    assert seen == [httpserver.url_for(p) for p in ("/start", "/public", "/private")]
    assert paths(httpserver) == ["/start", "/public"]  # the refused target was never requested


def test_redirect_to_another_scheme_is_refused(httpserver: HTTPServer):
    httpserver.expect_request("/start").respond_with_data("", status=302, headers={"Location": "ftp://127.0.0.1/file"})
    with pytest.raises(FetchError, match="^not an http"):
        get(httpserver.url_for("/start"))


def test_credentials_are_not_sent_to_another_origin(httpserver: HTTPServer):
    with HTTPServer(host="127.0.0.1", port=0) as other:  # another port: another origin
        other.expect_request("/next").respond_with_data(PAGE, content_type=HTML)
        httpserver.expect_request("/start").respond_with_data("", status=302, headers={"Location": other.url_for("/next")})

        async def run() -> Response:
            async with Fetcher(FAST) as fetcher:
                return await fetcher.get(httpserver.url_for("/start"), headers={"Authorization": "Bearer x", "If-None-Match": '"v1"'})

        assert asyncio.run(run()).final_url == other.url_for("/next")
        (first, _), (second, _) = httpserver.log[0], other.log[0]
    assert first.headers.get("Authorization") == "Bearer x"
    assert second.headers.get("Authorization") is None and second.headers.get("If-None-Match") == '"v1"'


# --- Limits and content -------------------------------------------------------------------------


def test_oversize_streamed_body_is_cut_off(httpserver: HTTPServer):
    chunk, chunks = b"x" * 65536, 1600  # 100 MB on offer, without a Content-Length
    sent, finished = [0], threading.Event()

    def body():
        try:
            for _ in range(chunks):
                sent[0] += 1
                yield chunk
        finally:
            finished.set()

    httpserver.expect_request("/huge").respond_with_response(WerkzeugResponse(body(), content_type=HTML))
    with pytest.raises(FetchError, match=r"^page larger than 256 KB limit: "):
        get(httpserver.url_for("/huge"), FetchSettings(max_bytes=256 * 1024))
    assert finished.wait(5)  # the server noticed the client hung up...
    assert sent[0] < chunks // 2  # ...long before it could send it all


def test_oversize_content_length_is_refused_up_front(httpserver: HTTPServer):
    httpserver.expect_request("/big").respond_with_data(b"x" * 5000, content_type=HTML)
    with pytest.raises(FetchError, match="^page larger than 4 KB limit: "):
        get(httpserver.url_for("/big"), FetchSettings(max_bytes=4096))


def test_gzip_body_is_decoded(httpserver: HTTPServer):
    html = "<html><body><p>Compressed story, caf\u00e9</p></body></html>".encode()
    httpserver.expect_request("/gz").respond_with_data(gzip.compress(html), content_type=HTML, headers={"Content-Encoding": "gzip"})
    response = get(httpserver.url_for("/gz"))
    assert response.content == html
    assert "Compressed story, caf\u00e9" in response.text


def test_gzip_bomb_is_cut_off_by_decoded_size(httpserver: HTTPServer):
    bomb = gzip.compress(b"a" * (8 << 20))  # 8 MB that travel as ~8 KB
    httpserver.expect_request("/bomb").respond_with_data(bomb, content_type=HTML, headers={"Content-Encoding": "gzip"})
    with pytest.raises(FetchError, match="^page larger than 1 MB limit: "):
        get(httpserver.url_for("/bomb"), FetchSettings(max_bytes=1 << 20))


def test_identifying_user_agent_and_accept_are_sent(httpserver: HTTPServer):
    httpserver.expect_request("/").respond_with_data(PAGE, content_type=HTML)
    get(httpserver.url_for("/"))
    request, _ = httpserver.log[0]
    assert request.headers["User-Agent"] == FetchSettings().user_agent and "+https://" in request.headers["User-Agent"]
    assert request.headers["Accept"].startswith("text/html")


def test_pdf_is_not_an_article(httpserver: HTTPServer):
    httpserver.expect_request("/paper.pdf").respond_with_data(b"%PDF-1.7 ...", content_type="application/pdf")
    with pytest.raises(NotArticleError, match=r"^not an HTML page \(application/pdf\): "):
        get(httpserver.url_for("/paper.pdf"), page=True)
    assert get(httpserver.url_for("/paper.pdf")).content_type == "application/pdf"  # plain get() takes anything


@pytest.mark.parametrize(("body", "is_html"), [(b"\n  <!DOCTYPE html><html><p>Story</p></html>", True), (b"\x89PNG\r\n\x1a\n", False)])
def test_missing_content_type_is_sniffed(httpserver: HTTPServer, body: bytes, is_html: bool):
    untyped = WerkzeugResponse(body)
    del untyped.headers["Content-Type"]
    httpserver.expect_request("/untyped").respond_with_response(untyped)
    if is_html:
        assert fetch_page(httpserver.url_for("/untyped"), FAST).content == body
    else:
        with pytest.raises(NotArticleError, match=r"^not an HTML page \(looks like a PNG image, no content type\): "):
            fetch_page(httpserver.url_for("/untyped"), FAST)


@pytest.mark.parametrize("url", ["not a url", "ftp://127.0.0.1/file", "http://", "/relative/path", "javascript:alert(1)"])
def test_invalid_or_unsupported_url_is_a_fetch_error(httpserver: HTTPServer, url: str):
    with pytest.raises(FetchError) as info:
        get(url)
    assert info.value.url == url and "\n" not in str(info.value)
    assert httpserver.log == []


# --- Decoding -----------------------------------------------------------------------------------

SMART = "\u201cSmart quotes\u201d, caf\u00e9 cr\u00e8me and na\u00efve r\u00e9sum\u00e9s \u2014 it\u2019s the caf\u00e9\u2019s story. "


def serve(httpserver: HTTPServer, body: bytes, content_type: str) -> Response:
    httpserver.expect_request("/page").respond_with_data(body, content_type=content_type)
    return get(httpserver.url_for("/page"))


def test_windows_1252_declared_only_in_meta(httpserver: HTTPServer):
    # Declared as iso-8859-1, which browsers (and we) read as windows-1252: 0x93/0x94 are smart quotes.
    html = f'<html><head><meta http-equiv="Content-Type" content="text/html; charset=iso-8859-1"></head><body><p>{SMART}</p></body></html>'
    response = serve(httpserver, html.encode("cp1252"), "text/html")
    assert SMART in response.text


def test_windows_1252_with_nothing_declared_is_detected(httpserver: HTTPServer):
    html = f"<html><head><title>Caf\u00e9</title></head><body><p>{SMART * 3}</p></body></html>"
    response = serve(httpserver, html.encode("cp1252"), "text/html")
    assert SMART in response.text


def test_shift_jis_declared_in_header(httpserver: HTTPServer):
    text = "\u65e5\u672c\u8a9e\u306e\u30cb\u30e5\u30fc\u30b9\u8a18\u4e8b\u3067\u3059\u3002\u2460"  # ① exists only in Windows' Shift_JIS
    response = serve(httpserver, f"<html><body><p>{text}</p></body></html>".encode("cp932"), "text/html; charset=Shift_JIS")
    assert text in response.text


def test_gb2312_declared_in_header(httpserver: HTTPServer):
    text = "\u6731\u9555\u57fa\u8bbf\u95ee\u4e86\u5317\u4eac\u3002"  # 镕 is GBK, beyond GB2312, as browsers allow
    response = serve(httpserver, f"<html><body><p>{text}</p></body></html>".encode("gbk"), 'text/html; charset="GB2312"')
    assert text in response.text


def test_bom_wins_over_declared_charsets():
    body = "\ufeff<html><head><meta charset=windows-1252></head><body>caf\u00e9 \u2019</body></html>".encode("utf-8")
    assert decode_html(body, "text/html; charset=iso-8859-1").endswith("caf\u00e9 \u2019</body></html>")
    assert decode_html("\ufeffcaf\u00e9".encode("utf-16-le")) == "caf\u00e9"


def test_unknown_or_wrong_declared_charset_falls_through():
    body = '<html><head><meta charset="utf-8"></head><body>caf\u00e9 \u2014</body></html>'.encode()
    assert "caf\u00e9 \u2014" in decode_html(body, "text/html; charset=no-such-charset")
    assert "caf\u00e9 \u2014" in decode_html(body, "text/html; charset=base64")
    assert "caf\u00e9 \u2014" in decode_html(body, "text/html; charset=euc-jp")  # does not decode these bytes


def test_decode_never_raises_on_junk():
    junk = bytes(range(256)) * 4
    for header in (None, "text/html; charset=utf-8", "text/html; charset=utf-16", "charset="):
        assert isinstance(decode_html(junk, header), str)
    assert decode_html(b"") == ""
    assert "caf\u00e9" in decode_html(b"caf\xc3\xa9 and one stray \xff byte", "text/html; charset=utf-8")
