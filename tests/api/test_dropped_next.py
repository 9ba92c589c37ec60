"""The Runtime API's long poll on the sandbox's own server (issue 9): a runtime that drops its /next is forgotten."""

from __future__ import annotations

import stat
import sys
from pathlib import Path

import pytest
import trio

from lambdatui.config import resolve_function
from lambdatui.runner import open_environment

# A custom runtime that drops its first /next (as a client timing out would) and asks again.
IMPATIENT_RUNTIME = """#!{python}
import http.client, os, socket
api = os.environ["AWS_LAMBDA_RUNTIME_API"]
host, port = api.split(":")
impatient = http.client.HTTPConnection(host, int(port), timeout=0.3)
try:
    impatient.request("GET", "/2018-06-01/runtime/invocation/next")
    impatient.getresponse()
except (socket.timeout, TimeoutError):
    pass
impatient.close()  # the host must hear the disconnect and stop holding that request
conn = http.client.HTTPConnection(host, int(port))
while True:
    conn.request("GET", "/2018-06-01/runtime/invocation/next")
    response = conn.getresponse()
    event = response.read()
    request_id = response.getheader("Lambda-Runtime-Aws-Request-Id")
    conn.request("POST", "/2018-06-01/runtime/invocation/%s/response" % request_id, body=b'{"echo": ' + event + b'}')
    conn.getresponse().read()
"""


@pytest.mark.trio
async def test_a_dropped_next_is_abandoned_and_the_reconnected_runtime_gets_the_event(code_dir: Path) -> None:
    bootstrap = code_dir / "bootstrap"
    bootstrap.write_text(IMPATIENT_RUNTIME.replace("{python}", sys.executable))
    bootstrap.chmod(bootstrap.stat().st_mode | stat.S_IXUSR)
    with trio.fail_after(20):
        async with open_environment(resolve_function(str(bootstrap))) as running:
            running.host.start_environment()
            result, _ = await running.host.invoke(b'{"n": 1}')
            assert not result.function_error, result.payload
            assert result.payload == b'{"echo": {"n": 1}}'
            second, _ = await running.host.invoke(b'{"n": 2}')
            assert second.payload == b'{"echo": {"n": 2}}'
