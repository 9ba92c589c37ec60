"""Python's garbage collector held off while lambdatui loads its modules.

A start imports ~400 modules and builds ~1,000 classes and their functions: hundreds of thousands of objects,
none of them garbage, which the collector would walk again and again as they pile up (~10 ms of `invoke`'s
~180). What a block of imports made lives as long as lambdatui does, so it is also frozen (`gc.freeze`): no later
collection walks it again, `serve`'s collections between invokes among them.
"""

from __future__ import annotations

import gc
from contextlib import contextmanager
from typing import Iterator


@contextmanager
def loading() -> Iterator[None]:
    """Around a block of imports: no collection while it runs, and what it made set aside for good."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()
        if enabled:
            gc.enable()
