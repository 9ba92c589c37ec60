"""Record -> replay, checked by a bug hunt and kept as regressions.

`serve --record` sessions of a fleet (a burst past `--concurrency` with its 429,
`Event` invokes queued at the limit, an environment `--idle-shutdown` spun down) replay with `lambdatui replay` to the
same outcome, and an edited fleet count fails the replay, naming it.

README: "Invokes in flight together in several environments ... are one `parallel` step (a throttled one included,
with its 429), with the fleet's counts"; "An environment `--idle-shutdown` spun down is a `pause` as long as the
limit".
"""

from __future__ import annotations

import json
import re
import signal
import threading
from pathlib import Path

import httpx

from e2e_support import ServeProcess, run_cli, write_file

HANDLER = '''import time

calls = 0


def handler(event, context):
    global calls
    calls += 1
    if event.get("kind") == "raise":
        raise ValueError("boom")
    if event.get("sleep"):
        time.sleep(event["sleep"])
    return {"calls": calls, "i": event.get("i")}
'''


def _stop(served: ServeProcess) -> None:
    served.signal(signal.SIGINT)
    assert served.wait(timeout=30) == 0, served.output()


def test_a_burst_past_the_limit_with_its_throttle_replays_and_an_edited_count_fails(code_dir: Path) -> None:
    handler = write_file(code_dir / "handler.py", HANDLER)
    recording = code_dir / "burst.toml"
    with ServeProcess(handler, "--record", str(recording), "--concurrency", "2") as served:
        answers: dict[int, httpx.Response] = {}
        # The two that will run hold their environments for 2 s: the third, sent once both are busy, is throttled.
        started = threading.Barrier(3)

        def call(i: int) -> None:
            started.wait(10)
            answers[i] = httpx.post(served.invoke_url(), content=json.dumps({"sleep": 2, "i": i}), timeout=30)

        threads = [threading.Thread(target=call, args=(i,)) for i in range(3)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
        statuses = sorted(answer.status_code for answer in answers.values())
        assert statuses == [200, 200, 429], {i: (a.status_code, a.text) for i, a in answers.items()}
        with httpx.Client(timeout=30) as client:
            for _ in range(2):
                assert client.post(served.invoke_url(), content=b"{}").json()["calls"] == 2
        _stop(served)
    text = recording.read_text()
    assert "parallel = [" in text and "expect.throttled = 1" in text and "env = 2" in text, text

    replayed = run_cli("replay", str(handler), str(recording))
    assert replayed.returncode == 0, text + replayed.stdout[-3000:] + replayed.stderr[-2000:]
    assert "THROTTLED 429 TooManyRequestsException" in replayed.stdout, replayed.stdout[-3000:]

    edited = write_file(code_dir / "edited.toml", text.replace("expect.throttled = 1", "expect.throttled = 0"))
    failed = run_cli("replay", str(handler), str(edited))
    assert failed.returncode == 1, failed.stdout[-3000:]
    assert "FAILED     expect.throttled at step 1" in failed.stdout, failed.stdout[-3000:]
    assert re.search(r"expected\s+0 during the step", failed.stdout), failed.stdout[-3000:]


def test_event_invokes_queued_at_the_limit_replay_after_the_invoke_they_waited_for(code_dir: Path) -> None:
    handler = write_file(code_dir / "handler.py", HANDLER)
    recording = code_dir / "queued.toml"
    with ServeProcess(handler, "--record", str(recording), "--concurrency", "1") as served:
        with httpx.Client(timeout=30) as client:
            done: dict[str, httpx.Response] = {}
            slow = threading.Thread(target=lambda: done.setdefault(
                "slow", httpx.post(served.invoke_url(), content=b'{"sleep": 1.5, "i": 0}', timeout=30)))
            slow.start()
            served.wait_for_line(r"START RequestId")  # the slow invoke holds the only environment
            event = {"X-Amz-Invocation-Type": "Event"}
            assert client.post(served.invoke_url(), content=b'{"kind": "raise"}', headers=event).status_code == 202
            assert client.post(served.invoke_url(), content=b'{"i": 2}', headers=event).status_code == 202
            slow.join(30)
            assert done["slow"].json() == {"calls": 1, "i": 0}
            served.wait_for_lines(r"REPORT RequestId", 3)  # both queued Event invokes ran
            assert client.post(served.invoke_url(), content=b'{"i": 3}').json() == {"calls": 4, "i": 3}
        _stop(served)
    text = recording.read_text()
    assert text.count("invocation_type = 'Event'") == 2 and "error_type = 'ValueError'" in text, text
    replayed = run_cli("replay", str(handler), str(recording))
    assert replayed.returncode == 0, text + replayed.stdout[-3000:] + replayed.stderr[-2000:]


def test_an_idle_shutdown_recorded_by_serve_replays_as_a_pause_with_a_cold_start_after_it(code_dir: Path) -> None:
    handler = write_file(code_dir / "handler.py", HANDLER)
    recording = code_dir / "idle.toml"
    with ServeProcess(handler, "--record", str(recording), "--idle-shutdown", "1") as served:
        with httpx.Client(timeout=30) as client:
            assert client.post(served.invoke_url(), content=b"{}").json()["calls"] == 1
            assert client.post(served.invoke_url(), content=b"{}").json()["calls"] == 2
            served.wait_for_line(r"env #1 has been idle for 1 s: it is shut down", timeout=15)
            assert client.post(served.invoke_url(), content=b"{}").json()["calls"] == 1
        _stop(served)
    text = recording.read_text()
    assert re.search(r"^pause = ", text, re.M), text
    replayed = run_cli("replay", str(handler), str(recording))
    assert replayed.returncode == 0, text + replayed.stdout[-3000:] + replayed.stderr[-2000:]
    assert "env #1 has been idle for 1 s: it is shut down" in replayed.stdout, replayed.stdout[-3000:]
