"""A pure reducer over facts: what the debugger remembers between snapshots (bounded, however long it runs)."""

from __future__ import annotations

import json
from collections import deque
from dataclasses import dataclass, field, replace
from typing import Optional

from lambdatui.model import facts as f
from lambdatui.model import debug_snapshot as ds
from lambdatui.model.api_traffic import ApiTraffic
from lambdatui.model.boundaries import EnvState
from lambdatui.model.phase_history import PhaseHistory
from lambdatui.model.telemetry import Subscription
from lambdatui.model.timeline import Timeline

MAX_LOG_LINES = 5000
MAX_MEMORY_POINTS = 50  # measurements kept for the runtime that lives now (one after Init and each invoke)
# Per extension: the events kept for its event list, and the JSON text they may hold between them (a batch can
# be 1 MB: a debugger that runs for hours must not keep them all).
MAX_RECEIVED_EVENTS = 500
MAX_RECEIVED_TEXT = 4 * 1024 * 1024
SHORT_ID = 8
MAX_LABELS = 64  # invokes whose name (a function URL's "GET /path") is kept, newest: enough for the ones shown


class DebugState:
    def __init__(self) -> None:
        self.timeline = Timeline()
        self.logs = f.KeptLines(MAX_LOG_LINES)
        self.globals: Optional[f.GlobalsReported] = None
        self.tmp: Optional[f.TmpChanged] = None
        self.last_result: Optional[f.InvocationResult] = None
        self.last_report: Optional[f.InvokeReported] = None
        self.last_stacks: Optional[f.StacksCaptured] = None
        # The last failed Init, until an Init succeeds or an invoke's result supersedes it (a suppressed Init that
        # fails is answered to its invoke, whose result then carries the same error).
        self.last_init_failure: Optional[f.InitFailed] = None
        # A tuple, made anew at each measurement (one per Init and invoke): each bar's past state keeps a reference.
        self.memory: tuple[f.MemoryMeasured, ...] = ()
        self.extensions = ExtensionActivities()
        self.stream: Optional[ds.StreamView] = None  # the latest streamed response
        self.last_result_label = ""
        self._labels: dict[str, str] = {}  # request id -> the invoke's name besides its id, for the newest invokes
        self._stream_answered = False  # the stream's invoke has its result: the stream is over, whatever ended it
        self.history = PhaseHistory()  # the state as of each bar's end, to travel back to
        self.api_traffic = ApiTraffic()

    def apply(self, fact: f.Fact, at: Optional[float] = None) -> None:
        """`at` is the clock reading when the fact happened, for facts that carry no time of their own."""
        if type(fact) is f.ApiExchanged:  # several an invoke, and only the traffic view wants them
            self.api_traffic.apply(fact)  # type: ignore[arg-type]
            return
        self.timeline.apply(fact, at)
        self.extensions.apply(fact, at)
        if type(fact) is f.LogLines or type(fact) is f.LogLine:  # a read's lines are made when a snapshot shows them
            self.logs.add(fact)  # type: ignore[arg-type]
        elif isinstance(fact, f.GlobalsReported):
            self.globals = fact
        elif isinstance(fact, f.TmpChanged):
            self.tmp = fact
        elif isinstance(fact, f.InvocationCompleted):
            self.last_result = fact.result
            self.last_result_label = self._labels.get(fact.result.request_id, "")
            self._answered(fact.result.request_id)
            self.last_init_failure = None
        elif isinstance(fact, (f.ResponseStreamStarted, f.ResponseStreamed, f.ResponseStreamEnded,
                               f.ResponseStreamCallerLeft, f.ResponseStreamCallerStalled)):
            self._streamed(fact)
        elif isinstance(fact, f.PhaseStarted) and fact.phase == "invoke" and fact.label:
            self._labels[fact.detail] = fact.label
            while len(self._labels) > MAX_LABELS:
                del self._labels[next(iter(self._labels))]
        elif isinstance(fact, f.InitFailed):
            self.last_init_failure = fact
        elif isinstance(fact, f.PhaseEnded) and fact.phase == "init" and fact.status == "success":
            self.last_init_failure = None
        elif isinstance(fact, f.InvokeReported):
            self.last_report = fact
        elif isinstance(fact, f.StacksCaptured):
            self.last_stacks = fact
        elif isinstance(fact, f.MemoryMeasured):
            self.memory = (*self.memory[1 - MAX_MEMORY_POINTS:], fact)
        elif isinstance(fact, f.PhaseStarted) and fact.phase == "init":
            self.memory = ()  # a new runtime: its memory builds up from scratch
        self.history.apply(fact, self)

    def _answered(self, request_id: str) -> None:
        """An invoke's result came: the latest stream is that result's, an earlier invoke's (let go), or still
        arriving (kept: a Managed Instance runs several invokes at once)."""
        stream = self.stream
        if stream is None:
            return
        if stream.request_id == request_id:
            self._stream_answered = True
        elif stream.ended or self._stream_answered:
            self.stream = None

    def _streamed(self, fact: f.ResponseStreamStarted | f.ResponseStreamed | f.ResponseStreamEnded
                  | f.ResponseStreamCallerLeft | f.ResponseStreamCallerStalled) -> None:
        """A streamed response began, came further or ended: the result panel shows it as it arrives."""
        if isinstance(fact, f.ResponseStreamStarted):
            self.stream = ds.StreamView(fact.request_id, fact.content_type, fact.to_caller, fact.first_byte_ms,
                                        label=self._labels.get(fact.request_id, ""))
            self._stream_answered = False
            return
        stream = self.stream
        if stream is None or stream.request_id != fact.request_id:
            return  # a stream whose start this environment's view never saw
        if isinstance(fact, f.ResponseStreamed):
            self.stream = replace(stream, size=max(stream.size, fact.size), chunks=max(stream.chunks, fact.chunks),
                                  elapsed_ms=max(stream.elapsed_ms, fact.elapsed_ms))
        elif isinstance(fact, f.ResponseStreamCallerLeft):
            self.stream = replace(stream, caller_left_after=fact.taken)
        elif isinstance(fact, f.ResponseStreamCallerStalled):
            self.stream = replace(stream, caller_stalled_after=fact.taken)
        else:
            self.stream = replace(stream, size=fact.size, ended=True, error_type=fact.error_type)


