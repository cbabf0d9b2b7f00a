from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from scraper.urls import TRACKING_PARAMS, canonicalize, host_of, same_site


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        # tracking parameters go, the others keep their order and spelling
        ("https://ex.com/a?utm_source=rss&id=7&UTM_Medium=x&fbclid=abc&b=2&gclid=1", "https://ex.com/a?id=7&b=2"),
        ("https://ex.com/a?mc_cid=1&mc_eid=2&igshid=3&_ga=4&yclid=5&ref_src=6&cmpid=7&ocid=8&ncid=9", "https://ex.com/a"),
        ("https://ex.com/a?at_medium=x&at_campaign=y&dclid=1&msclkid=2&keep=1", "https://ex.com/a?keep=1"),
        ("https://ex.com/a?utm%5Fsource=encoded&q=a+b&&x=", "https://ex.com/a?q=a+b&x="),
        ("https://ex.com/a?attr=1&gclidx=2", "https://ex.com/a?attr=1&gclidx=2"),  # near misses stay
        # fragment, host case, scheme case, default ports, userinfo
        ("https://ex.com/story#comments", "https://ex.com/story"),
        ("HTTPS://WWW.Example.COM/Path/Case", "https://www.example.com/Path/Case"),
        ("http://ex.com:80/a", "http://ex.com/a"),
        ("https://ex.com:443/a", "https://ex.com/a"),
        ("http://ex.com:443/a", "http://ex.com:443/a"),
        ("https://ex.com:8443/a", "https://ex.com:8443/a"),
        ("https://user:secret@ex.com/a", "https://ex.com/a"),
        ("http://ex.com/a", "http://ex.com/a"),  # the scheme is kept, not upgraded
        # IDN and other hosts
        ("https://Bücher.example/straße", "https://xn--bcher-kva.example/stra%C3%9Fe"),
        ("https://пример.рф/", "https://xn--e1afmkfd.xn--p1ai/"),
        ("https://ex.com./a", "https://ex.com/a"),
        ("http://[2001:DB8::1]:8080/a", "http://[2001:db8::1]:8080/a"),
        ("http://127.0.0.1/a", "http://127.0.0.1/a"),
        # path normalisation
        ("https://ex.com", "https://ex.com/"),
        ("https://ex.com?x=1", "https://ex.com/?x=1"),
        ("https://ex.com/a/./b/../c/", "https://ex.com/a/c/"),
        ("https://ex.com/../../a/..", "https://ex.com/"),
        ("https://ex.com/%7euser/%2fslash/%e2%82%ac", "https://ex.com/~user/%2Fslash/%E2%82%AC"),
        ("https://ex.com/%41%2D%5F/%2E%2E/b", "https://ex.com/b"),
        ("https://ex.com/a b/ü", "https://ex.com/a%20b/%C3%BC"),
        ("https://ex.com/100%", "https://ex.com/100%25"),
        ("  https://ex.com/a\n ", "https://ex.com/a"),
        ("https://ex.com/a\tb", "https://ex.com/ab"),
    ],
)
def test_canonicalize(url: str, expected: str) -> None:
    assert canonicalize(url) == expected


@pytest.mark.parametrize(
    "url",
    [
        "", "   ", "javascript:alert(1)", "mailto:news@ex.com", "ftp://ex.com/file", "file:///etc/passwd",
        "data:text/html,hi", "tel:+123", "about:blank", "ex.com/no-scheme", "//ex.com/no-base",
        "http://", "http:///path", "https://ex.com:99999/", "https://ex.com:0/", "https://ex.com:port/",
        "http://[not-ipv6]/", "http://a b.com/", "http://ex..com/", "http://<script>/", "https://ex.com%2F.evil/",
        "http://\udcff.com/",
    ],
)
def test_not_fetchable_is_none(url: str) -> None:
    assert canonicalize(url) is None


