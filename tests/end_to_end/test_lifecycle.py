"""The lifecycle in-process: `open_environment` with real processes, observed through /proc and the sandbox's /tmp."""

from __future__ import annotations

import json
import sys
import time
import uuid
from pathlib import Path

import pytest
import trio

from lambdatui.config import resolve_function
from lambdatui.core.effects import RUNTIME
from lambdatui.host.environment_host import EnvironmentHost
from lambdatui.model import facts as f
from lambdatui.model.boundaries import EnvState
from lambdatui.runner import open_environment

from e2e_support import GRACEFUL, SAMPLES, LogCollector, count_matching, with_audit_extension, write_file
from process_states import frozen

BOUND = 30  # seconds: generous bound for anything that normally takes well under a second

TMP_PROBE = '''import os


def handler(event, context):
    with open(event["path"], "w") as fh:
        fh.write(context.aws_request_id)
    return {"exists": os.path.exists(event["path"])}
'''

CRASHABLE_COUNTER = '''import os
import tempfile

invocations = 0
COUNTER_FILE = os.path.join(tempfile.gettempdir(), "counter.txt")


def handler(event, context):
    global invocations
    invocations += 1
    with open(COUNTER_FILE, "a") as fh:
        fh.write(f"pid={os.getpid()} invocation={invocations}\\n")
    if event.get("crash"):
        os._exit(1)
    with open(COUNTER_FILE) as fh:
        tmp_lines = sum(1 for _ in fh)
    return {"invocations": invocations, "tmp_lines": tmp_lines, "process": PROCESS}


# Which process served it: os.getpid() alone cannot tell, each environment's PID namespace numbers its runtime 2.
PROCESS = f"{os.getpid()}@" + open("/proc/self/stat").read().rpartition(")")[2].split()[19]
'''

SLEEPY = '''import time


def handler(event, context):
    time.sleep(event.get("sleep", 0))
    return {"requestId": context.aws_request_id}
'''

DEADLINE_PROBE = '''import time


def handler(event, context):
    now_ms = int(time.time() * 1000)
    return {
        "requestId": context.aws_request_id,
        "arn": context.invoked_function_arn,
        "now_ms": now_ms,
        "deadline_ms": now_ms + context.get_remaining_time_in_millis(),
    }
'''


WRONG_NAME_EXTENSION = '''#!{python}
"""Registers under a name that is not its file name, then waits for events like a good extension."""
import http.client
import json
import os

api = http.client.HTTPConnection(os.environ["AWS_LAMBDA_RUNTIME_API"], timeout=None)
api.request("POST", "/2020-01-01/extension/register", body=json.dumps({{"events": ["INVOKE"]}}),
            headers={{"Lambda-Extension-Name": "not-the-file-name"}})
response = api.getresponse()
response.read()
print(f"register answered {{response.status}}", flush=True)
extension_id = response.getheader("Lambda-Extension-Identifier")
while True:
    api.request("GET", "/2020-01-01/extension/event/next", headers={{"Lambda-Extension-Identifier": extension_id}})
    api.getresponse().read()
'''


def runtime_pid(host: EnvironmentHost) -> int:
    generation, handle = host._processes[RUNTIME]  # the supervisor's handle for the live runtime
    assert generation == host.env.generation and handle.exited is None
    return handle.pid


def task_states(pid: int) -> set[str]:
    """The state of every thread of the process (a SIGSTOP stops them all)."""
    states = set()
    for task in Path(f"/proc/{pid}/task").iterdir():
        with open(task / "stat", "rb") as fh:
            data = fh.read().decode()
        states.add(data[data.rindex(")") + 2])
    return states


async def wait_frozen(pid: int, bound: float = 5.0) -> None:
    """Until the process is frozen (by a signal or the cgroup's freezer, asynchronously: /proc and the cgroup tell)."""
    with trio.fail_after(bound):
        while not frozen(pid):
            await trio.sleep(0.005)


def every_thread_frozen(pid: int) -> bool:
    """A group stop reaches each thread in turn; the cgroup's freezer says it is done once every one is frozen."""
    states = task_states(pid)
    return states == {"T"} or ("T" not in states and frozen(pid))


