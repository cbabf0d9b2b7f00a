"""What a run prints: log lines for cron (text, JSON, quiet) and a progress bar for a terminal."""

from __future__ import annotations

import io
import json

from scraper.report import LogReporter, ProgressReporter
from scraper.run import SiteStats


def finished(reporter, stats: SiteStats) -> str:
    reporter.site_found("news", stats.new)
    for _ in range(stats.new):
        reporter.article_done("news")
    reporter.site_done("news", stats)
    reporter.close()
    return reporter.stream.getvalue()


def failing_stats() -> SiteStats:
    stats = SiteStats(discovered=4, new=3, fetched=3, saved=2)
    stats.fail("HTTP 404 Not Found: https://example.com/gone")
    return stats


def test_text_lines_then_errors():
    out = finished(LogReporter(stream=io.StringIO()), failing_stats())
    assert out.splitlines() == [
        "news: discovered 4, new 3, fetched 3, saved 2, failed 1",
        "news: error: HTTP 404 Not Found: https://example.com/gone",
    ]


def test_quiet_prints_only_errors():
    assert finished(LogReporter(quiet=True, stream=io.StringIO()), SiteStats(new=2, saved=2)) == ""
    out = finished(LogReporter(quiet=True, stream=io.StringIO()), failing_stats())
    assert out == "news: error: HTTP 404 Not Found: https://example.com/gone\n"


def test_json_lines():
    (line,) = finished(LogReporter(json_lines=True, stream=io.StringIO()), failing_stats()).splitlines()
    assert json.loads(line) == {
        "event": "site", "site": "news", "discovered": 4, "new": 3, "fetched": 3, "saved": 2, "failed": 1,
        "capped": 0, "disallowed": 0, "skipped": 0, "dropped": 0, "errors": ["HTTP 404 Not Found: https://example.com/gone"],
    }


def test_progress_bar_counts_articles_and_keeps_the_log_lines():
    out = finished(ProgressReporter(stream=io.StringIO()), failing_stats())
    assert "3/3" in out
    assert "news: error: HTTP 404 Not Found: https://example.com/gone" in out
