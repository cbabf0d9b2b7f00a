"""What a new user hits first: the installed package, where config is looked up, CI's guard on skips."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import scraper
from scraper.config import DEFAULT_RULES, load_rules

SCRAPER = Path(sys.executable).with_name("scraper")


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
