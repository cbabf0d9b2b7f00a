"""The text stage: a line classifier that removes the junk extractors leave in.

Input is extracted text, one paragraph (or heading, or list item) per line. Every removed line
is reported as a `Removal` with a reason and a rule id. The cleaner only ever deletes whole lines,
so its output is always a subset of its input, in order.

Passes, each looking at what the earlier ones left:
1. line rules from config (prompts, captions, copyright, share bars...) and learned site lines;
2. split promos: sentence fragments broken over several lines around a prompt;
3. tag lines ("Vietnam , EU , visit"), moved to `tags`;
4. stop headings ("Others Also Read"): the heading, and what follows while it looks like a
   headline list or is unrelated to the article (a heading followed by article text stays; a box
   of headlines in mid-article, followed by more of the article, goes alone);
5. leading teasers: a headline and a cut-off blurb ("...") about something else;
6. trailing unrelated paragraphs: summaries of other news after the article, found by their
   lexical relevance to the article's own text.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from dataclasses import dataclass, field
from functools import lru_cache
from itertools import takewhile
from typing import Sequence

from .article import Removal, line_key
from .config import Rules, load_rules
from .prefilter import LowercaseRule, lowercase_rule

_WORD = re.compile(r"[^\W\d_]{3,}", re.UNICODE)
_ENDS_SENTENCE = re.compile(r"[.!?。！？:;\"'”’»)\]]$")
_ELLIPSIS_END = re.compile(r"(\.\.\.|…)\s*$")
_TAG_SEPARATOR = re.compile(r"\s[,|·•/]\s|\s\|\s?")
_TAG_LABEL = re.compile(
    r"^(tags?|topics?|keywords?|filed under|categories|schlagwörter|themen|étiquettes|etiquetas|tópicos|temas|kategori)\s*(:\s*(?P<tags>.*))?$", re.I
)
_STOPWORDS = frozenset(
    """the and for are but not you all any can had her was one our out day get has him his how man new now
    old see two way who boy did its let put say she too use that with have this will your from they know
    want been good much some time very when come here just like long make many over such take than them
    well were what said says also into more most other their there these those which while would could
    should about after before being between both during each into only same then through under until
    where whom why year years last first just even because since against among across within without
    der die das und mit von den dem des ein eine einer sich nicht auch auf für ist les des une dans pour
    par sur avec est que qui los las una con por para del que como más dos
    che per della delle dello degli dalla dal nel nella nei sono anche come più questo questa essere stato
    ancora quanto prima dopo ogni loro uno gli non una dei alla alle sul sulla tra fra
    não uma com por para dos das nos nas mais seu sua como foi ser está são pelo pela também ainda
    yang dan untuk dengan dari ini itu pada dalam akan tidak ada oleh juga sudah telah bagi kepada
    atau saat lebih karena mereka kami kita bahwa""".split()
)

# Relevance is the share of a line's content words found in the article's own vocabulary.
UNRELATED = 0.25  # below this, a line shares almost nothing with the article
RELATED = 0.4  # at or above this, a line is about the article
MIN_TAIL, MAX_TAIL = 5, 40  # a shorter run of unrelated paragraphs at the end may be the article's own drift
NOVEL = 0.45  # a paragraph of other news: relevance minus share of new names below -NOVEL
MIN_BODY = 8  # an article this short is never cut at the end
MIN_COHESION = 0.3  # below this a text's paragraphs share too little to judge topic drift
TAIL_RATIO = 0.5  # a tail of other news relates to the article at under this share of its cohesion
LIST_LINE_WORDS = 25  # a headline in a list is shorter than this and has no final full stop
MAX_RULE_LINE = 600  # characters; prompts, captions and credits are shorter: a longer line is prose


@dataclass(slots=True)
class CleanResult:
    text: str
    removed: list[Removal] = field(default_factory=list)
    tags: list[str] = field(default_factory=list)


@lru_cache(maxsize=1)
def default_rules() -> Rules:
    return load_rules()


class Cleaner:
    """Cleans text with a set of rules; `repeated` holds `line_key`s learned for the site."""

    def __init__(self, rules: Rules | None = None, repeated: frozenset[str] | set[str] = frozenset()):
        self.rules = rules or default_rules()
        self.repeated = repeated

    def clean(self, text: str, *, title: str | Sequence[str] | None = None) -> CleanResult:
        """`title` is the page's headline, or several (og:title, <h1>, <title>): none is kept in the text."""
        return _Pass(self, text, title).run()


