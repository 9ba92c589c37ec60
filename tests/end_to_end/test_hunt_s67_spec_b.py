"""From a bug hunt (session 67): lambda-spec §10 (layers, memory, exec wrappers, reserved variables, SAM templates),
§11 (concurrency, throttling, provisioned concurrency, Managed Instances) and §12 (streaming invokes, function URLs),
checked through the real CLI (`lambdatui invoke`, `lambdatui serve` with boto3 and httpx) where those facts meet:

* a SAM template whose Globals set an `AWS_LAMBDA_EXEC_WRAPPER` that a Globals layer ships, beside the function's
  own layer and a Globals `MemorySize` (the wrapper written as AWS's guide writes one: it inserts interpreter
  options before the last argument);
* a wrapper that fails to start the runtime, through `serve` (each invoke fails, as each retries Init);
* a wrapper run again by every Init: after a crash's reset, and in a provisioned environment;
* a function URL served for a template function (its layer, wrapper, memory and name), with payload 2.0 and a 502;
* Lambda Managed Instances streaming two responses at once from one environment, a third invoke throttled;
* reserved variables set by a template's Globals and by SAM's --env-vars `Parameters`.

Two facts lambdatui gets wrong are pinned with strict xfails: reserved concurrency 0
(Lambda throttles every invoke; `--concurrency 0` is refused) and (where lambdatui runs as root) a function run as
root, not as Lambda's unprivileged user. Two more were fixed in the same session: a function whose code and layers
unzip past 250 MB ran without a word (it now runs with a line that says Lambda would refuse it), and the user's
credentials were passed through without saying which profile or key the function got.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import boto3
import httpx
import pytest
from botocore.config import Config

from e2e_support import ServeProcess, lambdatui_argv, platform_lines, run_cli, write_file, REPO
from test_fleet_support import wait_for_count

BOUND_S = 30.0
REPORT = r"\[platform\]\s+REPORT RequestId"
THROTTLE_BODY = {"Reason": "ReservedFunctionConcurrentInvocationLimitExceeded", "Type": "User",
                 "message": "Rate Exceeded."}


def lambda_client(served: ServeProcess):
    return boto3.client("lambda", endpoint_url=served.base_url, region_name="us-east-1",
                        aws_access_key_id="x", aws_secret_access_key="x",
                        config=Config(retries={"max_attempts": 0}, read_timeout=BOUND_S, connect_timeout=5))


def invoke_api(served: ServeProcess, event: dict) -> httpx.Response:
    return httpx.post(served.invoke_url(), content=json.dumps(event).encode(), timeout=BOUND_S)


# ---------------------------------------------------------------------- §10.3 wrappers, with §10.1 layers and §10.5

# AWS's guide ("Modifying the runtime environment", wrapper scripts): the wrapper gets the interpreter and its
# arguments, and inserts its own interpreter options before the last one (the runtime's entry script).
GUIDE_WRAPPER = r'''#!/bin/bash
export WRAPPED="memory $AWS_LAMBDA_FUNCTION_MEMORY_SIZE, init $AWS_LAMBDA_INITIALIZATION_TYPE"
args=("$@")
extra_args=("-X" "hunt67=wrapped")
args=("${args[@]:0:$#-1}" "${extra_args[@]}" "${args[@]: -1}")
exec "${args[@]}"
'''

WRAPPED_HANDLER = '''import os
import sys


def handler(event, context):
    import who
    return {"wrapped": os.environ.get("WRAPPED"), "xoptions": dict(sys._xoptions),
            "memory_env": os.environ["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"], "memory_context": context.memory_limit_in_mb,
            "who": who.WHO, "who_file": who.__file__, "globals_var": os.environ.get("FROM_GLOBALS"),
            "own_var": os.environ.get("FROM_FUNCTION"),
            "timeout_left_s": round(context.get_remaining_time_in_millis() / 1000)}
'''

WRAPPED_TEMPLATE = """\
AWSTemplateFormatVersion: "2010-09-09"
Transform: AWS::Serverless-2016-10-31
Globals:
  Function:
    Runtime: python3.11
    MemorySize: 384
    Timeout: 9
    Layers:
      - !Ref ToolsLayer
    Environment:
      Variables:
        FROM_GLOBALS: globals
        AWS_LAMBDA_EXEC_WRAPPER: /opt/wrapper