def audit_events(host: EnvironmentHost) -> list[dict]:
    assert host.sandbox is not None
    log = host.sandbox.tmp_dir / "audit.log"
    return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []


@pytest.mark.trio
async def test_environment_is_frozen_between_invokes() -> None:
    config = resolve_function(str(SAMPLES / "background" / "handler.py"))
    async with open_environment(config) as running:
        host = running.host
        host.start_environment()  # Init ahead of any invoke, as serve does
        with trio.fail_after(BOUND):
            await host.wait_for_state(EnvState.FROZEN)
        pid = runtime_pid(host)
        await wait_frozen(pid)  # frozen as soon as Init is done, before the first invoke

        with trio.fail_after(BOUND):
            first, _ = await host.invoke(b"{}")
            await host.wait_for_state(EnvState.FROZEN)
        assert runtime_pid(host) == pid
        await wait_frozen(pid)
        with trio.fail_after(5):  # a group stop reaches each thread in turn: every one, the ticker included
            while not every_thread_frozen(pid):
                await trio.sleep(0.005)

        # The measured quantity, not a synchronisation: half a second of idle wall-clock time.
        # Unfrozen, the ticker (one tick per 10 ms) would advance about 50 ticks.
        await trio.sleep(0.5)
        assert frozen(pid)

        with trio.fail_after(BOUND):
            second, _ = await host.invoke(b"{}")
        assert runtime_pid(host) == pid, "the same warm process served both invokes"
        delta = json.loads(second.payload)["ticks"] - json.loads(first.payload)["ticks"]
        assert 0 <= delta < 10, f"ticks advanced {delta} across a 500 ms frozen gap"


@pytest.mark.trio
async def test_extensions_are_frozen_too_and_share_the_runtimes_deadline(code_dir: Path) -> None:
    handler = with_audit_extension(code_dir, DEADLINE_PROBE)
    trace = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1"
    async with open_environment(resolve_function(str(handler), timeout_s=5)) as running:
        host = running.host
        with trio.fail_after(BOUND):
            result, _ = await host.invoke(b"{}", trace_id=trace)
            await host.wait_for_state(EnvState.FROZEN)
        generation, extension = host._processes["extension:audit"]
        assert generation == host.env.generation and extension.exited is None
        await wait_frozen(extension.pid)
        await wait_frozen(runtime_pid(host))

        (invoke,) = audit_events(host)
        body = json.loads(result.payload)
        assert invoke["requestId"] == body["requestId"] == result.request_id
        assert invoke["invokedFunctionArn"] == body["arn"]
        assert invoke["tracing"] == {"type": "X-Amzn-Trace-Id", "value": trace}
        # The runtime's deadline header and the extension's deadlineMs are one and the same instant.
        assert abs(invoke["deadlineMs"] - body["deadline_ms"]) <= 50, (invoke, body)
        assert 4000 <= invoke["deadlineMs"] - body["now_ms"] <= 5000


@pytest.mark.trio
async def test_tmp_is_the_environments_own_directory(private_tmp: Path) -> None:
    handler = write_file(private_tmp / "handler.py", TMP_PROBE)
    name = f"probe-{uuid.uuid4()}"
    async with open_environment(resolve_function(str(handler))) as running:
        host = running.host
        assert host.sandbox is not None and host.sandbox.mode == "mount-namespace", host.sandbox
        try:
            with trio.fail_after(BOUND):
                result, _ = await host.invoke(json.dumps({"path": f"/tmp/{name}"}).encode())
            assert not result.function_error, result.payload
            assert json.loads(result.payload) == {"exists": True}
            assert (host.sandbox.tmp_dir / name).read_text() == result.request_id
            assert not Path("/tmp", name).exists(), "the function wrote through to the real /tmp"
        finally:
            Path("/tmp", name).unlink(missing_ok=True)


