"""The one interface between the lifecycle and anything that shows or drives it (design.md, controller).

Commands go in (`submit`, never blocking); past-tense facts come out to subscribers; `snapshot()` is an
immutable picture of everything. The TUI, the headless reporters, the scenario runner and the tests are
all clients of this interface and nothing else.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable, Optional, Protocol, Union

from lambdatui.model.boundaries import Boundary
from lambdatui.model.facts import Fact
from lambdatui.model.faults import Fault
from lambdatui.model.tmp_file import PART_BYTES, TmpFileView

if TYPE_CHECKING:  # the debugger's views: headless runs never import them (host/debug_session.py)
    from lambdatui.model.api_traffic import ParticipantTraffic
    from lambdatui.model.debug_snapshot import DebuggerSnapshot


@dataclass(frozen=True)
class Invoke:
    """Invoke the function with `event` (a synchronous invoke), under `request_id` (None: a new one)."""

    event: bytes = b"{}"
    request_id: Optional[str] = None


@dataclass(frozen=True)
class Step:
    """Release the held boundary and hold at the next one (or hold at the next one, when running).

    Commands that act on one environment name it by number (`env`); None: env #1, or the first one alive.
    """

    env: Optional[int] = None


@dataclass(frozen=True)
class Continue:
    """Release the held boundary and run until the environment waits for an invoke (breakpoints still hold)."""

    env: Optional[int] = None


@dataclass(frozen=True)
class SetBreakpoints:
    """Hold at these boundaries from now on, in every environment (empty: none)."""

    boundaries: frozenset[Boundary] = field(default_factory=frozenset)


@dataclass(frozen=True)
class NewEnvironment:
    """The environment is replaced: its next invoke cold-starts a fresh one (a new number) with an empty /tmp."""

    env: Optional[int] = None


@dataclass(frozen=True)
class Shutdown:
    """Spin down (SHUTDOWN spindown to extensions): environment `env`, which leaves the fleet, or with None,
    every environment, after which invokes are refused."""

    env: Optional[int] = None


@dataclass(frozen=True)
class InjectFault:
    """Inject `fault` (model/faults.py) into environment `env`: at once, or armed for its boundary."""

    fault: Fault
    env: Optional[int] = None


Command = Union[Invoke, Step, Continue, SetBreakpoints, NewEnvironment, Shutdown, InjectFault]
FactListener = Callable[[Fact], None]


class Controller(Protocol):
    def submit(self, command: Command) -> None:
        """Queue a command; what follows arrives as facts."""

    def subscribe(self, listener: FactListener) -> Callable[[], None]:
        """Call `listener` with every fact from now on; returns the unsubscribe function."""

    def snapshot(self, focus: Optional[int] = None, as_of: Optional[int] = None) -> DebuggerSnapshot:
        """Everything, with the panels' views of environment `focus` (None: env #1, or the first one alive).

        With `as_of` (a `TimelineBar.seq`), the panels' views are the state as of that bar's end and
        `selected_bar` names it; `timeline` still holds every kept bar. A bar whose state is no longer kept gets
        the live snapshot (`selected_bar` None)."""
        ...

    def read_tmp_file(self, focus: Optional[int], path: str, offset: int = 0,
                      limit: int = PART_BYTES) -> TmpFileView:
        """Up to `limit` bytes from `offset` of `path` in environment `focus`'s own /tmp (never outside it).

        Blocking file I/O: call it from a worker thread, never from the UI's or the host's event loop.
        """
        ...

    def api_traffic(self, focus: Optional[int] = None) -> tuple[ParticipantTraffic, ...]:
        """Environment `focus`'s Runtime, Extensions and Telemetry API exchanges, per participant (runtime first)."""
        ...