def clean(text: str, *, title: str | Sequence[str] | None = None, rules: Rules | None = None) -> CleanResult:
    """Clean extracted text with the generic rules (or `rules`)."""
    return Cleaner(rules).clean(text, title=title)


class _Pass:
    """One cleaning of one text: the lines, what is removed so far, and the passes over them."""

    def __init__(self, cleaner: Cleaner, text: str, title: str | Sequence[str] | None):
        self.rules = cleaner.rules
        self.repeated = cleaner.repeated
        self.lines = [" ".join(line.split()) for line in text.splitlines()]
        self.lines = [line for line in self.lines if line]
        self.removed: dict[int, tuple[str, str]] = {}  # line index -> (reason, rule)
        self.tags: list[str] = []
        titles = [title] if isinstance(title, str) else list(title or ())
        self.titles = [_folded(t) for t in titles if t and _folded(t)]
        self.title = " ".join(titles[0].split()) if titles else None  # the headline, for relevance

    def run(self) -> CleanResult:
        self.line_rules()
        self.split_promos()
        self.tag_lines()
        self.stop_headings()
        self.leading_teaser()
        self.trailing_unrelated()
        kept = [line for i, line in enumerate(self.lines) if i not in self.removed]
        removed = [Removal(self.lines[i], *self.removed[i]) for i in sorted(self.removed)]
        return CleanResult("\n".join(kept), removed, self.tags)

    # helpers -------------------------------------------------------------------------------

    def remove(self, i: int, reason: str, rule: str) -> None:
        self.removed.setdefault(i, (reason, rule))

    def kept(self) -> list[int]:
        return [i for i in range(len(self.lines)) if i not in self.removed]

    def vocabulary(self, exclude: set[int]) -> Counter[str]:
        """Content-word counts of the kept lines outside `exclude` (the article's own vocabulary)."""
        counts: Counter[str] = Counter()
        for i in self.kept():
            if i not in exclude:
                counts.update(set(_terms(self.lines[i])))
        if self.title:
            counts.update(set(_terms(self.title)))
        return counts

    def relevance(self, i: int, vocab: Counter[str]) -> float:
        return _relevance(_terms(self.lines[i]), vocab)

    # passes --------------------------------------------------------------------------------

    def line_rules(self) -> None:
        rules = [(rule, lowercase_rule(rule.pattern)) for rule in self.rules.lines]
        longest_title = 2 * max(map(len, self.titles), default=0)  # folding never halves a line
        for i, line in enumerate(self.lines):
            if len(line) <= longest_title and _is_title(_folded(line), self.titles):
                self.remove(i, "title repeated in the text", "title-repeat")
            elif self.repeated and line_key(line) in self.repeated:
                self.remove(i, "line repeated across many articles of this site", "site-repeated")
            elif len(line) <= MAX_RULE_LINE:
                lowered = line.lower()
                rule = next((rule for rule, fast in rules if fast.search(lowered)), None)
                if rule:
                    self.remove(i, rule.reason, rule.id)

    def split_promos(self) -> None:
        """A prompt broken over lines ("Navigate Asia in / a new global order / Get ... inbox.")."""
        prompts = [i for i, (_, rule) in self.removed.items() if rule.startswith("prompt.")]
        for i in prompts:
            # A promo title broken over lines just before it ("Navigate Asia in / a new global order").
            j = i
            if j > 1 and _is_fragment(self.lines[j - 1]) and _continues(self.lines[j - 2], self.lines[j - 1]):
                while j > 0 and _is_fragment(self.lines[j - 1]) and (j == i or _continues(self.lines[j - 1], self.lines[j])):
                    j -= 1
                    self.remove(j, "part of a prompt split over several lines", "prompt.split")
            j = i
            while j + 1 < len(self.lines) and _continues(self.lines[j], self.lines[j + 1]) and _is_fragment(self.lines[j + 1]):
                j += 1
                self.remove(j, "part of a prompt split over several lines", "prompt.split")

    def tag_lines(self) -> None:
        kept = self.kept()
        body_end = _last_paragraph(self.lines, kept)
        label_alone = False  # a "Tags" line whose tags are on the next line
        for i in kept:
            line = self.lines[i]
            labelled = _TAG_LABEL.match(line)
            if labelled:
                tags = _split_tags(labelled.group("tags") or "")
                label_alone = not tags
            elif label_alone or (i > body_end and len(_TAG_SEPARATOR.findall(line)) >= 2 and not _ENDS_SENTENCE.search(line)):
                tags, label_alone = _split_tags(line), False
            else:
                continue
            if all(len(t.split()) <= 5 for t in tags):  # a label with no tags goes too
                self.tags.extend(t for t in tags if t not in self.tags)
                self.remove(i, "tag line (moved to tags)", "furniture.tags")

    def stop_headings(self) -> None:
        # Until nothing changes, so that cleaning the output again changes nothing: a cut shrinks
        # the article's vocabulary, which can leave what follows another heading unrelated.
        removed = -1
        while removed != len(self.removed):
            removed = len(self.removed)
            self.cut_after_stop_headings()

    def cut_after_stop_headings(self) -> None:
        stop_heading = _stop_heading_rule(self.rules.stop_headings)
        # From the last heading up, so that a heading left with nothing after it goes too.
        for i in reversed(self.kept()):
            line = self.lines[i].rstrip(" :»›>.…")
            if len(line) > 60 or not stop_heading.search(line.lower()):
                continue
            kept = self.kept()
            before, after = kept[: kept.index(i)], kept[kept.index(i) + 1 :]
            vocab = self.vocabulary({i, *after})
            listed = self.not_the_article(after, vocab)
            box = list(takewhile(lambda j: _is_list_line(self.lines[j]), listed))
            if self.article_continues(before, box, after[len(box) :], vocab):
                listed = box
            if listed or not after:
                self.remove(i, "stop heading: what follows is not the article", "stop-heading")
                for j in listed:
                    self.remove(j, "list after a stop heading", "stop-heading.list")

    def not_the_article(self, after: list[int], vocab: Counter[str]) -> list[int]:
        """The lines after a stop heading that look like a headline list or are unrelated to the article."""
        listed: list[int] = []
        for n, j in enumerate(after):
            # A run of headlines is the list, however close to the article's topic ("Related
            # Articles" are related by design); one short line before prose is a subheading.
            is_list = _is_list_line(self.lines[j])
            in_run = is_list and (bool(listed) or n + 1 == len(after) or _is_list_line(self.lines[after[n + 1]]))
            relevance = self.relevance(j, vocab)
            if in_run or relevance < UNRELATED or (is_list and relevance < RELATED):
                listed.append(j)
            else:
                break
        return listed

    def article_continues(self, before: list[int], box: list[int], rest: list[int], vocab: Counter[str]) -> bool:
        """After a stop heading and its box of headlines, the article goes on: a box in mid-article.

        The rest must start with prose after a box of headlines (a stop heading right above prose
        ends the article, unless no article came before it), and belong to the article: its prose is
        longer than the article's above the heading (an article does not end above most of its own
        text), or shares the article's vocabulary as much as the article's paragraphs share it with
        each other (long paragraphs share a smaller part of their words than headlines: the
        article's cohesion is the scale, not RELATED).
        """
        prose_before = [j for j in before if _is_prose(self.lines[j])]
        if not rest or not _is_prose(self.lines[rest[0]]) or not (box or not prose_before):
            return False
        prose_after = [j for j in rest if _is_prose(self.lines[j])]
        if _length(self.lines, prose_after) > _length(self.lines, prose_before):
            return True
        body = [_terms(self.lines[j]) for j in prose_before]
        tail = [_terms(self.lines[j]) for j in prose_after]
        return _mean_relevance(tail, vocab) >= _cohesion(body)

    def leading_teaser(self) -> None:
        """A headline and a cut-off blurb about another story, before the article starts."""
        kept = self.kept()
        for n, i in enumerate(kept[:4]):
            if not _ELLIPSIS_END.search(self.lines[i]):
                continue
            # A blog's own opening paragraph often trails off too ("So here we go..."): a teaser is a
            # blurb under its own headline.
            if n == 0 or not _is_list_line(self.lines[kept[n - 1]]):
                return
            teaser = kept[n - 1 : n + 1]
            rest = kept[n + 1 :]
            if len(rest) < 3:
                return
            vocab = self.vocabulary(set(kept[: n + 1]))
            if all(self.relevance(j, vocab) < UNRELATED for j in teaser):
                for j in kept[: n + 1]:
                    self.remove(j, "teaser for another story before the article", "teaser")
            return

    def trailing_unrelated(self) -> None:
        """A run of paragraphs after the article that are about other things: other news.

        Each paragraph of such a run shares little vocabulary with the article before it and
        names people, places and bodies the article never mentioned. Real articles drift too,
        so the run must be long (MIN_TAIL), be made of whole sentences, start with a clearly foreign paragraph, hold no
        paragraph that is about the article, and as a whole share far less with the article than
        the article's own paragraphs share with each other (its cohesion). Texts whose paragraphs
        share too little to judge by (lists, scripts we cannot split into words) are left alone.
        """
        kept = self.kept()
        if len(kept) < MIN_BODY + MIN_TAIL:
            return
        lines = [self.lines[i] for i in kept]
        if not _is_paragraph(lines[-1]):
            return
        terms = [_terms(line) for line in lines]
        sentences = len(kept)  # the tail is made of complete sentences, not of lists or headlines
        while sentences > 0 and _is_paragraph(lines[sentences - 1]):
            sentences -= 1
        # The article must be at least twice as long as what is cut after it.
        first = max(MIN_BODY, sentences, len(kept) - MAX_TAIL, -(-2 * len(kept) // 3))
        title = [_terms(self.title)] if self.title else []
        for start in range(first, len(kept) - MIN_TAIL + 1):
            body, tail = terms[:start], terms[start:]
            vocab, names = _vocab(body + title), _names(lines[:start] + [self.title or ""])
            scores = [_relevance(t, vocab) - _novelty(line, names) for t, line in zip(tail, lines[start:])]
            if scores[0] > -NOVEL or max(scores) > 0 or sum(scores) / len(scores) > -NOVEL:
                continue
            # Other news is other stories: its paragraphs share little with each other too, where
            # an article's drift (a second witness, a list of sources) sticks to its own topic.
            cohesion = _cohesion(body)
            if (cohesion >= MIN_COHESION and _mean_relevance(tail, vocab) < TAIL_RATIO * cohesion
                    and _cohesion(tail) < TAIL_RATIO * cohesion):
                for i in kept[start:]:
                    self.remove(i, "unrelated paragraph after the article", "unrelated-tail")
                return


# --- line shape ------------------------------------------------------------------------------


def _terms(line: str) -> dict[str, float]:
    """Content words cut to a crude stem (so 'minerals' meets 'mineral'), each weighted by rarity:
    how much a shared word says about a shared topic, 'said' little, 'tungsten' a lot."""
    terms: dict[str, float] = {}
    for word in _WORD.findall(line):
        word = word.casefold()
        if word not in _STOPWORDS:
            terms[word[:6]] = max(terms.get(word[:6], 0.0), _rarity(word))
    return terms


@lru_cache(maxsize=65536)  # bounded: a long run's vocabulary keeps growing
def _rarity(word: str) -> float:
    from wordfreq import get_frequency_dict  # here, not above: heavy, and a run's own process never cleans

    # Looked up, not asked of wordfreq's zipf_frequency: its cache of every word it was asked grows
    # with a long run's vocabulary. Our words are single tokens already, as wordfreq would cut them.
    frequency = get_frequency_dict("en", wordlist="small").get(word)
    zipf = math.log10(frequency) + 9 if frequency else 0.0
    return max(8.0 - zipf, 0.5)


def _relevance(terms: dict[str, float], vocab: Counter[str]) -> float:
    """Weighted share of `terms` that `vocab` (term -> number of lines using it) also uses.

    A term the rest of the text uses in several lines counts fully, one used once counts half."""
    if not terms:
        return 1.0  # nothing to judge by: never call it unrelated
    return sum(w * min(vocab[t], 2) / 2 for t, w in terms.items()) / sum(terms.values())


_NAME = re.compile(r"(?<![.!?:]\s)(?<!^)\b[^\W\d_a-z][\w-]+", re.UNICODE)


def _names(lines: list[str]) -> set[str]:
    return set(re.findall(r"\b[^\W\d_a-z][\w-]+", " ".join(lines)))


def _novelty(line: str, seen: set[str]) -> float:
    """Share of the names in `line` (capitalised words inside a sentence) missing from `seen`."""
    names = {m.group(0) for m in _NAME.finditer(line)}
    return len(names - seen) / len(names) if names else 0.0


def _mean_relevance(term_sets: list[dict[str, float]], vocab: Counter[str]) -> float:
    return sum(_relevance(t, vocab) for t in term_sets) / len(term_sets)


def _cohesion(term_sets: list[dict[str, float]]) -> float:
    """Mean relevance of each line to the other lines: how much a text sticks to its topic."""
    vocab = _vocab(term_sets)
    total = 0.0
    for terms in term_sets:
        vocab.subtract(terms.keys())
        total += _relevance(terms, vocab)
        vocab.update(terms.keys())
    return total / len(term_sets)


def _vocab(term_sets: list[dict[str, float]]) -> Counter[str]:
    counts: Counter[str] = Counter()
    for terms in term_sets:
        counts.update(terms.keys())
    return counts


def _is_title(folded_line: str, folded_titles: list[str]) -> bool:
    """The line is a title, or a title with the site name cut off ("Headline" of "Headline - Site")."""
    return any(
        folded_line == title or (len(folded_line) >= 0.6 * len(title) and title.startswith(folded_line + " "))
        for title in folded_titles
    )


@lru_cache(maxsize=64)
def _stop_heading_rule(patterns: tuple[re.Pattern[str], ...]) -> LowercaseRule:
    """The stop headings as one rule for lowercased lines: one match of a line, not one per heading."""
    return lowercase_rule(re.compile("|".join(p.pattern for p in patterns) or r"(?!)", re.IGNORECASE))


def _folded(line: str) -> str:
    return " ".join(re.findall(r"\w+", line.casefold()))


def _is_fragment(line: str) -> bool:
    return len(line.split()) <= 12


def _continues(line: str, next_line: str) -> bool:
    """`next_line` carries on the sentence `line` started: no full stop, then a lowercase start."""
    return not _ENDS_SENTENCE.search(line) and next_line[:1].islower()


def _is_list_line(line: str) -> bool:
    """Shaped like a headline in a list: short, no closing full stop, not a sentence fragment."""
    words = line.split()
    return 2 <= len(words) <= LIST_LINE_WORDS and not re.search(r"[.!?。]$", line) and not line[:1].islower()


def _is_prose(line: str) -> bool:
    """Sentences, not a headline: long, or ending in a full stop."""
    return len(line.split()) >= 8 and not _is_list_line(line)


def _is_paragraph(line: str) -> bool:
    return len(line.split()) >= 8 and bool(re.search(r"[.!?。…\"”’)]$", line))


def _last_paragraph(lines: list[str], kept: list[int]) -> int:
    return max((i for i in kept if _is_paragraph(lines[i])), default=-1)


def _previous(kept: list[int], i: int) -> int | None:
    n = kept.index(i)
    return kept[n - 1] if n else None


def _length(lines: list[str], indices: list[int]) -> int:
    return sum(len(lines[i]) for i in indices)


def _split_tags(text: str) -> list[str]:
    return [t.strip() for t in re.split(r"\s*[,|·•/]\s*", text) if t.strip()]
