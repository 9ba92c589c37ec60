"""SnapStart, end to end (lambda-spec §1.7, §3.5, §4.8): Init once into a snapshot, every invoke on an environment
restored from it.

Real `lambdatui invoke --snapstart` and `lambdatui serve --snapstart`, real runtimes and real HTTP. What a restored
environment is made of is read twice, independently: from the function itself (a token drawn at import, i.e. during
Init, the environment variables, its /tmp, its own process's start time as the host's /proc shows it) and from
lambdatui's platform lines (INIT_*, RESTORE_*, REPORT), each prefixed by its environment's number in `serve`.

This module also holds the helpers the other test_snapstart_* modules share (no test is imported from here).
"""

from __future__ import annotations

import json
import sys
import math
import re
from pathlib import Path
from typing import Optional

import pytest

from e2e_support import (
    ServeProcess, descendants, platform_lines, proc_cmdline, proc_stat, run_cli, write_file,
)
from process_states import wait_frozen
from sandbox_support import expected_sandbox, without_host_folders
from test_fleet_support import InFlight, env_tmp_dirs, invoke, matches, report_line, state_home, wait_for_count

__all__ = ["state_home"]  # the fixture, used by name

LINE_TIMEOUT = 30.0

# The function most SnapStart tests run. TOKEN is drawn at import, so during Init: in the snapshot. The after-restore
# hook draws it again only when the module was written with REGENERATE = True. Every environment says which process
# it is (its start time as the host sees it in /proc) and what it was given.
SNAP_HANDLER = '''import os
import tempfile
import time
import uuid

from snapshot_restore_py import register_after_restore, register_before_snapshot

REGENERATE = False
TOKEN = uuid.uuid4().hex  # made during Init: in the snapshot
INIT_TOKEN = TOKEN
print("init token=%s type=%s group=%s stream=%s" % (TOKEN, os.environ.get("AWS_LAMBDA_INITIALIZATION_TYPE"),
      os.environ.get("AWS_LAMBDA_LOG_GROUP_NAME"), os.environ.get("AWS_LAMBDA_LOG_STREAM_NAME")), flush=True)
served = 0


def proc_start():
    """This process's start time in clock ticks, as the host's /proc shows it too."""
    with open("/proc/self/stat") as fh:
        return fh.read().rpartition(")")[2].split()[19]


@register_before_snapshot
def before_snapshot():
    print("before-snapshot ran", flush=True)


@register_after_restore
def after_restore():
    global TOKEN
    if REGENERATE:
        TOKEN = uuid.uuid4().hex
    print("after-restore ran token=%s start=%s" % (TOKEN, proc_start()), flush=True)


def handler(event, context):
    global served
    served += 1
    tag = event.get("tag", "-")
    print("ready tag=%s token=%s" % (tag, TOKEN), flush=True)
    release = event.get("release")
    if release:
        deadline = time.time() + 60
        while not os.path.exists(release) and time.time() < deadline:  # the test creates it when this may end
            time.sleep(0.005)
    if event.get("crash"):
        os._exit(3)
    return {"tag": tag, "token": TOKEN, "init_token": INIT_TOKEN, "n": served, "proc_start": proc_start(),
            "pid": os.getpid(),
            "init_type": os.environ.get("AWS_LAMBDA_INITIALIZATION_TYPE"),
            "log_group": os.environ.get("AWS_LAMBDA_LOG_GROUP_NAME", "<unset>"),
            "log_stream": os.environ.get("AWS_LAMBDA_LOG_STREAM_NAME", "<unset>"),
            "context_log_group": context.log_group_name, "context_log_stream": context.log_stream_name,
            "runtime_api": os.environ.get("AWS_LAMBDA_RUNTIME_API"), "request_id": context.aws_request_id}
'''

READY = r"#(\d+) \[function\]\s+ready tag=(\S+) token=(\w+)"
INIT_LINE = r"#1 \[function\]\s+init token=(\w+) type=(\S+) group=(\S+) stream=(\S+)"
AFTER_RESTORE = r"#(\d+) \[function\]\s+after-restore ran token=(\w+) start=(\d+)"
RESTORE_START = r"#(\d+) \[platform\]\s+RESTORE_START Runtime Version: (\S+)\s+Runtime Version ARN: (\S+)"
RESTORE_REPORT = r"#(\d+) \[platform\]\s+RESTORE_REPORT Restore Duration: ([\d.]+) ms(.*)$"
REPORT = r"#(\d+) \[platform\]\s+REPORT RequestId: ([0-9a-f-]+)\s(.*)$"


