"""Why a child could not be started, in one line a person can act on (errno alone says too little)."""

from __future__ import annotations

import errno
import os
import shutil
from collections.abc import Mapping, Sequence


def describe_exec_failure(exc: OSError, argv: Sequence[str], cwd: str, env: Mapping[str, str]) -> str:
    argv0 = argv[0]
    reason = exc.strerror or str(exc)
    if exc.filename is not None and os.fsdecode(exc.filename) == cwd and argv0 != cwd:
        return f"cannot use working directory {cwd}: {reason}"
    path: str | None
    if "/" in argv0:
        path = os.path.normpath(os.path.join(cwd, argv0))
    else:
        path = shutil.which(argv0, mode=os.F_OK, path=env.get("PATH", os.defpath))
    shown = path or argv0
    code = exc.errno
    if code == errno.ENOENT:
        if path is not None and os.path.exists(path):
            return f"cannot execute {path}: its interpreter was not found (check the #! line)"
        if "/" not in argv0:
            return f"command not found: {argv0} (searched PATH)"
        return f"no such file: {shown}"
    if code == errno.EACCES:
        if path is not None and os.path.isdir(path):
            return f"permission denied: {path} is a directory"
        if path is not None and os.path.exists(path) and not os.access(path, os.X_OK):
            return f"permission denied: {path} is not executable"
        return f"permission denied: {shown}"
    if code == errno.ENOEXEC:
        return f"exec format error: {shown} is neither a binary nor a script with a #! line"
    if code == errno.ENOTDIR:
        return f"not a directory: a component of {shown} is not a directory"
    return f"cannot execute {shown}: {reason}"
