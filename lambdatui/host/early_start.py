"""Env #1 started ahead of the trio run (issue 9): `lambdatui invoke` and `serve` start its sandbox, its init and its
runtime before they import the rest of lambdatui (trio, the host, the core, the servers: ~100 ms), so that the
runtime boots while they do, as Lambda's runtime does not wait for anything of the emulator's.

It does what the host would do, with the same code (the run's folder, the sandbox, the Supervisor, the runtime's
environment and command line), and the sandbox API's socket is bound first, so that the runtime's first calls
wait in its backlog. What only waits (the sandbox init's boot, ~20 ms, then the runtime's fork by the init) is
done on a thread of its own, while the imports go on; nothing forks from that thread. Env #1's host then adopts
all of it (`EnvironmentHost.run(early=...)`), and its Init is the runtime's own: it began when the runtime was
started (StartEnvironment.started), and the time its calls waited for the host to come up is left out (their
arrival is stamped by the kernel: RuntimeNext.arrived, FunctionInitGate.arrived).

Only where nothing of the host is needed before the runtime starts: one on-demand environment (no provisioned
concurrency, SnapStart or Managed Instances), no extensions (they register through the host before the runtime
starts) and no layers (extracted and announced by the host), and not for the debugger, whose breakpoints hold
before the runtime starts. Nothing here imports trio.
"""

from __future__ import annotations

import _thread
import os
import signal
import socket
import sys
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Callable, Iterator, Optional

from lambdatui.config import FunctionConfig
from lambdatui.host.launch import function_files, log_stream_name, runtime_argv, runtime_environment
from lambdatui.ids import new_token
from lambdatui.model.fleet import LATEST_VERSION
from lambdatui.processes import namespaces
from lambdatui.processes.children import OnExit, OnLines, ProcessHandle
from lambdatui.processes.linux import SO_TIMESTAMPNS
from lambdatui.processes.command_paths import command_paths
from lambdatui.processes.filesystem import FunctionFiles
from lambdatui.processes.sandbox import Sandbox
from lambdatui.processes.supervisor import Supervisor
from lambdatui.processes.spawning import LaunchError, ProcessSpec
from lambdatui.processes.tree_removal import remove_tree_reporting
from lambdatui.stop_signals import STOP_SIGNALS
from lambdatui.run_folders import exit_file, member_folder, new_state_dir, sandbox_tmp, stack_file

LOOPBACK = "127.0.0.1"
RUNTIME = "runtime"  # core.effects.RUNTIME, not imported from there: it brings the core's facts (~14 ms) first
# While the thread waits for the init, the imports hold the GIL: it gets it back within this, not 5 ms.
_SWITCH_INTERVAL_S = 0.0005
DISABLE = "LAMBDATUI_EARLY_START"  # "0": the host starts env #1 itself, once it is up (for comparisons)
# SIGTERM and SIGHUP, unless the caller ignores them (stop_signals.py): Ctrl-C is KeyboardInterrupt's until the run.
_HELD_SIGNALS = tuple(number for number in (signal.SIGTERM, signal.SIGHUP) if number in STOP_SIGNALS)


@dataclass
class EarlyStart:
    """Env #1, started: what the fleet and env #1's host adopt."""

    state_dir: Path  # the run's folder (FleetHost's)
    stale_notes: list[str]  # runs that died and could not be removed: said once the host listens
    listener: socket.socket  # the sandbox API's, bound and listening
    runtime_api: str
    stream: str  # the log stream name
    metadata_token: str  # AWS_LAMBDA_METADATA_TOKEN, the environment's (api/metadata_routes.py)
    sandbox: Sandbox
    supervisor: Supervisor
    runtime: Optional[ProcessHandle] = None  # None: it could not be started ahead (the host starts it, or says why)
    started: float = 0.0  # time.perf_counter() when the runtime was spawned
    started_wall_ms: int = 0
    adopted: bool = False
    # The sandbox made again where its init was refused the namespaces assumed for it (`settled_sandbox`).
    remake: Optional[Callable[[], Sandbox]] = field(default=None, repr=False)
    _done: Optional[threading.Event] = field(default=None, repr=False)  # set when the thread is done
    _switch_interval: float = field(default=0.005, repr=False)

    def boot(self, spec: ProcessSpec) -> None:
        """Wait for the init on a thread, then have it start the runtime. The thread's start is not waited for
        (threading.Thread.start waits): the sandbox init's and the watchdog's interpreters are starting on this
        machine's cores, and the thread often waits ~4 ms for one, which the imports go on through."""
        self._switch_interval = sys.getswitchinterval()
        sys.setswitchinterval(_SWITCH_INTERVAL_S)
        self._done = threading.Event()
        _thread.start_new_thread(self._start_runtime, (spec, self._done))

    def _start_runtime(self, spec: ProcessSpec, done: threading.Event) -> None:
        try:
            self.supervisor.finish_init()
            if not self.supervisor.forks_in_namespace:
                return  # the host forks it, from its own thread (a fork from this one could deadlock its child)
            self.started, self.started_wall_ms = time.perf_counter(), int(time.time() * 1000)
            self.runtime = self.supervisor.spawn(spec)
        except (OSError, LaunchError):
            self.runtime = None  # the host starts it as usual, and says what goes wrong
        finally:
            done.set()

    def _join(self) -> None:
        if self._done is not None:
            self._done.wait()  # bounded: the init's replies time out (pid_namespace._REPLY_TIMEOUT_S)
            self._done = None
            sys.setswitchinterval(self._switch_interval)

    def settled_sandbox(self) -> Sandbox:
        """Env #1's sandbox, once the thread is done: its init has said whether it could enter the namespaces
        assumed for it; where it could not, the sandbox is made again for what the probes answer, and its init (if
        any) waited for here, on that rare host (the runtime is then the host's to start)."""
        self._join()
        remake, self.remake = self.remake, None
        if remake is not None:
            sandbox = _settled(self.supervisor, self.sandbox, remake)
            if sandbox is not self.sandbox:
                self.sandbox = sandbox
                self.supervisor.finish_init()
        return self.sandbox

    def hand_over(self, on_lines: OnLines, on_exit: OnExit) -> Supervisor:
        """The host takes it over: the supervisor's reports go to the host from now on."""
        self.settled_sandbox()
        self.adopted = True
        self.supervisor.report_to(on_lines, on_exit)
        return self.supervisor

    def abandon(self) -> None:
        """lambdatui ends before its host took this over (an error, Ctrl-C during the imports): end it all."""
        if self.adopted:
            return
        self._join()
        namespaces.settle_assumed(confirmed=False)
        self.adopted = True
        _end_all(self.state_dir, self.supervisor, self.sandbox, self.listener)


