"""Scanning an environment's /tmp on the host: lstat only, never out of the sandbox, bounded."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from lambdatui.host.tmp_scanner import _entries, _lstat, scan_tmp
from lambdatui.model.tmp_tree import TmpScanEntry, diff_tmp


def listing(root: Path, limit: int = 2000) -> dict[str, tuple[str, int]]:
    entries, truncated = scan_tmp(root, limit)
    assert truncated is False
    return {e.path: (e.kind, e.size) for e in entries}


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    root = tmp_path / "envtmp"
    (root / "cache" / "deep").mkdir(parents=True)
    (root / "counter.txt").write_text("42")
    (root / "cache" / "model.bin").write_bytes(b"\0" * 1000)
    (root / "cache" / "deep" / "x").write_text("")
    (root / "with space ü").write_text("abc")
    return root


def test_nested_files_and_directories_are_listed_as_the_function_sees_them(tree: Path):
    assert listing(tree) == {
        "/tmp/counter.txt": ("file", 2),
        "/tmp/with space ü": ("file", 3),
        "/tmp/cache": ("dir", os.lstat(tree / "cache").st_size),
        "/tmp/cache/model.bin": ("file", 1000),
        "/tmp/cache/deep": ("dir", os.lstat(tree / "cache" / "deep").st_size),
        "/tmp/cache/deep/x": ("file", 0),
    }


def test_mtime_is_the_exact_lstat_nanoseconds(tree: Path):
    os.utime(tree / "counter.txt", ns=(1_600_000_000_123_456_789, 1_600_000_000_123_456_789))
    entries, _ = scan_tmp(tree)
    by_path = {e.path: e for e in entries}
    assert by_path["/tmp/counter.txt"] == TmpScanEntry("/tmp/counter.txt", "file", 2, 1_600_000_000_123_456_789)


def test_a_symlink_to_the_root_is_listed_never_followed(tree: Path):
    (tree / "escape").symlink_to("/")
    result = listing(tree)
    assert result["/tmp/escape"] == ("symlink", 1)  # lstat size: the length of "/"
    assert not [p for p in result if p.startswith("/tmp/escape/")]
    assert len(result) == 7


def test_symlinks_to_a_file_to_a_directory_inside_and_dangling_are_links(tree: Path):
    (tree / "to-file").symlink_to(tree / "counter.txt")
    (tree / "to-dir").symlink_to("cache")
    (tree / "dangling").symlink_to("/nonexistent/nowhere")
    result = listing(tree)
    assert result["/tmp/to-file"] == ("symlink", len(str(tree / "counter.txt")))
    assert result["/tmp/to-dir"] == ("symlink", len("cache"))
    assert result["/tmp/dangling"] == ("symlink", len("/nonexistent/nowhere"))
    assert "/tmp/to-dir/model.bin" not in result  # a linked directory is not walked twice


def test_a_fifo_is_other_and_never_opened(tree: Path):
    os.mkfifo(tree / "pipe")  # opening it for reading would block the scan forever
    assert listing(tree)["/tmp/pipe"] == ("other", 0)


def test_an_unreadable_directory_is_listed_without_its_content(tree: Path):
    if os.geteuid() == 0:
        pytest.skip("root reads every directory: there is no unreadable directory to list")
    locked = tree / "locked"
    locked.mkdir()
    (locked / "secret").write_text("s")
    locked.chmod(0)
    try:
        result = listing(tree)
    finally:
        locked.chmod(stat.S_IRWXU)
    assert result["/tmp/locked"][0] == "dir"
    assert "/tmp/locked/secret" not in result


def test_a_file_removed_between_readdir_and_lstat_is_skipped(tmp_path: Path):
    """No hook in scan_tmp runs between the two calls, so the race is staged on its lstat step, for real."""
    (tmp_path / "gone").write_text("x")
    fd = os.open(tmp_path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        names, _ = _entries(fd, 10)
        (tmp_path / "gone").unlink()
        assert names == ["gone"] and _lstat(fd, "gone") is None
    finally:
        os.close(fd)


def test_a_directory_removed_before_it_is_read_has_no_entries(tmp_path: Path):
    (tmp_path / "dir").mkdir()
    fd = os.open(tmp_path / "dir", os.O_RDONLY | os.O_DIRECTORY)
    try:
        (tmp_path / "dir").rmdir()
        assert _entries(fd, 10) == ([], False)
    finally:
        os.close(fd)


def test_a_missing_root_lists_nothing(tmp_path: Path):
    assert scan_tmp(tmp_path / "absent") == ([], False)


# ---------------------------------------------------------------------- limit and truncation


def _flat(root: Path, n: int) -> Path:
    root.mkdir()
    for i in range(n):
        (root / f"f{i:03}").write_text("")
    return root


LIMITS = [
    # files, limit, expected count, truncated
    (5, 5, 5, False),  # exactly at the limit: complete
    (5, 6, 5, False),
    (6, 5, 5, True),
    (50, 10, 10, True),  # a big directory is cut, not read whole
    (0, 0, 0, False),
    (1, 0, 0, True),
]


@pytest.mark.parametrize("files,limit,count,truncated", LIMITS)
def test_the_listing_stops_at_the_limit_and_says_so(tmp_path: Path, files, limit, count, truncated):
    entries, was_truncated = scan_tmp(_flat(tmp_path / "t", files), limit)
    assert (len(entries), was_truncated) == (count, truncated)


def test_a_limit_reached_exactly_with_empty_directories_left_is_not_truncated(tmp_path: Path):
    root = tmp_path / "t"
    (root / "a").mkdir(parents=True)
    (root / "b").mkdir()
    assert scan_tmp(root, 2) == (scan_tmp(root)[0], False)


def test_breadth_first_so_a_deep_tree_cannot_hide_top_level_files(tmp_path: Path):
    root = tmp_path / "t"
    deep = root / "aaa-cache"
    for i in range(5):
        deep = deep / f"level{i}"
    deep.mkdir(parents=True)
    for i in range(20):
        (deep / f"junk{i}").write_text("")
    (root / "zzz-result.json").write_text("{}")
    entries, truncated = scan_tmp(root, 5)
    assert truncated is True
    assert [e.path for e in entries][:2] == ["/tmp/aaa-cache", "/tmp/zzz-result.json"]


def test_a_negative_limit_is_refused(tmp_path: Path):
    with pytest.raises(ValueError):
        scan_tmp(tmp_path, -1)


# ---------------------------------------------------------------------- scanner and diff together


def test_a_rewrite_one_nanosecond_later_is_seen_as_a_change(tree: Path):
    target = tree / "counter.txt"
    os.utime(target, ns=(1_700_000_000_000_000_000,) * 2)
    first = diff_tmp(scan_tmp(tree)[0], None, "init", False)
    os.utime(target, ns=(1_700_000_000_000_000_001,) * 2)
    (tree / "cache" / "model.bin").unlink()
    second = diff_tmp(scan_tmp(tree)[0], first, "req-1", False)
    entry = {e.path: e for e in second.entries}["/tmp/counter.txt"]
    assert (entry.created_by, entry.changed_by, entry.change) == ("init", "req-1", "changed")
    assert second.removed == ("/tmp/cache/model.bin",)


# ---------------------------------------------------------------------- never by path, never through a link


def test_the_listing_starts_from_the_handle_even_when_the_path_now_leads_to_the_root(tree: Path):
    """The function renamed its /tmp and put a link to / in its place: the handle still reads its own folder."""
    fd = os.open(tree, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
    try:
        tree.rename(tree.with_name("moved"))
        tree.symlink_to("/")
        entries, truncated = scan_tmp(fd)
        assert scan_tmp(tree) == ([], False)  # by path, it is a link: not listed at all
    finally:
        os.close(fd)
    paths = {e.path for e in entries}
    assert "/tmp/counter.txt" in paths and "/tmp/cache/deep/x" in paths
    assert not {"/tmp/etc", "/tmp/usr", "/tmp/proc"} & paths
    assert truncated is False


@pytest.mark.parametrize("replacement", ["link to /", "other directory"])
def test_a_directory_swapped_after_lstat_saw_it_is_not_entered(tree: Path, monkeypatch: pytest.MonkeyPatch,
                                                               replacement: str):
    """The race a path-based walk loses: lstat saw a directory, then user code put a link (or another
    directory) in its place before the walk went in; the walk must not read what it never lstat'ed."""
    import lambdatui.host.tmp_scanner as scanner

    real_lstat = scanner._lstat
    swapped = []

    def lstat_then_swap(*args):
        result = real_lstat(*args)
        name = args[-1] if isinstance(args[-1], str) else args[0].name  # (dir_fd, name), or a DirEntry
        if name == "cache" and not swapped:
            swapped.append(1)
            (tree / "cache").rename(tree.with_name("cache-moved"))
            if replacement == "link to /":
                (tree / "cache").symlink_to("/")
            else:
                (tree / "cache").mkdir()
                (tree / "cache" / "impostor").write_text("")
        return result

    monkeypatch.setattr(scanner, "_lstat", lstat_then_swap)
    entries, _ = scan_tmp(tree)
    assert swapped
    assert not [e.path for e in entries if e.path.startswith("/tmp/cache/")], [e.path for e in entries]


