"""Shared helpers for the process-layer tests (real processes, real signals)."""

from __future__ import annotations

import os
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

import trio

from lambdatui.processes import ExitStatus, ProcessHandle, ProcessSpec, Sandbox, Supervisor
from lambdatui.processes.cgroup import EnvironmentCgroup
from lambdatui.processes.linux import GONE_STATES, proc_state

REPO_ROOT = Path(__file__).resolve().parents[2]
PY = sys.executable
ENV = {"PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8"}


def spec(argv: list[str], key: str = "runtime", cwd: str = "/", env: dict[str, str] | None = None) -> ProcessSpec:
    return ProcessSpec(key=key, argv=argv, cwd=cwd, env=dict(ENV if env is None else env))


def sh(script: str, key: str = "runtime", cwd: str = "/") -> ProcessSpec:
    return spec(["/bin/sh", "-c", script], key=key, cwd=cwd)


def python(code: str, key: str = "runtime", cwd: str = "/") -> ProcessSpec:
    return spec([PY, "-S", "-u", "-c", code], key=key, cwd=cwd)


@dataclass
class Recorder:
    """Collects on_lines/on_exit calls in one ordered event log."""

    events: list[tuple[str, str, str]] = field(default_factory=list)
    exits: dict[int, ExitStatus] = field(default_factory=dict)
    _changed: trio.Event = field(default_factory=trio.Event)

    def on_lines(self, handle: ProcessHandle, stream: str, lines: list[str]) -> None:
        assert lines, "a read without a complete line is not dispatched"
        self.events.extend((handle.key, stream, line) for line in lines)
        self._poke()

    def on_exit(self, handle: ProcessHandle, status: ExitStatus) -> None:
        assert handle.exited == status
        self.events.append((handle.key, "exit", status.describe()))
        self.exits[handle.pid] = status
        self._poke()

    def _poke(self) -> None:
        self._changed.set()
        self._changed = trio.Event()

    def lines(self, key: str | None = None, stream: str | None = None) -> list[str]:
        return [
            line
            for k, s, line in self.events
            if s != "exit" and (key is None or k == key) and (stream is None or s == stream)
        ]

    async def wait_exit(self, handle: ProcessHandle) -> ExitStatus:
        while handle.pid not in self.exits:
            await self._changed.wait()
        return self.exits[handle.pid]

    async def wait_lines(self, count: int, key: str | None = None) -> list[str]:
        while len(self.lines(key)) < count:
            await self._changed.wait()
        return self.lines(key)


def is_live(pid: int) -> bool:
    """A process that still exists and is not a zombie (zombies run nothing)."""
    state = proc_state(pid)
    return state is not None and state not in GONE_STATES


async def wait_gone(pids: list[int], timeout: float = 5.0) -> None:
    """Poll /proc (there is no event for a non-child's death) within a bound."""
    with trio.fail_after(timeout):
        while any(is_live(pid) for pid in pids):
            await trio.sleep(0.01)


def wait_gone_sync(pids: list[int], timeout: float = 5.0) -> list[int]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        live = [pid for pid in pids if is_live(pid)]
        if not live:
            return []
        time.sleep(0.01)
    return [pid for pid in pids if is_live(pid)]


def namespaced_sandbox(tmp_path: Path) -> Sandbox:
    """A sandbox whose processes get a PID namespace (through its init); the test skips where none can be made."""
    import pytest

    env_tmp = tmp_path / "env-tmp"
    env_tmp.mkdir()
    made = Sandbox.create(env_tmp, [sys.executable, "/bin/sh"])
    if made.init_plan() is None:
        pytest.skip(f"no mount namespace on this host, so no PID namespace: {made.note}")
    return made


def open_fds(pid: int) -> set[int]:
    return {int(name) for name in os.listdir(f"/proc/{pid}/fd")}


@asynccontextmanager
async def running(sandbox: Sandbox) -> AsyncIterator[tuple[Supervisor, Recorder]]:
    """A Supervisor in its own nursery, closed (everything killed and reaped) on exit."""
    recorder = Recorder()
    async with trio.open_nursery() as nursery:
        supervisor = Supervisor(nursery, sandbox, recorder.on_lines, recorder.on_exit)
        try:
            yield supervisor, recorder
        finally:
            await supervisor.aclose()


@asynccontextmanager
async def running_in_cgroup(sandbox: Sandbox) -> AsyncIterator[tuple[Supervisor, EnvironmentCgroup, Recorder]]:
    """`running`, its processes in a cgroup of their own (the test skips where none can be made)."""
    import pytest

    cgroup = EnvironmentCgroup.create()
    if cgroup is None:
        pytest.skip("no writable cgroup here")
    recorder = Recorder()
    async with trio.open_nursery() as nursery:
        supervisor = Supervisor(nursery, sandbox, recorder.on_lines, recorder.on_exit, cgroup=cgroup)
        try:
            yield supervisor, cgroup, recorder
        finally:
            await supervisor.aclose()
