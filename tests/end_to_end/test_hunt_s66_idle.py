"""Bug hunt (session 66): `lambdatui serve --idle-shutdown` as a user meets it, with real `serve` processes, real
HTTP invokes and real signals.

What is promised (README "A fleet of environments", `serve --help`): an on-demand environment that served nothing
for SECONDS gets SHUTDOWN (`spindown`) and is removed, its processes and /tmp gone; the next invoke cold-starts a
new environment (INIT_START, `Init Duration` in its REPORT); an environment busy longer than the period is never
spun down under its invoke; env #1, started ahead of traffic, is idle from the end of its Init.

Every wait is on a line of serve's stderr, an HTTP answer or a process exit, with a bound. A `time.sleep` here is
only ever the length of an idle period the scenario itself needs (each says so).

Two found bugs, fixed in the same session: idle time counted from the caller's answer, not from the end of the
Invoke phase (an extension working on after it), and `--idle-shutdown nan` was accepted.
"""

from __future__ import annotations

import glob
import os
import re
import select
import signal
import subprocess
import threading
import time
from pathlib import Path
from typing import Callable, Optional

import httpx

from e2e_support import ServeProcess, descendants, lambdatui_argv, wait_all_gone, write_file, writable_cgroups

HTTP_TIMEOUT = 30.0
LINE_TIMEOUT = 20.0

# Says which process served each invoke (`pid` inside the sandbox repeats; `token` does not) and how many invokes
# that process has served. `hold` keeps the invoke running until a file exists (the test creates it: no sleep);
# `ext_lag` asks the extension (EXTENSION below), if there is one, to go on working that long after this invoke.
HANDLER = '''import os
import tempfile
import time
import uuid

if os.environ.get("FAIL_INIT_UNLESS") and not os.path.exists(os.environ["FAIL_INIT_UNLESS"]):
    raise RuntimeError("init fails on purpose")
time.sleep(float(os.environ.get("INIT_S", "0")))  # a slow Init, when the test asks for one
TOKEN = uuid.uuid4().hex
served = 0


def handler(event, context):
    global served
    served += 1
    # For the extension, if any: how long to work on after this invoke (its INVOKE event names the request).
    lag_file = os.path.join(tempfile.gettempdir(), "lag-" + context.aws_request_id)
    with open(lag_file + ".part", "w") as fh:
        fh.write(str(event.get("ext_lag", 0)))
    os.rename(lag_file + ".part", lag_file)  # whole: the extension reads it as soon as it exists
    hold = event.get("hold")
    if hold:
        while not os.path.exists(hold):
            time.sleep(0.005)
    return {"echo": event.get("echo"), "token": TOKEN, "n": served, "request_id": context.aws_request_id}
'''

# An external extension (INVOKE, SHUTDOWN) that, after each INVOKE, works as many seconds as the handler wrote for
# that request in the environment's /tmp (`ext_lag`, default 0) before asking for its next event, as an extension
# flushing telemetry does: the environment's Invoke phase (and its REPORT's Duration) lasts until then (lambda-spec
# §4.4).
EXTENSION = '''#!/usr/bin/env python3
import http.client, json, os, sys, tempfile, time

api = http.client.HTTPConnection(os.environ["AWS_LAMBDA_RUNTIME_API"], timeout=None)


def call(method, path, headers, body=None):
    api.request(method, "/2020-01-01/extension" + path, body=body, headers=headers)
    answer = api.getresponse()
    return answer, answer.read()


answer, _ = call("POST", "/register", {"Lambda-Extension-Name": "flusher"},
                 json.dumps({"events": ["INVOKE", "SHUTDOWN"]}))
ident = answer.getheader("Lambda-Extension-Identifier")
while True:
    _, body = call("GET", "/event/next", {"Lambda-Extension-Identifier": ident})
    event = json.loads(body)
    if event["eventType"] == "SHUTDOWN":
        print("flusher SHUTDOWN", event.get("shutdownReason"), flush=True)
        sys.exit(0)
    lag_file = os.path.join(tempfile.gettempdir(), "lag-" + event["requestId"])
    deadline = time.monotonic() + 10
    while not os.path.exists(lag_file) and time.monotonic() < deadline:  # the handler writes it first thing
        time.sleep(0.002)
    if os.path.exists(lag_file):
        time.sleep(float(open(lag_file).read() or 0))  # the flush
        os.remove(lag_file)
'''

