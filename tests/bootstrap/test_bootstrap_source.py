"""The bootstrap runs in the user's interpreter: stdlib only, Python 3.9 syntax."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path
from typing import Optional

import pytest

from bootstrap_harness import (
    find_python,
    BOOTSTRAP_DIR,
    GLOBALS_PATH,
    Event,
    error_path,
    response_path,
    run_bootstrap,
    write,
)

SOURCES = sorted(BOOTSTRAP_DIR.rglob("*.py"))


def lambdatui_installed(python: str) -> bool:
    """Whether `python` imports lambdatui as the bootstrap's environment would (no PYTHONPATH; not from a checkout's
    folder as its current one)."""
    run = subprocess.run([python, "-c", "import importlib.util, sys; sys.exit(importlib.util.find_spec('lambdatui') "
                          "is None)"], capture_output=True, cwd="/", env={"PATH": os.environ.get("PATH", "")},
                         timeout=30)
    return run.returncode == 0


def python_without_lambdatui(version: str) -> Optional[str]:
    """An interpreter of `version` in which lambdatui is not installed: find_python's, or where lambdatui is installed
    in that one (a virtualenv of that version with lambdatui in it, active: its python3.X comes first on PATH, as
    where README's test command runs on 3.13), the interpreter the virtualenv was made from. None: none here."""
    python = find_python(version)
    if python is None or not lambdatui_installed(python):
        return python
    base = subprocess.run([python, "-c", "import sys; print(sys.base_prefix)"], capture_output=True, text=True,
                          timeout=30).stdout.strip()
    candidate = Path(base) / "bin" / ("python" + version)
    if base and candidate.is_file() and not lambdatui_installed(str(candidate)):
        return str(candidate)
    return None


def test_there_are_sources_to_check():
    names = {p.name for p in SOURCES}
    assert {"__init__.py", "__main__.py", "client.py", "loop.py"} <= names


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: p.name)
def test_imports_only_the_standard_library(path: Path):
    tree = ast.parse(path.read_text(), filename=str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            tops = [alias.name.split(".")[0] for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: inside the bootstrap package itself
                continue
            tops = [(node.module or "").split(".")[0]]
        else:
            continue
        for top in tops:
            assert top in sys.stdlib_module_names or top == "__future__", (
                "%s:%d imports %s" % (path.name, node.lineno, top)
            )


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: p.name)
def test_is_python_3_9_syntax(path: Path):
    ast.parse(path.read_text(), filename=str(path), feature_version=(3, 9))


@pytest.mark.parametrize("path", [p for p in SOURCES if p.name != "__main__.py"], ids=lambda p: p.name)
def test_annotations_are_never_evaluated(path: Path):
    """`X | None` in an annotation is fine on 3.9 only if annotations stay strings."""
    assert "from __future__ import annotations" in path.read_text()


@pytest.mark.parametrize("version", ["2.7", "3.6"])
def test_an_interpreter_too_old_says_so_in_one_line_without_a_traceback(version):
    """`--python` naming a Python the runtime cannot run on: one line naming it and what to choose instead, not a
    SyntaxError's traceback out of lambdatui's own files."""
    python = find_python(version)
    if python is None:
        pytest.skip("no working python%s here" % version)
    run = subprocess.run([python, str(BOOTSTRAP_DIR)], capture_output=True, text=True, timeout=30,
                         stdin=subprocess.DEVNULL)
    assert (run.returncode, run.stdout) == (2, ""), run.stderr
    assert run.stderr.splitlines() == [
        "lambdatui: %s is Python %s, which lambdatui's Python runtime cannot run on: choose Python 3.9 or newer "
        "(as Lambda's Python runtimes are) with --python" % (python, version)]


@pytest.mark.parametrize("version", ["3.9", "3.10", "3.12", "3.13"])
def test_runs_under_other_interpreters_without_lambdatui_installed(api, code_dir, tmp_path, version):
    """The whole feature set on each interpreter the user may bring (stdlib differs)."""
    python = python_without_lambdatui(version)
    if python is None:
        pytest.skip("no working python%s without lambdatui installed here" % version)
    write(code_dir, "handler.py", """
        import sys
        from decimal import Decimal
        STATE = {"calls": 0}
        def handler(event, context):
            if event == "fail":
                raise ValueError("failed on purpose")
            STATE["calls"] += 1
            try:
                import lambdatui
                importable = True
            except ImportError:
                importable = False
            return {"version": "%d.%d" % sys.version_info[:2], "lambdatui_importable": importable,
                    "remaining_positive": context.get_remaining_time_in_millis() > 0,
                    "d": Decimal("0.5")}
    """)
    run = run_bootstrap(
        api, code_dir, "handler.handler",
        [Event(request_id="r1"), Event(b'"fail"', "r2")],
        python=python, LAMBDATUI_PRIVATE_API="1", LAMBDATUI_REPORT_GLOBALS="1", LAMBDATUI_STACK_FILE=str(tmp_path / "stacks"),
    )
    assert api.one(response_path("r1")).json() == {
        "version": version, "lambdatui_importable": False, "remaining_positive": True, "d": 0.5,
    }, run.stderr
    error = api.one(error_path("r2")).json()
    assert error["errorType"] == "ValueError"
    assert error["stackTrace"] == [
        '  File "%s", line 7, in handler\n    raise ValueError("failed on purpose")\n' % (code_dir / "handler.py")
    ]
    reports = [r.json() for r in api.find(GLOBALS_PATH)]
    assert [r["phase"] for r in reports] == ["init", "invoke", "invoke"]
    state = [g for g in reports[-1]["globals"] if g["name"] == "STATE"]
    assert state == [{"name": "STATE", "type": "dict", "repr": "{'calls': 1}", "id": state[0]["id"], "kind": "state",
                      "digest": state[0]["digest"]}]
    assert state[0]["digest"]  # a plain dict: its whole content is fingerprinted
    assert "lambdatui-bootstrap" not in run.stderr
