"""A supervisor's children: their handles, and how each one's end is awaited, reaped and reported, as part of the
Supervisor (processes/supervisor.py). trio is imported where it is used (started_ahead.py says why).
"""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from . import linux
from .exit_status import ExitStatus
from .memory_limit import MemoryLimit
from .output import OutputPipe, Stream, close_read_end
from .spawning import ProcessSpec
from .watchdog_link import WatchdogLink

if TYPE_CHECKING:
    import trio

# A child's exit is reported once what it wrote is read, not at its pipes' end of file: a descendant that left its
# group (setsid, a daemon) holds them as long as it lives, and Lambda acts on the runtime's exit when it happens.
# What such a daemon writes later is read on, after the exit, until end of file, and at most this long once its
# environment ends (its processes are killed then; where nothing contains them, what they write later goes unread).
OUTPUT_GRACE = 0.5
# SIGKILL cannot be refused; a process stuck in uninterruptible sleep can still
# take a while to go. Bounded so that shutting down never hangs.
KILL_GRACE = 5.0


@dataclass(eq=False)
class ProcessHandle:
    """One started child. Its pid is also its process group id."""

    key: str
    pid: int
    started_at: float
    """trio.current_time() when it was spawned (time.perf_counter() until a supervisor started ahead attaches)."""
    spec: ProcessSpec
    exited: ExitStatus | None = None
    """Set just before on_exit is called."""
    exited_at: float | None = None
    out_of_memory: bool = False
    """Set with `exited`: it was SIGKILLed for the environment's memory limit (the OOM killer, or the watcher)."""

    @property
    def pgid(self) -> int:
        return self.pid


class ExitReporter(Protocol):
    """Who reaps a child that is not the host's own and reports its exit (the sandbox init, a SnapStart
    template), by the pid the host sees."""

    exits: dict[int, ExitStatus]

    async def exit_status(self, pid: int) -> ExitStatus: ...


OnLines = Callable[[ProcessHandle, Stream, list[str]], None]  # the complete lines of one read of a pipe
OnExit = Callable[[ProcessHandle, ExitStatus], None]


def _new_event() -> trio.Event:
    import trio

    return trio.Event()


def _notify_closing(fd: int) -> None:
    import trio

    trio.lowlevel.notify_closing(fd)


def current_time() -> float:
    import trio

    return trio.current_time()


@dataclass(eq=False)
class Child:
    """One child the supervisor started: its process, pidfd and output pipes, and its exit once reaped."""

    handle: ProcessHandle
    popen: subprocess.Popen[bytes] | None
    """None for a child of the sandbox init: the init reaps it and reports its exit."""
    init: ExitReporter | None
    pidfd: int | None
    pipes: tuple[OutputPipe, OutputPipe]  # stdout's (the runtime's log records among its lines), stderr's
    reaped: ExitStatus | None = None
    done: trio.Event = field(default_factory=_new_event)
    """Set once its exit is reported and its pipes are closed."""
    reading_on: trio.CancelScope | None = None
    """Its pipes read after its exit was reported (what still holds them: a daemon), until end of file or this
    scope's deadline (`_let_go_of_output`)."""
    status: linux.KernelFile | None = None  # its /proc/PID/status, kept open once read (its memory after each invoke)


def signal_group(pgid: int, sig: int) -> None:
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass  # the group is already gone (or every member changed its uid)


async def _wait_exited(child: Child) -> None:
    """Until the child is a zombie (ours: not reaped, so its pid, hence its group id, stays reserved)."""
    import trio

    if child.pidfd is not None:
        await trio.lowlevel.wait_readable(child.pidfd)
        return
    if child.popen is None:  # the init's child, on a kernel without pidfds
        while linux.proc_state(child.handle.pid) not in linux.GONE_STATES | {None}:
            await trio.sleep(0.02)
        return
    while not linux.has_exited(child.handle.pid):
        await trio.sleep(0.02)


