"""Which worker takes an invoke on Lambda Managed Instances (lambda-spec §11.3), and a replay's say in it.

A Python function there runs M worker processes, each with its own globals (a counter of calls, a cache), and RAPID
gives an invoke to whichever worker waits on /next: in a session, the one that has waited longest, which timing
decides. A replay that wants the same answers must give each invoke to the worker that took it in the session.
Workers are numbered 1, 2, ... in the order their connections first ask for work (each worker asks on a connection
of its own, kept alive): they start alike, so a replay's numbering, made the same way, names the same roles. A
connection that ends leaves its number vacant, and the next new connection to ask takes it: a worker whose refused
/response closed its connection, or a runtime that opens a connection per call, keeps its number.

An invoke that names a worker (`Invocation.worker`) waits for it while that worker may still ask: it waits on /next
now, it runs an invoke (a timed-out one whose handler runs on included), or it has just answered one and asks again
at once, its connection ended (it may come back on another), or it has not asked yet and the environment has room for
it (its Function init is still running); but for no longer than the function's timeout (3 s at least: a worker whose
answer was refused takes a second or more to ask again on a loaded machine) unless it runs an invoke
before that invoke's deadline on its own connection: past it, that worker is not coming back for this one. A worker
known to be gone (our runtime said it exited) is not waited for. Either way the invoke then goes to any worker, as in
Lambda; its clock starts when its event goes out, so the wait costs the function nothing.
"""

from __future__ import annotations

from collections import deque
from typing import TYPE_CHECKING, Optional

from lambdatui.core.common import EnvironmentConfig
from lambdatui.core.inputs import ConnectionClosed, Token
from lambdatui.core.slots import InvokeRun
from lambdatui.model import facts as f

WORKER_TIMER_PREFIX = "worker:"  # "worker:<request id>": how long an invoke waits for the worker it names
WORKER_WAIT_MIN_S = 3.0  # that wait's least bound, whatever the function's timeout


