"""Crawl speed, memory and re-runs: `scraper run` against trafilatura's feed/sitemap download path.

One run, one loopback news site of H hosts (bench/crawl_site.py: real scrapinghub pages, a feed and
a sitemap per host, a set response latency), a per-host delay d. Each crawl runs in a subprocess
(`scraper run --config FILE --db URL --quiet`, or bench/crawl_peer.py for trafilatura) whose whole
process tree is sampled in /proc for memory; article fetches are counted in the site's request log.

1. Speed: pages/s of a first run as a fraction of the politeness limit H/d (goal >= 0.9).
2. Memory: peak RSS of a larger run, read when 10%, 50% and 100% of its pages have been served
   (goal <= 200 MB, flat). This run uses more hosts and a shorter delay so that it is bound by the
   crawler, not by politeness, and ends sooner.
3. Re-run: the second run on the unchanged site, its wall time and article fetches (goal 0 fetches,
   < 5% of the first run's time). trafilatura keeps no state: it fetches everything again.

    python bench/crawl.py                 # the issue's sizes: H=20, d=0.5 s, 1,000 pages; 10,000 for memory
    python bench/crawl.py --quick         # a sanity run of about a minute (the default takes ~20 min on 2 busy cores)
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from crawl_site import Hits, LoopbackSite
from trafilatura.settings import PARALLEL_CORES

from scraper.store import Store

BENCH = Path(__file__).resolve().parent
DEFAULT_DATA = BENCH.parents[1] / "shared" / "bench" / "scrapinghub"
MILESTONES = (0.1, 0.5, 1.0)  # of the memory run's pages: 1k/5k/10k by default
SAMPLE_EVERY = 0.05  # seconds between two looks at the process tree
MB = 1024  # /proc reports kB


@dataclass
class Crawl:
    """One crawl in a subprocess, as the site and /proc saw it."""

    wall: float
    hits: Hits
    peak_mb: float  # sum over the process tree of each process's peak RSS (VmHWM)
    largest_mb: float  # the largest single process's peak RSS (what `time -v` reports)
    pss_mb: float  # the largest sum over the tree of each process's PSS (shared pages split between sharers)
    at: dict[int, float] = field(default_factory=dict)  # articles served -> peak MB (sum of VmHWM) so far
    pss_at: dict[int, float] = field(default_factory=dict)  # articles served -> peak PSS sum so far
    output: str = ""

    @property
    def pages_per_s(self) -> float:
        return self.hits.articles / self.wall


def tree(root: int) -> list[int]:
    """The process and all its descendants (pebble or multiprocessing workers included)."""
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        found.append(pid)
        try:
            for task in os.scandir(f"/proc/{pid}/task"):
                with open(f"{task.path}/children") as children:
                    todo.extend(int(c) for c in children.read().split())
        except OSError:
            continue  # exited meanwhile
    return found


def _kb(path: str, field: str) -> int:
    try:
        with open(path) as lines:
            return next((int(line.split()[1]) for line in lines if line.startswith(field)), 0)
    except OSError:
        return 0  # exited meanwhile


def memory_kb(pids: list[int], pss: bool) -> tuple[int, int, int]:
    """(sum of peak RSS, largest peak RSS, sum of PSS now or 0 if not `pss`) over the processes.

    RSS counts a page shared by several processes (libraries, the interpreter) once in each of
    them, so its sum over a tree overstates what the tree takes; PSS splits each shared page
    between its sharers, so its sum is what the machine gives the tree. Reading PSS walks the
    process's page tables under its memory lock, slowing it: only the memory runs read it."""
    peaks = [_kb(f"/proc/{pid}/status", "VmHWM:") for pid in pids]
    shares = sum(_kb(f"/proc/{pid}/smaps_rollup", "Pss:") for pid in pids) if pss else 0
    return sum(peaks), max(peaks, default=0), shares


def crawl(command: list[str], site: LoopbackSite, milestones: tuple[int, ...] = ()) -> Crawl:
    """Run `command`, following its memory until it exits; milestones are article counts to note the peak at."""
    site.reset()
    with tempfile.TemporaryFile("w+") as out:
        started = time.perf_counter()
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, text=True)
        peak = largest = pss = 0
        at, pss_at = {}, {}
        while process.poll() is None:
            sample = memory_kb(tree(process.pid), pss=bool(milestones))
            peak, largest, pss = max(peak, sample[0]), max(largest, sample[1]), max(pss, sample[2])
            served = site.articles()
            at.update({m: peak / MB for m in milestones if m not in at and served >= m})
            pss_at.update({m: pss / MB for m in milestones if m not in pss_at and served >= m})
            time.sleep(SAMPLE_EVERY)
        wall = time.perf_counter() - started
        out.seek(0)
        output = out.read()
    if process.returncode != 0:
        print(f"warning: {' '.join(command[:2])} exited with {process.returncode}: {output.strip()[-500:]}", file=sys.stderr)
    return Crawl(wall, site.hits(), peak / MB, largest / MB, pss / MB, at, pss_at, output)