# An extension that never leaves its SHUTDOWN, beside a runtime that ignores SIGTERM: the spindown must cut both off
# at Lambda's limits (300 ms for the runtime's share, 2,000 ms in all) and leave nothing behind.
STUCK_HANDLER = '''import signal
import uuid

TOKEN = uuid.uuid4().hex
signal.signal(signal.SIGTERM, lambda *args: print("runtime ignores SIGTERM", flush=True))


def handler(event, context):
    return {"echo": event.get("echo"), "token": TOKEN}
'''

STUCK_EXTENSION = '''#!/usr/bin/env python3
import http.client, json, os, signal, time

signal.signal(signal.SIGTERM, signal.SIG_IGN)
api = http.client.HTTPConnection(os.environ["AWS_LAMBDA_RUNTIME_API"], timeout=None)
api.request("POST", "/2020-01-01/extension/register", body=json.dumps({"events": ["SHUTDOWN"]}),
            headers={"Lambda-Extension-Name": "stuck"})
answer = api.getresponse()
answer.read()
ident = answer.getheader("Lambda-Extension-Identifier")
api.request("GET", "/2020-01-01/extension/event/next", headers={"Lambda-Extension-Identifier": ident})
event = json.loads(api.getresponse().read())
print("stuck got", event["eventType"], event.get("shutdownReason"), flush=True)
while True:
    time.sleep(1)
'''


def spindown_line(number: int | str, idle: str) -> str:
    return (rf"#{number} \[lambdatui\]\s+env #{number} has been idle for {re.escape(idle)} s: it is shut down "
            r"\(SHUTDOWN spindown\) and removed")


def report_of(served: ServeProcess, request_id: str) -> re.Match[str]:
    """The REPORT line of `request_id`: its environment's number is group 1, the line's rest group 2."""
    return served.wait_for_line(rf"#(\d+) \[platform\]\s+REPORT RequestId: {request_id}\s(.*)$", LINE_TIMEOUT)


def post(client: httpx.Client, served: ServeProcess, event: dict, **headers: str) -> httpx.Response:
    return client.post(served.invoke_url(), json=event, headers=headers)


def function(code_dir: Path, *, extension: Optional[str] = None, handler: str = HANDLER) -> Path:
    path = write_file(code_dir / "handler.py", handler)
    if extension is not None:
        write_file(code_dir / "extensions" / ("stuck" if extension is STUCK_EXTENSION else "flusher"), extension,
                   executable=True)
    return path


def cgroups_of(serve_pid: int) -> list[str]:
    """The cgroup folders (v1 and v2 hierarchies) serve `serve_pid` made for its environments, existing now."""
    return glob.glob(f"/sys/fs/cgroup/**/lambdatui-{serve_pid}-*", recursive=True)


def until(predicate: Callable[[], bool], what: str, bound: float = 10.0) -> None:
    deadline = time.monotonic() + bound
    while not predicate():
        assert time.monotonic() < deadline, what
        time.sleep(0.01)  # polling, bounded


class Sent:
    """One synchronous invoke on a thread of its own; `answer()` waits for it (bounded)."""

    def __init__(self, served: ServeProcess, event: dict) -> None:
        self.response: Optional[httpx.Response] = None
        self.error: Optional[BaseException] = None
        self._thread = threading.Thread(target=self._run, args=(served, event), daemon=True)
        self._thread.start()

    def _run(self, served: ServeProcess, event: dict) -> None:
        try:
            self.response = httpx.post(served.invoke_url(), json=event, timeout=HTTP_TIMEOUT)
        except BaseException as exc:  # noqa: BLE001 - handed to the test
            self.error = exc

    def answer(self) -> dict:
        self._thread.join(HTTP_TIMEOUT)
        assert self.error is None and self.response is not None, self.error
        assert self.response.status_code == 200 and not self.response.headers.get("x-amz-function-error"), \
            self.response.text
        return self.response.json()


