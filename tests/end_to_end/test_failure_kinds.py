"""What a caller sees for failures of many kinds: lambdatui's runtime and awslambdaric (a custom runtime) agree,
and the bodies have Lambda's shapes (spec §1.5, §4.5, §6.2-§6.4, §7.2). Checked correct; kept as regressions."""

from __future__ import annotations

import base64
import json
import re
import sys
from pathlib import Path

import pytest

from e2e_support import ServeProcess, awslambdaric_bootstrap, platform_lines, run_cli, write_file

CASES = {
    # A process exit in the handler is the platform's Runtime.ExitError, whatever Python raised to get there.
    "os-exit-0": ("import os\n\n\ndef handler(event, context):\n    os._exit(0)\n",
                  "Runtime exited without providing a reason"),
    "sys-exit-message": ("import sys\n\n\ndef handler(event, context):\n    sys.exit('fatal')\n",
                         "Runtime exited with error: exit status 1"),
    "keyboard-interrupt": ("def handler(event, context):\n    raise KeyboardInterrupt\n",
                           "Runtime exited with error: signal: interrupt"),
    "base-exception": ("class Fatal(BaseException):\n    pass\n\n\ndef handler(event, context):\n    raise Fatal('x')\n",
                       "Runtime exited with error: exit status 1"),
    # awslambdaric lets an exception out of str(exc) end the runtime.
    "str-raises": ("class E(Exception):\n    def __str__(self):\n        raise RuntimeError('no str')\n\n\n"
                   "def handler(event, context):\n    raise E()\n", "Runtime exited with error: exit status 1"),
}


# One function for every case: each invoke takes the next case, counted in /tmp (kept across the reset that follows a
# runtime's exit, as Lambda keeps it), so one `invoke --repeat` runs each case in a runtime process of its own.
CASE_ORDER = sorted(CASES)
EVERY_CASE = "import os\nimport sys\nimport tempfile\n\n" + "".join(
    CASES[case][0].replace("def handler(", f"def case_{n}(") + "\n\n" for n, case in enumerate(CASE_ORDER)) + """
def handler(event, context):
    counter = os.path.join(tempfile.gettempdir(), "case-counter")
    n = os.path.getsize(counter) if os.path.exists(counter) else 0
    with open(counter, "a") as fh:
        fh.write("x")
    print("CASE", n, flush=True)
    return globals()[f"case_{n}"](event, context)
"""


@pytest.mark.parametrize("runtime", ["ours", "awslambdaric"])
def test_a_handler_that_ends_the_process_is_runtime_exit_error(code_dir: Path, runtime: str) -> None:
    """Each case of CASES in a runtime process of its own (the one before it ended), in one `invoke --repeat`."""
    handler = write_file(code_dir / "handler.py", EVERY_CASE)
    path = handler if runtime == "ours" else awslambdaric_bootstrap(code_dir)
    result = run_cli("invoke", str(path), "--repeat", str(len(CASE_ORDER)))
    assert result.returncode == 1, result.stderr
    assert re.findall(r"CASE (\d+)", result.stderr) == [str(n) for n in range(len(CASE_ORDER))], result.stderr
    lines = platform_lines(result.stderr)
    reports = [line for line in lines if line.startswith("REPORT ")]
    assert len([line for line in lines if line.startswith("INIT_START")]) == len(CASE_ORDER), result.stderr
    bodies = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(bodies) == len(reports) == len(CASE_ORDER), result.stdout + result.stderr
    for case, body, report in zip(CASE_ORDER, bodies, reports):
        detail = CASES[case][1]
        assert body["errorType"] == "Runtime.ExitError", (case, body)
        assert re.fullmatch(r"RequestId: \S+ Error: " + re.escape(detail), body["errorMessage"]), (case, body)
        assert report.split()[2] in body["errorMessage"], (case, report, body)
        assert "Status: error\tError Type: Runtime.ExitError" in report, (case, report)


