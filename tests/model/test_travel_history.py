"""The state as of each timeline bar's end (model/phase_history.py) and the diff between two invokes
(model/invoke_compare.py), fed the facts in the order a real counter run publishes them (traced from the host:
an invoke's globals report, REPORT and /tmp listing arrive before its PhaseEnded)."""

from __future__ import annotations

import dataclasses

from lambdatui.model import facts as f
from lambdatui.model.boundaries import Boundary, EnvState
from lambdatui.model.debug_snapshot import DebuggerSnapshot, FunctionInfo
from lambdatui.model.debug_state import DebugState
from lambdatui.model.invoke_compare import (ADDED, ANOTHER_PROCESS, CHANGED, GONE, NEW, REMOVED, REPLACED,
                                            compare_invokes, invoke_choices)
from lambdatui.model.phase_history import PhaseHistory, snapshot_as_of
from lambdatui.model.snapshot import EnvironmentSnapshot

RIDS = [f"a{n}000000-0000-4000-8000-00000000000{n}" for n in range(1, 6)]


def entry(name: str, value: object, identity: int, kind: str = "state", change: str = "same") -> f.GlobalEntry:
    return f.GlobalEntry(name, type(value).__name__, repr(value), identity, kind, change)


def report(request_id: str | None, *entries: f.GlobalEntry, generation: int = 1) -> f.GlobalsReported:
    return f.GlobalsReported("invoke" if request_id else "init", request_id, generation, entries, (), ())


def listing(by: str, *files: tuple[str, int]) -> f.TmpChanged:
    """Each file as written by `by`, except the ones named "same" (written by Init, never again)."""
    return f.TmpChanged(tuple(f.TmpEntry(p, "file", size, 1.0e9 + size, "init", "init" if "same" in p else by,
                                         "changed") for p, size in files), (), by)


def cold_start(state: DebugState, at: float = 1.0) -> None:
    state.apply(f.StateChanged(EnvState.INIT, 1), at)
    state.apply(f.PhaseStarted("init", "init", at))
    state.apply(f.LogLine("platform", "INIT_START"), at)
    state.apply(f.BoundaryReached(Boundary.INIT_FUNCTION, False), at + 0.1)
    state.apply(report(None, entry("invocations", 0, 100)), at + 0.2)
    state.apply(f.PhaseEnded("init", "success", 200.0, at=at + 0.2))
    state.apply(f.BoundaryReached(Boundary.INIT_DONE, False), at + 0.2)
    state.apply(f.StateChanged(EnvState.FROZEN, 1), at + 0.2)
    state.apply(f.EnvironmentFrozen(("runtime",)), at + 0.2)


def invoke(state: DebugState, n: int, at: float, *globals_: f.GlobalEntry, tmp: tuple[tuple[str, int], ...] = (),
           generation: int = 1, memory_mb: int | None = None) -> None:
    rid = RIDS[n - 1]
    state.apply(f.StateChanged(EnvState.RUNNING, generation), at)
    state.apply(f.EnvironmentThawed(("runtime",)), at)
    state.apply(f.LogLine("platform", f"START RequestId: {rid}", rid), at)
    state.apply(f.PhaseStarted("invoke", rid, at))
    state.apply(f.LogLine("function", f"hello from {n}", rid), at + 0.01)
    state.apply(f.InvocationCompleted(f.InvocationResult(rid, f'{{"invocations": {n}}}'.encode())), at + 0.02)
    state.apply(report(rid, *globals_, generation=generation), at + 0.03)
    state.apply(f.LogLine("platform", f"REPORT RequestId: {rid}", rid), at + 0.04)
    if memory_mb is not None:  # measured right after REPORT (host/fact_publishing.py)
        state.apply(f.MemoryMeasured("invoke", rid, memory_mb, memory_mb, memory_mb, 128, "cgroup v1", at + 0.04))
    state.apply(f.TmpChanged(listing(rid, *tmp).entries, (), rid), at + 0.04)
    state.apply(f.PhaseEnded("invoke", "success", 40.0, at=at + 0.03))
    state.apply(f.StateChanged(EnvState.FROZEN, generation), at + 0.05)
    state.apply(f.EnvironmentFrozen(("runtime",)), at + 0.05)


def counter_three_times() -> DebugState:
    state = DebugState()
    cold_start(state)
    for n in (1, 2, 3):
        invoke(state, n, 10.0 * n, entry("invocations", n, 100 + n, change="replaced"),
               entry("cache", list(range(n)), 7, change="changed"), tmp=(("/tmp/counter.txt", 22 * n),))
    return state


