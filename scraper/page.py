"""A downloaded page: what the fetch stage hands to the extract stage, and its decoding to text.

Kept apart from fetch.py so that extraction processes, which receive pages, load no HTTP client.
"""

from __future__ import annotations

import codecs
import re
from dataclasses import dataclass
from functools import cached_property

_HTML_TYPES = frozenset({"text/html", "application/xhtml+xml"})


@dataclass(frozen=True)
class Response:
    url: str  # as requested
    final_url: str  # after redirects
    status: int
    headers: dict[str, str]  # names in lowercase
    content: bytes
    fetched_at: str  # ISO 8601, UTC

    @property
    def content_type(self) -> str:
        """The lowercase mime type without parameters; '' when the server sent none."""
        return self.headers.get("content-type", "").split(";", 1)[0].strip().lower()

    @cached_property
    def text(self) -> str:
        return decode_html(self.content, self.headers.get("content-type"))

    @property
    def is_html(self) -> bool:
        return self.not_html_because is None

    @property
    def not_html_because(self) -> str | None:
        """Why this is no HTML page, for messages ('application/pdf', 'looks like a PDF document, served
        as text/html'); None for a page. Servers call PDFs and images text/html: the first bytes tell."""
        if self.content_type and self.content_type not in _HTML_TYPES:
            return self.content_type
        served = f"served as {self.content_type}" if self.content_type else "no content type"
        binary = looks_binary(self.content)
        if binary:
            return f"looks like {binary}, {served}"
        if not self.content_type and not _head(self.content).lower().startswith((b"<!doctype html", b"<html")):
            return served
        return None


# --- Sniffing ---------------------------------------------------------------------------------

# Magic numbers at the start of formats that are no web page.
_SIGNATURES = [
    (re.compile(magic, re.S), kind)
    for magic, kind in (
        (rb"%PDF-", "a PDF document"),
        (rb"\x89PNG\r\n\x1a\n", "a PNG image"),
        (rb"GIF8[79]a", "a GIF image"),
        (rb"\xff\xd8\xff", "a JPEG image"),
        (rb"PK\x03\x04", "a ZIP archive"),  # and what is one inside: Office documents, EPUB
        (rb"\x1f\x8b", "gzip data"),
        (rb"RIFF", "RIFF media"),  # WebP, WAV, AVI
        (rb"....ftyp", "ISO media"),  # MP4, MOV, HEIC, AVIF
        (rb"OggS", "Ogg media"),
        (rb"ID3", "an MP3 file"),
    )
]


def looks_binary(content: bytes) -> str | None:
    """What `content` looks like ('a PDF document') when its first bytes say it is no text; None for text."""
    head = _head(content)
    for signature, kind in _SIGNATURES:
        if signature.match(head):
            return kind
    if b"\0" in head and not head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "binary data"  # text has no NUL bytes, except UTF-16, which we read only after its BOM
    return None


def _head(content: bytes) -> bytes:
    return content[:1024].lstrip(b"\xef\xbb\xbf \t\r\n")  # a UTF-8 BOM and white space do not count


# --- Decoding -----------------------------------------------------------------------------------

_BOMS = ((codecs.BOM_UTF8, "utf-8"), (codecs.BOM_UTF16_LE, "utf-16-le"), (codecs.BOM_UTF16_BE, "utf-16-be"))
_HEADER_CHARSET = re.compile(r"""charset\s*=\s*["']?\s*([\w.:-]+)""", re.I)
# Both <meta charset="x"> and <meta http-equiv="Content-Type" content="text/html; charset=x">.
_META_CHARSET = re.compile(r"""<meta\s[^>]*?charset\s*=\s*["']?\s*([\w.:-]+)""", re.I)
_META_SCAN_BYTES = 4096
# Labels browsers decode with a superset (WHATWG Encoding); pages written for browsers rely on it.
_SUPERSETS = {
    "ascii": "cp1252",
    "iso8859-1": "cp1252",
    "iso8859-9": "cp1254",
    "iso8859-11": "cp874",
    "tis-620": "cp874",
    "gb2312": "gb18030",
    "gbk": "gb18030",
    "shift_jis": "cp932",
    "euc_kr": "cp949",
    "big5": "big5hkscs",
}


