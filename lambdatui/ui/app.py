"""The full-screen debugger: renders the controller's snapshots and facts, and sends it commands.

It never decides lifecycle behaviour and never imports trio: everything it does is a controller command. It shows
one environment of the fleet at a time, the focused one (`lambdatui.ui.focus`); commands for one environment go
to that one.
"""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path
from typing import Callable, Iterable, Optional

from textual import events, on, work
from textual.app import ComposeResult, SystemCommand
from textual.containers import Horizontal
from textual.screen import Screen
from textual.widgets import DataTable, Footer

from lambdatui import controller as c
from lambdatui.model import facts as f
from lambdatui.model.debug_snapshot import DebuggerSnapshot
from lambdatui.ui.backend import BackendFactory
from lambdatui.ui.terminal_stop import TerminalStop
from lambdatui.ui.detail_commands import open_detail
from lambdatui.ui.event_templates import TEMPLATES, load_events_folder, scan_events_folder
from lambdatui.ui.key_bindings import APP_BINDINGS
from lambdatui.ui.terminal_hangup import TerminalHangup
from lambdatui.ui.fault_commands import FaultCommands
from lambdatui.ui.log_commands import LogCommands
from lambdatui.ui.palette_commands import debugger_commands
from lambdatui.ui.panel_focus import panel_to_focus
from lambdatui.ui.sandbox_views import SandboxViews
from lambdatui.ui.messages import BackendFailed, ControllerReady, SnapshotUpdated
from lambdatui.ui.screens.breakpoints import BreakpointsScreen
from lambdatui.ui.screens.event_editor import EventEditorScreen
from lambdatui.ui.widgets.event_panel import event_problem
from lambdatui.ui.screens.extension_events import ExtensionEventsScreen
from lambdatui.ui.screens.help import HelpScreen
from lambdatui.ui.screens.main_screen import MainScreen
from lambdatui.ui.themes import DEFAULT_THEME, PHASE_VARIABLE_DEFAULTS, load_themes
from lambdatui.ui.travel import PhaseTravel
from lambdatui.ui.widgets.past_bar import PastBar
from lambdatui.ui.widgets.environments_strip import TALL
from lambdatui.ui.widgets.too_small import HORIZONTAL_BREAKPOINTS, VERTICAL_BREAKPOINTS, TooSmallNotice, too_small
from lambdatui.ui.widgets import (
    EnvironmentsStrip,
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

QUIT_TIMEOUT_S = 10  # the longest Lambda shutdown budget is 2 s; never leave the user stuck in a dead UI


class LambdaTuiApp(LogCommands, FaultCommands, SandboxViews, PhaseTravel, TerminalStop, TerminalHangup):
    """`lambdatui PATH`: the function's execution environments, each stepped boundary by boundary."""

    TITLE = "lambdatui"
    CSS_PATH = "app.tcss"
    ENABLE_COMMAND_PALETTE = True

    BINDINGS = APP_BINDINGS
    # Classes on the screen by its size: below the minimum, app.tcss shows `TooSmallNotice` instead of the panels.
    HORIZONTAL_BREAKPOINTS = HORIZONTAL_BREAKPOINTS
    VERTICAL_BREAKPOINTS = VERTICAL_BREAKPOINTS

    def __init__(
        self,
        make_backend: BackendFactory,
        *,
        code_dir: Path,
        theme: str = DEFAULT_THEME,
        record: Optional[Callable[[c.Command], None]] = None,
        on_exit: Optional[Callable[[], None]] = None,
    ) -> None:
        super().__init__()
        self._make_backend = make_backend
        self.code_dir = code_dir
        self._theme_name = theme
        self._record = record
        self._on_exit_hook = on_exit
        self.controller: Optional[c.Controller] = None  # `backend` and `snapshot`: FleetFocus
        self.invoke_api: Optional[str] = None
        self.event_text = "{}"
        self.event_source = "default"
        self._quitting = False

    # ------------------------------------------------------------------ layout

    def compose(self) -> ComposeResult:
        yield HeaderBar(id="header")
        yield PastBar(id="past")
        yield EnvironmentsStrip(id="environments")
        yield PhaseTimeline(id="timeline")
        # Participants across the whole width and only as tall as its rows; the rows under it share what is left.
        yield ParticipantsTable(id="participants")
        with Horizontal(id="row-state"):
            yield GlobalsView(id="globals")
            yield TmpView(id="tmp")
        with Horizontal(id="row-io"):
            yield EventPanel(id="event")
            yield ResultView(id="result")
        yield LogView(id="logs")
        yield ExplainBar(id="explain")
        yield TooSmallNotice(id="too-small")  # shown instead of the panels below MINIMUM_SIZE (they live on, hidden)
        yield Footer(compact=True, show_command_palette=False)  # every key fits in 100 columns

    def get_default_screen(self) -> Screen:
        return MainScreen(id="_default")

    def get_theme_variable_defaults(self) -> dict[str, str]:
        return dict(PHASE_VARIABLE_DEFAULTS)

    def on_mount(self) -> None:
        for theme in load_themes().values():
            self.register_theme(theme)
        self.theme = self._theme_name
        self.query_one(EventPanel).set_event(self.event_text, self.event_source)
        # Back from Ctrl-Z (`fg`), Textual is in the alternate screen again, blank, and redraws only what changes
        # next: the whole screen is drawn again, as Textual's own suspend() does once it resumes.
        self.app_resume_signal.subscribe(self, lambda _app: self.refresh(layout=True))
        loop = asyncio.get_running_loop()
        # `kill` (SIGTERM) must still restore the terminal and stop every process; closing the terminal
        # (SIGHUP) must stop every process too, though there is no terminal left to restore. SIGINT comes only
        # from `kill -INT` (ctrl+c is a key in raw mode): left to asyncio it would cancel the app mid-session,
        # skipping the shutdown and the recording, so it quits as q does. Installed before the backend starts,
        # so trio's guest run sees a handler in place and keeps its KeyboardInterrupt out of it.
        try:
            loop.add_signal_handler(signal.SIGINT, lambda: self.call_later(self.action_quit))
            loop.add_signal_handler(signal.SIGTERM, lambda: self.call_later(self.action_quit))
            # Ctrl-Z and `fg`: Textual suspends and resumes the terminal from its own signal handlers, which Python
            # runs between any two bytecodes, a write to the screen's queue halfway included: the suspend's own
            # writes then waited on that queue's lock for ever, and lambdatui never stopped (one Ctrl-Z in ~20 under
            # load). The same steps, from the loop, between two of its callbacks.
            # Stopped, lambdatui reads none of the function's output, so a function that prints blocks on the full
            # pipe and would be charged the stop: the environments are held first, and go on once it is back.
            driver = self._driver
            if driver is not None and hasattr(driver, "_sigtstp_application"):
                loop.add_signal_handler(signal.SIGTSTP, self._stop_requested)
                loop.add_signal_handler(signal.SIGCONT, self._continued)
                self._stops_handled = True
        except (NotImplementedError, RuntimeError):  # pragma: no cover - not on the main thread (tests)
            pass
        try:
            signal.signal(signal.SIGHUP, lambda signum, frame: self._terminal_gone(loop))
        except ValueError:  # pragma: no cover - not on the main thread (tests)
            pass
        self.backend = self._make_backend(self._controller_ready, self._snapshot_arrived, self._backend_failed)
        self.backend.start(loop)

    # ------------------------------------------------------------------ from the backend

    def _controller_ready(self, controller: c.Controller, invoke_api: Optional[str]) -> None:
        self.post_message(ControllerReady(controller, invoke_api))

    def _snapshot_arrived(self, snapshot: DebuggerSnapshot, facts: list[f.Fact]) -> None:
        self.post_message(SnapshotUpdated(snapshot, facts))

    def _backend_failed(self, error: BaseException) -> None:
        self.post_message(BackendFailed(error))

    @on(ControllerReady)
    def start_debugging(self, message: ControllerReady) -> None:
        self.controller = message.controller
        self.invoke_api = message.invoke_api
        self.render_snapshot(message.controller.snapshot(), [])

    @on(SnapshotUpdated)
    def show_snapshot(self, message: SnapshotUpdated) -> None:
        if self._exit or not self._running:
            # Exiting, or shut down without an exit (a test's run_test): the screens are being taken down, and an
            # update still queued has no panels to fill.
            return
        self.render_snapshot(message.snapshot, message.facts)

    @on(BackendFailed)
    def report_failure(self, message: BackendFailed) -> None:
        self.notify(f"The lifecycle host stopped: {message.reason}", severity="error", timeout=15)

    def render_snapshot(self, snapshot: DebuggerSnapshot, facts: Iterable[f.Fact]) -> None:
        arrival = self.environment_focus.arrived(snapshot)
        self.snapshot = snapshot  # live: what commands act on
        shown = self.shown_snapshot(snapshot, new_environment=arrival.restart_log)  # live, or as of a past bar
        for widget in (PhaseTimeline, ParticipantsTable, GlobalsView, TmpView, ResultView, ExplainBar):
            self.query_one(widget).show(shown)  # type: ignore[attr-defined]
        for widget in (HeaderBar, EnvironmentsStrip):  # the lifecycle as it is now, while the panels show the past
            self.query_one(widget).show(snapshot)  # type: ignore[attr-defined]
        self.show_past_marker()
        self.fit_the_fleet()
        # Another environment: its own log, kept by the host (the facts' lines may not be its); the past: its bar's.
        self.render_log(snapshot, shown, facts, arrival.restart_log)
        if arrival.notice:
            self.notify(arrival.notice)
        if isinstance(self.screen, ExtensionEventsScreen):
            self.screen.show(shown)
        for fact in facts:
            if isinstance(fact, f.FaultInjected):
                self.notify(f"fault: {fact.description}")
            elif isinstance(fact, f.FaultRefused):  # nothing was injected: say why, not that it was
                self.notify(f"not injected ({fact.description}): {fact.reason}", severity="warning")
            elif isinstance(fact, f.NewEnvironmentAnswered):
                number = fact.number or snapshot.environment_number
                if not fact.replaced:
                    self.environment_focus.renewal_refused(number)
                self.notify(f"env #{number}: {fact.text}" if not fact.replaced else fact.text,
                            severity="information" if fact.replaced else "warning")

    def check_action(self, action: str, parameters: tuple[object, ...]) -> Optional[bool]:
        """Behind the too-small notice the panels are hidden: no key acts on what cannot be seen; q quits, and ?
        opens the help, which fits any width and scrolls."""
        if action not in ("quit", "help") and len(self.screen_stack) == 1 and too_small(self.size):
            return False
        return super().check_action(action, parameters)

    def on_resize(self, event: events.Resize) -> None:
        # The new size: App's own handler, which stores it in `self.size`, runs after this one.
        self.fit_the_fleet(event.size.height)
        for notice in self.query(TooSmallNotice):  # none yet when the first resize comes
            notice.terminal_resized(event.size)

    def fit_the_fleet(self, height: Optional[int] = None) -> None:
        """On a short screen, the strip's second row (a fleet) comes out of the timeline's legend: every pane keeps
        its head at 100x30."""
        fleet = self.snapshot is not None and len(self.snapshot.environments) > 1
        short = (self.size.height if height is None else height) < TALL
        for timeline in self.query(PhaseTimeline):  # none yet when the first resize comes
            timeline.set_class(fleet and short, "-short")

    # ------------------------------------------------------------------ commands

    def send(self, command: c.Command) -> bool:
        if self.controller is None:
            self.notify("The environment is still starting.", severity="warning")
            return False
        self.controller.submit(command)
        if self._record is not None:
            self._record(command)
        return True

    def action_step(self) -> None:
        self.send(c.Step(env=self.target_environment))

    def action_continue(self) -> None:
        self.send(c.Continue(env=self.target_environment))

    def action_invoke(self) -> None:
        problem = event_problem(self.event_text)
        if problem is not None:
            self.notify(f"Lambda would refuse this event ({problem.message}); press e to edit it.", severity="error")
            return
        self.send(c.Invoke(self.event_text.encode()))

    def action_new_environment(self) -> None:
        number = self.target_environment
        if self.send(c.NewEnvironment(env=number)):
            self.environment_focus.renewing(number)  # the core answers (NewEnvironmentAnswered): said then

    def action_shutdown(self) -> None:
        self.send(c.Shutdown(env=self.target_environment))

    def action_cycle_log_filter(self) -> None:
        self.query_one(LogView).cycle_filter()

    def action_toggle_timeline_scale(self) -> None:
        timeline = self.query_one(PhaseTimeline)
        timeline.to_scale = not timeline.to_scale

    def action_help(self) -> None:
        # Made once and kept (installed): a second `?` finds it laid out.
        if not self.is_screen_installed("help"):
            self.install_screen(HelpScreen(), "help")
        self.push_screen("help")

    def action_show_detail(self, quiet: bool = False) -> None:
        open_detail(self, quiet)

    def action_breakpoints(self) -> None:
        def chosen(boundaries: Optional[frozenset]) -> None:
            if boundaries is not None:
                self.send(c.SetBreakpoints(boundaries))

        current = self.snapshot.environment.breakpoints if self.snapshot is not None else frozenset()
        self.push_screen(BreakpointsScreen(current), chosen)

    @on(events.Click)
    def focus_the_clicked_panel(self, event: events.Click) -> None:
        target = panel_to_focus(event.widget)
        if target is not None:
            target.focus()

    @on(DataTable.RowSelected, "#participants")
    def participant_selected(self, message: DataTable.RowSelected) -> None:
        key = message.row_key.value or ""
        if key.startswith("extension:"):
            self.show_extension(key.split(":", 1)[1])

    def event_choices(self) -> list[tuple[str, str]]:
        found = load_events_folder(self.code_dir)  # labelled "events/<file>.json" already
        return found + [(f"template: {name}", text) for name, text in TEMPLATES.items()]

    def action_edit_event(self) -> None:
        def chosen(answer: Optional[tuple[str, str]]) -> None:
            if answer is not None:
                self.set_event(*answer)

        notes = scan_events_folder(self.code_dir).notes
        self.push_screen(EventEditorScreen(self.event_text, self.event_source, self.event_choices(), notes=notes,
                                           code_dir=self.code_dir, reload_choices=self.event_choices), chosen)

    def set_event(self, text: str, source: str) -> None:
        self.event_text = text
        self.event_source = source
        self.query_one(EventPanel).set_event(text, source)

    # ------------------------------------------------------------------ palette

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        yield from debugger_commands(self)

    def deliver_screenshot(self, filename: Optional[str] = None, path: Optional[str] = None,
                           time_format: Optional[str] = None) -> Optional[str]:
        """The palette's Screenshot, saved in the working directory (where the user ran lambdatui).

        Textual's default is the user's downloads folder, which often does not exist (servers, containers,
        a fresh HOME), and then the screenshot fails. Textual's own notification says where it was saved.
        """
        return super().deliver_screenshot(filename, path or str(Path.cwd()), time_format)

    @on(events.DeliveryFailed)
    def screenshot_failed(self, event: events.DeliveryFailed) -> None:
        """Say why (Textual's own message has no reason): a read-only or vanished working directory."""
        if event.name == "screenshot":
            event.prevent_default()
            self.notify(f"Could not save the screenshot: {event.exception}", title="Screenshot", severity="error")

    # ------------------------------------------------------------------ leaving

    async def _stop_backend(self) -> None:
        if self.backend is not None:
            self.backend.stop()
            try:
                await asyncio.wait_for(self.backend.wait_stopped(), QUIT_TIMEOUT_S)
            except asyncio.TimeoutError:
                pass
        if self._on_exit_hook is not None:
            self._on_exit_hook()

    @work(exclusive=True, group="quit")
    async def action_quit(self) -> None:
        if self._quitting:
            # A second quit while shutting down: go now, every process killed at once. Still awaited (briefly): an
            # abandoned run would leave its cgroups to the watchdog and its folder to the next start.
            if self.backend is not None:
                self.backend.stop_now()
            await self._stop_backend()
            self.exit(0)
            return
        self._quitting = True
        self.notify("Shutting down: SHUTDOWN to extensions, then every process ends…", timeout=QUIT_TIMEOUT_S)
        await self._stop_backend()
        self.exit(0)

    def action_help_quit(self) -> None:
        # ctrl+c with nothing selected: Textual names the first quit binding it finds, its own ctrl+q; ours is q.
        self.notify("Press [b]q[/b] to quit", title="Do you want to quit?")

