"""From a bug hunt: external extensions (executables in `extensions/` next to the handler) and an internal one (the runtime
process itself) that misuse the Extensions API (lambda-spec §2, §4). Each extension is written here, standard library
only, prints what it was answered (`PROBE <json>`), and lambdatui relays its output tagged with its name.

Plain tests check behaviour that is right and could break. Every run is bounded by `run_cli`'s timeout; nothing is
written outside `code_dir` (an extension's /tmp is its environment's own).
"""

from __future__ import annotations

import json
from pathlib import Path

from e2e_support import API_CALLS_SOURCE, run_cli, write_file

HANDLER = "def handler(event, context):\n    return 'ok'\n"

PRELUDE = "#!/usr/bin/env python3\nimport http.client, json, os, sys, time\n" + API_CALLS_SOURCE + '''
MODE = os.environ.get("MODE", "")
NAME = os.path.basename(sys.argv[0])

def register(events, name=None):
    st, body, h = call("POST", "/2020-01-01/extension/register", json.dumps({"events": events}),
                       {"Lambda-Extension-Name": name or NAME})
    return st, body, h.get("Lambda-Extension-Identifier")

def next_event(eid, timeout=None):
    return call("GET", "/2020-01-01/extension/event/next", headers={"Lambda-Extension-Identifier": eid},
                timeout=timeout)
'''


def probes(stderr: str) -> dict[str, list]:
    found: dict[str, list] = {}
    for line in stderr.splitlines():
        if "PROBE [" in line:
            fields = json.loads(line.split("PROBE ", 1)[1])
            found.setdefault(fields[0], fields[1:])
    return found


def extension(code_dir: Path, name: str, body: str) -> None:
    write_file(code_dir / "extensions" / name, PRELUDE + body, executable=True)


# --------------------------------------------------------------------------------------------------------------

MISUSE = '''
UNKNOWN = "3da1f2dc-3222-475e-9205-e2e6c6318895"
log("next-before-register", *call("GET", "/2020-01-01/extension/event/next")[:2])
log("next-not-a-uuid", *next_event("nope")[:2])
log("next-unknown-id", *next_event(UNKNOWN)[:2])
log("register-bogus-event", *register(["INVOKE", "BOGUS"])[:2])
log("register-no-name", *call("POST", "/2020-01-01/extension/register", json.dumps({"events": []}), {})[:2])
log("register-bad-json", *call("POST", "/2020-01-01/extension/register", "{not json",
                               {"Lambda-Extension-Name": NAME})[:2])
st, body, eid = register(["INVOKE", "SHUTDOWN"])
log("register", st)
log("register-again", *register(["INVOKE"])[:2])
log("init-error-no-type", *call("POST", "/2020-01-01/extension/init/error", b"{}",
                                {"Lambda-Extension-Identifier": eid})[:2])
while True:
    st, body, _ = next_event(eid)
    if json.loads(body)["eventType"] == "SHUTDOWN":
        break
    log("register-after-init", *register(["INVOKE"], name="late")[:2])
'''


def test_misuses_of_the_extensions_api_get_lambdas_403s_and_the_function_runs(code_dir: Path) -> None:
    write_file(code_dir / "handler.py", HANDLER)
    extension(code_dir, "misuse", MISUSE)
    done = run_cli("invoke", str(code_dir / "handler.py"), "--timeout", "3")
    assert done.returncode == 0 and done.stdout == '"ok"\n', done.stderr
    p = probes(done.stderr)
    expected = {
        "next-before-register": "Extension.MissingExtensionIdentifier",
        "next-not-a-uuid": "Extension.InvalidExtensionIdentifier",
        "next-unknown-id": "Extension.UnknownExtensionIdentifier",
        "register-bogus-event": "Extension.InvalidEventType",
        "register-no-name": "Extension.InvalidExtensionName",
        "register-bad-json": "InvalidRequestFormat",
        "register-again": "Extension.InvalidExtensionState",
        "init-error-no-type": "Extension.MissingHeader",
        "register-after-init": "Extension.RegistrationClosed",
    }
    got = {name: (p[name][0], json.loads(p[name][1])["errorType"]) for name in expected}
    assert got == {name: (403, error_type) for name, error_type in expected.items()}, done.stderr
    assert p["register"] == [200]
    assert "EXTENSION\tName: misuse\tState: Ready\tEvents: [INVOKE,SHUTDOWN]" in done.stderr, done.stderr


# --------------------------------------------------------------------------------------------------------------

INIT_ERROR_STAYS = '''
st, body, eid = register(["INVOKE", "SHUTDOWN"])
log("init-error", *call("POST", "/2020-01-01/extension/init/error", b'{"errorMessage":"bad config"}',
                        {"Lambda-Extension-Identifier": eid,
                         "Lambda-Extension-Function-Error-Type": "Extension.ConfigInvalid"})[:2])
log("next-after-init-error", *next_event(eid, timeout=5)[:2])
time.sleep(3600)   # never exits, as an extension must after init/error
'''


