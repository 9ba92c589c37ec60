"""Modules lambdatui's dependencies import early and use late (or never) are imported at their first use."""

from __future__ import annotations

import json
import subprocess
import sys
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


def test_a_from_import_and_a_packages_submodule_load_it(package_dir: Path) -> None:
    package = package_dir / "deferred_probe_pkg"
    package.mkdir()
    (package / "__init__.py").write_text("NAME = 'pkg'\n")
    (package / "sub.py").write_text("NAME = 'sub'\n")
    _module(package_dir, "deferred_probe_b", "NAME = 'b'\n")
    defer(["deferred_probe_pkg", "deferred_probe_b"])

    from deferred_probe_b import NAME
    import deferred_probe_pkg.sub

    assert NAME == "b"
    assert deferred_probe_pkg.sub.NAME == "sub"
    assert type(sys.modules["deferred_probe_pkg"]) is not DeferredModule


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


# What a start of lambdatui loads of them: its entry's imports and trio's, then one empty trio run.
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
