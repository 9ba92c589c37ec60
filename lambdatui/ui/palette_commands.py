"""The debugger's commands in the command palette: every key's, and those a key would ask a question for (which
environment to show, which participant to crash or freeze, which extension's events, which event to send)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Iterator

from textual.app import SystemCommand
from textual.binding import Binding

from lambdatui.model import faults as flt
from lambdatui.ui.command_targets import extension_names, fault_targets
from lambdatui.ui.key_bindings import PALETTE_TITLES

if TYPE_CHECKING:
    from lambdatui.ui.app import LambdaTuiApp


def debugger_commands(app: LambdaTuiApp) -> Iterator[SystemCommand]:
    for binding in app.BINDINGS:
        # The digits' "env #N" come once per environment alive instead, below.
        if isinstance(binding, Binding) and binding.id and binding.action != "quit" \
                and not binding.action.startswith("focus_environment("):
            yield SystemCommand(PALETTE_TITLES.get(binding.action, binding.description), binding.tooltip or "",
                                lambda action=binding.action: app.run_action(action))
    snapshot = app.snapshot
    for line in snapshot.environments if snapshot is not None else ():
        yield SystemCommand(f"Show env #{line.number}", f"{line.state.value}, {line.invocations} invokes, "
                            f"{line.init_type}", lambda n=line.number: app.show_environment(n))
    for target, label in fault_targets(snapshot):
        yield SystemCommand(f"Crash {target}", f"SIGKILL {label}", lambda t=target: app.fault(flt.Crash(t)))
        yield SystemCommand(f"Freeze {target}", "SIGSTOP: it hangs until thawed",
                            lambda t=target: app.fault(flt.Freeze(t)))
        yield SystemCommand(f"Thaw {target}", "SIGCONT", lambda t=target: app.fault(flt.Thaw(t)))
    for name in extension_names(snapshot):
        yield SystemCommand(f"Events of {name}", "What the extension was sent, in order: INVOKE, SHUTDOWN, "
                            "telemetry batches (JSON)", lambda n=name: app.show_extension(n))
    for name, text in app.event_choices():
        yield SystemCommand(f"Use event {name}", "Set the event the next invoke sends",
                            lambda n=name, t=text: app.set_event(t, n))