Resources:
  ToolsLayer:
    Type: AWS::Serverless::LayerVersion
    Properties:
      ContentUri: layers/tools/
  OwnLayer:
    Type: AWS::Serverless::LayerVersion
    Properties:
      ContentUri: layers/own/
  Fn:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: src/
      Handler: app.handler
      Timeout: 4
      Layers:
        - !Ref OwnLayer
      Environment:
        Variables:
          FROM_FUNCTION: own
"""


def test_a_templates_globals_wrapper_from_a_globals_layer_starts_the_runtime_with_its_options(code_dir: Path) -> None:
    """§10.3 + §10.1 + §10.5: the wrapper set in Globals' variables is the Globals layer's /opt/wrapper; it sees the
    function's memory size and execs the interpreter with the options it inserted; Globals' layer comes first, so the
    function's own layer's file replaces its; maps merge and the function's own Timeout wins."""
    write_file(code_dir / "src" / "app.py", WRAPPED_HANDLER)
    write_file(code_dir / "layers" / "tools" / "wrapper", GUIDE_WRAPPER, executable=True)
    write_file(code_dir / "layers" / "tools" / "python" / "who.py", "WHO = 'globals layer'\n")
    write_file(code_dir / "layers" / "own" / "python" / "who.py", "WHO = 'own layer'\n")
    template = write_file(code_dir / "template.yaml", WRAPPED_TEMPLATE)
    done = run_cli("invoke", str(template), "-e", "{}", timeout=BOUND_S)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {
        "wrapped": "memory 384, init on-demand",
        "xoptions": {"hunt67": "wrapped"},
        "memory_env": "384",
        "memory_context": "384",
        "who": "own layer",
        "who_file": "/opt/python/who.py",
        "globals_var": "globals",
        "own_var": "own",
        "timeout_left_s": 4,
    }
    report = [line for line in platform_lines(done.stderr) if line.startswith("REPORT ")]
    assert len(report) == 1 and "\tMemory Size: 384 MB\t" in report[0], done.stderr


def test_a_wrapper_that_never_starts_the_runtime_fails_every_invoke_served(code_dir: Path) -> None:
    """§10.3: "If the script fails to start the runtime, invocations fail": each invoke retries Init (suppressed),
    which runs the wrapper again, and fails as Runtime.ExitError with the wrapper's exit status."""
    handler = write_file(code_dir / "handler.py", "def handler(event, context):\n    return 'ran'\n")
    write_file(code_dir / "wrapper", "#!/bin/sh\necho wrapper gives up >&2\nexit 3\n", executable=True)
    with ServeProcess(handler, "--env", "AWS_LAMBDA_EXEC_WRAPPER=/var/task/wrapper") as served:
        for attempt in (1, 2):
            answer = invoke_api(served, {})
            assert answer.status_code == 200, answer.text
            assert answer.headers["x-amz-function-error"] == "Unhandled"
            error = answer.json()
            assert error["errorType"] == "Runtime.ExitError", error
            assert error["errorMessage"].endswith("Error: Runtime exited with error: exit status 3"), error
            wait_for_count(served, REPORT, attempt)
        output = served.output()
    assert output.count("[function]   wrapper gives up") == 3, output  # Init ahead of traffic, then each invoke's


COUNTING_WRAPPER = """#!/bin/sh
echo "$AWS_LAMBDA_INITIALIZATION_TYPE" >> /tmp/wrapper-runs
exec "$@"
"""

COUNTED_HANDLER = '''import os


def handler(event, context):
    if event.get("crash"):
        os._exit(9)
    with open("/tmp/wrapper-runs") as fh:
        return {"runs": fh.read().split()}
'''


def test_every_init_runs_the_wrapper_again_a_resets_one_and_a_provisioned_environments(code_dir: Path) -> None:
    """§10.3 with §4.5 and §11.2: the runtime is always started through the wrapper: at a provisioned environment's
    Init (which sees provisioned-concurrency) and again at the Init that follows a crash's reset (/tmp is kept)."""
    handler = write_file(code_dir / "handler.py", COUNTED_HANDLER)
    write_file(code_dir / "wrapper", COUNTING_WRAPPER, executable=True)
    with ServeProcess(handler, "--provisioned", "1", "--concurrency", "1",
                      "--env", "AWS_LAMBDA_EXEC_WRAPPER=/var/task/wrapper") as served:
        first = invoke_api(served, {})
        assert first.status_code == 200 and first.json()["runs"] == ["provisioned-concurrency"], first.text
        crashed = invoke_api(served, {"crash": True})
        assert crashed.headers.get("x-amz-function-error") == "Unhandled", crashed.text
        assert crashed.json()["errorType"] == "Runtime.ExitError", crashed.text
        after = invoke_api(served, {})
        assert after.status_code == 200, after.text
        runs = after.json()["runs"]
        assert len(runs) == 2 and runs[0] == "provisioned-concurrency", runs
        assert served.output().count("#2 ") == 0, served.output()  # one environment all along (--concurrency 1)