def live(state: DebugState, invocations: int = 3) -> DebuggerSnapshot:
    env = EnvironmentSnapshot.__new__(EnvironmentSnapshot)  # the panels' fields are what travel; env is passed through
    return DebuggerSnapshot(
        FunctionInfo("counter", "handler.handler", "/code", "python:3", 3, 128, ()), env, 1, "tmpdir", None,
        state.globals, state.tmp, state.timeline.bars(), None, state.last_result, state.last_report,
        state.last_stacks, (), tuple(state.logs), invocations, extensions=state.extensions.views())


def invoke_seqs(state: DebugState) -> list[int]:
    return [b.seq for b in state.timeline.bars() if b.kind == "invoke"]


def test_each_invoke_bar_shows_the_globals_tmp_result_and_lines_as_of_its_end() -> None:
    state = counter_three_times()
    first, second, third = invoke_seqs(state)
    now = live(state)
    past = snapshot_as_of(now, state, first)
    assert past.selected_bar == first and past.timeline == now.timeline  # every bar is still drawn
    assert past.globals is not None and past.globals.request_id == RIDS[0]
    assert [e.repr for e in past.globals.entries if e.name == "invocations"] == ["1"]
    assert past.tmp is not None and past.tmp.entries[0].size == 22
    assert past.last_result is not None and past.last_result.request_id == RIDS[0]
    assert past.invocations == 1
    # Its own lines: START (just before its bar opened), its output and REPORT; nothing of Init or invoke 2.
    assert [line.text for line in past.logs] == [f"START RequestId: {RIDS[0]}", "hello from 1",
                                                  f"REPORT RequestId: {RIDS[0]}"]
    assert snapshot_as_of(now, state, second).globals.request_id == RIDS[1]  # type: ignore[union-attr]
    assert snapshot_as_of(now, state, third).invocations == 3
    # Live is live, and None as_of is the live snapshot itself.
    assert snapshot_as_of(now, state, None) is now


def test_init_and_the_frozen_gaps_show_what_was_there_then() -> None:
    state = counter_three_times()
    bars = state.timeline.bars()
    init = next(b for b in bars if b.kind == "init")
    first_frozen = next(b for b in bars if b.kind == "frozen")
    past = snapshot_as_of(live(state), state, init.seq)
    assert past.globals is not None and past.globals.phase == "init" and past.last_result is None
    assert past.invocations == 0
    assert [line.text for line in past.logs] == ["INIT_START"]
    # The gap after Init ended when invoke 1 thawed it: still Init's globals, no result.
    gap = snapshot_as_of(live(state), state, first_frozen.seq)
    assert gap.globals is not None and gap.globals.phase == "init" and gap.last_result is None


def test_states_are_references_to_the_facts_not_copies() -> None:
    state = counter_three_times()
    first = invoke_seqs(state)[0]
    a = state.history.state_as_of(first, state)
    b = state.history.state_as_of(first, state)
    assert a is b and a is not None
    assert snapshot_as_of(live(state), state, invoke_seqs(state)[2]).globals is state.globals


def test_the_newest_bar_and_a_running_one_show_the_state_now() -> None:
    state = counter_three_times()
    newest = state.timeline.bars()[-1]
    assert newest.kind == "frozen" and newest.end is None
    past = snapshot_as_of(live(state), state, newest.seq)
    assert past.selected_bar == newest.seq and past.globals is state.globals


def test_only_the_newest_states_are_kept_and_an_older_bar_gets_the_live_snapshot() -> None:
    state = DebugState()
    state.history = PhaseHistory(limit=4)
    cold_start(state)
    for n in (1, 2, 3):
        invoke(state, n, 10.0 * n, entry("invocations", n, 100 + n))
    now = live(state)
    first = invoke_seqs(state)[0]
    assert snapshot_as_of(now, state, first) is now  # forgotten: live, selected_bar None
    assert state.history.forgotten > 0 and len(state.history.kept_seqs()) <= 4 + 2
    assert snapshot_as_of(now, state, invoke_seqs(state)[2]).selected_bar == invoke_seqs(state)[2]


def test_an_extension_shows_what_it_had_received_by_then() -> None:
    state = DebugState()
    cold_start(state)
    state.apply(f.ExtensionEventDelivered("audit", b'{"eventType": "INVOKE", "requestId": "x"}', 9.0))
    invoke(state, 1, 10.0)
    state.apply(f.ExtensionEventDelivered("audit", b'{"eventType": "INVOKE", "requestId": "y"}', 19.0))
    invoke(state, 2, 20.0)
    first = invoke_seqs(state)[0]
    (audit,) = snapshot_as_of(live(state), state, first).extensions
    assert [e.request_id for e in audit.events] == ["x"]
    (now,) = live(state).extensions
    assert [e.request_id for e in now.events] == ["x", "y"]


# ---------------------------------------------------------------------- two invokes compared


