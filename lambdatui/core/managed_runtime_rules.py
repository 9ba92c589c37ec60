"""The sandbox's APIs and failures on Lambda Managed Instances (lambda-spec §11.3, the AWS emulator's
`internal/lambda-managed-instances`), where they differ from one invoke at a time:

- /next parks side by side: the first one ends Runtime init as usual, each later one offers a worker;
- /response and /error name their invoke: an unknown id is 400 InvalidRequestID, a timed-out one 410 InvokeTimeout;
- extensions may register only for SHUTDOWN; internal extensions for nothing;
- the Telemetry API takes schemaVersion 2025-01-29 only; there is no Logs API (the path is not served: 404);
- a process that exits outside shutdown (the runtime process, or an extension) ends the environment: Managed
  Instances never reset, and nothing retries a failed Init;
- a worker of our runtime (a child of the runtime process) that ends is not Lambda's business: the environment
  stays up, with one worker fewer; lambdatui says so (`WorkerExited`, through our private channel).
"""

from __future__ import annotations

from typing import Optional

from lambdatui.core.common import JSON, NOT_FOUND, error_body
from lambdatui.core.effects import RUNTIME
from lambdatui.core.inputs import (
    ExtensionRegister,
    Invocation,
    RequestAbandoned,
    RuntimeInvocationError,
    RuntimeNext,
    RuntimeResponse,
    RuntimeStreamEnded,
    RuntimeStreamStarted,
    TelemetrySubscribe,
    Token,
    WorkerExited,
)
from lambdatui.core.managed_invoke_rules import ManagedInvokeRules
from lambdatui.core.runtime_machine import RuntimeCall, RuntimeState, TransitionNotAllowed
from lambdatui.core.runtime_machine import transition as runtime_transition
from lambdatui.core.slots import InvokeRun, sanitize_error_type
from lambdatui.core.telemetry_subscription import Invalid
from lambdatui.model import error_types as et
from lambdatui.model import facts as f
from lambdatui.model.boundaries import EnvState, ShutdownReason
from lambdatui.model.telemetry import LOGS, Subscription

MANAGED_TELEMETRY_SCHEMA = "2025-01-29"
INVOKE_TIMEOUT = "InvokeTimeout"  # RAPID's 410 for a /response or /error after the invoke's deadline
# RAPID's bound on /next requests parked at once (its MaxIdleRuntimesQueueSize); past it, /next is a 500.
MAX_PARKED = 10_000