@pytest.mark.parametrize("runtime", ["ours", "awslambdaric"])
def test_error_fields_for_unusual_exceptions(code_dir: Path, runtime: str) -> None:
    """No message, several args, non-ASCII, a message with newlines: errorMessage is str(exc), errorType the class.
    One `invoke --repeat 3`: the nth invoke raises the nth kind (the runtime lives on after each)."""
    handler = write_file(code_dir / "handler.py", '''class NoMessage(Exception):
    pass


calls = 0


def handler(event, context):
    global calls
    kind = ["none", "args", "text"][calls]
    calls += 1
    if kind == "none":
        raise NoMessage()
    if kind == "args":
        raise ValueError("a", 2)
    if kind == "text":
        raise KeyError("line1\\nline2 \\u00e9\\u2603")
''')
    path = handler if runtime == "ours" else awslambdaric_bootstrap(code_dir)
    expected = {"none": ("NoMessage", ""), "args": ("ValueError", "('a', 2)"),
                "text": ("KeyError", repr("line1\nline2 \u00e9\u2603"))}
    result = run_cli("invoke", str(path), "--repeat", str(len(expected)))
    assert result.returncode == 1, result.stderr
    bodies = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(bodies) == len(expected), result.stdout
    for (kind, (error_type, message)), body in zip(expected.items(), bodies):
        assert (body["errorType"], body["errorMessage"]) == (error_type, message), (kind, body)
        assert body["stackTrace"] and "handler.py" in body["stackTrace"][-1], (kind, body)


CUSTOM_RUNTIME = '''#!{python}
import http.client, json, os
host, port = os.environ["AWS_LAMBDA_RUNTIME_API"].split(":")


def call(method, path, body=None, headers=None):
    connection = http.client.HTTPConnection(host, int(port))
    connection.request(method, "/2018-06-01" + path, body=body, headers=headers or {{}})
    response = connection.getresponse()
    return response.status, response.getheader("Lambda-Runtime-Aws-Request-Id"), response.read()


MARK = os.path.join(os.environ.get("TMPDIR", "/tmp"), "no-body-sent")  # /tmp: kept if the environment is reset
while True:
    _, request_id, event = call("GET", "/runtime/invocation/next")
    if not os.path.exists(MARK):  # the first invoke: an /error with no body; the second: one with errorCause
        open(MARK, "w").close()
        call("POST", f"/runtime/invocation/{{request_id}}/error", b"", {{"Lambda-Runtime-Function-Error-Type": "Runtime.Custom"}})
    else:
        cause = {{"errorMessage": "m", "errorType": "T", "stackTrace": ["s"], "errorCause": {{"paths": []}}}}
        call("POST", f"/runtime/invocation/{{request_id}}/error", json.dumps(cause).encode(),
             {{"Content-Type": "application/vnd.aws.lambda.error.cause+json", "Lambda-Runtime-Function-Error-Type": "Function.T"}})
'''


def test_custom_runtime_error_bodies(code_dir: Path) -> None:
    """An /error with no body is answered with one built from the error-type header; errorCause is stripped
    (spec §1.5)."""
    bootstrap = write_file(code_dir / "bootstrap", CUSTOM_RUNTIME.format(python=sys.executable), executable=True)
    result = run_cli("invoke", str(bootstrap), "--repeat", "2")
    assert result.returncode == 1, result.stderr
    no_body, with_cause = [json.loads(line) for line in result.stdout.splitlines()]
    assert no_body == {"errorMessage": "", "errorType": "Runtime.Custom"}
    assert with_cause == {"errorMessage": "m", "errorType": "T", "stackTrace": ["s"]}


