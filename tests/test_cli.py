"""The `scraper` command end to end: real pages replayed from cassettes, failures on 127.0.0.1."""

from __future__ import annotations

import io
import json
import sys

import pytest
import vcr

from scraper import cli

from .conftest import ROOT, seed_pairs

CASSETTES = ROOT / "cassettes"
BBC = "https://www.bbc.com/news/newsbeat-50470672"


def run(capsys, *args: str) -> tuple[int, str, str]:
    """Run the CLI in-process (so cassettes apply) and return (exit code, stdout, stderr)."""
    old = sys.argv
    sys.argv = ["scraper", *args]
    try:
        cli.main()
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    finally:
        sys.argv = old
    out, err = capsys.readouterr()
    return code, out, err


def replay(name: str):
    return vcr.use_cassette(str(CASSETTES / f"{name}.yaml"), record_mode="none")


def test_fetch_prints_clean_text_from_a_real_page(capsys):
    with replay("bbc_newsbeat"):
        code, out, err = run(capsys, "fetch", BBC)
    assert code == 0, err
    lines = out.splitlines()
    assert len(lines) > 5 and "Taylor Swift" in out
    assert not lines[0].startswith("Taylor Swift is allowed to play her music at the AMAs")  # title not repeated


def test_fetch_json_has_every_field(capsys):
    with replay("reuters_markets"):
        code, out, err = run(capsys, "fetch", "https://www.reuters.com/article/us-global-markets/asian-shares-soft-as-trade-doubts-creep-back-in-idUSKBN1XT00W", "--json", "--explain")
    assert code == 0, err
    data = json.loads(out)
    fields = {"url", "final_url", "canonical_url", "title", "authors", "published", "modified", "language", "site_name",
              "description", "tags", "image", "text", "word_count", "fetched_at", "status", "content_hash", "removed"}
    assert fields <= data.keys()
    assert data["status"] == 200 and data["word_count"] > 100 and data["title"]
    assert isinstance(data["authors"], list) and isinstance(data["removed"], list)
    assert data["published"] is None or data["published"][:4].isdigit()


def test_fetch_save_out_and_export(capsys, tmp_path):
    db = f"sqlite:///{tmp_path / 'a.db'}"
    with replay("space_europa"):
        code, _, err = run(capsys, "fetch", "https://www.space.com/jupiter-moon-europa-water-vapor-confirmed.html", "--save", "--db", db, "--out", str(tmp_path / "out"))
    assert code == 0, err
    written = sorted(p.name for p in (tmp_path / "out").rglob("*") if p.is_file())
    assert len(written) == 2 and written[0].endswith(".json") and written[1].endswith(".txt")
    code, out, _ = run(capsys, "export", "--format", "jsonl", "--db", db)
    rows = [json.loads(line) for line in out.splitlines()]
    assert code == 0 and len(rows) == 1 and "Europa" in rows[0]["text"]


@pytest.mark.parametrize("raw, expected", seed_pairs(), ids=lambda p: p.name)
def test_clean_prints_seed_expected_text(capsys, raw, expected):
    code, out, _ = run(capsys, "clean", str(raw))
    assert code == 0
    assert out == expected.read_text(encoding="utf-8")


def test_clean_explain_reports_removals(capsys):
    raw = next(r for r, _ in seed_pairs() if "thestar" in r.name)
    code, _, err = run(capsys, "clean", str(raw), "--explain")
    assert code == 0
    assert "[stop-heading] " in err and "[prompt.follow] " in err and "tags: Vietnam, EU" in err


def test_clean_reads_html_from_stdin(capsys, monkeypatch):
    page = "<html><head><title>Plain</title></head><body><article><p>" + "Words of the story go here. " * 20 + "</p></article></body></html>"
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(page.encode())))
    code, out, err = run(capsys, "clean", "-", "--url", "https://example.com/a")
    assert code == 0, err
    assert out.startswith("Words of the story go here.")


def test_errors_are_one_line_with_documented_codes(capsys, httpserver, tmp_path):
    httpserver.expect_request("/missing").respond_with_data("no", status=404)
    httpserver.expect_request("/paper.pdf").respond_with_data(b"%PDF-1.7", content_type="application/pdf")
    cases = [
        (("fetch", httpserver.url_for("/missing")), 3),
        (("fetch", httpserver.url_for("/paper.pdf")), 4),
        (("fetch", "not a url"), 2),
        (("clean", str(tmp_path / "absent.html")), 2),
        (("export", "--format", "xml", "--db", f"sqlite:///{tmp_path / 'x.db'}"), 2),
        (("fetch", "https://example.com/", "--config", str(tmp_path / "missing.toml")), 2),
    ]
    for args, expected in cases:
        code, _, err = run(capsys, *args)
        assert code == expected, (args, err)
        assert err.startswith("scraper: error:") and err.count("\n") == 1 and "Traceback" not in err, err


def test_scraper_db_beats_the_config_and_db_beats_both(capsys, tmp_path, monkeypatch):
    cfg = tmp_path / "sites.toml"
    cfg.write_text(f'[settings]\ndb = "sqlite:///{tmp_path / "config.db"}"\n')
    monkeypatch.setenv("SCRAPER_DB", f"sqlite:///{tmp_path / 'env.db'}")
    assert run(capsys, "export", "--config", str(cfg))[0] == 0
    assert run(capsys, "export", "--config", str(cfg), "--db", f"sqlite:///{tmp_path / 'flag.db'}")[0] == 0
    assert sorted(p.name for p in tmp_path.glob("*.db")) == ["env.db", "flag.db"]
