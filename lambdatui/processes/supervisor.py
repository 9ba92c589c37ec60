"""Start, signal, freeze, thaw, kill and reap the child processes of one environment.

Each child leads its own process group, so a signal reaches everything it
started. Children die with the host thanks to a parent-death signal (direct
children) and the watchdog process (everything else in their groups).

Children are started with `subprocess.Popen` directly in the trio thread, not
with trio's helpers: those fork from a worker thread, and PR_SET_PDEATHSIG fires
when the *forking thread* exits, which trio's idle worker threads do.
"""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import trio

from . import linux
from .cgroup import EnvironmentCgroup, join_cgroup_in_child
from .exec_failure import describe_exec_failure
from .exit_status import ExitStatus
from .output import OutputPipe, Stream
from .sandbox import Sandbox
from .watchdog_link import WatchdogLink

# After the leader exits and its group is killed, the pipes reach end of file
# within milliseconds. Only a descendant that left the group (setsid) can keep
# them open; past this grace its exit is reported anyway.
_OUTPUT_GRACE = 0.5
# SIGKILL cannot be refused; a process stuck in uninterruptible sleep can still
# take a while to go. Bounded so that shutting down never hangs.
_KILL_GRACE = 5.0


@dataclass(frozen=True)
class ProcessSpec:
    key: str
    """Tags this process's output and exit, e.g. "runtime" or "extension:my-ext"."""
    argv: Sequence[str]
    cwd: str
    env: Mapping[str, str]
    """The complete environment (not merged with ours); the sandbox adjusts TMPDIR."""


class LaunchError(Exception):
    """A child could not be started; str() is a one-line reason for a human."""


@dataclass(eq=False)
class ProcessHandle:
    """One started child. Its pid is also its process group id."""

    key: str
    pid: int
    started_at: float
    """trio.current_time() when it was spawned."""
    spec: ProcessSpec
    exited: ExitStatus | None = None
    """Set just before on_exit is called."""
    exited_at: float | None = None

    @property
    def pgid(self) -> int:
        return self.pid


OnLine = Callable[[ProcessHandle, Stream, str], None]
OnExit = Callable[[ProcessHandle, ExitStatus], None]


@dataclass(eq=False)
class _Child:
    handle: ProcessHandle
    popen: subprocess.Popen[bytes]
    pidfd: int | None
    pipes: tuple[OutputPipe, OutputPipe]
    reaped: ExitStatus | None = None
    done: trio.Event = field(default_factory=trio.Event)


def _signal_group(pgid: int, sig: int) -> None:
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass  # the group is already gone (or every member changed its uid)


def _make_preexec(sandbox_setup: Callable[[], None] | None, parent_pid: int,
                  cgroup: EnvironmentCgroup | None = None) -> Callable[[], None]:
    """The child's steps between fork and exec; every callee is resolved here, in the parent."""
    procs_file = cgroup.procs_file if cgroup is not None else None
    libc = linux.LIBC
    prctl = libc.prctl if libc is not None else None
    check = linux.check_call
    setpgid, getppid, getpid, kill, write = os.setpgid, os.getppid, os.getpid, os.kill, os.write
    sigkill = int(signal.SIGKILL)
    pdeathsig = linux.PR_SET_PDEATHSIG

    def preexec() -> None:
        try:
            if procs_file is not None:
                join_cgroup_in_child(procs_file)  # first: whatever this child starts is born inside
            setpgid(0, 0)
            if sandbox_setup is not None:
                sandbox_setup()
            if prctl is not None:
                # Last, so that no credential change (user namespace) can reset it.
                check(prctl(pdeathsig, sigkill, 0, 0, 0), "prctl(PR_SET_PDEATHSIG)")
                if getppid() != parent_pid:
                    kill(getpid(), sigkill)  # the host died before the signal was armed
        except BaseException as exc:
            # Popen reports only "Exception occurred in preexec_fn"; stderr is
            # already our pipe, so the parent can read the real reason there.
            text = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            write(2, f"{text}\n".encode("utf-8", "replace"))
            raise

    return preexec


def _read_nonblocking(fd: int) -> str:
    chunks: list[bytes] = []
    while True:
        try:
            data = os.read(fd, 65536)
        except (BlockingIOError, OSError):
            break
        if not data:
            break
        chunks.append(data)
    return b"".join(chunks).decode("utf-8", "replace").strip()


async def _wait_exited(child: _Child) -> None:
    """Until the child is a zombie (not reaped: its pid, hence its group id, stays ours)."""
    if child.pidfd is not None:
        await trio.lowlevel.wait_readable(child.pidfd)
        return
    while not linux.has_exited(child.handle.pid):
        await trio.sleep(0.02)


