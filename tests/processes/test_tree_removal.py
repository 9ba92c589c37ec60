"""Removing a tree that user code wrote: iterative, never through a link, never into another mount (issue 8)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import traceback
from pathlib import Path

import pytest

from lambdatui.processes.tree_removal import TreeRemovalError, remove_tree, remove_tree_reporting


def nest(folder: Path, depth: int, name: str = "d") -> None:
    """`depth` directories one in the other, made fd by fd (os.makedirs and pathlib would recurse)."""
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    for _ in range(depth):
        os.mkdir(name, dir_fd=fd)
        inner = os.open(name, os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
        os.close(fd)
        fd = inner
    with open(f"/proc/self/fd/{fd}/leaf", "w") as fh:
        fh.write("bottom")
    os.close(fd)


def test_a_tree_deeper_than_the_recursion_limit_and_than_path_max_is_removed(tmp_path: Path):
    root = tmp_path / "tree"
    root.mkdir()
    depth = sys.getrecursionlimit() + 500
    nest(root, depth, name="n" * 100)  # ~110 kB of path: no path-based walk could even name the bottom
    remove_tree(root)
    assert not root.exists()


def test_it_does_not_recurse(tmp_path: Path):
    root = tmp_path / "tree"
    root.mkdir()
    nest(root, 300)
    limit = sys.getrecursionlimit()
    # Room for the calls themselves, far less than the depth: one frame per level would fail.
    sys.setrecursionlimit(len(traceback.extract_stack()) + 60)
    try:
        remove_tree(root)
    finally:
        sys.setrecursionlimit(limit)
    assert not root.exists()


def test_links_are_removed_never_followed(tmp_path: Path):
    outside = tmp_path / "outside"
    (outside / "keep").mkdir(parents=True)
    (outside / "keep" / "file").write_text("k")
    root = tmp_path / "tree"
    (root / "sub").mkdir(parents=True)
    (root / "to-outside").symlink_to(outside)
    (root / "sub" / "to-root").symlink_to("/")
    (root / "sub" / "to-file").symlink_to(outside / "keep" / "file")
    remove_tree(root)
    assert not root.exists()
    assert (outside / "keep" / "file").read_text() == "k"


def test_a_link_given_as_the_tree_is_removed_as_a_link(tmp_path: Path):
    target = tmp_path / "target"
    target.mkdir()
    (target / "file").write_text("k")
    link = tmp_path / "link"
    link.symlink_to(target)
    remove_tree(link)
    assert not os.path.lexists(link)
    assert (target / "file").read_text() == "k"


def test_read_only_and_unsearchable_directories_are_removed(tmp_path: Path):
    root = tmp_path / "tree"
    (root / "ro" / "sub").mkdir(parents=True)
    (root / "ro" / "sub" / "file").write_text("x")
    (root / "none").mkdir()
    (root / "none" / "file").write_text("x")
    (root / "ro" / "sub").chmod(0o500)
    (root / "ro").chmod(0o555)
    (root / "none").chmod(0)
    remove_tree(root)
    assert not root.exists()


def test_a_missing_tree_is_already_removed(tmp_path: Path):
    remove_tree(tmp_path / "absent")
    assert remove_tree_reporting(tmp_path / "absent") is None


def _chattr(flag: str, path: Path) -> bool:
    tool = shutil.which("chattr")
    return tool is not None and subprocess.run([tool, flag, str(path)], capture_output=True).returncode == 0


def test_what_cannot_be_removed_is_said_in_one_line_and_the_rest_goes(tmp_path: Path):
    root = tmp_path / "tree"
    (root / "a").mkdir(parents=True)
    (root / "b" / "c").mkdir(parents=True)
    stuck = root / "a" / "stuck"
    stuck.write_text("immutable")
    (root / "b" / "c" / "file").write_text("x")
    if not _chattr("+i", stuck):
        pytest.skip("chattr +i is not available here (no chattr, no CAP_LINUX_IMMUTABLE, or no such attribute)")
    try:
        with pytest.raises(TreeRemovalError) as caught:
            remove_tree(root)
        said = remove_tree_reporting(root)
    finally:
        _chattr("-i", stuck)
    assert str(stuck) in str(caught.value)
    assert said is not None and "\n" not in said and str(stuck) in said
    assert sorted(p.relative_to(root).as_posix() for p in root.rglob("*")) == ["a", "a/stuck"]
    remove_tree(root)
    assert not root.exists()


def test_a_file_system_mounted_inside_is_never_entered(tmp_path: Path):
    """A bind mount keeps the device number: only the mount table tells it apart, and it must."""
    source = tmp_path / "source"
    source.mkdir()
    (source / "precious").write_text("host data")
    root = tmp_path / "tree"
    point = root / "sub" / "mnt"
    point.mkdir(parents=True)
    (root / "other").write_text("x")
    done = subprocess.run(["mount", "--bind", str(source), str(point)], capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot bind-mount here: {done.stderr.strip()}")
    try:
        said = remove_tree_reporting(root)
    finally:
        subprocess.run(["umount", str(point)], check=True)
    assert (source / "precious").read_text() == "host data"
    assert said is not None and str(point) in said and "mounted" in said
    assert not (root / "other").exists()
    remove_tree(root)
    assert not root.exists()
