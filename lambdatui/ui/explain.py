"""What Lambda does at this point of the lifecycle, and why it matters: one or two sentences per
boundary and per environment state, for a workshop audience.

Pure (no Textual, no Rich): `ExplainBar` shows it, and the tests check every Boundary and EnvState.
The text names what the snapshot knows (extension names, a short request id, the timeout) so the
sentence is about *this* function, not Lambda in general.
"""

from __future__ import annotations

from typing import Optional

from lambdatui.model import timeline as tl
from lambdatui.model.boundaries import Boundary, EnvState
from lambdatui.model.debug_snapshot import DebuggerSnapshot
from lambdatui.model.error_types import CRASH_TYPES
from lambdatui.model.fleet import SNAP_START

SHORT_ID = 8
OURS = "python:3"  # lambdatui's own Python runtime
_SUB_PHASE = {
    "extension": "extensions are starting and registering for events",
    "extensions": "extensions are starting and registering for events",
    "runtime": "the runtime is starting",
    "function": "your module's top-level code is running (Function init)",
}
_REASON = {"timeout": "a timeout", "failure": "a failure", "spindown": "a spindown"}


def headline(snapshot: DebuggerSnapshot) -> str:
    """A few words for the bar's title: "held at init.runtime", "frozen", "running 1a2b3c4d"."""
    env = snapshot.environment
    if env.held_at is not None:
        return f"held at {env.held_at.value}"
    if env.state is EnvState.RUNNING and _runtime_stopped(snapshot):
        return f"runtime frozen ({_short(_request(snapshot))})"
    if env.state is EnvState.RUNNING and snapshot.function.max_concurrency:
        return "serving"  # Managed Instances: its workers take invokes as they come, and it never freezes
    if env.state is EnvState.RUNNING:
        return f"running {_short(_request(snapshot))}".rstrip()
    if env.state is EnvState.COLD and _was_reset(snapshot):
        return f"reset ({_reset_reason(snapshot) or 'failure'})"
    return env.state.value.lower()


def explain(snapshot: DebuggerSnapshot) -> str:
    """One or two sentences on what happens now, and why it matters."""
    env = snapshot.environment
    if env.held_at is not None:
        return _BOUNDARY[env.held_at](snapshot)
    if snapshot.shared_init_values:
        # Between steps, the trap SnapStart sets matters more than the state, which the header already shows.
        return _shared_init_values(snapshot)
    return _STATE[env.state](snapshot)


# ---------------------------------------------------------------------- the facts sentences use


def _short(request_id: Optional[str]) -> str:
    return (request_id or "")[:SHORT_ID]


def _request(snapshot: DebuggerSnapshot) -> Optional[str]:
    if snapshot.request_in_view:
        return snapshot.request_in_view
    return snapshot.last_result.request_id if snapshot.last_result is not None else None


def _request_phrase(snapshot: DebuggerSnapshot) -> str:
    short = _short(_request(snapshot))
    return f"request {short}" if short else "the request"


def _names(names: tuple[str, ...] | list[str]) -> str:
    if len(names) == 1:
        return f"the {names[0]} extension"
    return f"{len(names)} extensions ({', '.join(names)})"


def _extensions(snapshot: DebuggerSnapshot) -> tuple[str, ...]:
    running = tuple(p.key.split(":", 1)[1] for p in snapshot.environment.participants if p.key.startswith("extension:"))
    return running or snapshot.function.extensions


def _subscribed(snapshot: DebuggerSnapshot, event: str) -> list[str]:
    """Extensions registered for `event` (from the participants; the configured list if none run yet)."""
    views = [p for p in snapshot.environment.participants if p.key.startswith("extension:")]
    if not views:
        return list(snapshot.function.extensions)
    return [p.key.split(":", 1)[1] for p in views if event in p.events]


def _module(snapshot: DebuggerSnapshot) -> str:
    module = snapshot.function.handler.rsplit(".", 1)[0]
    return module.replace(".", "/") + ".py"


def _last_bar(snapshot: DebuggerSnapshot, *kinds: str) -> Optional[tl.TimelineBar]:
    return next((bar for bar in reversed(snapshot.timeline) if bar.kind in kinds), None)


def _was_reset(snapshot: DebuggerSnapshot) -> bool:
    """A cold environment whose processes ran and were reset, not a new one (`N`): the core says which."""
    return snapshot.environment.reset


def _reset_reason(snapshot: DebuggerSnapshot) -> Optional[str]:
    """SHUTDOWN's reason (timeout, failure, spindown): the boundary's, while held at shutdown.start (its bar
    does not exist yet), else the last reset's."""
    if snapshot.environment.held_at is Boundary.SHUTDOWN_START:
        held = _last_bar(snapshot, tl.HELD)
        if held is not None and held.reason:
            return held.reason
    bar = _last_bar(snapshot, tl.RESET)
    return bar.reason if bar is not None else None