def test_the_globals_diff_between_two_invokes_says_kept_or_replaced_and_the_tmp_changes() -> None:
    state = DebugState()
    cold_start(state)
    invoke(state, 1, 10.0, entry("invocations", 1, 101), entry("cache", [1], 7), entry("old", 1, 9),
           tmp=(("/tmp/counter.txt", 22), ("/tmp/gone.txt", 5), ("/tmp/same.txt", 3)))
    invoke(state, 2, 20.0, entry("invocations", 2, 102), entry("cache", [1, 2], 7), entry("fresh", "x", 11),
           tmp=(("/tmp/counter.txt", 44), ("/tmp/new.bin", 1024), ("/tmp/same.txt", 3)))
    now = live(state)
    one, two = invoke_choices(now.timeline)
    assert (one.number, one.request_id, one.outcome) == (1, RIDS[0][:8], "success")
    comparison = compare_invokes(one, snapshot_as_of(now, state, one.seq), two, snapshot_as_of(now, state, two.seq))
    rows = {g.name: (g.change, g.old, g.new, g.kept) for g in comparison.globals}
    assert rows == {"invocations": (REPLACED, "1", "2", False), "cache": (CHANGED, "[1]", "[1, 2]", True),
                    "fresh": (NEW, None, "'x'", None), "old": (GONE, "1", None, None)}
    assert comparison.same_process
    tmp = {t.path: (t.change, t.old_size, t.new_size) for t in comparison.tmp}
    assert tmp == {"/tmp/counter.txt": (CHANGED, 22, 44), "/tmp/new.bin": (ADDED, None, 1024),
                   "/tmp/gone.txt": (REMOVED, 5, None)}


def test_across_a_reset_ids_say_nothing() -> None:
    state = DebugState()
    cold_start(state)
    invoke(state, 1, 10.0, entry("invocations", 1, 101), entry("os", "<module>", 5, kind="module"))
    invoke(state, 2, 20.0, entry("invocations", 1, 101), entry("os", "<module>", 6, kind="module"), generation=2)
    now = live(state)
    one, two = invoke_choices(now.timeline)
    comparison = compare_invokes(one, snapshot_as_of(now, state, one.seq), two, snapshot_as_of(now, state, two.seq))
    assert not comparison.same_process
    assert [(g.name, g.change, g.kept) for g in comparison.globals] == [("invocations", ANOTHER_PROCESS, None)]
    assert comparison.unchanged == 1


def test_an_invoke_killed_before_it_reported_is_not_given_the_globals_of_the_one_before() -> None:
    # Out of memory (or a crash, a timeout): as of its end, the newest report is the invoke before it's.
    state = DebugState()
    cold_start(state)
    invoke(state, 1, 10.0, entry("cache", [1], 7))
    invoke(state, 2, 20.0, entry("cache", [1, 2], 7))
    rid = RIDS[2]  # invoke 3: killed, no report of its own
    state.apply(f.PhaseStarted("invoke", rid, 30.0))
    state.apply(f.PhaseEnded("invoke", "error", 40.0, "Runtime.OutOfMemory", at=30.1))
    now = live(state)
    two, three = invoke_choices(now.timeline)[1:]
    comparison = compare_invokes(two, snapshot_as_of(now, state, two.seq), three, snapshot_as_of(now, state, three.seq))
    assert comparison.globals == () and comparison.unchanged == 0
    assert comparison.note.startswith(f"No globals to compare: invoke 3 ({RIDS[2][:8]}) left no globals report")


def test_an_invoke_that_failed_says_how() -> None:
    state = counter_three_times()
    bars = tuple(dataclasses.replace(b, status="error", error_type="ValueError") if b.kind == "invoke" else b
                 for b in state.timeline.bars())
    assert {c.outcome for c in invoke_choices(bars)} == {"error: ValueError"}



def test_an_invoke_bar_shows_the_memory_as_it_was_after_that_invoke() -> None:
    """The memory line ("phase by phase: 7 → 32 → …") as of invoke 1 stops at invoke 1's figure."""
    state = DebugState()
    cold_start(state)
    state.apply(f.MemoryMeasured("init", None, 7, 7, 7, 128, "cgroup v1", 1.3))
    for n in (1, 2, 3):
        invoke(state, n, 10.0 * n, memory_mb=7 + 25 * n)
    now = dataclasses.replace(live(state), memory=tuple(state.memory))
    first, second, _ = invoke_seqs(state)
    assert [m.environment_mb for m in now.memory] == [7, 32, 57, 82]
    assert [m.environment_mb for m in snapshot_as_of(now, state, first).memory] == [7, 32]
    assert [m.environment_mb for m in snapshot_as_of(now, state, second).memory] == [7, 32, 57]
