"""Our runtime on Lambda Managed Instances (lambda-spec §11.3): AWS_LAMBDA_MAX_CONCURRENCY=M forks M workers.

Each worker imports the handler itself (its own Function init and globals) and loops on /next over its own
connection; the runtime process waits for them, reports on lambdatui's private channel each one that ends (and
the invoke it held), and exits once none is left. Run against the scripted Runtime API of bootstrap_harness.py.
"""

from __future__ import annotations

import json
import os
import re
import signal
import sys

import pytest

from bootstrap_harness import (
    find_python,
    FUNCTION_INIT_PATH,
    INIT_ERROR_PATH,
    NEXT_PATH,
    WAIT_S,
    Event,
    bootstrap_process,
    response_path,
    run_bootstrap,
    write,
)

WORKER_EXITED_PATH = "/lambdatui/v1/worker-exited"

# Each invoke holds its worker until three are held at once (a rendezvous in the code folder, bounded): so the
# three events went to three workers, not one worker taking them in turn.
RENDEZVOUS = """\
    import json, logging, os, time

    INIT_PID = os.getpid()
    served = 0

    def handler(event, context):
        global served
        served += 1
        logging.getLogger().warning("in %s", context.aws_request_id)
        if event.get("exit"):
            os._exit(event["exit"])
        here = os.path.dirname(os.path.abspath(__file__))
        open(os.path.join(here, "arrived-%d" % os.getpid()), "w").close()
        deadline = time.monotonic() + 10
        while len([n for n in os.listdir(here) if n.startswith("arrived-")]) < event.get("together", 1):
            assert time.monotonic() < deadline, "the other invokes never arrived"
            time.sleep(0.01)
        return {"pid": os.getpid(), "init_pid": INIT_PID, "served": served}
    """


@pytest.mark.parametrize("version", [None, "3.9"], ids=["this-python", "python3.9"])
def test_m_workers_each_with_its_own_init_run_m_invokes_at_once(api, code_dir, version):
    """Also under Python 3.9: the workers run in the user's own interpreter, the oldest one the runtime supports."""
    python = sys.executable if version is None else find_python(version)
    if python is None:
        pytest.skip("no working python%s here" % version)
    write(code_dir, "app.py", RENDEZVOUS)
    events = [Event(body=b'{"together": 3}', request_id="req-%d" % i) for i in range(3)]
    run = run_bootstrap(api, code_dir, "app.handler", events, AWS_LAMBDA_MAX_CONCURRENCY="3",
                        LAMBDATUI_PRIVATE_API="1", AWS_LAMBDA_LOG_FORMAT="JSON", python=python)
    assert run.returncode == 0, run.stderr  # as awslambdaric's runtime process: 0 once no worker is left
    answers = {rid: api.one(response_path(rid)).json() for rid in ("req-0", "req-1", "req-2")}
    pids = {a["pid"] for a in answers.values()}
    assert len(pids) == 3
    assert all(a["init_pid"] == a["pid"] and a["served"] == 1 for a in answers.values())
    # The debugger's Function-init gate is asked once, by the runtime process, before it forks.
    assert api.paths().count(FUNCTION_INIT_PATH) == 1
    # Every worker's /next after the last event got 500: each ended, and the runtime process said so.
    exits = [r.json() for r in api.find(WORKER_EXITED_PATH)]
    assert sorted(e["pid"] for e in exits) == sorted(pids)
    assert all(e == {"pid": e["pid"], "code": 1, "signal": None, "requestId": None} for e in exits)
    # The function's log records are JSON, each with its own worker's invoke.
    records = [json.loads(line) for line in run.stdout.splitlines() if line.startswith("{")]
    assert sorted(r["requestId"] for r in records if r["message"].startswith("in ")) == ["req-0", "req-1", "req-2"]


def test_a_worker_that_dies_is_reported_with_the_invoke_it_held_and_the_others_serve_on(api, code_dir):
    write(code_dir, "app.py", RENDEZVOUS)
    events = [Event(body=b'{"exit": 7}', request_id="dies"), Event(request_id="after")]
    run = run_bootstrap(api, code_dir, "app.handler", events, AWS_LAMBDA_MAX_CONCURRENCY="2",
                        LAMBDATUI_PRIVATE_API="1")
    assert run.returncode == 0, run.stderr
    exits = [r.json() for r in api.find(WORKER_EXITED_PATH)]
    assert {"code": 7, "signal": None, "requestId": "dies"} in [
        {k: e[k] for k in ("code", "signal", "requestId")} for e in exits]
    assert not api.find(response_path("dies"))
    assert api.one(response_path("after")).json()["served"] == 1


