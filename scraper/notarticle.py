"""Pages that are not articles say so: a consent wall, a paywall teaser or an empty shell is a
`NotArticleError` of its own kind, never a notice saved as the article.

The test is one of dominance, not of a word: a page is a wall when its notice lines hold more
words than its prose and the prose is no real lead (under LEAD_WORDS words). A notice line is one
the cleaner removed as a paywall or cookie prompt, or a short line in the notices' vocabulary.
An article with a real lead keeps it; notice lines before or after it go, with a reason.
A page with nothing left is judged on its own visible text: a notice there (often in a box the DOM
stage dropped), or hardly any text outside links and scripts (`empty`: an app shell, a page of
navigation), or else text in which we found no article (`no-text`).
"""

from __future__ import annotations

import re
from collections import Counter
from functools import cached_property

from .article import Removal
from .clean import CleanResult
from .dom import parse
from .errors import NotArticleError
from .prefilter import lowercase_rule

LEAD_WORDS = 80  # prose words besides the notice that make a real, free lead
NOTICE_LINE_WORDS = 60  # a notice is short; a longer line with the same words is prose about them
CUT_LINE_WORDS = 30  # beside a real lead only shorter notice lines go: a longer one is likelier the article's
EMPTY_WORDS = 40  # a page with fewer words outside links, scripts and menus has no text to extract
PROSE_LINE_WORDS = 8  # shorter page lines are labels, buttons and menu items, not prose
SHORT_TEXT_WORDS = 200  # below this, what was found may be link text: the page is read again

# Phrases of the notices, in the languages the line rules cover (phrases, not words: recipes have
# cookies, and articles mention subscribers). Kinds are checked in this order.
_NOTICES = {
    "consent": re.compile(
        r"\b(use|uses|using|accept|allow|reject|refuse|manage) (of )?(all |our |optional )?cookies\b"
        r"|\bcookies? (policy|settings|preferences|notice|consent|banner)|\bcookies and (similar|other) (technologies|tracking)"
        r"|\b(your|you) consent\b|\bconsent to (the|our|cookies|the use)\b|\b(accept|reject|refuse|allow) all\b"
        r"|\bprivacy (policy|settings|preferences|notice|statement|center|centre)\b|\b(value|respect|protect) your privacy\b"
        r"|\bpersonal data\b|\blegitimate interests?\b|\bwe and our partners\b"
        r"|\bdatenschutz(erklärung|einstellungen|hinweise)|\beinwilligung|\balle akzeptieren\b|\bpersonenbezogene"
        r"|\bconsentement|\bdonnées personnelles|\btout accepter\b|\bpolitique de confidentialité"
        r"|\bconsentimiento|\bdatos personales|\baceptar todo|\bpolítica de privacidad|\bdati personali|\baccetta tutt"
        r"|\bconsentimento|\bdados pessoais|\btoestemming|\bpersoonsgegevens",
        re.I,
    ),
    "paywall": re.compile(
        r"\bsubscribe (now|today|to (read|continue|keep reading|unlock|access|get (full|unlimited)))\b"
        r"|\b(for|to) (paying |our |digital )?(subscribers|members)( only)?\s*[.!]?$|\b(subscribers?|members?)[- ]only\b"
        r"|\b(already a|become a) (paying )?(subscriber|member)\b|\bsubscription (is )?(required|needed)\b"
        r"|\b(sign|log) ?in to (read|continue|keep reading)\b|\bpremium (article|content|story)\b"
        r"|\b(unlock|get) (full|unlimited|this) (access|article|story)\b"
        r"|\babonnez-vous\b|\bréservé aux abonnés|\bfür abonnenten\b|\bjetzt abonnieren\b|\bweiterlesen mit\b"
        r"|\bexclusivo para (suscriptores|assinantes)|\bsuscríbete\b|\briservato agli abbonati|\bassine (já|agora)\b",
        re.I,
    ),
}
_NOTICE_RULES = {kind: lowercase_rule(words) for kind, words in _NOTICES.items()}  # prefiltered: most lines hold none
_RULE_KINDS = {"prompt.paywall": "paywall", "prompt.cookies": "consent"}  # the cleaner's rules for notices
# Chinese and Japanese do not space their words: each of their characters counts as a word.
_SENTENCE_END = re.compile(r"\w[.!?。！？]['\"”’»)]*(\s|$)")  # anywhere: a table row flattens sentences into one line
_WORD = re.compile(r"[\u3040-\u30ff\u3400-\u9fff]|\w+")
_INVISIBLE = ["script", "style", "noscript", "template", "svg", "iframe", "select"]
_AROUND = ["nav", "header", "footer", "aside"]  # a notice in a page's frame is not the page's message
# Inline tags, cut from the page's source so that a sentence with a link or a bold word is one line
# (by regex, in one pass: unwrapping them in the parsed tree takes time quadratic in their nesting).
_INLINE = re.compile(r"</?(?:a|b|i|u|em|strong|small|span|font|mark|abbr|time|sup|sub|label|button)\b[^>]*+>", re.I)


