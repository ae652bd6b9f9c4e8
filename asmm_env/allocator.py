"""Keep freed memory in the process for reuse (glibc only).

Stepping 100,000 paths allocates arrays of ~1 MB every step (observations, infos,
temporaries). glibc returns such blocks to the OS on free and takes them back on the next
allocation, paying a page fault per 4 KB page: measured here, that doubled the cost of a
vector-env step. Raising glibc's mmap and trim thresholds keeps freed blocks in the heap for
reuse. It is process-wide, so the library never does it by itself: a program that owns
its process opts in by calling :func:`retain_freed_memory` (the experiments CLI and the
benchmarks do; an RL or torch host process keeps its own allocator settings). It is skipped
when the environment variable ``ASMM_ENV_KEEP_MALLOC=1`` is set or the C library is not
glibc.
"""

from __future__ import annotations

import ctypes
import logging
import os
import sys

log = logging.getLogger(__name__)
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3
_done = False


def retain_freed_memory(trim_bytes: int = 1 << 30, mmap_bytes: int = 1 << 26) -> bool:
    """Raise glibc's trim threshold to ``trim_bytes`` and mmap threshold to ``mmap_bytes``
    (once per process); returns whether the setting is in force."""
    global _done
    if _done:
        return True
    if os.environ.get("ASMM_ENV_KEEP_MALLOC") == "1" or not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL("libc.so.6")
        ok = (libc.mallopt(_M_TRIM_THRESHOLD, trim_bytes) == 1
              and libc.mallopt(_M_MMAP_THRESHOLD, mmap_bytes) == 1)
    except (OSError, AttributeError):
        return False
    _done = ok
    if ok:
        log.debug("glibc malloc: trim threshold %d, mmap threshold %d", trim_bytes, mmap_bytes)
    return ok
