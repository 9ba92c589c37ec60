"""Part of `Recorder` (record.py): which invokes were in flight together, and the steps they make.

Invokes in flight together in several environments are one `parallel` step (record.py's docstring says why and how a
replay runs it); this keeps, as the fleet routes, queues, throttles and completes them, which overlap each invoke
joins and where that overlap goes among the steps.
"""

from __future__ import annotations

import itertools
from typing import Any, Callable, Optional

from lambdatui.core.invoke_rules import THROTTLED
from lambdatui.model import facts as f
from lambdatui.scenario.record_expectations import RecordedInvoke
from lambdatui.scenario.record_fleet import STARTING, FleetReading
from lambdatui.scenario.record_output import Overlap


class OverlapTracking(FleetReading):
    """Part of `Recorder` (record.py): it keeps the recorder's state of the invokes in flight."""

    steps: list[Any]
    _invokes: dict[str, RecordedInvoke]
    _waiting: dict[str, RecordedInvoke]
    _overlap_of: dict[str, Overlap]
    _overrunning: dict[str, int]
    _routing: itertools.count[int]
    _routed_as: dict[str, int]
    _managed: Callable[[], bool]  # RecordOutput's: Managed Instances, several invokes at once in an environment

    def _queued(self, step: RecordedInvoke, number: int) -> None:
        """An invoke queued in env #`number`: routed there just now, or, for a new environment, when the fleet decided
        to start it (`_routed`); placed in its overlap in the order routed, before any throttled one (it was routed
        before the limit was reached)."""
        request_id = step.request_id
        step.env = number or None  # 0: one environment, unnumbered (`invoke`)
        self._invokes[request_id] = self._waiting[request_id] = step
        overlap = self._overlap_of.get(request_id) if request_id in self._in_flight else None
        if overlap is None:
            overlap = self._routed(request_id, number)
        self._in_flight[request_id] = number
        # None: no fleet (`invoke`), one environment. Not those started for invokes routed after all of these (a step
        # after this one): a replay counts before it runs that step.
        alive = self._alive(routed_by=max(self._routed_as[member] for member in overlap.members))
        overlap.several = overlap.several or self._several()
        routed = self._routed_as[request_id]
        at = next((i for i, s in enumerate(overlap.invokes)
                   if s.throttled or self._routed_as.get(s.request_id, routed) > routed), len(overlap.invokes))
        overlap.invokes.insert(at, step)
        # Alive once the last of them has its environment: later invokes may start more before these complete,
        # and a replay checks the count before it runs them (`alive` leaves out those it knows of).
        overlap.environments = alive

    def _routed(self, request_id: str, number: int, past_busy: bool = False) -> Overlap:
        """The fleet routed an invoke to env #`number` (STARTING: a new one it starts for it, `past_busy` when others
        were busy). It joins the invokes in flight in other environments when they are all of one overlap and all of it
        still runs (a replay fires them together: it meets the same environments); else it begins one of its own. On
        Managed Instances those in its own environment count too: they ran together there, sharing its /tmp."""
        self._routed_as[request_id] = next(self._routing)
        overlap = self._joinable(number)
        if overlap is None:
            others = any(self._beside(env, number) for env in self._in_flight.values())
            overlap = Overlap(overlapped=others or past_busy or self._busy_elsewhere(number))
            self._share_workers(request_id, number)
        overlap.members.add(request_id)
        overlap.pending.add(request_id)
        self._overlap_of[request_id] = overlap
        self._in_flight[request_id] = number
        return overlap

    def _share_workers(self, request_id: str, number: int) -> None:
        """Managed Instances: an invoke that begins a step of its own in env #`number` while invokes of earlier steps
        still run in its workers (a timed-out one's handler too, until it is done). Each may read what the other did to
        the /tmp and the process they share, which a replay, running them in their steps, cannot give again: their
        responses are not compared."""
        if not self._managed() or number in (0, STARTING):
            return
        step = self._invokes.get(request_id)
        if step is None:
            return
        for other, env in [*self._in_flight.items(), *self._overrunning.items()]:
            earlier = self._invokes.get(other)
            if env == number and other != request_id and earlier is not None:
                earlier.shared_with = earlier.shared_with or "a later"
                step.shared_with = step.shared_with or "an earlier"

    def _joinable(self, number: int) -> Optional[Overlap]:
        """The overlap an invoke for env #`number` joins now: the latest, when all of it, and nothing else, is in
        flight beside it, and no step was written after it (joining would place this invoke before that step's,
        which may have run in the same environment before it)."""
        latest = self._latest()
        others = {other for other, env in self._in_flight.items() if self._beside(env, number)}
        if others and latest is not None and others == latest.pending == latest.members and self._last_step(latest):
            return latest
        return None

    def _last_step(self, overlap: Overlap) -> bool:
        """Nothing was written after `overlap`: not placed yet, or the last step."""
        return not overlap.placed or (bool(self.steps) and self.steps[-1] is overlap)

    def _latest(self) -> Optional[Overlap]:
        """The overlap of the invoke in flight routed last."""
        return self._overlap_of[next(reversed(self._in_flight))] if self._in_flight else None

    def _beside(self, env: int, number: int) -> bool:
        """Whether an invoke in flight in env #`env` runs beside one in env #`number` (STARTING: one being started,
        which no other invoke shares): in another environment, or on Managed Instances in the same one."""
        return env != number or env == STARTING or self._managed()

    def _throttled(self, fact: f.InvocationThrottled) -> None:
        """A 429 at the limit joins the invokes in flight that filled it when they are all of one overlap (a replay
        fires them together and meets the same limit). Alone, a replay would run it where the session's function never
        saw it: it is kept in an overlap of its own, which the output writes as a comment (record_output.py)."""
        result = f.InvocationResult(fact.request_id, b"", function_error=True, error_type=THROTTLED)
        step = self._invokes[fact.request_id] = RecordedInvoke(fact.event, fact.request_id, result, throttled=True,
                                                               client_context=fact.client_context,
                                                               qualifier=fact.qualifier)
        latest = self._latest()
        if latest is not None and set(self._in_flight) == latest.pending == latest.members and self._last_step(latest):
            latest.invokes.append(step)
            self._overlap_of[fact.request_id] = latest
            return
        alone = Overlap(overlapped=True, placed=True)
        alone.invokes.append(step)
        self._overlap_of[fact.request_id] = alone
        self.steps.append(alone)

    def _completed(self, request_id: str) -> None:
        self._in_flight.pop(request_id, None)  # one routed to a new environment too, that never started
        overlap = self._overlap_of.get(request_id)
        if overlap is not None and request_id in overlap.pending:
            overlap.pending.discard(request_id)

    def _failed_under(self, number: int) -> None:
        """Managed Instances: env #N ends because it failed (its runtime or an extension exited: nothing resets it)
        under invokes of the last step, which it failed. A replay's step meets that end too, and counts the
        environments alive after it: one fewer than when its invokes were routed."""
        if not self._managed():
            return
        overlap = next((self._overlap_of[request_id] for request_id in reversed(self._overlap_of)
                        if self._ran_in(request_id, number)), None)
        if overlap is None or overlap.environments is None or not (overlap.placed and self._last_step(overlap)):
            return
        failed = [step for step in overlap.invokes if step.env == number and step.result is not None
                  and step.result.function_error]
        if failed and overlap.environments > 0:
            overlap.environments -= 1

    def _ran_in(self, request_id: str, number: int) -> bool:
        step = self._invokes.get(request_id)
        return step is not None and step.env == number

    def _place(self, request_id: str) -> None:
        step = self._waiting.pop(request_id, None)
        overlap = self._overlap_of.get(request_id)
        if step is not None and overlap is not None and not overlap.placed:
            overlap.placed = True
            self.steps.append(overlap)
