"""Metadata quality: our title, authors, publication day and language beside trafilatura, htmldate
and newspaper4k, one run, every set of ../shared/bench with metadata gold.

Scoring, per page with gold for the field: the publication day (YYYY-MM-DD) as the gold gives it
(in the gold's time zone when both give one; a missing date is wrong); titles equal after
case-folding and dropping punctuation, or token F1 >= 0.9; authors as F1 of the sets of names
(pages where both sides have none are skipped); language codes equal (ISO 639-1). The systems take
turns page by page, so a busy machine slows them alike. Every date we give is also checked: ISO
8601, never a placeholder or in the future.

    python bench/metadata.py [--bench ../shared/bench] [--set NAME ...] [--worst 10]
"""

from __future__ import annotations

import gzip
import json
import re
import sys
import time
import warnings
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Callable

import htmldate
import trafilatura

from scraper import dom, extract, metadata
from scraper.errors import NotArticleError

sys.path.insert(0, str(Path(__file__).resolve().parent))
# bench/ is no package. Page: its `truth` here is the dict of gold fields; run: every system on every page, in turns.
from quality import Page, arguments_and_sets, run  # noqa: E402

SETS = ("postlight", "metascraper", "htmldate", "wcxb-dev", "readability")
FIELDS = ("published", "title", "authors", "language")
OURS, TRAFILATURA, HTMLDATE, NEWSPAPER = "scraper", "trafilatura", "htmldate", "newspaper4k"
_WORD = re.compile(r"\w+")
_NAME_SEPARATORS = re.compile(r"\s*(?:[,;&|/]|\band\b)\s*", re.IGNORECASE)


def load_sets(bench: Path, only: list[str] | None) -> dict[str, list[Page]]:
    sets = {}
    for name in SETS:
        folder = bench / name
        if (only and name not in only) or not folder.is_dir():
            continue
        pages = []
        for meta in sorted(folder.glob("*.json")):
            item, page = json.loads(meta.read_text()), meta.with_suffix(".html.gz")
            gold = {"published": item.get("published"), "title": item.get("title"),
                    "authors": names(item.get("author")) if item.get("author") else None, "language": item.get("language")}
            if page.exists() and any(v for v in gold.values()):
                html = gzip.decompress(page.read_bytes()).decode("utf-8", "replace")
                pages.append(Page(name, meta.stem, html, item.get("url"), gold))
        if pages:
            sets[name] = pages
    return sets


# --- the systems: each gives {field: value} for a page -------------------------------------------

def ours(html: str, url: str | None) -> dict:
    """What `extract` gives; on a page it holds for no article, what the metadata pass alone gives."""
    try:
        article = extract(html, url)
    except NotArticleError:
        meta = _metadata_pass(dom.parse(html), url, "")
        return {"published": meta.published, "modified": meta.modified, "title": meta.title, "authors": meta.authors, "language": meta.language}
    return {"published": article.published, "modified": article.modified, "title": article.title,
            "authors": article.authors, "language": article.language}


def ours_metadata_only(html: str, url: str | None) -> dict:
    """Only the metadata pass (the page parsed first, as extract does, and not timed with it)."""
    tree = dom.parse(html)
    started = time.perf_counter()
    _metadata_pass(tree, url, tree.body.text(separator=" ", strip=True)[:5000] if tree.body else "")
    return {"seconds": time.perf_counter() - started}


def _metadata_pass(tree, url: str | None, text: str) -> metadata.Metadata:
    """The metadata steps of `extract`, all on the unpruned page (its date search reads a little more
    than in extract, which searches the pruned one); `text` is what the language is checked against."""
    meta = metadata.read(tree, url)
    metadata.date_from_text(meta, tree, url)
    metadata.check_language(meta, text)
    return meta


def trafilatura_metadata(html: str, url: str | None) -> dict:
    doc = trafilatura.bare_extraction(html, url=url, with_metadata=True)
    if doc is None:
        return {}
    return {"published": doc.date, "title": doc.title, "authors": names(doc.author), "language": doc.language}


def htmldate_date(html: str, url: str | None) -> dict:
    return {"published": htmldate.find_date(html, url=url)}


