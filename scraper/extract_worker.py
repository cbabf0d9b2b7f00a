"""Loaded once by the forkserver that forks the extraction workers (see extract_pool.py).

What every worker needs (modules, stop lists, word lists) is then in memory once, shared by the
workers, instead of once in each: an extraction worker's own memory is only what its pages take.
"""

import gc

from .extract import warm_up

warm_up()
gc.freeze()  # the collector no longer visits what is loaded, so forked workers leave it shared
