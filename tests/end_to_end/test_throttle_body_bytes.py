"""The throttle's body, byte for byte (found by a bug hunt).

README (`lambdatui serve`): "Above `--concurrency` a synchronous invoke gets Lambda's throttle: 429
`TooManyRequestsException`, body
`{"Reason":"ReservedFunctionConcurrentInvocationLimitExceeded","Type":"User","message":"Rate Exceeded."}`";
lambda-spec §11.1 gives the same text, Lambda's own: compact JSON, no blank after a colon or a comma. lambdatui sent
`{"Reason": "ReservedFunctionConcurrentInvocationLimitExceeded", "Type": "User", "message": "Rate Exceeded."}`
(json.dumps' default separators), so a client or a recorded fixture that compared the body as text saw another body.
The parsed JSON is the same (test_fleet_throttling.py checks that), and so is the function URL's 429, which is
compact already (`{"message":"Rate Exceeded."}`).
"""

from __future__ import annotations

from pathlib import Path

import httpx

from e2e_support import ServeProcess
from test_fleet_support import READY, InFlight, invoke, wait_for_count, write_function

LAMBDAS_BODY = b'{"Reason":"ReservedFunctionConcurrentInvocationLimitExceeded","Type":"User","message":"Rate Exceeded."}'


def test_a_throttled_invoke_gets_lambdas_body_byte_for_byte(code_dir: Path) -> None:
    handler = write_function(code_dir)
    release = code_dir / "release"
    with ServeProcess(handler, "--concurrency", "1", "--timeout", "30") as served:
        busy = InFlight(served, {"tag": "busy", "release": str(release)})
        try:
            wait_for_count(served, READY, 1)
            plain = invoke(served, {"tag": "throttled"})
            streamed = httpx.post(f"{served.base_url}/2021-11-15/functions/function/response-streaming-invocations",
                                  content=b"{}", timeout=30)
        finally:
            release.touch()
        assert busy.response().status_code == 200
        assert plain.status_code == 429, plain.text
        assert plain.headers["x-amzn-ErrorType"] == "TooManyRequestsException"
        assert plain.content == LAMBDAS_BODY
        assert streamed.status_code == 429, streamed.text
        assert streamed.content == LAMBDAS_BODY
