"""What one step of a replay saw: every fact of the step, and each invoke's own (its environment's facts, its result
and its REPORT), gathered as the fleet delivers them, numbered by environment."""

from __future__ import annotations

from dataclasses import dataclass, field

import trio

from lambdatui.model import facts as f
from lambdatui.scenario.checks import Observed


@dataclass
class StepFacts:
    """A numbered fact listener for one step: everything that happened (`step`), and what each invoke it fired
    left behind (`invokes`, in the order fired). A lone invoke is the step's own `Observed`, as it always was;
    each invoke of a parallel step sees the facts of the environment that took it."""

    step: Observed = field(default_factory=Observed)
    invokes: list[Observed] = field(default_factory=list)
    _by_id: dict[str, Observed] = field(default_factory=dict)
    _running: dict[int, Observed] = field(default_factory=dict)  # env #N -> the step's invoke it took last
    arrived: trio.Event = field(default_factory=trio.Event)

    def fire(self, request_id: str, *, own_facts: bool) -> Observed:
        seen = Observed(request_id) if own_facts else self.step
        seen.request_id = request_id
        self.invokes.append(seen)
        self._by_id[request_id] = seen
        return seen

    def routed(self, request_id: str, since: int) -> bool:
        """Whether invoke `request_id` has its environment (queued in one) or never will (not started, dropped), or
        waits at the limit: told by the facts from the `since`-th of the step on."""
        seen = self._by_id.get(request_id)
        if seen is not None and seen.env is not None:
            return True
        return any(type(fact) is f.EventWaiting or (type(fact) in _NEVER_QUEUED and fact.request_id == request_id)  # type: ignore[attr-defined]
                   for fact in self.step.facts[since:])

    def __call__(self, number: int, fact: f.Fact) -> None:
        self.step.facts.append(fact)
        if isinstance(fact, (f.InvocationQueued, f.InvocationRefused)):
            seen = self._by_id.get(fact.request_id)
            if seen is not None:
                seen.env = number
                self._running[number] = seen
        own = self._running.get(number) if number else None
        if own is not None and own is not self.step:
            own.facts.append(fact)
        if isinstance(fact, f.InvocationCompleted):
            seen = self._by_id.get(fact.result.request_id)
            if seen is not None:
                seen.result = fact.result
        elif isinstance(fact, f.InvokeReported):
            seen = self._by_id.get(fact.request_id)
            if seen is not None:
                seen.report = fact
        self.arrived.set()
        self.arrived = trio.Event()


# An Event invoke that will never be queued in an environment (InvocationQueued, or InvocationRefused, gives its env).
_NEVER_QUEUED = (f.EnvironmentNotStarted, f.EventNotRun)
