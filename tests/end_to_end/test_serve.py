"""`lambdatui serve`: Lambda's Invoke API over real HTTP, for curl-like clients, boto3 and signals."""

from __future__ import annotations

import base64
import json
import re
import signal
import socket
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import boto3
import httpx
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from e2e_support import REPO, SAMPLES, ServeProcess, lambdatui_argv, write_file
from free_ports import free_port

COUNTER = SAMPLES / "counter" / "handler.py"
HELLO = SAMPLES / "hello" / "handler.py"
CRASH = SAMPLES / "crash" / "handler.py"
EXTENSION = SAMPLES / "extension" / "handler.py"
HTTP_TIMEOUT = 30.0

CHATTY = '''import time

invocations = 0


def handler(event, context):
    global invocations
    invocations += 1
    for i in range(event.get("lines", 0)):
        print(f"line {i:04d} " + "y" * 40)
    time.sleep(event.get("sleep", 0))
    return {"invocations": invocations}
'''

CLIENT_CONTEXT_PROBE = '''import os


def handler(event, context):
    cc = context.client_context
    return {
        "custom": cc.custom if cc is not None else None,
        "env": cc.env if cc is not None else None,
        "trace": os.environ.get("_X_AMZN_TRACE_ID"),
    }
'''


def post(url: str, body: bytes = b"{}", **headers: str) -> httpx.Response:
    return httpx.post(url, content=body, headers=headers, timeout=HTTP_TIMEOUT)


def lambda_client(served: ServeProcess):
    return boto3.client(
        "lambda",
        endpoint_url=served.base_url,
        region_name="us-east-1",
        aws_access_key_id="x",
        aws_secret_access_key="x",
        config=Config(retries={"max_attempts": 1}, read_timeout=HTTP_TIMEOUT, connect_timeout=5),
    )


def test_invoke_on_an_explicit_port() -> None:
    port = free_port()
    with ServeProcess(HELLO, port=port) as served:
        assert served.address == f"127.0.0.1:{port}"
        with socket.create_connection(("127.0.0.1", port), timeout=5):
            pass  # the port accepts connections once the line is printed

        response = post(served.invoke_url("function"), b'{"name": "curl"}')

        assert response.status_code == 200, response.text
        assert response.json() == {"message": "hello", "event": {"name": "curl"}}
        assert response.headers["X-Amz-Executed-Version"] == "$LATEST"
        assert "X-Amz-Function-Error" not in response.headers
        assert "X-Amz-Log-Result" not in response.headers  # only with X-Amz-Log-Type: Tail


def test_any_function_name_and_arn_reach_the_one_function() -> None:
    with ServeProcess(COUNTER) as served:
        names = ["counter", "anything-else", "arn:aws:lambda:us-east-1:123456789012:function:counter:prod"]
        values = [post(served.invoke_url(name)).json()["invocations"] for name in names]
        assert values == [1, 2, 3]


def test_function_error_is_200_with_unhandled() -> None:
    with ServeProcess(CRASH) as served:
        response = post(served.invoke_url(), b'{"mode": "raise"}')

        assert response.status_code == 200
        assert response.headers["X-Amz-Function-Error"] == "Unhandled"
        assert response.json()["errorType"] == "ValueError"
        assert response.json()["errorMessage"] == "boom"


def test_log_tail_holds_this_requests_lines() -> None:
    with ServeProcess(HELLO) as served:
        post(served.invoke_url(), b'{"name": "first"}')  # an earlier request must not leak into the tail

        response = post(served.invoke_url(), b'{"name": "tail"}', **{"X-Amz-Log-Type": "Tail"})

        assert response.status_code == 200
        request_id = response.headers["X-Amzn-RequestId"]
        log = base64.b64decode(response.headers["X-Amz-Log-Result"]).decode()
        lines = log.splitlines()
        assert lines[0] == f"START RequestId: {request_id} Version: $LATEST"
        assert "hello: received {'name': 'tail'}" in lines
        assert f"END RequestId: {request_id}" in lines
        assert lines[-1].startswith(f"REPORT RequestId: {request_id}\tDuration: ")
        assert lines.index("hello: received {'name': 'tail'}") < lines.index(f"END RequestId: {request_id}")
        assert "first" not in log


