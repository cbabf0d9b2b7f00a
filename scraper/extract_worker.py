"""Loaded once by the forkserver that forks the extraction workers (see extract_pool.py).

What every worker needs (modules, stop lists, word lists) is then in memory once, shared by the
workers, instead of once in each: an extraction worker's own memory is only what its pages take.
"""

import gc
import sys

from . import memory
from .extract import warm_up

memory.return_large_blocks()  # before anything is loaded: the workers inherit it

try:
    warm_up()
except Exception as exc:  # e.g. a trafilatura release that moved its stop lists: workers load what they need themselves
    print(f"scraper: extraction warm-up failed, workers will not share memory ({type(exc).__name__}: {exc})", file=sys.stderr)
gc.freeze()  # the collector no longer visits what is loaded, so forked workers leave it shared
memory.trim()  # what the warm-up freed is not handed down to the workers
