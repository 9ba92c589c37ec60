"""From a bug hunt: Lambda's metadata endpoint (api/metadata_routes.py, commit 9110c4c) as its clients use it.

Facts: the Lambda developer guide's "Using the Lambda metadata endpoint" (AWS_LAMBDA_METADATA_API, whose example is
169.254.100.1:9001, the same address in every environment; AWS_LAMBDA_METADATA_TOKEN; `GET
/2026-01-15/metadata/execution-environment` with `Authorization: Bearer <token>`) and AWS's emulator
(aws/aws-lambda-runtime-interface-emulator, internal/lmds/handler.go and handler_test.go: 405 for every other
method, 401 unless the header starts with the case-sensitive `Bearer `, `Cache-Control: private, max-age=N,
immutable`; its "snapstart-cache" case answers max-age=1 before a restore and the restored zone with 12 h after it).

The clients reproduced here with the standard library only (no PyPI package at run time):
- Powertools for AWS Lambda (Python) 3.37.0, aws_lambda_powertools/utilities/metadata/lambda_metadata.py,
  `_fetch_metadata()` / `get_lambda_metadata()`: returns nothing unless AWS_LAMBDA_INITIALIZATION_TYPE is set, then
  urllib's `urlopen(Request(f"http://{api}/2026-01-15/metadata/execution-environment", headers={"Authorization":
  f"Bearer {token}"}), timeout=1.0)`, the answer cached in a module dict for the process's life.
- Sentry's Python SDK (getsentry/sentry-python, sentry_sdk/integrations/aws_lambda/_metadata.py,
  `_get_availability_zone()`, commit 7de806a): the same request, its answer cached until `now + max-age` read from
  Cache-Control ("AWS shortens `max-age` during SnapStart initialization so restored environments refresh
  `AvailabilityZoneID` for their new AZ").
"""

from __future__ import annotations

import json
import re
import sys
import threading
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from e2e_support import ServeProcess, run_cli, source_lines, write_file

BOUND_S = 30.0
PATH = "/2026-01-15/metadata/execution-environment"

# Powertools 3.37.0's `_fetch_metadata` and `get_lambda_metadata`, standard library only (see the docstring).
POWERTOOLS = r'''
import json, os, urllib.error, urllib.request

_cache = {}

def get_lambda_metadata(timeout=1.0):
    if os.environ.get("AWS_LAMBDA_INITIALIZATION_TYPE", "") == "":
        return None
    if _cache:
        return _cache.get("AvailabilityZoneID")
    api = os.environ.get("AWS_LAMBDA_METADATA_API")
    token = os.environ.get("AWS_LAMBDA_METADATA_TOKEN")
    if not api or not token:
        raise RuntimeError("metadata variables not set")
    req = urllib.request.Request("http://%s/2026-01-15/metadata/execution-environment" % api,
                                 headers={"Authorization": "Bearer %s" % token})
    with urllib.request.urlopen(req, timeout=timeout) as resp:
        if resp.status != 200:
            raise RuntimeError("status %d" % resp.status)
        _cache.update(json.loads(resp.read().decode("utf-8")))
    return _cache.get("AvailabilityZoneID")
'''

# Sentry's `_get_availability_zone`, standard library only (urllib in place of its urllib3 pool).
SENTRY = r'''
import json, os, time, urllib.request

_lambda_metadata_cache = None

def get_availability_zone():
    global _lambda_metadata_cache
    now = time.time()
    if _lambda_metadata_cache is not None and _lambda_metadata_cache[0] > now:
        return _lambda_metadata_cache[1]
    req = urllib.request.Request("http://%s/2026-01-15/metadata/execution-environment"
                                 % os.environ["AWS_LAMBDA_METADATA_API"],
                                 headers={"Authorization": "Bearer %s" % os.environ["AWS_LAMBDA_METADATA_TOKEN"]})
    with urllib.request.urlopen(req, timeout=1) as response:
        availability_zone = json.loads(response.read().decode("utf-8"))["AvailabilityZoneID"]
        max_age = response.headers["Cache-Control"].split("max-age=", 1)[1].split(",", 1)[0]
    _lambda_metadata_cache = (now + float(max_age), availability_zone)
    return availability_zone
'''

