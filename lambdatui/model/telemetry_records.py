"""What Lambda sends each Telemetry API and Logs API subscriber, translated from facts (lambda-spec §3.4-§3.7).

Pure: no I/O, no clock of its own, no trio. One `TelemetryRecords` per environment; feed it every fact the host
publishes, in order, with the host's monotonic time (`trio.current_time()`), and it answers what each
subscribed extension receives at that moment:

    records = TelemetryRecords(FunctionInfo.of(env.config, instance_id=log_stream_name),
                               wall_offset_s=time.time() - trio.current_time(),
                               json_logs=logs_json(function_env))  # host/telemetry_delivery.py
    for extension, envelopes in records.feed(fact, trio.current_time()):
        buffer_of(extension).extend(envelopes)    # in order; batch and deliver them (host/telemetry_delivery.py)

`feed(fact, at)` returns a sequence of `(extension name, [envelope, ...])`, one entry per subscriber with
something new, where an envelope is the event exactly as Lambda puts it in a batch (§3.4):
`{"time": "2022-10-12T00:00:15.064Z", "type": "platform.start", "record": {...}}`. Treat the returned lists and
dicts as read-only: several subscribers may share one envelope (serialise them, never mutate them).

Everything per subscriber is done here: its API (Telemetry or Logs: each gets its own record types, §3.5 and
§3.7), its `types` (platform, function, extension), its schema version (function/extension records as JSON
objects for the Telemetry API from 2022-12-13 when the function logs in JSON; Logs API `platform.runtimeDone`
only from 2021-03-18), and the Init replay: when an extension subscribes, the events this Init generated before
(INIT_START's event, log lines, earlier subscriptions) come first in its entry, then its own
`platform.telemetrySubscription` (`platform.logsSubscription`). Subscribers are the extensions of the current
environment generation: they come from `TelemetrySubscribed` facts (a later one replaces the earlier, without a
second replay) and go when the reset or shutdown that ends their processes is over, or a new Init begins.
Each subscriber's filter is its `SubscriberView` (telemetry_events.py); what each platform event's record holds
is telemetry_platform_records.py.

Times: an envelope's `time` is the fact's own `at` where it has one, else the `at` given to `feed` (else the
last time seen); monotonic seconds become UTC through `wall_offset_s` (epoch seconds minus monotonic seconds).
Span durations come from the core, which leaves the debugger's holds and inspections out of them as it does of
every duration.

Cost: `feed` runs on every fact, on the invoke's path. With no subscriber and no Init running (`idle`) it is one
dict lookup that finds nothing for all but the start of an Init or an invoke (about 4 µs for a warm invoke's ~23
facts); with one subscriber it builds only the records some subscriber's API takes (about 30 µs a warm invoke).
Its output never depends on what the delivery did, except through `TelemetryDropped` facts (`platform.logsDropped`).

Choices where the spec is silent or sources differ (§3.5-§3.7):
- `platform.initRuntimeDone` only once the runtime was launched (RAPID sends none for an Init that failed before);
- a handled function error (`/invocation/error`) is `status: "error"` with the header's sanitised type in
  `platform.runtimeDone` and `platform.report` (as RAPID's newer copy does), a timeout `errorType:
  "Sandbox.Timedout"`;
- `responseDuration` is 0 ms for a buffered response (the core hears of it once its whole body has arrived), and the
  time from the first byte to the last for a streamed one;
- `platform.logsDropped` goes to every subscriber taking platform events (as the AWS emulator broadcasts it);
- a Telemetry API subscription shows as `platform.telemetrySubscription` to Telemetry API subscribers, a Logs
  API one as `platform.logsSubscription` to Logs API subscribers;
- Logs API `platform.fault` for an invoke that failed with an error (crash, failed suppressed Init): the RAPID
  fault text `RequestId: <id> Error: <detail>\\n<errorType>\\n`.
"""

from __future__ import annotations

