"""What a new user hits first: the installed package, where config is looked up, CI's guard on skips."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import scraper
from scraper.config import DEFAULT_RULES, load_rules

from .conftest import ROOT

SCRAPER = Path(sys.executable).with_name("scraper")
# A test of the end-to-end suite that needs ../shared (its module is marked with the `bench_pages` fixture).
NEEDS_SHARED = "tests/test_run.py::test_robots_txt_is_read_before_any_source_on_its_host"


def scraper_cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([SCRAPER, *args], cwd=cwd, capture_output=True, text=True, timeout=120)


def test_generic_rules_and_type_marker_ship_inside_the_package():
    package = Path(scraper.__file__).parent
    assert DEFAULT_RULES.parent == package  # package data: a wheel installs it beside the modules
    assert (package / "py.typed").is_file()
    assert load_rules().lines


def test_sites_toml_is_read_from_the_working_directory(tmp_path):
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "sites.toml").write_text(
        '[[sites]]\nname = "local"\ndomains = ["example.org"]\nstart_urls = ["https://example.org/"]\n\n'
        '[[sites.line_patterns]]\nid = "local.motto"\nreason = "the site\'s motto"\npattern = "^example org: news you can use$"\n'
    )
    story = "The harbour bridge plan was approved by the city council after months of debate on its cost."
    (tmp_path / "story.txt").write_text(f"{story}\nExample Org: news you can use\n")

    done = scraper_cli("clean", "story.txt", "--url", "https://example.org/a", cwd=tmp_path)

    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == story


def test_run_with_no_sites_says_so(tmp_path):
    (tmp_path / "empty.toml").write_text("[settings]\ndelay = 1.0\n")
    done = scraper_cli("run", "--config", "empty.toml", "--db", f"sqlite:///{tmp_path / 'a.db'}", cwd=tmp_path)
    assert done.returncode == 2
    assert done.stderr == "scraper: error: no sites in empty.toml\n"


def _pytest_without_shared(tmp_path: Path, *, ci: bool) -> subprocess.CompletedProcess[str]:
    """Run one test that needs ../shared, with SCRAPER_SHARED pointing at an empty folder."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_") and k != "CI"}
    env["SCRAPER_SHARED"] = str(tmp_path)
    if ci:
        env["CI"] = "true"
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", NEEDS_SHARED]
    return subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)


def test_without_shared_data_end_to_end_tests_skip(tmp_path):
    done = _pytest_without_shared(tmp_path, ci=False)
    assert done.returncode == 0 and "1 skipped" in done.stdout, done.stdout


def test_without_shared_data_end_to_end_tests_fail_in_ci(tmp_path):
    done = _pytest_without_shared(tmp_path, ci=True)
    assert done.returncode == 1, done.stdout
    assert f"shared data not found at {tmp_path}" in done.stdout and "1 error" in done.stdout, done.stdout
