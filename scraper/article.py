"""The `Article` record that travels through every stage of the pipeline."""

from __future__ import annotations

import hashlib
import re
import unicodedata
from dataclasses import asdict, dataclass, field
from typing import Any

_WORD = re.compile(r"\w+")


@dataclass(frozen=True, slots=True)
class Removal:
    """One line or block the cleaner removed, and why."""

    text: str
    reason: str
    rule: str


@dataclass(slots=True)
class Article:
    url: str
    text: str = ""
    title: str | None = None
    final_url: str | None = None
    canonical_url: str | None = None
    authors: list[str] = field(default_factory=list)
    published: str | None = None  # ISO 8601
    modified: str | None = None
    language: str | None = None
    site_name: str | None = None
    publisher: str | None = None  # the organisation behind the article, never in `authors`
    description: str | None = None
    tags: list[str] = field(default_factory=list)
    image: str | None = None
    fetched_at: str | None = None  # ISO 8601, UTC
    status: int | None = None  # HTTP status of the final response
    removed: list[Removal] = field(default_factory=list)
    sources: dict[str, str] = field(default_factory=dict)  # metadata field -> where its value came from

    @property
    def word_count(self) -> int:
        return len(_WORD.findall(self.text))

    @property
    def content_hash(self) -> str:
        """sha256 of the clean text with whitespace normalised: same article, same hash."""
        normalised = " ".join(self.text.split()).casefold()
        return hashlib.sha256(normalised.encode("utf-8")).hexdigest()

    def to_dict(self, *, explain: bool = False) -> dict[str, Any]:
        data = asdict(self)
        removed, sources = data.pop("removed"), data.pop("sources")
        data["word_count"] = self.word_count
        data["content_hash"] = self.content_hash
        if explain:
            data["removed"] = removed
            data["sources"] = sources
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Article":
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        known["removed"] = [Removal(**r) for r in known.get("removed") or []]
        return cls(**known)


def line_key(line: str) -> str:
    """Normalised hash of a line: the same line on two articles of a site has the same key."""
    norm = " ".join(unicodedata.normalize("NFKC", line).casefold().split())
    return hashlib.blake2b(norm.encode("utf-8"), digest_size=8).hexdigest()