class ChildExits:
    """Part of `Supervisor`: each child's end, awaited, reaped and reported."""

    _children: dict[int, Child]
    _reading_on: set[Child]  # exited and reported, their pipes still read (`Child.reading_on`)
    _closed: bool
    _watchdog: WatchdogLink
    _on_exit: OnExit
    memory: MemoryLimit | None
    _thaw_cgroup: Callable[[], None]  # Fencing's

    async def _supervise(self, child: Child) -> None:
        import trio

        status: ExitStatus | None = None
        reported = False
        try:
            async with trio.open_nursery() as pumps:
                for pipe in child.pipes:
                    pumps.start_soon(pipe.pump)
                await _wait_exited(child)
                self._thaw_cgroup()  # its init reports the exit (fencing.py)
                # The leader is a zombie, so its group id cannot have been reused:
                # this reaches exactly what it left behind, which must not outlive it.
                signal_group(child.handle.pgid, signal.SIGKILL)
                if child.init is not None:
                    with trio.move_on_after(KILL_GRACE):
                        status = await child.init.exit_status(child.handle.pid)
                    if status is None:
                        status = ExitStatus(code=None, signal=None)
                    child.reaped = status
                else:
                    status = self._reap(child, block=True)
                # It has exited, so all it wrote is in its pipes: its last lines come before its exit, which does
                # not wait for the pipes' end of file (a daemon that left its group holds them while it lives).
                for pipe in child.pipes:
                    pipe.drain_exited()
                child.reading_on = trio.CancelScope()
                if self._closed:  # what holds the pipes is being killed: its last words, briefly
                    child.reading_on.deadline = trio.current_time() + OUTPUT_GRACE
                self._reading_on.add(child)
                reported = True
                self._report(child, status)  # may end its environment (`_let_go_of_output`)
                with child.reading_on:
                    for pipe in child.pipes:
                        await pipe.eof.wait()
                pumps.cancel_scope.cancel()
        finally:
            self._reading_on.discard(child)
            try:
                if status is None:
                    # Cancelled (the host is going away) or failed: leave nothing behind.
                    signal_group(child.handle.pgid, signal.SIGKILL)
                    with trio.CancelScope(shield=True), trio.move_on_after(KILL_GRACE):
                        await _wait_exited(child)
                    status = self._reap(child, block=False)
                if not reported:
                    try:
                        self._close_pipes(child)  # every line, the partial last one included, before the exit
                    finally:
                        self._report(child, status)
            finally:
                self._close_pipes(child)  # what a daemon wrote after the exit, the partial last line included
                child.done.set()

    def _let_go_of_output(self) -> None:
        """The environment is over: what still held an ended child's pipes (a daemon) is killed with it, and its
        last output read for OUTPUT_GRACE at most (a daemon nothing contains lives on, unread)."""
        if not self._reading_on:
            return
        deadline = current_time() + OUTPUT_GRACE
        for child in self._reading_on:
            if child.reading_on is not None:
                child.reading_on.deadline = min(child.reading_on.deadline, deadline)

    def _reap(self, child: Child, *, block: bool) -> ExitStatus:
        pid = child.handle.pid
        if child.popen is None:
            # The init reaps its own children; if it reported nothing (it was killed with the namespace), the
            # kernel's SIGKILL did it.
            init_status = child.init.exits.pop(pid, None) if child.init is not None else None
            child.reaped = init_status or ExitStatus(code=None, signal=signal.SIGKILL)
            return child.reaped
        try:
            reaped_pid, wait_status = os.waitpid(pid, 0 if block else os.WNOHANG)
        except ChildProcessError:
            # Someone else (a foreign SIGCHLD handler) reaped it first.
            status = ExitStatus(code=None, signal=None)
        else:
            if reaped_pid == 0:
                # Still not gone after SIGKILL and the grace: leave it to
                # subprocess's own cleanup of abandoned Popen objects.
                child.reaped = ExitStatus(code=None, signal=signal.SIGKILL)
                return child.reaped
            # No peak from wait4 here: a child forked by the host counts the host's resident pages it held
            # before its exec (ru_maxrss keeps the higher mark), tens of MB a function never used.
            status = ExitStatus.from_wait_status(wait_status)
        # Popen must not try to reap this pid again: it may belong to someone else now.
        child.popen.returncode = status.code if status.code is not None else -(status.signal or 0)
        child.reaped = status
        return status

    @staticmethod
    def _close_pipes(child: Child) -> None:
        for pipe in child.pipes:
            pipe.close()  # delivers what is left, the partial last line included

    def _report(self, child: Child, status: ExitStatus) -> None:
        handle = child.handle
        try:
            if child.pidfd is not None:
                _notify_closing(child.pidfd)
                os.close(child.pidfd)
                child.pidfd = None
            if child.status is not None:
                child.status.close()
            self._watchdog.remove(handle.pgid)
            self._children.pop(handle.pid, None)
            if status.signal == signal.SIGKILL and self.memory is not None:
                handle.out_of_memory = self.memory.claim_oom(handle.pid)
        finally:
            handle.exited = status
            handle.exited_at = current_time()
        self._on_exit(handle, status)

    def _abandon(self, child: Child) -> None:
        """Undo a spawn whose supervising task could not start (the nursery is closed)."""
        signal_group(child.handle.pgid, signal.SIGKILL)
        if child.popen is not None:
            self._reap(child, block=True)
        for pipe in child.pipes:
            close_read_end(pipe.fd)
        if child.pidfd is not None:
            os.close(child.pidfd)
        if child.status is not None:
            child.status.close()
        self._watchdog.remove(child.handle.pgid)
