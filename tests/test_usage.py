"""What a new user hits first: the installed `scraper` command run in a subprocess, as a shell runs it.

Every bad invocation ends in one line on stderr and a documented exit code, never a traceback.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

SCRAPER = Path(sys.executable).with_name("scraper")
STORY = "<p>" + "The council voted on Tuesday to rebuild the old bridge over the river. " * 12 + "</p>"
PAGE = f"<html><head><title>Bridge</title></head><body><article><h1>Bridge</h1>{STORY}</article></body></html>"
OTHER_PAGE = PAGE.replace("bridge", "library").replace("Bridge", "Library")


def scraper(*args: str, cwd: Path, stdin: str = "", env: dict[str, str] | None = None, command: list[str] | None = None) -> subprocess.CompletedProcess:
    """Run the installed command (or `command`) in `cwd` with a clean environment."""
    base = {k: v for k, v in os.environ.items() if k not in ("SCRAPER_DB", "SCRAPER_DEBUG")}
    return subprocess.run(
        [*(command or [str(SCRAPER)]), *args], cwd=cwd, input=stdin, capture_output=True, text=True,
        env={**base, **(env or {})}, timeout=120,
    )


def assert_one_error_line(result: subprocess.CompletedProcess, code: int) -> str:
    assert result.returncode == code, (result.returncode, result.stderr)
    assert "Traceback" not in result.stderr, result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("scraper: error: "), result.stderr
    return lines[0]


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    """Paths the table below points at: missing files, a folder, a file standing where a folder should."""
    (tmp_path / "folder").mkdir()
    (tmp_path / "plain-file").write_text("x")
    (tmp_path / "bad.toml").write_text("[settings\n")
    (tmp_path / "one-site.toml").write_text('[[sites]]\nname = "news"\ndomains = ["127.0.0.1"]\nstart_urls = ["http://127.0.0.1:9/"]\n')
    (tmp_path / "random.bin").write_bytes(bytes(range(256)) * 8)
    (tmp_path / "empty.txt").write_bytes(b"")
    (tmp_path / "junk.txt").write_text("Follow us on WhatsApp\nShare this article\nAdvertisement\n")
    return {
        "missing": tmp_path / "missing.txt",
        "missing_toml": tmp_path / "missing.toml",
        "folder": tmp_path / "folder",
        "under_file": tmp_path / "plain-file" / "x",  # its parent is a file: nothing can be created there
        **{p.stem.replace("-", "_"): p for p in tmp_path.iterdir() if p.is_file()},
    }


URL = "http://127.0.0.1:9/story"  # never fetched: every case fails before
BAD_INVOCATIONS = [
    # (arguments, expected exit code, text the error line holds); "{name}" is a path from `files`
    (["fetch"], 2, "URL"),
    (["fetch", "--bogus", URL], 2, "--bogus"),
    (["fetch", URL, "--timeout", "abc"], 2, "--timeout"),
    (["fetch", "-i"], 2, "-i"),
    (["fetch", URL, "--config", "{missing_toml}"], 2, "missing.toml"),
    (["run", "--limit", "-1"], 2, "--limit"),
    (["run", "--limit", "many"], 2, "--limit"),
    (["run", "--log-format", "xml"], 2, "--log-format"),
    (["run", "--config", "{missing_toml}"], 2, "missing.toml"),
    (["run", "--config", "{bad}"], 2, "bad.toml"),
    (["run", "--config", "{one_site}", "--site", "nosuch"], 2, "nosuch"),
    (["export", "--format", "xml"], 2, "xml"),
    (["export", "--format"], 2, "--format"),
    (["export", "--since", "yesterday"], 2, "--since"),
    (["export", "--since", "2026-13-45"], 2, "--since"),
    (["export", "-o", "{under_file}"], 5, "plain-file"),
    (["export", "--db", "{under_file}"], 5, "plain-file"),
    (["status", "--runs", "x"], 2, "--runs"),
    (["clean"], 2, "PATH"),
    (["clean", "{missing}"], 2, "missing.txt"),
    (["clean", "{folder}"], 2, "folder"),
    (["nosuchcommand"], 2, "nosuchcommand"),
    (["--no-such-flag"], 2, "--no-such-flag"),
    (["db", "nosuch"], 2, "nosuch"),
    (["worker", "--concurrency", "0"], 2, "--concurrency"),
    (["enqueue"], 2, "URLS"),
]


@pytest.mark.parametrize("args, code, named", BAD_INVOCATIONS, ids=lambda v: " ".join(v) if isinstance(v, list) else None)
def test_bad_invocation_is_one_line_and_a_documented_code(tmp_path, files, args, code, named):
    result = scraper(*(a.format(**files) for a in args), cwd=tmp_path)
    line = assert_one_error_line(result, code)
    assert named.lower() in line.lower()
    assert result.stdout == ""


def test_version_prints_the_installed_version(tmp_path):
    from importlib.metadata import version

    result = scraper("--version", cwd=tmp_path)
    assert result.returncode == 0 and result.stderr == ""
    assert result.stdout.split() == ["scraper", version("scraper")]


def test_bare_command_prints_the_help(tmp_path):
    result = scraper(cwd=tmp_path)
    assert result.returncode == 0 and result.stderr == ""
    assert "Usage" in result.stdout and "fetch" in result.stdout and "export" in result.stdout


def test_internal_error_is_one_line_and_a_traceback_with_scraper_debug(tmp_path):
    broken = [sys.executable, "-c", "import sys; import scraper.cli as cli; sys.argv[0] = 'scraper'; "
              "cli._config = lambda path: 1 / 0; cli.main()"]
    line = assert_one_error_line(scraper("export", cwd=tmp_path, command=broken), 1)
    assert "ZeroDivisionError" in line and "SCRAPER_DEBUG=1" in line
    debug = scraper("export", cwd=tmp_path, command=broken, env={"SCRAPER_DEBUG": "1"})
    assert debug.returncode == 1 and "Traceback" in debug.stderr and "ZeroDivisionError" in debug.stderr
