"""Start, signal, freeze, thaw, kill and reap the child processes of one environment.

Each child leads its own process group, so a signal reaches everything it
started. Where a mount namespace can be made, children are forked by the
environment's sandbox init inside a PID namespace (pid_namespace.py), which
nothing can leave; elsewhere the host forks them itself. They die with the host
thanks to a parent-death signal (the init, or direct children), the watchdog
process (everything else in their groups) and the cgroup, where there is one.

A supervisor made without a nursery starts its processes ahead of the trio run (started_ahead.py). trio is
imported where it is used, so that this part runs before it is imported.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from . import linux
from .cgroup import EnvironmentCgroup
from .children import (KILL_GRACE, OUTPUT_GRACE, Child, ChildExits, ExitReporter, OnExit, OnLines, current_time,
                       signal_group)
from .children import ProcessHandle as ProcessHandle
from .exit_status import ExitStatus as ExitStatus
from .fencing import NAMESPACE_RESCAN_S, Fencing
from .memory_limit import MemoryLimit, RssWatcher
from .output import OutputPipe, Stream, close_read_end, output_pipe
from .pid_namespace import InitKeeper, InitUnavailable, SandboxInit
from .proc_readings import rss_mb
from .sandbox import Sandbox
from .spawning import LOG_FD_ENV, LaunchError, ProcessSpec, make_preexec, spawn_directly, spawn_in_namespace
from .started_ahead import Ahead, StartedAhead
from .watchdog_link import WatchdogLink

if TYPE_CHECKING:
    import trio


class Supervisor(StartedAhead, ChildExits, Fencing):
    """The children of one execution environment: how to run them, never why."""

    def __init__(self, nursery: trio.Nursery | None, sandbox: Sandbox, on_lines: OnLines, on_exit: OnExit,
                 cgroup: EnvironmentCgroup | None = None, *, memory_mb: int | None = None,
                 oom_victim: str | None = None, wait_init: bool = True, own_cgroup: bool = False) -> None:
        """`memory_mb`: the environment's memory limit (the cgroup's, where it carries one; else watched, and
        the child spawned with key `oom_victim` is SIGKILLed at the limit). `nursery` None: started ahead of
        the trio run, until `attach`. `wait_init` False: the caller calls `finish_init` before its first spawn.
        `own_cgroup`: the environment's cgroup is made here (`cgroup` ignored), once the watchdog knows of it."""
        self._sandbox = sandbox
        self._watchdog = WatchdogLink()
        if own_cgroup:
            cgroup = EnvironmentCgroup.create(memory_mb=memory_mb, announce=self._watchdog.add_cgroup)
        elif cgroup is not None:
            self._watchdog.add_cgroup(str(cgroup.path))
            if cgroup.memory is not None and cgroup.memory.own:
                self._watchdog.add_cgroup(str(cgroup.memory.path))
        self.cgroup = cgroup
        self._nursery: trio.Nursery | None = None
        self._on_lines = on_lines
        self._on_exit = on_exit
        self._children: dict[int, Child] = {}
        self._reading_on: set[Child] = set()
        self._strays_stopped: int | None = None  # how many strays the environment's last freeze stopped
        self._closed = False
        # A child's own set-up, made for the first the host forks itself (none, where the sandbox init forks them all).
        self._preexec: Callable[[], None] | None = None
        self.memory: MemoryLimit | None = cgroup.memory if cgroup is not None else None
        self._watching: trio.CancelScope | None = None
        self._deferred: list[Callable[[], None]] = []  # tasks waiting for `attach`
        # Children started before `attach` (their times are perf_counter()'s), supervised from then on.
        self._ahead: list[Ahead] = []
        if nursery is not None:
            self._attached(nursery)
        self._scanned: list[int] = []
        self._scanned_at = -NAMESPACE_RESCAN_S
        if self.memory is None and memory_mb is not None:
            watcher = RssWatcher(memory_mb, self._environment_pids, lambda: self._pid_of(oom_victim),
                                 exclude=self._own_pids)
            self._start_soon(self._watch, watcher, name="memory watcher")
            self.memory = watcher
        self._init: SandboxInit | None = None
        self._keeper: InitKeeper | None = None
        self._dying: SandboxInit | None = None
        self._adopted = False
        self.pid_namespace_note = self._start_init(move_in_now=wait_init)
        self._namespaced = self._init is not None
        if wait_init:
            self.finish_init()

    def finish_init(self) -> None:
        """Once, at start-up: wait until the init says its namespace is up (~20 ms after its start), so that the line
        that says what contains the processes is true; the init's own memory is not the function's."""
        if self._init is not None:
            try:
                self._init.wait_ready()
            except InitUnavailable as exc:
                self._end_init()
                self.pid_namespace_note = f"no PID namespace: {exc}"
        # Every later environment (a reset, a new /tmp) gets a namespace of its own too, where the first one could.
        self._namespaced = self._init is not None
        if self.cgroup is not None and self.cgroup.memory is not None:
            self.cgroup.memory.allow_baseline()

    async def finish_init_off_loop(self) -> None:
        """`finish_init` for an environment the host starts as it runs (a fleet's next): the init's boot (~20 ms) and
        its move into the cgroup (~15 ms) are awaited off the event loop, every other environment going on."""
        await self._init_up_off_loop()
        self.finish_init()

    def restart_init(self, sandbox: Sandbox) -> None:
        """A sandbox made anew after the first one's init could not start (its namespaces were assumed, and
        refused): the children's set-up step and the sandbox init for this one, where one can be had; the
        watchdog and the cgroup stay."""
        self._use(sandbox)
        self.pid_namespace_note = self._start_init(move_in_now=False)
        self._namespaced = self._init is not None

    @property
    def forks_in_namespace(self) -> bool:
        """Whether its children are forked by the sandbox init (else by the host itself, from this thread)."""
        return self._init is not None

    @property
    def sandbox(self) -> Sandbox:
        return self._sandbox

    @sandbox.setter
    def sandbox(self, sandbox: Sandbox) -> None:
        """A new environment's /tmp: the child set-up step bakes the directory in, so rebuild it."""
        self._use(sandbox)
        if self._namespaced and not self._closed:
            self._ask_next_init()

    def _use(self, sandbox: Sandbox) -> None:
        """Children start in `sandbox` from now on; the init of the one before ends (a new namespace comes with it)."""
        self._sandbox = sandbox
        self._preexec = None
        self._end_init()

    def resident_mb(self, handle: ProcessHandle) -> tuple[int | None, int | None]:
        """A child's resident memory now and its peak (VmRSS, VmHWM) in MiB; (None, None) once gone."""
        if self._child(handle) is None:
            return None, None
        return rss_mb(handle.pid)

    def _pid_of(self, key: str | None) -> int | None:
        return next((c.handle.pid for c in self._children.values() if c.handle.key == key and c.reaped is None),
                    None)

    @property
    def watchdog_pid(self) -> int | None:
        return self._watchdog.pid

    def live(self) -> list[ProcessHandle]:
        """Children spawned and not yet reported through on_exit."""
        return [child.handle for child in self._children.values()]

    def own_pids(self) -> list[int]:
        """The children spawned and not ended, and the sandbox init, if any. An ended one's pid may be anyone's by
        now: its exit is reported once it is reaped, and the sandbox init reaps its children before the host hears
        of it, so its pidfd says (a stranger that took the pid in that window was let in)."""
        pids = [child.handle.pid for child in self._children.values()
                if child.reaped is None and not (child.pidfd is not None and linux.pidfd_exited(child.pidfd))]
        # Started ahead: it may call before it is attached.
        pids += [handle.pid for handle, _, _, pidfd, *_ in self._ahead
                 if not (pidfd is not None and linux.pidfd_exited(pidfd))]
        return pids + sorted(self._init.own_pids()) if self._init is not None else pids

    def spawn(self, spec: ProcessSpec, reset_peak: bool = False) -> ProcessHandle:
        """Start a child now (fork + exec in this thread). Raises LaunchError. `reset_peak`: the environment's memory
        peak starts again as it starts (a new runtime's REPORT says what it and its environment use), reset before
        the fork: once it runs, the host's work would compete with its start (the cold start's own figure)."""
        if self._closed:
            raise RuntimeError("supervisor is closed")
        self._thaw_cgroup()
        argv = list(spec.argv)
        if not argv:
            raise LaunchError("empty command line")
        env = self.sandbox.adjust_env(spec.env)
        pipes: list[tuple[int, int]] = []  # (read, write): stdout's, then stderr's
        try:
            pipes.append(output_pipe())
            pipes.append(output_pipe())
            if self._init is not None and self._init.gone:
                # It died (and the namespace with it, so nothing of this environment is left inside): a new one, or
                # every later start would fail on the dead one.
                self._end_init()
            if self._init is None and self._namespaced:
                self._start_init()  # none was booted ahead (after a final shutdown): every environment has its own
        except OSError as exc:
            # Out of descriptors or processes (EMFILE, EAGAIN): this process cannot start, which its environment
            # reports as any failed start. Raised on, it would end lambdatui (it may run in a supervising task).
            for read_fd, write_fd in pipes:
                close_read_end(read_fd)  # gives its pipe budget back
                os.close(write_fd)
            raise LaunchError(f"cannot start {argv[0]}: lambdatui could not set it up: {exc.strerror or exc}") from None
        (out_r, out_w), (err_r, err_w) = pipes
        passed = [spec.pass_fd] if spec.pass_fd else []
        if spec.log_fd:
            passed.append((LOG_FD_ENV, out_w))  # stdout's pipe: its records and its lines keep their order
        self._wait_dying()
        if reset_peak:
            self.reset_memory_peak()  # the last life is gone: nothing of it is charged any more
        try:
            if self._init is not None:
                pid, popen = spawn_in_namespace(self._init, argv, spec.cwd, env, out_w, err_w, passed), None
                if self.cgroup is not None:
                    self.cgroup.check_joined(pid)
            else:
                try:
                    cwd, preexec = self._direct_setup(spec.cwd)
                except OSError as exc:  # its mounts could not be read (out of descriptors): as above
                    os.close(out_w)
                    os.close(err_w)
                    raise LaunchError(f"cannot start {argv[0]}: lambdatui could not set it up: "
                                      f"{exc.strerror or exc}") from None
                popen = spawn_directly(argv, cwd, env, preexec, out_w, err_w, err_r, passed)
                pid = popen.pid
        except LaunchError:
            close_read_end(out_r)
            close_read_end(err_r)
            raise
        return self._track(spec, pid, popen, out_r, err_r)

    def _direct_setup(self, cwd: str) -> tuple[str, Callable[[], None]]:
        """Where a child the host forks itself starts, and its steps between fork and exec. With a layout it starts
        in "/" and changes to its `cwd` (/var/task) once its own set-up has mounted it."""
        if self._sandbox.layout is not None:
            return "/", make_preexec(self._sandbox.child_setup(cwd), os.getpid(), self.cgroup)
        if self._preexec is None:
            self._preexec = make_preexec(self._sandbox.child_setup(), os.getpid(), self.cgroup)
        return cwd, self._preexec

    def output_pipes(self) -> tuple[tuple[int, int], tuple[int, int]]:
        """(read, write) pipes for a child's stdout and stderr that someone else starts (`adopt`)."""
        return output_pipe(), output_pipe()

    def adopt(self, spec: ProcessSpec, pid: int, out_r: int, err_r: int, reporter: ExitReporter) -> ProcessHandle:
        """Supervise a process this supervisor did not start (a SnapStart copy, forked by the snapshot's runtime):
        its output from these pipes, its exit as `reporter` hears it from its parent, its group signalled and
        contained (cgroup, watchdog) as a child's."""
        self._adopted = True  # what it forks is in the cgroup and not in this environment's namespace
        if self.cgroup is not None:
            for procs in self.cgroup.procs_files:
                try:
                    with open(procs, "w") as file:
                        file.write(str(pid))
                except OSError:
                    pass  # the memory limit is then watched, not enforced, for this copy
        return self._track(spec, pid, None, out_r, err_r, reporter)

    def _track(self, spec: ProcessSpec, pid: int, popen: subprocess.Popen[bytes] | None,
               out_r: int, err_r: int, reporter: ExitReporter | None = None) -> ProcessHandle:
        started = time.perf_counter() if self._nursery is None else current_time()
        handle = ProcessHandle(key=spec.key, pid=pid, started_at=started, spec=spec)
        self._watchdog.add(handle.pgid)
        init = reporter or (self._init if popen is None else None)
        pidfd = linux.open_pidfd(pid)
        if self._nursery is None:  # started ahead of the trio run: its pipes are read once attached
            self._ahead.append((handle, popen, init, pidfd, out_r, err_r))
        else:
            self._supervise_soon(handle, popen, init, pidfd, out_r, err_r)
        return handle

    def _supervise_soon(self, handle: ProcessHandle, popen: subprocess.Popen[bytes] | None, init: ExitReporter | None,
                        pidfd: int | None, out_r: int, err_r: int) -> None:
        def emit(stream: Stream, lines: list[str]) -> None:
            self._on_lines(handle, stream, lines)

        # The runtime's log fd writes to its stdout (spawn): that pipe's frames are its records.
        child = Child(handle=handle, popen=popen, init=init, pidfd=pidfd,
                      pipes=(OutputPipe(out_r, "stdout", emit, framed=handle.spec.log_fd),
                             OutputPipe(err_r, "stderr", emit)))
        try:
            self._start_soon(self._supervise, child, name=f"process {handle.key} ({handle.pid})")
        except RuntimeError:
            self._abandon(child)
            raise
        self._children[handle.pid] = child

    def _child(self, handle: ProcessHandle) -> Child | None:
        """The live, not yet reaped child behind a handle; after reaping, its pid may be reused."""
        child = self._children.get(handle.pid)
        if child is None or child.handle is not handle or child.reaped is not None:
            return None
        return child

    def send_signal(self, handle: ProcessHandle, sig: int) -> None:
        """Signal the child's whole process group; a no-op once it has exited."""
        if self._child(handle) is not None:
            signal_group(handle.pgid, sig)

    def freeze(self, handle: ProcessHandle) -> None:
        self.send_signal(handle, signal.SIGSTOP)

    def thaw(self, handle: ProcessHandle) -> None:
        self.send_signal(handle, signal.SIGCONT)

    def kill(self, handle: ProcessHandle) -> None:
        """SIGKILL the group; needs no thaw first (a stopped process dies too)."""
        self.send_signal(handle, signal.SIGKILL)

    def end_everything_inside(self, prepare_next: bool = True) -> None:
        """Fencing's, and then what held the pipes of the environment's ended children (its daemons, killed with
        it) is read no longer than OUTPUT_GRACE."""
        super().end_everything_inside(prepare_next)
        self._let_go_of_output()

    def kill_groups(self) -> None:
        """SIGKILL every live group now, without waiting (aclose still reaps them, and clears the cgroup)."""
        for child in self._children.values():
            if child.reaped is None:
                signal_group(child.handle.pgid, signal.SIGKILL)

    def drain(self, handle: ProcessHandle, partial: bool = False) -> None:
        """Dispatch, now, every complete line already written to the child's pipes (`partial`: and an unfinished
        last one)."""
        child = self._children.get(handle.pid)
        if child is None or child.handle is not handle:
            return
        for pipe in child.pipes:
            pipe.drain(partial)

    def peak_rss_mb(self, handle: ProcessHandle) -> int | None:
        """The child's peak resident memory (VmHWM) in MiB, rounded up; None once gone."""
        child = self._child(handle)
        if child is None:
            return None
        if child.status is None:
            child.status = linux.KernelFile(f"/proc/{handle.pid}/status")
        return linux.proc_peak_rss_mb(child.status)

    def watch_memory(self, handle: ProcessHandle) -> None:
        """Open the child's /proc status now, while it starts: its first read, at the end of Init, is on the path of
        a cold start (the runtime waits for its event meanwhile)."""
        child = self._child(handle)
        if child is not None and child.status is None:
            child.status = linux.KernelFile(f"/proc/{handle.pid}/status")
            try:
                child.status.open()
            except OSError:
                pass  # gone already: its reads say so

    def is_stopped(self, handle: ProcessHandle) -> bool:
        """Whether the child (the group leader) is stopped right now, per /proc."""
        if self._child(handle) is None:
            return False
        return linux.proc_state(handle.pid) in linux.STOPPED_STATES

    async def wait_stopped(self, handle: ProcessHandle, timeout: float = 1.0) -> bool:
        """Until SIGSTOP has taken effect (signals are delivered asynchronously)."""
        import trio

        with trio.move_on_after(timeout):
            while not self.is_stopped(handle):
                if self._child(handle) is None:
                    return False
                await trio.sleep(0.002)
            return True
        return False

    async def aclose(self) -> None:
        """SIGKILL every live group, reap and report them all, stop the watchdog."""
        import trio

        if self._nursery is None:  # never attached: what it started ahead ends here
            self.abandon()
            return
        self._closed = True
        if self._watching is not None:
            self._watching.cancel()
        with trio.CancelScope(shield=True):
            children = list(self._children.values())
            for child in children:
                if child.reaped is None:
                    signal_group(child.handle.pgid, signal.SIGKILL)
            if self.cgroup is not None:
                self.cgroup.remove()  # what left the groups (setsid daemons) ends too, and the cgroup goes
            init, self._init = self._init, None
            if init is not None:
                init.kill()
            self._let_go_of_output()  # and those that end from now on read theirs as briefly (`_closed`)
            with trio.move_on_after(KILL_GRACE + OUTPUT_GRACE):
                for child in children + list(self._reading_on):
                    await child.done.wait()
            if init is not None:
                await init.aclose()
            keeper, self._keeper = self._keeper, None
            if keeper is not None:
                await keeper.aclose()
            await self._watchdog.aclose()
