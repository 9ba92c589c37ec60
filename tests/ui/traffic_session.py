"""The API traffic of the warm session's environment, as the capture would have published it (the recorded sessions
carry no traffic: it is a query, not part of the snapshot), folded by the real reducer.

The extension sample's `audit` registers and parks; the runtime's first /next is answered with invoke a1000000,
which it answers (202), and reports its globals; a stranger's /response with an unknown request id is refused (400
InvalidRequestID); then both park again, and wait still. The clock is fixed: `NOW` is 5 s after the first call.
"""

from __future__ import annotations

from dataclasses import replace

from lambdatui.model.api_traffic import ApiTraffic, ParticipantTraffic
from lambdatui.model.facts import ApiExchanged

T0 = 1_790_000_000.0
NOW = T0 + 5.0
REQUEST_ID = "a1000000-0000-4000-8000-000000000001"
EXTENSION_ID = "e0000000-0000-4000-8000-00000000000e"
BOGUS_ID = "b0600000-0000-4000-8000-000000000000"
RUNTIME_NEXT = "/2018-06-01/runtime/invocation/next"
EVENT_NEXT = "/2020-01-01/extension/event/next"
JSON = ("Content-Type", "application/json")
INVOKE_EVENT = ('{"eventType":"INVOKE","deadlineMs":1790000003021,"requestId":"' + REQUEST_ID + '",'
                '"invokedFunctionArn":"arn:aws:lambda:us-east-1:012345678912:function:extension","tracing":{}}')


def _exchange(seq: int, participant: str, method: str, path: str, status: int, started: float,
              answered: float | None, **fields: object) -> ApiExchanged:
    return ApiExchanged(seq=seq, participant=participant, method=method, path=path, status=status,
                        request_headers=fields.pop("request_headers", ()),  # type: ignore[arg-type]
                        response_headers=fields.pop("response_headers", ()),  # type: ignore[arg-type]
                        request_preview=fields.pop("request_preview", ""),  # type: ignore[arg-type]
                        response_preview=fields.pop("response_preview", ""),  # type: ignore[arg-type]
                        started=started, answered=answered, long_poll=method == "GET", **fields)  # type: ignore[arg-type]


def facts() -> list[ApiExchanged]:
    ext = ("lambda-extension-identifier", EXTENSION_ID)
    register = _exchange(
        1, "audit", "POST", "/2020-01-01/extension/register", 200, T0, T0 + 0.0004,
        request_headers=(("content-type", "application/json"), ("content-length", "34"),
                         ("lambda-extension-name", "audit")),
        response_headers=(JSON, ("Lambda-Extension-Identifier", EXTENSION_ID)),
        request_preview='{"events": ["INVOKE", "SHUTDOWN"]}',
        response_preview='{"functionName":"extension","functionVersion":"$LATEST","handler":"handler.handler"}',
        request_bytes=34, response_bytes=84)
    audit_next = _exchange(2, "audit", "GET", EVENT_NEXT, 0, T0 + 0.001, None, request_headers=(ext,))
    runtime_next = _exchange(3, "runtime", "GET", RUNTIME_NEXT, 0, T0 + 0.062, None)
    delivered = replace(
        runtime_next, status=200, answered=T0 + 2.0213,
        response_headers=(("Lambda-Runtime-Aws-Request-Id", REQUEST_ID), ("Lambda-Runtime-Deadline-Ms", "1790000005021"),
                          ("Lambda-Runtime-Invoked-Function-Arn",
                           "arn:aws:lambda:us-east-1:012345678912:function:extension"),
                          ("Lambda-Runtime-Trace-Id", "Root=1-6a000000-000000000000000000000000;Sampled=0"), JSON),
        response_preview='{"n": 1}', response_bytes=8)
    audit_invoke = replace(audit_next, status=200, answered=T0 + 2.0211,
                           response_headers=(JSON, ("Lambda-Extension-Event-Identifier",
                                                    "f0000000-0000-4000-8000-00000000000f")),
                           response_preview=INVOKE_EVENT[:200], response_bytes=len(INVOKE_EVENT))
    answered = _exchange(
        4, "runtime", "POST", f"/2018-06-01/runtime/invocation/{REQUEST_ID}/response", 202, T0 + 2.0238, T0 + 2.0240,
        request_headers=(("content-type", "application/json"), ("content-length", "35")),
        response_headers=(JSON,), request_preview='{"invocations": 1, "cold": true}',
        response_preview='{"status":"OK"}', request_bytes=35, response_bytes=15)
    globals_report = _exchange(
        5, "runtime", "POST", "/lambdatui/v1/globals", 202, T0 + 2.0242, T0 + 2.0249,
        request_headers=(("content-type", "application/json"), ("content-length", "1715")),
        response_headers=(JSON,), request_preview='{"phase": "invoke", "requestId": "' + REQUEST_ID + '", "globals": [',
        response_preview='{"status":"OK"}', request_bytes=1715, response_bytes=15)
    audit_parked = _exchange(6, "audit", "GET", EVENT_NEXT, 0, T0 + 2.0251, None, request_headers=(ext,))
    refused = _exchange(
        7, "runtime", "POST", f"/2018-06-01/runtime/invocation/{BOGUS_ID}/response", 400, T0 + 2.5, T0 + 2.5003,
        request_headers=(("content-type", "application/json"), ("content-length", "8")),
        response_headers=(JSON,), request_preview='{"x": 1}',
        response_preview='{"errorMessage": "Invalid request ID", "errorType": "InvalidRequestID"}',
        request_bytes=8, response_bytes=71, error_type="InvalidRequestID")
    runtime_parked = _exchange(8, "runtime", "GET", RUNTIME_NEXT, 0, T0 + 3.8, None)
    return [register, audit_next, runtime_next, delivered, audit_invoke, answered, globals_report, audit_parked,
            refused, runtime_parked]


def traffic(upto: int | None = None) -> tuple[ParticipantTraffic, ...]:
    """What `api_traffic` answers after the first `upto` facts (all of them: None)."""
    reducer = ApiTraffic()
    for fact in facts()[:upto]:
        reducer.apply(fact)
    return reducer.participants()
