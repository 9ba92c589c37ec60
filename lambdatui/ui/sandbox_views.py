"""Provides `SandboxViews`, the debugger app's views of what crossed the sandbox's APIs: `x` an extension's events
and telemetry (the one under the participants' cursor, the only one, or one picked from a list), `a` the API
traffic of the focused environment. Each screen reads what the controller kept; none sends a command.

A mixin of `LambdaTuiApp` (it needs the app's `snapshot`, `shown`, `controller` and `focused_environment`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Optional

from lambdatui.ui.command_targets import extension_names
from lambdatui.ui.screens.api_traffic import ApiTrafficScreen
from lambdatui.ui.screens.extension_events import ExtensionEventsScreen
from lambdatui.ui.screens.pick_target import PickTargetScreen, TargetChoice
from lambdatui.ui.widgets import ParticipantsTable

if TYPE_CHECKING:
    from lambdatui.ui.fleet_focus import FleetFocus

    _Base = FleetFocus
else:
    _Base = object


class SandboxViews(_Base):
    def action_extension_events(self) -> None:
        """The extension under the participants' cursor, the only one, or one picked from a list."""
        names = extension_names(self.snapshot)
        if not names:
            self.notify("No extension here: extensions are executables in the function's extensions/ folder.",
                        severity="warning")
            return
        selected = self.query_one(ParticipantsTable).selected_participant
        if selected is not None and selected.startswith("extension:"):
            self.show_extension(selected.split(":", 1)[1])
        elif len(names) == 1:
            self.show_extension(names[0])
        else:
            def chosen(choice: Optional[TargetChoice]) -> None:
                if choice is not None:
                    self.show_extension(choice.target)

            self.push_screen(PickTargetScreen("Events of", [(name, name) for name in names]), chosen)

    def action_api_traffic(self) -> None:
        if isinstance(self.screen, ApiTrafficScreen):
            return
        controller = self.controller
        if controller is None:
            self.notify("The environment is still starting.", severity="warning")
            return
        number = self.focused_environment
        shown = number if number is not None or self.snapshot is None else self.snapshot.environment_number
        self.push_screen(ApiTrafficScreen(lambda: controller.api_traffic(number), f"env #{shown}"))

    def show_extension(self, name: str) -> None:
        if isinstance(self.screen, ExtensionEventsScreen):
            self.screen.dismiss(None)
        panels = self.query(ParticipantsTable)
        clock = panels.first().host_clock if panels else None
        self.push_screen(ExtensionEventsScreen(name, self.shown or self.snapshot, clock))

