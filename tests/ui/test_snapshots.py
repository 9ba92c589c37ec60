"""SVG snapshots of the debugger's main screen in five lifecycle states, replayed from recorded sessions.

Each state was played for real once by `sessions/record_sessions.py` and normalised (fixed request ids,
durations, clock readings, pids, addresses and paths); `ReplayBackend` hands it to the real
`LambdaTuiApp`, so the image depends only on the recording and the UI code. When the UI changes on
purpose: `pytest tests/ui/test_snapshots.py --snapshot-update`, then look at the SVGs in
`__snapshots__/test_snapshots/` before accepting them. When the lifecycle or the snapshot model
changes, record again first (`python tests/ui/sessions/record_sessions.py`).

`snap_compare` runs the app with `App.run`, so these tests are sync (design.md, Tests).
"""

from __future__ import annotations

from typing import Optional

import pytest
from textual.pilot import Pilot
from textual.widgets import Input, TextArea

from lambdatui.ui.app import LambdaTuiApp
from lambdatui.ui.themes import DEFAULT_THEME
from lambdatui.ui.widgets import phase_timeline
from fleet_replay import fleet_session
from replay_backend import REPO, ReplayBackend, load_session, replay

SAMPLES = REPO / "sample_functions"
LARGE = (140, 45)
SMALL = (100, 30)
SETTLE_S = 5.0


# ---------------------------------------------------------------------- determinism


@pytest.fixture(autouse=True)
def no_cursor_blink(monkeypatch: pytest.MonkeyPatch) -> None:
    """Cursors stay drawn: a blink timer would make the image depend on when it is taken."""
    monkeypatch.setattr(Input, "_toggle_cursor", lambda self: None)
    monkeypatch.setattr(TextArea, "_toggle_cursor_blink_visible", lambda self: None)


@pytest.fixture(autouse=True)
def stopped_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    """Running bars show the recorded durations: their ticking would make the image depend on when it is taken."""
    monkeypatch.setattr(phase_timeline, "monotonic_clock", lambda: 0.0)


@pytest.fixture(autouse=True)
def plain_terminal_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """No colour or animation switches inherited from the shell that runs the tests."""
    for name in ("NO_COLOR", "TEXTUAL_ANIMATIONS", "TEXTUAL_THEME"):
        monkeypatch.delenv(name, raising=False)


# ---------------------------------------------------------------------- the app


def replayed_app(state: str, sample: str, *, event: str = "{}",
                 made: Optional[list[ReplayBackend]] = None) -> LambdaTuiApp:
    """The real app over a recorded session; `code_dir` is the real sample folder (its source renders)."""
    app = LambdaTuiApp(replay(load_session(state), made), code_dir=SAMPLES / sample, theme=DEFAULT_THEME)
    app.event_text = event
    app.event_source = "--event"
    return app


async def settled(pilot: Pilot) -> None:
    """Until the replayed snapshot is on screen (an event, not a sleep: bounded polling of the app's state)."""
    app = pilot.app
    assert isinstance(app, LambdaTuiApp)
    waited = 0.0
    while app.snapshot is None or app.controller is None:
        assert waited < SETTLE_S, "the replayed snapshot never arrived"
        await pilot.pause(0.02)
        waited += 0.02
    await pilot.pause()
    await pilot.wait_for_scheduled_animations()
    await pilot.pause()