def test_serve_marks_every_failure_unhandled_and_the_tail_tells_why(code_dir: Path) -> None:
    import boto3
    from botocore.config import Config

    handler = write_file(code_dir / "handler.py", '''import os, time


def handler(event, context):
    mode = event.get("mode")
    if mode == "exit":
        os._exit(3)
    if mode == "sleep":
        time.sleep(5)
    if mode == "raise":
        raise ValueError("boom")
    return {"left": context.get_remaining_time_in_millis(), "arn": context.invoked_function_arn,
            "memory": context.memory_limit_in_mb}
''')
    with ServeProcess(handler, "--timeout", "1") as served:
        client = boto3.client("lambda", endpoint_url=served.base_url, region_name="us-east-1",
                              aws_access_key_id="x", aws_secret_access_key="x",
                              config=Config(retries={"max_attempts": 0}, read_timeout=30))

        def invoke(event: dict, **kw: str) -> tuple[dict, str]:
            response = client.invoke(FunctionName="fn", Payload=json.dumps(event).encode(), LogType="Tail", **kw)
            assert response["StatusCode"] == 200
            tail = base64.b64decode(response["LogResult"]).decode()
            return response.get("FunctionError"), json.loads(response["Payload"].read()), tail

        error, body, tail = invoke({"mode": "exit"})
        assert (error, body["errorType"]) == ("Unhandled", "Runtime.ExitError"), body
        assert "Error Type: Runtime.ExitError" in tail
        error, body, tail = invoke({"mode": "sleep"})
        assert (error, body["errorType"]) == ("Unhandled", "Sandbox.Timedout"), body
        assert "Task timed out after 1.00 seconds" in tail and "Status: timeout" in tail, tail
        error, body, tail = invoke({"mode": "raise"})
        assert (error, body["errorType"], body["errorMessage"]) == ("Unhandled", "ValueError", "boom"), body
        assert "[ERROR] ValueError: boom" in tail, tail
        error, body, tail = invoke({}, Qualifier="live")
        assert error is None, body
        assert body["arn"].endswith(":function:" + handler.parent.name + ":live") and body["memory"] == "128", body
        assert 0 < body["left"] <= 1000, body
        assert tail.startswith("START RequestId: ") and "\nREPORT RequestId: " in tail, tail


def test_remaining_time_after_a_suppressed_init_counts_the_init(code_dir: Path) -> None:
    """Init over 10 s times out and is retried inside the first invoke, on the function's clock (spec §4.2)."""
    handler = write_file(code_dir / "handler.py", "import time\ntime.sleep(10.5)\n\n\ndef handler(event, context):\n"
                                                  "    return context.get_remaining_time_in_millis()\n")
    result = run_cli("invoke", str(handler), "--timeout", "20", timeout=90)
    assert result.returncode == 0, result.stderr
    left = json.loads(result.stdout)
    assert 8000 < left < 9600, left  # 20 s less the 10.5 s the retried Init slept
    lines = platform_lines(result.stderr)
    assert [line for line in lines if line.startswith("INIT_REPORT ")][0].endswith("Phase: init\tStatus: timeout")
    report = next(line for line in lines if line.startswith("REPORT "))
    assert "Init Duration" not in report and float(re.search(r"\tDuration: ([\d.]+)", report).group(1)) > 10_000


def test_exit_status_is_1_when_any_repeat_failed(code_dir: Path) -> None:
    handler = write_file(code_dir / "handler.py", "N = 0\n\n\ndef handler(event, context):\n    global N\n    N += 1\n"
                                                  "    if N == 1:\n        raise ValueError('first')\n"
                                                  "    return {'errorType': 'looks like one', 'n': N}\n")
    result = run_cli("invoke", str(handler), "--repeat", "2")
    assert result.returncode == 1, result.stderr
    first, second = [json.loads(line) for line in result.stdout.splitlines()]
    assert first["errorType"] == "ValueError" and second == {"errorType": "looks like one", "n": 2}
    # A success whose body merely looks like an error is a success.
    write_file(handler, "def handler(event, context):\n    return {'errorType': 'X', 'errorMessage': 'y'}\n")
    assert run_cli("invoke", str(handler)).returncode == 0
