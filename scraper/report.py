"""How a scheduled run tells what it does: a rich progress bar on a terminal, log lines otherwise.

A run calls a `Reporter` as it goes; the CLI picks the one that suits where stderr leads:
`ProgressReporter` for a person at a terminal, `LogReporter` (text or JSON lines) for cron and
log collectors, and `LogReporter(quiet=True)` prints nothing but errors.
"""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING, Mapping, TextIO

if TYPE_CHECKING:
    from .run import SiteStats

COUNTS = ("discovered", "new", "fetched", "saved", "failed")
# URLs found and not taken in the run (see SiteStats): text lines show those there were.
LOSSES = ("capped", "disallowed", "skipped", "dropped")


class Reporter:
    """Hears about a run and shows nothing: the default, and the base of the others."""

    def site_found(self, site: str, new: int) -> None:
        """Discovery of `site` is over: `new` articles are to be fetched."""

    def article_done(self, site: str) -> None:
        """One of `site`'s new articles was dealt with (saved or failed)."""

    def site_done(self, site: str, stats: SiteStats) -> None:
        """`site` is finished."""

    def close(self) -> None:
        """The run is over."""


class LogReporter(Reporter):
    """One line per finished site, then its errors: plain text, or JSON objects one per line."""

    def __init__(self, *, json_lines: bool = False, quiet: bool = False, stream: TextIO | None = None):
        self.json_lines = json_lines
        self.quiet = quiet
        self.stream = stream or sys.stderr

    def site_done(self, site: str, stats: SiteStats) -> None:
        if self.json_lines:
            if stats.errors or not self.quiet:
                self._print(json.dumps({"event": "site", "site": site, **_counts(stats), "errors": stats.errors}))
            return
        if not self.quiet:
            counts = _counts(stats)
            summary = ", ".join(f"{k} {counts[k]}" for k in COUNTS)
            self._print(f"{site}: {summary}" + (f", {lost}" if (lost := losses(counts)) else ""))
        for error in stats.errors:
            self._print(f"{site}: error: {error}")

    def _print(self, line: str) -> None:
        print(line, file=self.stream, flush=True)


class ProgressReporter(LogReporter):
    """A progress bar per site on the terminal, with the log lines printed above the bars."""

    def __init__(self, stream: TextIO | None = None):
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        super().__init__(stream=stream)
        self.progress = Progress(
            TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
            console=Console(file=self.stream),
        )
        self.tasks: dict[str, int] = {}
        self.progress.start()

    def site_found(self, site: str, new: int) -> None:
        self.tasks[site] = self.progress.add_task(site, total=new)

    def article_done(self, site: str) -> None:
        self.progress.advance(self.tasks[site])

    def _print(self, line: str) -> None:
        self.progress.console.print(line, markup=False, highlight=False)

    def close(self) -> None:
        self.progress.stop()


def losses(counts: Mapping[str, int]) -> str:
    """'capped 3, disallowed 1': the URLs a site's run found and did not take ('' for none)."""
    return ", ".join(f"{k} {counts[k]}" for k in LOSSES if counts.get(k))


def _counts(stats: SiteStats) -> dict[str, int]:
    return {k: getattr(stats, k) for k in (*COUNTS, *LOSSES)}
