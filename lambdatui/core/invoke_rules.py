"""Invoke: queue, deliver (INVOKE to extensions, the event to the runtime), done when everyone is parked again (lambda-spec §4.4)."""

from __future__ import annotations

import json
from collections import deque
from typing import TYPE_CHECKING, Optional

from lambdatui.core import platform_lines as lines
from lambdatui.core.common import (
    INVOKE_TIMER,
    JSON,
    error_body,
    json_bytes,
)
from lambdatui.core.effects import (
    RUNTIME,
    AnswerEvent,
    CompleteInvocation,
    EventRefusal,
    Reply,
)
from lambdatui.core.extension_machine import ExtensionState
from lambdatui.core.inputs import (
    DrainRequested,
    Invocation,
    InvokeRequested,
    Token,
)
from lambdatui.core.runtime_machine import RuntimeState
from lambdatui.core.slots import InvokeRun
from lambdatui.model import error_types as et
from lambdatui.model import facts as f
from lambdatui.model.boundaries import Boundary, EnvState, ShutdownReason

if TYPE_CHECKING:
    from lambdatui.core.environment import Environment

# Lambda keeps Event invokes queued for up to 6 hours and never refuses one for concurrency (lambda-spec
# §11.1); one local process cannot hold that much, and an unbounded queue took the host from 45 MB to 1 GB
# under 1,000 events of 1 MB. Far above what a test suite queues on purpose (a burst of a few hundred
# events ahead of a slow handler), low enough to keep the host's memory in check: 1,000 events of the
# largest size (1 MB) would be 1 GB, so the bytes bound comes first for large events.
MAX_QUEUED_EVENTS = 1000
MAX_QUEUED_EVENT_BYTES = 256 * 1024 * 1024
THROTTLED = "TooManyRequestsException"
SERVICE_ERROR = "ServiceException"


SHUTTING_DOWN_REFUSAL = EventRefusal(500, SERVICE_ERROR, "lambdatui is shutting down: the event was not queued.")
STOPPING_REFUSAL = EventRefusal(500, SERVICE_ERROR, "lambdatui is stopping: it takes no new invokes while the "
                                                    "Event invokes it accepted run.")


def utf8_on_the_wire(text: str) -> str:
    """A header value that is text (a client context, a Cognito identity) spelt as its UTF-8 bytes, each one a
    latin-1 character: the head is sent in latin-1, so the runtime gets the bytes the caller encoded."""
    return text.encode("utf-8", "surrogatepass").decode("latin-1")


def queue_full_refusal(count: int, queued_bytes: int, size: int) -> Optional[EventRefusal]:
    """Why an Event invoke of `size` bytes cannot join `count` waiting ones of `queued_bytes`, or None: the bound
    of a queue of Event invokes (an environment's, or the fleet's while no environment is free)."""
    if count >= MAX_QUEUED_EVENTS or queued_bytes + size > MAX_QUEUED_EVENT_BYTES:
        return EventRefusal(
            429, THROTTLED,
            f"Rate Exceeded. lambdatui's queue of Event invokes is full: {count} events, {queued_bytes} bytes "
            f"wait (at most {MAX_QUEUED_EVENTS} events, {MAX_QUEUED_EVENT_BYTES} bytes).",
            "CallerRateLimitExceeded")
    return None


def still_finishing(env: "Environment") -> list[str]:
    """Who has yet to ask for the next event after the invoke was answered, as the debugger names them."""
    waited = ["the runtime"] if env.runtime.alive and env.runtime.state is not RuntimeState.READY else []
    return waited + [f"extension {slot.name}" for slot in env.extensions.values()
                     if slot.registered and slot.subscribed("INVOKE") and slot.state is not ExtensionState.READY]


