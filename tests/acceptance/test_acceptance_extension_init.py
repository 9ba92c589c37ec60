"""Item 2: an extension that exits before registering, on its first launch only.

Lambda (spec §2.8, §4.2): a failed Init logs INIT_REPORT (Status: error) and is retried inside the first
invoke (a suppressed init); the extension launches again, registers, and the invoke succeeds.
Extensions are found in an `extensions/` folder next to the handler (README).

The extensions keep their state where Lambda lets them write, in the environment's /tmp (STATE below), which the
failed Init's reset keeps for the retry: so a second launch knows it is the second. The handler returns what it
finds there; what is written after it returned (SHUTDOWN) the extensions print, each its listing of the folder.
"""

from __future__ import annotations

import json
import re
import sys
import time

import pytest

from acceptance_support import cli, platform, reports, write

STATE = "/tmp/state"  # in the environment's /tmp, kept across the failed Init's reset

HANDLER = """\
    import os

    def handler(event, context):
        return {"ok": True, "seen": sorted(os.listdir(os.environ["STATE_DIR"]))}
    """

EXTENSION = f"""#!{sys.executable}
import http.client, json, os, sys
state = os.environ["STATE_DIR"]
os.makedirs(state, exist_ok=True)
launches = len([n for n in os.listdir(state) if n.startswith("launch-")])
open(os.path.join(state, f"launch-{{launches + 1}}"), "w").close()
print(f"flaky: launch-{{launches + 1}}", flush=True)
if launches < FAIL_LAUNCHES:
    sys.stderr.write("flaky: giving up before register\\n")
    sys.stderr.flush()
    EXIT
api = http.client.HTTPConnection(os.environ["AWS_LAMBDA_RUNTIME_API"])
api.request("POST", "/2020-01-01/extension/register", body=json.dumps({{"events": ["INVOKE", "SHUTDOWN"]}}),
            headers={{"Lambda-Extension-Name": "flaky"}})
response = api.getresponse(); response.read()
ext_id = response.getheader("Lambda-Extension-Identifier")
open(os.path.join(state, "registered"), "w").close()
while True:
    api.request("GET", "/2020-01-01/extension/event/next", headers={{"Lambda-Extension-Identifier": ext_id}})
    response = api.getresponse()
    event = json.loads(response.read())
    if event["eventType"] == "SHUTDOWN":
        sys.exit(0)
"""


def make(code_dir, fail_launches: int, exit_stmt: str = "sys.exit(1)"):
    write(code_dir / "handler.py", HANDLER)
    write(code_dir / "extensions" / "flaky",
          EXTENSION.replace("FAIL_LAUNCHES", str(fail_launches)).replace("EXIT", exit_stmt),
          executable=True, dedent=False)
    return STATE


def launches(stderr: str) -> list[str]:
    """The launches the flaky extension announced (each just after it marked itself in STATE)."""
    return re.findall(r"flaky: (launch-\d+)$", stderr, re.M)


@pytest.mark.parametrize("exit_stmt", ["sys.exit(1)", "sys.exit(0)", "os.kill(os.getpid(), 9)"],
                         ids=["exit-1", "exit-0", "sigkill"])
def test_first_launch_exits_before_register_then_the_first_invoke_succeeds(code_dir, exit_stmt):
    state = make(code_dir, fail_launches=1, exit_stmt=exit_stmt)
    started = time.monotonic()
    result = cli("invoke", code_dir / "handler.py", "--env", f"STATE_DIR={state}", "--repeat", "2", timeout=60)
    elapsed = time.monotonic() - started
    assert result.returncode == 0, result.stdout + result.stderr
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(lines) == 2 and all(line["ok"] for line in lines), result.stdout
    assert lines[0]["seen"] == ["launch-1", "launch-2", "registered"], lines[0]
    assert lines[1]["seen"] == ["launch-1", "launch-2", "registered"], lines[1]  # warm: no third launch
    plat = platform(result.stderr)
    init_reports = [line for line in plat if line.startswith("INIT_REPORT")]
    assert len(init_reports) == 1, result.stderr
    assert "Status: error" in init_reports[0] and "Phase: init" in init_reports[0], init_reports[0]
    assert "Extension." in init_reports[0], init_reports[0]  # an Extension.* error type names the culprit
    assert sum(line.startswith("INIT_START") for line in plat) == 2, plat  # the retry is a new Init
    # INIT_REPORT comes before the first START: the failed Init is over before the invoke begins.
    assert plat.index(init_reports[0]) < next(i for i, l in enumerate(plat) if l.startswith("START"))
    rep = reports(result.stderr)
    assert len(rep) == 2 and not any("Status:" in line for line in rep), rep
    assert "Init Duration" not in rep[0], rep[0]  # suppressed init: inside the invoke's Duration
    # An extension that exits is a failure at once: no 10 s Init timeout was waited out.
    assert elapsed < 8, elapsed


