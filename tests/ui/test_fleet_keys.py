"""The fleet in the real app with the real host (`HostGuest`, real processes): holding one environment never stalls
the others, the focus keys move every panel and the log, and commands act on the focused environment.

Built as `lambdatui sample_functions/counter/handler.py` builds it, with the default `--concurrency`. As in
`test_app_keys.py`, nothing sleeps to synchronise: each wait polls the app's own state within a deadline.
"""

from __future__ import annotations

from typing import Callable, Optional

import pytest
from textual.pilot import Pilot

from lambdatui.model.boundaries import Boundary, EnvState
from lambdatui.model.debug_snapshot import DebuggerSnapshot
from lambdatui.model.fleet import EnvironmentLine
from lambdatui.ui.widgets import LogView
from test_app_keys import (choose_breakpoints, continued, invoked, notifications, payload, running, shows, until,
                           until_true)

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(60)]


def line(snapshot: DebuggerSnapshot, number: int) -> Optional[EnvironmentLine]:
    return next((x for x in snapshot.environments if x.number == number), None)


def held_at_response(number: int) -> Callable[[DebuggerSnapshot], bool]:
    """Environment `number` (shown or not) is held at invoke.response."""
    return lambda s: (x := line(s, number)) is not None and x.held_at is Boundary.INVOKE_RESPONSE


def log_text(pilot: Pilot) -> str:
    return "\n".join(pilot.app.query_one(LogView).visible_lines())


async def focus(pilot: Pilot, key: str, number: int) -> DebuggerSnapshot:
    await pilot.press(key)
    return await until(pilot, lambda s: s.environment_number == number, f"{key} to show env #{number}")


class TestHoldingOneNeverStallsTheOthers:
    @pytest.mark.timeout(90)  # the work of two tests (file: 60 s each)
    async def test_env_1_held_while_env_2_serves_the_next_invoke_and_s_removes_the_focused_one(self) -> None:
        """Env #1 held at invoke.response while env #2 serves the next invoke; `.`, c, `,`, c. Then both held again and
        s on the focused env #2: it leaves the fleet and the focus moves on to env #1, still held. (One session for
        what two tests checked apart: each began with env #1 and env #2 held at invoke.response.)"""
        async with running("counter") as pilot:
            await continued(pilot)
            await choose_breakpoints(pilot, Boundary.INVOKE_RESPONSE)
            await pilot.press("i")
            held = await until(pilot, held_at_response(1), "env #1 to hold the first invoke at invoke.response")
            first_id = held.environment.current_request_id
            assert first_id is not None

            # A second invoke while env #1 is held: a new environment cold-starts for it and runs it (breakpoints are
            # the fleet's: env #2 holds at invoke.response too). The panels stay on env #1.
            await pilot.press("i")
            both = await until(pilot, held_at_response(2), "env #2 to serve the second invoke")
            second = line(both, 2)
            assert second is not None and second.request_id not in (None, first_id)
            assert both.environment_number == 1 and both.environment.held_at is Boundary.INVOKE_RESPONSE
            # env #1 had run its Init (c) for the first invoke, whose REPORT carries its Init Duration: a cold start;
            # env #2 was started for the second: a cold start too.
            assert both.fleet is not None and (both.fleet.environments, both.fleet.concurrency) == (2, 2)
            assert (both.fleet.warm_hits, both.fleet.cold_starts) == (0, 2)
            await shows(pilot, "fleet: 2 envs · 2 busy (peak 2)", "cold 2 · warm 0", "▶#1 HELD invoke.response",
                        "#2 HELD invoke.response")
            assert second.request_id[:8] not in log_text(pilot), "env #2's lines reached env #1's log"

            # `.`: every panel is env #2's, and so is the log.
            shown = await focus(pilot, "full_stop", 2)
            assert shown.environment.current_request_id == second.request_id
            await shows(pilot, "env #2  HELD", f"request {second.request_id[:8]}")
            await until_true(pilot, lambda: f"START RequestId: {second.request_id}" in log_text(pilot),
                             "env #2's START line in the log")
            assert f"START RequestId: {first_id}" not in log_text(pilot)

            # c releases env #2 only: its invoke completes while env #1 stays held.
            await pilot.press("c")
            done = await until(pilot, lambda s: s.environment_number == 2 and s.environment.state is EnvState.FROZEN
                               and s.last_result is not None and s.environment.held_at is None, "env #2's result")
            assert payload(done) == {"invocations": 1, "tmp_lines": 1, "cold": True}  # its own process and /tmp
            assert held_at_response(1)(done), "c on env #2 released env #1"

            # `,` back to env #1, still held; c finishes it.
            back = await focus(pilot, "comma", 1)
            assert back.environment.held_at is Boundary.INVOKE_RESPONSE
            await until_true(pilot, lambda: f"START RequestId: {first_id}" in log_text(pilot), "env #1's log again")
            await pilot.press("c")
            finished = await until(pilot, lambda s: s.environment_number == 1 and s.last_result is not None
                                   and s.environment.held_at is None and s.environment.state is EnvState.FROZEN,
                                   "env #1's result")
            assert payload(finished) == {"invocations": 1, "tmp_lines": 1, "cold": True}
            assert finished.last_result is not None and finished.last_result.request_id == first_id

            # s removes the focused environment and the focus moves on: two more invokes held, one in each warm
            # environment (the breakpoints still set), then s on env #2.
            await pilot.press("i")
            await until(pilot, lambda s: held_at_response(1)(s) or held_at_response(2)(s), "a third invoke held")
            await pilot.press("i")
            await until(pilot, lambda s: held_at_response(1)(s) and held_at_response(2)(s),
                        "env #1 and env #2 held again")
            await focus(pilot, "2", 2)
            await pilot.press("s")  # Shutdown(env=2): env #2 spins down and leaves the fleet
            after = await until(pilot, lambda s: s.environment_number == 1 and line(s, 2) is None,
                                "the focus to move to env #1 once env #2 left")
            assert after.environment.held_at is Boundary.INVOKE_RESPONSE  # env #1 untouched by the shutdown
            await until_true(pilot, lambda: "env #2 left the fleet: showing env #1" in notifications(pilot),
                             "the notice")
            await shows(pilot, "env #1  HELD", "fleet: 1 env")


