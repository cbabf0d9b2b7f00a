"""Shared test fixtures: where the shared data lives, and a guard that no test reaches the internet."""

from __future__ import annotations

import json
import os
from collections import Counter
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("SCRAPER_SHARED", ROOT.parent / "shared"))
SEEDS = SHARED / "seeds"
BENCH = SHARED / "bench" / "scrapinghub"


def seed_pairs() -> list[tuple[Path, Path]]:
    return [(f.with_name(f.name.replace(".expected", "")), f) for f in sorted(SEEDS.glob("*.expected.txt"))]


# CI must run the end-to-end tests: there a missing shared folder fails them instead of skipping.
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


@pytest.fixture(scope="session")
def bench_pages() -> Path:
    """The shared scrapinghub benchmark pages; a test without them is skipped, or failed under CI=true."""
    if not (BENCH / "ground-truth.json").exists():
        message = f"shared data not found at {BENCH} (set SCRAPER_SHARED)"
        if IN_CI:
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    return BENCH


@pytest.fixture(scope="session")
def ground_truth(bench_pages: Path) -> dict:
    return json.loads((bench_pages / "ground-truth.json").read_text())


# --- fuzz case counts, printed in the test summary ---------------------------------------------
# Hostile-input tests call fuzz_case(category) once per generated case. Under pytest-xdist each
# worker sends its counts back with the session's end and the controller adds them up.

FUZZ_CASES: Counter[str] = Counter()


def fuzz_case(category: str) -> None:
    FUZZ_CASES[category] += 1


def pytest_sessionfinish(session: pytest.Session) -> None:
    workeroutput = getattr(session.config, "workeroutput", None)
    if workeroutput is not None:  # an xdist worker
        workeroutput["fuzz_cases"] = dict(FUZZ_CASES)


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node, error) -> None:
    FUZZ_CASES.update(getattr(node, "workeroutput", {}).get("fuzz_cases", {}))


def pytest_terminal_summary(terminalreporter) -> None:
    if FUZZ_CASES:
        counts = ", ".join(f"{name} {n}" for name, n in sorted(FUZZ_CASES.items()))
        terminalreporter.write_line(f"fuzz cases: {counts}; total {sum(FUZZ_CASES.values())}")
