"""Lambda's metadata endpoint (api/metadata_routes.py): the Availability Zone each environment runs in, served beside
the Runtime API to the runtime and the extensions, behind the environment's own token.

The facts are AWS's: the Lambda developer guide's "Using the Lambda metadata endpoint" (the two variables, the path,
the Bearer token, the `AvailabilityZoneID` body) and the handler of AWS's own emulator (internal/lmds/handler.go:
405 for any other method, 401 as plain text, `private, max-age=43200, immutable`, one second before a SnapStart
restore). Powertools' metadata utility sends exactly `Authorization: Bearer $AWS_LAMBDA_METADATA_TOKEN` to
`http://$AWS_LAMBDA_METADATA_API/2026-01-15/metadata/execution-environment`, as the handlers below do.
"""

from __future__ import annotations

import json
import sys
import threading
import urllib.request
from pathlib import Path

import pytest
import trio

from e2e_support import ServeProcess, awslambdaric_bootstrap, run_cli, write_file
from lambdatui import controller as c
from lambdatui.api.api_capture import METADATA_CALLERS
from lambdatui.config import resolve_function
from lambdatui.runner import open_environment

BOUND_S = 30.0
PATH = "/2026-01-15/metadata/execution-environment"

CALLER = r'''
import json, os, urllib.error, urllib.request

def call(token, method="GET", scheme="Bearer "):
    request = urllib.request.Request("http://%s/2026-01-15/metadata/execution-environment"
                                     % os.environ["AWS_LAMBDA_METADATA_API"], method=method)
    if token is not None:
        request.add_header("Authorization", scheme + token)
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return [answer.status, answer.headers.get("Content-Type"), answer.headers.get("Cache-Control"),
                    answer.read().decode()]
    except urllib.error.HTTPError as refused:
        return [refused.code, refused.headers.get("Content-Type"), None, refused.read().decode()]
'''

HANDLER = CALLER + r'''
AT_INIT = call(os.environ["AWS_LAMBDA_METADATA_TOKEN"])
TOKEN_AT_INIT = os.environ["AWS_LAMBDA_METADATA_TOKEN"]

def handler(event, context):
    token = os.environ["AWS_LAMBDA_METADATA_TOKEN"]
    if event.get("token") is not None:
        return {"other": call(event["token"]), "mine": token}
    if event.get("wait"):  # held until the test writes this file beside the code: two in flight take two environments
        import time
        release = os.path.join(os.environ["LAMBDA_TASK_ROOT"], event["wait"])
        deadline = time.monotonic() + 20
        while not os.path.exists(release) and time.monotonic() < deadline:
            time.sleep(0.01)
    return {"api": os.environ["AWS_LAMBDA_METADATA_API"], "runtime_api": os.environ["AWS_LAMBDA_RUNTIME_API"],
            "token": token, "token_at_init": TOKEN_AT_INIT, "at_init": AT_INIT, "ok": call(token),
            "wrong": call("not-" + token), "none": call(None), "basic": call(token, scheme="Basic "),
            "post": call(token, "POST")}
'''


def _handler(code_dir: Path) -> Path:
    return write_file(code_dir / "handler.py", HANDLER)


def _invoke_json(*args: str) -> dict:
    done = run_cli("invoke", *args)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def _assert_served(seen: dict, zone: str = "use1-az1") -> None:
    assert seen["api"] == seen["runtime_api"], seen  # beside the Runtime API, as in Lambda (169.254.100.1:9001)
    assert seen["ok"] == [200, "application/json", "private, max-age=43200, immutable",
                          json.dumps({"AvailabilityZoneID": zone}, separators=(",", ":"))], seen
    for refused in ("wrong", "none", "basic"):
        assert seen[refused][:2] == [401, "text/plain; charset=utf-8"] and seen[refused][3] == "Unauthorized\n", seen
    assert seen["post"][0] == 405, seen


