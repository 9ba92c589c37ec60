"""What an extension subscribed to and was sent (issue 10): its row in the participants table, and its event view.

The state comes from facts fed to the model's reducer (`telemetry_session.py`): the audit extension subscribed to
the Telemetry API, its listener refused the first batch and took the retry, then it received INVOKE and two
batches. The real app renders it through the replay backend; keys are pressed with Textual's pilot.
"""

from __future__ import annotations

import dataclasses
import json

import pytest
from _host import hosted, screen_lines, screen_text, until_true
from palette import run_palette_command
from replay_backend import REPO, RecordedSession, load_session, replay
from telemetry_session import NAME, RID, activity_snapshot, delivered, record
from telemetry_session import facts as session_facts
from textual.pilot import Pilot
from textual.widgets import Tree

from lambdatui.model import debug_snapshot as ds
from lambdatui.model import facts as f
from lambdatui.model.boundaries import EnvState
from lambdatui.model.debug_state import ExtensionActivities
from lambdatui.ui.app import LambdaTuiApp
from lambdatui.ui.screens.extension_events import ExtensionEventsScreen, type_summary
from lambdatui.ui.screens.help import KEYS, HelpScreen
from lambdatui.ui.themes import DEFAULT_THEME
from lambdatui.ui.widgets import ParticipantsTable, phase_timeline
from lambdatui.ui.widgets.participants import telemetry_lines

pytestmark = pytest.mark.anyio

SIZE = (140, 45)
WIDE = (220, 14)


def app_over(snapshot: ds.DebuggerSnapshot) -> LambdaTuiApp:
    session = RecordedSession("telemetry", snapshot, ())
    return LambdaTuiApp(replay(session), code_dir=REPO / "sample_functions" / "extension", theme=DEFAULT_THEME)


async def ready(pilot: Pilot) -> LambdaTuiApp:
    app = pilot.app
    assert isinstance(app, LambdaTuiApp)
    for _ in range(100):
        if app.snapshot is not None and app.controller is not None:
            break
        await pilot.pause(0.02)
    await pilot.pause()
    return app


def tree_lines(screen: ExtensionEventsScreen) -> list[str]:
    tree = screen.query_one(Tree)
    return [str(tree.get_node_at_line(i).label) for i in range(tree.last_line + 1)]  # type: ignore[union-attr]


# ---------------------------------------------------------------------- the row