def write_config(path: Path, settings: dict, sites: list[dict]) -> Path:
    """A sites.toml; values are strings, numbers, booleans or lists of strings (JSON spells those as TOML does)."""
    lines = ["[settings]", *(f"{k} = {json.dumps(v)}" for k, v in settings.items())]
    for site in sites:
        lines += ["", "[[sites]]", *(f"{k} = {json.dumps(v)}" for k, v in site.items())]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


class Crawlers:
    """The two commands for one site: ours against its config and database, and the peer."""

    def __init__(self, site: LoopbackSite, delay: float, workdir: Path, name: str, peer_threads: int):
        self.site = site
        self.db = f"sqlite:///{workdir / (name + '.db')}"
        settings = {
            "delay": delay,
            "allow_private_addresses": True,
            "concurrency": max(16, site.hosts),  # one request in flight per host is enough: latency < delay
            "max_pages_per_site": site.pages,
        }
        entries = [
            {"name": f"host-{h}", "domains": ["127.0.0.1"], "feeds": [site.feed(h)], "sitemaps": [site.sitemap(h)]}
            for h in range(site.hosts)
        ]
        config = write_config(workdir / f"{name}.toml", settings, entries)
        self.ours = [_scraper(), "run", "--config", str(config), "--db", self.db, "--quiet"]
        # courlan refuses bare IP addresses: the peer asks for the same ports under *.localhost names.
        bases = [f"http://host-{h}.localhost:{port}" for h, port in enumerate(site.ports)]
        self.peer = [sys.executable, str(BENCH / "crawl_peer.py"), "--delay", str(delay), "--threads", str(peer_threads), *bases]

    def saved(self) -> tuple[int, int]:
        """(saved, failed) by the last run of ours, from its record in the store."""
        with Store(self.db) as store:
            stats = store.last_runs(1)[0]["stats"] or {}
        return sum(s["saved"] for s in stats.values()), sum(s["failed"] for s in stats.values())


def _scraper() -> str:
    beside = Path(sys.executable).with_name("scraper")
    found = str(beside) if beside.exists() else shutil.which("scraper")
    if not found:
        sys.exit("the `scraper` command is not installed (make install-dev)")
    return found


def _extracted(run: Crawl) -> int:
    try:
        return json.loads(run.output.strip().splitlines()[-1])["extracted"]
    except (ValueError, IndexError, KeyError):
        return 0


