"""What the tests of a failed Event invoke's retries share: the lines `lambdatui serve` prints about them, and an
Event invoke sent to its Invoke API."""

from __future__ import annotations

import json

import httpx

from e2e_support import ServeProcess

START = r"#\d+ \[platform\]\s+START RequestId: ([0-9a-f-]+) "
REPORT = r"\[platform\]\s+REPORT RequestId: ([0-9a-f-]+)"
# (request id, error type, wait in s, which retry)
RETRYING = (r"\[lambdatui\]\s+Event invoke ([0-9a-f-]+) failed \(([^)]+)\): Lambda runs it again in ([\d.]+) s "
            r".*\(retry (\d) of")
# (request id, error type, why)
DISCARDED = r"\[lambdatui\]\s+Event invoke ([0-9a-f-]+) failed \(([^)]+)\) and is discarded: (.*)"


def send_event(served: ServeProcess, event: dict) -> str:
    """An Event invoke of `event`: its request id, once serve answered 202."""
    answer = httpx.post(served.invoke_url(), content=json.dumps(event).encode(),
                        headers={"X-Amz-Invocation-Type": "Event"}, timeout=30)
    assert answer.status_code == 202, answer.text
    return answer.headers["x-amzn-RequestId"]
