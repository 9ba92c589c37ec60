"""trio names its threads through libpthread, which it looks up as it is imported, with
`ctypes.util.find_library("pthread")`: on Linux that runs `ldconfig -p` in a child process (a fork, an exec and a
read of its listing: ~2 ms of every start of lambdatui, `invoke`'s among them). glibc's libpthread has a fixed soname,
which is what that lookup answers; where it loads under that name, the answer is given without the child. Anywhere
else (musl, another libc) and for any other library, the lookup runs as before.
"""

from __future__ import annotations

import ctypes
import ctypes.util
from typing import Callable, Optional

PTHREAD = "pthread"
PTHREAD_SONAME = "libpthread.so.0"  # glibc's, on every architecture it runs on

_Lookup = Callable[[str], Optional[str]]


def quick_lookup(original: _Lookup) -> _Lookup:
    """`original` (ctypes.util.find_library), answering "pthread" by loading glibc's soname where it can."""

    def find_library(name: str) -> Optional[str]:
        if name == PTHREAD:
            try:
                ctypes.CDLL(PTHREAD_SONAME)
            except OSError:
                pass
            else:
                return PTHREAD_SONAME
        return original(name)

    find_library.quick = True  # type: ignore[attr-defined]
    return find_library


def install() -> None:
    """For this process (lambdatui's own, never the function's): before trio is imported."""
    if not getattr(ctypes.util.find_library, "quick", False):
        ctypes.util.find_library = quick_lookup(ctypes.util.find_library)
