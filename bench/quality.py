"""Extraction quality: our `extract` beside trafilatura and readability-lxml, one run, every set.

Every set under ../shared/bench with an `articleBody` gold is read: scrapinghub's own layout
(`html/<id>.html.gz` + `ground-truth.json`) and the loose one (`<id>.html.gz` + `<id>.json`).
The metric is the scrapinghub article-extraction benchmark's own: tokens are \\w+ runs, each text
a multiset of 4-token shingles; per page TP/FP/FN from shingle counts; precision and recall per
page averaged over pages (precision over pages with non-empty output); F1 from the two averages.
A page is *lost* when ours scores F1 <= 0.3 while a peer scores >= 0.7; an *error* is an
exception other than NotArticleError. The systems take turns page by page, so a busy machine
slows them alike and the speed ratio holds; each is first on a page in its turn.

    python bench/quality.py [--bench ../shared/bench] [--set NAME ...] [--worst 10]
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
from typing import Callable

import trafilatura

from scraper import Article, extract
from scraper.errors import NotArticleError

_TOKEN = re.compile(r"\w+")
DEFAULT_BENCH = Path(__file__).resolve().parents[1].parent / "shared" / "bench"
OURS = "scraper.extract"
TRAFILATURA = "trafilatura (no comments)"
READABILITY = "readability-lxml"
LOST_OURS, LOST_PEER = 0.3, 0.7
# Readability's gold is Readability.js's own output: there we are held to trafilatura alone.
PEERS_FOR_GOAL = {"readability": (TRAFILATURA,)}


class Page:
    __slots__ = ("set", "key", "html", "url", "truth")

    def __init__(self, set_name: str, key: str, html: str, url: str | None, truth: str):
        self.set, self.key, self.html, self.url, self.truth = set_name, key, html, url, truth


def load_sets(bench: Path, only: list[str] | None) -> dict[str, list[Page]]:
    sets = {}
    for folder in sorted(p for p in bench.iterdir() if p.is_dir()):
        if only and folder.name not in only:
            continue
        pages = list(_pages(folder))
        if pages:
            sets[folder.name] = pages
    return sets


def _pages(folder: Path):
    def html(path: Path) -> str:
        return gzip.decompress(path.read_bytes()).decode("utf-8", "replace")

    truth_file = folder / "ground-truth.json"
    if truth_file.exists():  # scrapinghub's layout
        for key, item in json.loads(truth_file.read_text()).items():
            yield Page(folder.name, key, html(folder / "html" / f"{key}.html.gz"), item["url"], item["articleBody"])
        return
    for meta in sorted(folder.glob("*.json")):
        item = json.loads(meta.read_text())
        page = meta.with_suffix(".html.gz")
        if item.get("articleBody") and page.exists():
            yield Page(folder.name, meta.stem, html(page), item.get("url"), item["articleBody"])


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


def summarise(scores: list[tuple[float | None, float]]) -> tuple[float, float, float]:
    precisions = [p for p, _ in scores if p is not None]
    precision = sum(precisions) / len(precisions) if precisions else 0.0
    recall = sum(r for _, r in scores) / len(scores)
    return precision, recall, f1(precision, recall)


def f1(p: float | None, r: float) -> float:
    return 2 * p * r / (p + r) if p and r else 0.0


def ours(html: str, url: str | None) -> Article | Exception | None:
    """Our article; None when we say there is none; the exception when we crash (counted, shown)."""
    try:
        return extract(html, url)
    except NotArticleError:
        return None
    except Exception as exc:
        return exc


def readability_text(html: str, url: str | None) -> str:
    import lxml.html
    from readability import Document

    try:
        summary = Document(html, url=url).summary(html_partial=True)
        return lxml.html.fromstring(summary).text_content()
    except Exception:  # readability raises on pages it cannot parse: no text, as for a peer that finds none
        return ""


def run(systems: dict[str, Callable], pages: list[Page]) -> tuple[dict, dict]:
    """Every system on every page, in turns, each first on a page in its turn (the first to read a
    page brings it into the CPU's caches for the others: 2% of its time over the bench, measured
    with the order swapped): outputs[name][i] and seconds[name]."""
    outputs: dict = {name: [] for name in systems}
    seconds = dict.fromkeys(systems, 0.0)
    for fn in systems.values():
        fn(pages[0].html, pages[0].url)  # warm-up: imports, caches
    names = list(systems)
    for i, page in enumerate(pages):
        first = i % len(names)
        for name in names[first:] + names[:first]:
            started = time.perf_counter()
            outputs[name].append(systems[name](page.html, page.url))
            seconds[name] += time.perf_counter() - started
    return outputs, seconds


def _key(line: str) -> str:
    return " ".join(_TOKEN.findall(line.casefold()))


def _lines(text: str) -> dict[str, str]:
    return {_key(line): line for line in text.splitlines() if _TOKEN.search(line)}


def reason(article: Article | None, truth: str, peer: str, error: str | None) -> str:
    """Why a page scores lower than the peer: the biggest text we miss (and what removed it), or
    the biggest text we keep that is not in the truth."""
    if error:
        return f"error: {error[:80]}"
    if article is None:
        return "no article found"
    ours_, wanted, theirs = _lines(article.text), _lines(truth), _lines(peer)
    missed = [line for key, line in wanted.items() if key not in ours_ and key in theirs]
    extra = [line for key, line in ours_.items() if key not in wanted and key not in theirs]
    if missed and sum(map(len, missed)) >= sum(map(len, extra)):
        line = max(missed, key=len)
        rule = next((r.rule for r in article.removed if _key(r.text) == _key(line)), None)
        return f"misses {len(missed)} line(s), {'removed by ' + rule if rule else 'not extracted'}: {line[:60]!r}"
    if extra:
        return f"keeps {len(extra)} line(s) not in the truth: {max(extra, key=len)[:60]!r}"
    return "differs inside lines"


def arguments_and_sets(doc: str, load: Callable, gold: str) -> tuple[argparse.Namespace, dict[str, list[Page]]] | None:
    """The command line of a benchmark and the sets it names; None (after saying why) when there are none."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--bench", type=Path, default=DEFAULT_BENCH)
    parser.add_argument("--set", action="append", dest="sets", metavar="NAME", help="only this set (repeatable)")
    parser.add_argument("--worst", type=int, default=10, help="show this many of the pages where we lose most to a peer")
    args = parser.parse_args()
    if not args.bench.is_dir():
        print(f"benchmark data not found at {args.bench}", file=sys.stderr)
        return None
    sets = load(args.bench, args.sets)
    if not sets:
        print(f"no set with {gold} gold under {args.bench}{' named ' + ', '.join(args.sets) if args.sets else ''}", file=sys.stderr)
        return None
    return args, sets


