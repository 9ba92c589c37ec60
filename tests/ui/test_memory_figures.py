"""The debugger shows memory as it builds up (issue 11): the header's figure and the result view's series."""

from __future__ import annotations

import dataclasses

from replay_backend import load_session

from lambdatui.model import facts as f
from lambdatui.ui.widgets.header_bar import HeaderBar
from lambdatui.ui.widgets.result_view import MEMORY_POINTS_SHOWN, memory_line


def point(mb: int, rid: str = "r", enforced_by: str = "cgroup v1") -> f.MemoryMeasured:
    return f.MemoryMeasured("invoke", rid, mb - 3, mb - 2, mb, 128, enforced_by)


def test_the_header_shows_the_memory_in_use_against_the_limit_once_measured():
    snapshot = load_session("warm").snapshot
    assert snapshot.memory == ()  # recorded before memory was measured: the header as it was
    assert "128 MB" in HeaderBar._identity_row(snapshot).plain
    grown = dataclasses.replace(snapshot, memory=(point(20), point(45), point(70)))
    assert "mem 70/128 MB" in HeaderBar._identity_row(grown).plain


def test_the_result_view_line_shows_the_build_up_phase_by_phase():
    points = (f.MemoryMeasured("init", None, 14, 14, 20, 128, "cgroup v1"), point(45), point(70), point(95))
    assert memory_line(points) == ("Memory in use, phase by phase: 20 → 45 → 70 → 95 of 128 MB "
                                   "(enforced by cgroup v1; runtime peak 93 MB)")
    assert memory_line(()) == ""


def test_a_long_series_keeps_its_latest_figures_and_says_who_enforces_the_limit():
    points = tuple(point(10 + n, enforced_by="watch") for n in range(MEMORY_POINTS_SHOWN + 3))
    line = memory_line(points)
    assert line.startswith("Memory in use, phase by phase: … → 13 → ")
    assert f"→ {10 + MEMORY_POINTS_SHOWN + 2} of 128 MB (watched by lambdatui;" in line
    assert "(not enforced here" in memory_line((dataclasses.replace(point(5), enforced_by=""),))
