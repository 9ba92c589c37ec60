"""lambdatui's private channel (LAMBDATUI_PRIVATE_API=1) and the stack dump on its private signal (STACK_DUMP)."""

from __future__ import annotations

import json
import os
import re
import signal
import time

from lambdatui.bootstrap.private_signals import STACK_DUMP

from bootstrap_harness import (
    FUNCTION_INIT_PATH,
    GLOBALS_PATH,
    INSPECTION_PATH,
    NEXT_PATH,
    WAIT_S,
    Event,
    bootstrap_process,
    error_path,
    response_path,
    run_bootstrap,
    write,
)

PRIVATE = {"LAMBDATUI_PRIVATE_API": "1", "LAMBDATUI_REPORT_GLOBALS": "1"}

COUNTING = """
COUNTER = 0
def handler(event, context):
    global COUNTER
    COUNTER += 1
    print("handler called")
    return COUNTER
"""


def test_function_init_gate_holds_the_handler_import(api, code_dir):
    write(code_dir, "handler.py", """
        import os, urllib.request
        urllib.request.urlopen("http://%s/test/imported" % os.environ["AWS_LAMBDA_RUNTIME_API"]).read()
        def handler(event, context):
            return "ok"
    """)
    api.gate.clear()
    api.events.append(Event(request_id="r1"))
    with bootstrap_process(api, code_dir, "handler.handler", **PRIVATE) as proc:
        assert api.wait_path(FUNCTION_INIT_PATH)
        # While the host holds the gate, the handler module must not be imported.
        assert not api.wait_path("/test/imported", timeout=0.3)
        api.gate.set()
        proc.wait(timeout=WAIT_S)
    assert api.paths() == [
        FUNCTION_INIT_PATH, "/test/imported", INSPECTION_PATH, GLOBALS_PATH,
        NEXT_PATH, response_path("r1"), INSPECTION_PATH, GLOBALS_PATH, NEXT_PATH,
    ]


GLOBALS_MODULE = """
import collections
import os
import threading
from json import dumps
from os.path import join as pjoin

COUNTER = 0
CACHE = collections.OrderedDict(a=1)
BIG = "x" * 1000

class Widget:
    pass

class BadRepr:
    def __repr__(self):
        raise RuntimeError("no repr")

BAD = BadRepr()
_leaky = None

def handler(event, context):
    global COUNTER, _leaky
    COUNTER += 1
    if _leaky is None:
        _leaky = threading.Thread(target=threading.Event().wait, name="leaky", daemon=True)
        _leaky.start()
    return COUNTER
"""


def test_globals_reports_after_init_and_after_each_invoke(api, code_dir):
    write(code_dir, "handler.py", GLOBALS_MODULE)
    run = run_bootstrap(api, code_dir, "handler.handler", [Event(request_id="r1")], **PRIVATE)
    assert run.stderr.count("lambdatui-bootstrap") == 0
    assert api.paths() == [
        FUNCTION_INIT_PATH, INSPECTION_PATH, GLOBALS_PATH, NEXT_PATH, response_path("r1"), INSPECTION_PATH,
        GLOBALS_PATH, NEXT_PATH,
    ]
    init, after = (r.json() for r in api.find(GLOBALS_PATH))
    assert api.find(GLOBALS_PATH)[0].headers["content-type"] == "application/json"
    assert set(init) == {"phase", "requestId", "globals", "threads"}
    assert (init["phase"], init["requestId"]) == ("init", None)
    assert (after["phase"], after["requestId"]) == ("invoke", "r1")

    by_name = {g["name"]: g for g in init["globals"]}
    for entry in init["globals"]:
        assert set(entry) == {"name", "type", "repr", "id", "kind", "digest"}
        assert isinstance(entry["id"], int)
        assert len(entry["repr"]) <= 200

    def shape(name):
        g = by_name[name]
        return g["type"], g["kind"]

    assert shape("__name__") == ("str", "dunder")
    assert by_name["__name__"]["repr"] == "'handler'"
    assert shape("collections") == ("module", "module")
    assert shape("os") == ("module", "module")
    assert shape("dumps") == ("function", "import")
    assert shape("pjoin") == ("function", "import")
    assert shape("COUNTER") == ("int", "state")
    assert shape("CACHE") == ("collections.OrderedDict", "state")
    assert shape("BIG") == ("str", "state")
    assert shape("Widget") == ("type", "class")
    assert shape("BAD") == ("handler.BadRepr", "state")
    assert by_name["BAD"]["repr"] == "<repr raised RuntimeError>"
    assert shape("handler") == ("function", "function")
    assert shape("_leaky") == ("NoneType", "state")
    names = [g["name"] for g in init["globals"]]
    assert names.index("COUNTER") < names.index("Widget") < names.index("handler"), "definition order"

    after_by_name = {g["name"]: g for g in after["globals"]}
    assert by_name["COUNTER"]["repr"] == "0" and after_by_name["COUNTER"]["repr"] == "1"
    assert after_by_name["CACHE"]["id"] == by_name["CACHE"]["id"]
    assert after_by_name["_leaky"]["type"] == "threading.Thread"

    assert [t["name"] for t in init["threads"]] == ["MainThread"]
    threads = {t["name"]: t for t in after["threads"]}
    assert set(threads) == {"MainThread", "leaky"}
    assert threads["leaky"]["daemon"] is True and threads["leaky"]["alive"] is True
    assert isinstance(threads["leaky"]["ident"], int)
    assert threads["MainThread"]["daemon"] is False


