"""Acceptance tests (issue 7): black-box checks against the real CLI, real HTTP and real processes.

The controller's `debugger(...)` helper lives in tests/controller; make it importable when only this
folder is collected.
"""

import sys
from pathlib import Path

_TESTS = Path(__file__).resolve().parents[1]
for _folder in (_TESTS / "controller", _TESTS / "end_to_end"):
    if str(_folder) not in sys.path:
        sys.path.insert(0, str(_folder))