def test_log_tail_is_the_last_4_kb(code_dir: Path) -> None:
    handler = write_file(code_dir / "handler.py", CHATTY)
    with ServeProcess(handler) as served:
        response = post(served.invoke_url(), b'{"lines": 300}', **{"X-Amz-Log-Type": "Tail"})

    assert response.status_code == 200
    request_id = response.headers["X-Amzn-RequestId"]
    log = base64.b64decode(response.headers["X-Amz-Log-Result"])
    assert 3000 < len(log) <= 4096  # 300 lines of 51 bytes do not fit: only the end is kept
    lines = log.decode().splitlines()
    assert "line 0299 " + "y" * 40 in lines
    assert not any(line.startswith("line 0000") for line in lines)
    assert lines[-1].startswith(f"REPORT RequestId: {request_id}\t")


def test_caller_that_gives_up_does_not_stop_the_invoke(code_dir: Path) -> None:
    handler = write_file(code_dir / "handler.py", CHATTY)
    with ServeProcess(handler) as served:
        # The caller goes away once its invoke has started (not after a fixed time, which a loaded machine can spend
        # before the request is read: that caller would have gone before Lambda took its request at all).
        host, port = served.address.rsplit(":", 1)
        body = b'{"sleep": 1}'
        with socket.create_connection((host, int(port)), timeout=HTTP_TIMEOUT) as caller:
            caller.sendall(b"POST /2015-03-31/functions/function/invocations HTTP/1.1\r\nHost: x\r\n"
                           b"X-Amz-Log-Type: Tail\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))
            served.wait_for_line(r"#1 \[platform\]\s+START RequestId: ", timeout=30)

        # Lambda finishes an invoke whose caller went away; meanwhile the next one gets an environment of its own.
        response = post(served.invoke_url())
        assert response.status_code == 200
        assert response.json() == {"invocations": 1}
        served.wait_for_line(r"#1 \[platform\]\s+REPORT RequestId: .*Duration: 1\d\d\d\.", timeout=10)


def test_event_invocation_is_accepted_and_still_runs() -> None:
    with ServeProcess(COUNTER) as served:
        response = post(served.invoke_url(), **{"X-Amz-Invocation-Type": "Event"})

        assert response.status_code == 202
        assert response.content == b""
        event_id = response.headers["X-Amzn-RequestId"]
        served.wait_for_line(rf"REPORT RequestId: {re.escape(event_id)}\t", timeout=10)
        # The event ran in the environment, which stays warm: the next invoke there sees its increment.
        assert post(served.invoke_url()).json()["invocations"] == 2


def test_dry_run_validates_without_running() -> None:
    with ServeProcess(COUNTER) as served:
        response = post(served.invoke_url(), **{"X-Amz-Invocation-Type": "DryRun"})

        assert response.status_code == 204
        assert post(served.invoke_url()).json()["invocations"] == 1


def test_client_context_reaches_the_handler(code_dir: Path) -> None:
    handler = write_file(code_dir / "handler.py", CLIENT_CONTEXT_PROBE)
    context = {"custom": {"tenant": "acme", "n": 1}, "env": {"locale": "en-GB"}}
    encoded = base64.b64encode(json.dumps(context).encode()).decode()

    with ServeProcess(handler) as served:
        response = post(served.invoke_url(), **{"X-Amz-Client-Context": encoded})
        without = post(served.invoke_url())

    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["custom"], body["env"]) == ({"tenant": "acme", "n": 1}, {"locale": "en-GB"})
    assert (without.json()["custom"], without.json()["env"]) == (None, None)


