"""Modules lambdatui's dependencies import early and use late (or never) are imported at their first use."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from lambdatui import deferred_imports
from lambdatui.deferred_imports import DeferredModule, defer

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def package_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A folder on sys.path for this test's modules, which are taken out of sys.modules again after it."""
    monkeypatch.syspath_prepend(str(tmp_path))
    before = set(sys.modules)
    yield tmp_path
    for name in set(sys.modules) - before:
        if name.startswith("deferred_probe"):
            del sys.modules[name]


def _module(folder: Path, name: str, text: str) -> None:
    (folder / f"{name}.py").write_text(text)


def test_a_deferred_module_runs_at_the_first_read_of_one_of_its_attributes(package_dir: Path) -> None:
    _module(package_dir, "deferred_probe_side", "runs = []\n")
    _module(package_dir, "deferred_probe_a", "import deferred_probe_side\ndeferred_probe_side.runs.append(1)\n"
                                             "VALUE = 42\n")
    import deferred_probe_side

    defer(["deferred_probe_a"])
    import deferred_probe_a  # what a dependency's early import does

    assert type(deferred_probe_a) is DeferredModule
    assert deferred_probe_side.runs == []
    assert deferred_probe_a.VALUE == 42
    assert deferred_probe_side.runs == [1]
    # From then on, sys.modules and every later import give the real module; the stand-in passes reads on.
    real = sys.modules["deferred_probe_a"]
    assert type(real) is not DeferredModule and real.VALUE == 42
    import deferred_probe_a as again

    assert again is real
    assert deferred_probe_a.VALUE == 42 and deferred_probe_side.runs == [1]


def test_a_from_import_loads_it_and_find_spec_reads_the_stand_in_as_a_loaded_module(package_dir: Path) -> None:
    _module(package_dir, "deferred_probe_b", "NAME = 'b'\n")
    defer(["deferred_probe_b"])
    stand_in = sys.modules["deferred_probe_b"]
    assert importlib.util.find_spec("deferred_probe_b") is stand_in.__spec__  # no ValueError, and still deferred
    assert type(sys.modules["deferred_probe_b"]) is DeferredModule

    from deferred_probe_b import NAME

    assert NAME == "b" and type(sys.modules["deferred_probe_b"]) is not DeferredModule


def test_a_package_or_a_module_whose_extension_is_missing_is_imported_as_usual(
        package_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A package's submodules import one another through it (`from . import x`), which a stand-in cannot tell from a
    use; a module without the extension it wraps (lzma on a Python built without xz) must fail where it is imported,
    as `try: import lzma` expects."""
    package = package_dir / "deferred_probe_pkg"
    package.mkdir()
    (package / "__init__.py").write_text("from .sub import NAME\n")
    (package / "sub.py").write_text("from . import helper\nNAME = helper.NAME\n")
    (package / "helper.py").write_text("NAME = 'sub'\n")
    _module(package_dir, "deferred_probe_wrapper", "import deferred_probe_no_such_extension\n")
    monkeypatch.setitem(deferred_imports._BUILT_ON, "deferred_probe_wrapper", "deferred_probe_no_such_extension")
    defer(["deferred_probe_pkg", "deferred_probe_wrapper"])
    assert "deferred_probe_pkg" not in sys.modules and "deferred_probe_wrapper" not in sys.modules

    import deferred_probe_pkg.sub

    assert deferred_probe_pkg.sub.NAME == "sub"
    with pytest.raises(ModuleNotFoundError):
        __import__("deferred_probe_wrapper")


def test_threads_reading_a_stand_in_at_once_run_its_module_once(package_dir: Path) -> None:
    _module(package_dir, "deferred_probe_side2", "runs = []\n")
    _module(package_dir, "deferred_probe_slow", "import time\nimport deferred_probe_side2\n"
                                                "deferred_probe_side2.runs.append(1)\ntime.sleep(0.05)\nVALUE = 7\n")
    import deferred_probe_side2

    defer(["deferred_probe_slow"])
    import deferred_probe_slow

    seen: list[object] = []
    threads = [threading.Thread(target=lambda: seen.append(deferred_probe_slow.VALUE)) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert seen == [7] * 8 and deferred_probe_side2.runs == [1]


def test_a_module_that_does_not_exist_is_not_stood_in_for_and_a_failing_one_fails_at_its_use(
        package_dir: Path) -> None:
    defer(["deferred_probe_missing"])
    with pytest.raises(ModuleNotFoundError):
        __import__("deferred_probe_missing")

    _module(package_dir, "deferred_probe_broken", "raise RuntimeError('broken at import')\n")
    defer(["deferred_probe_broken"])
    import deferred_probe_broken

    for _ in range(2):  # and again: it stays one to retry, as a failed plain import does
        with pytest.raises(RuntimeError, match="broken at import"):
            deferred_probe_broken.ANYTHING


# What a start of lambdatui loads of them: its entry's imports and trio's, then one empty trio run. Without the stand-ins
# every one is loaded: if a dependency stops importing one, the list should lose it (the test says so by failing).
_LOADED_AT_START = """
import json, sys
from lambdatui import deferred_imports
if sys.argv[1] == "installed":
    deferred_imports.install()
import lambdatui.processes, trio, shutil, urllib.parse, linecache, inspect
async def main():
    await trio.sleep(0)
trio.run(main)
print(json.dumps([name for name in deferred_imports.USED_LATE if type(sys.modules.get(name)).__name__ == "module"]))
"""


def _loaded_at_start(mode: str) -> list[str]:
    done = subprocess.run([sys.executable, "-c", _LOADED_AT_START, mode], capture_output=True, text=True,
                          check=True, timeout=60, cwd=ROOT)
    return json.loads(done.stdout)


def test_lambdatuis_start_leaves_them_unloaded_and_they_work_when_used() -> None:
    assert sorted(_loaded_at_start("plain")) == sorted(deferred_imports.USED_LATE)  # what the change removes
    assert _loaded_at_start("installed") == []
    script = ("import sys\nfrom lambdatui import deferred_imports\ndeferred_imports.install()\nimport trio, ssl\n"
              "context = ssl.create_default_context()\nprint(type(context).__module__, sys.modules['ssl'] is not ssl)")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=60)
    assert done.stdout.split() == ["ssl", "True"]