def newspaper_metadata(html: str, url: str | None) -> dict:
    import newspaper

    try:
        article = newspaper.Article(url or "http://example.com/", fetch_images=False)
        article.download(input_html=html)
        article.parse()
    except Exception:  # it raises on pages it cannot parse: nothing found, as for a peer that finds none
        return {}
    published = article.publish_date
    return {"published": published.isoformat() if published else None, "title": article.title,
            "authors": article.authors, "language": article.meta_lang}


def newspaper_or_why() -> tuple[Callable | None, str]:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            import newspaper  # noqa: F401
    except ImportError as exc:
        return None, f"newspaper4k not measured: it is not installed ({exc}); pip install newspaper4k"
    return newspaper_metadata, ""


# --- scoring -------------------------------------------------------------------------------------

def names(value: str | list | None) -> list[str]:
    if isinstance(value, list):
        value = ", ".join(v for v in value if isinstance(v, str))
    return [n for n in _NAME_SEPARATORS.split(value or "") if _WORD.search(n)]


def _norm(text: str) -> str:
    return " ".join(_WORD.findall(text.casefold()))


def _parse(value: str) -> datetime | None:
    try:
        return datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        return None


def day_right(ours_: str | None, gold: str) -> bool:
    if not ours_:
        return False
    mine, theirs = _parse(ours_), _parse(gold)
    if mine and theirs and mine.tzinfo and theirs.tzinfo and len(gold) > 10:
        return mine.astimezone(theirs.tzinfo).date() == theirs.date()
    return ours_.strip()[:10] == gold.strip()[:10]


def title_right(ours_: str | None, gold: str) -> bool:
    a, b = _norm(ours_ or ""), _norm(gold)
    return a == b or token_f1(a.split(), b.split()) >= 0.9


def token_f1(a: list[str], b: list[str]) -> float:
    from collections import Counter

    common = sum((Counter(a) & Counter(b)).values())
    return 2 * common / (len(a) + len(b)) if common else 0.0


def authors_f1(ours_: list[str] | None, gold: list[str]) -> float:
    a, b = {_norm(n) for n in ours_ or []}, {_norm(n) for n in gold}
    common = len(a & b)
    return 2 * common / (len(a) + len(b)) if common else 0.0


def language_right(ours_: str | None, gold: str) -> bool:
    code = lambda v: re.split(r"[-_]", v.strip().lower())[0]  # noqa: E731
    return bool(ours_) and code(ours_) == code(gold)


SCORERS = {"published": day_right, "title": title_right, "authors": authors_f1, "language": language_right}


def score(field: str, predicted: dict, gold) -> float:
    return float(SCORERS[field](predicted.get(field), gold))


def bad_date(value: str | None, now: datetime) -> str | None:
    """Why a date we give is unfit (not ISO 8601, a placeholder, in the future), or None."""
    if value is None:
        return None
    when = _parse(value)
    if when is None or not re.fullmatch(r"\d{4}-\d\d-\d\d(T\d\d:\d\d:\d\d([+-]\d\d:\d\d)?)?", value):
        return f"not ISO 8601: {value!r}"
    if when.year < 1995:
        return f"placeholder or too old: {value}"
    if (when if when.tzinfo else when.replace(tzinfo=timezone.utc)) > now + timedelta(days=1):
        return f"in the future: {value}"
    return None