def test_extension_that_never_registers_fails_the_first_invoke(code_dir):
    state = make(code_dir, fail_launches=99)
    result = cli("invoke", code_dir / "handler.py", "--env", f"STATE_DIR={state}", timeout=60)
    assert result.returncode == 1, result.stdout + result.stderr
    body = json.loads(result.stdout)
    assert body.get("errorType", "").startswith("Extension."), body
    assert sum(l.startswith("INIT_REPORT") for l in platform(result.stderr)) >= 1, result.stderr
    assert launches(result.stderr) == ["launch-1", "launch-2"], result.stderr  # Init, then the suppressed init


def test_serve_first_invoke_after_a_failed_init_succeeds(code_dir):
    import httpx
    from e2e_support import ServeProcess

    state = make(code_dir, fail_launches=1)
    with ServeProcess(code_dir / "handler.py", "--env", f"STATE_DIR={state}") as served:
        with httpx.Client(timeout=30) as client:
            first = client.post(served.invoke_url(), content=b"{}")
            second = client.post(served.invoke_url(), content=b"{}")
        served.wait_for_line(r"INIT_REPORT .*Status: error")
    assert first.status_code == 200 and "x-amz-function-error" not in first.headers, first.text
    assert first.json()["seen"] == ["launch-1", "launch-2", "registered"]
    assert second.status_code == 200 and second.json()["ok"] is True


SCENARIO = """\
[[step]]
invoke = {}
expect = { response = { ok = true }, cold = true }

[[step]]
invoke = {}
expect = { response = { ok = true }, cold = false }
"""


def test_replay_shows_the_failed_init_and_then_success(code_dir):
    state = make(code_dir, fail_launches=1)
    write(code_dir / "s.toml", SCENARIO, dedent=False)
    result = cli("replay", code_dir / "handler.py", code_dir / "s.toml", "--env", f"STATE_DIR={state}")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "INIT_REPORT" in result.stdout and "Status: error" in result.stdout, result.stdout
    from acceptance_support import outcomes
    assert outcomes(result.stdout) == ["success", "success"], result.stdout


# The flags the test leaves beside the code (read-only there) are read from CODE_DIR.
GOOD = f"""#!{sys.executable}
import http.client, json, os, sys, time
state = os.environ["STATE_DIR"]
os.makedirs(state, exist_ok=True)
flags = os.environ["CODE_DIR"]
name = sys.argv[1]
n = len([x for x in os.listdir(state) if x.startswith(f"{{name}}-launch-")]) + 1
if name == "good":
    open(os.path.join(state, f"good-launch-{{n}}"), "w").close()
    if n == 1 and os.path.exists(os.path.join(flags, "good-is-slow-at-first")):
        # A slow first initialisation: still unregistered when its sibling dies. The reset must kill it before
        # the retried Init relaunches the sibling (launch-2); a survivor says so, then registers after all.
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if os.path.exists(os.path.join(state, "launch-2")):
                open(os.path.join(state, "good-1-outlived-the-reset"), "w").close()
                break
            time.sleep(0.005)
api = http.client.HTTPConnection(os.environ["AWS_LAMBDA_RUNTIME_API"])
api.request("POST", "/2020-01-01/extension/register", body=json.dumps({{"events": ["INVOKE", "SHUTDOWN"]}}),
            headers={{"Lambda-Extension-Name": name}})
response = api.getresponse(); response.read()
ext_id = response.getheader("Lambda-Extension-Identifier")
if name == "good":
    open(os.path.join(state, f"good-{{n}}-registered"), "w").close()
    if n == 1 and os.path.exists(os.path.join(flags, "good-is-slow-to-ask-for-events")):
        deadline = time.monotonic() + 10
        while not os.path.exists(os.path.join(state, "launch-1")) and time.monotonic() < deadline:
            time.sleep(0.005)
        time.sleep(0.3)  # registered, no /event/next yet, while its sibling's exit fails the Init
else:
    open(os.path.join(state, "registered"), "w").close()
while True:
    api.request("GET", "/2020-01-01/extension/event/next", headers={{"Lambda-Extension-Identifier": ext_id}})
    event = json.loads(api.getresponse().read())
    open(os.path.join(state, f"{{name}}-{{n}}-{{event['eventType']}}-{{event.get('shutdownReason', '')}}"), "w").close()
    if event["eventType"] == "SHUTDOWN":
        print("files " + json.dumps(sorted(os.listdir(state))), flush=True)  # its own SHUTDOWN mark among them
        sys.exit(0)
"""


