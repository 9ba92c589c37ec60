"""The host's end of an environment's sandbox init (sandbox_init.py): a PID namespace its processes cannot leave.

A cgroup contains what a function starts only where the host lets us write one; a PID namespace needs only a
mount namespace (root, or unprivileged user namespaces), and its pid 1 takes every descendant with it when it
ends: the init ends with the host (parent-death signal) or when the environment ends (`kill`), pid 1 with the
init, and the kernel then kills whatever is left inside, `setsid` daemons included.
"""

from __future__ import annotations

import _thread
import errno
import marshal
import os
import select
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from . import linux
from .exit_status import ExitStatus
from .file_limit import FILE_LIMIT
from .stdlib_program import stdlib_program

if TYPE_CHECKING:
    import trio

_INIT_SCRIPT = Path(__file__).with_name("sandbox_init.py")
# The init's reply to a spawn comes once the child has exec'd (a few ms); a stuck init must not hang the host.
_REPLY_TIMEOUT_S = 5.0
_JOINED = b"joined"
# Python 3.11's Popen makes the process group itself, and still vforks; before, the init makes its own.
_OWN_GROUP = {"process_group": 0} if sys.version_info >= (3, 11) else {}  # the host's first message: the init is in the environment's cgroup (sandbox_init.main)


class InitUnavailable(Exception):
    """The sandbox init could not start here; str() is the reason, in one line."""


class SpawnFailed(OSError):
    """The init could not start a child: errno and text as the child saw them, and at which step."""

    def __init__(self, where: str, code: int, text: str, argv0: str, cwd: str) -> None:
        super().__init__(code, text, cwd if where == "cwd" else argv0)
        self.where = where


