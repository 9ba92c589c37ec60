"""An environment on Lambda Managed Instances (lambda-spec §11.3): the same aggregate, with the rule set that admits
up to M invokes at once (managed_invoke_rules.py, managed_runtime_rules.py) taking over from the one-at-a-time rules.
Everything else (Init, extensions, shutdown, holds, faults, the clock) is the shared `Environment`'s.
"""

from __future__ import annotations

import dataclasses
from collections import deque
from typing import Callable

from lambdatui.core.common import EnvironmentConfig
from lambdatui.core.effects import RUNTIME
from lambdatui.core.environment import Environment
from lambdatui.core.inputs import Token
from lambdatui.core.managed_runtime_rules import ManagedRuntimeRules
from lambdatui.core.runtime_machine import RuntimeState
from lambdatui.core.slots import InvokeRun
from lambdatui.ids import new_uuid
from lambdatui.model import facts as f
from lambdatui.model.boundaries import Boundary, EnvState
from lambdatui.model.snapshot import EnvironmentSnapshot


class ManagedEnvironment(ManagedRuntimeRules, Environment):
    """One environment that runs up to `config.max_concurrency` invokes at once."""

    def __init__(self, config: EnvironmentConfig, new_id: Callable[[], str] = new_uuid) -> None:
        assert config.max_concurrency > 0, "Managed Instances need a maximum concurrency"
        super().__init__(config, new_id)
        self.runs: dict[str, InvokeRun] = {}  # in flight (or about to be delivered), by request id
        self.parked: dict[Token, float] = {}  # the runtime's /next requests waiting for work, oldest first
        self.ready: deque[str] = deque()  # invokes past INVOKE_START whose worker hung up: the next /next's
        self.timed_out: dict[str, None] = {}  # recently timed-out request ids, for the 410 on a late answer
        self.overrunning: set[str] = set()  # timed out, and their worker still runs them: busy
        self.orphaned: set[str] = set()  # running when our runtime said their worker exited
        self.workers_lost = 0  # workers our runtime said exited (not replaced, as in Lambda's Python runtime)
        # Workers whose invoke was answered (or refused as late) and that have not asked for work since: each is
        # back on /next at once, so routing may count on it (fleet_rules._managed_fit).
        self.returning = 0
        self.boundary_backlog: deque[tuple[Boundary, str]] = deque()  # invoke boundaries waiting for a hold to end
        self._init_workers()

    def _after_shutdown(self) -> None:
        # The processes are gone: so are their parked requests and whatever their workers were running (a timed-out
        # handler that ran on ends here: whoever waits for it, a replay's next step, waits no more).
        self.parked.clear()
        self.ready.clear()
        for request_id in sorted(self.overrunning):
            self._emit(f.OverrunEnded(request_id))
        self.overrunning.clear()
        self.orphaned.clear()
        self.timed_out.clear()
        self.boundary_backlog.clear()
        self.workers_lost = 0
        self.returning = 0
        self._forget_workers()
        super()._after_shutdown()

    def settled(self) -> bool:
        """Waiting for the user or for an invoke (a timed-out handler that runs on is not waited for)."""
        if self.expecting_exit:
            return False
        if self.hold is not None:
            return True
        if self.runs or self.queue or self.shutdown is not None or self.init is not None or self.boundary_backlog:
            return False
        return self.state in (EnvState.RUNNING, EnvState.COLD, EnvState.SHUT_DOWN)

    def snapshot(self, now: float) -> EnvironmentSnapshot:
        snap = super().snapshot(now)
        if self.runtime.state is not RuntimeState.READY:  # not serving yet (or any more): as any runtime
            return snap
        # Busy workers: those given an invoke (an invoke held at invoke.start has none yet) or running one on past its
        # timeout.
        in_flight = sum(1 for run in self.runs.values() if run.delivered) + len(self.overrunning)
        participants = tuple(
            dataclasses.replace(
                view, parked=bool(self.parked), parked_since=min(self.parked.values(), default=None),
                next_delivery=f"{len(self.parked)} /next parked; {in_flight} of {self.capacity()} workers busy")
            if view.key == RUNTIME else view
            for view in snap.participants)
        # Held, the invoke the hold is about (the one invoke.start holds back, the one whose answer invoke.response
        # holds); else the oldest in flight.
        hold = self.hold
        current = hold.detail if hold is not None and hold.detail else next(iter(self.runs), None)
        return dataclasses.replace(snap, participants=participants, current_request_id=current)