def judge(result: CleanResult, html: str, url: str | None = None) -> CleanResult:
    """`result` with notice lines around a real lead removed; raises NotArticleError when the page
    is a consent wall, a paywall teaser, an empty shell, or holds no article text."""
    where = f": {url}" if url else ""
    lines = result.text.splitlines()
    kinds = [_notice_kind(line) for line in lines]
    notices, prose = _tally(lines, kinds)
    for removal in result.removed:
        if removal.rule in _RULE_KINDS:
            notices[_RULE_KINDS[removal.rule]] += _words(removal.text)
    if _dominated(notices, prose) and prose < LEAD_WORDS:
        raise _wall(notices.most_common(1)[0][0], where)
    if prose < SHORT_TEXT_WORDS:  # little or nothing found: the page itself may say why
        page = _Page(html)
        if not prose:
            page_notices, page_prose = page.notices_and_prose
            if _dominated(page_notices, page_prose):
                raise _wall(page_notices.most_common(1)[0][0], where)
        # Nearly no words outside links, and fewer than were found, and no sentence among them: what
        # was found is link text (an old blog may link most of its words, but it writes sentences).
        if page.words_outside_links < EMPTY_WORDS and (
            not prose or (page.words_outside_links < prose / 2 and not any(map(_is_sentence, lines)))
        ):
            raise NotArticleError(f"empty page: no text besides links and scripts{where}", kind="empty")
        if not prose:
            raise NotArticleError(f"no article text {'left after cleaning' if result.removed else 'found'}{where}")
    return _without_notices_around(result, lines, kinds)


def _tally(lines: list[str], kinds: list[str | None]) -> tuple[Counter[str], int]:
    """Words in notice lines, per kind, and words in the other lines."""
    notices: Counter[str] = Counter()
    prose = 0
    for line, kind in zip(lines, kinds):
        if kind:
            notices[kind] += _words(line)
        else:
            prose += _words(line)
    return notices, prose


def _dominated(notices: Counter[str], prose: int) -> bool:
    return sum(notices.values()) > prose


def _without_notices_around(result: CleanResult, lines: list[str], kinds: list[str | None]) -> CleanResult:
    """The runs of notice lines before and after the prose removed, with their reason."""
    prose_at = [i for i, kind in enumerate(kinds) if kind is None or _words(lines[i]) > CUT_LINE_WORDS]
    first, last = prose_at[0], prose_at[-1]
    if first == 0 and last == len(lines) - 1:
        return result
    removed = [Removal(lines[i], f"{kinds[i]} notice beside the article", f"notice.{kinds[i]}")
               for i in (*range(first), *range(last + 1, len(lines)))]
    return CleanResult("\n".join(lines[first : last + 1]), result.removed + removed, result.tags)


class _Page:
    """A page's own visible text, read again (only for pages where little or nothing was found):
    how many of its words are outside links, and (read only when asked) its notice and prose words."""

    def __init__(self, html: str):
        self.html = html
        body = parse(html).body
        self.words_outside_links = 0
        if body is not None:
            body.strip_tags(_INVISIBLE)
            links = sum(_words(a.text(separator=" ")) for a in body.css("a"))
            self.words_outside_links = _words(body.text(separator=" ")) - links

    @cached_property
    def notices_and_prose(self) -> tuple[Counter[str], int]:
        body = parse(_INLINE.sub("", self.html)).body
        if body is None:
            return Counter(), 0
        body.strip_tags(_INVISIBLE + _AROUND)
        lines = [line for line in body.text(separator="\n").splitlines() if line.strip()]
        kinds = [_notice_kind(line) for line in lines]
        # Labels, buttons and menu items are not prose: a wall's own buttons must not outweigh it.
        notices, _ = _tally(lines, kinds)
        return notices, sum(_words(line) for line, kind in zip(lines, kinds) if kind is None and _words(line) >= PROSE_LINE_WORDS)


def _wall(kind: str, where: str) -> NotArticleError:
    what = "a cookie or privacy consent notice" if kind == "consent" else "a subscription notice"
    return NotArticleError(f"not an article: {what}, no free text{where}", kind=kind)


def _notice_kind(line: str) -> str | None:
    """The kind of notice a short line is written in, if any."""
    lowered = line.lower()
    kind = next((kind for kind, rule in _NOTICE_RULES.items() if rule.search(lowered)), None)
    return kind if kind and _words(line) <= NOTICE_LINE_WORDS else None


def _is_sentence(line: str) -> bool:
    return _words(line) >= PROSE_LINE_WORDS and bool(_SENTENCE_END.search(line))


def _words(text: str) -> int:
    return len(_WORD.findall(text))