class TestMainScreen:
    def test_cold_start_held_at_function_init(self, snap_compare) -> None:
        """extension sample, environment #1 on its cold start, held at init.function.

        The header says INIT and, highlighted, "HELD at init.function". The timeline shows the hold at
        init.extensions collapsed to "‖", Ext init, the hold at init.runtime as "‖", Runtime init (62.0 ms) and
        the live hold "‖ held" with "▲ held at init.function" under it; "log scale" before the legend. Participants: the runtime Started (frozen, not parked)
        and the audit extension Ready, parked on Next, receiving INVOKE next. No globals yet, /tmp listed
        at environment start (empty). The log has INIT_START and "[audit] registered for INVOKE, SHUTDOWN";
        the explain line says the runtime next imports handler.py and runs its top-level code.
        """
        assert snap_compare(replayed_app("cold_held_init_function", "extension"), terminal_size=LARGE,
                            run_before=settled)

    def test_warm_after_three_invokes(self, snap_compare) -> None:
        """counter sample after three invokes (a1000000, a2000000, a3000000): FROZEN, warm.

        Header: FROZEN, "3 invokes", "idle: frozen, waiting for an invoke". Timeline: "◀ 3 earlier · bars 4-11 of 11",
        Fn init, then each invoke (2.5 ms) between frozen bars (1.2 s), and the live frozen bar with
        "▲ invoke.done" under it. Participants: the runtime Ready, frozen, parked on Next. Globals after
        invoke a3000000, process generation 1: `invocations` = 3 labelled "replaced", COUNTER_FILE
        '/tmp/counter.txt' unchanged. /tmp: 1 file, counter.txt 66 B "changed by a3000000". Event {"n": 3}.
        Result: response for a3000000 with "invocations": 3, "tmp_lines": 3, "cold": false, and "Status
        success · Duration 2.50 ms". Log (scrolled to its end): START/END/REPORT for each request. The
        explain line: frozen, globals and /tmp survive, the next invoke is warm.
        """
        assert snap_compare(replayed_app("warm", "counter", event='{"n": 3}'), terminal_size=LARGE,
                            run_before=settled)

    def test_warm_after_three_invokes_at_100x30(self, snap_compare) -> None:
        """The warm counter state at 100x30, the smallest usable size: every pane still shows its head.

        The header's two rows (FROZEN, 3 invokes), the fleet line under them ("fleet: 1 env (on-demand) · 0 busy
        (peak 1) / limit 100 · cold 1 · warm 2 · throttled 0 · queued 0"), the timeline's last three invokes ending
        "▲ invoke.done" with "◀ 5 earlier · bars 6-11 of 11", the participants table across the width (all but its
        Subscribed column), globals' head, /tmp with counter.txt "changed by a3000000", the event {"n": 3}, the response
        for a3000000, the last log line (REPORT a3000000), the explain line on three rows, and every key
        in the footer (n Step … q Quit).
        """
        assert snap_compare(replayed_app("warm", "counter", event='{"n": 3}'), terminal_size=SMALL,
                            run_before=settled)

    def test_timeout_with_stack(self, snap_compare) -> None:
        """slow sample with a 1 s timeout: invoke 7133e0a7 timed out and the environment was reset.

        Header: COLD, "1 invoke", "cold: the next invoke runs Init". Timeline: "7133e0a7 ✗ timeout" (1.0 s,
        error colour), then "↺ reset: timeout" (15.0 ms, orange) with "▲ shutdown.done". Participants: no process, "next
        invoke: re-Init". Globals after Function init with "that process is gone". The result pane is
        scrolled to the source of sample_functions/slow/handler.py around line 14, "❱ 14 time.sleep(seconds)"
        highlighted inside wait_for_downstream (the hung frame the stack points at; the error title and
        the stack are above it). Log: "slow: waiting 10 s with 999 ms left", the platform's "Task timed out
        after 1.00 seconds", END and the REPORT with Duration 1000.00 ms. Explain: "reset (timeout)".
        """
        assert snap_compare(replayed_app("timeout_slow", "slow", event='{"seconds": 10}'), terminal_size=LARGE,
                            run_before=settled)

    def test_crash_and_reset(self, snap_compare) -> None:
        """crash sample: 0c000000 succeeded, then c4a5e000 made the runtime exit; the environment was reset.

        Header: COLD, "2 invokes", "cold: the next invoke runs Init". Timeline: 0c000000 (2.5 ms), frozen,
        "c4a5e0 ✗" in the error colour, then "↺ reset" (orange) with "▲ shutdown.done". Participants: no process,
        "next invoke: re-Init". Globals after invoke 0c000000 (`invocations` 1) with "that process is gone".
        Result: "function error: Runtime.ExitError", errorMessage "... Runtime exited with error: exit
        status 1". Log: "crash: invocation 2 in pid 4242, mode=exit", the platform's exit line,
        Runtime.ExitError and the REPORT. Explain: "reset (failure)": the next invoke re-runs Init.
        """
        assert snap_compare(replayed_app("crash_reset", "crash", event='{"mode": "exit"}'), terminal_size=LARGE,
                            run_before=settled)

    def test_frozen_between_invokes(self, snap_compare) -> None:
        """background sample after two invokes, frozen between invokes.

        Header: FROZEN, "2 invokes". Timeline: b1000000, frozen (1.2 s), b2000000, and the live frozen bar
        with "▲ invoke.done". Globals after invoke b2000000: `ticks` = 2 replaced, INIT_TIME unchanged.
        Result: {"ticks": 2}. Log: "background: 1 ticks after 0.0 s since init ..." and "background: 2
        ticks after 0.5 s since init (about 50 if it had never been frozen)". The explain line names the
        ticker thread among the background threads that make no progress while frozen.
        """
        assert snap_compare(replayed_app("frozen_background", "background"), terminal_size=LARGE,
                            run_before=settled)


