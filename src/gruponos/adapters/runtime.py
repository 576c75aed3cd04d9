"""Process-wide tuning for the command-line programs (never applied on ``import gruponos``).

A sync moves large, short-lived buffers: a page's body (about 1.5 MB for 1,250 allocations), its
records' JSON text, a batch's COPY text. glibc serves buffers above its mmap threshold from mmap
and returns them to the system when freed, but it raises that threshold to the size of the
largest buffer freed so far; after that the buffers come from the heap arenas of the threads
that made them (a reader thread per id window, the writer thread), where freed memory is kept
for reuse. Fixing the threshold at 128 KiB keeps large buffers on mmap: peak RSS of a 100K
full sync with four reader threads goes from about 160 MB to about 135 MB
(``benchmarks/pipeline_bench.py``), at the cost of a few page faults per buffer.
"""

from __future__ import annotations

import ctypes
import gc
import sys

_M_MMAP_THRESHOLD = -3  # glibc's mallopt parameter number
MMAP_THRESHOLD = 128 * 1024


def tune_allocator() -> bool:
    """Fix glibc's mmap threshold (see the module's docstring); ``False`` where there is no
    glibc (musl, macOS, Windows): nothing is changed there."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    return bool(mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD))


#: Set while :func:`pause_gc` holds the cyclic collector off.
_paused = False


def pause_gc() -> None:
    """Hold the cyclic garbage collector off while a short command starts (imports, settings,
    the container): start-up allocates hundreds of thousands of objects that all stay alive
    (modules, classes, pydantic validators), so the ~150 young and ~12 middle collections it
    triggers find nothing to free and cost about a tenth of a small run's CPU. Undone by
    :func:`resume_gc`, which the command calls as soon as its run starts."""
    global _paused  # noqa: PLW0603 - one flag for the process
    if gc.isenabled():
        gc.disable()
        _paused = True


def resume_gc() -> None:
    """End :func:`pause_gc`: move every object alive now (what start-up made, kept for the
    whole process) to the collector's permanent generation, so that later full collections
    never walk it again, and turn the collector back on. A no-op unless paused."""
    global _paused  # noqa: PLW0603 - one flag for the process
    if _paused:
        _paused = False
        gc.freeze()
        gc.enable()