FAST_FLAKY = """#!/bin/sh
# First launch: exit at once, before registering (and before a slower sibling has registered).
mkdir -p "$STATE_DIR"
if [ ! -e "$STATE_DIR/launch-1" ]; then touch "$STATE_DIR/launch-1"; exit 1; fi
touch "$STATE_DIR/launch-2"
exec "$CODE_DIR/good-impl" flaky
"""

UNREGISTERED_FLAKY = f"""#!{sys.executable}
import os, sys, time
state = os.environ["STATE_DIR"]
os.makedirs(state, exist_ok=True)
if not os.path.exists(os.path.join(state, "launch-1")):
    open(os.path.join(state, "launch-1"), "w").close()
    deadline = time.monotonic() + 10
    while not os.path.exists(os.path.join(state, "good-launch-1")) and time.monotonic() < deadline:
        time.sleep(0.005)  # bounded wait until the sibling runs (it does not register yet): the ordering tested
    sys.exit(1)
open(os.path.join(state, "launch-2"), "w").close()
os.execv(os.path.join(os.environ["CODE_DIR"], "good-impl"), ["good-impl", "flaky"])
"""

WAITING_FLAKY = f"""#!{sys.executable}
import os, sys, time
state = os.environ["STATE_DIR"]
os.makedirs(state, exist_ok=True)
if not os.path.exists(os.path.join(state, "launch-1")):
    open(os.path.join(state, "launch-1"), "w").close()
    deadline = time.monotonic() + 10
    while not os.path.exists(os.path.join(state, "good-1-registered")) and time.monotonic() < deadline:
        time.sleep(0.005)  # bounded wait for the sibling's registration: the ordering this test is about
    sys.exit(1)
open(os.path.join(state, "launch-2"), "w").close()
os.execv(os.path.join(os.environ["CODE_DIR"], "good-impl"), ["good-impl", "flaky"])
"""


def make_pair(code_dir, flaky_source: str):
    """The functions' files; the `--env` pairs they run with."""
    write(code_dir / "handler.py", HANDLER)
    write(code_dir / "good-impl", GOOD, executable=True, dedent=False)
    write(code_dir / "extensions" / "good", f"#!/bin/sh\nexec {code_dir / 'good-impl'} good\n", executable=True,
          dedent=False)
    write(code_dir / "extensions" / "flaky", flaky_source, executable=True, dedent=False)
    return ["--env", f"STATE_DIR={STATE}", "--env", f"CODE_DIR={code_dir}"]


def printed_files(stderr: str) -> set[str]:
    """What was in STATE when each extension that got SHUTDOWN ended: files are only ever added, so the union
    is the folder as the last one saw it (with each one's own SHUTDOWN mark)."""
    listings = re.findall(r"files (\[.*\])$", stderr, re.M)
    assert listings, stderr
    return set().union(*(json.loads(listing) for listing in listings))


def check_reset_and_relaunched(result):
    assert result.returncode == 0, result.stdout + result.stderr
    seen = json.loads(result.stdout)["seen"]
    files = printed_files(result.stderr)
    # The failed Init's 'good' process must not serve the retried Init: a second one is launched and gets INVOKE.
    assert {"good-launch-1", "good-launch-2"} <= set(seen), seen
    assert "good-2-INVOKE-" in files and "good-1-INVOKE-" not in files, sorted(files)
    assert not any(name.startswith("good-launch-3") for name in files), sorted(files)
    return files


@pytest.mark.parametrize("asks_for_events", ["at-once", "late"])
def test_a_registered_sibling_is_sent_shutdown_failure_and_relaunched(code_dir, asks_for_events):
    env = make_pair(code_dir, WAITING_FLAKY)
    if asks_for_events == "late":  # its first /event/next comes after the Init failed: SHUTDOWN waits for it
        write(code_dir / "good-is-slow-to-ask-for-events", "")
    result = cli("invoke", code_dir / "handler.py", *env, timeout=60)
    files = check_reset_and_relaunched(result)
    assert "good-1-SHUTDOWN-failure" in files, sorted(files)  # the reset after the failed Init (spec §4.5)
    assert "good-2-SHUTDOWN-spindown" in files, sorted(files)


def test_an_unregistered_sibling_does_not_survive_the_failed_init(code_dir):
    """'good' runs but has not registered when 'flaky' dies: the reset kills it, the retry launches it afresh."""
    env = make_pair(code_dir, UNREGISTERED_FLAKY)
    write(code_dir / "good-is-slow-at-first", "")
    started = time.monotonic()
    result = cli("invoke", code_dir / "handler.py", *env, timeout=60)
    files = check_reset_and_relaunched(result)
    assert "good-1-outlived-the-reset" not in files and "good-1-registered" not in files, sorted(files)
    assert not any(name.startswith("good-1-SHUTDOWN") for name in files), sorted(files)  # killed without notice
    assert "good-2-SHUTDOWN-spindown" in files, sorted(files)
    assert time.monotonic() - started < 8  # not waiting for the first 'good', which would register only after 10 s