def test_an_event_invoke_does_not_pass_the_client_context_on(code_dir: Path) -> None:
    # Lambda "passes the ClientContext object to your function for synchronous invocations only" (Invoke's API
    # reference): a function that reads it in an Event invoke gets None in Lambda, and must here too.
    handler = write_file(code_dir / "handler.py", "def handler(event, context):\n"
                                                  "    cc = context.client_context\n"
                                                  "    print('custom:', None if cc is None else cc.custom)\n")
    encoded = base64.b64encode(json.dumps({"custom": {"tenant": "acme"}}).encode()).decode()

    with ServeProcess(handler) as served:
        client = lambda_client(served)
        event_id = client.invoke(FunctionName="fn", InvocationType="Event", ClientContext=encoded,
                                 Payload=b"{}")["ResponseMetadata"]["RequestId"]
        served.wait_for_line(rf"REPORT RequestId: {re.escape(event_id)}\t", timeout=10)
        client.invoke(FunctionName="fn", ClientContext=encoded, Payload=b"{}")
        served.wait_for_line(r"custom: \{'tenant': 'acme'\}", timeout=10)
        output = served.output()

    assert re.findall(r"custom: (.*)", output) == ["None", "{'tenant': 'acme'}"], output


def test_an_invoke_naming_a_tenant_is_refused_as_by_a_function_without_tenant_isolation() -> None:
    # boto3's TenantId (X-Amz-Tenant-Id) is for functions with tenant isolation; Lambda refuses it for any other, and
    # lambdatui emulates no other: it ran the invoke with the tenant dropped (context.tenant_id None).
    with ServeProcess(COUNTER) as served:
        client = lambda_client(served)
        for call in (client.invoke, client.invoke_with_response_stream):
            with pytest.raises(ClientError) as refused:
                call(FunctionName="fn", TenantId="blue", Payload=b"{}")
            error = refused.value.response["Error"]
            assert error["Code"] == "InvalidParameterValueException", refused.value.response
            assert "'blue'" in error["Message"] and "tenant isolation" in error["Message"], error
        assert json.loads(client.invoke(FunctionName="fn", Payload=b"{}")["Payload"].read())["invocations"] == 1


def test_the_alias_the_caller_named_is_in_the_invoked_function_arn(code_dir: Path) -> None:
    handler = write_file(code_dir / "handler.py", "def handler(event, context):\n"
                                                  "    return context.invoked_function_arn\n")
    with ServeProcess(handler) as served:
        client = lambda_client(served)
        arns = [json.loads(client.invoke(FunctionName=name, **options)["Payload"].read())
                for name, options in [("fn", {}), ("fn", {"Qualifier": "prod"}), ("fn:live", {})]]
    assert [arn.split(":")[7:] for arn in arns] == [[], ["prod"], ["live"]], arns  # arn:aws:lambda:R:A:function:N


def test_trace_header_reaches_the_handler(code_dir: Path) -> None:
    handler = write_file(code_dir / "handler.py", CLIENT_CONTEXT_PROBE)
    trace = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1"

    with ServeProcess(handler) as served:
        traced = post(served.invoke_url(), **{"X-Amzn-Trace-Id": trace}).json()["trace"]
        untraced = post(served.invoke_url()).json()["trace"]

    assert traced == trace
    assert untraced and untraced.startswith("Root=1-") and untraced != trace  # Lambda makes one up per invoke


def test_request_errors_are_api_errors_and_the_function_keeps_serving() -> None:
    with ServeProcess(COUNTER) as served:
        not_json = post(served.invoke_url(), b"{not json")
        assert not_json.status_code == 400
        assert not_json.headers["X-Amzn-ErrorType"] == "InvalidRequestContentException"

        at_the_limit = post(served.invoke_url(), b'"' + b"x" * (6 * 1024 * 1024 - 2) + b'"')  # 6 MiB exactly
        assert at_the_limit.status_code == 200, at_the_limit.text
        too_large = post(served.invoke_url(), b'"' + b"x" * (6 * 1024 * 1024 - 1) + b'"')  # one byte more
        assert too_large.status_code == 413
        # As Lambda's front end answers it (the API reference's name, RequestTooLargeException, is not on the wire).
        assert too_large.headers["X-Amzn-ErrorType"] == "RequestEntityTooLargeException"
        assert too_large.json()["message"] == "Request must be smaller than 6291456 bytes for the InvokeFunction operation"
        assert too_large.headers["x-amzn-RequestId"]  # every answer of the API has an id, its errors' too

        # Of the three, only the one at the limit reached the function.
        assert post(served.invoke_url()).json()["invocations"] == 2


