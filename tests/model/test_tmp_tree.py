"""Attributing /tmp paths to the phase that created or last changed them."""

from __future__ import annotations

import gc

import pytest

from lambdatui.model import tmp_tree
from lambdatui.model.facts import TmpChanged, TmpEntry
from lambdatui.model.tmp_tree import TmpScanEntry, diff_tmp

T0 = 1_700_000_000_000_000_000  # ns since the epoch


def f(path: str, size: int = 1, mtime_ns: int = T0, kind: str = "file") -> TmpScanEntry:
    return TmpScanEntry(path, kind, size, mtime_ns)


def view(listing: TmpChanged) -> dict[str, tuple[str, str, str]]:
    return {e.path: (e.created_by, e.changed_by, e.change) for e in listing.entries}


def test_the_first_scan_at_environment_start_marks_everything_before():
    listing = diff_tmp([f("/tmp/b"), f("/tmp/a", 4, T0 + 1_500_000_000)], None, "before", False)
    assert listing == TmpChanged(
        entries=(TmpEntry("/tmp/a", "file", 4, 1_700_000_001.5, "before", "before", "new"),
                 TmpEntry("/tmp/b", "file", 1, 1_700_000_000.0, "before", "before", "new")),
        removed=(), by="before", truncated=False)


def test_without_any_previous_listing_paths_are_attributed_to_the_phase():
    assert view(diff_tmp([f("/tmp/x")], None, "init", False)) == {"/tmp/x": ("init", "init", "new")}


STEPS = [
    # name, before (scan), after (scan), expected (created_by, changed_by, change) of /tmp/x
    ("untouched", f("/tmp/x"), f("/tmp/x"), ("init", "init", "same")),
    ("grew", f("/tmp/x", 1), f("/tmp/x", 2), ("init", "req-2", "changed")),
    ("rewritten, same size", f("/tmp/x"), f("/tmp/x", mtime_ns=T0 + 1000), ("init", "req-2", "changed")),
    # 1 ns apart: the float seconds are equal at this epoch, the nanoseconds are not
    ("touched 1 ns later", f("/tmp/x"), f("/tmp/x", mtime_ns=T0 + 1), ("init", "req-2", "changed")),
    ("file became a directory", f("/tmp/x"), f("/tmp/x", kind="dir"), ("req-2", "req-2", "new")),
]


@pytest.mark.parametrize("before,after,expected", [s[1:] for s in STEPS], ids=[s[0] for s in STEPS])
def test_attribution_of_one_path_across_two_phases(before, after, expected):
    first = diff_tmp([before], None, "init", False)
    second = diff_tmp([after], first, "req-2", False)
    assert view(second)["/tmp/x"] == expected
    assert second.by == "req-2"


def test_the_float_trap_is_real_at_todays_epoch():
    # Guards the 1-ns case above against passing vacuously.
    assert tmp_tree.mtime_seconds(T0) == tmp_tree.mtime_seconds(T0 + 1)


def test_attribution_survives_many_phases():
    a = diff_tmp([f("/tmp/keep"), f("/tmp/log", 1)], None, "before", False)
    b = diff_tmp([f("/tmp/keep"), f("/tmp/log", 2), f("/tmp/new")], a, "init", False)
    c = diff_tmp([f("/tmp/keep"), f("/tmp/log", 2), f("/tmp/new", 5)], b, "req-1", False)
    d = diff_tmp([f("/tmp/keep"), f("/tmp/log", 2), f("/tmp/new", 5)], c, "req-2", False)
    assert view(d) == {
        "/tmp/keep": ("before", "before", "same"),
        "/tmp/log": ("before", "init", "same"),
        "/tmp/new": ("init", "req-1", "same"),
    }


def test_removed_lists_paths_gone_since_the_previous_listing_sorted():
    first = diff_tmp([f("/tmp/z"), f("/tmp/a"), f("/tmp/m")], None, "init", False)
    second = diff_tmp([f("/tmp/m")], first, "req-1", False)
    assert second.removed == ("/tmp/a", "/tmp/z")
    assert diff_tmp([f("/tmp/m")], second, "req-2", False).removed == ()  # reported once


def test_a_path_removed_and_recreated_later_is_new_again():
    first = diff_tmp([f("/tmp/x")], None, "init", False)
    gone = diff_tmp([], first, "req-1", False)
    back = diff_tmp([f("/tmp/x")], gone, "req-2", False)
    assert view(back) == {"/tmp/x": ("req-2", "req-2", "new")}


def test_a_truncated_scan_reports_nothing_removed():
    first = diff_tmp([f("/tmp/a"), f("/tmp/b")], None, "init", False)
    second = diff_tmp([f("/tmp/a")], first, "req-1", True)
    assert second.removed == ()  # /tmp/b may simply lie past the limit
    assert second.truncated is True


def test_entries_are_sorted_by_path_and_a_duplicate_keeps_its_last_sighting():
    listing = diff_tmp([f("/tmp/b/c"), f("/tmp/b", kind="dir"), f("/tmp/a-b"), f("/tmp/a-b", 9)], None, "init",
                       False)
    assert [e.path for e in listing.entries] == ["/tmp/a-b", "/tmp/b", "/tmp/b/c"]
    assert listing.entries[0].size == 9


def test_a_listing_rebuilt_elsewhere_falls_back_to_the_float_mtime():
    """A TmpChanged this module did not build (a recording, a copy) still diffs, to float precision."""
    stranger = TmpChanged((TmpEntry("/tmp/x", "file", 1, tmp_tree.mtime_seconds(T0), "init", "init", "same"),), (),
                          "init")
    assert view(diff_tmp([f("/tmp/x")], stranger, "req-1", False))["/tmp/x"] == ("init", "init", "same")
    later = f("/tmp/x", mtime_ns=T0 + 10_000)
    assert view(diff_tmp([later], stranger, "req-1", False))["/tmp/x"] == ("init", "req-1", "changed")


def test_the_exact_mtimes_are_forgotten_with_their_listing():
    listing = diff_tmp([f("/tmp/x")], None, "init", False)
    key = id(listing)
    assert tmp_tree._exact_mtimes[key] == {"/tmp/x": T0}
    del listing
    gc.collect()
    assert key not in tmp_tree._exact_mtimes