def replayed_fleet() -> LambdaTuiApp:
    """The warm counter session as env #1 of a fleet of three (tests/ui/fleet_replay.py)."""
    session, others = fleet_session()
    app = LambdaTuiApp(replay(session, others=others), code_dir=SAMPLES / "counter", theme=DEFAULT_THEME)
    app.event_text = '{"n": 3}'
    app.event_source = "--event"
    return app


class TestFleet:
    def test_a_fleet_of_three_at_100x30(self, snap_compare) -> None:
        """The warm counter state as env #1 of three, at the smallest size: the strip takes two rows.

        Row one: "▶#1 FROZEN · 3 inv · on-demand" marked (reverse), "#2 RUNNING a4000000 · 0 inv · on-demand", and
        "+1 ▶" for env #3 that does not fit. Row two: "fleet: 3 envs · 2 busy (peak 3) / limit 100 · cold 3 · warm 2
        · throttled 1 · queued 0". The panels are env #1's (header "env #1 FROZEN", 3 invokes), every pane still
        shows its head (the log its last line; the timeline gave its legend row to the strip), and the footer
        ends "s Shut ,. Env l Log ? Help q Quit".
        """
        assert snap_compare(replayed_fleet(), terminal_size=SMALL, run_before=settled)

    def test_env_2_focused(self, snap_compare) -> None:
        """`.` from env #1: every panel shows env #2, which runs a4000000 on its cold start.

        Header "env #2 RUNNING", "0 invokes", "▶ running request a4000000"; the strip lists all three on one row,
        "▶#2 RUNNING a4000000 · 0 inv · on-demand" marked, "#3 HELD invoke.start a5000000 · 0 inv · provisioned"
        in the held colour; the fleet line under it. Timeline "No phases yet", no participants, no globals, no
        /tmp listing, no result; the log has only env #2's lines (its START and "env #2's own line").
        """

        async def focus_env_2(pilot: Pilot) -> None:
            await settled(pilot)
            await pilot.press("full_stop")
            app = pilot.app
            assert isinstance(app, LambdaTuiApp)
            waited = 0.0
            while app.snapshot is None or app.snapshot.environment_number != 2:
                assert waited < SETTLE_S, "env #2 never came into focus"
                await pilot.pause(0.02)
                waited += 0.02
            await settled(pilot)

        assert snap_compare(replayed_fleet(), terminal_size=LARGE, run_before=focus_env_2)


def test_replay_backend_records_commands_and_never_runs_anything() -> None:
    """The replay is inert: keys become commands on its controller, nothing else happens."""
    import asyncio

    from lambdatui import controller as c

    made: list[ReplayBackend] = []
    app = replayed_app("warm", "counter", made=made)

    async def drive() -> None:
        async with app.run_test(size=LARGE) as pilot:
            await settled(pilot)
            await pilot.press("n", "c", "i")
            await pilot.pause()
            await pilot.press("q")
            await pilot.pause()

    asyncio.run(drive())
    backend, = made
    assert backend.controller is not None
    assert backend.controller.commands == [c.Step(env=1), c.Continue(env=1), c.Invoke(b"{}")]
    assert backend.stopped