def _end_all(state_dir: Optional[Path], supervisor: Optional[Supervisor], sandbox: Optional[Sandbox],
             listener: Optional[socket.socket]) -> None:
    """What was started ahead, ended, and the run's folder removed (as far as it was made)."""
    if supervisor is not None:
        supervisor.abandon()
    if sandbox is not None:
        sandbox.close()
    if listener is not None:
        listener.close()
    if state_dir is not None:
        remove_tree_reporting(state_dir)


def _unheard(*_: object) -> None:
    pass


def wanted(config: FunctionConfig) -> bool:
    """Whether env #1 of this function can start ahead of the host (the fleet's options are the caller's to check)."""
    return os.environ.get(DISABLE) != "0" and not config.extensions and not config.layers


def start_early(config: FunctionConfig) -> Optional[EarlyStart]:
    """Start env #1 now, or None (nothing left behind) when it cannot be: the host then starts it as usual, and
    says why if something is wrong."""
    notes: list[str] = []
    started: Optional[EarlyStart] = None
    state_dir: Optional[Path] = None
    listener: Optional[socket.socket] = None
    sandbox: Optional[Sandbox] = None
    supervisor: Optional[Supervisor] = None
    try:
        state_dir = new_state_dir(notes.append)
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        # Stamped: the host learns how long the runtime's calls waited for it (api/http11._arrival).
        listener.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
        listener.bind((LOOPBACK, 0))
        listener.listen(socket.SOMAXCONN)
        runtime_api = f"{LOOPBACK}:{listener.getsockname()[1]}"
        member_dir = member_folder(state_dir, 1)
        config, files, _ = function_files(config, member_dir, state_dir)
        tmp_dir = sandbox_tmp(member_dir, 1)
        tmp_dir.mkdir(parents=True)
        # Env #1's folder too: its runtime writes its stack dumps there, and reads its exit codes.
        needed = [str(config.code_dir), *command_paths(config.runtime.argv), str(member_dir)]
        sandbox, supervisor = _contained(config, files, tmp_dir, needed, member_dir, ask=False)
        remake = partial(Sandbox.create, tmp_dir, needed, files=files, writable=(member_dir,))  # probed, this time
        if not supervisor.forks_in_namespace:  # the init could not even be started: asked now, as the host would
            sandbox = _settled(supervisor, sandbox, remake)
        paths = sandbox.paths
        assert paths is not None
        # Only an on-demand fleet starts early, and its function runs $LATEST (FleetOptions.function_version).
        stream = log_stream_name(LATEST_VERSION)
        metadata_token = new_token()
        env = runtime_environment(config, runtime_api, stream, stack_file(member_dir, 1), os.environ,
                                  exit_file=exit_file(member_dir, 1), paths=paths, function_version=LATEST_VERSION,
                                  metadata_token=metadata_token)
        spec = ProcessSpec(RUNTIME, runtime_argv(config, env, paths), paths.task_root, sandbox.adjust_env(env),
                           log_fd=True)
        early = EarlyStart(state_dir, notes, listener, runtime_api, stream, metadata_token, sandbox, supervisor,
                           remake=remake)
        started = early
        early.boot(spec)
        return early
    except BaseException as exc:  # an interrupt or a bug too: nothing may be left behind
        namespaces.settle_assumed(confirmed=False)
        with _signals_held() as caught:
            if started is not None:
                started.abandon()  # its thread joined first: it may be starting the runtime
            else:
                _end_all(state_dir, supervisor, sandbox, listener)
        if caught and not isinstance(exc, _Ended):
            os.kill(os.getpid(), caught[0])  # now, to the handler it would have met
        if isinstance(exc, (OSError, LaunchError)):
            return None  # the host starts it as usual, and says what went wrong, if anything still does
        raise


