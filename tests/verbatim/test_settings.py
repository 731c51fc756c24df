"""Process settings: the malloc arena cap that keeps the server's memory flat under load."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

# Eight threads, alive at once, each allocate (bytes beyond pymalloc's small-object limit go to
# glibc malloc), then glibc reports its heaps: one `<heap nr=...>` per arena.
COUNT_ARENAS = textwrap.dedent(
    """
    import ctypes, sys, tempfile, threading
    sys.path.insert(0, {repo!r})
    from verbatim.settings import limit_malloc_arenas
    if {cap}:
        assert limit_malloc_arenas()
    keep = []
    together = threading.Barrier(8)
    def allocate():
        together.wait()  # all alive at once, so no thread inherits an arena another one freed
        keep.append([bytes(4096) for _ in range(200)])
        together.wait()
    threads = [threading.Thread(target=allocate) for _ in range(8)]
    for thread in threads: thread.start()
    for thread in threads: thread.join()
    libc = ctypes.CDLL("libc.so.6")
    libc.fopen.restype = ctypes.c_void_p
    path = tempfile.mktemp()
    handle = libc.fopen(path.encode(), b"w")
    libc.malloc_info(0, ctypes.c_void_p(handle))
    libc.fclose(ctypes.c_void_p(handle))
    print(open(path).read().count("<heap nr="))
    """
)


def _arenas(cap: bool) -> int:
    script = COUNT_ARENAS.format(repo=str(REPO), cap=cap)
    return int(subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True).stdout)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc only")
def test_the_arena_cap_bounds_the_heaps_threads_create():
    assert _arenas(cap=False) > 2  # without the cap, the threads spread over more arenas
    assert _arenas(cap=True) <= 2
