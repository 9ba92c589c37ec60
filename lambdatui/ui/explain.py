"""What Lambda does at this point of the lifecycle, and why it matters: one or two sentences per
boundary and per environment state, for a workshop audience.

Pure (no Textual, no Rich): `ExplainBar` shows it, and the tests check every Boundary and EnvState.
The text names what the snapshot knows (extension names, a short request id, the timeout) so the
sentence is about *this* function, not Lambda in general.
"""

from __future__ import annotations

from lambdatui.model import timeline as tl
from lambdatui.model.boundaries import Boundary, EnvState
from lambdatui.model.debug_snapshot import DebuggerSnapshot
from lambdatui.model.fleet import SNAP_START
from lambdatui.ui.explain_facts import (current_request, extension_names, last_bar, module_name, name_list,
                                        reason_phrase, request_phrase, reset_reason, short_request, subscribed_to,
                                        thread_note, was_reset)

OURS = "python:3"  # lambdatui's own Python runtime
_SUB_PHASE = {
    "extension": "extensions are starting and registering for events",
    "extensions": "extensions are starting and registering for events",
    "runtime": "the runtime is starting",
    "function": "your module's top-level code is running (Function init)",
}


def headline(snapshot: DebuggerSnapshot) -> str:
    """A few words for the bar's title: "held at init.runtime", "frozen", "running 1a2b3c4d"."""
    env = snapshot.environment
    if env.held_at is not None:
        return f"held at {env.held_at.value}"
    if env.state is EnvState.RUNNING and _runtime_stopped(snapshot):
        return f"runtime frozen ({short_request(current_request(snapshot))})"
    if env.state is EnvState.RUNNING and snapshot.function.max_concurrency:
        return "serving"  # Managed Instances: its workers take invokes as they come, and it never freezes
    if env.state is EnvState.RUNNING:
        return f"running {short_request(current_request(snapshot))}".rstrip()
    if env.state is EnvState.COLD and was_reset(snapshot):
        return f"reset ({reset_reason(snapshot) or 'failure'})"
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
    return (f"Init begins: Lambda is about to launch {name_list(names)}. Each must register for the events it wants "
            f"(INVOKE, SHUTDOWN) before the runtime may start; all of Init shares {_init_budget(s)}.")


def _init_budget(s: DebuggerSnapshot) -> str:
    """Init's time limit, as the core keeps it: its own, or (after a reset) the invoke's it runs in."""
    limit = s.environment.init_timeout_ms
    if limit is None:
        return f"the invoke's {s.function.timeout_s} s timeout, since it runs inside that invoke (a suppressed init)"
    return f"one {limit / 1000:g} s budget"


def _init_runtime(s: DebuggerSnapshot) -> str:
    names = extension_names(s)
    if not names:
        return (f"No extensions to wait for, so Lambda now starts the runtime ({s.function.runtime}). "
                "Starting the interpreter is the first part of the cold start, paid once per environment.")
    return (f"Every extension has registered ({', '.join(names)}), so Lambda now starts the runtime "
            f"({s.function.runtime}). Until the runtime's first /next, extensions can still subscribe to telemetry.")


def _init_function(s: DebuggerSnapshot) -> str:
    what = f"imports {module_name(s)} and runs its top-level code" if s.function.runtime == OURS \
        else f"loads the handler {s.function.handler}"
    line = next((e for e in s.environments if e.number == s.environment_number), None)
    if line is not None and line.init_type == SNAP_START:
        return (f"The runtime is up; next it {what} (Function init), once: this environment becomes the snapshot, "
                "and what Init creates (globals, /tmp files, random seeds) is copied into every restored "
                "environment, values meant to be unique included.")
    return (f"The runtime is up; next it {what} (Function init). Whatever that creates (clients, caches, globals, "
            "/tmp files) is reused by every warm invoke of this environment.")


def _init_done(s: DebuggerSnapshot) -> str:
    init = last_bar(s, tl.INIT)
    took = f" in {init.duration_ms:.0f} ms" if init is not None and init.duration_ms is not None else ""
    who = "the runtime" + (f" and {name_list(extension_names(s))}" if extension_names(s) else "")
    if s.environment.queued or s.environment.current_request_id:
        then = (f"{request_phrase(s).capitalize()} is waiting, so Lambda delivers it next: Init plus this first "
                "invoke is the cold start its caller feels.")
    else:
        then = "With no event waiting, Lambda freezes the environment until one arrives."
    return f"Init finished{took}: {who} {'are' if extension_names(s) else 'is'} parked on /next. {then}"


def _invoke_start(s: DebuggerSnapshot) -> str:
    subscribers = subscribed_to(s, "INVOKE")
    to_ext = f"INVOKE to {name_list(subscribers)} and " if subscribers else ""
    return (f"{request_phrase(s).capitalize()} is ready but not yet delivered. Releasing it thaws the environment, "
            f"sends {to_ext}the event to the handler, and starts the {s.function.timeout_s} s timeout.")


