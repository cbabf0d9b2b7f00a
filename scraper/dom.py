"""The DOM stage: drop junk elements with selectolax before trafilatura sees the page.

One parse and one walk. An element goes when its tag, role, hidden state or class/id/aria tokens
mark it as junk, when it is a list or a paragraph made mostly of links, when it is a heading that
repeats the page's description (the standfirst), or when a site selector names it; an element
holding most of the page's text, or the one holding its paragraphs, is never dropped by token (a
`class="post share-enabled"` on the article itself must not cost us the article). Tables used for layout are unwrapped.
"""

from __future__ import annotations

import re
from functools import lru_cache

from selectolax.lexbor import LexborHTMLParser, LexborNode

from .config import DomRules

_TOKEN_SPLIT = re.compile(r"[\s_\-]+")
_WORDS = re.compile(r"\w+")
_HIDDEN_STYLE = re.compile(r"display\s*:\s*none|visibility\s*:\s*hidden", re.I)
_NEVER_DROP = frozenset({"html", "head", "body", "main", "article", "title", "meta", "link"})
MAX_SHARE_OF_TEXT = 0.3  # a token match may not remove more than this share of the page text
_ADDRESS = re.compile(r"(https?://|www\.)", re.I)
_CODE = frozenset({"pre", "code"})
_SUBHEADINGS = frozenset({"h2", "h3", "h4", "h5", "h6"})
_BLOCKS = "p, div, h1, h2, h3, h4, h5, h6"  # what a table of data seldom holds in its cells, unless it has headers
# A block holding these is the article's (.hentry: a post marked up in hAtom, as Blogger and WordPress do).
_ARTICLE_MARKERS = 'article, main, h1, [itemprop="articleBody"], .hentry'
# Text inside these belongs to the block around them: the block with the most of it holds the
# page's main text (Readability's idea), whatever its class says.
_TEXT_LEVEL = frozenset({
    "p", "a", "b", "i", "u", "s", "em", "strong", "span", "font", "small", "big", "sub", "sup", "abbr",
    "cite", "code", "q", "mark", "time", "br", "wbr", "strike", "del", "ins", "label", "center",
})
_PARAGRAPHS = frozenset({"p", "div", "pre", "td", "blockquote", "section", "article", "main", "body"})  # prose, not list items or captions
# No real class, id or style is this long; trafilatura's regexes take seconds over a megabyte-long one.
MAX_ATTRIBUTE_CHARS = 2000
# HTML parsers (lexbor's and lxml's) take time quadratic in an element's attribute count: a start
# tag with thousands of attributes is an attack, not markup, and is cut to its bare name before
# parsing. Possessive repeats: one pass over any page, no backtracking (not even into the tag's
# name, which would retry every ordinary tag once per letter of its name).
_ATTRIBUTE_FLOOD = re.compile(r"""<([a-zA-Z][\w:-]*+)(?:\s++|[^\s<>"']++|"[^"]*+"|'[^']*+'){2000,}+>""")


def parse(html: str) -> LexborHTMLParser:
    return LexborHTMLParser(_ATTRIBUTE_FLOOD.sub(r"<\1>", html))


def prune(tree: LexborHTMLParser, rules: DomRules, standfirst: str | None = None) -> LexborHTMLParser:
    """Remove junk elements from `tree` in place and return it.

    `standfirst` is the page's description: a heading that repeats it is the summary set under
    the headline, not article text (a paragraph that repeats it is usually the lede, and stays).
    """
    for selector in rules.drop_selectors:
        for node in tree.css(selector):
            node.decompose()
    # Markup that is never text goes first, so that the page's text size below is the visible text.
    body = _strip_body_markup(tree, rules)
    if body is None:
        return tree
    page_text = len(body.text(deep=True, separator=" ", strip=True)) or 1
    main_text = _main_text_path(body)
    standfirst = " ".join((standfirst or "").split())
    doomed: list[LexborNode] = []
    layout_tables: list[LexborNode] = []
    stack = [body.child] if body.child else []
    while stack:
        node = stack.pop()
        if node.next is not None:
            stack.append(node.next)
        tag = node.tag  # each read of a node's tag or attributes builds a new Python object: once only
        if tag and not tag.startswith("-"):  # text, comments, <?processing instructions?>: nothing to judge
            attrs = _attributes(node)
            if tag not in _NEVER_DROP and _is_junk(node, tag, attrs, rules, page_text, standfirst, main_text):
                doomed.append(node)  # its subtree goes with it: do not descend
                continue
            if tag in _CODE:  # a program's comments and strings are its text, not the page's junk
                continue
            if tag == "table" and node.css_first(_BLOCKS) is not None and node.css_first("th, caption") is None:
                layout_tables.append(node)
        if node.child is not None:
            stack.append(node.child)
    for node in doomed:
        node.decompose()
    # A table laid out around paragraphs is page layout, not data: trafilatura would flatten each
    # of its cells into one line.
    for node in reversed(layout_tables):  # inner tables first
        for cell in node.css("thead, tbody, tfoot, tr, td, th"):
            cell.unwrap()
        node.unwrap()
    return tree


