"""Item 8: `lambdatui serve` under concurrency, with raising, crashing and timing-out invokes mixed in.

Every request must get its own right answer (status, X-Amz-Function-Error, body, log tail) and none may be
lost; Event invokes still run; the server is healthy afterwards and exits 0 on SIGTERM.

Which invokes ran is read in serve's log: each handler prints `ran-<i>` first (across the fleet's environments,
before a crash or a timeout, and for Event invokes, which answer nothing).
"""

from __future__ import annotations

import base64
import concurrent.futures
import json
import re
import signal

import httpx
import pytest

from acceptance_support import write
from e2e_support import ServeProcess

HANDLER = """\
    import os, time

    def handler(event, context):
        i, kind = event["i"], event["kind"]
        print(f"marker-{i}-start", flush=True)
        print(f"ran-{i} {context.aws_request_id}", flush=True)
        if kind == "raise":
            raise ValueError(f"raised by {i}")
        if kind == "crash":
            os._exit(3)
        if kind == "timeout":
            time.sleep(5)
        print(f"marker-{i}-end", flush=True)
        return {"i": i}
    """

PLAN = (
    [("ok", "RequestResponse")] * 14
    + [("raise", "RequestResponse")] * 5
    + [("crash", "RequestResponse")] * 3
    + [("timeout", "RequestResponse")] * 2
    + [("ok", "Event")] * 5
    + [("raise", "Event")] * 2
    + [("crash", "Event")] * 1
    + [("ok", "DryRun")] * 2
    + [("badjson", "RequestResponse")] * 2
    + [("badjson", "Event")] * 1
)


def ran(log: str) -> list[int]:
    """The invokes whose handler ran, by the line each printed first, in serve's log."""
    return sorted(int(i) for i in re.findall(r"\bran-(\d+) [0-9a-f-]{36}$", log, re.M))


def interleave(plan):
    """A fixed, mixed order (not grouped by kind), so every kind has neighbours of every other kind."""
    return [plan[(k * 7) % len(plan)] for k in range(len(plan))]


@pytest.mark.slow
def test_every_concurrent_request_gets_its_own_right_answer(code_dir):
    write(code_dir / "handler.py", HANDLER)
    plan = interleave(PLAN)
    assert sorted(plan) == sorted(PLAN)  # 7 is coprime with the length (37): a permutation
    with ServeProcess(code_dir / "handler.py", "--timeout", "3") as served:
        url = served.invoke_url()

        def send(i: int) -> httpx.Response:
            kind, invocation = plan[i]
            headers = {"X-Amz-Invocation-Type": invocation}
            if invocation == "RequestResponse":
                headers["X-Amz-Log-Type"] = "Tail"
            body = b'{"i": %d, "kind": "badjson"' % i if kind == "badjson" else json.dumps({"i": i, "kind": kind}).encode()
            return httpx.post(url, content=body, headers=headers, timeout=90)

        with concurrent.futures.ThreadPoolExecutor(len(plan)) as pool:
            answers = list(pool.map(send, range(len(plan))))
        final = httpx.post(url, content=json.dumps({"i": 999, "kind": "ok"}).encode(), timeout=30)
        served.signal(signal.SIGTERM)
        assert served.wait(30) == 0
        log = served.output()

    ran_ids = ran(log)
    problems = []
    for i, ((kind, invocation), answer) in enumerate(zip(plan, answers)):
        where = f"request {i} ({kind}, {invocation}): {answer.status_code} {answer.headers.get('x-amz-function-error')} {answer.text[:200]}"
        if kind == "badjson":  # Lambda: 400 InvalidRequestContentException, nothing runs
            if answer.status_code != 400 or "InvalidRequestContent" not in answer.headers.get("x-amzn-errortype", "") + answer.text or i in ran_ids:
                problems.append(where)
            continue
        if invocation == "Event":
            if answer.status_code != 202:
                problems.append(where)
            continue
        if invocation == "DryRun":
            if answer.status_code != 204 or i in ran_ids:
                problems.append(where)
            continue
        if answer.status_code != 200:
            problems.append(where)
            continue
        error = answer.headers.get("x-amz-function-error")
        body = answer.json()
        if kind == "ok":
            tail = base64.b64decode(answer.headers.get("x-amz-log-result", "")).decode()
            markers = set(re.findall(r"marker-(\d+)-", tail))
            if error is not None or body != {"i": i} or markers != {str(i)}:
                problems.append(where + f" tail markers {sorted(markers)}")
        elif kind == "raise":
            if error != "Unhandled" or body.get("errorType") != "ValueError" or body.get("errorMessage") != f"raised by {i}":
                problems.append(where)
        elif kind == "crash":
            if error != "Unhandled" or body.get("errorType") != "Runtime.ExitError":
                problems.append(where)
        elif kind == "timeout":
            if error != "Unhandled" or body.get("errorType") != "Sandbox.Timedout" or "3.00 seconds" not in body.get("errorMessage", ""):
                problems.append(where)
    assert not problems, "\n".join(problems)
    assert final.status_code == 200 and final.json() == {"i": 999}

    # None lost: every invoke that is not a DryRun ran exactly once, Event ones included.
    expected = sorted([i for i, (kind, inv) in enumerate(plan) if inv != "DryRun" and kind != "badjson"] + [999])
    assert ran_ids == expected
    reports = [line for line in log.splitlines() if re.search(r"\bREPORT RequestId:", line)]
    assert len(reports) == len(expected), len(reports)
    assert sum("Status: timeout" in line for line in reports) == 2
    assert sum("Runtime.ExitError" in line for line in reports) == 4