class TestTheCounts:
    async def test_the_first_invoke_after_init_is_cold_and_N_keeps_the_focus_on_the_new_environment_from_zero(
            self) -> None:
        """The first invoke after Init is cold, the next warm; N replaces env #1 by env #2, the focus stays on it (a
        notice says so) and it counts from zero, its first invoke cold. (One session for what two tests checked
        apart: the N test began with the same c.)"""
        async with running("counter") as pilot:
            await continued(pilot)
            await pilot.press("i")
            first = await until(pilot, invoked(1), "the first invoke")
            # Its REPORT carries the Init Duration that `c` ran ahead of it: the fleet line calls it cold too.
            assert first.last_report is not None and first.last_report.cold
            assert first.fleet is not None and (first.fleet.cold_starts, first.fleet.warm_hits) == (1, 0)
            await shows(pilot, "cold 1 · warm 0", "· 1 invoke")
            await pilot.press("i")
            await until(pilot, invoked(2), "the second invoke")
            await shows(pilot, "cold 1 · warm 1", "· 2 invokes")

            await pilot.press("N")
            renewed = await until(pilot, lambda s: s.environment_number == 2 and s.environment.state is EnvState.COLD,
                                  "env #1 to come back as env #2")
            assert renewed.invocations == 0 and [x.invocations for x in renewed.environments] == [0]
            assert [x.number for x in renewed.environments] == [2]
            await until_true(pilot, lambda: any(n.startswith("env #1 was replaced by a new environment: env #2")
                                                for n in notifications(pilot)), "the notice")
            await shows(pilot, "env #2  COLD", "· 0 invokes")
            await pilot.press("i")
            done = await until(pilot, lambda s: s.environment_number == 2 and invoked(1)(s), "env #2's first invoke")
            assert done.invocations == 1 and [x.invocations for x in done.environments] == [1]
            assert payload(done)["cold"] is True
            assert done.fleet is not None and (done.fleet.cold_starts, done.fleet.warm_hits) == (2, 1)
            await shows(pilot, "env #2  FROZEN", "· 1 invoke", "cold 2 · warm 1")
