"""Hunt: `lambdatui serve` stopped by SIGTERM while an invoke is offered to an environment finishing its last one.

A custom runtime that, as awslambdaric, asks for its next event once its 202 is read, and after its first invoke
only once the test makes the file `go` (env #1 finishes its invoke until then). The second invoke, sent as soon as
the first is answered, is offered to env #1 (for what is left of the 50 ms grace); the signal comes within it.
"""

from __future__ import annotations

import re
import signal
from pathlib import Path

import httpx

from e2e_support import ServeProcess
from late_next_runtime import late_next_bootstrap

HTTP_TIMEOUT = 30.0


def test_an_event_invoke_accepted_just_before_sigterm_runs_in_the_drain(code_dir: Path) -> None:
    path = late_next_bootstrap(code_dir)
    with ServeProcess(path, "--concurrency", "1", "--timeout", "30") as served:
        url = served.invoke_url()
        with httpx.Client(timeout=HTTP_TIMEOUT) as client:
            # The Invoke API imports its full app (~150 ms) on the first request that needs it: done now.
            assert client.post(url, content=b"{}", headers={"X-Amz-Invocation-Type": "DryRun"}).status_code == 204
            first = client.post(url, content=b'{"first": 1}')
            event = client.post(url, content=b'{"event": 1}', headers={"X-Amz-Invocation-Type": "Event"})
            served.signal(signal.SIGTERM)  # within the offer's 50 ms
        assert first.status_code == 200 and event.status_code == 202, (first.text, event.text)
        rid = event.headers["x-amzn-RequestId"]
        # Either the drain begins (the Event invoke is pending), or it is said not run.
        served.wait_for_line(r"stopping: the Event invokes|was not run")
        (code_dir / "go").touch()
        assert served.wait(timeout=30) == 0, served.output()
        output = served.output()
    assert f"Event invoke {rid} was not run" not in output, output
    assert re.search(rf"ran {rid} ", output), output
