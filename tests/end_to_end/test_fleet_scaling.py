"""Scaling up to the limit (lambda-spec §11.1): N concurrent invokes get N environments, each its own cold start,
and they run side by side (one more than the limit is throttled, while the N are still starting); warm
environments are reused afterwards, not multiplied. Event invokes scale out the same way.

Real `lambdatui serve`, real runtimes. Which environment served an invoke is read twice, independently: from the
runtime process itself (a token drawn at import, the count of invokes it served) and from lambdatui's
`#N`-prefixed platform lines.
"""

from __future__ import annotations

import re
import time
import zipfile
from pathlib import Path

import httpx

from e2e_support import ServeProcess, write_file
from test_fleet_support import (
    INIT_START, READY, REPORT, WORKING_EXTENSION, env_of_request, invoke, line_index, matches, report_line,
    state_home, together, wait_for_count, write_function,
)

__all__ = ["state_home"]  # the fixture, used by name

RAN = r"#(\d+) \[function\]\s+ran tag="

N = 4  # at the limit: --concurrency N
SLEEP_S = 2.0  # each handler's own duration; N of them one after the other would take N times as long


def test_n_concurrent_invokes_get_n_cold_environments_that_run_side_by_side_then_stay_warm(code_dir: Path) -> None:
    handler = write_function(code_dir)
    with ServeProcess(handler, "--concurrency", str(N), "--timeout", "30") as served:
        began = time.monotonic()
        # N + 1 at once: one more than the limit. The environments being started for the others count against it
        # already (only env #1 exists when they arrive: serve initialises it ahead).
        calls = together(served, [{"tag": f"burst-{i}", "sleep": SLEEP_S} for i in range(N + 1)])
        answers = [call.response() for call in calls]
        elapsed = time.monotonic() - began

        assert sorted(r.status_code for r in answers) == [200] * N + [429], [r.text for r in answers]
        throttled = next(r for r in answers if r.status_code == 429)
        assert throttled.headers["x-amzn-ErrorType"] == "TooManyRequestsException"
        responses = [r for r in answers if r.status_code == 200]
        assert not any(r.headers.get("x-amz-function-error") for r in responses), [r.text for r in responses]
        bodies = [r.json() for r in responses]

        # N runtime processes, each met cold (its first invoke), each on-demand.
        tokens = {b["token"] for b in bodies}
        assert len(tokens) == N, bodies
        assert [b["n"] for b in bodies] == [1] * N, bodies
        assert {b["init_type"] for b in bodies} == {"on-demand"}

        # Side by side: every handler had started before any had ended; and the whole burst took less than
        # running them one after the other would (one environment: N x SLEEP_S at least).
        assert max(b["started"] for b in bodies) < min(b["ended"] for b in bodies), bodies
        assert elapsed < N * SLEEP_S, f"{N} invokes of {SLEEP_S} s took {elapsed:.2f} s: not run side by side"

        # lambdatui's side: N numbered environments, one INIT_START each, each invoke on its own environment
        # with an Init Duration in its REPORT, and each runtime's own lines under the same number. (A REPORT
        # follows the answer: wait for them.)
        wait_for_count(served, REPORT, N)
        init_starts = [int(m.group(1)) for m in matches(served, INIT_START)]
        assert sorted(init_starts) == list(range(1, N + 1)), served.output()
        by_request = {b["request_id"]: env_of_request(served, b["request_id"]) for b in bodies}
        assert sorted(by_request.values()) == list(range(1, N + 1)), by_request
        for body in bodies:
            assert "Init Duration:" in report_line(served, body["request_id"])
        ready_by_token = {m.group(3): int(m.group(1)) for m in matches(served, READY)}
        assert {b["token"]: ready_by_token[b["token"]] for b in bodies} == \
            {b["token"]: by_request[b["request_id"]] for b in bodies}
        assert len(wait_for_count(served, rf"throttled: all {N} environments are busy", 1)) == 1  # the one 429

        # Once they are done, a second burst finds N warm environments: the same processes, no new Init.
        again = [call.response() for call in together(served, [{"tag": f"warm-{i}"} for i in range(N)])]
        assert [r.status_code for r in again] == [200] * N, [r.text for r in again]
        warm = [r.json() for r in again]
        assert {b["token"] for b in warm} == tokens, (warm, tokens)
        assert [b["n"] for b in warm] == [2] * N, warm
        assert len(matches(served, INIT_START)) == N, served.output()
        wait_for_count(served, REPORT, 2 * N)
        for body in warm:
            assert "Init Duration:" not in report_line(served, body["request_id"])


