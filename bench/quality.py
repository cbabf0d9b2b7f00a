"""Extraction quality: our `extract` against trafilatura's plain `extract`, one run, same pages.

The metric is the scrapinghub article-extraction benchmark's own: tokens are \\w+ runs, each text
a multiset of 4-token shingles; per page TP/FP/FN from shingle counts; precision and recall per
page averaged over pages (precision over pages with non-empty output); F1 from the two averages.
The systems take turns page by page, so a busy machine slows them alike and the speed ratio holds.

    python bench/quality.py [--data ../shared/bench/scrapinghub] [--worst 10]
"""

from __future__ import annotations

import argparse
import gzip
import json
import re
import sys
import time
from collections import Counter
from pathlib import Path

import trafilatura

from scraper import Article, extract
from scraper.errors import NotArticleError

_TOKEN = re.compile(r"\w+")
DEFAULT_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "bench" / "scrapinghub"


def shingles(text: str) -> Counter:
    tokens = _TOKEN.findall(text or "")
    return Counter(tuple(tokens[i : i + 4]) for i in range(len(tokens) - 3))


def page_scores(predicted: str, truth: str) -> tuple[float | None, float]:
    p, t = shingles(predicted), shingles(truth)
    tp = sum((p & t).values())
    fp, fn = sum(p.values()) - tp, sum(t.values()) - tp
    precision = tp / (tp + fp) if tp + fp else None
    recall = tp / (tp + fn) if tp + fn else 1.0
    return precision, recall


def summarise(per_page: dict[str, tuple[float | None, float]]) -> tuple[float, float, float]:
    precisions = [p for p, _ in per_page.values() if p is not None]
    precision = sum(precisions) / len(precisions)
    recall = sum(r for _, r in per_page.values()) / len(per_page)
    return precision, recall, 2 * precision * recall / (precision + recall)


def f1(p: float | None, r: float) -> float:
    return 2 * p * r / (p + r) if p and r else 0.0


def ours(html: str, url: str) -> Article | None:
    try:
        return extract(html, url)
    except NotArticleError:
        return None


def run(systems: dict, pages: dict) -> tuple[dict, dict]:
    """Every system on every page, in turns: outputs[name][key] and seconds[name]."""
    outputs: dict = {name: {} for name in systems}
    seconds = dict.fromkeys(systems, 0.0)
    for fn in systems.values():
        fn(*next(iter(pages.values())))  # warm-up: imports, caches
    for key, (html, url) in pages.items():
        for name, fn in systems.items():
            started = time.perf_counter()
            outputs[name][key] = fn(html, url)
            seconds[name] += time.perf_counter() - started
    return outputs, seconds


def _key(line: str) -> str:
    return " ".join(_TOKEN.findall(line.casefold()))


def _lines(text: str) -> dict[str, str]:
    return {_key(line): line for line in text.splitlines() if _TOKEN.search(line)}


def reason(article: Article | None, truth: str, peer: str) -> str:
    """Why a page scores lower than the peer: the biggest text we miss (and what removed it), or
    the biggest text we keep that is not in the truth."""
    if article is None:
        return "no article found"
    ours, wanted, theirs = _lines(article.text), _lines(truth), _lines(peer)
    missed = [line for key, line in wanted.items() if key not in ours and key in theirs]
    extra = [line for key, line in ours.items() if key not in wanted and key not in theirs]
    if missed and sum(map(len, missed)) >= sum(map(len, extra)):
        line = max(missed, key=len)
        rule = next((r.rule for r in article.removed if _key(r.text) == _key(line)), None)
        return f"misses {len(missed)} line(s), {'removed by ' + rule if rule else 'not extracted'}: {line[:60]!r}"
    if extra:
        return f"keeps {len(extra)} line(s) not in the truth: {max(extra, key=len)[:60]!r}"
    return "differs inside lines"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--worst", type=int, default=10)
    args = parser.parse_args()
    if not (args.data / "ground-truth.json").exists():
        print(f"benchmark data not found at {args.data}", file=sys.stderr)
        return 2
    ground_truth = json.loads((args.data / "ground-truth.json").read_text())
    pages = {
        key: (gzip.decompress((args.data / "html" / f"{key}.html.gz").read_bytes()).decode("utf-8", "replace"), item["url"])
        for key, item in ground_truth.items()
    }
    truth = {key: item["articleBody"] for key, item in ground_truth.items()}
    systems = {
        "scraper.extract": ours,
        "trafilatura.extract (defaults)": lambda h, u: trafilatura.extract(h, url=u),
        "trafilatura.extract (no comments)": lambda h, u: trafilatura.extract(h, url=u, include_comments=False),
        "trafilatura (no comments, favor_precision)": lambda h, u: trafilatura.extract(h, url=u, include_comments=False, favor_precision=True),
    }
    outputs, seconds = run(systems, pages)
    articles = outputs["scraper.extract"]
    outputs["scraper.extract"] = {key: article.text if article else "" for key, article in articles.items()}
    scores = {name: {key: page_scores(out[key] or "", truth[key]) for key in pages} for name, out in outputs.items()}
    our_scores, our_speed = scores["scraper.extract"], len(pages) / seconds["scraper.extract"]
    f0 = summarise(our_scores)[2]
    print(f"{len(pages)} pages from {args.data}\n")
    print(f"{'system':44} {'F1':>7} {'prec':>7} {'recall':>7} {'pages/s':>8}   ratio ours/peer (F1, pages/s)")
    for name in systems:
        p, r, f = summarise(scores[name])
        speed = len(pages) / seconds[name]
        ratio = "" if name == "scraper.extract" else f"{f0 / f:.3f}, {our_speed / speed:.2f}"
        print(f"{name:44} {f:7.4f} {p:7.4f} {r:7.4f} {speed:8.1f}   {ratio}")
    peer_name = "trafilatura.extract (no comments)"  # the like-for-like peer
    peer = scores[peer_name]
    gaps = sorted(pages, key=lambda k: f1(*our_scores[k]) - f1(*peer[k]))
    print(f"\nworst {args.worst} pages (our F1 minus trafilatura no-comments F1):")
    for key in gaps[: args.worst]:
        why = reason(articles[key], truth[key], outputs[peer_name][key] or "")
        print(f"  {f1(*our_scores[key]):.3f} vs {f1(*peer[key]):.3f}  {key[:10]}  {pages[key][1][8:60]:52}  {why}")
    below = sum(1 for k in pages if f1(*our_scores[k]) < f1(*peer[k]) - 0.05)
    print(f"\npages more than 0.05 F1 below trafilatura: {below}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
