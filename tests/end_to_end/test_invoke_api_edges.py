"""The Invoke API and SAM templates as real clients and templates meet them (a bug hunt's findings, fixed).

Each test states what Lambda (or lambdatui's own README and its other routes) does, where lambdatui did otherwise.
"""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import pytest

from e2e_support import SAMPLES, ServeProcess, run_cli, write_file

HELLO = SAMPLES / "hello" / "handler.py"
BOUND = 30  # seconds


# ---------------------------------------------------------------------- OPTIONS on the Invoke API's paths


@pytest.mark.parametrize("path", [
    "/2015-03-31/functions/hello/invocations",      # Invoke
    "/2014-11-13/functions/hello/invoke-async/",    # InvokeAsync
])
def test_options_on_an_invoke_path_is_refused_as_every_other_method_is(path: str) -> None:
    """GET, PUT, DELETE and HEAD on these paths are 405 `MethodNotAllowed` in Lambda's JSON error shape, with an
    x-amzn-RequestId (every AWS answer carries one: invoke_checks.InvokeRefused.parts), and so is OPTIONS on the
    streaming invoke's path. OPTIONS on Invoke's and InvokeAsync's paths got quart's automatic answer: 200,
    `content-type: text/html`, `allow: POST, OPTIONS`, no request id, which no AWS endpoint sends (a browser's CORS
    preflight against the Invoke API was told it may POST)."""
    with ServeProcess(HELLO) as served, httpx.Client(base_url=served.base_url, timeout=BOUND) as client:
        reference = client.request("PUT", path)
        streaming = client.request("OPTIONS", "/2021-11-15/functions/hello/response-streaming-invocations")
        options = client.request("OPTIONS", path)
    assert reference.status_code == 405 and streaming.status_code == 405  # how lambdatui answers another method
    assert reference.headers["x-amzn-errortype"] == "MethodNotAllowed"
    assert options.status_code == 405, (options.status_code, dict(options.headers), options.text)
    assert options.headers.get("x-amzn-errortype") == "MethodNotAllowed", dict(options.headers)
    assert re.fullmatch(r"[0-9a-f-]{36}", options.headers.get("x-amzn-requestid", "")), dict(options.headers)
    assert options.headers.get("content-type") == "application/json"


# ---------------------------------------------------------------------- a template's FunctionName


APP = """def handler(event, context):
    return {"name": context.function_name}
"""

TEMPLATE = """Transform: AWS::Serverless-2016-10-31
Resources:
  Fn:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: src/
      Runtime: python3.12
      Handler: app.handler
      FunctionName: "{name}"
"""


@pytest.mark.parametrize("name", ["my fn/x", "a" * 65])
def test_a_function_name_lambda_refuses_is_refused_not_run(tmp_path: Path, name: str) -> None:
    """Lambda's FunctionName is `[a-zA-Z0-9-_]+`, at most 64 characters (CreateFunction's constraint; CloudFormation
    refuses the stack). The README says what CloudFormation would refuse a template for is one line and exit 2.
    lambdatui ran the function under that name: `context.function_name` was "my fn/x", its ARN held a space and a
    slash, and `serve` printed an invoke URL (`.../functions/my fn/x/invocations`) that curl cannot use as printed."""
    write_file(tmp_path / "src" / "app.py", APP)
    template = write_file(tmp_path / "template.yaml", TEMPLATE.format(name=name))
    done = run_cli("invoke", str(template))
    assert done.returncode == 2, (done.returncode, done.stdout, done.stderr)
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "FunctionName" in lines[0], done.stderr