def test_event_invokes_scale_out_to_environments_of_their_own(code_dir: Path) -> None:
    handler = write_function(code_dir)
    with ServeProcess(handler, "--concurrency", str(N), "--timeout", "30") as served:
        tags = [f"event-{i}" for i in range(N)]
        accepted = [invoke(served, {"tag": tag, "sleep": SLEEP_S}, invocation_type="Event") for tag in tags]
        assert [a.status_code for a in accepted] == [202] * N, [a.text for a in accepted]
        ready = wait_for_count(served, READY, N)
        assert sorted(int(m.group(1)) for m in ready) == list(range(1, N + 1)), served.output()
        assert len({m.group(3) for m in ready}) == N  # N runtime processes
        # Side by side: every one had started before the first ended.
        wait_for_count(served, RAN, N)
        last_ready = max(line_index(served, rf"ready tag={tag} ") for tag in tags)
        assert last_ready < line_index(served, RAN), served.output()


def test_at_the_limit_a_callers_next_invoke_waits_for_its_environment_finishing_the_last_one(code_dir: Path) -> None:
    """One caller, one invoke after the other, each sent as soon as the last was answered, while an extension is
    still finishing that last invoke (past the fleet's grace), at --concurrency 1: the same environment takes it
    (queued behind the finish), not a 429. (Under the limit a new environment takes it: test_fleet_finishing.py.)"""
    handler = write_function(code_dir)
    write_file(code_dir / "extensions" / "lagging", WORKING_EXTENSION, executable=True)
    with ServeProcess(handler, "--concurrency", "1", "--env", "LAG_S=0.1") as served:
        with httpx.Client(timeout=30) as client:
            answers = [invoke(served, {"tag": f"seq-{i}"}, client=client) for i in range(8)]
        assert [a.status_code for a in answers] == [200] * 8, [a.text for a in answers]
        bodies = [a.json() for a in answers]
        assert len({b["token"] for b in bodies}) == 1, bodies
        assert [b["n"] for b in bodies] == list(range(1, 9))
        assert len(matches(served, INIT_START)) == 1, served.output()
        # It was finishing each time: the extension's lag made the invoke longer than its answer.
        reports = wait_for_count(served, REPORT, 8)
        assert all(float(re.search(r"Duration: ([\d.]+) ms", m.group(0)).group(1)) >= 100 for m in reports), \
            [m.group(0) for m in reports]


LAYER_HANDLER = """
import time
import shared


def handler(event, context):
    time.sleep(event["sleep"])
    return shared.WHO
"""


def test_a_zip_layer_is_extracted_once_for_every_environment_of_the_fleet(code_dir: Path, state_home: Path) -> None:
    # Each new environment used to extract the zip again, on the host's one thread: with a large layer every
    # other environment's invoke stalled meanwhile (seconds, past its deadline). The run's one copy serves all.
    handler = write_file(code_dir / "fn" / "handler.py", LAYER_HANDLER)
    archive = code_dir / "layer.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("python/shared.py", "WHO = 'from the zip'\n")
    with ServeProcess(handler, "--layer", str(archive), "--timeout", "30") as served:
        calls = together(served, [{"sleep": 1.0} for _ in range(3)])
        answers = [call.response() for call in calls]
        assert [r.json() for r in answers] == ["from the zip"] * 3, [r.text for r in answers]
        assert len(wait_for_count(served, INIT_START, 3)) == 3  # three environments, each its own cold start
        [run] = (state_home / "lambdatui").glob("run-*")
        [extracted] = (run / "layers").iterdir()
        assert extracted.name.startswith("1-layer-"), extracted
        assert list(run.glob("member-*/layers")) == []
