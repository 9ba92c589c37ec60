"""From a bug hunt: Lambda Managed Instances (`--max-concurrency`, lambda-spec §11.3) and SnapStart (`--snapstart`,
§1.7, §4.8) as a user meets them through `invoke`, `serve` and hand-written scenarios replayed (README's replay
section: `worker = N`, `fault`, `new_environment`, `expect.globals`).

Each test runs the real CLI on generated code in `code_dir` (never under /tmp). They pin what the hunt found wrong:
an after-restore hook's output logged after RESTORE_REPORT; the snapshot's runtime SIGTERMed while it is held
stopped, so it was SIGKILLed 300 ms later and blamed for it; a fault or new environment on env #1 (the snapshot, by
default) that silently killed every restored environment's runtime (now refused); a replay that said a handled error
ended a Managed Instances environment; a timeout armed at invoke.start refused on Managed Instances; `expect.globals`
that could never hold on Managed Instances (now refused up front). A timed-out Event invoke's late answer
taken for its retry's, long a strict xfail, is fixed too. The others pin what no other test covers: the runtime's own death under
two workers' invokes, and a SnapStart hook that ends the process without raising.

Every wait is on a line lambdatui prints or a caller's answer, with a bound; a handler that must wait for the test
waits for a file the test creates: no sleep stands in for an event.
"""

from __future__ import annotations

import json
import re
import sys
import threading
from pathlib import Path

import httpx
import pytest

from e2e_support import ServeProcess, platform_lines, run_cli, write_file
from retry_support import send_event

pytestmark = pytest.mark.timeout(120)

HTTP_TIMEOUT = 30.0


def replay(handler: Path, scenario: Path, text: str) -> tuple[int, str, str]:
    """`lambdatui replay` of `text` written at `scenario`: (exit status, timeline, stderr)."""
    write_file(scenario, text)
    done = run_cli("replay", str(handler), str(scenario))
    return done.returncode, done.stdout, done.stderr


def step_block(timeline: str, number: int) -> str:
    """The timeline's block of step `number` (its header line to the next step's, or to the end's)."""
    match = re.search(rf"^-- step {number}/\d+:.*?(?=^-- )", timeline, re.S | re.M)
    assert match, timeline
    return match.group(0)


# ---------------------------------------------------------------------- SnapStart: the restore's own log

# An after-restore hook that prints a burst in one write (its stdout pipe made 1 MB so that the write never blocks):
# the host reads the pipe 64 KB a wakeup, so the restored runtime's /next arrives with most of it still unread.
LOUD_HOOK = '''import fcntl
import os
import sys

from snapshot_restore_py import register_after_restore


@register_after_restore
def after():
    try:
        fcntl.fcntl(sys.stdout.fileno(), fcntl.F_SETPIPE_SZ, 1024 * 1024)
    except OSError:
        pass  # above /proc/sys/fs/pipe-max-size: the burst then blocks, and the race is only likely
    lines = [f"hook line {n:05d} " + "x" * 90 for n in range(5000)] + ["last line of the hook"]
    os.write(sys.stdout.fileno(), ("\\n".join(lines) + "\\n").encode())


def handler(event, context):
    return {"ok": True}
'''


def test_what_an_after_restore_hook_printed_comes_before_restore_report(code_dir: Path) -> None:
    """The restore phase is the runtime's load and its after-restore hooks (lambda-spec §4.8): their lines belong
    between RESTORE_START and RESTORE_REPORT, as an Init's lines come before INIT_REPORT (which holds here)."""
    handler = write_file(code_dir / "handler.py", LOUD_HOOK)
    done = run_cli("invoke", str(handler), "--snapstart")
    assert done.returncode == 0, done.stderr
    lines = done.stderr.splitlines()
    report = next(n for n, line in enumerate(lines) if "RESTORE_REPORT Restore Duration" in line)
    last = next(n for n, line in enumerate(lines) if line.endswith("last line of the hook"))
    start = next(n for n, line in enumerate(lines) if "RESTORE_START" in line)
    assert start < last < report, "\n".join(lines[report - 2:report + 2])


# ---------------------------------------------------------------------- SnapStart: the snapshot's shutdown

SHUTDOWN_EXTENSION = '''#!{python}
import http.client, json, os

api = http.client.HTTPConnection(os.environ["AWS_LAMBDA_RUNTIME_API"], timeout=None)
api.request("POST", "/2020-01-01/extension/register", body=json.dumps({{"events": ["SHUTDOWN"]}}),
            headers={{"Lambda-Extension-Name": os.path.basename(__file__)}})
answer = api.getresponse()
answer.read()
ident = answer.getheader("Lambda-Extension-Identifier")
while True:
    api.request("GET", "/2020-01-01/extension/event/next", headers={{"Lambda-Extension-Identifier": ident}})
    if json.loads(api.getresponse().read()).get("eventType") == "SHUTDOWN":
        break
'''