def _failed_phase(snapshot: DebuggerSnapshot) -> tuple[Optional[tl.TimelineBar], Optional[tl.TimelineBar]]:
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
        found = _failed_before(bars, len(bars))
        if found[0] is not None:
            return found
    return _failed_before(bars, end)


def _failed_before(bars: tuple[tl.TimelineBar, ...], end: int) -> tuple[Optional[tl.TimelineBar],
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


def _reason_phrase(snapshot: DebuggerSnapshot) -> str:
    """Why the environment resets, as what happened: "a timeout during request 1a2b3c4d", "an Init error
    (Runtime.UserCodeSyntaxError)", "a crash (Runtime.ExitError) while the environment was idle"."""
    reason = _reset_reason(snapshot)
    failed, invoke = _failed_phase(snapshot)
    if failed is None:
        phrase = _REASON.get(reason or "", reason or "a failure")
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


def _threads(snapshot: DebuggerSnapshot) -> str:
    report = snapshot.globals
    if report is None:
        return ""
    others = [t.name for t in report.threads if t.alive and t.name != "MainThread"]
    return f" (here: {', '.join(others[:3])})" if others else ""


# ---------------------------------------------------------------------- SnapStart: what restored environments share


_NAME_CHARS = 20  # a global's name as the explanation quotes it: the bar has three rows for all of it


def _shared_init_values(s: DebuggerSnapshot) -> str:
    shared = s.shared_init_values
    names = [n if len(n) <= _NAME_CHARS else n[:_NAME_CHARS - 1] + "…" for n in shared]
    listed = " and ".join(names) if len(names) <= 2 else f"{names[0]} and {len(names) - 1} more"
    one = len(names) == 1
    return (f"{listed} {'is' if one else 'are'} the same in all {max(shared.values())} restored environments: Init "
            "ran once, and each restored environment starts from its snapshot's memory, so ids, random seeds and "
            f"tokens made at Init are shared. Regenerate {'it' if one else 'them'} in an @register_after_restore hook.")


# ---------------------------------------------------------------------- held at a boundary


def _init_extensions(s: DebuggerSnapshot) -> str:
    names = s.function.extensions
    if not names:
        return ("Init begins. This function has no extensions, so Extension init ends at once and the runtime "
                f"starts next; all of Init shares {_init_budget(s)}.")
    return (f"Init begins: Lambda is about to launch {_names(names)}. Each must register for the events it wants "
            f"(INVOKE, SHUTDOWN) before the runtime may start; all of Init shares {_init_budget(s)}.")


def _init_budget(s: DebuggerSnapshot) -> str:
    """Init's time limit, as the core keeps it: its own, or (after a reset) the invoke's it runs in."""
    limit = s.environment.init_timeout_ms
    if limit is None:
        return f"the invoke's {s.function.timeout_s} s timeout, since it runs inside that invoke (a suppressed init)"
    return f"one {limit / 1000:g} s budget"


def _init_runtime(s: DebuggerSnapshot) -> str:
    names = _extensions(s)
    if not names:
        return (f"No extensions to wait for, so Lambda now starts the runtime ({s.function.runtime}). "
                "Starting the interpreter is the first part of the cold start, paid once per environment.")
    return (f"Every extension has registered ({', '.join(names)}), so Lambda now starts the runtime "
            f"({s.function.runtime}). Until the runtime's first /next, extensions can still subscribe to telemetry.")


def _init_function(s: DebuggerSnapshot) -> str:
    what = f"imports {_module(s)} and runs its top-level code" if s.function.runtime == OURS \
        else f"loads the handler {s.function.handler}"
    line = next((e for e in s.environments if e.number == s.environment_number), None)
    if line is not None and line.init_type == SNAP_START:
        return (f"The runtime is up; next it {what} (Function init), once: this environment becomes the snapshot, "
                "and what Init creates (globals, /tmp files, random seeds) is copied into every restored "
                "environment, values meant to be unique included.")
    return (f"The runtime is up; next it {what} (Function init). Whatever that creates (clients, caches, globals, "
            "/tmp files) is reused by every warm invoke of this environment.")


def _init_done(s: DebuggerSnapshot) -> str:
    init = _last_bar(s, tl.INIT)
    took = f" in {init.duration_ms:.0f} ms" if init is not None and init.duration_ms is not None else ""
    who = "the runtime" + (f" and {_names(_extensions(s))}" if _extensions(s) else "")
    if s.environment.queued or s.environment.current_request_id:
        then = (f"{_request_phrase(s).capitalize()} is waiting, so Lambda delivers it next: Init plus this first "
                "invoke is the cold start its caller feels.")
    else:
        then = "With no event waiting, Lambda freezes the environment until one arrives."
    return f"Init finished{took}: {who} {'are' if _extensions(s) else 'is'} parked on /next. {then}"


def _invoke_start(s: DebuggerSnapshot) -> str:
    subscribers = _subscribed(s, "INVOKE")
    to_ext = f"INVOKE to {_names(subscribers)} and " if subscribers else ""
    return (f"{_request_phrase(s).capitalize()} is ready but not yet delivered. Releasing it thaws the environment, "
            f"sends {to_ext}the event to the handler, and starts the {s.function.timeout_s} s timeout.")


def _invoke_response(s: DebuggerSnapshot) -> str:
    result = s.last_result
    held_for = s.environment.current_request_id
    if result is not None and held_for is not None and result.request_id != held_for:
        result = None  # another invoke's, ended since (Managed Instances: one timed out beside the held one)
    if result is not None and result.function_error:
        first = (f"The handler failed ({result.error_type or 'error'}) for {_request_phrase(s)}; the caller gets the "
                 "error, but the process lives on, so the next invoke is still warm.")
    else:
        first = f"The handler returned for {_request_phrase(s)} and the caller already has the response."
    names = _extensions(s)
    if not names:
        return first + " With no extensions, the invoke ends as soon as the runtime asks for the next event."
    return (first + f" The invoke is not over until {_names(names)} calls /next again: that time is billed "
            "and counts toward the timeout.")


def _invoke_done(s: DebuggerSnapshot) -> str:
    if s.function.max_concurrency:
        return (f"{_request_phrase(s).capitalize()} is done. A Managed Instances environment never freezes between "
                "invokes: its other workers, and a timed-out handler that runs on, keep running. Globals and /tmp stay "
                "as they are for the invokes that follow.")
    return (f"{_request_phrase(s).capitalize()} is done: every process is parked on /next, so the environment is "
            f"frozen: background threads{_threads(s)} stop until the next event thaws it. Globals and /tmp stay "
            "as they are for the next, warm invoke.")


def _resetting(s: DebuggerSnapshot) -> bool:
    if s.environment.state is EnvState.RESETTING:
        return True
    if s.environment.state in (EnvState.SHUTTING_DOWN, EnvState.SHUT_DOWN):
        return False
    if s.environment.held_at is Boundary.SHUTDOWN_START:  # SHUTDOWN's reason is known, its bar not yet begun
        return _reset_reason(s) not in (None, "spindown")
    last = _last_bar(s, tl.RESET, tl.SHUTDOWN)
    return last is not None and last.kind == tl.RESET


def _shutdown_start(s: DebuggerSnapshot) -> str:
    subscribers = _subscribed(s, "SHUTDOWN")
    if _resetting(s):
        told = f"{_names(subscribers)} gets SHUTDOWN ({_reset_reason(s) or 'failure'})" if subscribers \
            else "no extension is told"
        return (f"Lambda is about to reset the environment after {_reason_phrase(s)}: the runtime process is "
                f"stopped and {told}. /tmp survives the reset; module globals do not.")
    if not subscribers:
        return ("Lambda is about to shut the environment down (spindown): the runtime is stopped, and no extension "
                "subscribed to SHUTDOWN, so nothing gets a chance to clean up.")
    return (f"Lambda is about to shut the environment down (spindown): {_names(subscribers)} gets SHUTDOWN and "
            "2 s to flush and exit before anything still running is killed.")


def _shutdown_done(s: DebuggerSnapshot) -> str:
    if _resetting(s):
        return ("The reset is complete: the processes are gone, but the environment and its /tmp remain. The next "
                "invoke re-runs Init inside that invoke (a suppressed init), so it pays the cold start again.")
    return (f"Shutdown is complete: every process has exited and environment #{s.environment_number} is gone. "
            "The next invoke starts a new environment with an empty /tmp: a full cold start.")


def _snapshot_taken(s: DebuggerSnapshot) -> str:
    return ("SnapStart: Init and the before-snapshot hooks are done; this runtime, held on /restore/next, is the "
            "snapshot. Whatever Init made (ids, seeds, tokens) will be the same in every restored environment.")


def _restore_start(s: DebuggerSnapshot) -> str:
    return (f"SnapStart: environment #{s.environment_number} is about to be restored, not initialised: its "
            "runtime is a copy of the snapshot's (no Init runs), then the after-restore hooks run, within 10 s.")


def _restore_hooks_done(s: DebuggerSnapshot) -> str:
    return ("The after-restore hooks are done and the runtime asks for its first event: the restore is over. Its "
            "first REPORT carries Restore Duration instead of Init Duration.")


_BOUNDARY = {
    Boundary.SNAPSHOT_TAKEN: _snapshot_taken,
    Boundary.RESTORE_START: _restore_start,
    Boundary.RESTORE_HOOKS_DONE: _restore_hooks_done,
    Boundary.INIT_EXTENSIONS: _init_extensions,
    Boundary.INIT_RUNTIME: _init_runtime,
    Boundary.INIT_FUNCTION: _init_function,
    Boundary.INIT_DONE: _init_done,
    Boundary.INVOKE_START: _invoke_start,
    Boundary.INVOKE_RESPONSE: _invoke_response,
    Boundary.INVOKE_DONE: _invoke_done,
    Boundary.SHUTDOWN_START: _shutdown_start,
    Boundary.SHUTDOWN_DONE: _shutdown_done,
}


# ---------------------------------------------------------------------- not held: the environment's state


def _cold(s: DebuggerSnapshot) -> str:
    if s.environment.generation == 0:
        return ("The environment is cold: no process exists yet. The first invoke triggers Init (extensions, the "
                "runtime, then your module's top-level code): that is the cold start.")
    if not _was_reset(s):
        return (f"Environment #{s.environment_number} is new: no process exists yet and its /tmp is empty. Its first "
                "invoke runs Init (extensions, the runtime, then your module's top-level code): a full cold start.")
    return (f"The environment was reset after {_reason_phrase(s)}: its processes are gone, /tmp is kept. "
            "The next invoke re-runs Init inside the invoke, so its caller waits for a cold start again.")


def _init(s: DebuggerSnapshot) -> str:
    step = _SUB_PHASE.get(s.environment.init_sub_phase or "", "the environment is initialising")
    limit = s.environment.init_timeout_ms
    if limit is None:
        return (f"Init is running inside an invoke: {step}. It must finish within the invoke's "
                f"{s.function.timeout_s} s timeout, or the invoke times out and the environment resets again.")
    return (f"Init is running: {step}. All of Init must finish within {limit / 1000:g} s, or Lambda resets the "
            "environment and tries Init again at the next invoke.")


def _frozen(s: DebuggerSnapshot) -> str:
    return (f"The environment is frozen: every process waits on /next and is stopped, so background "
            f"threads{_threads(s)} make no progress until the next event thaws it. Globals and /tmp survive; the "
            "next invoke is warm and skips Init.")


def _runtime_stopped(s: DebuggerSnapshot) -> bool:
    """The user froze the runtime (SIGSTOP) mid-invoke: the handler makes no progress, though the invoke is not over."""
    return "runtime" in s.environment.user_frozen


def _running(s: DebuggerSnapshot) -> str:
    if _runtime_stopped(s):
        return (f"You froze the runtime (SIGSTOP) during {_request_phrase(s)}: the handler makes no progress, but "
                f"its {s.function.timeout_s} s timeout still counts. Thaw it (f), or let the timeout reset the "
                "environment.")
    if s.function.max_concurrency:
        return (f"A Managed Instances environment serves: its {s.function.max_concurrency} workers take invokes as "
                f"they come, several at once, each with its {s.function.timeout_s} s timeout; it never freezes "
                "between them.")
    queued = len(s.environment.queued)
    more = f" ({queued} more queued: one environment handles one request at a time)" if queued else ""
    return (f"{_request_phrase(s).capitalize()} is running: the handler has the event and the "
            f"{s.function.timeout_s} s timeout is counting{more}.")


def _resetting_state(s: DebuggerSnapshot) -> str:
    return (f"Resetting after {_reason_phrase(s)}: Lambda stops the runtime and sends SHUTDOWN to subscribed "
            "extensions. The environment and its /tmp stay; the next invoke runs Init again.")


def _shutting_down(s: DebuggerSnapshot) -> str:
    subscribers = _subscribed(s, "SHUTDOWN")
    who = f"{_names(subscribers)} got SHUTDOWN and has" if subscribers else "the processes have"
    return f"Shutting down: {who} 2 s to flush and exit; whatever is still running then is killed."


def _shut_down(s: DebuggerSnapshot) -> str:
    return (f"Environment #{s.environment_number} has been shut down: its processes are gone. The next invoke starts "
            "a new environment with an empty /tmp: a full cold start.")


def _snapshot(s: DebuggerSnapshot) -> str:
    return (f"Environment #{s.environment_number} is SnapStart's snapshot: initialised once, held on "
            "/restore/next, never invoked. Invokes go to environments restored from it (the comma and period keys show them).")


_STATE = {
    EnvState.SNAPSHOT: _snapshot,
    EnvState.COLD: _cold,
    EnvState.INIT: _init,
    EnvState.FROZEN: _frozen,
    EnvState.RUNNING: _running,
    EnvState.RESETTING: _resetting_state,
    EnvState.SHUTTING_DOWN: _shutting_down,
    EnvState.SHUT_DOWN: _shut_down,
}
