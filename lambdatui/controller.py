"""The one interface between the lifecycle and anything that shows or drives it (design.md, controller).

Commands go in (`submit`, never blocking); past-tense facts come out to subscribers; `snapshot()` is an
immutable picture of everything. The TUI, the headless reporters, the scenario runner and the tests are
all clients of this interface and nothing else.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Optional, Protocol, Union

from lambdatui.model.boundaries import Boundary
from lambdatui.model.debug_snapshot import DebuggerSnapshot
from lambdatui.model.facts import Fact
from lambdatui.model.faults import Fault


@dataclass(frozen=True)
class Invoke:
    event: bytes = b"{}"
    request_id: Optional[str] = None


@dataclass(frozen=True)
class Step:
    """Release the held boundary and hold at the next one (or hold at the next one, when running)."""


@dataclass(frozen=True)
class Continue:
    """Release the held boundary and run until the environment waits for an invoke (breakpoints still hold)."""


@dataclass(frozen=True)
class SetBreakpoints:
    boundaries: frozenset[Boundary] = field(default_factory=frozenset)


@dataclass(frozen=True)
class NewEnvironment:
    """The next invoke cold-starts a fresh environment with an empty /tmp."""


@dataclass(frozen=True)
class Shutdown:
    """Spin the environment down (SHUTDOWN spindown to extensions)."""


@dataclass(frozen=True)
class InjectFault:
    fault: Fault


Command = Union[Invoke, Step, Continue, SetBreakpoints, NewEnvironment, Shutdown, InjectFault]
FactListener = Callable[[Fact], None]


class Controller(Protocol):
    def submit(self, command: Command) -> None:
        """Queue a command; what follows arrives as facts."""

    def subscribe(self, listener: FactListener) -> Callable[[], None]:
        """Call `listener` with every fact from now on; returns the unsubscribe function."""

    def snapshot(self) -> DebuggerSnapshot:
        ...