def test_concurrent_invokes_are_each_answered_and_the_environments_stay_warm() -> None:
    with ServeProcess(COUNTER) as served:
        url = served.invoke_url()
        with ThreadPoolExecutor(max_workers=5) as pool:
            responses = list(pool.map(lambda _: post(url), range(5)))

        assert [r.status_code for r in responses] == [200] * 5
        assert len({r.headers["X-Amzn-RequestId"] for r in responses}) == 5
        # Each environment counts its own invokes from 1: a count of n needs as many environments that reached n-1.
        counts = [r.json()["invocations"] for r in responses]
        assert all(counts.count(n) <= counts.count(n - 1) for n in set(counts) if n > 1) and 1 in counts, counts
        assert post(url).json()["invocations"] >= 2  # a warm environment, not a sixth cold start


def test_concurrent_log_tails_hold_only_their_own_request() -> None:
    with ServeProcess(EXTENSION) as served:
        url = served.invoke_url()

        def call(n: int) -> httpx.Response:
            return post(url, json.dumps({"n": n}).encode(), **{"X-Amz-Log-Type": "Tail"})

        with ThreadPoolExecutor(max_workers=6) as pool:
            responses = list(pool.map(call, range(6)))

    for response in responses:
        assert response.status_code == 200, response.text
        request_id = response.headers["X-Amzn-RequestId"]
        assert response.json() == {"requestId": request_id}
        lines = base64.b64decode(response.headers["X-Amz-Log-Result"]).decode().splitlines()
        assert lines[0] == f"START RequestId: {request_id} Version: $LATEST"
        assert f"function: handling {request_id}" in lines
        assert f"[audit] INVOKE {request_id}" in lines  # the extension's output belongs to the invoke too
        assert lines[-1].startswith(f"REPORT RequestId: {request_id}\t")
        assert all(request_id in line for line in lines), lines  # nothing from the other five


def test_queued_invokes_survive_resets_between_them() -> None:
    with ServeProcess(CRASH) as served:
        url = served.invoke_url()
        modes = ["exit", "ok", "segfault", "ok", "raise", "ok"]
        with ThreadPoolExecutor(max_workers=len(modes)) as pool:
            responses = list(pool.map(lambda mode: post(url, json.dumps({"mode": mode}).encode()), modes))

        expected = {"exit": "Runtime.ExitError", "segfault": "Runtime.ExitError", "raise": "ValueError"}
        for mode, response in zip(modes, responses):
            assert response.status_code == 200, response.text
            if mode == "ok":
                assert "X-Amz-Function-Error" not in response.headers, response.text
                assert response.json()["invocations"] >= 1
            else:
                assert response.headers["X-Amz-Function-Error"] == "Unhandled"
                assert response.json()["errorType"] == expected[mode]
        assert post(url, b'{"mode": "ok"}').status_code == 200


def test_boto3_invoke_with_log_tail() -> None:
    with ServeProcess(COUNTER) as served:
        client = lambda_client(served)

        response = client.invoke(FunctionName="counter", Payload=b"{}", LogType="Tail")

        assert response["StatusCode"] == 200
        assert response["ExecutedVersion"] == "$LATEST"
        assert "FunctionError" not in response
        assert json.loads(response["Payload"].read())["invocations"] == 1
        log = base64.b64decode(response["LogResult"]).decode().splitlines()
        assert log[0].startswith("START RequestId: ")
        request_id = log[0].split()[2]
        assert f"END RequestId: {request_id}" in log
        assert log[-1].startswith(f"REPORT RequestId: {request_id}\t")