class SandboxInit:
    """One environment's init process; every participant of that environment is forked by it."""

    def __init__(self, plan: list[tuple], join: Callable[[int], None] | None = None,
                 move_in_now: bool = True) -> None:
        """Start the init now (its interpreter boots while the host goes on); it takes the `plan`'s steps into its
        namespaces itself (namespace_steps.py), after its exec: the host starts it with vfork, without waiting for
        a forked copy of itself to mount ~15 file systems before it execs (~9 ms, on every environment's way up).

        `join(pid)` moves the init into the environment's cgroup, here while it boots: a process's first move into a
        cgroup waits for an RCU grace period (~15 ms here), which would otherwise come before its interpreter even
        starts. The init forks nothing (its pid 1 first) until told it has moved, so every process of the
        environment is born inside. `move_in_now` False: the first `wait_ready` does it (the early start waits for
        the move, ~15 ms the first time, on a thread of its own), unless `move_in_on_thread` has begun it."""
        self.exits: dict[int, ExitStatus] = {}
        # trio's parts are made in trio, by the tasks that use them: the early start (host/early_start.py)
        # starts the init before trio is imported.
        self._closed: trio.Event | None = None
        self._exits: trio.lowlevel.FdStream | None = None
        self._waiters: dict[int, trio.Event] = {}
        self._anchor: int | None = None
        self._failure: str | None = None
        self._told = False  # that it is in its cgroup (`_move_in`)
        self._moving: threading.Event | None = None  # set when `move_in_on_thread`'s thread is done
        self._move_error: BaseException | None = None  # what that thread's move raised
        host_end, init_end = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        exits_r, exits_w = os.pipe()
        try:
            # Its own process group, as every child's: the terminal's Ctrl-C is the host's to handle.
            self._proc = subprocess.Popen(
                stdlib_program(_INIT_SCRIPT, str(init_end.fileno()), str(exits_w), str(FILE_LIMIT), str(os.getpid())),
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                pass_fds=(init_end.fileno(), exits_w), close_fds=True, cwd="/", **_OWN_GROUP,
            )
        except (OSError, subprocess.SubprocessError) as exc:
            host_end.close()
            os.close(exits_r)
            raise InitUnavailable(f"cannot start the sandbox init: {exc}") from exc
        finally:
            init_end.close()
            os.close(exits_w)
        try:
            host_end.send(marshal.dumps(plan))  # its first word (a few kB: the socket's buffer holds it)
        except OSError:
            pass  # it has ended already: its first reply says why
        host_end.settimeout(_REPLY_TIMEOUT_S)
        self._requests = host_end
        self._exits_fd = exits_r
        self._join = join
        if move_in_now:
            self._told = True
            self._move_in()

    def _move_in(self) -> None:
        """Move the init into the cgroup (`join`) and tell it so: until then it waits, and forks nothing."""
        error = self._join_and_tell()
        if error is not None:
            self._move_failed(error)

    def _join_and_tell(self) -> BaseException | None:
        join, self._join = self._join, None
        try:
            if join is not None:
                join(self._proc.pid)
            self._requests.send(_JOINED)
        except BaseException as exc:  # a cancellation or a bug too: no init may be left waiting for its word
            return exc
        return None

    def _move_failed(self, error: BaseException) -> None:
        self.abandon()
        self._failure = f"cannot move the sandbox init into the environment's cgroup: {error}"
        if isinstance(error, OSError):
            raise InitUnavailable(self._failure) from error
        raise error

    def move_in_on_thread(self) -> None:
        """Begin the move into the cgroup on a thread of its own: a reset's next init, whose move (an RCU grace
        period, ~15 ms here) would stall the host's event loop, every environment's API and the answer to the
        invoke that ended the last one with it. The first `wait_ready` waits for it; what it raised is raised there,
        on the host's thread, which also does the clean-up."""
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

    @property
    def ready(self) -> bool:
        """Whether it has said its namespace is up: `wait_ready` returns at once."""
        return self._anchor is not None

    def until_settled(self) -> None:
        """For a worker thread: until `wait_ready` would not block (the move done, the init's first word in) or
        could only fail, at most the reply's timeout. It reads nothing: `wait_ready` does, on the host's thread."""
        moving = self._moving
        if moving is not None:
            moving.wait()
            if self._move_error is not None:
                return
        poller = select.poll()
        try:
            poller.register(self._requests, select.POLLIN)
        except (ValueError, OSError):
            return  # closed meanwhile (the environment ended): `wait_ready` says so
        poller.poll(_REPLY_TIMEOUT_S * 1000)

    def _moved(self) -> None:
        """Wait for the thread's move, if one was begun; raises what it raised (InitUnavailable for an OSError)."""
        moving, self._moving = self._moving, None
        if moving is not None:
            moving.wait()
            error, self._move_error = self._move_error, None
            if error is not None:
                self._move_failed(error)

    @property
    def closed(self) -> trio.Event:
        """Set once the init has ended (its exit reports closed)."""
        if self._closed is None:
            import trio

            self._closed = trio.Event()
        return self._closed

    @property
    def pid(self) -> int:
        return self._proc.pid

    @property
    def gone(self) -> bool:
        """Whether the init has ended (its end of the channel closed): it starts nothing more. Asked without reaping
        it, as `aclose` still waits for its pid."""
        if self._requests.fileno() < 0:
            return True
        poller = select.poll()
        poller.register(self._requests, select.POLLIN)
        return any(events & (select.POLLHUP | select.POLLERR | select.POLLNVAL) for _, events in poller.poll(0))

    def wait_ready(self) -> None:
        """Block until the init says its namespace is up (it boots in ~20 ms); raises InitUnavailable."""
        if self._anchor is not None:
            return
        if self._moving is not None and self._failure is None:
            self._moved()
        if not self._told and self._failure is None:
            self._told = True
            self._move_in()
        if self._failure is None:
            reply = self._reply()
            if reply[0] == "ready":
                self._anchor = reply[1]
                return
            self._failure = str(reply[3]) if reply[0] == "failed" else "unexpected reply"
            self.kill()
        raise InitUnavailable(self._failure)

    def spawn(self, argv: Sequence[str], cwd: str, env: Mapping[str, str], stdout: int, stderr: int,
              pass_fd: tuple[str, int] | None = None) -> int:
        """Fork and exec a participant inside the namespace; its pid as the host sees it. Raises SpawnFailed.
        `pass_fd`: (variable, descriptor) the child inherits, the variable naming its number there."""
        self.wait_ready()
        request = marshal.dumps((list(argv), cwd, dict(env), pass_fd[0] if pass_fd else None))
        fds = [stdout, stderr] + ([pass_fd[1]] if pass_fd else [])
        try:
            socket.send_fds(self._requests, [request], fds)
        except OSError as exc:
            raise SpawnFailed("start", exc.errno or errno.EPIPE, "the sandbox init is gone", argv[0], cwd) from exc
        reply = self._reply()
        if reply[0] == "ok":
            return int(reply[1])
        raise SpawnFailed(reply[1], reply[2], reply[3], argv[0], cwd)

    def _reply(self) -> tuple:
        try:
            try:
                data = self._requests.recv(1 << 16)
            except ConnectionResetError:
                # It ended with a word of ours unread ("joined", after a refused set-up): the kernel says so before
                # it gives the reply the init sent first, which the next read gets.
                data = self._requests.recv(1 << 16)
        except OSError as exc:  # socket.timeout included
            return ("failed", "start", errno.EIO, f"no answer from the sandbox init ({exc})")
        if not data:
            return ("failed", "start", errno.EPIPE, self._stderr_reason() or "the sandbox init ended")
        return marshal.loads(data)

    def _stderr_reason(self) -> str:
        """What the init's set-up wrote before it ended (a failed namespace step), as one line."""
        assert self._proc.stderr is not None
        try:
            self._proc.wait(timeout=1)
            text = self._proc.stderr.read().decode("utf-8", "replace").strip()
        except (OSError, subprocess.TimeoutExpired):
            return ""
        return text.splitlines()[-1] if text else ""

    async def pump_exits(self) -> None:
        """Read the init's exit reports until it ends; then every child still awaited counts as killed."""
        import trio

        pending = b""
        try:
            exits = trio.lowlevel.FdStream(self._exits_fd)  # owns the descriptor from here on
            self._exits_fd = -1
            self._exits = exits
            while chunk := await exits.receive_some(4096):
                pending += chunk
                *lines, pending = pending.split(b"\n")
                for line in lines:
                    pid, status, at_ns, peak_kb = map(int, line.split())
                    self.exits[pid] = ExitStatus.from_wait_status(status, at_ns / 1e9, peak_kb)
                    waiter = self._waiters.pop(pid, None)
                    if waiter is not None:
                        waiter.set()
        except (trio.ClosedResourceError, OSError, ValueError):
            pass
        finally:
            self.closed.set()
            for waiter in self._waiters.values():
                waiter.set()
            self._waiters.clear()

    async def exit_status(self, pid: int) -> ExitStatus:
        """A child's exit as the init reaped it; SIGKILL when the init ended first (the namespace was killed)."""
        if pid not in self.exits and not self.closed.is_set():
            import trio

            event = self._waiters.setdefault(pid, trio.Event())
            await event.wait()
        return self.exits.pop(pid, ExitStatus(code=None, signal=signal.SIGKILL))

    def own_pids(self) -> frozenset[int]:
        """The init and the namespace's pid 1: lambdatui's own processes, never the function's."""
        return frozenset(p for p in (self._proc.pid, self._anchor) if p is not None)

    def pids(self) -> list[int]:
        """Every process inside the namespace (host pids), found by the namespace its pid 1 lives in."""
        if self._anchor is None:
            return []
        try:
            namespace = os.stat(f"/proc/{self._anchor}/ns/pid").st_ino
        except OSError:
            return []
        found = []
        for entry in os.scandir("/proc"):
            if entry.name.isdigit() and int(entry.name) != self._anchor:
                try:
                    if os.stat(f"/proc/{entry.name}/ns/pid").st_ino == namespace:
                        found.append(int(entry.name))
                except OSError:
                    pass  # gone meanwhile, or not ours to look at
        return found

    def kill(self) -> None:
        """End the environment's namespace: the init goes, pid 1 with it, then everything inside."""
        try:
            self._proc.kill()
        except OSError:
            pass
        if self._moving is not None:
            # Its thread may be about to send on the socket: a descriptor closed under it could be another's by then.
            self._moving.wait()
        self._requests.close()

    def abandon(self) -> None:
        """End it without trio (lambdatui ends before its trio run began): killed, reaped, descriptors closed."""
        self.kill()
        try:
            self._proc.wait(timeout=2)
        except subprocess.TimeoutExpired:
            pass
        if self._exits_fd >= 0:
            os.close(self._exits_fd)
            self._exits_fd = -1
        assert self._proc.stderr is not None
        self._proc.stderr.close()

    async def aclose(self) -> None:
        import trio

        self.kill()
        pidfd = linux.open_pidfd(self._proc.pid)
        if pidfd is not None:
            with trio.CancelScope(shield=True), trio.move_on_after(2):
                await trio.lowlevel.wait_readable(pidfd)
            trio.lowlevel.notify_closing(pidfd)
            os.close(pidfd)
        try:
            self._proc.wait(timeout=2)  # SIGKILLed: it goes at once (reaped here: it is the host's own child)
        except subprocess.TimeoutExpired:
            pass
        if self._exits is not None:
            await self._exits.aclose()
        elif self._exits_fd >= 0:
            os.close(self._exits_fd)  # nobody pumped its reports: the run ended before it began
            self._exits_fd = -1
        assert self._proc.stderr is not None
        self._proc.stderr.close()
