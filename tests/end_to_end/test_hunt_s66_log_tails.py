"""Hunt (s66): which invoke a log line is attributed to, as a caller sees it in the Invoke API's log tail
(`X-Amz-Log-Type: Tail`: the base64 of the last 4 KB of that invoke's log, START to REPORT) and in the output of
`lambdatui serve` and `lambdatui invoke`.

In Lambda an invoke's tail holds only that invoke's own lines: not Init's, not an earlier invoke's. Everything here runs
the real CLI (`lambdatui serve` over real HTTP, `lambdatui invoke`) on generated handlers and extensions.
Three found bugs, fixed in the same session: a line left without its newline at Init's end was glued to the first
invoke's first line (in its tail, and inside its START in `lambdatui invoke`), and an extension's at an invoke's end
to its next line, in the next invoke's tail.
"""

from __future__ import annotations

import base64
import json
import re
import sys
from pathlib import Path

import httpx
import pytest

from e2e_support import ServeProcess, run_cli, write_file

HTTP_TIMEOUT = 30.0
UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
CONSOLE_LINE = re.compile(r"^(?:#\d+ )?\[([^\]]+)\]\s+(.*)$")


def tailed(served: ServeProcess, event: dict) -> tuple[httpx.Response, str, str]:
    """(the answer, its decoded log tail, the invoke's request id read from the tail's START)."""
    answer = httpx.post(served.invoke_url(), content=json.dumps(event).encode(), timeout=HTTP_TIMEOUT,
                        headers={"X-Amz-Log-Type": "Tail"})
    assert answer.status_code == 200, answer.text
    tail = base64.b64decode(answer.headers["X-Amz-Log-Result"]).decode("utf-8")
    rid = answer.headers["x-amzn-requestid"]
    assert f"REPORT RequestId: {rid}" in tail, tail
    return answer, tail, rid


def own_lines(tail: str) -> list[str]:
    """A tail's lines but the platform's START, END and REPORT."""
    return [line for line in tail.splitlines() if not re.match(r"(START|END|REPORT) RequestId: ", line)]


def console(served: ServeProcess) -> list[tuple[str, str]]:
    """(source, text) of every tagged line `serve` printed so far."""
    return [(m.group(1), m.group(2)) for m in map(CONSOLE_LINE.match, served.output().splitlines()) if m]


def extension(body: str) -> str:
    """An external extension `ext`, registered for INVOKE and SHUTDOWN, that runs `body` on each INVOKE event
    (`event` and `rid` in scope) and exits at SHUTDOWN."""
    return f"""#!{sys.executable}
import http.client, json, os, sys, time
api = http.client.HTTPConnection(os.environ["AWS_LAMBDA_RUNTIME_API"], timeout=None)
def call(method, path, headers, body=None):
    api.request(method, "/2020-01-01/extension" + path, body=body, headers=headers)
    answer = api.getresponse()
    return answer, answer.read()
answer, _ = call("POST", "/register", {{"Lambda-Extension-Name": "ext"}}, json.dumps({{"events": ["INVOKE", "SHUTDOWN"]}}))
ident = answer.getheader("Lambda-Extension-Identifier")
print("ext registered during init", flush=True)
while True:
    _, raw = call("GET", "/event/next", {{"Lambda-Extension-Identifier": ident}})
    event = json.loads(raw)
    if event["eventType"] == "SHUTDOWN":
        sys.exit(0)
    rid = event["requestId"]
{body}
"""


# ---------------------------------------------------------------------- a background thread that outlives its invoke

# Each line is one write: print() writes its words and its newline apart, and the two threads' words then interleave
# ("handled" + "tick 30 of ..." + " 3"), which is no line either thread printed (a README test run under load).
TICKER = '''import sys, threading, time
CURRENT = "init"

def tick():
    i = 0
    while True:
        sys.stdout.write(f"tick {i} of {CURRENT}\\n")
        i += 1
        time.sleep(0.002)

THREAD = None

def handler(event, context):
    global CURRENT, THREAD
    CURRENT = context.aws_request_id
    if THREAD is None:
        THREAD = threading.Thread(target=tick, daemon=True)
        THREAD.start()
    time.sleep(0.02)
    sys.stdout.write(f"handled {event['n']}\\n")
    return event["n"]
'''


