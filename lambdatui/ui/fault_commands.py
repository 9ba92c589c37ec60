"""Provides `FaultCommands`, the debugger app's fault keys: `t` force the running deadline, `c` crash, `f` freeze or
thaw, `r` make the handler raise. Each is a controller command (`InjectFault`) for the focused environment; the core
decides what it does there, and says so when it refuses one.

A mixin of `LambdaTuiApp` (it needs the app's `snapshot`, `target_environment` and `send`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Optional

from lambdatui import controller as c
from lambdatui.model import faults as flt
from lambdatui.ui.command_targets import fault_targets
from lambdatui.ui.screens.pick_target import PickTargetScreen, TargetChoice
from lambdatui.ui.screens.raise_dialog import RaiseScreen

if TYPE_CHECKING:
    from lambdatui.ui.fleet_focus import FleetFocus

    _Base = FleetFocus
else:
    _Base = object


class FaultCommands(_Base):
    if TYPE_CHECKING:
        def send(self, command: c.Command) -> bool: ...

    def action_force_timeout(self) -> None:
        self.fault(flt.ForceTimeout())

    def fault(self, fault: flt.Fault, env: Optional[int] = None) -> None:
        """To env #`env`, else to the environment commands go to now."""
        self.send(c.InjectFault(fault, env=self.target_environment if env is None else env))

    # A dialog's fault goes to the environment it was opened for: one that has left by the answer refuses it (the
    # fleet says so), where the focus, moved on meanwhile, would hand it to another environment.

    def action_crash(self) -> None:
        env = self.target_environment

        def chosen(choice: Optional[TargetChoice]) -> None:
            if choice is not None:
                self.fault(flt.Crash(choice.target, signal=choice.signal, exit_code=choice.exit_code), env)

        self.push_screen(PickTargetScreen("Crash", fault_targets(self.snapshot), with_signal=True), chosen)

    def action_freeze(self) -> None:
        frozen = self.snapshot.environment.user_frozen if self.snapshot else frozenset()
        env = self.target_environment

        def chosen(choice: Optional[TargetChoice]) -> None:
            if choice is None:
                return
            key = "runtime" if choice.target == "runtime" else f"extension:{choice.target}"
            fault = flt.Thaw(choice.target) if key in frozen else flt.Freeze(choice.target)
            self.fault(fault, env)

        self.push_screen(PickTargetScreen("Freeze / thaw", fault_targets(self.snapshot, frozen_marks=True)), chosen)

    def action_raise_in_handler(self) -> None:
        env = self.target_environment

        def chosen(answer: Optional[tuple[str, str]]) -> None:
            if answer is not None:
                self.fault(flt.RaiseInHandler(*answer), env)

        self.push_screen(RaiseScreen(), chosen)
