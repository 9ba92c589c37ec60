"""The host's end of an environment's sandbox init (sandbox_init.py): a PID namespace its processes cannot leave.

A cgroup contains what a function starts only where the host lets us write one; a PID namespace needs only a
mount namespace (root, or unprivileged user namespaces), and its pid 1 takes every descendant with it when it
ends: the init ends with the host (its keeper's parent-death signal, and its own on the keeper) or when the
environment's life ends (`kill`), pid 1 with the init, and the kernel then kills whatever is left inside,
`setsid` daemons included. Each of an environment's lives (its first Init, each reset's) has an init of its own,
forked by the environment's keeper (init_keeper.py).
"""

from __future__ import annotations

import errno
import marshal
import os
import select
import signal
import socket
import time
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from . import linux
from .exit_status import ExitStatus
from .init_keeper import InitKeeper, InitUnavailable

if TYPE_CHECKING:
    import trio

__all__ = ["InitKeeper", "InitUnavailable", "SandboxInit", "SpawnFailed"]

# The init's reply to a spawn comes once the child has exec'd (a few ms); a stuck init must not hang the host.
_REPLY_TIMEOUT_S = 5.0
# How long the end of a life waits for its namespace to be empty (pid 1's exit comes after every other's).
_EMPTY_TIMEOUT_S = 2.0
# How often that wait reaps what the host adopted of the life (its init dead first): a life ends in ~0.5 ms otherwise.
_REAP_EVERY_S = 0.005


class SpawnFailed(OSError):
    """The init could not start a child: errno and text as the child saw them, and at which step."""

    def __init__(self, where: str, code: int, text: str, argv0: str, cwd: str) -> None:
        super().__init__(code, text, cwd if where == "cwd" else argv0)
        self.where = where