def test_another_file_system_mounted_inside_is_listed_not_entered(tree: Path):
    import subprocess

    point = tree / "mnt"
    point.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "none", str(point)], capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount here: {done.stderr.strip()}")
    try:
        (point / "on-the-mount").write_text("")
        result = listing(tree)
    finally:
        subprocess.run(["umount", str(point)], check=True)
    assert result["/tmp/mnt"][0] == "dir"
    assert "/tmp/mnt/on-the-mount" not in result


def test_wide_and_deep_trees_list_exactly_what_a_plain_walk_finds(tmp_path: Path):
    """More directories per level than the walk keeps open, and a chain deeper than that: nothing lost."""
    root = tmp_path / "t"
    for i in range(40):
        (root / f"w{i:02}" / "inner").mkdir(parents=True)
        (root / f"w{i:02}" / "inner" / "f").write_text("")
    chain = root / "chain"
    for i in range(50):
        chain = chain / "c"
    chain.mkdir(parents=True)
    (chain / "bottom").write_text("")
    expected = set()
    for folder, dirs, files in os.walk(root):
        for name in dirs + files:
            expected.add("/tmp/" + os.path.relpath(os.path.join(folder, name), root))
    entries, truncated = scan_tmp(root)
    assert truncated is False
    assert {e.path for e in entries} == expected
