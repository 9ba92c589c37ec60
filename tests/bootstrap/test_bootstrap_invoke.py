"""Invocations through a real bootstrap process against a scripted Runtime API."""

from __future__ import annotations

import json
import os
import re
import time

from bootstrap_harness import (
    BOOTSTRAP_DIR,
    NEXT_PATH,
    Event,
    error_path,
    response_path,
    run_bootstrap,
    start_bootstrap,
    write,
    WAIT_S,
)

ECHO = """
def handler(event, context):
    return event
"""


def test_json_result_is_posted_and_the_connection_is_kept_alive(api, code_dir):
    write(code_dir, "handler.py", """
        from decimal import Decimal
        def handler(event, context):
            return {"got": event, "price": Decimal("1.10"), "nan": float("nan"), "text": "h\\u00e9"}
    """)
    run = run_bootstrap(api, code_dir, "handler.handler", [
        Event(b'{"n": 1}', "r1"),
        Event(b'{"n": 2}', "r2"),
    ])
    assert run.returncode != 0  # the fake ends the run by failing the third /next
    first = api.one(response_path("r1"))
    assert first.headers["content-type"] == "application/json"
    assert first.body == b'{"got": {"n": 1}, "price": 1.10, "nan": NaN, "text": "h\\u00e9"}'
    assert api.one(response_path("r2")).json()["got"] == {"n": 2}
    assert api.paths() == [NEXT_PATH, response_path("r1"), NEXT_PATH, response_path("r2"), NEXT_PATH]
    assert len({r.client_port for r in api.requests}) == 1, "one keep-alive connection"


def test_bytes_result_is_sent_raw_as_application_unknown(api, code_dir):
    write(code_dir, "handler.py", """
        def handler(event, context):
            return b"\\x00\\xffraw"
    """)
    run_bootstrap(api, code_dir, "handler.handler", [Event(request_id="r1")])
    posted = api.one(response_path("r1"))
    assert posted.headers["content-type"] == "application/unknown"
    assert posted.body == b"\x00\xffraw"


def test_none_result_is_null(api, code_dir):
    write(code_dir, "handler.py", """
        def handler(event, context):
            pass
    """)
    run_bootstrap(api, code_dir, "handler.handler", [Event(request_id="r1")])
    assert api.one(response_path("r1")).body == b"null"


def test_non_json_content_type_gives_the_handler_raw_bytes(api, code_dir):
    write(code_dir, "handler.py", """
        def handler(event, context):
            return {"type": type(event).__name__, "value": event.decode()}
    """)
    run_bootstrap(api, code_dir, "handler.handler", [
        Event(b"plain text", "r1", content_type="text/plain"),
    ])
    assert api.one(response_path("r1")).json() == {"type": "bytes", "value": "plain text"}


def test_handler_exception_posts_error_json_without_bootstrap_frames(api, code_dir):
    path = write(code_dir, "handler.py", """
        def helper():
            raise ValueError("boom")

        def handler(event, context):
            helper()
    """)
    run = run_bootstrap(api, code_dir, "handler.handler", [Event(request_id="r1"), Event(request_id="r2")])
    posted = api.one(error_path("r1"))
    assert posted.headers["content-type"] == "application/json"
    assert posted.headers["lambda-runtime-function-error-type"] == "ValueError"
    assert posted.json() == {
        "errorMessage": "boom",
        "errorType": "ValueError",
        "requestId": "r1",
        "stackTrace": [
            '  File "%s", line 6, in handler\n    helper()\n' % path,
            '  File "%s", line 3, in helper\n    raise ValueError("boom")\n' % path,
        ],
    }
    # The runtime survives a handler error and serves the next event.
    assert api.find(error_path("r2"))
    nbsp = "\u00a0"
    expected_log = (
        "[ERROR] ValueError: boom\rTraceback (most recent call last):\r"
        + nbsp * 2 + 'File "%s", line 6, in handler\r' % path
        + nbsp * 4 + "helper()\r"
        + nbsp * 2 + 'File "%s", line 3, in helper\r' % path
        + nbsp * 4 + 'raise ValueError("boom")\n'
    )
    assert expected_log in run.stdout


def test_unmarshal_error(api, code_dir):
    write(code_dir, "handler.py", ECHO)
    run_bootstrap(api, code_dir, "handler.handler", [Event(b"{not json", "r1")])
    body = api.one(error_path("r1")).json()
    assert body["errorType"] == "Runtime.UnmarshalError"
    assert body["errorMessage"].startswith("Unable to unmarshal input: Expecting property name")
    assert body["stackTrace"] == []
    assert api.one(error_path("r1")).headers["lambda-runtime-function-error-type"] == "Runtime.UnmarshalError"


def test_marshal_error(api, code_dir):
    write(code_dir, "handler.py", """
        def handler(event, context):
            return {"x": object()}
    """)
    run_bootstrap(api, code_dir, "handler.handler", [Event(request_id="r1")])
    body = api.one(error_path("r1")).json()
    assert body == {
        "errorMessage": "Unable to marshal response: Object of type object is not JSON serializable",
        "errorType": "Runtime.MarshalError",
        "requestId": "r1",
        "stackTrace": [],
    }