import math
import time
from typing import Any, Callable, Mapping, Optional, Sequence

from lambdatui.model import facts as f
from lambdatui.model import telemetry_platform_records as records
from lambdatui.model.go_json import go_json
from lambdatui.model.telemetry import TELEMETRY, Subscription
from lambdatui.model.telemetry_events import (
    EVERYONE,
    EXTENSION,
    FUNCTION,
    LOGS_2021,
    LOGS_ONLY,
    PLATFORM,
    TELEMETRY_ONLY,
    Envelope,
    Event,
    SubscriberView,
)
from lambdatui.model.telemetry_platform_records import FunctionInfo

# An Init that logs without end, before anyone subscribes, must not take the host's memory: past this many
# events the replay keeps the first ones only (Lambda's own buffer is bounded by maxItems, at most 10,000).
INIT_REPLAY_LIMIT = 10_000
# Trace headers kept for invokes not reported yet: far more than Managed Instances run at once in one environment.
TRACES_KEPT = 1024
RESTORE = "restore"  # PhaseStarted("init", RESTORE): a SnapStart restore, told with the restore* events

Delivery = tuple[str, list[Envelope]]


_NOTHING: tuple[Delivery, ...] = ()


class _Init:
    __slots__ = ("phase", "runtime_launched", "extensions", "replay")

    def __init__(self, phase: str) -> None:
        self.phase = phase  # "init", or "invoke" for a suppressed Init inside an invoke
        self.runtime_launched = False
        self.extensions: list[f.ExtensionReported] = []
        self.replay: list[Event] = []  # this Init's events, for extensions that subscribe later in it


