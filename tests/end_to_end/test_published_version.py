"""SnapStart and provisioned concurrency run a published version, never $LATEST (lambda-spec §4.8, §11.2).

Lambda offers both only on a published version, or an alias that points at one: SnapStart's Init "happens when a
version is published", and provisioned concurrency is configured on a version or an alias. So with `--snapstart` or
`--provisioned N`, every environment of the function (a provisioned alias's on-demand spill-over too, which serves the
same alias) runs version "1", the first a function publishes, and says so wherever Lambda says which version runs:
`context.function_version` and AWS_LAMBDA_FUNCTION_VERSION, START's `Version:`, the log stream's `[1]` prefix, the
Invoke API's X-Amz-Executed-Version, the Extensions API's register answer and Telemetry's platform.start. Without
them, `$LATEST` runs, as before. A version or alias the caller names still ends the invoked function ARN.

Real `lambdatui invoke`, `serve` and `replay` processes. Code is written under `code_dir` (outside /tmp, so the
sandbox sees it), the scenario under `tmp_path`; every process started is stopped by its context manager.
"""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import Optional

import httpx

from e2e_support import REPO, ServeProcess, lambdatui_argv, platform_lines, run_cli, write_file

# What the function says of its version; it holds its invoke until the file `release` exists (the test creates it,
# never sleeps) and, with `wait_for`, until its extension received that telemetry record.
HANDLER = '''import os
import tempfile
import time


def handler(event, context):
    print("ready " + event.get("tag", "-"), flush=True)
    deadline = time.time() + 20
    waits = [event.get("release"), event.get("wait_for") and os.path.join(tempfile.gettempdir(), "got-" + event["wait_for"])]
    for path in filter(None, waits):
        while not os.path.exists(path) and time.time() < deadline:
            time.sleep(0.005)
    return {
        "version": context.function_version,
        "env_version": os.environ["AWS_LAMBDA_FUNCTION_VERSION"],
        "init_type": os.environ["AWS_LAMBDA_INITIALIZATION_TYPE"],
        "log_stream": context.log_stream_name,
        "arn": context.invoked_function_arn,
    }
'''

# An extension that prints the functionVersion of its register answer and the version of each platform.start record
# Telemetry sends it (marking its arrival in /tmp for the handler). Its listener binds every address, so the records
# arrive whichever loopback address the sandbox has.
EXTENSION = """#!{python}
import http.client
import http.server
import json
import os
import tempfile
import threading

NAME = os.path.basename(__file__)


class Listener(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self):
        for event in json.loads(self.rfile.read(int(self.headers["Content-Length"]))):
            if event["type"] == "platform.start":
                print("platform.start version=%s" % event["record"].get("version"), flush=True)
                open(os.path.join(tempfile.gettempdir(), "got-platform.start"), "w").close()
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


server = http.server.ThreadingHTTPServer(("", 0), Listener)
threading.Thread(target=server.serve_forever, daemon=True).start()
api = http.client.HTTPConnection(os.environ["AWS_LAMBDA_RUNTIME_API"], timeout=None)


def call(method, path, headers, body=None):
    api.request(method, path, body=body, headers=headers)
    answer = api.getresponse()
    return answer, answer.read()


answer, raw = call("POST", "/2020-01-01/extension/register", {{"Lambda-Extension-Name": NAME}},
                   json.dumps({{"events": ["INVOKE", "SHUTDOWN"]}}))
print("registered functionVersion=%s" % json.loads(raw)["functionVersion"], flush=True)
ext_id = answer.getheader("Lambda-Extension-Identifier")
call("PUT", "/2022-07-01/telemetry", {{"Lambda-Extension-Identifier": ext_id, "Content-Type": "application/json"}},
     json.dumps({{"schemaVersion": "2022-12-13", "types": ["platform"], "buffering": {{"timeoutMs": 25}},
                 "destination": {{"protocol": "HTTP",
                                 "URI": "http://sandbox.localdomain:%d/" % server.server_address[1]}}}}))
while True:
    _, raw = call("GET", "/2020-01-01/extension/event/next", {{"Lambda-Extension-Identifier": ext_id}})
    if json.loads(raw)["eventType"] == "SHUTDOWN":
        break
"""

