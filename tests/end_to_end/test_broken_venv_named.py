"""A project's own virtualenv that cannot run is named in the line saying which interpreter runs the function.

README ("Install and run", "Which interpreter"): with no `--python` and no active virtualenv, "a `.venv` or `venv`
next to the handler or one level up" runs the function, and one line says which interpreter runs it and why. A `.venv`
whose `bin/python` links to an interpreter that is gone (pyenv's version uninstalled, the system's Python upgraded,
a project copied from another machine) was passed over without a word: the function ran in `python3` on PATH, the line
said only "python3 on PATH", and the user's dependencies, which are in that `.venv`, were missing (an
ImportModuleError that did not say why). The choice is unchanged; the line now names that virtualenv and why it
could not run.

Everything lives in `code_dir` (never under /tmp).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from e2e_support import REPO, lambdatui_argv, write_file
from lambdatui.runtime_choice import python_interpreter

GONE = "/usr/bin/python3-that-was-uninstalled"


def broken_venv(folder: Path) -> Path:
    venv = folder / ".venv"
    (venv / "bin").mkdir(parents=True)
    (venv / "bin" / "python").symlink_to(GONE)
    write_file(venv / "pyvenv.cfg", "home = /usr/bin\ninclude-system-site-packages = false\nversion = 3.11.2\n")
    return venv


def test_a_broken_venv_next_to_the_handler_is_named_in_the_interpreter_line(code_dir: Path) -> None:
    venv = broken_venv(code_dir)
    handler = write_file(code_dir / "handler.py", "def handler(event, context):\n    return 1\n")
    env = {k: v for k, v in os.environ.items() if k != "VIRTUAL_ENV"}

    done = subprocess.run([*lambdatui_argv(), "invoke", str(handler)], cwd=REPO, env=env, stdin=subprocess.DEVNULL,
                          capture_output=True, text=True, timeout=30)

    assert (done.returncode, done.stdout) == (0, "1\n"), done.stderr
    python3 = shutil.which("python3", path=env.get("PATH"))
    assert (f"[lambdatui]  The function runs in {python3} (python3 on PATH, because {venv} next to the handler cannot "
            f"run: its bin/python links to {GONE}, which is gone; --python chooses another).") \
        in done.stderr.splitlines(), done.stderr


def test_a_working_venv_one_level_up_runs_and_the_broken_one_beside_the_handler_is_named(
        code_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    beside = broken_venv(code_dir / "fn")
    up = code_dir / "venv"
    (up / "bin").mkdir(parents=True)
    (up / "bin" / "python").symlink_to(sys.executable)
    write_file(up / "pyvenv.cfg", "home = /usr/bin\n")
    monkeypatch.delenv("VIRTUAL_ENV", raising=False)

    chosen = python_interpreter(None, code_dir / "fn")

    assert (chosen.path, chosen.origin) == (
        str(up / "bin" / "python"),
        f"the venv one level up from the handler, because {beside} next to the handler cannot run: its bin/python "
        f"links to {GONE}, which is gone")


def test_a_folder_merely_named_venv_is_not_called_broken(code_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (code_dir / "venv").mkdir()  # no pyvenv.cfg, no bin/python: some project's own folder, no virtualenv
    monkeypatch.delenv("VIRTUAL_ENV", raising=False)
    assert python_interpreter(None, code_dir).origin == "python3 on PATH"
