"""Modules found at an earlier start are found again without the search, and only while nothing they depend on
changed: the same specs as the path finder's, and a module added where it would be found first is found."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import lambdatui

PROGRAM = """
import json, sys
sys.path[1:1] = sys.argv[1].split(":")
sys.path.insert(1, {lambdatui_parent!r})
from lambdatui import import_paths
import_paths.install(sys.argv[2])
import mod_x, pkg_y.sub
described = {{}}
for name in ("mod_x", "pkg_y", "pkg_y.sub"):
    spec = sys.modules[name].__spec__
    described[name] = [spec.name, spec.origin, type(spec.loader).__name__, spec.loader.name, spec.loader.path,
                        spec.submodule_search_locations, spec.cached, spec.parent, spec.has_location,
                        sys.modules[name].__file__, getattr(sys.modules[name], "__path__", None)]
known = sorted(import_paths._finder.table) if import_paths._finder is not None else []
print(json.dumps({{"specs": described, "known": [n for n in known if n in described], "x": mod_x.WHO}}))
import_paths.save()
"""


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    (tmp_path / "a").mkdir()
    (tmp_path / "b" / "pkg_y").mkdir(parents=True)
    (tmp_path / "b" / "mod_x.py").write_text("WHO = 'b'\n")
    (tmp_path / "b" / "pkg_y" / "__init__.py").write_text("")
    (tmp_path / "b" / "pkg_y" / "sub.py").write_text("")
    (tmp_path / "launcher").mkdir()
    (tmp_path / "launcher" / "run.py").write_text(PROGRAM.format(lambdatui_parent=str(Path(lambdatui.__file__).parents[1])))
    return tmp_path


def start(tree: Path, path: str = "a:b", write: bool = True) -> dict[str, Any]:
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "" if write else "1"}
    env.pop("PYTHONDONTWRITEBYTECODE") if write else None
    entries = ":".join(str(tree / entry) for entry in path.split(":"))
    done = subprocess.run([sys.executable, str(tree / "launcher" / "run.py"), entries, str(tree / "cache.marshal")],
                          capture_output=True, text=True, cwd=tree, env=env, timeout=60)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_a_module_found_before_is_given_the_spec_the_path_finder_gives(tree: Path) -> None:
    searched = start(tree)
    assert searched["known"] == [] and (tree / "cache.marshal").is_file()
    served = start(tree)
    assert served["known"] == ["mod_x", "pkg_y", "pkg_y.sub"]
    assert served["specs"] == searched["specs"]


def test_a_module_added_where_it_is_found_first_is_found(tree: Path) -> None:
    start(tree)
    assert start(tree)["x"] == "b"
    (tree / "a" / "mod_x.py").write_text("WHO = 'a'\n")  # in a folder before b on sys.path
    shadowed = start(tree)
    assert shadowed["x"] == "a" and shadowed["known"] == []  # the folder changed: everything looked up again
    assert start(tree)["known"] == ["mod_x", "pkg_y", "pkg_y.sub"]  # recorded again


def test_another_sys_path_is_looked_up_afresh(tree: Path) -> None:
    start(tree)
    (tree / "c").mkdir()
    assert start(tree, "c:a:b")["known"] == []


def test_a_removed_submodule_is_not_served(tree: Path) -> None:
    start(tree)
    (tree / "b" / "pkg_y" / "sub.py").unlink()
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    done = subprocess.run([sys.executable, str(tree / "launcher" / "run.py"), f"{tree / 'a'}:{tree / 'b'}",
                           str(tree / "cache.marshal")], capture_output=True, text=True, cwd=tree, env=env, timeout=60)
    assert "No module named 'pkg_y.sub'" in done.stderr


def test_nothing_is_kept_where_bytecode_is_not_written(tree: Path) -> None:
    start(tree, write=False)
    assert not (tree / "cache.marshal").exists()


def test_python_dash_m_looks_everything_up(tree: Path) -> None:
    """The working folder first on sys.path: each start may have another; the file is neither read nor written."""
    code = (f"import sys; sys.path.insert(1, {str(Path(lambdatui.__file__).parents[1])!r}); "
            f"from lambdatui import import_paths; import_paths.install({str(tree / 'cache.marshal')!r}); "
            "import_paths.save(); print(import_paths._path)")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tree, env=env, timeout=60)
    assert done.stdout.strip() == "None" and not (tree / "cache.marshal").exists()