# A direct call, whatever address it is given: [status, Cache-Control, body].
CALL = r'''
import json, os, urllib.error, urllib.request

def call(api=None, token=None):
    api = api or os.environ["AWS_LAMBDA_METADATA_API"]
    token = token or os.environ["AWS_LAMBDA_METADATA_TOKEN"]
    req = urllib.request.Request("http://%s/2026-01-15/metadata/execution-environment" % api,
                                 headers={"Authorization": "Bearer " + token})
    try:
        with urllib.request.urlopen(req, timeout=5) as answer:
            return [answer.status, answer.headers.get("Cache-Control"), answer.read().decode()]
    except urllib.error.HTTPError as refused:
        return [refused.code, None, refused.read().decode()]
'''


def _last_json(stdout: str) -> dict:
    return json.loads(stdout.strip().splitlines()[-1])


def _invoke_json(*args: str) -> dict:
    done = run_cli("invoke", *args)
    assert done.returncode == 0, done.stderr
    return _last_json(done.stdout)


def _post(url: str, event: dict) -> dict:
    request = urllib.request.Request(url, data=json.dumps(event).encode())
    with urllib.request.urlopen(request, timeout=BOUND_S) as answer:
        return json.loads(answer.read())


# ---------------------------------------------------------------------- bugs


def test_a_recorded_handler_that_returns_its_environment_replays(code_dir: Path) -> None:
    """The recorder leaves out what is new on every run (session_values.py names 'a handler that returns
    `os.environ`'): the request id, the log stream, the trace id, the Runtime API's address and, since 9110c4c, the
    metadata endpoint's address. AWS_LAMBDA_METADATA_TOKEN is new on every run as well (each environment's, from the
    kernel's randomness): kept in `expect.response`, it failed the replay of such a recording (fixed)."""
    handler = write_file(code_dir / "handler.py", "import os\n\ndef handler(event, context):\n"
                                                  "    return dict(os.environ)\n")
    scenario = code_dir / "environ.toml"
    recorded = run_cli("invoke", str(handler), "-e", "{}", "--record", str(scenario))
    assert recorded.returncode == 0, recorded.stderr
    assert "AWS_LAMBDA_METADATA_API" in scenario.read_text()  # its address is named among what is left out
    replayed = run_cli("replay", str(handler), str(scenario))
    said = replayed.stdout + replayed.stderr
    assert not re.search(r"mismatch\s+response\.AWS_LAMBDA_METADATA_TOKEN:", said), \
        [line.strip() for line in said.splitlines() if "mismatch" in line]
    assert replayed.returncode == 0 and "PASSED" in said, \
        [line.strip() for line in said.splitlines() if "mismatch" in line or "FAILED" in line]


# One `lambdatui invoke --snapstart` serves the three restore tests below (each reads its own part of what the
# restored copy returned): a restore is one outcome, and the three clients, each with its own module-level state (a
# cached answer, an address read at Init, a connection made at Init), do not touch one another's.
RESTORED = SENTRY + CALL + r'''
import http.client, time
INIT_AT = time.time()
AT_INIT = get_availability_zone()
API_AT_INIT = os.environ["AWS_LAMBDA_METADATA_API"]
KEPT = http.client.HTTPConnection(os.environ["AWS_LAMBDA_METADATA_API"], timeout=5)

def kept_call():
    KEPT.request("GET", "/2026-01-15/metadata/execution-environment",
                 headers={"Authorization": "Bearer " + os.environ["AWS_LAMBDA_METADATA_TOKEN"]})
    answer = KEPT.getresponse()
    return [answer.status, answer.getheader("Cache-Control"), answer.read().decode()]

KEPT_AT_INIT = kept_call()

def handler(event, context):
    since_init = time.time() - INIT_AT
    return {"sentry": {"at_init": AT_INIT, "now": get_availability_zone(), "since_init": since_init},
            "call": {"via_init_address": call(API_AT_INIT), "via_own_address": call()},
            "kept": {"at_init": KEPT_AT_INIT, "now": kept_call()}}
'''