PLAN_WITH_EXTENSION = (
    [("ok", "RequestResponse")] * 6
    + [("raise", "RequestResponse")] * 3
    + [("crash", "RequestResponse")] * 2
    + [("timeout", "RequestResponse")] * 1
    + [("ok", "Event")] * 3
)


@pytest.mark.slow
def test_with_an_extension_every_request_still_gets_its_answer_across_resets(code_dir):
    """Each crash and timeout now resets an environment with an extension (SIGTERM, SHUTDOWN, relaunch)."""
    import shutil

    from acceptance_support import SAMPLES

    write(code_dir / "handler.py", HANDLER)
    (code_dir / "extensions").mkdir()
    shutil.copy2(SAMPLES / "extension" / "extensions" / "audit", code_dir / "extensions" / "audit")
    plan = [PLAN_WITH_EXTENSION[(k * 7) % len(PLAN_WITH_EXTENSION)] for k in range(len(PLAN_WITH_EXTENSION))]
    assert sorted(plan) == sorted(PLAN_WITH_EXTENSION)
    with ServeProcess(code_dir / "handler.py", "--timeout", "3") as served:
        url = served.invoke_url()

        def send(i: int) -> httpx.Response:
            kind, invocation = plan[i]
            return httpx.post(url, content=json.dumps({"i": i, "kind": kind}).encode(),
                              headers={"X-Amz-Invocation-Type": invocation}, timeout=90)

        with concurrent.futures.ThreadPoolExecutor(len(plan)) as pool:
            answers = list(pool.map(send, range(len(plan))))
        final = httpx.post(url, content=json.dumps({"i": 999, "kind": "ok"}).encode(), timeout=30)
        served.signal(signal.SIGTERM)
        assert served.wait(30) == 0
        log = served.output()

    expected_type = {"raise": "ValueError", "crash": "Runtime.ExitError", "timeout": "Sandbox.Timedout"}
    problems = []
    for i, ((kind, invocation), answer) in enumerate(zip(plan, answers)):
        where = f"request {i} ({kind}, {invocation}): {answer.status_code} {answer.text[:200]}"
        if invocation == "Event":
            if answer.status_code != 202:
                problems.append(where)
        elif kind == "ok":
            if answer.status_code != 200 or "x-amz-function-error" in answer.headers or answer.json() != {"i": i}:
                problems.append(where)
        elif (answer.status_code != 200 or answer.headers.get("x-amz-function-error") != "Unhandled"
              or answer.json().get("errorType") != expected_type[kind]):
            problems.append(where)
    assert not problems, "\n".join(problems) + "\n" + log[-3000:]
    assert final.json() == {"i": 999}
    assert ran(log) == sorted(list(range(len(plan))) + [999])
    # Three resets (2 crashes, 1 timeout): the extension was told why each time, then once more at the end in each
    # environment the concurrent requests needed that still had it running (a reset one has no processes left).
    shutdowns = re.findall(r"SHUTDOWN.*?(timeout|failure|spindown)", log)
    resets = sorted(reason for reason in shutdowns if reason != "spindown")
    environments = len(set(re.findall(r"^#(\d+) \[platform\]\s+INIT_START", log, re.M)))
    assert resets == ["failure", "failure", "timeout"] and 1 <= shutdowns.count("spindown") <= environments, shutdowns
