"""Record the debugger states the snapshot tests replay: run by hand, `python tests/ui/sessions/record_sessions.py`.

Each state is played for real, as the TUI plays it (the environment opens held at its first boundary,
`inspect=True` for the globals and /tmp views), through `open_environment` and the controller. What the
UI would be handed is then written to `tests/ui/sessions/<state>.json`: the final `DebuggerSnapshot`
and the `LogLine` facts of the session, **normalised** so that a replay draws the same image on every
machine and every run:

- request ids (and any other UUID) become fixed UUIDs, consistently everywhere they appear;
- clock readings become a fixed schedule that keeps their order, and every measured duration
  (phases, REPORT metrics, INIT_REPORT) a fixed figure per kind of phase;
- pids, thread idents, object identities and `0x7f...` addresses become fixed values;
- the sample's own files are written under `$REPO/` (the replay puts the checkout back, so the
  handler source renders); lambdatui's and the interpreter's files get stable made-up paths;
- what a sample prints that depends on timing (the background ticker) gets representative numbers.

Re-run it when the snapshot model or the lifecycle changes, then refresh the SVGs with
`pytest tests/ui/test_snapshots.py --snapshot-update` and look at them before accepting.
Arguments: the names of the states to record (default: all).
"""

from __future__ import annotations

import dataclasses
import re
import sys
from pathlib import Path
from typing import Any, Awaitable, Callable, Optional

import trio

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[2]
sys.path.insert(0, str(HERE))

from codec import dumps  # noqa: E402
from lambdatui import controller as c  # noqa: E402
from lambdatui.config import resolve_function  # noqa: E402
from lambdatui.core import platform_lines  # noqa: E402
from lambdatui.host.debug_session import DebugSession  # noqa: E402
from lambdatui.model import facts as f  # noqa: E402
from lambdatui.model import timeline as tl  # noqa: E402
from lambdatui.model.boundaries import Boundary, EnvState  # noqa: E402
from lambdatui.model.debug_snapshot import DebuggerSnapshot  # noqa: E402
from lambdatui.runner import open_environment  # noqa: E402

SAMPLES = REPO / "sample_functions"
REPO_TOKEN = "$REPO"  # expanded to the checkout by the replay (tests/ui/replay_backend.py)
SETTLE_S = 30

# ---------------------------------------------------------------------- the fixed values

# Request ids chosen per state; their first eight characters are what the screen shows.
IDS = {
    "warm": ("a1000000-0000-4000-8000-000000000001", "a2000000-0000-4000-8000-000000000002",
             "a3000000-0000-4000-8000-000000000003"),
    "slow": ("7133e0a7-0000-4000-8000-000000000004",),
    "crash": ("0c000000-0000-4000-8000-000000000005", "c4a5e000-0000-4000-8000-000000000006"),
    "background": ("b1000000-0000-4000-8000-000000000007", "b2000000-0000-4000-8000-000000000008"),
}
CLOCK_BASE = 1000.0  # trio seconds of the first clock reading
CLOCK_STEP = 0.010  # between consecutive distinct readings, in order
PHASE_MS = {  # (bar kind, label) -> the duration shown for a finished bar
    (tl.SUBPHASE, tl.EXTENSION_INIT): 0.05,
    (tl.SUBPHASE, tl.RUNTIME_INIT): 62.0,
    (tl.SUBPHASE, tl.FUNCTION_INIT): 4.8,
    (tl.INIT, None): 70.0,
    (tl.INVOKE, None): 2.5,
    (tl.FROZEN, None): 1200.0,
    (tl.HELD, None): 1500.0,
    (tl.RESET, None): 15.0,
    (tl.SHUTDOWN, None): 25.0,
}
INIT_MS = PHASE_MS[(tl.INIT, None)]
MAX_MEMORY_MB = 32
MEMORY_IN_USE_MB = 36  # the environment's memory after each phase (MemoryMeasured), as the header shows it
WALL_TIME = 1_700_000_000.0  # file mtimes
ISO_TIME = "2023-11-14T22:13:20.000Z"
FAKE_PID = 4242
LAMBDATUI_DIR = "/opt/lambdatui"
PYTHON_LIB = "/var/lang/lib"