@pytest.fixture(scope="module")
def restored(module_code_dir: Path) -> dict:
    """What the restored copy (env #2 of `invoke --snapstart`) returned of RESTORED's three clients."""
    handler = write_file(module_code_dir / "restored" / "handler.py", RESTORED)
    return _invoke_json(str(handler), "-e", "{}", "--snapstart")


def test_a_max_age_honouring_client_sees_the_restored_zone(restored: dict) -> None:
    """Sentry's client caches the answer for its max-age. Lambda's snapshot answer says one second so that 'restored
    environments refresh AvailabilityZoneID for their new AZ'; in Lambda a restore comes long after the version was
    published. `lambdatui invoke --snapstart` restores env #2 a few hundred ms after env #1's Init asked: with one
    second, the copy held env #1's zone while its own endpoint answered use1-az2 (fixed: max-age=0 there)."""
    seen = restored["sentry"]
    if seen["since_init"] >= 1.0:
        pytest.skip(f"the restore came {seen['since_init']:.2f} s after Init: the snapshot's answer had expired")
    assert seen["at_init"] == "use1-az1", seen  # env #1, the snapshot
    assert seen["now"] == "use1-az2", seen  # env #2, restored: what its own endpoint answers


def test_a_restored_copy_reaches_its_own_endpoint_at_the_address_init_read(restored: dict) -> None:
    """A module-level constant made of AWS_LAMBDA_METADATA_API (169.254.100.1:9001 in every Lambda environment, so
    the same after a restore) is lambdatui's snapshot environment's own address in a copy: the copy's call was
    answered by the snapshot environment, as if the copy ran there (fixed: the endpoint answers for the environment
    the caller belongs to now, host/caller_environment.py)."""
    seen = restored["call"]
    own = seen["via_own_address"]
    assert own[:2] == [200, "private, max-age=43200, immutable"] and "use1-az2" in own[2], seen
    assert seen["via_init_address"] == own, seen


def test_a_connection_kept_from_init_reaches_the_copys_own_endpoint(restored: dict) -> None:
    """An HTTP client made at Init keeps its connection (urllib3's pool in Sentry's SDK does): in Lambda the restored
    VM holds that connection to its own endpoint (the snapshot's /restore/next, pending in it, is answered so), and
    a request on it is answered for the copy. Here the copy sends it on the snapshot runtime's socket, to the
    snapshot environment's server, and hears the snapshot's zone (use1-az1, max-age=0)."""
    seen = restored["kept"]
    assert "use1-az1" in seen["at_init"][2], seen
    assert seen["now"] == [200, "private, max-age=43200, immutable", '{"AvailabilityZoneID":"use1-az2"}'], seen


@pytest.mark.xfail(strict=True, reason="a copy that calls the Runtime API at the address its Init read reaches the "
                                       "snapshot environment's server and is answered by that environment's "
                                       "lifecycle, where Lambda's address is the same in every environment")
