"""The host's end of an environment's keeper (sandbox_init.py's main): the process that forks each of the
environment's inits (pid_namespace.SandboxInit) from inside its cgroup.

It is moved into the cgroup once, when the environment is made. A process's first move into a cgroup waits for an
RCU grace period (~16 ms here); a fork of a process already inside is born inside at no cost. So a reset's init
(after a crash, a timeout, a new /tmp) is a fork of the keeper: no move, and no interpreter boot either.
"""

from __future__ import annotations

import _thread
import marshal
import os
import select
import socket
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path

from . import linux
from .file_limit import FILE_LIMIT
from .stdlib_program import stdlib_program

_INIT_SCRIPT = Path(__file__).with_name("sandbox_init.py")
# How long the keeper's end waits for what it forked to end and be reaped, and how often it looks (they end within
# milliseconds of it; the bound is for a process the kernel holds up).
_ADOPTED_END_S = 2.0
_ADOPTED_POLL_S = 0.002
_JOINED = b"joined"  # the host's word: the keeper is in the environment's cgroup (sandbox_init.main)
# Python 3.11's Popen makes the process group itself, and still vforks; before, the keeper makes its own.
_OWN_GROUP = {"process_group": 0} if sys.version_info >= (3, 11) else {}


class InitUnavailable(Exception):
    """The sandbox init could not start here; str() is the reason, in one line."""


class Generation:
    """The host's ends of one generation's channels: its requests and replies, its exits' pipe, its stderr."""

    def __init__(self, requests: socket.socket, exits_fd: int, stderr_fd: int) -> None:
        self.requests = requests
        self.exits_fd = exits_fd
        self.stderr_fd = stderr_fd


