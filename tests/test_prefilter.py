"""The line rules' prefilter: a line without any of a pattern's needles never matches the pattern."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings, strategies as st

from scraper.clean import default_rules
from scraper.prefilter import lowercase_rule, needles


@pytest.mark.parametrize(
    "pattern, expected",
    [
        # Of the texts a match must hold, the set whose shortest string is longest.
        (r"\bsign(ing)? up\b.{0,60}\b(newsletter|inbox)", ("inbox", "newsletter")),
        (r"^(follow|join) us on\b|\bwhatsapp channel\b", (" us on", "whatsapp channel")),
        (r"(?=.*\b(share|tweet)\b)(?:x|y)+$", ("share", "tweet")),  # a lookahead's text is the line's too
        (r"(?x) sign \s up  # verbose", ("sign",)),
        (r"\x41b(?:cd)+", ("Ab",)),
        (r"(?:abc)?d", ("d",)),
        (r"(?:abc)?|d", None),  # an alternative that requires nothing
        (r"(?i:abc)", None),  # the line may hold "ABC"
        (r"(?i)abc", None),
        (r"(?!abc)x?", None),  # what a negative lookahead names is what the line must not hold
        (r"(a)\1", ("a",)),
    ],
)
def test_needles(pattern, expected):
    assert needles(re.compile(pattern)) == expected


# Pieces of the shipped rules' words, so that lines come close to matching and sometimes do.
_PIECES = ["sign", " up", "newsletter", "follow", " us on ", "whatsapp", "channel", "share", "photo", ":", "©",
           "2024", "advertisement", "comment", "app", "download", "read more", "cookies", "@", ".com/", " ", "x", "é"]


@settings(max_examples=2000, deadline=None)
@given(st.lists(st.sampled_from(_PIECES), max_size=12).map("".join))
def test_a_line_without_needles_never_matches(line):
    for rule in default_rules().lines:
        pattern = re.compile(rule.pattern.pattern)  # case-sensitive: the rules and these lines are lowercase
        if pattern.search(line) and (found := needles(pattern)) is not None:
            assert any(needle in line for needle in found), (rule.id, line)
        assert lowercase_rule(rule.pattern).search(line) == bool(rule.pattern.search(line)), (rule.id, line)


@pytest.mark.parametrize(
    "pattern, line, matches",
    [
        (r"^ad$|\bsponsored\b", "ad", True),
        (r"^ad$|\bsponsored\b", "an ad", False),  # the anchored alternative only at the start
        (r"^ad$|\bsponsored\b", "a sponsored post", True),
        (r"(^a|b)c", "xbc", True),  # a | inside a group is no top-level alternative
        (r"^[|]x|y", "|x", True),  # nor one inside a character class
        (r"^[]|]x|zz", "]x", True),
        (r"^[^]|]x|zz", "ax", True),
        (r"^[^]|]x|zz", "|x", False),
        ("(?x) ^a  # a | b\n | c", "xc", True),  # verbose: not split, searched as it is
    ],
)
def test_a_rule_matches_as_its_pattern_does(pattern, line, matches):
    assert lowercase_rule(re.compile(pattern)).search(line) is matches
    assert bool(re.search(pattern, line)) is matches
