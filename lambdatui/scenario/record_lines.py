"""The lines of a recording that are not an invoke's: the fleet's settings, a command's step, the replay command."""

from __future__ import annotations

import shlex
import signal
from typing import Optional, Sequence

from lambdatui import controller as c
from lambdatui.model import faults as flt
from lambdatui.model.fleet import DEFAULT_CONCURRENCY, MAX_EVENT_AGE_S, MAX_RETRY_ATTEMPTS, RETRY_WAIT_S, FleetOptions
from lambdatui.scenario.toml_writer import is_control, toml_string, toml_value

FAULT_NAME = {
    flt.Crash: "crash",
    flt.Freeze: "freeze",
    flt.Thaw: "thaw",
    flt.ForceTimeout: "timeout",
    flt.RaiseInHandler: "raise",
    flt.ExtensionInitError: "init-error",
}


def fleet_lines(options: Optional[FleetOptions]) -> list[str]:
    """The fleet's settings a replay needs, where they are not lambdatui's defaults."""
    if options is None:
        return []
    lines = []
    if options.snapstart:
        lines.append("snapstart = true")
    if options.concurrency != DEFAULT_CONCURRENCY:
        lines.append(f"concurrency = {options.concurrency}")
    if options.provisioned:
        lines.append(f"provisioned = {options.provisioned}")
    if options.max_concurrency:
        lines.append(f"max_concurrency = {options.max_concurrency}")
    if options.idle_shutdown_s is not None:  # at most a day (--idle-shutdown's bound), as a scenario's
        lines.append(f"idle_shutdown = {toml_value(options.idle_shutdown_s)}")
    if options.retry_attempts != MAX_RETRY_ATTEMPTS:
        lines.append(f"retry_attempts = {options.retry_attempts}")
    if options.max_event_age_s != MAX_EVENT_AGE_S:
        lines.append(f"max_event_age = {int(options.max_event_age_s)}")
    if options.retry_wait_s != RETRY_WAIT_S:
        lines.append(f"retry_wait = {toml_value(options.retry_wait_s)}")
    return lines


def command_lines(command: c.Command) -> list[str]:
    """A command's step: a fault (with its target, code or signal, `at`, `after_ms`, `in_flight`), a new environment, a
    shutdown."""
    on = [] if getattr(command, "env", None) is None else [f"env = {command.env}"]  # type: ignore[attr-defined]
    if isinstance(command, c.NewEnvironment):
        return ["new_environment = true", *on]
    if isinstance(command, c.Shutdown):
        return ["shutdown = true", *on]
    assert isinstance(command, c.InjectFault)
    fault = command.fault
    lines = [f"fault = {toml_string(FAULT_NAME[type(fault)])}", *on]
    if isinstance(fault, (flt.Crash, flt.Freeze, flt.Thaw, flt.ExtensionInitError)):
        lines.append(f"target = {toml_string(fault.target)}")
    if isinstance(fault, flt.Crash):
        if fault.exit_code is not None:
            lines.append(f"exit_code = {fault.exit_code}")
        elif fault.signal is not None:
            lines.append(f"signal = {_signal_value(fault.signal)}")
    if isinstance(fault, flt.RaiseInHandler):
        lines.append(f"exception = {toml_string(fault.exception)}")
        lines.append(f"message = {toml_string(fault.message)}")
    if fault.at is not None:
        lines.append(f"at = {toml_string(fault.at.value)}")
    delay = flt.after_ms(fault)
    if delay is not None:
        lines.append(f"after_ms = {toml_value(delay)}")
    together = flt.in_flight(fault)
    if together is not None:
        lines.append(f"in_flight = {together}")
    return lines


def replay_command(function_path: str, scenario_path: str, options: Sequence[str] = ()) -> str:
    words = ["lambdatui", "replay", *options, function_path, scenario_path]
    return " ".join(_shell_word(word) for word in words)


def _shell_word(word: str) -> str:
    # Quoted for a shell; a control character (a newline would end the comment line) becomes "?".
    return shlex.quote("".join("?" if is_control(ch) else ch for ch in word))


def _signal_value(number: int) -> str:
    try:
        return toml_string(signal.Signals(number).name)
    except ValueError:
        return str(number)  # a real-time signal has no name