def write_snap_function(code_dir: Path, *, regenerate: bool = False) -> Path:
    """SNAP_HANDLER as code_dir/handler.py (outside /tmp: the sandboxes see it)."""
    source = SNAP_HANDLER.replace("REGENERATE = False", f"REGENERATE = {regenerate}")
    return write_file(code_dir / "handler.py", source)


def snap_serve(handler: Path, *extra: str) -> ServeProcess:
    return ServeProcess(handler, "--snapstart", "--timeout", "60", *extra)


def env_lines(served: ServeProcess, number: int, source: str) -> list[str]:
    """Env #`number`'s lines from `source` (platform, function, lambdatui, an extension's name), text only."""
    regex = re.compile(rf"^#{number} \[{re.escape(source)}\]\s+(.*)$")
    return [m.group(1) for m in map(regex.match, served.output().splitlines()) if m]


def ns_pid(pid: int) -> Optional[int]:
    """The pid as the process itself sees it (the last NSpid of /proc/<pid>/status: its own PID namespace's)."""
    try:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                if line.startswith("NSpid:"):
                    return int(line.split()[-1])
    except OSError:
        return None
    return None


def runtime_pid(answer: dict, root: int) -> int:
    """The host pid of the runtime that gave `answer`: the lambdatui runtime under root with the start time
    (/proc/<pid>/stat field 22, in clock ticks) and the pid in its own namespace that the handler reported."""
    found = [pid for pid, started in bootstraps(root).items()
             if str(started) == answer["proc_start"] and ns_pid(pid) == answer["pid"]]
    assert len(found) == 1, f"{answer}: {found} among {bootstraps(root)}"
    return found[0]


def bootstraps(root: int) -> dict[int, int]:
    """lambdatui's Python runtime processes under root: the snapshot's and every restored copy."""
    return {pid: start for pid, start in descendants(root).items() if "lambdatui/bootstrap" in proc_cmdline(pid)}


def report_fields(report_tail: str) -> dict[str, str]:
    """`Duration: 1.2 ms\tBilled Duration: 2 ms\t...` as {name: value}."""
    fields = {}
    for part in report_tail.split("\t"):
        name, sep, value = part.strip().partition(": ")
        if sep:
            fields[name] = value
    return fields


# ---------------------------------------------------------------------- lambdatui invoke --snapstart


def test_invoke_snapstart_inits_once_into_a_snapshot_then_restores_an_environment_from_it(code_dir: Path) -> None:
    handler = write_snap_function(code_dir)
    done = run_cli("invoke", str(handler), "--snapstart", "--repeat", "2", "-e", '{"tag": "cli"}')
    assert done.returncode == 0, done.stderr

    first, second = (json.loads(line) for line in done.stdout.splitlines())
    # Init ran once, in the snapshot: its module-level token is what both invokes see, and its lines come once.
    init_lines = re.findall(r"\[function\]\s+init token=(\w+) type=(\S+) group=(\S+) stream=(\S+)", done.stderr)
    assert init_lines == [(first["token"], "snap-start", "None", "None")], done.stderr
    assert first["token"] == second["token"] == first["init_token"]
    assert first["proc_start"] == second["proc_start"] and (first["n"], second["n"]) == (1, 2), "one warm environment"
    # AWS_LAMBDA_INITIALIZATION_TYPE says snap-start; no log group or stream variables for SnapStart (§4.8, §5).
    assert first["init_type"] == "snap-start"
    assert (first["log_group"], first["log_stream"]) == ("<unset>", "<unset>"), first
    assert first["context_log_group"] is None and first["context_log_stream"] is None, first

    lines = [line.rstrip() for line in platform_lines(done.stderr)]
    kinds = [line.split(" ", 1)[0] for line in lines]
    assert kinds == ["INIT_START", "INIT_REPORT", "RESTORE_START", "RESTORE_REPORT", "START", "END", "REPORT",
                     "START", "END", "REPORT"], lines
    assert re.fullmatch(r"INIT_REPORT Init Duration: [\d.]+ ms\tPhase: init\tStatus: success", lines[1]), lines[1]
    assert re.fullmatch(r"RESTORE_START Runtime Version: python:3\S*\tRuntime Version ARN: arn:aws:lambda:\S+",
                        lines[2]), lines[2]
    restore = re.fullmatch(r"RESTORE_REPORT Restore Duration: ([\d.]+) ms", lines[3])
    assert restore, lines[3]  # a successful restore says no Status

    # The first REPORT carries the restore's durations, not Init Duration; the second, warm, carries neither.
    first_report = report_fields(lines[6].split(" ", 2)[2])
    assert "Init Duration" not in first_report, lines[6]
    assert first_report["Restore Duration"] == f"{restore.group(1)} ms", lines[6]
    billed = re.fullmatch(r"(\d+) ms", first_report["Billed Restore Duration"])
    assert billed and 1 <= int(billed.group(1)) <= math.ceil(float(restore.group(1))) + 1, lines[6]
    assert list(first_report)[-2:] == ["Restore Duration", "Billed Restore Duration"], lines[6]
    second_report = report_fields(lines[9].split(" ", 2)[2])
    assert not {"Init Duration", "Restore Duration", "Billed Restore Duration"} & set(second_report), lines[9]
    # The hooks: before-snapshot once (in the snapshot), after-restore once (in the one restored environment).
    assert done.stderr.count("before-snapshot ran") == 1 and done.stderr.count("after-restore ran") == 1, done.stderr


