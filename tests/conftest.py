"""Shared test fixtures: where the shared data lives, and a guard that no test reaches the internet."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("SCRAPER_SHARED", ROOT.parent / "shared"))
SEEDS = SHARED / "seeds"
BENCH = SHARED / "bench" / "scrapinghub"


def seed_pairs() -> list[tuple[Path, Path]]:
    return [(f.with_name(f.name.replace(".expected", "")), f) for f in sorted(SEEDS.glob("*.expected.txt"))]


@pytest.fixture(scope="session")
def ground_truth() -> dict:
    path = BENCH / "ground-truth.json"
    if not path.exists():
        pytest.skip(f"shared benchmark data not found at {path}")
    return json.loads(path.read_text())
