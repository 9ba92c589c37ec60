"""A module of the function's own named like a standard-library module: which one its `import` finds depends on what
the runtime imported before the handler (a module already in sys.modules is not looked up on sys.path again).
lambdatui's runtime takes out of sys.modules what it imports and awslambdaric does not (loop._OWN_IMPORTS: signal,
socket, select, selectors, array, mmap), so that `/var/task/signal.py` is what `import signal` finds, as in Lambda.
Compared with awslambdaric 4.0.4 (3.9.18) and 4.2.2 (3.10.13, 3.12.1, 3.13.0) run by `lambdatui invoke` as a custom
runtime (AWS_EXECUTION_ENV=AWS_Lambda_python3.X exported by its bootstrap), each function folder holding one
`NAME.py` with `MINE = True` and a handler returning `getattr(NAME, "MINE", False)`:

* `struct.py`, every version: awslambdaric `true`; lambdatui `false` until session 53 (logs.py imports struct for
  the log frames' headers, and it was not in _OWN_IMPORTS);
* `heapq.py` on 3.9: awslambdaric `true`; lambdatui `false` until session 53 (inspect_state imports collections,
  which on 3.9 imports heapq at once; 3.10+ imports it lazily).

Not pinned here (a judgement call): on 3.12+ awslambdaric polls /next through a ThreadPoolExecutor, whose import
finds a function's own `queue.py` and fails (`Runtime.ExitError`); lambdatui's runtime serves the invoke.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Optional

import pytest

from e2e_support import run_cli, write_file


def find_python(version: str) -> Optional[str]:
    """A real interpreter of that version (pyenv's, not its shim), or None."""
    root = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv"))
    for candidate in sorted(root.glob("versions/%s.*/bin/python%s" % (version, version))):
        try:
            out = subprocess.run([str(candidate), "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
                                 capture_output=True, text=True, timeout=10)
        except OSError:
            continue
        if out.returncode == 0 and out.stdout.strip() == version:
            return str(candidate)
    return None


def python_or_skip(version: str) -> str:
    if version == "%d.%d" % sys.version_info[:2]:
        return sys.executable
    python = find_python(version)
    if python is None:
        pytest.skip(f"no Python {version} interpreter here (pyenv's versions/{version}.*)")
    return python


def invoke_with_own_module(code_dir: Path, version: str, name: str) -> dict:
    python = python_or_skip(version)
    write_file(code_dir / f"{name}.py", "MINE = True\n")
    handler = write_file(
        code_dir / "handler.py",
        f"import {name}\n\n\ndef handler(event, context):\n    return {{'mine': getattr({name}, 'MINE', False)}}\n",
    )
    run = run_cli("invoke", str(handler), "--python", python, "-e", "{}")
    return json.loads(run.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("version", ["3.9", "3.10", "3.12", "3.13"])
def test_the_functions_own_struct_module_is_imported(code_dir: Path, version: str) -> None:
    assert invoke_with_own_module(code_dir, version, "struct") == {"mine": True}


def test_the_functions_own_heapq_module_is_imported_on_39(code_dir: Path) -> None:
    assert invoke_with_own_module(code_dir, "3.9", "heapq") == {"mine": True}