class ManagedRuntimeRules(ManagedInvokeRules):
    """Part of `ManagedEnvironment`: it runs on the environment's state (see core/managed_environment.py)."""

    # ------------------------------------------------------------------ Runtime API

    def _on_RuntimeNext(self, event: RuntimeNext) -> None:
        self._end_inspection()
        rt = self.runtime
        self._worker_asks(event.token, event.connection)
        if rt.state is RuntimeState.READY:
            self.returning = max(0, self.returning - 1)  # (or a worker whose Function init just ended)
            self._offer_worker(event.token)
            return
        try:
            rt.state = runtime_transition(rt.state, RuntimeCall.NEXT)  # the first /next: Runtime init is done
        except TransitionNotAllowed as refused:
            self.asking.pop(event.token, None)
            self._reply_error(event.token, 403, et.INVALID_STATE_TRANSITION, str(refused))
            return
        self.registration_open = False
        self._park_worker(event.token)
        self._check_init_done()

    def _offer_worker(self, token: Token) -> None:
        """A worker asks for work: an event that lost its worker (or waited for this one) goes first, else it parks
        for the next invoke."""
        for request_id in list(self.ready):
            run = self.runs.get(request_id)
            if run is None or run.delivered:
                self.ready.remove(request_id)
            elif self._takes(token, run):
                self.ready.remove(request_id)
                self._send_run(token, run)
                return
        if len(self.parked) >= MAX_PARKED:
            self.asking.pop(token, None)
            self._reply_error(token, 500, "InternalServerError", "Internal Server Error")
            return
        self._park_worker(token)
        self._try_start_next()

    def _park_worker(self, token: Token) -> None:
        self.parked[token] = self._now.mono
        self._participant_changed(RUNTIME, self.runtime.state, True)

    def _run_posted(self, token: Token, request_id: str, connection: int = 0) -> Optional[InvokeRun]:
        """The invoke a /response or /error (on `connection`) names, or the answer RAPID gives when there is none to
        take it."""
        run = self.runs.get(request_id)
        late = self._overran_here(request_id, connection)  # a timed-out attempt's, while its retry runs elsewhere
        if run is not None and run.delivered and run.result is None and not late:
            if run.stream_started_at is not None:  # its caller has the stream's first bytes (lambda-spec §1.8)
                self._reply_error(token, 403, et.INVALID_STATE_TRANSITION,
                                  "The invoke's response is being streamed: it cannot be answered again")
                return None
            return run
        if request_id in self.timed_out or late:
            runs_on = False  # another timed-out attempt of it (an Event invoke's retry keeps the id)
            if request_id in self.overrunning:
                self.returning += 1  # its worker is free again
                runs_on = self._overrun_answered(request_id, connection)
                if not runs_on:
                    self.overrunning.discard(request_id)
                    self._emit(f.OverrunEnded(request_id))
                self._participant_changed(RUNTIME, self.runtime.state, bool(self.parked))
            if not runs_on:
                self.timed_out.pop(request_id, None)
            self._reply_error(token, 410, INVOKE_TIMEOUT, "Invoke timeout")
            self._line(f"The late answer to invoke {request_id} was refused (410 InvokeTimeout): its caller had the "
                       "timeout error already.", f.LAMBDATUI, request_id)
            return None
        self._reply_error(token, 400, et.INVALID_REQUEST_ID, "Invalid request ID")
        return None

    def _on_RuntimeResponse(self, event: RuntimeResponse) -> None:
        run = self._run_posted(event.token, event.request_id, event.connection)
        if run is None:
            return
        result, ack = self._response_result(event)
        if ack is not None:
            self._reply_ok(ack)
        run.called_response = True
        run.produced_bytes = len(event.body)
        status, error_type = ("error", result.error_type) if result.function_error else ("success", None)
        self._run_answered(run, result, status, error_type)

    def _on_RuntimeInvocationError(self, event: RuntimeInvocationError) -> None:
        run = self._run_posted(event.token, event.request_id, event.connection)
        if run is None:
            return
        if event.truncated:
            self._reply_error(event.token, 400, et.TRUNCATED_HTTP_REQUEST, "HTTP request detected as truncated")
            self._run_answered(run, self._truncated_result(event.request_id), "error", et.RUNTIME_TRUNCATED_RESPONSE)
            return
        if event.too_large:
            result = self._too_large_result(event.token, event.request_id)
            self._run_answered(run, result, "error", et.FUNCTION_RESPONSE_SIZE_TOO_LARGE)
            return
        self._reply_ok(event.token)
        # The platform records the header's type, sanitised; the AWS emulator's Managed Instances path reports
        # such an invoke with status "error" (lambda-spec §3.5), and so does the REPORT here.
        self._run_answered(run, self._error_result(event), "error", sanitize_error_type(event.error_type))

    def _on_RuntimeStreamStarted(self, event: RuntimeStreamStarted) -> None:
        """A streamed /response (lambda-spec §1.8) names its invoke as /response does; the others run on."""
        run = self._run_posted(event.token, event.request_id, event.connection)
        if run is None:
            return
        self._stream_began(run, event)  # type: ignore[attr-defined]

    def _on_RuntimeStreamEnded(self, event: RuntimeStreamEnded) -> None:
        run = self.runs.get(event.request_id)
        if run is None or run.result is not None or run.stream_started_at is None:
            if event.request_id in self.timed_out:  # it timed out while streaming: 410, as a late /response
                self._run_posted(event.token, event.request_id)
            else:
                self._reply_error(event.token, 400, et.INVALID_REQUEST_ID, "Invalid request ID")
            return
        result = self._stream_ended(run, event)  # type: ignore[attr-defined]
        self._run_answered(run, result, "error" if result.function_error else "success", run.runtime_error_type)

    def _on_RequestAbandoned(self, event: RequestAbandoned) -> None:
        super()._on_RequestAbandoned(event)  # type: ignore[misc]
        if self.parked.pop(event.token, None) is not None:
            self._worker_gone(token=event.token)
            self._participant_changed(RUNTIME, self.runtime.state, bool(self.parked))
        for run in self.runs.values():
            if run.token == event.token:
                run.token = None  # its caller went away; Lambda still runs it

    # ------------------------------------------------------------------ Extensions and Telemetry APIs

    def _on_ExtensionRegister(self, event: ExtensionRegister) -> None:
        if self.registration_open and self.state is EnvState.INIT and event.events:
            slot = self.extensions.get(event.name)
            if slot is None:
                # RAPID on Managed Instances: an internal extension may subscribe to nothing.
                self._reply_error(event.token, 403, et.EXT_INVALID_EVENT_TYPE,
                                  "No events allowed for internal extensions")
                return
            if slot.external and "INVOKE" in event.events:
                self._reply_error(event.token, 403, et.EXT_INVALID_EVENT_TYPE, "INVOKE: ErrorInvalidEventType")
                self._explain(f"Extension '{event.name}' registered for INVOKE: on Lambda Managed Instances "
                              "extensions may register only for SHUTDOWN (403 Extension.InvalidEventType).")
                return
        super()._on_ExtensionRegister(event)  # type: ignore[misc]

    def _on_TelemetrySubscribe(self, event: TelemetrySubscribe) -> None:
        if event.api == LOGS:
            self._reply_error(event.token, 404, *NOT_FOUND)
            return
        super()._on_TelemetrySubscribe(event)  # type: ignore[misc]

    def _subscription_refusal(self, subscription: Subscription) -> Optional[Invalid]:
        if subscription.schema_version != MANAGED_TELEMETRY_SCHEMA:
            return Invalid(400, "ValidationError", f"schemaVersion must be {MANAGED_TELEMETRY_SCHEMA} on Lambda "
                                                   f"Managed Instances; got \"{subscription.schema_version}\"")
        return None

    # ------------------------------------------------------------------ workers and failures

    def _on_WorkerExited(self, event: WorkerExited) -> None:
        if event.generation != self.generation or self.shutdown is not None or not self.runtime.alive:
            return  # the environment is ending: its workers go with it
        self.workers_lost += 1
        request_id = event.request_id
        held = ""
        if request_id in self.overrunning:
            self.overrunning.discard(request_id)  # counted among the workers lost from now on
            self.overrun_on.pop(request_id, None)
            held = f" running invoke {request_id}, which had timed out already"
            self._emit(f.OverrunEnded(request_id))
        elif request_id is not None and request_id in self.runs and self.runs[request_id].result is None:
            self.orphaned.add(request_id)
            held = (f" while it ran invoke {request_id}: Lambda sees the runtime process, not its workers, so that "
                    "invoke's caller gets the timeout error at its deadline, or the runtime's exit error if the "
                    "runtime ends first")
        self._line(f"A worker of the runtime (pid {event.pid}) exited ({event.description}){held}. The environment "
                   f"stays up with {self.capacity()} of {self.config.max_concurrency} workers: Lambda's Python runtime "
                   "starts no new one.", f.LAMBDATUI, request_id)
        self._participant_changed(RUNTIME, self.runtime.state, bool(self.parked))
        if request_id is not None:
            self._worker_exited(request_id)  # an invoke that names its worker goes to another
        else:
            self._worker_gone()  # with one worker fewer, an invoke may not wait for one not started

    def _fail_phase(self, error_type: str, detail: str) -> None:
        """The runtime process or an extension exited outside shutdown: the environment ends (no reset here)."""
        self._abandon_hold()
        if self.state is EnvState.INIT:
            self._fail_init(error_type, detail)
            return
        self._fail_runs(error_type, detail)
        self._explain(f"{detail}: on Lambda Managed Instances that ends the environment (nothing resets it); the "
                      "next invoke goes to another one.")
        self._begin_shutdown(ShutdownReason.FAILURE, final=True)

    def _fail_init(self, error_type: Optional[str], detail: str, status: str = "error") -> None:
        init = self._report_init_failure(error_type, detail, status)
        if init is None:
            return
        timed_out = status == "timeout"
        answered = et.SANDBOX_TIMEDOUT if timed_out else (error_type or et.SANDBOX_FAILURE)

        def answer(inv: Invocation) -> tuple[bytes, str]:
            if timed_out:
                return error_body(et.SANDBOX_TIMEDOUT, f"RequestId: {inv.request_id} Error: {detail}"), JSON
            return self._init_failure_answer(inv.request_id, error_type, detail)

        self._answer_queued(answer, answered)
        self._explain("Lambda Managed Instances retry no failed Init: the environment ends, and the next invoke goes "
                      "to another one.")
        self._begin_shutdown(ShutdownReason.TIMEOUT if timed_out else ShutdownReason.FAILURE, final=True)
