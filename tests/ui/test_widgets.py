"""The debugger's widgets, each in a tiny host app, fed snapshots of real runs (see snapshots.py).

Each test asserts what the user would read: the labels, request ids and line numbers that could
silently break when the model or a widget changes. Sizes: 140x45 (legible) and 100x30 (usable).
"""

from __future__ import annotations

import dataclasses
import re

import pytest
from rich.syntax import Syntax
from textual.widgets import Static

import snapshots
from _host import SMALL, hosted, screen_lines, screen_text, until_true
from lambdatui.model.boundaries import EnvState
from lambdatui.model.debug_snapshot import DebuggerSnapshot
from lambdatui.model.facts import FUNCTION, PLATFORM, LogLine, extension_source
from lambdatui.ui.explain import explain
from lambdatui.ui.event_templates import TEMPLATES
from lambdatui.ui.widgets import (
    EventPanel,
    ExplainBar,
    GlobalsView,
    HeaderBar,
    LogView,
    ParticipantsTable,
    PhaseTimeline,
    ResultView,
    TmpView,
)
from lambdatui.ui.widgets.event_panel import EventProblem
from lambdatui.ui.widgets.participants import COLUMNS, participant_cells
from lambdatui.ui.widgets import phase_timeline
from lambdatui.ui.widgets.phase_timeline import timeline_items
from lambdatui.ui.widgets.timeline_layout import log_width

pytestmark = pytest.mark.anyio


def with_env(snapshot: DebuggerSnapshot, **changes: object) -> DebuggerSnapshot:
    return dataclasses.replace(snapshot, environment=dataclasses.replace(snapshot.environment, **changes))


class TestHeaderBar:
    async def test_cold_names_the_function_and_its_limits(self, cold_snapshot: DebuggerSnapshot) -> None:
        async with hosted(HeaderBar(), cold_snapshot) as pilot:
            first, second = screen_lines(pilot)[:2]
        for expected in ("λ counter", "env #1", "COLD", "handler.handler", "python:3", "timeout 3 s", "128 MB",
                         "0 invokes"):
            assert expected in first
        assert "cold" in second

    async def test_warm_is_frozen_after_three_invokes(self, warm_snapshot: DebuggerSnapshot) -> None:
        async with hosted(HeaderBar(), warm_snapshot) as pilot:
            first, second = screen_lines(pilot)[:2]
        assert "FROZEN" in first and "3 invokes" in first
        assert "frozen" in second

    async def test_held_boundary_is_prominent_even_at_100_columns(self, held_snapshot: DebuggerSnapshot) -> None:
        async with hosted(HeaderBar(), held_snapshot, size=SMALL) as pilot:
            lines = screen_lines(pilot)
            assert pilot.app.widget.has_class("-held")
        assert "INIT" in lines[0]
        assert "HELD at init.function" in lines[1]
        assert f"request {snapshots.HELD_ID[:8]}" in lines[1]
        assert lines[2] == ""  # two rows, truncated rather than wrapped


    async def test_running_with_the_runtime_frozen_by_the_user_is_not_running(self, warm_snapshot: DebuggerSnapshot
                                                                              ) -> None:
        frozen = with_env(warm_snapshot, state=EnvState.RUNNING, current_request_id=snapshots.WARM_IDS[2],
                          user_frozen=frozenset({"runtime"}))
        async with hosted(HeaderBar(), frozen) as pilot:
            first, second = screen_lines(pilot)[:2]
        assert "RUNNING" not in first and "FROZEN" in first, first
        assert "runtime stopped" in second and "▶ running" not in second, second
        assert second.count("runtime") == 1, second  # said once, not again as "frozen by you: runtime"

    async def test_held_during_an_invoke_is_held_not_running(self, warm_snapshot: DebuggerSnapshot) -> None:
        from lambdatui.model.boundaries import Boundary

        held = with_env(warm_snapshot, state=EnvState.RUNNING, held_at=Boundary.INVOKE_RESPONSE, frozen=True,
                        current_request_id=snapshots.WARM_IDS[2])
        async with hosted(HeaderBar(), held) as pilot:
            first = screen_lines(pilot)[0]
        assert "RUNNING" not in first and "HELD · INVOKE" in first, first


    @pytest.mark.parametrize("state", [EnvState.COLD, EnvState.SHUT_DOWN])
    async def test_after_a_reset_or_shutdown_the_memory_of_the_gone_processes_is_not_shown(
            self, warm_snapshot: DebuggerSnapshot, state: EnvState) -> None:
        from lambdatui.model.facts import MemoryMeasured

        measured = (MemoryMeasured("invoke", snapshots.WARM_IDS[2], 100, 100, 108, 128, "cgroup v1", 1.0),)
        warm = dataclasses.replace(warm_snapshot, memory=measured)
        async with hosted(HeaderBar(), warm) as pilot:
            assert "mem 108/128 MB" in screen_lines(pilot)[0]
        gone = dataclasses.replace(with_env(warm_snapshot, state=state), memory=measured)
        async with hosted(HeaderBar(), gone) as pilot:
            first = screen_lines(pilot)[0]
        assert "mem 108/128 MB" not in first and "128 MB" in first, first


