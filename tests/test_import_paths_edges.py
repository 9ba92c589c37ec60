"""Edge cases where import_paths could serve a module the path finder would not find, or no longer exists (found in review).

Each start is a fresh interpreter running a launcher script (sys.path[0] its folder, as for the console script),
with folders `a` and `b` ahead of the standard library on sys.path.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

import lambdatui

PROGRAM = """
import os, sys
a, b = sys.argv[1].split(":")
sys.path[1:1] = [a, b]
sys.path.insert(1, {lambdatui_parent!r})
from lambdatui import import_paths
import_paths.install(sys.argv[2])
action = sys.argv[3]
if action == "path-first":  # the program puts a folder of its own first on sys.path
    sys.path.insert(0, os.path.join(os.path.dirname(a), "c"))
import mod_x
print(mod_x.__file__)
if action == "rename":  # while this start runs, mod_x moves from b to a (an upgrade, a checkout)...
    os.rename(os.path.join(b, "mod_x.py"), os.path.join(a, "mod_x.py"))
if action == "shadow":  # ...or a module of that name appears in a, ahead of b
    with open(os.path.join(a, "mod_x.py"), "w") as file:
        file.write("")
if action in ("rename", "shadow"):
    import other  # and this start imports a module the last one did not
import_paths.save()
"""


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    for folder in ("a", "b", "c", "launcher"):
        (tmp_path / folder).mkdir()
    (tmp_path / "b" / "mod_x.py").write_text("")
    (tmp_path / "b" / "other.py").write_text("")
    (tmp_path / "c" / "mod_x.py").write_text("")
    (tmp_path / "launcher" / "run.py").write_text(
        PROGRAM.format(lambdatui_parent=str(Path(lambdatui.__file__).parents[1])))
    return tmp_path


def start(tree: Path, action: str = "") -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPYCACHEPREFIX"] = str(tree / "pycache")
    return subprocess.run([sys.executable, str(tree / "launcher" / "run.py"), f"{tree / 'a'}:{tree / 'b'}",
                           str(tree / "cache.marshal"), action], capture_output=True, text=True, cwd=tree, env=env,
                          timeout=60)


def found(tree: Path, action: str = "") -> str:
    done = start(tree, action)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_a_module_that_appeared_ahead_during_the_last_start_is_found(tree: Path) -> None:
    """save() keeps the entries it loaded without asking the path finder again, under the folders' new times."""
    found(tree)
    assert found(tree, "shadow") == str(tree / "b" / "mod_x.py")  # imported before a/mod_x.py was written
    assert found(tree) == str(tree / "a" / "mod_x.py")  # the path finder's answer; served: b/mod_x.py


def test_a_module_moved_during_the_last_start_is_found_where_it_is(tree: Path) -> None:
    found(tree)
    found(tree, "rename")
    done = start(tree)  # served b/mod_x.py, gone: FileNotFoundError, and at every start after
    assert done.returncode == 0 and done.stdout.strip() == str(tree / "a" / "mod_x.py"), done.stderr


def test_a_folder_of_the_same_name_becoming_a_package_is_found_first(tree: Path) -> None:
    """A folder of the module's name in `a` (a namespace portion, passed over) gains an __init__.py: `a`'s
    modification time does not change, only `a/mod_x`'s, which is not recorded."""
    (tree / "a" / "mod_x").mkdir()
    found(tree)
    assert found(tree) == str(tree / "b" / "mod_x.py")
    (tree / "a" / "mod_x" / "__init__.py").write_text("")
    assert found(tree) == str(tree / "a" / "mod_x" / "__init__.py")


def test_a_folder_put_first_on_sys_path_while_running_is_searched(tree: Path) -> None:
    """The finder checks sys.path only at install(): a later change to sys.path is not seen."""
    found(tree)
    assert found(tree, "path-first") == str(tree / "c" / "mod_x.py")


def test_a_damaged_file_is_not_trusted(tree: Path) -> None:
    """No checksum (dataclass_cache.py has one for this reason): one changed byte in a path is served as is."""
    found(tree)
    data = (tree / "cache.marshal").read_bytes()
    assert data.count(b"b/mod_x.py") == 1
    (tree / "cache.marshal").write_bytes(data.replace(b"b/mod_x.py", b"b/mod_y.py"))
    assert found(tree) == str(tree / "b" / "mod_x.py")