def test_injected_raise_takes_the_error_path_instead_of_the_handler(api, code_dir):
    write(code_dir, "handler.py", COUNTING)
    run = run_bootstrap(api, code_dir, "handler.handler", [
        Event(request_id="r1", headers={"Lambdatui-Raise": json.dumps({"type": "ValueError", "message": "boom"})}),
        Event(request_id="r2", headers={"Lambdatui-Raise": json.dumps({"type": "MyCustomError", "message": "x"})}),
        Event(request_id="r3"),
    ], **PRIVATE)
    first = api.one(error_path("r1"))
    assert first.headers["lambda-runtime-function-error-type"] == "ValueError"
    assert first.json() == {"errorMessage": "boom", "errorType": "ValueError", "requestId": "r1", "stackTrace": []}
    second = api.one(error_path("r2"))
    assert second.headers["lambda-runtime-function-error-type"] == "MyCustomError"
    assert second.json()["errorType"] == "MyCustomError"
    assert api.one(response_path("r3")).body == b"1", "the handler ran only for r3"
    assert run.stdout.count("handler called") == 1
    assert "[ERROR] ValueError: boom\rTraceback (most recent call last):\n" in run.stdout


def test_raise_header_is_ignored_without_the_private_api(api, code_dir):
    write(code_dir, "handler.py", COUNTING)
    run_bootstrap(api, code_dir, "handler.handler", [
        Event(request_id="r1", headers={"Lambdatui-Raise": '{"type": "ValueError", "message": "boom"}'}),
    ])
    assert api.one(response_path("r1")).body == b"1"
    assert not any(p.startswith("/lambdatui/") for p in api.paths())


def test_older_host_without_private_routes(api, code_dir):
    write(code_dir, "handler.py", COUNTING)
    api.statuses[FUNCTION_INIT_PATH] = 404
    api.statuses[GLOBALS_PATH] = 404
    api.statuses[INSPECTION_PATH] = 404
    run = run_bootstrap(api, code_dir, "handler.handler", [Event(request_id="r1")], **PRIVATE)
    assert api.one(response_path("r1")).body == b"1"
    assert "lambdatui-bootstrap" not in run.stderr


def test_failing_globals_report_is_one_stderr_line_not_a_crash(api, code_dir):
    write(code_dir, "handler.py", COUNTING)
    api.statuses[GLOBALS_PATH] = 500
    run = run_bootstrap(api, code_dir, "handler.handler", [Event(request_id="r1"), Event(request_id="r2")], **PRIVATE)
    assert api.one(response_path("r2")).body == b"2"
    assert run.stderr.count("lambdatui-bootstrap: POST /lambdatui/v1/globals answered 500") == 3


