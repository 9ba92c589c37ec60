"""Provides `FleetFocus`, the base of the debugger's app: which environment of the fleet the panels show, and the
keys, clicks and palette entries that move that focus (`,` `.` and the digits; the strip's chips).

The backend makes every snapshot it delivers the focused environment's; `EnvironmentFocus` (pure) tells what each
one means for the screen. This class only asks for a move and says why one cannot be made.
"""

from __future__ import annotations

from typing import Optional

from textual import on
from textual.app import App

from lambdatui.model.debug_snapshot import DebuggerSnapshot
from lambdatui.ui.backend import Backend
from lambdatui.ui.focus import EnvironmentFocus, numbers
from lambdatui.ui.widgets import EnvironmentsStrip


class FleetFocus(App[int]):
    """An app that shows one environment of a fleet at a time."""

    def __init__(self) -> None:
        super().__init__()
        self.backend: Optional[Backend] = None
        self.snapshot: Optional[DebuggerSnapshot] = None
        self.environment_focus = EnvironmentFocus()

    @property
    def focused_environment(self) -> Optional[int]:
        """The number of the environment the panels show: where commands for one environment go."""
        return self.environment_focus.number

    @property
    def target_environment(self) -> Optional[int]:
        """Where commands for one environment go (step, continue, faults...): the one the user last asked to see,
        which keys typed right behind the digit reach before its snapshot does."""
        return self.environment_focus.target

    def show_environment(self, number: int) -> None:
        """Focus environment `number`: every panel shows it once its snapshot arrives (at once)."""
        alive = numbers(self.snapshot)
        if number == self.target_environment or self.backend is None:
            return
        if number not in alive:
            listed = ", ".join(f"#{n}" for n in alive) or "none alive"
            self.notify(f"No env #{number} in the fleet ({listed}).", severity="warning")
            return
        self.environment_focus.ask(number)
        self.backend.focus(number)

    def _move_focus(self, step: int) -> None:
        number = self.environment_focus.neighbour(self.snapshot, step)
        if number is None:
            self.notify(f"env #{self.target_environment} is the only environment: an invoke that finds it busy "
                        "starts another.")
            return
        self.show_environment(number)

    def action_focus_previous_environment(self) -> None:
        self._move_focus(-1)

    def action_focus_next_environment(self) -> None:
        self._move_focus(+1)

    def action_focus_environment(self, number: int) -> None:
        self.show_environment(number)

    @on(EnvironmentsStrip.EnvironmentChosen)
    def environment_clicked(self, message: EnvironmentsStrip.EnvironmentChosen) -> None:
        self.show_environment(message.number)
