"""A streamed /response (lambda-spec §1.8, §12.1): what decides the lifecycle, not the bytes themselves.

The bytes go from the sandbox server to the caller as they arrive (host/response_stream.py); the core hears only
that a stream began (from then on /error is refused: the caller has its first bytes), and how it ended: whole, with
the error its trailers declared, cut by the runtime hanging up, or past the streamed response's limit.
"""

from __future__ import annotations

import json
from typing import Optional

from lambdatui.core.common import JSON, error_body
from lambdatui.core.effects import RUNTIME
from lambdatui.core.inputs import RuntimeStreamEnded, RuntimeStreamStarted
from lambdatui.core.runtime_machine import RuntimeCall, RuntimeState, TransitionNotAllowed
from lambdatui.core.runtime_machine import transition as runtime_transition
from lambdatui.core.slots import InvokeRun, sanitize_error_type
from lambdatui.model import error_types as et
from lambdatui.model import facts as f

STREAM_ACCEPTED = 100  # Reply status for RuntimeStreamStarted: go on sending; anything else is the refusal to send


class StreamRules:
    """Part of `Environment`: it runs on the environment's state (see core/environment.py)."""

    def _on_RuntimeStreamStarted(self, event: RuntimeStreamStarted) -> None:
        self._heard_late(event.arrived)  # (a timeout first, if the deadline passed before it arrived)
        if not self._check_request(event.token, event.request_id, RuntimeCall.RESPONSE):
            return
        run = self.current
        assert run is not None
        self.runtime.state = RuntimeState.STREAMING
        self._stream_began(run, event)
        self._participant_changed(RUNTIME, self.runtime.state, False)

    def _stream_began(self, run: InvokeRun, event: RuntimeStreamStarted) -> None:
        """The stream of `run`'s response is accepted: its caller gets the bytes as they come (Managed Instances too)."""
        run.called_response = True
        self._reply(event.token, STREAM_ACCEPTED, b"")
        run.stream_started_at = self._mark()
        first_byte = self._between_ms(run.delivered_at, run.stream_started_at) if run.delivered_at is not None else 0.0
        self._emit(f.ResponseStreamStarted(event.request_id, event.content_type, run.invocation.streamed, first_byte))

    def _on_RuntimeStreamEnded(self, event: RuntimeStreamEnded) -> None:
        self._heard_late(event.arrived)
        run = self.current
        rt = self.runtime
        if run is None or run.invocation.request_id != event.request_id or rt.state is not RuntimeState.STREAMING:
            self._reply_error(event.token, 400, et.INVALID_REQUEST_ID, "Invalid request ID")
            return
        try:
            rt.state = runtime_transition(rt.state, RuntimeCall.STREAM_END)
        except TransitionNotAllowed as refused:  # pragma: no cover - STREAMING always may end
            self._reply_error(event.token, 403, et.INVALID_STATE_TRANSITION, str(refused))
            return
        self._responded(self._stream_ended(run, event))

    def _stream_ended(self, run: InvokeRun, event: RuntimeStreamEnded) -> f.InvocationResult:
        """What `run`'s caller gets now that its stream has ended (the runtime is answered; Managed Instances too)."""
        run.produced_bytes = event.size
        result = self._stream_result(event, run.invocation.streamed)
        ended_in = result.error_type if result.function_error else None
        if result.function_error and event.error_type and not (event.truncated or event.too_large):
            # The platform records the type the trailer declared, as it records /error's header (§1.5); the caller
            # gets the body's.
            ended_in = sanitize_error_type(event.error_type) or et.RUNTIME_UNKNOWN
        run.runtime_error_type = ended_in
        self._emit(f.ResponseStreamEnded(event.request_id, event.size, ended_in))
        return result

    def _stream_result(self, event: RuntimeStreamEnded, streamed: bool) -> f.InvocationResult:
        """Answer the runtime and say what the invoke's caller gets: the bytes it already has (or, not streaming,
        all of them), with the stream's error if it ended in one."""
        sent = event.size if streamed else -1
        body = b"" if streamed else event.body
        if event.truncated:
            self._reply_error(event.token, 400, et.TRUNCATED_HTTP_REQUEST, "HTTP request detected as truncated")
            return self._stream_error(event, et.RUNTIME_TRUNCATED_RESPONSE,
                                      "The runtime closed its connection in the middle of a streamed response.", sent)
        if event.too_large:
            limit = et.MAX_STREAMED_RESPONSE_BYTES if streamed else et.MAX_RESPONSE_BYTES
            message = f"Response payload size exceeded maximum allowed payload size ({limit} bytes)."
            self._reply_error(event.token, 413, et.REQUEST_ENTITY_TOO_LARGE, message)
            return self._stream_error(event, et.FUNCTION_RESPONSE_SIZE_TOO_LARGE, message, sent)
        self._reply_ok(event.token)
        if event.error_type:
            # Declared in the trailers: Lambda completes the stream and hands the error to the caller (§1.8).
            error_type = sanitize_error_type(event.error_type) or et.RUNTIME_UNKNOWN
            payload = _error_payload(event.error_body, error_type)
            return f.InvocationResult(event.request_id, payload, JSON, True, et.body_error_type(payload) or error_type,
                                      streamed=sent)
        return f.InvocationResult(event.request_id, body, event.content_type or JSON, streamed=sent)

    @staticmethod
    def _stream_error(event: RuntimeStreamEnded, error_type: str, message: str, sent: int) -> f.InvocationResult:
        return f.InvocationResult(event.request_id, error_body(error_type, message), JSON, True, error_type,
                                  streamed=sent)


def _error_payload(decoded: bytes, error_type: str) -> bytes:
    """The error the trailers carried (their body, base64-decoded by the server), as the caller gets it; a body
    that is not an error object still reaches it, under the declared type."""
    try:
        value = json.loads(decoded) if decoded.strip() else None
    except (ValueError, RecursionError):
        value = None
    if isinstance(value, dict):
        return decoded
    message: Optional[str] = decoded.decode("utf-8", "replace") if decoded.strip() else ""
    return error_body(error_type, message or "")