def test_a_restored_copy_reaches_its_own_runtime_api_at_the_address_init_read(code_dir: Path) -> None:
    """AWS_LAMBDA_RUNTIME_API kept at Init, as the metadata endpoint's address above: in Lambda the copy's call
    reaches its own environment's Runtime API. Here it reaches the snapshot environment's, which answers from its own
    state: a `/next` during the copy's invoke is 403 "State transition from RestoreReady to Ready", where the copy's
    own API answers it as any `/next` of its runtime (the emulator's re-rendered event, lambda-spec §1.3). The
    metadata endpoint answers such a call for the caller's environment; the Runtime API's lifecycle is the server's
    environment's, its connections counted and numbered by that server."""
    handler = write_file(code_dir / "handler.py", r'''
import os, urllib.error, urllib.request
API_AT_INIT = os.environ["AWS_LAMBDA_RUNTIME_API"]

def next_via(api):
    try:
        with urllib.request.urlopen("http://%s/2018-06-01/runtime/invocation/next" % api, timeout=5) as answer:
            return [answer.status, answer.read().decode()]
    except urllib.error.HTTPError as refused:
        return [refused.code, refused.read().decode()]

def handler(event, context):
    own = os.environ["AWS_LAMBDA_RUNTIME_API"]
    return {"via_init_address": next_via(API_AT_INIT), "via_own_address": next_via(own)}
''')
    seen = _invoke_json(str(handler), "-e", "{}", "--snapstart")
    assert seen["via_init_address"] == seen["via_own_address"], seen


# ---------------------------------------------------------------------- what holds (pinned)


def test_powertools_reads_the_zone_at_init_and_in_each_worker_of_a_managed_instance(code_dir: Path) -> None:
    """Powertools' client (reproduced) at module level in every worker of one Managed Instances environment: each
    worker's Init reads env #1's zone with the environment's one token."""
    release = code_dir / "release"
    handler = write_file(code_dir / "handler.py", POWERTOOLS + r'''
import time
AT_INIT = get_lambda_metadata()

def handler(event, context):
    path = os.path.join(os.environ["LAMBDA_TASK_ROOT"], "release")
    deadline = time.monotonic() + 20
    while not os.path.exists(path) and time.monotonic() < deadline:
        time.sleep(0.01)
    return {"at_init": AT_INIT, "now": get_lambda_metadata(), "pid": os.getpid(),
            "token": os.environ["AWS_LAMBDA_METADATA_TOKEN"]}
''')
    answers: list[dict] = []
    with ServeProcess(handler, "--max-concurrency", "3", "--memory", "2048", "--timeout", "30") as serve:
        callers = [threading.Thread(target=lambda: answers.append(_post(serve.invoke_url(), {}))) for _ in range(3)]
        for caller in callers:
            caller.start()
        serve.wait_for_lines(r"START RequestId", 3, BOUND_S)
        release.write_text("go")
        for caller in callers:
            caller.join(BOUND_S)
    assert len(answers) == 3, answers
    assert {(a["at_init"], a["now"]) for a in answers} == {("use1-az1", "use1-az1")}, answers
    assert len({a["token"] for a in answers}) == 1 and len({a["pid"] for a in answers}) == 3, answers


def test_a_layers_extension_reads_the_zone_on_each_event(code_dir: Path) -> None:
    """An external extension started from a layer (/opt/extensions) reads the endpoint during its Init and on each
    INVOKE and SHUTDOWN (the guide: 'accessible to both runtimes and extensions')."""
    handler = write_file(code_dir / "function" / "handler.py", "def handler(event, context):\n    return 1\n")
    write_file(code_dir / "layer" / "extensions" / "zone", f"#!{sys.executable}\n" + CALL + r'''
base = "http://" + os.environ["AWS_LAMBDA_RUNTIME_API"] + "/2020-01-01/extension"
request = urllib.request.Request(base + "/register", data=json.dumps({"events": ["INVOKE", "SHUTDOWN"]}).encode(),
                                 headers={"Lambda-Extension-Name": "zone"}, method="POST")
with urllib.request.urlopen(request) as answer:
    identifier = answer.headers["Lambda-Extension-Identifier"]
print("ZONE init", json.dumps(call()), flush=True)
while True:
    with urllib.request.urlopen(urllib.request.Request(base + "/event/next",
                                headers={"Lambda-Extension-Identifier": identifier})) as answer:
        kind = json.loads(answer.read())["eventType"]
    print("ZONE", kind, json.dumps(call()), flush=True)
    if kind == "SHUTDOWN":
        break
''', executable=True)
    done = run_cli("invoke", str(handler), "-e", "{}", "--repeat", "2", "--layer", str(code_dir / "layer"))
    assert done.returncode == 0, done.stderr
    seen = [line.split(" ", 2)[1:] for line in source_lines(done.stderr, "zone") if line.startswith("ZONE ")]
    assert [kind for kind, _ in seen] == ["init", "INVOKE", "INVOKE", "SHUTDOWN"], done.stderr
    for _, answer in seen:
        assert json.loads(answer) == [200, "private, max-age=43200, immutable", '{"AvailabilityZoneID":"use1-az1"}']


