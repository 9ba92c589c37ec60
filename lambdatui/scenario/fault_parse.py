"""A scenario step's `fault` and its options (part of parse.py's reading of a step; model/faults.py says what each
fault does)."""

from __future__ import annotations

import math
import re
from typing import Any, Mapping, Optional

from lambdatui.model import faults as flt
from lambdatui.model.boundaries import Boundary
from lambdatui.scenario.model import FAULT_NAMES, FaultAction
from lambdatui.scenario.values import boundary_named, is_int, parse_signal, type_name, unknown_hint

FAULT_OPTIONS = ("target", "signal", "exit_code", "exception", "message", "at", "after_ms", "in_flight")

# Which options each fault takes (besides `at`, which they all take).
FAULT_TAKES: Mapping[str, tuple[str, ...]] = {
    "crash": ("target", "signal", "exit_code", "after_ms", "in_flight"),
    "freeze": ("target", "after_ms", "in_flight"),
    "thaw": ("target", "after_ms", "in_flight"),
    "timeout": ("after_ms", "in_flight"),
    "raise": ("exception", "message"),
    "init-error": ("target",),
}
AFTER_MS_ONLY = ("; {option} is for the faults that act at once (crash, freeze, thaw, timeout): the others wait "
                 "for an event of their own")


def parse_fault(raw: Mapping[str, Any], name: str) -> FaultAction:
    """A `fault = "..."` step's fault, its options checked (`name`: the step, as errors name it)."""
    kind = raw["fault"]
    if not isinstance(kind, str) or kind not in FAULT_NAMES:
        shown = repr(kind) if isinstance(kind, str) else type_name(kind)
        hint = unknown_hint(kind, FAULT_NAMES) if isinstance(kind, str) else ""
        raise ValueError(f"{name}: unknown fault {shown}{hint} (one of: {', '.join(FAULT_NAMES)})")
    takes = FAULT_TAKES[kind]
    for option in FAULT_OPTIONS:
        if option in raw and option != "at" and option not in takes:
            accepted = ", ".join(takes + ("at",))
            why = AFTER_MS_ONLY.format(option=option) if option in ("after_ms", "in_flight") else ""
            raise ValueError(f"{name}: fault = {kind!r} takes no {option!r} (it takes: {accepted}){why}")
    at = boundary_named(raw["at"], f"{name}: at") if "at" in raw else None
    delay = _after_ms(raw, at, name)
    together = _in_flight(raw, at, name)
    target = raw.get("target", flt.RUNTIME_TARGET)
    if not isinstance(target, str) or not target:
        raise ValueError(f"{name}: target must be 'runtime' or an extension's name, got {type_name(target)}")
    if kind == "crash":
        try:
            signal_number = parse_signal(raw["signal"]) if "signal" in raw else None
        except ValueError as exc:
            raise ValueError(f"{name}: {exc}") from None
        exit_code = raw.get("exit_code")
        if exit_code is not None and (not is_int(exit_code) or not 0 <= exit_code <= 255):
            raise ValueError(f"{name}: exit_code = {exit_code!r}: give a whole number from 0 to 255")
        if signal_number is not None and exit_code is not None:
            raise ValueError(f"{name}: a crash is a signal or an exit code, not both")
        if exit_code is not None and target != flt.RUNTIME_TARGET:
            raise ValueError(f"{name}: exit_code only works on the runtime (lambdatui's bootstrap makes it "
                             "exit); crash an extension with a signal")
        return FaultAction(flt.Crash(target, signal_number, exit_code, at, delay, together), kind)
    if kind == "freeze":
        return FaultAction(flt.Freeze(target, at, delay, together), kind)
    if kind == "thaw":
        return FaultAction(flt.Thaw(target, at, delay, together), kind)
    if kind == "timeout":
        return FaultAction(flt.ForceTimeout(at, delay, together), kind)
    if kind == "raise":
        exception = raw.get("exception", "Exception")
        message = raw.get("message", "raised by lambdatui")
        if not isinstance(exception, str) or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_.]*", exception):
            raise ValueError(f"{name}: exception = {exception!r}: give an exception class name, e.g. \"ValueError\"")
        if not isinstance(message, str):
            raise ValueError(f"{name}: message must be a string, got {type_name(message)}")
        return FaultAction(flt.RaiseInHandler(exception, message, at), kind)
    # init-error
    if "target" not in raw or target == flt.RUNTIME_TARGET:
        raise ValueError(f"{name}: fault = 'init-error' needs target = the extension's name "
                         "(the runtime's own init errors come from its code)")
    return FaultAction(flt.ExtensionInitError(target, at), kind)


def _after_ms(raw: Mapping[str, Any], at: Optional[Boundary], name: str) -> Optional[float]:
    """`after_ms`: milliseconds of the invoke's own time after its event went out (holds left out), so only with
    at = "invoke.start", which the delivery follows."""
    if "after_ms" not in raw:
        return None
    value = raw["after_ms"]
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
        shown = repr(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else type_name(value)
        raise ValueError(f"{name}: after_ms = {shown}: give milliseconds, a number 0 or more")
    if at is not flt.AFTER_MS_BOUNDARY:
        given = f"at = {at.value!r}" if at is not None else "no at"
        raise ValueError(f"{name}: after_ms counts from the moment the invoke's event goes out, so it goes with "
                         f"at = {flt.AFTER_MS_BOUNDARY.value!r} (this step has {given})")
    return value


def _in_flight(raw: Mapping[str, Any], at: Optional[Boundary], name: str) -> Optional[int]:
    """`in_flight` (Managed Instances): the fault armed for invoke.start acts at the one that makes this many invokes
    in flight at once in its environment."""
    if "in_flight" not in raw:
        return None
    value = raw["in_flight"]
    if not is_int(value) or value < 1:
        shown = repr(value) if is_int(value) else type_name(value)
        raise ValueError(f"{name}: in_flight = {shown}: give how many invokes, a whole number 1 or more")
    if at is not flt.AFTER_MS_BOUNDARY:
        given = f"at = {at.value!r}" if at is not None else "no at"
        raise ValueError(f"{name}: in_flight counts the invokes whose event is going out, so it goes with "
                         f"at = {flt.AFTER_MS_BOUNDARY.value!r} (this step has {given})")
    if "after_ms" in raw:
        raise ValueError(f"{name}: in_flight is for Managed Instances, whose invokes run several at once, and "
                         "after_ms counts into one invoke's time: give one of them")
    return value
