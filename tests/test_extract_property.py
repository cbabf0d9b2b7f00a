"""No crash on any page (issue #13): `extract` returns an Article with text or raises
NotArticleError, on generated HTML and on a sample of the real pages in ../shared/bench."""

from __future__ import annotations

import gzip

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from scraper import extract
from scraper.errors import NotArticleError

from .conftest import IN_CI, SHARED

TAGS = ["div", "p", "article", "main", "section", "span", "a", "table", "tr", "td", "ul", "li", "h1", "h2",
        "nav", "aside", "footer", "script", "style", "noscript", "br", "img", "svg", "template", "iframe", "form"]
ODD = ["<?php echo $x; ?>", "<?xml version='1.0'?>", "<!-- unclosed comment", "<![CDATA[x]]>", "<!DOCTYPE html>",
       "\x00", "&amp;&#0;&#x110000;&bogus;&lt", "</p></div></body>", "<p", "<a href='", "\ufeff", "\u202e"]
WORDS = st.sampled_from("the council voted on Tuesday bridge harbour mayor said cookies subscribe privacy 市 議会".split())
TEXT = st.lists(WORDS, min_size=0, max_size=40).map(" ".join)
ATTRIBUTE = st.tuples(st.sampled_from(["class", "id", "role", "style", "hidden", "aria-label", "data-x", "href"]),
                      st.one_of(st.sampled_from(["paywall", "cookie-consent", "article-body", "related promo",
                                                 "display:none", "navigation", ""]),
                                st.integers(1, 5000).map(lambda n: "x" * n)))


def element(children: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    def render(tag: str, attributes: list[tuple[str, str]], inner: list[str], closed: bool) -> str:
        attrs = "".join(f' {name}="{value}"' for name, value in attributes)
        return f"<{tag}{attrs}>{''.join(inner)}" + (f"</{tag}>" if closed else "")

    return st.builds(render, st.sampled_from(TAGS), st.lists(ATTRIBUTE, max_size=3), st.lists(children, max_size=4), st.booleans())


NODE = st.recursive(st.one_of(TEXT, st.sampled_from(ODD)), element, max_leaves=30)
PAGE = st.builds(lambda head, body: f"<html><head>{head}</head><body>{body}</body></html>",
                 st.one_of(st.just(""), st.just("<title>Council backs bridge</title>")), st.lists(NODE, max_size=6).map("".join))


def check(html: str, url: str | None = "https://example.com/news/a") -> None:
    try:
        article = extract(html, url)
    except NotArticleError:
        return
    assert article.text.strip()


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(PAGE)
def test_any_generated_page_gives_text_or_a_not_article_error(html):
    check(html)


def sample_pages(every: int = 20) -> list:
    """Every `every`-th page of each set in ../shared/bench, read at test time (never copied here)."""
    bench = SHARED / "bench"
    pages = sorted(bench.glob("*/*.html.gz")) + sorted(bench.glob("*/html/*.html.gz"))
    return pages[::every]


REAL = sample_pages()


@pytest.mark.parametrize("path", REAL, ids=[f"{p.parts[-2] if p.parts[-2] != 'html' else p.parts[-3]}/{p.name}" for p in REAL])
def test_real_pages_give_text_or_a_not_article_error(path):
    check(gzip.decompress(path.read_bytes()).decode("utf-8", "replace"))


def test_the_real_pages_are_there():
    """Without ../shared the sample above is empty: skipped here, failed under CI=true."""
    if not REAL:
        message = f"shared benchmark pages not found under {SHARED / 'bench'} (set SCRAPER_SHARED)"
        if IN_CI:
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
