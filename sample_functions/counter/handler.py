"""Warm reuse: module state lives as long as the runtime process, /tmp longer.

Lambda keeps the process between invokes (frozen, not restarted), so module
globals survive. A reset (crash or timeout) starts a fresh process, so the
globals start over; /tmp is the environment's disk and survives the reset.
"""

import os
import tempfile

# Runs once per process, during Function init: this is the "cold" cost that
# warm invokes skip.
invocations = 0

# /tmp in Lambda. gettempdir() returns /tmp there too, and follows TMPDIR when
# lambdatui has to point it at the environment's private directory instead.
COUNTER_FILE = os.path.join(tempfile.gettempdir(), "counter.txt")


def handler(event, context):
    global invocations
    invocations += 1

    # Append rather than overwrite, so the file counts invokes across resets
    # while `invocations` only counts those served by this process.
    with open(COUNTER_FILE, "a") as f:
        f.write(f"pid={os.getpid()} invocation={invocations}\n")
    with open(COUNTER_FILE) as f:
        tmp_lines = sum(1 for _ in f)

    return {
        "invocations": invocations,
        "tmp_lines": tmp_lines,
        # The first call in a process is the one that paid for Init.
        "cold": invocations == 1,
    }
