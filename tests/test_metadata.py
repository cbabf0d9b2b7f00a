"""Metadata people can trust: dates, authors, titles and language, each with where it came from."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest

from scraper import dom, extract, metadata

STORY = " ".join(
    f"Paragraph {n} of the story tells how the city council voted on the new harbour bridge plan after months of debate."
    for n in range(4)
)
GERMAN = " ".join(
    f"Absatz {n} der Geschichte erzählt, wie der Stadtrat nach monatelanger Debatte über den Plan für die neue Hafenbrücke abgestimmt hat."
    for n in range(4)
)


def page(head: str = "", body: str = "", lang: str = "en") -> str:
    lang_attr = f" lang='{lang}'" if lang else ""
    return f"<html{lang_attr}><head><title>Council backs bridge</title>{head}</head><body><article>{body}<p>{STORY}</p></article></body></html>"


def ld(**fields) -> str:
    return f"<script type='application/ld+json'>{json.dumps({'@type': 'NewsArticle', **fields})}</script>"


def meta_tag(name: str, content: str) -> str:
    return f"<meta property='{name}' content='{content}'>"


def read(html: str, url: str | None = "https://example.com/news/bridge") -> metadata.Metadata:
    return metadata.read(dom.parse(html), url)


# --- dates ---------------------------------------------------------------------------------------

FUTURE = (datetime.now(timezone.utc) + timedelta(days=30)).isoformat()


@pytest.mark.parametrize(
    "bad",
    ["0001-01-01T00:00:00+00:00", "1970-01-01T00:00:00Z", "1990-06-01", FUTURE, "soon", "0", ""],
    ids=["placeholder", "epoch", "before-the-web", "future", "no-date", "zero", "empty"],
)
def test_unfit_dates_are_rejected_and_the_next_source_is_used(bad):
    found = read(page(ld(datePublished=bad) + meta_tag("article:published_time", "2021-03-04T10:00:00+01:00")))
    assert found.published == "2021-03-04T10:00:00+01:00"
    assert found.sources["published"] == "meta:article:published_time"


def test_an_unfit_date_alone_gives_no_date_rather_than_a_wrong_one():
    found = read(page(ld(datePublished="0001-01-01T00:00:00+00:00"), lang=""), url=None)
    assert found.published is None or found.published >= "1995"


@pytest.mark.parametrize(
    "given, iso",
    [
        ("2019-11-18T10:00:00.123456Z", "2019-11-18T10:00:00+00:00"),
        ("2019-11-18T10:00:00-0500", "2019-11-18T10:00:00-05:00"),
        ("2019-11-18 10:00:00", "2019-11-18T10:00:00"),
        ("2019-11-18", "2019-11-18"),
        ("Mon, 18 Nov 2019 10:00:00 GMT", "2019-11-18T10:00:00+00:00"),
        ("1574071200", "2019-11-18T10:00:00+00:00"),
    ],
)
def test_dates_come_out_as_iso_8601_keeping_the_zone_given(given, iso):
    assert metadata.iso_date(given) == iso


def test_a_time_without_zone_says_so_in_its_source():
    found = read(page(meta_tag("article:published_time", "2019-11-18T10:00:00")))
    assert found.published == "2019-11-18T10:00:00"
    assert "no time zone" in found.sources["published"]


def test_json_ld_beats_meta_tags_and_the_original_date_is_published():
    head = ld(datePublished="2020-01-02T08:00:00+00:00", dateModified="2020-02-03T09:00:00+00:00")
    head += meta_tag("article:published_time", "2020-02-03T09:00:00+00:00")
    found = read(page(head))
    assert (found.published, found.modified) == ("2020-01-02T08:00:00+00:00", "2020-02-03T09:00:00+00:00")
    assert found.sources["published"] == "json-ld"


@pytest.mark.parametrize("wrap", ["<![CDATA[{}]]>", "//<![CDATA[\n{}\n//]]>"])
def test_json_ld_wrapped_for_xhtml_parsers_is_read(wrap):
    script = ld(datePublished="2015-10-15T02:19:15Z", author={"@type": "Person", "name": "John Welch"})
    json_text = script.removeprefix("<script type='application/ld+json'>").removesuffix("</script>")
    found = read(page(f"<script type='application/ld+json'>{wrap.format(json_text)}</script>"
                      + meta_tag("article:published_time", "2015-12-11T14:28:34Z")))
    assert (found.published, found.authors) == ("2015-10-15T02:19:15+00:00", ["John Welch"])


def test_a_modified_date_before_the_published_one_is_dropped():
    found = read(page(ld(datePublished="2020-05-02T08:00:00+00:00", dateModified="2020-01-01T08:00:00+00:00")))
    assert found.published == "2020-05-02T08:00:00+00:00" and found.modified is None


def test_time_element_then_url_when_the_markup_has_no_date_tags():
    headline = "<header><h1>Council backs bridge</h1><time datetime='2018-07-09T12:00:00+02:00'>9 July</time></header>"
    assert read(page(body=headline)).published == "2018-07-09T12:00:00+02:00"
    found = read(page(), url="https://example.com/2017/04/05/bridge-vote")
    assert (found.published, found.sources["published"]) == ("2017-04-05", "url")


@pytest.mark.parametrize(
    "elsewhere",
    ["<blockquote class='instagram-media'><p>A post shared on <time datetime='2016-12-05T17:10:10+00:00'>Dec 5</time></p></blockquote>",
     "<ul><li><article><a href='/other'>Other story</a> <time datetime='2016-11-30T08:00:00+00:00'>30 Nov</time></article></li></ul>"],
    ids=["embedded-post", "teaser-of-another-story"],
)
def test_a_time_element_away_from_the_headline_dates_something_else(elsewhere):
    body = f"<header><h1>Council backs bridge</h1><time>December 7, 2016</time></header>{elsewhere}"
    assert read(page(body=body)).published == "2016-12-07"


def test_a_time_element_the_url_contradicts_is_not_the_articles():
    body = "<header><h1>Council backs bridge</h1><time datetime='2019-03-11T16:10:40+09:00'>11 March</time></header>"
    found = read(page(body=body), url="https://example.com/article/2019/04/19/169284.html")
    assert (found.published, found.sources["published"]) == ("2019-04-19", "url")


def test_a_day_that_reads_both_ways_is_read_as_the_pages_other_dates_say():
    head = meta_tag("og:article:published_time", "4/6/2016 4:00:00 PM")
    assert read(page(head), url="https://example.com/news-release/2016/04/06/bridge.html").published == "2016-04-06"
    assert read(page(head)).published == "2016-06-04"


def test_a_utc_time_is_given_in_the_pages_zone_when_the_page_shows_it():
    head = meta_tag("article:published_time", "2023-11-09T01:09:55+00:00") + meta_tag("sailthru.date", "2023-11-08 18:09:55")
    assert read(page(head)).published == "2023-11-08T18:09:55-07:00"
    shown = "<div class='meta'><time datetime='2023-11-08 17:09:55'>November 8, 2023 at 5:09 p.m.</time></div>"
    assert read(page(meta_tag("article:published_time", "2023-11-09T01:09:55Z"), body=shown)).published == "2023-11-08T17:09:55-08:00"
    alone = read(page(meta_tag("article:published_time", "2023-11-09T01:09:55+00:00")))
    assert alone.published == "2023-11-09T01:09:55+00:00"


def test_htmldate_finds_a_date_written_only_in_the_text():
    found = read(page(body="<p class='date'>Published on 12 March 2016</p>"), url="https://example.com/news/bridge")
    assert found.published == "2016-03-12"
    assert found.sources["published"].startswith("htmldate")


def test_a_time_zone_name_nobody_can_place_gives_the_day_and_no_warning(recwarn):
    # dateutil warns on stderr of "EDT" (and says a later version will raise)
    assert metadata.iso_date("2012-10-29T14:00EDT") == "2012-10-29"
    assert not recwarn.list


def test_the_search_of_the_text_for_a_date_does_not_read_reader_comments():
    # The DOM stage drops the comments first: their times date the comments, not the article
    # (and each one costs dateparser a try in every locale).
    comments = "<div class='comments'>" + "".join(
        f"<div class='comment-body'><p>Sam wrote on Tuesday 3 March 2015 at 1{n}:00: I agree.</p></div>" for n in range(5)
    ) + "</div>"
    url = "https://example.com/news/bridge"
    assert extract(page().replace("</article>", "</article>" + comments), url).published is None
    dated = extract(page(body="<p>Posted on Friday 12 June 2016 in Town news</p>").replace("</article>", "</article>" + comments), url)
    assert (dated.published, dated.sources["published"]) == ("2016-06-12", "htmldate:text")


JAPANESE_STORY = ("市議会は火曜日、川に架かる古い橋を架け替えることを決めた。工事は春に始まり、二年かかる見込みだと市長は述べた。"
                  "新しい橋は歩行者と自転車のための広い通路を備える。")


@pytest.mark.parametrize("html, published, languages", [
    (page(body="<div><span>2019年3月15日 09:43</span></div>", lang="ja"), "2019-03-15", ["ja", "en"]),
    (page(body="<div class='date'>2/24/2016</div>", lang=""), "2016-02-24", ["en"]),  # none declared: detected
    (page(body="<div><span>2019年3月15日 09:43</span></div>", lang="zz"), "2019-03-15", None),  # unknown to dateparser: all
    (f"<html><body><article><div><span>2019年3月15日 09:43</span></div><p>{JAPANESE_STORY}</p></article></body></html>",
     "2019-03-15", ["ja", "en"]),
])
def test_dates_in_the_text_are_read_in_the_pages_language_and_english(monkeypatch, html, published, languages):
    # dateparser tries a string in each of its 205 languages unless told which: 10 ms a string.
    import dateparser

    asked = []
    get_date_data = dateparser.DateDataParser.get_date_data
    monkeypatch.setattr(dateparser.DateDataParser, "get_date_data",
                        lambda self, text, *a, **k: asked.append(self.languages) or get_date_data(self, text, *a, **k))
    assert extract(html, "https://example.com/news/bridge").published == published
    assert asked and all(used == languages for used in asked)


# --- authors -------------------------------------------------------------------------------------

@pytest.mark.parametrize(
    "byline, names",
    [
        ("By Jane Doe", ["Jane Doe"]),
        ("Jane Doe and John Roe", ["Jane Doe", "John Roe"]),
        ("Jane Doe, John Roe & Ann Poe", ["Jane Doe", "John Roe", "Ann Poe"]),
        ("Jane Doe, Senior Correspondent", ["Jane Doe"]),
        ("Jane Doe | Email the author", ["Jane Doe"]),
        ("Staff", []),
        ("Jane Doe @janedoe", []),
        ("@janedoe", []),
        ("https://example.com/authors/jane-doe", []),
        ("Jane Doe, jane DOE", ["Jane Doe"]),
        ("Reuters Staff", []),
        ("https://www.facebook.com/janedoe", []),
        ("Maria &amp; Katerina", ["Maria", "Katerina"]),
        ("Help Net Security Sponsored", []),
    ],
    ids=["by", "and", "comma-ampersand", "job-title", "email-the-author", "staff", "name-with-handle", "handle", "url",
         "duplicate", "agency", "profile-address", "escaped", "sponsored"],
)
def test_bylines_give_people_only(byline, names):
    assert metadata.person_names([byline]) == names


def test_an_organisation_as_json_ld_author_is_the_publisher_not_an_author():
    author = [{"@type": "Organization", "name": "Daily Example"}, {"@type": "Person", "name": "Jane Doe"}]
    found = read(page(ld(author=author)))
    assert found.authors == ["Jane Doe"]
    assert found.publisher == "Daily Example"


def test_the_site_name_is_no_author():
    found = read(page(meta_tag("og:site_name", "Daily Example") + "<meta name='author' content='Daily Example'>"))
    assert found.authors == [] and found.site_name == "Daily Example"


def test_json_ld_author_by_reference_and_byline_order():
    graph = {"@graph": [{"@type": "NewsArticle", "headline": "Council backs bridge", "author": [{"@id": "#b"}, {"@id": "#a"}]},
                        {"@type": "Person", "@id": "#a", "name": "Ann Poe"}, {"@type": "Person", "@id": "#b", "name": "Bob Roe"}]}
    found = read(page(f"<script type='application/ld+json'>{json.dumps(graph)}</script>"))
    assert found.authors == ["Bob Roe", "Ann Poe"]


def test_byline_element_when_no_tag_names_the_author():
    found = read(page(body="<p class='byline'>By <a rel='author' href='/staff/jane'>Jane Doe</a></p>"))
    assert found.authors == ["Jane Doe"]


def test_the_author_of_the_article_object_when_a_web_page_object_comes_first():
    objects = [{"@type": "WebPage", "headline": "Council backs bridge"}, {"@type": "Article", "author": {"@type": "Person", "name": "Esther Magna"}}]
    assert read(page(f"<script type='application/ld+json'>{json.dumps(objects)}</script>")).authors == ["Esther Magna"]


def test_a_person_the_site_is_named_after_is_the_author_when_nobody_else_is_named():
    head = meta_tag("og:site_name", "Russell Miller") + ld(author={"@type": "Person", "name": "Russell Miller"})
    assert read(page(head)).authors == ["Russell Miller"]
    assert read(page(head, body="<p class='byline'>By Tracy Parker</p>")).authors == ["Tracy Parker"]


def test_the_bylines_of_teasers_for_other_stories_are_not_the_articles():
    teasers = "".join(
        f"<section><div><div><h3>Story {n}</h3><span class='author-name'><a href='/a/{n}'>{name}</a></span></div></div></section>"
        for n, name in enumerate(["Laura Lionti", "Beatrice Barazzetti"]))
    byline = "<div class='meta'><span class='author-name'><a href='/a/fm'>Fabio Marcomin</a></span></div>"
    assert read(page(body=byline + teasers)).authors == ["Fabio Marcomin"]
    co_authors = "<div class='meta'><span class='author-name'>Ann Poe</span> and <span class='author-name'>Bob Roe</span></div>"
    assert read(page(body=co_authors)).authors == ["Ann Poe", "Bob Roe"]


def test_a_byline_shown_twice_for_small_and_large_screens_names_one_author():
    body = ("<div class='author'><a class='sm-hidden' href='/author/cs'>Chris Stokel-Walker</a>"
            "<a class='sm-block' href='/author/cs'>Chris Stokel-Walker</a></div>")
    assert read(page(body=body)).authors == ["Chris Stokel-Walker"]


def test_the_authors_of_readers_comments_are_not_the_articles():
    body = "<div class='comments'><ol><li><span class='comment-author'>Florence says</span></li></ol></div>"
    assert read(page(body=body)).authors == []


def test_a_meta_tag_may_give_its_value_in_value():
    assert read(page("<meta name='author' value='Zach Hanlon'>")).authors == ["Zach Hanlon"]


def test_twitter_data1_is_an_author_only_under_a_label_that_says_so():
    tags = "<meta name='twitter:label1' content='{}'><meta name='twitter:data1' content='Sameer Rahim'>"
    assert read(page(tags.format("Written by"))).authors == ["Sameer Rahim"]
    assert read(page(tags.format("Est. reading time"))).authors == []


def test_a_byline_sentence_gives_the_names_of_its_links():
    body = "<div class='author'>Written by <a href='https://example.com/ml'>Michael Larabel</a> in <a href='/linux'>Linux</a> on 1 June 2019.</div>"
    assert read(page(body=body)).authors == ["Michael Larabel"]


def test_a_byline_with_the_date_on_a_line_of_its_own_gives_the_name():
    assert read(page(body="<p class='author'>Andrew Gerrand<br>4 August 2010</p>")).authors == ["Andrew Gerrand"]


def test_a_user_name_in_lower_case_is_an_author_where_the_markup_says_so():
    assert read(page(body="<span class='entry-author'><a rel='author' href='/u/doumae'>doumae</a></span>")).authors == ["doumae"]
    assert read(page(body="<span class='byline'>posted in news</span>")).authors == []


# --- title ---------------------------------------------------------------------------------------

@pytest.mark.parametrize(
    "title",
    ["Council backs bridge | Daily Example", "Council backs bridge - Daily Example", "Daily Example: Council backs bridge"],
)
def test_the_title_loses_the_site_name(title):
    html = page(meta_tag("og:site_name", "Daily Example")).replace("<title>Council backs bridge</title>", f"<title>{title}</title>")
    assert read(html).title == "Council backs bridge"


def test_a_title_escaped_twice_is_unescaped():
    assert read(page(meta_tag("og:title", "VC: Time to &amp;#8216;come out&amp;#8217; &amp;amp; more"))).title == "VC: Time to ‘come out’ & more"


def test_a_prefix_that_only_holds_the_site_name_stays():
    html = page(meta_tag("og:site_name", "Vimeo") + meta_tag("og:title", "Vimeo Best of the Year 2018: Winners"))
    assert read(html).title == "Vimeo Best of the Year 2018: Winners"


def test_the_headline_shown_wins_over_the_one_written_for_search_and_social_media():
    seo = meta_tag("og:title", "Harbour bridge vote: 5 things to know")
    assert read(page(seo, "<h1>Council backs the new harbour bridge after months of debate</h1>")).title == (
        "Council backs the new harbour bridge after months of debate")
    # a short h1 may be a section's label, not the headline: the tags' title is taken
    assert read(page(seo, "<h1>Bridge plans explained</h1>")).title == "Harbour bridge vote: 5 things to know"


def test_a_headline_keeps_the_spaces_between_its_words_in_markup():
    assert read(page(body="<h1>Just-released <em>Minecraft</em> exploit makes it easy to crash servers</h1>")).title == (
        "Just-released Minecraft exploit makes it easy to crash servers")


def test_dublin_core_and_parsely_titles_are_read_and_a_short_h1_is_the_last_resort():
    bare = "<html><head>{}</head><body><h1>Test document</h1><p>" + STORY + "</p></body></html>"
    assert read(bare.format("<meta name='DC.Title' content='remoteStorage'>")).title == "remoteStorage"
    assert read(bare.format("<meta name='parsely-title' content='Some Other Title'>")).title == "Some Other Title"
    assert read(bare.format("")).title == "Test document"


def test_a_dash_inside_the_headline_stays():
    html = page(meta_tag("og:title", "Bridge vote - what it means for you"))
    assert read(html).title == "Bridge vote - what it means for you"


# --- language ------------------------------------------------------------------------------------

def test_language_is_detected_when_none_is_declared():
    article = extract(page(lang=""), "https://example.com/news/bridge")
    assert (article.language, article.sources["language"]) == ("en", "detected")


def test_a_declared_language_the_text_contradicts_is_overruled():
    html = page(lang="en").replace(STORY, GERMAN)
    article = extract(html, "https://example.com/news/bridge")
    assert article.language == "de"
    assert article.sources["language"] == "detected (the page declares en)"


def test_a_declared_language_is_kept_as_iso_639_1():
    article = extract(page(lang="en-GB"), "https://example.com/news/bridge")
    assert article.language == "en" and article.sources["language"].startswith("html:lang")


# --- where each value came from ------------------------------------------------------------------

def test_sources_show_only_with_explain():
    article = extract(page(ld(datePublished="2021-03-04T10:00:00Z", author={"@type": "Person", "name": "Jane Doe"})), "https://example.com/n")
    assert "sources" not in article.to_dict()
    sources = article.to_dict(explain=True)["sources"]
    assert sources["published"] == "json-ld" and sources["authors"] == "json-ld" and sources["title"] == "title"
