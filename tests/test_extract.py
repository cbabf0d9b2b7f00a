"""The DOM stage and `extract`: junk elements go before trafilatura, the article stays whole."""

from __future__ import annotations

import gzip

import pytest

from scraper import dom, extract
from scraper.clean import default_rules
from scraper.config import Site
from scraper.errors import NotArticleError


STORY = " ".join(
    f"Paragraph {n} of the story tells how the city council voted on the new harbour bridge plan after months of debate."
    for n in range(3)
)


def page(body: str, head: str = "") -> str:
    return f"<html lang='en-GB'><head><title>Council backs bridge - Daily Example</title>{head}</head><body>{body}</body></html>"


ARTICLE = f"<article><h1>Council backs bridge</h1><p>{STORY}</p><p>{STORY}</p></article>"


@pytest.mark.parametrize(
    "junk",
    [
        "<div class='related-articles'><p>Mayor resigns over scandal in a different city entirely today.</p></div>",
        "<aside class='newsletter_signup'><p>Get the best stories of the week delivered to your inbox every Friday.</p></aside>",
        "<div id='taboola-below'><p>You will not believe what this celebrity looks like now, photos inside.</p></div>",
        "<div hidden><p>Hidden text that a browser never shows to any reader of this page.</p></div>",
        "<div style='display: none'><p>Invisible promo block that a browser never shows to a reader.</p></div>",
        "<div role='complementary'><p>Sidebar material that is not part of the article text at all.</p></div>",
        "<ul><li><a href='/a'>Headline one about markets</a></li><li><a href='/b'>Headline two about sport</a></li><li><a href='/c'>Headline three about weather</a></li></ul>",
    ],
)
def test_dom_stage_drops_junk_blocks(junk):
    article = extract(page(ARTICLE + junk), "https://example.com/news/bridge")
    assert "Paragraph 0 of the story" in article.text
    assert junk.split(">")[2][:20] not in article.text


@pytest.mark.parametrize("marks", ["class='post-author-bio'", "id='block-most-popular'", "class='author_bio'"])
def test_a_junk_token_of_two_words_is_found_inside_a_longer_name(marks):
    bio = f"<div {marks}><p>Sam Doe writes about the harbour, the ferries and the sea for our paper.</p></div>"
    tree = dom.prune(dom.parse(page(ARTICLE.replace("</article>", bio + "</article>"))), default_rules().dom)
    assert "Paragraph 0" in tree.body.text() and "Sam Doe" not in tree.body.text()


def test_a_short_post_in_a_widget_outweighed_by_its_sidebar_stays():
    # Blogger: the post is a "widget Blog"; a long "about me" beside it holds the most prose
    post = ("<div class='widget Blog' id='Blog1'><div class='post hentry'><h3 class='post-title'>Teach this</h3>"
            "<div class='post-body'><p>A fantastic example of how a teacher takes students through making a video.</p></div></div></div>")
    about = f"<div class='sidebar-right'><div class='about'><p>{STORY}</p><p>{STORY}</p></div></div>"
    tree = dom.prune(dom.parse(page(post + about)), default_rules().dom)
    assert "A fantastic example" in tree.body.text()


def test_link_only_paragraph_goes_but_a_cited_address_stays():
    other_story = "<p><strong><a href='/other'>MAYOR UNVEILS PLAN FOR NEW CITY TRAM LINE</a></strong></p>"
    source = "<p>Source: <a href='https://example.org/report.pdf'>https://example.org/report.pdf</a></p>"
    tree = dom.prune(dom.parse(page(ARTICLE.replace("</article>", other_story + source + "</article>"))), default_rules().dom)
    assert "TRAM LINE" not in tree.body.text() and "example.org/report.pdf" in tree.body.text()


def test_standfirst_heading_goes_but_a_lede_repeating_the_description_stays():
    head = "<meta name='description' content='The vote ends months of debate.'>"
    standfirst = "<article><h1>Council backs bridge</h1><h2>The vote ends months of debate.</h2>"
    html = page(ARTICLE.replace("<article><h1>Council backs bridge</h1>", standfirst), head)
    assert "The vote ends months of debate." not in extract(html, "https://example.com/a").text.splitlines()
    lede = page(ARTICLE.replace("<p>", "<p>The vote ends months of debate.</p><p>", 1), head)
    assert "The vote ends months of debate." in extract(lede, "https://example.com/a").text.splitlines()


def test_layout_table_keeps_paragraphs_apart():
    second = "The bridge will open in 2028 and carry trams, bicycles and pedestrians over the river."
    cell = f"<h1>Council backs bridge</h1><div class='date'>November 20, 2019</div><p>{STORY}</p><p>{second}</p>"
    html = page(f"<table><tbody><tr valign='top'><td class='content'><div>{cell}</div></td></tr></tbody></table>")
    lines = extract(html, "https://example.com/a").text.splitlines()
    assert lines[0].startswith("Paragraph 0") and lines[-1] == second  # not one "| ... |" row


