"""A failed Init retried inside the first invoke, through the real CLI (lambda-spec §4.2, §4.5)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from e2e_support import platform_lines, run_cli, write_file

# Exits 1 before registering on its first launch only: the marker it leaves in its /tmp (the only place Lambda
# lets it write, which the failed Init's reset keeps) tells the second launch to behave. The second launch
# registers for INVOKE, takes its events and says so on stdout, which lambdatui relays as its log.
FLAKY_EXTENSION = '''#!{python}
import http.client
import json
import os
import sys
import tempfile

marker = os.path.join(tempfile.gettempdir(), "launched-once")
if not os.path.exists(marker):
    open(marker, "w").close()
    print("[flaky] first launch: exiting before registering", flush=True)
    sys.exit(1)

api = http.client.HTTPConnection(os.environ["AWS_LAMBDA_RUNTIME_API"], timeout=None)
api.request("POST", "/2020-01-01/extension/register", body=json.dumps({{"events": ["INVOKE"]}}),
            headers={{"Lambda-Extension-Name": "flaky", "Content-Type": "application/json"}})
response = api.getresponse()
response.read()
extension_id = response.getheader("Lambda-Extension-Identifier")
print(f"[flaky] registered: {{response.status}}", flush=True)
while True:
    api.request("GET", "/2020-01-01/extension/event/next", headers={{"Lambda-Extension-Identifier": extension_id}})
    event = json.loads(api.getresponse().read())
    print(f"[flaky] got {{event['eventType']}}", flush=True)
'''

HANDLER = '''def handler(event, context):
    return {"ok": True, "requestId": context.aws_request_id}
'''


def test_an_extension_crashing_before_registering_fails_init_and_the_first_invoke_succeeds_after_a_retry(
        code_dir: Path) -> None:
    handler = write_file(code_dir / "handler.py", HANDLER)
    write_file(code_dir / "extensions" / "flaky", FLAKY_EXTENSION.format(python=sys.executable), executable=True)

    result = run_cli("invoke", str(handler))

    assert result.returncode == 0, result.stderr
    body = json.loads(result.stdout)
    assert body["ok"] is True, body
    lines = platform_lines(result.stderr)
    init_reports = [line for line in lines if line.startswith("INIT_REPORT ")]
    assert init_reports, result.stderr
    assert "Phase: init\tStatus: error\tError Type: Extension.Crash" in init_reports[0], result.stderr
    assert all("Status: error" not in line for line in init_reports[1:]), result.stderr
    assert sum(line.startswith("INIT_START ") for line in lines) == 2, result.stderr  # on-demand, then suppressed
    report = next(line for line in lines if line.startswith("REPORT "))
    assert "Status:" not in report, report  # the invoke itself succeeded
    assert "Init Duration" not in report, report  # the retry ran inside the invoke: its time is in Duration
    assert "[flaky] registered: 200" in result.stderr
    assert "[flaky] got INVOKE" in result.stderr
    assert "signal: killed" not in result.stderr, result.stderr