def test_a_background_thread_s_lines_are_in_one_tail_at_most_as_the_console_places_them(code_dir: Path) -> None:
    """A thread that keeps printing after its invoke's response (frozen between invokes): each tail's lines are
    exactly the function lines the console shows between that invoke's START and REPORT, no tick is in two tails,
    and a tick names its own invoke or the one just before (printed at the end of that one, or on the thaw)."""
    write_file(code_dir / "handler.py", TICKER)
    with ServeProcess(code_dir / "handler.py") as served:
        runs = [tailed(served, {"n": n}) for n in range(6)]
        served.wait_for_line(f"REPORT RequestId: {runs[-1][2]}")
        lines = console(served)
    seen: list[int] = []
    previous = None
    for n, (answer, tail, rid) in enumerate(runs):
        assert answer.json() == n
        start = lines.index(("platform", f"START RequestId: {rid} Version: $LATEST"))
        report = next(i for i, (src, text) in enumerate(lines) if src == "platform" and text.startswith(f"REPORT RequestId: {rid}"))
        between = [text for src, text in lines[start + 1:report] if src == "function"]
        assert own_lines(tail) == between, (tail, between)
        assert f"handled {n}" in between
        for number, owner in re.findall(r"^tick (\d+) of (\S+)$", tail, re.M):
            assert owner in (rid, previous), (owner, rid, previous)
            seen.append(int(number))
        previous = rid
    assert seen == sorted(set(seen)) and len(seen) > 6, seen  # in order, none twice


# ---------------------------------------------------------------------- Init's lines

INIT_LINES = '''import sys
print("init line on stdout")
print("init line on stderr", file=sys.stderr)

def handler(event, context):
    print("handling", event["n"])
    return event["n"]
'''


INIT_UNFINISHED = '''import sys
sys.stdout.write("loading config...")
sys.stdout.flush()

def handler(event, context):
    print("handling", event["n"])
    return event["n"]
'''


@pytest.mark.parametrize("init", [INIT_LINES, INIT_UNFINISHED], ids=["whole-lines", "without-its-newline"])
def test_init_s_lines_are_not_in_the_first_invoke_s_tail(code_dir: Path, init: str) -> None:
    write_file(code_dir / "handler.py", init)
    with ServeProcess(code_dir / "handler.py") as served:
        _, first, _ = tailed(served, {"n": 1})
        _, second, _ = tailed(served, {"n": 2})
    assert own_lines(first) == ["handling 1"], first
    assert own_lines(second) == ["handling 2"], second


def test_invoke_shows_an_unfinished_init_line_before_the_first_start(code_dir: Path) -> None:
    write_file(code_dir / "handler.py", INIT_UNFINISHED)
    done = run_cli("invoke", str(code_dir / "handler.py"), "-e", '{"n": 1}')
    assert done.returncode == 0, done.stderr
    lines = [(m.group(1), m.group(2)) for m in map(CONSOLE_LINE.match, done.stderr.splitlines()) if m]
    start = next(i for i, (src, text) in enumerate(lines) if src == "platform" and text.startswith("START "))
    assert ("function", "handling 1") in lines[start:], done.stderr
    assert ("function", "loading config...") in lines[:start], done.stderr
    assert all("loading config" not in text for _, text in lines[start:]), done.stderr


FAILS_FIRST_INIT = '''import os, tempfile
ATTEMPTS = os.path.join(tempfile.gettempdir(), "attempts")
with open(ATTEMPTS, "a") as fh:
    fh.write("x")
with open(ATTEMPTS) as fh:
    ATTEMPT = len(fh.read())
print("init attempt", ATTEMPT, flush=True)
if ATTEMPT == 1:
    raise RuntimeError("the first init fails")

def handler(event, context):
    print("handling", event["n"], flush=True)
    return event["n"]
'''


def test_a_failed_init_s_lines_are_not_in_the_tail_of_the_invoke_that_retries_it(code_dir: Path) -> None:
    write_file(code_dir / "handler.py", FAILS_FIRST_INIT)
    with ServeProcess(code_dir / "handler.py") as served:
        served.wait_for_line(r"INIT_REPORT .*Status: error")
        answer, first, _ = tailed(served, {"n": 1})
        _, second, _ = tailed(served, {"n": 2})
    assert answer.json() == 1
    assert "init attempt 1" not in first and "the first init fails" not in first, first
    assert "handling 1" in own_lines(first), first
    assert own_lines(second) == ["handling 2"], second


# ---------------------------------------------------------------------- extensions

def test_an_extension_s_lines_while_it_works_on_an_invoke_are_that_invoke_s_its_unfinished_one_too(
        code_dir: Path) -> None:
    """Its Init line in no tail; what it prints on an INVOKE, before and after the runtime's response (it works on
    past it), in that invoke's tail only; and a line it leaves without its newline at the invoke's end stays in its own
    invoke's tail, not glued to its next line in the next one's. (One serve for what two tests checked apart: the
    same extension, its unfinished line written last.)"""
    write_file(code_dir / "handler.py", "def handler(event, context):\n    print('handling', event['n'])\n"
                                        "    return event['n']\n")
    write_file(code_dir / "extensions" / "ext", extension(
        "    print('ext saw', rid, flush=True)\n"
        "    time.sleep(0.05)\n"
        "    print('ext done late', rid, file=sys.stderr, flush=True)\n"
        "    sys.stdout.write('ext flushed ' + rid)\n"
        "    sys.stdout.flush()\n"), executable=True)
    with ServeProcess(code_dir / "handler.py") as served:
        runs = [tailed(served, {"n": n}) for n in range(3)]
    for n, (_, tail, rid) in enumerate(runs):
        assert set(re.findall(UUID, tail)) == {rid}, tail
        assert sorted(own_lines(tail)) == sorted([f"ext saw {rid}", f"handling {n}", f"ext done late {rid}",
                                                  f"ext flushed {rid}"]), tail


