"""What the debugger's explanation reads off a snapshot: the request it is about, the extensions and what they
subscribed to, the handler's module, why the environment was last reset or which phase failed, its live threads.

Pure (no Textual, no Rich), as ui/explain.py, whose sentences use these.
"""

from __future__ import annotations

from typing import Optional

from lambdatui.model import timeline as tl
from lambdatui.model.boundaries import Boundary
from lambdatui.model.debug_snapshot import DebuggerSnapshot
from lambdatui.model.error_types import CRASH_TYPES

SHORT_ID = 8
REASON = {"timeout": "a timeout", "failure": "a failure", "spindown": "a spindown"}


def short_request(request_id: Optional[str]) -> str:
    return (request_id or "")[:SHORT_ID]


def current_request(snapshot: DebuggerSnapshot) -> Optional[str]:
    if snapshot.request_in_view:
        return snapshot.request_in_view
    return snapshot.last_result.request_id if snapshot.last_result is not None else None


def request_phrase(snapshot: DebuggerSnapshot) -> str:
    short = short_request(current_request(snapshot))
    return f"request {short}" if short else "the request"


def name_list(names: tuple[str, ...] | list[str]) -> str:
    if len(names) == 1:
        return f"the {names[0]} extension"
    return f"{len(names)} extensions ({', '.join(names)})"


def extension_names(snapshot: DebuggerSnapshot) -> tuple[str, ...]:
    running = tuple(p.key.split(":", 1)[1] for p in snapshot.environment.participants if p.key.startswith("extension:"))
    return running or snapshot.function.extensions


def subscribed_to(snapshot: DebuggerSnapshot, event: str) -> list[str]:
    """Extensions registered for `event` (from the participants; the configured list if none run yet)."""
    views = [p for p in snapshot.environment.participants if p.key.startswith("extension:")]
    if not views:
        return list(snapshot.function.extensions)
    return [p.key.split(":", 1)[1] for p in views if event in p.events]


def module_name(snapshot: DebuggerSnapshot) -> str:
    module = snapshot.function.handler.rsplit(".", 1)[0]
    return module.replace(".", "/") + ".py"


def last_bar(snapshot: DebuggerSnapshot, *kinds: str) -> Optional[tl.TimelineBar]:
    return next((bar for bar in reversed(snapshot.timeline) if bar.kind in kinds), None)


def was_reset(snapshot: DebuggerSnapshot) -> bool:
    """A cold environment whose processes ran and were reset, not a new one (`N`): the core says which."""
    return snapshot.environment.reset


def reset_reason(snapshot: DebuggerSnapshot) -> Optional[str]:
    """SHUTDOWN's reason (timeout, failure, spindown): the boundary's, while held at shutdown.start (its bar
    does not exist yet), else the last reset's."""
    if snapshot.environment.held_at is Boundary.SHUTDOWN_START:
        held = last_bar(snapshot, tl.HELD)
        if held is not None and held.reason:
            return held.reason
    bar = last_bar(snapshot, tl.RESET)
    return bar.reason if bar is not None else None


def failed_phase(snapshot: DebuggerSnapshot) -> tuple[Optional[tl.TimelineBar], Optional[tl.TimelineBar]]:
    """(the Init or invoke that failed and caused the latest reset, the invoke it happened in), from the timeline.

    Only a phase that ended in failure right before the reset counts: a crash after an invoke had finished
    happened while idle, not during it, even when the handler's error had gone to that invoke's caller (a function
    error leaves the environment warm: the invoke itself succeeded).
    """
    bars = snapshot.timeline
    end = len(bars)
    for index in range(len(bars) - 1, -1, -1):
        if bars[index].kind == tl.RESET:
            end = index
            break
    if snapshot.environment.held_at is Boundary.SHUTDOWN_START and end < len(bars):
        # Held before the reset it causes, whose bar is not there yet: the failure since the last reset, if any.
        found = failed_before(bars, len(bars))
        if found[0] is not None:
            return found
    return failed_before(bars, end)


def failed_before(bars: tuple[tl.TimelineBar, ...], end: int) -> tuple[Optional[tl.TimelineBar],
                                                                          Optional[tl.TimelineBar]]:
    """The phase that ended in failure right before bar `end`, and the invoke it happened in."""
    failed: Optional[tl.TimelineBar] = None
    for bar in reversed(bars[:end]):
        if bar.kind in (tl.HELD, tl.FROZEN, tl.SUBPHASE):
            continue
        if bar.kind in (tl.INIT, tl.INVOKE) and bar.status in tl.FAILED_STATUSES and not bar.handler_error:
            failed = bar
            continue  # a suppressed Init fails inside its invoke: look on for that invoke
        break
    if failed is None:
        return None, None
    invoke = failed if failed.kind == tl.INVOKE else next(
        (b for b in reversed(bars[:end]) if b.kind == tl.INVOKE and b.start <= failed.start
         and (b.end is None or failed.end is None or b.end >= failed.end)), None)
    return failed, invoke


def reason_phrase(snapshot: DebuggerSnapshot) -> str:
    """Why the environment resets, as what happened: "a timeout during request 1a2b3c4d", "an Init error
    (Runtime.UserCodeSyntaxError)", "a crash (Runtime.ExitError) while the environment was idle"."""
    reason = reset_reason(snapshot)
    failed, invoke = failed_phase(snapshot)
    if failed is None:
        phrase = REASON.get(reason or "", reason or "a failure")
        if reason == "failure":
            return "a process exit while the environment was idle (no invoke was running)"
        return phrase
    error_type = failed.error_type or ""
    if failed.status == "timeout":
        what = "an Init timeout" if failed.kind == tl.INIT else "a timeout"
    elif failed.kind == tl.INIT:
        crashed = error_type in CRASH_TYPES
        what = (f"a crash during Init ({error_type})" if crashed else
                f"an Init error ({error_type})" if error_type else "a failed Init")
    else:
        crashed = error_type in CRASH_TYPES
        what = f"a crash ({error_type})" if crashed else f"an error ({error_type})" if error_type else "a failure"
    return what + (f" during request {invoke.label}" if invoke is not None else "")  # the label is the short id


def thread_note(snapshot: DebuggerSnapshot) -> str:
    report = snapshot.globals
    if report is None:
        return ""
    others = [t.name for t in report.threads if t.alive and t.name != "MainThread"]
    return f" (here: {', '.join(others[:3])})" if others else ""
