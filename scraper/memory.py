"""Keep a long run's memory at what it uses: glibc's malloc, left to itself, keeps what pages freed.

glibc serves a large block (a downloaded page, a parsed tree) from its own mapping, returned to the
system when freed, until the first such block is freed: then it raises that threshold to the
block's size and serves the next ones from the heap, whose freed holes it keeps. A process that
handles page after page so grows by tens of MB of free memory. Where the C library is not glibc,
these do nothing.
"""

from __future__ import annotations

import ctypes

_M_MMAP_THRESHOLD = -3  # mallopt parameter (malloc.h)
LARGE_BLOCK = 64 * 1024  # served from its own mapping; the default is 128 KB until glibc raises it


def _glibc() -> ctypes.CDLL | None:
    try:
        libc = ctypes.CDLL(None)  # the C library this process already has
    except OSError:
        return None
    return libc if hasattr(libc, "mallopt") and hasattr(libc, "malloc_trim") else None


_GLIBC = _glibc()


def return_large_blocks() -> None:
    """Large blocks go back to the system when freed, for the rest of this process (and those it forks)."""
    if _GLIBC:
        _GLIBC.mallopt(_M_MMAP_THRESHOLD, LARGE_BLOCK)


def trim() -> None:
    """Give the system the heap's free pages (about 0.2 ms after a page's extraction)."""
    if _GLIBC:
        _GLIBC.malloc_trim(0)
