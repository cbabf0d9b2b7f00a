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
    (tmp_path / "no-nul.bin").write_bytes(bytes(range(1, 256)) * 8)
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
    (["fetch", "http://[::1"], 2, "http://[::1"),
    (["fetch", "ftp://example.com/a"], 2, "ftp://example.com/a"),
    (["fetch", "not a url"], 2, "not a url"),
    (["fetch", "-i", "{missing}"], 2, "missing.txt"),
    (["fetch", "-i", "{folder}"], 2, "folder"),
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
    (["clean", "{random}"], 4, "random.bin"),
    (["clean", "{no_nul}"], 4, "no-nul.bin"),
    (["clean", "{empty}"], 4, "empty.txt"),
    (["clean", "{junk}"], 4, "junk.txt"),
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


def test_empty_stdin_for_clean_is_not_an_article(tmp_path):
    assert_one_error_line(scraper("clean", "-", cwd=tmp_path, stdin=""), 4)


def test_version_prints_the_installed_version(tmp_path):
    from importlib.metadata import version

    result = scraper("--version", cwd=tmp_path)
    assert result.returncode == 0 and result.stderr == ""
    assert result.stdout.split() == ["scraper", version("scraper")]


def test_bare_command_prints_the_help(tmp_path):
    result = scraper(cwd=tmp_path)
    assert result.returncode == 0 and result.stderr == ""
    assert "Usage" in result.stdout and "fetch" in result.stdout and "export" in result.stdout


def test_postgres_url_without_the_driver_tells_what_to_install(tmp_path):
    blocked = [sys.executable, "-c", "import sys; sys.modules['psycopg'] = None; sys.argv[0] = 'scraper'; "
               "from scraper.__main__ import main; main()"]
    result = scraper("export", "--db", "postgresql://user@127.0.0.1:9/news", cwd=tmp_path, command=blocked)
    assert "scraper[postgres]" in assert_one_error_line(result, 2)


def test_internal_error_is_one_line_and_a_traceback_with_scraper_debug(tmp_path):
    broken = [sys.executable, "-c", "import sys; import scraper.cli as cli; sys.argv[0] = 'scraper'; "
              "cli._config = lambda path: 1 / 0; cli.main()"]
    line = assert_one_error_line(scraper("export", cwd=tmp_path, command=broken), 1)
    assert "ZeroDivisionError" in line and "SCRAPER_DEBUG=1" in line
    debug = scraper("export", cwd=tmp_path, command=broken, env={"SCRAPER_DEBUG": "1"})
    assert debug.returncode == 1 and "Traceback" in debug.stderr and "ZeroDivisionError" in debug.stderr


# --- scraper fetch: many URLs, one client, the config's settings ------------------------------

def serve_pages(httpserver) -> None:
    httpserver.expect_request("/bridge").respond_with_data(PAGE, content_type="text/html")
    httpserver.expect_request("/library").respond_with_data(OTHER_PAGE, content_type="text/html")
    httpserver.expect_request("/missing").respond_with_data("gone", status=404)
    httpserver.expect_request("/paper.pdf").respond_with_data(b"%PDF-1.7", content_type="application/pdf")


def test_fetch_many_urls_prints_the_good_and_names_the_bad(tmp_path, httpserver):
    serve_pages(httpserver)
    missing = httpserver.url_for("/missing")
    result = scraper("fetch", httpserver.url_for("/bridge"), missing, cwd=tmp_path)
    line = assert_one_error_line(result, 3)
    assert missing in line and "404" in line
    assert result.stdout.startswith("The council voted on Tuesday")


def test_fetch_failures_of_different_kinds_exit_1(tmp_path, httpserver):
    serve_pages(httpserver)
    result = scraper("fetch", httpserver.url_for("/missing"), httpserver.url_for("/bridge"), httpserver.url_for("/paper.pdf"), cwd=tmp_path)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert [line.split(":", 2)[:2] for line in result.stderr.splitlines()] == [["scraper", " error"]] * 2
    assert "The council voted" in result.stdout


def test_fetch_reads_urls_from_a_file_and_from_stdin(tmp_path, httpserver):
    serve_pages(httpserver)
    listing = tmp_path / "urls.txt"
    listing.write_text(f"# to read\n{httpserver.url_for('/bridge')}\n\n   \n  {httpserver.url_for('/library')}  \n")
    text = scraper("fetch", "-i", str(listing), cwd=tmp_path)
    assert text.returncode == 0 and text.stderr == ""
    bridge, library = text.stdout.split("\n\n")  # a blank line between two articles
    assert "bridge" in bridge and "library" in library and "bridge" not in library
    as_json = scraper("fetch", "-i", "-", "--json", cwd=tmp_path, stdin=listing.read_text())
    records = [json.loads(line) for line in as_json.stdout.splitlines()]  # one article a line
    assert as_json.returncode == 0 and [r["url"] for r in records] == [httpserver.url_for("/bridge"), httpserver.url_for("/library")]


def test_fetch_many_urls_shares_one_client(tmp_path, httpserver, monkeypatch, capsys):
    import scraper.pipeline
    from scraper import cli

    serve_pages(httpserver)
    made = []

    class CountedFetcher(scraper.pipeline.Fetcher):
        def __init__(self, *args, **kwargs):
            made.append(self)
            super().__init__(*args, **kwargs)

    monkeypatch.setattr(scraper.pipeline, "Fetcher", CountedFetcher)
    monkeypatch.setattr(sys, "argv", ["scraper", "fetch", httpserver.url_for("/bridge"), httpserver.url_for("/library"), httpserver.url_for("/bridge")])
    cli.main()
    assert len(made) == 1 and len(capsys.readouterr().out.split("\n\n")) == 3