def test_a_table_with_headers_is_data_even_when_its_cells_hold_blocks():
    rows = "".join(f"<tr><td><div>Film {n}</div></td><td>{1990 + n}</td><td><p>A weatherman relives day {n} of the festival.</p></td></tr>" for n in range(6))
    html = page(f"<article><h1>Films with time loops</h1><p>{STORY}</p><table><tr><th>Film</th><th>Year</th><th>Plot</th></tr>{rows}</table></article>")
    text = extract(html, "https://example.com/a").text
    assert "| Film 3 | 1993 | A weatherman relives day 3 of the festival. |" in text


def test_a_section_whose_id_is_its_heading_is_not_judged_by_that_id():
    # id="sharing-with-a-single-developer" holds "sharing", a share bar's token, but it is the
    # slug of the section's own heading: it names the content.
    sections = "".join(
        f"<div class='section' id='sharing-with-{slug}'><h2>Sharing with {title}</h2><p>{STORY}</p></div>"
        for slug, title in (("a-single-developer", "a single developer"), ("multiple-developers", "multiple developers"),
                            ("the-whole-team", "the whole team"), ("other-companies", "other companies"))
    )
    html = page(f"<div class='body'><h1>Working together</h1><p>{STORY}</p>{sections}</div>")
    text = extract(html, "https://example.com/a").text
    assert "Sharing with multiple developers" in text and text.count("Paragraph 2 of the story") == 5
    shared = page(f"<div class='body'><h1>Working together</h1><p>{STORY}</p><div id='sharing'><p>Share this on every network.</p></div></div>")
    assert "every network" not in extract(shared, "https://example.com/a").text


def test_code_is_never_judged_by_its_highlighting_classes():
    code = "<pre><code><span class='hljs-comment'># stage the change, then commit it</span>\ngit add file.txt\n<span class='hljs-comment'># share the branch</span>\ngit push</code></pre>"
    text = extract(page(f"<article><h1>A brief intro to git</h1><p>{STORY}</p>{code}<p>{STORY}</p></article>"), "https://example.com/a").text
    assert "# stage the change, then commit it" in text and "# share the branch" in text


def test_article_marked_with_a_junk_token_is_kept():
    html = page(f"<div class='post share-enabled has-sidebar'>{ARTICLE}</div>")
    assert "Paragraph 2 of the story" in extract(html, "https://example.com/a").text


def test_site_selectors_sharpen_the_generic_rules():
    extra = f"<div class='story-extra'><p>{'Unrelated filler text about gardening tips. ' * 6}</p></div>"
    html = page(ARTICLE.replace("</article>", extra + "</article>"))
    assert "gardening" in extract(html, "https://example.com/a").text
    site = Site(name="example", domains=("example.com",), drop_selectors=(".story-extra",))
    assert "gardening" not in extract(html, "https://example.com/a", site=site).text


def test_attribute_flood_is_cut_to_the_tag_name():
    flood, many = " a" * 1000, " a" * 999 + " "  # 2000 and 1999 attribute tokens
    body = dom.parse(page(f"<div{flood}>flooded</div><span{many}>not quite</span>")).body.html
    assert "<div>flooded</div>" in body and '<span a="">not quite</span>' in body


def test_a_processing_instruction_in_the_body_is_no_element_to_judge():
    # Templates leak <?php ... ?> into pages; lexbor keeps it as a node without a tag name.
    article = extract(page("<div><?php if (slider()) { show(); }?>" + ARTICLE + "</div>"), "https://example.com/news/2024/01/bridge")
    assert "new harbour bridge" in article.text


def test_metadata_from_meta_tags_and_json_ld():
    head = """<meta property="og:title" content="Council backs bridge">
    <meta property="og:site_name" content="Daily Example"><meta name="description" content="The vote.">
    <meta property="article:tag" content="bridge"><meta property="article:tag" content="council">
    <link rel="canonical" href="/news/bridge">
    <script type="application/ld+json">{"@type": "NewsArticle", "author": [{"name": "Ann Lee"}],
      "datePublished": "2024-05-01T10:00:00Z", "image": {"url": "https://cdn.example.com/b.jpg"}}</script>"""
    article = extract(page(ARTICLE, head), "https://example.com/news/bridge?utm_source=x")
    assert article.title == "Council backs bridge"
    assert article.text.splitlines()[0].startswith("Paragraph 0")  # the headline is not repeated
    assert article.authors == ["Ann Lee"] and article.published == "2024-05-01T10:00:00+00:00"
    assert article.canonical_url == "https://example.com/news/bridge"
    assert article.tags == ["bridge", "council"] and article.language == "en"
    assert article.site_name == "Daily Example" and article.image == "https://cdn.example.com/b.jpg"


def test_page_without_article_text_is_not_an_article():
    with pytest.raises(NotArticleError):
        extract("<html><head><title>Empty</title></head><body><div class='cookie-banner'>We use cookies.</div></body></html>", "https://example.com/")


def test_real_benchmark_page(bench_pages):
    path = next((bench_pages / "html").glob("70cb2d5b*.html.gz"))
    article = extract(gzip.decompress(path.read_bytes()).decode(), "https://www.bbc.com/news/newsbeat-50470672")
    assert "Taylor Swift" in article.text and article.word_count > 200