def test_snapstart_cannot_be_combined_with_provisioned_concurrency_or_managed_instances(code_dir: Path) -> None:
    handler = write_snap_function(code_dir)
    for other in (["--provisioned", "1"], ["--max-concurrency", "2"]):
        done = run_cli("serve", str(handler), "--snapstart", *other, "--port", "0")
        assert done.returncode == 2, (other, done.stdout, done.stderr)
        assert done.stderr.strip().count("\n") == 0 and f"--snapstart cannot be used with {other[0]}" in done.stderr
        assert "Traceback" not in done.stderr


# ---------------------------------------------------------------------- serve --snapstart


def test_each_restored_environment_is_a_copy_of_the_snapshot_frozen_between_invokes(code_dir: Path) -> None:
    """Two restored environments side by side: the same Init token in both, two processes that are not the
    snapshot's, each with its own Runtime API; each frozen once its invoke is done, the snapshot never invoked."""
    handler = write_snap_function(code_dir)
    release = code_dir / "release"
    with snap_serve(handler) as served:
        init_token, init_type, group, stream = wait_for_count(served, INIT_LINE, 1)[0].groups()
        assert (init_type, group, stream) == ("snap-start", "None", "None")
        held = InFlight(served, {"tag": "held", "release": str(release)})
        wait_for_count(served, READY, 1)
        other = invoke(served, {"tag": "other"})  # env #2 is busy: a second environment is restored for it
        release.touch()
        answers = [held.response().json(), other.json()]

        assert {a["token"] for a in answers} == {init_token}, answers
        assert len({a["proc_start"] for a in answers}) == 2, "two restored environments are two processes"
        assert len({a["runtime_api"] for a in answers}) == 2, "each environment has its own Runtime API"
        envs = {m.group(2): int(m.group(1)) for m in wait_for_count(served, READY, 2)}
        assert envs == {"held": 2, "other": 3}, served.output()

        # One Init (env #1's), one restore per restored environment, and env #1 never took an invoke.
        assert len(matches(served, r"\[platform\]\s+INIT_START ")) == 1
        assert len(matches(served, r"^#1 \[platform\]\s+INIT_REPORT .*Phase: init\tStatus: success$")) == 1
        assert sorted(int(m.group(1)) for m in wait_for_count(served, RESTORE_START, 2)) == [2, 3], served.output()
        assert not matches(served, r"^#1 \[platform\]\s+(START|RESTORE_START) "), served.output()

        # Each restored runtime is a process of its own, not the snapshot's, and frozen once its invoke is done.
        wait_for_count(served, REPORT, 2)
        for answer in answers:
            pid = runtime_pid(answer, served.proc.pid)
            wait_frozen(pid)
        # The snapshot and the two copies: three runtime processes, the copies children of the snapshot's.
        runtimes = bootstraps(served.proc.pid)
        assert len(runtimes) == 3, {pid: proc_cmdline(pid) for pid in runtimes}
        copies = {runtime_pid(a, served.proc.pid) for a in answers}
        (snapshot,) = set(runtimes) - copies
        assert {proc_stat(pid)[1] for pid in copies} == {snapshot}


