"""The extract stage: HTML in, a clean `Article` out (DOM stage, trafilatura, text stage)."""

from __future__ import annotations

from selectolax.lexbor import LexborHTMLParser

from . import dom, metadata, notarticle, safety
from .article import Article
from .clean import Cleaner, CleanResult, default_rules
from .config import Rules, Site
from .page import Response

# Reader comments are not the article; metadata comes from our own, cheaper pass (metadata.py).
# Not favor_precision: it drops every short paragraph holding a link and the link text inside
# sentences, cutting the article; the DOM and text stages remove the junk it was there for.
# Not fast: without the second opinion of readability and jusText, 5% of our time is saved but F1
# over the bench falls by 0.005 (wcxb-dev by 0.014), on pages whose footer trafilatura takes for the article.
_TRAFILATURA_OPTIONS = dict(include_comments=False, include_tables=True, with_metadata=False)
# Elements that trafilatura deletes with their content before it extracts (from its MANUALLY_CLEANED),
# deleted here by lexbor instead: lxml need not parse them, and trafilatura's fallback extractors,
# which read the page from before its cleaning, cannot take a menu or a footer for the article
# (bench/quality.py: 11% of trafilatura's time; 2 pages better, none worse). Not <aside>: on two
# bench pages only those fallbacks find the article while their asides are there.
_TRAFILATURA_DROPS = ["nav", "footer", "menu", "video", "audio", "picture", "map", "area", "applet"]
# Text shorter than this share of the page's paragraph text (before the DOM stage), and keeping
# less than PARAGRAPHS_KEPT of its four-word runs, may have lost the article: only then is the page
# extracted a second time, unpruned, to compare. A text that keeps an eighth of the page's
# paragraphs is the article beside long comments, not a menu or a stub (bench/quality.py: 5% of
# pages are checked; every page on which the check overrules the DOM stage keeps under 0.09).
SUSPICIOUS_SHARE = 0.4
PARAGRAPHS_KEPT = 0.12


def extract(
    html: str,
    url: str | None = None,
    *,
    rules: Rules | None = None,
    site: Site | None = None,
    repeated: frozenset[str] | set[str] = frozenset(),
) -> Article:
    """Extract the article from a page. Raises NotArticleError when the page holds no article text.

    `rules` default to the generic ones in scraper/rules.toml, sharpened by `site` if given;
    `repeated` holds line keys learned as this site's boilerplate (see scraper/learn.py).
    """
    rules = (rules or default_rules()).for_site(site)
    cleaner = Cleaner(rules, repeated)
    tree = dom.parse(html)
    meta = metadata.read(tree, url)
    paragraphs = " ".join(p.text(deep=True, separator=" ", strip=True) for p in tree.css("p"))
    dom.prune(tree, rules.dom, standfirst=meta.description)
    metadata.date_from_text(meta, tree, url)
    extracted = _trafilatura_text(tree, url)
    result = safety.overrule_cleaner(extracted, cleaner.clean(extracted, title=meta.headlines))
    if not result.text or (len(result.text) < SUSPICIOUS_SHARE * len(paragraphs)
                           and safety.kept_share(result.text, paragraphs) < PARAGRAPHS_KEPT):
        result = _overrule_dom_stage_if_it_lost_the_article(result, html, url, cleaner, meta.headlines)
    result = notarticle.judge(result, html, url)  # raises NotArticleError: a wall, a shell, no text
    metadata.check_language(meta, result.text)
    return Article(
        url=url or "",
        text=result.text,
        title=meta.title,
        canonical_url=meta.canonical_url,
        authors=meta.authors,
        published=meta.published,
        modified=meta.modified,
        language=meta.language,
        site_name=meta.site_name,
        publisher=meta.publisher,
        description=meta.description,
        tags=list(dict.fromkeys(meta.tags + result.tags)),
        image=meta.image,
        removed=result.removed,
        sources=meta.sources,
    )


def _trafilatura_text(tree: LexborHTMLParser, url: str | None) -> str:
    """What trafilatura finds in `tree` ('' for nothing)."""
    if tree.head is not None:  # read above; often mostly inline scripts and styles, that trafilatura would parse and copy
        tree.head.decompose()
    if tree.body is not None:
        tree.body.strip_tags(_TRAFILATURA_DROPS)
    import trafilatura  # here, not above: heavy, and a run's own process imports this module but never extracts

    doc = trafilatura.bare_extraction(tree.html or "", url=url, **_TRAFILATURA_OPTIONS)
    return (doc.text or "") if doc is not None else ""


def _overrule_dom_stage_if_it_lost_the_article(
    result: CleanResult, html: str, url: str | None, cleaner: Cleaner, titles: list[str]
) -> CleanResult:
    """`result`, or what the page gives without the DOM stage's removals when
    `result` keeps little of that: the DOM stage removed the article (or left a menu the biggest block)."""
    tree = dom.parse(html)
    dom.strip_markup(tree, cleaner.rules.dom)
    unpruned = _trafilatura_text(tree, url)
    share = safety.kept_share(result.text, unpruned)
    # Judged as the cleaner leaves it: what the cleaner cuts most of (a caption gallery) is no
    # article we missed, and one less than twice our text is ours with the junk the DOM stage removed.
    plain = cleaner.clean(unpruned, title=titles)
    if not safety.is_article(plain.text) or share >= safety.DISAGREE or len(plain.text) < 2 * len(result.text):
        return result
    reference = safety.overrule_cleaner(unpruned, plain)
    reason = f"the DOM stage removed the article: the text kept {share:.0%} of what the unpruned page gives, which is used instead"
    overruled = safety.note("safety.dom-overruled", reason, result.text[:200])
    return CleanResult(reference.text, [overruled, *reference.removed], reference.tags)


# Long enough for every stage of the cleaner to look at it.
_WARM_UP_PAGE = (
    "<html><head><title>Warm-up</title></head><body><article><h1>Warm-up</h1>"
    + "".join(f"<p>The council said on day {n} that the new bridge would open to traffic next spring.</p>" for n in range(16))
    + "</article></body></html>"
)


def warm_up() -> None:
    """Load now what extraction otherwise loads on first use: trafilatura with its fallbacks, the
    stop words jusText gets for pages of unknown language (every language's) and the cleaner's word
    list. Run where extraction workers are forked from, they share one copy."""
    import justext.core
    import trafilatura.external
    from justext import get_stoplist, get_stoplists

    # On its own, trafilatura keeps every language's stop words in a tuple and jusText a lowercased
    # copy of it (33 MB). One set, lowercased as jusText wants it, passed through as it is: 15 MB.
    stoplist = frozenset(word.lower() for language in get_stoplists() for word in get_stoplist(language))
    define_stoplist = justext.core.define_stoplist
    justext.core.define_stoplist = lambda words: words if words is stoplist else define_stoplist(words)
    trafilatura.external.JT_STOPLIST = stoplist
    extract(_WARM_UP_PAGE, "https://example.com/news/warm-up")


def article_from_response(
    response: Response,
    *,
    rules: Rules | None = None,
    site: Site | None = None,
    repeated: frozenset[str] | set[str] = frozenset(),
) -> Article:
    """`extract` a downloaded page, keeping where and when it was fetched."""
    article = extract(response.text, response.final_url, rules=rules, site=site, repeated=repeated)
    article.url = response.url
    article.final_url = response.final_url
    article.fetched_at = response.fetched_at
    article.status = response.status
    return article