@pytest.mark.parametrize("runtime", ["lambdatui", "awslambdaric"])
def test_the_function_reads_its_zone_with_its_token(code_dir: Path, runtime: str) -> None:
    handler = _handler(code_dir)
    target = awslambdaric_bootstrap(code_dir) if runtime == "awslambdaric" else handler
    seen = _invoke_json(str(target), "-e", "{}")
    _assert_served(seen)
    assert seen["at_init"][0] == 200, seen  # Init calls it too (Powertools' eager fetch at module level)


EXTENSION = '''#!{python}
import json, os, sys, urllib.request
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # the function's folder
from handler import call
base = "http://" + os.environ["AWS_LAMBDA_RUNTIME_API"] + "/2020-01-01/extension"
request = urllib.request.Request(base + "/register", data=json.dumps({{"events": ["INVOKE"]}}).encode(),
                                 headers={{"Lambda-Extension-Name": "zone"}}, method="POST")
with urllib.request.urlopen(request) as answer:
    identifier = answer.headers["Lambda-Extension-Identifier"]
print("zone extension:", json.dumps(call(os.environ.get("AWS_LAMBDA_METADATA_TOKEN", ""))), flush=True)
while True:
    with urllib.request.urlopen(urllib.request.Request(base + "/event/next",
                                headers={{"Lambda-Extension-Identifier": identifier}})) as answer:
        answer.read()
'''


def test_an_extension_reads_the_zone_too(code_dir: Path) -> None:
    """The guide: the endpoint 'is accessible to both runtimes and extensions', so both variables reach them."""
    handler = _handler(code_dir)
    write_file(code_dir / "extensions" / "zone", EXTENSION.format(python=sys.executable), executable=True)
    done = run_cli("invoke", str(handler), "-e", "{}")
    assert done.returncode == 0, done.stderr
    line = next((line for line in done.stderr.splitlines() if "zone extension:" in line), None)
    assert line is not None, done.stderr
    assert json.loads(line.split("zone extension:", 1)[1])[:2] == [200, "application/json"], line


def test_each_environment_has_its_own_zone_and_token(code_dir: Path) -> None:
    """Two invokes in flight take two environments: env #1 and env #2 run in use1-az1 and use1-az2, each with a token
    of its own, which the other environment refuses."""
    handler = _handler(code_dir)
    release = code_dir / "release"
    answers: list[dict] = []
    with ServeProcess(handler, "--concurrency", "2", "--timeout", "30") as serve:
        def invoke(event: dict) -> None:
            body = json.dumps(event).encode()
            with urllib.request.urlopen(urllib.request.Request(serve.invoke_url(), data=body),
                                        timeout=BOUND_S) as answer:
                answers.append(json.loads(answer.read()))

        callers = [threading.Thread(target=invoke, args=({"wait": release.name},)) for _ in range(2)]
        for caller in callers:
            caller.start()
        serve.wait_for_lines(r"START RequestId", 2, BOUND_S)  # both in flight, each in an environment of its own
        release.write_text("go")
        for caller in callers:
            caller.join(BOUND_S)
        assert len(answers) == 2, serve.output()
        zones = sorted(json.loads(answer["ok"][3])["AvailabilityZoneID"] for answer in answers)
        assert zones == ["use1-az1", "use1-az2"], answers
        first, second = answers
        assert first["token"] != second["token"]
        # One environment's token opens nothing in another: a warm invoke goes to either, and answers 200 only in the
        # environment whose token it is.
        for _ in range(4):
            invoke({"token": first["token"]})
            asked = answers[-1]
            assert asked["other"][0] == (200 if asked["mine"] == first["token"] else 401), asked


def test_the_token_is_the_environments_across_its_resets(code_dir: Path) -> None:
    """A crash re-initialises the same environment: its processes start again with the same token (lambdatui's
    choice: the guide says Lambda makes it 'at initialization' of the environment), and the endpoint still answers."""
    write_file(code_dir / "handler.py", CALLER + r'''
def handler(event, context):
    if event.get("crash"):
        os._exit(1)
    return {"token": os.environ["AWS_LAMBDA_METADATA_TOKEN"], "ok": call(os.environ["AWS_LAMBDA_METADATA_TOKEN"])}
''')
    with ServeProcess(code_dir / "handler.py") as serve:
        def invoke(event: dict) -> dict:
            request = urllib.request.Request(serve.invoke_url(), data=json.dumps(event).encode())
            with urllib.request.urlopen(request, timeout=BOUND_S) as answer:
                return json.loads(answer.read())

        before = invoke({})
        invoke({"crash": True})
        after = invoke({})
    assert before["ok"][0] == after["ok"][0] == 200
    assert before["token"] == after["token"]


