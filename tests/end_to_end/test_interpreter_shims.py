"""`python3` on PATH or `--python` as a shim (pyenv's, asdf's, any script that finds the real interpreter): the
function runs the Python the shim starts in the user's shell, is told its version, and the start-up line names both
(README "Install and run"; lambda-spec §5 AWS_EXECUTION_ENV; a template's Runtime against that version).

The first tests need no pyenv: their shim is a shell script that execs this interpreter, deciding by a variable only
the user's shell has (as pyenv decides by PYENV_VERSION, which the function's environment drops). The last uses
pyenv's own shim, and skips where pyenv or two of its Pythons are missing (CI machines often have neither).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Optional

import pytest

from e2e_support import CLI_TIMEOUT, sam_template, lambdatui_argv, write_file

HOST = f"{sys.version_info[0]}.{sys.version_info[1]}"
HANDLER = '''import os, platform, sys

def handler(event, context):
    return {"py": platform.python_version(), "exec_env": os.environ.get("AWS_EXECUTION_ENV"),
            "executable": sys.executable}
'''
PYENV_ROOT = Path(os.environ.get("PYENV_ROOT") or Path.home() / ".pyenv")


def invoke(*args: str, env: dict, cwd: Path) -> tuple[subprocess.CompletedProcess[str], Optional[dict]]:
    proc = subprocess.run([*lambdatui_argv(), "invoke", *args, "-e", "{}"], cwd=cwd, env=env,
                          stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=CLI_TIMEOUT)
    lines = [line for line in proc.stdout.splitlines() if line.strip()]
    return proc, (json.loads(lines[0]) if lines else None)


def shells_env(path_first: Path, **extra: str) -> dict:
    """The user's shell, without a virtualenv active: `path_first` first on PATH."""
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYENV_VERSION", "PYENV_DIR")}
    env["PATH"] = os.pathsep.join([str(path_first), "/usr/local/bin", "/usr/bin", "/bin"])
    return {**env, **extra}


def test_python3_on_path_as_a_shim_runs_what_it_starts_in_the_users_shell(code_dir: Path) -> None:
    """The shim starts this interpreter only where the shell's choice is set: in the function's environment (its
    variables filtered) it would fail, and before, the function did not start at all."""
    write_file(code_dir / "fn" / "handler.py", HANDLER)
    shim = write_file(code_dir / "shims" / "python3", '#!/bin/sh\n[ -n "$SHELLS_PYTHON" ] || exit 9\n'
                      'exec "$SHELLS_PYTHON" "$@"\n', executable=True)
    env = shells_env(shim.parent, SHELLS_PYTHON=sys.executable)

    proc, result = invoke(str(code_dir / "fn" / "handler.py"), env=env, cwd=code_dir)

    assert proc.returncode == 0, proc.stderr
    assert result == {"py": sys.version.split()[0], "exec_env": f"AWS_Lambda_python{HOST}",
                      "executable": sys.executable}, result
    assert (f"The function runs in {sys.executable} (python3 on PATH; {shim} is a script, which starts this one, "
            f"Python {HOST}, in your shell and folder; --python chooses another).") in proc.stderr, proc.stderr
    assert "is a script that looks for the interpreter" not in proc.stderr  # its search no longer runs at each start


def test_a_templates_runtime_other_than_the_shims_python_is_named(code_dir: Path) -> None:
    """README (SAM templates): a `Runtime: python3.X` that `--python`'s version is not is said in one line; a shim's
    version was unknown, so nothing was said."""
    declared = "3.12" if HOST != "3.12" else "3.13"
    write_file(code_dir / "app.py", HANDLER)
    write_file(code_dir / "template.yaml", sam_template(f"python{declared}"))
    shim = write_file(code_dir / "bin" / "python3", f'#!/bin/sh\nexec "{sys.executable}" "$@"\n', executable=True)

    proc, result = invoke(str(code_dir / "template.yaml"), "--python", str(shim), env=shells_env(code_dir / "bin"),
                          cwd=code_dir)

    assert proc.returncode == 0, proc.stderr
    assert result is not None and result["exec_env"] == f"AWS_Lambda_python{HOST}", result
    assert f"Runtime python{declared}, but the function runs in Python {HOST} ({sys.executable}, --python; " \
        in proc.stderr, proc.stderr


def pyenv_versions() -> list[str]:
    """pyenv's installed 3.9+ Pythons (3.X.Y), oldest first."""
    found = []
    for python in (PYENV_ROOT / "versions").glob("3.*/bin/python3"):
        parts = python.parents[1].name.split(".")
        if len(parts) == 3 and all(p.isdigit() for p in parts) and int(parts[1]) >= 9:
            found.append((int(parts[1]), int(parts[2]), python.parents[1].name))
    return [name for *_, name in sorted(found)]


def test_pyenv_local_version_where_the_user_works_is_the_functions(code_dir: Path) -> None:
    """`pyenv local 3.X` in the folder the user works in (the code elsewhere): `python3` there is 3.X, and so is
    the function's Python; in /var/task the shim found no `.python-version` and ran pyenv's global version."""
    shim = PYENV_ROOT / "shims" / "python3"
    if not os.access(shim, os.X_OK):
        pytest.skip(f"no pyenv shim at {shim} (CI machines may lack pyenv)")
    work = code_dir / "work"
    work.mkdir()
    env = shells_env(shim.parent)
    asked = subprocess.run([str(shim), "-c", "import platform; print(platform.python_version())"], cwd=work,
                           env=env, capture_output=True, text=True, timeout=30)
    if asked.returncode != 0:
        pytest.skip(f"pyenv's shim runs no Python here ({asked.stderr.strip()})")
    default = asked.stdout.strip()
    chosen = next((v for v in pyenv_versions() if v != default), None)
    if chosen is None:
        pytest.skip(f"needs a pyenv Python 3.9+ other than the global {default} (CI machines may lack pyenv)")
    write_file(work / ".python-version", chosen + "\n")
    write_file(code_dir / "fn" / "handler.py", HANDLER)

    proc, result = invoke(str(code_dir / "fn" / "handler.py"), env=env, cwd=work)

    assert proc.returncode == 0, proc.stderr
    minor = chosen.split(".")[1]
    assert result is not None and (result["py"], result["exec_env"]) == (chosen, f"AWS_Lambda_python3.{minor}"), \
        (result, proc.stderr)
    assert f"(python3 on PATH; {shim} is a pyenv shim, which starts this one, Python 3.{minor}," in proc.stderr, \
        proc.stderr
