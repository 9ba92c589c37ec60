"""The SnapStart uniqueness trap, shown: a global that every restored environment shares is marked in the Globals
panel ("! same in N restored environments", a character and words, not only a colour) and the explain line says why
it matters.

The snapshot is synthetic: the recorded warm counter session, whose globals gain two values made at Init
(REQUEST_PREFIX, SEED) that the session found the same in 3 restored environments (`shared_init_values`). What the
session compares is tested in tests/host/test_shared_init_values_session.py.
Update the SVG with `pytest tests/ui/test_shared_init_marker.py --snapshot-update`, then look at it in
`__snapshots__/test_shared_init_marker/` before accepting it (as for `test_snapshots.py`).
"""

from __future__ import annotations

import dataclasses
from typing import Mapping

import pytest
from _host import hosted, screen_lines, screen_text
from textual.pilot import Pilot
from textual.widget import Widget
from replay_backend import RecordedSession, load_session, replay
from test_snapshots import LARGE, SAMPLES, settled  # noqa: F401 - its autouse fixtures are imported below
from test_snapshots import no_cursor_blink, plain_terminal_environment, stopped_clock  # noqa: F401

from lambdatui.model.boundaries import Boundary
from lambdatui.model.debug_snapshot import DebuggerSnapshot
from lambdatui.model.facts import GlobalEntry
from lambdatui.ui.app import LambdaTuiApp
from lambdatui.ui.explain import explain
from lambdatui.ui.themes import DEFAULT_THEME
from lambdatui.ui.widgets import ExplainBar, GlobalsView

TALL = (140, 60)  # the Globals panel shows every state row
MARK = "! same in 3 restored environments"
WHY = ("REQUEST_PREFIX and SEED are the same in all 3 restored environments: Init ran once, and each restored "
       "environment starts from its snapshot's memory, so ids, random seeds and tokens made at Init are shared. "
       "Regenerate them in an @register_after_restore hook.")
MADE_AT_INIT = (GlobalEntry("REQUEST_PREFIX", "str", "'9f1c2e0b7d4a4c1e8b6f3a2d5c7e9b10'", 2000, "state", "same"),
                GlobalEntry("SEED", "float", "0.6394267984578837", 2001, "state", "same"))


WARM = load_session("warm")  # one load: the log view skips a line object it has, so the replay hands over the same


def restored(shared: Mapping[str, int]) -> DebuggerSnapshot:
    """The warm counter environment with REQUEST_PREFIX and SEED among its globals, `shared` as the session says."""
    snapshot = WARM.snapshot
    report = snapshot.globals
    assert report is not None
    at = next(i for i, e in enumerate(report.entries) if e.name == "COUNTER_FILE")
    entries = report.entries[:at] + MADE_AT_INIT + report.entries[at:]
    return dataclasses.replace(snapshot, globals=dataclasses.replace(report, entries=entries),
                               shared_init_values=dict(shared))


SHARED = {"REQUEST_PREFIX": 3, "SEED": 3}


def app_for(snapshot: DebuggerSnapshot, theme: str = DEFAULT_THEME) -> LambdaTuiApp:
    return LambdaTuiApp(replay(RecordedSession("restored", snapshot, WARM.logs)), code_dir=SAMPLES / "counter",
                        theme=theme)


def marked(lines: list[str]) -> list[str]:
    """The globals marked shared: the name on the row above each marker row."""
    names = []
    for above, line in zip(lines, lines[1:]):
        if MARK in line:
            names += [name for name in SHARED if name in above]
    return names


def shown_in(pilot: Pilot, widget: Widget) -> str:
    """What the screen shows inside `widget`, its rows joined as the wrapping split them (at spaces)."""
    region = widget.content_region
    lines = screen_lines(pilot)[region.y:region.y + region.height]
    return " ".join(" ".join(line[region.x:region.x + region.width].split()) for line in lines)


# ---------------------------------------------------------------------- in the real app


@pytest.mark.anyio
@pytest.mark.timeout(30)
@pytest.mark.parametrize("theme", [DEFAULT_THEME, "lambdatui-high-contrast"])
async def test_the_app_marks_each_shared_global_and_explains_why(theme: str) -> None:
    app = app_for(restored(SHARED), theme)
    async with app.run_test(size=TALL) as pilot:
        await settled(pilot)
        assert marked(screen_lines(pilot)) == ["REQUEST_PREFIX", "SEED"]  # the same words in every theme
        bar = app.query_one(ExplainBar)
        assert bar.text == WHY and shown_in(pilot, bar) == f"frozen {WHY}"  # all of it: the bar has room


@pytest.mark.anyio
@pytest.mark.timeout(30)
async def test_nothing_is_marked_when_nothing_is_shared() -> None:
    app = app_for(restored({}))
    async with app.run_test(size=TALL) as pilot:
        await settled(pilot)
        text = screen_text(pilot)
        assert "REQUEST_PREFIX" in text and "restored environments" not in text
        assert "The environment is frozen" in app.query_one(ExplainBar).text


# ---------------------------------------------------------------------- the panel and the sentence


@pytest.mark.anyio
async def test_the_panel_marks_values_that_become_shared_with_no_new_report() -> None:
    """Another environment restored from the snapshot reports: this one's report is the same object, yet the
    panel must redraw."""
    async with hosted(GlobalsView(), restored({}), restored(SHARED), size=TALL) as pilot:
        assert marked(screen_lines(pilot)) == ["REQUEST_PREFIX", "SEED"]


@pytest.mark.anyio
async def test_a_restore_report_says_so() -> None:
    snapshot = restored(SHARED)
    assert snapshot.globals is not None
    after_restore = dataclasses.replace(snapshot, globals=dataclasses.replace(snapshot.globals, phase="restore",
                                                                                request_id=None))
    async with hosted(GlobalsView(), after_restore, size=TALL) as pilot:
        assert screen_lines(pilot)[0].strip().startswith("after restore (SnapStart)  process generation 1")


def test_one_name_many_names_and_long_names_stay_within_the_bar() -> None:
    one = explain(restored({"REQUEST_PREFIX": 2}))
    assert one.startswith("REQUEST_PREFIX is the same in all 2 restored environments:") and "Regenerate it " in one
    many = explain(restored({name: 4 for name in ("A", "B", "C", "D")}))
    assert many.startswith("A and 3 more are the same in all 4 restored environments:")
    long = explain(restored({"X" * 80: 3, "Y" * 80: 3}))
    for text in (one, many, long):
        assert len(text) <= 300 and text.count(". ") <= 1  # three rows at 100 columns, two sentences (test_explain)


def test_a_held_boundary_still_explains_the_boundary() -> None:
    snapshot = restored(SHARED)
    held = dataclasses.replace(snapshot, environment=dataclasses.replace(snapshot.environment,
                                                                         held_at=Boundary.INVOKE_START))
    assert "restored environments" not in explain(held)


# ---------------------------------------------------------------------- the image


def test_restored_environment_with_shared_values(snap_compare) -> None:
    """The warm counter environment, restored from a snapshot, with two values made at Init shared by 3 restored
    environments.

    Globals: STATE lists `invocations` 3 replaced, then REQUEST_PREFIX '9f1c2e0b…' with, on the row under it,
    "! same in 3 restored environments" in bold warning colour (SEED and its marker are further down the panel).
    The explain line, headed "frozen": "REQUEST_PREFIX and SEED are the same in all 3 restored environments: Init
    ran once, … Regenerate them in an @register_after_restore hook." The other panes are the warm session's.
    """
    assert snap_compare(app_for(restored(SHARED)), terminal_size=LARGE, run_before=settled)
