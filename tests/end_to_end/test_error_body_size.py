"""How large a runtime's /error body may be, end to end: a real custom runtime, real HTTP (lambda-spec §1.4, §1.5).

RAPID reads an /error body whole and sends it to the caller as it sends a /response, under the same payload limit
(6,291,556 bytes; the 1 MiB cap is the Managed-Instances RAPID's). Within it, the caller gets the body as the
runtime sent it; past it, the runtime gets 413 RequestEntityTooLarge and the caller Function.ResponseSizeTooLarge.
Never an error emptied of its body.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import trio

from e2e_support import write_file
from lambdatui.config import resolve_function
from lambdatui.model import error_types as et
from lambdatui.runner import open_environment

PROMPT_S = 10.0  # far below the function timeout: an answer within this came from the runtime, not a timeout
TIMEOUT_S = 30
ERROR_TYPE = "Runtime.Big"
EMPTY_ERROR = json.dumps({"errorMessage": "", "errorType": "Big"}).encode()  # the body, less its message

# For an event {"size": n} it posts /error with a message of n bytes; for any other event it answers what each of
# its /error calls was answered (kept in its memory: a re-Init would forget them).
BIG_ERROR_RUNTIME = """#!{python}
import http.client, json, os
host, port = os.environ["AWS_LAMBDA_RUNTIME_API"].split(":")
conn = http.client.HTTPConnection(host, int(port))
answers = []
while True:
    conn.request("GET", "/2018-06-01/runtime/invocation/next")
    response = conn.getresponse()
    event = json.loads(response.read())
    path = "/2018-06-01/runtime/invocation/%s/" % response.getheader("Lambda-Runtime-Aws-Request-Id")
    if "size" in event:
        body = json.dumps({{"errorMessage": "m" * event["size"], "errorType": "Big"}})
        conn.request("POST", path + "error", body=body,
                     headers={{"Lambda-Runtime-Function-Error-Type": {error_type!r}}})
        answer = conn.getresponse()
        answers.append([answer.status, json.loads(answer.read())])
    else:
        conn.request("POST", path + "response", body=json.dumps({{"answers": answers}}))
        conn.getresponse().read()
"""


@pytest.mark.trio
@pytest.mark.parametrize("size", [1024 * 1024 + 1, et.MAX_RESPONSE_BYTES], ids=["over-1-MiB", "at-the-limit"])
async def test_an_error_body_within_the_payload_limit_reaches_the_caller_whole(code_dir: Path, size: int) -> None:
    bootstrap = write_file(code_dir / "bootstrap", BIG_ERROR_RUNTIME.format(python=sys.executable,
                                                                            error_type=ERROR_TYPE), executable=True)
    message = size - len(EMPTY_ERROR)  # the body the runtime sends is `size` bytes
    with trio.fail_after(TIMEOUT_S * 2):
        async with open_environment(resolve_function(str(bootstrap), timeout_s=TIMEOUT_S)) as running:
            with trio.fail_after(PROMPT_S):
                failed, _ = await running.host.invoke(json.dumps({"size": message}).encode())
                report, _ = await running.host.invoke(b"{}")
    assert failed.function_error and failed.error_type == "Big"  # the body's type, as for any /error
    assert len(failed.payload) == size
    assert json.loads(failed.payload) == {"errorMessage": "m" * message, "errorType": "Big"}
    assert json.loads(report.payload)["answers"] == [[202, {"status": "OK"}]]


@pytest.mark.trio
async def test_an_error_body_past_the_payload_limit_is_refused_413_and_fails_the_invoke(code_dir: Path) -> None:
    bootstrap = write_file(code_dir / "bootstrap", BIG_ERROR_RUNTIME.format(python=sys.executable,
                                                                            error_type=ERROR_TYPE), executable=True)
    message = et.MAX_RESPONSE_BYTES + 1 - len(EMPTY_ERROR)  # one byte too many
    with trio.fail_after(TIMEOUT_S * 2):
        async with open_environment(resolve_function(str(bootstrap), timeout_s=TIMEOUT_S)) as running:
            with trio.fail_after(PROMPT_S):
                failed, _ = await running.host.invoke(json.dumps({"size": message}).encode())
                report, _ = await running.host.invoke(b"{}")
    assert failed.function_error and failed.error_type == et.FUNCTION_RESPONSE_SIZE_TOO_LARGE
    assert json.loads(failed.payload) == {
        "errorType": et.FUNCTION_RESPONSE_SIZE_TOO_LARGE,
        "errorMessage": f"Response payload size exceeded maximum allowed payload size ({et.MAX_RESPONSE_BYTES} bytes).",
    }
    # The runtime heard why, on a connection that goes on; the same process answers the next invoke.
    assert json.loads(report.payload)["answers"] == [[413, {
        "errorType": et.REQUEST_ENTITY_TOO_LARGE,
        "errorMessage": f"Exceeded maximum allowed payload size ({et.MAX_RESPONSE_BYTES} bytes).",
    }]]