@pytest.mark.trio
async def test_tmp_survives_a_crash_reset_but_globals_restart(code_dir: Path) -> None:
    handler = write_file(code_dir / "handler.py", CRASHABLE_COUNTER)
    async with open_environment(resolve_function(str(handler))) as running:
        host = running.host
        log = LogCollector()
        host.subscribe(log)
        with trio.fail_after(BOUND):
            one, _ = await host.invoke(b"{}")
            two, _ = await host.invoke(b"{}")
            crash, _ = await host.invoke(b'{"crash": true}')
            after, _ = await host.invoke(b"{}")

        one, two, after_body = json.loads(one.payload), json.loads(two.payload), json.loads(after.payload)
        assert (one["invocations"], two["invocations"]) == (1, 2)
        assert crash.function_error and json.loads(crash.payload)["errorType"] == "Runtime.ExitError"
        # A new process: module globals start over...
        assert after_body["process"] != two["process"]
        assert after_body["invocations"] == 1
        # ...but /tmp is the environment's disk: every line, the crashing invoke's included, is still there.
        assert after_body["tmp_lines"] == 4
        assert host.sandbox_count == 1
        assert count_matching(log.texts(f.PLATFORM), r"^INIT_START ") == 2, log.dump()


@pytest.mark.trio
async def test_extension_gets_invoke_and_shutdown_events() -> None:
    config = resolve_function(str(SAMPLES / "extension" / "handler.py"))
    async with open_environment(config) as running:
        host = running.host
        log = LogCollector()
        host.subscribe(log)
        with trio.fail_after(BOUND):
            results = [(await host.invoke(b"{}"))[0] for _ in range(2)]
        request_ids = [json.loads(r.payload)["requestId"] for r in results]
        assert request_ids == [r.request_id for r in results]

        shutdown_began_ms = time.time() * 1000
        await host.shutdown()
        assert host.env.state is EnvState.SHUT_DOWN

        events = audit_events(host)  # read before open_environment's exit removes the state folder
        assert [e["eventType"] for e in events] == ["INVOKE", "INVOKE", "SHUTDOWN"], events
        assert [e["requestId"] for e in events[:2]] == request_ids
        assert all("payload" not in json.dumps(e) for e in events[:2])
        assert events[2]["shutdownReason"] == "spindown"
        assert 1500 <= events[2]["deadlineMs"] - shutdown_began_ms <= 2100, events[2]
        exits = [fact for fact in log.facts if isinstance(fact, f.ProcessExitedFact)]
        assert any(e.participant == "extension:audit" and e.description == "exit status 0" and e.expected
                   for e in exits), exits


@pytest.mark.trio
async def test_extension_not_executable_fails_init_with_launch_error(code_dir: Path) -> None:
    handler = write_file(code_dir / "handler.py", SLEEPY)
    write_file(code_dir / "extensions" / "sidecar", "#!/bin/sh\nexit 0\n", executable=False)
    async with open_environment(resolve_function(str(handler))) as running:
        log = LogCollector()
        running.host.subscribe(log)
        with trio.fail_after(BOUND):
            result, _ = await running.host.invoke(b"{}")

        assert result.function_error
        assert result.error_type == "Extension.LaunchError"
        body = json.loads(result.payload)
        assert body["errorType"] == "Extension.LaunchError"
        assert "sidecar" in body["errorMessage"] and "not executable" in body["errorMessage"]
        init_reports = [t for t in log.texts(f.PLATFORM) if t.startswith("INIT_REPORT ")]
        assert len(init_reports) == 2, log.dump()  # the on-demand Init, then the suppressed one in the invoke
        assert "Phase: init\tStatus: error\tError Type: Extension.LaunchError" in init_reports[0]
        assert "Phase: invoke\tStatus: error\tError Type: Extension.LaunchError" in init_reports[1]
        assert not log.texts(f.FUNCTION), "the runtime must not start when an extension failed to launch"