class TelemetryRecords:
    """The Telemetry API and Logs API events of one environment, per subscriber (see the module's docstring)."""

    def __init__(self, function: FunctionInfo, *, wall_offset_s: float, json_logs: bool = False) -> None:
        self.function = function
        self.json_logs = json_logs
        self._offset = wall_offset_s
        self._subscribers: dict[str, SubscriberView] = {}
        self._init: Optional[_Init] = None
        self._now = 0.0
        self._invoke: tuple[str, str] = ("", "")  # the invoke running or about to: request id, trace header
        # Every started invoke's trace header until its platform.report, by request id: on Managed Instances
        # invokes overlap, and the latest start must not take the trace off the reports of those still running.
        self._traces: dict[str, str] = {}
        self._done: Optional[f.RuntimeDone] = None  # its platform.runtimeDone
        self._overhead: Optional[f.ExtensionOverhead] = None
        self._stamped = (-1.0, "")  # the last time formatted, and its text
        self._second = (-1, "")  # the last UTC second formatted, and its text
        # What matters now (`_changed`): the facts to look at, and who events are worth building for.
        self._handlers: dict[type, Callable[[TelemetryRecords, Any], Sequence[Delivery]]] = _IDLE
        self._audiences: frozenset[str] = frozenset()

    # ------------------------------------------------------------------ interface

    def feed(self, fact: object, at: Optional[float] = None) -> Sequence[Delivery]:
        """What each subscriber receives now that `fact` happened (at `at` on the host's monotonic clock)."""
        if at is not None:
            self._now = at
        handler = self._handlers.get(type(fact))
        return _NOTHING if handler is None else handler(self, fact)

    @property
    def subscribers(self) -> Mapping[str, Subscription]:
        """The extensions subscribed now, by name, in the order they subscribed."""
        return {name: view.subscription for name, view in self._subscribers.items()}

    @property
    def idle(self) -> bool:
        """No subscriber and no Init: `feed` looks at nothing but the start of an Init or an invoke."""
        return self._handlers is _IDLE

    # ------------------------------------------------------------------ routing

    def _changed(self) -> None:
        """An Init began or ended, or the subscribers changed."""
        if self._init is not None:
            self._handlers = _IN_INIT
            self._audiences = _EVERY_AUDIENCE  # whoever subscribes later in this Init has it all replayed
        elif self._subscribers:
            self._handlers = _LIVE
            self._audiences = frozenset().union(*(view.audiences for view in self._subscribers.values()))
        else:
            self._handlers = _IDLE
            self._audiences = frozenset()

    def _route(self, events: list[Event]) -> Sequence[Delivery]:
        if not events:
            return _NOTHING
        init = self._init
        if init is not None:
            room = INIT_REPLAY_LIMIT - len(init.replay)
            if room > 0:
                init.replay.extend(events[:room])
        out: list[Delivery] = []
        for view in self._subscribers.values():
            chosen = view.select(events)
            if chosen:
                out.append((view.name, chosen))
        return out

    def _on_subscribed(self, fact: f.TelemetrySubscribed) -> Sequence[Delivery]:
        sub = fact.subscription
        name = fact.extension
        view = SubscriberView(name, sub, self.json_logs)
        replay: list[Envelope] = []
        if name not in self._subscribers and self._init is not None:
            replay = view.select(self._init.replay)
        self._subscribers[name] = view
        self._changed()
        kind, audience = (("platform.telemetrySubscription", TELEMETRY_ONLY) if sub.api == TELEMETRY
                          else ("platform.logsSubscription", LOGS_ONLY))
        out = list(self._route([self._platform(kind, records.subscription(name, sub), fact.at, audience)]))
        if replay:
            for i, (who, envelopes) in enumerate(out):
                if who == name:
                    out[i] = (who, replay + envelopes)
                    break
            else:
                out.append((name, replay))
        return out

    # ------------------------------------------------------------------ envelopes

    def _stamp(self, mono: float) -> str:
        """ISO 8601 UTC with milliseconds, as RAPID writes `time` and span starts."""
        last, text = self._stamped
        if mono == last:
            return text
        second, milli = divmod(math.floor((mono + self._offset) * 1000), 1000)
        if second != self._second[0]:
            self._second = (second, time.strftime("%Y-%m-%dT%H:%M:%S.", time.gmtime(second)))
        text = f"{self._second[1]}{milli:03d}Z"
        self._stamped = (mono, text)
        return text

    def _platform(self, kind: str, record: Any, at: float, audience: str = TELEMETRY_ONLY) -> Event:
        return Event(PLATFORM, audience, {"time": self._stamp(at), "type": kind, "record": record})

    def _tracing(self, request_id: str) -> Optional[records.Record]:
        trace = self._traces.get(request_id)
        return records.tracing(trace) if trace else None

    def _span(self, span: f.Span) -> records.Record:
        return records.span(span, self._stamp(span.start))

    def _start(self, at: float) -> list[Event]:
        request_id = self._invoke[0]
        events = []
        if TELEMETRY_ONLY in self._audiences:
            record = records.start(request_id, self.function.function_version, self._tracing(request_id))
            events.append(self._platform("platform.start", record, at))
        if LOGS_ONLY in self._audiences:
            record = records.logs_start(request_id, self.function.function_version)
            events.append(self._platform("platform.start", record, at, LOGS_ONLY))
        return events

    # ------------------------------------------------------------------ facts

    def _on_phase_started(self, fact: f.PhaseStarted) -> Sequence[Delivery]:
        if fact.phase == "invoke":
            self._invoke = (fact.detail, fact.trace_id)
            if fact.trace_id:
                traces = self._traces
                if len(traces) >= TRACES_KEPT:  # invokes that never reported (their host went): forget the oldest
                    del traces[next(iter(traces))]
                traces[fact.detail] = fact.trace_id
            self._done = self._overhead = None
            # A suppressed Init follows its invoke's start: its platform.start comes when that Init ends.
            return self._route(self._start(fact.at)) if self._subscribers and self._init is None else _NOTHING
        if fact.phase != "init":
            return _NOTHING
        self._subscribers.clear()  # a new Init runs new processes: they subscribe anew
        phase = fact.detail or "init"
        self._init = _Init(phase)
        self._changed()
        if phase == RESTORE:
            return self._route([self._platform("platform.restoreStart", records.restore_start(self.function), fact.at)])
        return self._route([self._platform("platform.initStart", records.init_start(self.function, phase), fact.at)])

    def _on_phase_ended(self, fact: f.PhaseEnded) -> Sequence[Delivery]:
        if fact.phase in ("reset", "shutdown"):
            self._subscribers.clear()  # their processes are gone
            self._changed()
            return _NOTHING
        init = self._init
        if fact.phase != "init" or init is None:
            return _NOTHING
        self._init = None  # subscriptions are closed: nothing of what follows is replayed
        self._changed()
        if not self._subscribers:
            return _NOTHING
        at = fact.at
        telemetry = TELEMETRY_ONLY in self._audiences
        events: list[Event] = []
        if init.phase == RESTORE:
            return self._route(self._restore_ended(init, fact))
        if init.runtime_launched and telemetry:
            done = records.init_runtime_done(self.function, init.phase, fact)
            events.append(self._platform("platform.initRuntimeDone", done, at))
        for ext in init.extensions:
            events.append(self._platform("platform.extension", records.extension(ext), at, EVERYONE))
        if telemetry:
            report = records.init_report(self.function, init.phase, fact)
            events.append(self._platform("platform.initReport", report, at))
        if init.phase == "invoke" and self._invoke[0]:
            events += self._start(at)  # RAPID starts the invoke once its Init has returned, well or not
        return self._route(events)

    def _restore_ended(self, init: _Init, fact: f.PhaseEnded) -> list[Event]:
        events: list[Event] = []
        telemetry = TELEMETRY_ONLY in self._audiences
        if init.runtime_launched and telemetry:
            events.append(self._platform("platform.restoreRuntimeDone", records.restore_runtime_done(fact), fact.at))
        for ext in init.extensions:
            events.append(self._platform("platform.extension", records.extension(ext), fact.at, EVERYONE))
        if telemetry:
            events.append(self._platform("platform.restoreReport", records.restore_report(fact), fact.at))
        return events

    def _on_participant_changed(self, fact: f.ParticipantChanged) -> Sequence[Delivery]:
        init = self._init
        if init is not None and fact.participant == "runtime" and fact.state in ("Started", "Restoring"):
            init.runtime_launched = True
        return _NOTHING

    def _on_extension_reported(self, fact: f.ExtensionReported) -> Sequence[Delivery]:
        if self._init is not None:
            self._init.extensions.append(fact)
        return _NOTHING

    def _on_log_line(self, fact: f.LogLine) -> Sequence[Delivery]:
        source = fact.source
        if source == FUNCTION:
            category = FUNCTION
        elif source.startswith("extension:"):
            category = EXTENSION
        else:
            return _NOTHING  # the platform's lines are its events; lambdatui's own never leave it
        text = fact.text
        stamp = self._stamp(self._now)
        structured = None
        if self.json_logs and text[:1] == "{":
            try:
                value = go_json(text)
            except (ValueError, RecursionError):
                value = None
            if isinstance(value, dict):
                structured = {"time": stamp, "type": category, "record": value}
        return self._route([Event(category, EVERYONE, {"time": stamp, "type": category, "record": text}, structured)])

    def _on_log_lines(self, fact: f.LogLines) -> Sequence[Delivery]:
        """A read's lines, each as `_on_log_line` makes it, gathered per subscriber in order."""
        merged: dict[str, list[Envelope]] = {}
        for line in fact.lines:
            for name, envelopes in self._on_log_line(line):
                merged.setdefault(name, []).extend(envelopes)
        return list(merged.items()) if merged else _NOTHING

    def _on_runtime_done(self, fact: f.RuntimeDone) -> Sequence[Delivery]:
        self._done = fact
        audiences = self._audiences
        events = []
        if LOGS_ONLY in audiences:
            fault = records.fault(fact)
            if fault is not None:
                events.append(self._platform("platform.fault", fault, fact.at, LOGS_ONLY))
        if TELEMETRY_ONLY in audiences:
            spans = [self._span(span) for span in fact.spans]
            record = records.runtime_done(fact, spans, self._tracing(fact.request_id))
            events.append(self._platform("platform.runtimeDone", record, fact.at))
        if LOGS_2021 in audiences:
            events.append(self._platform("platform.runtimeDone", records.logs_runtime_done(fact), fact.at, LOGS_2021))
        return self._route(events)

    def _on_extension_overhead(self, fact: f.ExtensionOverhead) -> Sequence[Delivery]:
        self._overhead = fact
        return _NOTHING

    def _on_invoke_reported(self, fact: f.InvokeReported) -> Sequence[Delivery]:
        request_id = fact.request_id
        metrics = records.report_metrics(fact)
        # When the invoke ended: the next invoke's platform.start, stamped by its own fact, never comes before it.
        at = fact.at if fact.at is not None else self._now
        events = []
        if TELEMETRY_ONLY in self._audiences:
            status, error_type = records.report_status(fact, self._done)
            overhead = self._overhead
            spans = [self._span(overhead.span)] if overhead is not None and overhead.request_id == request_id else []
            record = records.invoke_outcome(request_id, status, error_type, metrics, spans, self._tracing(request_id))
            events.append(self._platform("platform.report", record, at))
        if LOGS_ONLY in self._audiences:
            events.append(self._platform("platform.end", records.logs_request(request_id), at, LOGS_ONLY))
            events.append(self._platform("platform.report", records.logs_report(request_id, metrics), at, LOGS_ONLY))
        self._done = self._overhead = None
        self._traces.pop(request_id, None)
        return self._route(events)

    def _on_dropped(self, fact: f.TelemetryDropped) -> Sequence[Delivery]:
        """Told to the subscriber whose records were dropped, in its API's form: its buffer, not the others'."""
        view = self._subscribers.get(fact.extension)
        if view is None or fact.gone:
            return _NOTHING
        chosen = view.select([
            self._platform("platform.logsDropped", records.telemetry_logs_dropped(fact), fact.at),
            self._platform("platform.logsDropped", records.logs_api_logs_dropped(fact), fact.at, LOGS_ONLY),
        ])
        return [(view.name, chosen)] if chosen else _NOTHING