# ---------------------------------------------------------------------- §10.4 reserved variables, from a template

RESERVED_IN_GLOBALS = """\
Transform: AWS::Serverless-2016-10-31
Globals:
  Function:
    Environment:
      Variables:
        AWS_REGION: eu-west-1
Resources:
  Fn:
    Type: AWS::Serverless::Function
    Properties: {CodeUri: ., Handler: app.handler, Runtime: python3.11}
"""


def test_a_reserved_variable_in_globals_or_in_env_vars_parameters_is_refused(code_dir: Path) -> None:
    write_file(code_dir / "app.py", "def handler(event, context):\n    return 1\n")
    template = write_file(code_dir / "template.yaml", RESERVED_IN_GLOBALS)
    done = run_cli("invoke", str(template), "-e", "{}")
    assert done.returncode == 2 and done.stdout == "", done.stderr
    assert done.stderr.strip().splitlines() == [
        f"lambdatui: {template}: Fn: Environment.Variables: InvalidParameterValueException: Lambda was unable to "
        "configure your environment variables because the environment variables you have provided contains reserved "
        "keys that are currently not supported for modification. Reserved keys used in this request: AWS_REGION"]
    plain = write_file(code_dir / "plain.yaml", RESERVED_IN_GLOBALS.replace("AWS_REGION: eu-west-1", "STAGE: dev"))
    env_vars = write_file(code_dir / "env.json", json.dumps({"Parameters": {"TZ": "Europe/Paris"}}))
    done = run_cli("invoke", str(plain), "--env-vars", str(env_vars), "-e", "{}")
    assert done.returncode == 2 and done.stdout == "", done.stderr
    assert done.stderr.strip().endswith("Reserved keys used in this request: TZ"), done.stderr


# ---------------------------------------------------------------------- §12.3 a function URL of a template function

URL_HANDLER = '''import json
import os
import time


def handler(event, context):
    if event["rawPath"] == "/slow":
        time.sleep(10)
    import weblib
    return {"statusCode": 201, "cookies": ["a=1", "b=2; Path=/"], "body": json.dumps(event),
            "headers": {"x-memory": os.environ["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"], "x-layer": weblib.X,
                        "x-function": context.function_name, "x-wrapped": os.environ.get("WRAPPED", "-")}}
'''

URL_TEMPLATE = """\
Transform: AWS::Serverless-2016-10-31
Globals:
  Function:
    Runtime: python3.11
    MemorySize: 512
    Timeout: 1
Resources:
  WebLayer:
    Type: AWS::Serverless::LayerVersion
    Properties: {ContentUri: layer/}
  Other:
    Type: AWS::Serverless::Function
    Properties: {CodeUri: src/, Handler: app.handler}
  Web:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: src/
      Handler: app.handler
      FunctionName: web-fn
      Layers: [!Ref WebLayer]
      Environment: {Variables: {AWS_LAMBDA_EXEC_WRAPPER: /opt/wrap}}
      FunctionUrlConfig: {AuthType: NONE}
"""