def decode_html(content: bytes, content_type_header: str | None = None) -> str:
    """Decode an HTML page the way browsers do; never raises.

    A byte order mark wins. Then the charset of the Content-Type header, then a <meta> charset in
    the first 4 KB; one that is unknown or does not decode the bytes cleanly falls through to the
    next. A single-byte charset (latin-1, windows-1251) over bytes that are valid UTF-8 with some
    non-ASCII is read as UTF-8: multi-byte UTF-8 sequences do not happen by chance in such a text,
    mislabelled pages do (browsers show them garbled). If charsets were declared but none decodes
    cleanly, the first is used with replacement characters (a few stray bytes must not turn the
    page into a wrong guess). Only when nothing usable is declared does charset-normalizer guess;
    no guess: UTF-8 with replacement characters.
    """
    for bom, codec in _BOMS:
        if content.startswith(bom):
            return content[len(bom):].decode(codec, "replace")
    header = _codec(_first_group(_HEADER_CHARSET, content_type_header or ""))
    meta = _codec(_first_group(_META_CHARSET, content[:_META_SCAN_BYTES].decode("latin-1")))
    if meta and meta.startswith(("utf-16", "utf-32")):
        meta = "utf-8"  # a tag we could read as ASCII is not UTF-16 (WHATWG)
    declared = [codec for codec in (header, meta) if codec]
    for codec in declared:
        if _single_byte(codec) and (text := _utf8_beyond_ascii(content)) is not None:
            return text
        try:
            return content.decode(codec)
        except UnicodeDecodeError:
            continue
    if declared:  # like browsers, trust a declaration over a guess: stray bytes become U+FFFD
        return content.decode(declared[0], "replace")
    return _detect(content) or content.decode("utf-8", "replace")


def _detect(content: bytes) -> str | None:
    import charset_normalizer  # only for pages that declare no charset; the run's own process rarely needs it

    matches = charset_normalizer.from_bytes(content)
    best = matches.best()
    if best is None:
        return None
    # Western text often fits windows-1250, -1252 and -1257 equally well; browsers then pick 1252, so do we.
    for match in matches:
        if match.encoding == "cp1252" and (match.chaos, match.coherence) == (best.chaos, best.coherence):
            return str(match)
    return str(best)


def _single_byte(codec: str) -> bool:
    """Whether `codec` takes the bytes 0x80-0xFF one by one, as latin-1, windows-1251 or koi8-r do
    (7-bit ones like ISO-2022-JP too: they refuse each); CJK codecs and UTF-16 pair some of them up."""
    return codec != "utf-8" and len(_HIGH_BYTES.decode(codec, "replace")) == len(_HIGH_BYTES)


_HIGH_BYTES = bytes(range(0x80, 0x100))


def _utf8_beyond_ascii(content: bytes) -> str | None:
    """The text, when `content` is valid UTF-8 with some non-ASCII; else None."""
    if content.isascii():  # reads the same in any ASCII-based charset, and 7-bit ones are ASCII too
        return None
    try:
        return content.decode("utf-8")
    except UnicodeDecodeError:
        return None


def _first_group(pattern: re.Pattern[str], text: str) -> str | None:
    match = pattern.search(text)
    return match.group(1) if match else None


def _codec(label: str | None) -> str | None:
    """Python's codec for a declared charset label, or None if there is no such text encoding."""
    if not label:
        return None
    try:
        info = codecs.lookup(label)
    except LookupError:
        return None
    if not info._is_text_encoding:  # base64, zlib, rot13: lookup() knows them, bytes.decode() refuses them
        return None
    return _SUPERSETS.get(info.name, info.name)