class TestPhaseTimeline:
    async def test_cold_has_no_bars_but_a_legend(self, cold_snapshot: DebuggerSnapshot) -> None:
        async with hosted(PhaseTimeline(), cold_snapshot) as pilot:
            text = screen_text(pilot)
        assert "No phases yet" in text
        assert "■ init" in text and "■ shutdown" in text

    async def test_warm_shows_init_steps_each_invoke_and_the_marker(self, warm_snapshot: DebuggerSnapshot) -> None:
        async with hosted(PhaseTimeline(), warm_snapshot) as pilot:
            text = screen_text(pilot)
            assert pilot.app.widget.hidden_bars == 0
        for request_id in snapshots.WARM_IDS:
            assert request_id[:8] in text
        assert "Runtime init" in text and "Fn init" in text or "Function init" in text
        assert "frozen" in text
        assert "▲ invoke.done" in text or "invoke.done ▲" in text
        assert " ms" in text  # durations under the bars

    async def test_timeout_and_reset_are_marked(self, timeout_snapshot: DebuggerSnapshot) -> None:
        labels = [item.label for item in timeline_items(timeout_snapshot)]
        assert any(label.endswith("✗ timeout") for label in labels)
        assert "reset: timeout" in labels
        async with hosted(PhaseTimeline(), timeout_snapshot) as pilot:
            text = screen_text(pilot)
        assert "✗ timeout" in text and "1.0 s" in text and "reset" in text

    async def test_held_marker_says_held(self, held_snapshot: DebuggerSnapshot) -> None:
        async with hosted(PhaseTimeline(), held_snapshot) as pilot:
            text = screen_text(pilot)
        assert "held at init.function" in text

    async def test_narrow_keeps_the_newest_bars(self, warm_snapshot: DebuggerSnapshot) -> None:
        async with hosted(PhaseTimeline(), warm_snapshot, size=(50, 6)) as pilot:
            text = screen_text(pilot)
            hidden = pilot.app.widget.hidden_bars
        assert hidden > 0
        assert f"◀ {hidden} earlier" in text and f"bars {hidden + 1}-" in text
        assert snapshots.WARM_IDS[-1][:8] in text  # the newest invoke is always visible

    def test_log_scale_keeps_short_and_long_phases_visible_and_ordered(self) -> None:
        widths = [log_width(ms) for ms in (0.01, 3, 100, 1000, 60_000)]
        assert widths == sorted(widths)
        assert widths[0] >= 9 and widths[1] < widths[3] and widths[-1] <= 30


