"""Which Python runs the function when the interpreter chosen is a shim or another script, and which version the
function is told (runtime_choice.python_interpreter, interpreter_probe, launch's AWS_EXECUTION_ENV).

No pyenv needed: the "shims" are shell scripts written here that exec this very interpreter, as pyenv's do after
their search, and decide by what only the user's shell has (a variable, a file where pyenv would look).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from lambdatui import interpreter_probe
from lambdatui.config import FunctionConfig
from lambdatui.host.launch import runtime_environment
from lambdatui.interpreter_probe import version_in_name
from lambdatui.runtime_choice import RuntimeCommand, python_interpreter

HOST_VERSION = sys.version_info[:2]


@pytest.fixture(autouse=True)
def _fresh_answers() -> None:
    interpreter_probe._resolved.clear()  # each test's scripts are its own, even at a path another test used


def script(path: Path, body: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"#!/bin/sh\n{body}\n")
    path.chmod(0o755)
    return path


def test_a_shim_runs_as_the_python_it_starts_in_the_users_shell(tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """The shim decides by a variable of the user's shell (as pyenv by PYENV_VERSION), which the function's own
    environment does not carry: it is asked here, and the function runs what it starts, told its version."""
    shim = script(tmp_path / "bin" / "python3", '[ -n "$CHOSEN_PYTHON" ] || exit 9\nexec "$CHOSEN_PYTHON" "$@"')
    monkeypatch.setenv("CHOSEN_PYTHON", sys.executable)

    chosen = python_interpreter(str(shim))

    assert (chosen.path, chosen.origin, chosen.version) == (sys.executable, "--python", HOST_VERSION)
    assert chosen.via == (f"{shim} is a script, which starts this one, Python {HOST_VERSION[0]}.{HOST_VERSION[1]}, "
                          "in your shell and folder")


def test_a_pyenv_style_shim_looks_in_the_functions_folder_first(tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """pyenv looks for `.python-version` from PYENV_DIR, then from the working folder: the function's folder is
    given as PYENV_DIR, so its own pin is seen, as it was when the shim ran in /var/task."""
    code_dir = tmp_path / "fn"
    (code_dir / "sub").mkdir(parents=True)
    (code_dir / ".chosen").write_text(sys.executable)
    shim = script(tmp_path / "shims" / "python3",  # pyenv's hands over with `pyenv exec`
                  '[ "$1" = "pyenv exec" ] && exit 1\nexec "$(cat "$PYENV_DIR/.chosen")" "$@"')
    monkeypatch.delenv("PYENV_DIR", raising=False)

    chosen = python_interpreter(str(shim), code_dir)

    assert (chosen.path, chosen.version) == (sys.executable, HOST_VERSION)
    assert chosen.via.startswith(f"{shim} is a pyenv shim, which starts this one")


def test_a_shim_that_cannot_answer_runs_as_given_and_says_why(tmp_path: Path) -> None:
    shim = script(tmp_path / "python3.12", 'echo "pyenv: version \\`3.99\' is not installed" >&2\nexit 1')

    chosen = python_interpreter(str(shim))

    assert (chosen.path, chosen.version) == (str(shim), (3, 12))  # its name's version, the best there is
    assert chosen.via == f"{shim} (a script) did not say which Python it starts: pyenv: version `3.99' is not installed"


def test_a_shim_is_asked_once_per_run(tmp_path: Path) -> None:
    counter = tmp_path / "starts"
    shim = script(tmp_path / "python3", f'echo x >> {counter}\nexec "{sys.executable}" "$@"')
    for _ in range(3):  # the debugger's function picker resolves the function again, after the choice
        assert python_interpreter(str(shim)).path == sys.executable
    assert counter.read_text().count("x") == 1


def test_a_virtualenv_or_a_versioned_name_costs_no_start(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`invoke` is benchmarked: the usual interpreters are known from their files, without starting one."""
    def no_start(*args: object, **kwargs: object) -> None:
        raise AssertionError(f"an interpreter was started: {args}")

    monkeypatch.setattr(subprocess, "run", no_start)
    venv = tmp_path / "venv"
    (venv / "bin").mkdir(parents=True)
    (venv / "bin" / "python").symlink_to(sys.executable)
    (venv / "pyvenv.cfg").write_text("home = /somewhere/bin\nversion = 3.10.4\n")
    assert python_interpreter(str(venv / "bin" / "python")).version == (3, 10)  # pyvenv.cfg says so
    versioned = tmp_path / "python3.12"
    versioned.write_bytes(b"\x7fELF")  # a binary (never started here)
    versioned.chmod(0o755)
    assert (python_interpreter(str(versioned)).path, python_interpreter(str(versioned)).version) == (str(versioned),
                                                                                                      (3, 12))
    linked = tmp_path / "python3"  # /usr/bin/python3 -> python3.12, as distributions link it
    linked.symlink_to(versioned)
    assert python_interpreter(str(linked)).version == (3, 12)


@pytest.mark.parametrize(("name", "version"), [("python3.12", (3, 12)), ("python3.13t", (3, 13)),
                                               ("python3.6m", (3, 6)), ("python3", None), ("pypy3.10", None)])
def test_the_version_a_name_gives(tmp_path: Path, name: str, version: object) -> None:
    assert version_in_name(str(tmp_path / name)) == version


def test_the_function_is_told_the_version_learned_not_the_files_name() -> None:
    """A shim's file is `python3`: AWS_Lambda_python3 is no value Lambda sets; the version learned is told."""
    runtime = RuntimeCommand(("/home/me/.pyenv/shims/python3", "/site/lambdatui/bootstrap"), ours=True,
                             description="python:3", python_version=(3, 13))
    config = FunctionConfig(name="fn", code_dir=Path("/home/me/fn"), handler="handler.handler", runtime=runtime)
    env = runtime_environment(config, "127.0.0.1:9001", "stream", None, {"PATH": "/usr/bin"})
    assert env["AWS_EXECUTION_ENV"] == "AWS_Lambda_python3.13"


def test_a_free_threaded_build_is_told_its_version(tmp_path: Path) -> None:
    runtime = RuntimeCommand((str(tmp_path / "python3.13t"), "/site/lambdatui/bootstrap"), ours=True,
                             description="python:3")
    config = FunctionConfig(name="fn", code_dir=tmp_path, handler="handler.handler", runtime=runtime)
    assert runtime_environment(config, "127.0.0.1:9001", "s", None, {})["AWS_EXECUTION_ENV"] == "AWS_Lambda_python3.13"