class SandboxInit:
    """One life's init process; every participant of that life is forked by it."""

    def __init__(self, plan: list[tuple], keeper: InitKeeper) -> None:
        """Ask `keeper` (the environment's) for an init that takes the `plan`'s steps into its namespaces
        (namespace_steps.py); it is forked at once where the keeper is in its cgroup, and says when its namespace is
        up."""
        self.exits: dict[int, ExitStatus] = {}
        # trio's parts are made in trio, by the tasks that use them: the early start (host/early_start.py)
        # starts the init before trio is imported.
        self._closed: trio.Event | None = None
        self._ended: trio.Event | None = None
        self._exits: trio.lowlevel.FdStream | None = None
        self._waiters: dict[int, trio.Event] = {}
        self.keeper = keeper
        self._pid: int | None = None
        self._anchor: int | None = None
        self._pidfds: list[int] = []  # the init's and its pid 1's, once it is up: they are not the host's children
        # Those of the participants it started: where the init dies before them (its keeper lost), they and its pid 1
        # are the host's to reap (linux.become_child_subreaper), and pid 1's exit waits for theirs to be reaped.
        self._children: list[int] = []
        self._failure: str | None = None
        generation = self.keeper.start(plan)
        generation.requests.settimeout(_REPLY_TIMEOUT_S)
        self._requests = generation.requests
        self._exits_fd = generation.exits_fd
        self._stderr_fd = generation.stderr_fd

    def move_in_on_thread(self) -> None:
        """Begin the keeper's move into the cgroup on a thread of its own, if it is still to be made (an environment
        the host starts as it runs): the first `wait_ready` waits for it."""
        self.keeper.move_in_on_thread()

    @property
    def ready(self) -> bool:
        """Whether it has said its namespace is up: `wait_ready` returns at once."""
        return self._anchor is not None

    def until_settled(self) -> None:
        """For a worker thread: until `wait_ready` would not block (the move done, the init's first word in) or
        could only fail, at most the reply's timeout. It reads nothing: `wait_ready` does, on the host's thread."""
        if not self.keeper.until_moved():
            return
        poller = select.poll()
        try:
            poller.register(self._requests, select.POLLIN)
        except (ValueError, OSError):
            return  # closed meanwhile (the environment ended): `wait_ready` says so
        poller.poll(_REPLY_TIMEOUT_S * 1000)

    @property
    def closed(self) -> trio.Event:
        """Set once the init has ended (its exit reports closed)."""
        if self._closed is None:
            import trio

            self._closed = trio.Event()
        return self._closed

    @property
    def pid(self) -> int | None:
        """The init's pid as the host sees it, once it is up."""
        return self._pid

    @property
    def gone(self) -> bool:
        """Whether the init has ended (its end of the channel closed): it starts nothing more."""
        if self._requests.fileno() < 0:
            return True
        poller = select.poll()
        poller.register(self._requests, select.POLLIN)
        return any(events & (select.POLLHUP | select.POLLERR | select.POLLNVAL) for _, events in poller.poll(0))

    def wait_ready(self) -> None:
        """Block until the init says its namespace is up (a few ms after the keeper is in the cgroup; the keeper
        boots in ~20 ms); raises InitUnavailable."""
        if self._anchor is not None:
            return
        if self._failure is None:
            try:
                self.keeper.moved()
            except InitUnavailable as exc:
                self._failure = str(exc)
                self.kill()
                self._release()  # nothing will come on its channels
                raise
            reply = self._reply()
            if reply[0] == "ready":
                self._anchor, self._pid = reply[1], reply[2]
                self._pidfds = [fd for fd in map(_open_pidfd, (reply[2], reply[1])) if fd is not None]
                return
            self._failure = str(reply[3]) if reply[0] == "failed" else "unexpected reply"
            self.kill()
        raise InitUnavailable(self._failure)

    def spawn(self, argv: Sequence[str], cwd: str, env: Mapping[str, str], stdout: int, stderr: int,
              pass_fds: Sequence[tuple[str, int]] = ()) -> int:
        """Fork and exec a participant inside the namespace; its pid as the host sees it. Raises SpawnFailed.
        `pass_fds`: (variable, descriptor) pairs the child inherits, each variable naming its number there."""
        self.wait_ready()
        request = marshal.dumps((list(argv), cwd, dict(env), [name for name, _ in pass_fds]))
        fds = [stdout, stderr] + [fd for _, fd in pass_fds]
        try:
            socket.send_fds(self._requests, [request], fds)
        except OSError as exc:
            raise SpawnFailed("start", exc.errno or errno.EPIPE, "the sandbox init is gone", argv[0], cwd) from exc
        reply = self._reply()
        if reply[0] == "ok":
            pidfd = _open_pidfd(int(reply[1]))
            if pidfd is not None:
                self._children.append(pidfd)
            return int(reply[1])
        raise SpawnFailed(reply[1], reply[2], reply[3], argv[0], cwd)

    def _reply(self) -> tuple:
        try:
            data = self._requests.recv(1 << 16)
        except OSError as exc:  # socket.timeout included
            return ("failed", "start", errno.EIO, f"no answer from the sandbox init ({exc})")
        if not data:
            return ("failed", "start", errno.EPIPE, self._stderr_reason() or "the sandbox init ended")
        return marshal.loads(data)

    def _stderr_reason(self) -> str:
        """What the init wrote before it ended (a failed step), as one line: written before its channel closed."""
        try:
            text = os.read(self._stderr_fd, 1 << 16).decode("utf-8", "replace").strip()
        except OSError:
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
        """The keeper, the init and the namespace's pid 1: lambdatui's own processes, never the function's."""
        return frozenset(p for p in (self.keeper.pid, self._pid, self._anchor) if p is not None)

    def unreaped(self) -> bool:
        """Whether the namespace's pid 1 has an ended child it has not reaped yet (an orphan it adopted)."""
        anchor = self._anchor
        if anchor is None:
            return False
        try:
            with open(f"/proc/{anchor}/task/{anchor}/children", "rb") as file:
                children = file.read().split()
        except OSError:
            return False
        return any(linux.proc_state(int(child)) == "Z" for child in children)

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
        """End this life's namespace: the init goes, pid 1 with it, then everything inside. An init not yet up ends
        by itself once it finds its channel closed (a few ms)."""
        for pidfd in self._pidfds:
            try:
                signal.pidfd_send_signal(pidfd, signal.SIGKILL)
            except OSError:
                pass  # gone already
        self._requests.close()

    @property
    def emptied(self) -> bool:
        """After `kill`: whether the init and its namespace have ended, asked without waiting."""
        return all(linux.pidfd_exited(pidfd) for pidfd in self._pidfds)

    @property
    def ended(self) -> trio.Event:
        """Set by `aclose` once the init and its namespace have ended (or its wait for that timed out)."""
        if self._ended is None:
            import trio

            self._ended = trio.Event()
        return self._ended

    def wait_empty(self, timeout: float = _EMPTY_TIMEOUT_S) -> None:
        """Block until the init and its namespace have ended (bounded), after `kill`: pid 1's exit is reported only
        once every other process inside is reaped, and neither is in the cgroup any longer by then."""
        deadline = time.monotonic() + timeout
        for pidfd in self._pidfds:
            poller = select.poll()
            poller.register(pidfd, select.POLLIN)
            while not poller.poll(min(_REAP_EVERY_S, max(0.0, deadline - time.monotonic())) * 1000):
                if time.monotonic() >= deadline:
                    break
                self._reap_adopted()
        self._reap_adopted()

    def _reap_adopted(self) -> None:
        """Reap what of this life the host has adopted: where the init died first (its keeper lost), its pid 1 and
        the participants are the host's children, and pid 1's exit waits for the participants to be reaped."""
        for pidfd in (*self._children, *self._pidfds):
            linux.reap_if_adopted(pidfd)

    def _release(self) -> None:
        for fd in (self._exits_fd, self._stderr_fd, *self._pidfds, *self._children):
            if fd >= 0:
                os.close(fd)
        self._exits_fd = self._stderr_fd = -1
        self._pidfds = []
        self._children = []

    def abandon(self) -> None:
        """End it without trio (lambdatui ends before its trio run began): killed, descriptors closed."""
        self.kill()
        self.wait_empty()
        self._release()

    async def aclose(self) -> None:
        import trio

        self.kill()
        with trio.CancelScope(shield=True), trio.move_on_after(_EMPTY_TIMEOUT_S):
            for pidfd in self._pidfds:  # the init, then its pid 1 (whose exit comes after every other's inside)
                while True:
                    with trio.move_on_after(_REAP_EVERY_S):
                        await trio.lowlevel.wait_readable(pidfd)
                        break
                    self._reap_adopted()  # its keeper lost, the init died first: its children are ours to reap
        self._reap_adopted()
        for pidfd in self._pidfds:
            trio.lowlevel.notify_closing(pidfd)
        try:
            if self._exits is not None:
                await self._exits.aclose()  # closes at once, then a checkpoint: cancelled where the host is closing
        finally:
            self._release()  # or the pidfds and the stderr pipe of every environment that ends stay open
            self.ended.set()


def _open_pidfd(pid: int) -> int | None:
    """A pidfd for a process of the sandbox's (not the host's child: its pid is reaped by its own parent)."""
    try:
        return os.pidfd_open(pid)
    except (AttributeError, OSError):
        return None