def test_invokes_sent_around_the_idle_deadline_each_get_their_answer_cold_exactly_when_spun_down(
        code_dir: Path) -> None:
    """Invokes sent right at the idle deadline (a few ms before or after): each gets its own answer, never an error;
    it meets a new environment exactly when the one before was spun down (with a SHUTDOWN spindown line naming it),
    and then its REPORT carries Init Duration; otherwise it is warm (no Init Duration, the same process)."""
    idle = 0.3
    handler = function(code_dir)
    colds = warms = 0
    with ServeProcess(handler, "--idle-shutdown", "0.3") as served, httpx.Client(timeout=HTTP_TIMEOUT) as client:
        first = post(client, served, {"echo": -1})
        assert first.status_code == 200, first.text
        previous = first.json()
        env = int(report_of(served, previous["request_id"]).group(1))
        for i, offset in enumerate([-0.2, -0.012, -0.008, -0.004, 0.0, 0.004, 0.008, 0.012, 0.2] * 2):
            time.sleep(idle + offset)  # the idle period under test: the invoke comes right at its end
            answer = post(client, served, {"echo": i})
            assert answer.status_code == 200 and not answer.headers.get("x-amz-function-error"), answer.text
            body = answer.json()
            assert body["echo"] == i, body
            report = report_of(served, body["request_id"])
            number = int(report.group(1))
            if number != env:  # a new environment: the previous one was spun down for idleness
                colds += 1
                served.wait_for_line(spindown_line(env, "0.3"), LINE_TIMEOUT)
                assert body["n"] == 1 and body["token"] != previous["token"], (previous, body)
                assert "Init Duration:" in report.group(2), report.group(0)
            else:
                warms += 1
                assert body["n"] == previous["n"] + 1 and body["token"] == previous["token"], (previous, body)
                assert "Init Duration:" not in report.group(2), report.group(0)
                assert not re.search(spindown_line(env, "0.3"), served.output())
            env, previous = number, body
        assert served.proc.poll() is None
    assert colds >= 2 and warms >= 2, (colds, warms)  # ±0.2 s: clearly before and clearly after the deadline


def test_environments_going_idle_at_different_times_each_go_after_their_own_idle_period(code_dir: Path) -> None:
    """Two environments: one holds a long invoke (three idle periods) while the other, answered at once, goes idle
    and is spun down under it; the long one is not spun down mid-invoke, answers right, and goes only after its own
    idle period, counted from its answer; the next invoke cold-starts a third environment."""
    handler = function(code_dir)
    release = code_dir / "release"
    with ServeProcess(handler, "--idle-shutdown", "0.4", "--timeout", "30") as served, \
            httpx.Client(timeout=HTTP_TIMEOUT) as client:
        long = Sent(served, {"echo": "long", "hold": str(release)})
        long_env = served.wait_for_line(r"#(\d+) \[platform\]\s+START RequestId", LINE_TIMEOUT).group(1)
        short = post(client, served, {"echo": "short"})  # env #1 is busy: a second environment serves it
        assert short.status_code == 200, short.text
        short_env = report_of(served, short.json()["request_id"]).group(1)
        assert short_env != long_env
        served.wait_for_line(spindown_line(short_env, "0.4"), LINE_TIMEOUT)
        time.sleep(0.8)  # the long invoke runs on past two more idle periods before it may end
        release.touch()
        body = long.answer()
        assert body["echo"] == "long" and body["n"] == 1, body
        report_of(served, body["request_id"])
        assert not re.search(spindown_line(long_env, "0.4"), served.output()), "spun down under its invoke"
        answered = time.monotonic()
        served.wait_for_line(spindown_line(long_env, "0.4"), LINE_TIMEOUT)
        assert time.monotonic() - answered >= 0.35, "spun down before its own idle period since its answer"
        third = post(client, served, {"echo": "third"})
        assert third.status_code == 200 and third.json()["echo"] == "third", third.text
        report = report_of(served, third.json()["request_id"])
        assert report.group(1) not in (long_env, short_env) and "Init Duration:" in report.group(2), report.group(0)


