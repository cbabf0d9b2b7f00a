"""The safety net: no stage that removes text may remove the article (issue #13).

The DOM stage and the cleaner remove text by rules, and on a layout nobody wrote rules for a rule
can hit the element or the run of lines that holds the article. Two checks catch that; each
overrules the stage and says so in `Article.removed` (a note whose rule starts with "safety.",
shown by --explain):
- the cleaner may not cut most of what trafilatura found: its biggest cut (every removal of the
  one rule that removed the most text) is undone;
- extract.py runs trafilatura again on the unpruned page when the text is short beside the
  page's paragraph text; if our text keeps little of what that finds, the DOM stage is overruled.
"""

from __future__ import annotations

import re
from collections import Counter

from .article import Removal
from .clean import CleanResult

_WORD = re.compile(r"\w+")
MIN_ARTICLE_WORDS = 50  # less text than this is not an article worth overruling a stage for
KEEP = 0.5  # the cleaner is overruled when it leaves less than this share of the text it was given
# The DOM stage is overruled when our text keeps less than this share of what trafilatura finds on
# the unpruned page: a different text (a menu, a stub), not the same article without the page's
# comments and link lists, which the unpruned page often adds (0.3 costs more pages than it saves).
DISAGREE = 0.15


def shingles(text: str) -> Counter[tuple[str, ...]]:
    """The text's runs of four words, counted: shared runs mean shared sentences, not shared words."""
    words = _WORD.findall(text.casefold())
    return Counter(tuple(words[i : i + 4]) for i in range(len(words) - 3))


def kept_share(text: str, reference: str) -> float:
    """Share of `reference`'s four-word runs that `text` keeps."""
    wanted = shingles(reference)
    return sum((wanted & shingles(text)).values()) / sum(wanted.values()) if wanted else 1.0


def is_article(text: str) -> bool:
    return len(_WORD.findall(text)) >= MIN_ARTICLE_WORDS


def note(rule: str, reason: str, text: str = "") -> Removal:
    """A stage overruled, recorded beside the removals so that --explain shows it."""
    return Removal(text=text, reason=reason, rule=rule)


def overrule_cleaner(extracted: str, result: CleanResult) -> CleanResult:
    """`result`, or, when the cleaner cut most of an article, `result` with its biggest cut undone.

    The cleaner only ever deletes whole lines and reports each one in order, so the lines of one
    rule are put back where they were."""
    by_rule: Counter[str] = Counter()
    for removal in result.removed:
        by_rule[removal.rule] += len(removal.text)
    cut = sum(by_rule.values())
    if not is_article(extracted) or cut <= (1 - KEEP) * (cut + len(result.text)):
        return result
    rule = by_rule.most_common(1)[0][0]
    lines, removed = [], []
    pending = iter(result.removed)
    next_removal = next(pending, None)
    for line in filter(None, (" ".join(line.split()) for line in extracted.splitlines())):
        if next_removal is not None and line == next_removal.text:
            if next_removal.rule == rule:
                lines.append(line)
            else:
                removed.append(next_removal)
            next_removal = next(pending, None)
        else:
            lines.append(line)
    reason = f"the cleaner's rule {rule!r} cut most of the article: its removals are undone"
    return CleanResult("\n".join(lines), [note("safety.clean-overruled", reason), *removed], result.tags)