class Supervisor:
    """The children of one execution environment: how to run them, never why."""

    def __init__(self, nursery: trio.Nursery, sandbox: Sandbox, on_line: OnLine, on_exit: OnExit,
                 cgroup: EnvironmentCgroup | None = None) -> None:
        self._sandbox = sandbox
        self.cgroup = cgroup
        self._nursery = nursery
        self._on_line = on_line
        self._on_exit = on_exit
        self._children: dict[int, _Child] = {}
        self._closed = False
        self._preexec = _make_preexec(sandbox.child_setup(), os.getpid(), cgroup)
        self._watchdog = WatchdogLink()
        if cgroup is not None:
            self._watchdog.add_cgroup(str(cgroup.path))

    @property
    def sandbox(self) -> Sandbox:
        return self._sandbox

    @sandbox.setter
    def sandbox(self, sandbox: Sandbox) -> None:
        """A new environment's /tmp: the child set-up step bakes the directory in, so rebuild it."""
        self._sandbox = sandbox
        self._preexec = _make_preexec(sandbox.child_setup(), os.getpid(), self.cgroup)

    @property
    def watchdog_pid(self) -> int | None:
        return self._watchdog.pid

    def live(self) -> list[ProcessHandle]:
        """Children spawned and not yet reported through on_exit."""
        return [child.handle for child in self._children.values()]

    def spawn(self, spec: ProcessSpec) -> ProcessHandle:
        """Start a child now (fork + exec in this thread). Raises LaunchError."""
        if self._closed:
            raise RuntimeError("supervisor is closed")
        argv = list(spec.argv)
        if not argv:
            raise LaunchError("empty command line")
        env = self.sandbox.adjust_env(spec.env)
        out_r, out_w = os.pipe()
        err_r, err_w = os.pipe()
        os.set_blocking(out_r, False)
        os.set_blocking(err_r, False)
        try:
            try:
                popen = subprocess.Popen(
                    argv,
                    cwd=spec.cwd,
                    env=env,
                    stdin=subprocess.DEVNULL,
                    stdout=out_w,
                    stderr=err_w,
                    close_fds=True,
                    preexec_fn=self._preexec,
                )
            finally:
                os.close(out_w)
                os.close(err_w)
        except OSError as exc:
            os.close(out_r)
            os.close(err_r)
            raise LaunchError(describe_exec_failure(exc, argv, spec.cwd, env)) from exc
        except subprocess.SubprocessError as exc:
            reason = _read_nonblocking(err_r).splitlines()
            os.close(out_r)
            os.close(err_r)
            detail = reason[-1] if reason else str(exc)
            raise LaunchError(f"cannot start {argv[0]}: setup before exec failed: {detail}") from exc
        except (ValueError, TypeError) as exc:
            os.close(out_r)
            os.close(err_r)
            raise LaunchError(f"cannot start {argv[0]}: {exc}") from exc

        handle = ProcessHandle(key=spec.key, pid=popen.pid, started_at=trio.current_time(), spec=spec)
        self._watchdog.add(handle.pgid)

        def emit(stream: Stream, line: str) -> None:
            self._on_line(handle, stream, line)

        child = _Child(
            handle=handle,
            popen=popen,
            pidfd=linux.open_pidfd(popen.pid),
            pipes=(OutputPipe(out_r, "stdout", emit), OutputPipe(err_r, "stderr", emit)),
        )
        try:
            self._nursery.start_soon(self._supervise, child, name=f"process {spec.key} ({popen.pid})")
        except RuntimeError:
            self._abandon(child)
            raise
        self._children[handle.pid] = child
        return handle

    def _child(self, handle: ProcessHandle) -> _Child | None:
        """The live, not yet reaped child behind a handle; after reaping, its pid may be reused."""
        child = self._children.get(handle.pid)
        if child is None or child.handle is not handle or child.reaped is not None:
            return None
        return child

    def send_signal(self, handle: ProcessHandle, sig: int) -> None:
        """Signal the child's whole process group; a no-op once it has exited."""
        if self._child(handle) is not None:
            _signal_group(handle.pgid, sig)

    def freeze(self, handle: ProcessHandle) -> None:
        self.send_signal(handle, signal.SIGSTOP)

    def thaw(self, handle: ProcessHandle) -> None:
        self.send_signal(handle, signal.SIGCONT)

    def signal_strays(self, sig: int) -> None:
        """Signal what left the process groups we started (setsid daemons), found through the cgroup."""
        if self.cgroup is not None:
            self.cgroup.signal_strays({child.handle.pgid for child in self._children.values()}, sig)

    def end_everything_inside(self) -> None:
        """The environment is over: whatever is still in its cgroup (daemons included) is killed."""
        if self.cgroup is not None:
            self.cgroup.kill_all()

    def kill(self, handle: ProcessHandle) -> None:
        """SIGKILL the group; needs no thaw first (a stopped process dies too)."""
        self.send_signal(handle, signal.SIGKILL)

    def drain(self, handle: ProcessHandle) -> None:
        """Dispatch, now, every complete line already written to the child's pipes."""
        child = self._children.get(handle.pid)
        if child is None or child.handle is not handle:
            return
        for pipe in child.pipes:
            pipe.drain()

    def peak_rss_mb(self, handle: ProcessHandle) -> int | None:
        """The child's peak resident memory (VmHWM) in MiB, rounded up; None once gone."""
        if self._child(handle) is None:
            return None
        return linux.proc_peak_rss_mb(handle.pid)

    def is_stopped(self, handle: ProcessHandle) -> bool:
        """Whether the child (the group leader) is stopped right now, per /proc."""
        if self._child(handle) is None:
            return False
        return linux.proc_state(handle.pid) in linux.STOPPED_STATES

    async def wait_stopped(self, handle: ProcessHandle, timeout: float = 1.0) -> bool:
        """Until SIGSTOP has taken effect (signals are delivered asynchronously)."""
        with trio.move_on_after(timeout):
            while not self.is_stopped(handle):
                if self._child(handle) is None:
                    return False
                await trio.sleep(0.002)
            return True
        return False

    async def aclose(self) -> None:
        """SIGKILL every live group, reap and report them all, stop the watchdog."""
        self._closed = True
        with trio.CancelScope(shield=True):
            children = list(self._children.values())
            for child in children:
                if child.reaped is None:
                    _signal_group(child.handle.pgid, signal.SIGKILL)
            if self.cgroup is not None:
                self.cgroup.remove()  # what left the groups (setsid daemons) ends too, and the cgroup goes
            with trio.move_on_after(_KILL_GRACE + _OUTPUT_GRACE):
                for child in children:
                    await child.done.wait()
            await self._watchdog.aclose()

    async def _supervise(self, child: _Child) -> None:
        status: ExitStatus | None = None
        try:
            async with trio.open_nursery() as pumps:
                for pipe in child.pipes:
                    pumps.start_soon(pipe.pump)
                await _wait_exited(child)
                # The leader is a zombie, so its group id cannot have been reused:
                # this reaches exactly what it left behind, which must not outlive it.
                _signal_group(child.handle.pgid, signal.SIGKILL)
                status = self._reap(child, block=True)
                with trio.move_on_after(_OUTPUT_GRACE):
                    for pipe in child.pipes:
                        await pipe.eof.wait()
                pumps.cancel_scope.cancel()
        finally:
            if status is None:
                # Cancelled (the host is going away) or failed: leave nothing behind.
                _signal_group(child.handle.pgid, signal.SIGKILL)
                with trio.CancelScope(shield=True), trio.move_on_after(_KILL_GRACE):
                    await _wait_exited(child)
                status = self._reap(child, block=False)
            self._finish(child, status)

    def _reap(self, child: _Child, *, block: bool) -> ExitStatus:
        pid = child.handle.pid
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
            status = ExitStatus.from_wait_status(wait_status)
        # Popen must not try to reap this pid again: it may belong to someone else now.
        child.popen.returncode = status.code if status.code is not None else -(status.signal or 0)
        child.reaped = status
        return status

    def _finish(self, child: _Child, status: ExitStatus) -> None:
        handle = child.handle
        try:
            for pipe in child.pipes:
                pipe.close()  # every line, the partial last one included, before the exit
        finally:
            if child.pidfd is not None:
                trio.lowlevel.notify_closing(child.pidfd)
                os.close(child.pidfd)
                child.pidfd = None
            self._watchdog.remove(handle.pgid)
            self._children.pop(handle.pid, None)
            handle.exited = status
            handle.exited_at = trio.current_time()
            child.done.set()
        self._on_exit(handle, status)

    def _abandon(self, child: _Child) -> None:
        """Undo a spawn whose supervising task could not start (the nursery is closed)."""
        _signal_group(child.handle.pgid, signal.SIGKILL)
        self._reap(child, block=True)
        for pipe in child.pipes:
            os.close(pipe.fd)
        if child.pidfd is not None:
            os.close(child.pidfd)
        self._watchdog.remove(child.handle.pgid)