def main() -> int:
    if (given := arguments_and_sets(__doc__, load_sets, "article-body")) is None:
        return 2
    args, sets = given
    pages = [page for set_pages in sets.values() for page in set_pages]
    systems = {
        OURS: ours,
        TRAFILATURA: lambda h, u: trafilatura.extract(h, url=u, include_comments=False),
        READABILITY: readability_text,
    }
    outputs, seconds = run(systems, pages)
    crashed = {i: f"{type(out).__name__}: {out}" for i, out in enumerate(outputs[OURS]) if isinstance(out, Exception)}
    articles = [out if isinstance(out, Article) else None for out in outputs[OURS]]
    outputs[OURS] = articles
    texts = {name: [(out.text if isinstance(out, Article) else out) or "" for out in outs] for name, outs in outputs.items()}
    scores = {name: [page_scores(text, page.truth) for text, page in zip(out, pages)] for name, out in texts.items()}
    page_f1 = {name: [f1(*s) for s in out] for name, out in scores.items()}
    peers = [TRAFILATURA, READABILITY]
    lost = {i for i in range(len(pages)) if page_f1[OURS][i] <= LOST_OURS and max(page_f1[p][i] for p in peers) >= LOST_PEER}

    print(f"{len(pages)} pages in {len(sets)} sets from {args.bench}; lost = ours F1 <= {LOST_OURS} where a peer >= {LOST_PEER}\n")
    header = f"{'set':12} {'pages':>5}  {'system':26} {'F1':>6} {'prec':>6} {'recall':>6} {'pages/s':>8}  {'lost':>9}  {'errors':>6}  {'F1 ours-best peer':>17}"
    print(header)
    print("-" * len(header))
    index = {id(page): i for i, page in enumerate(pages)}
    for name, set_pages in [*sets.items(), ("all", pages)]:
        ids = [index[id(p)] for p in set_pages]
        f1s = {system: summarise([scores[system][i] for i in ids])[2] for system in systems}
        goal_peers = PEERS_FOR_GOAL.get(name, peers)
        margin = f1s[OURS] - max(f1s[p] for p in goal_peers)
        for system in systems:
            p, r, f = summarise([scores[system][i] for i in ids])
            n_lost = sum(1 for i in ids if i in lost) if system == OURS else None
            lost_cell = f"{n_lost} ({100 * n_lost / len(ids):.1f}%)" if n_lost is not None else ""
            errs = str(sum(1 for i in ids if i in crashed)) if system == OURS else ""
            speed = f"{len(pages) / seconds[system]:8.1f}" if name == "all" else ""
            first = system == OURS
            print(f"{name if first else '':12} {len(ids) if first else '':>5}  {system:26} {f:6.4f} {p:6.4f} {r:6.4f} {speed:>8}  "
                  f"{lost_cell:>9}  {errs:>6}  {f'{margin:+.4f}' if first else '':>17}")
    print(f"\nspeed over all sets: ours / trafilatura = {seconds[TRAFILATURA] / seconds[OURS]:.2f}, "
          f"ours / readability-lxml = {seconds[READABILITY] / seconds[OURS]:.2f}")

    best_peer = [max(peers, key=lambda p: page_f1[p][i]) for i in range(len(pages))]
    gaps = sorted(range(len(pages)), key=lambda i: page_f1[OURS][i] - page_f1[best_peer[i]][i])
    print(f"\nworst {args.worst} pages (our F1 minus the best peer's):")
    for i in gaps[: args.worst]:
        page = pages[i]
        why = reason(articles[i], page.truth, texts[best_peer[i]][i], crashed.get(i))
        print(f"  {page_f1[OURS][i]:.3f} vs {page_f1[best_peer[i]][i]:.3f} {best_peer[i][:11]:11}  {page.set}/{page.key[:12]:12}  "
              f"{(page.url or '')[8:50]:42}  {why}")
    for i, error in crashed.items():
        print(f"  error on {pages[i].set}/{pages[i].key}: {error}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
