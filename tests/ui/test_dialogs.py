"""The dialogs, the footer and the keys Textual itself handles, in the real app over a replayed session.

`ReplayBackend` gives the real `LambdaTuiApp` a recorded snapshot and no processes, so these run in a
fraction of a second each; what they check (what a dialog draws, where focus goes, what ctrl+c does, where
a screenshot lands) does not depend on a live environment. `tests/ui/test_app_keys.py` drives the same keys
against the real host. Nothing sleeps to synchronise: each wait polls the app's state within a deadline.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Callable, Iterable

import pytest
from _host import screen_lines, screen_text, until_true
from palette import run_palette_command
from rich.segment import Segment
from textual.color import Color
from textual.renderables.background_screen import BackgroundScreen
from textual.pilot import Pilot
from textual.screen import ModalScreen
from textual.widgets import Footer, Label, OptionList, SelectionList, TextArea

from lambdatui.model.boundaries import Boundary
from lambdatui.ui.app import LambdaTuiApp
from lambdatui.ui.screens.breakpoints import BreakpointsScreen
from lambdatui.ui.screens.event_editor import EventEditorScreen
from lambdatui.ui.screens.help import HelpScreen
from lambdatui.ui.screens.pick_target import PickTargetScreen
from lambdatui.ui.screens.raise_dialog import RaiseScreen
from lambdatui.ui.themes import DEFAULT_THEME
from lambdatui.ui.widgets import ExplainBar, LogView
from replay_backend import REPO, load_session, replay

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(30)]

SAMPLES = REPO / "sample_functions"
LARGE = (140, 45)
SMALL = (100, 30)  # the smallest size the debugger is made for


def replayed(code_dir: Path = SAMPLES / "counter", state: str = "warm") -> LambdaTuiApp:
    return LambdaTuiApp(replay(load_session(state)), code_dir=code_dir, theme=DEFAULT_THEME)


async def ready(pilot: Pilot) -> None:
    """Until the replayed snapshot is on screen."""
    app = pilot.app
    assert isinstance(app, LambdaTuiApp)
    await until_true(pilot, lambda: app.snapshot is not None and app.controller is not None, "the snapshot")
    await pilot.pause()


def notifications(pilot: Pilot) -> list[str]:
    return [str(n.message) for n in pilot.app._notifications]


# ---------------------------------------------------------------------- breakpoints


class TestBreakpointsDialog:
    async def test_checked_and_unchecked_boundaries_differ_without_colour_and_the_crash_dialogs_exit_code_enter_picks(
            self) -> None:
        """The mark itself differs (not only its colour): on a monochrome terminal or a projector too. Then the crash
        dialog (TestCrashDialog's, in the same session: one app start for two dialogs)."""
        app = replayed()
        async with app.run_test(size=LARGE) as pilot:
            await ready(pilot)
            app.push_screen(BreakpointsScreen(frozenset({Boundary.INIT_FUNCTION})))
            await until_true(pilot, lambda: isinstance(app.screen, BreakpointsScreen), "the breakpoints dialog")
            await pilot.pause()

            def mark(boundary: Boundary) -> str:
                line = next(line for line in screen_lines(pilot) if f" {boundary.value} " in line)
                return line[:line.index(f" {boundary.value} ")].rstrip()[-3:]  # the checkbox before the name

            checked, unchecked = mark(Boundary.INIT_FUNCTION), mark(Boundary.INIT_RUNTIME)
            assert checked != unchecked, f"checked {checked!r} and unchecked {unchecked!r} look the same"
            assert mark(Boundary.INIT_DONE) == unchecked
            await pilot.press("space")  # the first row, init.extensions, becomes checked
            listed = app.screen.query_one(SelectionList)
            await until_true(pilot, lambda: Boundary.INIT_EXTENSIONS in listed.selected, "the toggle")
            await until_true(pilot, lambda: mark(Boundary.INIT_EXTENSIONS) == checked, "the checked mark")
            await pilot.press("escape")
            await until_true(pilot, lambda: not isinstance(app.screen, BreakpointsScreen), "the dialog closed")

            # The crash dialog: enter in the exit code's field picks the highlighted participant with that code (the
            # title says "enter picks"; in the field enter did nothing, and the user had to go back to the list).
            picked: list[object] = []
            app.push_screen(PickTargetScreen("Crash", [("runtime", "runtime"), ("audit", "audit")], with_signal=True),
                            picked.append)
            await until_true(pilot, lambda: isinstance(app.screen, PickTargetScreen), "the crash dialog")
            await pilot.press("down")  # the extension, highlighted
            app.screen.query_one("#exit-code").focus()
            await pilot.press("7", "enter")
            await until_true(pilot, lambda: bool(picked), "the choice")
            assert [(c.target, c.exit_code, c.signal) for c in picked] == [("audit", 7, None)]



DIALOGS: dict[str, Callable[[], ModalScreen]] = {
    "breakpoints": lambda: BreakpointsScreen(frozenset()),
    "raise": lambda: RaiseScreen(),
    "crash": lambda: PickTargetScreen("Crash", [("runtime", "runtime")], with_signal=True),
    "event": lambda: EventEditorScreen("{}", "default", [("template: Empty object", "{}")]),
}


class TestDialogTitles:
    async def test_every_key_shows_in_the_footer_and_the_whole_title_of_each_dialog_at_100_columns(self) -> None:
        """At 100 columns every key shows in the footer. The first line of a dialog names its keys: cut off, "esc
        cancels" reads "esc ca". Each dialog in turn over one debugger (an app start costs more than a dialog), taken
        off again before the next. (The footer was a test of its own, TestFooter, at the same size.)"""
        app = replayed()
        async with app.run_test(size=SMALL) as pilot:
            await ready(pilot)
            # The footer paints on its own refresh, after the snapshot: on a busy machine a frame later.
            await until_true(pilot, lambda: "q Quit" in screen_lines(pilot)[-1], "the footer's keys")
            footer_line = screen_lines(pilot)[-1]
            assert app.query_one(Footer).region.y == SMALL[1] - 1
            shown = [b for b in app.BINDINGS if getattr(b, "show", False)]
            assert any(b.key == "l" for b in shown), "l (the log filter) is not in the footer"
            for binding in shown:
                if binding.group is not None:  # `,` and `.`: one label for both keys
                    continue
                key = "?" if binding.key == "question_mark" else binding.key
                assert f"{key} {binding.description}" in footer_line, (binding.key, footer_line)
            assert " ,. Env l Log " in footer_line, footer_line  # the environment keys, apart from their neighbours
            assert footer_line.rstrip().endswith("q Quit"), footer_line

            for name, make in DIALOGS.items():
                app.push_screen(make())
                await until_true(pilot, lambda: isinstance(app.screen, ModalScreen), f"the {name} dialog")
                await pilot.pause()
                title = app.screen.query(Label).first()
                region = title.region.intersection(app.screen.query_one("#dialog").content_region)  # what is visible
                lines = screen_lines(pilot)
                shown = " ".join(lines[y][region.x:region.right] for y in range(region.y, region.bottom))
                wanted = title.render().plain if hasattr(title.render(), "plain") else str(title.render())
                assert " ".join(shown.split()) == " ".join(wanted.split()), (name, shown, wanted)
                app.pop_screen()
                await until_true(pilot, lambda: not isinstance(app.screen, ModalScreen), f"the {name} dialog gone")


class TestDialogBackground:
    @pytest.mark.parametrize("key, dialog", [("question_mark", HelpScreen), ("b", BreakpointsScreen)],
                             ids=["help", "breakpoints"])
    async def test_the_debugger_repainting_beneath_a_dialog_draws_nothing(
            self, key: str, dialog: type[ModalScreen], monkeypatch: pytest.MonkeyPatch) -> None:
        """A dialog stands on a solid background. A translucent one (Textual's dimmed screen behind it) drew every
        region of the debugger that changed beneath it again, tinted cell by cell: during a log burst, every
        frame, and keys waited behind that work (benchmarks/tui_burst.py: p50 92 ms, worst 223 ms)."""
        tinted: list[int] = []
        tint = BackgroundScreen.process_segments.__func__  # type: ignore[attr-defined]

        def counted(cls: type, segments: Iterable[Segment], color: Color) -> Iterable[Segment]:
            tinted.append(1)
            return tint(cls, segments, color)

        monkeypatch.setattr(BackgroundScreen, "process_segments", classmethod(counted))
        app = replayed()
        async with app.run_test(size=LARGE) as pilot:
            await ready(pilot)
            await pilot.press(key)
            await until_true(pilot, lambda: isinstance(app.screen, dialog), "the dialog")
            await pilot.pause()
            debugger = app.screen_stack[0]
            debugger.query_one(LogView).refresh()  # as at every update of a burst
            debugger.query_one(ExplainBar).refresh()
            await pilot.pause()
            assert app.screen is not debugger
            await pilot.press("escape")
            await until_true(pilot, lambda: app.screen is debugger, "the debugger again")
        assert not tinted, f"{len(tinted)} lines of the debugger drawn tinted beneath the dialog"


# ---------------------------------------------------------------------- ctrl+c


class TestCtrlC:
    async def test_ctrl_c_without_a_selection_says_how_to_quit_and_with_one_copies_it_and_does_not_quit(self) -> None:
        """Textual's convention: ctrl+c is copy, so a stray one never ends a debugging session. Without a selection it
        says how to quit; with one it copies it. (One session for what two tests checked apart.)"""
        app = replayed()
        async with app.run_test(size=LARGE, notifications=True) as pilot:
            await ready(pilot)
            await pilot.press("ctrl+c")
            await until_true(pilot, lambda: any("to quit" in m for m in notifications(pilot)), "the hint")
            # Our quit key, not Textual's own ctrl+q, which the hint named: the help and README say q.
            assert [m for m in notifications(pilot) if "to quit" in m] == ["Press [b]q[/b] to quit"]
            assert app.return_code is None

            explain = app.query_one(ExplainBar)
            explain.text_select_all()
            selected = app.screen.get_selected_text()
            assert selected, "nothing was selected"
            await pilot.press("ctrl+c")
            await until_true(pilot, lambda: app.clipboard == selected, "the selection in the clipboard")
            await pilot.pause()
            assert app.return_code is None and not app._exit_renderables, "ctrl+c quit instead of copying"
            assert [m for m in notifications(pilot) if "to quit" in m] == ["Press [b]q[/b] to quit"]  # no second hint


# ---------------------------------------------------------------------- screenshot


class TestScreenshot:
    async def test_the_palettes_screenshot_lands_in_the_working_directory(
            self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        """With no ~/Downloads (a fresh HOME): the SVG goes to the cwd, and the notification says where."""
        home, work = tmp_path / "home", tmp_path / "work"
        home.mkdir()
        work.mkdir()
        monkeypatch.setenv("HOME", str(home))
        monkeypatch.setenv("XDG_CONFIG_HOME", str(home / ".config"))  # no user-dirs.dirs naming a Downloads
        monkeypatch.delenv("XDG_DOWNLOAD_DIR", raising=False)
        monkeypatch.chdir(work)
        app = replayed()
        async with app.run_test(size=LARGE, notifications=True) as pilot:
            await ready(pilot)
            await run_palette_command(pilot, "Screenshot")
            await until_true(pilot, lambda: any("screenshot" in m.lower() for m in notifications(pilot)),
                             "the screenshot's notification")
            saved = list(work.glob("*.svg"))
            assert len(saved) == 1, (os.listdir(work), notifications(pilot))
            assert any(str(saved[0]) in m for m in notifications(pilot)), notifications(pilot)
            assert "<svg" in saved[0].read_text()
        assert not any(home.iterdir()), list(home.iterdir())


# ---------------------------------------------------------------------- footer


# ---------------------------------------------------------------------- event editor


class TestEventEditor:
    async def test_events_next_to_the_handler_are_labelled_once_a_skipped_one_is_named_and_tab_leaves_the_editor(
            self, tmp_path: Path) -> None:
        """events/order.json is offered once, as "events/order.json"; a file the picker cannot offer does not vanish
        silently: the editor says which and why; tab and shift+tab move the focus out of the editor and back, typing
        nothing. (One session for what three tests checked apart.)"""
        (tmp_path / "events").mkdir()
        (tmp_path / "events" / "order.json").write_text('{"order": 42}')
        (tmp_path / "events" / "latin1.json").write_bytes(b'{"name": "\xe9"}')
        app = replayed(code_dir=tmp_path)
        async with app.run_test(size=LARGE) as pilot:
            await ready(pilot)
            labels = [label for label, _ in app.event_choices()]
            assert "events/order.json" in labels and not any("events/events" in label for label in labels), labels
            await pilot.press("e")
            await until_true(pilot, lambda: isinstance(app.screen, EventEditorScreen), "the event editor")
            samples = app.screen.query_one("#samples", OptionList)
            prompts = [str(samples.get_option_at_index(i).prompt) for i in range(samples.option_count)]
            assert prompts[0] == "events/order.json", prompts
            await pilot.pause()
            assert "events/events" not in screen_text(pilot)
            text = " ".join(screen_text(pilot).split())
            assert "events/latin1.json: not UTF-8 text" in text, text

            editor = app.screen.query_one("#editor", TextArea)
            await until_true(pilot, lambda: editor.has_focus, "the editor to take focus")
            await pilot.press("tab")
            await until_true(pilot, lambda: samples.has_focus, "tab to move focus to the samples")
            assert editor.text == "{}", "tab was typed into the event"
            await pilot.press("shift+tab")
            await until_true(pilot, lambda: editor.has_focus, "shift+tab to move focus back to the editor")
            assert editor.text == "{}"
