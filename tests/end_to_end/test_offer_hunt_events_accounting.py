"""Hunt: a burst of Event invokes behind environments that finish each invoke late (an extension that works after
it), stopped by SIGTERM mid-burst: every Event invoke accepted with 202 either runs once, or is said not run; none
runs twice, none is silent, no process is left."""

from __future__ import annotations

import collections
import re
import signal
from pathlib import Path

import httpx
import pytest

from e2e_support import ServeProcess, descendants, wait_all_gone, write_file
from test_fleet_support import WORKING_EXTENSION
from test_offer_hunt_record_replay import HANDLER

pytestmark = pytest.mark.timeout(180)

START = r"\[platform\]\s+START RequestId: ([0-9a-f-]+)"
NOT_RUN = r"Event invoke ([0-9a-f-]+) was not run"


@pytest.mark.parametrize("lags", ["0.01", "0.03,0.2"])
@pytest.mark.parametrize("concurrency", [1, 2])
@pytest.mark.parametrize("stop_after", [3, 12])
def test_every_accepted_event_runs_once_or_is_said_not_run(code_dir: Path, lags: str, concurrency: int,
                                                            stop_after: int) -> None:
    handler = write_file(code_dir / "handler.py", HANDLER)
    write_file(code_dir / "extensions" / "lagging", WORKING_EXTENSION, executable=True)
    with ServeProcess(handler, "--concurrency", str(concurrency), "--timeout", "30", "--env", f"LAG_S={lags}",
                      "--shutdown-grace", "1") as served:
        root = served.proc.pid
        accepted: list[str] = []
        with httpx.Client(timeout=30) as client:
            for i in range(stop_after):
                answer = client.post(served.invoke_url(), json={"tag": f"e{i}"},
                                     headers={"X-Amz-Invocation-Type": "Event"})
                assert answer.status_code == 202, answer.text
                accepted.append(answer.headers["x-amzn-RequestId"])
            # A synchronous one too, sent as soon as the last was answered.
            sync = client.post(served.invoke_url(), json={"tag": "sync"})
            assert sync.status_code in (200, 429), sync.text  # 429: the events hold the one environment
            served.signal(signal.SIGTERM)
        before = descendants(root)
        code = served.wait(60)
        output = served.output()
    assert code == 0, output
    assert not wait_all_gone(before, 10)
    started = collections.Counter(re.findall(START, output))
    not_run = collections.Counter(re.findall(NOT_RUN, output))
    for rid in accepted:
        assert started[rid] + not_run[rid] == 1, (rid, started[rid], not_run[rid], output)
