"""A recorded invoke as a scenario step: its event, and what a replay expects of it.

Only what is stable goes into the expectations: a response is compared by the keys that do not quote its request
id nor read the clock while it ran (`expect.response` matches a subset; clock_values.py), and with SnapStart
not one that quotes what the snapshot's Init made (snapshot_values.py: its success is, and a burst's `expect.same`), an
error body (which quotes the request id and file paths) by its error
type only; the telemetry an extension received for an invoke by its record types, without those whose number
depends on timing (`stable_types`); durations and ids never appear.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any, Optional, Sequence

from lambdatui.json_text import nesting_depth
from lambdatui.model import facts as f
from lambdatui.model.fleet import EVENT, REQUEST_RESPONSE
from lambdatui.model.telemetry import LOGS_DROPPED
from lambdatui.scenario.clock_values import InvokeClock, clock_free
from lambdatui.scenario.model import streamed_text
from lambdatui.scenario.session_values import METADATA_TOKEN_WHY, RUNTIME_API_WHY, address_free
from lambdatui.scenario.snapshot_values import SnapshotValues, hidden_by_snapshot, snapshot_same
from lambdatui.scenario.stable_parts import NOTHING, stable_parts
from lambdatui.scenario.telemetry_ledger import TelemetryLedger
from lambdatui.scenario.toml_writer import json_line, json_text, toml_string, toml_value, writable
from lambdatui.scenario.values import MAX_VALUE_DEPTH

# Records whose number depends on timing, not on the function: an extension's own lines (many log each batch they
# receive) and the notices of records dropped because a listener fell behind.
UNSTABLE_TYPES = ("extension", LOGS_DROPPED)
# Besides the request id, what is new on every run that a function may return: its environment's log stream name
# (`context.log_stream_name`, ".../[$LATEST]", with SnapStart or provisioned concurrency ".../[1]", on Managed Instances
# ".../[$LATEST.PUBLISHED]", then 32 hex digits) and the invoke's X-Ray trace id (`_X_AMZN_TRACE_ID`).
RUN_IDS = re.compile(r"\[(?:\$LATEST(?:\.PUBLISHED)?|[0-9]+)\][0-9a-f]{32}|Root=1-[0-9a-f]{8}-[0-9a-f]{24}")
# Why a part of a response is not compared: it quotes one of those ids, or it read the clock (clock_values.py).
_IDS = "the request id (or the log stream's, the trace's)"
_CLOCK = "the clock's reading while the invoke ran"


@dataclass
class RecordedInvoke:
    """One invoke as the recorder saw it: its event and request id, then how it ended (result, throttled, cut
    off)."""

    event: bytes
    request_id: str
    result: Optional[f.InvocationResult] = None
    failed_after: Optional[str] = None  # its caller had a response, then it failed (scenario/checks.failed_after)
    cold: Optional[bool] = None
    cut_off: str = ""  # what stopped it while the function ran it (the end of the session, a new environment...)
    cut_after: str = ""  # what stopped an extension still at work on it once it was answered (the end of the session)
    throttled: bool = False  # answered 429 at the concurrency limit: no environment ran it
    clock: InvokeClock = field(default_factory=InvokeClock)  # when it ran: to leave the clock's readings out
    env: Optional[int] = None  # the environment that took it (env #N of the fleet), once queued there
    asynchronous: bool = False  # an Event invoke (202 to its caller): a replay sends it as one
    client_context: Optional[str] = None  # what else its caller sent that the function sees: a replay sends it too
    qualifier: str = ""
    trace_header: str = ""  # its caller's X-Amzn-Trace-Id ("": none, or lambdatui made it; session_values.py)
    streamed: bool = False  # its caller took the response as a stream: a replay takes it so, with a stream's limits
    hung_up_after: Optional[int] = None  # that caller hung up mid-stream, having taken this many bytes
    stopped_reading_after: Optional[int] = None  # or held the runtime back until the invoke ended, having taken so many
    # Managed Instances: "a later" or "an earlier" step's invoke ran beside it in its environment's workers (sharing
    # their /tmp and process), which a replay runs apart: what each read of the other's doings is not had again.
    shared_with: str = ""
    worker: int = 0  # Managed Instances: the environment's worker that took it (each has its own globals)
    retries: int = 0  # an Event invoke that failed: the times the fleet ran it again (host/fleet_retries.py)
    # Retries of earlier failed Event invokes that had ended when this one came: they ran in the environments this one
    # met (their globals, /tmp, a crash's reset), so a replay waits for as many before it sends this one.
    after_retries: int = 0
    # The Runtime API addresses known when it started (its environment's, a SnapStart snapshot's): new on every run.
    runtime_apis: frozenset[str] = frozenset()
    metadata_tokens: frozenset[str] = frozenset()  # likewise, the environments' AWS_LAMBDA_METADATA_TOKEN
    # SnapStart: what the session knows of the values its snapshot's Init made (None: not SnapStart)
    snapshot: Optional[SnapshotValues] = None


def event_text(event: bytes) -> str:
    """The event as its caller sent it: a replay sends the function these bytes again, a pretty-printed event's line
    breaks too (one line in the file, escaped: a runtime that reads the body as bytes gets what it got, and a replay
    checks Lambda's payload limit on what it sends). Re-serialised, `1e400` would become `Infinity`, `0.1e1` `1.0`, a
    repeated key would lose a value, and a compact event would grow by a space at every separator. Bytes that are not
    UTF-8 (which TOML cannot hold) go as the JSON text they decode to."""
    try:
        sent = event.decode("utf-8")
    except UnicodeDecodeError:
        text = json_text(event)
        return toml_string(text if text is not None else event.decode("utf-8", "replace"))
    return toml_string(sent)


OVERLAPPED = ("# sent while other invokes still ran, in other environments, that a replay has finished by then: it "
              "may meet\n# other environments, so its cold start and the fleet's counts are not compared")

# Which invokes of a burst start cold depends on timing (whether an environment had finished its previous invoke
# when they came): a replay, which fires them together, may find the warm one at another position. How many is stable.
PER_INVOKE_COLD = ("# which of them starts cold depends on timing: each invoke's cold start is not compared, the "
                   "step's counts are")
NO_COLD = "# which of them starts cold depends on timing: each invoke's cold start is not compared"
# Managed Instances: invokes that ran together in one environment's workers.
SHARED_WORKERS = ("# several ran together in one environment's workers, sharing its /tmp: which of them went first is "
                  "timing,\n# so their responses are not compared (their success is)")
# Managed Instances: why every invoke names its environment and its worker.
MANAGED_ROUTES = ("on Managed Instances whether an environment's workers take it now is timing, and each worker "
                  "has its own globals")
MANAGED_COUNTS = ("# on Managed Instances no REPORT counts a cold start, while the fleet counts an environment started for"
                  " an\n# invoke: cold_starts and warm_hits are not compared")
# Why an invoke (each of a parallel step's) names its environment where several were alive.
SEVERAL = "a replay's fleet would pick the longest idle environment, which timing decides"
# After an overlapped step, a replay may have started fewer (or more) environments than the session had: how many are
# alive, and so how many of a burst start cold, is no longer the session's to say.
AFTER_OVERLAP = ("# an earlier step ran beside invokes that a replay has finished by then: the environments alive "
                 "here may differ,\n# so the fleet's counts are not compared")


def invoke_lines(step: RecordedInvoke, telemetry: TelemetryLedger, *, overlapped: bool = False,
                 after_overlap: bool = False, several: bool = False, managed: bool = False) -> list[str]:
    """The step's `invoke = ...`, the notes on what is not compared, and its `expect = { ... }`. An overlapped one
    names the environment that took it (`env = N`): the fleet would route it to the longest idle of those a replay
    has finished with, and which one it meets decides what state (globals, /tmp) its function sees. So does one
    `after_overlap` (an earlier step ran beside invokes that a replay finishes first): the replay's environments were
    last used in another order, so the longest idle of them may be another than the session's; and one sent while
    `several` environments were alive: the longest idle of them is the one whose last invoke ended first, which
    depends on timing. On Managed Instances (`managed`) it names its environment and its worker (`worker = N`)
    always."""
    notes, expect = invoke_expect(step, telemetry, cold=not overlapped)
    routed: list[str] = []
    if managed and (step.env or step.worker):
        where = f"env #{step.env}'s worker #{step.worker}" if step.env and step.worker else \
            f"env #{step.env}" if step.env else f"worker #{step.worker}"
        routed = [f"# given to {where} as in the session: {MANAGED_ROUTES}",
                  *([f"env = {step.env}"] if step.env else []), *([f"worker = {step.worker}"] if step.worker else [])]
    elif overlapped and step.env:
        routed = [f"# routed to env #{step.env} as in the session: the others were busy then", f"env = {step.env}"]
    elif after_overlap and step.env:
        routed = [f"# routed to env #{step.env} as in the session: after an earlier step that ran beside others, a "
                  "replay's longest idle environment may be another", f"env = {step.env}"]
    elif several and step.env:
        routed = [f"# routed to env #{step.env} as in the session: {SEVERAL}", f"env = {step.env}"]
    lines = [*([OVERLAPPED] if overlapped else []), f"invoke = {event_text(step.event)}",
             *([f"invocation_type = {toml_string(EVENT)}"] if step.asynchronous else []),
             *([f"retries = {step.retries}  # the fleet ran it again after its function error, as Lambda does"]
               if step.retries else []),
             *([f"client_context = {toml_string(step.client_context)}"] if step.client_context is not None else []),
             *([f"qualifier = {toml_string(step.qualifier)}"] if step.qualifier else []),
             *([f"trace_header = {toml_string(step.trace_header)}"] if step.trace_header else []),
             *([f"streamed = {_streamed(step)}"] if step.streamed else []), *routed, *notes]
    if expect:
        lines.append("expect = { " + ", ".join(expect) + " }")
    return lines


def invoke_expect(step: RecordedInvoke, telemetry: TelemetryLedger, *,
                  cold: bool = True, beside: bool = False) -> tuple[list[str], list[str]]:
    """What a replay can compare of this invoke: (comments on what it cannot, `key = value` items); `cold`: whether
    its cold start can be (not when a replay may route it otherwise); `beside`: it ran at once with others of its
    step in one environment's workers (Managed Instances), which of them wrote the shared /tmp first is timing."""
    expect: list[str] = []
    notes: list[str] = []
    result = step.result
    if step.cut_off:
        notes.append(f"# {step.cut_off} while the function ran this invoke: its result is not compared")
    elif result is not None:
        if result.function_error:
            error_type = result.error_type
            if isinstance(error_type, str) and error_type and writable(error_type):
                expect.append(f"error_type = {toml_string(error_type)}")
            elif error_type:
                # Only a string TOML can hold is compared: the core gives a string, but a lone surrogate
                # ("\\ud800" in the runtime's JSON) is in no UTF-8 file.
                shown = json.dumps(error_type) if isinstance(error_type, str) else type(error_type).__name__
                notes.append(f"# error_type not compared: the runtime reported {shown}, which TOML cannot hold")
        else:
            response = json_text(result.payload) if result.streamed < 0 else None
            if result.streamed >= 0:
                notes.append(f"# response not compared: it was streamed to its caller ({result.streamed:,} bytes), "
                             "which a recording does not keep")
            elif response is None:
                notes.append("# response not compared: it is not JSON")
            elif step.shared_with:
                notes.append(f"# response not compared: it ran beside {step.shared_with} step's invoke in env "
                             f"#{step.env}'s workers (their /tmp and process shared), which a replay runs apart")
            elif beside:
                notes.append(f"# response not compared: it ran beside another of this step's invokes in env "
                             f"#{step.env}'s workers (their /tmp shared)")
            else:
                _response_expect(response, step, notes, expect)
            if not step.asynchronous and not any(item.startswith("response = ") for item in expect):
                expect.append("succeeded = true")  # what a replay can still compare of it
            if step.failed_after and writable(step.failed_after):
                expect.append(f"failed_after = {toml_string(step.failed_after)}")
            elif step.cut_after:
                notes.append(f"# {step.cut_after} while an extension still worked on this invoke after its response: "
                             "how its Invoke phase ended is not compared")
    else:
        notes.append("# no result was recorded for this invoke")
    if step.cold is not None and cold:
        expect.append(f"cold = {toml_value(step.cold)}")
    if not step.cut_off:
        expect += _telemetry_lines(telemetry, step.request_id)
    return notes, expect


def _response_expect(text: str, step: RecordedInvoke, notes: list[str], expect: list[str]) -> None:
    """`response = ...` without what a replay cannot get again: the request id, the Runtime API's address, the metadata
    token, the clock's readings. A response with none of them is written as it came."""
    if nesting_depth(text) > MAX_VALUE_DEPTH:  # a replay would refuse it, on every host
        notes.append(f"# response not compared: nested deeper than {MAX_VALUE_DEPTH} levels, more than a scenario "
                     "compares")
        return
    volatile: list[str] = []
    addressed: list[str] = []
    tokened: list[str] = []
    try:
        stable: Any = json.loads(text)
        hidden = hidden_by_snapshot(stable, step.snapshot)  # SnapStart: it quotes what the snapshot's Init made
        if hidden is not None:
            notes.append(hidden)
            return
        stable, volatile, addressed, tokened, timed = _stable_response(stable, step)
    except RecursionError:  # nested nearly as deep as Python's parser allows
        stable, timed = NOTHING, []
        volatile = volatile or ["response"]
    quoted = ((volatile, _IDS), (addressed, RUNTIME_API_WHY), (tokened, METADATA_TOKEN_WHY))
    causes = [(paths, what) for paths, what in (*quoted, (timed, _CLOCK)) if paths]
    if stable is NOTHING and len(causes) > 1:
        # Each note alone would say the whole response was that: name the parts of each.
        parts = [f"{', '.join(paths)} {_carry(paths) + ' ' if i == 0 else ''}{what}"
                 for i, (paths, what) in enumerate(causes)]
        notes.append(f"# response not compared: {', '.join(parts)}, new on every run")
        return
    for paths, what in quoted:
        if paths:
            notes.append(f"# {', '.join(paths)} {_carry(paths)} {what}, new on every run: the other keys are compared"
                         if stable is not NOTHING else f"# response not compared: it carries {what}, new on every run")
    if timed:
        notes.append(f"# {', '.join(timed)}: the clock's reading while the invoke ran (time left, a timestamp), new on "
                     "every run: not compared" if stable is not NOTHING else
                     "# response not compared: it is the clock's reading while the invoke ran, new on every run")
    if stable is not NOTHING:
        changed = volatile or addressed or tokened or timed
        expect.append(f"response = {toml_string(text if not changed else json_line(stable))}")


def _stable_response(value: Any, step: RecordedInvoke) -> tuple[Any, list[str], list[str], list[str], list[str]]:
    """`value` without what quotes the request id, the Runtime API's address, the metadata token, and what read the
    clock; and the paths each left out, in that order."""
    stable, volatile = stable_part(value, step.request_id)
    stable, addressed = address_free(stable, step.runtime_apis) if stable is not NOTHING else (NOTHING, [])
    stable, tokened = address_free(stable, step.metadata_tokens) if stable is not NOTHING else (NOTHING, [])
    stable, timed = clock_free(stable, step.clock) if stable is not NOTHING else (NOTHING, [])
    return stable, volatile, addressed, tokened, timed


def _carry(paths: Sequence[str]) -> str:
    return "carries" if len(paths) == 1 else "carry"


def parallel_lines(invokes: Sequence[RecordedInvoke], environments: Optional[int], telemetry: TelemetryLedger,
                   *, overlapped: bool = False, fleet_known: bool = True, several: bool = False,
                   managed: bool = False) -> list[str]:
    """Invokes in flight at once as one `parallel` step: the events in the order they were routed, what each
    returned (`expect.each`), and the fleet's counts (`environments` alive after them, when known; how many started
    cold, how many were warm) while `fleet_known`: no earlier step overlapped others. Which position met a warm
    environment depends on timing, so each one's cold start is not compared, unless `several` environments were
    alive: then each names the one that took it (`envs`; 0 for a throttled one, which a replay throttles at the same
    position), and its cold start is compared while the counts are. On Managed Instances (`managed`) invokes share an environment's
    workers, and no REPORT counts a cold start while the fleet counts an environment started for an invoke: the
    cold starts and warm hits are not compared (a bug hunt's replays contradicted their own REPORTs)."""
    colds = [step.cold for step in invokes if not step.throttled]
    counted = None not in colds and not overlapped and fleet_known
    # Each sent where it went in the session: which of them starts cold no longer depends on timing. A throttled one
    # went nowhere (0: routed as usual, and throttled again at the same position).
    pinned = (several or managed) and all(step.env or step.throttled for step in invokes)
    lines = [*([OVERLAPPED] if overlapped else []),
             f"# {len(invokes)} invokes in flight at once: a replay fires them together, routed in this order"]
    if not overlapped and not fleet_known:
        lines.append(AFTER_OVERLAP)
    if not overlapped and any(cold is not None for cold in colds):  # OVERLAPPED says it of the step
        if not pinned:
            lines.append(PER_INVOKE_COLD if counted else NO_COLD)
        elif not fleet_known:
            lines.append("# nor is each invoke's cold start")  # AFTER_OVERLAP, just above, says why
    lines.append("parallel = [")
    lines += [f"  {event_text(step.event)}," for step in invokes]
    lines.append("]")
    if any(step.asynchronous for step in invokes):
        types = ", ".join(toml_string(EVENT if step.asynchronous else REQUEST_RESPONSE) for step in invokes)
        lines.append(f"invocation_types = [{types}]")
    retries = sum(step.retries for step in invokes)
    if retries:
        lines.append(f"retries = {retries}  # the fleet ran its Event invokes again after their function errors")
    if any(step.client_context is not None for step in invokes):
        contexts = ", ".join(toml_string(step.client_context or "") for step in invokes)
        lines.append(f"client_contexts = [{contexts}]")
    if any(step.qualifier for step in invokes):
        lines.append(f"qualifiers = [{', '.join(toml_string(step.qualifier) for step in invokes)}]")
    if any(step.trace_header for step in invokes):
        lines.append(f"trace_headers = [{', '.join(toml_string(step.trace_header) for step in invokes)}]")
    if any(step.streamed for step in invokes):
        lines.append(f"streams = [{', '.join(_streamed(step) for step in invokes)}]")
    if pinned:
        why = MANAGED_ROUTES if managed else SEVERAL
        lines += [f"# each routed as in the session{' (0: throttled)' if any(s.throttled for s in invokes) else ''}: "
                  f"{why}", f"envs = [{', '.join(str(step.env or 0) for step in invokes)}]"]
    if managed and any(step.worker for step in invokes):
        lines.append(f"workers = [{', '.join(str(step.worker) for step in invokes)}]")
    # Managed Instances: those that ran at once in one environment's workers each read a /tmp the others wrote to.
    envs = [step.env for step in invokes if step.env and not step.throttled]
    together = {env for env in envs if envs.count(env) > 1} if managed else set()
    if together:
        lines.append(SHARED_WORKERS)
    tables = []
    for i, step in enumerate(invokes):
        notes, expect = invoke_expect(step, telemetry, cold=pinned and counted and not managed,
                                      beside=step.env in together)
        lines += [f"# parallel[{i}]: {note[2:]}" for note in notes]
        tables.append("{ " + ", ".join(expect) + " }" if expect else "{}")
    if any(table != "{}" for table in tables):
        lines += ["expect.each = [", *(f"  {table}," for table in tables), "]"]
    lines += snapshot_same(invokes, lambda value, step: _stable_response(value, step)[1:])
    if counted:
        if managed:
            lines.append(MANAGED_COUNTS)
        if environments is not None:
            lines.append(f"expect.environments = {environments}")
        if not managed:
            lines.append(f"expect.cold_starts = {colds.count(True)}")
            lines.append(f"expect.warm_hits = {colds.count(False)}")
        lines.append(f"expect.throttled = {sum(step.throttled for step in invokes)}")
    return lines


def _telemetry_lines(telemetry: TelemetryLedger, request_id: str) -> list[str]:
    """`telemetry = ...` when extensions received records for this invoke: the types that recur on every run."""
    tables = []
    for name in telemetry.extensions_for(request_id):
        if telemetry.dropped_by(name, request_id):
            # Once its buffer overflowed, which records an extension gets depends on how fast it reads: a replay may
            # lose this invoke's platform.start, its report, or all of them, here and while the backlog lasts.
            continue
        types = stable_types(telemetry.types_for(name, request_id))
        if types and writable(name):
            tables.append(toml_value({"extension": name, "types": types}))
    if not tables:
        return []
    return [f"telemetry = {tables[0]}" if len(tables) == 1 else f"telemetry = [{', '.join(tables)}]"]


def stable_part(value: Any, request_id: str) -> tuple[Any, list[str]]:
    """`value` without what quotes the request id (or the log stream's, the trace's), and the paths it left out."""
    # Its first group too: a handler that shortens the id (`aws_request_id[:8]`, a log prefix) quotes that much,
    # 32 random bits, which no other text of a response repeats by chance.
    quoted = request_id[:8] if len(request_id) >= 8 else request_id

    def quotes_an_id(part: Any) -> bool:
        # Only text can quote an id: the ids are uuids and the like, never a number, a boolean or null.
        return isinstance(part, str) and (quoted in part or RUN_IDS.search(part) is not None)

    return stable_parts(value, quotes_an_id)


def stable_types(types: Sequence[str]) -> list[str]:
    """The record types an `expect.telemetry` can be written with so that every replay matches it: without those
    whose number depends on timing, and a run of one type (lines of output) as one, since the expectation matches
    in order with others allowed between."""
    out: list[str] = []
    for kind in types:
        if kind not in UNSTABLE_TYPES and (not out or out[-1] != kind):
            out.append(kind)
    return out


def _streamed(step: RecordedInvoke) -> str:
    return streamed_text(step.streamed, step.hung_up_after, step.stopped_reading_after)
