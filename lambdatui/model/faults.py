"""Faults a user injects through the controller, never by editing user code (design.md, Faults)."""

from __future__ import annotations

import signal
from dataclasses import dataclass
from typing import Optional, Union

from lambdatui.model.boundaries import Boundary

RUNTIME_TARGET = "runtime"


@dataclass(frozen=True)
class Crash:
    """Kill the runtime or a named extension with a signal (default SIGKILL), or make our bootstrap exit with a code."""

    target: str = RUNTIME_TARGET
    signal: Optional[int] = None
    exit_code: Optional[int] = None
    at: Optional[Boundary] = None  # arm for a later boundary instead of now
    # With at = invoke.start: act this long into the invoke instead, counted from its event's delivery in the invoke's
    # own time (holds excluded), as the handler runs. A recording writes it for a fault given mid-handler.
    after_ms: Optional[float] = None
    # With at = invoke.start, on Managed Instances: act at the invoke.start that makes this many invokes in flight at
    # once in the environment, not the first one. A recording writes it for one given while several ran in its workers.
    in_flight: Optional[int] = None


@dataclass(frozen=True)
class Freeze:
    """SIGSTOP one process: it hangs, and the phase runs into its deadline unless thawed."""

    target: str = RUNTIME_TARGET
    at: Optional[Boundary] = None
    after_ms: Optional[float] = None  # as Crash's
    in_flight: Optional[int] = None  # as Crash's


@dataclass(frozen=True)
class Thaw:
    """SIGCONT one process a `Freeze` stopped: it goes on (unless the whole environment is frozen)."""

    target: str = RUNTIME_TARGET
    at: Optional[Boundary] = None
    after_ms: Optional[float] = None  # as Crash's
    in_flight: Optional[int] = None  # as Crash's


@dataclass(frozen=True)
class ForceTimeout:
    """The current phase's deadline elapses now."""

    at: Optional[Boundary] = None
    after_ms: Optional[float] = None  # as Crash's
    in_flight: Optional[int] = None  # as Crash's


@dataclass(frozen=True)
class RaiseInHandler:
    """The handler raises on its next entry (our bootstrap only)."""

    exception: str = "Exception"
    message: str = "raised by lambdatui"
    at: Optional[Boundary] = None


@dataclass(frozen=True)
class ExtensionInitError:
    """The named extension reports init/error instead of going on."""

    target: str
    at: Optional[Boundary] = None


Fault = Union[Crash, Freeze, Thaw, ForceTimeout, RaiseInHandler, ExtensionInitError]

# When an unarmed fault acts (core/fault_rules.py acts on each so): these the moment they are given, on the
# participant named or the deadline running; the others wait for what comes next (RaiseInHandler the next handler
# entry, ExtensionInitError the extension's next registration, or at once while Init runs). A recording arms one of
# these given during an invoke for the boundary that invoke had reached, with after_ms once the handler ran
# (scenario/record_faults.py).
ACTS_AT_ONCE = (Crash, Freeze, Thaw, ForceTimeout)
# `after_ms` (these four only: the others wait for an event of their own) goes with this boundary alone, because it
# counts from the event's delivery, which follows it.
AFTER_MS_BOUNDARY = Boundary.INVOKE_START


def after_ms(fault: Fault) -> Optional[float]:
    """How long into its invoke `fault` acts, or None (it acts when given, or at its boundary)."""
    return fault.after_ms if isinstance(fault, ACTS_AT_ONCE) else None


def in_flight(fault: Fault) -> Optional[int]:
    """How many invokes `fault`, armed for invoke.start, waits to see in flight at once (Managed Instances), or None."""
    return fault.in_flight if isinstance(fault, ACTS_AT_ONCE) else None


def describe(fault: Fault) -> str:
    if isinstance(fault, Crash):
        how = f"exit code {fault.exit_code}" if fault.exit_code is not None else signal.Signals(
            fault.signal or signal.SIGKILL).name
        text = f"crash {fault.target} ({how})"
    elif isinstance(fault, Freeze):
        text = f"freeze {fault.target}"
    elif isinstance(fault, Thaw):
        text = f"thaw {fault.target}"
    elif isinstance(fault, ForceTimeout):
        text = "force the current deadline"
    elif isinstance(fault, RaiseInHandler):
        text = f"raise {fault.exception}({fault.message!r}) in the handler"
    else:
        text = f"init/error from extension {fault.target}"
    if fault.at is not None:
        text += f" at {fault.at.value}"
    delay = after_ms(fault)
    if delay is not None:
        text += f", {delay:g} ms after its event went out"
    together = in_flight(fault)
    if together is not None:
        text += f", once {together} invoke{'s are' if together != 1 else ' is'} in flight"
    return text