def test_sigusr1_dumps_all_thread_stacks_to_the_stack_file(api, code_dir, tmp_path):
    stack_file = tmp_path / "stacks.txt"
    write(code_dir, "handler.py", """
        import os, time, urllib.request
        def handler(event, context):
            urllib.request.urlopen("http://%s/test/sleeping" % os.environ["AWS_LAMBDA_RUNTIME_API"]).read()
            time.sleep(60)
    """)
    api.events.append(Event(request_id="r1"))
    with bootstrap_process(api, code_dir, "handler.handler", LAMBDATUI_STACK_FILE=str(stack_file)) as proc:
        assert api.wait_path("/test/sleeping")
        os.kill(proc.pid, STACK_DUMP)
        # The dump is written by the child's signal handler: wait for it to appear (bounded).
        deadline = time.monotonic() + WAIT_S
        while " in handler" not in stack_file.read_text() and time.monotonic() < deadline:
            time.sleep(0.01)
        text = stack_file.read_text()
        assert proc.poll() is None, "the stack dump's signal must not kill the runtime"
        os.kill(proc.pid, signal.SIGCONT)  # it stopped itself after the dump (the next test)
    assert re.search(r'File "%s", line \d+ in handler' % re.escape(str(code_dir / "handler.py")), text)
    assert "Current thread" in text or "Thread 0x" in text


def test_after_the_dump_the_runtime_stops_itself_until_the_host_decides(api, code_dir, tmp_path):
    """A timed-out handler that returns during the dump must not post its response: the host kills it next (or, while
    the debugger holds, lets it go on)."""
    stack_file = tmp_path / "stacks.txt"
    write(code_dir, "handler.py", """
        import os, time, urllib.request
        def handler(event, context):
            urllib.request.urlopen("http://%s/test/sleeping" % os.environ["AWS_LAMBDA_RUNTIME_API"]).read()
            time.sleep(0.2)
            return "late"
    """)
    api.events.append(Event(request_id="r1"))
    with bootstrap_process(api, code_dir, "handler.handler", LAMBDATUI_STACK_FILE=str(stack_file)) as proc:
        assert api.wait_path("/test/sleeping")
        os.kill(proc.pid, STACK_DUMP)
        deadline = time.monotonic() + WAIT_S
        while _state(proc.pid) != "T" and time.monotonic() < deadline:
            time.sleep(0.01)
        assert _state(proc.pid) == "T", "not stopped after its dump"
        assert " in handler" in stack_file.read_text()
        assert response_path("r1") not in api.paths()
        os.kill(proc.pid, signal.SIGCONT)
        assert api.wait_path(response_path("r1"))
    assert api.one(response_path("r1")).body == b'"late"'


def _state(pid: int) -> str:
    with open(f"/proc/{pid}/stat") as stat:
        return stat.read().rsplit(")", 1)[1].split()[0]


def test_globals_are_reported_only_when_the_host_asks(api, code_dir):
    """Headless modes do not pay for the globals report: without LAMBDATUI_REPORT_GLOBALS, no /globals POST."""
    write(code_dir, "handler.py", COUNTING)
    api.events.append(Event(request_id="r1"))
    with bootstrap_process(api, code_dir, "handler.handler", LAMBDATUI_PRIVATE_API="1") as proc:
        proc.wait(timeout=WAIT_S)
    assert api.paths() == [FUNCTION_INIT_PATH, NEXT_PATH, response_path("r1"), NEXT_PATH]


def test_the_function_never_sees_the_hosts_lambdatui_variables(api, code_dir, tmp_path):
    """Lambda's runtime has no LAMBDATUI_* variables: the bootstrap takes them out of os.environ before the function's
    code runs (at import and at invoke, and in the programs it starts), and still does what they ask."""
    write(code_dir, "handler.py", """
        import os, subprocess, sys
        AT_INIT = sorted(k for k in os.environ if k.startswith("LAMBDATUI"))
        def handler(event, context):
            child = subprocess.run([sys.executable, "-c", "import os; print(sorted(os.environ))"],
                                   capture_output=True, text=True).stdout
            return {"init": AT_INIT, "invoke": sorted(k for k in os.environ if k.startswith("LAMBDATUI")),
                    "child": "LAMBDATUI" in child}
    """)
    stack_file = tmp_path / "stacks"
    run = run_bootstrap(api, code_dir, "handler.handler", [Event(request_id="r1")], **PRIVATE,
                        LAMBDATUI_STACK_FILE=str(stack_file), LAMBDATUI_EXIT_FILE=str(tmp_path / "exit"),
                        LAMBDATUI_OPT=str(tmp_path / "opt"))
    assert api.one(response_path("r1")).json() == {"init": [], "invoke": [], "child": False}, run.stderr
    # What the variables asked for still happened: the private channel, the globals reports, the stack dump's file.
    assert api.paths()[:2] == [FUNCTION_INIT_PATH, INSPECTION_PATH] and GLOBALS_PATH in api.paths()
    assert stack_file.exists()