class InitKeeper:
    """One environment's keeper process, from its start to its end (the environment's cgroup's lifetime)."""

    def __init__(self, join: Callable[[int], None] | None = None, move_in_now: bool = True,
                 function_procs: str | None = None) -> None:
        """Start the keeper now (its interpreter boots while the host goes on). `join(pid)` moves it into the
        environment's cgroup, here while it boots: the keeper forks nothing until told it has moved, so every
        process of the environment is born inside. `move_in_now` False: the first `moved` does it (on a thread of
        its own, ~15 ms the first time), unless `move_in_on_thread` has begun it. `function_procs`: the cgroup.procs
        of the cgroup each participant joins before it execs (the function's, inside the environment's)."""
        self._failure: str | None = None
        self._told = False  # that it is in its cgroup (`_move_in`)
        self._moving: threading.Event | None = None  # set when `move_in_on_thread`'s thread is done
        self._move_error: BaseException | None = None  # what that thread's move raised
        linux.become_child_subreaper()  # its inits' children are the host's to reap where an init dies first
        host_end, keeper_end = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        passed = [keeper_end.fileno()]
        try:
            # Opened here, the host's: a participant writes "0" to it, which moves the writer, from any namespace.
            procs_fd = os.open(function_procs, os.O_WRONLY | os.O_CLOEXEC) if function_procs is not None else -1
        except OSError as exc:
            host_end.close()
            keeper_end.close()
            raise InitUnavailable(f"cannot open the function's cgroup: {exc}") from exc
        if procs_fd >= 0:
            passed.append(procs_fd)
        try:
            # Its own process group, as every child's: the terminal's Ctrl-C is the host's to handle.
            self._proc = subprocess.Popen(
                stdlib_program(_INIT_SCRIPT, str(keeper_end.fileno()), str(FILE_LIMIT), str(procs_fd),
                               str(os.getpid())),
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                pass_fds=passed, close_fds=True, cwd="/", **_OWN_GROUP,
            )
        except (OSError, subprocess.SubprocessError) as exc:
            host_end.close()
            raise InitUnavailable(f"cannot start the sandbox init: {exc}") from exc
        finally:
            keeper_end.close()
            if procs_fd >= 0:
                os.close(procs_fd)
        self._socket = host_end
        self._join = join
        if move_in_now:
            self._told = True
            self._move_in()

    @property
    def pid(self) -> int:
        return self._proc.pid

    def start(self, plan: list[tuple]) -> Generation:
        """Ask for a generation that takes `plan`'s steps (it is forked once the keeper is in the cgroup). Where the
        keeper is gone, the generation's channel just ends: its first reply says so."""
        host_end, far_end = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        exits_r, exits_w = os.pipe()
        stderr_r, stderr_w = os.pipe()
        os.set_blocking(stderr_r, False)
        try:
            socket.send_fds(self._socket, [marshal.dumps(plan)], [far_end.fileno(), exits_w, stderr_w])
        except OSError:
            pass
        finally:
            far_end.close()
            os.close(exits_w)
            os.close(stderr_w)
        return Generation(host_end, exits_r, stderr_r)

    @property
    def gone(self) -> bool:
        """Whether the keeper has ended (its end of the channel closed): it forks nothing more."""
        if self._failure is not None or self._socket.fileno() < 0:
            return True
        poller = select.poll()
        poller.register(self._socket, select.POLLIN)
        return any(events & (select.POLLHUP | select.POLLERR | select.POLLNVAL) for _, events in poller.poll(0))

    def _move_in(self) -> None:
        """Move the keeper into the cgroup (`join`) and tell it so: until then it waits, and forks nothing."""
        error = self._join_and_tell()
        if error is not None:
            self._move_failed(error)

    def _join_and_tell(self) -> BaseException | None:
        join, self._join = self._join, None
        try:
            if join is not None:
                join(self._proc.pid)
            self._socket.send(_JOINED)
        except BaseException as exc:  # a cancellation or a bug too: no keeper may be left waiting for its word
            return exc
        return None

    def _move_failed(self, error: BaseException) -> None:
        self.abandon()
        self._failure = f"cannot move the sandbox init into the environment's cgroup: {error}"
        if isinstance(error, OSError):
            raise InitUnavailable(self._failure) from error
        raise error

    def move_in_on_thread(self) -> None:
        """Begin the move into the cgroup on a thread of its own: an RCU grace period (~15 ms here) would stall the
        host's event loop and every environment's API with it. The first `moved` waits for it; what it raised is
        raised there, on the host's thread, which also does the clean-up."""
        if self._told or self._failure is not None:
            return
        self._told = True
        moving = self._moving = threading.Event()

        def move() -> None:
            try:
                self._move_error = self._join_and_tell()
            finally:
                moving.set()

        _thread.start_new_thread(move, ())

    def until_moved(self) -> bool:
        """For a worker thread: until a move begun on a thread is done; whether it went well (reads nothing)."""
        moving = self._moving
        if moving is not None:
            moving.wait()
            return self._move_error is None
        return self._failure is None

    def moved(self) -> None:
        """The keeper is in the cgroup (moved now, or its thread's move awaited); raises InitUnavailable."""
        moving, self._moving = self._moving, None
        if moving is not None:
            moving.wait()
            error, self._move_error = self._move_error, None
            if error is not None:
                self._move_failed(error)
        if not self._told and self._failure is None:
            self._told = True
            self._move_in()
        if self._failure is not None:
            raise InitUnavailable(self._failure)

    def kill(self) -> None:
        """End the keeper: every generation goes with it (their parent-death signal), and each namespace with its
        generation."""
        try:
            self._proc.kill()
        except OSError:
            pass
        if self._moving is not None:
            # Its thread may be about to send on the socket: a descriptor closed under it could be another's by then.
            self._moving.wait()
        self._socket.close()

    def abandon(self) -> None:
        """End it without trio: killed, reaped, its channel closed (what it forked is reaped as far as it has ended:
        the host is going away, and the rest goes with it)."""
        self.kill()
        try:
            self._proc.wait(timeout=2)
        except subprocess.TimeoutExpired:
            return
        linux.reap_adopted_group(self._proc.pid)

    async def aclose(self) -> None:
        import trio

        self.kill()
        if self._proc.returncode is None:  # else reaped already (a poll, or `abandon` after a failed move)
            pidfd = linux.open_pidfd(self._proc.pid)
            if pidfd is not None:
                with trio.CancelScope(shield=True), trio.move_on_after(2):
                    await trio.lowlevel.wait_readable(pidfd)
                trio.lowlevel.notify_closing(pidfd)
                os.close(pidfd)
            try:
                self._proc.wait(timeout=2)  # SIGKILLed: it goes at once (reaped here: it is the host's own child)
            except subprocess.TimeoutExpired:
                return
        # What it forked and had not reaped yet is the host's now (the child subreaper): its inits die of its end, and
        # each one's pid 1 of the init's, a moment later.
        with trio.CancelScope(shield=True), trio.move_on_after(_ADOPTED_END_S):
            while linux.reap_adopted_group(self._proc.pid):
                await trio.sleep(_ADOPTED_POLL_S)
        linux.reap_adopted_group(self._proc.pid)

