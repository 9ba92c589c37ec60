"""The environment's processes, as part of the host: its sandbox renewed, each participant spawned with Lambda's
argv, environment and working directory, their output and exits turned into facts and inputs, and their memory
measured for REPORT and the debugger.
"""

from __future__ import annotations

import json
import os
import time
from typing import Optional

import trio

from lambdatui.core import effects as fx
from lambdatui.core import inputs as ins
from lambdatui.ids import new_token
from lambdatui.host.launch import (exec_wrapper, extension_environment, launch_failure, runtime_argv,
                                   runtime_environment)
from lambdatui.model import facts as f
from lambdatui.host.snapshot_restore import restored_env
from lambdatui.model.paths import sandbox_path
from lambdatui.processes.command_paths import command_paths
from lambdatui.processes.memory_limit import MemoryUsage
from lambdatui.processes.sandbox import Sandbox
from lambdatui.processes.supervisor import ExitStatus, LaunchError, ProcessHandle, ProcessSpec
from lambdatui.model.fleet import SNAP_START
from lambdatui.run_folders import sandbox_tmp


class EnvironmentProcesses:
    """Part of `EnvironmentHost` (host/environment_host.py): it runs on the host's state."""

    _settling: Optional[list[fx.Spawn]]
    metadata_token: str

    # Who may reach the environment's sandbox APIs (host/sandbox_access.py).

    def own_pids(self) -> list[int]:
        """The processes lambdatui started for the environment, not ended: its runtime, extensions and sandbox
        init (the namespace's pid 1). Restored from a SnapStart snapshot, the snapshot's too: its runtime forks
        this one's, which may call before it is adopted (copies of one snapshot share that parent)."""
        own = self.started_pids()
        source = self.restore_source  # type: ignore[attr-defined]
        return own + source.own_pids() if source is not None else own

    def started_pids(self) -> list[int]:
        """The processes lambdatui started for this environment itself, not ended (`own_pids` without the
        snapshot's): where a call comes from now (host/caller_environment.py)."""
        return self._supervisor.own_pids() if self._supervisor is not None else []

    def cgroup_v2_id(self) -> Optional[int]:
        """The id of the environment's cgroup, where it is a v2 one."""
        cgroup = self._supervisor.cgroup if self._supervisor is not None else None
        return cgroup.v2_id if cgroup is not None else None

    def contained_pids(self) -> list[int]:
        """Every process in the environment's cgroup (none without one)."""
        cgroup = self._supervisor.cgroup if self._supervisor is not None else None
        return cgroup.pids() if cgroup is not None else []

    def memory_usage(self) -> Optional[MemoryUsage]:
        """The environment's processes together, now (None without a limit, or before its processes)."""
        return self._supervisor.memory_usage() if self._supervisor is not None else None

    def _sample_runtime_memory(self, own_peak: bool = True) -> None:
        """REPORT's Max Memory Used: what the environment's processes held together at most (the function's
        children, Managed Instances' workers and extensions share the function's memory, under the same limit), as
        the limit counts it; at least the runtime's own peak (its shared pages may be charged elsewhere).
        `own_peak`: False where that peak can wait (a later read, or the runtime's exit, gives it)."""
        runtime = self._handle(fx.RUNTIME)
        peak = self._sup.peak_rss_mb(runtime) if runtime is not None and own_peak else None
        together = self._sup.memory_peak_mb()
        if runtime is not None:  # it outlived any OOM kill counted so far: a later SIGKILL is not the OOM killer's
            self._sup.settle_oom_kills(runtime.pid)  # after the peak's read, which it uses
        if together is not None:
            peak = max(peak or 0, together, self._runtime_peak_mb or 0)
        if peak is not None:
            self._runtime_peak_mb = peak

    def _measure_memory(self, phase: str, request_id: Optional[str]) -> None:
        """For the debugger: the runtime's memory and the environment's against the limit, after Init or an invoke."""
        runtime = self._handle(fx.RUNTIME)
        if runtime is None:
            return  # it crashed (or ran out of memory): REPORT says what it used
        now, peak = self._sup.resident_mb(runtime)
        usage = self._sup.memory_usage()
        limit = self._sup.memory
        self._publish(f.MemoryMeasured(phase, request_id, now, peak, usage.mb if usage is not None else None,
                                       self.config.memory_mb, limit.kind if limit is not None else "",
                                       trio.current_time()))

    def _drain_output(self, partial: bool = False) -> None:
        """`partial`: each process's unfinished last line goes too, as a line of its own. Asked at a phase's end where
        one invoke runs at a time: the runtime and every extension have asked for their next event, so nothing they
        write now belongs to the phase that ends, and a half-written line would be glued to the next phase's first."""
        for _, handle in self._processes.values():
            if handle.exited is None:
                self._sup.drain(handle, partial)

    def _renew_sandbox(self, made: Optional[Sandbox] = None) -> None:
        """A new environment's sandbox (`made`: the one started ahead, host/early_start.py)."""
        self.sandbox_count = self._next_number()
        previous = self.sandbox
        if previous is not None and self.restore_source is None:  # type: ignore[attr-defined]
            # A new environment (N) is made with a token of its own; a restored copy's processes carry the snapshot's.
            self.metadata_token = new_token()
        if made is not None:
            self.sandbox = made
        else:
            tmp_dir = sandbox_tmp(self.state_dir, self.sandbox_count)
            tmp_dir.mkdir(parents=True, exist_ok=True)
            # The environment's folder too: the runtime writes its stack dumps there, and reads its exit codes.
            needed = [str(self.config.code_dir), *command_paths(self.config.runtime.argv), *map(str, self.config.extensions),
                      str(self.state_dir)]
            # The environment's folder stays writable in the namespace's read-only root: its runtime's stack dumps
            # are written there. Only that one, where the rest of the run's folder holds the other environments' /tmp
            # (with the state folder under /tmp, a function emptying its /tmp emptied theirs). Not with SnapStart: the
            # copies restored from the snapshot live in copies of its namespace and write their own environments'
            # dumps there, so the run's whole folder stays writable for them (and is said so for them).
            snapshot = self.init_type == SNAP_START or self.restore_source is not None
            self.sandbox = Sandbox.create(tmp_dir, needed, files=self.files,
                                          writable=(self.run_dir if snapshot else self.state_dir,))
        if self._supervisor is not None:
            self._supervisor.sandbox = self.sandbox
        self._tmp_restored = None  # type: ignore[has-type]  # a restored environment's new /tmp: copied at its restore
        if previous is not None:
            problem = previous.remove(previous.tmp_dir.parent)
            if problem is not None:
                self.note(problem)
        for text in (self.sandbox.note, self.sandbox.files_note):
            if text and self.sandbox_count == 1:
                self.note(text)
        self._last_tmp = None
        if self.inspect:
            self._list_tmp("before")

    def _spawn(self, effect: fx.Spawn, settled: bool = False) -> None:
        assert self.sandbox is not None
        self._stopped_by_signal.discard(effect.participant)  # type: ignore[attr-defined]  # a new process: not stopped
        tmp_restored = self._tmp_restored  # type: ignore[has-type]
        if self.env.config.restored and (tmp_restored is None or not tmp_restored.is_set()):
            # Its /tmp first, then its processes, its extensions too (host/snapshot_restore.py).
            self._starting(effect.participant, effect.generation)  # type: ignore[attr-defined]
            self.start_soon(self._spawn_restored, effect)  # type: ignore[attr-defined]
            return
        early = self._early  # type: ignore[has-type]
        if early is not None and effect.participant == fx.RUNTIME:
            self._early = None
            self._sup.attach(self._nursery)  # what it started: its output and exit, from now on
            if early.runtime is not None:
                self._processes[fx.RUNTIME] = (effect.generation, early.runtime)
                self._runtime_peak_mb = None
                return
        if not settled and (self._settling is not None or self._sup.init_settling()):
            self._spawn_when_settled(effect)
            return
        paths = self.sandbox.paths
        assert paths is not None
        managed = self.env.config.max_concurrency
        # The globals view reads one process's module: M workers have M of them, so Managed Instances show none.
        env = runtime_environment(self.config, self.runtime_api, self._stream, self._stack_file(effect.generation),
                                  os.environ, report_globals=self.inspect and not managed,
                                  exit_file=self._exit_file(effect.generation), paths=paths, init_type=self.init_type,
                                  max_concurrency=managed, function_version=self.env.config.function_version,
                                  metadata_token=self.metadata_token)
        if self.env.config.snapstart:
            env = restored_env(env)
        wrapper = ""
        if effect.participant == fx.RUNTIME:
            wrapper = exec_wrapper(self.config, env, paths)
            # Not for Managed Instances: their workers would share one (Lambda hands each its own through a socket,
            # `_LAMBDA_TELEMETRY_LOG_FD_PROVIDER_SOCKET`), so their records go to stdout, each a line of JSON.
            spec = ProcessSpec(fx.RUNTIME, runtime_argv(self.config, env, paths), paths.task_root,
                               self.sandbox.adjust_env(env), log_fd=not managed)
            if self.env.config.restored:
                template = self._copy_template()  # type: ignore[attr-defined]
                if template is not None:
                    self._starting(effect.participant, effect.generation)  # type: ignore[attr-defined]
                    self.start_soon(self._restore_runtime, effect, template, spec)  # type: ignore[attr-defined]
                    return
            spec = self._snapshot_spec(spec)  # type: ignore[attr-defined]
        else:
            name = effect.participant.split(":", 1)[1]
            path = next(p for p in self.config.extensions if p.name == name)
            spec = ProcessSpec(effect.participant, (sandbox_path(str(path), paths),), paths.task_root,
                               self.sandbox.adjust_env(extension_environment(env)))
        try:
            handle = self._sup.spawn(spec, reset_peak=effect.participant == fx.RUNTIME)
        except LaunchError as exc:
            self._snapshot_started(False)  # type: ignore[attr-defined]
            reason = self.files.as_given(launch_failure(exc, spec.argv, spec.cwd, spec.env, paths))
            reason = f"AWS_LAMBDA_EXEC_WRAPPER={wrapper}: {reason}" if wrapper else reason
            self._landed(effect.participant, effect.generation, None)  # type: ignore[attr-defined]
            self.feed(ins.LaunchFailed(effect.participant, effect.generation, reason))
            return
        self._processes[effect.participant] = (effect.generation, handle)
        if effect.participant == fx.RUNTIME:
            self._runtime_peak_mb = None
            self._sup.watch_memory(handle)
            self._snapshot_started(True)  # type: ignore[attr-defined]
            self._stack_file_spawned(effect.generation)  # type: ignore[attr-defined]  # after the spawn: off its path
        self._landed(effect.participant, effect.generation, handle)  # type: ignore[attr-defined]

    def _spawn_when_settled(self, effect: fx.Spawn) -> None:
        """A reset's next sandbox init still boots or moves into its cgroup: the spawn waits for it in a task, the
        event loop going on meanwhile (every environment's API); the spawns asked for meanwhile follow in order."""
        self._starting(effect.participant, effect.generation)  # type: ignore[attr-defined]
        if self._settling is not None:
            self._settling.append(effect)
            return
        self._settling = [effect]
        self.feed(ins.SandboxSettling(True))  # lambdatui's time, not the function's: the phase's clock stops
        self.start_soon(self._spawn_settled)  # type: ignore[attr-defined]

    async def _spawn_settled(self) -> None:
        try:
            await self._sup.init_settled()
        finally:
            waiting, self._settling = self._settling or [], None
        for effect in waiting:  # not reached when cancelled: the host is going away
            if effect.generation == self.env.generation:
                self._spawn(effect, settled=True)
            else:
                self._landed(effect.participant, effect.generation, None)  # type: ignore[attr-defined]
        self.feed(ins.SandboxSettling(False))

    def _generation_of(self, handle: ProcessHandle) -> int:
        entry = self._processes.get(handle.key)
        return entry[0] if entry is not None and entry[1] is handle else -1

    def _on_lines(self, handle: ProcessHandle, stream: str, lines: list[str]) -> None:
        """The complete lines of one read of a child's pipe: what they share (whose, which invoke's) is worked out
        once, and they are published together."""
        LogLine = f.LogLine
        if handle.key == fx.RUNTIME:
            if self.env.config.managed:
                whose = self._concurrent_line_request
                each = tuple([LogLine(f.FUNCTION, line, whose(line), stream) for line in lines])
                self._publish_lines(f.LogLines(each))
                return
            source = f.FUNCTION
        else:
            source = f.extension_source(handle.key.split(":", 1)[1])
        # An ended life's pipe (a daemon of a crashed runtime kept it open), read once the next life has begun (its
        # Init, maybe inside the next invoke): its lines are no invoke's, least of all the one running now, nor in
        # that invoke's log tail.
        ended = self._generation_of(handle) != self.env.generation
        self._publish_lines(f.LogLines.read(source, tuple(lines), None if ended else self._log_request_id, stream),
                            ended_life=ended)

    def _concurrent_line_request(self, line: str) -> Optional[str]:
        """Whose a function line is when invokes run side by side: its JSON record says (Managed Instances log
        JSON, each record with its requestId); a plain print is the invoke's only while one runs alone."""
        if line[:1] == "{":
            try:
                record = json.loads(line)
            except (ValueError, RecursionError):
                record = None
            if isinstance(record, dict) and isinstance(record.get("requestId"), str):
                return record["requestId"]
        runs = self.env.runs  # type: ignore[attr-defined]  # a ManagedEnvironment
        return next(iter(runs)) if len(runs) == 1 else None

    def _on_exit(self, handle: ProcessHandle, status: ExitStatus) -> None:
        # When it ended, on trio's clock: the init's report may have waited while the host was still starting.
        exited_at = trio.current_time() - max(0.0, time.monotonic() - status.at) if status.at is not None else None
        if handle.key == fx.RUNTIME and status.peak_rss_kb and self._generation_of(handle) >= 0:
            # A runtime that ended before its memory was read (an exit during Init): REPORT says what it used.
            self._runtime_peak_mb = max(self._runtime_peak_mb or 0, -(-status.peak_rss_kb // 1024))
        self.feed(ins.ProcessExited(handle.key, self._generation_of(handle), status.describe(), status.code,
                                    handle.out_of_memory, exited_at))