def test_a_function_url_serves_a_template_function_with_its_layer_wrapper_and_memory(code_dir: Path) -> None:
    write_file(code_dir / "src" / "app.py", URL_HANDLER)
    write_file(code_dir / "layer" / "python" / "weblib.py", "X = 'from the layer'\n")
    write_file(code_dir / "layer" / "wrap", "#!/bin/sh\nexport WRAPPED=yes\nexec \"$@\"\n", executable=True)
    template = write_file(code_dir / "template.yaml", URL_TEMPLATE)
    with ServeProcess(template, "--function", "Web", "--url-port", "0") as served:
        address = served.function_url_address()
        with httpx.Client(base_url=f"http://{address}", timeout=BOUND_S) as client:
            page = client.get("/a/b%20c?x=1&x=2", headers=[("Cookie", "c=1; d=2"), ("X-Rep", "1"), ("X-Rep", "2")])
            slow = client.get("/slow")
    assert page.status_code == 201, page.text
    assert (page.headers["x-memory"], page.headers["x-layer"], page.headers["x-function"],
            page.headers["x-wrapped"]) == ("512", "from the layer", "web-fn", "yes")
    assert page.headers.get_list("set-cookie") == ["a=1", "b=2; Path=/"]
    event = page.json()
    assert (event["version"], event["routeKey"], event["rawPath"], event["rawQueryString"]) == \
        ("2.0", "$default", "/a/b%20c", "x=1&x=2")
    assert event["cookies"] == ["c=1", "d=2"]
    assert event["headers"]["x-rep"] == "1,2" and event["queryStringParameters"] == {"x": "1,2"}
    context = event["requestContext"]
    assert (context["stage"], context["routeKey"], context["http"]["method"], context["http"]["path"]) == \
        ("$default", "$default", "GET", "/a/b c")
    assert context["requestId"] == page.headers["x-amzn-requestid"]
    assert context["domainPrefix"] == context["apiId"] and isinstance(context["timeEpoch"], int)
    assert event["isBase64Encoded"] is False and "body" not in event
    # The template's Timeout (Globals: 1 s) holds for the URL: a timeout is a 502.
    assert (slow.status_code, slow.text) == (502, "Internal Server Error")


# ---------------------------------------------------------------------- §11.3 + §12: Managed Instances streaming

# A custom runtime that takes AWS_LAMBDA_MAX_CONCURRENCY invokes at once (one thread, one connection each), each
# answered in streaming mode: "start TAG", then (once the event's gate file exists) "end TAG".
THREADED_STREAMER = '''#!PYTHON
import http.client, json, os, threading, time
API = os.environ["AWS_LAMBDA_RUNTIME_API"]
P = "/2018-06-01/runtime/invocation"


def worker():
    while True:
        connection = http.client.HTTPConnection(API)
        connection.request("GET", P + "/next")
        answer = connection.getresponse()
        event = json.loads(answer.read())
        request_id = answer.getheader("Lambda-Runtime-Aws-Request-Id")

        def body():
            yield ("start %s\\n" % event["tag"]).encode()
            while event.get("gate") and not os.path.exists(event["gate"]):
                time.sleep(0.005)
            yield ("end %s\\n" % event["tag"]).encode()

        connection.request("POST", "%s/%s/response" % (P, request_id), body=body(), encode_chunked=True,
                           headers={"Lambda-Runtime-Function-Response-Mode": "streaming",
                                    "Transfer-Encoding": "chunked", "Content-Type": "text/plain"})
        done = connection.getresponse()
        done.read()
        connection.close()
        print("answered", event["tag"], done.status, flush=True)


threads = [threading.Thread(target=worker) for _ in range(int(os.environ.get("AWS_LAMBDA_MAX_CONCURRENCY", "1")))]
for thread in threads:
    thread.start()
for thread in threads:
    thread.join()
'''


def test_one_managed_instances_environment_streams_two_responses_at_once_and_a_third_is_throttled(
        code_dir: Path) -> None:
    bootstrap = write_file(code_dir / "fn" / "bootstrap", THREADED_STREAMER.replace("PYTHON", sys.executable, 1),
                           executable=True)
    gate = code_dir / "fn" / "gate"  # /var/task/gate to the runtime
    with ServeProcess(bootstrap, "--max-concurrency", "2", "--concurrency", "1", "--timeout", "20") as served:
        client = lambda_client(served)
        streams = {}
        for tag in ("a", "b"):
            response = client.invoke_with_response_stream(
                FunctionName="fn", Payload=json.dumps({"tag": tag, "gate": "/var/task/gate"}).encode())
            streams[tag] = iter(response["EventStream"])
            # Its first chunk while the other stream is held too: both run at once, in the one environment allowed.
            assert next(streams[tag]) == {"PayloadChunk": {"Payload": f"start {tag}\n".encode()}}
        with pytest.raises(client.exceptions.TooManyRequestsException) as caught:
            client.invoke_with_response_stream(FunctionName="fn", Payload=b'{"tag": "c"}')
        assert caught.value.response["Reason"] == THROTTLE_BODY["Reason"]
        gate.touch()
        for tag, events in streams.items():
            assert list(events) == [{"PayloadChunk": {"Payload": f"end {tag}\n".encode()}}, {"InvokeComplete": {}}]
        # Each /response was a success (202) to its worker, however the streams interleaved.
        answered = served.wait_for_lines(r"#1 \[function\]\s+answered (\w) (\d+)$", 2, timeout=BOUND_S)
        assert sorted((match.group(1), match.group(2)) for match in answered) == [("a", "202"), ("b", "202")]
        output = served.output()
    assert "#2 " not in output, output