def _main_text_path(body: LexborNode) -> set[int]:
    """The element holding the page's main text and its ancestors, by `mem_id`: no class token
    removes them ("widget Blog" holds a Blogger post).

    Readability's idea: each block of text counts for the element around it, and half for the one
    around that; the element with the most is the one that holds the paragraphs."""
    score: dict[int, float] = {}
    nodes: dict[int, LexborNode] = {}
    for node in body.traverse(include_text=True):
        if node.tag != "-text" or not (chars := len((node.text_content or "").strip())):
            continue
        block, in_link = node.parent, False
        while block is not None and block.tag in _TEXT_LEVEL:
            in_link = in_link or block.tag == "a"
            block = block.parent
        if in_link or block is None or block.tag not in _PARAGRAPHS:  # links, list items, captions, headings: not prose
            continue
        for weight in (1.0, 0.5):
            block = block.parent if block is not None else None
            if block is None:
                break
            score[block.mem_id] = score.get(block.mem_id, 0.0) + weight * chars
            nodes[block.mem_id] = block
    path: set[int] = set()
    node = nodes[max(score, key=score.__getitem__)] if score else None
    while node is not None:
        path.add(node.mem_id)
        node = node.parent
    return path


def strip_markup(tree: LexborHTMLParser, rules: DomRules) -> LexborHTMLParser:
    """Remove only the markup that is never text (dropped tags, giant attributes), judging nothing."""
    body = _strip_body_markup(tree, rules)
    for node in body.traverse() if body is not None else ():
        _attributes(node)
    return tree


def _strip_body_markup(tree: LexborHTMLParser, rules: DomRules) -> LexborNode | None:
    body = tree.body
    if body is not None:
        body.strip_tags(list(rules.drop_tags))  # the body only: JSON-LD metadata in <head> stays
        _attributes(body)  # drops the giant ones
    return body


def _attributes(node: LexborNode) -> dict[str, str | None]:
    """The element's attributes, less the giant ones (MAX_ATTRIBUTE_CHARS), which are deleted from it."""
    attrs = node.attributes
    for name, value in list(attrs.items()):
        if value and len(value) > MAX_ATTRIBUTE_CHARS:
            del node.attrs[name]
            del attrs[name]
    return attrs


def _is_junk(
    node: LexborNode, tag: str, attrs: dict[str, str | None], rules: DomRules, page_text: int, standfirst: str,
    main_text: set[int],
) -> bool:
    if tag in _SUBHEADINGS and standfirst and " ".join(node.text().split()) == standfirst:
        return True
    style = attrs.get("style")
    if "hidden" in attrs or attrs.get("aria-hidden") == "true" or (style and _HIDDEN_STYLE.search(style)):
        return True
    if (attrs.get("role") or "") in rules.drop_roles:
        return True
    marks = " ".join(filter(None, (attrs.get("class"), attrs.get("id"), attrs.get("aria-label"))))
    if marks and _has_junk_token(marks, rules.junk_tokens):
        return (
            node.mem_id not in main_text
            and not _id_names_its_heading(node, attrs, rules.junk_tokens)
            and len(node.text(deep=True, separator=" ", strip=True)) < MAX_SHARE_OF_TEXT * page_text
            and node.css_first(_ARTICLE_MARKERS) is None
        )
    if tag in ("ul", "ol"):
        links = _link_texts(node)
        return len(links) >= rules.link_list_min_links and _is_mostly(links, node, rules.link_density)
    if tag == "p":
        # A paragraph that is one link is the headline of another story set in the article,
        # unless the link shows its address: then it is a source the article cites.
        links = _link_texts(node)
        return bool(links) and not any(_ADDRESS.match(t) for t in links) and _is_mostly(links, node, rules.link_density)
    return False


@lru_cache(maxsize=4096)
def _has_junk_token(marks: str, junk_tokens: frozenset[str]) -> bool:
    """Whether class, id or aria-label hold a junk token, or two in a row that make one
    ("author-bio" in "post-author-bio"); cached, as a page repeats its class names."""
    tokens = _TOKEN_SPLIT.split(marks.lower())
    return not junk_tokens.isdisjoint(tokens) or not junk_tokens.isdisjoint(map("-".join, zip(tokens, tokens[1:])))


def _id_names_its_heading(node: LexborNode, attrs: dict[str, str | None], junk_tokens: frozenset[str]) -> bool:
    """Whether the junk token came from an id made of the section's own heading
    (`id="sharing-with-a-single-developer"`): that names the content, not a share bar."""
    id_ = attrs.get("id")
    if not id_ or _has_junk_token(" ".join(filter(None, (attrs.get("class"), attrs.get("aria-label")))), junk_tokens):
        return False
    heading = node.css_first("h1, h2, h3, h4, h5, h6")
    words = _WORDS.findall(heading.text().lower()) if heading is not None else []
    return len(words) >= 2 and _TOKEN_SPLIT.split(id_.lower()) == words


def _link_texts(node: LexborNode) -> list[str]:
    return [a.text(deep=True, separator=" ", strip=True) for a in node.css("a")]


def _is_mostly(links: list[str], node: LexborNode, density: float) -> bool:
    text = len(node.text(deep=True, separator=" ", strip=True))
    return text > 0 and sum(map(len, links)) / text >= density
