"""What the header and the explain line say while the user holds an environment that a crash has reset.

Driven as a user drives `lambdatui sample_functions/crash/handler.py -e '{"mode": "exit"}'` (every invoke calls
os._exit(1): Runtime.ExitError, and the environment resets): `c`, `b` with init.extensions, invoke.start and
shutdown.start, then `i` and `c` from hold to hold, twice. The first invoke runs on an environment whose Init ran
before it; the second one's Init runs inside it (a suppressed init, after the reset). Composed as `lambdatui PATH`
composes it, run with Textual's pilot; every wait is bounded and on the app's own snapshot or screen.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from textual.pilot import Pilot

from _host import LARGE, choose_breakpoints, running_debugger, until_snapshot, until_true
from lambdatui.config import resolve_function
from lambdatui.model.boundaries import Boundary, EnvState
from lambdatui.model.debug_snapshot import DebuggerSnapshot
from lambdatui.tui import build_debugger
from lambdatui.ui.explain import explain
from lambdatui.ui.widgets import ExplainBar
from lambdatui.ui.widgets.header_bar import badge

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(90)]

CRASH = Path(__file__).resolve().parents[2] / "sample_functions" / "crash" / "handler.py"
BREAKS = (Boundary.INIT_EXTENSIONS, Boundary.INVOKE_START, Boundary.SHUTDOWN_START)


def held(boundary: Boundary, invocations: int):
    def check(s: DebuggerSnapshot) -> bool:
        return s.environment.held_at is boundary and s.invocations == invocations
    return check


def frozen_idle(s: DebuggerSnapshot) -> bool:
    return s.environment.state is EnvState.FROZEN and s.environment.held_at is None and not s.environment.queued


def cold_after_reset(s: DebuggerSnapshot) -> bool:
    return (s.environment.state is EnvState.COLD and s.environment.reset and s.environment.held_at is None
            and not s.environment.queued)


class Session:
    """Every hold of the two crashing invokes, as the snapshot and the explain line showed it."""

    def __init__(self) -> None:
        self.holds: dict[str, DebuggerSnapshot] = {}
        self.said: dict[str, str] = {}
        self.requests: list[str] = []


async def _shown(pilot: Pilot, snapshot: DebuggerSnapshot) -> str:
    app = pilot.app
    await until_true(pilot, lambda: app.query_one(ExplainBar).text == explain(app.snapshot), "the explain line")
    return app.query_one(ExplainBar).text


async def run_session() -> Session:
    session = Session()
    app = build_debugger(resolve_function(str(CRASH)), event=b'{"mode": "exit"}')
    async with running_debugger(app, LARGE) as pilot:
        await until_snapshot(pilot, lambda s: s.environment.held_at is Boundary.INIT_EXTENSIONS, "the first hold")
        await pilot.press("c")
        await until_snapshot(pilot, frozen_idle, "Init over, frozen")
        await choose_breakpoints(pilot, *BREAKS)
        await until_snapshot(pilot, lambda s: s.environment.breakpoints == set(BREAKS), "the breakpoints set")
        for n in (1, 2):
            await pilot.press("i")
            if n == 2:  # the reset environment re-runs Init inside this invoke
                s = await until_snapshot(pilot, held(Boundary.INIT_EXTENSIONS, 1), "the suppressed Init's first hold")
                session.holds["2:init.extensions"] = s
                session.said["2:init.extensions"] = await _shown(pilot, s)
                await pilot.press("c")
            s = await until_snapshot(pilot, held(Boundary.INVOKE_START, n - 1), f"invoke {n} held at invoke.start")
            session.holds[f"{n}:invoke.start"] = s
            assert s.request_in_view
            session.requests.append(s.request_in_view)
            await pilot.press("c")
            s = await until_snapshot(pilot, held(Boundary.SHUTDOWN_START, n), f"invoke {n}'s crash at shutdown.start")
            session.holds[f"{n}:shutdown.start"] = s
            session.said[f"{n}:shutdown.start"] = await _shown(pilot, s)
            await pilot.press("c")
            await until_snapshot(pilot, cold_after_reset, f"the reset after invoke {n}")
    return session


@pytest.fixture(scope="module")
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="module")
async def session() -> Session:
    return await run_session()


async def test_the_first_crash_is_explained_with_its_own_request(session: Session) -> None:
    first = session.requests[0][:8]
    assert f"during request {first}" in session.said["1:shutdown.start"], session.said["1:shutdown.start"]


async def test_a_new_environment_held_at_invoke_start_reads_held(session: Session) -> None:
    word, _ = badge(session.holds["1:invoke.start"])
    assert word.strip() == "HELD"


async def test_a_reset_environment_held_at_invoke_start_reads_as_a_new_one_does(session: Session) -> None:
    assert badge(session.holds["2:invoke.start"])[0] == badge(session.holds["1:invoke.start"])[0]


async def test_the_second_crash_is_explained_with_its_own_request(session: Session) -> None:
    first, second = (r[:8] for r in session.requests)
    said = session.said["2:shutdown.start"]
    assert f"during request {second}" in said and first not in said, said


async def test_a_suppressed_init_is_not_given_the_10_s_budget(session: Session) -> None:
    said = session.said["2:init.extensions"]
    assert "10 s" not in said, said
