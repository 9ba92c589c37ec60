"""trio's import without its `ldconfig -p`.

trio names its worker threads with pthread_setname_np, and finds the library that has it when it is imported, with
`ctypes.util.find_library("pthread")`: on Linux that runs `/sbin/ldconfig -p` and reads its whole output, a fork and
an exec in the middle of every start (~10 ms of `lambdatui invoke` on a 2-core machine, on its critical path).
The dynamic loader finds glibc's `libpthread.so.0` by that name without any search (since glibc 2.34 a stub whose
symbols come from libc, which dlsym finds through it). Where there is no such library (musl), trio's own fallback
applies: its CDLL fails and its threads keep their names, exactly as when the search finds nothing.
"""

from __future__ import annotations

import sys
from typing import Optional

LIBPTHREAD = "libpthread.so.0"


def skip_the_library_search() -> None:
    """Answer trio's one question for the pthread library by name; any other, or a later one, searches as usual."""
    if not sys.platform.startswith("linux") or "trio" in sys.modules:
        return
    import ctypes.util

    search = ctypes.util.find_library

    def find_library(name: str) -> Optional[str]:
        ctypes.util.find_library = search  # once: the first caller is trio's import
        return LIBPTHREAD if name == "pthread" else search(name)

    ctypes.util.find_library = find_library