class Table:
    def __init__(self) -> None:
        self.rows: list[tuple[str, str, str, str, str]] = []

    def add(self, metric: str, ours: float | str, peer: float | str, goal: str = "", fmt: str = "{:.2f}") -> None:
        def show(v: float | str) -> str:
            return v if isinstance(v, str) else ("-" if math.isinf(v) else fmt.format(v))

        ratio = f"{ours / peer:.2f}" if isinstance(ours, (int, float)) and isinstance(peer, (int, float)) and peer and not math.isinf(peer) else ""
        self.rows.append((metric, show(ours), show(peer), ratio, goal))

    def print(self) -> None:
        header = ("metric", "ours", "trafilatura", "ours/peer", "goal")
        widths = [max(len(r[i]) for r in [header, *self.rows]) for i in range(5)]
        for row in [header, tuple("-" * w for w in widths), *self.rows]:
            print("  ".join(c.ljust(w) if i in (0, 4) else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths))).rstrip())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hosts", type=int, default=20, help="hosts of the speed site (H)")
    parser.add_argument("--delay", type=float, default=0.5, help="per-host delay of the speed run, seconds (d)")
    parser.add_argument("--pages", type=int, default=1000, help="articles of the speed site")
    parser.add_argument("--mem-hosts", type=int, default=50, help="hosts of the memory site")
    parser.add_argument("--mem-delay", type=float, default=0.1, help="per-host delay of the memory run, seconds")
    parser.add_argument("--mem-pages", type=int, default=10_000, help="articles of the memory site")
    parser.add_argument("--latency", type=float, default=0.05, help="seconds every response is held back")
    parser.add_argument("--peer-threads", type=int, default=PARALLEL_CORES, help="trafilatura's download threads (its --parallel default)")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="the scrapinghub benchmark pages")
    parser.add_argument("--quick", action="store_true", help="small sizes for a sanity run")
    args = parser.parse_args()
    if args.quick:
        args.hosts, args.delay, args.pages, args.mem_hosts, args.mem_delay, args.mem_pages = 4, 0.2, 40, 10, 0.05, 300
    if not (args.data / "html").is_dir():
        print(f"benchmark pages not found at {args.data}", file=sys.stderr)
        return 2

    began = time.perf_counter()
    limit = args.hosts / args.delay
    milestones = tuple(round(args.mem_pages * f) for f in MILESTONES)
    table = Table()
    with tempfile.TemporaryDirectory(prefix="bench-crawl-") as tmp:
        with LoopbackSite(args.hosts, args.pages, args.latency, args.data) as site:
            crawlers = Crawlers(site, args.delay, Path(tmp), "speed", args.peer_threads)
            ours = crawl(crawlers.ours, site)
            saved, failed = crawlers.saved()
            ours_again = crawl(crawlers.ours, site)
            peer, peer_again = crawl(crawlers.peer, site), crawl(crawlers.peer, site)
        with LoopbackSite(args.mem_hosts, args.mem_pages, args.latency, args.data) as site:
            crawlers = Crawlers(site, args.mem_delay, Path(tmp), "memory", args.peer_threads)
            ours_mem = crawl(crawlers.ours, site, milestones)
            mem_saved, mem_failed = crawlers.saved()
            peer_mem = crawl(crawlers.peer, site, milestones)

    print(f"speed site: {args.hosts} hosts x {args.pages // args.hosts} articles, delay {args.delay} s, latency {args.latency * 1000:.0f} ms; "
          f"politeness limit H/d = {limit:.1f} pages/s")
    print(f"memory site: {args.mem_hosts} hosts, {args.mem_pages} articles, delay {args.mem_delay} s (limit {args.mem_hosts / args.mem_delay:.0f} pages/s: "
          "more hosts and a shorter delay, so the run is bound by the crawler and ends sooner)")
    print(f"peer: trafilatura feeds.find_feed_urls + sitemaps.sitemap_search, load_download_buffer/buffered_downloads "
          f"({args.peer_threads} threads, sleep_time = delay), extract per page\n")
    table.add("speed run: article pages fetched", ours.hits.articles, peer.hits.articles, f"{args.pages}", fmt="{:.0f}")
    table.add("speed run: articles saved / extracted", saved, _extracted(peer), f"ours failed: {failed}", fmt="{:.0f}")
    table.add("speed run: wall time, s", ours.wall, peer.wall, f">= {args.pages / limit:.1f} (N*d/H)")
    table.add("speed run: pages/s", ours.pages_per_s, peer.pages_per_s, f"<= {limit:.1f} (H/d)")
    table.add("speed run: fraction of H/d", ours.pages_per_s / limit, peer.pages_per_s / limit, ">= 0.9")
    table.add("speed run: min gap, article requests to one host, s", ours.hits.min_gap, peer.hits.min_gap, f">= {args.delay} (polite)", fmt="{:.3f}")
    table.add("second run: wall time, s", ours_again.wall, peer_again.wall)
    table.add("second run: % of first run's time", 100 * ours_again.wall / ours.wall, 100 * peer_again.wall / peer.wall, "< 5", fmt="{:.1f}")
    table.add("second run: article fetches", ours_again.hits.articles, peer_again.hits.articles, "0", fmt="{:.0f}")
    table.add("second run: feeds/sitemaps 304 / 200", f"{ours_again.hits.not_modified} / {ours_again.hits.documents}",
              f"{peer_again.hits.not_modified} / {peer_again.hits.documents}")
    for m in milestones:
        table.add(f"memory run: peak RSS at {m} pages, MB", ours_mem.at.get(m, math.inf), peer_mem.at.get(m, math.inf), "<= 200, flat", fmt="{:.0f}")
    table.add("memory run: peak RSS of the whole run, MB", ours_mem.peak_mb, peer_mem.peak_mb, "<= 200", fmt="{:.0f}")
    for m in milestones:
        table.add(f"memory run: peak PSS at {m} pages, MB", ours_mem.pss_at.get(m, math.inf), peer_mem.pss_at.get(m, math.inf), "<= 200, flat", fmt="{:.0f}")
    table.add("memory run: peak PSS of the whole run, MB", ours_mem.pss_mb, peer_mem.pss_mb, "<= 200", fmt="{:.0f}")
    table.add("memory run: peak RSS of the largest process, MB", ours_mem.largest_mb, peer_mem.largest_mb, fmt="{:.0f}")
    table.add("memory run: article pages fetched", ours_mem.hits.articles, peer_mem.hits.articles, f"{args.mem_pages}", fmt="{:.0f}")
    table.add("memory run: articles saved / extracted", mem_saved, _extracted(peer_mem), f"ours failed: {mem_failed}", fmt="{:.0f}")
    table.add("memory run: wall time, s", ours_mem.wall, peer_mem.wall, fmt="{:.1f}")
    table.add("memory run: first to last request, s", ours_mem.hits.window, peer_mem.hits.window, fmt="{:.1f}")
    table.add("memory run: pages/s", ours_mem.pages_per_s, peer_mem.pages_per_s)
    table.print()
    print(f"\npeak RSS: sum over the crawl's process tree of each process's VmHWM, sampled every {SAMPLE_EVERY} s, "
          "read when the site had served that many article pages; peak PSS: the largest sum of the processes' "
          "PSS (/proc/PID/smaps_rollup: shared pages split between the processes sharing them) seen so far; "
          f"bench took {time.perf_counter() - began:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
