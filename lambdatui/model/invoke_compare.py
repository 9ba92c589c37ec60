"""Two invokes side by side: how the handler module's globals and /tmp differ between the ends of two invokes.

Pure: it reads two snapshots as of two invoke bars' ends (`Controller.snapshot(focus, as_of=seq)`) and says, per
global, old -> new and whether the object was kept (same id: mutated in place, or untouched) or replaced by
another object; per /tmp path, added, removed or changed, with sizes. The bug a warm start hides shows here:
invoke 5 saw a list that invoke 2 had appended to, or a file invoke 2 left behind.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from lambdatui.model.debug_snapshot import DebuggerSnapshot
from lambdatui.model.facts import GlobalEntry, GlobalsReported, TmpChanged, TmpEntry
from lambdatui.model.globals_diff import CHANGED, NEW, REPLACED, SAME, classify_change
from lambdatui.model.phase_history import MAX_PAST_STATES
from lambdatui.model.timeline import INVOKE, SHORT_ID, TimelineBar

GONE = "gone"
ANOTHER_PROCESS = "another process"  # a reset between the two: ids of two processes say nothing
ADDED = "added"
REMOVED = "removed"


@dataclass(frozen=True)
class InvokeChoice:
    """One invoke that can be compared: its bar, its number among the kept bars, and how it ended."""

    seq: int
    number: int  # 1, 2, ... among the invoke bars the timeline keeps
    request_id: str  # short, as the bar shows it
    outcome: str  # "success", "error: ValueError", "timeout", "running"
    caller: str = ""


@dataclass(frozen=True)
class GlobalChange:
    """How one global of the handler module differs between the two invokes' ends: its repr and type at each."""

    name: str
    change: str  # NEW, GONE, CHANGED (same object, new value), REPLACED (another object), ANOTHER_PROCESS, SAME
    old: Optional[str]  # the repr at the first invoke's end (None: not there)
    new: Optional[str]
    old_type: str = ""
    new_type: str = ""

    @property
    def kept(self) -> Optional[bool]:
        """The same object at both ends (by id, in one process); None when it was not there at both."""
        if self.old is None or self.new is None or self.change == ANOTHER_PROCESS:
            return None
        return self.change in (CHANGED, SAME)


@dataclass(frozen=True)
class TmpChange:
    """How one file under /tmp differs between the two invokes' ends: added, removed or changed, and its sizes."""

    path: str
    change: str  # ADDED, REMOVED, CHANGED
    old_size: Optional[int]
    new_size: Optional[int]
    changed_by: str = ""  # who last wrote it, as the second listing says


@dataclass(frozen=True)
class InvokeComparison:
    """Two invokes side by side: how the globals and /tmp differ between their ends, and whether one process
    ran both."""

    first: InvokeChoice
    second: InvokeChoice
    globals: tuple[GlobalChange, ...]  # the differences (unchanged state is left out), in report order
    unchanged: int  # globals the same object with the same value at both ends
    tmp: tuple[TmpChange, ...]
    same_process: bool  # False: a reset between them (a fresh process: every global is new)
    note: str = ""  # why something cannot be compared (no globals report: a custom runtime)
    tmp_cut: bool = False  # a listing stopped at its limit: paths past it are neither added nor removed here


def invoke_choices(timeline: tuple[TimelineBar, ...]) -> tuple[InvokeChoice, ...]:
    """The invoke bars of the timeline, numbered in order."""
    out = []
    for bar in timeline:
        if bar.kind != INVOKE:
            continue
        if bar.end is None:
            outcome = "running"
        elif bar.status in (None, "success"):
            outcome = "success"
        else:
            outcome = f"{bar.status}: {bar.error_type}" if bar.error_type else bar.status
        out.append(InvokeChoice(bar.seq, bar.number or len(out) + 1, bar.label[:SHORT_ID], outcome, bar.caller))
    return tuple(out)