def test_the_snapshot_takes_no_share_of_the_concurrency_and_event_invokes_run_restored(code_dir: Path) -> None:
    """--concurrency 2 is two restored environments (the snapshot is not one that runs invokes): a third synchronous
    invoke is throttled, an Event invoke waits and then runs in a restored environment."""
    handler = write_snap_function(code_dir)
    release = code_dir / "release"
    with snap_serve(handler, "--concurrency", "2") as served:
        busy = [InFlight(served, {"tag": f"busy-{i}", "release": str(release)}) for i in range(2)]
        wait_for_count(served, READY, 2)
        throttled = invoke(served, {"tag": "third"})
        assert throttled.status_code == 429 and throttled.headers["x-amzn-ErrorType"] == "TooManyRequestsException"
        queued = invoke(served, {"tag": "event"}, invocation_type="Event")
        assert queued.status_code == 202
        release.touch()
        assert [call.response().status_code for call in busy] == [200, 200]

        ready = {m.group(2): int(m.group(1)) for m in wait_for_count(served, READY, 3)}
        assert sorted((ready["busy-0"], ready["busy-1"])) == [2, 3] and ready["event"] in (2, 3), ready
        assert "third" not in ready and not matches(served, r"^#4 "), served.output()
        assert {m.group(3) for m in matches(served, READY)} == {wait_for_count(served, INIT_LINE, 1)[0].group(1)}


def test_restored_tmp_starts_as_the_snapshots_and_is_then_its_own(private_tmp: Path, state_home: Path) -> None:
    """/tmp in a restored environment: what Init and the before-snapshot hook wrote is there (the snapshot holds the
    disk too); what one restored environment writes is seen neither by another nor by the snapshot."""
    handler = write_file(private_tmp / "handler.py", '''import os
import time
import uuid

from snapshot_restore_py import register_before_snapshot

MARK = uuid.uuid4().hex
with open("/tmp/init-" + MARK, "w") as fh:
    fh.write("written during Init")


@register_before_snapshot
def before():
    with open("/tmp/before-snapshot-" + MARK, "w") as fh:
        fh.write("written by the before-snapshot hook")


def handler(event, context):
    with open("/tmp/" + event["write"], "w") as fh:
        fh.write(event["write"])
    print("ready tag=%s token=%s" % (event["write"], MARK), flush=True)
    while event.get("release") and not os.path.exists(event["release"]):
        time.sleep(0.005)
    # Files only: a checkout cloned under /tmp is a folder seen in it too (sandbox.kept_folders).
    return {"mark": MARK, "tmp": sorted(n for n in os.listdir("/tmp") if not os.path.isdir("/tmp/" + n)),
            "init": open("/tmp/init-" + MARK).read()}
''')
    release = private_tmp / "release"
    with snap_serve(handler) as served:
        first = InFlight(served, {"write": "from-first", "release": str(release)})
        wait_for_count(served, READY, 1)
        second = invoke(served, {"write": "from-second"}).json()
        release.touch()
        first_answer = first.response().json()

        mark = second["mark"]
        assert first_answer["mark"] == mark and first_answer["init"] == second["init"] == "written during Init"
        from_snapshot = [f"before-snapshot-{mark}", f"init-{mark}"]
        assert [n for n in first_answer["tmp"] if n != "from-first"] == from_snapshot, first_answer["tmp"]
        assert [n for n in second["tmp"] if n != "from-second"] == from_snapshot, second["tmp"]
        assert "from-first" in first_answer["tmp"] and "from-second" in second["tmp"]

        # On the host: each environment's /tmp folder, the snapshot's untouched by its copies; the host's /tmp clean.
        tmp_dirs = {int(d.parent.name.rpartition("-")[2]): d for d in env_tmp_dirs(state_home)}
        assert sorted(tmp_dirs) == [1, 2, 3], tmp_dirs
        assert without_host_folders(sorted(p.name for p in tmp_dirs[1].iterdir())) == from_snapshot
        for name in (f"init-{mark}", "from-first", "from-second"):
            assert not (Path("/tmp") / name).exists()


