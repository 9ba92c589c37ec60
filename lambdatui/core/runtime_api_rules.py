"""The Runtime API's calls as lifecycle inputs (lambda-spec §1): request ids first, then the runtime's state machine."""

from __future__ import annotations

from typing import Optional

from lambdatui.core.common import (
    JSON,
    error_body,
    forwarded_error_body,
    forwarded_error_content_type,
)
from lambdatui.core.effects import (
    RUNTIME,
)
from lambdatui.core.inputs import (
    ConnectionClosed,
    RuntimeInitError,
    RuntimeInvocationError,
    RuntimeRestoreError,
    RuntimeNext,
    RuntimeResponse,
    Token,
)
from lambdatui.core.runtime_machine import (
    RuntimeCall,
    RuntimeState,
    TransitionNotAllowed,
)
from lambdatui.core.runtime_machine import transition as runtime_transition
from lambdatui.core.slots import sanitize_error_type
from lambdatui.model import error_types as et
from lambdatui.model import facts as f
from lambdatui.model.boundaries import Boundary, EnvState


class RuntimeApiRules:
    """Part of `Environment`: it runs on the environment's state (see core/environment.py)."""


    def _on_ConnectionClosed(self, event: ConnectionClosed) -> None:
        """One invoke at a time: which connection the runtime asks on names nothing (Managed Instances' workers)."""

    def _on_RuntimeNext(self, event: RuntimeNext) -> None:
        self._end_inspection()  # a runtime that asks for work has stopped inspecting, whatever it reported
        if self.current is not None and self.current.result is not None:
            self._heard_late(event.arrived)  # the invoke ended when it asked, not when the host heard it
        rt = self.runtime
        run = self.current
        if rt.state is RuntimeState.RUNNING and run is not None and rt.parked is None:
            # RAPID re-renders the in-flight event to a runtime that asks again (lambda-spec §1.3).
            self._send_event_to_runtime(event.token, run)
            return
        if rt.state is RuntimeState.READY and rt.parked is None:
            # It reconnected after dropping a parked /next; an event that found nobody parked goes out now.
            if run is not None and run.delivered and run.result is None and self.state is EnvState.RUNNING:
                rt.state = RuntimeState.RUNNING
                self._send_event_to_runtime(event.token, run)
                self._participant_changed(RUNTIME, rt.state, False)
            else:
                self._park_runtime(event.token)
            return
        try:
            new_state = runtime_transition(rt.state, RuntimeCall.NEXT)
        except TransitionNotAllowed as refused:
            self._reply_error(event.token, 403, et.INVALID_STATE_TRANSITION, str(refused))
            return
        was = rt.state
        rt.state = new_state
        self._park_runtime(event.token)
        if was is RuntimeState.STARTED:
            self.registration_open = False
            self._waited_since(event.arrived)
            self._check_init_done()
        elif was is RuntimeState.RESTORING:
            self._restored_runtime_next()
        else:
            if run is not None and run.result is not None:
                failed = run.runtime_error_type
                self._runtime_done(run, "error" if failed else "success", failed, asked_next=True)
            self._check_invoke_done()

    def _park_runtime(self, token: Token) -> None:
        self.runtime.parked = token
        self.runtime.parked_since = self._now.mono
        self._participant_changed(RUNTIME, self.runtime.state, True)

    def _check_request(self, token: Token, request_id: str, call: RuntimeCall) -> bool:
        run = self.current
        rt = self.runtime
        if run is None or request_id != run.invocation.request_id or rt.state not in (
            RuntimeState.RUNNING, RuntimeState.STREAMING, RuntimeState.RESPONSE_SENT, RuntimeState.READY
        ) or not run.delivered:
            self._reply_error(token, 400, et.INVALID_REQUEST_ID, "Invalid request ID")
            return False
        try:
            rt.state = runtime_transition(rt.state, call)
        except TransitionNotAllowed as refused:
            self._reply_error(token, 403, et.INVALID_STATE_TRANSITION, str(refused))
            return False
        return True

    def _on_RuntimeResponse(self, event: RuntimeResponse) -> None:
        self._heard_late(event.arrived)  # (a timeout first, if the deadline passed before it arrived)
        if not self._check_request(event.token, event.request_id, RuntimeCall.RESPONSE):
            return
        result, ack = self._response_result(event)
        run = self.current
        assert run is not None
        run.called_response = True
        run.produced_bytes = len(event.body)
        if result.function_error:
            run.runtime_error_type = result.error_type
        self._responded(result, ack)

    def _response_result(self, event: RuntimeResponse) -> tuple[f.InvocationResult, Optional[Token]]:
        """Say what the caller of the runtime's /response gets (lambda-spec §1.4), with the request still to be
        answered 202 (None: it was refused here)."""
        if event.invalid_mode is not None:
            # RAPID refuses the header and fails the invocation (lambda-spec §1.4).
            self._reply_error(event.token, 400, et.INVALID_FUNCTION_RESPONSE_MODE, "Invalid function response mode")
            payload = error_body(et.RUNTIME_INVALID_RESPONSE_MODE,
                                  f"Invalid Lambda-Runtime-Function-Response-Mode {event.invalid_mode!r}")
            result = f.InvocationResult(event.request_id, payload, JSON, True, et.RUNTIME_INVALID_RESPONSE_MODE)
        elif event.truncated:
            # The runtime hung up mid-body (lambda-spec §1.4, §4.10): nobody hears the 400, the caller gets the error.
            self._reply_error(event.token, 400, et.TRUNCATED_HTTP_REQUEST, "HTTP request detected as truncated")
            result = self._truncated_result(event.request_id)
        elif event.too_large:
            result = self._too_large_result(event.token, event.request_id)
        else:
            return f.InvocationResult(event.request_id, event.body, event.content_type or JSON), event.token
        return result, None

    def _on_RuntimeInvocationError(self, event: RuntimeInvocationError) -> None:
        self._heard_late(event.arrived)  # (a timeout first, if the deadline passed before it arrived)
        if not self._check_request(event.token, event.request_id, RuntimeCall.ERROR):
            return
        run = self.current
        assert run is not None
        if event.truncated:
            self._reply_error(event.token, 400, et.TRUNCATED_HTTP_REQUEST, "HTTP request detected as truncated")
            run.runtime_error_type = et.RUNTIME_TRUNCATED_RESPONSE
            self._responded(self._truncated_result(event.request_id))
            return
        if event.too_large:
            run.runtime_error_type = et.FUNCTION_RESPONSE_SIZE_TOO_LARGE
            self._responded(self._too_large_result(event.token, event.request_id))
            return
        # The platform records the header's type, sanitised (lambda-spec §1.5); the caller gets the body's.
        run.runtime_error_type = sanitize_error_type(event.error_type)
        self._responded(self._error_result(event), event.token)

    @staticmethod
    def _error_result(event: RuntimeInvocationError) -> f.InvocationResult:
        """What the caller of an invoke the runtime answered with /error gets: its body, minus X-Ray's cause."""
        body = forwarded_error_body(event.body, event.content_type, event.error_type)
        error_type = et.body_error_type(body) or sanitize_error_type(event.error_type)
        content_type = forwarded_error_content_type(event.body, event.content_type)
        return f.InvocationResult(event.request_id, body, content_type, True, error_type)

    def _too_large_result(self, token: Token, request_id: str) -> f.InvocationResult:
        """Refuse a /response or /error body past the payload limit (lambda-spec §1.4): RAPID sends both to the
        caller the same way, under the same limit; the caller gets Function.ResponseSizeTooLarge."""
        message = f"Exceeded maximum allowed payload size ({et.MAX_RESPONSE_BYTES} bytes)."
        self._reply_error(token, 413, et.REQUEST_ENTITY_TOO_LARGE, message)
        payload = error_body(
            et.FUNCTION_RESPONSE_SIZE_TOO_LARGE,
            f"Response payload size exceeded maximum allowed payload size ({et.MAX_RESPONSE_BYTES} bytes).",
        )
        return f.InvocationResult(request_id, payload, JSON, True, et.FUNCTION_RESPONSE_SIZE_TOO_LARGE)

    def _truncated_result(self, request_id: str) -> f.InvocationResult:
        payload = error_body(et.RUNTIME_TRUNCATED_RESPONSE,
                             "The runtime closed its connection before the end of the response body it declared.")
        return f.InvocationResult(request_id, payload, JSON, True, et.RUNTIME_TRUNCATED_RESPONSE)

    def _responded(self, result: f.InvocationResult, ack: Optional[Token] = None) -> None:
        """`ack`: the runtime's request to answer 202, after the caller has its result, as RAPID does (the
        runtime's next /next follows that 202: the caller's answer never waits behind it)."""
        run = self.current
        assert run is not None
        run.result = result
        run.responded_at = self._mark()
        self._participant_changed(RUNTIME, self.runtime.state, False)
        if not run.invocation.wants_log_tail:
            self._complete(run)
        if ack is not None:
            self._reply_ok(ack)
        self._reach(Boundary.INVOKE_RESPONSE, result.request_id)

    def _on_RuntimeInitError(self, event: RuntimeInitError) -> None:
        if self.runtime.state is RuntimeState.RESTORING:
            # RAPID takes it as the runtime's /restore/error (lambda-spec §1.6): runtimes reported a failed
            # after-restore hook there before /restore/error existed. Refused (403), the restore failed only when
            # the runtime exited, as a bare Runtime.ExitError.
            self._runtime_failure_reported(event, RuntimeCall.RESTORE_ERROR)
            return
        self._waited_since(event.arrived)
        self._runtime_failure_reported(event, RuntimeCall.INIT_ERROR)

    def _runtime_failure_reported(self, event: RuntimeInitError | RuntimeRestoreError, call: RuntimeCall) -> None:
        """/init/error or /restore/error: kept for when the runtime exits, as it must right after (lambda-spec
        §1.6, §1.7); the failure takes effect then."""
        rt = self.runtime
        try:
            rt.state = runtime_transition(rt.state, call)
        except TransitionNotAllowed as refused:
            self._reply_error(event.token, 403, et.INVALID_STATE_TRANSITION, str(refused))
            return
        body = forwarded_error_body(event.body, event.content_type, event.error_type)
        # The header's type, else the body's: either as the platform records it (a type of the function's own,
        # `MyInitProblem`, is Runtime.Unknown in INIT_REPORT, as RAPID's sanitiser makes it).
        rt.init_error_type = sanitize_error_type(event.error_type or et.body_error_type(body))
        rt.init_error_body = body
        rt.init_error_content_type = forwarded_error_content_type(event.body, event.content_type)
        self._reply_ok(event.token)
        self._participant_changed(RUNTIME, rt.state, False)
        if call is RuntimeCall.INIT_ERROR and self.state is EnvState.INIT and self.init is not None \
                and self.init.phase == "invoke":
            # A suppressed Init: RAPID sends the posted error to the waiting caller at once (lambda-spec §1.6), and the
            # reset ends the runtime. Waiting for it to exit left a runtime that lingers (a slow exit, or none) to
            # answer its caller Sandbox.Timedout at the function timeout, the error it reported lost.
            self._fail_init(rt.init_error_type, "")
