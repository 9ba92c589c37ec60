"""The command line of a standard-library-only program of ours (the sandbox init, the watchdog).

Run as a script, `python FILE` compiles FILE's source on every start: 2.6 ms for sandbox_init.py, on the way to
every runtime's start. Imported as a module, its bytecode is read from `__pycache__` (written by pip at install,
or by the first start: `-I` ignores PYTHONDONTWRITEBYTECODE). The file's path stays the first argument, so `ps`
still names the program, and its `program(argv)` gets the argv it would get as a script.
"""

from __future__ import annotations

import sys
from pathlib import Path

# Appended, not prepended: our folder's modules must never shadow the standard library's.
_RUN = ("import sys; sys.path.append(sys.argv[1].rpartition('/')[0]); "
        "from {name} import program; program(sys.argv[1:])")


def stdlib_program(script: Path, *args: str) -> list[str]:
    """`python -I -S` (no site, no user paths, no PYTHON* variables) running `script`'s program(argv)."""
    return [sys.executable, "-I", "-S", "-c", _RUN.format(name=script.stem), str(script), *args]