def test_a_snapshot_answer_is_not_kept_and_its_restored_copies_for_twelve_hours(code_dir: Path) -> None:
    """SnapStart: Init runs in the snapshot environment, whose answer Lambda lets a client keep for one second only
    (a restore may move it to another zone; AWS's emulator: the 'snapstart-cache' case), and lambdatui, which restores
    within milliseconds, not at all (metadata_routes.py says why); the invoke runs in a copy restored from it, which
    carries the snapshot's token in its environment as it was taken, and is answered for 12 hours."""
    seen = _invoke_json(str(_handler(code_dir)), "-e", "{}", "--snapstart")
    assert seen["at_init"][:3] == [200, "application/json", "private, max-age=0, immutable"], seen
    assert seen["token"] == seen["token_at_init"]
    assert seen["ok"][:3] == [200, "application/json", "private, max-age=43200, immutable"], seen


def test_the_variables_are_lambdas_own(code_dir: Path) -> None:
    """Reserved: Lambda refuses a configuration that sets either (the guide lists both among the variables it sets)."""
    done = run_cli("invoke", str(_handler(code_dir)), "-e", "{}", "--env", "AWS_LAMBDA_METADATA_TOKEN=mine")
    assert done.returncode != 0
    assert "Reserved keys used in this request: AWS_LAMBDA_METADATA_TOKEN" in done.stderr, done.stderr


@pytest.mark.trio
async def test_the_debugger_shows_the_calls(code_dir: Path) -> None:
    """Every exchange of the sandbox's APIs is in the debugger's traffic view: the metadata calls too, refusals
    included, with their answers."""
    async with open_environment(resolve_function(str(_handler(code_dir))), inspect=True) as running:
        with trio.fail_after(BOUND_S):
            await running.host.invoke(b"{}")
        traffic = {t.participant: t.exchanges for t in running.session.api_traffic(None)}
    # A tab of their own: no header says whether the runtime or an extension called. Each answered at once, once.
    exchanges = traffic.get(METADATA_CALLERS, ())
    assert [(e.method, e.status, e.long_poll) for e in exchanges] == [
        ("GET", 200, False), ("GET", 200, False), ("GET", 401, False), ("GET", 401, False), ("GET", 401, False),
        ("POST", 405, False)], traffic
    assert '"AvailabilityZoneID":"use1-az1"' in exchanges[1].response_preview
    assert not any(e.path == PATH for t in traffic.values() for e in t if t is not exchanges)


@pytest.mark.trio
async def test_a_new_environment_has_a_token_and_a_zone_of_its_own(code_dir: Path) -> None:
    """The debugger's `N`: the environment after it is another (env #2), made with a token of its own; the old
    token opens nothing there."""
    async with open_environment(resolve_function(str(_handler(code_dir)))) as running:
        with trio.fail_after(BOUND_S):
            first, _ = await running.host.invoke(b"{}")
            running.session.submit(c.NewEnvironment())
            await running.session.settled()
            second, _ = await running.host.invoke(b"{}")
            stale, _ = await running.host.invoke(json.dumps({"token": json.loads(first.payload)["token"]}).encode())
    before, after = json.loads(first.payload), json.loads(second.payload)
    assert json.loads(before["ok"][3]) == {"AvailabilityZoneID": "use1-az1"}
    assert json.loads(after["ok"][3]) == {"AvailabilityZoneID": "use1-az2"}
    assert after["token"] != before["token"] and after["token"] == after["token_at_init"]
    assert json.loads(stale.payload)["other"][0] == 401