@pytest.mark.parametrize(
    ("url", "base", "expected"),
    [
        ("/news/a?utm_source=x#top", "https://www.ex.com/section/", "https://www.ex.com/news/a"),
        ("story-1", "https://www.ex.com/section/index.html", "https://www.ex.com/section/story-1"),
        ("../up", "https://www.ex.com/a/b/c", "https://www.ex.com/a/up"),
        ("//cdn.ex.com/x", "https://www.ex.com/", "https://cdn.ex.com/x"),
        ("?page=2", "https://www.ex.com/list?page=1", "https://www.ex.com/list?page=2"),
        ("https://other.org/abs", "https://www.ex.com/", "https://other.org/abs"),
        ("", "https://www.ex.com/", None),  # an empty href is the page itself, not a link
        ("mailto:a@b.c", "https://www.ex.com/", None),
    ],
)
def test_canonicalize_resolves_against_base(url: str, base: str, expected: str | None) -> None:
    assert canonicalize(url, base) == expected


def test_host_of() -> None:
    assert host_of("https://WWW.Example.com:8080/x") == "example.com"
    assert host_of("https://news.example.com/x") == "news.example.com"
    assert host_of("https://www.Bücher.de/") == "xn--bcher-kva.de"
    assert host_of("not a url") == ""
    assert host_of("http://[bad/") == ""


def test_same_site() -> None:
    domains = ["example.com", "www.other.org"]
    assert same_site("https://example.com/a", domains)
    assert same_site("https://www.example.com/a", domains)
    assert same_site("https://edition.news.example.com/a", domains)
    assert same_site("https://other.org/a", domains)
    assert same_site("https://blog.other.org/a", domains)
    assert not same_site("https://badexample.com/a", domains)
    assert not same_site("https://example.com.evil.test/a", domains)
    assert not same_site("https://example.com/a", [])
    assert not same_site("https://example.com/a", [""])
    assert not same_site("mailto:a@example.com", domains)
    assert same_site("https://xn--bcher-kva.de/", ["bücher.de"])
    assert not same_site("https://example.com/a", ["a..b", "x:y", "\udcff", "ex ample.com"])  # bad entries, no crash


# --- properties ------------------------------------------------------------------------------

_label = st.from_regex(r"[A-Za-z0-9]([A-Za-z0-9-]{0,8}[A-Za-z0-9])?", fullmatch=True) | st.sampled_from(
    ["bücher", "ПРИМЕР", "例え", "xn--bcher-kva", "WWW", "straße"]
)
_piece = st.text(max_size=6) | st.sampled_from([".", "..", "%7e", "%2f", "%zz", "%", "%%341", "a b", "é", "~", "?", "#"])
_key = st.sampled_from(["utm_source", "UTM_x", "fbclid", "at_medium", "id", "q", "page", ""]) | st.text(max_size=4)


@st.composite
def _urls(draw: st.DrawFn) -> str:
    scheme = draw(st.sampled_from(["http", "https", "HTTP", "hTTps", "ftp", "javascript"]))
    userinfo = draw(st.sampled_from(["", "user@", "u:p@"]))
    host = ".".join(draw(st.lists(_label, min_size=1, max_size=4))) + draw(st.sampled_from(["", "."]))
    port = draw(st.sampled_from(["", ":80", ":443", ":8080", ":0", ":", ":x"]))
    path = "/".join(draw(st.lists(_piece, max_size=5)))
    query = "&".join(f"{k}={v}" for k, v in draw(st.lists(st.tuples(_key, _piece), max_size=4)))
    fragment = draw(st.sampled_from(["", "#", "#frag"]))
    return f"{scheme}://{userinfo}{host}{port}/{path}" + (f"?{query}" if query else "") + fragment


@given(_urls())
def test_canonicalize_is_idempotent(url: str) -> None:
    once = canonicalize(url)
    if once is not None:
        assert canonicalize(once) == once
        assert once.startswith(("http://", "https://"))
        assert "#" not in once and "@" not in once.split("/")[2]


@given(_urls())
def test_tracking_params_never_survive(url: str) -> None:
    once = canonicalize(url)
    query = once.partition("?")[2] if once else ""
    keys = [pair.split("=")[0].lower() for pair in query.split("&") if pair]
    assert not any(k.startswith(("utm_", "at_")) or k in TRACKING_PARAMS for k in keys)


@given(st.text(alphabet=st.characters(blacklist_categories=())), st.sampled_from([None, "https://Ex.com/a/b?c#d", "", "garbage"]))
def test_canonicalize_never_raises(text: str, base: str | None) -> None:
    once = canonicalize(text, base)
    assert once is None or canonicalize(once) == once
    host_of(text)
    same_site(text, ["ex.com"])
