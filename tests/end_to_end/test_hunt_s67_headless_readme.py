"""README hunt (s67): `serve`, streaming, function URLs, `replay`'s scenario keys and custom runtimes, as README says.

Walked through against the real program: `serve`'s printed lines, its SIGINT/SIGTERM (twice, and once more during the
shutdown), Event invokes and their retries, the queue's 429 and the 1 MB limit, boto3's invoke_with_response_stream
(chunks, a trailer's error, a timeout and a crash mid-stream, the pacing past 6 MB), function URLs (status, cookies,
413, 400, a cut stream), every scenario key README lists for `replay` (faults with `at`/`after_ms`, `env`/`envs`,
`worker`/`workers`, `parallel` with `same`/`distinct`/`each`, Event invokes with `retries`/`after_retries`, `streamed`,
`pause`, `shutdown`, the `[function]` table) and a Node.js custom runtime's `_HANDLER`. One finding, fixed in the
same session (both tests failed before):

- A step's fleet counts (`expect.cold_starts`, `warm_hits`...: "during it") include the retries of earlier failed Event
  invokes that the replay waits for before that step (`after_retries = N`): the counts were read before that wait
  (scenario/run.py:_run_steps takes `before` ahead of `await_retries(..., before_step=True)`). In the session those
  retries had ended before the step's invokes came, and the recording counts none of them: a `serve --record` session
  with a failed Event invoke followed by a burst failed its own replay (`expect.warm_hits`: expected 1, got 2). The
  wait now comes before the step's facts are heard.

Run folders go to tmp_path and code_dir; every process started is stopped. Waits are on lines, with a bound.
"""

from __future__ import annotations

import http.client
import json
import signal
import threading
from pathlib import Path

from e2e_support import ServeProcess, run_cli, write_file

BOUND_S = 30.0

# Counts its invokes (module state survives warm invokes); fails on demand; waits for a go file (made by the test once
# both invokes of a burst have started, so that they are surely in flight together), with a bound.
HANDLER = """\
import os, time

count = 0

def handler(event, context):
    global count
    count += 1
    if event.get("fail"):
        raise ValueError("asked to fail")
    go = event.get("go")
    bound = time.monotonic() + 20
    while go and not os.path.exists(go) and time.monotonic() < bound:
        time.sleep(0.005)
    return {"count": count}
"""

AFTER_RETRIES_BURST = """\
[function]
retry_wait = 0.2
retry_attempts = 1

[[step]]
invoke = { fail = true }
invocation_type = "Event"
retries = 1

[[step]]
after_retries = 1   # the failed Event invoke's one retry had ended when this burst came
parallel = [{}, {}]
expect.each = [{ response = { count = 3 }, cold = false }, { response = { count = 1 }, cold = true }]
expect.cold_starts = 1
expect.warm_hits = 1
"""


def _invoke(base: str, payload: dict, invocation_type: str = "RequestResponse") -> tuple[int, bytes]:
    host, _, port = base.partition(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=BOUND_S)
    try:
        connection.request("POST", "/2015-03-31/functions/function/invocations", body=json.dumps(payload),
                           headers={"X-Amz-Invocation-Type": invocation_type})
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def test_a_burst_after_retries_counts_only_its_own_invokes(code_dir: Path, tmp_path: Path) -> None:
    """README: a step checks the fleet's "cold starts, warm hits, throttles and idle shutdowns during it"; an invoke that
    came once retries had ended "carries `after_retries = N`, and the replay waits for as many before it sends it"."""
    handler = write_file(code_dir / "handler.py", HANDLER)
    scenario = write_file(tmp_path / "after_retries.toml", AFTER_RETRIES_BURST)
    done = run_cli("replay", str(handler), str(scenario))
    assert done.returncode == 0, done.stdout + done.stderr


def test_a_serve_recording_with_retries_then_a_burst_replays(code_dir: Path, tmp_path: Path) -> None:
    """README: `serve --record FILE` "writes what happened as a scenario that replays to the same outcome", Event
    invokes' retries included (`retries = N`, `after_retries = N`)."""
    handler = write_file(code_dir / "handler.py", HANDLER)
    recording = tmp_path / "session.toml"
    go = code_dir / "go"
    with ServeProcess(handler, "--retry-wait", "0.2", "--maximum-retry-attempts", "1",
                      "--record", str(recording)) as serve:
        assert _invoke(serve.address, {"fail": True}, "Event")[0] == 202
        serve.wait_for_line(r"Event invoke \S+ failed \(ValueError\) and is discarded", timeout=BOUND_S)
        starts = len(serve.lines)
        answers: list[tuple[int, bytes]] = []
        callers = [threading.Thread(target=lambda: answers.append(_invoke(serve.address, {"go": str(go)})))
                   for _ in range(2)]
        for caller in callers:
            caller.start()
        serve.wait_for_lines(r"\[platform\]\s+START RequestId", 2, timeout=BOUND_S, start=starts)
        go.touch()  # both are in flight: now they may end
        for caller in callers:
            caller.join(BOUND_S)
        assert sorted(json.loads(body)["count"] for _, body in answers) == [1, 3], answers
        serve.signal(signal.SIGINT)
        assert serve.wait(BOUND_S) == 0, serve.output()
    text = recording.read_text()
    assert "after_retries = 1" in text and "parallel = [" in text, text
    # The recorded events name the go file, still there: the replay's burst (fired together) ends at once.
    done = run_cli("replay", str(handler), str(recording))
    assert done.returncode == 0, done.stdout + done.stderr
