"""Our standard-library programs (sandbox init, watchdog) start from their bytecode, with the argv a script gets."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from lambdatui.processes.stdlib_program import stdlib_program

PROGRAM = """
import json

def program(argv):
    print(json.dumps({"argv": argv, "json": json.__file__}))
    raise SystemExit(3)
"""


def _run(script: Path, *args: str) -> tuple[int, dict]:
    import json

    done = subprocess.run(stdlib_program(script, *args), capture_output=True, text=True, timeout=30, cwd="/")
    assert done.stderr == "", done.stderr
    return done.returncode, json.loads(done.stdout)


def test_a_program_gets_the_argv_a_script_gets_and_its_exit_code(tmp_path: Path) -> None:
    script = tmp_path / "prog.py"
    script.write_text(PROGRAM)
    code, seen = _run(script, "8", "11")
    assert code == 3
    assert seen["argv"] == [str(script), "8", "11"]


def test_its_bytecode_is_kept_and_its_folder_shadows_no_standard_module(tmp_path: Path) -> None:
    script = tmp_path / "prog.py"
    script.write_text(PROGRAM)
    (tmp_path / "json.py").write_text("raise SystemExit('the folder shadowed the standard library')\n")
    _run(script)
    _, seen = _run(script)
    assert Path(seen["json"]).parent != tmp_path
    cached = list((tmp_path / "__pycache__").glob(f"prog.{sys.implementation.cache_tag}.pyc"))
    assert cached, "the program was compiled as a script, on every start"


def test_the_sandbox_init_and_the_watchdog_are_named_by_their_files_on_the_command_line() -> None:
    from lambdatui.processes import init_keeper, watchdog_link

    for script in (init_keeper._INIT_SCRIPT, watchdog_link._WATCHDOG_SCRIPT):
        argv = stdlib_program(script)
        assert argv[:3] == [sys.executable, "-I", "-S"] and str(script) in argv
        assert script.is_file()


def test_the_sandbox_init_and_the_watchdog_import_neither_enum_nor_selectors() -> None:
    """`signal` and `socket` import enum and selectors: ~40 % of the init's start, on every environment's way up."""
    from lambdatui.processes import init_keeper, watchdog_link

    for script in (init_keeper._INIT_SCRIPT, watchdog_link._WATCHDOG_SCRIPT):
        probe = (f"import sys; sys.path.append({str(script.parent)!r}); import {script.stem}; "
                 "print(sorted({'enum', 'selectors', 'socket', 'signal'} & set(sys.modules)))")
        done = subprocess.run([sys.executable, "-I", "-S", "-c", probe], capture_output=True, text=True, timeout=30)
        assert done.returncode == 0, done.stderr
        assert done.stdout.strip() == "[]", (script.name, done.stdout)
