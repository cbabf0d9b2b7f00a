"""The text-stage cleaner: the seeds, junk kinds on unseen text, and properties on real articles."""

from __future__ import annotations

import re

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from scraper import clean
from scraper.clean import Cleaner, line_key

from .conftest import seed_pairs

ARTICLE = """Vietnam and the EU pledged to deepen economic and security cooperation on Thursday, upgrading ties.
The two sides agreed to deepen cooperation on trade, technology, energy and security, according to a joint statement.
Beyond the US and China
Vietnam has emerged as a regional economic bright spot, clocking eight per cent growth last year despite tariffs.
Faced with deepening trade uncertainty, Vietnam is on the hunt for new markets beyond the United States and China.
Upgrading ties with the EU is part of Hanoi's effort to diversify its export market, said a Vietnam expert.
Hanoi also has comprehensive strategic partnerships with China, Russia and the United States."""


@pytest.mark.parametrize("raw, expected", seed_pairs(), ids=lambda p: p.name)
def test_seeds_clean_to_expected(raw, expected):
    assert clean(raw.read_text(encoding="utf-8")).text + "\n" == expected.read_text(encoding="utf-8")


def test_seeds_exist():
    assert len(seed_pairs()) == 3, "the shared seeds are missing"


def test_subheadings_stay():
    assert clean(ARTICLE).text == ARTICLE


@pytest.mark.parametrize(
    "junk, rule",
    [
        ("Follow us on Telegram for the latest updates!", "prompt.follow"),
        ("Get our morning briefing delivered to your inbox.", "prompt.newsletter"),
        ("Download the Daily News app from Google Play and the App Store", "prompt.app"),
        ("Be the first to comment", "prompt.comments"),
        ("Was this article helpful?", "prompt.feedback"),
        ("Share this article", "prompt.share"),
        ("Subscribe now for only $1 a week for digital access", "prompt.paywall"),
        ("Copyright © 2025 Example Media Group. All rights reserved.", "furniture.copyright"),
        ("Advertisement", "furniture.advertisement"),
        ("Photo: AFP", "furniture.caption"),
        ("— Picture by John Doe", "furniture.caption"),
        ("Read more: Floods hit the north as rivers burst their banks", "furniture.read-more"),
        ("Mehr zum Thema", "stop-heading"),
        ("Baca juga", "stop-heading"),
    ],
)
def test_generic_junk_kinds(junk, rule):
    result = clean(ARTICLE + "\n" + junk)
    assert result.text == ARTICLE
    assert [r.rule for r in result.removed] == [rule]


def test_stop_heading_cuts_unrelated_list_but_keeps_relevant_text():
    headlines = "\n".join([
        "Floods force thousands from homes in Kelantan",
        "Police seize drugs worth millions at northern border",
        "Football: Local side crash out of regional cup",
    ])
    result = clean(f"{ARTICLE}\nYou May Also Like\n{headlines}")
    assert result.text == ARTICLE
    assert {r.rule for r in result.removed} == {"stop-heading", "stop-heading.list"}
    # A stop heading followed by more of the article is not a cut.
    text = f"{ARTICLE}\nMore on this story\nVietnam and the EU pledged deeper security cooperation with Hanoi and Vietnam's trade partners."
    assert clean(text).text == text


def test_tag_line_moves_to_tags():
    result = clean(ARTICLE + "\nVietnam , EU , Hanoi , trade")
    assert result.text == ARTICLE
    assert result.tags == ["Vietnam", "EU", "Hanoi", "trade"]


def test_split_promo_in_mid_article():
    lines = ARTICLE.splitlines()
    text = "\n".join(lines[:2] + ["Stay ahead on Asia", "with our weekly briefing", "Sign up now, it's free."] + lines[2:])
    assert clean(text).text == ARTICLE


def test_title_is_not_repeated():
    result = clean("EU and Vietnam upgrade ties\n" + ARTICLE, title="EU and Vietnam upgrade ties")
    assert result.text == ARTICLE


def test_learned_site_lines_are_removed():
    boiler = "Reporting by the Example desk, editing by someone"
    result = Cleaner(repeated={line_key(boiler)}).clean(ARTICLE + "\n" + boiler)
    assert result.text == ARTICLE
    assert result.removed[0].rule == "site-repeated"


# --- properties -------------------------------------------------------------------------------

_PARAGRAPH = re.compile(r"\w.{60,}[.!?\"”]$")


def _articles(ground_truth) -> list[list[str]]:
    """Junk-free articles: the prose paragraphs of each ground-truth article body."""
    articles = []
    for item in ground_truth.values():
        paragraphs = [l.strip() for l in item["articleBody"].splitlines() if _PARAGRAPH.match(l.strip())]
        if len(paragraphs) >= 2:
            articles.append(paragraphs)
    return articles


@pytest.fixture(scope="module")
def articles(ground_truth):
    return _articles(ground_truth)


def test_every_ground_truth_article_is_kept_whole(articles):
    for paragraphs in articles:
        text = "\n".join(paragraphs)
        assert clean(text).text == text


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_slices_of_real_articles_are_kept_whole(articles, data):
    paragraphs = data.draw(st.sampled_from(articles))
    start = data.draw(st.integers(0, len(paragraphs) - 1))
    end = data.draw(st.integers(start + 1, len(paragraphs)))
    text = "\n".join(paragraphs[start:end])
    assert clean(text).text == text


@settings(max_examples=500, deadline=None)
@given(st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=2000))
def test_never_crashes_never_invents_lines_and_is_idempotent(text):
    result = clean(text)
    source = {" ".join(line.split()) for line in text.splitlines()}
    assert all(line in source for line in result.text.splitlines())
    assert clean(result.text).text == result.text


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from(ARTICLE.splitlines() + [
    "Others Also Read", "Advertisement", "Follow us on WhatsApp", "Leave the first comment",
    "Government announces new budget for schools", "Markets rally as rates fall",
]), max_size=30))
def test_idempotent_on_mixed_lines(lines):
    once = clean("\n".join(lines)).text
    assert clean(once).text == once
