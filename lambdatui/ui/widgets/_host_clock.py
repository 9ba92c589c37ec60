"""Provides `HostClock`: the host's clock now, as the UI can tell it from the snapshots it was shown.

Snapshots come only when something happens, so a running bar, a parked time or a "delivered ago" is extrapolated
from a snapshot's `as_of` (the host's trio clock, with an epoch of its own) on a local monotonic clock. A snapshot is
not always fresh: going back to live (escape), travelling ([ ]) or switching environments shows the newest one the
host made, which may be seconds old. Taking "now" as its `as_of` plus the time since it was *shown* set every ticking
figure back to what it was when that snapshot was made. The offset between the two clocks is instead the largest
seen (a snapshot is never from the future; the freshest one comes closest), so an old snapshot shown again moves
nothing.
"""

from __future__ import annotations

from typing import Callable, Optional


class HostClock:
    """The host's clock read through the snapshots' `as_of` and a local monotonic clock."""

    def __init__(self, clock: Callable[[], float]) -> None:
        """`clock` is any monotonic clock in seconds (the SVG tests stop it): only its differences are used."""
        self._clock = clock
        self._offset: Optional[float] = None  # the host's clock minus the local one, the largest seen

    def seen(self, as_of: float) -> None:
        """A snapshot made at `as_of` (the host's clock) is shown now."""
        offset = as_of - self._clock()
        if self._offset is None or offset > self._offset:
            self._offset = offset

    def now(self, as_of: float) -> float:
        """The host's clock now, never before `as_of` (the snapshot being drawn)."""
        if self._offset is None:
            return as_of
        return max(as_of, self._clock() + self._offset)