# ---------------------------------------------------------------------- running a state for real


Script = Callable[[DebugSession], Awaitable[None]]


async def settle(session: DebugSession) -> None:
    with trio.fail_after(SETTLE_S):
        await session.settled()


async def invoke(session: DebugSession, event: bytes, request_id: str) -> None:
    session.submit(c.Invoke(event, request_id))
    await settle(session)


async def run_for_real(sample: str, script: Script, *, timeout_s: int = 3) -> tuple[DebuggerSnapshot, list[f.Fact]]:
    """Open the environment as the TUI does (held at init.extensions), run `script`, return the snapshot and facts."""
    config = resolve_function(str(SAMPLES / sample / "handler.py"), timeout_s=timeout_s)
    async with open_environment(config, inspect=True) as running:
        session = running.session
        facts: list[f.Fact] = []
        session.subscribe(facts.append)
        session.submit(c.Step())  # as HostGuest does: a newcomer sees the cold start from its first boundary
        running.host.start_environment()
        await settle(session)
        assert session.snapshot().environment.held_at is Boundary.INIT_EXTENSIONS
        await script(session)
        return session.snapshot(), list(facts)  # a copy: the shutdown on leaving adds more


async def cold_start_held_at_function_init(session: DebugSession) -> None:
    for boundary in (Boundary.INIT_RUNTIME, Boundary.INIT_FUNCTION):
        session.submit(c.Step())
        await settle(session)
        assert session.snapshot().environment.held_at is boundary


async def continue_to_frozen(session: DebugSession) -> None:
    session.submit(c.Continue())
    await settle(session)
    assert session.snapshot().environment.state is EnvState.FROZEN


async def three_warm_invokes(session: DebugSession) -> None:
    await continue_to_frozen(session)
    for number, request_id in enumerate(IDS["warm"], start=1):
        await invoke(session, b'{"n": %d}' % number, request_id)


async def timeout_with_stack(session: DebugSession) -> None:
    await continue_to_frozen(session)
    await invoke(session, b'{"seconds": 10}', IDS["slow"][0])
    assert session.snapshot().last_stacks is not None


async def crash_and_reset(session: DebugSession) -> None:
    await continue_to_frozen(session)
    ok, exit_ = IDS["crash"]
    await invoke(session, b'{"mode": "ok"}', ok)
    await invoke(session, b'{"mode": "exit"}', exit_)
    assert session.snapshot().environment.state is EnvState.COLD


async def frozen_between_invokes(session: DebugSession) -> None:
    await continue_to_frozen(session)
    first, second = IDS["background"]
    await invoke(session, b"{}", first)
    await trio.sleep(0.5)  # frozen: the ticker thread makes no progress meanwhile
    await invoke(session, b"{}", second)
    assert session.snapshot().environment.state is EnvState.FROZEN


# ---------------------------------------------------------------------- normalising


def map_values(value: Any, on_str: Callable[[str], str]) -> Any:
    """Rebuild a tree of dataclasses and containers with every string (and bytes, as UTF-8 text) mapped."""
    if isinstance(value, str):
        return on_str(value)
    if isinstance(value, bytes):
        try:
            return on_str(value.decode("utf-8")).encode("utf-8")
        except UnicodeDecodeError:
            return value
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        changes = {field.name: map_values(getattr(value, field.name), on_str) for field in dataclasses.fields(value)}
        return dataclasses.replace(value, **changes)
    if isinstance(value, tuple):
        return tuple(map_values(v, on_str) for v in value)
    if isinstance(value, list):
        return [map_values(v, on_str) for v in value]
    if isinstance(value, frozenset):
        return frozenset(map_values(v, on_str) for v in value)
    if isinstance(value, dict):
        return {k: map_values(v, on_str) for k, v in value.items()}
    return value


