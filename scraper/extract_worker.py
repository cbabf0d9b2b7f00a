"""Loaded once by the forkserver that forks the extraction workers (see extract_pool.py).

What every worker needs (modules, stop lists, word lists) is then in memory once, shared by the
workers, instead of once in each: an extraction worker's own memory is only what its pages take.
"""

import gc
import signal
import sys

# Ctrl-C signals the run's whole process group. The run stops its workers itself; the forkserver
# ignores SIGINT too, but only from when this warm-up is over, and dying in it breaks the pool.
signal.signal(signal.SIGINT, signal.SIG_IGN)

from . import memory  # noqa: E402 (after the signal: the imports take most of the warm-up)
from .extract import warm_up  # noqa: E402

memory.return_large_blocks()  # before anything is loaded: the workers inherit it

try:
    warm_up()
except Exception as exc:  # e.g. a trafilatura release that moved its stop lists: workers load what they need themselves
    print(f"scraper: extraction warm-up failed, workers will not share memory ({type(exc).__name__}: {exc})", file=sys.stderr)
gc.freeze()  # the collector no longer visits what is loaded, so forked workers leave it shared
memory.trim()  # what the warm-up freed is not handed down to the workers