def test_boto3_function_error() -> None:
    with ServeProcess(CRASH) as served:
        client = lambda_client(served)

        response = client.invoke(FunctionName="crash", Payload=json.dumps({"mode": "raise"}).encode())

        assert response["StatusCode"] == 200
        assert response["FunctionError"] == "Unhandled"
        assert json.loads(response["Payload"].read())["errorType"] == "ValueError"


def test_boto3_event_dry_run_and_api_error() -> None:
    with ServeProcess(COUNTER) as served:
        client = lambda_client(served)

        assert client.invoke(FunctionName="counter", InvocationType="Event", Payload=b"{}")["StatusCode"] == 202
        assert client.invoke(FunctionName="counter", InvocationType="DryRun", Payload=b"{}")["StatusCode"] == 204
        with pytest.raises(client.exceptions.InvalidRequestContentException):
            client.invoke(FunctionName="counter", Payload=b"{not json")


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT, signal.SIGHUP], ids=lambda s: s.name)
def test_signal_spins_down_the_extension_and_exits_0(sig: signal.Signals) -> None:
    with ServeProcess(EXTENSION) as served:
        response = post(served.invoke_url())
        assert response.status_code == 200, response.text
        served.wait_for_line(r"\[audit\] INVOKE " + re.escape(response.json()["requestId"]), timeout=10)

        served.signal(sig)

        assert served.wait(timeout=10) == 0, served.output()
        served.wait_for_line(r"\[audit\] SHUTDOWN reason=spindown", timeout=0)
        assert "Traceback" not in served.output()


def test_port_already_in_use_is_exit_2_with_one_line() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]

        result = subprocess.run(
            [*lambdatui_argv(), "serve", str(HELLO), "--port", str(port)],
            cwd=REPO, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60,
        )

    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert str(port) in lines[0] and "already in use" in lines[0]
    assert "Traceback" not in result.stderr


def test_boto3_invoke_async_queues_an_event_as_lambda_does() -> None:
    # InvokeAsync (`2014-11-13`) is deprecated but still served by Lambda, and boto3 and the AWS CLI still call it.
    with ServeProcess(COUNTER) as served:
        client = lambda_client(served)

        response = client.invoke_async(FunctionName="counter", InvokeArgs=b'{"from": "invoke_async"}')

        assert response["Status"] == 202
        event_id = response["ResponseMetadata"]["RequestId"]
        served.wait_for_line(rf"REPORT RequestId: {re.escape(event_id)}\t", timeout=10)
        assert post(served.invoke_url()).json()["invocations"] == 2  # it ran in the warm environment
        # The API reference writes a trailing slash; a payload that is not JSON is refused as Invoke refuses it.
        assert post(f"{served.base_url}/2014-11-13/functions/counter/invoke-async/").status_code == 202
        with pytest.raises(client.exceptions.InvalidRequestContentException):
            client.invoke_async(FunctionName="counter", InvokeArgs=b"{not json")
        too_large = post(f"{served.base_url}/2014-11-13/functions/counter/invoke-async", b'"' + b"x" * 262_144 + b'"')
        assert too_large.status_code == 413
        assert too_large.headers["X-Amzn-ErrorType"] == "RequestEntityTooLargeException"


def test_an_operation_lambdatui_does_not_serve_is_named_to_boto3() -> None:
    # botocore reads the error code from X-Amzn-ErrorType and the message from `message`: without them a waiter or a
    # GetFunction said only "An error occurred (404) when calling the GetFunction operation: ".
    with ServeProcess(COUNTER) as served:
        client = lambda_client(served)

        with pytest.raises(ClientError) as raised:
            client.get_function(FunctionName="counter")

        error = raised.value.response["Error"]
        assert error["Code"] == "UnknownOperationException"
        assert error["Message"].startswith("GET /2015-03-31/functions/counter is not an operation lambdatui serves")
        assert "Invoke API" in error["Message"]
        wrong_method = httpx.get(served.invoke_url(), timeout=HTTP_TIMEOUT)
        assert (wrong_method.status_code, wrong_method.headers["X-Amzn-ErrorType"]) == (405, "MethodNotAllowed")