UUID = re.compile(r"\b[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\b")
ADDRESS = re.compile(r"\b0x[0-9a-fA-F]{8,}\b")
PID = re.compile(r"\b(pid[= ])\d+\b")
PYTHON_PATH = re.compile(r"/[^\s\"']*?/lib/(python3\.\d+)/")
ISO = re.compile(r"\b\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z\b")
INIT_REPORT = re.compile(r"^INIT_REPORT Init Duration: [\d.]+ ms")


class Normaliser:
    """Stable text for one session: every mapping is by first appearance, so it is consistent throughout."""

    def __init__(self, chosen_ids: tuple[str, ...]) -> None:
        self.ids = {request_id: request_id for request_id in chosen_ids}
        self.addresses: dict[str, str] = {}

    def request_id(self, match: re.Match[str]) -> str:
        found = match.group(0)
        if found not in self.ids:
            n = len(self.ids) + 1
            self.ids[found] = f"{n:08d}-0000-4000-8000-{n:012d}"
        return self.ids[found]

    def address(self, match: re.Match[str]) -> str:
        found = match.group(0)
        if found not in self.addresses:
            fake = 0x7F0000000000 + 0x1000 * (len(self.addresses) + 1)
            self.addresses[found] = "0x" + f"{fake:x}".rjust(len(found) - 2, "0")
        return self.addresses[found]

    def text(self, value: str) -> str:
        value = UUID.sub(self.request_id, value)
        value = ADDRESS.sub(self.address, value)
        value = PID.sub(lambda m: f"{m.group(1)}{FAKE_PID}", value)
        value = ISO.sub(ISO_TIME, value)
        value = value.replace(str(SAMPLES), f"{REPO_TOKEN}/sample_functions")
        value = value.replace(str(REPO / "lambdatui"), f"{LAMBDATUI_DIR}/lambdatui")
        value = PYTHON_PATH.sub(lambda m: f"{PYTHON_LIB}/{m.group(1)}/", value)
        if str(REPO) in value:
            raise ValueError(f"a path in the checkout is left in {value!r}: normalise it")
        return value


def phase_ms(bar: tl.TimelineBar, timeout_s: int) -> float:
    if bar.kind == tl.INVOKE and bar.status == "timeout":
        return timeout_s * 1000.0
    return PHASE_MS.get((bar.kind, bar.label if bar.kind == tl.SUBPHASE else None), 1.0)


def normal_report(report: f.InvokeReported, timeout_s: int) -> f.InvokeReported:
    duration = timeout_s * 1000.0 if report.status == "timeout" else PHASE_MS[(tl.INVOKE, None)]
    init = INIT_MS if report.init_duration_ms is not None else None
    return dataclasses.replace(report, duration_ms=duration,
                               billed_duration_ms=platform_lines.billed_ms(duration + (init or 0.0)),
                               max_memory_used_mb=MAX_MEMORY_MB if report.max_memory_used_mb is not None else None,
                               init_duration_ms=init)


def normalise_times(snapshot: DebuggerSnapshot, reports: dict[str, f.InvokeReported]) -> DebuggerSnapshot:
    """Clock readings onto a fixed schedule that keeps their order; durations to fixed figures."""
    env = snapshot.environment
    readings = {env.as_of}
    readings.update(p.parked_since for p in env.participants if p.parked_since is not None)
    for bar in snapshot.timeline:
        readings.add(bar.start)
        if bar.end is not None:
            readings.add(bar.end)
    clock = {reading: CLOCK_BASE + CLOCK_STEP * rank for rank, reading in enumerate(sorted(readings))}
    timeout_s = snapshot.function.timeout_s
    bars = tuple(
        dataclasses.replace(
            bar,
            start=clock[bar.start],
            end=clock[bar.end] if bar.end is not None else None,
            duration_ms=phase_ms(bar, timeout_s) if bar.duration_ms is not None else None,
            detail=(_invoke_detail(bar, reports, timeout_s) if bar.kind == tl.INVOKE
                    else re.sub(r"mem \d+/", f"mem {MEMORY_IN_USE_MB}/", bar.detail)),
        )
        for bar in snapshot.timeline
    )
    memory = tuple(dataclasses.replace(m, runtime_mb=MAX_MEMORY_MB, runtime_peak_mb=MAX_MEMORY_MB,
                                       environment_mb=MEMORY_IN_USE_MB, enforced_by="cgroup v2", at=CLOCK_BASE)
                   for m in snapshot.memory)
    participants = tuple(
        dataclasses.replace(p, parked_since=clock[p.parked_since] if p.parked_since is not None else None)
        for p in env.participants
    )
    last_report = normal_report(snapshot.last_report, timeout_s) if snapshot.last_report is not None else None
    tmp = snapshot.tmp
    if tmp is not None:
        tmp = dataclasses.replace(tmp, entries=tuple(dataclasses.replace(e, mtime=WALL_TIME) for e in tmp.entries))
    return dataclasses.replace(
        snapshot,
        environment=dataclasses.replace(env, as_of=clock[env.as_of], participants=participants),
        timeline=bars,
        last_report=last_report,
        tmp=tmp,
        memory=memory,
    )


