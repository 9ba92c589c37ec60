"""A client context that is JSON but not an object (`[1,2]`), end to end over the Invoke API.

awslambdaric reads the client context's fields with `.get`, so in Lambda's Python runtime such an invocation fails
with `AttributeError: 'list' object has no attribute 'get'`: a function error, after which the runtime takes the next
event on the same warm environment. Our bootstrap must end it the same way (tests/bootstrap/test_bootstrap_parity.py
compares the two runtimes directly); this checks what a caller of `serve` sees.
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


def test_a_client_context_array_fails_that_invoke_as_awslambdaric_does_and_the_environment_stays_warm(
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

    assert odd.status_code == 200, odd.text
    assert odd.headers.get("x-amz-function-error") == "Unhandled"
    assert (odd.json()["errorType"], odd.json()["errorMessage"]) == ("AttributeError", "'list' object has no attribute 'get'")
    assert fine.status_code == 200 and fine.json() == {"custom": {"k": "v"}}, fine.text
    lines = platform_lines(output)
    assert sum(line.startswith("INIT_START") for line in lines) == 1, output  # no reset: the runtime lived on