class TestParticipantsTable:
    async def test_cold_has_one_placeholder_row(self, cold_snapshot: DebuggerSnapshot) -> None:
        async with hosted(ParticipantsTable(), cold_snapshot) as pilot:
            table = pilot.app.widget
            assert table.row_count == 1
            assert "no process" in screen_text(pilot)

    async def test_held_lists_runtime_and_parked_extension(self, held_snapshot: DebuggerSnapshot) -> None:
        async with hosted(ParticipantsTable(), held_snapshot) as pilot:
            table: ParticipantsTable = pilot.app.widget  # type: ignore[assignment]
            runtime = [str(cell) for cell in table.get_row("runtime")]
            audit = [str(cell) for cell in table.get_row("extension:audit")]
        assert runtime[:4] == ["runtime", "runtime", "Started", "frozen"]
        assert runtime[4] == "no"
        assert audit[:3] == ["audit", "external", "Ready"]
        assert re.fullmatch(r"yes · \d+(\.\d+)? (ms|s)", audit[4])
        assert audit[5] == "INVOKE" and audit[6] == "INVOKE SHUTDOWN"

    def test_an_extension_held_mid_job_says_so_its_clock_runs_on(self, held_snapshot: DebuggerSnapshot) -> None:
        # Held while it works (not parked): its own sleeps and timeouts run on, which the Process column says.
        env = held_snapshot.environment
        audit = next(p for p in env.participants if p.key == "extension:audit")
        working = dataclasses.replace(audit, parked=False, parked_since=None)
        assert participant_cells(audit, env)["process"] == "frozen"  # parked: nothing of its own runs
        assert participant_cells(working, env)["process"] == "mid-job"
        assert participant_cells(working, dataclasses.replace(env, held_at=None))["process"] == "frozen"

    def test_every_process_state_fits_its_column(self, held_snapshot: DebuggerSnapshot) -> None:
        # The column does not grow (only "Receives next" takes spare room): a longer word is cut at every width.
        env = held_snapshot.environment
        width = next(w for key, _, w in COLUMNS if key == "process")
        audit = next(p for p in env.participants if p.key == "extension:audit")
        states = ("NotStarted", "NotLaunched", "Exited")
        views = [dataclasses.replace(audit, alive=False, state=state) for state in states]
        views += [audit, dataclasses.replace(audit, parked=False, parked_since=None)]
        shown = {participant_cells(view, env)["process"] for view in views}
        shown.add(participant_cells(audit, dataclasses.replace(env, frozen=False))["process"])
        assert shown >= {"none", "exited", "frozen", "mid-job"}, shown
        assert all(len(text) <= width for text in shown), shown

    async def test_parked_time_is_as_of_minus_parked_since_and_updates_in_place(
            self, held_snapshot: DebuggerSnapshot, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setattr(phase_timeline, "monotonic_clock", lambda: 0.0)  # as_of as shown: no time passes
        audit = next(p for p in held_snapshot.environment.participants if p.key == "extension:audit")
        later = with_env(held_snapshot, as_of=audit.parked_since + 1.2)
        async with hosted(ParticipantsTable(), held_snapshot) as pilot:
            table: ParticipantsTable = pilot.app.widget  # type: ignore[assignment]
            table.move_cursor(row=1)
            table.show(later)
            await pilot.pause()
            assert str(table.get_row("extension:audit")[4]) == "yes · 1.2 s"
            assert table.cursor_row == 1  # updated in place: the cursor stayed

    async def test_parked_time_ticks_while_no_snapshot_comes(self, held_snapshot: DebuggerSnapshot,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
        """Held, frozen or idle, nothing happens and no snapshot comes: the parked time kept saying what it was when
        the last one came (the runtime "parked 29 ms" after a minute frozen) while the timeline's bar ticked on."""
        clock = [100.0]
        monkeypatch.setattr(phase_timeline, "monotonic_clock", lambda: clock[0])
        audit = next(p for p in held_snapshot.environment.participants if p.key == "extension:audit")
        shown = with_env(held_snapshot, as_of=audit.parked_since + 1.2)
        async with hosted(ParticipantsTable(), shown) as pilot:
            table: ParticipantsTable = pilot.app.widget  # type: ignore[assignment]
            assert str(table.get_row("extension:audit")[4]) == "yes · 1.2 s"
            clock[0] += 5.0  # five seconds on, with no snapshot
            await until_true(pilot, lambda: str(table.get_row("extension:audit")[4]) == "yes · 6.2 s",
                             "the parked time five seconds on")
            table.show(shown)  # the same snapshot again (escape, [ ], another environment and back): no step back
            await pilot.pause()
            assert str(table.get_row("extension:audit")[4]) == "yes · 6.2 s"

    async def test_a_new_environment_says_init_and_a_reset_one_re_init(self, crash_snapshot: DebuggerSnapshot) -> None:
        """Replaced with `N`, env #2 is new (an empty /tmp, a full cold start, as the explain line says): the row said
        "next invoke: re-Init", as for an environment reset after a crash."""
        async with hosted(ParticipantsTable(), snapshots.renewed()) as pilot:
            text = screen_text(pilot)
        assert "next invoke: Init" in text and "re-Init" not in text
        async with hosted(ParticipantsTable(), crash_snapshot) as pilot:
            assert "next invoke: re-Init" in screen_text(pilot)

    async def test_a_shut_down_environment_promises_no_next_invoke(self) -> None:
        """Shut down (`s`), the row said "next invoke: re-Init" under an explain line saying the next invoke starts a
        new environment: no invoke comes to this one again."""
        async with hosted(ParticipantsTable(), snapshots.shut_down()) as pilot:
            text = screen_text(pilot)
        assert "no process" in text and "none: left the fleet" in text
        assert "re-Init" not in text

    async def test_warm_runtime_is_frozen_and_waits_for_the_next_event(self, warm_snapshot: DebuggerSnapshot) -> None:
        async with hosted(ParticipantsTable(), warm_snapshot, size=SMALL) as pilot:
            row = [str(cell) for cell in pilot.app.widget.get_row("runtime")]  # type: ignore[attr-defined]
        assert row[3] == "frozen" and row[4].startswith("yes")
        assert row[5].startswith("the next invoke")


class TestGlobalsView:
    async def test_empty_before_function_init(self, cold_snapshot: DebuggerSnapshot) -> None:
        async with hosted(GlobalsView(), cold_snapshot) as pilot:
            assert "Globals appear after Function init (lambdatui's Python runtime only)" in screen_text(pilot)

    async def test_custom_runtime_says_why_there_is_nothing(self, cold_snapshot: DebuggerSnapshot) -> None:
        custom = dataclasses.replace(cold_snapshot, function=dataclasses.replace(
            cold_snapshot.function, runtime="provided:al2023"))
        async with hosted(GlobalsView(), custom) as pilot:
            assert "this runtime (provided:al2023) reports none" in screen_text(pilot)

    async def test_every_change_label(self, mutations_snapshot: DebuggerSnapshot) -> None:
        async with hosted(GlobalsView(), mutations_snapshot) as pilot:
            lines = screen_lines(pilot)
        text = "\n".join(lines)
        assert f"after invoke {snapshots.STEP_2[:8]}" in text

        def row(name: str) -> str:
            return next(line for line in lines if re.search(rf"\s{name}\s|\s{name}$", line))

        assert row("cache").split()[0] == "changed"
        assert row("counter").split()[0] == "replaced"
        assert row("fresh").split()[0] == "new"
        assert row("temporary").split()[0] == "gone"
        assert row("TMP").split()[0] == "TMP"  # unchanged: no label
        assert "[1, 2]" in row("cache")
        state_at = lines.index(next(line for line in lines if line.strip() == "STATE"))
        imports_at = lines.index(next(line for line in lines if "IMPORTS AND DEFINITIONS" in line))
        assert state_at < lines.index(row("counter")) < imports_at < lines.index(row("_write"))

    async def test_dunders_hidden_until_asked_for(self, mutations_snapshot: DebuggerSnapshot) -> None:
        async with hosted(GlobalsView(), mutations_snapshot) as pilot:
            assert "__name__" not in screen_text(pilot) and "dunders hidden" in screen_text(pilot)
            pilot.app.widget.toggle_dunders()  # type: ignore[attr-defined]
            await pilot.pause()
            assert "__name__" in screen_text(pilot)

    async def test_threads_that_the_freeze_will_stop(self, mutations_snapshot: DebuggerSnapshot) -> None:
        async with hosted(GlobalsView(), mutations_snapshot) as pilot:
            lines = screen_lines(pilot)
        poller = next(line for line in lines if "poller" in line)
        assert "daemon" in poller and "alive" in poller
        assert any("MainThread" in line for line in lines)

    async def test_reprs_truncate_at_100_columns(self, mutations_snapshot: DebuggerSnapshot) -> None:
        async with hosted(GlobalsView(), mutations_snapshot, size=SMALL) as pilot:
            lines = screen_lines(pilot)
        tempfile_row = next(line for line in lines if "<module 'tempfile'" in line)
        # Its repr names the interpreter's own path: long under pyenv, short enough for the column under /usr/lib.
        assert mutations_snapshot.globals is not None
        value = next(entry.repr for entry in mutations_snapshot.globals.entries if entry.name == "tempfile")
        whole = len(tempfile_row[:tempfile_row.index("<module")]) + len(value)
        assert tempfile_row.endswith("…") == (whole > 100), (tempfile_row, value)

    async def test_globals_not_kept_are_counted(self, mutations_snapshot: DebuggerSnapshot) -> None:
        assert mutations_snapshot.globals is not None
        cut = dataclasses.replace(mutations_snapshot, globals=dataclasses.replace(mutations_snapshot.globals,
                                                                                   dropped=523))
        async with hosted(GlobalsView(), cut) as pilot:
            assert "523 more globals not shown" in screen_text(pilot)

    async def test_globals_of_a_reset_process_are_marked_gone(self, crash_snapshot: DebuggerSnapshot) -> None:
        async with hosted(GlobalsView(), crash_snapshot) as pilot:
            assert "that process is gone" in screen_text(pilot)


class TestTmpView:
    async def test_who_touched_each_path(self, mutations_snapshot: DebuggerSnapshot) -> None:
        step1, step2 = snapshots.STEP_1[:8], snapshots.STEP_2[:8]
        async with hosted(TmpView(), mutations_snapshot) as pilot:
            lines = screen_lines(pilot)

        def row(name: str) -> str:
            return next(line for line in lines if line.lstrip().startswith(name))

        assert row("a.txt").endswith(f"changed by {step2}")
        assert row("c.txt").endswith(f"new by {step2}")
        assert row("from_init.txt").endswith("from init")
        assert row("sub/").endswith(f"from {step1}")
        assert row("b.bin").startswith("   b.bin")  # indented under sub/
        assert "2.9 KB" in row("b.bin") and "20 B" in row("a.txt")
        removed = next(line for line in lines if "/tmp/doomed.txt" in line)
        assert f"removed by {step2}" in removed
        assert lines.index(removed) > lines.index(row("b.bin"))

    async def test_counter_file_carries_the_request_id(self, warm_snapshot: DebuggerSnapshot) -> None:
        async with hosted(TmpView(), warm_snapshot) as pilot:
            text = screen_text(pilot)
        assert "counter.txt" in text and f"changed by {snapshots.WARM_IDS[-1][:8]}" in text

    async def test_empty_tmp_and_notes(self, cold_snapshot: DebuggerSnapshot) -> None:
        async with hosted(TmpView(), cold_snapshot) as pilot:
            assert "/tmp is empty" in screen_text(pilot)
        fallback = dataclasses.replace(
            cold_snapshot, sandbox_mode="tmpdir", sandbox_note="TMPDIR mode: absolute /tmp paths escape the sandbox",
            tmp=dataclasses.replace(cold_snapshot.tmp, truncated=True))
        async with hosted(TmpView(), fallback) as pilot:
            text = screen_text(pilot)
        assert "note: TMPDIR mode: absolute /tmp paths escape the sandbox" in text
        assert "more entries than lambdatui lists" in text


    async def test_a_symlinks_kind_and_its_mark_do_not_run_together(self, warm_snapshot: DebuggerSnapshot) -> None:
        from lambdatui.model.facts import TmpEntry

        rid = snapshots.WARM_IDS[2]
        link = TmpEntry("/tmp/link", "symlink", 11, 1700000000.0, rid, rid, "new")
        tmp = dataclasses.replace(warm_snapshot.tmp, entries=(*warm_snapshot.tmp.entries, link))
        async with hosted(TmpView(), dataclasses.replace(warm_snapshot, tmp=tmp), size=(160, 40)) as pilot:
            row = next(line for line in screen_lines(pilot) if "link @" in line)
        assert re.search(r"symlink +new by", row), row


class TestEventPanel:
    async def test_template_is_highlighted_with_its_source(self, held_snapshot: DebuggerSnapshot) -> None:
        panel = EventPanel(TEMPLATES["S3 put"], "template: S3 put")
        async with hosted(panel, held_snapshot) as pilot:
            text = screen_text(pilot)
            body = pilot.app.query_one("#event-json", Static).content
        assert panel.error is None and not panel.has_class("-invalid")
        assert "template: S3 put" in text and "ObjectCreated:Put" in text
        assert f"request {snapshots.HELD_ID[:8]}" in text
        assert isinstance(body, Syntax) and body.lexer is not None and "json" in body.lexer.aliases

    async def test_invalid_json_shows_line_and_column(self, cold_snapshot: DebuggerSnapshot) -> None:
        async with hosted(EventPanel(), cold_snapshot, size=SMALL) as pilot:
            panel: EventPanel = pilot.app.widget  # type: ignore[assignment]
            panel.event_text = '{"a": 1,\n "b": }'
            panel.source = "events/broken.json"
            await pilot.pause()
            assert panel.error == EventProblem("2:7 Expecting value", syntax=True)
            text = screen_text(pilot)
            assert "invalid JSON at line 2:7 Expecting value" in text and "events/broken.json" in text
            panel.event_text = '{"a": NaN}'  # JSON to Python's parser, not to Lambda's front end
            await pilot.pause()
            assert panel.error is not None and not panel.error.syntax
            text = screen_text(pilot)
            assert "Lambda refuses it: Non-standard token 'NaN'" in text and "invalid JSON" not in text
            panel.set_event('{"b": 2}', "template: Empty object")
            await pilot.pause()
            assert panel.error is None and panel.source == "template: Empty object"
            text = screen_text(pilot)
            assert "invalid JSON" not in text and "template: Empty object" in text


class TestResultView:
    async def test_nothing_yet(self, cold_snapshot: DebuggerSnapshot) -> None:
        async with hosted(ResultView(), cold_snapshot) as pilot:
            assert "No invoke yet" in screen_text(pilot)

    async def test_response_and_report(self, warm_snapshot: DebuggerSnapshot) -> None:
        async with hosted(ResultView(), warm_snapshot) as pilot:
            text = screen_text(pilot)
            assert not pilot.app.query_one("#stack").display
        assert f"response  request {snapshots.WARM_IDS[-1][:8]}" in text
        assert '"invocations": 3' in text
        assert re.search(r"Status success · Duration \d+\.\d\d ms · Billed \d+ ms · Memory \d+/128 MB", text)

    async def test_a_response_shown_before_its_report_has_no_other_invokes_report(
            self, warm_snapshot: DebuggerSnapshot) -> None:
        # Held at invoke.response: the new invoke's result is in, its REPORT comes at its end; the last REPORT is
        # the previous invoke's (a cold one's Init, a crashed one's error), which is not this one's.
        assert warm_snapshot.last_result is not None and warm_snapshot.last_report is not None
        newer = dataclasses.replace(warm_snapshot.last_result, request_id="0d0d0d0d-1111-2222-3333-444444444444")
        async with hosted(ResultView(), dataclasses.replace(warm_snapshot, last_result=newer)) as pilot:
            text = screen_text(pilot)
        assert "response  request 0d0d0d0d" in text
        assert "Billed" not in text and "Status success" not in text
        assert "REPORT of 0d0d0d0d: at its invoke's end" in text

    async def test_timeout_shows_the_hung_line(self, timeout_snapshot: DebuggerSnapshot) -> None:
        source = (snapshots.SAMPLES / "slow" / "handler.py").read_text().splitlines()
        hung = next(n for n, line in enumerate(source, 1) if "time.sleep(seconds)" in line)
        async with hosted(ResultView(), timeout_snapshot) as pilot:
            view: ResultView = pilot.app.widget  # type: ignore[assignment]
            text = screen_text(pilot)
            syntax = pilot.app.query_one("#source", Static).content
            assert view.hung_line == hung
            assert isinstance(syntax, Syntax) and syntax.highlight_lines == {hung}
            assert syntax.line_range == (hung - 8, hung + 8)
            assert "function error: Sandbox.Timedout" in text
            assert f"handler.py:{hung} in wait_for_downstream: where the time went" in text
            assert "time.sleep(seconds)" in text  # scrolled into view
            assert "Status timeout" in text and "Init " in text

    async def test_the_hung_line_is_scrolled_to_even_when_the_scroll_comes_before_the_layout(
            self, cold_snapshot: DebuggerSnapshot, timeout_snapshot: DebuggerSnapshot) -> None:
        """The scroll waits for the refresh after the stack is shown; on a loaded machine it ran before the pane had
        laid the stack and source out, was clamped to the pane's old height, and the hung line never came into view
        (the CI's test_t_forces_the_timeout_of_a_running_invoke: the error's payload shown, no source line)."""
        async with hosted(ResultView(), cold_snapshot, size=SMALL) as pilot:
            view: ResultView = pilot.app.widget  # type: ignore[assignment]
            later = view.call_after_refresh
            early: list[object] = []

            def first_one_now(callback, *args, **kwargs) -> bool:  # type: ignore[no-untyped-def]
                if not early:  # as a starved refresh would have it: before the layout
                    early.append(callback)
                    callback(*args, **kwargs)
                    return True
                return later(callback, *args, **kwargs)

            view.call_after_refresh = first_one_now  # type: ignore[method-assign]
            view.show(timeout_snapshot)
            await until_true(pilot, lambda: "time.sleep(seconds)" in screen_text(pilot), "the hung line in view")
            assert early, "the scroll was never asked for"

    async def test_timeout_at_100_columns_still_reaches_the_source(self, timeout_snapshot: DebuggerSnapshot) -> None:
        async with hosted(ResultView(), timeout_snapshot, size=SMALL) as pilot:
            assert "time.sleep(seconds)" in screen_text(pilot)

    async def test_crash_is_a_function_error_without_stacks(self, crash_snapshot: DebuggerSnapshot) -> None:
        async with hosted(ResultView(), crash_snapshot) as pilot:
            text = screen_text(pilot)
            assert not pilot.app.query_one("#stack").display
            assert pilot.app.widget.hung_line is None  # type: ignore[attr-defined]
        assert "function error: Runtime.ExitError" in text and "Runtime.ExitError" in text


def _flood(count: int) -> list[LogLine]:
    sources = (FUNCTION, PLATFORM, extension_source("audit"), FUNCTION)
    return [LogLine(sources[i % 4], f"line {i} from {sources[i % 4]}") for i in range(count)]


class TestLogView:
    async def test_snapshot_lines_are_taken_once(self, warm_snapshot: DebuggerSnapshot) -> None:
        async with hosted(LogView(), warm_snapshot) as pilot:
            view: LogView = pilot.app.widget  # type: ignore[assignment]
            count = view.line_count
            view.show(warm_snapshot)
            view.add_lines(warm_snapshot.logs)
            assert view.line_count == count >= len(warm_snapshot.logs)
            text = screen_text(pilot)
        assert "START RequestId" in text and "REPORT RequestId" in text

    async def test_bounded_however_much_is_printed(self) -> None:
        async with hosted(LogView(max_lines=5000), size=SMALL) as pilot:
            view: LogView = pilot.app.widget  # type: ignore[assignment]
            lines = _flood(20_000)
            for start in range(0, len(lines), 1000):
                view.add_lines(lines[start:start + 1000])
            await pilot.pause()
            assert view.line_count == 5000 and view.dropped == 15_000
            assert view.visible_lines()[0] == "line 15000 from function"
            assert view.visible_lines()[-1] == "line 19999 from function"
            assert len(view._lines._rows) <= 2 * 5000  # the dead prefix is compacted
            assert "line 19999 from function" in screen_text(pilot)  # follows the end

            view.set_filter({FUNCTION})
            await pilot.pause()
            assert view.visible_count == 2500
            assert all("from function" in line for line in view.visible_lines())
            rows = [line for line in screen_lines(pilot)[1:] if line.strip()]
            assert rows and all(line.startswith("function") for line in rows)

    async def test_a_batch_longer_than_the_log_keeps_makes_rows_of_its_newest_lines_only(self) -> None:
        """Issue 9: a burst's batch is cut to what the pane keeps before any row is made; the rest is counted."""
        async with hosted(LogView(max_lines=1000), size=SMALL) as pilot:
            view: LogView = pilot.app.widget  # type: ignore[assignment]
            lines = _flood(1250)
            view.add_lines(lines)
            await pilot.pause()
            assert view.line_count == 1000 and view.dropped == 250
            assert len(view._lines._rows) == 1000  # no row was made for the 250 dropped at once
            assert view.visible_lines()[0] == lines[250].text
            view.add_lines(lines[-10:])  # already taken in: nothing new, nothing dropped
            assert view.line_count == 1000 and view.dropped == 250

    async def test_scrolled_back_reader_keeps_their_rows_while_old_ones_drop(self) -> None:
        async with hosted(LogView(max_lines=1000)) as pilot:
            view: LogView = pilot.app.widget  # type: ignore[assignment]
            lines = _flood(3000)
            view.add_lines(lines[:1000])
            await pilot.pause()
            view._lines.scroll_to(y=500, animate=False, immediate=True)
            await pilot.pause()
            top = view.visible_lines()[int(view._lines.scroll_y)]
            view.add_lines(lines[1000:1300])
            await pilot.pause()
            assert view.visible_lines()[int(view._lines.scroll_y)] == top == "line 500 from function"

    async def test_filter_presets_cycle_and_click(self) -> None:
        async with hosted(LogView()) as pilot:
            view: LogView = pilot.app.widget  # type: ignore[assignment]
            view.add_lines(_flood(40))
            assert view.preset == "all" and view.visible_count == 40
            view.cycle_filter()
            assert view.preset == "platform" and view.visible_count == 10
            view.cycle_filter()
            assert view.preset == "function" and view.visible_count == 20
            view.cycle_filter()
            assert view.preset == "extensions"
            assert all(line.endswith("extension:audit") for line in view.visible_lines())
            view.cycle_filter()
            assert view.preset == "all"
            view.set_filter({"extensions"})  # the alias a screen may use for every extension
            assert view.preset == "extensions" and view.visible_count == 10
            await pilot.click("#log-filter-function")
            await pilot.pause()
            assert view.preset == "function"
            view.add_lines([LogLine(PLATFORM, "END RequestId: x"), LogLine(FUNCTION, "kept")])
            assert view.visible_lines()[-1] == "kept" and view.line_count == 42

    async def test_carriage_returns_start_new_rows(self) -> None:
        async with hosted(LogView()) as pilot:
            view: LogView = pilot.app.widget  # type: ignore[assignment]
            printed = "[ERROR] boom\rTraceback (most recent call last):\r  File \"h.py\"\x1b[0m"
            view.add_lines([LogLine(FUNCTION, printed)])
            await pilot.pause()
            assert view.visible_lines() == ["[ERROR] boom", "Traceback (most recent call last):", '  File "h.py"']
            assert '  File "h.py"' in screen_text(pilot)


class TestExplainBar:
    async def test_held_explanation(self, held_snapshot: DebuggerSnapshot) -> None:
        async with hosted(ExplainBar(), held_snapshot, size=SMALL) as pilot:
            bar: ExplainBar = pilot.app.widget  # type: ignore[assignment]
            text = " ".join(line.strip(" ▌") for line in screen_lines(pilot) if line.strip())
            assert bar.has_class("-held") and bar.text == explain(held_snapshot)
            assert bar.size.height <= 3
        assert text.startswith("held at init.function")
        assert "handler.py" in text

    async def test_state_explanation(self, warm_snapshot: DebuggerSnapshot) -> None:
        async with hosted(ExplainBar(), warm_snapshot) as pilot:
            assert "frozen" in screen_text(pilot)
            assert not pilot.app.widget.has_class("-held")


@pytest.mark.parametrize("size", [(140, 45), SMALL])
async def test_every_widget_renders_every_snapshot(size: tuple[int, int], cold_snapshot: DebuggerSnapshot,
                                                   warm_snapshot: DebuggerSnapshot,
                                                   timeout_snapshot: DebuggerSnapshot,
                                                   crash_snapshot: DebuggerSnapshot,
                                                   held_snapshot: DebuggerSnapshot,
                                                   mutations_snapshot: DebuggerSnapshot) -> None:
    """Early, late, failed and held snapshots, one after another, then a theme switch: nothing raises."""
    sequence = [cold_snapshot, held_snapshot, warm_snapshot, timeout_snapshot, crash_snapshot, mutations_snapshot,
                with_env(cold_snapshot, state=EnvState.SHUT_DOWN)]
    for widget_type in (HeaderBar, PhaseTimeline, ParticipantsTable, GlobalsView, TmpView, EventPanel, ResultView,
                        LogView, ExplainBar):
        async with hosted(widget_type(), size=size) as pilot:
            for snapshot in sequence:
                pilot.app.widget.show(snapshot)  # type: ignore[attr-defined]
                await pilot.pause()
            pilot.app.theme = "textual-light"  # widgets holding Rich colours redraw with the new theme
            await pilot.pause()
            assert screen_text(pilot).strip()



def test_the_header_names_the_interpreter_that_runs_the_function(cold_snapshot: DebuggerSnapshot) -> None:
    import dataclasses

    from lambdatui.ui.widgets.header_bar import HeaderBar

    fn = dataclasses.replace(cold_snapshot.function, interpreter="/home/me/proj/.venv/bin/python")
    row = HeaderBar._identity_row(dataclasses.replace(cold_snapshot, function=fn)).plain
    assert "python:3 (.venv/bin/python)" in row
    custom = dataclasses.replace(cold_snapshot.function, runtime="provided", interpreter="")
    assert "provided ·" in HeaderBar._identity_row(dataclasses.replace(cold_snapshot, function=custom)).plain



def test_the_headers_failure_line_says_a_timed_out_init_once() -> None:
    """An Init that timed out has no error type but its status: the header read "✗ Init timed out: timeout"."""
    from types import SimpleNamespace

    from lambdatui.model import facts as f
    from lambdatui.ui.widgets.header_bar import last_failure

    timed_out = SimpleNamespace(last_init_failure=f.InitFailed("timeout", None, "the runtime never called /next"))
    assert last_failure(timed_out) == "✗ Init timed out"  # type: ignore[arg-type]
    failed = SimpleNamespace(last_init_failure=f.InitFailed("error", "Runtime.ExitError", "exit status 1"))
    assert last_failure(failed) == "✗ Init failed: Runtime.ExitError"  # type: ignore[arg-type]


def test_the_freeze_dialog_says_a_process_stopped_with_its_environment_is_not_running() -> None:
    """Held at a boundary (or idle between invokes) every process is stopped: the dialog said "running: freeze it"."""
    from types import SimpleNamespace

    from lambdatui.ui.command_targets import fault_targets

    runtime = SimpleNamespace(key="runtime", kind="runtime", state="Started", alive=True)

    def labels(frozen: bool, user_frozen: frozenset[str] = frozenset()) -> str:
        environment = SimpleNamespace(user_frozen=user_frozen, frozen=frozen, participants=(runtime,))
        return fault_targets(SimpleNamespace(environment=environment), frozen_marks=True)[0][1]  # type: ignore[arg-type]

    assert labels(False).endswith("— running: freeze it")
    assert labels(True).endswith("— stopped with the environment: freeze it to keep it stopped when it goes on")
    assert labels(True, frozenset({"runtime"})).endswith("— frozen: thaw it")


def test_a_binary_response_shows_its_control_bytes() -> None:
    """b"\\x00\\x01raw" read "raw" in the Result panel: the terminal draws a control byte as nothing."""
    from lambdatui.ui.widgets._format import pretty_payload

    assert pretty_payload(b"\x00\x01raw") == ("\u2400\u2401raw", "text")
    assert pretty_payload(b'{"a": "\\u0000"}') == ('{\n  "a": "\\u0000"\n}', "json")  # JSON escapes its own


def test_a_response_nested_past_the_hosts_json_shows_as_sent() -> None:
    """A 3.13 function reads and returns JSON nested 5,000 levels deep, which a 3.11 host's json cannot read; 20,000
    levels no host's reads (3.13's stops at about 10,000): the Result panel shows it as it came, where it raised
    RecursionError out of the widget."""
    from lambdatui.ui.widgets._format import pretty_payload

    deep = b"[" * 20_000 + b"]" * 20_000
    assert pretty_payload(deep, 100) == ("[" * 100, "text")


def test_a_wide_pane_shows_every_state_name_whole_and_a_narrow_one_keeps_its_columns() -> None:
    # Found by a black-box hunt: at 160 columns a runtime streaming its response showed "InvocationR…" while the
    # pane had room to spare.
    from lambdatui.core.extension_machine import ExtensionState
    from lambdatui.core.runtime_machine import RuntimeState
    from lambdatui.ui.widgets.participants import fitting_columns, state_name

    names = [state_name(state.value) for state in (*RuntimeState, *ExtensionState)]
    wide = dict((key, width) for key, _, width in fitting_columns(160))
    assert all(len(name) <= wide["state"] for name in names), (wide["state"], max(names, key=len))
    assert wide["next"] > dict((k, w) for k, _, w in COLUMNS)["next"]  # what is left still widens "Receives next"
    narrow = fitting_columns(104)  # no room to spare: the columns as written, none dropped
    assert narrow == COLUMNS
