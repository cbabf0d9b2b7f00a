"""Pages that are not articles say so (issue #13): consent walls, paywall teasers and empty shells
are a NotArticleError of their own kind, recorded by runs as final and shown by `scraper status`;
a paywalled article with a real lead keeps the lead, without the notice."""

from __future__ import annotations

import json
import pickle

import pytest

from scraper import extract
from scraper.errors import NotArticleError

from .test_keys_and_retries import Site, page, scraper, sites_toml

URL = "https://example.com/news/2026/harbour-bridge"
LEAD = "".join(
    f"<p>Paragraph {n}: the harbour council voted on Tuesday to approve the new bridge after months of debate, "
    "and the mayor said that work on the foundations would begin in the spring, once the last permits are signed.</p>"
    for n in range(1, 4)
)


def html(body: str, title: str = "Council backs the harbour bridge") -> str:
    return f"<html><head><title>{title}</title></head><body>{body}</body></html>"


CONSENT_WALL = html(
    """<div class="wall"><h1>We value your privacy</h1>
    <p>We and our partners store and/or access information on a device, such as cookies, and process personal data,
    such as unique identifiers and standard information sent by a device, for personalised ads and content, ad and
    content measurement, and audience insights.</p>
    <p>With your permission we and our partners may use precise geolocation data. You may click to consent to our and
    our partners' processing as described above.</p>
    <p>Alternatively you may change your preferences before consenting, or refuse to consent.</p>
    <button>Accept all</button> <button>Reject all</button> <a href="/privacy">Privacy policy</a></div>""",
    title="Before you continue",
)
PAYWALL_TEASER = html(
    """<article><h1>Council backs the harbour bridge</h1><div class="paywall-box">
    <p>This article is for subscribers only.</p><p>Subscribe now to read the full story, with unlimited access.</p>
    <p><a href="/login">Already a subscriber? Log in</a></p></div></article>"""
)
PAYWALLED_LEAD = html(f"<article><h1>Council backs the harbour bridge</h1>{LEAD}<p>The rest of this story is for members only.</p></article>")
JS_SHELL = html('<noscript>You need to enable JavaScript to run this app.</noscript><div id="root"></div><script src="/app.js"></script>', "App")
NAVIGATION_ONLY = html("<nav>" + " ".join(f"<a href='/s{n}'>Section {n}</a>" for n in range(30)) + "</nav><div>"
                       + " ".join(f"<a href='/t{n}'>Topic number {n}</a>" for n in range(30)) + "</div>")


@pytest.mark.parametrize(
    "page, kind",
    [(CONSENT_WALL, "consent"), (PAYWALL_TEASER, "paywall"), (JS_SHELL, "empty"), (NAVIGATION_ONLY, "empty")],
    ids=["consent-wall", "paywall-teaser", "js-shell", "navigation-only"],
)
def test_a_page_that_is_no_article_says_which_kind(page, kind):
    with pytest.raises(NotArticleError) as info:
        extract(page, URL)
    assert info.value.kind == kind
    assert str(info.value).endswith(URL)


def test_a_paywalled_article_keeps_its_real_lead_without_the_notice():
    article = extract(PAYWALLED_LEAD, URL)
    assert [line.split(":")[0] for line in article.text.splitlines()] == ["Paragraph 1", "Paragraph 2", "Paragraph 3"]
    assert "members only" not in article.text
    [notice] = [r for r in article.removed if "members only" in r.text]
    assert notice.rule == "notice.paywall" and notice.reason == "paywall notice beside the article"


def test_articles_about_cookies_and_subscribers_are_articles():
    recipe = html("<article><h1>Oat cookies</h1>" + "".join(
        f"<p>Step {n}: bake the cookies for twelve minutes, until the edges of the cookies turn golden and the kitchen "
        "smells of butter; our subscribers say the cookies keep for a week in a tin.</p>" for n in range(1, 4)) + "</article>",
        title="Oat cookies")
    assert "bake the cookies" in extract(recipe, URL).text


def test_the_kind_survives_the_trip_back_from_an_extraction_worker():
    error = pickle.loads(pickle.dumps(NotArticleError("a subscription notice", kind="paywall")))
    assert (error.kind, str(error)) == ("paywall", "a subscription notice")
    assert NotArticleError("nothing found").kind == "no-text"


def test_a_run_records_a_paywall_as_final_shows_it_in_status_and_stores_nothing_of_it(tmp_path, httpserver):
    site = Site(httpserver)
    site.add("/news/story-one.html", page(1, site.url("/news/story-one.html")))
    site.add("/news/locked.html", PAYWALL_TEASER)
    db = f"sqlite:///{tmp_path / 'articles.db'}"
    cfg = sites_toml(tmp_path, site, db)

    first = scraper("run", "--config", cfg)
    assert "loop: discovered 2, new 2, fetched 2, saved 1, failed 1" in first.stderr, first.stderr
    listed = json.loads(scraper("status", "--config", cfg, "--json").stdout)
    [failure] = listed["failures"]
    assert failure["url"] == site.url("/news/locked.html")
    assert failure["reason"].startswith("paywall: not an article: a subscription notice") and failure["next_at"] is None
    assert listed["articles"] == 1
    shown = scraper("status", "--config", cfg, "--failed", "5")
    assert "paywall" in shown.stdout and "never" in shown.stdout, shown.stdout

    hits = len(site.hits)
    again = scraper("run", "--config", cfg)  # final: not fetched again
    assert "fetched 0" in again.stderr and "/news/locked.html" not in site.hits[hits:]
    exported = scraper("export", "--format", "jsonl", "--config", cfg).stdout.splitlines()
    assert [json.loads(line)["url"] for line in exported] == [site.url("/news/story-one.html")]
