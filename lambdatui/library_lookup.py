"""trio names its threads through libpthread, which it looks up as it is imported, with
`ctypes.util.find_library("pthread")`: on Linux that runs `ldconfig -p` in a child process (a fork, an exec and a
read of its listing: ~2 ms of every start of lambdatui, `invoke`'s among them). glibc's libpthread has a fixed soname,
which is what that lookup answers; where it loads under that name, the answer is given without the child. Anywhere
else (musl, another libc) and for any other library, the lookup runs as before.

`ctypes.util` itself imports `tempfile` for lookups lambdatui never makes: until something
asks it for anything but libpthread, it is a stand-in (deferred_imports.py) whose `find_library` is this one.
"""

from __future__ import annotations

import ctypes
import sys
from typing import Any, Callable, Optional

from lambdatui.deferred_imports import DeferredModule, stand_in

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
    util: Any = sys.modules.get(_UTIL) or stand_in(_UTIL)
    if util is None:  # the stand-in cannot be made here: the module itself, as it is
        import importlib

        util = importlib.import_module(_UTIL)
    if not getattr(util.__dict__.get("find_library"), "quick", False):
        util.find_library = quick_lookup(_real_lookup if util.__dict__.get("find_library") is None
                                         else util.find_library)
    setattr(ctypes, "util", util)  # `import ctypes.util` reads it there (it is in sys.modules)


_UTIL = "ctypes.util"


def _real_lookup(name: str) -> Optional[str]:
    """ctypes.util's own lookup, imported now (the stand-in goes), which then answers libpthread quickly too."""
    import importlib

    util = sys.modules.get(_UTIL)
    real = util._real() if isinstance(util, DeferredModule) else importlib.import_module(_UTIL)
    if not getattr(real.find_library, "quick", False):
        original = real.find_library
        real.find_library = quick_lookup(original)
        return original(name)
    return real.find_library(name)