@pytest.mark.slow
@pytest.mark.trio
async def test_extension_registering_under_a_wrong_name_times_init_out(code_dir: Path) -> None:
    handler = write_file(code_dir / "handler.py", SLEEPY)
    write_file(code_dir / "extensions" / "sidecar", WRONG_NAME_EXTENSION.format(python=sys.executable),
               executable=True)
    async with open_environment(resolve_function(str(handler), timeout_s=1)) as running:
        host = running.host
        log = LogCollector()
        host.subscribe(log)
        began = trio.current_time()
        host.start_environment()
        with trio.fail_after(20):
            report = await log.wait_for_text(r"^INIT_REPORT ", f.PLATFORM)
        elapsed = trio.current_time() - began

        assert "Phase: init\tStatus: timeout" in report
        assert 9.5 <= elapsed < 15, f"Init gave up after {elapsed:.1f} s; Lambda's limit is 10 s"
        assert any("sidecar" in t and "never registered" in t for t in log.texts(f.LAMBDATUI)), log.dump()
        assert "register answered 200" in " ".join(log.texts("extension:sidecar"))

        # The invoke retries Init, now bounded by the 1 s function timeout, and fails the same way.
        with trio.fail_after(BOUND):
            result, _ = await host.invoke(b"{}")
        assert json.loads(result.payload)["errorType"] == "Sandbox.Timedout"


@pytest.mark.trio
async def test_timeout_reset_sends_shutdown_timeout_to_extensions(code_dir: Path) -> None:
    handler = with_audit_extension(code_dir, SLEEPY)
    async with open_environment(resolve_function(str(handler), timeout_s=1)) as running:
        host = running.host
        log = LogCollector()
        host.subscribe(log)
        with trio.fail_after(BOUND):
            result, _ = await host.invoke(b'{"sleep": 30}')
            timed_out_ms = time.time() * 1000
            assert json.loads(result.payload)["errorType"] == "Sandbox.Timedout"
            await host.wait_for_state(EnvState.COLD)  # the reset is over

        events = audit_events(host)
        assert [e["eventType"] for e in events] == ["INVOKE", "SHUTDOWN"], events
        invoke, shutdown = events
        assert invoke["requestId"] == result.request_id
        assert shutdown["shutdownReason"] == "timeout"
        # The reset's budget with an external extension is 2 s from the moment the invoke timed out,
        # which is the invoke's own deadline.
        # (Slack for a busy machine: the timer fires a little after the deadline, never before.)
        assert -50 <= shutdown["deadlineMs"] - 2000 - invoke["deadlineMs"] <= 500, events
        assert timed_out_ms - 1000 <= shutdown["deadlineMs"] - 2000 <= timed_out_ms, (events, timed_out_ms)
        exits = [fact for fact in log.facts if isinstance(fact, f.ProcessExitedFact)]
        assert any(e.participant == "extension:audit" and e.description == "exit status 0" for e in exits), exits

        # The next invoke re-initialises runtime and extension together, and the extension sees it.
        with trio.fail_after(BOUND):
            again, _ = await host.invoke(b"{}")
            await host.wait_for_state(EnvState.FROZEN)  # the invoke is over only once the extension is done too
        assert not again.function_error, again.payload
        assert [e["eventType"] for e in audit_events(host)] == ["INVOKE", "SHUTDOWN", "INVOKE"]


@pytest.mark.trio
@pytest.mark.parametrize("with_extension", [True, False], ids=["with-extension", "no-extension"])
async def test_runtime_gets_sigterm_at_shutdown_only_with_extensions(code_dir: Path, with_extension: bool) -> None:
    handler = with_audit_extension(code_dir, GRACEFUL) if with_extension else write_file(code_dir / "handler.py", GRACEFUL)
    async with open_environment(resolve_function(str(handler))) as running:
        host = running.host
        log = LogCollector()
        host.subscribe(log)
        with trio.fail_after(BOUND):
            result, _ = await host.invoke(b"{}")
        assert not result.function_error, result.payload

        await host.shutdown()
        assert host.env.state is EnvState.SHUT_DOWN

        runtime_exit = next(fact for fact in log.facts
                            if isinstance(fact, f.ProcessExitedFact) and fact.participant == RUNTIME)
        graceful = "[runtime] SIGTERM received, cleaning up" in log.texts(f.FUNCTION)
        if with_extension:
            # Lambda spends up to 300 ms on the runtime's graceful shutdown when an extension is registered.
            assert graceful, log.dump()
            assert runtime_exit.description == "exit status 0"
            assert [e["eventType"] for e in audit_events(host)] == ["INVOKE", "SHUTDOWN"]
        else:
            # Without extensions the runtime is killed outright: no time is spent on it.
            assert not graceful, log.dump()
            assert runtime_exit.description == "signal: killed"
