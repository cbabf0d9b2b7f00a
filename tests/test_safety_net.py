"""The safety net: when the DOM stage or the cleaner removes the article, it is overruled, and says so."""

from __future__ import annotations

import re

from scraper import extract
from scraper.config import LineRule, Site
from scraper.article import Removal
from scraper.clean import CleanResult
from scraper.safety import overrule_cleaner

URL = "https://example.com/2024/05/harbour-bridge"
SENTENCES = [
    "The city council voted on Tuesday to build the new harbour bridge after months of debate.",
    "Engineers said the steel arch would carry two tram lines and a wide path for cyclists.",
    "Residents of the old quarter had argued that the works would close their market for a year.",
    "The mayor promised that the market would move to the square beside the cathedral meanwhile.",
    "Construction is due to start next spring and to last about three years, the council said.",
    "Opponents said they would ask the regional court to review the planning permission granted.",
]
PARAGRAPHS = [f"<p>{a} {b}</p>" for a, b in zip(SENTENCES, SENTENCES[1:] + SENTENCES[:1])]
MENU = "".join(f"<a href='/section/{n}'>Section number {n} of the site</a> " for n in range(12))


def page(body: str) -> str:
    return f"<html lang='en'><head><title>Council backs harbour bridge</title></head><body>{body}</body></html>"


def overruled(article) -> list[str]:
    return [removal.rule for removal in article.removed if removal.rule.startswith("safety.")]


def test_article_split_over_wrappers_with_a_junk_token_is_kept():
    # Each section of the article sits in its own wrapper whose class holds "premium" or "related":
    # each holds too little of the page to be protected, and the DOM stage drops them all.
    sections = "".join(f"<div class='premium-content related-wrapper'>{p}</div>" for p in PARAGRAPHS)
    article = extract(page(f"<div class='nav'>{MENU}</div><div class='entry'>{sections}</div>"), URL)
    assert all(sentence in article.text for sentence in SENTENCES)
    assert overruled(article) == ["safety.dom-overruled"]


def test_link_rich_paragraphs_in_an_old_table_layout_are_kept():
    def linked(paragraph: str) -> str:  # an old blog that links every other phrase
        words = paragraph[3:-4].split()
        phrases = [" ".join(words[n : n + 4]) for n in range(0, len(words), 4)]
        return "<p>" + " ".join(f"<a href='/t/{n}'>{phrase}</a>" if n % 8 else phrase for n, phrase in enumerate(phrases)) + "</p>"

    body = f"<table><tr><td class='sidebar'>{MENU}</td><td>{''.join(map(linked, PARAGRAPHS))}</td></tr></table>"
    article = extract(page(body), URL)
    assert SENTENCES[2] in article.text and "safety.dom-overruled" in overruled(article)


def test_a_menu_left_as_the_biggest_block_is_not_the_article():
    story = "".join(f"<div class='{('promo-story', 'popular-box')[n % 2]}'>{p}</div>" for n, p in enumerate(PARAGRAPHS))
    menu = "".join(f"<div class='item'><a href='/shop/{n}'>Shop our range of garden tools number {n}</a></div>" for n in range(8))
    article = extract(page(f"<div class='menu'>{menu}</div>{story}"), URL)
    assert SENTENCES[0] in article.text and "garden tools" not in article.text
    assert overruled(article) == ["safety.dom-overruled"]


def test_the_cleaner_may_not_cut_the_whole_article_even_by_a_site_rule_too_broad():
    # A site's line pattern written for one prompt that happens to match every paragraph.
    too_broad = LineRule("example.prompt", "newsletter prompt", re.compile(r"\bsaid\b|\bthe\b", re.I))
    site = Site(name="example", domains=("example.com",), line_rules=(too_broad,))
    article = extract(page("<article><h1>Council backs harbour bridge</h1>" + "".join(PARAGRAPHS) + "</article>"), URL, site=site)
    assert all(sentence in article.text for sentence in SENTENCES)
    assert overruled(article) == ["safety.clean-overruled"]


def test_overruling_the_cleaner_undoes_only_its_biggest_cut():
    lines = ["Share this", *SENTENCES]
    removed = [Removal("Share this", "share prompt", "prompt.share")] + [Removal(s, "list", "stop-heading.list") for s in SENTENCES]
    result = CleanResult("", removed, [])
    fixed = overrule_cleaner("\n".join(lines), result)
    assert fixed.text == "\n".join(SENTENCES)
    assert [r.rule for r in fixed.removed] == ["safety.clean-overruled", "prompt.share"]


def test_explain_names_the_overruled_stage():
    sections = "".join(f"<div class='related-wrapper'>{p}</div>" for p in PARAGRAPHS)
    data = extract(page(f"<div>{MENU}</div>{sections}"), URL).to_dict(explain=True)
    note = data["removed"][0]
    assert note["rule"] == "safety.dom-overruled" and "DOM stage" in note["reason"]


def test_an_article_the_stages_keep_is_not_overruled():
    article = extract(page(f"<article><h1>Council backs harbour bridge</h1>{''.join(PARAGRAPHS)}</article>"), URL)
    assert overruled(article) == [] and SENTENCES[3] in article.text


def test_text_the_cleaner_only_reflowed_is_not_overruled():
    spaced = "\n\n\n".join(f"   {s}      " for s in SENTENCES * 2)
    result = CleanResult("\n".join(SENTENCES * 2), [], [])
    assert overrule_cleaner(spaced, result) is result


def test_an_unpruned_page_whose_text_is_a_caption_gallery_does_not_overrule_the_article(monkeypatch):
    # A slideshow's hidden slides: the page's <p> text is mostly captions, so the net looks at the
    # unpruned page, where trafilatura takes the gallery. The cleaner cuts those captions: they are
    # no article we missed.
    import trafilatura

    captions = [f"Runner number {n} crosses the line in the final of the 200 metres. (AP Photo/David J. Phillip)" for n in range(40)]
    gallery = "".join(f"<p>{caption}</p>" for caption in captions)
    html = page(f"<div class='gallery-module' aria-hidden='true'>{gallery}</div><article>{''.join(PARAGRAPHS)}</article>")
    real = trafilatura.bare_extraction

    def unpruned_gives_the_gallery(tree_html, **options):
        doc = real(tree_html, **options)
        if "gallery-module" in tree_html:  # the DOM stage removed it from the pruned page
            doc.text = "\n".join(captions)
        return doc

    monkeypatch.setattr(trafilatura, "bare_extraction", unpruned_gives_the_gallery)
    article = extract(html, URL)
    assert SENTENCES[0] in article.text and "Runner number" not in article.text
    assert overruled(article) == []


def test_the_block_holding_the_paragraphs_outweighs_its_junk_token():
    # A Blogger post: the post sits in <div class="widget Blog">, its paragraphs are <div>s, and
    # the sidebar's widgets hold more text than the post, so no share of the page protects it.
    post = "".join(f"<div style='margin-bottom: 1em'><span>{p[3:-4]}</span></div>" for p in PARAGRAPHS)
    profile = " ".join(SENTENCES[:3]).replace("council", "author")
    sidebar = "".join(f"<div class='widget Profile'><p>{profile}</p></div>" for _ in range(3)) + f"<div class='widget'>{MENU * 6}</div>"
    body = f"<div class='widget Blog'><h3>Council backs harbour bridge</h3><div class='post-body'>{post}</div></div>{sidebar}"
    article = extract(page(body), URL)
    assert all(sentence in article.text for sentence in SENTENCES) and "author" not in article.text
    assert overruled(article) == []
