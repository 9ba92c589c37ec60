"""`lambdatui serve` as AWS's own clients call it: boto3 and botocore's parsing, exceptions and waiters.

One template with two functions is served for the whole module (`--function First`): its sibling `Second` is the
function a caller may name by mistake. Each test uses boto3 as a user's code would (dummy credentials, the served
endpoint), with botocore's retries off unless the test is about them. The module's `serve` is stopped by its
fixture; nothing is written outside `module_code_dir`.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Iterator

import boto3
import httpx
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError, WaiterError

from e2e_support import ServeProcess, write_file

HANDLER = '''import sys


def handler(event, context):
    if event.get("print") is not None:
        sys.stdout.write(event["print"])
        sys.stdout.flush()
        return "printed"
    cc = context.client_context
    return {"event": event, "custom": None if cc is None else cc.custom}
'''

TEMPLATE = '''AWSTemplateFormatVersion: "2010-09-09"
Transform: AWS::Serverless-2016-10-31
Resources:
  First:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: src/
      Handler: handler.handler
      Runtime: python3.12
  Second:
    Type: AWS::Serverless::Function
    Properties:
      FunctionName: second-fn
      CodeUri: src/
      Handler: handler.handler
      Runtime: python3.12
'''

TAIL_BYTES = 4096


@pytest.fixture(scope="module")
def served(module_code_dir: Path) -> Iterator[ServeProcess]:
    write_file(module_code_dir / "src" / "handler.py", HANDLER)
    template = write_file(module_code_dir / "template.yaml", TEMPLATE)
    with ServeProcess(template, "--function", "First") as server:
        yield server


def lambda_client(served: ServeProcess, **config: object):
    return boto3.client(
        "lambda", endpoint_url=served.base_url, region_name="us-east-1",
        aws_access_key_id="x", aws_secret_access_key="x",
        config=Config(**{"retries": {"max_attempts": 1}, "read_timeout": 30, "connect_timeout": 5, **config}),
    )


# ---------------------------------------------------------------------- findings


def test_a_sibling_not_found_carries_the_message_field_botocore_models(served: ServeProcess) -> None:
    # Lambda answers `{"Message":"Function not found: arn:...","Type":"User"}` (capital M, as its API model names the
    # member of ResourceNotFoundException). botocore fills Error.Message from either spelling, but the exception's
    # modeled fields (`err.response["Message"]`, the SDKs' typed `Message`) only from the modeled one.
    client = lambda_client(served)
    calls = [
        lambda: client.invoke(FunctionName="Second", Payload=b"{}"),
        lambda: client.invoke_with_response_stream(FunctionName="second-fn", Payload=b"{}"),
        lambda: client.invoke_async(FunctionName="Second", InvokeArgs=b"{}"),
    ]
    for call in calls:
        with pytest.raises(client.exceptions.ResourceNotFoundException) as raised:
            call()
        response = raised.value.response
        assert response["Error"]["Message"].startswith("Function not found: arn:aws:lambda:"), response
        assert response["Type"] == "User", response
        assert response.get("Message") == response["Error"]["Message"], response


# ---------------------------------------------------------------------- what works, and no other test pins


@pytest.mark.parametrize("pad", [0, 1, 2])
def test_a_log_result_cut_inside_a_character_still_decodes_as_utf_8(served: ServeProcess, pad: int) -> None:
    # 3-byte characters printed past the 4 KB: wherever the cut falls (`pad` shifts the bytes after them), boto3
    # users decode the LogResult as UTF-8, and the tail must start at a character, end with REPORT and be ~4 KB.
    client = lambda_client(served)
    text = "\u20ac" * 2000 + "a" * pad + "\n"
    response = client.invoke(FunctionName="First", LogType="Tail", Payload=json.dumps({"print": text}).encode())

    assert json.loads(response["Payload"].read()) == "printed"
    raw = base64.b64decode(response["LogResult"])
    assert TAIL_BYTES - 3 <= len(raw) <= TAIL_BYTES, len(raw)
    log = raw.decode("utf-8")  # no UnicodeDecodeError at its first byte
    request_id = response["ResponseMetadata"]["RequestId"]
    lines = log.splitlines()
    assert lines[-1].startswith(f"REPORT RequestId: {request_id}\t"), lines[-3:]
    assert f"END RequestId: {request_id}" in lines
    assert lines[0].rstrip("a").strip("\u20ac") == "", lines[0][:40]  # the printed line's end, from a whole character
    assert not log.startswith("START")


def test_client_context_refusals_are_the_exceptions_botocore_names(served: ServeProcess) -> None:
    client = lambda_client(served)
    encoded = base64.b64encode(json.dumps({"custom": {"k": "v" * 2650}}).encode()).decode()
    assert len(encoded) <= 3583  # "Up to 3,583 bytes of base64-encoded data" (Invoke's API reference)
    answer = json.loads(client.invoke(FunctionName="First", ClientContext=encoded, Payload=b"{}")["Payload"].read())
    assert answer["custom"] == {"k": "v" * 2650}

    too_long = base64.b64encode(json.dumps({"custom": {"k": "v" * 2700}}).encode()).decode()
    with pytest.raises(client.exceptions.InvalidParameterValueException):
        client.invoke(FunctionName="First", ClientContext=too_long, Payload=b"{}")
    for wrong in ("!!!not-base64", base64.b64encode(b"not json").decode(), '{"custom": {}}'):
        with pytest.raises(client.exceptions.InvalidRequestContentException) as raised:
            client.invoke(FunctionName="First", ClientContext=wrong, Payload=b"{}")
        assert raised.value.response["Error"]["Message"] == "Client context must be a valid Base64-encoded JSON object."


def test_waiters_and_management_calls_fail_at_once_naming_what_is_served(served: ServeProcess) -> None:
    # A waiter polls GetFunction: a 404 it reads as "not there yet" (ResourceNotFoundException) would have it poll
    # for minutes; UnknownOperationException ends it at the first answer, saying why.
    client = lambda_client(served)
    with pytest.raises(WaiterError) as waited:
        client.get_waiter("function_exists").wait(FunctionName="First", WaiterConfig={"Delay": 1, "MaxAttempts": 3})
    assert "UnknownOperationException" in str(waited.value) and "Invoke API" in str(waited.value)
    assert waited.value.last_response["ResponseMetadata"]["HTTPStatusCode"] == 404

    for call in (client.list_functions, lambda: client.get_function_configuration(FunctionName="First"),
                 lambda: client.publish_version(FunctionName="First")):
        with pytest.raises(ClientError) as raised:
            call()
        assert raised.value.response["Error"]["Code"] == "UnknownOperationException", raised.value.response
        assert "not an operation lambdatui serves" in raised.value.response["Error"]["Message"]


def test_name_forms_and_qualifiers_reach_the_function_as_boto3_encodes_them(served: ServeProcess) -> None:
    # boto3 percent-encodes the FunctionName's colons and `$`, on the plain route and on the quart one (LogType).
    client = lambda_client(served)
    for name, options in [("123456789012:function:First:live", {}),
                          ("arn:aws:lambda:us-east-1:123456789012:function:First", {"Qualifier": "$LATEST"}),
                          ("First", {"Qualifier": "7", "LogType": "Tail"})]:
        response = client.invoke(FunctionName=name, Payload=b'{"n": 1}', **options)
        assert response["StatusCode"] == 200 and response["ExecutedVersion"] == "$LATEST", response
        assert json.loads(response["Payload"].read())["event"] == {"n": 1}
    with pytest.raises(client.exceptions.InvalidParameterValueException):
        client.invoke(FunctionName="First:live", Qualifier="other", Payload=b"{}")
    with pytest.raises(ClientError) as raised:
        client.invoke(FunctionName="First:a:b", Payload=b"{}")
    assert raised.value.response["Error"]["Code"] == "ValidationException"


def test_a_not_found_body_on_the_wire(served: ServeProcess) -> None:
    # The same refusal as the xfail above, over plain HTTP: its type in X-Amzn-ErrorType and an id, as botocore needs.
    answer = httpx.post(served.invoke_url("second-fn"), content=b"{}", timeout=30)
    assert answer.status_code == 404
    assert answer.headers["x-amzn-errortype"] == "ResourceNotFoundException"
    assert answer.headers["x-amzn-requestid"]
    assert answer.json()["Type"] == "User"