def compare_invokes(first: InvokeChoice, before: DebuggerSnapshot, second: InvokeChoice,
                    after: DebuggerSnapshot) -> InvokeComparison:
    """`before` and `after`: the snapshots as of `first`'s and `second`'s ends (the live one for an invoke whose state
    is no longer kept: nothing of it can be compared then)."""
    gone = [choice for choice, shot in ((first, before), (second, after)) if shot.selected_bar != choice.seq]
    if gone:
        named = " nor ".join(f"invoke {c.number} ({c.request_id})" for c in gone)
        return InvokeComparison(first, second, (), 0, (), False, (
            f"Nothing to compare: the state as of {named} is no longer kept (the debugger keeps the newest "
            f"{MAX_PAST_STATES} phases' states)."))
    old, new = before.globals, after.globals
    same_process = old is not None and new is not None and old.generation == new.generation
    # An invoke whose process ended before it could report (a crash, a timeout, out of memory) has, as of its end,
    # the report of an invoke before it: that one's globals are not its own.
    unreported = [choice for choice, report in ((first, old), (second, new)) if not _reported_by(report, choice)]
    old, new = (None if first in unreported else old), (None if second in unreported else new)
    changes, unchanged = _globals(old, new, same_process) if not unreported else ((), 0)
    note = ""
    if unreported:
        named = " nor ".join(f"invoke {c.number} ({c.request_id})" for c in unreported)
        note = (f"No globals to compare: {named} left no globals report (its process ended before it could "
                "report: a crash, a timeout, out of memory).")
    elif new is None or old is None:
        note = "No globals report at one of them: only lambdatui's Python runtime reports globals."
    tmp_cut = any(listing is not None and listing.truncated for listing in (before.tmp, after.tmp))
    return InvokeComparison(first, second, changes, unchanged, _tmp(before.tmp, after.tmp), same_process, note,
                            tmp_cut)


def _reported_by(report: Optional[GlobalsReported], choice: InvokeChoice) -> bool:
    """Whether `report` (as of the invoke's end) is that invoke's own, or none at all (a custom runtime)."""
    if report is None or report.phase != "invoke" or not report.request_id:
        return True
    return report.request_id.startswith(choice.request_id)


def _globals(old: Optional[GlobalsReported], new: Optional[GlobalsReported],
             same_process: bool) -> tuple[tuple[GlobalChange, ...], int]:
    before = {e.name: e for e in old.entries} if old is not None else {}
    after = new.entries if new is not None else ()
    out: list[GlobalChange] = []
    unchanged = 0
    for entry in after:
        prior = before.get(entry.name)
        if prior is None:
            out.append(GlobalChange(entry.name, NEW, None, entry.repr, "", entry.type))
            continue
        change = classify_change(entry, prior) if same_process else ANOTHER_PROCESS
        # Across a reset every object is another one: only state, and what reads differently, is worth a row.
        if change == SAME or (change == ANOTHER_PROCESS and prior.repr == entry.repr and entry.kind != "state"):
            unchanged += 1
        else:
            out.append(_changed(entry.name, change, prior, entry))
    names = {e.name for e in after}
    out.extend(GlobalChange(e.name, GONE, e.repr, None, e.type, "") for e in before.values() if e.name not in names)
    return tuple(out), unchanged


def _changed(name: str, change: str, prior: GlobalEntry, entry: GlobalEntry) -> GlobalChange:
    return GlobalChange(name, change, prior.repr, entry.repr, prior.type, entry.type)


def _tmp(old: Optional[TmpChanged], new: Optional[TmpChanged]) -> tuple[TmpChange, ...]:
    before: dict[str, TmpEntry] = {e.path: e for e in old.entries} if old is not None else {}
    after: dict[str, TmpEntry] = {e.path: e for e in new.entries} if new is not None else {}
    # A listing cut at its limit (tmp_scanner) does not show every path: one it leaves out may be there all the
    # same, so a path only one listing shows is added or removed only when the other listing is whole.
    old_cut = old is not None and old.truncated
    new_cut = new is not None and new.truncated
    out = []
    for path, entry in after.items():
        prior = before.get(path)
        if prior is None:
            if not old_cut:
                out.append(TmpChange(path, ADDED, None, entry.size, entry.changed_by))
        elif (prior.size, prior.mtime, prior.kind) != (entry.size, entry.mtime, entry.kind) \
                or prior.changed_by != entry.changed_by:
            out.append(TmpChange(path, CHANGED, prior.size, entry.size, entry.changed_by))
    if not new_cut:
        out.extend(TmpChange(path, REMOVED, e.size, None) for path, e in before.items() if path not in after)
    return tuple(out)


__all__ = ["ADDED", "ANOTHER_PROCESS", "CHANGED", "GONE", "NEW", "REMOVED", "REPLACED", "SAME", "GlobalChange",
           "InvokeChoice", "InvokeComparison", "TmpChange", "compare_invokes", "invoke_choices"]