def test_the_snapshots_runtime_ends_on_sigterm_when_an_extension_is_registered(code_dir: Path) -> None:
    """With an extension registered, a shutdown SIGTERMs the runtime first (its 300 ms share). lambdatui's own runtime
    held as the snapshot ends on it at once when let run; a function that ignored it would earn the line."""
    handler = write_file(code_dir / "handler.py", "def handler(event, context):\n    return {'ok': True}\n")
    write_file(code_dir / "extensions" / "watcher", SHUTDOWN_EXTENSION.format(python=sys.executable), executable=True)
    done = run_cli("invoke", str(handler), "--snapstart")
    assert done.returncode == 0, done.stderr
    assert sum("EXTENSION\tName: watcher\tState: Ready" in line for line in platform_lines(done.stderr)) == 2
    assert "had not exited" not in done.stderr, done.stderr


# ---------------------------------------------------------------------- SnapStart: faults aimed at env #1

COUNTING = '''count = 0


def handler(event, context):
    global count
    count += 1
    return {"count": count}
'''


@pytest.mark.parametrize("action", ['fault = "crash"\ntarget = "runtime"', "new_environment = true"],
                         ids=["crash", "new_environment"])
def test_a_snapstart_scenarios_fault_on_env_1_leaves_the_restored_environment_able_to_serve(
        code_dir: Path, action: str) -> None:
    """README's crash_and_reset.toml with `snapstart = true` added: its crash (no `env`, so env #1) hits the
    snapshot, whose restored copies would end with it. It is refused, saying why, and the next invokes are served."""
    handler = write_file(code_dir / "handler.py", COUNTING)
    code, timeline, stderr = replay(handler, code_dir / "scenario.toml", f"""[function]
snapstart = true

[[step]]
invoke = {{}}
expect = {{ response = {{ count = 1 }}, cold = true }}

[[step]]
{action}

[[step]]
invoke = {{}}
expect = {{ succeeded = true }}

[[step]]
invoke = {{}}
expect = {{ succeeded = true }}
""")
    # Two invokes after it: env #2's runtime died around the first (before its answer, or just after it), so the
    # second met its end if the first did not. The snapshot is kept: the step is refused, and says why.
    assert code == 0 and "Runtime.ExitError" not in timeline, timeline + stderr
    assert "This is SnapStart's snapshot" in step_block(timeline, 2), timeline


# ---------------------------------------------------------------------- Managed Instances: scenarios by hand

WORKER_HANDLER = '''import os

count = 0


def handler(event, context):
    global count
    count += 1
    if event.get("raise"):
        raise ValueError("handled by the runtime")
    return {"count": count, "pid": os.getpid()}
'''

# A handled error, then an invoke in the same environment; then a deadline forced at invoke.start (README: "A crash,
# freeze, thaw or timeout armed at = "invoke.start" acts there, before the event goes out") and the invoke it meets.
# No expectations: a failed one would end the replay there; each test reads its own step's block instead.
MANAGED_STEPS = """[function]
max_concurrency = 2
timeout = 3

[[step]]
invoke = { raise = true }

[[step]]
invoke = {}

[[step]]
fault = "timeout"
at = "invoke.start"

[[step]]
invoke = {}
"""


@pytest.fixture(scope="module")
def managed_replay(module_code_dir: Path) -> tuple[int, str, str]:
    handler = write_file(module_code_dir / "handler.py", WORKER_HANDLER)
    return replay(handler, module_code_dir / "managed.toml", MANAGED_STEPS)


def test_a_managed_instances_replay_does_not_say_a_handled_error_ended_the_environment(managed_replay) -> None:
    code, timeline, stderr = managed_replay
    assert code == 0, timeline + stderr
    raised, following = step_block(timeline, 1), step_block(timeline, 2)
    assert "outcome    ERROR ValueError" in raised, raised
    # The environment went on serving: no new one was initialised for the next invoke.
    assert re.search(r"^\s*response   \{\"count\": \d+", following, re.M) and "INIT_START" not in following, following
    [outcome] = [line for line in raised.splitlines() if "outcome" in line]
    assert "environment ended" not in outcome, outcome