_Handler = Callable[[TelemetryRecords, Any], Sequence[Delivery]]
# Which facts matter: with no subscriber and no Init, only the start of one (or of an invoke, whose platform.start
# a suppressed Init gives later); during Init also who launched and reported; otherwise what makes an event.
_IDLE: dict[type, _Handler] = {
    f.PhaseStarted: TelemetryRecords._on_phase_started,
    f.TelemetrySubscribed: TelemetryRecords._on_subscribed,
}
_LIVE: dict[type, _Handler] = {
    **_IDLE,
    f.PhaseEnded: TelemetryRecords._on_phase_ended,
    f.LogLine: TelemetryRecords._on_log_line,
    f.LogLines: TelemetryRecords._on_log_lines,
    f.RuntimeDone: TelemetryRecords._on_runtime_done,
    f.ExtensionOverhead: TelemetryRecords._on_extension_overhead,
    f.InvokeReported: TelemetryRecords._on_invoke_reported,
    f.TelemetryDropped: TelemetryRecords._on_dropped,
}
_IN_INIT: dict[type, _Handler] = {
    **_LIVE,
    f.ParticipantChanged: TelemetryRecords._on_participant_changed,
    f.ExtensionReported: TelemetryRecords._on_extension_reported,
}
_EVERY_AUDIENCE = frozenset((EVERYONE, TELEMETRY_ONLY, LOGS_ONLY, LOGS_2021))
