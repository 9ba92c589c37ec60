"""An immutable picture of one environment, for anything that shows or checks it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from lambdatui.model.boundaries import Boundary, EnvState


@dataclass(frozen=True)
class ParticipantView:
    """One participant of the environment (the runtime or an extension) as it is now."""

    key: str  # "runtime" or "extension:<name>"
    kind: str  # "runtime", "extension", "internal extension"
    state: str
    alive: bool
    parked: bool  # waiting in Next: what Lambda itself waits on
    parked_since: Optional[float]
    events: tuple[str, ...]
    next_delivery: str  # what it will receive when released


@dataclass(frozen=True)
class EnvironmentSnapshot:
    """One environment as of `as_of`: its state, hold and breakpoints, the phase in flight, its queue and
    participants."""

    state: EnvState
    generation: int
    held_at: Optional[Boundary]
    breakpoints: frozenset[Boundary]
    frozen: bool
    init_phase: Optional[str]
    init_sub_phase: Optional[str]
    current_request_id: Optional[str]
    queued: tuple[str, ...]
    participants: tuple[ParticipantView, ...]
    invocations_done: int
    as_of: float
    user_frozen: frozenset[str] = frozenset()  # participants the user froze (a fault), by key
    generation_base: int = 0  # the generations of the environment it replaced (`N`), if any: none of them its own
    armed: tuple[str, ...] = ()  # faults waiting for a boundary, the handler's next entry, or a registration
    # COLD after a reset (a failed Init or invoke, a crash while idle), not as a new environment: its processes are
    # gone, its /tmp is kept, and its next invoke re-runs Init inside the invoke.
    reset: bool = False
    # The Init in flight's time limit: Init's own (10 s; the larger of 130 s and the timeout for provisioned
    # concurrency, SnapStart's snapshot and Managed Instances), or None: it runs inside an invoke (after a reset),
    # bounded by that invoke's timeout, or there is no Init.
    init_timeout_ms: Optional[int] = None

    def own_generation(self, generation: Optional[int] = None) -> int:
        """`generation` (by default the environment's current one) counted among this environment's own, from 1: the
        number the user is told ("process generation 2": its processes were replaced once, by a reset)."""
        return (self.generation if generation is None else generation) - self.generation_base