STREAM = re.compile(r"\d{4}/\d\d/\d\d/\[(.+)\][0-9a-f]{32}")
HTTP_TIMEOUT = 60.0


def invoke_cli(*args: str) -> tuple[dict, list[str]]:
    """`lambdatui invoke ARGS`: its one answer, and its START lines."""
    result = subprocess.run([*lambdatui_argv(), "invoke", *args], cwd=REPO, stdin=subprocess.DEVNULL,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    return json.loads(result.stdout), [line for line in platform_lines(result.stderr) if line.startswith("START ")]


def test_invoke_runs_latest_and_with_snapstart_version_1(code_dir: Path) -> None:
    handler = write_file(code_dir / "fn" / "handler.py", HANDLER)
    plain, starts = invoke_cli(str(handler))
    assert (plain["version"], plain["env_version"]) == ("$LATEST", "$LATEST"), plain
    assert STREAM.fullmatch(plain["log_stream"]).group(1) == "$LATEST", plain
    assert [line.split("Version: ")[1] for line in starts] == ["$LATEST"], starts

    # SnapStart's environments run the version whose publication made the snapshot (env #1's Init, lambda-spec §4.8).
    snap, starts = invoke_cli(str(handler), "--snapstart")
    assert (snap["version"], snap["env_version"], snap["init_type"]) == ("1", "1", "snap-start"), snap
    assert snap["log_stream"] is None, snap  # a SnapStart environment has none (lambda-spec §5)
    assert [line.split("Version: ")[1] for line in starts] == ["1"], starts
    assert snap["arn"] == plain["arn"] == "arn:aws:lambda:us-east-1:012345678912:function:fn"


class _Call:
    """One invoke sent on a thread of its own; `response()` waits (bounded) for its answer."""

    def __init__(self, url: str, event: dict) -> None:
        self._answer: Optional[httpx.Response] = None
        self._error: Optional[BaseException] = None
        self._thread = threading.Thread(target=self._run, args=(url, event), daemon=True)
        self._thread.start()

    def _run(self, url: str, event: dict) -> None:
        try:
            self._answer = httpx.post(url, content=json.dumps(event).encode(), timeout=HTTP_TIMEOUT)
        except BaseException as exc:  # noqa: BLE001 - reported by response()
            self._error = exc

    def response(self) -> httpx.Response:
        self._thread.join(HTTP_TIMEOUT)
        assert not self._thread.is_alive(), "no answer"
        if self._error is not None:
            raise AssertionError(repr(self._error)) from self._error
        assert self._answer is not None
        return self._answer


def test_serve_with_provisioned_concurrency_runs_version_1_in_every_environment(code_dir: Path) -> None:
    handler = write_file(code_dir / "fn" / "handler.py", HANDLER)
    write_file(code_dir / "fn" / "extensions" / "versions", EXTENSION.format(python=sys.executable), executable=True)
    release = code_dir / "release"
    with ServeProcess(handler, "--provisioned", "1", "--concurrency", "2", "--timeout", "30") as served:
        # Env #1 (provisioned) holds the first invoke, so the second spills over to an on-demand env #2, which serves
        # the same alias in Lambda: the same version. The second names the alias, which ends its invoked ARN.
        held = _Call(served.invoke_url("fn"), {"tag": "a", "release": str(release), "wait_for": "platform.start"})
        served.wait_for_line(r"#1 \[function\]\s+ready a")
        spilled = httpx.post(served.invoke_url("fn") + "?Qualifier=live",
                             content=json.dumps({"tag": "b", "wait_for": "platform.start"}).encode(),
                             timeout=HTTP_TIMEOUT)
        release.touch()
        answers = {"a": held.response(), "b": spilled}
        served.wait_for_lines(r"\[platform\]\s+REPORT RequestId", 2)
        output = served.output()

    assert re.search(r"#2 \[function\]\s+ready b", output), output
    for tag, answer in answers.items():
        assert answer.status_code == 200 and not answer.headers.get("x-amz-function-error"), answer.text
        assert answer.headers["x-amz-executed-version"] == "1", (tag, answer.headers)
        seen = answer.json()
        assert (seen["version"], seen["env_version"]) == ("1", "1"), (tag, seen)
        assert STREAM.fullmatch(seen["log_stream"]).group(1) == "1", (tag, seen)
    assert answers["a"].json()["init_type"] == "provisioned-concurrency"
    assert answers["b"].json()["init_type"] == "on-demand"  # a spill-over initialises as any on-demand environment
    arn = "arn:aws:lambda:us-east-1:012345678912:function:fn"
    assert [answers[tag].json()["arn"] for tag in "ab"] == [arn, arn + ":live"]

    starts = re.findall(r"#(\d) \[platform\]\s+START RequestId: \S+ Version: (\S+)", output)
    assert sorted(starts) == [("1", "1"), ("2", "1")], output
    for number in (1, 2):
        assert re.search(rf"#{number} \[versions\]\s+registered functionVersion=1$", output, re.M), output
        assert re.search(rf"#{number} \[versions\]\s+platform\.start version=1$", output, re.M), output


def test_a_replayed_function_table_with_provisioned_runs_version_1(code_dir: Path, tmp_path: Path) -> None:
    handler = write_file(code_dir / "fn" / "handler.py", HANDLER)
    scenario = write_file(tmp_path / "provisioned.toml", """[function]
provisioned = 1

[[step]]
invoke = {}
qualifier = "live"
expect.response = { version = "1", env_version = "1", init_type = "provisioned-concurrency", arn = "arn:aws:lambda:us-east-1:012345678912:function:fn:live" }
""")
    replayed = run_cli("replay", str(handler), str(scenario))
    assert replayed.returncode == 0, replayed.stdout[-2000:] + replayed.stderr[-2000:]


def test_a_recording_of_a_provisioned_function_that_returns_its_log_stream_replays(code_dir: Path) -> None:
    # The log stream's name is new in every environment, so a recording compares no response quoting it: `[1]` is
    # such a name as `[$LATEST]` is.
    handler = write_file(code_dir / "fn" / "handler.py", HANDLER)
    recording = code_dir / "served.toml"
    with ServeProcess(handler, "--provisioned", "1", "--record", str(recording)) as served:
        answer = httpx.post(served.invoke_url("fn"), content=b"{}", timeout=HTTP_TIMEOUT)
        assert STREAM.fullmatch(answer.json()["log_stream"]).group(1) == "1", answer.text
        served.signal(signal.SIGINT)
        assert served.wait(timeout=30) == 0, served.output()
    text = recording.read_text()
    assert "provisioned = 1" in text, text
    replayed = run_cli("replay", str(handler), str(recording))
    assert replayed.returncode == 0, text + replayed.stdout[-2000:] + replayed.stderr[-2000:]


def test_managed_instances_run_latest_published(code_dir: Path) -> None:
    """An unqualified invoke of a Managed Instances function runs `$LATEST.PUBLISHED`, not the unpublished `$LATEST`
    (AWS: "$LATEST.PUBLISHED version in Lambda Managed Instances")."""
    handler = write_file(code_dir / "fn" / "handler.py", HANDLER)
    with ServeProcess(handler, "--max-concurrency", "2", "--timeout", "30") as served:
        answer = httpx.post(served.invoke_url("fn"), content=b'{"tag": "m"}', timeout=HTTP_TIMEOUT)
        served.wait_for_line(r"\[platform\]\s+REPORT RequestId")
        output = served.output()
    assert answer.status_code == 200 and answer.headers["x-amz-executed-version"] == "$LATEST.PUBLISHED", answer.text
    seen = answer.json()
    assert (seen["version"], seen["env_version"]) == ("$LATEST.PUBLISHED", "$LATEST.PUBLISHED"), seen
    assert seen["init_type"] == "lambda-managed-instances", seen
    assert re.search(r"START RequestId: \S+ Version: \$LATEST\.PUBLISHED", output), output