# ---------------------------------------------------------------------- what each extension was sent


@dataclass
class _Extension:
    """One extension's activity while it is folded; frozen into a `ds.ExtensionActivity` for readers."""

    name: str
    subscription: Optional[Subscription] = None
    batches: int = 0
    records: int = 0
    bytes: int = 0
    failed: int = 0
    retries: int = 0
    dropped_records: int = 0
    dropped_bytes: int = 0
    last_delivery_at: Optional[float] = None
    events: deque[ds.ReceivedEvent] = field(default_factory=deque)
    text: int = 0  # characters of JSON the kept events hold
    seq: int = 0
    forgotten: int = 0

    def add(self, event: ds.ReceivedEvent) -> None:
        self.events.append(event)
        self.text += len(event.body)
        while len(self.events) > MAX_RECEIVED_EVENTS or (self.text > MAX_RECEIVED_TEXT and len(self.events) > 1):
            self.text -= len(self.events.popleft().body)
            self.forgotten += 1

    def frozen(self) -> ds.ExtensionActivity:
        return ds.ExtensionActivity(
            self.name, self.subscription, self.batches, self.records, self.bytes, self.failed, self.retries,
            self.dropped_records, self.dropped_bytes, self.last_delivery_at, tuple(self.events), self.forgotten)


