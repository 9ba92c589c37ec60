"""What a Supervisor starts before the trio run, as part of it (issue 9: host/early_start.py starts env #1 while
lambdatui imports the rest of itself). Made without a nursery, it spawns as usual; what needs trio (a child's
pipes read, its exit awaited, the init's reports pumped, the memory watcher) waits for `attach`, which the host
calls from its run once it adopts the environment. lambdatui may also end first: `abandon` then ends it all
without trio.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import trio

    from .cgroup import EnvironmentCgroup
    from .pid_namespace import InitKeeper, SandboxInit
    from .children import ExitReporter, OnExit, OnLines, ProcessHandle
    from .watchdog_link import WatchdogLink

# A child started before `attach`: its handle, its Popen (None: the init's child), who reports its exit, its pidfd,
# and the read ends of its stdout and stderr.
Ahead = tuple["ProcessHandle", "subprocess.Popen[bytes] | None", "ExitReporter | None", "int | None", int, int]


class StartedAhead:
    """Part of `Supervisor` (processes/supervisor.py): it runs on the supervisor's state."""

    _nursery: trio.Nursery | None
    _watching: trio.CancelScope | None
    _deferred: list[Callable[[], None]]
    _ahead: list[Ahead]
    _closed: bool
    _init: SandboxInit | None
    _keeper: InitKeeper | None
    _watchdog: WatchdogLink
    _on_lines: OnLines
    _on_exit: OnExit
    cgroup: EnvironmentCgroup | None

    def _supervise_soon(self, handle: ProcessHandle, popen: subprocess.Popen[bytes] | None, init: ExitReporter | None,
                        pidfd: int | None, out_r: int, err_r: int) -> None:
        raise NotImplementedError  # the Supervisor's

    def report_to(self, on_lines: OnLines, on_exit: OnExit) -> None:
        """Who hears its children's output and exits from now on (the host that adopts what was started ahead)."""
        self._on_lines, self._on_exit = on_lines, on_exit

    def _attached(self, nursery: trio.Nursery) -> None:
        import trio

        self._nursery = nursery
        self._watching = trio.CancelScope()

    def attach(self, nursery: trio.Nursery) -> None:
        """Supervise, in this trio run, what was started ahead of it: their start times move to trio's clock."""
        import trio

        shift = trio.current_time() - time.perf_counter()
        self._attached(nursery)
        ahead, self._ahead = self._ahead, []
        for handle, popen, init, pidfd, out_r, err_r in ahead:
            handle.started_at += shift
            self._supervise_soon(handle, popen, init, pidfd, out_r, err_r)
        deferred, self._deferred = self._deferred, []
        for start in deferred:
            start()

    def _start_soon(self, fn: Callable[..., Any], *args: object, name: str) -> None:
        if self._nursery is None:
            self._deferred.append(lambda: self._start_soon(fn, *args, name=name))
        else:
            self._nursery.start_soon(fn, *args, name=name)

    def abandon(self) -> None:
        """End what a supervisor never attached started (lambdatui ends first): every group and the init killed,
        the cgroup removed, their descriptors closed, the watchdog told to end (it kills whatever is left)."""
        self._closed = True
        for handle, popen, _, pidfd, out_r, err_r in self._ahead:
            try:
                os.killpg(handle.pgid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
            for fd in (out_r, err_r, pidfd):
                if fd is not None:
                    os.close(fd)
            if popen is not None:
                popen.wait()
        self._ahead.clear()
        if self.cgroup is not None:
            self.cgroup.remove()
        init, self._init = self._init, None
        if init is not None:
            init.abandon()
        keeper, self._keeper = self._keeper, None
        if keeper is not None:
            keeper.abandon()
        self._watchdog.abandon()
