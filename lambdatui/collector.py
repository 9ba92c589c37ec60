"""Python's garbage collector held off while lambdatui loads its modules (and the patterns they compile kept).

A start imports ~400 modules and builds ~1,000 classes and their functions: hundreds of thousands of objects,
none of them garbage, which the collector would walk again and again as they pile up (~10 ms of `invoke`'s
~180). What a block of imports made lives as long as lambdatui does, so it is also frozen (`gc.freeze`): no later
collection walks it again, `serve`'s collections between invokes among them.

`loading_now()` tells the method cache (dataclass_cache.py) whether a pattern `re` compiles is a module's, compiled as
it loads, which the cache keeps for the next start; a pattern compiled later (from what the user typed, say) is not.
"""

from __future__ import annotations

import gc
from contextlib import contextmanager
from typing import Iterator


_loading = 0  # blocks of imports running now (the debugger imports its Invoke API on a thread of its own)


@contextmanager
def loading() -> Iterator[None]:
    """Around a block of imports: no collection while it runs, and what it made set aside for good."""
    global _loading
    enabled = gc.isenabled()
    gc.disable()
    _loading += 1
    try:
        yield
    finally:
        _loading -= 1
        gc.freeze()
        if enabled:
            gc.enable()


def loading_now() -> bool:
    return _loading > 0