def _invoke_response(s: DebuggerSnapshot) -> str:
    result = s.last_result
    held_for = s.environment.current_request_id
    if result is not None and held_for is not None and result.request_id != held_for:
        result = None  # another invoke's, ended since (Managed Instances: one timed out beside the held one)
    if result is not None and result.function_error:
        first = (f"The handler failed ({result.error_type or 'error'}) for {request_phrase(s)}; the caller gets the "
                 "error, but the process lives on, so the next invoke is still warm.")
    else:
        first = f"The handler returned for {request_phrase(s)} and the caller already has the response."
    names = extension_names(s)
    if not names:
        return first + " With no extensions, the invoke ends as soon as the runtime asks for the next event."
    return (first + f" The invoke is not over until {name_list(names)} calls /next again: that time is billed "
            "and counts toward the timeout.")


def _invoke_done(s: DebuggerSnapshot) -> str:
    if s.function.max_concurrency:
        return (f"{request_phrase(s).capitalize()} is done. A Managed Instances environment never freezes between "
                "invokes: its other workers, and a timed-out handler that runs on, keep running. Globals and /tmp stay "
                "as they are for the invokes that follow.")
    return (f"{request_phrase(s).capitalize()} is done: every process is parked on /next, so the environment is "
            f"frozen: background threads{thread_note(s)} stop until the next event thaws it. Globals and /tmp stay "
            "as they are for the next, warm invoke.")


def _resetting(s: DebuggerSnapshot) -> bool:
    if s.environment.state is EnvState.RESETTING:
        return True
    if s.environment.state in (EnvState.SHUTTING_DOWN, EnvState.SHUT_DOWN):
        return False
    if s.environment.held_at is Boundary.SHUTDOWN_START:  # SHUTDOWN's reason is known, its bar not yet begun
        return reset_reason(s) not in (None, "spindown")
    last = last_bar(s, tl.RESET, tl.SHUTDOWN)
    return last is not None and last.kind == tl.RESET


def _shutdown_start(s: DebuggerSnapshot) -> str:
    subscribers = subscribed_to(s, "SHUTDOWN")
    if _resetting(s):
        told = f"{name_list(subscribers)} gets SHUTDOWN ({reset_reason(s) or 'failure'})" if subscribers \
            else "no extension is told"
        return (f"Lambda is about to reset the environment after {reason_phrase(s)}: the runtime process is "
                f"stopped and {told}. /tmp survives the reset; module globals do not.")
    if not subscribers:
        return ("Lambda is about to shut the environment down (spindown): the runtime is stopped, and no extension "
                "subscribed to SHUTDOWN, so nothing gets a chance to clean up.")
    return (f"Lambda is about to shut the environment down (spindown): {name_list(subscribers)} gets SHUTDOWN and "
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
    if not was_reset(s):
        return (f"Environment #{s.environment_number} is new: no process exists yet and its /tmp is empty. Its first "
                "invoke runs Init (extensions, the runtime, then your module's top-level code): a full cold start.")
    return (f"The environment was reset after {reason_phrase(s)}: its processes are gone, /tmp is kept. "
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
            f"threads{thread_note(s)} make no progress until the next event thaws it. Globals and /tmp survive; the "
            "next invoke is warm and skips Init.")


def _runtime_stopped(s: DebuggerSnapshot) -> bool:
    """The user froze the runtime (SIGSTOP) mid-invoke: the handler makes no progress, though the invoke is not over."""
    return "runtime" in s.environment.user_frozen


def _running(s: DebuggerSnapshot) -> str:
    if _runtime_stopped(s):
        return (f"You froze the runtime (SIGSTOP) during {request_phrase(s)}: the handler makes no progress, but "
                f"its {s.function.timeout_s} s timeout still counts. Thaw it (f), or let the timeout reset the "
                "environment.")
    if s.function.max_concurrency:
        return (f"A Managed Instances environment serves: its {s.function.max_concurrency} workers take invokes as "
                f"they come, several at once, each with its {s.function.timeout_s} s timeout; it never freezes "
                "between them.")
    queued = len(s.environment.queued)
    more = f" ({queued} more queued: one environment handles one request at a time)" if queued else ""
    return (f"{request_phrase(s).capitalize()} is running: the handler has the event and the "
            f"{s.function.timeout_s} s timeout is counting{more}.")


def _resetting_state(s: DebuggerSnapshot) -> str:
    return (f"Resetting after {reason_phrase(s)}: Lambda stops the runtime and sends SHUTDOWN to subscribed "
            "extensions. The environment and its /tmp stay; the next invoke runs Init again.")


def _shutting_down(s: DebuggerSnapshot) -> str:
    subscribers = subscribed_to(s, "SHUTDOWN")
    who = f"{name_list(subscribers)} got SHUTDOWN and has" if subscribers else "the processes have"
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