# ---------------------------------------------------------------------- what lambdatui gets wrong


@pytest.mark.xfail(strict=True, reason="lambda-spec §11.1: reserved concurrency 0 throttles every invoke; "
                                       "`serve --concurrency 0` is refused at start (fleet_options.py)")
def test_reserved_concurrency_zero_throttles_every_synchronous_invoke(code_dir: Path) -> None:
    handler = write_file(code_dir / "handler.py", "def handler(event, context):\n    return 'ran'\n")
    with ServeProcess(handler, "--concurrency", "0") as served:
        answer = invoke_api(served, {})
        assert answer.status_code == 429, answer.text
        assert answer.headers["x-amzn-errortype"] == "TooManyRequestsException"
        assert answer.json() == THROTTLE_BODY
        assert "START RequestId" not in served.output()


def test_code_and_layers_unzipped_past_250_mb_are_named_and_still_run(code_dir: Path) -> None:
    """Lambda refuses to deploy a function whose code and layers unzip past 250 MB (lambda-spec §10.1). lambdatui runs
    the working copy it is given (unzipped_size.py says why), and says so on a line of its own."""
    handler = write_file(code_dir / "fn" / "handler.py", "def handler(event, context):\n    return 'ran'\n")
    layer = code_dir / "layer"
    (layer / "data").mkdir(parents=True)
    with open(layer / "data" / "model.bin", "wb") as blob:  # sparse: 200 MB in size, no disk used
        blob.truncate(200 * 1024 * 1024)
    done = run_cli("invoke", str(handler), "--layer", str(layer), "-e", "{}", timeout=BOUND_S)
    assert done.returncode == 0 and json.loads(done.stdout) == "ran", done.stderr
    assert "250 MB" not in done.stderr  # 200 MB and a handler: under the limit
    with open(code_dir / "fn" / "weights.bin", "wb") as blob:
        blob.truncate(60 * 1024 * 1024)
    done = run_cli("invoke", str(handler), "--layer", str(layer), "-e", "{}", timeout=BOUND_S)
    assert done.returncode == 0 and json.loads(done.stdout) == "ran", done.stderr
    said = [line for line in done.stderr.splitlines() if line.startswith("[lambdatui]") and "Size:" in line]
    assert len(said) == 1 and "more than 250 MB unzipped (262,144,000 bytes)" in said[0], done.stderr
    assert "its 1 layer (200 MB unzipped)" in said[0] and str(code_dir / "fn") in said[0], said


def test_the_profile_passed_through_to_the_function_is_named(code_dir: Path) -> None:
    handler = write_file(code_dir / "handler.py",
                         "import os\n\ndef handler(event, context):\n    return os.environ.get('AWS_PROFILE')\n")
    shell = {**os.environ, "AWS_PROFILE": "hunt-s67-profile"}
    done = subprocess.run([*lambdatui_argv(), "invoke", str(handler), "-e", "{}"], cwd=REPO, env=shell,
                          stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=BOUND_S)
    assert done.returncode == 0 and json.loads(done.stdout) == "hunt-s67-profile", done.stderr
    said = [line for line in done.stderr.splitlines()
            if "hunt-s67-profile" in line and not line.startswith(("[function]", "[platform]"))]
    assert said, done.stderr


@pytest.mark.xfail(strict=True, reason="lambda-spec §10.1: the function runs as an unprivileged user (sbx_user1051); "
                                       "lambdatui started by root runs it as root")
def test_the_function_runs_as_an_unprivileged_user_when_lambdatui_is_root(code_dir: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("lambdatui is not run by root here: the function is unprivileged as it is")
    handler = write_file(code_dir / "handler.py",
                         "import os\n\ndef handler(event, context):\n"
                         "    return [os.getuid(), os.geteuid(), os.access('/etc/shadow', os.R_OK)]\n")
    done = run_cli("invoke", str(handler), "-e", "{}")
    assert done.returncode == 0, done.stderr
    uid, euid, reads_shadow = json.loads(done.stdout)
    assert uid != 0 and euid != 0 and reads_shadow is False, (uid, euid, reads_shadow)
