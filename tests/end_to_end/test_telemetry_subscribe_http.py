"""The Telemetry and Logs APIs' subscription endpoints, called by a real extension process (issue 10)."""

from __future__ import annotations

import json
from pathlib import Path

from e2e_support import run_cli, write_file

# Subscribes with each body in turn (during its Init, between /register and its first /next), then once more
# after Init has closed subscriptions for it, and prints the answers on one line (its log, which lambdatui relays:
# in Lambda it could write nowhere the test could read but /tmp).
EXTENSION = '''#!/usr/bin/env python3
import http.client, json, os, sys
api = http.client.HTTPConnection(os.environ["AWS_LAMBDA_RUNTIME_API"], timeout=None)
def call(method, path, headers, body=None):
    api.request(method, path, body=body, headers=headers)
    answer = api.getresponse()
    return answer.status, answer.getheader("Lambda-Extension-Identifier"), answer.read()
_, ext_id, _ = call("POST", "/2020-01-01/extension/register", {"Lambda-Extension-Name": "obs"},
                    json.dumps({"events": ["INVOKE", "SHUTDOWN"]}))
good = {"schemaVersion": "2022-12-13", "types": ["platform", "function"],
        "destination": {"protocol": "HTTP", "URI": "http://sandbox.localdomain:4243"}}
bodies = [("telemetry", {"Lambda-Extension-Identifier": ext_id}, {**good, "buffering": {"maxItems": 5}}),
          ("telemetry", {}, good),
          ("logs", {"Lambda-Extension-Identifier": ext_id}, {"types": ["platform"], "destination": good["destination"]}),
          ("telemetry", {"Lambda-Extension-Identifier": ext_id}, good)]
answers = []
for api_name, headers, body in bodies:
    path = "/2022-07-01/telemetry" if api_name == "telemetry" else "/2020-08-15/logs"
    status, _, raw = call("PUT", path, {**headers, "Content-Type": "application/json"}, json.dumps(body))
    answers.append([status, json.loads(raw)])
call("GET", "/2020-01-01/extension/event/next", {"Lambda-Extension-Identifier": ext_id})
status, _, raw = call("PUT", "/2022-07-01/telemetry", {"Lambda-Extension-Identifier": ext_id}, json.dumps(good))
answers.append([status, json.loads(raw)])
print("answers " + json.dumps(answers), flush=True)
while True:
    status, _, raw = call("GET", "/2020-01-01/extension/event/next", {"Lambda-Extension-Identifier": ext_id})
    if json.loads(raw).get("eventType") == "SHUTDOWN":
        break
'''


def test_an_extension_subscribes_and_gets_lambdas_answers(code_dir: Path) -> None:
    write_file(code_dir / "handler.py", "def handler(event, context):\n    return 'ok'\n")
    (code_dir / "extensions").mkdir()
    write_file(code_dir / "extensions" / "obs", EXTENSION, executable=True)
    done = run_cli("invoke", str(code_dir / "handler.py"))
    assert done.returncode == 0, done.stderr
    printed = [line.split("answers ", 1)[1] for line in done.stderr.splitlines() if "answers [" in line]
    assert len(printed) == 1, done.stderr
    assert json.loads(printed[0]) == [
        [400, {"errorMessage": "buffering.maxItems must be an integer from 1000 to 10000; got 5",
               "errorType": "ValidationError"}],
        [403, {"errorMessage": "Missing Lambda-Extension-Identifier header",
               "errorType": "Extension.MissingExtensionIdentifier"}],
        [200, "OK"],  # the Logs API
        [400, {"errorMessage": "Extension obs already subscribed to the Logs API: an extension may use the "
                               "Telemetry API or the Logs API, not both", "errorType": "ValidationError"}],
        [403, {"errorMessage": "Telemetry API subscription is closed", "errorType": "Telemetry.SubscriptionClosed"}],
    ]