CONTEXT_HANDLER = """
import os
def handler(event, context):
    ident = context.identity
    cc = context.client_context
    return {
        "aws_request_id": context.aws_request_id,
        "invoked_function_arn": context.invoked_function_arn,
        "function_name": context.function_name,
        "function_version": context.function_version,
        "memory_limit_in_mb": context.memory_limit_in_mb,
        "log_group_name": context.log_group_name,
        "log_stream_name": context.log_stream_name,
        "identity": [ident.cognito_identity_id, ident.cognito_identity_pool_id],
        "client_context": None if cc is None else {
            "custom": cc.custom,
            "env": cc.env,
            "client": None if cc.client is None else [
                cc.client.installation_id, cc.client.app_title, cc.client.app_version_name,
                cc.client.app_version_code, cc.client.app_package_name,
            ],
        },
        "w3c": context.w3c(),
        "tenant_id": context.tenant_id,
        "remaining": context.get_remaining_time_in_millis(),
        "trace": os.environ.get("_X_AMZN_TRACE_ID"),
    }
"""


def test_context_fields_trace_id_and_remaining_time(api, code_dir):
    write(code_dir, "handler.py", CONTEXT_HANDLER)
    client_context = {
        "client": {"installation_id": "inst", "app_title": "title", "app_version_name": "1.0",
                   "app_version_code": "100", "app_package_name": "pkg"},
        "custom": {"k": "v"},
        "env": {"platform": "x"},
        "w3c": {"traceparent": "00-abc-def-01", "other": "dropped"},
    }
    cognito = {"cognitoIdentityId": "id-1", "cognitoIdentityPoolId": "pool-1"}
    now_ms = int(time.time() * 1000)
    run_bootstrap(api, code_dir, "handler.handler", [
        Event(request_id="r1", deadline_ms=now_ms + 30000, headers={
            "Lambda-Runtime-Trace-Id": "Root=1-5bef4de7-ad49b0e87f6ef6c87fc2e700;Sampled=1",
            "Lambda-Runtime-Client-Context": json.dumps(client_context),
            "Lambda-Runtime-Cognito-Identity": json.dumps(cognito),
            "Lambda-Runtime-Aws-Tenant-Id": "tenant-7",
        }),
        Event(request_id="r2", deadline_ms=now_ms - 5000),
    ])
    first = api.one(response_path("r1")).json()
    remaining = first.pop("remaining")
    assert 0 < remaining <= 30000
    assert first == {
        "aws_request_id": "r1",
        "invoked_function_arn": "arn:aws:lambda:us-east-1:123456789012:function:fn",
        "function_name": "fn",
        "function_version": "$LATEST",
        "memory_limit_in_mb": "256",
        "log_group_name": "/aws/lambda/fn",
        "log_stream_name": "2024/01/01/[$LATEST]abc",
        "identity": ["id-1", "pool-1"],
        "client_context": {
            "custom": {"k": "v"},
            "env": {"platform": "x"},
            "client": ["inst", "title", "1.0", "100", "pkg"],
        },
        "w3c": {"traceparent": "00-abc-def-01"},
        "tenant_id": "tenant-7",
        "trace": "Root=1-5bef4de7-ad49b0e87f6ef6c87fc2e700;Sampled=1",
    }
    second = api.one(response_path("r2")).json()
    assert second["remaining"] == 0  # deadline passed: floored at 0
    assert second["identity"] == [None, None]  # always an object, fields None
    assert second["client_context"] is None
    assert second["tenant_id"] is None
    assert second["trace"] is None  # variable removed when the header is absent


def test_bad_client_context_is_a_context_unmarshal_error(api, code_dir):
    write(code_dir, "handler.py", ECHO)
    run_bootstrap(api, code_dir, "handler.handler", [
        Event(request_id="r1", headers={"Lambda-Runtime-Client-Context": "{nope"}),
        Event(request_id="r2", headers={"Lambda-Runtime-Cognito-Identity": "[1,"}),
    ])
    first = api.one(error_path("r1")).json()
    assert first["errorType"] == "Runtime.LambdaContextUnmarshalError"
    assert first["errorMessage"].startswith("Unable to parse Client Context JSON: ")
    second = api.one(error_path("r2")).json()
    assert second["errorMessage"].startswith("Unable to parse Cognito Identity JSON: ")


def test_text_log_format_carries_the_request_id(api, code_dir):
    write(code_dir, "handler.py", """
        import logging
        logging.getLogger().info("at init")
        def handler(event, context):
            logging.getLogger("app").info("in handler %s", 42)
            logging.getLogger().debug("hidden at INFO")
            context.log("via context\\n")
            print("printed")
    """)
    run = run_bootstrap(api, code_dir, "handler.handler", [Event(request_id="r1")], AWS_LAMBDA_LOG_LEVEL="INFO")
    lines = run.stdout.splitlines()
    assert re.fullmatch(r"\[INFO\]\t\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z\t\tat init", lines[0])
    assert re.fullmatch(r"\[INFO\]\t\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z\tr1\tin handler 42", lines[1])
    assert lines[2:4] == ["via context", "printed"]
    assert "hidden" not in run.stdout


