"""The peer for bench/crawl.py: trafilatura's own feed/sitemap download path, as its CLI runs it.

Discovery as `trafilatura --feed/--sitemap` does it (`find_feed_urls` and `sitemap_search` per
host, on a thread pool), then its download queue: `load_download_buffer` hands out at most one
URL per host per `sleep_time` (the per-host delay), `buffered_downloads` fetches them on threads,
and each page goes through `trafilatura.extract`. It keeps no state between runs.

    python bench/crawl_peer.py --delay 0.5 --threads 2 http://host-0.localhost:PORT ...

Prints one JSON line: discovered, downloaded, extracted. Host names must be *.localhost
aliases of 127.0.0.1 (courlan refuses bare IP addresses); they are resolved here, never by DNS.
"""

from __future__ import annotations

import argparse
import json
import logging
import socket
from concurrent.futures import ThreadPoolExecutor

_getaddrinfo = socket.getaddrinfo


def _loopback_aliases(host, *args, **kwargs):
    if isinstance(host, str) and host.endswith(".localhost"):
        host = "127.0.0.1"
    return _getaddrinfo(host, *args, **kwargs)


socket.getaddrinfo = _loopback_aliases  # before trafilatura opens any connection

import trafilatura  # noqa: E402
from trafilatura.downloads import add_to_compressed_dict, buffered_downloads, load_download_buffer  # noqa: E402
from trafilatura.feeds import find_feed_urls  # noqa: E402
from trafilatura.settings import Extractor, use_config  # noqa: E402
from trafilatura.sitemaps import sitemap_search  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--delay", type=float, required=True, help="seconds between requests to one host")
    parser.add_argument("--threads", type=int, required=True, help="download threads (trafilatura --parallel)")
    parser.add_argument("bases", nargs="+", help="host base URLs; each serves /feed.xml and /sitemap.xml")
    args = parser.parse_args()
    logging.disable(logging.CRITICAL)  # trafilatura logs every page it finds too short or odd

    config = use_config()
    config.set("DEFAULT", "SSRF_PROTECTION", "off")  # the site is on loopback
    config.set("DEFAULT", "SLEEP_TIME", str(args.delay))
    options = Extractor(config=config)

    def discover(base: str) -> list[str]:
        found = find_feed_urls(base + "/feed.xml", sleep_time=args.delay, config=config)
        return found + sitemap_search(base + "/sitemap.xml", sleep_time=args.delay, config=config)

    with ThreadPoolExecutor(args.threads) as pool:
        urls = [url for found in pool.map(discover, args.bases) for url in found]
    url_store = add_to_compressed_dict(urls)
    discovered = len(set(urls))

    downloaded = extracted = 0
    while not url_store.done:  # trafilatura.cli_utils.download_queue_processing, minus the output
        bufferlist, url_store = load_download_buffer(url_store, args.delay)
        for url, html in buffered_downloads(bufferlist, args.threads, options=options):
            if html:
                downloaded += 1
                extracted += trafilatura.extract(html, url=url, config=config) is not None
    print(json.dumps({"discovered": discovered, "downloaded": downloaded, "extracted": extracted}))


if __name__ == "__main__":
    main()
