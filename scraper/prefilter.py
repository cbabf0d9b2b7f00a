"""A cheap test that proves a regex cannot match: the literal text any of its matches must contain.

`re.search` tries a pattern at every position of a line, and the line rules are long alternations,
so most of the cleaner's time went into searches that find nothing. But a match of
'\\bsign(ing)? up\\b.{0,60}\\b(newsletter|inbox)' always contains "newsletter" or "inbox" (and
"sign"): a substring test (`in`, many times faster) skips the search when the line holds neither.

The literals are read from the pattern's parse tree, which `re` itself builds: whatever the pattern's
syntax (escapes, verbose mode, inline flags, lookarounds), a literal found there is really required.
Where the tree does not prove that some text is required (a pattern ignoring case, an optional
group, a back-reference), we claim nothing and the pattern is always searched.
"""

from __future__ import annotations

import re
from functools import lru_cache
from re import _constants as sre  # the parse tree's node types (private, but stable since 3.11)
from re import _parser

_REPEATS = (sre.MAX_REPEAT, sre.MIN_REPEAT, sre.POSSESSIVE_REPEAT)


@lru_cache(maxsize=1024)
def needles(pattern: re.Pattern[str]) -> tuple[str, ...] | None:
    """Strings of which every match of `pattern` contains at least one; None if we cannot tell."""
    if pattern.flags & re.IGNORECASE:  # a literal may then match other cases: no substring test
        return None
    try:
        tree = _parser.parse(pattern.pattern, pattern.flags)
    except Exception:  # a parser from a newer Python we do not know: never guess
        return None
    found = _required(tree)
    if found is None:
        return None
    # A string holding another of the set proves nothing more: "sign up" is found only where "sign" is.
    return tuple(sorted(s for s in found if not any(t != s and t in s for t in found)))


class LowercaseRule:
    """A rule's regex for lowercased lines, in its fastest form:
    - case-sensitive: `re` runs it several times faster than with IGNORECASE (rules are written in
      lowercase; one with a capital letter outside an escape keeps its flag);
    - its alternatives that start with `^` tried at the line's start only (`re.search` would try
      each of them at every position of the line, to fail there);
    - the others behind their needles' substring test."""

    __slots__ = ("_at_start", "_anywhere", "_needles")

    def __init__(self, pattern: re.Pattern[str]):
        form = re.compile(pattern.pattern) if not re.search(r"(?<!\\)[A-Z]", pattern.pattern) else pattern
        alternatives = _alternatives(form)
        anchored = [a for a in alternatives if a.startswith("^")]
        others = [a for a in alternatives if not a.startswith("^")]
        self._at_start = re.compile("|".join(f"(?:{a})" for a in anchored), form.flags) if anchored else None
        self._anywhere = (re.compile("|".join(f"(?:{a})" for a in others), form.flags) if anchored else form) if others else None
        found = needles(self._anywhere) if self._anywhere is not None else None
        # One needle is an `in` test; several are one scan of the line in C, not a loop in Python.
        self._needles: str | re.Pattern[str] | None = (
            found[0] if found and len(found) == 1 else re.compile("|".join(map(re.escape, found))) if found else None
        )

    def search(self, lowered: str) -> bool:
        """Whether the rule matches `lowered`, a lowercased line."""
        if self._at_start is not None and self._at_start.match(lowered):
            return True
        if self._anywhere is None:
            return False
        if isinstance(self._needles, str):
            if self._needles not in lowered:
                return False
        elif self._needles is not None and not self._needles.search(lowered):
            return False
        return self._anywhere.search(lowered) is not None


def _alternatives(pattern: re.Pattern[str]) -> list[str]:
    """The pattern's source split at its top-level `|` (outside groups and character classes), or
    the whole source where it cannot be split safely (verbose mode, or a piece that is no regex)."""
    source = pattern.pattern
    if pattern.flags & re.VERBOSE:  # comments may hold any character
        return [source]
    pieces, depth, start, i = [], 0, 0, 0
    in_class = False
    while i < len(source):
        char = source[i]
        if char == "\\":
            i += 1  # the escaped character is no syntax
        elif in_class:
            in_class = char != "]"
        elif char == "[":
            in_class = True
            i += 2 if source.startswith("^]", i + 1) else 1 if source.startswith("]", i + 1) else 0  # a leading ] is a literal
        elif char in "()":
            depth += 1 if char == "(" else -1
        elif char == "|" and depth == 0:
            pieces.append(source[start:i])
            start = i + 1
        i += 1
    pieces.append(source[start:])
    try:
        for piece in pieces:
            re.compile(piece, pattern.flags)
    except re.error:
        return [source]
    return pieces


@lru_cache(maxsize=1024)
def lowercase_rule(pattern: re.Pattern[str]) -> LowercaseRule:
    return LowercaseRule(pattern)


def _required(sequence: _parser.SubPattern | list) -> set[str] | None:
    """Strings of which a match of the node `sequence` contains one, or None.

    Each node that must match (a run of literals, a group, a repeat of at least once, a branch
    whose every alternative requires something, a lookahead) gives a candidate set; we keep the
    most selective: the one whose shortest string is longest, then the smallest.
    """
    candidates: list[set[str]] = []
    literals = ""
    for op, arg in [*sequence, (None, None)]:  # the sentinel ends the last run of literals
        if op is sre.LITERAL:
            literals += chr(arg)
            continue
        if literals:
            candidates.append({literals})
            literals = ""
        inner: set[str] | None = None
        if op is sre.SUBPATTERN:
            _group, add_flags, _del_flags, body = arg
            inner = None if add_flags & re.IGNORECASE else _required(body)
        elif op is sre.BRANCH:
            alternatives = [_required(body) for body in arg[1]]
            inner = None if None in alternatives else set().union(*alternatives)
        elif op in _REPEATS:
            least, _most, body = arg
            inner = _required(body) if least >= 1 else None
        elif op is sre.ATOMIC_GROUP:
            inner = _required(arg)
        elif op is sre.ASSERT:  # (?=...), (?<=...): what they see is text of the line too
            inner = _required(arg[1])
        if inner:
            candidates.append(inner)
    return max(candidates, key=lambda s: (min(map(len, s)), -len(s)), default=None)
