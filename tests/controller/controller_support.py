"""Helpers for the controller tests: a real environment driven only through the controller.

Every test starts real runtime (and extension) processes with `open_environment(config, inspect=True)`
and talks to them only through `DebugSession`: commands go in with `submit`, facts come back through
`subscribe`, and `snapshot()` is read after `await session.settled()`. Every wait carries a bound
(`trio.fail_after`), so a lifecycle that never settles fails the test instead of hanging it.

The one thing that is not a controller fact is whether a process is really stopped (SIGSTOP): that is
the kernel's business, read from /proc/<pid>/stat, and it is polled (bounded) because signals are
delivered asynchronously.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import textwrap
import uuid
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, AsyncIterator, Callable, Optional, TypeVar

import trio
from process_states import frozen

from lambdatui import controller as c
from lambdatui.model.boundaries import Boundary
from lambdatui.config import resolve_function
from lambdatui.model import facts as f
from lambdatui.model.debug_snapshot import DebuggerSnapshot
from lambdatui.model.snapshot import EnvironmentSnapshot, ParticipantView
from lambdatui.runner import Running, open_environment

REPO = Path(__file__).resolve().parents[2]
SAMPLES = REPO / "sample_functions"
AUDIT = SAMPLES / "extension" / "extensions" / "audit"
BOUND = 20.0  # seconds any single wait may take; a normal one takes well under one

T = TypeVar("T")


class Facts:
    """Every fact the controller published since the environment opened, in order."""

    def __init__(self) -> None:
        self.all: list[f.Fact] = []
        self._arrived = trio.Event()

    def __call__(self, fact: f.Fact) -> None:
        self.all.append(fact)
        self.all.extend(f.log_lines(fact) if type(fact) is f.LogLines else ())  # a read's lines, each findable
        self._arrived.set()
        self._arrived = trio.Event()

    def mark(self) -> int:
        return len(self.all)

    def since(self, mark: int, kind: type[T] | tuple[type, ...] = object) -> list[T]:  # type: ignore[assignment]
        return [x for x in self.all[mark:] if isinstance(x, kind)]

    def of(self, kind: type[T]) -> list[T]:
        return self.since(0, kind)

    async def until(self, condition: Callable[[], Any], bound: float = BOUND) -> Any:
        """Until `condition()` is truthy (checked after every fact); returns its value."""
        with trio.fail_after(bound):
            while True:
                value = condition()
                if value:
                    return value
                await self._arrived.wait()

    def boundaries(self, mark: int = 0) -> list[tuple[str, bool]]:
        return [(x.boundary.value, x.held) for x in self.since(mark, f.BoundaryReached)]

    def completed(self, request_id: str) -> Optional[f.InvocationResult]:
        return next((x.result for x in self.of(f.InvocationCompleted) if x.result.request_id == request_id), None)

    def report(self, request_id: str) -> Optional[f.InvokeReported]:
        return next((x for x in self.of(f.InvokeReported) if x.request_id == request_id), None)

    def globals_for(self, request_id: Optional[str], phase: str, mark: int = 0) -> list[f.GlobalsReported]:
        return [g for g in self.since(mark, f.GlobalsReported) if g.request_id == request_id and g.phase == phase]


@dataclass
class Debugger:
    running: Running
    facts: Facts

    @property
    def session(self):  # the controller
        return self.running.session

    def submit(self, command: c.Command) -> None:
        self.session.submit(command)

    def snapshot(self) -> DebuggerSnapshot:
        return self.session.snapshot()

    @property
    def env(self) -> EnvironmentSnapshot:
        return self.session.snapshot().environment

    def participant(self, key: str) -> ParticipantView:
        return next(p for p in self.env.participants if p.key == key)

    async def settled(self, bound: float = BOUND) -> None:
        with trio.fail_after(bound):
            await self.session.settled()

    def start_invoke(self, event: Any = None) -> str:
        request_id = str(uuid.uuid4())
        self.submit(c.Invoke(json.dumps({} if event is None else event).encode(), request_id))
        return request_id

    async def held_before_delivery(self, event: Any = None) -> str:
        """A warm environment with one invoke held at invoke.start (its event not yet delivered); returns its id."""
        await self.invoke()
        self.submit(c.SetBreakpoints(frozenset({Boundary.INVOKE_START})))
        request_id = self.start_invoke(event)
        await self.settled()
        assert self.env.held_at is Boundary.INVOKE_START
        return request_id

    async def invoke(self, event: Any = None, bound: float = BOUND) -> tuple[f.InvocationResult, f.InvokeReported]:
        """One invoke, to its result and its REPORT, with the lifecycle settled afterwards (no holds expected)."""
        request_id = self.start_invoke(event)
        await self.facts.until(lambda: self.facts.report(request_id), bound)
        await self.settled(bound)
        result = self.facts.completed(request_id)
        report = self.facts.report(request_id)
        assert result is not None and report is not None
        return result, report

    def pid(self, key: str = "runtime") -> int:
        """The pid of the participant's current process (the host's bookkeeping: not a controller view)."""
        return self.running.host._processes[key][1].pid

    def tmp_paths(self) -> dict[str, f.TmpEntry]:
        listing = self.snapshot().tmp
        assert listing is not None, "no /tmp listing yet"
        return {e.path: e for e in listing.entries}

    def log_lines(self, source: str, mark: int = 0) -> list[str]:
        return [x.text for x in self.facts.since(mark, f.LogLine) if x.source == source]


def payload(result: f.InvocationResult) -> Any:
    return json.loads(result.payload)


def proc_state(pid: int) -> Optional[str]:
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            stat = fh.read()
    except OSError:
        return None
    return stat[stat.rindex(b")") + 2:].split()[0].decode()


async def wait_frozen(pid: int, bound: float = 2.0) -> bool:
    """Until the process is frozen (stopped by a signal, or by its cgroup's freezer: both land asynchronously);
    False if it is not within `bound`."""
    with trio.move_on_after(bound):
        while not frozen(pid):
            await trio.sleep(0.002)
        return True
    return False


@asynccontextmanager
async def debugger(path: Path | str, *, fleet: Any = None, **options: Any) -> AsyncIterator[Debugger]:
    """An environment for the function at `path` (a file or folder), with the debugger's views on; `fleet`: the
    FleetOptions (default: lambdatui's)."""
    config = resolve_function(str(path), **options)
    async with open_environment(config, inspect=True, fleet=fleet) as running:
        facts = Facts()
        unsubscribe = running.session.subscribe(facts)
        try:
            yield Debugger(running, facts)
        finally:
            unsubscribe()


def write_handler(code_dir: Path, source: str, name: str = "handler.py") -> Path:
    path = code_dir / name
    path.write_text(textwrap.dedent(source))
    return path


def add_audit_extension(code_dir: Path) -> None:
    """The sample's audit extension, launched beside this function (code_dir/extensions/audit)."""
    target = code_dir / "extensions"
    target.mkdir(exist_ok=True)
    shutil.copy2(AUDIT, target / "audit")
    os.chmod(target / "audit", 0o755)


def write_custom_bootstrap(code_dir: Path) -> Path:
    """A minimal custom runtime (not lambdatui's bootstrap): it speaks only Lambda's Runtime API."""
    path = code_dir / "bootstrap"
    path.write_text(f"#!{sys.executable}\n" + textwrap.dedent('''\
        import http.client, json, os
        api = http.client.HTTPConnection(os.environ["AWS_LAMBDA_RUNTIME_API"], timeout=None)
        while True:
            api.request("GET", "/2018-06-01/runtime/invocation/next")
            response = api.getresponse()
            event = response.read()
            request_id = response.getheader("Lambda-Runtime-Aws-Request-Id")
            api.request("POST", f"/2018-06-01/runtime/invocation/{request_id}/response",
                        body=json.dumps({"custom": True}), headers={"Content-Type": "application/json"})
            api.getresponse().read()
        '''))
    os.chmod(path, 0o755)
    return path
