"""SnapStart's snapshot as a process template: the initialised runtime, held on /restore/next, copies itself.

Lambda snapshots the microVM while the runtime's /restore/next is pending and restores copies of it. Here the
held runtime process is the snapshot, and each restore asks it, over a private channel, for a fork that becomes
the new environment's runtime (lambdatui/bootstrap/snapstart.py is the other end). Only our own Python runtime
speaks this channel; a runtime that does not is re-run for each restore instead (the host says so).

The channel is a SOCK_SEQPACKET socketpair whose far end the runtime inherits (`LAMBDATUI_SNAPSHOT_FD`):
- host → template: `{"op": "restore", "env": {...}, "tmp": path or null}` with the copy's stdout and stderr
  (SCM_RIGHTS);
- copy → host: `{"op": "restored", "pid": ..., "mount_ns": ...}` before it calls the new environment's API; the
  kernel's SCM_CREDENTIALS give its pid as the host sees it (the template may live in a PID namespace);
- template → host: `{"op": "exited", "pid": ..., "status": ...}` for each copy it reaped (it is their parent),
  `{"op": "failed", "error": ...}` when a fork failed.

A copy stays in the template's PID namespace (a process cannot leave its own): when lambdatui ends, the
snapshot environment's namespace goes last and takes every copy with it, so nothing outlives the host.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import struct
from typing import Any, Iterator, Mapping, NamedTuple, Optional, Protocol

import trio

from .exit_status import ExitStatus

ENV_NAME = "LAMBDATUI_SNAPSHOT_FD"
FORK_TIMEOUT_S = 10.0  # the restore's own limit: a copy that never reports is a failed restore
# How long the snapshot runs, at most, for its pid 1 to reap what a restored environment's end left it, and how often
# it is asked meanwhile (its pid 1 reaps within milliseconds of the thaw).
ORPHANS_BOUND_S = 1.0
_ORPHANS_EVERY_S = 0.002
_UCRED = struct.Struct("3i")


class RestoreFailed(Exception):
    """The template could not be copied; str() says why, for the user."""


class Restored(NamedTuple):
    """A copy, made: its pid as the host sees it, and the write end of the pipe it waits on before its first call.
    Closing it says the copy is where it belongs (its environment's cgroup): whatever it forks from then on is
    born there."""

    pid: int
    placed: int


class HeldEnvironment(Protocol):
    """The snapshot's environment, frozen while it is held (processes/fencing.py)."""

    def wake_while_frozen(self, awake: bool) -> None: ...

    def orphans_unreaped(self) -> bool: ...


class SnapshotTemplate:
    """The host's end of the channel to the snapshot's runtime; also reports its copies' exits to the supervisors
    of their environments (the interface of `SandboxInit.exit_status`, by host pid)."""

    def __init__(self) -> None:
        self._host_end, self._far_end = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self._host_end.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
        self._socket = trio.socket.from_stdlib_socket(self._host_end)
        self._lock = trio.Lock()  # one restore at a time: the replies name no request
        self._reply: Optional[trio.MemorySendChannel[tuple[dict[str, Any], Optional[int]]]] = None
        self._inner_to_host: dict[int, int] = {}
        self.exits: dict[int, ExitStatus] = {}  # host pid -> status, until taken by exit_status
        self._waiters: dict[int, trio.Event] = {}
        self.closed = trio.Event()
        self._pgid: Optional[int] = None  # set while the snapshot is held stopped between restores
        # Its environment, while the snapshot is held: the template's SIGCONT alone would not let it run in a frozen
        # cgroup (HeldEnvironment.wake_while_frozen).
        self._held: Optional[HeldEnvironment] = None
        self._woken: Optional[HeldEnvironment] = None  # the one woken, told when it sleeps again
        self._awake = 0  # restores and reaps under way: the template runs meanwhile
        self.note: Optional[str] = None  # what the latest restore could not give the copy (its own /tmp)

    def far_end(self) -> int:
        """The descriptor the runtime inherits; the host closes its copy once the runtime is started."""
        return self._far_end.fileno()

    def started(self) -> None:
        self._far_end.close()

    def hold(self, pgid: Optional[int], environment: Optional[HeldEnvironment] = None) -> None:
        """Stop the template (SIGSTOP its group) between restores, as nothing runs in a snapshot: a thread Init
        started must not go on changing the memory later restores copy. Its `environment` is frozen too (the core's
        freeze: the rest of the snapshot, its extensions, runs no more than its runtime): it is woken whenever the
        template runs, and frozen again after. None: let it run (it is shutting down; the environment's thaw is the
        core's)."""
        held, self._pgid = self._pgid, pgid
        self._held = environment if pgid is not None else None
        if self._awake == 0:  # let run: the group it was held by (None would signal nobody, and it stayed stopped)
            self._signal(signal.SIGSTOP if pgid is not None else signal.SIGCONT, pgid if pgid is not None else held)

    def _signal(self, sig: int, pgid: Optional[int] = None) -> None:
        target = pgid if pgid is not None else self._pgid
        if target is not None:
            try:
                os.killpg(target, sig)
            except OSError:
                pass  # gone: its end of the channel tells the rest

    @contextlib.contextmanager
    def running(self) -> Iterator[None]:
        """The template runs for a restore or to reap a copy, and is held again when nothing else needs it. A restore
        keeps it running until its copy has left the snapshot's cgroup (`Restored.placed`): frozen with it on its way
        out, the copy would depend on the freezer's migration to go on."""
        self._awake += 1
        if self._awake == 1:
            self._woken = self._held
            if self._woken is not None:
                self._woken.wake_while_frozen(True)
            self._signal(signal.SIGCONT)
        try:
            yield
        finally:
            self._awake -= 1
            if self._awake == 0:
                self._signal(signal.SIGSTOP)
                woken, self._woken = self._woken, None
                if woken is not None:
                    woken.wake_while_frozen(False)  # frozen again, unless it was thawed meanwhile (its shutdown)

    async def pump(self) -> None:
        """Read the channel until the template ends; then every copy still awaited counts as killed."""
        try:
            while True:
                data, ancillary, _, _ = await self._socket.recvmsg(1 << 16, socket.CMSG_SPACE(_UCRED.size))
                if not data:
                    break
                try:
                    message = json.loads(data)
                except ValueError:
                    continue
                if not isinstance(message, dict):
                    continue
                self._received(message, _sender_pid(ancillary))
        except (OSError, trio.ClosedResourceError):
            pass
        finally:
            self.closed.set()
            for waiter in self._waiters.values():
                waiter.set()
            self._waiters.clear()
            if self._reply is not None:
                self._reply.close()

    def _received(self, message: dict[str, Any], sender: Optional[int]) -> None:
        op = message.get("op")
        if op == "exited":
            inner, status, peak_kb = message.get("pid"), message.get("status"), message.get("peak_kb")
            if not isinstance(inner, int) or not isinstance(status, int):
                return
            pid = self._inner_to_host.pop(inner, inner)
            self.exits[pid] = ExitStatus.from_wait_status(status, peak_rss_kb=peak_kb if isinstance(peak_kb, int) else None)
            waiter = self._waiters.pop(pid, None)
            if waiter is not None:
                waiter.set()
        elif op in ("restored", "failed") and self._reply is not None:
            inner = message.get("pid")
            if op == "restored" and isinstance(inner, int) and sender:
                self._inner_to_host[inner] = sender  # now: its exit may be the very next message
            try:
                self._reply.send_nowait((message, sender))
            except (trio.WouldBlock, trio.BrokenResourceError, trio.ClosedResourceError):
                pass

    async def restore(self, env: Mapping[str, Optional[str]], tmp: Optional[str], stdout: int,
                      stderr: int, log_fd: bool = False) -> Restored:
        """Fork the template into a copy with these output pipes; its pid as the host sees it, and the pipe it waits
        on before its first call (`Restored.placed`). The output pipes' write ends are closed here either way.
        `log_fd`: the copy's telemetry log fd writes to its stdout too, put where its snapshot's was.
        Raises RestoreFailed."""
        async with self._lock:
            with self.running():
                return await self._restore(env, tmp, stdout, stderr, log_fd)

    async def _restore(self, env: Mapping[str, Optional[str]], tmp: Optional[str], stdout: int,
                       stderr: int, log_fd: bool) -> Restored:
        send, receive = trio.open_memory_channel[tuple[dict[str, Any], Optional[int]]](1)
        self._reply = send
        placed_r, placed_w = os.pipe()
        handed_over = False  # the write end: the caller's once the copy says who it is, closed here otherwise
        try:
            logs = [stdout] if log_fd else []  # SCM_RIGHTS gives the copy a descriptor of its own for each
            request = json.dumps({"op": "restore", "env": dict(env), "tmp": tmp, "placed": True,
                                  "log_fd": bool(logs)}).encode()
            try:
                socket.send_fds(self._host_end, [request], [stdout, stderr, *logs, placed_r])
            except OSError as exc:
                raise RestoreFailed(f"the snapshot's process is gone ({exc.strerror or exc})") from exc
            finally:
                for fd in (stdout, stderr, placed_r):
                    os.close(fd)
            with trio.move_on_after(FORK_TIMEOUT_S):
                try:
                    message, sender = await receive.receive()
                except trio.EndOfChannel:
                    raise RestoreFailed("the snapshot's process ended before the copy started") from None
                if message.get("op") == "failed":
                    raise RestoreFailed(f"the snapshot's process could not fork: {message.get('error')}")
                inner = message.get("pid")
                pid = sender if sender else inner
                if not isinstance(pid, int) or pid <= 0:
                    raise RestoreFailed("the copy did not say who it is")
                joined = message.get("mount_ns")
                self.note = None if joined in ("joined", "none", None) else str(joined)
                handed_over = True
                return Restored(pid, placed_w)
            raise RestoreFailed(f"the copy did not start within {FORK_TIMEOUT_S:.0f} s")
        finally:
            if not handed_over:
                os.close(placed_w)  # not restored: a copy waiting on it goes on (to be killed, or to fail alone)
            self._reply = None
            send.close()

    async def exit_status(self, pid: int) -> ExitStatus:
        """A copy's exit as the template reaped it; SIGKILL when the template ended first."""
        if pid not in self.exits and not self.closed.is_set():
            event = self._waiters.setdefault(pid, trio.Event())
            with self.running():  # it is the copy's parent: only it can reap the copy and say how it ended
                await event.wait()
        return self.exits.pop(pid, ExitStatus(code=None, signal=signal.SIGKILL))

    async def reap_orphans(self) -> None:
        """A restored environment has ended what it ran: what outlived its parent there (a daemon) lives in the
        snapshot's PID namespace, whose pid 1 reaps it, and only while the snapshot runs: it runs until then."""
        environment = self._held
        if environment is None or not environment.orphans_unreaped():
            return
        with self.running(), trio.move_on_after(ORPHANS_BOUND_S):
            while environment.orphans_unreaped():
                await trio.sleep(_ORPHANS_EVERY_S)

    def close(self) -> None:
        """End the channel: the template exits when it reads the end of it."""
        self.hold(None)
        self._socket.close()
        try:
            self._far_end.close()
        except OSError:
            pass


def _sender_pid(ancillary: list[tuple[int, int, bytes]]) -> Optional[int]:
    for level, kind, data in ancillary:
        if level == socket.SOL_SOCKET and kind == socket.SCM_CREDENTIALS and len(data) >= _UCRED.size:
            return _UCRED.unpack(data[:_UCRED.size])[0]
    return None