class ExtensionActivities:
    """Folds, per extension, its Telemetry/Logs API subscription, the deliveries to its listener, and every event
    it was sent (INVOKE and SHUTDOWN from the Extensions API, telemetry batches), each marked with what the
    environment was doing when it arrived. A pure reducer, like `Timeline`: the host feeds it facts in order."""

    def __init__(self) -> None:
        self._by_name: dict[str, _Extension] = {}
        self._cache: Optional[tuple[ds.ExtensionActivity, ...]] = None
        self._now = 0.0
        self._state: Optional[EnvState] = None
        self._request_id = ""
        self._since = 0.0  # when the environment started doing what it does now

    def views(self) -> tuple[ds.ExtensionActivity, ...]:
        """Every extension seen, in the order first seen."""
        if self._cache is None:
            self._cache = tuple(x.frozen() for x in self._by_name.values())
        return self._cache

    def apply(self, fact: f.Fact, at: Optional[float] = None) -> None:
        when = getattr(fact, "at", None) or at or self._now
        self._now = max(self._now, when)
        kind = type(fact)
        if kind is f.StateChanged:
            if fact.state is not self._state:  # type: ignore[union-attr]
                self._state = fact.state  # type: ignore[union-attr]
                self._since = when
        elif kind is f.PhaseStarted and fact.phase == "invoke":  # type: ignore[union-attr]
            self._request_id = fact.detail  # type: ignore[union-attr]
        elif kind is f.TelemetrySubscribed:
            ext = self._extension(fact.extension)  # type: ignore[union-attr]
            ext.subscription = fact.subscription  # type: ignore[union-attr]
        elif kind is f.ExtensionEventDelivered:
            self._event_delivered(fact, when)  # type: ignore[arg-type]
        elif kind is f.TelemetryDelivered:
            self._batch(fact, when)  # type: ignore[arg-type]
        elif kind is f.TelemetryDropped:
            ext = self._extension(fact.extension)  # type: ignore[union-attr]
            ext.dropped_records += fact.records  # type: ignore[union-attr]
            ext.dropped_bytes += fact.bytes  # type: ignore[union-attr]
            ext.add(self._received(ext, ds.DROPPED, when, records=fact.records, bytes=fact.bytes))  # type: ignore[union-attr]

    def received_counts(self) -> dict[str, int]:
        """Per extension seen, the seq of the last event it was sent (0: none yet)."""
        return {name: ext.seq for name, ext in self._by_name.items()}

    def during(self) -> str:
        """What the environment is doing, as an event list says when something arrived."""
        state = self._state
        if state is EnvState.RUNNING:
            return f"invoke {self._request_id[:SHORT_ID]}".rstrip()
        if state is None:
            return "cold"
        return {EnvState.SHUTTING_DOWN: "shutdown", EnvState.RESETTING: "reset"}.get(state, state.value.lower())

    def _extension(self, name: str) -> _Extension:
        self._cache = None
        ext = self._by_name.get(name)
        if ext is None:
            ext = self._by_name[name] = _Extension(name)
        return ext

    def _received(self, ext: _Extension, kind: str, at: float, **fields: object) -> ds.ReceivedEvent:
        ext.seq += 1
        return ds.ReceivedEvent(ext.seq, kind, at, self.during(), max(at - self._since, 0.0) * 1000,
                                **fields)  # type: ignore[arg-type]

    def _event_delivered(self, fact: f.ExtensionEventDelivered, at: float) -> None:
        ext = self._extension(fact.extension)
        body = fact.event.decode("utf-8", "replace")
        try:
            event = json.loads(body)
        except ValueError:
            event = {}
        if not isinstance(event, dict):
            event = {}
        kind = str(event.get("eventType") or "?")
        request_id = event.get("requestId") if isinstance(event.get("requestId"), str) else None
        reason = event.get("shutdownReason") if isinstance(event.get("shutdownReason"), str) else None
        ext.add(self._received(ext, kind, at, body=body, request_id=request_id, reason=reason))

    def _batch(self, fact: f.TelemetryDelivered, at: float) -> None:
        ext = self._extension(fact.extension)
        if fact.attempt > 1:
            ext.retries += 1
        if fact.error is not None:
            ext.failed += 1
        else:
            ext.batches += 1
            ext.records += fact.records
            ext.bytes += fact.bytes
            ext.last_delivery_at = at
        ext.add(self._received(ext, ds.BATCH, at, body=fact.batch, records=fact.records, bytes=fact.bytes,
                               types=tuple(fact.types), error=fact.error, attempt=fact.attempt))