def test_without_the_private_channel_nothing_is_reported(api, code_dir):
    write(code_dir, "app.py", RENDEZVOUS)
    run = run_bootstrap(api, code_dir, "app.handler", [Event(request_id="one")], AWS_LAMBDA_MAX_CONCURRENCY="2")
    assert run.returncode == 0, run.stderr
    assert not api.find(WORKER_EXITED_PATH) and not api.find(FUNCTION_INIT_PATH)
    assert api.one(response_path("one")).json()["served"] == 1


@pytest.mark.parametrize("status", [202, 403])
def test_every_worker_reports_its_own_failed_init_and_a_403_is_expected(api, code_dir, status):
    write(code_dir, "app.py", "raise RuntimeError('init boom')\n")
    api.statuses[INIT_ERROR_PATH] = status  # Lambda answers 403 to all but the first worker
    run = run_bootstrap(api, code_dir, "app.handler", AWS_LAMBDA_MAX_CONCURRENCY="3", LAMBDATUI_PRIVATE_API="1")
    assert run.returncode == 0
    assert len(api.find(INIT_ERROR_PATH)) == 3 and NEXT_PATH not in api.paths()
    assert "answered 403" not in run.stderr
    assert [r.json()["code"] for r in api.find(WORKER_EXITED_PATH)] == [1, 1, 1]


def test_a_late_answer_refused_with_410_is_not_fatal(api, code_dir):
    write(code_dir, "app.py", RENDEZVOUS)
    api.statuses[response_path("late")] = 410  # it timed out while the handler ran on
    run = run_bootstrap(api, code_dir, "app.handler", [Event(request_id="late"), Event(request_id="next")],
                        AWS_LAMBDA_MAX_CONCURRENCY="1")
    assert api.paths().count(NEXT_PATH) == 3  # it went on: two events, then the 500 that ends the test
    assert "answered 410" in run.stderr
    assert api.one(response_path("next")).json()["served"] == 2


def test_sigterm_stops_every_worker_and_their_ends_are_not_reported(api, code_dir):
    write(code_dir, "app.py", RENDEZVOUS)
    api.events.extend(Event(body=b'{"together": 99}', request_id="busy-%d" % i) for i in range(2))  # never all there
    with bootstrap_process(api, code_dir, "app.handler", AWS_LAMBDA_MAX_CONCURRENCY="2",
                           LAMBDATUI_PRIVATE_API="1") as proc:
        assert api.wait_for(lambda reqs: sum(r.path == NEXT_PATH for r in reqs) == 2)  # both workers hold one
        os.kill(proc.pid, signal.SIGTERM)  # the runtime process only: it stops its workers itself
        assert proc.wait(WAIT_S) == 0
    assert not api.find(WORKER_EXITED_PATH)
    assert not api.find(response_path("busy-0")) and not api.find(response_path("busy-1"))


@pytest.mark.parametrize("value", ["", "0", "-2", "many"])
def test_no_usable_max_concurrency_is_one_process(api, code_dir, value):
    write(code_dir, "app.py", RENDEZVOUS)
    run = run_bootstrap(api, code_dir, "app.handler", [Event(request_id="one")], AWS_LAMBDA_MAX_CONCURRENCY=value,
                        LAMBDATUI_PRIVATE_API="1")
    assert run.returncode == 1  # the one process ends on the 500 after the last event, as it always has
    assert not api.find(WORKER_EXITED_PATH)
    assert api.one(response_path("one")).json()["pid"] == api.one(response_path("one")).json()["init_pid"]


def test_workers_printing_at_once_never_mix_within_a_line(api, code_dir):
    write(code_dir, "app.py", RENDEZVOUS.replace(
        'return {"pid"',
        'for i in range(2000):\n            print("line", os.getpid(), i, "x" * 50)\n        return {"pid"'))
    events = [Event(body=b'{"together": 3}', request_id="p-%d" % i) for i in range(3)]
    run = run_bootstrap(api, code_dir, "app.handler", events, AWS_LAMBDA_MAX_CONCURRENCY="3")
    printed = [line for line in run.stdout.splitlines() if not line.startswith("[WARNING]")]
    assert len(printed) == 6000
    assert all(re.fullmatch(r"line \d+ \d+ x{50}", line) for line in printed), [
        line for line in printed if not re.fullmatch(r"line \d+ \d+ x{50}", line)][:3]
