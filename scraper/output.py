"""Writing articles as files for `--out DIR`: safe names, atomic writes."""

from __future__ import annotations

import json
import os
import re
import tempfile
import unicodedata
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TextIO
from urllib.parse import urlsplit

from .article import Article
from .errors import StoreError

MAX_NAME = 80
_RESERVED = {"con", "prn", "aux", "nul", *(f"com{i}" for i in range(1, 10)), *(f"lpt{i}" for i in range(1, 10))}


def safe_name(text: str, fallback: str) -> str:
    """A file-name component from untrusted text: ASCII letters, digits and dashes only."""
    ascii_text = unicodedata.normalize("NFKD", unicodedata.normalize("NFKC", text)).encode("ascii", "ignore").decode()
    name = re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")[:MAX_NAME].strip("-")
    if not name or name in _RESERVED:
        name = f"{fallback}-{name}" if name else fallback
    return name


def article_paths(article: Article, out_dir: Path, site: str | None = None) -> tuple[Path, Path]:
    site_dir = safe_name(site or (urlsplit(article.url).hostname or "").removeprefix("www."), "site")
    date = (article.published or article.fetched_at or "")[:10]
    date = date if re.fullmatch(r"\d{4}-\d{2}-\d{2}", date) else "undated"
    last_segment = urlsplit(article.url).path.rstrip("/").rsplit("/", 1)[-1]
    slug = safe_name(article.title or last_segment, article.content_hash[:12])
    name = f"{date}-{slug}"
    txt = out_dir / site_dir / f"{name}.txt"
    if txt.exists() and not _holds(txt, article.text + "\n"):
        name = f"{name}-{article.content_hash[:8]}"  # a different article under the same name
    txt, js = out_dir / site_dir / f"{name}.txt", out_dir / site_dir / f"{name}.json"
    root = out_dir.resolve()
    if not (txt.resolve().is_relative_to(root) and js.resolve().is_relative_to(root)):  # a symlinked site folder
        raise StoreError(f"refusing to write outside {out_dir}: {txt}")
    return txt, js


def _holds(path: Path, text: str) -> bool:
    try:
        return path.read_bytes() == text.encode("utf-8")
    except OSError:  # a folder of that name, or unreadable: not this article
        return False


def write_article(article: Article, out_dir: Path, site: str | None = None, *, explain: bool = False) -> tuple[Path, Path]:
    txt, js = article_paths(article, out_dir, site)
    atomic_write(txt, article.text + "\n")
    atomic_write(js, json.dumps(article.to_dict(explain=explain), ensure_ascii=False, indent=2) + "\n")
    return txt, js


def atomic_write(path: Path, data: str) -> None:
    with atomic_file(path) as handle:
        handle.write(data)


@contextmanager
def atomic_file(path: Path) -> Iterator[TextIO]:
    """A text file that replaces `path` when the block ends: temp file in the same folder, fsync,
    rename. Readers see the old file or the new, never half; an error leaves the old one."""
    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        os.fchmod(fd, _FILE_MODE)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        raise StoreError(f"cannot write {path}: {exc.strerror or exc}") from None
    finally:
        if tmp and os.path.exists(tmp):  # not renamed: the write failed
            os.unlink(tmp)


def _umask() -> int:
    mask = os.umask(0)  # the only way to read it is to set it
    os.umask(mask)
    return mask


# Our files get the mode open() gives (0644 under the usual umask), not mkstemp's private 0600. The
# umask is read once, at import: reading it sets it, which would race with threads creating files.
_FILE_MODE = 0o666 & ~_umask()