def _contained(config: FunctionConfig, files: FunctionFiles, tmp_dir: Path, needed: list[str], member_dir: Path,
               ask: bool) -> tuple[Sandbox, Supervisor]:
    """Env #1's sandbox and its supervisor, which starts the sandbox init (`ask`: see Sandbox.create)."""
    # Env #1's folder stays writable, not the whole run's (EnvironmentProcesses._renew_sandbox says why).
    sandbox = Sandbox.create(tmp_dir, needed, files=files, writable=(member_dir,), ask=ask)
    try:
        # Nobody hears its children until the host adopts them (their pipes are read, and exits awaited, from then).
        return sandbox, Supervisor(None, sandbox, _unheard, _unheard, own_cgroup=True, memory_mb=config.memory_mb,
                                   oom_victim=RUNTIME, wait_init=False)
    except BaseException:
        sandbox.close()
        raise


def _settled(supervisor: Supervisor, sandbox: Sandbox, remake: Callable[[], Sandbox]) -> Sandbox:
    """The namespaces were assumed (no probe: the sandbox init's start is the probe). Refused, the probes now say
    what was (a read-only root refused alone, the namespace is still had, as the host would have it), and the
    sandbox is made again for what they answer, with an init of its own where one can be had; the watchdog and the
    cgroup stay. Confirmed, the answers stay for the host's later sandboxes."""
    confirmed = supervisor.forks_in_namespace
    if not namespaces.settle_assumed(confirmed) or confirmed:
        return sandbox
    sandbox.close()
    remade = remake()
    supervisor.restart_init(remade)
    return remade


@contextmanager
def _signals_held() -> Iterator[list[int]]:
    """SIGTERM and SIGHUP are noted, not acted on, until the block is over (the caller then decides): a second one
    must not cut short the cleanup of what the early start made (a terminal closed, then a supervisor's SIGTERM).
    Handlers, not a signal mask: the process's other threads (the early start's own) would take a masked one."""
    caught: list[int] = []
    noted = lambda number, _frame: caught.append(number)  # noqa: E731
    previous = {number: signal.signal(number, noted) for number in _HELD_SIGNALS}
    try:
        yield caught
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)


class _Ended(BaseException):
    """SIGTERM or SIGHUP before the host is up (its own handlers come with its trio run)."""

    def __init__(self, signal_number: int) -> None:
        super().__init__(signal_number)
        self.signal_number = signal_number


def _ended_by(exc: BaseException) -> Optional[int]:
    """The signal that ended the block, if `exc` is (or holds, in a group or as its cause) an _Ended."""
    if isinstance(exc, _Ended):
        return exc.signal_number
    for inner in (*getattr(exc, "exceptions", ()), exc.__cause__):
        found = _ended_by(inner) if inner is not None and inner is not exc else None
        if found is not None:
            return found
    return None


@contextmanager
def started_early(config: FunctionConfig, possible: bool) -> Iterator[Optional[EarlyStart]]:
    """Env #1 started now, where it can be (`possible`: the fleet's options allow it), for the block to hand over
    to its host. Whatever ends the block first (an error, Ctrl-C, SIGTERM or SIGHUP before the host's own
    handlers are in place), nothing of it is left behind; a signal then ends lambdatui as it would have."""
    if not (possible and wanted(config)):
        yield None
        return
    early: Optional[EarlyStart] = None
    closing = False

    def end(signal_number: int, _frame: object) -> None:
        if not closing and (early is None or not early.adopted):
            raise _Ended(signal_number)
        # The host had its own handlers, and its trio run has put this one back (with a signal it left pending), or
        # the block is over: what a second signal does without the early start, the default.
        signal.signal(signal_number, signal.SIG_DFL)
        os.kill(os.getpid(), signal_number)

    previous: dict[int, object] = {}
    try:
        # The handlers first: a signal while env #1 starts (its folder, cgroups and processes being made) ends it
        # whole too, and one while they are put in place is caught here as well.
        for number in _HELD_SIGNALS:
            previous[number] = signal.signal(number, end)
        early = start_early(config)
        yield early
    except BaseException as exc:  # an exception group too: trio's run wraps what its tasks raise
        ended = _ended_by(exc)
        if ended is None:
            raise
        with _signals_held():  # the signal ends lambdatui once everything it started is ended and removed
            if early is not None:
                early.abandon()
        signal.signal(ended, signal.SIG_DFL)
        os.kill(os.getpid(), ended)
        raise SystemExit(128 + ended) from None  # (not reached: the signal ends the process)
    finally:
        closing = True
        with _signals_held() as caught:
            if early is not None:
                early.abandon()
        for number, handler in previous.items():
            signal.signal(number, handler)  # type: ignore[arg-type]
        if caught:
            os.kill(os.getpid(), caught[0])  # what a signal does without the early start, now that all is removed