class ManagedWorkers:
    """Part of `ManagedEnvironment`: it runs on the environment's state (see core/managed_environment.py)."""

    config: EnvironmentConfig
    runs: dict[str, InvokeRun]
    parked: dict[Token, float]
    ready: deque[str]

    def _init_workers(self) -> None:
        self.worker_numbers: dict[int, int] = {}  # live connection (RuntimeNext.connection) -> worker number
        self.numbered = 0  # worker numbers given so far
        self.vacant: set[int] = set()  # numbers whose connection ended: the next new connection takes the lowest
        self.asking: dict[Token, int] = {}  # each /next not answered yet -> the worker that sent it (0: unknown)
        self.running_on: dict[str, int] = {}  # request id -> the worker it was given to, while that worker has it
        self.answered: set[int] = set()  # workers that answered their invoke and are to ask again at once
        self.unpinned: set[str] = set()  # invokes that waited for their worker as long as they may: any takes them
        self.exited: set[int] = set()  # workers our runtime said exited (holding an invoke): never waited for again
        # Timed-out invokes whose handler runs on -> their workers, oldest first: an Event invoke's retries keep the
        # request id, and each may run, and time out, on another worker meanwhile (`running_on` names the latest).
        self.overrun_on: dict[str, list[int]] = {}

    def _forget_workers(self) -> None:
        self.worker_numbers.clear()
        self.numbered = 0
        self.vacant.clear()
        self.asking.clear()
        self.running_on.clear()
        self.answered.clear()
        self.unpinned.clear()
        self.exited.clear()
        self.overrun_on.clear()

    def _worker_asks(self, token: Token, connection: int) -> int:
        """A /next from `connection`: the worker it is (numbered at its first), now waiting for work."""
        worker = self._worker_on(connection)
        if connection and not worker:
            worker = self._number_for_new_connection()
            self.worker_numbers[connection] = worker
        self.asking[token] = worker
        self.answered.discard(worker)
        return worker

    def _number_for_new_connection(self) -> int:
        """A vacant number whose worker is not running an invoke (one that has just answered first: it asks again at
        once); else a new number while the environment has room for more workers; else the lowest vacant one."""
        running = {*self.running_on.values(), *self._overrunning_workers()}
        idle = sorted(self.vacant - running - self.exited, key=lambda worker: (worker not in self.answered, worker))
        if idle:
            worker = idle[0]
        elif self.numbered < self.capacity() or not self.vacant:
            self.numbered += 1
            return self.numbered
        else:
            worker = min(self.vacant - self.exited, default=min(self.vacant))
        self.vacant.discard(worker)
        return worker

    def _on_ConnectionClosed(self, event: ConnectionClosed) -> None:
        worker = self.worker_numbers.pop(event.connection, 0)
        if worker:
            self.vacant.add(worker)
            if self.ready:
                self._place_ready()  # an invoke that waits for it now waits a bounded time

    def _worker_took(self, token: Token, request_id: str) -> int:
        """The worker whose /next (`token`) takes invoke `request_id`."""
        worker = self.asking.pop(token, 0)
        if worker:
            self.running_on[request_id] = worker
        self.unpinned.discard(request_id)
        self._cancel_timer(WORKER_TIMER_PREFIX + request_id)
        return worker

    def _worker_on(self, connection: int) -> int:
        """The worker that asks on `connection` (0: not known)."""
        return self.worker_numbers.get(connection, 0) if connection else 0

    def _worker_answered(self, request_id: str) -> None:
        self._worker_free(self.running_on.pop(request_id, 0))

    def _worker_free(self, worker: int) -> None:
        """`worker` has its reply and asks for work again at once."""
        if worker:
            self.answered.add(worker)
            if self.ready:
                self._place_ready()  # an invoke that waits for it now waits a bounded time for it to ask again

    def _worker_overran(self, request_id: str) -> None:
        """Invoke `request_id` timed out and its handler runs on: its worker stays busy with it."""
        worker = self.running_on.get(request_id, 0)
        if worker:
            self.overrun_on.setdefault(request_id, []).append(worker)

    def _overrunning_workers(self) -> set[int]:
        return {worker for workers in self.overrun_on.values() for worker in workers}

    def _overran_here(self, request_id: str, connection: int) -> bool:
        """Whether a /response or /error for `request_id` on `connection` is a timed-out attempt's, late, while another
        attempt (the same request id) runs on another worker."""
        worker = self._worker_on(connection)
        return bool(worker) and worker in self.overrun_on.get(request_id, ()) and worker != self.running_on.get(
            request_id)

    def _overrun_answered(self, request_id: str, connection: int) -> bool:
        """A timed-out attempt of `request_id` has answered, late (on `connection`; where that names none of its
        workers, the oldest's): its worker asks for work again. Whether another timed-out attempt of it runs on."""
        workers = self.overrun_on.get(request_id, [])
        worker = self._worker_on(connection)
        if worker not in workers:
            worker = workers[0] if workers else 0
        if worker:
            workers.remove(worker)
            if self.running_on.get(request_id) == worker:
                del self.running_on[request_id]
            self._worker_free(worker)
        if not workers:
            self.overrun_on.pop(request_id, None)
        return bool(workers)

    def _worker_gone(self, token: Optional[Token] = None, request_id: Optional[str] = None) -> None:
        """A worker left: its /next hung up (`token`), or it exited (holding invoke `request_id`, if any). An invoke
        that waited for it goes to any worker now."""
        if token is not None:
            self.asking.pop(token, None)
        if request_id is not None:
            self.running_on.pop(request_id, None)
        self._place_ready()

    def _worker_exited(self, request_id: str) -> None:
        """Our runtime said the worker that ran invoke `request_id` exited: its number is not waited for again (Lambda's
        Python runtime starts no new worker), and an invoke that waited for it goes to any worker now."""
        worker = self.running_on.get(request_id, 0)
        if worker:
            self.exited.add(worker)
        self._worker_gone(request_id=request_id)

    def _place_ready(self) -> None:
        """Invokes waiting for their worker, given to a parked one where theirs may no longer ask."""
        for request_id in list(self.ready):
            run = self.runs.get(request_id)
            token = self._asking_for(run) if run is not None and not run.delivered else None
            if token is not None and run is not None:
                self.ready.remove(request_id)
                del self.parked[token]
                self._send_run(token, run)

    def _waits_for_worker(self, run: InvokeRun) -> bool:
        """Whether `run` names a worker that may still ask for it (then it waits for that one)."""
        worker = run.invocation.worker
        if not worker or run.invocation.request_id in self.unpinned or worker in self.exited:
            return False
        return (worker in self.asking.values() or worker in self.running_on.values() or worker in self.answered
                or worker in self._overrunning_workers()
                or worker in self.vacant or (worker > self.numbered and self.numbered < self.capacity()))

    def _asking_for(self, run: InvokeRun) -> Optional[Token]:
        """The parked /next that takes `run` now: its worker's, where it names one that may still ask, else the one
        that has waited longest (None: it waits; for its worker, a bounded time: `_worker_wait_s`)."""
        if self._waits_for_worker(run):
            wanted = run.invocation.worker
            token = next((token for token in self.parked if self.asking.get(token) == wanted), None)
            name = WORKER_TIMER_PREFIX + run.invocation.request_id
            # Running an invoke on its connection, it comes back by that invoke's deadline: not bounded. A timed-out
            # handler may run on for ever, and one whose connection is gone may be dead (awslambdaric's workers tell
            # lambdatui nothing when they end): bounded.
            busy = wanted not in self.vacant and any(
                worker == wanted and request_id in self.runs for request_id, worker in self.running_on.items())
            if token is None and not busy and not self._deadline_running(name):
                self._start_timer(name, self._worker_wait_s())
            return token
        return next(iter(self.parked), None)

    def _takes(self, token: Token, run: InvokeRun) -> bool:
        """Whether the worker asking with `token` may take `run` (it names no worker, that one, or one that is gone)."""
        return self.asking.get(token) == run.invocation.worker or not self._waits_for_worker(run)

    def _worker_wait_s(self) -> float:
        return max(self.config.timeout_ms / 1000, WORKER_WAIT_MIN_S)

    def _worker_wait_over(self, request_id: str) -> None:
        """The invoke waited as long as it may for the worker it names: any worker takes it now."""
        run = self.runs.get(request_id)
        if run is None or run.delivered:
            return
        self.unpinned.add(request_id)
        self._line(f"Invoke {request_id} waited {self._worker_wait_s():g} s (the function's timeout, 3 s at least) for "
                   f"worker #{run.invocation.worker}, which did not ask for work: the next worker to ask takes it.",
                   f.LAMBDATUI, request_id)
        self._place_ready()

    if TYPE_CHECKING:  # ManagedInvokeRules' and the shared Environment's
        def capacity(self) -> int: ...

        def _send_run(self, token: Token, run: InvokeRun) -> None: ...

        def _start_timer(self, name: str, seconds: float) -> None: ...

        def _cancel_timer(self, name: str) -> None: ...

        def _deadline_running(self, name: str) -> bool: ...

        def _line(self, text: str, source: str = ..., request_id: Optional[str] = None) -> None: ...