def test_an_extension_working_after_the_answer_is_no_idle_time(code_dir: Path) -> None:
    """Lambda keeps an environment in its Invoke phase until its runtime and every extension have asked for the next
    event (lambda-spec §4.4; lambdatui's own REPORT Duration counts the extension's work). Idle time starts there.

    Env #1 answers, then its extension flushes for 0.7 s; env #2 (started for an invoke sent meanwhile) answers at
    once. With a 1 s limit, env #2 must go first (idle from ~0.2 s), env #1 only 1 s after its REPORT (at ~1.7 s).
    Counted from env #1's answer, its 'idle' second is up at 1.0 s, 0.3 s after its Invoke phase ended."""
    handler = function(code_dir, extension=EXTENSION)
    with ServeProcess(handler, "--idle-shutdown", "1", "--timeout", "30") as served, \
            httpx.Client(timeout=HTTP_TIMEOUT) as client:
        served.wait_for_line(r"#1 \[platform\]\s+EXTENSION\s+Name: flusher", LINE_TIMEOUT)
        lagging = post(client, served, {"echo": "lagging", "ext_lag": 0.7})  # the flush: a deliberate 0.7 s
        assert lagging.status_code == 200, lagging.text
        other = post(client, served, {"echo": "other"})  # env #1 is still in its Invoke phase: a new environment
        assert other.status_code == 200, other.text
        lagging_env = report_of(served, lagging.json()["request_id"])
        phase_ended = time.monotonic()  # its REPORT: the end of its Invoke phase, 0.7 s after its answer
        duration = float(re.search(r"Duration: ([\d.]+) ms", lagging_env.group(2)).group(1))
        assert duration >= 650, lagging_env.group(0)  # lambdatui itself counts the flush in the invoke
        other_env = report_of(served, other.json()["request_id"]).group(1)
        assert other_env != lagging_env.group(1)
        served.wait_for_line(spindown_line(lagging_env.group(1), "1"), LINE_TIMEOUT)
        idle_for = time.monotonic() - phase_ended
        assert idle_for >= 0.8, f"spun down {idle_for:.2f} s after its Invoke phase ended, for a 1 s idle limit"
        assert re.search(spindown_line(other_env, "1"), served.output()), "env #2, idle longer, went after it"


def test_env1_whose_init_failed_is_spun_down_and_the_next_invoke_cold_starts_with_its_init(code_dir: Path) -> None:
    """Env #1's Init fails ahead of traffic (the first invoke would retry it); idle, it is spun down and its
    processes go. Once the cause is fixed, an invoke gets a fresh environment, whose REPORT carries Init Duration,
    and the right answer."""
    fixed = code_dir / "fixed"
    handler = function(code_dir)
    with ServeProcess(handler, "--idle-shutdown", "0.3", "--env", f"FAIL_INIT_UNLESS={fixed}") as served, \
            httpx.Client(timeout=HTTP_TIMEOUT) as client:
        served.wait_for_line(r"#1 \[platform\]\s+INIT_REPORT .*Phase: init\s+Status: error", LINE_TIMEOUT)
        env1 = descendants(served.proc.pid)
        assert env1, "env #1 has processes while it waits for its retry"
        served.wait_for_line(spindown_line(1, "0.3"), LINE_TIMEOUT)
        assert wait_all_gone(env1, 10) == {}
        fixed.touch()
        answer = post(client, served, {"echo": "after the fix"})
        assert answer.status_code == 200 and not answer.headers.get("x-amz-function-error"), answer.text
        assert answer.json()["echo"] == "after the fix"
        report = report_of(served, answer.json()["request_id"])
        assert report.group(1) == "2" and "Init Duration:" in report.group(2), report.group(0)


def test_an_invoke_during_env1s_slow_init_waits_for_it_and_env1_is_not_spun_down_under_it(code_dir: Path) -> None:
    """Env #1's Init takes 1 s, longer than the 0.3 s idle limit: an invoke sent while it initialises is served by
    env #1 once ready (no second environment), its REPORT carries the whole Init Duration, and env #1 is spun down
    only after the invoke, its idle time counted from then."""
    handler = function(code_dir)
    with ServeProcess(handler, "--idle-shutdown", "0.3", "--env", "INIT_S=1") as served, \
            httpx.Client(timeout=HTTP_TIMEOUT) as client:
        answer = post(client, served, {"echo": "during init"})  # serve prints its URL once env #1's Init is under way
        assert answer.status_code == 200 and answer.json()["echo"] == "during init", answer.text
        report = report_of(served, answer.json()["request_id"])
        assert report.group(1) == "1", report.group(0)
        init_ms = float(re.search(r"Init Duration: ([\d.]+) ms", report.group(2)).group(1))
        assert init_ms >= 900, report.group(0)
        output = served.output()
        assert not re.search(spindown_line(1, "0.3"), output) and "#2 " not in output, output
        served.wait_for_line(spindown_line(1, "0.3"), LINE_TIMEOUT)


