"""Which environment of the fleet the debugger shows (its focus), and what each new snapshot means for the screen.

Pure (no Textual): the backend decides which environment a snapshot shows (`environment_number`); this says
whether the log view goes on with the facts' lines or starts over from the snapshot's, and what to tell the user
when the focus moved without being asked to: the environment was replaced (`N`), or it left the fleet.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from lambdatui.model.debug_snapshot import DebuggerSnapshot


@dataclass(frozen=True)
class Arrival:
    """What a new snapshot asks of the screen."""

    restart_log: bool  # another environment's log: show the snapshot's lines instead of adding the facts'
    notice: Optional[str] = None  # say so: the focus moved without the user asking


def numbers(snapshot: Optional[DebuggerSnapshot]) -> list[int]:
    """Every environment alive, by number, in the order the strip shows them."""
    return [line.number for line in snapshot.environments] if snapshot is not None else []


class EnvironmentFocus:
    """The focused environment's number, as the snapshots show it, and the moves the user asked for."""

    def __init__(self) -> None:
        self.number: Optional[int] = None
        """The environment the panels show (None until the first snapshot)."""
        self._alive: list[int] = []  # the fleet as the last snapshot listed it
        self._asked: set[int] = set()  # asked for and not shown yet
        self._latest_asked: Optional[int] = None  # the last move asked for, until a snapshot answers it
        self._renewing: set[int] = set()  # replaced on the user's command (`N`): they come back with a new number

    @property
    def target(self) -> Optional[int]:
        """Where a command for one environment goes: the environment the user last asked to see, shown or not yet.
        Keys typed together ("2c") arrive before env #2's snapshot does: `c` is meant for env #2, not the one shown."""
        return self._latest_asked if self._latest_asked is not None else self.number

    def ask(self, number: int) -> None:
        """The user wants environment `number` (the backend was told)."""
        self._asked.add(number)
        self._latest_asked = number

    def renewing(self, number: Optional[int]) -> None:
        """The user replaced environment `number`: it will reappear under a new number, which the focus follows."""
        if number is not None:
            self._renewing.add(number)

    def renewal_refused(self, number: Optional[int]) -> None:
        """Environment `number` was ending for good: it is not replaced, and a later newcomer is no replacement."""
        self._renewing.discard(number)  # type: ignore[arg-type]

    def arrived(self, snapshot: DebuggerSnapshot) -> Arrival:
        shown, before, now = self.number, self._alive, numbers(snapshot)
        number = snapshot.environment_number
        self.number, self._alive = number, now
        if self._latest_asked == number or self._latest_asked not in now:
            self._latest_asked = None  # shown, or gone before it could be: the shown one is the target again
        if shown is None:
            return Arrival(restart_log=True)
        if number == shown:
            return Arrival(restart_log=False)
        if number in self._asked:
            self._asked.discard(number)
            return Arrival(restart_log=True)
        if shown in self._renewing and number not in before:
            # Its replacement: the backend kept the focus on it. A new environment writes a log stream of its own
            # (the old one's lines stay in env #N's, which the debugger no longer shows once it has left).
            self._renewing.discard(shown)
            return Arrival(True, f"env #{shown} was replaced by a new environment: env #{number} (empty /tmp, "
                                 "cold on its next invoke)")
        if shown in now:
            return Arrival(restart_log=True)  # an answer to an earlier move the user made (asked twice, quickly)
        return Arrival(True, f"env #{shown} left the fleet: showing env #{number}")

    def neighbour(self, snapshot: Optional[DebuggerSnapshot], step: int) -> Optional[int]:
        """The environment `step` places after the focused one in the strip (wrapping); None with one or none."""
        alive = numbers(snapshot)
        if len(alive) < 2:
            return None
        if self.target not in alive:
            return alive[0]
        return alive[(alive.index(self.target) + step) % len(alive)]