async def test_the_row_says_what_it_subscribed_to_and_its_deliveries(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(phase_timeline, "monotonic_clock", lambda: 0.0)  # "ago" as of the snapshot: no time passes
    async with hosted(ParticipantsTable(), activity_snapshot(), size=WIDE) as pilot:
        lines = screen_lines(pilot)
    header = lines[0]
    assert header.index("Parked on Next") < header.index("Telemetry") < header.index("Receives next")
    text = "\n".join(lines)
    for expected in ("telemetry: platform function", "HTTP :4243/telemetry", "buffer 1000 · 256 KB · 100 ms",
                     "3 batches, 7 rec · 790.0 ms ago", "1 failed · 1 retry"):
        assert expected in text


def test_telemetry_lines_for_every_case() -> None:
    snapshot = activity_snapshot()
    audit = snapshot.extension(NAME)
    assert audit is not None
    assert telemetry_lines(None, 0.0) == ["not subscribed"]
    quiet = dataclasses.replace(audit, batches=0, records=0, failed=0, retries=0, last_delivery_at=None)
    assert telemetry_lines(quiet, 0.0)[-1] == "nothing delivered yet"
    dropped = dataclasses.replace(audit, failed=0, retries=0, dropped_records=40)
    assert telemetry_lines(dropped, 1002.0)[-1] == "40 dropped"
    tcp = dataclasses.replace(audit, subscription=dataclasses.replace(audit.subscription, protocol="TCP", port=9))
    assert telemetry_lines(tcp, 1002.0)[1] == "TCP :9"


async def test_no_telemetry_column_until_an_extension_subscribes() -> None:
    held = load_session("cold_held_init_function").snapshot
    table = ParticipantsTable()
    async with hosted(table, held, size=WIDE) as pilot:
        assert "Telemetry" not in screen_lines(pilot)[0]
        table.show(activity_snapshot())
        await pilot.pause()
        assert "Telemetry" in screen_lines(pilot)[0]


# ---------------------------------------------------------------------- the event view


async def test_v_shows_the_subscription_and_every_event_in_order_its_last_delivery_ticks_and_enter_on_a_row(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """v: the subscription and every event in order; the last delivery's "ago" ticks while no snapshot comes (frozen
    between invokes "last 30.5 ms ago" stayed on screen for as long as the dialog was open, while the participants
    row, and the clock, said seconds); escape closes it. Then enter on the runtime's row of the participants opens
    nothing, and on the extension's row opens its events. (One session for what four tests checked apart: each
    started from the main screen.)"""
    clock = [50.0]
    monkeypatch.setattr(phase_timeline, "monotonic_clock", lambda: clock[0])
    async with app_over(activity_snapshot()).run_test(size=SIZE) as pilot:
        app = await ready(pilot)
        await pilot.press("v")
        await until_true(pilot, lambda: isinstance(app.screen, ExtensionEventsScreen), "the events dialog")
        screen = app.screen
        assert isinstance(screen, ExtensionEventsScreen) and screen.extension_name == NAME
        text = screen_text(pilot)
        assert "Telemetry API 2022-12-13: platform, function" in text
        assert "to HTTP POST http://sandbox.localdomain:4243/telemetry · buffering: maxItems 1000, maxBytes 256 KB, " \
               "timeoutMs 100" in text
        assert "Delivered 3 batches, 7 records" in text and "1 failed · 1 retry" in text
        lines = tree_lines(screen)
        assert len(lines) == 5
        assert "init +30.0 ms" in lines[0] and "not taken (attempt 1): connection refused" in lines[0]
        assert "telemetry batch (attempt 2) · 2 records: platform.initStart, platform.telemetrySubscription" in lines[1]
        assert "invoke a1000000 +0.20 ms" in lines[2] and f"INVOKE {RID}" in lines[2]
        assert "4 records: platform.start, function ×2, platform.runtimeDone" in lines[3]
        assert "1 record: platform.report" in lines[4]

        assert "last 790.0 ms ago" in text
        clock[0] += 5.0  # five seconds on, with no snapshot
        await until_true(pilot, lambda: "last 5.8 s ago" in screen_text(pilot), "the last delivery 5.8 s ago")

        await pilot.press("escape")
        await pilot.pause()
        assert not isinstance(app.screen, ExtensionEventsScreen)

        table = app.query_one(ParticipantsTable)
        table.focus()
        table.move_cursor(row=0)  # the runtime's row
        await pilot.press("enter")
        await pilot.pause()
        assert not isinstance(app.screen, ExtensionEventsScreen), "enter on the runtime's row opened an events view"
        table.move_cursor(row=1)  # the extension's row
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, ExtensionEventsScreen) and app.screen.extension_name == NAME


async def test_a_batch_opens_into_its_records_open_all_collapse_all_and_new_events_are_appended() -> None:
    """A batch opens into its records and each record into its JSON; `o` opens all, `c` collapses all; then new
    events arrive while the view is open: appended, and the event opened before stays open. (One session for what
    three tests checked apart: each opened the view on the same snapshot.)"""
    first = activity_snapshot()
    async with app_over(first).run_test(size=SIZE) as pilot:
        app = await ready(pilot)
        await pilot.press("v")
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, ExtensionEventsScreen)
        tree = screen.query_one(Tree)
        tree.move_cursor(tree.root.children[3])  # the invoke's batch
        await pilot.press("enter")
        await pilot.pause()
        lines = tree_lines(screen)
        assert lines[4].startswith("platform.start  2023-11-14T22:13:20.000Z  " + RID)
        assert lines[5].startswith("function") and "handling one event" in lines[5]
        await pilot.press("down", "enter")  # the platform.start record
        await pilot.pause()
        opened = "\n".join(tree_lines(screen)[5:12])
        assert '"type": "platform.start"' in opened and f'"requestId": "{RID}"' in opened
        tree.move_cursor(tree.root.children[2])  # INVOKE
        await pilot.press("enter")
        await pilot.pause()
        assert '"eventType": "INVOKE",' in tree_lines(screen)[4]

        await pilot.press("o")
        await pilot.pause()
        opened_all = tree_lines(screen)
        assert len(opened_all) > 40 and any('"eventType": "INVOKE"' in line for line in opened_all)
        await pilot.press("c")
        await pilot.pause()
        assert len(tree_lines(screen)) == 5

        tree.root.children[2].expand()
        activities = ExtensionActivities()
        for fact, at in session_facts():
            activities.apply(fact, at)
        activities.apply(f.StateChanged(EnvState.SHUTTING_DOWN, 1), 1003.0)
        shutdown = json.dumps({"eventType": "SHUTDOWN", "shutdownReason": "spindown", "deadlineMs": 1}).encode()
        activities.apply(f.ExtensionEventDelivered(NAME, shutdown, 1003.01))
        activities.apply(delivered(1003.02, record("function", "bye\n")))
        app.render_snapshot(dataclasses.replace(first, extensions=activities.views()), [])
        await pilot.pause()
        tree = screen.query_one(Tree)
        assert len(tree.root.children) == 7
        assert tree.root.children[2].is_expanded
        labels = [str(node.label) for node in tree.root.children[5:]]
        assert "shutdown +10.0 ms" in labels[0] and "SHUTDOWN spindown" in labels[0]
        assert "1 record: function" in labels[1]
        assert "Delivered 4 batches, 8 records" in screen_text(pilot)


async def test_an_extension_that_received_nothing_says_so() -> None:
    held = load_session("cold_held_init_function").snapshot
    async with app_over(held).run_test(size=SIZE) as pilot:
        app = await ready(pilot)
        await pilot.press("v")
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, ExtensionEventsScreen)
        text = screen_text(pilot)
        assert "Not subscribed to the Telemetry or Logs API" in text
        assert "Nothing sent to it yet" in text


async def test_without_extensions_v_says_there_is_none() -> None:
    warm = load_session("warm").snapshot
    async with app_over(warm).run_test(size=SIZE) as pilot:
        app = await ready(pilot)
        await pilot.press("v")
        await pilot.pause()
        assert not isinstance(app.screen, ExtensionEventsScreen)


async def test_the_palette_and_help_name_it() -> None:
    async with app_over(activity_snapshot()).run_test(size=SIZE) as pilot:
        app = await ready(pilot)
        await run_palette_command(pilot, f"Events of {NAME}")
        await pilot.pause()
        assert isinstance(app.screen, ExtensionEventsScreen)
        await pilot.press("escape", "question_mark")
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen)
    assert ("`v`", "extension events") in [(keys, command) for keys, command, _ in KEYS]


def test_a_batchs_types_in_order_with_runs_counted() -> None:
    assert type_summary(("platform.start", "function", "function", "platform.report")) == (
        "platform.start, function ×2, platform.report")
    assert type_summary(tuple(f"t{i}" for i in range(8)), limit=3) == "t0, t1, t2, … 5 more"