def test_json_log_format(api, code_dir):
    write(code_dir, "handler.py", """
        import logging
        def handler(event, context):
            logging.getLogger("app").warning("careful", extra={"k": 1})
            raise KeyError("missing")
    """)
    run = run_bootstrap(api, code_dir, "handler.handler", [Event(request_id="r1")], AWS_LAMBDA_LOG_FORMAT="JSON")
    records = [json.loads(line) for line in run.stdout.splitlines()]
    warning = records[0]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", warning.pop("timestamp"))
    assert warning == {"level": "WARNING", "message": "careful", "logger": "app", "requestId": "r1", "k": 1}
    error = records[1]
    assert error["level"] == "ERROR"
    assert error["errorType"] == "KeyError"
    assert error["errorMessage"] == "'missing'"
    assert error["requestId"] == "r1"


def test_output_is_in_the_pipe_before_the_response_is_posted(api, code_dir):
    """The host builds log tails from the pipe: lines must precede the response."""
    write(code_dir, "handler.py", """
        import sys
        def handler(event, context):
            print("via print")
            sys.__stdout__.write("via the raw, block-buffered stream\\n")
            return "done"
    """)
    seen_at_response = []

    def drain_stdout(rec):
        seen_at_response.append(os.read(proc.stdout.fileno(), 65536))

    api.hooks[response_path("r1")] = drain_stdout
    api.events.append(Event(request_id="r1"))
    proc = start_bootstrap(api, code_dir, "handler.handler")
    try:
        os.set_blocking(proc.stdout.fileno(), False)
        proc.wait(timeout=WAIT_S)
    finally:
        proc.kill()
        proc.stdout.close()
        proc.stderr.close()
    assert seen_at_response == [b"via print\nvia the raw, block-buffered stream\n"]


def test_refused_response_is_logged_and_ends_the_runtime(api, code_dir):
    """As awslambdaric's: Lambda gives the next invoke a fresh environment (test_bootstrap_parity compares)."""
    write(code_dir, "handler.py", ECHO)
    api.statuses[response_path("r1")] = 413
    run = run_bootstrap(api, code_dir, "handler.handler", [Event(request_id="r1"), Event(request_id="r2")])
    assert run.returncode == 1 and not api.find(response_path("r2"))
    assert "Http response code: 413" in run.stdout
    assert run.stderr.strip().splitlines()[-1] == "RuntimeError: Failed to post invocation response"


def test_reconnects_when_the_host_drops_the_kept_alive_connection(api, code_dir):
    write(code_dir, "handler.py", ECHO)
    api.close_after.add(response_path("r1"))
    run_bootstrap(api, code_dir, "handler.handler", [Event(request_id="r1"), Event(request_id="r2")])
    assert api.find(response_path("r2"))
    ports = [r.client_port for r in api.requests]
    assert ports[0] == ports[1] and ports[2] != ports[0]


def test_handler_in_a_subdirectory_and_user_modules_named_like_ours(api, code_dir):
    """`dir/sub/mod.fn` works, and user modules called client/context/... are not shadowed."""
    write(code_dir, "client.py", "NAME = 'user client'\n")
    write(code_dir, "context.py", "NAME = 'user context'\n")
    write(code_dir, "pkg/__init__.py", "")
    write(code_dir, "pkg/sub/__init__.py", "")
    write(code_dir, "pkg/sub/mod.py", """
        import client, context
        def fn(event, context_):
            return [client.NAME, context.NAME]
    """)
    run_bootstrap(api, code_dir, "pkg/sub/mod.fn", [Event(request_id="r1")])
    assert api.one(response_path("r1")).json() == ["user client", "user context"]


def test_sys_path_has_the_task_root_first_and_not_the_bootstrap_dir(api, code_dir):
    write(code_dir, "handler.py", """
        import sys
        def handler(event, context):
            return {"path": sys.path, "ours": sorted(m for m in sys.modules if "bootstrap" in m)}
    """)
    run_bootstrap(api, code_dir, "handler.handler", [Event(request_id="r1")])
    body = api.one(response_path("r1")).json()
    assert body["path"][0] == str(code_dir)
    assert str(BOOTSTRAP_DIR) not in body["path"]
    assert "_lambdatui_bootstrap" in body["ours"]
    assert not any(m.startswith("lambdatui") for m in body["ours"])


def test_task_root_defaults_to_the_working_directory(api, code_dir):
    write(code_dir, "handler.py", ECHO)
    api.events.append(Event(b'"hi"', "r1"))
    run_bootstrap(api, code_dir, "handler.handler", LAMBDA_TASK_ROOT=None)
    assert api.one(response_path("r1")).body == b'"hi"'