def test_a_timeout_armed_at_invoke_start_times_that_invoke_out_on_managed_instances(managed_replay) -> None:
    code, timeline, stderr = managed_replay
    assert code == 0, timeline + stderr
    forced = step_block(timeline, 4)
    assert "No deadline is running" not in forced, forced
    assert "outcome    TIMEOUT Sandbox.Timedout" in forced, forced


def test_expect_globals_on_managed_instances_is_refused_up_front(code_dir: Path) -> None:
    """README: `worker = N` gives the event to worker #N, 'each of which has its own globals', and `globals` is an
    expectation. Either it is checked against that worker's globals, or the scenario is refused as malformed (exit
    2, naming globals) before anything runs: never a failure that names a cause that did not happen."""
    handler = write_file(code_dir / "handler.py", WORKER_HANDLER)
    code, timeline, stderr = replay(handler, code_dir / "globals.toml", """[function]
max_concurrency = 2

[[step]]
invoke = {}
worker = 1
expect = { response = { count = 1 }, globals = { count = "1" } }

[[step]]
invoke = {}
worker = 1
expect = { response = { count = 2 }, globals = { count = "2" } }
""")
    assert "did not finish in lambdatui's runtime" not in timeline, timeline
    assert code == 2 and timeline == "", (code, timeline, stderr)  # refused before anything ran
    assert "globals.toml:4: step 1: expect.globals cannot be checked on Managed Instances" in stderr, stderr


# ---------------------------------------------------------------------- Managed Instances: the runtime itself dies

# Each invoke says it began (so the test knows both run at once); `kill_runtime` SIGKILLs the runtime's main process,
# the workers' parent, as a native crash of the runtime would, once the file `go` exists.
NEIGHBOURS = '''import os
import signal
import time


def handler(event, context):
    os.write(1, ("began %s\\n" % event["tag"]).encode())
    if event.get("kill_runtime"):
        while not os.path.exists(event["go"]):
            time.sleep(0.005)
        os.kill(os.getppid(), signal.SIGKILL)
        time.sleep(8)  # as the worker of a crashed runtime would hang: its answer would race the runtime's exit
    time.sleep(event.get("sleep", 0))
    return {"tag": event["tag"], "pid": os.getpid()}
'''


def test_the_runtime_dying_fails_every_invoke_its_workers_ran_and_the_next_goes_to_a_new_environment(
        code_dir: Path) -> None:
    """lambda-spec §11.3: a worker's crash leaves the environment up, but the runtime's own end ends it. Both callers
    whose invokes ran in its workers hear Runtime.ExitError, not a timeout at their deadline, and the next invoke is
    served by a new environment (a new Init)."""
    handler = write_file(code_dir / "handler.py", NEIGHBOURS)
    go = code_dir / "go"
    with ServeProcess(handler, "--max-concurrency", "2", "--concurrency", "1", "--timeout", "10") as served:
        served.wait_for_lines(r"#1 \[platform\]\s+INIT_REPORT .*Status: success", 1)
        answers: dict[str, httpx.Response] = {}

        def call(event: dict) -> None:
            answers[event["tag"]] = httpx.post(served.invoke_url(), content=json.dumps(event).encode(),
                                               timeout=HTTP_TIMEOUT)

        callers = [threading.Thread(target=call, args=({"tag": "neighbour", "sleep": 8},)),
                   threading.Thread(target=call, args=({"tag": "killer", "kill_runtime": True, "go": str(go)},))]
        for caller in callers:
            caller.start()
        served.wait_for_lines(r"#1 \[function\]\s+began ", 2)  # both run at once, in env #1's two workers
        go.touch()
        for caller in callers:
            caller.join(HTTP_TIMEOUT)
        for tag in ("neighbour", "killer"):
            answer = answers[tag]
            assert answer.status_code == 200 and answer.headers["X-Amz-Function-Error"] == "Unhandled", answer.text
            assert answer.json()["errorType"] == "Runtime.ExitError", (tag, answer.text)
        following = httpx.post(served.invoke_url(), content=b'{"tag": "after"}', timeout=HTTP_TIMEOUT)
        assert following.status_code == 200 and following.json()["tag"] == "after", following.text
        request_id = following.headers["X-Amzn-RequestId"]
        served.wait_for_line(rf"#2 \[platform\]\s+START RequestId: {request_id}")
    assert len([line for line in served.lines if re.search(r"\[platform\]\s+INIT_START", line)]) == 2


# ---------------------------------------------------------------------- Managed Instances: an Event invoke's retry