def _invoke_detail(bar: tl.TimelineBar, reports: dict[str, f.InvokeReported], timeout_s: int) -> str:
    """The REPORT figures the timeline keeps on an invoke bar, from the normalised report."""
    report = next((r for r in reports.values() if r.request_id[:tl.SHORT_ID] == bar.label), None)
    if report is None:
        return re.sub(r"[\d.]+ ms", "1.0 ms", bar.detail)
    return tl._report_detail(normal_report(report, timeout_s))


def normalise_identities(snapshot: DebuggerSnapshot) -> DebuggerSnapshot:
    """Object identities and thread idents: sequential stand-ins (equal ones stay equal)."""
    report = snapshot.globals
    if report is None:
        return snapshot
    identities: dict[int, int] = {}
    idents: dict[Optional[int], Optional[int]] = {None: None}
    entries = tuple(dataclasses.replace(e, identity=identities.setdefault(e.identity, 1000 + len(identities)))
                    for e in report.entries)
    threads = tuple(dataclasses.replace(t, ident=idents.setdefault(t.ident, 140_000_000_000_000 + len(idents)))
                    for t in report.threads)
    return dataclasses.replace(snapshot, globals=dataclasses.replace(report, entries=entries, threads=threads))


def normalise_log(line: f.LogLine, reports: dict[str, f.InvokeReported], timeout_s: int) -> f.LogLine:
    text = line.text
    if line.source == f.PLATFORM:
        if text.startswith("REPORT RequestId: ") and line.request_id in reports:
            text = platform_lines.report(normal_report(reports[line.request_id], timeout_s))
        text = INIT_REPORT.sub(f"INIT_REPORT Init Duration: {INIT_MS:.2f} ms", text)
    return dataclasses.replace(line, text=text)


def normalise(state: str, snapshot: DebuggerSnapshot, facts: list[f.Fact],
              fixups: Optional[Callable[[str], str]] = None) -> tuple[DebuggerSnapshot, list[f.LogLine]]:
    timeout_s = snapshot.function.timeout_s
    reports = {fact.request_id: fact for fact in facts if isinstance(fact, f.InvokeReported)}
    logs = [normalise_log(line, reports, timeout_s) for fact in facts for line in f.log_lines(fact)]
    snapshot = dataclasses.replace(snapshot, logs=tuple(normalise_log(line, reports, timeout_s)
                                                        for line in snapshot.logs))
    snapshot = normalise_identities(normalise_times(snapshot, reports))
    if snapshot.sandbox_mode != "mount-namespace":
        raise SystemExit(f"{state}: recorded in {snapshot.sandbox_mode} mode ({snapshot.sandbox_note}); record as "
                         "root (or where user namespaces work) so /tmp paths read as in Lambda")
    names = Normaliser(tuple(request_id for chosen in IDS.values() for request_id in chosen))

    def text(value: str) -> str:
        value = names.text(value)
        return fixups(value) if fixups is not None else value

    # Logs first, in order: request ids and addresses are numbered by first appearance.
    logs = map_values(logs, text)
    snapshot = map_values(snapshot, text)
    return snapshot, logs


