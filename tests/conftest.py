"""Shared test fixtures: where the shared data lives, and a guard that no test reaches the internet."""

from __future__ import annotations

import json
import os
import uuid
from collections import Counter
from collections.abc import Iterator
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


# --- PostgreSQL -------------------------------------------------------------------------------
# The machine's server (trust auth); each test gets a database of its own, so that xdist workers
# and test modules never see each other's rows. Unreachable, it skips the test, or fails it under CI.

PG_SERVER = "postgresql://postgres@127.0.0.1:5432"


def pg_admin():
    from sqlalchemy import create_engine

    return create_engine(f"{PG_SERVER.replace('postgresql', 'postgresql+psycopg')}/test", isolation_level="AUTOCOMMIT")


@pytest.fixture
def pg_database() -> Iterator[str]:
    """The URL of a fresh, empty PostgreSQL database, dropped after the test."""
    pytest.importorskip("psycopg", reason="the postgres extra is not installed")
    from sqlalchemy import text

    admin = pg_admin()
    name = f"scraper_test_{uuid.uuid4().hex[:12]}"
    try:
        with admin.connect() as conn:
            conn.execute(text(f"CREATE DATABASE {name}"))
    except Exception as exc:
        admin.dispose()
        message = f"PostgreSQL not reachable on 127.0.0.1:5432 (database test): {str(exc).splitlines()[0]}"
        if IN_CI:
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    yield f"{PG_SERVER}/{name}"
    with admin.connect() as conn:
        conn.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
    admin.dispose()


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