# ---------------------------------------------------------------------- timeouts, crashes, long lines

TIMES_OUT = '''import sys, threading, time
print("init", flush=True)

def spin():
    i = 0
    while True:
        print("spin", i, flush=True)
        i += 1
        time.sleep(0.02)

def handler(event, context):
    print("handling", event["n"], flush=True)
    if event.get("slow"):
        threading.Thread(target=spin, daemon=True).start()
        sys.stderr.write("progress...")  # stderr: the thread's prints on stdout do not finish it
        sys.stderr.flush()
        time.sleep(10)
    return event["n"]
'''


def test_a_timed_out_invoke_s_lines_and_its_thread_s_stay_in_its_own_tail(code_dir: Path) -> None:
    write_file(code_dir / "handler.py", TIMES_OUT)
    with ServeProcess(code_dir / "handler.py", "--timeout", "1") as served:
        answer, first, rid1 = tailed(served, {"n": 1, "slow": True})
        _, second, rid2 = tailed(served, {"n": 2})
        _, third, _ = tailed(served, {"n": 3})
    assert answer.headers.get("X-Amz-Function-Error") == "Unhandled"
    assert f"{rid1} Task timed out after 1.00 seconds" in first, first
    assert "spin 0" in own_lines(first) and "progress..." in own_lines(first), first
    assert re.search(rf"REPORT RequestId: {rid1}\t.*Status: timeout", first), first
    for tail in (second, third):
        assert rid1 not in tail and "spin" not in tail and "progress" not in tail, tail
    assert "handling 2" in own_lines(second) and own_lines(third) == ["handling 3"], (second, third)


CRASHES_WITH_A_DAEMON = '''import os, subprocess, sys, tempfile, time
DAEMON = """import sys, time
i = 0
while True:
    print("daemon tick", i, flush=True)
    if i == 0:
        open(sys.argv[1], "w").close()
    i += 1
    time.sleep(0.005)
"""

def handler(event, context):
    print("handling", event["n"], flush=True)
    if event.get("crash"):
        marker = os.path.join(tempfile.gettempdir(), "daemon-started")
        subprocess.Popen([sys.executable, "-c", DAEMON, marker], start_new_session=True)
        deadline = time.monotonic() + 10
        while not os.path.exists(marker) and time.monotonic() < deadline:
            time.sleep(0.005)
        os._exit(1)
    return event["n"]
'''


def test_a_crashed_runtime_s_daemon_never_reaches_a_later_invoke_s_tail(code_dir: Path) -> None:
    write_file(code_dir / "handler.py", CRASHES_WITH_A_DAEMON)
    with ServeProcess(code_dir / "handler.py") as served:
        answer, first, rid1 = tailed(served, {"n": 1, "crash": True})
        later = [tailed(served, {"n": n}) for n in (2, 3)]
    assert json.loads(answer.text)["errorType"] == "Runtime.ExitError", answer.text
    assert "daemon tick 0" in own_lines(first), first
    for n, (_, tail, _) in zip((2, 3), later):
        assert own_lines(tail) == [f"handling {n}"], tail


LONG_LINE = '''def handler(event, context):
    print(event["char"] * event["count"] + "|")
    return event["count"]
'''


def test_a_line_longer_than_4_kb_is_cut_to_the_tail_s_last_4_kb_and_spills_nowhere(code_dir: Path) -> None:
    write_file(code_dir / "handler.py", LONG_LINE)
    with ServeProcess(code_dir / "handler.py") as served:
        _, ascii_tail, rid1 = tailed(served, {"char": "L", "count": 10000})
        _, euro_tail, rid2 = tailed(served, {"char": "\u20ac", "count": 5000})  # 3 bytes each
        _, short_tail, _ = tailed(served, {"char": "s", "count": 3})
    assert len(ascii_tail.encode()) == 4096 and ascii_tail.startswith("LLLL"), ascii_tail[:100]
    assert ascii_tail.endswith("\n") and ascii_tail.splitlines()[-2] == f"END RequestId: {rid1}", ascii_tail[-300:]
    assert 4094 <= len(euro_tail.encode()) <= 4096 and euro_tail.startswith("\u20ac"), euro_tail[:100]
    assert euro_tail.splitlines()[-2] == f"END RequestId: {rid2}", euro_tail[-300:]
    assert own_lines(short_tail) == ["sss|"], short_tail
