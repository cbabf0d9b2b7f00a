"""The extraction pool: pages extracted in worker processes, a spinning or crashing page cut off alone."""

from __future__ import annotations

import asyncio
import os

import pytest

from scraper.errors import NotArticleError
from scraper.extract_pool import ExtractionPool
from scraper.page import Response
from scraper.extract import article_from_response

PAGE = b"<html><head><title>Pool</title></head><body><article><p>" + b"A sentence about the pool test. " * 30 + b"</p></article></body></html>"


def response(body: bytes) -> Response:
    return Response("https://example.com/a", "https://example.com/a", 200, {"content-type": "text/html"}, body, "2026-01-01T00:00:00+00:00")


def hostile_extractor(response: Response, **kwargs):
    """The real extractor, except on pages that make it spin forever or kill its process."""
    if response.content == b"SPIN":
        while True:
            pass
    if response.content == b"DIE":
        os._exit(3)
    return article_from_response(response, **kwargs)


def extract_all(pool: ExtractionPool, *bodies: bytes) -> list:
    async def main():
        return await asyncio.gather(*(pool.extract(response(b)) for b in bodies), return_exceptions=True)

    return asyncio.run(main())


def test_pages_are_extracted_in_worker_processes():
    with ExtractionPool(workers=2) as pool:
        first, second = extract_all(pool, PAGE, PAGE.replace(b"Pool", b"Second"))
    assert (first.title, second.title) == ("Pool", "Second")
    assert "A sentence about the pool test." in first.text


@pytest.mark.parametrize(("body", "message"), [(b"SPIN", "took longer than 2 s, cut off"), (b"DIE", "extractor crashed")])
def test_a_spinning_or_crashing_page_fails_alone_and_the_pool_goes_on(body, message):
    with ExtractionPool(workers=1, timeout=2, extract_page=hostile_extractor) as pool:
        before, error, after = extract_all(pool, PAGE, body, PAGE)
    assert isinstance(error, NotArticleError) and message in str(error)
    assert before.title == after.title == "Pool"


def loaded_before_any_page(response: Response, **kwargs) -> list[str]:
    """What a worker holds in memory before it has extracted anything itself."""
    import sys

    return sorted(m for m in ("justext", "trafilatura", "wordfreq") if m in sys.modules)


def test_workers_start_with_what_extraction_needs_already_loaded():
    """Loaded once by the forkserver the workers are forked from, so they share that memory."""
    with ExtractionPool(workers=1, extract_page=loaded_before_any_page) as pool:
        [loaded] = extract_all(pool, PAGE)
    assert loaded == ["justext", "trafilatura", "wordfreq"]


def stop_words_in_worker(response: Response, **kwargs) -> tuple[bool, bool]:
    """Whether jusText takes trafilatura's stop words as they are (no copy), and they are every language's."""
    import justext.core
    import trafilatura.external

    words = trafilatura.external.JT_STOPLIST
    return justext.core.define_stoplist(words) is words, {"the", "und", "dan", "которые"} <= words


def test_workers_share_one_copy_of_every_language_stop_words():
    with ExtractionPool(workers=1, extract_page=stop_words_in_worker) as pool:
        [(not_copied, every_language)] = extract_all(pool, PAGE)
    assert not_copied and every_language
