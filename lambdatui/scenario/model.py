"""A scenario as data: the function it runs, then steps that each do one thing and may check what followed.

Parsed from TOML by `parse.py`, run against a controller by `run.py`, written by `record.py`. Every value
here is already validated: a `Step` holds exactly one action, expectations only where they make sense.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Optional, Union

from lambdatui.model.boundaries import Boundary
from lambdatui.model.faults import Fault

MAX_PAUSE_S = 60.0

# The names a scenario uses for faults, mapped by `parse.py` to `lambdatui.model.faults`.
FAULT_NAMES = ("crash", "freeze", "thaw", "timeout", "raise", "init-error")


@dataclass(frozen=True)
class FunctionSettings:
    """The scenario's `[function]` table; an option given on the command line wins over each of these."""

    timeout: Optional[int] = None
    memory: Optional[int] = None
    handler: Optional[str] = None
    env: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class InvokeAction:
    event: bytes  # JSON text, as the function receives it


@dataclass(frozen=True)
class FaultAction:
    fault: Fault
    name: str  # as written: "crash", "init-error"...


@dataclass(frozen=True)
class NewEnvironmentAction:
    pass


@dataclass(frozen=True)
class ShutdownAction:
    pass


@dataclass(frozen=True)
class PauseAction:
    seconds: float


Action = Union[InvokeAction, FaultAction, NewEnvironmentAction, ShutdownAction, PauseAction]

_NOT_GIVEN: Any = object()


@dataclass(frozen=True)
class TelemetryExpect:
    """`expect.telemetry`: the record types one extension received for the step's invoke, in order."""

    extension: str
    types: tuple[str, ...]
    exact: bool = False  # no other record between or around them


@dataclass(frozen=True)
class Expect:
    """What must hold after a step; a field left at None is not checked."""

    response: Any = _NOT_GIVEN  # a JSON value (None is JSON null, so "not given" has its own marker)
    response_exact: bool = False  # compare the whole object, not only the keys `response` names
    error_type: Optional[str] = None
    cold: Optional[bool] = None
    globals: Optional[Mapping[str, str]] = None
    tmp: Optional[tuple[str, ...]] = None
    tmp_absent: Optional[tuple[str, ...]] = None
    shutdown_reason: Optional[str] = None
    phases: Optional[tuple[Boundary, ...]] = None
    telemetry: Optional[tuple[TelemetryExpect, ...]] = None  # one per extension

    @property
    def has_response(self) -> bool:
        return self.response is not _NOT_GIVEN

    def keys(self) -> tuple[str, ...]:
        """The checked keys, in the order they are checked."""
        names = []
        if self.has_response:
            names.append("response")
        for name in ("error_type", "cold", "globals", "tmp", "tmp_absent", "shutdown_reason", "phases", "telemetry"):
            if getattr(self, name) is not None:
                names.append(name)
        return tuple(names)


NO_EXPECT = Expect()


@dataclass(frozen=True)
class Step:
    number: int  # 1-based, as the user counts them
    line: int  # of its [[step]] header, for messages
    action: Action
    expect: Expect = NO_EXPECT


@dataclass(frozen=True)
class Scenario:
    path: Path
    function: FunctionSettings
    steps: tuple[Step, ...]

    def where(self, step: Step) -> str:
        return f"{self.path}:{step.line}"
