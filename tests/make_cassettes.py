"""Build the replay cassettes in cassettes/ from real pages of the scrapinghub benchmark.

Each cassette holds one GET of an article's original URL answered with the stored page, in
vcrpy's own format, so tests replay a real exchange without a network:

    python tests/make_cassettes.py [--data ../shared/bench/scrapinghub]
"""

from __future__ import annotations

import argparse
import gzip
import json
from pathlib import Path

from vcr.request import Request
from vcr.serialize import serialize
from vcr.serializers import yamlserializer

ROOT = Path(__file__).resolve().parents[1]
# A few real article pages, chosen for clean extraction: (benchmark key prefix, cassette name).
PAGES = {
    "70cb2d5b": "bbc_newsbeat",
    "57d46c9d": "reuters_markets",
    "686bb170": "space_europa",
}


def cassette(url: str, html: bytes) -> str:
    request = Request("GET", url, b"", {"user-agent": ["scraper"]})
    response = {
        "status": {"code": 200, "message": "OK"},
        "headers": {"content-type": ["text/html; charset=utf-8"], "content-length": [str(len(html))]},
        "body": {"string": html.decode("utf-8", "replace")},
    }
    return serialize({"requests": [request], "responses": [response]}, yamlserializer)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "bench" / "scrapinghub")
    args = parser.parse_args()
    truth = json.loads((args.data / "ground-truth.json").read_text())
    out = ROOT / "cassettes"
    out.mkdir(exist_ok=True)
    for prefix, name in PAGES.items():
        key = next(k for k in truth if k.startswith(prefix))
        html = gzip.decompress((args.data / "html" / f"{key}.html.gz").read_bytes())
        (out / f"{name}.yaml").write_text(cassette(truth[key]["url"], html), encoding="utf-8")
        print(f"cassettes/{name}.yaml  {truth[key]['url']}")


if __name__ == "__main__":
    main()
