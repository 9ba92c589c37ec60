"""What the explain line says Init's budget is, for environments whose Init has another one, and what the timeline
calls a restored environment's steps.

lambdatui's core gives a provisioned environment's Init and SnapStart's snapshot Init the larger of 130 s and the
timeout (host/launch.py `core_config`, lambda-spec §4.2); the explain line held at init.extensions says "all of Init
shares one 10 s budget" for every Init. (A suppressed Init, bounded by the function timeout, is pinned in
test_reset_holds_shown.py.) Composed as `lambdatui PATH --provisioned 2` / `--snapstart` compose it, run with
Textual's pilot; each wait is bounded and on the app's own snapshot.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from _host import LARGE, running_debugger, until_snapshot, until_true
from lambdatui.config import resolve_function
from lambdatui.model import timeline as tl
from lambdatui.model.boundaries import Boundary, EnvState
from lambdatui.model.fleet import FleetOptions
from lambdatui.tui import build_debugger
from lambdatui.ui.explain import explain
from lambdatui.ui.widgets import ExplainBar

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(60)]

SAMPLES = Path(__file__).resolve().parents[2] / "sample_functions"


async def explained_at_first_hold(handler: Path, fleet: FleetOptions) -> str:
    app = build_debugger(resolve_function(str(handler)), event=b"{}", fleet=fleet)
    async with running_debugger(app, LARGE) as pilot:
        held = await until_snapshot(pilot, lambda s: s.environment.held_at is Boundary.INIT_EXTENSIONS,
                                    "env #1 held at init.extensions")
        await until_true(pilot, lambda: app.query_one(ExplainBar).text == explain(app.snapshot), "the explain line")
        assert held.environment_number == 1
        return app.query_one(ExplainBar).text


async def test_a_provisioned_init_is_not_said_to_have_10_s() -> None:
    said = await explained_at_first_hold(SAMPLES / "counter" / "handler.py", FleetOptions(provisioned=2))
    assert "10 s" not in said, said


async def test_a_snapshot_init_is_not_said_to_have_10_s() -> None:
    said = await explained_at_first_hold(SAMPLES / "snapstart" / "handler.py", FleetOptions(snapstart=True))
    assert "10 s" not in said, said


async def test_an_on_demand_init_is_said_to_have_10_s() -> None:
    said = await explained_at_first_hold(SAMPLES / "counter" / "handler.py", FleetOptions())
    assert "10 s budget" in said, said


def idle_restored(s) -> bool:
    return (s.environment_number == 2 and s.environment.state is EnvState.FROZEN and s.invocations == 1
            and s.environment.held_at is None)


async def test_a_restored_environment_has_no_runtime_init_bar() -> None:
    app = build_debugger(resolve_function(str(SAMPLES / "snapstart" / "handler.py")), event=b"{}",
                         fleet=FleetOptions(snapstart=True))
    async with running_debugger(app, LARGE) as pilot:
        await until_snapshot(pilot, lambda s: s.environment.held_at is Boundary.INIT_EXTENSIONS, "the first hold")
        await pilot.press("c")
        await until_snapshot(pilot, lambda s: any(line.state is EnvState.SNAPSHOT for line in s.environments),
                             "the snapshot to be taken")
        await pilot.press("i")
        restored = await until_snapshot(pilot, idle_restored, "env #2 restored, invoked, frozen")
    inits = [bar.label for bar in restored.timeline if bar.kind == tl.INIT]
    steps = [bar.label for bar in restored.timeline if bar.kind == tl.SUBPHASE]
    assert inits == ["restore (SnapStart)"], inits
    assert tl.RUNTIME_INIT not in steps, steps