# Counts its attempts in the shared /tmp and holds each until `release-<attempt>` appears beside the handler; an
# attempt released with `exit-<attempt>` beside it exits, with `fail-<attempt>` raises, instead of answering.
ATTEMPTS = '''import os
import time

HERE = os.path.dirname(os.path.realpath(__file__))


def handler(event, context):
    with open("/tmp/attempts", "a") as fh:
        fh.write("x")
    attempt = os.path.getsize("/tmp/attempts")
    os.write(1, ("attempt %d began\\n" % attempt).encode())
    while not os.path.exists(os.path.join(HERE, "release-%d" % attempt)):
        time.sleep(0.005)
    os.write(1, ("attempt %d answers\\n" % attempt).encode())
    if os.path.exists(os.path.join(HERE, "exit-%d" % attempt)):
        os._exit(3)
    if os.path.exists(os.path.join(HERE, "fail-%d" % attempt)):
        raise RuntimeError("attempt %d failed" % attempt)
    return {"attempt": attempt}
'''


def test_a_timed_out_attempts_late_answer_is_not_taken_for_its_retrys(code_dir: Path) -> None:
    """An Event invoke's retry keeps its request id (README); on Managed Instances the timed-out first attempt runs
    on in its worker while the retry runs in another. The first attempt's late answer is refused (410 InvokeTimeout,
    as lambdatui says it will be); the retry is answered by its own worker, or times out at its own deadline. (It
    was taken as the retry's answer: the core tells the two apart by the worker's connection now.)"""
    handler = write_file(code_dir / "handler.py", ATTEMPTS)
    with ServeProcess(handler, "--max-concurrency", "2", "--timeout", "1", "--retry-wait", "0.1",
                      "--maximum-retry-attempts", "1") as served:
        try:
            request_id = send_event(served, {})
            served.wait_for_line(r"#1 \[function\]\s+attempt 2 began", timeout=15)  # the retry, in the other worker
            (code_dir / "release-1").touch()  # the first attempt answers, late
            served.wait_for_line(r"#1 \[function\]\s+attempt 1 answers", timeout=15)
            reports = served.wait_for_lines(rf"#1 \[platform\]\s+REPORT RequestId: {request_id}\t(.*)$", 2,
                                            timeout=15)
        finally:
            (code_dir / "release-2").touch()
        assert "Status: timeout" in reports[0].group(1)
        # The retry's REPORT: at its own deadline, a timeout; never the first attempt's answer, in half a second.
        assert "Status: timeout" in reports[1].group(1), served.output()


# ---------------------------------------------------------------------- SnapStart: a hook that ends the process

EXITING_HOOKS = '''import os

from snapshot_restore_py import register_after_restore, register_before_snapshot


@register_before_snapshot
def before():
    if os.environ["WHEN"] == "before":
        os._exit(0)  # no exception, no /init/error: the process is simply gone


@register_after_restore
def after():
    if os.environ["WHEN"] == "after":
        os._exit(0)


def handler(event, context):
    return {"ok": True}
'''


@pytest.mark.parametrize("when, status, error_type, line", [
    ("before", "409", "ResourceConflictException",
     r"INIT_REPORT Init Duration: [\d.]+ ms\tPhase: init\tStatus: error\tError Type: Runtime\.ExitError"),
    ("after", "400", "SnapStartException",
     r"RESTORE_REPORT Restore Duration: [\d.]+ ms\tStatus: error\tError Type: Runtime\.ExitError"),
])
def test_a_hook_that_exits_the_process_is_the_snapshots_or_the_restores_exit_error(
        code_dir: Path, when: str, status: str, error_type: str, line: str) -> None:
    """A hook that ends the runtime without raising reports nothing: the platform sees Runtime.ExitError in the phase
    it ended (lambda-spec §4.8's RESTORE_REPORT example), and the Invoke API answers as for a failed hook. After a
    failed restore the next invoke restores another environment, which fails alike."""
    handler = write_file(code_dir / "handler.py", EXITING_HOOKS)
    done = run_cli("invoke", str(handler), "--snapstart", "--repeat", "2", "--env", f"WHEN={when}")
    assert done.returncode == 1, done.stderr
    answers = [json.loads(text) for text in done.stdout.splitlines()]
    assert [a["errorType"] for a in answers] == [error_type] * 2, done.stdout
    assert done.stderr.count(f"Invoke API error {status} {error_type}") == 2, done.stderr
    platform = platform_lines(done.stderr)
    assert [text for text in platform if re.fullmatch(line, text.rstrip("\t"))], platform
    if when == "after":
        assert sum(text.startswith("RESTORE_START") for text in platform) == 2, platform
        assert not any(text.startswith("START RequestId") for text in platform), platform
