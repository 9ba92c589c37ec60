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
    if event.get("show"):  # an Event invoke's result reaches no one: it says what it got on its output
        print("custom:", None if cc is None else cc.custom)
    return {
        "custom": cc.custom if cc is not None else None,
        "env": cc.env if cc is not None else None,
        "trace": os.environ.get("_X_AMZN_TRACE_ID"),
        "arn": context.invoked_function_arn,
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


def test_invoke_on_an_explicit_port_and_the_log_tail_holds_this_requests_lines() -> None:
    """One serve of hello on a port we chose: it accepts connections once it printed its address, answers an invoke
    without function error or log tail, and the log tail asked for later holds that request's lines only."""
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
        assert "first" not in log and "curl" not in log


def test_function_errors_over_http_and_boto3_and_queued_invokes_survive_resets() -> None:
    """One serve of the crash sample: a handler's exception is a 200 with X-Amz-Function-Error Unhandled, read over
    plain HTTP and by boto3; then invokes queued behind crashes, exits and exceptions are each answered as theirs
    (the environments reset between them) and the function still serves."""
    with ServeProcess(CRASH) as served:
        response = post(served.invoke_url(), b'{"mode": "raise"}')

        assert response.status_code == 200
        assert response.headers["X-Amz-Function-Error"] == "Unhandled"
        assert response.json()["errorType"] == "ValueError"
        assert response.json()["errorMessage"] == "boom"

        client = lambda_client(served)
        answer = client.invoke(FunctionName="crash", Payload=json.dumps({"mode": "raise"}).encode())

        assert answer["StatusCode"] == 200
        assert answer["FunctionError"] == "Unhandled"
        assert json.loads(answer["Payload"].read())["errorType"] == "ValueError"

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


def test_a_caller_that_gives_up_does_not_stop_the_invoke_and_the_log_tail_is_the_last_4_kb(code_dir: Path) -> None:
    """One serve of a chatty function: an invoke whose caller went away still runs to its end while the next one
    gets an environment of its own; then a log tail of 300 lines keeps only their last 4 KB."""
    handler = write_file(code_dir / "handler.py", CHATTY)
    with ServeProcess(handler) as served:
        # The caller goes away once its invoke has started (not after a fixed time, which a loaded machine can spend
        # before the request is read: that caller would have gone before Lambda took its request at all).
        # It runs for 3 s, so that its environment is still busy when the next invoke comes: with 1 s, a loaded host
        # (load 14 on 2 cores) sent the next one after it had ended, and env #1 served it.
        host, port = served.address.rsplit(":", 1)
        body = b'{"sleep": 3}'
        with socket.create_connection((host, int(port)), timeout=HTTP_TIMEOUT) as caller:
            caller.sendall(b"POST /2015-03-31/functions/function/invocations HTTP/1.1\r\nHost: x\r\n"
                           b"X-Amz-Log-Type: Tail\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))
            served.wait_for_line(r"#1 \[platform\]\s+START RequestId: ", timeout=30)

        # Lambda finishes an invoke whose caller went away; meanwhile the next one gets an environment of its own.
        response = post(served.invoke_url())
        assert response.status_code == 200
        assert response.json() == {"invocations": 1}
        served.wait_for_line(r"#1 \[platform\]\s+REPORT RequestId: .*Duration: 3\d\d\d\.", timeout=10)

        response = post(served.invoke_url(), b'{"lines": 300}', **{"X-Amz-Log-Type": "Tail"})

    assert response.status_code == 200
    request_id = response.headers["X-Amzn-RequestId"]
    log = base64.b64decode(response.headers["X-Amz-Log-Result"])
    assert 3000 < len(log) <= 4096  # 300 lines of 51 bytes do not fit: only the end is kept
    lines = log.decode().splitlines()
    assert "line 0299 " + "y" * 40 in lines
    assert not any(line.startswith("line 0000") for line in lines)
    assert lines[-1].startswith(f"REPORT RequestId: {request_id}\t")


def test_client_context_trace_header_and_alias_reach_the_handler_and_an_event_invoke_gets_no_client_context(
        code_dir: Path) -> None:
    """One serve of a probe of its context. An Event invoke does not pass the client context on: Lambda "passes the
    ClientContext object to your function for synchronous invocations only" (Invoke's API reference), so a function
    that reads it in an Event invoke gets None in Lambda, and must here too; a synchronous invoke gets it whole.
    X-Amzn-Trace-Id reaches the handler (else Lambda makes one up per invoke), and the alias the caller named is in
    the invoked function's ARN."""
    handler = write_file(code_dir / "handler.py", CLIENT_CONTEXT_PROBE)
    encoded = base64.b64encode(json.dumps({"custom": {"tenant": "acme"}}).encode()).decode()
    context = {"custom": {"tenant": "acme", "n": 1}, "env": {"locale": "en-GB"}}
    full = base64.b64encode(json.dumps(context).encode()).decode()
    trace = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1"

    with ServeProcess(handler) as served:
        client = lambda_client(served)
        event_id = client.invoke(FunctionName="fn", InvocationType="Event", ClientContext=encoded,
                                 Payload=b'{"show": true}')["ResponseMetadata"]["RequestId"]
        served.wait_for_line(rf"REPORT RequestId: {re.escape(event_id)}\t", timeout=10)
        client.invoke(FunctionName="fn", ClientContext=encoded, Payload=b'{"show": true}')
        served.wait_for_line(r"custom: \{'tenant': 'acme'\}", timeout=10)
        output = served.output()

        response = post(served.invoke_url(), **{"X-Amz-Client-Context": full})
        without = post(served.invoke_url())

        traced = post(served.invoke_url(), **{"X-Amzn-Trace-Id": trace}).json()["trace"]
        untraced = post(served.invoke_url()).json()["trace"]

        arns = [json.loads(client.invoke(FunctionName=name, **options)["Payload"].read())["arn"]
                for name, options in [("fn", {}), ("fn", {"Qualifier": "prod"}), ("fn:live", {})]]

    assert re.findall(r"custom: (.*)", output) == ["None", "{'tenant': 'acme'}"], output

    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["custom"], body["env"]) == ({"tenant": "acme", "n": 1}, {"locale": "en-GB"})
    assert (without.json()["custom"], without.json()["env"]) == (None, None)

    assert traced == trace
    assert untraced and untraced.startswith("Root=1-") and untraced != trace  # Lambda makes one up per invoke

    assert [arn.split(":")[7:] for arn in arns] == [[], ["prod"], ["live"]], arns  # arn:aws:lambda:R:A:function:N


# The counter sample counts the invokes its environment ran: each test below is one serve of it whose sequential
# invokes all land in its one warm environment, so a count read after some requests says how many of them ran.


def test_any_function_name_reaches_the_one_function_and_errors_are_named_to_boto3() -> None:
    """Any function name or ARN in the path reaches the one function; an operation lambdatui does not serve is named
    to boto3 (botocore reads the error code from X-Amzn-ErrorType and the message from `message`: without them a
    waiter or a GetFunction said only "An error occurred (404) when calling the GetFunction operation: "), and
    boto3's Event, DryRun and a payload that is not JSON get Lambda's answers."""
    with ServeProcess(COUNTER) as served:
        names = ["counter", "anything-else", "arn:aws:lambda:us-east-1:123456789012:function:counter:prod"]
        values = [post(served.invoke_url(name)).json()["invocations"] for name in names]
        assert values == [1, 2, 3]

        client = lambda_client(served)

        with pytest.raises(ClientError) as raised:
            client.get_function(FunctionName="counter")

        error = raised.value.response["Error"]
        assert error["Code"] == "UnknownOperationException"
        assert error["Message"].startswith("GET /2015-03-31/functions/counter is not an operation lambdatui serves")
        assert "Invoke API" in error["Message"]
        wrong_method = httpx.get(served.invoke_url(), timeout=HTTP_TIMEOUT)
        assert (wrong_method.status_code, wrong_method.headers["X-Amzn-ErrorType"]) == (405, "MethodNotAllowed")

        assert client.invoke(FunctionName="counter", InvocationType="Event", Payload=b"{}")["StatusCode"] == 202
        assert client.invoke(FunctionName="counter", InvocationType="DryRun", Payload=b"{}")["StatusCode"] == 204
        with pytest.raises(client.exceptions.InvalidRequestContentException):
            client.invoke(FunctionName="counter", Payload=b"{not json")


def test_requests_that_must_not_run_the_function_do_not() -> None:
    """A DryRun validates without running; an invoke naming a tenant is refused as by a function without tenant
    isolation (boto3's TenantId, X-Amz-Tenant-Id, is for functions with tenant isolation; Lambda refuses it for any
    other, and lambdatui emulates no other: it ran the invoke with the tenant dropped, context.tenant_id None);
    request errors are API errors and the function keeps serving: of them, only the payload at the size limit runs."""
    with ServeProcess(COUNTER) as served:
        response = post(served.invoke_url(), **{"X-Amz-Invocation-Type": "DryRun"})

        assert response.status_code == 204
        assert post(served.invoke_url()).json()["invocations"] == 1

        client = lambda_client(served)
        for call in (client.invoke, client.invoke_with_response_stream):
            with pytest.raises(ClientError) as refused:
                call(FunctionName="fn", TenantId="blue", Payload=b"{}")
            error = refused.value.response["Error"]
            assert error["Code"] == "InvalidParameterValueException", refused.value.response
            assert "'blue'" in error["Message"] and "tenant isolation" in error["Message"], error
        assert json.loads(client.invoke(FunctionName="fn", Payload=b"{}")["Payload"].read())["invocations"] == 2

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
        assert post(served.invoke_url()).json()["invocations"] == 4


def test_boto3_log_tail_and_event_invokes_run_in_the_warm_environment() -> None:
    """boto3's invoke with a log tail; an Event invoke is accepted (202, no body) and still runs, in the environment,
    which stays warm; and InvokeAsync (`2014-11-13`), deprecated but still served by Lambda, and still called by
    boto3 and the AWS CLI, queues an event as Lambda does."""
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

        response = post(served.invoke_url(), **{"X-Amz-Invocation-Type": "Event"})

        assert response.status_code == 202
        assert response.content == b""
        event_id = response.headers["X-Amzn-RequestId"]
        served.wait_for_line(rf"REPORT RequestId: {re.escape(event_id)}\t", timeout=10)
        # The event ran in the environment, which stays warm: the next invoke there sees its increment.
        assert post(served.invoke_url()).json()["invocations"] == 3

        queued = client.invoke_async(FunctionName="counter", InvokeArgs=b'{"from": "invoke_async"}')

        assert queued["Status"] == 202
        event_id = queued["ResponseMetadata"]["RequestId"]
        served.wait_for_line(rf"REPORT RequestId: {re.escape(event_id)}\t", timeout=10)
        assert post(served.invoke_url()).json()["invocations"] == 5  # it ran in the warm environment
        # The API reference writes a trailing slash; a payload that is not JSON is refused as Invoke refuses it.
        assert post(f"{served.base_url}/2014-11-13/functions/counter/invoke-async/").status_code == 202
        with pytest.raises(client.exceptions.InvalidRequestContentException):
            client.invoke_async(FunctionName="counter", InvokeArgs=b"{not json")
        too_large = post(f"{served.base_url}/2014-11-13/functions/counter/invoke-async", b'"' + b"x" * 262_144 + b'"')
        assert too_large.status_code == 413
        assert too_large.headers["X-Amzn-ErrorType"] == "RequestEntityTooLargeException"


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


