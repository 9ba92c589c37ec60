"""The host paths a runtime's command line names, which its processes must still reach inside the sandbox.

Only what names a path: the program as exec finds it (a bare name such as `python3` on PATH, never a file of that
name in lambdatui's working folder), and each absolute path among its arguments that exists (a script of
`--bootstrap "python3 -u /tmp/proj/rt.py"`). A flag (`-u`) or a relative word is no path of the host's: taken for
one, relative to the working folder, it made a folder of the host's /tmp seen in the environment's for nothing, and
from /tmp itself a path that does not exist, which no namespace could keep, so /tmp was not isolated at all.
"""

from __future__ import annotations

import os
import shutil
from typing import Sequence


def command_paths(argv: Sequence[str]) -> list[str]:
    if not argv:
        return []
    program = argv[0]
    found = [program] if "/" in program else [p for p in [shutil.which(program)] if p is not None]
    found += [word for word in argv[1:] if os.path.isabs(word) and os.path.exists(word)]
    return found