# What the background sample printed in a real run, as (ticks, seconds since init, "about" figure) per invoke:
# the ticker barely moves across the half second the environment sat frozen. Real figures vary by a tick.
TICKER = {IDS["background"][0]: (1, 0.0, 0), IDS["background"][1]: (2, 0.5, 50)}


def background_ticks(snapshot: DebuggerSnapshot, logs: list[f.LogLine]) -> tuple[DebuggerSnapshot, list[f.LogLine]]:
    """The ticker's progress and INIT_TIME depend on timing and the wall clock: representative fixed values."""

    def line(log: f.LogLine) -> f.LogLine:
        if log.source != f.FUNCTION or log.request_id not in TICKER:
            return log
        ticks, elapsed, about = TICKER[log.request_id]
        return dataclasses.replace(log, text=f"background: {ticks} ticks after {elapsed:.1f} s since init "
                                             f"(about {about} if it had never been frozen)")

    report, result = snapshot.globals, snapshot.last_result
    assert report is not None and result is not None
    ticks = TICKER[result.request_id][0]
    fixed = {"ticks": str(ticks), "INIT_TIME": repr(WALL_TIME)}
    entries = tuple(dataclasses.replace(e, repr=fixed[e.name]) if e.name in fixed else e for e in report.entries)
    snapshot = dataclasses.replace(
        snapshot,
        globals=dataclasses.replace(report, entries=entries),
        last_result=dataclasses.replace(result, payload=b'{"ticks": %d}' % ticks),
        logs=tuple(line(log) for log in snapshot.logs),
    )
    return snapshot, [line(log) for log in logs]


def slow_fixups(value: str) -> str:
    return re.sub(r"with \d+ ms left", "with 999 ms left", value)


def counter_sizes(snapshot: DebuggerSnapshot, logs: list[f.LogLine]) -> tuple[DebuggerSnapshot, list[f.LogLine]]:
    """counter.txt holds pids, whose length varies: its size as if every pid were FAKE_PID."""
    tmp = snapshot.tmp
    assert tmp is not None
    lines = snapshot.invocations
    size = sum(len(f"pid={FAKE_PID} invocation={n}\n") for n in range(1, lines + 1))
    entries = tuple(dataclasses.replace(e, size=size) if e.path.endswith("/counter.txt") else e for e in tmp.entries)
    return dataclasses.replace(snapshot, tmp=dataclasses.replace(tmp, entries=entries)), logs


# ---------------------------------------------------------------------- the states


@dataclasses.dataclass(frozen=True)
class State:
    sample: str
    script: Script
    timeout_s: int = 3
    fixups: Optional[Callable[[str], str]] = None
    after: Optional[Callable[[DebuggerSnapshot, list[f.LogLine]], tuple[DebuggerSnapshot, list[f.LogLine]]]] = None


STATES: dict[str, State] = {
    "cold_held_init_function": State("extension", cold_start_held_at_function_init),
    "warm": State("counter", three_warm_invokes, after=counter_sizes),
    "timeout_slow": State("slow", timeout_with_stack, timeout_s=1, fixups=slow_fixups),
    "crash_reset": State("crash", crash_and_reset),
    "frozen_background": State("background", frozen_between_invokes, after=background_ticks),
}


def record(name: str) -> Path:
    state = STATES[name]
    snapshot, facts = trio.run(lambda: run_for_real(state.sample, state.script, timeout_s=state.timeout_s))
    snapshot, logs = normalise(name, snapshot, facts, state.fixups)
    if state.after is not None:
        snapshot, logs = state.after(snapshot, logs)
    path = HERE / f"{name}.json"
    path.write_text(dumps({"snapshot": snapshot, "logs": logs}, dict[str, Any]), encoding="utf-8")
    return path


def main(argv: list[str]) -> int:
    names = argv or list(STATES)
    unknown = [n for n in names if n not in STATES]
    if unknown:
        print(f"unknown state(s) {unknown}; known: {', '.join(STATES)}", file=sys.stderr)
        return 2
    for name in names:
        print(f"recorded {record(name).relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