def test_edges_of_the_request_answer_as_awss_handler(code_dir: Path) -> None:
    """AWS's handler: any method but GET is 405 (HEAD and OPTIONS too), the scheme `Bearer ` is matched as written
    (lower case `bearer` is 401), Go's Header.Get takes the first of two Authorization headers; a query string does
    not change the path."""
    handler = write_file(code_dir / "handler.py", r'''
import http.client, os
P = "/2026-01-15/metadata/execution-environment"

def raw(method, path, headers):
    connection = http.client.HTTPConnection(os.environ["AWS_LAMBDA_METADATA_API"], timeout=5)
    connection.putrequest(method, path)
    for name, value in headers:
        connection.putheader(name, value)
    connection.endheaders()
    answer = connection.getresponse()
    answer.read()
    connection.close()
    return answer.status

def handler(event, context):
    good = "Bearer " + os.environ["AWS_LAMBDA_METADATA_TOKEN"]
    return {"HEAD": raw("HEAD", P, [("Authorization", good)]), "OPTIONS": raw("OPTIONS", P, [("Authorization", good)]),
            "query": raw("GET", P + "?x=1", [("Authorization", good)]),
            "lower": raw("GET", P, [("Authorization", good.replace("Bearer", "bearer"))]),
            "first_good": raw("GET", P, [("Authorization", good), ("Authorization", "Bearer no")]),
            "first_bad": raw("GET", P, [("Authorization", "Bearer no"), ("Authorization", good)])}
''')
    seen = _invoke_json(str(handler), "-e", "{}")
    assert seen == {"HEAD": 405, "OPTIONS": 405, "query": 200, "lower": 401, "first_good": 200, "first_bad": 401}


def test_a_process_outside_the_sandbox_is_refused_even_with_the_token(code_dir: Path) -> None:
    """Like every sandbox API call from outside: 403 AccessDenied, the token notwithstanding."""
    handler = write_file(code_dir / "handler.py", CALL + r'''
def handler(event, context):
    return {"api": os.environ["AWS_LAMBDA_METADATA_API"], "token": os.environ["AWS_LAMBDA_METADATA_TOKEN"],
            "inside": call()[0]}
''')
    with ServeProcess(handler) as serve:
        seen = _post(serve.invoke_url(), {})
        assert seen["inside"] == 200, seen
        request = urllib.request.Request(f"http://{seen['api']}{PATH}",
                                         headers={"Authorization": "Bearer " + seen["token"]})
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(request, timeout=10).read()
        assert refused.value.code == 403
        assert json.loads(refused.value.read())["errorType"] == "AccessDenied"


def test_a_templates_environment_may_not_set_the_token(code_dir: Path) -> None:
    """A SAM template's Environment.Variables naming the token is refused as Lambda's CreateFunction refuses a
    reserved key."""
    write_file(code_dir / "handler.py", "def handler(event, context):\n    return 1\n")
    template = write_file(code_dir / "template.yaml", """AWSTemplateFormatVersion: '2010-09-09'
Transform: AWS::Serverless-2016-10-31
Resources:
  Fn:
    Type: AWS::Serverless::Function
    Properties:
      Handler: handler.handler
      Runtime: python3.12
      CodeUri: .
      Environment:
        Variables:
          AWS_LAMBDA_METADATA_TOKEN: mine
""")
    done = run_cli("invoke", str(template), "-e", "{}")
    assert done.returncode != 0
    assert "Reserved keys used in this request: AWS_LAMBDA_METADATA_TOKEN" in done.stderr, done.stderr
