"""Hunt s67: README's debugger sections ("The debugger: `lambdatui PATH`", "The debugger in depth") against the
real debugger, driven as a user drives it.

Each test runs the real debugger as `lambdatui PATH` composes it (`build_debugger`: real processes, real HTTP) on a
small handler written into `code_dir`, and asserts what README states; those README gets wrong are marked
`xfail(strict=True)` with what happens instead. Every wait is bounded and on the state it means.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from _host import choose_breakpoints, running_debugger
from app_waits import until, until_true
from test_app_keys import SIZE, held_at, invoked
from test_hunt_debugger_depth import debugger, opened, write_handler

from lambdatui.model.boundaries import Boundary

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(60)]

COUNTING = """\
calls = 0

def handler(event, context):
    global calls
    calls += 1
    return {"calls": calls}
"""


# ---------------------------------------------------------------------- the timeline while stepping through an invoke


async def test_stepping_through_an_invoke_draws_no_frozen_gap_inside_it(code_dir: Path) -> None:
    """README, Timeline: "every phase as a bar, in order (... each Invoke, frozen gaps, time held by you ...)", and
    Travel back: "`[` and `]` ... select the previous / next phase". A warm invoke held at invoke.start, stepped with
    `n` to invoke.response and invoke.done, then `c`. Seen: each of the two later holds came with a "frozen" bar of
    0.00 ms spanning exactly the hold (one inside the invoke, between invoke.start and its response, when the handler
    ran), and the frozen gap after the invoke was split in two; `[` from live first selected the 0 ms one
    ("PAST · frozen · ended t+61.49 s (0.00 ms)"), then the hold, then another 0 ms "frozen"."""
    app = debugger(write_handler(code_dir, COUNTING))
    async with running_debugger(app, SIZE) as pilot:
        await opened(pilot)
        await pilot.press("i")
        await until(pilot, invoked(1), "invoke 1")
        await choose_breakpoints(pilot, Boundary.INVOKE_START)
        await pilot.press("i")
        await until(pilot, held_at(Boundary.INVOKE_START), "invoke 2 held at invoke.start")
        await pilot.press("n")
        await until(pilot, held_at(Boundary.INVOKE_RESPONSE), "n to invoke.response")
        await pilot.press("n")
        await until(pilot, held_at(Boundary.INVOKE_DONE), "n to invoke.done")
        await pilot.press("c")
        await until(pilot, invoked(2), "invoke 2's end")
        timeline = app.snapshot.timeline
        second = [b for b in timeline if b.kind == "invoke"][-1]
        frozen_since = [(b.seq, b.start, b.end, b.duration_ms) for b in timeline
                        if b.kind == "frozen" and b.start >= second.start]
        shown = "\n".join(f"{b.seq} {b.kind} {b.label} {b.duration_ms}" for b in timeline)
        assert len(frozen_since) == 1 and frozen_since[0][2] is None, (
            f"frozen bars since invoke 2 began (one expected: the live gap after it): {frozen_since}\n{shown}")
        await pilot.press("left_square_bracket")
        await until_true(pilot, lambda: app.selected_bar is not None, "[ to travel back")
        selected = next(b for b in app.snapshot.timeline if b.seq == app.selected_bar)
        assert selected.kind == "held" and selected.label == "held at invoke.done", (selected, shown)