def test_a_reset_restored_environment_is_restored_again_from_the_snapshot_and_then_invoked_warm(code_dir: Path) -> None:
    """A crash resets a restored environment; its next invoke restores it again (RESTORE_START, after-restore hook,
    the snapshot's token), it is not initialised (no second INIT_START). The warm invoke after that restore, in the
    same process, carries no restore duration in its REPORT."""
    handler = write_snap_function(code_dir)
    with snap_serve(handler) as served:
        before = invoke(served, {"tag": "before"}).json()
        crashed = invoke(served, {"tag": "crash", "crash": True})
        assert crashed.status_code == 200 and crashed.headers.get("x-amz-function-error") == "Unhandled"
        assert crashed.json()["errorType"] == "Runtime.ExitError", crashed.text
        restored_again = invoke(served, {"tag": "after"})
        after = restored_again.json()

        assert before["token"] == after["token"] == after["init_token"]
        assert before["proc_start"] != after["proc_start"], "the crashed process cannot have served again"
        ready = wait_for_count(served, READY, 3)
        assert {m.group(2): int(m.group(1)) for m in ready} == {"before": 2, "crash": 2, "after": 2}
        assert [int(m.group(1)) for m in wait_for_count(served, RESTORE_START, 2)] == [2, 2], served.output()
        assert [int(m.group(1)) for m in wait_for_count(served, AFTER_RESTORE, 2)] == [2, 2], served.output()
        assert len(matches(served, r"\[platform\]\s+INIT_START ")) == 1, served.output()

        warm = invoke(served, {"tag": "warm"})
        assert [r.status_code for r in (restored_again, warm)] == [200, 200]
        report_line(served, restored_again.headers["x-amzn-RequestId"])  # (whether it should carry it: not asserted)
        warm_report = report_line(served, warm.headers["x-amzn-RequestId"])
        restore = wait_for_count(served, RESTORE_REPORT, 2)[1]
        assert warm.json()["proc_start"] == after["proc_start"], "the same, warm, process"
        assert "Restore Duration" not in warm_report, (
            f"a warm invoke's REPORT carries a restore it did not have ({restore.group(0)!r}):\n{warm_report}")


def test_nothing_runs_in_the_snapshot_once_it_is_taken(code_dir: Path) -> None:
    handler = write_file(code_dir / "handler.py", '''import os
import threading
import time

WAKE = os.path.join(os.path.dirname(os.path.realpath(__file__)), "wake")


def watch():
    while not os.path.exists(WAKE):
        time.sleep(0.005)
    print("a thread started during Init saw the file", flush=True)


threading.Thread(target=watch, daemon=True).start()


def handler(event, context):
    return "ok"
''')
    with snap_serve(handler) as served:
        assert invoke(served, {}).status_code == 200  # a restore has happened: the snapshot is taken and in use
        (code_dir / "wake").touch()
        try:  # a bounded wait for a line that must not come (the thread polls every 5 ms)
            line: Optional[str] = served.wait_for_line(r"^#1 \[function\]\s+a thread started during Init", 2).group(0)
        except AssertionError:
            line = None
        assert line is None, f"the snapshot ran user code after INIT_REPORT: {line!r}\n{served.output()}"


# ---------------------------------------------------------------------- telemetry (lambda-spec §3.5)