def test_fetch_sends_the_configs_user_agent_unless_told_otherwise(tmp_path, httpserver):
    serve_pages(httpserver)
    config = tmp_path / "sites.toml"
    config.write_text('[settings]\nuser_agent = "X-Test/1"\n')
    assert scraper("fetch", httpserver.url_for("/bridge"), "--config", str(config), cwd=tmp_path).returncode == 0
    assert scraper("fetch", httpserver.url_for("/bridge"), "--config", str(config), "--user-agent", "X-Flag/2", cwd=tmp_path).returncode == 0
    assert [request.headers["User-Agent"] for request, _ in httpserver.log] == ["X-Test/1", "X-Flag/2"]


def test_fetch_obeys_the_configs_max_bytes(tmp_path, httpserver):
    serve_pages(httpserver)
    config = tmp_path / "sites.toml"
    config.write_text("[settings]\nmax_bytes = 200\n")
    line = assert_one_error_line(scraper("fetch", httpserver.url_for("/bridge"), "--config", str(config), cwd=tmp_path), 3)
    assert "larger than 200 bytes" in line


# --- scraper export: --since, a site field, streamed to a file with the usual mode -------------

def make_store(path: Path, text_size: int = 100) -> str:
    """A store holding three articles saved at known times: two of site 'news', one of 'blog'."""
    from sqlalchemy import update

    from scraper.article import Article
    from scraper.store import Store, articles

    url = f"sqlite:///{path}"
    saved = [("news", "https://news.example/a", "2026-11-01T00:00:00+00:00"),
             ("news", "https://news.example/b", "2026-11-30T12:00:00+00:00"),
             ("blog", "https://blog.example/c", "2026-12-01T08:00:00+00:00")]
    with Store(url) as store:
        for site, link, when in saved:
            store.save(Article(url=link, title=link[-1], text=f"Story {link}. " + "words " * text_size), site=site)
            with store.engine.begin() as conn:
                conn.execute(update(articles).where(articles.c.url == link).values(updated_at=when))
    return url


def exported(tmp_path: Path, *args: str) -> list[dict]:
    result = scraper("export", *args, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    return [json.loads(line) for line in result.stdout.splitlines()]


def test_export_since_a_date_or_a_time_and_every_record_names_its_site(tmp_path):
    db = make_store(tmp_path / "a.db")
    assert [(r["url"][-1], r["site"]) for r in exported(tmp_path, "--db", db, "--since", "2026-11-30")] == [("b", "news"), ("c", "blog")]
    assert [r["url"][-1] for r in exported(tmp_path, "--db", db, "--since", "2026-11-30T12:00:01+00:00")] == ["c"]
    assert [r["url"][-1] for r in exported(tmp_path, "--db", db, "--since", "2026-11-30T13:00:00+01:00")] == ["b", "c"]
    csv_out = scraper("export", "--db", db, "--format", "csv", "--site", "news", cwd=tmp_path).stdout
    import csv
    import io

    rows = list(csv.DictReader(io.StringIO(csv_out)))
    assert [(r["url"][-1], r["site"]) for r in rows] == [("a", "news"), ("b", "news")]


def test_export_file_gets_the_usual_mode_not_a_private_one(tmp_path):
    db = make_store(tmp_path / "a.db")
    result = subprocess.run([str(SCRAPER), "export", "--db", db, "-o", "out/articles.jsonl"], cwd=tmp_path,
                            capture_output=True, text=True, preexec_fn=lambda: os.umask(0o022), timeout=120)
    assert result.returncode == 0, result.stderr
    target = tmp_path / "out" / "articles.jsonl"
    assert oct(target.stat().st_mode & 0o777) == oct(0o644)
    assert len(target.read_text().splitlines()) == 3 and os.listdir(target.parent) == ["articles.jsonl"]


def test_atomic_write_gives_files_the_mode_open_would(tmp_path):
    from scraper.output import atomic_write

    mask = os.umask(0o027)
    os.umask(mask)
    atomic_write(tmp_path / "a.txt", "text")
    assert (tmp_path / "a.txt").stat().st_mode & 0o777 == 0o666 & ~mask


def test_export_to_a_file_writes_as_it_reads(tmp_path, monkeypatch, capsys):
    """The export is not held in memory: the file grows while rows are still being read."""
    import scraper.store
    from scraper import cli

    db = make_store(tmp_path / "a.db", text_size=20_000)  # ~120 KB per article: more than any write buffer
    out = tmp_path / "articles.jsonl"
    written_while_reading: list[int] = []
    to_article = scraper.store._article

    def reading(row):
        written_while_reading.append(sum(p.stat().st_size for p in tmp_path.glob(".articles.jsonl.*")))
        return to_article(row)

    monkeypatch.setattr(scraper.store, "_article", reading)
    monkeypatch.setattr(sys, "argv", ["scraper", "export", "--db", db, "-o", str(out)])
    cli.main()
    assert len(written_while_reading) == 3
    assert 0 < written_while_reading[1] < written_while_reading[2] < out.stat().st_size
