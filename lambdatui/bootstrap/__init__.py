"""lambdatui's Python runtime: the code that runs inside the function's process.

It speaks the Lambda Runtime API like awslambdaric (handler resolution, error types
and bodies, LambdaContext, log format) and, when LAMBDATUI_PRIVATE_API=1, lambdatui's
private channel (Function-init gate, globals reports, injected handler faults).

It runs in the *user's* interpreter (any CPython 3.9+, maybe a venv without lambdatui),
so every module here uses the standard library only, Python 3.9 syntax, and relative
imports: the package is loaded as `_lambdatui_bootstrap` by `__main__.py` and is also
importable as `lambdatui.bootstrap` for tests.
"""

from __future__ import annotations

TYPE_CHECKING = False  # typing's own flag, without importing typing: ~5 ms of every runtime's start
if TYPE_CHECKING:
    from typing import List, Optional


def main(argv: Optional[List[str]] = None) -> None:
    """Run the runtime loop (see loop.main)."""
    from .loop import main as run

    run(argv)