# An extension that subscribes to the Telemetry API's platform events and prints each one it receives (its type and
# record), so that `serve` shows them under its environment's number, and leaves a file got-<type> in its /tmp for
# the handler to wait on; it also leaves a file named after a token of its own there and says which, so the test can
# check it shares /tmp with the restored runtime.
TELEMETRY_EXTENSION = """#!{python}
import http.client
import http.server
import json
import sys
import os
import tempfile
import threading
import uuid

NAME = os.path.basename(__file__)


INIT_SEEN = threading.Event()
INIT_REPORTED = threading.Event()


class Listener(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self):
        for event in json.loads(self.rfile.read(int(self.headers["Content-Length"]))):
            print("telemetry %s %s" % (event["type"], json.dumps(event["record"], sort_keys=True)), flush=True)
            open(os.path.join(tempfile.gettempdir(), "got-" + event["type"]), "w").close()  # for the handler
            if event["type"] == "platform.initStart":
                INIT_SEEN.set()
            elif event["type"] == "platform.initReport":
                INIT_REPORTED.set()
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


server = http.server.ThreadingHTTPServer(("sandbox.localdomain", 0), Listener)
threading.Thread(target=server.serve_forever, daemon=True).start()
api = http.client.HTTPConnection(os.environ["AWS_LAMBDA_RUNTIME_API"], timeout=None)


def call(method, path, headers, body=None):
    api.request(method, path, body=body, headers=headers)
    answer = api.getresponse()
    return answer, answer.read()


answer, _ = call("POST", "/2020-01-01/extension/register", {{"Lambda-Extension-Name": NAME}},
                 json.dumps({{"events": ["INVOKE", "SHUTDOWN"]}}))
ext_id = answer.getheader("Lambda-Extension-Identifier")
marker = uuid.uuid4().hex
open(os.path.join(tempfile.gettempdir(), "extension-" + marker), "w").close()
answer, raw = call("PUT", "/2022-07-01/telemetry",
                   {{"Lambda-Extension-Identifier": ext_id, "Content-Type": "application/json"}},
                   json.dumps({{"schemaVersion": "2022-12-13", "types": ["platform"], "buffering": {{"timeoutMs": 25}},
                               "destination": {{"protocol": "HTTP",
                                               "URI": "http://sandbox.localdomain:%d/" % server.server_address[1]}}}}))
print("subscribed %d marker=%s" % (answer.status, marker), flush=True)
while True:
    _, raw = call("GET", "/2020-01-01/extension/event/next", {{"Lambda-Extension-Identifier": ext_id}})
    if json.loads(raw)["eventType"] == "SHUTDOWN":
        break
if INIT_SEEN.is_set():  # the snapshot's: its Init's last records come when its shutdown thaws it
    INIT_REPORTED.wait(1.5)  # within Lambda's 2 s of shutdown, as an extension takes its last telemetry
"""

TELEMETRY = r"#(\d+) \[tele\]\s+telemetry (\S+) (.*)$"
ANY_REPORT = r"#(\d+) \[platform\]\s+REPORT RequestId: "


