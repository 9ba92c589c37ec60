"""The function half of the telemetry sample; the interesting part is extensions/telemetry.

The extension subscribed to the Telemetry API during Init and writes every event
Lambda delivers to it into /tmp/telemetry.log, which this function shares. The
handler returns the latest events that arrived (the log's last 4 KB).

Lambda delivers a batch once `timeoutMs` (25 ms here) has passed since its first
event, and only while the environment runs: `linger_ms` keeps this invoke running
long enough for its own platform.start and log line to arrive. Its
platform.runtimeDone and platform.report come when the handler has returned and
the environment is about to freeze: they arrive during the next invoke.
"""

import os
import tempfile
import time

TELEMETRY_LOG = os.path.join(tempfile.gettempdir(), "telemetry.log")
TAIL_BYTES = 4096  # the log grows with every invoke: the response must not


def handler(event, context):
    print(f"telemetry sample: handling {context.aws_request_id}")
    if event.get("linger_ms"):
        time.sleep(event["linger_ms"] / 1000)
    try:
        with open(TELEMETRY_LOG, "rb") as fh:
            size = fh.seek(0, os.SEEK_END)
            fh.seek(max(0, size - TAIL_BYTES))
            received = fh.read().decode(errors="replace").splitlines()
    except FileNotFoundError:
        size, received = 0, []
    if size > TAIL_BYTES:
        received = received[1:]  # the first line was cut
    return {"requestId": context.aws_request_id, "telemetryReceived": received}