def main() -> int:
    if (given := arguments_and_sets(__doc__, load_sets, "metadata")) is None:
        return 2
    args, sets = given
    pages = [page for set_pages in sets.values() for page in set_pages]
    newspaper_fn, newspaper_note = newspaper_or_why()
    systems = {OURS: ours, "metadata pass": ours_metadata_only, TRAFILATURA: trafilatura_metadata, HTMLDATE: htmldate_date}
    if newspaper_fn:
        systems[NEWSPAPER] = newspaper_fn
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        outputs, seconds = run(systems, pages)
    meta_seconds = sum(out["seconds"] for out in outputs.pop("metadata pass"))
    del seconds["metadata pass"]
    peers = [name for name in systems if name not in (OURS, "metadata pass")]
    fields_of = {HTMLDATE: ("published",)}

    print(f"{len(pages)} pages in {len(sets)} sets from {args.bench}")
    if newspaper_note:
        print(newspaper_note)
    header = f"{'set':12} {'field':10} {'pages':>5}  {'ours':>6}  " + "  ".join(f"{p:>12}" for p in peers) + f"  {'ours-best peer':>14}  {'goal +0.02':>10}"
    print("\n" + header)
    print("-" * len(header))
    index = {id(page): i for i, page in enumerate(pages)}
    met, missed = 0, []
    for name, set_pages in sets.items():
        for field in FIELDS:
            ids = [index[id(p)] for p in set_pages if p.truth[field]]
            if field == "authors":  # both without a name: nothing to score
                ids = [i for i in ids if pages[i].truth[field]]
            if not ids:
                continue
            mean = lambda system: sum(score(field, outputs[system][i], pages[i].truth[field]) for i in ids) / len(ids)  # noqa: E731
            ours_ = mean(OURS)
            figures = {p: mean(p) for p in peers if field in fields_of.get(p, FIELDS)}
            best = max(figures.values())
            ok = ours_ >= best + 0.02
            met += ok
            if not ok:
                missed.append(f"{name}/{field}")
            cells = "  ".join(f"{figures[p]:12.3f}" if p in figures else f"{'-':>12}" for p in peers)
            print(f"{name:12} {field:10} {len(ids):5}  {ours_:6.3f}  {cells}  {ours_ - best:+14.3f}  {'met' if ok else 'NOT met':>10}")
    extract_ms = 1000 * seconds[OURS] / len(pages)
    print(f"\nms per page: ours (extract, metadata included) {extract_ms:.1f}, of which the metadata pass "
          f"{1000 * meta_seconds / len(pages):.1f} ({meta_seconds / seconds[OURS]:.0%}); "
          + ", ".join(f"{p} {1000 * seconds[p] / len(pages):.1f}" for p in peers))
    print(f"goals met: {met} of {met + len(missed)}{' (not: ' + ', '.join(missed) + ')' if missed else ''}")

    # Some golds take the last update for the publication; `published` stays the original date (issue #14).
    for name, set_pages in sets.items():
        ids = [index[id(p)] for p in set_pages if p.truth["published"]]
        updated = [i for i in ids if not day_right(outputs[OURS][i].get("published"), pages[i].truth["published"])
                   and day_right(outputs[OURS][i].get("modified"), pages[i].truth["published"])]
        if updated:
            print(f"{name}: on {len(updated)} of {len(ids)} pages the gold 'published' is the page's dateModified, not its original date")

    now = datetime.now(timezone.utc)
    unfit = [(pages[i], why) for i, out in enumerate(outputs[OURS]) for f in ("published", "modified") if (why := bad_date(out.get(f), now))]
    print(f"dates we give that are unfit (not ISO 8601, placeholder, future): {len(unfit)}")
    for page, why in unfit[:10]:
        print(f"  {page.set}/{page.key}: {why}")

    if args.worst:
        for field in FIELDS:
            lost = []
            for i, page in enumerate(pages):
                if not page.truth[field]:
                    continue
                mine = score(field, outputs[OURS][i], page.truth[field])
                best_peer = max((p for p in peers if field in fields_of.get(p, FIELDS)), key=lambda p: score(field, outputs[p][i], page.truth[field]))
                theirs = score(field, outputs[best_peer][i], page.truth[field])
                if mine < theirs:
                    lost.append((mine - theirs, page, best_peer, outputs[OURS][i].get(field), outputs[best_peer][i].get(field)))
            lost.sort(key=lambda item: item[0])
            print(f"\n{field}: ours below the best peer on {len(lost)} pages; the worst {min(args.worst, len(lost))}:")
            for gap, page, peer, mine, theirs in lost[: args.worst]:
                print(f"  {gap:+.2f} {page.set}/{page.key[:16]:16} gold {str(page.truth[field])[:40]!r:42} ours {str(mine)[:40]!r:42} {peer} {str(theirs)[:40]!r}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
