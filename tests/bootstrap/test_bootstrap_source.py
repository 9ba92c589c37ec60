"""The bootstrap runs in the user's interpreter: stdlib only, Python 3.9 syntax."""

from __future__ import annotations

import ast
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Optional

import pytest

from bootstrap_harness import BOOTSTRAP_DIR, Event, response_path, run_bootstrap, write

SOURCES = sorted(BOOTSTRAP_DIR.rglob("*.py"))


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


def find_python(version: str) -> Optional[str]:
    """An interpreter of that version that really runs (pyenv shims may not)."""
    candidates = [shutil.which("python" + version)]
    pyenv_root = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv"))
    candidates += [str(p) for p in sorted(pyenv_root.glob("versions/%s.*/bin/python%s" % (version, version)))]
    for candidate in filter(None, candidates):
        try:
            out = subprocess.run(
                [candidate, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
                capture_output=True, text=True, timeout=10,
            )
        except OSError:
            continue
        if out.returncode == 0 and out.stdout.strip() == version:
            return candidate
    return None


@pytest.mark.parametrize("version", ["3.9", "3.10", "3.12", "3.13"])
def test_runs_under_other_interpreters_without_lambdatui_installed(api, code_dir, version):
    python = find_python(version)
    if python is None:
        pytest.skip("no working python%s here" % version)
    write(code_dir, "handler.py", """
        import sys
        def handler(event, context):
            try:
                import lambdatui
                importable = True
            except ImportError:
                importable = False
            return {"version": "%d.%d" % sys.version_info[:2], "lambdatui_importable": importable,
                    "remaining_positive": context.get_remaining_time_in_millis() > 0}
    """)
    run = run_bootstrap(api, code_dir, "handler.handler", [Event(request_id="r1")], python=python)
    assert api.one(response_path("r1")).json() == {
        "version": version, "lambdatui_importable": False, "remaining_positive": True,
    }, run.stderr