class InvokeRules:
    """Part of `Environment`: it runs on the environment's state (see core/environment.py)."""

    def event_refusal(self, size: int) -> Optional[EventRefusal]:
        """Why an Event invoke of `size` bytes would not be queued now, or None (InvokeRequested applies it)."""
        if self._ending_for_good():
            return SHUTTING_DOWN_REFUSAL
        count = queued_bytes = 0
        for _, inv in self.queue:  # at most MAX_QUEUED_EVENTS of them, and only for Event invokes
            if inv.asynchronous:
                count += 1
                queued_bytes += len(inv.payload)
        return queue_full_refusal(count, queued_bytes, size)

    def _ending_for_good(self) -> bool:
        """It takes no invoke any more: shut down, shutting down for good, draining its Event invokes, or to spin
        down once the invoke it finishes is done (lambdatui is ending; an invoke queued behind it would wait for a
        runtime that may never come back)."""
        return (self.draining or self.spindown_after_invoke or self.state is EnvState.SHUT_DOWN
                or (self.shutdown is not None and self.shutdown.final))

    def events_pending(self) -> bool:
        """An Event invoke is queued or running: a draining `serve` waits for it."""
        run, offered = self.current, self.offered  # type: ignore[attr-defined]
        return ((run is not None and run.invocation.asynchronous) or any(inv.asynchronous for _, inv in self.queue)
                or (offered is not None and offered[1].asynchronous))

    def _event_not_run(self, inv: Invocation, what: str) -> None:
        """An Event invoke was accepted (202) and lambdatui ends without running it: said by request id, never silent."""
        text = f"Event invoke {inv.request_id} {what}"
        self._line(text, f.LAMBDATUI, inv.request_id)
        self._emit(f.EventNotRun(inv.request_id, text, inv.payload))

    def _refused_result(self, inv: Invocation, reason: str) -> f.InvocationResult:
        return f.InvocationResult(inv.request_id, error_body(et.SANDBOX_FAILURE, reason), JSON, True, et.SANDBOX_FAILURE)

    def _on_InvokeRequested(self, event: InvokeRequested) -> None:
        inv = event.invocation
        token = event.token
        if inv.asynchronous:
            # Its caller hears at once whether it was queued; nobody waits for its completion.
            refusal = self.event_refusal(len(inv.payload))
            if token is not None:
                self._do(AnswerEvent(token, refusal))
            if refusal is not None:
                return
            token = None
        if self._ending_for_good():
            shut_down = self.state is EnvState.SHUT_DOWN or (self.shutdown is not None and self.shutdown.final)
            reason = ("The execution environment has shut down." if shut_down
                      else "The execution environment is shutting down.")
            self._emit(f.InvocationRefused(inv.request_id, reason, inv.payload))
            self._do(CompleteInvocation(token, self._refused_result(inv, reason)))
            return
        self.queue.append((token, inv))
        self._emit(f.InvocationQueued(inv.request_id, len(self.queue), inv.payload, inv.asynchronous,
                                      inv.client_context, inv.qualifier, inv.streamed, inv.retry))
        self._try_start_next()

    def _on_DrainRequested(self, event: DrainRequested) -> None:
        if self.draining or self.state is EnvState.SHUT_DOWN:
            return
        self._take_offer()  # type: ignore[attr-defined]  # it was accepted: an Event runs, a caller hears
        self.draining = True
        self._answer_queued_callers()

    def _answer_queued_callers(self) -> None:
        """The environment takes no invoke any more: the synchronous ones queued are answered now (refused), not
        after the Event invokes ahead of them, or the end of the invoke it finishes; the Event invokes stay."""
        kept: deque[tuple[Optional[Token], Invocation]] = deque()
        for token, inv in self.queue:
            if inv.asynchronous:
                kept.append((token, inv))
            else:
                reason = "The execution environment is shutting down."
                self._do(CompleteInvocation(token, self._refused_result(inv, reason)))
        self.queue = kept

    def _try_start_next(self) -> None:
        if self.current is not None or self.hold is not None or not self.queue or self.shutdown is not None:
            return
        if self.expecting_exit:
            return  # an injected crash is on its way: the invoke runs after it has played out
        if self.state is EnvState.FROZEN:
            token, inv = self.queue.popleft()
            self.current = InvokeRun(inv, token, self._now, self.held_total)
            self._reach(Boundary.INVOKE_START, inv.request_id)
        elif self.state is EnvState.COLD and self.init is None:
            if self.renew_sandbox:
                self._renew()
            if self.fresh:
                self._begin_init("init")  # the invoke waits in the queue for an on-demand Init
                return
            token, inv = self.queue.popleft()
            self.current = InvokeRun(inv, token, self._now, self.held_total, ran_init=True)
            self._start_timer(INVOKE_TIMER, self.config.timeout_ms / 1000)
            self._emit(f.PhaseStarted("invoke", inv.request_id, self._now.mono, inv.trace_id, inv.label))
            self._begin_init("invoke")

    def _deliver(self) -> None:
        run = self.current
        assert run is not None
        inv = run.invocation
        self._set_state(EnvState.RUNNING)
        self._thaw()
        if INVOKE_TIMER not in self.timers:  # a suppressed Init already started the clock
            run.started = self._now
            run.held_before = self.held_total
            self._open_invoke_phase(run)
            self._start_timer(INVOKE_TIMER, self.config.timeout_ms / 1000)
        left = self._timer_left(INVOKE_TIMER) or 0.0
        run.deadline_wall_ms = self._now.wall_ms + round(left * 1000)
        run.delivered = True
        run.delivered_at = self._mark()
        receivers = [slot for slot in self.extensions.values()
                     if slot.registered and slot.subscribed("INVOKE") and (slot.alive or not slot.external)]
        if receivers:  # most functions have no extension: no event to encode
            invoke_event = json_bytes({
                "eventType": "INVOKE",
                "deadlineMs": run.deadline_wall_ms,
                "requestId": inv.request_id,
                "invokedFunctionArn": self.config.invoked_arn(inv.qualifier),
                "tracing": {"type": "X-Amzn-Trace-Id", "value": inv.trace_id},
            })
            # RAPID releases extensions first, then the runtime (lambda-spec §4.4).
            for slot in receivers:
                self._send_to_extension(slot, invoke_event)
        rt = self.runtime
        if rt.parked is not None:
            token, rt.parked = rt.parked, None
            rt.state = RuntimeState.RUNNING
            self._send_event_to_runtime(token, run)
            self._participant_changed(RUNTIME, rt.state, False)
        self._start_after_delivery()
        if self.timeout_on_delivery:
            self.timeout_on_delivery = False
            self._force_timeout()

    def _send_event_to_runtime(self, token: Token, run: InvokeRun) -> None:
        inv = run.invocation
        headers = [
            ("Lambda-Runtime-Aws-Request-Id", inv.request_id),
            ("Lambda-Runtime-Deadline-Ms", str(run.deadline_wall_ms)),
            ("Lambda-Runtime-Invoked-Function-Arn", self.config.invoked_arn(inv.qualifier)),
            ("Content-Type", inv.content_type),
        ]
        if inv.trace_id:
            headers.append(("Lambda-Runtime-Trace-Id", inv.trace_id))
        # JSON text: on the wire as its UTF-8 bytes, as Lambda sends it (the head goes out in latin-1, one byte a
        # character, so the text is spelt as those bytes), whatever its characters: awslambdaric decodes it as UTF-8.
        # "Lambda passes the ClientContext object to your function for synchronous invocations only" (Invoke's API
        # reference): an Event invoke's context.client_context is None, whichever door it came through.
        if inv.client_context is not None and not inv.asynchronous:
            headers.append(("Lambda-Runtime-Client-Context", utf8_on_the_wire(inv.client_context)))
        if inv.cognito_identity is not None:
            headers.append(("Lambda-Runtime-Cognito-Identity", utf8_on_the_wire(inv.cognito_identity)))
        if self.raise_next is not None:
            exception, message = self.raise_next
            self.raise_next = None
            headers.append(("Lambdatui-Raise", json.dumps({"type": exception, "message": message})))
        self._do(Reply(token, 200, inv.payload, tuple(headers)))

    def _check_invoke_done(self) -> None:
        run = self.current
        if self.hold is not None or self.state is not EnvState.RUNNING or run is None or run.result is None:
            return
        if self.runtime.state is not RuntimeState.READY:
            return
        for slot in self.extensions.values():
            if slot.registered and slot.subscribed("INVOKE") and slot.state is not ExtensionState.READY:
                return
        request_id = run.invocation.request_id
        if run.runtime_done_at is not None and any(slot.registered for slot in self.extensions.values()):
            span = f.Span("extensionOverhead", run.runtime_done_at[0].mono, self._between_ms(run.runtime_done_at,
                                                                                               self._mark()))
            self._emit(f.ExtensionOverhead(request_id, span))
        self._finish_invoke("success", None)
        self._reach(Boundary.INVOKE_DONE, request_id)

    def _complete(self, run: InvokeRun) -> None:
        if run.completed or run.result is None:
            return
        run.completed = True
        self._do(CompleteInvocation(run.token, run.result, with_log_tail=run.invocation.wants_log_tail))

    def _runtime_done(self, run: InvokeRun, status: str, error_type: Optional[str], detail: str = "",
                      asked_next: bool = False) -> None:
        """platform.runtimeDone, once per invoke: the runtime asked for its next event, or the invoke ends without."""
        if run.runtime_done_at is not None:
            return
        now = run.runtime_done_at = self._mark()
        delivered, responded = run.delivered_at, run.responded_at
        spans: list[f.Span] = []
        if delivered is not None and responded is not None and run.called_response:
            # The core hears of a plain response once its whole body is in: the duration of sending it is not seen
            # here. A streamed one began sending at its start (lambda-spec §3.5: latency to the first byte).
            began = run.stream_started_at or responded
            spans.append(f.Span("responseLatency", delivered[0].mono, self._between_ms(delivered, began)))
            spans.append(f.Span("responseDuration", began[0].mono, self._between_ms(began, responded)))
        if responded is not None and asked_next:
            spans.append(f.Span("runtimeOverhead", responded[0].mono, self._between_ms(responded, now)))
        self._emit(f.RuntimeDone(
            run.invocation.request_id, status, error_type, self._between_ms(delivered, now) if delivered else 0.0,
            run.produced_bytes if run.called_response else 0, tuple(spans), detail, self._now.mono,
        ))

    def _finish_invoke(self, status: str, error_type: Optional[str]) -> None:
        run, self.current = self.current, None
        assert run is not None and run.result is not None
        self._runtime_done(run, status, error_type or (et.SANDBOX_TIMEDOUT if status == "timeout" else None))
        self._cancel_timer(INVOKE_TIMER)
        self._drop_delayed_faults(run)
        request_id = run.invocation.request_id
        duration = self._elapsed_ms(run.started, run.held_before)
        init_ms = run.init_duration_ms
        # Since August 2025 Lambda bills Init too: the cold invoke's billed time covers both.
        billed = lines.billed_ms(duration + (init_ms or 0.0))
        self._line(lines.end(request_id), request_id=request_id)
        # Out of memory, the environment used all of it (the host fills in the figure otherwise).
        used = self.config.memory_mb if error_type == et.RUNTIME_OUT_OF_MEMORY else None
        restore_ms, billed_restore = run.restore if run.restore is not None else (None, None)
        self._emit(f.InvokeReported(request_id, duration, billed, self.config.memory_mb, used, init_ms, status,
                                    error_type, cold=init_ms is not None or run.ran_init or run.restore is not None,
                                    restore_duration_ms=restore_ms, billed_restore_duration_ms=billed_restore,
                                    at=self._now.mono))
        self._emit(f.PhaseEnded("invoke", status, duration, error_type, at=self._now.mono, request_id=request_id))
        self.invocations_done += 1
        self._complete(run)

    def _timeout_body(self, request_id: str) -> bytes:
        seconds = self.config.timeout_ms / 1000
        return error_body(et.SANDBOX_TIMEDOUT, f"RequestId: {request_id} Error: Task timed out after {seconds:.2f} seconds")

    def _explain_late_timeout(self, request_id: str) -> None:
        """A timeout after the caller had its response: surprising unless one knows what the timeout bounds."""
        late = still_finishing(self)  # type: ignore[arg-type]
        self._line(f"The caller already had its response, yet the invoke timed out: {' and '.join(late) or 'nobody'} "
                   "had not called /next by the deadline (the timeout bounds the Invoke phase until the runtime and "
                   "every extension have asked for their next event).", f.LAMBDATUI, request_id)

    def _open_invoke_phase(self, run: InvokeRun) -> None:
        """START and the invoke's phase, which takes the cold Init's (or restore's) figures for its REPORT."""
        inv = run.invocation
        run.init_duration_ms, self.pending_init_duration_ms = self.pending_init_duration_ms, None
        run.restore, self.pending_restore = self.pending_restore, None
        self._line(lines.start(inv.request_id, self.config.function_version), request_id=inv.request_id)
        self._emit(f.PhaseStarted("invoke", inv.request_id, self._now.mono, inv.trace_id, inv.label))

    def _fail_invoke(self, error_type: str, detail: str, status: str) -> None:
        run = self.current
        assert run is not None
        request_id = run.invocation.request_id
        if not run.delivered and not run.ran_init:
            self._open_invoke_phase(run)  # held before its event went out: still the first invoke after a cold Init
        if status == "timeout":
            self._line(lines.task_timed_out(self._now.wall_ms, request_id, self.config.timeout_ms / 1000),
                       request_id=request_id)
            payload = self._timeout_body(request_id)
        else:
            self._line(lines.request_error(request_id, detail), request_id=request_id)
            self._line(error_type, request_id=request_id)
            payload = error_body(error_type, lines.request_error(request_id, detail))
        if run.result is None:
            run.result = f.InvocationResult(request_id, payload, JSON, True, error_type)
        elif status == "timeout":
            self._explain_late_timeout(request_id)
        else:
            # Said, as for a late timeout: the caller's answer (and `invoke`'s stdout) shows a success that the REPORT
            # then contradicts.
            self._line(f"The caller already had its response, yet the invoke failed after it: {detail} ({error_type}); "
                       "the environment resets and the next invoke re-initialises.", f.LAMBDATUI, request_id)
        self._runtime_done(run, status, error_type, detail)
        self._finish_invoke(status, error_type if status == "error" else None)
        reason = ShutdownReason.TIMEOUT if status == "timeout" else ShutdownReason.FAILURE
        self._begin_shutdown(reason, final=False)
