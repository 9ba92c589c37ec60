"""Which worker takes an invoke on Lambda Managed Instances (lambda-spec §11.3), and a replay's say in it.

A Python function there runs M worker processes, each with its own globals (a counter of calls, a cache), and RAPID
gives an invoke to whichever worker waits on /next: in a session, the one that has waited longest, which timing
decides. A replay that wants the same answers must give each invoke to the worker that took it in the session.
Workers are numbered 1, 2, ... in the order their connections first ask for work (each worker asks on a connection
of its own, kept alive): they start alike, so a replay's numbering, made the same way, names the same roles.

An invoke that names a worker (`Invocation.worker`) waits for it while that worker may still ask: it waits on /next
now, it runs an invoke (or has just answered one and asks again at once), or it has not asked yet and the environment
has room for it (its Function init is still running). A worker known to be gone (its /next hung up, or our runtime
said it exited) is not waited for: the invoke goes to any worker, as in the session's Lambda.
"""

from __future__ import annotations

from collections import deque
from typing import Optional

from lambdatui.core.inputs import Token
from lambdatui.core.slots import InvokeRun


class ManagedWorkers:
    """Part of `ManagedEnvironment`: it runs on the environment's state (see core/managed_environment.py)."""

    runs: dict[str, InvokeRun]
    parked: dict[Token, float]
    ready: deque[str]

    def _init_workers(self) -> None:
        self.worker_numbers: dict[int, int] = {}  # connection (RuntimeNext.connection) -> worker number
        self.asking: dict[Token, int] = {}  # each /next not answered yet -> the worker that sent it (0: unknown)
        self.running_on: dict[str, int] = {}  # request id -> the worker it was given to, while that worker has it
        self.answered: set[int] = set()  # workers that answered their invoke and are to ask again at once

    def _forget_workers(self) -> None:
        self.worker_numbers.clear()
        self.asking.clear()
        self.running_on.clear()
        self.answered.clear()

    def capacity(self) -> int:
        raise NotImplementedError  # ManagedInvokeRules'

    def _worker_asks(self, token: Token, connection: int) -> int:
        """A /next from `connection`: the worker it is (numbered at its first), now waiting for work."""
        worker = 0
        if connection:
            worker = self.worker_numbers.setdefault(connection, len(self.worker_numbers) + 1)
        self.asking[token] = worker
        self.answered.discard(worker)
        return worker

    def _worker_took(self, token: Token, request_id: str) -> int:
        """The worker whose /next (`token`) takes invoke `request_id`."""
        worker = self.asking.pop(token, 0)
        if worker:
            self.running_on[request_id] = worker
        return worker

    def _worker_answered(self, request_id: str) -> None:
        worker = self.running_on.pop(request_id, 0)
        if worker:
            self.answered.add(worker)

    def _worker_gone(self, token: Optional[Token] = None, request_id: Optional[str] = None) -> None:
        """A worker left: its /next hung up (`token`), or it exited holding invoke `request_id`. An invoke that waited
        for it goes to any worker now."""
        if token is not None:
            self.asking.pop(token, None)
        if request_id is not None:
            self.running_on.pop(request_id, None)
        for request_id in list(self.ready):
            run = self.runs.get(request_id)
            token = self._asking_for(run) if run is not None and not run.delivered else None
            if token is not None and run is not None:
                self.ready.remove(request_id)
                del self.parked[token]
                self._send_run(token, run)

    def _may_still_ask(self, worker: int) -> bool:
        return (worker in self.asking.values() or worker in self.running_on.values() or worker in self.answered
                or (worker not in self.worker_numbers.values() and len(self.worker_numbers) < self.capacity()))

    def _asking_for(self, run: InvokeRun) -> Optional[Token]:
        """The parked /next that takes `run` now: its worker's, where it names one that may still ask, else the one
        that has waited longest (None: it waits)."""
        wanted = run.invocation.worker
        if wanted and self._may_still_ask(wanted):
            return next((token for token in self.parked if self.asking.get(token) == wanted), None)
        return next(iter(self.parked), None)

    def _takes(self, token: Token, run: InvokeRun) -> bool:
        """Whether the worker asking with `token` may take `run` (it names no worker, that one, or one that is gone)."""
        wanted = run.invocation.worker
        return not wanted or self.asking.get(token) == wanted or not self._may_still_ask(wanted)

    def _send_run(self, token: Token, run: InvokeRun) -> None:
        raise NotImplementedError  # ManagedInvokeRules'
