"""--out files: names from untrusted titles and URLs stay inside the folder; writes are atomic."""

from __future__ import annotations

import errno
import os

import pytest
from hypothesis import given, settings, strategies as st

from scraper.article import Article
from scraper.errors import StoreError
from scraper.output import atomic_write, write_article

from .conftest import fuzz_case

NASTY = st.one_of(st.text(max_size=500), st.sampled_from(["../../etc/passwd", "/etc/passwd", "CON", "nul", "..", ".", "\u202eevil", "a\x00b", "x" * 500]))


@settings(max_examples=300, deadline=None)
@given(title=NASTY, path=NASTY, site=NASTY)
def test_paths_stay_inside_out_dir(tmp_path_factory, title, path, site):
    fuzz_case("names")
    out = tmp_path_factory.mktemp("out")
    article = Article(url=f"https://example.com/{path}", title=title, text="Body.")
    txt, js = write_article(article, out, site)
    for p in (txt, js):
        assert p.resolve().is_relative_to(out.resolve())
        assert 0 < len(p.name) <= 100 and p.exists()
        assert p.stem.lower() not in {"con", "nul", ".", ".."} and p.parent.name not in {"", ".", ".."}


def test_same_name_different_article_does_not_overwrite(tmp_path):
    a = Article(url="https://example.com/a", title="Same", text="One.", published="2024-01-01")
    b = Article(url="https://example.com/b", title="Same", text="Two.", published="2024-01-01")
    assert write_article(a, tmp_path)[0] != write_article(b, tmp_path)[0]
    assert write_article(a, tmp_path)[0].read_text() == "One.\n"


def test_failed_write_keeps_old_file(tmp_path, monkeypatch):
    target = tmp_path / "a.txt"
    atomic_write(target, "old")

    def full_disk(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", full_disk)
    with pytest.raises(StoreError, match="No space left"):
        atomic_write(target, "new")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["a.txt"]