def test_a_spindown_cut_off_at_lambdas_limits_does_not_delay_the_next_invoke_and_leaves_nothing(
        code_dir: Path) -> None:
    """A runtime that ignores SIGTERM and an extension that never leaves its SHUTDOWN: the spindown SIGKILLs each at
    Lambda's limits, says so, and leaves no process. Meanwhile, at --concurrency 1, an invoke is served at once by a
    new environment (the one spinning down serves nothing, so it counts for no concurrency)."""
    handler = function(code_dir, extension=STUCK_EXTENSION, handler=STUCK_HANDLER)
    with ServeProcess(handler, "--idle-shutdown", "0.3", "--concurrency", "1") as served, \
            httpx.Client(timeout=HTTP_TIMEOUT) as client:
        first = post(client, served, {"echo": 1})
        assert first.status_code == 200, first.text
        env1 = descendants(served.proc.pid)
        env1_cgroups = cgroups_of(served.proc.pid)  # env #1 is the only environment yet
        assert env1_cgroups or not writable_cgroups()
        served.wait_for_line(r"#1 \[stuck\]\s+stuck got SHUTDOWN spindown", LINE_TIMEOUT)
        second = post(client, served, {"echo": 2})
        assert second.status_code == 200, second.text
        assert second.json()["echo"] == 2 and second.json()["token"] != first.json()["token"]
        said_before = served.output()
        served.wait_for_line(r"#1 \[lambdatui\]\s+the runtime had not exited 300 ms after SIGTERM: SIGKILLed",
                             LINE_TIMEOUT)
        killed = r"#1 \[lambdatui\]\s+extension stuck had not exited when the shutdown's 2,000 ms were up: SIGKILLed"
        assert not re.search(killed, said_before), "the new environment waited for the old one's shutdown"
        served.wait_for_line(killed, LINE_TIMEOUT)
        assert wait_all_gone(env1, 10) == {}
        until(lambda: not any(Path(path).exists() for path in env1_cgroups), "env #1's cgroups removed")
        assert served.proc.poll() is None


def test_sigterm_while_an_idle_spindown_is_under_way_ends_serve_cleanly(code_dir: Path) -> None:
    """SIGTERM to serve while an idle environment's SHUTDOWN is still running (its extension stuck in it): serve exits
    0 within the shutdown's limit, with no process of it left, nor a cgroup of its."""
    handler = function(code_dir, extension=STUCK_EXTENSION, handler=STUCK_HANDLER)
    served = ServeProcess(handler, "--idle-shutdown", "0.3").start()
    try:
        with httpx.Client(timeout=HTTP_TIMEOUT) as client:
            assert post(client, served, {"echo": 1}).status_code == 200
        everything = descendants(served.proc.pid)
        pid = served.proc.pid
        assert cgroups_of(pid) or not writable_cgroups()
        served.wait_for_line(r"#1 \[stuck\]\s+stuck got SHUTDOWN spindown", LINE_TIMEOUT)
        asked = time.monotonic()
        served.signal(signal.SIGTERM)
        assert served.wait(15) == 0, served.output()
        assert time.monotonic() - asked < 5, served.output()
        assert wait_all_gone(everything, 5) == {}
        assert cgroups_of(pid) == []
    finally:
        served.close()


def test_idle_shutdown_nan_is_refused_as_a_usage_error(code_dir: Path) -> None:
    """`--idle-shutdown` takes positive seconds or 'off' (it refuses 0 and negatives, and --retry-wait refuses a
    value that is no duration): 'nan' is no number of seconds, and must be refused as a usage error, exit 2."""
    handler = function(code_dir)
    proc = subprocess.Popen([*lambdatui_argv(), "serve", str(handler), "--port", "0", "--idle-shutdown", "nan"],
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    said = b""
    try:
        assert proc.stderr is not None
        deadline = time.monotonic() + LINE_TIMEOUT
        while b"serving" not in said:  # until it exits (a usage error), or says it serves
            left = deadline - time.monotonic()
            assert left > 0, said.decode(errors="replace")
            if select.select([proc.stderr], [], [], left)[0]:
                chunk = os.read(proc.stderr.fileno(), 65536)
                if not chunk:
                    break
                said += chunk
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
        said += proc.communicate(timeout=30)[1]
    text = said.decode(errors="replace")
    assert proc.returncode == 2, text
    assert "--idle-shutdown" in text and "serving" not in text, text
