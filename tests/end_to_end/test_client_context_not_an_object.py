"""A client context that is JSON but not an object (`[1,2]`), end to end over the Invoke API.

Lambda's front end takes the client context as an object (its refusal says "must be a valid Base64-encoded JSON
object"), so such an invoke is refused with 400 before any function runs, and the environment stays warm for the
next. (Should a runtime ever get one, ours fails that invoke as awslambdaric does, with an AttributeError:
tests/bootstrap/test_bootstrap_parity.py compares the two runtimes directly.)
"""

from __future__ import annotations

import base64
import json
from pathlib import Path

import httpx

from e2e_support import ServeProcess, platform_lines, write_file

PROBE = '''def handler(event, context):
    cc = context.client_context
    return {"custom": None if cc is None else cc.custom}
'''


def _encoded(value: object) -> str:
    return base64.b64encode(json.dumps(value).encode()).decode()


def test_a_client_context_array_is_refused_before_anything_runs_and_the_environment_stays_warm(
    code_dir: Path,
) -> None:
    handler = write_file(code_dir / "handler.py", PROBE)

    with ServeProcess(handler) as served:
        with httpx.Client(timeout=30) as http:
            odd = http.post(served.invoke_url(), content=b"{}", headers={"X-Amz-Client-Context": _encoded([1, 2])})
            fine = http.post(served.invoke_url(), content=b"{}",
                             headers={"X-Amz-Client-Context": _encoded({"custom": {"k": "v"}})})
        served.wait_for_line(r"REPORT RequestId: " + fine.headers["x-amzn-requestid"], timeout=10)
        output = served.output()

    assert odd.status_code == 400, odd.text
    assert odd.headers["x-amzn-errortype"] == "InvalidRequestContentException"
    assert odd.json()["message"] == "Client context must be a valid Base64-encoded JSON object."
    assert fine.status_code == 200 and fine.json() == {"custom": {"k": "v"}}, fine.text
    lines = platform_lines(output)
    assert sum(line.startswith("START") for line in lines) == 1, output  # only the fine one ran
    assert sum(line.startswith("INIT_START") for line in lines) == 1, output