def test_a_restored_environments_telemetry_is_restore_start_runtime_done_and_report(code_dir: Path) -> None:
    if expected_sandbox(code_dir).hosts_file is None:
        pytest.skip("no private /etc/hosts here: sandbox.localdomain, where the listener binds, does not resolve")
    write_file(code_dir / "handler.py", """import os
import tempfile
import time


def handler(event, context):
    # Telemetry reaches the listener while the environment runs: wait (bounded) until the event meant has come.
    got = os.path.join(tempfile.gettempdir(), "got-" + event["wait_for"])
    deadline = time.time() + 20
    while not os.path.exists(got) and time.time() < deadline:
        time.sleep(0.005)
    return {"got": os.path.exists(got),
            "markers": sorted(n for n in os.listdir(tempfile.gettempdir()) if n.startswith("extension-"))}
""")
    write_file(code_dir / "extensions" / "tele", TELEMETRY_EXTENSION.format(python=sys.executable), executable=True)
    with snap_serve(code_dir / "handler.py") as served:
        answer = invoke(served, {"wait_for": "platform.restoreReport"})
        assert answer.status_code == 200 and answer.json()["got"], answer.text
        # The first invoke's platform.report is sent once its environment runs again: during the next invoke.
        again = invoke(served, {"wait_for": "platform.report"})
        assert again.status_code == 200 and again.json()["got"], again.text
        wait_for_count(served, r"^#2 \[tele\]\s+telemetry platform\.report ", 1)
        assert {int(m.group(1)) for m in wait_for_count(served, ANY_REPORT, 2)} == {2}, served.output()

        events: dict[int, list[tuple[str, dict]]] = {1: [], 2: []}
        for m in matches(served, TELEMETRY):
            events[int(m.group(1))].append((m.group(2), json.loads(m.group(3))))
        restored = [kind for kind, _ in events[2] if kind != "platform.telemetrySubscription"]
        assert restored[0] == "platform.restoreStart", restored
        assert [k for k in restored if k.startswith("platform.restore")] == [
            "platform.restoreStart", "platform.restoreRuntimeDone", "platform.restoreReport"], restored
        assert restored.index("platform.restoreReport") < restored.index("platform.start"), restored
        assert not [k for k in restored if k.startswith("platform.init")], restored

        record: dict[str, dict] = {}
        for kind, body in events[2]:
            record.setdefault(kind, body)  # the first of each (platform.start/report: the first invoke's)
        start = record["platform.restoreStart"]
        assert start["functionName"] == served.output().split("serving ", 1)[1].split(" ", 1)[0]
        # SnapStart runs a published version, never $LATEST (lambda-spec §4.8): the first, "1".
        assert start["functionVersion"] == "1" and start["runtimeVersion"].startswith("python:3")
        assert record["platform.start"]["version"] == "1", record["platform.start"]
        assert record["platform.restoreRuntimeDone"]["status"] == "success"
        report = record["platform.restoreReport"]
        assert report["status"] == "success" and report["metrics"]["durationMs"] > 0
        # The first invoke's report carries the restore's duration, not an Init Duration (§3.5 ReportMetrics).
        metrics = record["platform.report"]["metrics"]
        assert "initDurationMs" not in metrics and metrics["restoreDurationMs"] == report["metrics"]["durationMs"]
        restore_line = wait_for_count(served, RESTORE_REPORT, 1)[0]
        assert abs(float(restore_line.group(2)) - report["metrics"]["durationMs"]) < 0.01

        # The restored runtime and its extension share the environment's /tmp (the snapshot's marker came with it).
        markers = {int(m.group(1)): m.group(2)
                   for m in wait_for_count(served, r"#(\d+) \[tele\]\s+subscribed 200 marker=(\w+)", 2)}
        assert sorted(markers) == [1, 2], served.output()
        assert answer.json()["markers"] == sorted(f"extension-{markers[n]}" for n in (1, 2)), answer.json()

    # The snapshot environment's Init is a snap-start Init, with its usual events. The snapshot is frozen once taken
    # (nothing of it runs), so what its extension had not been sent by then comes when its shutdown thaws it, as any
    # frozen environment's telemetry comes at its thaw.
    wait_for_count(served, r"^#1 \[tele\]\s+telemetry platform\.initReport ", 1)
    snapshot = [(m.group(2), json.loads(m.group(3))) for m in matches(served, TELEMETRY) if m.group(1) == "1"]
    kinds = [kind for kind, _ in snapshot]
    assert [k for k in kinds if k.startswith("platform.init")] == [
        "platform.initStart", "platform.initRuntimeDone", "platform.initReport"], kinds
    assert not [k for k in kinds if k.startswith("platform.restore") or k == "platform.start"], kinds
    assert {r["initializationType"] for k, r in snapshot if k.startswith("platform.init")} == {"snap-start"}



def test_a_snapshot_tmp_nested_deeper_than_the_recursion_limit_is_restored_whole(private_tmp: Path) -> None:
    """shutil.copytree recursed once per level: a /tmp 1,500 directories deep (made during Init) raised
    RecursionError in the restore's copy, and the host crashed with a traceback instead of answering. 1,100 levels
    are past the default recursion limit (1,000) and twice the ~500 at which copytree failed (a copytree put back in
    _copy_tmp still raises RecursionError at this depth); every level costs system time, in the copy and its removal."""
    handler = write_file(private_tmp / "handler.py", '''import os

fd = os.open("/tmp", os.O_RDONLY)
for _ in range(1100):
    os.mkdir("d", dir_fd=fd)
    inner = os.open("d", os.O_RDONLY, dir_fd=fd)
    os.close(fd)
    fd = inner
with open("leaf", "w", opener=lambda name, flags: os.open(name, flags, dir_fd=fd)) as leaf:
    leaf.write("at the bottom")
os.close(fd)


def handler(event, context):
    return open("/tmp/" + "d/" * 1100 + "leaf").read()
''')
    result = run_cli("invoke", str(handler), "--snapstart")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == "at the bottom"
    assert "Traceback" not in result.stderr, result.stderr