def test_an_extension_that_reports_init_error_but_never_exits_times_init_out_and_is_named(code_dir: Path) -> None:
    """The failure takes effect when the process exits (lambda-spec §2.4); one that stays keeps Init waiting for its
    limit, here the function timeout of the suppressed init (the first, 10 s Init included, bounds the run)."""
    write_file(code_dir / "handler.py", HANDLER)
    extension(code_dir, "stays", INIT_ERROR_STAYS)
    done = run_cli("invoke", str(code_dir / "handler.py"), "--timeout", "1", timeout=60)
    p = probes(done.stderr)
    assert p["init-error"][0] == 202
    assert p["next-after-init-error"][0] == 403 and "from InitError to Ready" in p["next-after-init-error"][1]
    assert "Init timed out: extension 'stays' reported Extension.InitError but never exited" in done.stderr
    assert json.loads(done.stdout)["errorType"] == "Sandbox.Timedout", done.stdout
    assert done.returncode == 1


# --------------------------------------------------------------------------------------------------------------

LIFE = '''
st, body, eid = register(["INVOKE", "SHUTDOWN"])
count = 0
while True:
    st, body, _ = next_event(eid, timeout=10)
    event = json.loads(body)
    log("event-" + event["eventType"], st)
    count += 1
    if event["eventType"] == "SHUTDOWN":
        if MODE == "spin":
            while True:       # asks on after SHUTDOWN, never exits itself
                next_event(eid, timeout=10)
        sys.exit(0)
    if MODE == "exit0-during-invoke":
        sys.exit(0)
    if MODE == "hang-after-invoke" and count == 1:
        time.sleep(3600)
'''


def test_an_extension_exiting_0_during_an_invoke_is_extension_crash_after_the_answer(code_dir: Path) -> None:
    write_file(code_dir / "handler.py", HANDLER)
    extension(code_dir, "life", LIFE)
    done = run_cli("invoke", str(code_dir / "handler.py"), "--timeout", "3", "--env", "MODE=exit0-during-invoke")
    assert done.stdout == '"ok"\n', done.stderr
    assert "Error Type: Extension.Crash" in done.stderr and "Extension 'life' exited (exit status 0)" in done.stderr
    assert "The caller already had its response, yet the invoke failed after it" in done.stderr
    assert done.returncode == 0  # the caller's answer was a success


def test_an_extension_that_never_asks_again_after_invoke_times_the_invoke_out(code_dir: Path) -> None:
    write_file(code_dir / "handler.py", HANDLER)
    extension(code_dir, "life", LIFE)
    done = run_cli("invoke", str(code_dir / "handler.py"), "--timeout", "1", "--env", "MODE=hang-after-invoke")
    assert done.stdout == '"ok"\n', done.stderr
    assert "Status: timeout" in done.stderr
    assert "extension life had not called /next by the deadline" in done.stderr, done.stderr


def test_an_extension_spinning_on_next_after_shutdown_is_killed_at_the_deadline_and_named(code_dir: Path) -> None:
    write_file(code_dir / "handler.py", HANDLER)
    extension(code_dir, "life", LIFE)
    done = run_cli("invoke", str(code_dir / "handler.py"), "--timeout", "3", "--env", "MODE=spin")
    assert done.returncode == 0 and done.stdout == '"ok"\n', done.stderr
    assert "extension life had not exited when the shutdown's 2,000 ms were up: SIGKILLed" in done.stderr
    assert "still calling /next after SHUTDOWN" in done.stderr, done.stderr


# --------------------------------------------------------------------------------------------------------------
# The runtime process itself registers as an internal extension (lambda-spec §2.2).

INTERNAL = "#!/usr/bin/env python3\nimport http.client, json, os, sys, threading\n" + API_CALLS_SOURCE + '''
MODE = os.environ.get("MODE", "")

events = ["INVOKE", "SHUTDOWN"] if MODE == "shutdown" else ["INVOKE"]
st, body, h = call("POST", "/2020-01-01/extension/register", json.dumps({"events": events}),
                   {"Lambda-Extension-Name": "inner"})
print("PROBE " + json.dumps(["register", st, body]), file=sys.stderr, flush=True)
if st != 200:
    sys.exit(0)
eid = h["Lambda-Extension-Identifier"]

def inner():
    while True:
        call("GET", "/2020-01-01/extension/event/next", headers={"Lambda-Extension-Identifier": eid})

if MODE != "never-next":
    threading.Thread(target=inner, daemon=True).start()
while True:
    st, body, h = call("GET", "/2018-06-01/runtime/invocation/next")
    rid = h["Lambda-Runtime-Aws-Request-Id"]
    call("POST", f"/2018-06-01/runtime/invocation/{rid}/response", b'"ok"')
'''


def test_an_internal_extension_in_a_custom_runtime(code_dir: Path) -> None:
    write_file(code_dir / "bootstrap", INTERNAL, executable=True)
    ok = run_cli("invoke", str(code_dir / "bootstrap"), "--repeat", "2", "--timeout", "3")
    assert ok.returncode == 0 and ok.stdout == '"ok"\n"ok"\n', ok.stderr
    assert "EXTENSION\tName: inner\tState: Ready\tEvents: [INVOKE]" in ok.stderr

    refused = run_cli("invoke", str(code_dir / "bootstrap"), "--timeout", "3", "--env", "MODE=shutdown")
    status, body = probes(refused.stderr)["register"]
    assert (status, json.loads(body)["errorType"]) == (403, "Extension.InvalidEventType"), refused.stderr

    stuck = run_cli("invoke", str(code_dir / "bootstrap"), "--timeout", "1", "--env", "MODE=never-next", timeout=60)
    assert "Init timed out: extension 'inner' never called /event/next" in stuck.stderr, stuck.stderr
    assert json.loads(stuck.stdout)["errorType"] == "Sandbox.Timedout"