@pytest.mark.trio
async def test_a_sibling_that_had_not_even_started_running_is_killed_by_the_reset_and_relaunched(code_dir):
    """A /bin/sh extension that exits at once: its sibling's first process dies in the reset, often before its
    first line ran (so it leaves no file behind); the process the retried Init launched is the one that serves."""
    from controller_support import debugger, payload
    from lambdatui.model import facts as f

    env = make_pair(code_dir, FAST_FLAKY)
    async with debugger(code_dir / "handler.py", env_pairs=env[1::2]) as dbg:
        result, report = await dbg.invoke()
        facts = list(dbg.facts.since(0))
        # The environment's /tmp as the host sees it: every mark below was made before the invoke ended.
        files = {p.name for p in (dbg.running.host.sandbox.tmp_dir / STATE.removeprefix("/tmp/")).iterdir()}
    assert report.status == "success" and not result.function_error, (result, report)
    assert payload(result)["ok"] is True
    failed_at = next(i for i, x in enumerate(facts) if isinstance(x, f.InitFailed))
    retry_at = next(i for i, x in enumerate(facts) if isinstance(x, f.PhaseStarted) and x.phase == "init" and i > failed_at)
    good_exits = [(i, x) for i, x in enumerate(facts)
                  if isinstance(x, f.ProcessExitedFact) and x.participant == "extension:good"]
    # The failed Init's 'good' process really exited, inside the reset, before the retried Init launched another.
    assert good_exits and failed_at < good_exits[0][0] < retry_at, [(i, x) for i, x in good_exits]
    assert good_exits[0][1].expected and "killed" in good_exits[0][1].description, good_exits
    registered = sorted(name for name in files if name.startswith("good-") and name.endswith("-registered"))
    assert len(registered) == 1, sorted(files)  # only the retry's 'good' ever registered ...
    n = registered[0].split("-")[1]
    assert f"good-{n}-INVOKE-" in files, sorted(files)  # ... and it got the INVOKE


@pytest.mark.trio
async def test_debugger_reports_the_failed_init_then_the_invoke_succeeds(code_dir):
    from controller_support import debugger, payload
    from lambdatui.model import facts as f

    state = make(code_dir, fail_launches=1)
    async with debugger(code_dir / "handler.py", env_pairs=[f"STATE_DIR={state}"]) as dbg:
        result, report = await dbg.invoke()
        failed = dbg.facts.of(f.InitFailed)
    assert report.status == "success" and not result.function_error, (result, report)
    assert payload(result)["seen"] == ["launch-1", "launch-2", "registered"]
    assert len(failed) == 1 and failed[0].status == "error" and failed[0].phase == "init", failed
    assert (failed[0].error_type or "").startswith("Extension."), failed


def test_the_suppressed_init_is_bounded_by_the_function_timeout(code_dir):
    """Launch 1 exits; launch 2 takes 2.5 s to register (past --timeout 1); launch 3 is quick (spec §4.2)."""
    state = STATE
    write(code_dir / "handler.py", HANDLER)
    source = EXTENSION.replace("FAIL_LAUNCHES", "1").replace("EXIT", "sys.exit(1)").replace(
        "api = http.client.HTTPConnection", "import time\nif launches == 1:\n    time.sleep(2.5)\napi = http.client.HTTPConnection", 1)
    write(code_dir / "extensions" / "flaky", source, executable=True, dedent=False)
    started = time.monotonic()
    result = cli("invoke", code_dir / "handler.py", "--env", f"STATE_DIR={state}", "--timeout", "1", "--repeat", "2")
    assert time.monotonic() - started < 10
    assert result.returncode == 1, result.stdout + result.stderr
    first, second = [json.loads(line) for line in result.stdout.splitlines()]
    assert first["errorType"] == "Sandbox.Timedout", first
    assert second["ok"] is True and "launch-3" in second["seen"], second
    init_reports = [l for l in platform(result.stderr) if l.startswith("INIT_REPORT")]
    assert len(init_reports) == 2, init_reports
    assert "Phase: init" in init_reports[0] and "Status: error" in init_reports[0]
    assert "Phase: invoke" in init_reports[1] and "Status: timeout" in init_reports[1]
    rep = reports(result.stderr)
    assert "Status: timeout" in rep[0] and "Status" not in rep[1], rep
